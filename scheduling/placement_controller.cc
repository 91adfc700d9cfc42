#include "scheduling/placement_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/explanation.h"
#include "api/informers.h"
#include "api/typed_list.h"
#include "common/parallel.h"
#include "observability/metrics.h"
#include "placement/affinity.h"
#include "scheduling/affinity_groups.h"
#include "scheduling/placement_events.h"

namespace meridian::scheduling {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

constexpr char kWho[] = "placement controller";
// Status writes of one pass in flight at once: enough to fill a group commit (a pass after a
// fleet change writes up to every workload's status), few enough not to crowd the API's other
// writers.
constexpr size_t kStatusWritesInFlight = 16;
// Statuses computed before they are written (a pass writes as it goes, in batches of this).
constexpr size_t kStatusWriteBatch = 256;

}  // namespace

namespace {

// A workload whose template has replicas takes room on its members, which the capacity
// ledger shares out in priority order; a copied template (no replicas) takes none.
bool SharesCapacity(const api::FederatedWorkload& w) {
  return api::TemplateReplicas(w.spec).has_value();
}

}  // namespace

void KeepUntilReplacementsReady(const api::FederatedWorkload& workload,
                                const placement::World& world, const placement::Result& result,
                                std::vector<api::ClusterPlacement>* placement,
                                const SeenMembers* seen) {
  std::map<std::string, int64_t> previous, ready;
  for (const api::ClusterPlacement& p : workload.status.placement) previous[p.cluster] = p.replicas;
  for (const api::ClusterSyncStatus& c : workload.status.clusters)
    ready[c.cluster] = c.ready_replicas;
  auto now_of = [&](const std::string& name) -> int64_t {
    for (const api::ClusterPlacement& p : *placement) {
      if (p.cluster == name) return p.replicas;
    }
    return 0;
  };
  // A filter that now excludes the cluster (selector, residency, latency) is a rule, not a
  // move: its replicas go at once.
  // An affinity group's filter (another member's constraints) is a rule too; its leader
  // moving elsewhere (kAffinityLeader) is a move, made like any other.
  constexpr uint32_t kExcluded =
      placement::kSelector | placement::kResidency | placement::kLatency | placement::kAffinity;
  // Members giving up replicas while they can still run them: reachable, fewer than before.
  std::vector<std::pair<std::string, int64_t>> draining;
  for (const auto& [name, before] : previous) {
    std::optional<uint32_t> i = world.FindCluster(name);
    if (!i) continue;
    bool reachable = world.cluster(*i).reachable;
    if (seen) {
      auto it = seen->find(name);
      reachable = it != seen->end() && it->second.reachable;
    }
    if (!reachable) continue;
    const placement::ClusterPlacement* line = result.Find(*i);
    if (line && (line->limited_by & kExcluded)) continue;
    if (now_of(name) < before) draining.emplace_back(name, before);
  }
  if (draining.empty()) return;
  // Replacements are ready when every other member holds its new count ready.
  auto is_draining = [&](const std::string& name) {
    return std::any_of(draining.begin(), draining.end(),
                       [&](const auto& d) { return d.first == name; });
  };
  int64_t short_by = 0;
  for (const api::ClusterPlacement& p : *placement) {
    if (is_draining(p.cluster)) continue;
    short_by += std::max<int64_t>(0, p.replicas - (ready.count(p.cluster) ? ready[p.cluster] : 0));
  }
  auto line_of = [&](const std::string& name) -> api::ClusterPlacement& {
    auto it = std::find_if(placement->begin(), placement->end(),
                           [&](const api::ClusterPlacement& p) { return p.cluster == name; });
    if (it != placement->end()) return *it;
    api::ClusterPlacement p;
    p.cluster = name;
    return *placement->insert(
        std::upper_bound(placement->begin(), placement->end(), name,
                         [&](const std::string& n, const api::ClusterPlacement& q) {
                           return world.FindCluster(n) < world.FindCluster(q.cluster);
                         }),
        std::move(p));
  };
  if (short_by > 0) {
    for (const auto& [name, before] : draining) {
      api::ClusterPlacement& line = line_of(name);
      const int64_t kept = before - line.replicas;
      line.replicas = before;
      line.reasons.push_back(name + ": keeps " + std::to_string(kept) +
                             " old replicas until their replacements are ready elsewhere (" +
                             std::to_string(short_by) + " not ready yet)");
    }
    return;
  }
  // The replacements are ready: a healthy member's surplus (the overflow it took, once the
  // replicas return home) drains at a bounded pace. It gives up at most one recovery step
  // (recoveryMaxReplicasPerStep) at a time, and the next only once it has let go of the last
  // (it reports no more ready than it was asked for), so a big move is never one burst of
  // deletions. Not paced: a member that is failing (a failed zone, a live drill's target:
  // what it holds there is what placement moves away) and a scale-down of the workload (the
  // user's own call).
  if (result.total < workload.status.desired_replicas) return;
  const int64_t step =
      workload.spec.placement.failover.recovery_max_replicas_per_step.For(result.total);
  for (const auto& [name, before] : draining) {
    const uint32_t i = *world.FindCluster(name);  // draining members are in the World
    if (!world.cluster(i).reachable || world.zone_failed(i)) continue;
    api::ClusterPlacement& line = line_of(name);
    const int64_t target = line.replicas;
    const bool shed_last = !ready.count(name) || ready[name] <= before;
    const int64_t now = shed_last ? std::max(target, before - step) : before;
    if (now == target) continue;
    line.replicas = now;
    line.reasons.push_back(name + ": drains at most " + std::to_string(step) +
                           " per step (recoveryMaxReplicasPerStep): " + std::to_string(now) +
                           " now, " + std::to_string(now - target) + " to go");
  }
}

