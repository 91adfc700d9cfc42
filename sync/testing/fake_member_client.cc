#include "sync/testing/fake_member_client.h"

#include <algorithm>
#include <set>

#include "apimachinery/labels.h"
#include "sync/internal/kube_wire.h"

namespace meridian::sync::testing {

using nlohmann::json;

const char* VerbName(Verb verb) {
  switch (verb) {
    case Verb::kDiscover:
      return "discover";
    case Verb::kGet:
      return "get";
    case Verb::kList:
      return "list";
    case Verb::kCreate:
      return "create";
    case Verb::kUpdate:
      return "update";
    case Verb::kUpdateStatus:
      return "update status of";
    case Verb::kMergePatch:
    case Verb::kJsonPatch:
      return "patch";
    case Verb::kDelete:
      return "delete";
    case Verb::kWatch:
      return "watch";
    case Verb::kHealthz:
      return "probe /healthz";
    case Verb::kReadyz:
      return "probe /readyz";
  }
  return "call";
}

struct FakeMemberClient::Delivery {
  std::mutex mu;  // held while a callback runs
  std::atomic<std::thread::id> thread{};
};

struct FakeMemberClient::Watcher {
  GroupVersionResource gvr;
  std::string ns;
  apimachinery::LabelSelector selector;
  MemberWatchCallback callback;
  std::shared_ptr<Delivery> delivery;
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> relists{0};
  int64_t start_rv = 0;  // broadcast events up to this revision predate the watch
  // Delivery thread only (under Delivery::mu).
  std::map<std::string, std::string> known;  // cache key -> resourceVersion
  mutable std::mutex rv_mu;                  // guards last_rv
  std::string last_rv;

  bool InScope(const json& object) const {
    if (ns.empty()) return true;
    const json* meta = object.contains("metadata") ? &object["metadata"] : nullptr;
    return meta && meta->contains("namespace") && (*meta)["namespace"] == ns;
  }
  void SetRv(const std::string& rv) {
    std::lock_guard lock(rv_mu);
    if (!rv.empty()) last_rv = rv;
  }
  void Stop() {
    stopped.store(true);
    if (delivery->thread.load() != std::this_thread::get_id()) {
      std::lock_guard lock(delivery->mu);  // wait for a callback in progress
    }
  }
};

namespace {

class FakeWatch final : public MemberWatch {
 public:
  explicit FakeWatch(std::shared_ptr<FakeMemberClient::Watcher> w) : w_(std::move(w)) {}
  ~FakeWatch() override { w_->Stop(); }
  void Stop() override { w_->Stop(); }
  std::string LastResourceVersion() const override {
    std::lock_guard lock(w_->rv_mu);
    return w_->last_rv;
  }
  int64_t Connections() const override { return 1; }
  int64_t Relists() const override { return w_->relists.load(); }

 private:
  std::shared_ptr<FakeMemberClient::Watcher> w_;
};

json* MetadataOf(json& object) {
  if (!object.is_object()) return nullptr;
  json& m = object["metadata"];
  if (!m.is_object()) m = json::object();
  return &m;
}

std::string StringAt(const json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return "";
  }
  const json& m = object["metadata"];
  return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : "";
}

// Everything but metadata and status (what bumps generation).
json SpecPart(json object) {
  if (object.is_object()) {
    object.erase("metadata");
    object.erase("status");
  }
  return object;
}

json WithoutRv(json object) {
  if (json* m = MetadataOf(object)) m->erase("resourceVersion");
  return object;
}

}  // namespace

FakeMemberClient::FakeMemberClient() : FakeMemberClient(Options{}) {}

FakeMemberClient::FakeMemberClient(Options options)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      delivery_(std::make_shared<Delivery>()) {
  auto add = [this](std::string group, std::string plural, std::string kind, bool namespaced,
                    bool status) {
    DiscoveredResource r;
    r.gvr = {std::move(group), "v1", std::move(plural)};
    r.kind = std::move(kind);
    r.namespaced = namespaced;
    r.has_status = status;
    r.verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
    resources_[r.gvr] = r;
  };
  add("", "namespaces", "Namespace", false, true);
  add("", "nodes", "Node", false, true);
  add("", "configmaps", "ConfigMap", true, false);
  add("", "secrets", "Secret", true, false);
  add("", "services", "Service", true, true);
  add("apps", "deployments", "Deployment", true, true);
  add("apps", "replicasets", "ReplicaSet", true, true);
  add("apps", "statefulsets", "StatefulSet", true, true);
}

