#include "sync/placement_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/codec.h"
#include "api/conditions.h"

namespace meridian::sync {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

std::optional<Timestamp> ParseTime(const std::string& text) {
  Timestamp t;
  if (text.empty() || !ParseRfc3339(text, &t)) return std::nullopt;
  return t;
}

const ResourceInfo& Info(apimachinery::ObjectService& objects, const char* plural) {
  const ResourceInfo* info = objects.registry().Find(api::kGroup, api::kVersion, plural);
  // The federation-apiserver always registers Meridian's kinds; anything else is a wiring bug.
  if (info == nullptr) {
    spdlog::critical("placement controller: resource {} is not registered", plural);
    std::abort();
  }
  return *info;
}

template <typename T>
std::vector<T> ListDecoded(apimachinery::ObjectService& objects, const char* plural,
                           T (*decode)(const json&, FieldErrors*), Status* error) {
  std::vector<T> out;
  auto list = objects.List(Info(objects, plural), "", apimachinery::ListRequest{});
  if (!list.ok()) {
    *error = InternalError(std::string("listing ") + plural + ": " + list.error().message);
    return out;
  }
  for (const json& item : list.value()["items"]) {
    FieldErrors errors;
    T decoded = decode(item, &errors);
    // Admission rejects invalid objects; one that is invalid anyway (older schema) is skipped
    // rather than stopping every other workload's placement.
    if (errors.empty()) {
      out.push_back(std::move(decoded));
    } else {
      spdlog::warn("placement controller: skipping invalid {} {}: {}", plural,
                   item["metadata"].value("name", ""), errors.front().ToString());
    }
  }
  return out;
}

}  // namespace

placement::ClusterState ClusterStateFrom(const api::MemberCluster& member) {
  placement::ClusterState c;
  c.name = member.metadata.name;
  c.labels = apimachinery::Labels(member.metadata.labels.begin(), member.metadata.labels.end());
  c.region = member.spec.region;
  c.jurisdiction = member.spec.jurisdiction;
  for (const std::string& zone : member.spec.zones) {
    placement::ZoneState z;
    z.name = zone;
    for (const api::ZoneStatus& observed : member.status.zones) {
      if (observed.name != zone) continue;
      z.healthy = observed.healthy;
      z.allocatable_replicas = observed.allocatable_replicas;
      z.last_transition_time = ParseTime(observed.last_transition_time);
    }
    c.zones.push_back(std::move(z));
  }
  c.allocatable_replicas = member.status.allocatable_replicas
                               ? member.status.allocatable_replicas
                               : member.spec.capacity_replicas;
  if (const api::Condition* reachable = api::FindCondition(member.status.conditions, "Reachable")) {
    c.reachable = reachable->status != "False";
    if (reachable->status == "True") c.healthy_since = ParseTime(reachable->last_transition_time);
  }
  return c;
}

std::vector<placement::ResidencyRule> ResidencyRulesFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies) {
  std::vector<placement::ResidencyRule> rules;
  apimachinery::Labels labels(workload.metadata.labels.begin(), workload.metadata.labels.end());
  for (const api::ResidencyPolicy& p : policies) {
    const auto& ns = p.spec.namespaces;
    if (!ns.empty() && std::find(ns.begin(), ns.end(), workload.metadata.ns) == ns.end()) continue;
    if (!p.spec.workload_selector.Matches(labels)) continue;
    rules.push_back({p.metadata.name, p.spec.jurisdictions});
  }
  return rules;
}

placement::Workload EngineWorkload(const api::FederatedWorkload& workload,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const placement::World& world) {
  placement::Workload w;
  w.key = workload.metadata.ns + "/" + workload.metadata.name;
  w.policy = workload.spec.placement;
  w.residency_policies = ResidencyRulesFor(workload, policies);
  if (std::optional<int64_t> replicas = api::TemplateReplicas(workload.spec)) {
    w.replicas = static_cast<int32_t>(std::min<int64_t>(*replicas, 1'000'000));
  } else {
    // Copied, not divided: one per eligible cluster.
    w.replicas = static_cast<int32_t>(world.size());
    for (uint32_t i = 0; i < world.size(); ++i) {
      placement::ClusterBounds& b = w.policy.distribution.clusters[world.cluster(i).name];
      b.max = 1;
      if (b.min && *b.min > 1) b.min = 1;
    }
  }
  for (const api::ClusterPlacement& p : workload.status.placement) {
    w.current.push_back({p.cluster, static_cast<int32_t>(p.replicas)});
  }
  return w;
}

api::FederatedWorkloadStatus PlacedStatus(const api::FederatedWorkload& workload,
                                          const std::vector<api::ResidencyPolicy>& policies,
                                          placement::Engine& engine, Timestamp now,
                                          std::optional<Duration>* recheck_after) {
  const placement::World& world = engine.world();
  placement::Workload w = EngineWorkload(workload, policies, world);
  placement::Result r = engine.Place(w, now);
  if (recheck_after) *recheck_after = r.recheck_after;

  const bool copied = !api::TemplateReplicas(workload.spec).has_value();
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
  status.desired_replicas = copied ? r.placed : r.total;
  status.unplaced_replicas = copied ? 0 : r.unplaced;

  api::Condition placed{"Placed", r.placed > 0 || r.total == 0 ? "True" : "False", "", "", "",
                        workload.metadata.generation};
  placed.reason = placed.status == "True" ? "Placed" : "NoEligibleCluster";
  placed.message = std::to_string(r.placed) + " of " + std::to_string(r.total) +
                   " replicas placed on " + std::to_string(status.placement.size()) + " clusters";
  api::SetCondition(&status.conditions, std::move(placed), now);

  std::string unplaced = copied ? "" : placement::ExplainUnplaced(world, w, r);
  api::Condition degraded{"Degraded", unplaced.empty() ? "False" : "True", "", unplaced, "",
                          workload.metadata.generation};
  degraded.reason = unplaced.empty() ? "AllPlaced" : "ReplicasUnplaced";
  api::SetCondition(&status.conditions, std::move(degraded), now);
  return status;
}

