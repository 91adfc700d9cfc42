// Staged rollouts (issue 23): the RolloutStrategy kind, a workload's `spec.rollout` block, its
// revision history (`status.revisions`) and rollout state (`status.rollout`), with strict
// decoders that name every bad field. The stage machine that acts on them is rollout/.
// Pure data and functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/labels.h"
#include "common/field_error.h"

namespace meridian::api {

// Which members a stage takes (`stages[i].selector`). Every given criterion must hold; an
// empty selector takes every member no earlier stage took ("the rest").
struct StageSelector {
  std::vector<std::string> clusters;   // member names
  std::vector<std::string> regions;    // MemberCluster spec.region
  apimachinery::LabelSelector labels;  // `matchLabels` / `matchExpressions` on member labels
  bool Empty() const { return clusters.empty() && regions.empty() && labels.Empty(); }
  friend bool operator==(const StageSelector&, const StageSelector&) = default;
};

// `stages[i].prometheus`, gate: a PromQL instant query (Prometheus' /api/v1/query, against the
// controller manager's --prometheus-url) whose value stayed <= `max` for `forSeconds`. The
// result must be one number (a scalar, or an instant vector of exactly one sample); anything
// else, or an error, is a failed evaluation: never a pass. A value above max fails the gate at
// once; failed evaluations keep it from passing (it fails at gateTimeoutSeconds, naming why).
struct PrometheusGate {
  std::string query;        // checked for shape only (quotes closed, brackets balanced)
  double max = 0;           // finite
  int64_t for_seconds = 0;  // `forSeconds`
  friend bool operator==(const PrometheusGate&, const PrometheusGate&) = default;
};

// `stages[i].after`: gates judged once the stage's own gates passed (its members run the
// revision, ready); the stage is complete, and the next one may start, only when every one of
// them passed (KubeFleet's afterStageTasks). They run alongside afterStageWaitSeconds.
struct AfterStageGates {
  // `approval`: the stage waits for `fedctl rollout approve` after it (annotation
  // "<revision>/<stage>/after", kRolloutApprovedAnnotation), asked only once `prometheus` passed.
  bool approval = false;
  // `prometheus`: judged like the stage's own prometheus gate, its evaluations counted from
  // when the stage's gates passed (a check on the changed members under their traffic).
  std::optional<PrometheusGate> prometheus;
  bool Empty() const { return !approval && !prometheus; }
  friend bool operator==(const AfterStageGates&, const AfterStageGates&) = default;
};

// `stages[i].groups[k]`: a group of the stage's members. Groups run in parallel; within a group
// members change one at a time, or up to its maxConcurrency (and the stage's maxConcurrency, if
// given, caps them all together). A member belongs to the first group whose selector takes it
// (admission refuses a strategy whose groups overlap where it can see it, and a MemberCluster
// write that would put its member in two groups); members of the stage no group takes change
// one at a time, in parallel with the groups.
struct RolloutGroup {
  std::string name;             // unique within the stage (a DNS label)
  StageSelector selector;       // not empty, within the stage's selector
  int32_t max_concurrency = 1;  // `maxConcurrency` (>= 1)
  friend bool operator==(const RolloutGroup&, const RolloutGroup&) = default;
};

// One stage: its members get the new revision (at most maxConcurrency at a time, a member
// counting until it is ready), then its gates are judged, then afterStageWaitSeconds pass.
struct RolloutStage {
  std::string name;  // unique within the strategy (a DNS label)
  StageSelector selector;
  // `maxConcurrency` (>= 1 when given): the most members of the stage changing at once (a
  // member counting until it runs the revision ready); 0 = every member at once. With groups it
  // is a stage-wide cap across all of them, beside each group's own (0: only the groups' caps).
  int32_t max_concurrency = 0;
  bool approval = false;        // the stage waits for `fedctl rollout approve` before it starts
  // Gate: every member of the stage runs the new revision with all replicas updated, ready
  // and available, continuously for this long.
  int64_t ready_seconds = 0;  // `readySeconds`
  // Gate: at least this long has passed since the stage's last member got the revision.
  int64_t soak_seconds = 0;              // `soakSeconds`
  int64_t after_stage_wait_seconds = 0;  // `afterStageWaitSeconds`: pause before the next stage
  // `maxRestarts`, gate: a member of the stage whose pods of the new revision restarted more
  // often than this in total fails the stage at once (a crash loop). -1: no such gate.
  int32_t max_restarts = -1;
  // `expand`: the stage is derived from the fleet (rollout::DeriveStages) out of the members its
  // selector takes that no earlier stage took: "" (as listed) | "regionBySize": one stage per
  // region, fewest placed members first (then by name), named "<name>-<region>" |
  // "regionPerContinent": the smallest region of each continent, its other members left to
  // later stages. Either way the regions are fixed when a rollout starts.
  std::string expand;
  // `continentLabel` (regionPerContinent only): the member label naming its continent.
  std::string continent_label = "continent";
  // `drain`: with the workload's spec.dns, its DNS name stops answering the stage's members
  // while the stage changes them, and answers them again once they run a revision that passed
  // its gates (rollout/stage_machine.h). When no member outside the stage may answer (the
  // workload's residency or placement leaves none), the stage is not drained; its members
  // are changed one at a time instead, so one always serves.
  bool drain = false;
  std::optional<PrometheusGate> prometheus;  // `prometheus` (rollout/prometheus_gate.h)
  AfterStageGates after;                     // `after`: gates after the stage
  // `groups`: the stage's members in parallel groups (maxConcurrency then caps them together).
  std::vector<RolloutGroup> groups;
  friend bool operator==(const RolloutStage&, const RolloutStage&) = default;
};

struct RolloutStrategySpec {
  std::vector<RolloutStage> stages;  // in order; members in no stage come after the last one
  std::string on_failure = "halt";   // `onFailure`: halt | rollback
  // A stage's gates that have not passed this long after its latest members got the new
  // revision have failed (the rollout is not paused meanwhile).
  int64_t gate_timeout_seconds = 600;  // `gateTimeoutSeconds`
  friend bool operator==(const RolloutStrategySpec&, const RolloutStrategySpec&) = default;
};

// `spec.rollout` of a FederatedWorkload (or of a PlacementPolicy, which puts it on the binding of
// every object it places: api/placement_policy.h): a reusable strategy by name, or one inline.
struct WorkloadRolloutSpec {
  std::string strategy_ref;                     // `strategyRef.name`: a RolloutStrategy
  std::optional<RolloutStrategySpec> strategy;  // `strategy`: inline
  bool paused = false;                          // no member gets a new revision while true
  friend bool operator==(const WorkloadRolloutSpec&, const WorkloadRolloutSpec&) = default;
};

// One immutable revision of a workload's template (`status.revisions[i]`).
struct WorkloadRevision {
  int64_t revision = 0;
  std::string template_hash;  // `templateHash`: RenderedHash-style hash of the template
  nlohmann::json template_;   // `template`: the template as it was
  std::string created;        // RFC 3339
  friend bool operator==(const WorkloadRevision&, const WorkloadRevision&) = default;
};

// The revision a member is meant to run (`status.rollout.members[i]`).
struct MemberRevision {
  std::string cluster;
  int64_t revision = 0;
  friend bool operator==(const MemberRevision&, const MemberRevision&) = default;
};

// `status.rollout.derived[i]`: the regions an expanding stage (RolloutStage::expand) took when
// the rollout started, in order; members of other regions fall to later stages.
struct DerivedStage {
  std::string stage;  // the strategy's stage name
  std::vector<std::string> regions;
  friend bool operator==(const DerivedStage&, const DerivedStage&) = default;
};

// `status.rollout`: the stage machine's persisted state (rollout/stage_machine.h); a
// restarted controller continues from it.
struct RolloutStatus {
  int64_t revision = 0;         // the revision being rolled out (or last rolled out)
  int64_t stable_revision = 0;  // `stableRevision`: the last revision every member completed
  // Progressing | WaitingForApproval | Draining (a drained stage waits for resolvers to forget
  // its members: drainUntil) | WaitingForDrill (a running FailoverDrill targets the next
  // member) | Waiting (afterStageWait) | Paused | Halted | RolledBack | Complete
  std::string phase;
  int32_t stage = 0;       // index of the current stage (== stage count when every stage passed)
  std::string stage_name;  // `stageName`
  std::vector<std::string> started;  // members of the current stage given `revision` so far
  // RFC 3339 with milliseconds. batchStartedAt: when the latest members were given the
  // revision (gate timeout and soak count from it); readySince: since when every started member
  // is ready; gatesPassedAt: when the gates passed; pausedAt: since when a pause/drill wait.
  std::string batch_started_at, ready_since, gates_passed_at, paused_at;
  // `prometheusOkSince`: since when every evaluation of the stage's prometheus gate was <= max
  // (the start of its `forSeconds`; "" while the last one failed or was above max).
  std::string prometheus_ok_since;
  // `afterPassedAt`: when the stage's after-gates that judge health (after.prometheus) passed.
  std::string after_passed_at;
  // `approvalPoint`, while WaitingForApproval: "before" (the stage waits to start) | "after"
  // (the stage passed its gates and waits to complete).
  std::string approval_point;
  // `failedGate`: ready | soak | restarts | prometheus | after.prometheus
  std::string failed_gate;
  std::string message;
  std::vector<MemberRevision> members;  // the revision each placed member is meant to run
  std::vector<DerivedStage> derived;    // one per expanding stage of the strategy
  // DNS drain (RolloutStage::drain) of the current stage: "" (none asked, or no spec.dns) |
  // Drained (its members are left out of DNS answers while it changes them) | OneAtATime (no
  // other member may answer their clients: not drained, changed one at a time).
  std::string drain;
  // The members the workload's DNS name does not answer now (the DNS controller writes them
  // unhealthy, weight 0): the current stage's when Drained, and any drained member until it
  // runs, ready, a revision that passed its gates on it (after a halt or rollback too).
  std::vector<std::string> drained;
  // `drainUntil` (RFC 3339, ms): a Drained stage changes no member before this time, the
  // moment it was drained plus the name's DNS TTL, when every resolver's cached answer that
  // still named its members has expired.
  std::string drain_until;
  friend bool operator==(const RolloutStatus&, const RolloutStatus&) = default;
};

// The annotation `fedctl rollout approve` sets: "<revision>/<stage name>" approves the start of
// that stage of that revision's rollout, "<revision>/<stage name>/after" its completion (an
// approval never carries over to another rollout or the other point).
inline constexpr char kRolloutApprovedAnnotation[] = "rollout.federation.meridian.io/approved";
// The annotation's value approving `stage` of `revision` at `point` ("before" | "after").
std::string RolloutApproval(int64_t revision, const std::string& stage, const std::string& point);

// Strict decoders: every problem is added to `errors` with its path under `path`
// (e.g. "spec.rollout.strategy"). Stage names must be unique DNS labels, a cluster may be
// named by one stage only, maxConcurrency >= 1 when given, times >= 0, at least one stage,
// expand one of regionBySize | regionPerContinent, continentLabel with regionPerContinent only,
// a prometheus gate (the stage's or after it) with a query of sound shape (PromQlShapeError)
// and a finite max; groups with unique names, non-empty selectors within the stage's selector
// (a cluster or region the stage's selector leaves out is refused), a cluster named by one
// group only; a stage maxConcurrency beside them is the stage-wide cap.
RolloutStrategySpec DecodeRolloutStrategySpec(const nlohmann::json& j, const std::string& path,
                                              FieldErrors* errors);
nlohmann::json EncodeRolloutStrategySpec(const RolloutStrategySpec& s);
// `spec.rollout`: exactly one of strategyRef and strategy.
WorkloadRolloutSpec DecodeWorkloadRolloutSpec(const nlohmann::json& j, const std::string& path,
                                              FieldErrors* errors);
nlohmann::json EncodeWorkloadRolloutSpec(const WorkloadRolloutSpec& s);

std::vector<WorkloadRevision> DecodeRevisions(const nlohmann::json& j, const std::string& path,
                                              FieldErrors* errors);
nlohmann::json EncodeRevisions(const std::vector<WorkloadRevision>& r);
RolloutStatus DecodeRolloutStatus(const nlohmann::json& j, const std::string& path,
                                  FieldErrors* errors);
nlohmann::json EncodeRolloutStatus(const RolloutStatus& s);

// Why `query` cannot be PromQL, from its shape alone ("" when it may be): empty, control
// characters, a string literal not closed, brackets ((), [], {}) not balanced. The query's
// meaning is Prometheus' to judge when the gate is evaluated.
std::string PromQlShapeError(const std::string& query);

// The stable hash (16 hex digits) of a workload template, by which revisions are told apart.
std::string TemplateHash(const nlohmann::json& template_);

}  // namespace meridian::api