FakeMemberClient::~FakeMemberClient() {
  std::lock_guard lock(mu_);
  for (auto& weak : watchers_) {
    if (auto w = weak.lock()) w->stopped.store(true);
  }
}

// ---- scripting ----

void FakeMemberClient::FailNext(Verb verb, Status status, int times) {
  std::lock_guard lock(mu_);
  if (times > 0) failures_[verb].push_back({std::move(status), times});
}

void FakeMemberClient::FailAlways(Verb verb, Status status) {
  std::lock_guard lock(mu_);
  failures_[verb].push_back({std::move(status), -1});
}

void FakeMemberClient::FailEverything(Status status) {
  std::lock_guard lock(mu_);
  fail_everything_ = std::move(status);
}

void FakeMemberClient::ClearFailures() {
  std::lock_guard lock(mu_);
  failures_.clear();
  fail_everything_.reset();
}

void FakeMemberClient::SetLatency(std::chrono::milliseconds latency) {
  std::lock_guard lock(mu_);
  latency_ = latency;
}

void FakeMemberClient::AddResource(DiscoveredResource resource) {
  std::lock_guard lock(mu_);
  resources_[resource.gvr] = std::move(resource);
}

std::vector<FakeMemberClient::Call> FakeMemberClient::Calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int FakeMemberClient::CallCount(Verb verb) const {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) { return c.verb == verb; }));
}

void FakeMemberClient::ClearCalls() {
  std::lock_guard lock(mu_);
  calls_.clear();
}

