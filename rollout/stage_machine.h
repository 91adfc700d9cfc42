// The staged-rollout stage machine, pure: from a strategy, the workload's newest revision, the
// members' observed revision and readiness, the approval annotation and the time, to the next
// rollout state (status.rollout: which member is meant to run which revision, the phase, the
// stage and its timers), an event for a transition, and when time alone would change the
// answer. The state is all it remembers, so a restarted controller continues from the
// workload's status. No I/O, no clock reads; thread-safe.
//
// A rollout of revision R from the stable revision S (the last one every member completed):
// stages run in order; a member belongs to the first stage whose selector takes it, members
// no stage takes form a last implicit stage "remaining". A stage that needs approval waits for
// the annotation "R/<stage>" (api::kRolloutApprovedAnnotation; approvalPoint "before"). Its
// members then get R, at most maxConcurrency not-yet-ready ones at a time, in name order; a
// stage with groups changes its groups in parallel, each up to the group's maxConcurrency (the
// members no group takes one at a time beside them), all together at most the stage's
// maxConcurrency when it has one (filled in member name order). The rollout waits (WaitingForDrill,
// its timers stopped as when paused) before a group's next member a running drill targets until
// that drill ends; its gates pass when every member runs R with all
// replicas updated, ready and available for readySeconds and soakSeconds passed since the
// latest member got it. Then its after-gates: `after.prometheus` (counted from then; phase
// Waiting, fails like the stage's own as "after.prometheus"), then `after.approval` (annotation
// "R/<stage>/after", approvalPoint "after"); the next stage starts once they passed and
// afterStageWaitSeconds (counted from the gates passing) ran out. Gates not passed
// gateTimeoutSeconds after the latest member got R fail: onFailure halt leaves every member as
// it is (Halted); rollback gives every member S again (RolledBack). With maxRestarts, a member
// given R whose pods of R restarted more often than that fails the gate "restarts" at once (a
// crash loop need not wait for the timeout). With a prometheus gate, the stage also needs its
// query at or below max for forSeconds (rollout/prometheus_gate.h), evaluated from the time the
// stage's latest members got R; above max fails the gate "prometheus" at once. Paused: nobody gets
// R and no timer runs. A new revision during a rollout starts over from S.
//
// DNS drain (a stage with `drain`, a workload with spec.dns): when the stage starts changing
// members it is Drained — every member of the stage goes into state.drained, which the DNS
// controller leaves out of the workload's answers — if some member outside the stage may
// answer its clients (dns_allowed: residency); else it is OneAtATime: nothing is drained and
// its members get R one at a time (maxConcurrency 1), so one always serves. A Drained stage
// changes no member before drainUntil (when it was drained + the name's DNS TTL: phase
// Draining), so resolvers stop sending clients to its members first. A drained member
// is answered again once it runs, ready, a revision that passed its gates on it: R when its
// stage's gates pass, S after a rollback (a halted stage's members stay drained). Events
// RolloutDrained, RolloutNotDrained, RolloutDrainRestored. A drained stage's members are
// answered again when its own gates pass: its after-gates judge them under traffic.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/labels.h"
#include "common/clock.h"
#include "rollout/prometheus_gate.h"

