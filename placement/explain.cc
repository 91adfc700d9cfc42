// Lazy rendering of placement results into the sentences users read in status and `fedctl`.
#include <algorithm>
#include <string>

#include "placement/engine.h"
#include "placement/policy_json.h"

namespace meridian::placement {
namespace {

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

std::string Count(int64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Why an eligible-looking cluster is out, recomputed from the inputs (so results need not
// store a reason for every excluded cluster). Empty when no filter excludes it.
std::string ExclusionReason(const World& world, const Workload& w, uint32_t i) {
  const PlacementPolicy& p = w.policy;
  const ClusterState& c = world.cluster(i);
  if (p.cluster_selector && !p.cluster_selector->Empty() &&
      !p.cluster_selector->Matches(c.labels)) {
    return "excluded by clusterSelector (" + p.cluster_selector->ToString() + ")";
  }
  const std::string& jur = world.jurisdiction_of(i);
  const std::string where = jur.empty() ? "has no jurisdiction" : "is in " + jur;
  if (p.residency && (jur.empty() || !Contains(p.residency->jurisdictions, jur))) {
    return "excluded by residency (workload allows " + Join(p.residency->jurisdictions) +
           "; cluster " + where + ")";
  }
  for (const ResidencyRule& rule : w.residency_policies) {
    if (jur.empty() || !Contains(rule.jurisdictions, jur)) {
      return "excluded by residency (ResidencyPolicy " + rule.name + " allows " +
             Join(rule.jurisdictions) + "; cluster " + where + ")";
    }
  }
  if (p.latency) {
    auto prof = world.FindDemandProfile(p.latency->demand);
    if (!prof) {
      return "excluded by latency (demand profile " + p.latency->demand + " not found)";
    }
    bool near = false;
    for (uint32_t s = 0; s < world.source_count(*prof); ++s) {
      near = near || world.source_rtt(*prof, s, world.region_of(i)) <= p.latency->max_rtt_ms;
    }
    if (!near) {
      return "excluded by latency (no source of " + p.latency->demand + " within " +
             std::to_string(p.latency->max_rtt_ms) + " ms of region " +
             world.region_name(world.region_of(i)) + ")";
    }
  }
  if (w.affinity && !Contains(w.affinity->eligible, c.name)) {
    return "excluded by affinity group " + w.affinity->group +
           " (another member's clusterSelector, residency or latency excludes it)";
  }
  return "";
}

// "its leader shop/web" or "" when the group has none.
std::string LeaderPart(const AffinityRestriction& a) {
  return a.leader.empty() ? "" : " (its leader " + a.leader + " is not placed there)";
}

// The clusters the group runs on, at most 5 named.
std::string RunsOnPart(const std::vector<std::string>& names) {
  if (names.empty()) return "no cluster";
  std::vector<std::string> shown(names.begin(), names.begin() + std::min<size_t>(names.size(), 5));
  std::string out = Join(shown);
  if (names.size() > shown.size())
    out += " and " + std::to_string(names.size() - shown.size()) + " more";
  return out;
}

std::string WeightPart(const World& world, const Result& r, const ClusterPlacement& p) {
  const std::string frac = std::to_string(p.weight) + "/" + std::to_string(r.weight_total) +
                           " of " + std::to_string(r.total);
  const std::string region = world.region_name(world.region_of(p.cluster));
  auto members = [&]() {
    return p.group_size > 1 ? " (" + Count(p.group_size, "cluster") + " share it)" : "";
  };
  switch (p.weight_kind) {
    case WeightKind::kCluster:
      return "weight " + frac;
    case WeightKind::kRegion:
      return "region " + region + " weight " + frac + members();
    case WeightKind::kDemand:
      return "demand " + frac + " nearest region " + region + members();
    case WeightKind::kCapacity:
      return "capacity " + frac;
    case WeightKind::kEqual:
      return "equal share " + frac;
    case WeightKind::kNone:
      break;
  }
  return "no weight (overflow only)";
}

}  // namespace

std::string ConstraintNames(uint32_t bits) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {kSelector, "selector"},
      {kResidency, "residency"},
      {kLatency, "latency"},
      {kUnreachable, "unreachable"},
      {kZoneFailure, "zone failure"},
      {kCapacity, "capacity"},
      {kMax, "max"},
      {kMin, "min"},
      {kSpread, "spread"},
      {kOverflow, "overflow"},
      {kRecovery, "recovery"},
      {kNoCluster, "no cluster"},
      {kAffinity, "affinity group"},
      {kAffinityLeader, "affinity group leader"},
  };
  std::vector<std::string> out;
  for (const auto& [bit, name] : kNames) {
    if (bits & bit) out.push_back(name);
  }
  return Join(out);
}

std::string Explain(const World& world, const Workload& w, const Result& r, uint32_t cluster) {
  const std::string& name = world.cluster(cluster).name;
  const ClusterPlacement* p = r.Find(cluster);
  std::string why = ExclusionReason(world, w, cluster);
  if (!why.empty()) {
    return name + ": 0; " + why;
  }
  if (!p) {
    if (!world.cluster(cluster).reachable) return name + ": 0; unreachable";
    return name + ": 0; no share and no overflow needed";
  }
  std::string out = name + ": " + std::to_string(p->replicas) + " = " + WeightPart(world, r, *p);
  if (p->share != p->replicas - p->overflow - p->coverage) {
    out += " -> share " + std::to_string(p->share);
  }
  const uint32_t lim = p->limited_by;
  if (lim & kUnreachable) out += "; unreachable, share overflowed";
  if ((lim & kAffinityLeader) && w.affinity) {
    out += "; affinity group " + w.affinity->group + " runs elsewhere" + LeaderPart(*w.affinity) +
           ", share overflowed";
  }
  if (lim & kZoneFailure) {
    out += "; capped by capacity " + std::to_string(p->limit) + " (" +
           std::to_string(world.failed_zones(cluster)) + " of " +
           std::to_string(world.cluster(cluster).zones.size()) + " zones failed)";
  }
  if (lim & kCapacity) {
    out += "; capped by capacity " + std::to_string(p->limit);
    if (p->used_elsewhere > 0) {
      out += " (" + std::to_string(p->used_elsewhere) + " used by other workloads)";
    }
  }
  if (lim & kRecovery) {
    const FailoverSpec& fo = w.policy.failover;
    switch (p->recovery) {
      case RecoveryState::kStepping:
      case RecoveryState::kStepWaits:
        out += "; returning at most " +
               std::to_string(fo.recovery_max_replicas_per_step.For(r.total)) +
               " per step (recoveryMaxReplicasPerStep), " + std::to_string(p->replicas) + " now";
        if (p->recovery == RecoveryState::kStepWaits) {
          out += ", the next step once they are ready and the replicas they replace are released";
        }
        break;
      default:
        out += "; held at " + std::to_string(p->limit) + " while recovering (recoveryDelaySeconds " +
               std::to_string(fo.recovery_delay_seconds) + ")";
        break;
    }
  }
  if (lim & kMax) {
    auto it = w.policy.distribution.clusters.find(name);
    if (it != w.policy.distribution.clusters.end() && it->second.max) {
      out += "; capped by max " + std::to_string(*it->second.max);
    }
  }
  out += "; +" + std::to_string(p->overflow) + " overflow";
  if (p->coverage > 0) out += "; +" + std::to_string(p->coverage) + " for spread/latency";
  if (p->coverage < 0) out += "; " + std::to_string(p->coverage) + " moved for spread/latency";
  return out;
}

std::string ExplainUnplaced(const World& world, const Workload& w, const Result& r) {
  std::vector<std::string> parts;
  const PlacementPolicy& p = w.policy;
  const uint32_t why = r.unplaced_because;
  if (r.unplaced > 0) {
    if (why & kNoCluster) parts.push_back("no eligible cluster");
    if (why & kSelector) {
      parts.push_back("clusterSelector excludes " + std::to_string(r.excluded_by_selector) +
                      " of " + Count(world.size(), "cluster"));
    }
    if (why & kResidency) {
      std::vector<std::string> who;
      if (p.residency) who.push_back("workload: " + Join(p.residency->jurisdictions));
      for (const ResidencyRule& rule : w.residency_policies) {
        who.push_back("ResidencyPolicy " + rule.name + ": " + Join(rule.jurisdictions));
      }
      parts.push_back("residency (" + Join(who, "; ") + ") excludes " +
                      Count(r.excluded_by_residency, "cluster"));
    }
    if (why & kLatency) {
      if (p.latency && !world.FindDemandProfile(p.latency->demand)) {
        parts.push_back("latency: demand profile " + p.latency->demand + " not found");
      } else {
        parts.push_back("latency excludes " + Count(r.excluded_by_latency, "cluster"));
      }
    }
    if (why & kCapacity) {
      parts.push_back("capacity: the " + Count(r.eligible, "eligible cluster") +
                      (r.eligible == 1 ? " holds " : " hold ") + std::to_string(r.placed));
    }
    if (why & kUnreachable) parts.push_back("unreachable clusters");
    if ((why & kAffinity) && w.affinity) {
      parts.push_back("affinity group " + w.affinity->group +
                      ": another member's constraints exclude " +
                      Count(r.excluded_by_affinity, "cluster"));
    }
    if ((why & kAffinityLeader) && w.affinity && w.affinity->runs_on) {
      parts.push_back(w.affinity->runs_on->empty()
                          ? "affinity group " + w.affinity->group + ": its leader " +
                                w.affinity->leader + " is placed nowhere"
                          : "affinity group " + w.affinity->group + " runs on " +
                                RunsOnPart(*w.affinity->runs_on) + " only (where its leader " +
                                w.affinity->leader + " is placed)");
    }
    if (why & kZoneFailure) parts.push_back("failed zones");
    if (why & kMax) parts.push_back("per-cluster max");
    if (why & kRecovery) parts.push_back("recovery hold");
    if (why & kOverflow) {
      parts.push_back(p.failover.overflow == OverflowMode::kNone
                          ? "overflow is none"
                          : "overflow order (" + Join(p.failover.order) + ") has no more room");
    }
  }
  std::string out;
  if (r.unplaced > 0) {
    out = std::to_string(r.unplaced) + " of " + std::to_string(r.total) +
          " unplaced: " + Join(parts, "; ");
  }
  std::vector<std::string> unmet;
  if (r.unmet & kSpread) {
    // Only the part that is short: "5 zones (minZones 4)" next to an unmet minRegions read
    // as if 5 < 4.
    std::vector<std::string> spread;
    if (r.regions_covered < p.spread.min_regions) {
      spread.push_back(Count(r.regions_covered, "region") + " (minRegions " +
                       std::to_string(p.spread.min_regions) + ")");
    }
    if (r.zones_covered < p.spread.min_zones) {
      spread.push_back(Count(r.zones_covered, "zone") + " (minZones " +
                       std::to_string(p.spread.min_zones) + ")");
    }
    unmet.push_back("spread: " + Join(spread));
  }
  if ((r.unmet & kLatency) && p.latency) {
    if (!world.FindDemandProfile(p.latency->demand)) {
      unmet.push_back("latency: demand profile " + p.latency->demand + " not found");
    } else {
      unmet.push_back("latency: " + Count(r.sources_uncovered, "source") + " of " +
                      p.latency->demand + " not served within " +
                      std::to_string(p.latency->max_rtt_ms) + " ms");
    }
  }
  if (r.unmet & kMin) unmet.push_back("min: the minimums exceed the total");
  if (!unmet.empty()) {
    if (!out.empty()) out += "; ";
    out += "unmet " + Join(unmet, "; ");
  }
  return out;
}

}  // namespace meridian::placement

