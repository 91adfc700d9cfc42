// Placement decisions as Events: what changed in a FederatedWorkload's placement between two
// statuses, and why, in the words `kubectl get events` and `fedctl describe` show.
//
// Pure: two statuses in (before and after one placement pass), events out. The placement
// controller records them through its EventRecorder when it writes a new status, so identical
// repeats aggregate (count, lastTimestamp) as Kubernetes events do.
//
// One event per change, with the most specific reason:
//   Placed       Normal   the first placement: "placed 12 replicas on 2 clusters: eu-west-1 6,
//                         eu-central-1 6"
//   Returned     Normal   replicas moved back to a cluster that was unreachable, failed or on
//                         recovery hold: "eu-west-1 0->6, eu-central-1 12->6: eu-west-1 is back
//                         (was Unreachable)"
//   Overflowed   Normal   replicas moved to a cluster that holds them only as overflow
//   Rescheduled  Normal   any other change of per-cluster counts (a weight or replica change,
//                         a rebalance); the message lists every from->to and the cause: the
//                         status.explanation reason of each cluster that lost replicas, or the
//                         change of the desired replica count
//   Retained     Warning  a member became unreachable: what it ran is left there, running,
//                         and replaced elsewhere (status.retained)
//   FailedPlacement Warning  replicas are unplaced now (none or fewer were before), with the
//                         engine's reason
// A status whose placement, retained lines and unplaced count did not change yields nothing
// (condition or sync-field updates are not placement decisions).
#pragma once

#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/event_recorder.h"

namespace meridian::scheduling {

struct PlacementEvent {
  apimachinery::EventType type = apimachinery::EventType::kNormal;
  std::string reason;
  std::string message;
  friend bool operator==(const PlacementEvent&, const PlacementEvent&) = default;
};

// The events for going from `before` to `after` (see the file comment), in the order
// Placed/Returned/Overflowed/Rescheduled, Retained, FailedPlacement.
std::vector<PlacementEvent> PlacementEvents(const api::FederatedWorkloadStatus& before,
                                            const api::FederatedWorkloadStatus& after);

}  // namespace meridian::scheduling