SeenMembers SeenFrom(const std::vector<api::MemberCluster>& members) {
  SeenMembers seen;
  for (const api::MemberCluster& m : members) {
    const placement::ClusterState c = ClusterStateFrom(m);
    seen[m.metadata.name] = SeenMember{c.reachable, c.healthy_since};
  }
  return seen;
}

std::vector<api::ClusterPlacement> StillRetained(const api::FederatedWorkload& workload,
                                                 const SeenMembers& seen, Timestamp now,
                                                 std::vector<api::ClusterPlacement>* released,
                                                 std::optional<Duration>* recheck_after) {
  std::vector<api::ClusterPlacement> kept;
  const Duration delay(int64_t{workload.spec.placement.failover.recovery_delay_seconds} * 1000);
  // Every placed member holds its count ready (the replacements are in).
  bool replacements_ready = true;
  for (const api::ClusterPlacement& p : workload.status.placement) {
    replacements_ready &= ReadyOn(workload.status, p.cluster) >= p.replicas;
  }
  for (api::ClusterPlacement line : workload.status.retained) {
    auto it = seen.find(line.cluster);
    if (it == seen.end() || line.replicas <= 0) continue;  // left the federation: nothing to keep
    const SeenMember& m = it->second;
    if (m.reachable) {
      const Timestamp until = m.back_since ? *m.back_since + delay : Timestamp{};
      if (now >= until && replacements_ready) {
        released->push_back(std::move(line));
        continue;
      }
      if (now < until) {
        const Duration left = std::chrono::duration_cast<Duration>(until - now);
        if (!*recheck_after || left < **recheck_after) *recheck_after = left;
      }
      line.reasons = {line.cluster + ": back, its " + std::to_string(line.replicas) +
                      " running replicas stay until recoveryDelaySeconds (" +
                      std::to_string(workload.spec.placement.failover.recovery_delay_seconds) +
                      ") has passed and the replacements are ready"};
    } else {
      line.reasons = {line.cluster + ": unreachable, its " + std::to_string(line.replicas) +
                      " replicas are left as they are (never delete what cannot be seen); "
                      "replacements are placed elsewhere"};
    }
    kept.push_back(std::move(line));
  }
  return kept;
}

