#include "failover/drill_admission.h"

#include <algorithm>
#include <set>

#include "failover/gameday.h"
#include "rollout/stage_machine.h"

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
// `path`: the target's field ("spec.target", "spec.steps[1].target").
void CheckTargetKnown(const api::DrillTarget& target, const std::string& path, const Fleet& fleet,
                      FieldErrors* errors) {
  if (!target.cluster.empty()) {
    std::set<std::string> clusters;
    for (const api::MemberCluster& m : fleet.members) clusters.insert(m.metadata.name);
    if (!clusters.contains(target.cluster)) {
      errors->push_back({path + ".cluster", "unknown member cluster \"" + target.cluster +
                                                "\" (known: " + Join(clusters) + ")"});
    }
    return;
  }
  const bool zone = !target.zone.empty();
  const std::string& value = zone ? target.zone : target.region;
  const std::string field = path + (zone ? ".zone" : ".region");
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

void CheckOverlap(const api::FailoverDrill& drill, const api::DrillTarget& target,
                  const std::string& path, const Fleet& fleet, FieldErrors* errors) {
  if (drill.spec.mode != "live") return;  // a simulation changes nothing
  for (const api::FailoverDrill& other : fleet.drills) {
    // A game day fails nothing itself: its steps' drills are what overlap.
    if (other.metadata.name == drill.metadata.name || other.spec.mode != "live" || Ended(other) ||
        !other.metadata.deletion_timestamp.empty() || other.spec.IsGameDay()) {
      continue;
    }
    if (!TargetsOverlap(target, other.spec.target, fleet.members)) continue;
    errors->push_back({path, DescribeTarget(target) + " overlaps live drill " +
                                 other.metadata.name + " (" + DescribeTarget(other.spec.target) +
                                 ", " +
                                 (other.status.phase.empty() ? "not started" : other.status.phase) +
                                 "); wait until it ends or abort it (fedctl drill abort " +
                                 other.metadata.name + ")"});
  }
}

bool Acknowledged(const api::FailoverDrill& drill, const char* annotation) {
  auto it = drill.metadata.annotations.find(annotation);
  return it != drill.metadata.annotations.end() && it->second == "true";
}

// A live drill on members that a workload's unfinished rollout is changing now
// (rollout::MembersBeingChanged): the rollout's gates would judge the drill's outage, or the
// drill's figures the new revision's start.
void CheckRolloutOverlap(const api::FailoverDrill& drill, const api::DrillTarget& target,
                         const std::string& path, const Fleet& fleet, FieldErrors* errors) {
  if (drill.spec.mode != "live" || Acknowledged(drill, kAllowRolloutOverlapAnnotation)) return;
  for (const api::FederatedWorkload& w : fleet.workloads) {
    if (!w.status.rollout || !w.metadata.deletion_timestamp.empty()) continue;
    std::set<std::string> touched;
    for (const std::string& name : rollout::MembersBeingChanged(*w.status.rollout)) {
      auto m = std::find_if(fleet.members.begin(), fleet.members.end(),
                            [&](const api::MemberCluster& c) { return c.metadata.name == name; });
      if (m != fleet.members.end() && TargetTouches(target, *m)) touched.insert(name);
    }
    if (touched.empty()) continue;
    const api::RolloutStatus& r = *w.status.rollout;
    errors->push_back({path, DescribeTarget(target) + " overlaps the rollout of " + w.metadata.ns +
                                 "/" + w.metadata.name + " (revision " +
                                 std::to_string(r.revision) + ", stage " + r.stage_name + ", " +
                                 r.phase + "), which is changing " + Join(touched) +
                                 "; wait until the stage passes its gates (fedctl rollout status " +
                                 w.metadata.name + "), or to run both at once annotate the drill " +
                                 kAllowRolloutOverlapAnnotation + "=true"});
  }
}

// A live drill that takes every allowed replica of a residency-bound workload away: the
// placement controller's own what-if (scheduling::WhatIf) says what would be placed.
void CheckResidencyOutage(const api::FailoverDrill& drill, const api::DrillTarget& target,
                          const std::string& path, const Fleet& fleet, Timestamp now,
                          FieldErrors* errors) {
  if (drill.spec.mode != "live" || Acknowledged(drill, kAllowResidencyOutageAnnotation)) return;
  const api::DrillTarget failures[] = {target};
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
        {path, DescribeTarget(target) + " would leave " + w.ns + "/" + w.name +
                   " (residency: " + (jurisdictions.empty() ? "none" : jurisdictions) +
                   ") with no allowed capacity: " + std::to_string(before) +
                   " replicas placed, 0 after" +
                   (w.blocked_by.empty() ? "" : " (" + w.blocked_by + ")") +
                   "; to rehearse its outage on purpose, annotate the drill " +
                   kAllowResidencyOutageAnnotation + "=true"});
  }
}

// The spans [start, start + length) two game days' runs would fail their targets in, over the
// next kOverlapHorizon: the first clash, if any.
constexpr auto kOverlapHorizon = std::chrono::hours(24 * 62);
constexpr size_t kOverlapRuns = 500;

int64_t TotalSeconds(const api::FailoverDrillSpec& spec) {
  int64_t total = 0;
  for (const api::DrillStepSpec& s : StepsOf(spec)) total += s.duration_seconds;
  return total;
}