namespace meridian::placement {

const char* ReasonName(Reason r) {
  switch (r) {
    case Reason::kPlaced:
      return "Placed";
    case Reason::kOverflow:
      return "Overflow";
    case Reason::kCoverage:
      return "Coverage";
    case Reason::kSelector:
      return "ExcludedBySelector";
    case Reason::kResidency:
      return "ExcludedByResidency";
    case Reason::kLatency:
      return "ExcludedByLatency";
    case Reason::kUnreachable:
      return "Unreachable";
    case Reason::kZoneFailure:
      return "ZoneFailure";
    case Reason::kRecoveryHold:
      return "RecoveryHold";
    case Reason::kCapacity:
      return "Capacity";
    case Reason::kMax:
      return "Max";
    case Reason::kNotNeeded:
      return "NotNeeded";
    case Reason::kAffinityGroup:
      return "AffinityGroup";
  }
  return "NotNeeded";
}

namespace {

// When `cluster`'s recovery hold ends, if it is held at `now`.
std::optional<Timestamp> HoldEnds(const World& world, const Workload& w, uint32_t cluster,
                                  Timestamp now) {
  std::optional<Timestamp> since = world.recovered_at(cluster);
  if (!since) return std::nullopt;
  const Timestamp end = *since + std::chrono::seconds(w.policy.failover.recovery_delay_seconds);
  return end > now ? std::optional<Timestamp>(end) : std::nullopt;
}

// Why an eligible cluster holds nothing: health, hold, room, max, or nobody needed it.
std::pair<Reason, std::string> WhyNothing(const World& world, const Workload& w,
                                          const ClusterPlacement* p, uint32_t i, Timestamp now) {
  const ClusterState& c = world.cluster(i);
  if (!c.reachable) return {Reason::kUnreachable, "unreachable"};
  if (!c.zones.empty() && world.failed_zones(i) == static_cast<int32_t>(c.zones.size())) {
    return {Reason::kZoneFailure, "all " + Count(world.failed_zones(i), "zone") + " failed"};
  }
  if (w.affinity && w.affinity->runs_on && !Contains(*w.affinity->runs_on, c.name)) {
    return {Reason::kAffinityGroup,
            "affinity group " + w.affinity->group + " runs elsewhere" + LeaderPart(*w.affinity)};
  }
  if (auto end = HoldEnds(world, w, i, now)) {
    return {Reason::kRecoveryHold, "recovery hold until " + FormatRfc3339(*end) +
                                       " (recoveryDelaySeconds " +
                                       std::to_string(w.policy.failover.recovery_delay_seconds) +
                                       "): gains nothing, takes no overflow"};
  }
  if (p && p->recovery != RecoveryState::kNone) {
    return {Reason::kRecoveryHold,
            "returning from recovery: takes no overflow until the paced "
            "return is over"};
  }
  const int64_t cap = world.capacity(i);
  const int64_t used = p ? p->used_elsewhere : 0;
  if (cap < kUnbounded && cap - used <= 0) {
    std::string why = "full: capacity " + std::to_string(cap);
    if (world.zone_failed(i)) {
      why += " (" + std::to_string(world.failed_zones(i)) + " of " +
             std::to_string(c.zones.size()) + " zones failed)";
    }
    if (used > 0) why += ", " + std::to_string(used) + " used by other workloads";
    return {world.zone_failed(i) ? Reason::kZoneFailure : Reason::kCapacity, why};
  }
  if (auto room = w.pod_room.find(c.name); room != w.pod_room.end() && room->second <= 0) {
    return {Reason::kCapacity, "full: its nodes have room for none of this workload's pods"};
  }
  auto bounds = w.policy.distribution.clusters.find(c.name);
  if (bounds != w.policy.distribution.clusters.end() && bounds->second.max &&
      *bounds->second.max == 0) {
    return {Reason::kMax, "max 0 (distribution.clusters)"};
  }
  if (p && p->weight == 0) {
    return {Reason::kNotNeeded, "no weight (overflow only) and no overflow reached it"};
  }
  return {Reason::kNotNeeded, "the apportionment gave it no share and no overflow reached it"};
}

Reason ExclusionKind(const std::string& why) {
  if (why.rfind("excluded by clusterSelector", 0) == 0) return Reason::kSelector;
  if (why.rfind("excluded by residency", 0) == 0) return Reason::kResidency;
  if (why.rfind("excluded by affinity group", 0) == 0) return Reason::kAffinityGroup;
  return Reason::kLatency;
}

}  // namespace

ClusterReason Why(const World& world, const Workload& w, const Result& r, uint32_t cluster,
                  Timestamp now) {
  ClusterReason out;
  out.cluster = cluster;
  const std::string& name = world.cluster(cluster).name;
  const ClusterPlacement* p = r.Find(cluster);
  out.replicas = p ? p->replicas : 0;
  if (std::string why = ExclusionReason(world, w, cluster); !why.empty()) {
    out.reason = ExclusionKind(why);
    out.message = name + ": 0; " + why;
    return out;
  }
  if (out.replicas > 0) {
    out.reason = p->share > 0 || p->replicas > p->overflow + std::max(p->coverage, 0)
                     ? Reason::kPlaced
                 : p->overflow > 0 ? Reason::kOverflow
                                   : Reason::kCoverage;
    out.message = Explain(world, w, r, cluster);
    return out;
  }
  auto [reason, why] = WhyNothing(world, w, p, cluster, now);
  out.reason = reason;
  out.message = name + ": 0; " + why;
  if (p && p->share > 0) out.message += " (its share " + std::to_string(p->share) + " overflowed)";
  return out;
}

std::vector<std::string> ExplainOverflow(const World& world, const Workload& w, const Result& r,
                                         Timestamp now) {
  std::vector<std::string> out;
  int64_t overflowed = 0;
  for (const ClusterPlacement& p : r.clusters) overflowed += p.overflow;
  // Regions whose clusters could not hold their share, most excess first.
  std::vector<std::pair<int64_t, uint32_t>> sources;
  std::vector<int64_t> excess(world.region_count(), 0);
  for (const ClusterPlacement& p : r.clusters) {
    const int32_t kept = p.replicas - p.overflow - p.coverage;
    if (p.share > kept) excess[world.region_of(p.cluster)] += p.share - kept;
  }
  for (uint32_t reg = 0; reg < world.region_count(); ++reg) {
    if (excess[reg] > 0) sources.push_back({excess[reg], reg});
  }
  if (overflowed == 0) return out;
  if (sources.empty()) {
    // No cluster lost its share: the shares themselves (after max) hold less than the total,
    // and the rest went to clusters with room as overflow.
    out.push_back(std::to_string(overflowed) +
                  " replicas beyond what the shares hold (after max), given as overflow:");
    for (const ClusterPlacement& p : r.clusters) {
      if (p.overflow > 0) {
        out.push_back("  " + world.cluster(p.cluster).name + ": took " +
                      std::to_string(p.overflow));
      }
    }
    return out;
  }
  std::sort(sources.begin(), sources.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const FailoverSpec& fo = w.policy.failover;
  // One candidate: what it took, or why it was passed.
  auto candidate = [&](uint32_t i, const std::string& where) {
    const ClusterPlacement* p = r.Find(i);
    const std::string& name = world.cluster(i).name;
    if (p && p->overflow > 0) {
      return name + where + ": took " + std::to_string(p->overflow);
    }
    if (std::string why = ExclusionReason(world, w, i); !why.empty()) {
      return name + where + ": passed, " + why;
    }
    if (p && p->replicas > 0 && p->replicas >= p->limit) {
      std::string why = "passed, full at " + std::to_string(p->replicas);
      if (p->recovery != RecoveryState::kNone) why = "passed, recovering (takes no overflow)";
      if (p->used_elsewhere > 0) {
        why += " (" + std::to_string(p->used_elsewhere) + " used by other workloads)";
      }
      return name + where + ": " + why;
    }
    if (p && p->replicas > 0) return name + where + ": passed, nothing left to take";
    auto [reason, why] = WhyNothing(world, w, p, i, now);
    if (reason == Reason::kNotNeeded) return name + where + ": passed, nothing left to take";
    return name + where + ": passed, " + why;
  };
  std::string head = std::to_string(overflowed) + " replicas overflowed (" +
                     (fo.overflow == OverflowMode::kNearest   ? "nearest"
                      : fo.overflow == OverflowMode::kOrdered ? "ordered"
                                                              : "none") +
                     ")";
  out.push_back(head);
  if (fo.overflow == OverflowMode::kNone) return out;
  int64_t left = overflowed;
  if (fo.overflow == OverflowMode::kOrdered) {
    for (const std::string& entry : fo.order) {
      if (left <= 0) break;
      std::vector<uint32_t> members;
      if (auto idx = world.FindCluster(entry)) {
        members.push_back(*idx);
      } else if (auto reg = world.FindRegion(entry)) {
        for (uint32_t i = world.region_begin(*reg); i < world.region_end(*reg); ++i)
          members.push_back(i);
      }
      for (uint32_t i : members) {
        out.push_back("  " + candidate(i, " (order " + entry + ")"));
        if (const ClusterPlacement* p = r.Find(i)) left -= p->overflow;
      }
    }
    return out;
  }
  std::vector<bool> shown(world.size(), false);
  for (const auto& [ex, from] : sources) {
    out.push_back("from " + world.region_name(from) + " (" + std::to_string(ex) +
                  " it could not hold), nearest first:");
    for (uint32_t reg : world.regions_by_distance(from)) {
      if (left <= 0) break;
      const int32_t rtt = world.rtt(from, reg);
      const std::string where =
          " (" + world.region_name(reg) +
          (rtt >= kUnknownRtt ? ", RTT unknown)" : ", " + std::to_string(rtt) + " ms)");
      for (uint32_t i = world.region_begin(reg); i < world.region_end(reg); ++i) {
        const ClusterPlacement* p = r.Find(i);
        if (p && p->share > p->replicas - p->overflow - p->coverage) continue;  // a source
        out.push_back("  " + candidate(i, where));
        if (p && !shown[i]) left -= p->overflow;
        shown[i] = true;
      }
    }
  }
  return out;
}

}  // namespace meridian::placement