void RetainUnseen(const api::FederatedWorkload& workload, const SeenMembers& seen,
                  const placement::World& world, const placement::Result& result,
                  std::vector<api::ClusterPlacement>* retained) {
  // An affinity group's filter (another member's constraints) is a rule too; its leader
  // moving elsewhere (kAffinityLeader) is a move, made like any other.
  constexpr uint32_t kExcluded =
      placement::kSelector | placement::kResidency | placement::kLatency | placement::kAffinity;
  for (const api::ClusterPlacement& p : workload.status.placement) {
    auto it = seen.find(p.cluster);
    if (it == seen.end() || it->second.reachable || p.replicas <= 0) continue;
    if (std::optional<uint32_t> i = world.FindCluster(p.cluster)) {
      const placement::ClusterPlacement* line = result.Find(*i);
      if (line && (line->limited_by & kExcluded)) continue;
    }
    auto same =
        std::find_if(retained->begin(), retained->end(),
                     [&](const api::ClusterPlacement& r) { return r.cluster == p.cluster; });
    if (same == retained->end()) {
      api::ClusterPlacement r;
      r.cluster = p.cluster;
      r.replicas = p.replicas;
      r.reasons = {p.cluster + ": unreachable, its " + std::to_string(p.replicas) +
                   " replicas are left as they are (never delete what cannot be seen); "
                   "replacements are placed elsewhere"};
      retained->push_back(std::move(r));
    } else if (same->replicas < p.replicas) {
      same->replicas = p.replicas;
      same->reasons = {p.cluster + ": unreachable, its " + std::to_string(p.replicas) +
                       " replicas are left as they are (never delete what cannot be seen); "
                       "replacements are placed elsewhere"};
    }
  }
  std::sort(retained->begin(), retained->end(),
            [](const api::ClusterPlacement& a, const api::ClusterPlacement& b) {
              return a.cluster < b.cluster;
            });
}

// status.explanation: one decision per cluster of the fleet, those holding nothing grouped by
// reason and detail (api/explanation.h), and the overflow candidates in order.
// A placed cluster's sentence is left to its line in `placement_lines` when that says it.
static api::PlacementExplanation Explanation(
    const placement::World& world, const placement::Workload& w, const placement::Result& r,
    Timestamp now, const std::vector<api::ClusterPlacement>& placement_lines) {
  std::vector<api::ClusterDecision> decisions;
  decisions.reserve(world.size());
  for (uint32_t i = 0; i < world.size(); ++i) {
    placement::ClusterReason why = placement::Why(world, w, r, i, now);
    decisions.push_back({world.cluster(i).name, why.replicas, placement::ReasonName(why.reason),
                         std::move(why.message)});
  }
  api::PlacementExplanation out = api::GroupDecisions(std::move(decisions), placement_lines);
  out.overflow = placement::ExplainOverflow(world, w, r, now);
  return out;
}

