// Placement inputs: the federation's API objects turned into what the placement engine reads
// (placement/world.h, placement/engine.h), and "what-if" failures applied to them. Pure: no
// I/O, no clock reads. One code path for three users:
//   - the placement controller (scheduling/placement_controller.h): every running live
//     FailoverDrill's target is treated as failed (ApplyFailures), an ended one as recovered
//     at its completionTime (ApplyDrillRecoveries);
//   - `fedctl what-if --fail zone=Z|region=R|cluster=C` (cli/what_if.h): WhatIf;
//   - FailoverDrills in simulate mode (failover/): WhatIf.
//
// Health as placement sees a MemberCluster (ClusterStateFrom):
//   - reachable unless condition Reachable is False;
//   - capacity for *shares* is the member's full capacity: spec.capacity.replicas, else the
//     sum of every zone's allocatableReplicas (a failed zone keeps the figure it had while
//     healthy, see failover/health.h), else status.allocatable.replicas; failed zones only
//     cap what the member holds now (the World does that), so a zone failure moves only the
//     replicas that no longer fit and never re-divides the healthy members;
//   - "recovering" (recovery hysteresis) only after a real recovery: healthy_since is the
//     Reachable transition time when its reason is Recovered (it was False before), and a
//     zone's lastTransitionTime counts only when it is set (the health monitor leaves it empty
//     for a zone that has been healthy since it was first seen). A member that has just
//     joined is not "recovering".
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/status.h"
#include "placement/engine.h"
#include "placement/world.h"

namespace meridian::scheduling {

// The Reachable condition's reason when a member answers again after being unreachable
// (written by failover/health.h, read by ClusterStateFrom).
inline constexpr char kReachableRecoveredReason[] = "Recovered";

// ---- From API objects ----

// A MemberCluster as the engine sees it (see the file comment).
placement::ClusterState ClusterStateFrom(const api::MemberCluster& member);

// One Topology is the norm; several are merged (regions and demand profiles: first name wins,
// in the order given).
placement::TopologySpec MergedTopology(const std::vector<api::Topology>& topologies);

// The ready replicas status.clusters reports on `cluster` (0 when it reports nothing).
int64_t ReadyOn(const api::FederatedWorkloadStatus& status, const std::string& cluster);

// status.placement as the engine's current assignment, with each cluster's ready count.
std::vector<placement::Assignment> CurrentAssignment(const api::FederatedWorkloadStatus& status);

// What each member runs when two lists of lines both apply to it (status.placement and
// status.retained, or the placement and the replicas just released into it): per cluster the
// larger count. Lines of `lines` keep their order and fields; clusters only in `more` follow.
std::vector<api::ClusterPlacement> LargerOfEach(std::vector<api::ClusterPlacement> lines,
                                                const std::vector<api::ClusterPlacement>& more);

// The engine's input for a workload. A template without spec.replicas is copied: one per
// eligible cluster (the total is the fleet size, at most one per cluster). The current
// assignment is status.placement.
placement::Workload EngineWorkload(const api::FederatedWorkload& workload,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const placement::World& world);

// ---- Capacity shared between workloads ----
//
// A member's capacity (allocatable pods) is shared by every workload placed on it. The
// placement controller places workloads one after another in priority order (PriorityOrder:
// oldest first, as a scheduler binds pods first come, first served) and takes what the others
// hold off each member's room, so that a member never gets more replicas than it can run.
// What the others hold:
//   - a workload not placed yet in this pass holds what it runs now — up to the capacity
//     that is left in priority order (Reserve). So after a zone failure cuts a member's
//     capacity, the older workloads keep their replicas there and the newer ones overflow;
//     a workload's share of a member never depends on the order in which the API lists it;
//   - a workload already placed in this pass holds its new placement (Commit), including old
//     replicas kept until their replacements are ready.
// Workloads copied to every cluster (no spec.replicas) are not pods in this sense and take
// no part. Pods that Meridian does not manage are not counted (the member's allocatable is
// all we know of its room).

// Indexes of `workloads` in priority order: creationTimestamp, then namespace/name.
std::vector<size_t> PriorityOrder(const std::vector<api::FederatedWorkload>& workloads);
std::vector<size_t> PriorityOrder(
    const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads);

class CapacityLedger {
 public:
  explicit CapacityLedger(const placement::World& world);  // `world` must outlive the ledger

  // Workload `workload` (any stable id) holds `current` — as much as fits, in call order.
  // Call for every workload, in priority order, before the first Release.
  void Reserve(size_t workload, const std::vector<placement::Assignment>& current);
  // What every other workload holds, per World index, once `workload` lets go of its
  // reservation: pass it to Engine::Place, then Commit the answer.
  std::span<const int64_t> Release(size_t workload);
  // `placement` (the status written) is held from now on.
  void Commit(const std::vector<api::ClusterPlacement>& placement);

