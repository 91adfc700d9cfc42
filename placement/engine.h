// The placement engine: (policy, clusters, topology, current assignment, now) -> replicas
// per cluster, the unplaced remainder with the constraints that blocked it, and an
// explanation per cluster. Pure: no I/O, no clock reads, no globals.
//
// How a workload is placed (docs/design.md "Placement (the core)"):
//   1. Filter: clusterSelector, residency (the workload's ∩ every matched ResidencyPolicy),
//      latency (regions within maxRTTMs of some demand source). Health is not a filter for
//      the *share*: a failed cluster keeps its share, which then overflows (step 4).
//   2. Shares: static weights (region or cluster names), demand-derived region weights
//      (`fromDemand`), or allocatable capacity; weight-0 clusters only take overflow.
//   3. Apportion the total exactly (largest remainder, water-filled between min and max):
//      first across weight groups (a named region or cluster), then equally inside a group.
//   4. Capacity: each cluster keeps min(share, what it can hold now: failed zones cut
//      capacity, unreachable clusters hold nothing, recovering clusters hold no more than
//      they have); the rest overflows per `failover.overflow` (nearest by region RTT from
//      where it failed / the `order` list / not at all) and what finds no room is unplaced.
//   5. Coverage: move single replicas so that spread.minRegions / minZones and every latency
//      source are satisfied where possible; report where not.
//   6. Zone hints: each multi-zone cluster's replicas over its healthy zones.
// Stability: shares depend on the policy and on the fleet's configuration (labels, regions,
// jurisdictions, allocatable), never on health; health only caps what a cluster keeps and
// routes the rest as overflow. Rounding ties break by a hash of (workload key, cluster name),
// never alphabetically. So an unchanged world gives the identical answer, feeding the answer
// back as the current assignment changes nothing (idempotent), and after a failure the only
// replicas that move are those the failed capacity can no longer hold (property-tested: no
// replica moves between two healthy clusters that both keep room). The current assignment is
// used for hysteresis: a cluster that became healthy less than recoveryDelaySeconds ago
// keeps at most what it runs now (and receives no overflow); after the delay it returns in
// steps of recoveryMaxReplicasPerStep (default 25% of the replicas): it gains one step only
// when the previous one is done — every replica it holds is ready (Assignment::ready) and no
// surge is outstanding (the current assignment adds up to no more than the total, i.e. the
// replicas the last step replaced have been released) — so whatever the caller's pass rate,
// at most one step is in flight. The pacing lasts at most kRecoveryStepBudgetSeconds per step;
// Result::recheck_after says when a hold or the pacing window ends. Availability wins over
// hysteresis: what finds no room elsewhere may still go to a recovering cluster, first up to its
// share, then routed as overflow is (nearest / ordered; never with overflow none). Infeasible
// placements are answers (Result::unplaced > 0 with the blocking constraints in unplaced_because,
// unmet spread/latency in `unmet`), never errors.
//
// Scope: one workload at a time; capacity shared with other workloads comes in as
// `used_by_others` (scheduling/placement_inputs.h PlaceAll keeps that ledger). Workloads of
// one affinity group (placement/affinity.h) are placed one after another, each with the
// group's restriction (Workload::affinity): the clusters every member allows (a filter), and
// for every member but the leader, where the leader runs now (a cap: elsewhere it holds
// nothing and its share overflows as from a failed cluster).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "placement/policy.h"
#include "placement/world.h"

