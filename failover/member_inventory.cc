#include "failover/member_inventory.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "common/json_fields.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

const sync::GroupVersionResource kNodes{"", "v1", "nodes"};
const sync::GroupVersionResource kPods{"", "v1", "pods"};

using json_fields::Child;
using json_fields::Str;
// Copies j[key] into out[key] when present.
void Keep(const json& j, const char* key, json& out) {
  const json& v = Child(j, key);
  if (!v.is_null()) out[key] = v;
}

// The cache key of an object: "namespace/name" (name alone for nodes).
std::string KeyOf(const json& object) {
  const json& meta = Child(object, "metadata");
  const std::string ns = Str(Child(meta, "namespace"));
  return ns.empty() ? Str(Child(meta, "name")) : ns + "/" + Str(Child(meta, "name"));
}

}  // namespace

struct MemberInventory::Feed {
  sync::GroupVersionResource gvr;
  json (*trim)(const json&) = nullptr;

  mutable std::mutex mu;  // guards everything below
  std::map<std::string, json> items;
  std::unique_ptr<sync::MemberWatch> watch;
  sync::MemberWatch* raw = nullptr;  // watch.get() once Watch() returned; for on_error
  bool broken = false;
  int64_t connections_at_error = 0;
  std::string error;

  void OnEvent(const sync::MemberWatchEvent& e) {
    const std::string key = KeyOf(e.object);
    json kept = e.type == sync::MemberEventType::kDeleted ? json() : trim(e.object);
    std::lock_guard lock(mu);
    broken = false;  // the stream delivers again
    if (kept.is_null()) {
      items.erase(key);
    } else {
      items[key] = std::move(kept);
    }
  }
  void OnError(const Status& s) {
    std::lock_guard lock(mu);
    broken = true;
    connections_at_error = raw != nullptr ? raw->Connections() : 0;
    error = s.ToString();
  }
};

MemberInventory::MemberInventory(std::shared_ptr<sync::MemberClient> client,
                                 sync::WatchOptions watch)
    : client_(std::move(client)), watch_options_(std::move(watch)) {
  nodes_ = std::make_unique<Feed>();
  nodes_->gvr = kNodes;
  nodes_->trim = &MemberInventory::TrimNode;
  pods_ = std::make_unique<Feed>();
  pods_->gvr = kPods;
  pods_->trim = &MemberInventory::TrimPod;
}

MemberInventory::~MemberInventory() {
  // A start in progress ends within the client's timeout.
  if (starter_.joinable()) starter_.join();
  // Stop outside the feed's lock: Stop waits for a callback, which takes that lock.
  for (Feed* f : {nodes_.get(), pods_.get()}) {
    std::unique_ptr<sync::MemberWatch> w;
    {
      std::lock_guard lock(f->mu);
      w = std::move(f->watch);
      f->raw = nullptr;
    }
    if (w) w->Stop();
  }
}

Status MemberInventory::StartFeed(Feed& feed) {
  {
    std::lock_guard lock(feed.mu);
    if (feed.watch) return Status::Ok();
    feed.items.clear();  // a failed earlier start may have delivered part of a list
  }
  sync::WatchOptions options = watch_options_;
  Feed* f = &feed;
  options.on_error = [f](const Status& s) { f->OnError(s); };
  StatusOr<std::unique_ptr<sync::MemberWatch>> w = client_->Watch(
      feed.gvr, "", "", "", [f](const sync::MemberWatchEvent& e) { f->OnEvent(e); }, options);
  if (!w.ok()) return w.status();
  std::lock_guard lock(feed.mu);
  feed.watch = std::move(w).value();
  feed.raw = feed.watch.get();
  return Status::Ok();
}

Status MemberInventory::Start() {
  std::lock_guard lock(start_mu_);
  MERIDIAN_RETURN_IF_ERROR(StartFeed(*nodes_));
  return StartFeed(*pods_);
}

