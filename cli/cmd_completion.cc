// fedctl completion bash|zsh|fish: prints the shell's completion script; the hidden
// fedctl __complete WORD... is what those scripts run on every TAB (cli/completion.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/command_spec.h"
#include "cli/completion.h"
#include "cli/kinds.h"

namespace meridian::cli {
namespace {

// Global flags typed on the command line being completed, applied to a copy of `g` so that
// object names come from the server and namespace the user is pointing at.
GlobalFlags WithTypedGlobals(GlobalFlags g,
                             const std::vector<std::pair<std::string, std::string>>& typed) {
  for (const auto& [name, value] : typed) {
    if (name == "--server") {
      g.server = value;
      g.server_explicit = true;
    } else if (name == "--kubeconfig") {
      g.kubeconfig = value;
    } else if (name == "--context") {
      g.context = value;
    } else if (name == "--user") {
      g.user = value;
    } else if (name == "--cluster") {
      g.cluster = value;
    } else if (name == "--token") {
      g.token = value;
    } else if (name == "--certificate-authority") {
      g.certificate_authority = value;
    } else if (name == "--client-certificate") {
      g.client_certificate = value;
    } else if (name == "--client-key") {
      g.client_key = value;
    } else if (name == "--insecure-skip-tls-verify") {
      g.insecure_skip_tls_verify = true;
    } else if (name == "--namespace") {
      g.ns = value;
      g.namespace_explicit = true;
    } else if (name == "--all-namespaces") {
      g.all_namespaces = true;
    }
  }
  // Completion must answer while the user waits at the prompt.
  g.timeout = "2s";
  return g;
}

std::vector<std::string> KindNames() {
  std::vector<std::string> names;
  for (const KindInfo& k : KnownKinds()) {
    names.push_back(k.plural);
    names.push_back(k.singular);
    for (const std::string& s : k.short_names) names.push_back(s);
  }
  return names;
}

std::vector<std::string> ObjectNames(const GlobalFlags& g, const std::string& type) {
  const KindInfo* kind = ResolveType(type);
  if (!kind) return {};
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return {};
  const std::string ns = kind->namespaced && !g.all_namespaces ? g.ns : "";
  ApiResult<nlohmann::json> list = client->List(*kind, ns, "");
  if (!list.ok()) return {};
  std::vector<std::string> names;
  for (const nlohmann::json& item : list->value("items", nlohmann::json::array())) {
    if (item.contains("metadata") && item["metadata"].contains("name") &&
        item["metadata"]["name"].is_string()) {
      names.push_back(item["metadata"]["name"].get<std::string>());
    }
  }
  return names;
}

const CommandRegistration kCompletion({
    .name = "completion",
    .description = "print the completion script for bash, zsh or fish (e.g. source <(fedctl "
                   "completion bash))",
    .define = [](CLI::App& app) -> CommandRun {
      auto shell = std::make_shared<std::string>();
      app.add_option("SHELL", *shell, "bash | zsh | fish")
          ->required()
          ->check(CLI::IsMember({"bash", "zsh", "fish"}));
      return [shell](const GlobalFlags&) {
        std::cout << *CompletionScript(*shell);
        return 0;
      };
    },
});

const CommandRegistration kComplete({
    .name = "__complete",
    .description = "",
    .define = [](CLI::App& app) -> CommandRun {
      app.group("");           // hidden from --help
      app.fallthrough(false);  // keep the words here, not in the parent (CLI11 tries that first)
      app.allow_extras();
      app.prefix_command();
      CLI::App* self = &app;
      return [self](const GlobalFlags& g) {
        CLI::App* root = self;
        while (root->get_parent()) root = root->get_parent();
        std::vector<std::string> words = self->remaining();
        if (words.empty()) words.push_back("");
        CompletionSources sources{
            .kinds = KindNames,
            .names = [&g](const std::string& type,
                          const std::vector<std::pair<std::string, std::string>>& typed) {
              return ObjectNames(WithTypedGlobals(g, typed), type);
            }};
        for (const std::string& c : Complete(CommandSpecOf(*root), words, sources)) {
          std::cout << c << "\n";
        }
        return 0;
      };
    },
});

}  // namespace
}  // namespace meridian::cli
