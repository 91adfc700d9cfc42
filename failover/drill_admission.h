// Admission of FailoverDrills, pure core: what the federation-apiserver refuses when a drill
// is created, so that `fedctl drill run` fails at once (422, the field named) instead of a
// drill that fails later or harms what it rehearses. Called by
// federation-apiserver/admission.cc with the fleet as stored; no clock reads, and no I/O but
// reading a game day's time zone file.
//
// Refused (every problem reported, each with its field path):
//   - a target no one has heard of: a region or zone that neither a Topology nor a member
//     lists, a member cluster that does not exist (spec.target.*);
//   - a known target that no member cluster has (a Topology region without members): the
//     drill would fail nothing (spec.target.*);
//   - a live drill whose target overlaps (shares a member, or the same zone) a live drill
//     that has not ended: two drills would restore each other's target (spec.target);
//   - a live drill whose target touches members that a workload's unfinished rollout is
//     changing now (rollout::MembersBeingChanged: given the new revision, the stage's gates not
//     passed), naming the workload, its revision and stage, unless the drill carries the
//     annotation kAllowRolloutOverlapAnnotation: "true" (spec.target). The other direction is
//     the rollout's: it gives no member a running drill targets a new revision
//     (rollout/rollout_controller.h);
//   - a live drill that would leave a residency-bound workload (its residency ∩ the
//     ResidencyPolicies that select it) with no replica placed anywhere it may run, unless
//     the drill carries the annotation kAllowResidencyOutageAnnotation: "true" — an outage
//     of that service is then rehearsed on purpose (spec.target).
// Game days (spec.schedule / spec.steps, failover/gameday.h), besides the above for every
// step's target (spec.steps[i].target.*; overlap with running drills and rollouts only when
// unscheduled, as a scheduled one's steps are admitted again when they start):
//   - a cron expression that does not parse, or never fires (inside the window)
//     (spec.schedule.cron); a time zone with no file under `zoneinfo_root`
//     (spec.schedule.timeZone); a malformed or empty window (spec.schedule.window.*);
//   - runs that would overlap each other (a run longer than the gap to the next; spec.steps or
//     spec.durationSeconds), or overlap the runs of another live scheduled game day with a
//     shared target within the next 62 days (spec.schedule.cron).
// Duration bounds (spec.durationSeconds, spec.steps[i].durationSeconds >= 1) are the
// schema's (api/codec.h).
#pragma once

#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/field_error.h"
#include "failover/drill.h"

namespace meridian::failover {

// Acknowledges that a live drill takes every allowed replica of some residency-bound
// workload away (it rehearses that workload's outage).
inline constexpr char kAllowResidencyOutageAnnotation[] =
    "drills.meridian.io/allow-residency-outage";

// Acknowledges that a live drill fails members a workload's rollout is changing: the drill
// runs, and the rollout's gates judge members the drill fails (they may fail and halt or roll
// back the rollout). A game day passes it on to its steps' drills.
inline constexpr char kAllowRolloutOverlapAnnotation[] = "drills.meridian.io/allow-rollout-overlap";

// The problems with creating `drill` in `fleet` at `now` (empty: admitted). `fleet.drills`
// are the drills already stored (the new one is not among them; one with the same name is
// ignored). Assumes the drill passed the schema (exactly one target field set); a drill
// that did not gets no further checks.
FieldErrors AdmitDrill(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                       const std::string& zoneinfo_root = "/usr/share/zoneinfo");

// Whether two targets share part of the fleet: a member both touch, and for two zone
// targets the same zone.
bool TargetsOverlap(const api::DrillTarget& a, const api::DrillTarget& b,
                    const std::vector<api::MemberCluster>& members);

}  // namespace meridian::failover
