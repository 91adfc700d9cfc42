#include "membersim/cluster_sim.h"

#include <spdlog/spdlog.h>

#include "apimachinery/core_admission.h"
#include "common/log_fields.h"
#include "federation-apiserver/crd/definition.h"
#include "membersim/kube_resources.h"

namespace meridian::membersim {
namespace {

int64_t Ms(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

const std::vector<ResourceType>& WatchedTypes() {
  static const std::vector<ResourceType> types = {
      kNodes, kPods, kServices, kDeployments, kReplicaSets, kStatefulSets, kNamespaces};
  return types;
}

}  // namespace

const char* PartitionModeName(PartitionMode m) {
  switch (m) {
    case PartitionMode::kNone: return "none";
    case PartitionMode::kHang: return "hang";
    case PartitionMode::kRefuse: return "refuse";
  }
  return "none";
}

StatusOr<PartitionMode> ParsePartitionMode(const std::string& text) {
  if (text == "hang") return PartitionMode::kHang;
  if (text == "refuse") return PartitionMode::kRefuse;
  if (text == "none") return PartitionMode::kNone;
  return InvalidArgumentError("partition mode \"" + text + "\": want hang or refuse");
}

SimulatedCluster::SimulatedCluster(ClusterSpec spec, const Clock& clock, Options options,
                                   std::function<void()> on_dirty)
    : spec_(std::move(spec)),
      clock_(clock),
      on_dirty_(std::move(on_dirty)),
      reconciler_(spec_, std::hash<std::string>()(spec_.name)) {
  apimachinery::MemoryStoreOptions so;
  so.history_limit = options.history_limit;
  so.dispatcher = options.dispatcher;
  store_ = std::make_unique<apimachinery::MemoryStore>(so);
  registry_ = MemberClusterRegistry();
  // The CRD kind is not a built-in of the shared registry: its custom kinds are per cluster.
  if (Status added = registry_.Add(apiserver::crd::DefinitionResourceInfo()); !added.ok()) {
    spdlog::error("{}: registering CustomResourceDefinitions: {}", spec_.name, added.ToString());
  }
  service_ = std::make_unique<apimachinery::ObjectService>(*store_, clock_, registry_);
  apimachinery::InstallCoreAdmission(*service_);
  custom_resources_ =
      std::make_unique<apiserver::crd::CustomResourceRegistrar>(*service_, registry_, clock_);
  custom_resources_->InstallAdmission();
  service_->AddMutatingAdmission(ServiceDefaulting(&next_cluster_ip_));
  service_->AddMutatingAdmission(WorkloadDefaulting());
  service_->AddMutatingAdmission(StorageRoundTrip());
  service_->AddMutatingAdmission(CoreKindsHaveNoGeneration());
  service_->AddMutatingAdmission(NamespaceDefaulting());
  service_->DeferNamespaceDeletion();  // SyncNamespaces is the namespace controller
}

SimulatedCluster::~SimulatedCluster() {
  custom_resources_->Stop();
  for (auto& w : watches_) w->Cancel();
}

Status SimulatedCluster::Start() {
  const auto* ns_info = MemberClusterRegistry().Find("", "v1", "namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    nlohmann::json body = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto r = service_->Create(*ns_info, "", body);
    if (!r.ok() && r.error().code != 409) return r.error().ToStatus().WithContext("creating namespace");
  }
  MERIDIAN_RETURN_IF_ERROR(custom_resources_->Start());
  for (const ResourceType& t : WatchedTypes()) {
    auto w = store_->WatchFrom(t, "", {}, 0, [this](const apimachinery::WatchEvent&) { MarkDirty(); });
    if (!w.ok()) return w.status();
    watches_.push_back(std::move(w).value());
  }
  MarkDirty();
  return Status::Ok();
}

void SimulatedCluster::MarkDirty() {
  if (!dirty_.exchange(true) && on_dirty_) on_dirty_();
}

bool SimulatedCluster::NeedsReconcile(Timestamp now) const {
  return dirty_.load() || Ms(now) >= next_wake_ms_.load();
}

Timestamp SimulatedCluster::NextWake() const {
  int64_t ms = next_wake_ms_.load();
  if (ms == INT64_MAX) return Timestamp::max();
  return Timestamp(std::chrono::milliseconds(ms));
}

int SimulatedCluster::Reconcile(Timestamp now) {
  dirty_.store(false);
  next_wake_ms_.store(INT64_MAX);
  Snapshot snap;
  struct Src {
    const ResourceType* type;
    std::vector<nlohmann::json>* out;
  };
  for (Src s : {Src{&kNodes, &snap.nodes}, Src{&kPods, &snap.pods}, Src{&kDeployments, &snap.deployments},
                Src{&kReplicaSets, &snap.replicasets}, Src{&kStatefulSets, &snap.statefulsets},
                Src{&kServices, &snap.services}}) {
    auto list = store_->List(*s.type, {});
    if (!list.ok()) {
      spdlog::warn(LogFields("listing failed", {{"member", spec_.name},
                                                {"resource", s.type->ToString()},
                                                {"error", list.status().ToString()}}));
      MarkDirty();
      return 0;
    }
    *s.out = std::move(list->items);
  }
  Step step = reconciler_.Reconcile(snap, faults(), now);
  if (std::optional<Timestamp> again = SyncNamespaces(now)) {
    if (!step.wake_at || *again < *step.wake_at) step.wake_at = again;
  }
  int applied = 0;
  bool failed = false;
  const auto& reg = MemberClusterRegistry();
  for (Write& w : step.writes) {
    const apimachinery::ResourceInfo* info = nullptr;
    for (const auto& r : reg.All()) {
      if (r.StorageType() == w.key.type) info = &r;
    }
    if (!info) continue;
    std::optional<apimachinery::ApiError> err;
    switch (w.op) {
      case WriteOp::kCreate: {
        auto r = service_->Create(*info, w.key.ns, std::move(w.object));
        if (!r.ok()) err = r.error();
        break;
      }
      case WriteOp::kUpdate: {
        auto r = service_->Update(*info, w.key.ns, w.key.name, std::move(w.object), w.status_only ? "status" : "");
        if (!r.ok()) err = r.error();
        break;
      }
      case WriteOp::kDelete: {
        apimachinery::DeleteOptions opts;
        opts.precondition_resource_version = std::to_string(w.expected_resource_version);
        auto r = service_->Delete(*info, w.key.ns, w.key.name, opts);
        if (!r.ok()) err = r.error();
        break;
      }
    }
    if (err) {
      // Conflicts and vanished objects are normal races; the next pass recomputes.
      if (err->code != 409 && err->code != 404) {
        spdlog::warn(
            LogFields("reconciler write failed", {{"member", spec_.name},
                                                  {"op", w.op == WriteOp::kCreate   ? "create"
                                                         : w.op == WriteOp::kUpdate ? "update"
                                                                                    : "delete"},
                                                  {"object", w.key.ToString()},
                                                  {"code", std::to_string(err->code)},
                                                  {"error", err->message}}));
      }
      failed = true;
    } else {
      ++applied;
    }
  }
  int64_t wake = step.wake_at ? Ms(*step.wake_at) : INT64_MAX;
  if (failed && applied == 0) {
    wake = std::min<int64_t>(wake, Ms(now) + 500);  // retry later without spinning
  } else if (failed) {
    MarkDirty();
  }
  next_wake_ms_.store(wake);
  return applied;
}

std::optional<Timestamp> SimulatedCluster::SyncNamespaces(Timestamp now) {
  auto listed = store_->List(kNamespaces, {});
  if (!listed.ok()) return now + std::chrono::milliseconds(500);
  std::optional<Timestamp> wake;
  auto wake_at = [&](Timestamp t) {
    if (!wake || t < *wake) wake = t;
  };
  std::map<std::string, Timestamp> still;
  for (const nlohmann::json& ns : listed->items) {
    const nlohmann::json& meta = ns["metadata"];
    if (!meta.contains("deletionTimestamp")) continue;
    const std::string name = meta.value("name", ""), uid = meta.value("uid", "");
    auto seen = terminating_since_.find(uid);
    const Timestamp since = seen == terminating_since_.end() ? now : seen->second;
    still[uid] = since;
    // Like kube-controller-manager's namespace controller: delete everything inside first;
    // objects with finalizers keep it Terminating until their owners let them go.
    if (!service_->PurgeNamespace(name)) {
      wake_at(now + std::chrono::milliseconds(500));
      continue;
    }
    const Timestamp due = since + spec_.timings.namespace_deletion_delay;
    if (now < due) {
      wake_at(due);
      continue;
    }
    auto gone = service_->FinalizeNamespace(name, "kubernetes");
    if (!gone.ok() && gone.error().code != 404) {
      spdlog::warn(
          LogFields("finalizing namespace failed",
                    {{"member", spec_.name}, {"object", name}, {"error", gone.error().message}}));
      wake_at(now + std::chrono::milliseconds(500));
    } else if (gone.ok() && !*gone) {
      // Someone else's spec.finalizers remain: they remove the namespace when they are done.
      wake_at(now + std::chrono::milliseconds(500));
    } else {
      still.erase(uid);
    }
  }
  terminating_since_ = std::move(still);
  return wake;
}

Status SimulatedCluster::FailZone(const std::string& zone, Timestamp now) {
  bool known = false;
  for (const auto& z : spec_.zones) known = known || z.name == zone;
  if (!known) return NotFoundError("cluster " + spec_.name + " has no zone \"" + zone + "\"");
  {
    std::lock_guard lock(mu_);
    if (faults_.failed_zones.count(zone)) return FailedPreconditionError("zone " + zone + " is already failed");
    faults_.failed_zones[zone] = now;
  }
  MarkDirty();
  return Status::Ok();
}

Status SimulatedCluster::HealZone(const std::string& zone) {
  bool known = false;
  for (const auto& z : spec_.zones) known = known || z.name == zone;
  if (!known) return NotFoundError("cluster " + spec_.name + " has no zone \"" + zone + "\"");
  {
    std::lock_guard lock(mu_);
    if (!faults_.failed_zones.erase(zone)) return FailedPreconditionError("zone " + zone + " is not failed");
  }
  MarkDirty();
  return Status::Ok();
}

SimFaults SimulatedCluster::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}
void SimulatedCluster::SetPartition(PartitionMode mode) {
  std::lock_guard lock(mu_);
  partition_ = mode;
}
PartitionMode SimulatedCluster::partition() const {
  std::lock_guard lock(mu_);
  return partition_;
}
void SimulatedCluster::SetLatency(Duration latency) {
  std::lock_guard lock(mu_);
  latency_ = latency;
}
Duration SimulatedCluster::latency() const {
  std::lock_guard lock(mu_);
  return latency_;
}

void SimulatedCluster::CountApiWrite(const std::string& method) {
  if (method == "POST") ++api_creates_;
  if (method == "PUT") ++api_updates_;
  if (method == "PATCH") ++api_patches_;
  if (method == "DELETE") ++api_deletes_;
}

void SimulatedCluster::CountApiRead(const std::string& path, bool watch) {
  if (watch) {
    ++api_watches_;
    return;
  }
  for (const char* probe : {"/healthz", "/readyz", "/livez"}) {
    const std::string p = probe;
    if (path.size() >= p.size() && path.compare(path.size() - p.size(), p.size(), p) == 0) {
      ++api_health_;
      return;
    }
  }
  // Resource paths: /api/v1/[namespaces/NS/]RES[/NAME[/SUB]] and
  // /apis/G/V/[namespaces/NS/]RES[/NAME[/SUB]]; a collection is a list, anything deeper a get.
  std::vector<std::string> segs;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) segs.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  size_t i = 0;
  while (i < segs.size() && segs[i] != "api" && segs[i] != "apis") ++i;
  if (i == segs.size()) {
    ++api_other_reads_;
    return;
  }
  i += segs[i] == "api" ? 2 : 3;                               // past the group version
  if (i + 2 < segs.size() && segs[i] == "namespaces") i += 2;  // a namespaced resource
  if (i >= segs.size()) {
    ++api_other_reads_;  // discovery
  } else if (i + 1 == segs.size()) {
    ++api_lists_;
  } else {
    ++api_gets_;
  }
}

