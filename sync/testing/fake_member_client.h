// FakeMemberClient: an in-memory MemberClient for controller unit tests.
//
// It keeps objects per resource with Kubernetes-like semantics close enough for controllers:
// a store-wide resourceVersion bumped by every write, uid/creationTimestamp/generation on
// create (generation +1 when anything outside metadata and status changes), generateName,
// compare-and-swap on metadata.resourceVersion (kAborted), the status split for resources
// declared with has_status (Update keeps status, UpdateStatus changes only status), merge
// and JSON patches, delete preconditions, label selectors on list and watch, paging.
// Unknown resources are accepted (namespaced unless declared otherwise, no status split).
//
// Scripting: FailNext/FailAlways make calls of a verb fail with a given Status; SetLatency
// delays every call (a latency at or above the timeout makes calls wait the timeout and
// return kDeadlineExceeded, like a hung member); Calls() records what was asked.
// Apply/Remove change objects "behind the controller's back" (drift), bypassing scripting;
// ExpireWatches() makes every watch relist as after a 410 (synthetic diff events).
//
// Watches: events are delivered synchronously on the thread that made the change (after its
// lock is released), one at a time and in resourceVersion order across all threads. A
// callback may call back into the fake (its events are delivered after it returns).
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "sync/member_client.h"

namespace meridian::sync::testing {

enum class Verb {
  kDiscover,
  kGet,
  kList,
  kCreate,
  kUpdate,
  kUpdateStatus,
  kMergePatch,
  kJsonPatch,
  kDelete,
  kWatch,
  kHealthz,
  kReadyz,
};
const char* VerbName(Verb verb);

class FakeMemberClient final : public MemberClient {
 public:
  struct Options {
    std::string member = "fake";
    const Clock* clock = nullptr;                  // null: RealClock(); must outlive the fake
    std::chrono::milliseconds timeout{10'000};     // what a hung call waits before failing
    ServerVersion version{1, 32, "v1.32.0-fake"};
    size_t history_limit = 1000;                   // events kept for watch resume
  };

  FakeMemberClient();
  explicit FakeMemberClient(Options options);
  ~FakeMemberClient() override;
  FakeMemberClient(const FakeMemberClient&) = delete;
  FakeMemberClient& operator=(const FakeMemberClient&) = delete;

  // ---- scripting ----
  // The next `times` calls of `verb` fail with `status` (queued after earlier scripts).
  void FailNext(Verb verb, Status status, int times = 1);
  // Every call of `verb` fails with `status` until ClearFailures().
  void FailAlways(Verb verb, Status status);
  // Every call of every verb fails (a member that is down) until ClearFailures().
  void FailEverything(Status status);
  void ClearFailures();
  // Every call waits this long first (0 = none).
  void SetLatency(std::chrono::milliseconds latency);
  // Declares a resource (discovery answer, scope, status split). Defaults: core/v1
  // namespaces (cluster-scoped), configmaps, secrets, services (status); apps/v1
  // deployments, replicasets, statefulsets (status); nodes (cluster-scoped, status).
  void AddResource(DiscoveredResource resource);

  struct Call {
    Verb verb;
    GroupVersionResource gvr;
    std::string ns;
    std::string name;
  };
  std::vector<Call> Calls() const;
  int CallCount(Verb verb) const;
  void ClearCalls();

  // ---- direct state access (no scripting, no latency, not recorded) ----
  // Creates or replaces an object as another actor would (watchers see it). Returns it as
  // stored. The namespace comes from object.metadata.namespace.
  nlohmann::json Apply(const GroupVersionResource& gvr, nlohmann::json object);
  // Removes an object if present (watchers see DELETED). Returns whether it existed.
  bool Remove(const GroupVersionResource& gvr, const std::string& ns, const std::string& name);
  // Removes an object while the watches are not told (as if they were broken then): only a
  // relist (ExpireWatches) finds it gone.
  bool RemoveUnseen(const GroupVersionResource& gvr, const std::string& ns,
                    const std::string& name);
  std::optional<nlohmann::json> Object(const GroupVersionResource& gvr, const std::string& ns,
                                       const std::string& name) const;
  size_t ObjectCount(const GroupVersionResource& gvr) const;
  std::string CurrentResourceVersion() const;
  // Makes every open watch relist, as after 410 Gone (synthetic ADDED/MODIFIED/DELETED).
  void ExpireWatches();
  size_t ActiveWatches() const;

