#include "cli/command.h"

#include <algorithm>
#include <iostream>
#include <regex>

namespace meridian::cli {
namespace {

std::vector<CommandDefinition>& Registry() {
  static std::vector<CommandDefinition> registry;
  return registry;
}

}  // namespace

bool ParseTimeout(const std::string& text, std::chrono::milliseconds* out) {
  static const std::regex re(R"((\d+)(ms|s|m|h)?)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return false;
  long long n = std::stoll(m[1]);
  std::string unit = m[2];
  if (unit == "ms")
    *out = std::chrono::milliseconds(n);
  else if (unit == "m")
    *out = std::chrono::minutes(n);
  else if (unit == "h")
    *out = std::chrono::hours(n);
  else
    *out = std::chrono::seconds(n);
  if (out->count() == 0) *out = std::chrono::hours(24);
  return true;
}

std::unique_ptr<HttpClient> Connect(const GlobalFlags& g) {
  ClientOptions options;
  options.server = g.server;
  if (!ParseTimeout(g.timeout, &options.timeout)) {
    std::cerr << "error: --timeout \"" << g.timeout
              << "\": want a duration such as 30s, 500ms or 2m (0: no limit)\n";
    return nullptr;
  }
  StatusOr<std::unique_ptr<HttpClient>> client = HttpClient::Create(options);
  if (!client.ok()) {
    std::cerr << "error: " << client.status().message() << "\n";
    return nullptr;
  }
  return std::move(client).value();
}

CommandRegistration::CommandRegistration(CommandDefinition definition) {
  Registry().push_back(std::move(definition));
}

std::vector<const CommandDefinition*> RegisteredCommands() {
  std::vector<const CommandDefinition*> out;
  for (const CommandDefinition& d : Registry()) out.push_back(&d);
  std::sort(out.begin(), out.end(),
            [](const CommandDefinition* a, const CommandDefinition* b) { return a->name < b->name; });
  return out;
}

}  // namespace meridian::cli