Status FakeMemberClient::Enter(Verb verb, const GroupVersionResource& gvr, const std::string& ns,
                               const std::string& name) {
  std::chrono::milliseconds latency{0};
  Status fail;
  {
    std::lock_guard lock(mu_);
    calls_.push_back({verb, gvr, ns, name});
    latency = latency_;
    if (fail_everything_) {
      fail = *fail_everything_;
    } else if (auto it = failures_.find(verb); it != failures_.end() && !it->second.empty()) {
      Failure& f = it->second.front();
      fail = f.status;
      if (f.remaining > 0 && --f.remaining == 0) it->second.pop_front();
    }
  }
  if (latency.count() > 0) {
    if (latency >= options_.timeout) {
      std::this_thread::sleep_for(options_.timeout);
      return DeadlineExceededError("member \"" + options_.member + "\": " + VerbName(verb) + " " +
                                   Describe(gvr, ns, name) + ": no answer within " +
                                   std::to_string(options_.timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(latency);
  }
  return fail;
}

std::string FakeMemberClient::Describe(const GroupVersionResource& gvr, const std::string& ns,
                                       const std::string& name) const {
  return internal::DescribeObject(gvr, ns, name);
}

bool FakeMemberClient::HasStatus(const GroupVersionResource& gvr) const {
  auto it = resources_.find(gvr);
  return it != resources_.end() && it->second.has_status;
}

// ---- state ----

json FakeMemberClient::StoreLocked(const GroupVersionResource& gvr, const Key& key, json object,
                                   bool created) {
  ++rv_;
  (*MetadataOf(object))["resourceVersion"] = std::to_string(rv_);
  objects_[gvr][key] = object;
  MemberWatchEvent e{created ? MemberEventType::kAdded : MemberEventType::kModified, object,
                     std::to_string(rv_), false};
  history_.emplace_back(gvr, e);
  while (history_.size() > options_.history_limit) history_.pop_front();
  queue_.push_back({nullptr, gvr, std::move(e), false, {}});
  return object;
}

void FakeMemberClient::RemoveLocked(const GroupVersionResource& gvr, const Key& key, bool seen) {
  auto& objs = objects_[gvr];
  auto it = objs.find(key);
  if (it == objs.end()) return;
  json last = std::move(it->second);
  objs.erase(it);
  ++rv_;
  (*MetadataOf(last))["resourceVersion"] = std::to_string(rv_);
  MemberWatchEvent e{MemberEventType::kDeleted, std::move(last), std::to_string(rv_), false};
  history_.emplace_back(gvr, e);
  while (history_.size() > options_.history_limit) history_.pop_front();
  if (seen) queue_.push_back({nullptr, gvr, std::move(e), false, {}});
}

json FakeMemberClient::Apply(const GroupVersionResource& gvr, json object) {
  json stored;
  {
    std::lock_guard lock(mu_);
    const Key key{StringAt(object, "namespace"), StringAt(object, "name")};
    auto& objs = objects_[gvr];
    auto it = objs.find(key);
    json* meta = MetadataOf(object);
    if (it == objs.end()) {
      if (!meta->contains("uid")) (*meta)["uid"] = "fake-uid-" + std::to_string(++uid_counter_);
      if (!meta->contains("creationTimestamp")) {
        (*meta)["creationTimestamp"] = FormatRfc3339(clock_.Now());
      }
      if (!meta->contains("generation")) (*meta)["generation"] = 1;
      stored = StoreLocked(gvr, key, std::move(object), true);
    } else {
      stored = StoreLocked(gvr, key, std::move(object), false);
    }
  }
  Drain();
  return stored;
}

bool FakeMemberClient::Remove(const GroupVersionResource& gvr, const std::string& ns,
                              const std::string& name) {
  bool existed = false;
  {
    std::lock_guard lock(mu_);
    auto& objs = objects_[gvr];
    existed = objs.count({ns, name}) != 0;
    RemoveLocked(gvr, {ns, name});
  }
  Drain();
  return existed;
}

bool FakeMemberClient::RemoveUnseen(const GroupVersionResource& gvr, const std::string& ns,
                                    const std::string& name) {
  std::lock_guard lock(mu_);
  const bool existed = objects_[gvr].count({ns, name}) != 0;
  RemoveLocked(gvr, {ns, name}, /*seen=*/false);
  return existed;
}

std::optional<json> FakeMemberClient::Object(const GroupVersionResource& gvr,
                                             const std::string& ns,
                                             const std::string& name) const {
  std::lock_guard lock(mu_);
  auto g = objects_.find(gvr);
  if (g == objects_.end()) return std::nullopt;
  auto it = g->second.find({ns, name});
  if (it == g->second.end()) return std::nullopt;
  return it->second;
}

size_t FakeMemberClient::ObjectCount(const GroupVersionResource& gvr) const {
  std::lock_guard lock(mu_);
  auto g = objects_.find(gvr);
  return g == objects_.end() ? 0 : g->second.size();
}

std::string FakeMemberClient::CurrentResourceVersion() const {
  std::lock_guard lock(mu_);
  return std::to_string(rv_);
}

void FakeMemberClient::ExpireWatches() {
  {
    std::lock_guard lock(mu_);
    for (auto& weak : watchers_) {
      auto w = weak.lock();
      if (!w || w->stopped.load()) continue;
      Queued q{w, w->gvr, {}, true, {}};
      if (auto g = objects_.find(w->gvr); g != objects_.end()) {
        for (const auto& [key, obj] : g->second) q.snapshot.push_back(obj);
      }
      q.event.resource_version = std::to_string(rv_);
      queue_.push_back(std::move(q));
    }
  }
  Drain();
}

size_t FakeMemberClient::ActiveWatches() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(watchers_.begin(), watchers_.end(), [](const auto& w) {
    auto s = w.lock();
    return s && !s->stopped.load();
  }));
}

// ---- delivery ----

void FakeMemberClient::Drain() {
  if (delivery_->thread.load() == std::this_thread::get_id()) return;  // the outer loop delivers
  std::lock_guard d(delivery_->mu);
  delivery_->thread.store(std::this_thread::get_id());
  for (;;) {
    Queued q;
    std::vector<std::shared_ptr<Watcher>> targets;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) break;
      q = std::move(queue_.front());
      queue_.pop_front();
      if (q.target) {
        targets.push_back(q.target);
      } else {
        std::erase_if(watchers_, [](const auto& w) { return w.expired(); });
        for (auto& weak : watchers_) {
          auto w = weak.lock();
          if (w && w->gvr == q.gvr && std::stoll(q.event.resource_version) > w->start_rv) {
            targets.push_back(std::move(w));
          }
        }
      }
    }
    for (const auto& w : targets) Deliver(*w, q);
  }
  delivery_->thread.store(std::thread::id());
}

