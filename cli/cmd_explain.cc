// fedctl explain fw NAME [--cluster C]: why each cluster holds what it holds (cli/explain.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/explain.h"

namespace meridian::cli {
namespace {

const CommandRegistration kExplain({
    .name = "explain",
    .description = "show a FederatedWorkload's whole placement decision: a reason for every "
                   "cluster and the overflow candidates in order",
    .define = [](CLI::App& app) -> CommandRun {
      auto type = std::make_shared<std::string>();
      auto name = std::make_shared<std::string>();
      auto cluster = std::make_shared<std::string>();
      app.add_option("TYPE", *type, "fw (federatedworkload)")->required();
      app.add_option("NAME", *name, "the workload")->required();
      app.add_option("--cluster", *cluster, "only this cluster's decision");
      return [type, name, cluster](const GlobalFlags& g) {
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        return RunExplain(*client, *type, *name, g.ns, *cluster, std::cout, std::cerr);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