api::FederatedWorkloadStatus PlacedStatus(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies,
    placement::Engine& engine, Timestamp now, std::optional<Duration>* recheck_after,
    std::span<const int64_t> used_by_others, const SeenMembers* seen,
    const std::optional<placement::AffinityRestriction>& affinity,
    std::vector<std::string>* placed_on) {
  const placement::World& world = engine.world();
  const bool copied = !api::TemplateReplicas(workload.spec).has_value();
  std::vector<api::ClusterPlacement> retained, released;
  std::optional<Duration> retention_recheck;
  // Copied templates (a Service, a ConfigMap) are retained too: deleting a member's Service
  // because we lost sight of it for a moment would cost it its load balancer address.
  if (seen) retained = StillRetained(workload, *seen, now, &released, &retention_recheck);
  // Residency is hard: a member residency now forbids keeps no retained replicas, whatever its
  // recovery delay, reachable or not (a rule, not an outage: RetainUnseen never retains there
  // either, and make-before-break keeps nothing there). Propagation then never writes to it
  // again and removes the objects as soon as it reaches it. Found by the residency torture
  // test: a policy tightened while a member was away or coming back kept (and patched) its
  // replicas there.
  if (!retained.empty()) {
    const placement::AllowedJurisdictions allowed =
        residency::AllowedJurisdictionsFor(workload, policies);
    std::erase_if(retained, [&](const api::ClusterPlacement& line) {
      std::optional<uint32_t> i = world.FindCluster(line.cluster);
      return i && !placement::ClusterAllowed(world, *i, allowed);
    });
  }
  // Released replicas are what their member runs now: its current assignment for the engine
  // and its previous count for make-before-break. The workload is copied only then (rarely).
  std::optional<api::FederatedWorkload> with_released;
  if (!released.empty()) {
    with_released = workload;
    with_released->status.placement = LargerOfEach(workload.status.placement, released);
  }
  const api::FederatedWorkload& before = with_released ? *with_released : workload;
  placement::Workload w = EngineWorkload(before, policies, world);
  w.affinity = affinity;
  // every_eligible: the explanation names every cluster, including those that get nothing.
  // The decision's cost on this host (observability/metrics.h): a real steady clock, since
  // what is measured is CPU time, not simulated time.
  static observability::StripedHistogram& decision_seconds =
      observability::PlacementDecisionSeconds();
  const auto started = std::chrono::steady_clock::now();
  placement::Result r = engine.Place(w, now, used_by_others, /*every_eligible=*/true);
  decision_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (placed_on) *placed_on = placement::ClustersHolding(world, r);
  if (recheck_after) {
    *recheck_after = r.recheck_after;
    if (retention_recheck && (!*recheck_after || *retention_recheck < **recheck_after)) {
      *recheck_after = retention_recheck;
    }
  }

  api::FederatedWorkloadStatus status = workload.status;
  status.observed_generation = workload.metadata.generation;
  status.placement.clear();
  for (const placement::ClusterPlacement& line : r.clusters) {
    if (line.replicas == 0) continue;
    api::ClusterPlacement p;
    p.cluster = world.cluster(line.cluster).name;
    p.replicas = line.replicas;
    for (const placement::ZoneHint& hint : r.zones) {
      if (hint.cluster == line.cluster && hint.replicas > 0) {
        p.zones[world.cluster(line.cluster).zones[hint.zone].name] = hint.replicas;
      }
    }
    p.reasons = {placement::Explain(world, w, r, line.cluster)};
    status.placement.push_back(std::move(p));
  }
  if (!copied) KeepUntilReplacementsReady(before, world, r, &status.placement, seen);
  if (seen) RetainUnseen(workload, *seen, world, r, &retained);
  status.retained = std::move(retained);
  status.explanation = Explanation(world, w, r, now, status.placement);
  status.desired_replicas = copied ? r.placed : r.total;
  status.unplaced_replicas = copied ? 0 : r.unplaced;

  api::Condition placed{"Placed", r.placed > 0 || r.total == 0 ? "True" : "False",
                        "",       "",
                        "",       workload.metadata.generation};
  placed.reason = placed.status == "True" ? "Placed" : "NoEligibleCluster";
  // A copied template (a Service, a ConfigMap) is one object per cluster, not replicas.
  placed.message =
      copied ? "copied to " + placement::Count(r.placed, "cluster")
             : std::to_string(r.placed) + " of " + std::to_string(r.total) +
                   (r.total == 1 ? " replica" : " replicas") + " placed on " +
                   placement::Count(static_cast<int64_t>(status.placement.size()), "cluster");
  api::SetCondition(&status.conditions, std::move(placed), now);

  // Degraded only with a cause that is true: unplaced replicas, or coverage (spread,
  // latency, minimums) not achieved although everything is placed.
  std::string unplaced = copied ? "" : placement::ExplainUnplaced(world, w, r);
  api::Condition degraded{"Degraded", unplaced.empty() ? "False" : "True", "", unplaced,
                          "",         workload.metadata.generation};
  degraded.reason = unplaced.empty()                ? "AllPlaced"
                    : r.unplaced > 0                ? "ReplicasUnplaced"
                    : r.unmet & placement::kSpread  ? "SpreadUnmet"
                    : r.unmet & placement::kLatency ? "LatencyUnmet"
                                                    : "MinimumsUnmet";
  api::SetCondition(&status.conditions, std::move(degraded), now);

  // Residency may change under a workload (a new ResidencyPolicy): what its own placement
  // asks for outside the allowed jurisdictions is dropped by the engine, and said here.
  std::vector<residency::ResidencyConflict> conflicts =
      residency::PlacementResidencyConflicts(workload, policies, world);
  if (!conflicts.empty() || api::FindCondition(status.conditions, kResidencyConflict)) {
    std::string message;
    for (const residency::ResidencyConflict& c : conflicts) {
      message += (message.empty() ? "" : "; ") + c.field + ": " + c.message;
    }
    api::Condition conflict{kResidencyConflict,
                            conflicts.empty() ? "False" : "True",
                            conflicts.empty() ? "NoConflict" : "PlacementOutsideJurisdictions",
                            message,
                            "",
                            workload.metadata.generation};
    api::SetCondition(&status.conditions, std::move(conflict), now);
  }
  return status;
}