void FakeMemberClient::Deliver(Watcher& w, const Queued& q) {
  if (w.stopped.load()) return;
  auto call = [&w](const MemberWatchEvent& e) {
    if (w.stopped.load()) return;
    try {
      w.callback(e);
    } catch (const std::exception&) {
    }
  };
  if (q.relist) {
    w.relists.fetch_add(1);
    std::vector<MemberWatchEvent> events;
    std::map<std::string, std::string> fresh;
    for (const json& obj : q.snapshot) {
      if (!w.InScope(obj) || !w.selector.Matches(apimachinery::LabelsOf(obj))) continue;
      const std::string key = internal::ObjectCacheKey(obj);
      const std::string rv = internal::ResourceVersionOf(obj);
      auto it = w.known.find(key);
      if (it == w.known.end()) {
        events.push_back({MemberEventType::kAdded, obj, rv, true});
      } else if (it->second != rv) {
        events.push_back({MemberEventType::kModified, obj, rv, true});
      }
      fresh[key] = rv;
    }
    for (const auto& [key, rv] : w.known) {
      if (fresh.count(key)) continue;
      const size_t slash = key.find('/');
      json gone = {{"metadata", slash == std::string::npos
                                    ? json{{"name", key}}
                                    : json{{"namespace", key.substr(0, slash)},
                                           {"name", key.substr(slash + 1)}}}};
      gone["metadata"]["resourceVersion"] = rv;
      events.push_back({MemberEventType::kDeleted, gone, rv, true});
    }
    w.known = std::move(fresh);
    w.SetRv(q.event.resource_version);
    for (const auto& e : events) call(e);
    return;
  }
  const MemberWatchEvent& e = q.event;
  if (!w.InScope(e.object)) return;
  const std::string key = internal::ObjectCacheKey(e.object);
  const bool was_known = w.known.count(key) != 0;
  w.SetRv(e.resource_version);
  if (e.type == MemberEventType::kDeleted) {
    if (!was_known) return;
    w.known.erase(key);
    call(e);
    return;
  }
  if (w.selector.Matches(apimachinery::LabelsOf(e.object))) {
    w.known[key] = e.resource_version;
    MemberWatchEvent out = e;
    out.type = was_known ? MemberEventType::kModified : MemberEventType::kAdded;
    call(out);
  } else if (was_known) {
    // Left the selector: watchers see it go, as Kubernetes does.
    w.known.erase(key);
    MemberWatchEvent out = e;
    out.type = MemberEventType::kDeleted;
    call(out);
  }
}

// ---- MemberClient ----

StatusOr<DiscoveryInfo> FakeMemberClient::Discover(bool /*refresh*/) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kDiscover, {}, "", ""));
  std::lock_guard lock(mu_);
  DiscoveryInfo info;
  info.version = options_.version;
  info.supports_server_side_apply =
      info.version.major > 1 || (info.version.major == 1 && info.version.minor >= 22);
  std::set<std::string> gvs;
  for (const auto& [gvr, r] : resources_) {
    info.resources.push_back(r);
    if (gvs.insert(gvr.GroupVersion()).second) info.group_versions.push_back(gvr.GroupVersion());
  }
  return info;
}

StatusOr<json> FakeMemberClient::Get(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kGet, gvr, ns, name));
  std::optional<json> o = Object(gvr, ns, name);
  if (!o) {
    return NotFoundError("member \"" + options_.member + "\": get " + Describe(gvr, ns, name) +
                         ": " + gvr.GroupResource() + " \"" + name + "\" not found (NotFound)");
  }
  return *o;
}