namespace meridian::placement {

namespace internal {
struct Scratch;
struct Filter;
}  // namespace internal

// Replicas a cluster runs now (from the workload's status).
struct Assignment {
  std::string cluster;
  int32_t replicas = 0;  // placed there (status.placement)
  int32_t ready = 0;     // of which ready (status.clusters[].readyReplicas)
  friend bool operator==(const Assignment&, const Assignment&) = default;
};

// What being in an affinity group means for one member's placement (placement/affinity.h).
struct AffinityRestriction {
  std::string group;   // the group's name, for explanations
  std::string leader;  // the leader's key ("ns/name"); empty when the group has no leader
  // The clusters every member's own filters (selector, residency, latency) allow: a filter,
  // like residency. Sorted. Outside it the cluster reads "excluded by affinity group".
  std::vector<std::string> eligible;
  // For a member that follows: where the leader holds replicas now (sorted). A cluster of
  // `eligible` outside it can hold nothing of this member: its share overflows, within the
  // clusters the group runs on, as from a failed cluster (so a failover of the leader moves
  // the whole group the same way, and shares stay those of a healthy fleet). Unset for the
  // leader itself and when the group has no leader (every member copied).
  std::optional<std::vector<std::string>> runs_on;
  friend bool operator==(const AffinityRestriction&, const AffinityRestriction&) = default;
};

// Everything about one workload the engine needs besides the World.
struct Workload {
  std::string key;       // "namespace/name": seeds the tie-break hash
  int32_t replicas = 0;  // the total to place (>= 0)
  PlacementPolicy policy;
  std::vector<ResidencyRule> residency_policies;  // matched ResidencyPolicies
  std::vector<Assignment> current;                // current assignment; unknown names ignored
  // Per cluster name: how many of this workload's pods the cluster's nodes can take
  // (scheduler-style, failover/node_capacity.h; scheduling::EngineWorkload fills it). Bounds
  // the cluster like distribution.clusters[].max, but where it binds (below the policy's own
  // max) the explanation says capacity, not max: it is what the member holds, not a policy.
  std::map<std::string, int32_t> pod_room;
  // Set for a member of an affinity group (placement/affinity.h builds it).
  std::optional<AffinityRestriction> affinity;
};

// The constraints an explanation can name. Used as bits.
enum Constraint : uint32_t {
  kSelector = 1u << 0,         // clusterSelector excludes it
  kResidency = 1u << 1,        // residency (workload or a ResidencyPolicy) excludes it
  kLatency = 1u << 2,          // no demand source within maxRTTMs / a source is not covered
  kUnreachable = 1u << 3,      // cluster unreachable
  kZoneFailure = 1u << 4,      // failed zones cut its capacity
  kCapacity = 1u << 5,         // allocatable replicas
  kMax = 1u << 6,              // distribution.clusters[].max
  kMin = 1u << 7,              // minimums exceed the total
  kSpread = 1u << 8,           // spread.minRegions / minZones not met
  kOverflow = 1u << 9,         // overflow none, or the ordered list ran out
  kRecovery = 1u << 10,        // recovery hold or pace
  kNoCluster = 1u << 11,       // no eligible cluster at all
  kAffinity = 1u << 12,        // its affinity group: another member's filters exclude it (a rule)
  kAffinityLeader = 1u << 13,  // its affinity group's leader does not run there (a move)
};

// Where a cluster's weight came from.
enum class WeightKind : uint8_t {
  kNone,      // not weighted: takes overflow only
  kCluster,   // distribution.weights names the cluster
  kRegion,    // distribution.weights names its region (shared by the region's clusters)
  kDemand,    // fromDemand: its region's demand
  kCapacity,  // capacity-proportional
  kEqual,     // equal shares (capacity unknown, or no weight matched)
};

// Where a recovered cluster is in its return (placement/policy.h FailoverSpec).
enum class RecoveryState : uint8_t {
  kNone,       // not recovering, or already holding its share
  kHeld,       // healthy for less than recoveryDelaySeconds: gains nothing
  kStepping,   // returning: may gain one step now
  kStepWaits,  // returning, a step in flight: the replicas it holds are not all ready, or the
               // replicas they replace are not released yet; no further step until they are
};

// One cluster's line of the answer. Compact on purpose: 100k results stay small.
struct ClusterPlacement {
  uint32_t cluster = 0;     // World index
  int32_t replicas = 0;     // the answer
  int32_t share = 0;        // what its weight gave it (after min/max), before capacity
  int32_t limit = 0;        // the cap that bound it, when limited_by != 0
  int32_t overflow = 0;     // replicas received as overflow from elsewhere
  int32_t coverage = 0;     // replicas moved in (+) or out (-) for spread/latency
  int64_t weight = 0;       // its group's weight
  uint32_t limited_by = 0;  // Constraint bits of what capped it (capacity, zones, max, ...)
  uint16_t group_size = 1;  // clusters sharing the group's weight
  WeightKind weight_kind = WeightKind::kNone;
  RecoveryState recovery = RecoveryState::kNone;
  int32_t used_elsewhere = 0;  // replicas of other workloads counted against its capacity
  friend bool operator==(const ClusterPlacement&, const ClusterPlacement&) = default;
};

// Replicas of a multi-zone cluster per healthy zone.
struct ZoneHint {
  uint32_t cluster = 0;  // World index
  uint32_t zone = 0;     // index into World::cluster(cluster).zones
  int32_t replicas = 0;
  friend bool operator==(const ZoneHint&, const ZoneHint&) = default;
};

struct Result {
  int32_t total = 0;
  int32_t placed = 0;
  int32_t unplaced = 0;
  uint32_t unplaced_because = 0;  // Constraint bits, when unplaced > 0
  uint32_t unmet = 0;             // kSpread / kLatency bits for coverage not achieved
  int32_t regions_covered = 0;
  int32_t zones_covered = 0;
  int32_t sources_uncovered = 0;
  int64_t weight_total = 0;
  // Clusters with replicas, a share, or current replicas; sorted by World index.
  std::vector<ClusterPlacement> clusters;
  std::vector<ZoneHint> zones;  // sorted by cluster, then zone
  // When the caller should place again even if nothing changes (a recovery hold ends or a
  // paced return has more steps to go), measured from `now`.
  std::optional<Duration> recheck_after;
  // How many clusters each filter removed (first failing filter counts).
  uint32_t excluded_by_selector = 0;
  uint32_t excluded_by_residency = 0;
  uint32_t excluded_by_latency = 0;
  uint32_t excluded_by_affinity = 0;  // allowed by its own filters, not by every group member
  uint32_t eligible = 0;

