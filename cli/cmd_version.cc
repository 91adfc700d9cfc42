// fedctl version [--client] [-o json|yaml]: this binary's build and the server's (/version),
// like `kubectl version`.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/printers.h"
#include "common/build_info.h"

namespace meridian::cli {
namespace {

// "v0.1.0 (commit ..., clean, date, compiler, platform), Kubernetes API v1.32" for a Meridian
// server; a plain Kubernetes server (fedctl pointed at a member) shows its gitVersion.
std::string DescribeServerVersion(const nlohmann::json& v) {
  auto str = [&](const char* key) {
    auto it = v.find(key);
    return it != v.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string api = "Kubernetes API v" + str("major") + "." + str("minor");
  if (str("meridianVersion").empty()) return str("gitVersion") + " (" + api + ")";
  BuildInfo server{.version = str("meridianVersion"),
                   .git_commit = str("gitCommit"),
                   .git_tree_state = str("gitTreeState"),
                   .build_date = str("buildDate"),
                   .compiler = str("compiler"),
                   .platform = str("platform")};
  return FormatBuildInfo(server) + ", " + api;
}

const CommandRegistration kVersion({
    .name = "version",
    .description = "print the client's and the server's version and build (commit, date, "
                   "compiler)",
    .define = [](CLI::App& app) -> CommandRun {
      auto client_only = std::make_shared<bool>(false);
      auto output = std::make_shared<std::string>();
      app.add_flag("--client", *client_only, "only the client's version (no server contacted)");
      app.add_option("-o,--output", *output, "json | yaml (default: text)")
          ->check(CLI::IsMember({"json", "yaml"}));
      return [client_only, output](const GlobalFlags& g) {
        const BuildInfo& build = GetBuildInfo();
        nlohmann::json doc = {{"clientVersion",
                               {{"meridianVersion", build.version},
                                {"gitCommit", build.git_commit},
                                {"gitTreeState", build.git_tree_state},
                                {"buildDate", build.build_date},
                                {"compiler", build.compiler},
                                {"platform", build.platform}}}};
        int rc = 0;
        if (!*client_only) {
          std::unique_ptr<HttpClient> client = Connect(g);
          if (!client) return 1;
          ApiResult<nlohmann::json> server = client->GetPath("/version");
          if (server.ok()) {
            doc["serverVersion"] = *server;
          } else {
            std::cerr << FormatApiError(server.error());
            rc = 1;
          }
        }
        if (*output == "json") {
          std::cout << doc.dump(2) << "\n";
        } else if (*output == "yaml") {
          std::cout << PrintYaml({doc}, false);
        } else {
          std::cout << "Client Version: " << FormatBuildInfo(build) << "\n";
          if (doc.contains("serverVersion")) {
            std::cout << "Server Version: " << DescribeServerVersion(doc["serverVersion"]) << "\n";
          }
        }
        return rc;
      };
    },
});

}  // namespace
}  // namespace meridian::cli