StatusOr<ObjectList> FakeMemberClient::List(const GroupVersionResource& gvr, const std::string& ns,
                                            const MemberListOptions& options) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kList, gvr, ns, ""));
  const std::string what = "member \"" + options_.member + "\": list " + Describe(gvr, ns, "");
  StatusOr<apimachinery::LabelSelector> selector =
      apimachinery::ParseLabelSelector(options.label_selector);
  if (!selector.ok()) return selector.status().WithContext(what);
  if (!options.field_selector.empty()) {
    return UnimplementedError(what + ": the fake does not support field selectors");
  }
  std::lock_guard lock(mu_);
  ObjectList out;
  out.resource_version = std::to_string(rv_);
  auto g = objects_.find(gvr);
  if (g == objects_.end()) return out;
  std::vector<const json*> matching;
  for (const auto& [key, obj] : g->second) {
    if (!ns.empty() && key.first != ns) continue;
    if (!selector->Matches(apimachinery::LabelsOf(obj))) continue;
    if (!options.continue_token.empty() && internal::ObjectCacheKey(obj) <= options.continue_token) {
      continue;
    }
    matching.push_back(&obj);
  }
  for (const json* obj : matching) {
    if (options.limit > 0 && static_cast<int64_t>(out.items.size()) == options.limit) {
      out.continue_token = internal::ObjectCacheKey(out.items.back());
      out.remaining_item_count = static_cast<int64_t>(matching.size() - out.items.size());
      break;
    }
    out.items.push_back(*obj);
  }
  return out;
}

StatusOr<json> FakeMemberClient::Create(const GroupVersionResource& gvr, const std::string& ns,
                                        const json& object) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kCreate, gvr, ns, StringAt(object, "name")));
  const std::string prefix = "member \"" + options_.member + "\": create ";
  if (!object.is_object()) return InvalidArgumentError(prefix + Describe(gvr, ns, "") + ": not an object");
  json obj = object;
  json* meta = MetadataOf(obj);
  json stored;
  {
    std::lock_guard lock(mu_);
    auto r = resources_.find(gvr);
    const bool namespaced = r == resources_.end() || r->second.namespaced;
    std::string name = StringAt(obj, "name");
    if (name.empty() && !StringAt(obj, "generateName").empty()) {
      name = StringAt(obj, "generateName") + "fake" + std::to_string(++uid_counter_);
    }
    if (name.empty()) {
      return InvalidArgumentError(prefix + Describe(gvr, ns, "") + ": metadata.name: Required value");
    }
    std::string body_ns = StringAt(obj, "namespace");
    std::string where = namespaced ? (ns.empty() ? body_ns : ns) : "";
    if (namespaced && where.empty()) {
      return InvalidArgumentError(prefix + Describe(gvr, ns, name) + ": a namespace is required");
    }
    if (namespaced && !body_ns.empty() && body_ns != where) {
      return InvalidArgumentError(prefix + Describe(gvr, where, name) +
                                  ": the namespace of the object does not match the request");
    }
    const Key key{where, name};
    if (objects_[gvr].count(key)) {
      return AlreadyExistsError(prefix + Describe(gvr, where, name) + ": " + gvr.GroupResource() +
                                " \"" + name + "\" already exists (AlreadyExists)");
    }
    (*meta)["name"] = name;
    if (namespaced) {
      (*meta)["namespace"] = where;
    } else {
      meta->erase("namespace");
    }
    meta->erase("resourceVersion");
    (*meta)["uid"] = "fake-uid-" + std::to_string(++uid_counter_);
    (*meta)["creationTimestamp"] = FormatRfc3339(clock_.Now());
    (*meta)["generation"] = 1;
    if (HasStatus(gvr)) obj.erase("status");
    stored = StoreLocked(gvr, key, std::move(obj), true);
  }
  Drain();
  return stored;
}