PlacementController::PlacementController(apimachinery::ObjectService& objects, const Clock& clock,
                                         apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      own_informers_(informers ? nullptr
                               : std::make_unique<apimachinery::SharedInformerFactory>(objects)),
      informers_(informers ? *informers : *own_informers_),
      fleet_(informers_, kWho),
      loop_([this] { return Pass(); }) {
  events_ = apimachinery::EventRecorder::IfServed(
      objects_, clock_, apimachinery::EventRecorderOptions{.component = "placement-controller"});
  ledger_ = residency::EvidenceLedger::For(objects_, clock_);
}

void PlacementController::RecordResidencyConflict(const api::FederatedWorkload& before,
                                                  const api::FederatedWorkloadStatus& after) {
  const api::Condition* now = api::FindCondition(after.conditions, kResidencyConflict);
  if (!events_ || now == nullptr || now->status != "True") return;
  const api::Condition* was = api::FindCondition(before.status.conditions, kResidencyConflict);
  if (was != nullptr && was->status == "True" && was->message == now->message) return;
  apimachinery::ObjectReference ref{api::kApiVersion,     "FederatedWorkload", before.metadata.ns,
                                    before.metadata.name, before.metadata.uid, ""};
  events_->Record(ref, apimachinery::EventType::kWarning, kResidencyConflict, now->message);
}

void PlacementController::RecordPlacementEvents(const api::FederatedWorkload& before,
                                                const api::FederatedWorkloadStatus& after) {
  if (!events_) return;
  std::vector<PlacementEvent> events = PlacementEvents(before.status, after);
  if (events.empty()) return;
  apimachinery::ObjectReference ref{api::kApiVersion,     "FederatedWorkload", before.metadata.ns,
                                    before.metadata.name, before.metadata.uid, ""};
  // meridian_placement_events_total{reason}: Placed, Rescheduled, Overflowed (the overflow
  // events), Returned, Retained, FailedPlacement — a bounded set (placement_events.h).
  static auto& by_reason = prometheus::BuildCounter()
                               .Name("meridian_placement_events_total")
                               .Help(
                                   "Placement events recorded, by reason (Overflowed: replicas "
                                   "moved to overflow clusters).")
                               .Register(observability::Registry());
  for (const PlacementEvent& e : events) {
    events_->Record(ref, e.type, e.reason, e.message);
    by_reason.Add({{"reason", e.reason}}).Increment();
  }
}

PlacementController::~PlacementController() { Stop(); }

Status PlacementController::Start() {
  // A change to the fleet (members, topologies, residency policies, drills): a whole pass.
  auto fleet_changed = [this] { MarkChanged(/*whole=*/true, nullptr); };
  auto fleet_key = [fleet_changed](const apimachinery::InformerKey&) { fleet_changed(); };
  // A member's summary or probe time (rewritten often) changes no placement.
  handlers_.push_back(
      fleet_.members.OnChangeThatMatters(fleet_changed, api::MemberClusterChangeMatters));
  handlers_.emplace_back(fleet_.topologies.cache(),
                         apimachinery::InformerHandlers<api::Topology>{.on_key = fleet_key});
  handlers_.emplace_back(fleet_.policies.cache(),
                         apimachinery::InformerHandlers<api::ResidencyPolicy>{.on_key = fleet_key});
  handlers_.emplace_back(fleet_.drills.cache(),
                         apimachinery::InformerHandlers<api::FailoverDrill>{.on_key = fleet_key});
  // A workload's change: that workload, unless it changes what others may use (see
  // MarkChanged) — a workload that shares capacity appearing as one that does not, or going.
  handlers_.emplace_back(
      fleet_.workloads.cache(),
      apimachinery::InformerHandlers<api::FederatedWorkload>{
          .on_add = [this](const auto& now) { MarkChanged(false, now.get()); },
          .on_update =
              [this](const auto& old, const auto& now) {
                MarkChanged(SharesCapacity(*old) != SharesCapacity(*now), now.get());
              },
          .on_delete =
              [this](const auto& last) { MarkChanged(SharesCapacity(*last), last.get()); }});
  for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
           &fleet_.members, &fleet_.topologies, &fleet_.policies, &fleet_.workloads,
           &fleet_.drills}) {
    if (Status st = informer->Start(); !st.ok()) {
      handlers_.clear();
      return UnavailableError(std::string(kWho) + ": " + st.message());
    }
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void PlacementController::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  loop_.Stop();
  if (own_informers_) own_informers_->Stop();
}

