#include "placement/world.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>

namespace meridian::placement {

uint64_t StableHash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  // splitmix64 finaliser: FNV alone leaves similar names with similar high bits.
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

namespace {
int64_t ToMs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

StatusOr<std::shared_ptr<const World>> World::Build(std::vector<ClusterState> clusters,
                                                    TopologySpec topology) {
  std::shared_ptr<World> w(new World());
  // Regions: the Topology's, then any a cluster names that the Topology does not.
  std::vector<std::string> region_names;
  for (const RegionSpec& r : topology.regions) region_names.push_back(r.name);
  for (const ClusterState& c : clusters) region_names.push_back(c.region);
  std::sort(region_names.begin(), region_names.end());
  region_names.erase(std::unique(region_names.begin(), region_names.end()), region_names.end());
  for (const std::string& name : region_names) {
    w->region_index_.emplace(name, static_cast<uint32_t>(w->regions_.size()));
    Region r;
    r.name = name;
    r.hash = StableHash(name);
    w->regions_.push_back(std::move(r));
  }
  const size_t nr = w->regions_.size();

  // Jurisdictions: id 0 is "none".
  w->jurisdictions_.push_back("");
  w->jurisdiction_index_.emplace("", 0);
  auto intern_jurisdiction = [&](const std::string& j) {
    auto [it, inserted] =
        w->jurisdiction_index_.emplace(j, static_cast<int32_t>(w->jurisdictions_.size()));
    if (inserted) w->jurisdictions_.push_back(j);
    return it->second;
  };
  std::vector<int32_t> region_jurisdiction(nr, 0);
  for (const RegionSpec& r : topology.regions) {
    region_jurisdiction[w->region_index_.at(r.name)] = intern_jurisdiction(r.jurisdiction);
  }

  // RTT matrix: 0 on the diagonal; a one-sided entry counts both ways.
  w->rtt_.assign(nr * nr, kUnknownRtt);
  for (size_t r = 0; r < nr; ++r) w->rtt_[r * nr + r] = 0;
  for (const RegionSpec& r : topology.regions) {
    uint32_t from = w->region_index_.at(r.name);
    for (const auto& [to_name, ms] : r.rtt_ms) {
      auto it = w->region_index_.find(to_name);
      if (it == w->region_index_.end() || it->second == from) continue;
      int32_t& a = w->rtt_[from * nr + it->second];
      int32_t& b = w->rtt_[it->second * nr + from];
      a = std::min(a, ms);
      if (b == kUnknownRtt) b = ms;
    }
  }
  for (uint32_t r = 0; r < nr; ++r) {
    std::vector<uint32_t>& order = w->regions_[r].by_distance;
    order.resize(nr);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      int32_t ra = w->rtt_[r * nr + a], rb = w->rtt_[r * nr + b];
      if (a == r || b == r) return a == r && b != r;
      if (ra != rb) return ra < rb;
      if (w->regions_[a].hash != w->regions_[b].hash) {
        return w->regions_[a].hash < w->regions_[b].hash;
      }
      return a < b;
    });
  }

  // Clusters, sorted by region then name.
  {
    std::unordered_map<std::string, bool> seen;
    for (const ClusterState& c : clusters) {
      if (c.name.empty()) return InvalidArgumentError("cluster with an empty name");
      if (!seen.emplace(c.name, true).second) {
        return InvalidArgumentError("duplicate cluster \"" + c.name + "\"");
      }
      if (c.allocatable_replicas && *c.allocatable_replicas < 0) {
        return InvalidArgumentError("cluster \"" + c.name + "\": negative allocatable replicas");
      }
      for (const ZoneState& z : c.zones) {
        if (z.allocatable_replicas && *z.allocatable_replicas < 0) {
          return InvalidArgumentError("cluster \"" + c.name + "\" zone \"" + z.name +
                                      "\": negative allocatable replicas");
        }
      }
    }
  }
  std::sort(clusters.begin(), clusters.end(), [&](const ClusterState& a, const ClusterState& b) {
    uint32_t ra = w->region_index_.at(a.region), rb = w->region_index_.at(b.region);
    if (ra != rb) return ra < rb;
    return a.name < b.name;
  });
  w->clusters_ = std::move(clusters);
  const uint32_t n = static_cast<uint32_t>(w->clusters_.size());
  w->info_.resize(n);
  for (Region& r : w->regions_) r.begin = r.end = 0;
  std::map<std::string, uint32_t> zone_name_ids;  // ordered: ids independent of hashing
  uint32_t next_zone_id = 0;
  // Zone ids of named zones first, so that clusters without zones get ids after them.
  for (const ClusterState& c : w->clusters_) {
    for (const ZoneState& z : c.zones) zone_name_ids.emplace(c.region + "/" + z.name, 0);
  }
  for (auto& [name, id] : zone_name_ids) id = next_zone_id++;