  // ---- MemberClient ----
  const std::string& member() const override { return options_.member; }
  StatusOr<DiscoveryInfo> Discover(bool refresh = false) override;
  StatusOr<nlohmann::json> Get(const GroupVersionResource& gvr, const std::string& ns,
                               const std::string& name) override;
  StatusOr<ObjectList> List(const GroupVersionResource& gvr, const std::string& ns,
                            const MemberListOptions& options = {}) override;
  StatusOr<nlohmann::json> Create(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override;
  StatusOr<nlohmann::json> Update(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override;
  StatusOr<nlohmann::json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns,
                                        const nlohmann::json& object) override;
  StatusOr<nlohmann::json> MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                                      const std::string& name,
                                      const nlohmann::json& patch) override;
  StatusOr<nlohmann::json> JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name, const nlohmann::json& ops) override;
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const MemberDeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<MemberWatch>> Watch(const GroupVersionResource& gvr,
                                               const std::string& ns,
                                               const std::string& label_selector,
                                               const std::string& from_resource_version,
                                               MemberWatchCallback callback,
                                               WatchOptions options = {}) override;
  Status Healthz() override;
  Status Readyz() override;

  struct Watcher;   // internal
  struct Delivery;  // internal: the delivery lock, shared with watch handles

 private:
  struct Failure {
    Status status;
    int remaining;  // < 0: forever
  };
  struct Queued {
    std::shared_ptr<Watcher> target;  // null: every matching watcher
    GroupVersionResource gvr;
    MemberWatchEvent event;
    bool relist = false;  // target relists against `snapshot`
    std::vector<nlohmann::json> snapshot;
  };
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  // Records the call, applies scripted failures and latency.
  Status Enter(Verb verb, const GroupVersionResource& gvr, const std::string& ns,
               const std::string& name);
  std::string Describe(const GroupVersionResource& gvr, const std::string& ns,
                       const std::string& name) const;
  bool HasStatus(const GroupVersionResource& gvr) const;  // mu_ held
  // Stores `object` (new or replacing) and queues the event. mu_ held.
  nlohmann::json StoreLocked(const GroupVersionResource& gvr, const Key& key, nlohmann::json object,
                             bool created);
  void RemoveLocked(const GroupVersionResource& gvr, const Key& key, bool seen = true);
  // Replace-with-CAS used by Update/UpdateStatus/patches.
  StatusOr<nlohmann::json> ReplaceLocked(const GroupVersionResource& gvr, const std::string& ns,
                                         const std::string& name, nlohmann::json object,
                                         bool status_only);
  void Drain();
  void Deliver(Watcher& w, const Queued& q);

  const Options options_;
  const Clock& clock_;

  mutable std::mutex mu_;  // guards everything below (not the delivery)
  std::map<GroupVersionResource, DiscoveredResource> resources_;
  std::map<GroupVersionResource, std::map<Key, nlohmann::json>> objects_;
  int64_t rv_ = 0;
  int64_t uid_counter_ = 0;
  std::deque<std::pair<GroupVersionResource, MemberWatchEvent>> history_;
  std::map<Verb, std::deque<Failure>> failures_;
  std::optional<Status> fail_everything_;
  std::chrono::milliseconds latency_{0};
  std::vector<Call> calls_;
  std::vector<std::weak_ptr<Watcher>> watchers_;
  std::deque<Queued> queue_;

  const std::shared_ptr<Delivery> delivery_;
};

}  // namespace meridian::sync::testing
