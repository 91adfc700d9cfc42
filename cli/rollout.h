// fedctl rollout: the changes each subcommand makes to a FederatedWorkload as stored, and the
// status text, as pure functions (cli/cmd_rollout.cc does the I/O). Every error names the
// flag or field at fault; on an error nothing is to be written. Thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"

namespace meridian::cli {

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
std::string RolloutStatusText(const nlohmann::json& workload);

// Whether the rollout ended (Complete, Halted, RolledBack) or the workload has no rollout.
bool RolloutFinished(const nlohmann::json& workload);

}  // namespace meridian::cli
