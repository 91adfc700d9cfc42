#include "sync/propagation_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "api/codec.h"
#include "sync/http_member_client.h"

namespace meridian::sync {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

const ResourceInfo& Info(apimachinery::ObjectService& objects, const char* plural) {
  const ResourceInfo* info = objects.registry().Find(api::kGroup, api::kVersion, plural);
  // The federation-apiserver always registers Meridian's kinds; anything else is a wiring bug.
  if (info == nullptr) {
    spdlog::critical("propagation controller: resource {} is not registered", plural);
    std::abort();
  }
  return *info;
}

std::string Key(const api::FederatedWorkload& w) { return w.metadata.ns + "/" + w.metadata.name; }

bool MemberDown(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

const GroupVersionResource kNamespaces{"", "v1", "namespaces"};

// What one pass learns about which member objects should exist.
struct Expected {
  std::set<std::string> placed;    // workload label values of the workloads placed here
  std::set<std::string> rendered;  // ... of those whose object was rendered and resolved
  std::map<GroupVersionResource, std::set<std::pair<std::string, std::string>>> objects;
};

// Brings one workload's object on `client` to `rendered`; fills `out` (ready, synced).
Status SyncObject(MemberClient& client, const api::FederatedWorkload& w, const json& rendered,
                  const GroupVersionResource& gvr, int64_t placed,
                  std::set<std::string>* namespaces_ok, api::ClusterSyncStatus* out) {
  const std::string& ns = w.metadata.ns;
  const std::string name = rendered["metadata"]["name"].get<std::string>();
  if (!ns.empty() && !namespaces_ok->count(ns)) {
    auto got = client.Get(kNamespaces, "", ns);
    if (!got.ok() && got.status().code() == StatusCode::kNotFound) {
      json nso = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
      auto created = client.Create(kNamespaces, "", nso);
      if (!created.ok() && created.status().code() != StatusCode::kAlreadyExists) {
        return created.status().WithContext("creating namespace " + ns);
      }
    } else if (!got.ok()) {
      return got.status();
    }
    namespaces_ok->insert(ns);
  }

  json live;
  for (int attempt = 0;; ++attempt) {
    auto got = client.Get(gvr, ns, name);
    if (!got.ok() && got.status().code() == StatusCode::kNotFound) {
      auto created = client.Create(gvr, ns, rendered);
      if (created.ok()) {
        live = std::move(created).value();
        break;
      }
      if (created.status().code() == StatusCode::kAlreadyExists && attempt < 3) continue;
      return created.status();
    }
    if (!got.ok()) return got.status();
    live = std::move(got).value();
    if (!IsManaged(live) && !w.spec.adopt_existing) {
      return FailedPreconditionError(
          gvr.GroupResource() + " " + ns + "/" + name +
          " exists and is not managed by Meridian (set spec.adoptExisting to take it over)");
    }
    if (!NeedsUpdate(live, rendered)) break;
    json update = rendered;
    update["metadata"]["resourceVersion"] = live["metadata"].value("resourceVersion", "");
    if (live.contains("status")) update["status"] = live["status"];
    auto updated = client.Update(gvr, ns, update);
    if (updated.ok()) {
      live = std::move(updated).value();
      break;
    }
    // Lost a race with another writer: read again and retry a few times.
    if (updated.status().code() == StatusCode::kAborted && attempt < 3) continue;
    return updated.status();
  }

  const bool counted = rendered.contains("spec") && rendered["spec"].is_object() &&
                       rendered["spec"].contains("replicas");
  if (counted) {
    int64_t ready = 0;
    if (live.contains("status") && live["status"].is_object()) {
      const json& r = live["status"].value("readyReplicas", json(0));
      if (r.is_number_integer()) ready = r.get<int64_t>();
    }
    out->ready_replicas = ready;
  } else {
    // Nothing to count (a ConfigMap, a copied object): present and current is ready.
    out->ready_replicas = placed;
  }
  out->synced = true;
  out->last_error.clear();
  return Status::Ok();
}

}  // namespace

struct PropagationController::Member {
  std::string name;
  api::MemberCluster cluster;
  std::shared_ptr<MemberClient> client;  // null when the factory failed
  Status client_error;
  std::map<std::string, MemberSyncResult> results;  // by workload "ns/name"
  // Workload label values of deleted workloads this member no longer holds objects of (as of
  // its last complete pass).
  std::set<std::string> cleaned;
  bool poke = false;
  bool removed = false;
  bool worker_started = false;
  std::condition_variable cv;  // with the controller's mu_
};


PropagationController::PropagationController(apimachinery::ObjectService& objects,
                                             const Clock& clock, MemberClientFactory factory,
                                             Options options)
    : objects_(objects), clock_(clock), factory_(std::move(factory)), options_(options) {}

PropagationController::~PropagationController() { Stop(); }

Status PropagationController::Start() {
  const std::string from = std::to_string(objects_.store().CurrentResourceVersion());
  for (const char* plural : {"federatedworkloads", "memberclusters"}) {
    apimachinery::ListRequest request;
    request.resource_version = from;
    auto watch = objects_.StartWatch(Info(objects_, plural), "", request,
                                     [this](const apimachinery::ObjectEvent&) { MarkDirty(); });
    if (!watch.ok()) {
      return UnavailableError(std::string("propagation controller: watching ") + plural + ": " +
                              watch.error().message);
    }
    watches_.push_back(std::move(watch).value());
  }
  std::lock_guard lock(mu_);
  started_ = true;
  dirty_ = true;
  for (auto& [name, member] : members_) StartWorkerLocked(member);
  dispatcher_ = std::thread([this] { RunDispatcher(); });
  return Status::Ok();
}

void PropagationController::Stop() {
  watches_.clear();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [name, member] : members_) member->cv.notify_all();
    threads.swap(workers_);
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    // The dispatcher may have started workers meanwhile.
    std::lock_guard lock(mu_);
    for (auto& t : workers_) threads.push_back(std::move(t));
    workers_.clear();
    for (auto& [name, member] : members_) member->cv.notify_all();
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

void PropagationController::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void PropagationController::StartWorkerLocked(const std::shared_ptr<Member>& member) {
  if (!started_ || stopping_ || member->worker_started) return;
  member->worker_started = true;
  member->poke = true;
  workers_.emplace_back([this, member] { RunWorker(member); });
}

void PropagationController::RunDispatcher() {
  using SteadyClock = std::chrono::steady_clock;
  SteadyClock::time_point next_resync = SteadyClock::now() + options_.resync_period;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_until(lock, next_resync, [&] { return stopping_ || dirty_ || aggregate_; });
    if (stopping_) return;
    const bool resync = SteadyClock::now() >= next_resync;
    if (dirty_ || resync) {
      dirty_ = false;
      if (resync) next_resync = SteadyClock::now() + options_.resync_period;
      lock.unlock();
      Status refreshed = RefreshMembers();
      if (!refreshed.ok()) spdlog::warn("propagation controller: {}", refreshed.ToString());
      lock.lock();
      for (auto& [name, member] : members_) {
        member->poke = true;
        member->cv.notify_all();
      }
    }
    if (aggregate_) {
      aggregate_ = false;
      lock.unlock();
      StatusOr<int> written = Aggregate();
      if (!written.ok()) spdlog::warn("propagation controller: {}", written.status().ToString());
      lock.lock();
    }
  }
}