namespace meridian::rollout {

inline constexpr char kRemainingStage[] = "remaining";

// One placed member as the rollout sees it.
struct MemberObservation {
  std::string name;
  std::string region;
  apimachinery::Labels labels;
  int64_t revision = 0;  // the revision its object was rendered from (0: unknown)
  bool ready = false;    // every replica of that revision updated, ready, available
  int64_t restarts = 0;  // container restarts of its pods of that revision (the maxRestarts gate)
  // A running live FailoverDrill whose target touches this member (its name; "" for none):
  // the member is not given a new revision while it runs (the rollout waits).
  std::string drill;
  // The workload's DNS name may answer this member (its jurisdiction is one the workload's
  // residency allows): whether it can serve the clients of a drained stage.
  bool dns_allowed = true;
};

struct StageMachineInput {
  // The strategy; nullptr when the workload has no spec.rollout (every member gets the
  // newest revision at once).
  const api::RolloutStrategySpec* strategy = nullptr;
  int64_t revision = 0;  // the newest revision (the workload's spec.template)
  bool paused = false;
  bool dns = false;  // the workload has spec.dns (a stage's drain applies)
  // spec.dns.ttl: how long a resolver may keep an answer that still names a drained member, so
  // how long a Drained stage waits before changing its members.
  int64_t dns_ttl_seconds = 0;
  // The latest evaluation of the current stage's prometheus gate, if any: used when it is
  // fresh (SampleIsFresh), else the output asks for one (StageMachineOutput::evaluate).
  std::optional<PrometheusSample> prometheus;
  std::string approval;  // the value of api::kRolloutApprovedAnnotation ("" when absent)
  std::vector<MemberObservation> members;  // the placed members, any order
  Timestamp now;
};

struct RolloutEvent {
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
};

struct StageMachineOutput {
  api::RolloutStatus state;
  // The workload's "Rollout" condition: True when Complete; False with the phase as reason.
  std::string condition_status, condition_reason, condition_message;
  std::vector<RolloutEvent> events;     // transitions this step made
  std::optional<Timestamp> requeue_at;  // time alone changes the answer then
  // A query to evaluate now: the current stage's prometheus gate is being judged and the input
  // had no fresh evaluation of it. The caller evaluates it and steps again with the sample
  // (the answer of this step is then to be discarded).
  std::optional<std::string> evaluate;
};

// The regions of the strategy's expanding stages (api::RolloutStage::expand), one entry per
// such stage, from the placed members each stage's selector takes that no earlier stage took:
// regionBySize orders them by member count, then name; regionPerContinent takes, per value of
// the member label continentLabel, the region with the fewest of those members (then by name;
// members without the label are left to later stages) and lists them by name. Members
// without a region are left to later stages.
std::vector<api::DerivedStage> DeriveStages(const api::RolloutStrategySpec& strategy,
                                            const std::vector<MemberObservation>& members);

// The stages members are judged by: the strategy's, an expanding stage replaced by its
// derived regions (`derived`, as DeriveStages returned when the rollout started: a regionBySize
// stage becomes one stage per region, "<name>-<region>"), with the implicit "remaining" stage
// when a member fits no stage, and each member's stage index (by name). A member belongs to
// the first stage whose selector takes it and, for an expanding stage, whose derived regions
// hold its region.
struct StagePlan {
  std::vector<api::RolloutStage> stages;
  std::map<std::string, size_t> stage_of;
};
StagePlan PlanStages(const api::RolloutStrategySpec& strategy,
                     const std::vector<MemberObservation>& members,
                     const std::vector<api::DerivedStage>& derived = {});

// Where the strategy's groups share a member of `members` (api::RolloutGroup: a member
// belongs to one group): for each member that two groups of its stage (the stage PlanStages
// gives it, expanding stages derived from `members`) take, an error at
// "<path>.stages[i].groups[k].selector" of the later group, naming the member and the earlier
// group. Admission asks it with every member of the federation; a MemberCluster write that
// would put its member in two groups is refused (FindGroupOverlaps); should one still be found
// there (a member stored before the check), it is put in the first group that takes it.
FieldErrors GroupOverlaps(const api::RolloutStrategySpec& strategy,
                          const std::vector<MemberObservation>& members, const std::string& path);

// The same overlaps as values: member `member` falls in groups `first` and `second` (indices,
// first < second) of stage `stage` (an index into strategy.stages). MemberCluster admission
// asks it with the fleet as a write would make it, and refuses a member that joins, is
// relabelled or moves region into two groups of one stage (naming the strategy and groups).
struct GroupOverlap {
  std::string member;
  size_t stage = 0;
  size_t first = 0, second = 0;
};
std::vector<GroupOverlap> FindGroupOverlaps(const api::RolloutStrategySpec& strategy,
                                            const std::vector<MemberObservation>& members);

// One step. `previous` is status.rollout as stored (nullopt for a workload never seen).
StageMachineOutput Step(const StageMachineInput& in,
                        const std::optional<api::RolloutStatus>& previous);

// The members an unfinished rollout is changing now: those of the current stage that were
// given the new revision while the stage's gates have not passed (phases Progressing,
// WaitingForDrill, Paused). Empty once the stage passed, before it starts (Waiting,
// WaitingForApproval) and for a finished rollout (Complete, Halted, RolledBack: nothing more
// changes until a new revision or an undo). Drill admission (failover/drill_admission.h)
// refuses a live drill on them.
std::vector<std::string> MembersBeingChanged(const api::RolloutStatus& state);

// RFC 3339 with milliseconds ("2026-12-05T16:00:00.250Z"), what the state's times are written
// in; ParseRfc3339 reads it back.
std::string FormatMillis(Timestamp t);

}  // namespace meridian::rollout
