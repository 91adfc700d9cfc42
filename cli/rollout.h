// fedctl rollout: the changes each subcommand makes to a FederatedWorkload as stored, and the
// status text, as pure functions (cli/cmd_rollout.cc does the I/O). Every error names the
// flag or field at fault; on an error nothing is to be written. Thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/native_kinds.h"
#include "common/status.h"

namespace meridian::cli {

// What `fedctl rollout SUBCOMMAND` acts on, from its arguments, as kubectl users write them:
// "NAME" or "fw/NAME" (a FederatedWorkload), "TYPE/NAME" or "TYPE NAME" (kind, plural, singular
// or short name: deployment/web, deploy web, sts/db, configmap/web-config) for a native object
// a PlacementPolicy places (api/native_kinds.h), whose staged rollout lives on its binding
// FederatedWorkload (scheduling/policy_binding.h BindingName).
struct RolloutTarget {
  std::string workload;                     // the FederatedWorkload holding the rollout
  const api::NativeKind* native = nullptr;  // null: a FederatedWorkload of its own
  std::string name;                         // the name the user gave
  std::string display;                      // "deployment/web" | "federatedworkload/web"
};
// Errors: kInvalidArgument naming TYPE when it is not a kind with rollouts (a FederatedWorkload
// or a native kind), or when the arguments are not one of the forms above.
StatusOr<RolloutTarget> ResolveRolloutTarget(const std::vector<std::string>& args);

// A native object's counterparts of the changes below, made on the object as stored (the
// binding controller copies them onto `binding`, which it owns; each names `display`):
// pause/resume set or remove api::kRolloutPausedAnnotation (kFailedPrecondition without a
// staged rollout, when already so, or when resuming what the policy's spec.rollout.paused
// pauses); approve sets the approval `binding` waits for; undo sets the object's spec to the
// kept revision's (a new revision with the older spec, as kubectl rollout undo does).
StatusOr<nlohmann::json> WithNativeRolloutPaused(const nlohmann::json& object,
                                                 const nlohmann::json& binding, bool paused,
                                                 const std::string& display);
StatusOr<nlohmann::json> WithNativeRolloutApproved(const nlohmann::json& object,
                                                   const nlohmann::json& binding,
                                                   const std::string& display);
StatusOr<nlohmann::json> WithNativeRolloutUndone(const nlohmann::json& object,
                                                 const nlohmann::json& binding,
                                                 std::optional<int64_t> to_revision,
                                                 const std::string& display);

// The workload with the approval annotation for the approval its rollout waits for: before a
// stage starts ("<revision>/<stage>") or after it passed its gates ("<revision>/<stage>/after",
// status.rollout.approvalPoint). kFailedPrecondition when it has no spec.rollout or nothing
// waits for approval.
StatusOr<nlohmann::json> WithRolloutApproved(const nlohmann::json& workload);

// Which approval WithRolloutApproved grants, for the user: "approval after stage eu of
// revision 3" ("" when nothing waits for one).
std::string RolloutApprovalText(const nlohmann::json& workload);

// The workload with spec.rollout.paused set to `paused`. kFailedPrecondition without
// spec.rollout, or when it already is so.
StatusOr<nlohmann::json> WithRolloutPaused(const nlohmann::json& workload, bool paused);

// The workload with spec.template set to revision `to_revision`'s template (status.revisions),
// or without it to the last good revision: the stable revision while a rollout is not
// complete, else the revision before the newest. kNotFound naming --to-revision when the
// revision is not (or no longer) kept; kFailedPrecondition when there is nothing to go back to.
StatusOr<nlohmann::json> WithRolloutUndone(const nlohmann::json& workload,
                                           std::optional<int64_t> to_revision);

// Several lines: revision, phase, stage, message, and per member the revision it is meant to
// run, the one it runs and whether that is ready.
// `display` names it in the first line instead of "namespace/name" (a native object's binding
// is named for the object: "deployment/web").
std::string RolloutStatusText(const nlohmann::json& workload, const std::string& display = "");

// Whether the rollout ended (Complete, Halted, RolledBack) or the workload has no rollout.
bool RolloutFinished(const nlohmann::json& workload);

}  // namespace meridian::cli
