// fedctl what-if --fail zone=NAME|region=NAME|cluster=NAME [--fail ...]: the placement before
// and after the failures, for every affected workload (cli/what_if.h). Changes nothing.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/what_if.h"

namespace meridian::cli {
namespace {

const CommandRegistration kWhatIf({
    .name = "what-if",
    .description = "show how placement would change if zones, regions or clusters failed "
                   "(changes nothing)",
    .define = [](CLI::App& app) -> CommandRun {
      auto fails = std::make_shared<std::vector<std::string>>();
      app.add_option("--fail", *fails,
                     "a failure to assume: zone=NAME, region=NAME or cluster=NAME (repeatable)")
          ->required();
      return [fails](const GlobalFlags& g) {
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        return RunWhatIf(*client, *fails, RealClock().Now(), std::cout, std::cerr);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
