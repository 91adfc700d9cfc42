// The FailoverDrill controller: runs drills through Pending -> Running -> Completed |
// Aborted | Failed and writes each drill's report into status.report.
//
// simulate: computes what losing the target would do (failover/drill.h SimulateDrill) and
// completes; nothing else changes.
// live: on start, records the placement of the workloads the target hurts and sets phase
// Running. A declared drill (spec.failure, the default): while it is Running the placement
// controller treats its target as failed (a planned evacuation, make-before-break). An
// injected drill (spec.failure injected, or injectFault): the real fault is injected first
// (FaultInjector, membersim's admin API) and nothing else is told — health, placement and
// propagation react as to an unannounced failure (an unreachable target's objects are
// retained), and the report's detection is the health monitor's transition.
// Every `sample_interval` it samples the followed workloads' ready replicas per region, as
// the members report them (DrillControllerOptions::member_clients), into the report's timeline and
// advances the milestones (detected, re-placed, fully ready). It ends, restoring the target in
// every case (phase leaves Running, so placement stops treating it as failed, and an injected fault
// is healed):
//   - Completed after spec.durationSeconds;
//   - Aborted when the annotation drills.meridian.io/abort is "true" (fedctl drill abort);
//   - Aborted when availability falls below abortConditions.minAvailabilityPercent of
//     desired, or (abortConditions.residencyViolation) a sample sees a residency violation,
//     or (abortConditions.dnsAnswersToFailedRegionPercent) a sample after the one that first
//     saw the target failed has more than that share of DNS answers pointing at it
//     (report.abortConditionFired, report.abortReason).
// Game days (spec.schedule / spec.steps, failover/gameday.h) are sequenced here too: each
// step of each run is a drill of its own, created when due.
// A heal that fails is retried every interval after the drill ended (report.faultHealed
// stays false, status.message says why) until it succeeds.
// After the restore the phase is final, but the controller goes on sampling the followed
// workloads every interval into the same timeline until their replicas are back on the
// target and ready (report.events.returnedMs, timeToReturnSeconds from the restore) or
// spec.observeReturnSeconds have passed (returnObservation "notReturned"). A drill with injectFault
// holds the finalizer drills.meridian.io/heal (added with phase Pending, before any injection);
// deleting it heals its fault (retried like any heal) before the finalizer is dropped.
//
// Level-triggered: all progress lives in the drill's status, so a restarted controller
// continues a Running drill from its report. Every decision reads time from the Clock
// (FakeClock in tests); only the worker's waiting between passes uses real time. Status
// writes are compare-and-swap; a lost race is retried on the next pass.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/informers.h"
#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"
#include "failover/drill.h"
#include "failover/drill_fault.h"
#include "sync/member_client_factory.h"

namespace meridian::failover {

inline constexpr char kAbortAnnotation[] = "drills.meridian.io/abort";
// Held by a live drill with injectFault from before the fault is injected until it is healed,
// so that deleting a drill never leaves its fault in place: a deleted drill is healed, then
// the finalizer is dropped and the drill goes.
inline constexpr char kHealFinalizer[] = "drills.meridian.io/heal";

struct DrillControllerOptions {
  // Between two timeline samples of a running drill (and two heal retries).
  std::chrono::milliseconds sample_interval{1000};
  // When set, live drills' samples count what the members hold (their Deployments' and
  // StatefulSets' readyReplicas, listed by Meridian's managed-by label before every sample);
  // a member that does not answer is unverified and counts nothing ready. When null, samples
  // read the workloads' status.clusters (which keeps an unreachable member's last figures).
  sync::MemberClientFactory member_clients;
  // When set, live drills' samples carry what the DNS server answers now for the followed
  // workloads' names, per client region (failover/drill_dns.h): called once per pass, it
  // returns the snapshot the server answers from (which names it serves, its client regions,
  // which endpoint an address belongs to). Null: the process serves no DNS.
  std::function<std::shared_ptr<const dns::Snapshot>()> dns_answers;
  // How the pass's DNS queries are asked (every served name of the fleet's workloads, once
  // per pass, as each client region): the federation-apiserver sends them over UDP to its
  // DNS server (failover/drill_dns_udp.h). Null: in-process, the answer builder over the
  // snapshot (SnapshotDnsTransport; unit tests). Used only by the worker thread.
  std::shared_ptr<DnsQueryTransport> dns_transport;
  // Where game days' time zones are read (TZif files, failover/cron.h).
  std::string zoneinfo_root = "/usr/share/zoneinfo";
};

// What one step of a drill does: the status it should have next, and the fault action the
// shell must perform first (the step assumes it succeeds; see DrillController).
enum class FaultAction { kNone, kInject, kHeal };

// The pure phase machine for one drill at `now`, given the fleet. Returns the next status
// (== drill.status when nothing is due) and the fault action that goes with it.
// `fault_error`, when set, is the error the fault action gave on the previous attempt of
// this same step (the shell calls again with it): an inject error fails the drill; a heal
// error is recorded and retried later. `heal_due` false: a finished drill's heal is not
// retried in this step (the shell spaces retries an interval apart).
// A Completed or Aborted drill watching the return (report.returnObservation "watching",
// spec.observeReturnSeconds) gets a return sample every `sample_interval`; its phase stays.
struct DrillStep {
  api::FailoverDrillStatus status;
  FaultAction fault = FaultAction::kNone;
};
DrillStep NextDrillStep(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                        std::chrono::milliseconds sample_interval,
                        const Status* fault_error = nullptr, bool heal_due = true);

// Whether a drill still needs passes (not final, or final with a fault still to heal or
// its return still watched).
bool DrillNeedsWork(const api::FailoverDrill& drill);

class DrillController {
 public:
  // `objects` and `clock` must outlive the controller. `injector` may be null: a drill
  // with injectFault then fails with a message saying no injector is configured.
  // `informers` (the process's shared informers over `objects`), when given, must outlive
  // the controller too; without, it has its own.
  DrillController(apimachinery::ObjectService& objects, const Clock& clock,
                  std::shared_ptr<FaultInjector> injector, DrillControllerOptions options = {},
                  apimachinery::SharedInformerFactory* informers = nullptr);
  ~DrillController();  // Stop()s
  DrillController(const DrillController&) = delete;
  DrillController& operator=(const DrillController&) = delete;

