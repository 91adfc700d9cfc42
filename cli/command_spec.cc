#include "cli/command_spec.h"

#include <CLI/CLI.hpp>

namespace meridian::cli {
namespace {

bool WantsFile(const std::vector<std::string>& names) {
  for (const std::string& n : names) {
    if (n == "-f" || n == "--filename" || n == "--kubeconfig" || n == "--certificate-authority" ||
        n == "--client-certificate" || n == "--client-key" || n.find("file") != std::string::npos ||
        n.find("dir") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

CommandSpec CommandSpecOf(CLI::App& app) {
  CommandSpec spec;
  spec.name = app.get_name();
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional()) {
      spec.positionals.push_back(o->get_name());
      continue;
    }
    OptionSpec option;
    for (const std::string& s : o->get_snames()) option.names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) option.names.push_back("--" + l);
    if (option.names.empty()) continue;
    option.takes_value = o->get_type_size_min() > 0;
    option.wants_file = option.takes_value && WantsFile(option.names);
    spec.options.push_back(std::move(option));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    spec.subcommands.push_back(CommandSpecOf(*sub));
  }
  return spec;
}

}  // namespace meridian::cli