  for (uint32_t i = 0; i < n; ++i) {
    const ClusterState& c = w->clusters_[i];
    Info& info = w->info_[i];
    w->cluster_index_.emplace(c.name, i);
    info.region = w->region_index_.at(c.region);
    info.jurisdiction = c.jurisdiction.empty() ? region_jurisdiction[info.region]
                                               : intern_jurisdiction(c.jurisdiction);
    info.hash = StableHash(c.name);
    Region& region = w->regions_[info.region];
    if (region.end == 0) region.begin = i;
    region.end = i + 1;

    // Figures beyond kUnbounded mean "unbounded" (and keep the sums below from overflowing).
    const int64_t total = std::min(c.allocatable_replicas.value_or(kUnbounded), kUnbounded);
    auto zone_alloc = [](const ZoneState& z) {
      return std::min(*z.allocatable_replicas, kUnbounded);
    };
    info.nominal_capacity = std::min(total, kUnbounded);
    info.zones_listed = !c.zones.empty();
    info.zone_begin = static_cast<uint32_t>(w->zone_order_.size());
    std::optional<int64_t> recovered;
    if (c.healthy_since) recovered = ToMs(*c.healthy_since);
    if (!info.zones_listed) {
      info.zone_id_begin = next_zone_id++;
      info.capacity = c.reachable ? info.nominal_capacity : 0;
      if (c.reachable && info.capacity > 0) {
        w->zone_order_.push_back(0);
        w->zone_part_.push_back(info.capacity);
        info.zone_count = 1;
      }
    } else {
      info.zone_id_begin = static_cast<uint32_t>(w->zone_ids_.size());
      const size_t nz = c.zones.size();
      bool explicit_shares = false;
      for (const ZoneState& z : c.zones) explicit_shares |= z.allocatable_replicas.has_value();
      // A zone's part: its own figure, else an equal part of what the zones left unclaimed.
      std::vector<int64_t> part(nz, kUnbounded);
      if (total < kUnbounded) {
        int64_t claimed = 0, unnamed = 0;
        for (const ZoneState& z : c.zones) {
          if (z.allocatable_replicas) {
            claimed += zone_alloc(z);
          } else {
            ++unnamed;
          }
        }
        int64_t rest = std::max<int64_t>(0, total - claimed);
        int64_t k = 0;
        for (size_t z = 0; z < nz; ++z) {
          if (c.zones[z].allocatable_replicas) {
            part[z] = zone_alloc(c.zones[z]);
          } else {
            // Spread the rest exactly: the first (rest % unnamed) unnamed zones get one more.
            part[z] = rest / unnamed + (k < rest % unnamed ? 1 : 0);
            ++k;
          }
        }
      } else if (explicit_shares) {
        for (size_t z = 0; z < nz; ++z) {
          if (c.zones[z].allocatable_replicas) part[z] = zone_alloc(c.zones[z]);
        }
      }
      int64_t cap = 0;
      std::vector<uint32_t> healthy;
      for (size_t z = 0; z < nz; ++z) {
        const ZoneState& zs = c.zones[z];
        w->zone_ids_.push_back(zone_name_ids.at(c.region + "/" + zs.name));
        if (!zs.healthy) {
          ++info.failed_zones;
          continue;
        }
        if (zs.last_transition_time) {
          int64_t t = ToMs(*zs.last_transition_time);
          if (!recovered || t > *recovered) recovered = t;
        }
        if (part[z] <= 0) continue;
        cap = std::min(kUnbounded, cap + part[z]);
        healthy.push_back(static_cast<uint32_t>(z));
      }
      cap = std::min(cap, total);
      info.capacity = c.reachable ? cap : 0;
      if (c.reachable) {
        std::sort(healthy.begin(), healthy.end(), [&](uint32_t a, uint32_t b) {
          if (part[a] != part[b]) return part[a] > part[b];
          uint64_t ha = StableHash(c.zones[a].name), hb = StableHash(c.zones[b].name);
          if (ha != hb) return ha < hb;
          return a < b;
        });
        for (uint32_t z : healthy) {
          w->zone_order_.push_back(z);
          w->zone_part_.push_back(std::min(part[z], kUnbounded));
        }
        info.zone_count = static_cast<uint32_t>(healthy.size());
      }
    }
    if (recovered && c.reachable) {
      info.has_recovered_at = true;
      info.recovered_at_ms = *recovered;
    }
  }
  w->zone_id_count_ = next_zone_id;

  // Demand profiles.
  for (const DemandProfile& p : topology.demand_profiles) {
    w->profile_index_.emplace(p.name, static_cast<uint32_t>(w->profiles_.size()));
    Profile prof;
    prof.rtt.assign(p.sources.size() * nr, kUnknownRtt);
    for (size_t s = 0; s < p.sources.size(); ++s) {
      prof.weights.push_back(p.sources[s].weight);
      for (const auto& [region, ms] : p.sources[s].rtt_ms) {
        auto it = w->region_index_.find(region);
        if (it != w->region_index_.end()) prof.rtt[s * nr + it->second] = ms;
      }
    }
    w->profiles_.push_back(std::move(prof));
  }
  w->topology_ = std::move(topology);
  return std::shared_ptr<const World>(std::move(w));
}

std::optional<uint32_t> World::FindCluster(std::string_view name) const {
  auto it = cluster_index_.find(std::string(name));
  if (it == cluster_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> World::FindRegion(std::string_view name) const {
  auto it = region_index_.find(std::string(name));
  if (it == region_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> World::FindJurisdiction(std::string_view name) const {
  auto it = jurisdiction_index_.find(std::string(name));
  if (it == jurisdiction_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> World::FindDemandProfile(std::string_view name) const {
  auto it = profile_index_.find(std::string(name));
  if (it == profile_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<Timestamp> World::recovered_at(uint32_t i) const {
  if (!info_[i].has_recovered_at) return std::nullopt;
  return Timestamp(std::chrono::milliseconds(info_[i].recovered_at_ms));
}

}  // namespace meridian::placement