std::optional<Timestamp> FirstClash(const std::vector<Timestamp>& a, int64_t a_len,
                                    const std::vector<Timestamp>& b, int64_t b_len) {
  for (Timestamp x : a) {
    for (Timestamp y : b) {
      if (x < y + std::chrono::seconds(b_len) && y < x + std::chrono::seconds(a_len)) {
        return std::max(x, y);
      }
    }
  }
  return std::nullopt;
}

bool AnyStepsOverlap(const api::FailoverDrillSpec& a, const api::FailoverDrillSpec& b,
                     const std::vector<api::MemberCluster>& members) {
  for (const api::DrillStepSpec& x : StepsOf(a)) {
    for (const api::DrillStepSpec& y : StepsOf(b)) {
      if (TargetsOverlap(x.target, y.target, members)) return true;
    }
  }
  return false;
}

void AdmitGameDay(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                  const std::string& zoneinfo_root, FieldErrors* errors) {
  const std::vector<api::DrillStepSpec> steps = StepsOf(drill.spec);
  for (size_t i = 0; i < steps.size(); ++i) {
    const api::DrillTarget& t = steps[i].target;
    if ((!t.zone.empty() + !t.region.empty() + !t.cluster.empty()) != 1) return;  // the schema's
    const std::string path = drill.spec.steps.empty()
                                 ? std::string("spec.target")
                                 : "spec.steps[" + std::to_string(i) + "].target";
    const size_t before = errors->size();
    CheckTargetKnown(t, path, fleet, errors);
    if (errors->size() != before) continue;
    // Residency is judged now, as for a drill; each step's drill is admitted again when it
    // starts (overlap with the drills running then, residency against the fleet then).
    CheckResidencyOutage(drill, t, path, fleet, now, errors);
    if (!drill.spec.schedule) {  // it starts at once
      CheckOverlap(drill, t, path, fleet, errors);
      CheckRolloutOverlap(drill, t, path, fleet, errors);
    }
  }
  if (!drill.spec.schedule) return;
  std::optional<ResolvedSchedule> schedule =
      ResolveSchedule(*drill.spec.schedule, zoneinfo_root, errors);
  if (!schedule) return;
  const std::vector<Timestamp> runs =
      RunStarts(*schedule, now, now + kOverlapHorizon, kOverlapRuns);
  if (!NextFireTime(schedule->cron, schedule->zone, now, schedule->window)) {
    errors->push_back(
        {"spec.schedule.cron", "\"" + drill.spec.schedule->cron + "\" never fires" +
                                   (schedule->window ? " inside the window" : std::string()) +
                                   " in " + drill.spec.schedule->time_zone});
    return;
  }
  const int64_t length = TotalSeconds(drill.spec);
  // A run still going when the next one is due: the schedule overlaps itself.
  for (size_t i = 1; i < runs.size(); ++i) {
    if (runs[i] - runs[i - 1] < std::chrono::seconds(length)) {
      errors->push_back({drill.spec.steps.empty() ? "spec.durationSeconds" : "spec.steps",
                         "a run takes " + std::to_string(length) + "s but runs start " +
                             FormatRfc3339(runs[i - 1]) + " and " + FormatRfc3339(runs[i]) +
                             ": runs would overlap"});
      break;
    }
  }
  for (const api::FailoverDrill& other : fleet.drills) {
    if (other.metadata.name == drill.metadata.name || !other.spec.schedule ||
        other.spec.mode != "live" || drill.spec.mode != "live" ||
        !other.metadata.deletion_timestamp.empty() ||
        !AnyStepsOverlap(drill.spec, other.spec, fleet.members)) {
      continue;
    }
    FieldErrors ignored;
    std::optional<ResolvedSchedule> theirs =
        ResolveSchedule(*other.spec.schedule, zoneinfo_root, &ignored);
    if (!theirs) continue;
    const std::vector<Timestamp> their_runs =
        RunStarts(*theirs, now - std::chrono::seconds(TotalSeconds(other.spec)),
                  now + kOverlapHorizon, kOverlapRuns);
    if (std::optional<Timestamp> clash =
            FirstClash(runs, length, their_runs, TotalSeconds(other.spec))) {
      errors->push_back({"spec.schedule.cron",
                         "a run at " + FormatRfc3339(*clash) + " would overlap game day " +
                             other.metadata.name + " (\"" + other.spec.schedule->cron + "\" " +
                             other.spec.schedule->time_zone + ") on a shared target"});
    }
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

FieldErrors AdmitDrill(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                       const std::string& zoneinfo_root) {
  FieldErrors errors;
  if (drill.spec.IsGameDay()) {
    AdmitGameDay(drill, fleet, now, zoneinfo_root, &errors);
    return errors;
  }
  const api::DrillTarget& t = drill.spec.target;
  if ((!t.zone.empty() + !t.region.empty() + !t.cluster.empty()) != 1) return errors;
  CheckTargetKnown(t, "spec.target", fleet, &errors);
  if (!errors.empty()) return errors;  // the rest needs a target that touches members
  CheckOverlap(drill, t, "spec.target", fleet, &errors);
  CheckRolloutOverlap(drill, t, "spec.target", fleet, &errors);
  CheckResidencyOutage(drill, t, "spec.target", fleet, now, &errors);
  return errors;
}

}  // namespace meridian::failover
