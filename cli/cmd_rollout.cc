// fedctl rollout status|pause|resume|approve|undo: a FederatedWorkload's staged rollout
// (docs/design.md "Rollouts"). The changes and the text are cli/rollout.h; this is the wiring.
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/command.h"
#include "cli/kinds.h"
#include "cli/rollout.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

const KindInfo& WorkloadKind() {
  static const KindInfo* kind = ResolveType("federatedworkloads");
  return *kind;
}

int PrintError(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 1;
}

// Reads the workload, applies `change`, writes it back (compare-and-swap; re-read on 409).
// A change that fails writes nothing.
// `done` says what was done, from the workload as it was read.
int Change(const GlobalFlags& g, const std::string& name,
           const std::function<StatusOr<json>(const json&)>& change,
           const std::function<std::string(const json&)>& done) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto w = client->Get(WorkloadKind(), g.ns, name);
    if (!w.ok()) return PrintError(w.error().message);
    StatusOr<json> changed = change(w.value());
    if (!changed.ok()) return PrintError(changed.status().message());
    json body = std::move(changed).value();
    body.erase("status");
    auto updated = client->Update(WorkloadKind(), g.ns, name, body);
    if (updated.ok()) {
      std::cout << "federatedworkload.federation.meridian.io/" << name << " " << done(w.value())
                << "\n";
      return 0;
    }
    if (updated.error().code != 409) return PrintError(updated.error().message);
  }
  return PrintError(name + " kept changing; try again");
}

int ShowStatus(const GlobalFlags& g, const std::string& name, bool watch) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  std::string last;
  while (true) {
    auto w = client->Get(WorkloadKind(), g.ns, name);
    if (!w.ok()) return PrintError(w.error().message);
    const std::string text = RolloutStatusText(w.value());
    if (text != last) std::cout << text << std::flush;
    last = text;
    if (!watch || RolloutFinished(w.value())) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

const CommandRegistration kRollout({
    .name = "rollout",
    .description = "staged rollouts of a FederatedWorkload: status [-w], pause, resume, "
                   "approve, undo [--to-revision N]",
    .define = [](CLI::App& app) -> CommandRun {
      app.require_subcommand(1);
      auto name = std::make_shared<std::string>();
      auto watch = std::make_shared<bool>(false);
      auto to_revision = std::make_shared<int64_t>(0);
      auto add = [&](const char* sub, const char* help) {
        CLI::App* c = app.add_subcommand(sub, help);
        c->add_option("NAME", *name, "the FederatedWorkload")->required();
        return c;
      };
      CLI::App* status = add("status", "the rollout's revision, phase, stage and members");
      status->add_flag("-w,--watch", *watch, "follow it until it completes, halts or rolls back");
      CLI::App* pause = add("pause", "give no further member the new revision");
      CLI::App* resume = add("resume", "continue a paused rollout");
      CLI::App* approve = add("approve",
                              "grant the approval the rollout waits for: before a stage starts, "
                              "or after a stage passed its gates (status says which)");
      CLI::App* undo = add("undo", "go back to the last good revision (or --to-revision N)");
      CLI::Option* to = undo->add_option("--to-revision", *to_revision,
                                         "the revision (status.revisions) to go back to");
      to->check(CLI::PositiveNumber);
      return [=](const GlobalFlags& g) {
        if (status->parsed()) return ShowStatus(g, *name, *watch);
        auto says = [](std::string text) { return [text](const json&) { return text; }; };
        if (pause->parsed()) {
          return Change(
              g, *name, [](const json& w) { return WithRolloutPaused(w, true); },
              says("rollout paused"));
        }
        if (resume->parsed()) {
          return Change(
              g, *name, [](const json& w) { return WithRolloutPaused(w, false); },
              says("rollout resumed"));
        }
        if (approve->parsed()) {
          return Change(g, *name, WithRolloutApproved,
                        [](const json& w) { return RolloutApprovalText(w) + " granted"; });
        }
        std::optional<int64_t> target;
        if (to->count() > 0) target = *to_revision;
        return Change(
            g, *name, [target](const json& w) { return WithRolloutUndone(w, target); },
            says("rolled back (a new revision with the older template)"));
      };
    },
});

}  // namespace
}  // namespace meridian::cli