StatusOr<json> FakeMemberClient::ReplaceLocked(const GroupVersionResource& gvr,
                                               const std::string& ns, const std::string& name,
                                               json object, bool status_only) {
  const std::string what = "member \"" + options_.member + "\": " +
                           (status_only ? "update status of " : "update ") +
                           Describe(gvr, ns, name);
  auto& objs = objects_[gvr];
  auto it = objs.find({ns, name});
  if (it == objs.end()) {
    return NotFoundError(what + ": " + gvr.GroupResource() + " \"" + name + "\" not found (NotFound)");
  }
  const json& old = it->second;
  const std::string want_rv = StringAt(object, "resourceVersion");
  if (!want_rv.empty() && want_rv != StringAt(old, "resourceVersion")) {
    return AbortedError(what + ": Operation cannot be fulfilled on " + gvr.GroupResource() + " \"" +
                        name +
                        "\": the object has been modified; please apply your changes to the "
                        "latest version and try again (Conflict)");
  }
  json next;
  const bool split = HasStatus(gvr);
  if (status_only) {
    next = old;
    if (object.contains("status")) {
      next["status"] = object["status"];
    } else {
      next.erase("status");
    }
  } else {
    next = std::move(object);
    json* meta = MetadataOf(next);
    const json& old_meta = old["metadata"];
    for (const char* owned : {"uid", "creationTimestamp", "generation", "namespace", "name"}) {
      if (old_meta.contains(owned)) {
        (*meta)[owned] = old_meta[owned];
      } else {
        meta->erase(owned);
      }
    }
    if (split) {
      if (old.contains("status")) {
        next["status"] = old["status"];
      } else {
        next.erase("status");
      }
    }
    if (SpecPart(next) != SpecPart(old)) {
      const int64_t gen = old_meta.contains("generation") && old_meta["generation"].is_number_integer()
                              ? old_meta["generation"].get<int64_t>()
                              : 0;
      (*meta)["generation"] = gen + 1;
    }
  }
  if (WithoutRv(next) == WithoutRv(old)) return old;  // no-op writes are not stored
  return StoreLocked(gvr, {ns, name}, std::move(next), false);
}

StatusOr<json> FakeMemberClient::Update(const GroupVersionResource& gvr, const std::string& ns,
                                        const json& object) {
  const std::string name = StringAt(object, "name");
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kUpdate, gvr, ns, name));
  if (name.empty()) {
    return InvalidArgumentError("member \"" + options_.member + "\": update " +
                                Describe(gvr, ns, "") + ": the object has no metadata.name");
  }
  StatusOr<json> r = [&]() -> StatusOr<json> {
    std::lock_guard lock(mu_);
    return ReplaceLocked(gvr, ns, name, object, false);
  }();
  Drain();
  return r;
}

StatusOr<json> FakeMemberClient::UpdateStatus(const GroupVersionResource& gvr,
                                              const std::string& ns, const json& object) {
  const std::string name = StringAt(object, "name");
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kUpdateStatus, gvr, ns, name));
  if (name.empty()) {
    return InvalidArgumentError("member \"" + options_.member + "\": update status of " +
                                Describe(gvr, ns, "") + ": the object has no metadata.name");
  }
  StatusOr<json> r = [&]() -> StatusOr<json> {
    std::lock_guard lock(mu_);
    return ReplaceLocked(gvr, ns, name, object, true);
  }();
  Drain();
  return r;
}

StatusOr<json> FakeMemberClient::MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                                            const std::string& name, const json& patch) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kMergePatch, gvr, ns, name));
  const std::string what =
      "member \"" + options_.member + "\": patch " + Describe(gvr, ns, name) + ": ";
  if (!patch.is_object()) return InvalidArgumentError(what + "a merge patch must be a JSON object");
  StatusOr<json> r = [&]() -> StatusOr<json> {
    std::lock_guard lock(mu_);
    auto& objs = objects_[gvr];
    auto it = objs.find({ns, name});
    if (it == objs.end()) {
      return NotFoundError(what + gvr.GroupResource() + " \"" + name + "\" not found (NotFound)");
    }
    json next = it->second;
    next.merge_patch(patch);
    return ReplaceLocked(gvr, ns, name, std::move(next), false);
  }();
  Drain();
  return r;
}

StatusOr<json> FakeMemberClient::JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                                           const std::string& name, const json& ops) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kJsonPatch, gvr, ns, name));
  const std::string what =
      "member \"" + options_.member + "\": patch " + Describe(gvr, ns, name) + ": ";
  if (!ops.is_array()) return InvalidArgumentError(what + "a JSON patch must be an array");
  StatusOr<json> r = [&]() -> StatusOr<json> {
    std::lock_guard lock(mu_);
    auto& objs = objects_[gvr];
    auto it = objs.find({ns, name});
    if (it == objs.end()) {
      return NotFoundError(what + gvr.GroupResource() + " \"" + name + "\" not found (NotFound)");
    }
    json next;
    try {
      next = it->second.patch(ops);
    } catch (const json::exception& e) {
      return InvalidArgumentError(what + "the JSON patch does not apply: " + e.what());
    }
    return ReplaceLocked(gvr, ns, name, std::move(next), false);
  }();
  Drain();
  return r;
}

