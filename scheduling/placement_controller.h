// The placement controller: keeps every FederatedWorkload's status.placement equal to what
// the placement engine says for the current fleet.
//
// Level-triggered: a change to a MemberCluster (other than its summary or probe time), Topology,
// ResidencyPolicy or FailoverDrill makes the next pass whole: the worker rebuilds the placement
// World from the informers' caches and re-places every workload (the engine's cost is ~15 µs per
// workload over 1,000 clusters). A change to FederatedWorkloads alone re-places those that
// changed, and with them every workload that shares capacity when a changed one does (the
// capacity ledger is global and ordered) — on a busy fleet most changes are one workload's
// status, and a whole pass per change starved the one placement thread. A recheck the engine
// asked for makes the pass whole when it is due. A status is
// written only when it differs (compare-and-swap on resourceVersion; a lost race re-queues).
// Recovery hysteresis comes from the engine: when it asks to be asked again later
// (recheck_after), the worker wakes up then even if nothing changed.
//
// Failures: an unreachable member drops out at once (its replacements start elsewhere at
// once); any reachable member that is to give up replicas (a failed zone, a rebalance after a
// recovery) keeps its old replicas until their replacements are ready
// (KeepUntilReplacementsReady). Workloads share the members' capacity, oldest first
// (CapacityLedger in scheduling/placement_inputs.h). Every running live
// FailoverDrill's target is treated as failed, and as recovered when the drill ends
// (scheduling/placement_inputs.h), so replicas return after recoveryDelaySeconds as after an
// outage. Workloads of one affinity group (scheduling/affinity_groups.h) are placed together,
// at the turn of the group's oldest member: the leader, then the followers on its clusters;
// each gets condition AffinityGroup.
//
// Everything goes through the ObjectService, the same API kubectl and fedctl use.
// Status fields written: observedGeneration, placement[], unplacedReplicas, desiredReplicas,
// conditions Placed, Degraded and (for residency-bound workloads) ResidencyConflict (other
// conditions and the sync fields are kept).
//
// Evidence (residency/ledger_writer.h, when the API serves ResidencyEvidence): a Placement
// entry whenever the placement of a residency-bound workload changes (clusters with their
// jurisdictions and replica counts, retained replicas, unplaced, what residency allows), one
// with no clusters when it is deleted, and one marked unbound when no residency governs it
// any more. Unchanged passes record nothing; after a restart each workload's placement is
// recorded once again.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "api/informers.h"
#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "placement/engine.h"
#include "placement/world.h"
#include "residency/ledger_writer.h"
#include "residency/policy.h"
#include "scheduling/placement_inputs.h"

namespace meridian::scheduling {

// ---- Pure core ----

// ClusterStateFrom, ResidencyRulesFor, EngineWorkload, what-if failures and live drills:
// scheduling/placement_inputs.h.

// The health monitor's view of a member (before live drills are applied).
struct SeenMember {
  bool reachable = true;
  std::optional<Timestamp> back_since;  // when it answered again after being unreachable
};
using SeenMembers = std::map<std::string, SeenMember>;
SeenMembers SeenFrom(const std::vector<api::MemberCluster>& members);

// Make-before-break for every move: where a reachable member is given fewer replicas than
// `workload.status.placement` lists for it (a failed zone, a rebalance after a recovery, a
// weight change), it keeps the old count (a reason line says so) until every other member of
// `placement` reports its new count ready (status.clusters[].readyReplicas, written by the
// propagation controller); then the count drops. Not kept: an unreachable member (its
// replacements simply start at once) and a member a filter now excludes (selector,
// residency, latency: a rule, not a move). Level-triggered: decided from the statuses alone,
// so repeated passes agree. The engine's rolling return waits for this surge to end before
// its next step (placement/engine.h).
// `seen` (when given) decides reachability instead of the World: a live drill's target is
// unreachable for placement but really serving, so its replicas too stay until their
// replacements are ready — a declared drill rehearses the move without costing
// availability. (An injected drill is no drill to placement: its target really fails, the
// health monitor sees it, and an unreachable member's replicas are retained, not kept.)
void KeepUntilReplacementsReady(const api::FederatedWorkload& workload,
                                const placement::World& world, const placement::Result& result,
                                std::vector<api::ClusterPlacement>* placement,
                                const SeenMembers* seen = nullptr);

// The status `workload` should have after placing it; `recheck_after` receives the engine's
// request to be asked again. Keeps fields and conditions this controller does not own.
// ---- Retention: never delete what you cannot see, never kill what is still serving ----
//
// An unreachable member may only have lost its link to us while its replicas keep serving.
// Placement moves its share elsewhere at once (replacements start), but the replicas it ran
// are *retained* (status.retained): the propagation controller leaves them as they are
// (sync/propagation.h ReplicasForMember), and they are never counted as placed. When the
// member answers again they stay — serving — until recoveryDelaySeconds have passed since it
// came back and every placed member holds its count ready; then they are released into the
// member's current assignment, so the member keeps what its share allows and only the surplus
// goes (make-before-break, like any move). A member that flaps keeps its replicas throughout:
// no deletion storm. Live drills do not retain: their target is reachable and its replicas
// must really move (retention follows the health monitor's view, not the drill's).

// Splits status.retained into the lines still retained at `now` (returned) and those that
// may go (`released`). `recheck_after` gets when the earliest recovery delay ends.
std::vector<api::ClusterPlacement> StillRetained(const api::FederatedWorkload& workload,
                                                 const SeenMembers& seen, Timestamp now,
                                                 std::vector<api::ClusterPlacement>* released,
                                                 std::optional<Duration>* recheck_after);

// After placing: every member of the previous placement that is unreachable now retains the
// replicas it ran (merged into `retained`, the larger count wins). Not for a member that a
// filter now excludes (residency, selector, latency: a rule, not an outage).
void RetainUnseen(const api::FederatedWorkload& workload, const SeenMembers& seen,
                  const placement::World& world, const placement::Result& result,
                  std::vector<api::ClusterPlacement>* retained);

// The condition a workload gets when its own placement names places outside its allowed
// jurisdictions (residency/policy.h PlacementResidencyConflicts): True with every conflicting
// field while it lasts, False once resolved (absent while there never was one). The
// controller also records a Warning Event of this reason whenever it turns True or changes.
inline constexpr char kResidencyConflict[] = "ResidencyConflict";

// `used_by_others`: capacity other workloads hold (CapacityLedger), empty when not shared.
// `seen`: the members as the health monitor sees them; null: no retention.
// `affinity`: the workload's affinity-group restriction (scheduling/affinity_groups.h);
// `placed_on` (when given) receives where the engine put replicas (names, sorted), which a
// group's leader passes on to its followers.
api::FederatedWorkloadStatus PlacedStatus(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies,
    placement::Engine& engine, Timestamp now, std::optional<Duration>* recheck_after,
    std::span<const int64_t> used_by_others = {}, const SeenMembers* seen = nullptr,
    const std::optional<placement::AffinityRestriction>& affinity = std::nullopt,
    std::vector<std::string>* placed_on = nullptr);

// ---- Shell ----

class PlacementController {
 public:
  // `objects` and `clock` must outlive the controller, and so must `informers` (the
  // process's shared informers, over `objects`) when given; without, the controller has its
  // own.
  PlacementController(apimachinery::ObjectService& objects, const Clock& clock,
                      apimachinery::SharedInformerFactory* informers = nullptr);
  ~PlacementController();  // Stop()s
  PlacementController(const PlacementController&) = delete;
  PlacementController& operator=(const PlacementController&) = delete;

