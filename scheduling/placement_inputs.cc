#include "scheduling/placement_inputs.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "api/codec.h"
#include "api/conditions.h"
#include "failover/node_capacity.h"
#include "placement/affinity.h"
#include "residency/policy.h"
#include "scheduling/affinity_groups.h"
#include "scheduling/policy_binding.h"

namespace meridian::scheduling {
namespace {

std::optional<Timestamp> ParseTime(const std::string& text) {
  Timestamp t;
  if (text.empty() || !ParseRfc3339(text, &t)) return std::nullopt;
  return t;
}

void MoveLater(std::optional<Timestamp>& field, Timestamp t) {
  if (!field || *field < t) field = t;
}

int FieldsSet(const api::DrillTarget& t) {
  return !t.zone.empty() + !t.region.empty() + !t.cluster.empty();
}

}  // namespace

placement::ClusterState ClusterStateFrom(const api::MemberCluster& member) {
  placement::ClusterState c;
  c.name = member.metadata.name;
  c.labels = apimachinery::Labels(member.metadata.labels.begin(), member.metadata.labels.end());
  // Like a node's kubernetes.io/hostname: lets a clusterSelector name exact members (the
  // placement of a workload's dependencies, scheduling/policy_binding.h).
  c.labels[kClusterNameLabel] = member.metadata.name;
  c.region = member.spec.region;
  c.jurisdiction = member.spec.jurisdiction;
  std::optional<int64_t> zone_sum;
  for (const std::string& zone : member.spec.zones) {
    placement::ZoneState z;
    z.name = zone;
    for (const api::ZoneStatus& observed : member.status.zones) {
      if (observed.name != zone) continue;
      z.healthy = observed.healthy;
      z.allocatable_replicas = observed.allocatable_replicas;
      z.last_transition_time = ParseTime(observed.last_transition_time);
      // An explicit spec.capacity is the operator's word: no per-shape estimate caps it.
      if (!member.spec.capacity_replicas) z.replicas_by_pod_shape = observed.replicas_by_pod_shape;
      if (observed.allocatable_replicas) {
        zone_sum = zone_sum.value_or(0) + *observed.allocatable_replicas;
      }
    }
    c.zones.push_back(std::move(z));
  }
  if (member.spec.zones.empty() && !member.spec.capacity_replicas) {
    for (const api::ZoneStatus& observed : member.status.zones) {
      if (!observed.healthy) continue;
      for (const auto& [shape, n] : observed.replicas_by_pod_shape)
        c.replicas_by_pod_shape[shape] += n;
    }
  }
  // Full capacity for shares; the World caps it by the healthy zones.
  if (member.spec.capacity_replicas) {
    c.allocatable_replicas = member.spec.capacity_replicas;
  } else if (zone_sum) {
    c.allocatable_replicas = zone_sum;
  } else {
    c.allocatable_replicas = member.status.allocatable_replicas;
  }
  if (const api::Condition* reachable = api::FindCondition(member.status.conditions, "Reachable")) {
    c.reachable = reachable->status != "False";
    if (reachable->status == "True" && reachable->reason == kReachableRecoveredReason) {
      c.healthy_since = ParseTime(reachable->last_transition_time);
    }
  }
  return c;
}

placement::TopologySpec MergedTopology(const std::vector<api::Topology>& topologies) {
  placement::TopologySpec topology;
  for (const api::Topology& t : topologies) {
    for (const auto& r : t.spec.regions) {
      if (std::none_of(topology.regions.begin(), topology.regions.end(),
                       [&](const auto& x) { return x.name == r.name; })) {
        topology.regions.push_back(r);
      }
    }
    for (const auto& p : t.spec.demand_profiles) {
      if (std::none_of(topology.demand_profiles.begin(), topology.demand_profiles.end(),
                       [&](const auto& x) { return x.name == p.name; })) {
        topology.demand_profiles.push_back(p);
      }
    }
  }
  return topology;
}

placement::Workload EngineWorkload(const api::FederatedWorkload& workload,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const placement::World& world) {
  placement::Workload w;
  w.key = workload.metadata.ns + "/" + workload.metadata.name;
  w.policy = workload.spec.placement;
  w.residency_policies = residency::ResidencyRulesFor(workload, policies);
  const bool copied = !api::TemplateReplicas(workload.spec).has_value();
  if (std::optional<int64_t> replicas = api::TemplateReplicas(workload.spec)) {
    w.replicas = static_cast<int32_t>(std::clamp<int64_t>(*replicas, 0, 1'000'000));
  } else {
    // Copied, not divided: one per eligible cluster.
    w.replicas = static_cast<int32_t>(world.size());
    for (uint32_t i = 0; i < world.size(); ++i) {
      placement::ClusterBounds& b = w.policy.distribution.clusters[world.cluster(i).name];
      b.max = 1;
      if (b.min && *b.min > 1) b.min = 1;
    }
  }
  w.current = CurrentAssignment(workload.status);
  if (copied) return w;
  // What the members' nodes can take of this workload's pods (failover/node_capacity.h):
  // a per-cluster cap beside the shared ledger, so a workload with large requests gets no more
  // replicas on a member than its free nodes fit (explained as capacity, not as a max).
  const nlohmann::json* pod_spec = failover::TemplatePodSpec(workload.spec.template_);
  if (pod_spec == nullptr) return w;
  StatusOr<failover::PodRequirements> pod = failover::PodRequirementsFrom(*pod_spec);
  if (!pod.ok()) return w;  // admission validates templates; a bad one is simply not capped
  const std::string shape = pod->ShapeKey();
  for (uint32_t i = 0; i < world.size(); ++i) {
    const placement::ClusterState& c = world.cluster(i);
    std::optional<int64_t> room;
    if (c.zones.empty()) {
      if (auto it = c.replicas_by_pod_shape.find(shape); it != c.replicas_by_pod_shape.end()) {
        room = it->second;
      }
    } else {
      for (const placement::ZoneState& z : c.zones) {
        auto it = z.replicas_by_pod_shape.find(shape);
        if (it == z.replicas_by_pod_shape.end()) continue;
        room = room.value_or(0) + (z.healthy ? it->second : 0);
      }
    }
    if (!room) continue;  // not estimated yet: the member's allocatable replicas alone bound it
    const int32_t cap = static_cast<int32_t>(std::clamp<int64_t>(*room, 0, 1'000'000));
    if (cap >= w.replicas) continue;  // cannot bind: leave the policy (and explanations) as is
    w.pod_room[c.name] = cap;
  }
  return w;
}

int64_t ReadyOn(const api::FederatedWorkloadStatus& status, const std::string& cluster) {
  for (const api::ClusterSyncStatus& c : status.clusters) {
    if (c.cluster == cluster) return c.ready_replicas;
  }
  return 0;
}

std::vector<placement::Assignment> CurrentAssignment(const api::FederatedWorkloadStatus& status) {
  auto clamp = [](int64_t v) { return static_cast<int32_t>(std::clamp<int64_t>(v, 0, 1'000'000)); };
  std::vector<placement::Assignment> current;
  current.reserve(status.placement.size());
  for (const api::ClusterPlacement& p : status.placement) {
    current.push_back({p.cluster, clamp(p.replicas), clamp(ReadyOn(status, p.cluster))});
  }
  return current;
}

std::vector<api::ClusterPlacement> LargerOfEach(std::vector<api::ClusterPlacement> lines,
                                                const std::vector<api::ClusterPlacement>& more) {
  for (const api::ClusterPlacement& m : more) {
    auto it = std::find_if(lines.begin(), lines.end(),
                           [&](const api::ClusterPlacement& p) { return p.cluster == m.cluster; });
    if (it == lines.end()) {
      lines.push_back({m.cluster, m.replicas, {}, {}});
    } else {
      it->replicas = std::max(it->replicas, m.replicas);
    }
  }
  return lines;
}

namespace {

// Indexes 0..n-1 ordered by (creationTimestamp, namespace, name) of meta(i).
template <typename MetaOf>
std::vector<size_t> OrderByCreation(size_t n, MetaOf meta) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // RFC 3339 UTC times of one format sort as text; the key breaks ties.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const api::ObjectMeta& x = meta(a);
    const api::ObjectMeta& y = meta(b);
    return std::tie(x.creation_timestamp, x.ns, x.name) <
           std::tie(y.creation_timestamp, y.ns, y.name);
  });
  return order;
}

}  // namespace