void PlacementController::MarkChanged(bool whole, const api::FederatedWorkload* workload) {
  {
    std::lock_guard lock(changes_mu_);
    if (whole) {
      whole_pass_due_ = true;
    } else if (workload != nullptr) {
      changed_.insert(workload->metadata.ns + "/" + workload->metadata.name);
    }
  }
  loop_.MarkDirty();
}

std::optional<std::chrono::milliseconds> PlacementController::Pass() {
  const Timestamp now = clock_.Now();
  std::set<std::string> changed;
  bool whole = false;
  {
    std::lock_guard lock(changes_mu_);
    changed.swap(changed_);
    // Nothing marked: a wake-up the engine asked for (a recovery delay ending), or the
    // retry of a failed pass. Due rechecks: a whole pass even while workloads keep changing.
    whole = std::exchange(whole_pass_due_, false) || changed.empty() ||
            (recheck_at_ && now >= *recheck_at_);
  }
  std::optional<Duration> recheck;
  StatusOr<int> written = Reconcile(whole ? nullptr : &changed, &recheck);
  if (!written.ok()) {
    spdlog::warn("placement controller: {}", written.status().ToString());
    std::lock_guard lock(changes_mu_);
    whole_pass_due_ = true;
    return std::chrono::milliseconds(1000);  // retry a failed pass shortly
  }
  // A whole pass knows every recheck; a partial one adds its workloads' to the pending one.
  if (whole) recheck_at_.reset();
  if (recheck && (!recheck_at_ || now + *recheck < *recheck_at_)) recheck_at_ = now + *recheck;
  if (!recheck_at_) return std::nullopt;
  return std::max(
      std::chrono::milliseconds(0),
      std::chrono::duration_cast<std::chrono::milliseconds>(*recheck_at_ - clock_.Now()));
}

StatusOr<int> PlacementController::ReconcileAll(std::optional<Duration>* recheck_after) {
  return Reconcile(nullptr, recheck_after);
}

