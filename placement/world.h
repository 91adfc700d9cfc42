// World: the member clusters and the Topology as the placement engine sees them, indexed
// once so that many workloads can be placed against it cheaply.
//
// The controller fills ClusterState from MemberCluster status (and the Topology spec), builds
// one World per observed change of the fleet, and places every affected workload against it.
// A World is immutable after Build(); share it freely between threads.
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apimachinery/labels.h"
#include "common/clock.h"
#include "common/status.h"
#include "placement/policy.h"

namespace meridian::placement {

// One availability zone of a member cluster.
struct ZoneState {
  std::string name;
  bool healthy = true;
  // This zone's part of the cluster's allocatable replicas; nullopt = an equal part.
  std::optional<int64_t> allocatable_replicas;
  // When `healthy` last changed; a zone that became healthy recently is "recovering".
  std::optional<Timestamp> last_transition_time;
  // Replicas of each pod shape the zone's nodes can take (MemberCluster status; read by
  // scheduling::EngineWorkload as a per-workload cap, not by the engine).
  std::map<std::string, int64_t> replicas_by_pod_shape;
};

// A member cluster as placement sees it (from MemberCluster spec and status).
struct ClusterState {
  std::string name;
  apimachinery::Labels labels;
  std::string region;
  std::string jurisdiction;  // empty: the region's jurisdiction from the Topology
  std::vector<ZoneState> zones;
  // Replicas the cluster can hold in total; nullopt = unknown, treated as unbounded.
  std::optional<int64_t> allocatable_replicas;
  bool reachable = true;
  // When the cluster last became reachable and ready; nullopt = long ago (no hysteresis).
  std::optional<Timestamp> healthy_since;
  // For a cluster without `zones`: replicas of each pod shape its healthy zones can take.
  std::map<std::string, int64_t> replicas_by_pod_shape;
};

// Sentinel capacity for "unbounded".
inline constexpr int64_t kUnbounded = int64_t{1} << 40;
// Sentinel RTT for "unknown".
inline constexpr int32_t kUnknownRtt = int32_t{1} << 29;

class World {
 public:
  // Indexes `clusters` and `topology`. Clusters whose region the Topology does not list get
  // a region of their own name with unknown RTTs. Errors (InvalidArgument): an empty or
  // duplicate cluster name, negative allocatable replicas.
  static StatusOr<std::shared_ptr<const World>> Build(std::vector<ClusterState> clusters,
                                                      TopologySpec topology);

  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Clusters in index order (sorted by region, then name). Indices are stable for this World.
  uint32_t size() const { return static_cast<uint32_t>(clusters_.size()); }
  const ClusterState& cluster(uint32_t i) const { return clusters_[i]; }
  std::optional<uint32_t> FindCluster(std::string_view name) const;

  uint32_t region_count() const { return static_cast<uint32_t>(regions_.size()); }
  const std::string& region_name(uint32_t r) const { return regions_[r].name; }
  std::optional<uint32_t> FindRegion(std::string_view name) const;
  // Clusters of region r are the index range [region_begin(r), region_end(r)).
  uint32_t region_begin(uint32_t r) const { return regions_[r].begin; }
  uint32_t region_end(uint32_t r) const { return regions_[r].end; }
  // RTT in ms between two regions (0 to itself, kUnknownRtt when the Topology does not say).
  int32_t rtt(uint32_t from, uint32_t to) const { return rtt_[from * regions_.size() + to]; }
  // All regions ordered by RTT from `from` (itself first; ties by a stable hash).
  const std::vector<uint32_t>& regions_by_distance(uint32_t from) const {
    return regions_[from].by_distance;
  }

  const TopologySpec& topology() const { return topology_; }