std::vector<size_t> PriorityOrder(const std::vector<api::FederatedWorkload>& workloads) {
  return OrderByCreation(workloads.size(),
                         [&](size_t i) -> const api::ObjectMeta& { return workloads[i].metadata; });
}

std::vector<size_t> PriorityOrder(
    const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads) {
  return OrderByCreation(workloads.size(), [&](size_t i) -> const api::ObjectMeta& {
    return workloads[i]->metadata;
  });
}

CapacityLedger::CapacityLedger(const placement::World& world)
    : world_(world), total_(world.size(), 0) {}

void CapacityLedger::Reserve(size_t workload, const std::vector<placement::Assignment>& current) {
  std::vector<std::pair<uint32_t, int64_t>>& kept = kept_[workload];
  for (const placement::Assignment& a : current) {
    std::optional<uint32_t> i = world_.FindCluster(a.cluster);
    if (!i || a.replicas <= 0) continue;
    const int64_t capacity = world_.capacity(*i);
    const int64_t fits = capacity >= placement::kUnbounded
                             ? a.replicas
                             : std::clamp<int64_t>(capacity - total_[*i], 0, a.replicas);
    if (fits == 0) continue;
    kept.emplace_back(*i, fits);
    total_[*i] += fits;
  }
}

std::span<const int64_t> CapacityLedger::Release(size_t workload) {
  auto it = kept_.find(workload);
  if (it != kept_.end()) {
    for (const auto& [i, n] : it->second) total_[i] -= n;
    kept_.erase(it);
  }
  return total_;
}

