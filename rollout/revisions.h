// A FederatedWorkload's revision history (status.revisions), pure: every change of
// spec.template becomes a new numbered, never-edited revision; the history is bounded by
// spec.revisionHistoryLimit, but a revision some member runs or is meant to run, or that a
// rollout may return to, is never dropped. Thread-safe.
#pragma once

#include "api/types.h"
#include "common/clock.h"

namespace meridian::rollout {

// Appends a revision for `workload.spec.template` when it differs from the newest one (the
// first revision is 1; numbers only grow, so an undo to an older template is a new number),
// then drops the oldest revisions beyond the limit that nothing uses. Returns whether
// `status` changed.
bool RecordRevision(const api::FederatedWorkload& workload, Timestamp now,
                    api::FederatedWorkloadStatus* status);
// Whether RecordRevision would leave `workload.status` as it is (no new revision, nothing to
// drop), without copying anything: most workloads, most passes.
bool RevisionsCurrent(const api::FederatedWorkload& workload);

// The revision `number` in `status`, or nullptr.
const api::WorkloadRevision* FindRevision(const api::FederatedWorkloadStatus& status,
                                          int64_t number);

}  // namespace meridian::rollout