  // Starts the informers (one LIST each unless already started) and the worker thread.
  // Errors: an informer could not start.
  Status Start();
  // Stops watches and the worker. Idempotent.
  void Stop();

  // One full pass: reads the fleet and every workload from the informers' caches (relisted
  // first when the controller is not started: no watch keeps them current), writes the
  // statuses that differ.
  // Returns how many statuses were written; the earliest recheck the engine asked for goes
  // to `recheck_after`. Called by the worker; public so tests drive it with a FakeClock.
  // Not to be called concurrently with itself.
  StatusOr<int> ReconcileAll(std::optional<Duration>* recheck_after = nullptr);

 private:
  // The informer's workloads, shared read-only.
  using Workloads = std::vector<std::shared_ptr<const api::FederatedWorkload>>;
  // One pass of the worker: a whole pass (ReconcileAll) after a change to the fleet, when a
  // recheck the engine asked for is due, or after an error; otherwise a pass over the
  // workloads that changed (Reconcile). Returns when to run again.
  std::optional<std::chrono::milliseconds> Pass();
  // `only`: the "ns/name" of the workloads that changed since the last pass (null: all).
  StatusOr<int> Reconcile(const std::set<std::string>* only,
                          std::optional<Duration>* recheck_after);
  // An informer's change: `whole` for one that can move any workload's placement, else
  // `workload` (may be null) is queued for the next pass. Wakes the worker.
  void MarkChanged(bool whole, const api::FederatedWorkload* workload);
  // A Warning Event when `after` turns ResidencyConflict True (or changes what conflicts).
  // Placed/Rescheduled/Overflowed/Returned/Retained/FailedPlacement (placement_events.h)
  // for a status just written.
  void RecordPlacementEvents(const api::FederatedWorkload& before,
                             const api::FederatedWorkloadStatus& after);
  void RecordResidencyConflict(const api::FederatedWorkload& before,
                               const api::FederatedWorkloadStatus& after);

  // What a pass's placement of one workload is, for the evidence ledger: the parts of its
  // status RecordPlacements reads (a pass over 10,000 workloads kept every whole status).
  struct PlacementInEffect {
    std::vector<api::ClusterPlacement> placement;
    std::vector<api::ClusterPlacement> retained;
    int64_t unplaced_replicas = 0;
  };
  // Placement entries for what changed in this pass (see the file comment).
  void RecordPlacements(const PlacementInputs& inputs, const Workloads& workloads,
                        const placement::World& world,
                        const std::map<std::string, PlacementInEffect>& in_effect);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  std::shared_ptr<residency::EvidenceLedger> ledger_;    // null without ResidencyEvidence
  std::map<std::string, nlohmann::json> recorded_;       // "ns/name" -> last Placement data
  std::unique_ptr<apimachinery::EventRecorder> events_;  // null without an events resource
  std::unique_ptr<apimachinery::SharedInformerFactory> own_informers_;  // when none was given
  apimachinery::SharedInformerFactory& informers_;
  api::FleetInformers fleet_;  // members, topologies, policies, workloads, drills
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the loop dirty
  bool started_ = false;
  std::mutex changes_mu_;  // guards changed_ and whole_pass_due_ (informer threads, the worker)
  std::set<std::string> changed_;  // workloads changed since the last pass began
  bool whole_pass_due_ = true;     // the first pass is whole
  std::optional<Timestamp> recheck_at_;  // the earliest recheck asked for (the worker's own)
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::scheduling
