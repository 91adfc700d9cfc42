#include "federation-controller-manager/rest_store.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "apimachinery/status_store.h"

namespace meridian::controllermanager {
namespace {

using apimachinery::ListOptions;
using apimachinery::ListResult;
using apimachinery::ObjectKey;
using apimachinery::ResourceInfo;
using apimachinery::ResourceType;
using apimachinery::WatchCallback;
using apimachinery::WatchEvent;
using apimachinery::WatchEventType;
using nlohmann::json;

StatusOr<int64_t> ParseRevision(const std::string& text, const std::string& what) {
  if (text.empty()) return int64_t{0};
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || value > (INT64_MAX - 9) / 10) {
      return InvalidArgumentError(what + ": resourceVersion \"" + text +
                                  "\" is not a decimal revision");
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

const json& StatusOf(const json& object) {
  static const json kNone;
  auto it = object.find("status");
  return it == object.end() ? kNone : *it;
}

bool BeingDeleted(const json& object) {
  auto meta = object.find("metadata");
  return meta != object.end() && meta->contains("deletionTimestamp") &&
         !(*meta)["deletionTimestamp"].is_null();
}

// One watch's start: the first of "accepted" and "refused" wins; events before acceptance
// come from the client's relist after a refused start and are not the caller's.
struct WatchStart {
  std::mutex mu;  // guards the three below
  std::condition_variable changed;
  bool connected = false;
  bool refused = false;
  Status error;
};

class RestWatch final : public apimachinery::Watch {
 public:
  explicit RestWatch(std::unique_ptr<sync::MemberWatch> watch) : watch_(std::move(watch)) {}
  ~RestWatch() override { Cancel(); }
  void Cancel() override { watch_->Stop(); }

 private:
  std::unique_ptr<sync::MemberWatch> watch_;
};

class RestStore final : public apimachinery::Store, public apimachinery::StatusSubresourceStore {
 public:
  RestStore(std::shared_ptr<sync::MemberClient> client,
            const apimachinery::ResourceRegistry& registry, RestStoreOptions options)
      : client_(std::move(client)), registry_(registry), options_(std::move(options)) {
    for (const ResourceInfo& r : registry.All()) kinds_.emplace(r.StorageType(), &r);
  }

  StatusOr<json> Get(const ObjectKey& key) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(key.type));
    MERIDIAN_ASSIGN_OR_RETURN(json got, client_->Get(Gvr(*r), Ns(*r, key.ns), key.name));
    Saw(got);
    return got;
  }

  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(type));
    sync::MemberListOptions list;
    list.label_selector = options.selector.ToString();
    list.limit = options.limit;
    list.continue_token = options.continue_token;
    MERIDIAN_ASSIGN_OR_RETURN(sync::ObjectList got,
                              client_->List(Gvr(*r), Ns(*r, options.ns), list));
    ListResult out;
    MERIDIAN_ASSIGN_OR_RETURN(out.resource_version,
                              ParseRevision(got.resource_version, "list " + type.ToString()));
    SawRevision(out.resource_version);
    out.items = std::move(got.items);
    out.continue_token = std::move(got.continue_token);
    out.remaining_item_count = got.remaining_item_count;
    return out;
  }

  StatusOr<json> Create(const ObjectKey& key, json object) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(key.type, &object));
    MERIDIAN_RETURN_IF_ERROR(Permit("create " + key.ToString()));
    Name(*r, key, &object);
    object["metadata"].erase("resourceVersion");
    MERIDIAN_ASSIGN_OR_RETURN(json created, client_->Create(Gvr(*r), Ns(*r, key.ns), object));
    Saw(created);
    return created;
  }

  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(key.type, &object));
    MERIDIAN_RETURN_IF_ERROR(Permit("update " + key.ToString()));
    Name(*r, key, &object);
    if (expected > 0) {
      object["metadata"]["resourceVersion"] = std::to_string(expected);
    } else {
      object["metadata"].erase("resourceVersion");
    }
    const sync::GroupVersionResource gvr = Gvr(*r);
    const std::string ns = Ns(*r, key.ns);
    MERIDIAN_ASSIGN_OR_RETURN(json written, client_->Update(gvr, ns, object));
    Saw(written);
    if (BeingDeleted(written) && !written["metadata"].contains("finalizers")) {
      return written;  // the write emptied the finalizers: the server removed the object
    }
    if (r->has_status && StatusOf(written) != StatusOf(object)) {
      // The main PUT kept the stored status; status goes through its own subresource.
      json status_body = written;
      if (object.contains("status")) {
        status_body["status"] = object["status"];
      } else {
        status_body.erase("status");
      }
      MERIDIAN_ASSIGN_OR_RETURN(written, client_->UpdateStatus(gvr, ns, status_body));
      Saw(written);
    }
    if (BeingDeleted(object) && !BeingDeleted(written)) {
      // Only a DELETE sets deletionTimestamp on the server: it marks the object (it has
      // finalizers, or the caller would have deleted it) and answers it marked.
      json answer;
      sync::MemberDeleteOptions del;
      del.precondition_resource_version = written["metadata"].value("resourceVersion", "");
      del.answer = &answer;
      MERIDIAN_RETURN_IF_ERROR(client_->Delete(gvr, ns, key.name, del));
      Saw(answer);
      return answer;
    }
    return written;
  }

  // ObjectService's status writes: one PUT of /status, so they need only `update` on
  // "<plural>/status" (the server's /status keeps everything but status as stored).
  StatusOr<json> UpdateStatus(const ObjectKey& key, json object, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(key.type, &object));
    if (!r->has_status) {
      return InvalidArgumentError("update status " + key.ToString() + ": " + r->plural +
                                  " has no /status subresource");
    }
    MERIDIAN_RETURN_IF_ERROR(Permit("update status " + key.ToString()));
    Name(*r, key, &object);
    object["metadata"]["resourceVersion"] = std::to_string(expected);
    MERIDIAN_ASSIGN_OR_RETURN(json written, client_->UpdateStatus(Gvr(*r), Ns(*r, key.ns), object));
    Saw(written);
    return written;
  }

  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(key.type));
    MERIDIAN_RETURN_IF_ERROR(Permit("delete " + key.ToString()));
    json answer;
    sync::MemberDeleteOptions del;
    if (expected > 0) del.precondition_resource_version = std::to_string(expected);
    del.answer = &answer;
    MERIDIAN_RETURN_IF_ERROR(client_->Delete(Gvr(*r), Ns(*r, key.ns), key.name, del));
    if (!answer.is_object() || !answer.contains("metadata") ||
        answer.value("kind", "") == "Status") {
      return InternalError("delete " + key.ToString() +
                           ": the server answered without the deleted object");
    }
    Saw(answer);
    return answer;
  }

  StatusOr<std::unique_ptr<apimachinery::Watch>> WatchFrom(
      const ResourceType& type, const std::string& ns, const apimachinery::LabelSelector& selector,
      int64_t from, WatchCallback callback) override {
    MERIDIAN_ASSIGN_OR_RETURN(const ResourceInfo* r, Kind(type));
    const std::string what = "watch " + type.ToString();
    if (from == 0) {
      // "From now": the revision a one-item list reflects (the newest), then changes after it.
      sync::MemberListOptions one;
      one.limit = 1;
      MERIDIAN_ASSIGN_OR_RETURN(sync::ObjectList now, client_->List(Gvr(*r), Ns(*r, ns), one));
      MERIDIAN_ASSIGN_OR_RETURN(from, ParseRevision(now.resource_version, what));
    }
    auto start = std::make_shared<WatchStart>();
    sync::WatchOptions watch_options;
    watch_options.timeout = options_.watch_request_timeout;
    watch_options.on_connected = [start] {
      std::lock_guard lock(start->mu);
      if (!start->refused) start->connected = true;
      start->changed.notify_all();
    };
    watch_options.on_error = [start, what](const Status& why) {
      std::lock_guard lock(start->mu);
      if (start->connected) {
        spdlog::warn("{}: {} (the watch resumes on its own)", what, why.message());
        return;
      }
      if (!start->refused) {
        start->refused = true;
        start->error = why;
      }
      start->changed.notify_all();
    };
    const bool namespaced = r->namespaced;
    auto deliver = [start, type, namespaced, callback = std::move(callback),
                    what](const sync::MemberWatchEvent& e) {
      {
        std::lock_guard lock(start->mu);
        if (!start->connected) return;
      }
      StatusOr<int64_t> rv = ParseRevision(e.resource_version, what);
      if (!rv.ok()) {
        spdlog::warn("{}: skipping an event: {}", what, rv.status().message());
        return;
      }
      WatchEvent out;
      out.type = e.type == sync::MemberEventType::kAdded      ? WatchEventType::kAdded
                 : e.type == sync::MemberEventType::kModified ? WatchEventType::kModified
                                                              : WatchEventType::kDeleted;
      const json& meta = e.object.contains("metadata") ? e.object["metadata"] : json::object();
      out.key = ObjectKey{type, namespaced ? meta.value("namespace", "") : "",
                          meta.value("name", "")};
      out.object = std::make_shared<const json>(e.object);
      out.resource_version = *rv;
      callback(out);
    };
    MERIDIAN_ASSIGN_OR_RETURN(
        std::unique_ptr<sync::MemberWatch> watch,
        client_->Watch(Gvr(*r), Ns(*r, ns), selector.ToString(), std::to_string(from),
                       std::move(deliver), std::move(watch_options)));
    std::unique_lock lock(start->mu);
    // A real-time bound on network I/O (the server accepting a request), not logic.
    start->changed.wait_for(lock, options_.watch_start_timeout,
                            [&] { return start->connected || start->refused; });
    if (start->connected) return std::unique_ptr<apimachinery::Watch>(new RestWatch(std::move(watch)));
    const Status error = start->refused
                             ? start->error
                             : DeadlineExceededError(
                                   what + ": the server did not accept the watch within " +
                                   std::to_string(options_.watch_start_timeout.count()) + " ms");
    lock.unlock();
    watch->Stop();
    return error;
  }

  int64_t CurrentResourceVersion() override {
    sync::MemberListOptions one;
    one.limit = 1;
    StatusOr<const ResourceInfo*> r = Kind(options_.revision_probe);
    if (r.ok()) {
      StatusOr<sync::ObjectList> now = client_->List(Gvr(**r), "", one);
      if (now.ok()) {
        StatusOr<int64_t> rv = ParseRevision(now->resource_version, "list");
        if (rv.ok()) SawRevision(*rv);
      }
    }
    // Unreachable server: the newest revision this store has seen (never goes back).
    return newest_seen_.load();
  }

 private:
  // The entry a request about `type` goes through. A custom kind (a CRD the registry
  // follows, federation-apiserver/crd/registrar.h) has one entry per served version and one
  // store for all: a write goes to the version its object names (objects keep the version
  // that wrote them), anything else to the preferred version (the CRD's first served one).
  StatusOr<const ResourceInfo*> Kind(const ResourceType& type,
                                     const json* object = nullptr) const {
    auto it = kinds_.find(type);
    if (it != kinds_.end()) return it->second;
    const ResourceInfo* preferred = nullptr;
    const std::string api_version =
        object != nullptr && object->is_object() ? object->value("apiVersion", "") : "";
    for (const ResourceInfo* d : registry_.Dynamic()) {
      if (d->group != type.group || d->plural != type.resource) continue;
      if (preferred == nullptr) preferred = d;
      if (!api_version.empty() && d->GroupVersion() == api_version) return d;
    }
    if (preferred != nullptr) return preferred;
    return InvalidArgumentError(type.ToString() + ": not a kind the federation-apiserver serves");
  }
  static sync::GroupVersionResource Gvr(const ResourceInfo& r) {
    return {r.group, r.version, r.plural};
  }
  static std::string Ns(const ResourceInfo& r, const std::string& ns) {
    return r.namespaced ? ns : "";
  }
  // The URL names the object and its kind; the body must agree with it (the server checks).
  static void Name(const ResourceInfo& r, const ObjectKey& key, json* object) {
    (*object)["apiVersion"] = r.GroupVersion();
    (*object)["kind"] = r.kind;
    json& meta = (*object)["metadata"];
    meta["name"] = key.name;
    if (r.namespaced) {
      meta["namespace"] = key.ns;
    } else {
      meta.erase("namespace");
    }
  }
  Status Permit(const std::string& what) const {
    if (!options_.write_permit) return Status::Ok();
    Status st = options_.write_permit();
    return st.ok() ? st : st.WithContext(what);
  }
  void Saw(const json& object) {
    StatusOr<int64_t> rv = apimachinery::ResourceVersionOf(object);
    if (rv.ok()) SawRevision(*rv);
  }
  void SawRevision(int64_t rv) {
    int64_t seen = newest_seen_.load();
    while (rv > seen && !newest_seen_.compare_exchange_weak(seen, rv)) {
    }
  }

  const std::shared_ptr<sync::MemberClient> client_;
  const apimachinery::ResourceRegistry& registry_;  // its dynamic part: the custom kinds
  const RestStoreOptions options_;
  std::map<ResourceType, const ResourceInfo*> kinds_;  // read-only after construction
  std::atomic<int64_t> newest_seen_{0};
};

}  // namespace

StatusOr<std::unique_ptr<apimachinery::Store>> NewRestStore(
    std::shared_ptr<sync::MemberClient> client, const apimachinery::ResourceRegistry& registry,
    RestStoreOptions options) {
  if (!client) return InvalidArgumentError("rest store: no client");
  return std::unique_ptr<apimachinery::Store>(
      new RestStore(std::move(client), registry, std::move(options)));
}

}  // namespace meridian::controllermanager
