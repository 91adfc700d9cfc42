#include "failover/drill_admission.h"

#include <algorithm>
#include <set>

namespace meridian::failover {
namespace {

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none defined" : out;
}

bool Ended(const api::FailoverDrill& d) {
  const std::string& p = d.status.phase;
  return p == "Completed" || p == "Aborted" || p == "Failed";
}

// The target names the fleet knows (Topologies and members), and whether a member has it.
void CheckTargetKnown(const api::DrillTarget& target, const Fleet& fleet, FieldErrors* errors) {
  if (!target.cluster.empty()) {
    std::set<std::string> clusters;
    for (const api::MemberCluster& m : fleet.members) clusters.insert(m.metadata.name);
    if (!clusters.contains(target.cluster)) {
      errors->push_back({"spec.target.cluster", "unknown member cluster \"" + target.cluster +
                                                    "\" (known: " + Join(clusters) + ")"});
    }
    return;
  }
  const bool zone = !target.zone.empty();
  const std::string& value = zone ? target.zone : target.region;
  const std::string field = zone ? "spec.target.zone" : "spec.target.region";
  std::set<std::string> known, held;
  for (const placement::RegionSpec& r : fleet.topology.regions) {
    if (zone) {
      known.insert(r.zones.begin(), r.zones.end());
    } else {
      known.insert(r.name);
    }
  }
  for (const api::MemberCluster& m : fleet.members) {
    if (zone) {
      held.insert(m.spec.zones.begin(), m.spec.zones.end());
    } else if (!m.spec.region.empty()) {
      held.insert(m.spec.region);
    }
  }
  if (held.contains(value)) return;
  known.insert(held.begin(), held.end());
  const std::string what = zone ? "zone" : "region";
  if (!known.contains(value)) {
    errors->push_back(
        {field, "unknown " + what + " \"" + value + "\" (known: " + Join(known) + ")"});
  } else {
    errors->push_back({field, "no member cluster " +
                                  std::string(zone ? "has zone" : "is in region") + " \"" + value +
                                  "\" (members' " + what + "s: " + Join(held) +
                                  "): the drill would fail nothing"});
  }
}

void CheckOverlap(const api::FailoverDrill& drill, const Fleet& fleet, FieldErrors* errors) {
  if (drill.spec.mode != "live") return;  // a simulation changes nothing
  for (const api::FailoverDrill& other : fleet.drills) {
    if (other.metadata.name == drill.metadata.name || other.spec.mode != "live" || Ended(other) ||
        !other.metadata.deletion_timestamp.empty()) {
      continue;
    }
    if (!TargetsOverlap(drill.spec.target, other.spec.target, fleet.members)) continue;
    errors->push_back(
        {"spec.target", DescribeTarget(drill.spec.target) + " overlaps live drill " +
                            other.metadata.name + " (" + DescribeTarget(other.spec.target) + ", " +
                            (other.status.phase.empty() ? "not started" : other.status.phase) +
                            "); wait until it ends or abort it (fedctl drill abort " +
                            other.metadata.name + ")"});
  }
}

bool Acknowledged(const api::FailoverDrill& drill) {
  auto it = drill.metadata.annotations.find(kAllowResidencyOutageAnnotation);
  return it != drill.metadata.annotations.end() && it->second == "true";
}

// A live drill that takes every allowed replica of a residency-bound workload away: the
// placement controller's own what-if (scheduling::WhatIf) says what would be placed.
void CheckResidencyOutage(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                          FieldErrors* errors) {
  if (drill.spec.mode != "live" || Acknowledged(drill)) return;
  const api::DrillTarget failures[] = {drill.spec.target};
  StatusOr<scheduling::WhatIfAnswer> answer = scheduling::WhatIf(fleet, failures, now);
  if (!answer.ok()) return;  // an unplaceable fleet is placement's to report, not the drill's
  for (const scheduling::WhatIfWorkload& w : answer->affected) {
    int64_t before = 0, after = 0;
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      before += c.before;
      after += c.after;
    }
    if (before <= 0 || after > 0) continue;
    auto it = std::find_if(fleet.workloads.begin(), fleet.workloads.end(),
                           [&](const api::FederatedWorkload& fw) {
                             return fw.metadata.ns == w.ns && fw.metadata.name == w.name;
                           });
    if (it == fleet.workloads.end()) continue;
    std::optional<std::vector<std::string>> allowed = AllowedJurisdictions(*it, fleet.policies);
    if (!allowed) continue;  // not residency-bound: it may overflow anywhere, or is capped
    std::string jurisdictions;
    for (const std::string& j : *allowed) jurisdictions += (jurisdictions.empty() ? "" : ", ") + j;
    errors->push_back(
        {"spec.target", DescribeTarget(drill.spec.target) + " would leave " + w.ns + "/" + w.name +
                            " (residency: " + (jurisdictions.empty() ? "none" : jurisdictions) +
                            ") with no allowed capacity: " + std::to_string(before) +
                            " replicas placed, 0 after" +
                            (w.blocked_by.empty() ? "" : " (" + w.blocked_by + ")") +
                            "; to rehearse its outage on purpose, annotate the drill " +
                            kAllowResidencyOutageAnnotation + "=true"});
  }
}

}  // namespace

bool TargetsOverlap(const api::DrillTarget& a, const api::DrillTarget& b,
                    const std::vector<api::MemberCluster>& members) {
  if (!a.zone.empty() && !b.zone.empty() && a.zone != b.zone) return false;
  return std::any_of(members.begin(), members.end(), [&](const api::MemberCluster& m) {
    return TargetTouches(a, m) && TargetTouches(b, m);
  });
}

FieldErrors AdmitDrill(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now) {
  FieldErrors errors;
  const api::DrillTarget& t = drill.spec.target;
  if ((!t.zone.empty() + !t.region.empty() + !t.cluster.empty()) != 1) return errors;
  CheckTargetKnown(t, fleet, &errors);
  if (!errors.empty()) return errors;  // the rest needs a target that touches members
  CheckOverlap(drill, fleet, &errors);
  CheckResidencyOutage(drill, fleet, now, &errors);
  return errors;
}

}  // namespace meridian::failover