Status MemberInventory::EnsureStarted(std::chrono::milliseconds wait) {
  std::unique_lock lock(async_mu_);
  if (started_) return Status::Ok();
  if (!starting_) {
    if (starter_.joinable()) starter_.join();  // finished (it failed): start again
    starting_ = true;
    starter_ = std::thread([this] {
      Status s = Start();
      {
        std::lock_guard done(async_mu_);
        starting_ = false;
        started_ = s.ok();
        last_start_ = std::move(s);
      }
      async_cv_.notify_all();
    });
  }
  async_cv_.wait_for(lock, wait, [this] { return !starting_; });
  if (starting_) {
    return UnavailableError("member \"" + client_->member() +
                            "\": still listing nodes and pods (started more than " +
                            std::to_string(wait.count()) + " ms ago)");
  }
  return started_ ? Status::Ok() : last_start_;
}

StatusOr<MemberInventory::Snapshot> MemberInventory::Read() const {
  Snapshot out;
  for (const Feed* f : {nodes_.get(), pods_.get()}) {
    std::lock_guard lock(f->mu);
    if (!f->watch) {
      return FailedPreconditionError("member \"" + client_->member() + "\": the " +
                                     f->gvr.resource + " watch is not running");
    }
    // Stale until the broken stream connected again (or delivered since, see OnEvent).
    if (f->broken && f->watch->Connections() <= f->connections_at_error) {
      out.stale = true;
      out.stale_reason = f->error;
    }
    std::vector<json>& into = f == nodes_.get() ? out.nodes : out.pods;
    into.reserve(f->items.size());
    for (const auto& [key, item] : f->items) into.push_back(item);
  }
  return out;
}

MemberInventory::Stats MemberInventory::GetStats() const {
  Stats out;
  for (const Feed* f : {nodes_.get(), pods_.get()}) {
    std::lock_guard lock(f->mu);
    if (!f->watch) continue;
    out.connections += f->watch->Connections();
    out.relists += f->watch->Relists();
  }
  return out;
}

json MemberInventory::TrimNode(const json& node) {
  json out = json::object();
  const json& meta = Child(node, "metadata");
  json m = json::object();
  Keep(meta, "name", m);
  Keep(meta, "labels", m);
  out["metadata"] = std::move(m);
  const json& spec = Child(node, "spec");
  json s = json::object();
  Keep(spec, "unschedulable", s);
  Keep(spec, "taints", s);
  if (!s.empty()) out["spec"] = std::move(s);
  const json& status = Child(node, "status");
  json st = json::object();
  Keep(status, "allocatable", st);
  const json& conditions = Child(status, "conditions");
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (Str(Child(c, "type")) == "Ready") {
        st["conditions"] = json::array({{{"type", "Ready"}, {"status", Child(c, "status")}}});
      }
    }
  }
  if (!st.empty()) out["status"] = std::move(st);
  return out;
}

json MemberInventory::TrimPod(const json& pod) {
  const json& spec = Child(pod, "spec");
  const std::string node = Str(Child(spec, "nodeName"));
  const std::string phase = Str(Child(Child(pod, "status"), "phase"));
  if (node.empty() || phase == "Succeeded" || phase == "Failed") return json();
  json out = json::object();
  const json& meta = Child(pod, "metadata");
  json m = json::object();
  Keep(meta, "name", m);
  Keep(meta, "namespace", m);
  const json& hash = Child(Child(meta, "labels"), "pod-template-hash");
  if (hash.is_string()) m["labels"] = {{"pod-template-hash", hash}};
  const json& owners = Child(meta, "ownerReferences");
  if (owners.is_array()) {
    for (const json& o : owners) {
      if (Child(o, "controller") != true) continue;
      m["ownerReferences"] = json::array(
          {{{"kind", Child(o, "kind")}, {"name", Child(o, "name")}, {"controller", true}}});
      break;
    }
  }
  out["metadata"] = std::move(m);
  json s = json::object();
  s["nodeName"] = node;
  for (const char* list : {"containers", "initContainers"}) {
    const json& containers = Child(spec, list);
    if (!containers.is_array()) continue;
    json kept = json::array();
    for (const json& c : containers) {
      json one = json::object();
      Keep(c, "resources", one);
      kept.push_back(std::move(one));
    }
    s[list] = std::move(kept);
  }
  out["spec"] = std::move(s);
  if (!phase.empty()) out["status"] = {{"phase", phase}};
  return out;
}

}  // namespace meridian::failover