void PropagationController::RunWorker(std::shared_ptr<Member> member) {
  std::unique_lock lock(mu_);
  while (true) {
    member->cv.wait(lock, [&] { return stopping_ || member->removed || member->poke; });
    if (stopping_ || member->removed) return;
    member->poke = false;
    lock.unlock();
    Status s = ReconcileMember(member->name);
    if (!s.ok()) spdlog::warn("propagation controller: member {}: {}", member->name, s.ToString());
    lock.lock();
    aggregate_ = true;
    cv_.notify_all();
  }
}

std::vector<std::string> PropagationController::MemberNames() {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, member] : members_) names.push_back(name);
  return names;
}

StatusOr<std::vector<api::FederatedWorkload>> PropagationController::ListWorkloads() {
  auto list = objects_.List(Info(objects_, "federatedworkloads"), "", apimachinery::ListRequest{});
  if (!list.ok()) return InternalError("listing federatedworkloads: " + list.error().message);
  std::vector<api::FederatedWorkload> out;
  for (const json& item : list.value()["items"]) {
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(item, &errors);
    if (errors.empty()) out.push_back(std::move(w));
  }
  return out;
}

Status PropagationController::RefreshMembers() {
  auto list = objects_.List(Info(objects_, "memberclusters"), "", apimachinery::ListRequest{});
  if (!list.ok()) return InternalError("listing memberclusters: " + list.error().message);
  std::map<std::string, api::MemberCluster> current;
  for (const json& item : list.value()["items"]) {
    FieldErrors errors;
    api::MemberCluster m = api::DecodeMemberCluster(item, &errors);
    if (errors.empty()) current[m.metadata.name] = std::move(m);
  }
  // Build clients outside the lock for new members and members whose spec changed.
  std::map<std::string, StatusOr<std::shared_ptr<MemberClient>>> built;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, m] : current) {
      auto it = members_.find(name);
      if (it == members_.end() || it->second->cluster.spec != m.spec) {
        built.emplace(name, Status(StatusCode::kUnknown, "not built"));
      }
    }
  }
  for (auto& [name, client] : built) client = factory_(current.at(name));

  std::lock_guard lock(mu_);
  for (auto it = members_.begin(); it != members_.end();) {
    if (current.count(it->first)) {
      ++it;
      continue;
    }
    it->second->removed = true;
    it->second->cv.notify_all();
    it = members_.erase(it);
  }
  for (auto& [name, m] : current) {
    std::shared_ptr<Member>& member = members_[name];
    if (!member) {
      member = std::make_shared<Member>();
      member->name = name;
    }
    member->cluster = m;
    auto b = built.find(name);
    if (b != built.end()) {
      if (b->second.ok()) {
        member->client = b->second.value();
        member->client_error = Status::Ok();
      } else {
        member->client = nullptr;
        member->client_error = b->second.status();
      }
    }
    StartWorkerLocked(member);
  }
  return Status::Ok();
}