Status FakeMemberClient::Delete(const GroupVersionResource& gvr, const std::string& ns,
                                const std::string& name, const MemberDeleteOptions& options) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kDelete, gvr, ns, name));
  const std::string what =
      "member \"" + options_.member + "\": delete " + Describe(gvr, ns, name) + ": ";
  Status s = [&]() -> Status {
    std::lock_guard lock(mu_);
    auto& objs = objects_[gvr];
    auto it = objs.find({ns, name});
    if (it == objs.end()) {
      return NotFoundError(what + gvr.GroupResource() + " \"" + name + "\" not found (NotFound)");
    }
    if (!options.precondition_uid.empty() &&
        options.precondition_uid != StringAt(it->second, "uid")) {
      return AbortedError(what + "precondition failed: uid (Conflict)");
    }
    if (!options.precondition_resource_version.empty() &&
        options.precondition_resource_version != StringAt(it->second, "resourceVersion")) {
      return AbortedError(what + "precondition failed: resourceVersion (Conflict)");
    }
    RemoveLocked(gvr, {ns, name});
    return Status::Ok();
  }();
  Drain();
  return s;
}

StatusOr<std::unique_ptr<MemberWatch>> FakeMemberClient::Watch(
    const GroupVersionResource& gvr, const std::string& ns, const std::string& label_selector,
    const std::string& from_resource_version, MemberWatchCallback callback,
    WatchOptions /*options*/) {
  MERIDIAN_RETURN_IF_ERROR(Enter(Verb::kWatch, gvr, ns, ""));
  const std::string what = "member \"" + options_.member + "\": watch " + Describe(gvr, ns, "");
  if (!callback) return InvalidArgumentError(what + ": no callback");
  StatusOr<apimachinery::LabelSelector> selector = apimachinery::ParseLabelSelector(label_selector);
  if (!selector.ok()) return selector.status().WithContext(what);
  int64_t from = 0;
  if (!from_resource_version.empty()) {
    try {
      from = std::stoll(from_resource_version);
    } catch (const std::exception&) {
      return InvalidArgumentError(what + ": resourceVersion \"" + from_resource_version +
                                  "\" is not a number");
    }
  }
  auto w = std::make_shared<Watcher>();
  w->gvr = gvr;
  w->ns = ns;
  w->selector = *selector;
  w->callback = std::move(callback);
  w->delivery = delivery_;
  {
    std::lock_guard lock(mu_);
    watchers_.push_back(w);
    w->last_rv = std::to_string(rv_);
    w->start_rv = rv_;
    auto g = objects_.find(gvr);
    if (from_resource_version.empty()) {
      if (g != objects_.end()) {
        for (const auto& [key, obj] : g->second) {
          MemberWatchEvent e{MemberEventType::kAdded, obj, internal::ResourceVersionOf(obj), true};
          queue_.push_back({w, gvr, std::move(e), false, {}});
        }
      }
    } else {
      const bool covered = history_.empty()
                               ? true
                               : std::stoll(history_.front().second.resource_version) <= from + 1;
      if (covered) {
        w->last_rv = from_resource_version;
        for (const auto& [hgvr, e] : history_) {
          if (hgvr == gvr && std::stoll(e.resource_version) > from) {
            queue_.push_back({w, gvr, e, false, {}});
          }
        }
      } else {
        Queued q{w, gvr, {}, true, {}};
        if (g != objects_.end()) {
          for (const auto& [key, obj] : g->second) q.snapshot.push_back(obj);
        }
        q.event.resource_version = std::to_string(rv_);
        queue_.push_back(std::move(q));
      }
    }
  }
  Drain();
  return std::unique_ptr<MemberWatch>(new FakeWatch(std::move(w)));
}

Status FakeMemberClient::Healthz() { return Enter(Verb::kHealthz, {}, "", ""); }
Status FakeMemberClient::Readyz() { return Enter(Verb::kReadyz, {}, "", ""); }

}  // namespace meridian::sync::testing