void CapacityLedger::Commit(const std::vector<api::ClusterPlacement>& placement) {
  for (const api::ClusterPlacement& p : placement) {
    if (std::optional<uint32_t> i = world_.FindCluster(p.cluster)) total_[*i] += p.replicas;
  }
}

StatusOr<api::DrillTarget> ParseFailureTarget(std::string_view text) {
  const size_t eq = text.find('=');
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("failure \"" + std::string(text) + "\": " + why +
                                " (expected zone=NAME, region=NAME or cluster=NAME)");
  };
  if (eq == std::string_view::npos) return bad("no '='");
  const std::string_view kind = text.substr(0, eq);
  const std::string name(text.substr(eq + 1));
  if (name.empty()) return bad("empty name");
  api::DrillTarget t;
  if (kind == "zone") {
    t.zone = name;
  } else if (kind == "region") {
    t.region = name;
  } else if (kind == "cluster") {
    t.cluster = name;
  } else {
    return bad("unknown kind \"" + std::string(kind) + "\"");
  }
  return t;
}

std::string FailureTargetString(const api::DrillTarget& t) {
  if (FieldsSet(t) != 1) return "invalid target (set exactly one of zone, region, cluster)";
  if (!t.zone.empty()) return "zone=" + t.zone;
  if (!t.region.empty()) return "region=" + t.region;
  return "cluster=" + t.cluster;
}

void ApplyFailures(std::span<const api::DrillTarget> failures,
                   std::vector<placement::ClusterState>& clusters,
                   std::vector<std::string>* unmatched) {
  for (const api::DrillTarget& t : failures) {
    if (FieldsSet(t) != 1) {
      if (unmatched) unmatched->push_back(FailureTargetString(t));
      continue;
    }
    bool matched = false;
    for (placement::ClusterState& c : clusters) {
      if (!t.zone.empty()) {
        for (placement::ZoneState& z : c.zones) {
          if (z.name != t.zone) continue;
          z.healthy = false;
          matched = true;
        }
      } else if ((!t.region.empty() && c.region == t.region) ||
                 (!t.cluster.empty() && c.name == t.cluster)) {
        c.reachable = false;
        matched = true;
      }
    }
    if (!matched && unmatched) {
      unmatched->push_back(FailureTargetString(t) + " matches no member cluster");
    }
  }
}

bool IsLiveDrillRunning(const api::FailoverDrill& drill) {
  // A game day fails nothing itself: its steps are drills of their own.
  return drill.spec.mode == "live" && !drill.spec.inject_fault && drill.status.phase == "Running" &&
         drill.metadata.deletion_timestamp.empty() && !drill.spec.IsGameDay();
}

std::vector<api::DrillTarget> LiveDrillTargets(const std::vector<api::FailoverDrill>& drills) {
  std::vector<api::DrillTarget> targets;
  for (const api::FailoverDrill& d : drills) {
    if (IsLiveDrillRunning(d)) targets.push_back(d.spec.target);
  }
  return targets;
}

