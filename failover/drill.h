// Failover drills, pure core: what a drill's target covers, what a sample of the fleet looks
// like, when the abort condition fires, how the report is computed (live), and what a
// simulated drill says would happen. No I/O, no clock reads: the shell
// (failover/drill_controller.h) reads the API objects and the Clock and passes values in.
//
// A live drill's progress is kept in FailoverDrill status.report itself (DrillRecord, below,
// round-trips through JSON), so the controller is level-triggered: a restarted controller
// picks a running drill up where the report says it was.
//
// Times in the report are milliseconds since the drill started (`startedAtMs` is the epoch
// time of the start), so a chart needs no date arithmetic.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/types.h"
#include "common/clock.h"
#include "common/status.h"
#include "failover/drill_dns.h"
#include "placement/policy.h"
#include "scheduling/placement_inputs.h"

namespace meridian::failover {

// "zone=eu-west-1a", "region=eu-west" or "cluster=eu-west-1".
std::string DescribeTarget(const api::DrillTarget& target);

// Whether `member` is (or contains) the target: its name, its region, or one of its zones.
bool TargetTouches(const api::DrillTarget& target, const api::MemberCluster& member);

// OK when some member is (or contains) the target; else NotFound naming the field
// (spec.target.zone ...) and the value.
Status CheckTargetExists(const api::DrillTarget& target,
                         const std::vector<api::MemberCluster>& members);

// Replicas `placement` puts on the target: a cluster's replicas for cluster and region
// targets, the zone hint for a zone target (a cluster placement without zone hints on a
// cluster with that zone counts in full: nothing says where in the cluster they are).
int64_t ReplicasOnTarget(const api::DrillTarget& target,
                         const std::vector<api::ClusterPlacement>& placement,
                         const std::vector<api::MemberCluster>& members);

// Whether the members' status shows the target failed (the health monitor saw it): a zone
// reported unhealthy, a cluster not Reachable, or in a region every member not Reachable
// or without a healthy zone.
bool TargetSeenFailed(const api::DrillTarget& target,
                      const std::vector<api::MemberCluster>& members);

// When the health monitor marked the target failed, from the members' transition times
// (Reachable's lastTransitionTime, a zone's lastTransitionTime): for a zone the earliest
// member that lost it, for a cluster or region the time the last of its members failed.
// nullopt when TargetSeenFailed is false or a time is missing or unreadable.
std::optional<Timestamp> TargetFailedSince(const api::DrillTarget& target,
                                           const std::vector<api::MemberCluster>& members);

// The kinds of live drill (report.failure; spec.failure, api/types.h).
inline constexpr char kFailureDeclared[] = "declared";
inline constexpr char kFailureInjected[] = "injected";

// The jurisdictions `workload` may run in: its own residency intersected with every
// ResidencyPolicy that selects it; nullopt when nothing restricts it.
std::optional<std::vector<std::string>> AllowedJurisdictions(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies);

// A member's jurisdiction: its own, else its region's in the Topology, else "".
std::string JurisdictionOf(const api::MemberCluster& member, const placement::TopologySpec& topology);

// One placement line that breaks residency.
struct ResidencyViolation {
  std::string workload;  // namespace/name
  std::string cluster;
  std::string jurisdiction;
  int64_t replicas = 0;
  friend bool operator==(const ResidencyViolation&, const ResidencyViolation&) = default;
};

// Every placement line of `workloads` on a member whose jurisdiction is not allowed.
// A placement on a cluster that is not a known member is not judged (nothing to judge by).
std::vector<ResidencyViolation> FindResidencyViolations(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::MemberCluster>& members,
    const std::vector<api::ResidencyPolicy>& policies, const placement::TopologySpec& topology);

// Replicas per region of a placement (clusters unknown to `members` count under "?").
std::map<std::string, int64_t> ReplicasPerRegion(const std::vector<api::ClusterPlacement>& placement,
                                                 const std::vector<api::MemberCluster>& members);

// ---- Live drills ----

// One followed workload in a sample. Not kept in the timeline (status.report stays small
// however many workloads a drill follows): the record folds it into WorkloadMilestones.
struct WorkloadSampleFigures {
  int64_t desired = 0;
  int64_t ready = 0;
  int64_t ready_as_placed = 0;
  int64_t on_target = 0;
  friend bool operator==(const WorkloadSampleFigures&, const WorkloadSampleFigures&) = default;
};

// The fleet at one instant, as the drill samples it (only the workloads the drill follows).
struct DrillSample {
  int64_t at_ms = 0;  // since the drill started
  // When the placement this sample counts was read (since the drill started), when earlier
  // than at_ms: the shell reads the API objects, then the members (0.1-0.7 s for a fleet).
  // Placement milestones (re-placed) take this time, readiness ones (fully ready) the middle
  // of the two, so neither reads late by the member reads. Not kept in the timeline.
  std::optional<int64_t> placement_read_ms;
  int64_t ready = 0;
  int64_t desired = 0;
  std::map<std::string, int64_t> ready_by_region;    // status.clusters[].readyReplicas
  std::map<std::string, int64_t> desired_by_region;  // status.placement[].replicas
  // Ready replicas where the placement wants them (per cluster at most its placed count):
  // old replicas still serving on the target do not make the new placement "ready".
  int64_t ready_as_placed = 0;
  int64_t on_target = 0;       // replicas the placement still puts on the target
  bool target_seen_failed = false;  // the members' status shows the target failed
  // Sampled from the members themselves (MemberReadiness): members that did not answer;
  // nothing of theirs counted as ready. Empty when sampled from status.
  std::vector<std::string> unverified;
  bool from_members = false;  // ready figures read from the members, not status.clusters
  // Per followed workload (namespace/name); cleared before the sample joins the timeline.
  std::map<std::string, WorkloadSampleFigures> by_workload;
  // What the served DNS answered for the followed workloads' names (failover/drill_dns.h);
  // unset when the process serves no DNS or no followed workload has a served name.
  std::optional<DnsAnswerSample> dns;
  friend bool operator==(const DrillSample&, const DrillSample&) = default;
};

// Ready replicas as the members themselves report them, read by the controller shell just
// before a sample. A drill's availability is what the members showed: Meridian's status keeps
// an unreachable member's last known figures (its objects are retained), which would make an
// injected outage look harmless.
struct MemberReadiness {
  // member -> kWorkloadLabel value ("<namespace>.<name>") -> ready replicas of the objects
  // Meridian manages there (Deployments, StatefulSets).
  std::map<std::string, std::map<std::string, int64_t>> ready;
  // Members that could not be read: nothing of theirs counts as ready.
  std::set<std::string> unverified;
};

// Samples `workloads` (those the drill follows) at `at_ms`. Ready figures come from
// `observed` when given (every member's own objects, surge replicas included), else from
// each workload's status.clusters.
DrillSample TakeSample(const api::DrillTarget& target, int64_t at_ms,
                       const std::vector<api::FederatedWorkload>& workloads,
                       const std::vector<api::MemberCluster>& members,
                       const MemberReadiness* observed = nullptr);

// Whether availability is below the threshold: ready * 100 < percent * desired. Never fires
// without a threshold or when nothing is desired.
bool AbortConditionFires(const DrillSample& sample, std::optional<int32_t> min_availability_percent);

// A followed workload as it was when the drill started.
struct WorkloadBefore {
  std::string workload;  // namespace/name
  std::map<std::string, int64_t> placement;  // cluster -> replicas
  int64_t on_target = 0;
  friend bool operator==(const WorkloadBefore&, const WorkloadBefore&) = default;
};

// How far the replicas have come back to the target after the drill restored it: over the
// followed workloads that still exist, each capped at what it had on the target before
// (a workload with more there now does not make up for one with less).
struct ReturnProgress {
  // The replicas the return waits for: per workload, those on the target before the drill —
  // or fewer, once placement has settled on the target and wants fewer there now (the fleet
  // changed meanwhile: another member came back, a workload was scaled down). Never more.
  int64_t want = 0;
  int64_t placed = 0;     // of those, placed on the target again
  int64_t ready = 0;      // of those, ready on the target
  int64_t before = 0;     // replicas on the target before the drill (want <= before)
  bool Complete() const { return placed >= want && ready >= want; }
  friend bool operator==(const ReturnProgress&, const ReturnProgress&) = default;
};

// Ready replicas `workload` runs on the target where its placement wants them: per member
// that the target touches, its ready replicas (at most its placed count) less what the
// placement puts on that member outside the target. For a cluster or region target that is
// exact; for a zone target readiness is known per member only, so replicas outside the
// zone are taken to be ready first (they were never moved) — a lower bound.
int64_t ReadyOnTarget(const api::DrillTarget& target, const api::FederatedWorkload& workload,
                      const std::vector<api::MemberCluster>& members);

// Whether placement has settled on the target for `workload`: its explanation names every
// cluster the (cluster or region) target touches and none of them is held back for failure
// (Unreachable, ZoneFailure, RecoveryHold). Then what status.placement puts on the target is
// what placement wants there. Never for a zone target: the explanation is per cluster, and a
// cluster with one failed zone reads Placed.
bool PlacementSettledOnTarget(const api::DrillTarget& target, const api::FederatedWorkload& workload,
                              const std::vector<api::MemberCluster>& members);

// The return of `before`'s replicas to the target, from `followed` as they are now. A
// workload placement has settled for waits for what it places on the target now if that is
// fewer than before: a drill started while another member was recovering must not wait for
// replicas placement has since moved back there (the report says so: want < before).
ReturnProgress ReturnProgressOf(const api::DrillTarget& target,
                                const std::vector<WorkloadBefore>& before,
                                const std::vector<api::FederatedWorkload>& followed,
                                const std::vector<api::MemberCluster>& members);

// What the report says about replicas that found no place.
struct UnplacedReplicas {
  std::string workload;
  int64_t replicas = 0;
  std::string why;
  friend bool operator==(const UnplacedReplicas&, const UnplacedReplicas&) = default;
};

// Time spent below a service level, accumulated sample by sample: an interval counts from
// the sample that first fell below to the first sample back at or above it.
struct TimeBelow {
  int64_t closed_ms = 0;                   // intervals already ended
  std::optional<int64_t> since_ms;         // an interval still open
  // Up to `at_ms` (the latest sample), the open interval included.
  int64_t TotalAt(int64_t at_ms) const { return closed_ms + (since_ms ? at_ms - *since_ms : 0); }
  friend bool operator==(const TimeBelow&, const TimeBelow&) = default;
};

// One followed workload's milestones, so the report can give p50/p95 over workloads. A
// workload that had nothing on the target has no re-place / full-ready / return milestones
// (the drill did not hurt it) and is left out of those percentiles.
struct WorkloadMilestones {
  int64_t on_target_before = 0;
  std::optional<int64_t> replaced_ms;     // none of its replicas left on the target
  std::optional<int64_t> fully_ready_ms;  // after that, ready where placed reached desired
  std::optional<int64_t> returned_ms;     // after the restore, back on the target and ready
  int64_t lowest_ready = -1;              // -1: no sample yet
  int64_t lowest_ready_desired = 0;
  TimeBelow below_slo;
  friend bool operator==(const WorkloadMilestones&, const WorkloadMilestones&) = default;
};

// p50 and p95 (nearest rank) of one milestone over the workloads that reached it; `of` is
// how many workloads it is taken over, `missing` how many hurt workloads never reached it.
struct MilestonePercentiles {
  std::optional<int64_t> p50_ms, p95_ms;
  int64_t of = 0;
  int64_t missing = 0;
  friend bool operator==(const MilestonePercentiles&, const MilestonePercentiles&) = default;
};

// The nearest-rank percentile `p` (0 < p <= 100) of `values`; nullopt when empty.
std::optional<int64_t> NearestRankPercentile(std::vector<int64_t> values, int p);

// A live drill's progress and report (status.report). Milliseconds are since started_at_ms.
struct DrillRecord {
  std::string target;  // DescribeTarget
  std::string mode;
  std::string failure;        // live: kFailureDeclared | kFailureInjected; simulate: "".
  int64_t started_at_ms = 0;  // epoch ms of the fault start
  std::optional<int32_t> min_availability_percent;
  std::vector<WorkloadBefore> before;
  std::vector<DrillSample> timeline;
  std::optional<int64_t> detected_ms, replaced_ms, fully_ready_ms, restored_ms, aborted_ms;
  bool abort_condition_fired = false;
  std::string abort_reason;  // "" | "requested" | "availability N% below M%"
  bool fault_injected = false;
  bool fault_healed = false;
  std::map<std::string, int64_t> replicas_moved_per_region;  // after - before, per region
  std::map<std::string, int64_t> placed_before_per_region;
  std::map<std::string, int64_t> placed_during_per_region;  // the placement while failed
  std::vector<ResidencyViolation> residency_violations;
  std::vector<UnplacedReplicas> unplaced;
  int64_t lowest_ready = -1;  // -1: no sample yet
  int64_t lowest_ready_desired = 0;
  // After the restore: the replicas' return to the target (see ReturnObservation).
  std::string return_observation;  // "" (not ended yet) | kReturn*
  std::optional<int64_t> return_watch_until_ms;  // when watching stops without a return
  std::optional<int64_t> returned_ms;            // every followed replica back and ready
  ReturnProgress return_progress;                // as of the latest return sample
  // spec.slo.minAvailabilityPercent and the time the fleet (ready / desired over the
  // followed workloads, as the members showed it) spent below it, failure and return alike.
  std::optional<int32_t> slo_percent;
  TimeBelow below_slo;
  // namespace/name -> its milestones (only workloads the drill follows).
  std::map<std::string, WorkloadMilestones> workloads;
  // The DNS answers over the failure (samples before the restore that carried `dns`).
  std::optional<DnsAnswerSummary> dns;
  friend bool operator==(const DrillRecord&, const DrillRecord&) = default;
};

// The percentiles of the re-place and full-ready times (from the fault start) and of the
// return times (from the restore) over the workloads the target hurt.
MilestonePercentiles ReplacePercentiles(const DrillRecord& record);
MilestonePercentiles FullReadyPercentiles(const DrillRecord& record);
MilestonePercentiles ReturnPercentiles(const DrillRecord& record);

// report.returnObservation: what the drill knows about the replicas' return after restore.
inline constexpr char kReturnOff[] = "off";            // spec.observeReturnSeconds 0
inline constexpr char kReturnNothing[] = "none";       // nothing was on the target
inline constexpr char kReturnWatching[] = "watching";  // sampling until returned or the bound
inline constexpr char kReturnReturned[] = "returned";  // returnedMs says when
inline constexpr char kReturnNotReturned[] = "notReturned";  // the bound ended first

// Called when the drill restores the target at `restored_ms` (record->restored_ms is set):
// starts watching the return for `observe_seconds` (0: off), unless nothing was on the
// target.
void StartReturnObservation(DrillRecord* record, int64_t observe_seconds);

// Whether the drill still samples the return.
bool WatchingReturn(const DrillRecord& record);

// Adds a sample taken after the restore, while watching the return: the timeline continues
// (thinned like AddSample's), residency violations and unplaced replicas are still
// tracked; the milestones of the failure (detected, re-placed, fully ready, the placement
// while failed, lowest availability) are left as they were. `progress` is
// ReturnProgressOf now: when complete, returnedMs is the sample's time and watching ends;
// else watching ends (notReturned) once the sample is at or past return_watch_until_ms.
void AddReturnSample(DrillRecord* record, DrillSample sample, const ReturnProgress& progress,
                     const std::vector<api::FederatedWorkload>& followed,
                     const std::vector<api::MemberCluster>& members,
                     const std::vector<api::ResidencyPolicy>& policies,
                     const placement::TopologySpec& topology);

// The timeline keeps at most this many samples; beyond it every other sample is dropped
// (the chart stays readable and the object small however long the drill runs).
inline constexpr size_t kMaxTimelineSamples = 600;

// The record as status.report (with the derived durations: timeToDetectSeconds,
// timeToReplaceSeconds, timeToFullReadySeconds, and timeToReturnSeconds — from the
// restore, not the fault start; `returned` true/false; residencyViolations is the count and
// residencyViolationDetails the lines).
nlohmann::json RecordToJson(const DrillRecord& record);
// Reads what RecordToJson wrote; missing fields keep their defaults. Errors name the field.
StatusOr<DrillRecord> RecordFromJson(const nlohmann::json& report);

// A new record at the drill's start: which workloads it follows (those with replicas on
// the target; all workloads when none has) and their placement before.
DrillRecord StartRecord(const api::FailoverDrill& drill, int64_t started_at_ms,
                        const std::vector<api::FederatedWorkload>& workloads,
                        const std::vector<api::MemberCluster>& members);

// The workloads `record` follows, picked out of `workloads` (a deleted one is left out).
std::vector<api::FederatedWorkload> FollowedWorkloads(
    const DrillRecord& record, const std::vector<api::FederatedWorkload>& workloads);

// Adds `sample` to the record and advances the milestones: detected (the members' status
// shows the target failed — at the health monitor's transition time, TargetFailedSince,
// when the members say: written to the second and never before the previous sample, which
// did not see it, so the middle of the interval both allow — or, for a declared drill,
// placement started moving replicas off
// it; an injected drill is detected by the members' health only), re-placed (no
// followed replica left on the target), fully ready (after re-placement, the replicas ready
// where the placement wants them reach desired).
// Also tracks the lowest availability, the placement while failed (per region, and the
// moves against `before`), unplaced replicas with why (from the workloads' Degraded
// condition) and residency violations (cumulative: a violation seen once stays reported).
void AddSample(DrillRecord* record, DrillSample sample,
               const std::vector<api::FederatedWorkload>& followed,
               const std::vector<api::MemberCluster>& members,
               const std::vector<api::ResidencyPolicy>& policies,
               const placement::TopologySpec& topology);

// ---- Simulated drills ----

// Everything a drill reads: the placement inputs as listed from the API, and their
// Topologies merged as placement merges them (scheduling::MergedTopology).
struct Fleet : scheduling::PlacementInputs {
  placement::TopologySpec topology;
  // What the members reported just now (set by the controller shell when it can read
  // members); samples then count what the members hold, not Meridian's status.
  std::optional<MemberReadiness> observed;
  // What the process's DNS server answered this pass (DrillControllerOptions::dns_answers and
  // dns_transport, failover/drill_dns.h); null when it serves no DNS. Samples then carry no
  // `dns`.
  std::shared_ptr<const DnsObservation> dns;
  // When the API objects above were read (the controller shell reads them, then the members,
  // which takes a while): placement milestones are dated by it, not by the end of the pass.
  std::optional<Timestamp> read_at;
};

// What would happen if the target failed now, changing nothing: scheduling::WhatIf (the same
// code path as the placement controller and fedctl what-if) places every workload against
// the fleet as it is and with the target failed; the report lists each affected workload's
// placement before/after, the replicas that would move per region, residency violations of
// the answer (must be 0; member jurisdictions against the workload's residency and the
// ResidencyPolicies), unplaced replicas and why. Errors: the target matches no member
// (NotFound), the fleet cannot be placed against (an invalid member).
StatusOr<nlohmann::json> SimulateDrill(const api::FailoverDrill& drill, const Fleet& fleet,
                                       Timestamp now);

}  // namespace meridian::failover