StatusOr<int> PlacementController::Reconcile(const std::set<std::string>* only,
                                             std::optional<Duration>* recheck_after) {
  if (!started_) {
    // No watch keeps the caches current: read the API now (tests drive passes by hand).
    for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
             &fleet_.members, &fleet_.topologies, &fleet_.policies, &fleet_.workloads,
             &fleet_.drills}) {
      MERIDIAN_RETURN_IF_ERROR(informer->Relist());
    }
  }
  // The fleet's small kinds are copied (PlacementInputs holds values); the workloads, a pass's
  // bulk (templates and statuses), are shared read-only from the cache: a pass runs on every
  // workload change, and copying them all cost more than placing them.
  std::vector<api::MemberCluster> members = fleet_.members.cache().Values();
  std::vector<api::Topology> topologies = fleet_.topologies.cache().Values();
  std::vector<api::ResidencyPolicy> policies = fleet_.policies.cache().Values();
  std::vector<api::FailoverDrill> drills = fleet_.drills.cache().Values();
  const Workloads workloads = fleet_.workloads.cache().List();

  PlacementInputs inputs{std::move(members), std::move(topologies), std::move(policies),
                         /*workloads=*/{}, std::move(drills)};
  std::vector<placement::ClusterState> clusters = ClusterStatesFor(inputs);
  MERIDIAN_ASSIGN_OR_RETURN(
      auto world, placement::World::Build(std::move(clusters), MergedTopology(inputs.topologies)));
  placement::Engine engine(world);

  const ResourceInfo& info = api::MeridianResource(objects_, "federatedworkloads", kWho);
  const Timestamp now = clock_.Now();
  int written = 0;
  std::optional<Duration> earliest;
  const SeenMembers seen = SeenFrom(inputs.members);
  // Capacity is shared: oldest first, each against what the others hold.
  const std::vector<size_t> order = PriorityOrder(workloads);
  CapacityLedger ledger(*world);
  for (size_t i : order) {
    const api::FederatedWorkload& w = *workloads[i];
    if (SharesCapacity(w)) ledger.Reserve(i, CurrentAssignment(w.status));
  }
  // The status each workload has after this pass (unchanged or written), for the evidence:
  // only for the workloads RecordPlacements writes an entry of, those bound to jurisdictions
  // and those it recorded before (all of a pass's placements, 10,000 workloads x 100 members,
  // were a few hundred MB held until the pass ended).
  std::map<std::string, PlacementInEffect> in_effect;  // only with the evidence ledger
  auto keep_in_effect = [&](const api::FederatedWorkload& w, std::string key,
                            api::FederatedWorkloadStatus& status) {
    if (!ledger_) return;
    if (recorded_.count(key) == 0 &&
        !residency::AllowedJurisdictionsFor(w, inputs.policies).bound) {
      return;
    }
    in_effect[std::move(key)] = PlacementInEffect{
        std::move(status.placement), std::move(status.retained), status.unplaced_replicas};
  };
  // Affinity groups are placed as units, at their oldest member's turn, leader first.
  std::vector<const api::FederatedWorkload*> all;
  all.reserve(workloads.size());
  for (const auto& shared : workloads) all.push_back(shared.get());
  FleetAffinityGroups groups(all, order, inputs.policies, engine);
  // Which workloads this pass places: all of them, or (a pass for changed workloads while the
  // fleet stands still) those that changed, plus every workload that shares capacity when one
  // of those that changed does (the ledger is placed in priority order: one workload's
  // change can move any other's share, and a priority change reorders them), and every
  // workload of a group when one of a group changed. The others' placement would come out
  // as it is: same fleet, same workload, same engine. A workload that held capacity and went
  // (or stopped sharing) made its informer handler ask for a whole pass.
  std::vector<bool> placing(workloads.size(), only == nullptr);
  if (only != nullptr) {
    // The label, not AffinityGroupOf: a member leaving its group (being deleted, relabelled to
    // "") still moves the others.
    auto grouped = [](const api::FederatedWorkload& w) {
      return w.metadata.labels.count(api::kAffinityGroupLabel) > 0;
    };
    bool others_move = false;  // a changed workload shares capacity, or is in a group
    std::string key;           // reused: no allocation per workload on a pass for one change
    for (size_t i = 0; i < workloads.size(); ++i) {
      const api::FederatedWorkload& w = *workloads[i];
      key.assign(w.metadata.ns).append("/").append(w.metadata.name);
      if (only->count(key) == 0) continue;
      placing[i] = true;
      others_move = others_move || SharesCapacity(w) || grouped(w);
    }
    if (others_move) {
      for (size_t i = 0; i < workloads.size(); ++i) {
        placing[i] = placing[i] || SharesCapacity(*workloads[i]) || grouped(*workloads[i]);
      }
    }
  }
  // The statuses that differ, written after the loop.
  struct StatusWrite {
    const api::FederatedWorkload* before;
    api::FederatedWorkload updated;
    std::string key;
    apimachinery::ApiResult<nlohmann::json> result =
        apimachinery::ApiError::Internal("not written");
  };
  // The statuses that differ are written kStatusWriteBatch at a time as the pass goes
  // (kStatusWritesInFlight of them at once: each write waits for the store's commit, and
  // writes in flight share one, ForEachInParallel), so a whole pass over 10,000 workloads
  // does not hold a copy of each before writing any. Nothing in the loop depends on a
  // write's outcome: a lost race re-queues the workload for the next pass.
  std::vector<StatusWrite> writes;
  auto flush = [&] {
    ForEachInParallel(writes.size(), kStatusWritesInFlight, [&](size_t k) {
      StatusWrite& sw = writes[k];
      sw.result = objects_.Update(info, sw.before->metadata.ns, sw.before->metadata.name,
                                  api::Encode(sw.updated), "status");
    });
    for (StatusWrite& sw : writes) {
      const api::FederatedWorkload& w = *sw.before;
      if (sw.result.ok()) {
        ++written;
        fleet_.workloads.Assume(sw.result.value());  // the next pass reads what was written
        RecordResidencyConflict(w, sw.updated.status);
        RecordPlacementEvents(w, sw.updated.status);
        keep_in_effect(w, std::move(sw.key), sw.updated.status);
      } else if (sw.result.error().code == 409 || sw.result.error().code == 404) {
        MarkChanged(false, &w);  // changed or deleted meanwhile: the next pass sees the new state
      } else {
        spdlog::warn("placement controller: writing status of {}/{}: {}", w.metadata.ns,
                     w.metadata.name, sw.result.error().message);
      }
    }
    writes.clear();
  };
  for (size_t i : groups.PlacementOrder()) {
    const api::FederatedWorkload& w = *workloads[i];
    if (!w.metadata.deletion_timestamp.empty()) continue;  // the sync controller's business
    if (!placing[i]) continue;
    std::optional<Duration> recheck;
    const bool shared = SharesCapacity(w);
    std::vector<std::string> placed_on;
    api::FederatedWorkloadStatus status =
        PlacedStatus(w, inputs.policies, engine, now, &recheck,
                     shared ? ledger.Release(i) : std::span<const int64_t>{}, &seen,
                     groups.RestrictionFor(i), &placed_on);
    groups.Placed(i, placed_on);
    groups.SetCondition(i, placed_on, &status, w.metadata.generation, now);
    if (shared) {
      // A member runs the larger of its placed and retained counts.
      ledger.Commit(status.retained.empty() ? status.placement
                                            : LargerOfEach(status.placement, status.retained));
    }
    if (recheck && (!earliest || *recheck < *earliest)) earliest = recheck;
    std::string key = w.metadata.ns + "/" + w.metadata.name;
    if (status == w.status) {
      keep_in_effect(w, std::move(key), status);
      continue;
    }
    api::FederatedWorkload updated{w.metadata, w.spec, std::move(status)};
    writes.push_back({&w, std::move(updated), std::move(key)});
    if (writes.size() >= kStatusWriteBatch) flush();
  }
  flush();
  if (ledger_) RecordPlacements(inputs, workloads, *world, in_effect);
  if (recheck_after) *recheck_after = earliest;
  return written;
}