nlohmann::json SimulatedCluster::StatusJson() const {
  SimFaults f = faults();
  nlohmann::json zones = nlohmann::json::array();
  for (const auto& z : spec_.zones) {
    nlohmann::json zj = {{"name", z.name}, {"nodes", z.nodes}, {"failed", f.failed_zones.count(z.name) > 0}};
    if (f.failed_zones.count(z.name)) zj["failedAt"] = FormatRfc3339(f.failed_zones.at(z.name));
    zones.push_back(std::move(zj));
  }
  return {{"name", spec_.name},
          {"region", spec_.region},
          {"jurisdiction", spec_.jurisdiction},
          {"zones", zones},
          {"partition", PartitionModeName(partition())},
          {"latencyMs", latency().count()},
          {"objects", store_->ObjectCount()},
          {"apiWrites",
           {{"create", api_creates_.load()},
            {"update", api_updates_.load()},
            {"patch", api_patches_.load()},
            {"delete", api_deletes_.load()},
            {"total", api_creates_.load() + api_updates_.load() + api_patches_.load() +
                          api_deletes_.load()}}},
          {"apiReads",
           {{"get", api_gets_.load()},
            {"list", api_lists_.load()},
            {"watch", api_watches_.load()},
            {"health", api_health_.load()},
            {"other", api_other_reads_.load()},
            {"total", api_gets_.load() + api_lists_.load() + api_watches_.load() +
                          api_health_.load() + api_other_reads_.load()}}}};
}

}  // namespace meridian::membersim