  // Starts the informers (FailoverDrills wake the worker; the fleet's kinds are read by
  // passes) and the worker thread. Errors: an informer failed to start.
  Status Start();
  // Stops the watch and the worker. Idempotent.
  void Stop();

  // One pass over every drill at clock.Now(): performs due fault actions and writes the
  // statuses that changed. Returns how many statuses were written; `active` (if given)
  // receives whether some drill still needs passes. Errors: listing failed. Called by the
  // worker; public so tests drive it with a FakeClock. Not to be called concurrently.
  StatusOr<int> ReconcileAll(bool* active = nullptr);

 private:
  // One pass of the worker (ReconcileAll), and when to run again: every sample_interval
  // while some drill needs passes.
  std::optional<std::chrono::milliseconds> Pass();
  // A deleted drill: heals its unhealed fault (at most once per interval), then drops the
  // heal finalizer. Returns whether it is released.
  bool ReleaseDeleted(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now);
  // One pass of a game day (failover/gameday.h): creates the step drill that is due, passes an
  // abort on to the step in progress, writes the game day's status. Returns whether a status
  // was written.
  bool ReconcileGameDay(const api::FailoverDrill& game_day,
                        const std::vector<api::FailoverDrill>& drills, Timestamp now);
  // A game day's step drill whose game day is gone: aborted (restored, healed) at once.
  void AbortOrphanedStep(const api::FailoverDrill& drill,
                         const std::vector<api::FailoverDrill>& drills);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  const std::shared_ptr<FaultInjector> injector_;
  const DrillControllerOptions options_;
  // The fleet as a pass reads it: from the informers' caches (relisted first when not
  // started). Errors: a relist failed.
  StatusOr<Fleet> LoadFleet();
  // Applies a successful write of a drill to the drills' cache at once (passes must see
  // their own writes: a step must not run twice), and returns it.
  apimachinery::ApiResult<nlohmann::json> Wrote(apimachinery::ApiResult<nlohmann::json> result);

  std::unique_ptr<apimachinery::SharedInformerFactory> own_informers_;  // when none was given
  apimachinery::SharedInformerFactory& informers_;
  api::FleetInformers fleet_;  // members, topologies, policies, workloads, drills
  std::vector<apimachinery::InformerRegistration> handlers_;  // drills wake the worker
  bool started_ = false;
  // What the members hold of Meridian's workloads now (see DrillControllerOptions).
  MemberReadiness ObserveMembers(const std::vector<api::MemberCluster>& members);
  // This pass's DNS answers for every spec.dns name of `workloads` (null when no snapshot is
  // served): the queries go through options_.dns_transport (in-process without one).
  std::shared_ptr<const DnsObservation> ObserveServedDns(
      const std::vector<api::FederatedWorkload>& workloads);

  // When a finished drill's heal was last tried (touched only by ReconcileAll).
  std::map<std::string, Timestamp> last_heal_attempt_;
  // Clients for ObserveMembers (touched only by ReconcileAll); null without member_clients.
  std::unique_ptr<sync::MemberClientCache> member_clients_;

  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::failover