void PlacementController::RecordPlacements(
    const PlacementInputs& inputs, const Workloads& workloads, const placement::World& world,
    const std::map<std::string, PlacementInEffect>& in_effect) {
  auto lines = [&world](const std::vector<api::ClusterPlacement>& placed) {
    std::map<std::string, int64_t> by_cluster;  // sorted: the same placement, the same data
    for (const api::ClusterPlacement& p : placed) {
      if (p.replicas > 0) by_cluster[p.cluster] += p.replicas;
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [cluster, replicas] : by_cluster) {
      std::optional<uint32_t> index = world.FindCluster(cluster);
      out.push_back({{"cluster", cluster},
                     {"jurisdiction", index ? world.jurisdiction_of(*index) : ""},
                     {"replicas", replicas}});
    }
    return out;
  };
  auto append = [this](const std::string& key, nlohmann::json data) {
    StatusOr<residency::EvidenceEntry> e = ledger_->Append("Placement", data);
    if (!e.ok()) {
      spdlog::warn("placement controller: recording the placement of {}: {}", key,
                   e.status().ToString());
      return false;  // retried on the next pass
    }
    recorded_[key] = std::move(data);
    return true;
  };
  std::set<std::string> present;
  for (const auto& shared : workloads) {
    const api::FederatedWorkload& w = *shared;
    const std::string key = w.metadata.ns + "/" + w.metadata.name;
    present.insert(key);
    auto status = in_effect.find(key);
    // Being deleted, its write failed, or neither bound nor recorded before (keep_in_effect).
    if (status == in_effect.end()) continue;
    const placement::AllowedJurisdictions allowed =
        residency::AllowedJurisdictionsFor(w, inputs.policies);
    auto before = recorded_.find(key);
    if (!allowed.bound) {
      if (before != recorded_.end() && append(key, {{"workload", key},
                                                    {"clusters", lines(status->second.placement)},
                                                    {"unbound", true}})) {
        recorded_.erase(key);
      }
      continue;
    }
    nlohmann::json data = {
        {"workload", key},
        {"clusters", lines(status->second.placement)},
        {"retained", lines(status->second.retained)},
        {"unplaced", status->second.unplaced_replicas},
        {"allowed", placement::DescribeAllowed(w.spec.placement,
                                               residency::ResidencyRulesFor(w, inputs.policies))}};
    if (before == recorded_.end() || before->second != data) append(key, std::move(data));
  }
  for (auto it = recorded_.begin(); it != recorded_.end();) {
    const std::string key = it->first;
    ++it;
    if (present.count(key)) continue;
    if (append(key,
               {{"workload", key}, {"clusters", nlohmann::json::array()}, {"deleted", true}})) {
      recorded_.erase(key);
    }
  }
}

}  // namespace meridian::scheduling