Status PropagationController::ReconcileMember(const std::string& name) {
  std::shared_ptr<MemberClient> client;
  Status client_error;
  apimachinery::Labels labels;
  {
    std::lock_guard lock(mu_);
    auto it = members_.find(name);
    if (it == members_.end()) return NotFoundError("member " + name + " is not known");
    client = it->second->client;
    client_error = it->second->client_error;
    labels = apimachinery::Labels(it->second->cluster.metadata.labels.begin(),
                                  it->second->cluster.metadata.labels.end());
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::FederatedWorkload> workloads, ListWorkloads());

  std::optional<DiscoveryInfo> discovery;
  Status down;  // set once the member stops answering: the rest of the pass is skipped
  if (client) {
    auto d = client->Discover();
    if (d.ok()) {
      discovery = std::move(d).value();
    } else if (MemberDown(d.status())) {
      down = d.status();
    }
  } else {
    down = client_error;
  }

  Expected expected;
  std::set<std::string> namespaces_ok;
  std::map<std::string, MemberSyncResult> results;
  std::set<std::string> deleting;               // workload label values
  std::set<GroupVersionResource> deleting_kinds;  // what their objects may be
  for (const api::FederatedWorkload& w : workloads) {
    if (!w.metadata.deletion_timestamp.empty()) {
      deleting.insert(WorkloadLabelValue(w));
      if (auto rendered = RenderMemberObject(w, name, labels, 0); rendered.ok()) {
        auto gvr = ResolveResource((*rendered)["apiVersion"].get<std::string>(),
                                   (*rendered)["kind"].get<std::string>(),
                                   discovery ? &*discovery : nullptr);
        if (gvr.ok()) deleting_kinds.insert(*gvr);
      }
      continue;
    }
    const api::ClusterPlacement* placed = nullptr;
    for (const api::ClusterPlacement& p : w.status.placement) {
      if (p.cluster == name && p.replicas > 0) placed = &p;
    }
    if (placed == nullptr) continue;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::Ok();
    }
    expected.placed.insert(WorkloadLabelValue(w));
    MemberSyncResult& r = results[Key(w)];
    r.replicas = placed->replicas;
    r.status.cluster = name;
    if (!down.ok()) {
      r.status.last_error = down.ToString();
      continue;
    }
    Status s = [&]() -> Status {
      MERIDIAN_ASSIGN_OR_RETURN(json rendered, RenderMemberObject(w, name, labels, placed->replicas));
      MERIDIAN_ASSIGN_OR_RETURN(
          GroupVersionResource gvr,
          ResolveResource(rendered["apiVersion"].get<std::string>(),
                          rendered["kind"].get<std::string>(), discovery ? &*discovery : nullptr));
      expected.rendered.insert(WorkloadLabelValue(w));
      expected.objects[gvr].insert({w.metadata.ns, rendered["metadata"]["name"].get<std::string>()});
      return SyncObject(*client, w, rendered, gvr, placed->replicas, &namespaces_ok, &r.status);
    }();
    if (!s.ok()) {
      r.status.synced = false;
      r.status.last_error = s.ToString();
      if (MemberDown(s)) down = s;
    }
  }

  // Orphans: managed objects whose workload is gone, no longer placed here, or now renders
  // to another object. Only on a healthy pass (never delete on partial knowledge).
  std::set<std::string> cleaned;
  if (down.ok()) {
    bool complete = true;  // every list answered and every delete succeeded
    std::set<std::string> failed_owners;
    std::set<GroupVersionResource> kinds = deleting_kinds;
    for (const auto& [gvr, objs] : expected.objects) kinds.insert(gvr);
    for (const char* kind : {"Deployment", "StatefulSet"}) {
      kinds.insert(*FallbackResource("apps/v1", kind));
    }
    for (const char* kind : {"Service", "ConfigMap"}) kinds.insert(*FallbackResource("v1", kind));
    for (const GroupVersionResource& gvr : kinds) {
      MemberListOptions options;
      options.label_selector = std::string(kManagedByLabel) + "=" + kManagedByValue;
      auto list = client->List(gvr, "", options);
      if (!list.ok()) {
        // Not served (nothing to delete), or a hiccup: the next resync tries again.
        if (list.status().code() != StatusCode::kNotFound) complete = false;
        continue;
      }
      for (const json& item : list->items) {
        const json& meta = item["metadata"];
        const std::string owner =
            meta.contains("labels") ? meta["labels"].value(kWorkloadLabel, "") : "";
        const std::pair<std::string, std::string> key{meta.value("namespace", ""),
                                                      meta.value("name", "")};
        const bool wanted =
            expected.placed.count(owner) &&
            (!expected.rendered.count(owner) || expected.objects[gvr].count(key));
        if (wanted) continue;
        Status deleted = client->Delete(gvr, key.first, key.second);
        if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) {
          failed_owners.insert(owner);
          spdlog::warn("propagation controller: member {}: deleting {} {}/{}: {}", name,
                       gvr.GroupResource(), key.first, key.second, deleted.ToString());
        }
      }
    }

    if (complete) {
      for (const std::string& owner : deleting) {
        if (!failed_owners.count(owner)) cleaned.insert(owner);
      }
    }
  }

  std::lock_guard lock(mu_);
  auto it = members_.find(name);
  if (it != members_.end()) {
    it->second->results = std::move(results);
    it->second->cleaned = std::move(cleaned);
  }
  return Status::Ok();
}