void ApplyDrillRecoveries(const std::vector<api::FailoverDrill>& drills,
                          std::vector<placement::ClusterState>& clusters) {
  for (const api::FailoverDrill& d : drills) {
    if (d.spec.mode != "live" || d.spec.inject_fault || d.spec.IsGameDay() ||
        IsLiveDrillRunning(d)) {
      continue;
    }
    std::optional<Timestamp> ended = ParseTime(d.status.completion_time);
    if (!ended || FieldsSet(d.spec.target) != 1) continue;
    const api::DrillTarget& t = d.spec.target;
    for (placement::ClusterState& c : clusters) {
      if (!t.zone.empty()) {
        for (placement::ZoneState& z : c.zones) {
          if (z.name == t.zone && z.healthy) MoveLater(z.last_transition_time, *ended);
        }
      } else if ((!t.region.empty() && c.region == t.region) ||
                 (!t.cluster.empty() && c.name == t.cluster)) {
        if (c.reachable) MoveLater(c.healthy_since, *ended);
      }
    }
  }
}

std::vector<placement::ClusterState> ClusterStatesFor(const PlacementInputs& inputs) {
  std::vector<placement::ClusterState> clusters;
  clusters.reserve(inputs.members.size());
  for (const api::MemberCluster& m : inputs.members) clusters.push_back(ClusterStateFrom(m));
  ApplyDrillRecoveries(inputs.drills, clusters);
  const std::vector<api::DrillTarget> live = LiveDrillTargets(inputs.drills);
  ApplyFailures(live, clusters);
  return clusters;
}