PlacementController::PlacementController(apimachinery::ObjectService& objects, const Clock& clock)
    : objects_(objects), clock_(clock) {}

PlacementController::~PlacementController() { Stop(); }

Status PlacementController::Start() {
  const std::string from = std::to_string(objects_.store().CurrentResourceVersion());
  for (const char* plural :
       {"federatedworkloads", "memberclusters", "topologies", "residencypolicies"}) {
    apimachinery::ListRequest request;
    request.resource_version = from;
    auto watch = objects_.StartWatch(Info(objects_, plural), "", request,
                                     [this](const apimachinery::ObjectEvent&) { MarkDirty(); });
    if (!watch.ok()) {
      return UnavailableError(std::string("placement controller: watching ") + plural + ": " +
                              watch.error().message);
    }
    watches_.push_back(std::move(watch).value());
  }
  worker_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void PlacementController::Stop() {
  watches_.clear();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PlacementController::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void PlacementController::Run() {
  using SteadyClock = std::chrono::steady_clock;
  SteadyClock::time_point recheck_at = SteadyClock::time_point::max();  // max: none asked for
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto ready = [&] { return stopping_ || dirty_; };
    if (recheck_at != SteadyClock::time_point::max()) {
      cv_.wait_until(lock, recheck_at, ready);
    } else {
      cv_.wait(lock, ready);
    }
    if (stopping_) return;
    dirty_ = false;
    lock.unlock();
    std::optional<Duration> recheck;
    StatusOr<int> written = ReconcileAll(&recheck);
    if (!written.ok()) {
      spdlog::warn("placement controller: {}", written.status().ToString());
      recheck = Duration(1000);  // retry a failed pass shortly
    }
    lock.lock();
    recheck_at = recheck ? SteadyClock::now() + *recheck : SteadyClock::time_point::max();
  }
}

StatusOr<int> PlacementController::ReconcileAll(std::optional<Duration>* recheck_after) {
  Status error;
  auto members = ListDecoded(objects_, "memberclusters", api::DecodeMemberCluster, &error);
  auto topologies = ListDecoded(objects_, "topologies", api::DecodeTopology, &error);
  auto policies = ListDecoded(objects_, "residencypolicies", api::DecodeResidencyPolicy, &error);
  auto workloads = ListDecoded(objects_, "federatedworkloads", api::DecodeFederatedWorkload, &error);
  MERIDIAN_RETURN_IF_ERROR(error);

  std::vector<placement::ClusterState> clusters;
  for (const api::MemberCluster& m : members) clusters.push_back(ClusterStateFrom(m));
  // One Topology is the norm; several are merged (regions and profiles by first name).
  placement::TopologySpec topology;
  for (const api::Topology& t : topologies) {
    for (const auto& r : t.spec.regions) {
      if (std::none_of(topology.regions.begin(), topology.regions.end(),
                       [&](const auto& x) { return x.name == r.name; })) {
        topology.regions.push_back(r);
      }
    }
    for (const auto& p : t.spec.demand_profiles) {
      if (std::none_of(topology.demand_profiles.begin(), topology.demand_profiles.end(),
                       [&](const auto& x) { return x.name == p.name; })) {
        topology.demand_profiles.push_back(p);
      }
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(auto world, placement::World::Build(std::move(clusters), topology));
  placement::Engine engine(world);

  const ResourceInfo& info = Info(objects_, "federatedworkloads");
  const Timestamp now = clock_.Now();
  int written = 0;
  std::optional<Duration> earliest;
  for (const api::FederatedWorkload& w : workloads) {
    if (!w.metadata.deletion_timestamp.empty()) continue;  // the sync controller's business
    std::optional<Duration> recheck;
    api::FederatedWorkloadStatus status = PlacedStatus(w, policies, engine, now, &recheck);
    if (recheck && (!earliest || *recheck < *earliest)) earliest = recheck;
    if (status == w.status) continue;
    api::FederatedWorkload updated = w;
    updated.status = std::move(status);
    auto result = objects_.Update(info, w.metadata.ns, w.metadata.name, api::Encode(updated), "status");
    if (result.ok()) {
      ++written;
    } else if (result.error().code == 409 || result.error().code == 404) {
      MarkDirty();  // changed or deleted meanwhile: the next pass sees the new state
    } else {
      spdlog::warn("placement controller: writing status of {}/{}: {}", w.metadata.ns,
                   w.metadata.name, result.error().message);
    }
  }
  if (recheck_after) *recheck_after = earliest;
  return written;
}

}  // namespace meridian::sync