StatusOr<int> PropagationController::Aggregate() {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::FederatedWorkload> workloads, ListWorkloads());
  std::map<std::string, std::map<std::string, MemberSyncResult>> by_workload;
  std::map<std::string, std::set<std::string>> cleaned;  // by member
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, member] : members_) {
      for (const auto& [key, r] : member->results) by_workload[key][name] = r;
      cleaned[name] = member->cleaned;
    }
  }
  const ResourceInfo& info = Info(objects_, "federatedworkloads");
  int written = 0;
  for (api::FederatedWorkload w : workloads) {
    auto& fin = w.metadata.finalizers;
    const bool has_finalizer = std::find(fin.begin(), fin.end(), kCleanupFinalizer) != fin.end();
    if (!w.metadata.deletion_timestamp.empty()) {
      if (!has_finalizer) continue;
      written += FinishDeletion(w, cleaned);
      continue;
    }
    if (!has_finalizer) {
      api::FederatedWorkload updated = w;
      updated.metadata.finalizers.push_back(kCleanupFinalizer);
      auto result = objects_.Update(info, w.metadata.ns, w.metadata.name, api::Encode(updated));
      if (!result.ok()) continue;  // changed meanwhile (409) or gone: the next pass retries
      ++written;
      FieldErrors errors;
      w = api::DecodeFederatedWorkload(result.value(), &errors);
      if (!errors.empty()) continue;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      api::FederatedWorkloadStatus status = SyncedStatus(w, by_workload[Key(w)], clock_.Now());
      if (status == w.status) break;
      api::FederatedWorkload updated = w;
      updated.status = std::move(status);
      auto result = objects_.Update(info, w.metadata.ns, w.metadata.name, api::Encode(updated),
                                    "status");
      if (result.ok()) {
        ++written;
        break;
      }
      if (result.error().code != 409) {
        if (result.error().code != 404) {
          spdlog::warn("propagation controller: writing status of {}: {}", Key(w),
                       result.error().message);
        }
        break;
      }
      // Someone (placement) wrote meanwhile: recompute from the new object.
      auto got = objects_.Get(info, w.metadata.ns, w.metadata.name);
      if (!got.ok()) break;
      FieldErrors errors;
      w = api::DecodeFederatedWorkload(got.value(), &errors);
      if (!errors.empty()) break;
    }
  }
  return written;
}