  // Replicas for a World index (0 when absent). O(log n).
  int32_t ReplicasOf(uint32_t cluster) const;
  const ClusterPlacement* Find(uint32_t cluster) const;
  friend bool operator==(const Result&, const Result&) = default;
};

// Places workloads against one World. Keeps caches (selector matches) and scratch space
// between calls, so reuse one Engine for many workloads. Not thread-safe: use one Engine
// per thread (they may share the World).
class Engine {
 public:
  explicit Engine(std::shared_ptr<const World> world);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const World& world() const { return *world_; }

  // Places `w` at time `now`. Never fails: infeasibility is reported in the Result.
  // `w.replicas < 0` is treated as 0. `used_by_others`, when not empty, holds per World
  // index the replicas other workloads hold there; they are taken off what the cluster can
  // hold (like a failed zone's capacity: the shares do not change, the rest overflows).
  // `every_eligible`: list every cluster that passed the filters in Result::clusters, with
  // its cap (limit), recovery state and what others use there, even when it holds nothing;
  // what Why() / ExplainOverflow() need to say why a cluster was passed. The placement is
  // the same either way.
  Result Place(const Workload& w, Timestamp now, std::span<const int64_t> used_by_others = {},
               bool every_eligible = false);

  // The World indices `w`'s own filters allow (clusterSelector, residency with its
  // ResidencyPolicies, latency), ascending; w.affinity is ignored. What an affinity group
  // intersects (placement/affinity.h).
  std::vector<uint32_t> OwnEligible(const Workload& w);

 private:
  // The eligible clusters for one combination of selector, effective residency and latency
  // bound, computed once per Engine (workloads share a handful of combinations).
  // `with_affinity`: w.affinity's eligible set filters too.
  const internal::Filter& FilterFor(const Workload& w, bool with_affinity);

  std::shared_ptr<const World> world_;
  std::unique_ptr<internal::Scratch> s_;
  std::unordered_map<std::string, std::unique_ptr<internal::Filter>> filter_cache_;
};

// One line per cluster: "eu-west-1: 9 = weight 3/10 of 30; capped by capacity 9; +0 overflow".
// Works for any cluster of the World, including excluded ones ("ap-south-1: 0; excluded by
// residency (policy eu-only allows eu)"). Built lazily from the structured Result.
std::string Explain(const World& world, const Workload& w, const Result& r, uint32_t cluster);
// "18 of 30 unplaced: residency (...), capacity (...)" or "" when everything is placed;
// also names unmet spread / latency coverage.
std::string ExplainUnplaced(const World& world, const Workload& w, const Result& r);
// The one primary reason a cluster holds what it holds (every cluster of the World has one).
enum class Reason : uint8_t {
  kPlaced,         // holds its share (weighted by policy, demand or capacity), maybe capped
  kOverflow,       // holds only replicas overflowed from elsewhere
  kCoverage,       // holds only replicas moved in for spread / latency coverage
  kSelector,       // excluded by clusterSelector
  kResidency,      // excluded by residency (the workload's or a ResidencyPolicy)
  kLatency,        // excluded by latency: no demand source within maxRTTMs
  kUnreachable,    // unreachable: holds nothing, its share overflowed
  kZoneFailure,    // every zone failed (or failed zones leave no room)
  kRecoveryHold,   // recovering: held at what it runs until recoveryDelaySeconds pass
  kCapacity,       // full: allocatable replicas used (by other workloads, or by nothing else)
  kMax,            // distribution.clusters[].max is 0
  kNotNeeded,      // eligible, but the apportionment gave it no share and no overflow reached it
  kAffinityGroup,  // excluded by its affinity group (another member's constraints), or the
                   // group's leader does not run there
};
// "Placed", "Overflow", "Coverage", "ExcludedBySelector", "ExcludedByResidency",
// "ExcludedByLatency", "Unreachable", "ZoneFailure", "RecoveryHold", "Capacity", "Max",
// "NotNeeded", "AffinityGroup": the stable names used in status.explanation.
const char* ReasonName(Reason r);

struct ClusterReason {
  uint32_t cluster = 0;
  int32_t replicas = 0;
  Reason reason = Reason::kNotNeeded;
  std::string message;  // Explain()'s sentence, with the detail of the reason
};
// Why `cluster` holds what it holds in `r`, which must come from Place(..., every_eligible =
// true) at `now` for `w` (without it, eligible clusters holding nothing read NotNeeded).
ClusterReason Why(const World& world, const Workload& w, const Result& r, uint32_t cluster,
                  Timestamp now);
// For overflow: per region whose clusters could not hold their share, the candidates in the
// order overflow considered them (nearest by RTT, or failover.order) with what each took or
// why it was passed ("us-west-1 (62 ms): passed, recovery hold until 10:02:00Z"); empty
// without overflow. Bounded by the cluster count (stops after the last one that took some).
std::vector<std::string> ExplainOverflow(const World& world, const Workload& w, const Result& r,
                                         Timestamp now);

// "1 cluster", "0 clusters", "5 zones": a count with its noun, plural unless it is 1.
std::string Count(int64_t n, const std::string& noun);
// Names of the constraint bits ("residency, capacity").
std::string ConstraintNames(uint32_t bits);

}  // namespace meridian::placement