StatusOr<WhatIfAnswer> WhatIf(const PlacementInputs& inputs,
                              std::span<const api::DrillTarget> failures, Timestamp now) {
  WhatIfAnswer answer;
  std::vector<placement::ClusterState> before_clusters = ClusterStatesFor(inputs);
  std::vector<placement::ClusterState> after_clusters = before_clusters;
  ApplyFailures(failures, after_clusters, &answer.unmatched);
  const placement::TopologySpec topology = MergedTopology(inputs.topologies);
  MERIDIAN_ASSIGN_OR_RETURN(auto before_world,
                            placement::World::Build(std::move(before_clusters), topology));
  MERIDIAN_ASSIGN_OR_RETURN(auto after_world,
                            placement::World::Build(std::move(after_clusters), topology));
  placement::Engine before_engine(before_world);
  placement::Engine after_engine(after_world);

  // Both passes share capacity between workloads as the controller does (CapacityLedger);
  // the "after" pass starts from the "before" answers.
  const std::vector<size_t> order = PriorityOrder(inputs.workloads);
  auto shares_capacity = [&](size_t i) {
    return api::TemplateReplicas(inputs.workloads[i].spec).has_value();
  };
  auto names = [](const placement::World& world, const placement::Result& r) {
    std::vector<api::ClusterPlacement> out;
    for (const placement::ClusterPlacement& p : r.clusters) {
      if (p.replicas > 0) out.push_back({world.cluster(p.cluster).name, p.replicas, {}, {}});
    }
    return out;
  };
  auto place_all = [&](placement::Engine& engine, std::vector<placement::Workload>& workloads) {
    CapacityLedger ledger(engine.world());
    for (size_t i : order) {
      if (shares_capacity(i)) ledger.Reserve(i, workloads[i].current);
    }
    std::vector<placement::Result> results(workloads.size());
    // Affinity groups as the controller places them: together, the leader first.
    FleetAffinityGroups groups(inputs.workloads, order, inputs.policies, engine);
    for (size_t i : groups.PlacementOrder()) {
      if (!inputs.workloads[i].metadata.deletion_timestamp.empty()) continue;
      workloads[i].affinity = groups.RestrictionFor(i);
      if (!shares_capacity(i)) {
        results[i] = engine.Place(workloads[i], now);
      } else {
        results[i] = engine.Place(workloads[i], now, ledger.Release(i));
        ledger.Commit(names(engine.world(), results[i]));
      }
      groups.Placed(i, placement::ClustersHolding(engine.world(), results[i]));
    }
    return results;
  };
  std::vector<placement::Workload> before_in, after_in;
  for (const api::FederatedWorkload& fw : inputs.workloads) {
    before_in.push_back(EngineWorkload(fw, inputs.policies, *before_world));
  }
  const std::vector<placement::Result> befores = place_all(before_engine, before_in);
  for (size_t i = 0; i < inputs.workloads.size(); ++i) {
    placement::Workload wa = EngineWorkload(inputs.workloads[i], inputs.policies, *after_world);
    wa.current.clear();
    for (const placement::ClusterPlacement& p : befores[i].clusters) {
      // As if the answer were running and ready: the what-if is about where replicas go.
      if (p.replicas > 0) {
        wa.current.push_back({before_world->cluster(p.cluster).name, p.replicas, p.replicas});
      }
    }
    after_in.push_back(std::move(wa));
  }
  const std::vector<placement::Result> afters = place_all(after_engine, after_in);

  // Zone hints of cluster `c` (World index) in `r`, by zone name.
  auto hints = [](const placement::World& world, const placement::Result& r, uint32_t c) {
    std::map<std::string, int64_t> out;
    for (const placement::ZoneHint& h : r.zones) {
      if (h.cluster == c && h.replicas > 0) out[world.cluster(c).zones[h.zone].name] += h.replicas;
    }
    return out;
  };
  // Replicas of `line` (before) on a failed target; see WhatIfCluster::on_target.
  auto on_target = [&](const placement::ClusterState& c, const WhatIfCluster& line) -> int64_t {
    std::set<std::string> failed_zones;
    for (const api::DrillTarget& t : failures) {
      if (FieldsSet(t) != 1) continue;
      if ((!t.region.empty() && c.region == t.region) ||
          (!t.cluster.empty() && c.name == t.cluster)) {
        return line.before;
      }
      for (const placement::ZoneState& z : c.zones) {
        if (!t.zone.empty() && z.name == t.zone) failed_zones.insert(t.zone);
      }
    }
    if (failed_zones.empty()) return 0;
    if (line.zones_before.empty()) return line.before;
    int64_t n = 0;
    for (const std::string& z : failed_zones) {
      if (auto it = line.zones_before.find(z); it != line.zones_before.end()) n += it->second;
    }
    return n;
  };

  for (size_t i = 0; i < inputs.workloads.size(); ++i) {  // in the order listed
    const api::FederatedWorkload& fw = inputs.workloads[i];
    if (!fw.metadata.deletion_timestamp.empty()) continue;
    placement::Result before = befores[i];
    placement::Result after = afters[i];
    const placement::Workload& wa = after_in[i];

    // Both worlds hold the same clusters in the same order; join by name all the same.
    std::map<std::string, WhatIfCluster> by_name;
    for (const placement::ClusterPlacement& p : before.clusters) {
      if (p.replicas == 0) continue;
      const placement::ClusterState& c = before_world->cluster(p.cluster);
      WhatIfCluster& line = by_name[c.name];
      line.cluster = c.name;
      line.region = c.region;
      line.before = p.replicas;
      line.zones_before = hints(*before_world, before, p.cluster);
      line.on_target = on_target(c, line);
    }
    for (const placement::ClusterPlacement& p : after.clusters) {
      const placement::ClusterState& c = after_world->cluster(p.cluster);
      if (p.replicas == 0 && !by_name.count(c.name)) continue;
      WhatIfCluster& line = by_name[c.name];
      line.cluster = c.name;
      line.region = c.region;
      line.after = p.replicas;
      line.zones_after = hints(*after_world, after, p.cluster);
    }
    // A copied template (no spec.replicas: one per eligible cluster, like a DaemonSet) wants
    // as many copies as there are clusters able to hold one: a lost cluster lowers what is
    // desired, it leaves nothing unplaced (the placement controller reports it the same way).
    if (!api::TemplateReplicas(fw.spec).has_value()) {
      before.total = before.placed;
      before.unplaced = 0;
      after.total = after.placed;
      after.unplaced = 0;
    }
    bool changed = before.unplaced != after.unplaced;
    for (auto& [name, line] : by_name) {
      changed |= line.before != line.after || line.zones_before != line.zones_after;
      if (auto idx = after_world->FindCluster(name)) {
        line.reason_after = placement::Explain(*after_world, wa, after, *idx);
      }
    }
    if (!changed) {
      ++answer.unaffected;
      continue;
    }
    WhatIfWorkload out;
    out.ns = fw.metadata.ns;
    out.name = fw.metadata.name;
    out.desired = after.total;
    out.unplaced_before = before.unplaced;
    out.unplaced_after = after.unplaced;
    out.blocked_by = after.unplaced > 0 ? placement::ExplainUnplaced(*after_world, wa, after) : "";
    out.blocked_bits = after.unplaced > 0 ? after.unplaced_because : 0;
    for (uint32_t i = 0; i < after_world->size(); ++i) {
      auto it = by_name.find(after_world->cluster(i).name);
      if (it == by_name.end()) continue;
      out.on_target += it->second.on_target;
      out.clusters.push_back(std::move(it->second));
    }
    answer.affected.push_back(std::move(out));
  }
  return answer;
}

}  // namespace meridian::scheduling
