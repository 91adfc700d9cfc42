// fedctl rollout status|pause|resume|approve|undo: a FederatedWorkload's staged rollout
// (docs/design.md "Rollouts"). The changes and the text are cli/rollout.h; this is the wiring.
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

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

// The kind of a native target's object (fedctl's view of it).
const KindInfo& ObjectKind(const RolloutTarget& t) {
  return *ResolveManifestKind(t.native->ApiVersion(), t.native->kind);
}

// A change to a FederatedWorkload, or (native) to the object a PlacementPolicy places, given
// its binding too: the binding controller owns the binding and carries the change over.
using WorkloadChange = std::function<StatusOr<json>(const json&)>;
using NativeChange = std::function<StatusOr<json>(const json& object, const json& binding)>;

// Reads the workload (and, for a native target, the object), applies the change, writes it
// back (compare-and-swap; re-read on 409). A change that fails writes nothing. `done` says
// what was done, from the workload (the binding) as it was read.
int Change(const GlobalFlags& g, const RolloutTarget& t, const WorkloadChange& change,
           const NativeChange& native_change, const std::function<std::string(const json&)>& done) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto w = client->Get(WorkloadKind(), g.ns, t.workload);
    if (!w.ok()) {
      if (t.native != nullptr && w.error().code == 404) {
        return PrintError(t.display + " is not placed by a PlacementPolicy (no binding " +
                          t.workload + "): nothing rolls it out");
      }
      return PrintError(w.error().message);
    }
    const KindInfo& kind = t.native ? ObjectKind(t) : WorkloadKind();
    const std::string name = t.native ? t.name : t.workload;
    StatusOr<json> changed = NotFoundError("");
    if (t.native) {
      auto o = client->Get(kind, g.ns, t.name);
      if (!o.ok()) return PrintError(o.error().message);
      changed = native_change(o.value(), w.value());
    } else {
      changed = change(w.value());
    }
    if (!changed.ok()) return PrintError(changed.status().message());
    json body = std::move(changed).value();
    body.erase("status");
    auto updated = client->Update(kind, g.ns, name, body);
    if (updated.ok()) {
      std::cout << (t.native ? kind.GroupSingular() + "/" + t.name
                             : "federatedworkload.federation.meridian.io/" + t.workload)
                << " " << done(w.value()) << "\n";
      return 0;
    }
    if (updated.error().code != 409) return PrintError(updated.error().message);
  }
  return PrintError(t.display + " kept changing; try again");
}

int ShowStatus(const GlobalFlags& g, const RolloutTarget& t, bool watch) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  std::string last;
  while (true) {
    auto w = client->Get(WorkloadKind(), g.ns, t.workload);
    if (!w.ok()) {
      if (t.native != nullptr && w.error().code == 404) {
        return PrintError(t.display + " is not placed by a PlacementPolicy (no binding " +
                          t.workload + ")");
      }
      return PrintError(w.error().message);
    }
    const std::string text = RolloutStatusText(w.value(), t.native ? t.display : "");
    if (text != last) std::cout << text << std::flush;
    last = text;
    if (!watch || RolloutFinished(w.value())) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

const CommandRegistration kRollout({
    .name = "rollout",
    .description = "staged rollouts of a FederatedWorkload (NAME) or of an object a "
                   "PlacementPolicy places (TYPE/NAME, e.g. deployment/web): status [-w], "
                   "pause, resume, approve, undo [--to-revision N]",
    .define = [](CLI::App& app) -> CommandRun {
      app.require_subcommand(1);
      auto args = std::make_shared<std::vector<std::string>>();
      auto watch = std::make_shared<bool>(false);
      auto to_revision = std::make_shared<int64_t>(0);
      auto add = [&](const char* sub, const char* help) {
        CLI::App* c = app.add_subcommand(sub, help);
        c->add_option("TARGET", *args,
                      "NAME (a FederatedWorkload), or TYPE/NAME or TYPE NAME (an object a "
                      "PlacementPolicy places: deployment/web)")
            ->required()
            ->expected(1, 2);
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
        StatusOr<RolloutTarget> resolved = ResolveRolloutTarget(*args);
        if (!resolved.ok()) return PrintError(resolved.status().message());
        const RolloutTarget t = *resolved;
        if (status->parsed()) return ShowStatus(g, t, *watch);
        auto says = [](std::string text) { return [text](const json&) { return text; }; };
        const std::string display = t.display;
        if (pause->parsed() || resume->parsed()) {
          const bool paused = pause->parsed();
          return Change(
              g, t, [paused](const json& w) { return WithRolloutPaused(w, paused); },
              [paused, display](const json& o, const json& b) {
                return WithNativeRolloutPaused(o, b, paused, display);
              },
              says(paused ? "rollout paused" : "rollout resumed"));
        }
        if (approve->parsed()) {
          return Change(
              g, t, WithRolloutApproved,
              [display](const json& o, const json& b) {
                return WithNativeRolloutApproved(o, b, display);
              },
              [](const json& w) { return RolloutApprovalText(w) + " granted"; });
        }
        std::optional<int64_t> target;
        if (to->count() > 0) target = *to_revision;
        return Change(
            g, t, [target](const json& w) { return WithRolloutUndone(w, target); },
            [target, display](const json& o, const json& b) {
              return WithNativeRolloutUndone(o, b, target, display);
            },
            says("rolled back (a new revision with the older template)"));
      };
    },
});

}  // namespace
}  // namespace meridian::cli
