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
  return "";
}

std::string WeightPart(const World& world, const Result& r, const ClusterPlacement& p) {
  const std::string frac = std::to_string(p.weight) + "/" + std::to_string(r.weight_total) +
                           " of " + std::to_string(r.total);
  const std::string region = world.region_name(world.region_of(p.cluster));
  auto members = [&]() {
    return p.group_size > 1 ? " (" + std::to_string(p.group_size) + " clusters share it)" : "";
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
                      " of " + std::to_string(world.size()) + " clusters");
    }
    if (why & kResidency) {
      std::vector<std::string> who;
      if (p.residency) who.push_back("workload: " + Join(p.residency->jurisdictions));
      for (const ResidencyRule& rule : w.residency_policies) {
        who.push_back("ResidencyPolicy " + rule.name + ": " + Join(rule.jurisdictions));
      }
      parts.push_back("residency (" + Join(who, "; ") + ") excludes " +
                      std::to_string(r.excluded_by_residency) + " clusters");
    }
    if (why & kLatency) {
      if (p.latency && !world.FindDemandProfile(p.latency->demand)) {
        parts.push_back("latency: demand profile " + p.latency->demand + " not found");
      } else {
        parts.push_back("latency excludes " + std::to_string(r.excluded_by_latency) + " clusters");
      }
    }
    if (why & kCapacity) {
      parts.push_back("capacity: the " + std::to_string(r.eligible) + " eligible clusters hold " +
                      std::to_string(r.placed));
    }
    if (why & kUnreachable) parts.push_back("unreachable clusters");
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
    unmet.push_back("spread: " + std::to_string(r.regions_covered) + " regions (minRegions " +
                    std::to_string(p.spread.min_regions) + "), " + std::to_string(r.zones_covered) +
                    " zones (minZones " + std::to_string(p.spread.min_zones) + ")");
  }
  if ((r.unmet & kLatency) && p.latency) {
    if (!world.FindDemandProfile(p.latency->demand)) {
      unmet.push_back("latency: demand profile " + p.latency->demand + " not found");
    } else {
      unmet.push_back("latency: " + std::to_string(r.sources_uncovered) + " sources of " +
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
