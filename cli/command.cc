#include "cli/command.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "sync/kubeconfig.h"

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

namespace {

StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(flag + " " + path + ": cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> KubeconfigPaths(const GlobalFlags& g) {
  if (!g.kubeconfig.empty()) return {g.kubeconfig};
  std::vector<std::string> paths;
  const char* env = std::getenv("KUBECONFIG");
  if (env == nullptr) return paths;
  std::stringstream list(env);
  std::string p;
  while (std::getline(list, p, ':')) {
    if (!p.empty()) paths.push_back(p);
  }
  return paths;
}

}  // namespace

StatusOr<ClientOptions> ResolveClientOptions(const GlobalFlags& g) {
  ClientOptions options;
  if (!ParseTimeout(g.timeout, &options.timeout)) {
    return InvalidArgumentError("--timeout \"" + g.timeout +
                                "\": want a duration such as 30s, 500ms or 2m (0: no limit)");
  }
  options.server = g.server;
  const std::vector<std::string> paths = KubeconfigPaths(g);
  if (!paths.empty()) {
    // An explicit --kubeconfig must exist; $KUBECONFIG entries that do not are skipped.
    if (!g.kubeconfig.empty() && !std::ifstream(g.kubeconfig).good()) {
      return NotFoundError("--kubeconfig " + g.kubeconfig + ": cannot read the file");
    }
    sync::KubeconfigOverrides overrides;
    overrides.context = g.context;
    overrides.user = g.user;
    overrides.cluster = g.cluster;
    MERIDIAN_ASSIGN_OR_RETURN(sync::KubeconfigSelection selection,
                              sync::LoadMergedKubeconfig(paths, overrides));
    if (!g.server_explicit) options.server = selection.endpoint.server;
    options.credentials = selection.endpoint.credentials;
  } else if (!g.context.empty() || !g.user.empty() || !g.cluster.empty()) {
    return InvalidArgumentError(
        "--context, --user and --cluster need a kubeconfig (--kubeconfig or $KUBECONFIG)");
  }
  if (!g.token.empty()) options.credentials.bearer_token = g.token;
  if (g.insecure_skip_tls_verify) options.credentials.insecure_skip_tls_verify = true;
  if (!g.certificate_authority.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(options.credentials.certificate_authority_pem,
                              ReadFlagFile("--certificate-authority", g.certificate_authority));
  }
  if (!g.client_certificate.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(options.credentials.client_certificate_pem,
                              ReadFlagFile("--client-certificate", g.client_certificate));
  }
  if (!g.client_key.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(options.credentials.client_key_pem,
                              ReadFlagFile("--client-key", g.client_key));
  }
  return options;
}

std::unique_ptr<HttpClient> Connect(const GlobalFlags& g) {
  StatusOr<ClientOptions> options = ResolveClientOptions(g);
  if (!options.ok()) {
    std::cerr << "error: " << options.status().message() << "\n";
    return nullptr;
  }
  StatusOr<std::unique_ptr<HttpClient>> client = HttpClient::Create(*options);
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