 private:
  const placement::World& world_;
  std::vector<int64_t> total_;  // per World index
  std::map<size_t, std::vector<std::pair<uint32_t, int64_t>>> kept_;
};

// ---- What-if failures ----

// "zone=eu-west-1a" | "region=us-east" | "cluster=eu-west-1" -> a target with exactly that
// field set. Errors (InvalidArgument) name the text and what is expected.
StatusOr<api::DrillTarget> ParseFailureTarget(std::string_view text);
// The inverse: "zone=eu-west-1a".
std::string FailureTargetString(const api::DrillTarget& target);

// Treats every target as failed: a zone fails in every cluster that lists it (its capacity is
// cut, the cluster stays reachable: "degraded"), every cluster of a region and a named cluster
// become unreachable. Targets that match nothing (or set not exactly one field) are appended
// to `unmatched` (when non-null) as "zone=... matches no member cluster"; they change nothing.
void ApplyFailures(std::span<const api::DrillTarget> failures,
                   std::vector<placement::ClusterState>& clusters,
                   std::vector<std::string>* unmatched = nullptr);

// The FailoverDrills that act on placement now: phase Running, mode live, failure declared.
// An injected drill does not: its fault is real, and placement must react to it exactly as
// to an unannounced failure, through the members' health (that is what it rehearses).
bool IsLiveDrillRunning(const api::FailoverDrill& drill);
// Their targets.
std::vector<api::DrillTarget> LiveDrillTargets(const std::vector<api::FailoverDrill>& drills);

// Ended declared live drills (Running no more, with a completionTime, target not failed by a
// running drill) count as a recovery at completionTime (an injected one's recovery is the
// members' real one): a zone target's lastTransitionTime and a
// cluster/region target's healthy_since move to it when later. So replicas return after
// recoveryDelaySeconds, as after a real outage.
void ApplyDrillRecoveries(const std::vector<api::FailoverDrill>& drills,
                          std::vector<placement::ClusterState>& clusters);

// Everything placement reads, as listed from the API.
struct PlacementInputs {
  std::vector<api::MemberCluster> members;
  std::vector<api::Topology> topologies;
  std::vector<api::ResidencyPolicy> policies;
  std::vector<api::FederatedWorkload> workloads;
  std::vector<api::FailoverDrill> drills;
};

// The engine's clusters for `inputs`: ClusterStateFrom per member, running live drills'
// targets failed, ended ones recovered.
std::vector<placement::ClusterState> ClusterStatesFor(const PlacementInputs& inputs);

// One cluster of a what-if answer.
struct WhatIfCluster {
  std::string cluster;
  std::string region;
  int64_t before = 0;
  int64_t after = 0;
  std::string reason_after;  // the engine's explanation after the failures
  // Zone hints (replicas per healthy zone of a multi-zone cluster), before and after.
  std::map<std::string, int64_t> zones_before, zones_after;
  // Of `before`, the replicas on a failed target: all of them when the cluster itself fails
  // (its region or name), else what the zone hints put in failed zones (a cluster with a
  // failed zone and no hints: all of them, nothing says where they run).
  int64_t on_target = 0;
  friend bool operator==(const WhatIfCluster&, const WhatIfCluster&) = default;
};

// One workload whose placement the failures change.
struct WhatIfWorkload {
  std::string ns, name;
  int64_t desired = 0;
  int64_t unplaced_before = 0;
  int64_t unplaced_after = 0;
  // What blocks full placement after the failures ("12 of 30 unplaced: residency (...),
  // capacity (...)"); empty when everything is placed.
  std::string blocked_by;
  // Constraint bits (placement::Constraint) behind unplaced_after.
  uint32_t blocked_bits = 0;
  // Clusters with replicas before or after, in World order (region, then name).
  std::vector<WhatIfCluster> clusters;
  // Replicas placed on the failed targets before (the sum of clusters[].on_target): these
  // move, to other clusters or (a zone) to the cluster's other zones.
  int64_t on_target = 0;
  friend bool operator==(const WhatIfWorkload&, const WhatIfWorkload&) = default;
};

struct WhatIfAnswer {
  std::vector<WhatIfWorkload> affected;  // workloads whose placement, hints or unplaced change
  int unaffected = 0;                    // workloads placed identically
  std::vector<std::string> unmatched;    // failure targets that match nothing
};

// Places every workload of `inputs` at `now` twice: as the fleet is (running live drills
// included), and with `failures` on top; reports the workloads whose answer differs —
// replicas per cluster, unplaced count, or zone hints (a failed zone whose replicas move to
// the cluster's other zones affects the workload though no cluster count changes). The
// "after" placement starts from the "before" one as its current assignment, as the controller
// would. Changes nothing. Errors: the World cannot be built (duplicate member names).
StatusOr<WhatIfAnswer> WhatIf(const PlacementInputs& inputs,
                              std::span<const api::DrillTarget> failures, Timestamp now);

}  // namespace meridian::scheduling
