// The placement policy language: plain value types for a FederatedWorkload's
// `spec.placement` and for the `Topology` spec, with the defaults the engine assumes.
//
// These structs are what the api/ module embeds; placement/policy_json.h converts them
// from and to JSON (field names are the camelCase ones of docs/design.md). All types are
// plain values: copyable, comparable, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/labels.h"

namespace meridian::placement {

// `residency`: the jurisdictions (legal areas, e.g. "eu") replicas may run in. Hard.
struct ResidencySpec {
  std::vector<std::string> jurisdictions;
  friend bool operator==(const ResidencySpec&, const ResidencySpec&) = default;
};

// `latency`: every source of the named demand profile must be served by some selected
// region within `maxRTTMs`. Hard.
struct LatencySpec {
  std::string demand;      // name of a Topology demand profile
  int32_t max_rtt_ms = 0;  // `maxRTTMs`, > 0
  friend bool operator==(const LatencySpec&, const LatencySpec&) = default;
};

// `distribution.clusters.<name>`: per-cluster bounds.
struct ClusterBounds {
  std::optional<int32_t> min;
  std::optional<int32_t> max;
  friend bool operator==(const ClusterBounds&, const ClusterBounds&) = default;
};

// `distribution`: how the total is divided. With `weights` (keys are region or cluster
// names; a cluster key wins over its region's key), the share of each named item follows
// its weight and clusters nobody named only take overflow. With `fromDemand`, region weights
// come from the demand profile (each source's weight goes to its nearest allowed region).
// With neither, shares are proportional to the clusters' allocatable replicas (or equal
// where capacity is unknown).
struct DistributionSpec {
  std::map<std::string, int64_t> weights;
  bool from_demand = false;     // `fromDemand`
  int32_t min_per_cluster = 0;  // `minPerCluster`
  std::map<std::string, ClusterBounds> clusters;
  friend bool operator==(const DistributionSpec&, const DistributionSpec&) = default;
};

// `spread`: soft-but-reported minimum number of distinct regions / zones with replicas.
struct SpreadSpec {
  int32_t min_regions = 0;  // `minRegions`
  int32_t min_zones = 0;    // `minZones`
  friend bool operator==(const SpreadSpec&, const SpreadSpec&) = default;
};

enum class OverflowMode {
  kNearest,  // to the allowed clusters nearest (by region RTT) to where the replicas failed
  kOrdered,  // to the clusters / regions of `order`, first first
  kNone,     // not at all: what does not fit stays unplaced
};

// A count of replicas or a percentage of a workload's replicas (Kubernetes' IntOrString, as
// in a Deployment's maxSurge): `3` or `"25%"`.
struct ReplicasOrPercent {
  int32_t value = 25;
  bool percent = true;
  // The count for a workload of `total` replicas: a percentage rounds up; never below 1.
  int64_t For(int64_t total) const;
  friend bool operator==(const ReplicasOrPercent&, const ReplicasOrPercent&) = default;
};

// `failover`: where displaced replicas go, and how they come back.
//
// The return after a recovery is a rolling one, like a Deployment's rollout: after
// `recoveryDelaySeconds` healthy, a recovered cluster gains at most `recoveryMaxReplicasPerStep`
// replicas per step, and a step starts only when the previous one is done (its returned
// replicas are ready and the replicas they replace elsewhere have been released). So at any
// moment at most one step's replicas are in flight, whatever the pass rate of the controller.
struct FailoverSpec {
  OverflowMode overflow = OverflowMode::kNearest;
  std::vector<std::string> order;       // cluster or region names, for kOrdered
  int32_t recovery_delay_seconds = 60;  // `recoveryDelaySeconds`
  ReplicasOrPercent recovery_max_replicas_per_step;  // `recoveryMaxReplicasPerStep`, 25%
  friend bool operator==(const FailoverSpec&, const FailoverSpec&) = default;
};

// How long each recovery step may take before a returning cluster is treated as an ordinary
// one (the rest of its share then returns in one, still make-before-break, step): a bound on
// how long a return is paced, so that a cluster that recovered long ago is not paced when the
// workload merely scales up.
inline constexpr int64_t kRecoveryStepBudgetSeconds = 120;

// A workload's `spec.placement`. Absent sections take the defaults above.
struct PlacementPolicy {
  std::optional<apimachinery::LabelSelector> cluster_selector;  // `clusterSelector`
  std::optional<ResidencySpec> residency;
  std::optional<LatencySpec> latency;
  DistributionSpec distribution;
  SpreadSpec spread;
  FailoverSpec failover;
  friend bool operator==(const PlacementPolicy&, const PlacementPolicy&) = default;
};

// `Topology.spec.regions[]`.
struct RegionSpec {
  std::string name;
  std::string jurisdiction;
  std::vector<std::string> zones;
  std::map<std::string, int32_t> rtt_ms;  // `rttMs`: RTT to other regions, for nearest overflow
  friend bool operator==(const RegionSpec&, const RegionSpec&) = default;
};

// A population centre of a demand profile.
struct DemandSource {
  std::string name;
  int64_t weight = 0;
  std::map<std::string, int32_t> rtt_ms;  // `rttMs`: region name -> RTT in milliseconds
  friend bool operator==(const DemandSource&, const DemandSource&) = default;
};

// `Topology.spec.demandProfiles[]`.
struct DemandProfile {
  std::string name;
  std::vector<DemandSource> sources;
  friend bool operator==(const DemandProfile&, const DemandProfile&) = default;
};

// The `Topology` spec.
struct TopologySpec {
  std::vector<RegionSpec> regions;
  std::vector<DemandProfile> demand_profiles;  // `demandProfiles`
  friend bool operator==(const TopologySpec&, const TopologySpec&) = default;
};

// A ResidencyPolicy already matched to the workload (by the controller): its name (used in
// explanations) and the jurisdictions it allows.
struct ResidencyRule {
  std::string name;
  std::vector<std::string> jurisdictions;
  friend bool operator==(const ResidencyRule&, const ResidencyRule&) = default;
};

}  // namespace meridian::placement
