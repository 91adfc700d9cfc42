// The rollout controller: keeps every FederatedWorkload's revision history (status.revisions,
// rollout/revisions.h) and, for a workload with spec.rollout, its staged rollout
// (status.rollout, rollout/stage_machine.h): which revision each placed member is meant to
// run. The propagation controller renders each member from the revision assigned to it
// (sync/propagation.h TemplateForMember) and reports back what each member runs and whether
// it is ready (status.clusters[].revision, revisionReady), which is what the gates judge.
//
// A member that a live FailoverDrill targets is given no new revision while the drill lasts
// and, after it, while the drill watches the replicas return: the rollout waits before it
// (phase WaitingForDrill, the condition naming the drill and the member).
//
// A stage with `drain` of a workload with spec.dns leaves its members out of the workload's DNS
// answers while it changes them (status.rollout.drained, which the DNS controller reads from
// its workload informer), or changes them one at a time when the workload's residency lets
// no other member answer (status.rollout.drain: OneAtATime). A Drained stage changes no member
// before the workload's DNS TTL has passed since the drain (phase Draining, drainUntil).
//
// A stage's prometheus gate is evaluated with `prometheus` (rollout/prometheus_client.h) when
// the stage machine asks (at most once per EvaluationInterval per workload, each evaluation
// kept for the next passes), off the worker (rollout/prometheus_evaluator.h): the pass that
// asks leaves that workload's rollout as it was, and the answer's arrival runs the next pass,
// so a slow Prometheus holds no other workload. Without one, such a gate's evaluations fail
// at once ("no Prometheus"), so it never passes.
//
// Level-triggered (apimachinery/change_loop.h): a change of a RolloutStrategy, MemberCluster,
// FailoverDrill or ResidencyPolicy runs a pass over every workload; a FederatedWorkload's change
// runs a pass over that workload and every workload with a rollout (their waits, soaks and gates
// end with time), as does the end of a wait, soak or gate timeout. (A pass over every workload on
// each workload change was ~6 % of the API server's CPU while syncing 1,000 workloads.) The rollout's state lives in the
// workload's status only, so a restarted controller continues where the last one stopped. Status
// written: revisions, rollout and the condition Rollout (compare-and-swap; a lost race re-reads and
// retries); other fields are kept. Events: RolloutStarted, RolloutStageStarted,
// RolloutWaitingForApproval, RolloutWaitingForDrill, RolloutDrained, RolloutNotDrained,
// RolloutDrainRestored, RolloutComplete (Normal), RolloutHalted,
// RolloutRolledBack (Warning), naming the stage and failed gate.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"
#include "rollout/prometheus_evaluator.h"
#include "rollout/prometheus_gate.h"

namespace meridian::rollout {

class RolloutController {
 public:
  // `objects` and `clock` must outlive the controller, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own.
  // `prometheus` (may be empty) is called on the evaluator's thread only, one query at a time.
  RolloutController(apimachinery::ObjectService& objects, const Clock& clock,
                    apimachinery::SharedInformerFactory* informers = nullptr,
                    PrometheusQuery prometheus = nullptr);
  ~RolloutController();  // Stop()s
  RolloutController(const RolloutController&) = delete;
  RolloutController& operator=(const RolloutController&) = delete;

  // Starts the informers (one LIST each unless already started) and the worker. Errors: an
  // informer could not start.
  Status Start();
  // Stops the watches and waits for a running pass. Idempotent.
  void Stop();

  // One pass over every workload, read from the informers' caches (tests drive the
  // controller with it, without Start: then it LISTs first).
  // Returns the status writes made; `next` receives when time alone next changes an answer.
  StatusOr<int> ReconcileAll(std::optional<Timestamp>* next = nullptr);

 private:
  // A pass over the workloads `keys` names (those still cached) and every workload with a
  // rollout; over every workload when `keys` is null (ReconcileAll).
  StatusOr<int> Reconcile(const std::set<apimachinery::InformerKey>* keys,
                          std::optional<Timestamp>* next);
  // The evaluation of `query` for workload `key`: the one that finished since the last pass,
  // or nullopt after asking for it (off the worker). Without a Prometheus, a failed one at once.
  std::optional<PrometheusSample> Evaluation(const std::string& key, const std::string& query);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  std::unique_ptr<apimachinery::EventRecorder> events_;  // null without core/v1 events
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::MemberCluster>& members_;
  apimachinery::SharedInformer<api::RolloutStrategy>& strategies_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_;
  apimachinery::SharedInformer<api::FailoverDrill>& drills_;
  // What a workload's DNS name may answer (a stage's drain, rollout/stage_machine.h).
  apimachinery::SharedInformer<api::ResidencyPolicy>& policies_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the loop dirty
  PrometheusQuery prometheus_;
  // The latest prometheus evaluation per workload ("ns/name"), touched by the pass only.
  std::map<std::string, PrometheusSample> samples_;
  // Workloads with spec.rollout or status.rollout as the last pass saw them: every pass looks
  // at them (time alone moves a rollout on). Touched by the pass only.
  std::set<apimachinery::InformerKey> rolling_;
  std::mutex changes_mu_;  // guards changed_ and whole_pass_due_ (informer threads, the loop)
  std::set<apimachinery::InformerKey> changed_;  // workloads changed since the last pass
  bool whole_pass_due_ = true;  // the first pass, and after a change to the fleet or strategies
  bool started_ = false;  // set before the loop starts: its passes read the caches as they are
  apimachinery::ChangeLoop loop_;
  // After loop_ (destroyed first: its thread calls loop_.MarkDirty); null without prometheus_.
  std::unique_ptr<PrometheusEvaluator> evaluator_;
};

}  // namespace meridian::rollout