  // Per-cluster derived facts (all O(1)).
  uint32_t region_of(uint32_t i) const { return info_[i].region; }
  // Jurisdiction of the cluster (its own, else its region's), "" when none.
  const std::string& jurisdiction_of(uint32_t i) const {
    return jurisdictions_[info_[i].jurisdiction];
  }
  int32_t jurisdiction_id(uint32_t i) const { return info_[i].jurisdiction; }
  int32_t jurisdiction_count() const { return static_cast<int32_t>(jurisdictions_.size()); }
  std::optional<int32_t> FindJurisdiction(std::string_view name) const;
  // Replicas the cluster could hold with every zone healthy (kUnbounded when unknown).
  int64_t nominal_capacity(uint32_t i) const { return info_[i].nominal_capacity; }
  // Replicas it can hold now: 0 when unreachable or every zone failed, cut by failed zones.
  int64_t capacity(uint32_t i) const { return info_[i].capacity; }
  bool zone_failed(uint32_t i) const { return info_[i].failed_zones > 0; }
  int32_t failed_zones(uint32_t i) const { return info_[i].failed_zones; }
  // Healthy zones with room, in the order replicas are spread over them.
  std::span<const uint32_t> healthy_zones(uint32_t i) const {
    return {zone_order_.data() + info_[i].zone_begin, info_[i].zone_count};
  }
  // Capacity of each zone of healthy_zones(i), same order (kUnbounded when unknown).
  std::span<const int64_t> healthy_zone_capacity(uint32_t i) const {
    return {zone_part_.data() + info_[i].zone_begin, info_[i].zone_count};
  }
  // Global zone id (zones with equal names in different clusters share an id; a cluster
  // without zones has a zone of its own).
  uint32_t zone_id(uint32_t i, uint32_t local_zone) const {
    return info_[i].zones_listed ? zone_ids_[info_[i].zone_id_begin + local_zone]
                                 : info_[i].zone_id_begin;
  }
  uint32_t zone_id_count() const { return zone_id_count_; }
  bool zones_listed(uint32_t i) const { return info_[i].zones_listed; }
  // The latest time it (or one of its zones) became healthy, if any was reported.
  std::optional<Timestamp> recovered_at(uint32_t i) const;
  // The same in milliseconds since the epoch, or INT64_MIN when none (hot-path form).
  int64_t recovered_at_ms(uint32_t i) const {
    return info_[i].has_recovered_at ? info_[i].recovered_at_ms : INT64_MIN;
  }
  uint64_t hash(uint32_t i) const { return info_[i].hash; }
  uint64_t region_hash(uint32_t r) const { return regions_[r].hash; }

  // Demand profiles: index by name, and per source the RTT to each region (kUnknownRtt).
  std::optional<uint32_t> FindDemandProfile(std::string_view name) const;
  uint32_t source_count(uint32_t profile) const {
    return static_cast<uint32_t>(profiles_[profile].weights.size());
  }
  int64_t source_weight(uint32_t profile, uint32_t s) const {
    return profiles_[profile].weights[s];
  }
  int32_t source_rtt(uint32_t profile, uint32_t s, uint32_t region) const {
    return profiles_[profile].rtt[s * regions_.size() + region];
  }

 private:
  World() = default;

  struct Region {
    std::string name;
    uint32_t begin = 0, end = 0;
    uint64_t hash = 0;
    std::vector<uint32_t> by_distance;
  };
  struct Info {
    uint32_t region = 0;
    int32_t jurisdiction = 0;
    int64_t nominal_capacity = kUnbounded;
    int64_t capacity = kUnbounded;
    int32_t failed_zones = 0;
    uint32_t zone_begin = 0;     // into zone_order_
    uint32_t zone_count = 0;     // healthy zones with room
    uint32_t zone_id_begin = 0;  // into zone_ids_ (or the own zone id when !zones_listed)
    bool zones_listed = false;
    bool has_recovered_at = false;
    int64_t recovered_at_ms = 0;
    uint64_t hash = 0;
  };
  struct Profile {
    std::vector<int64_t> weights;
    std::vector<int32_t> rtt;  // source-major: [s * regions + r]
  };

  std::vector<ClusterState> clusters_;
  std::vector<Info> info_;
  std::vector<uint32_t> zone_order_;  // local zone indices, per cluster
  std::vector<int64_t> zone_part_;    // capacity per zone_order_ entry
  std::vector<uint32_t> zone_ids_;    // global zone id per (cluster, local zone)
  uint32_t zone_id_count_ = 0;
  std::vector<Region> regions_;
  std::vector<int32_t> rtt_;
  std::vector<std::string> jurisdictions_;  // [0] is "" (none)
  std::vector<Profile> profiles_;
  std::unordered_map<std::string, uint32_t> cluster_index_;
  std::unordered_map<std::string, uint32_t> region_index_;
  std::unordered_map<std::string, int32_t> jurisdiction_index_;
  std::unordered_map<std::string, uint32_t> profile_index_;
  TopologySpec topology_;
};

// A stable 64-bit hash (FNV-1a, then mixed) used for deterministic tie-breaks.
uint64_t StableHash(std::string_view s);

}  // namespace meridian::placement
