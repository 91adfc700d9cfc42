// fedctl residency violations: open residency violations found in the members by the
// residency-audit controller, and members it could not audit (cli/residency_violations.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/residency_violations.h"

namespace meridian::cli {
namespace {

const CommandRegistration kResidency({
    .name = "residency",
    .description = "residency evidence: `violations` lists what the member audit found",
    .define = [](CLI::App& app) -> CommandRun {
      CLI::App* violations = app.add_subcommand(
          "violations", "objects in members of disallowed jurisdictions, not yet resolved");
      app.require_subcommand(1);
      return [violations](const GlobalFlags& g) {
        if (!violations->parsed()) return 2;
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        const KindInfo* events = ResolveType("events");
        if (events == nullptr) {
          std::cerr << "error: this fedctl does not know core v1 events\n";
          return 1;
        }
        auto list = client->List(*events, "default", "");
        if (!list.ok()) {
          std::cerr << "error: " << list.error().message << "\n";
          return 1;
        }
        return PrintResidencyViolations(OpenResidencyViolations(list.value()), std::cout);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