int PropagationController::FinishDeletion(
    const api::FederatedWorkload& w, const std::map<std::string, std::set<std::string>>& cleaned) {
  const ResourceInfo& info = Info(objects_, "federatedworkloads");
  const std::string owner = WorkloadLabelValue(w);
  std::vector<std::string> pending;
  for (const auto& [member, done] : cleaned) {
    if (!done.count(owner)) pending.push_back(member);
  }
  const Timestamp now = clock_.Now();
  Timestamp deleted_at;
  const bool parsed = ParseRfc3339(w.metadata.deletion_timestamp, &deleted_at);
  const bool timed_out = !parsed || now - deleted_at >= options_.cleanup_timeout;
  int written = 0;
  if (!pending.empty()) {
    std::string names;
    for (const std::string& m : pending) names += (names.empty() ? "" : ", ") + m;
    api::Condition c{"CleanedUp", "False", timed_out ? "CleanupAbandoned" : "CleanupPending",
                     (timed_out ? "gave up waiting for members: " : "waiting for members: ") + names,
                     "", w.metadata.generation};
    api::FederatedWorkload updated = w;
    bool replaced = false;
    for (api::Condition& existing : updated.status.conditions) {
      if (existing.type != c.type) continue;
      c.last_transition_time = existing.last_transition_time;
      existing = c;
      replaced = true;
    }
    if (!replaced) {
      c.last_transition_time = FormatRfc3339(now);
      updated.status.conditions.push_back(c);
    }
    if (updated.status != w.status &&
        objects_.Update(info, w.metadata.ns, w.metadata.name, api::Encode(updated), "status").ok()) {
      ++written;
    }
    if (!timed_out) return written;
    spdlog::warn("propagation controller: {}: gave up cleaning up members {} after {} ms",
                 Key(w), names, options_.cleanup_timeout.count());
  }
  // Drop the finalizer from the current object (the status write above changed it).
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = objects_.Get(info, w.metadata.ns, w.metadata.name);
    if (!got.ok()) return written;
    json current = got.value();
    json& fins = current["metadata"]["finalizers"];
    if (!fins.is_array()) return written;
    json kept = json::array();
    for (const json& f : fins) {
      if (f != kCleanupFinalizer) kept.push_back(f);
    }
    if (kept.size() == fins.size()) return written;
    fins = kept;
    auto result = objects_.Update(info, w.metadata.ns, w.metadata.name, current);
    if (result.ok() || result.error().code == 404) return written + 1;
    if (result.error().code != 409) {
      spdlog::warn("propagation controller: {}: dropping the finalizer: {}", Key(w),
                   result.error().message);
      return written;
    }
  }
  return written;
}

StatusOr<int> PropagationController::ReconcileAll() {
  MERIDIAN_RETURN_IF_ERROR(RefreshMembers());
  for (const std::string& name : MemberNames()) {
    MERIDIAN_RETURN_IF_ERROR(ReconcileMember(name));
  }
  return Aggregate();
}

}  // namespace meridian::sync
