// The propagation controller: makes every member cluster hold what placement decided.
//
// Work is per (workload, member) pair. Every member has its own rate-limited work queue of
// workload keys ("ns/name", sync/work_queue.h) and its own worker threads, so a hung or slow
// member delays only itself (every member call is bounded by the client's timeout). For one
// key the worker: renders the member object (sync/propagation.h); ensures the namespace;
// compares with the member's watched copy and creates it, rewrites it (compare-and-swap) when
// NeedsUpdate says so, or leaves it; refuses to overwrite a same-named object without the
// managed-by label unless spec.adoptExisting (a per-member error in status); deletes the
// workload's objects there when it is no longer placed there, renders to another object, or
// is gone. A failed key is re-queued with per-item exponential backoff (capped, reset on
// success) under an overall token bucket; a member that stops answering (unavailable,
// timeout) fails its keys fast until a backoff-spaced probe gets through.
//
// Watches, both sides (level-triggered; a lost or repeated event changes nothing):
//   - federation: FederatedWorkloads and MemberClusters through the process's shared
//     informers (apimachinery/informer.h: one LIST per kind at start, then watched; no
//     federation LIST per event): a change of a workload's spec, placement or deletion queues
//     its key on the members it concerns (EnqueueConcerned; every member for a deletion); a
//     MemberCluster change rebuilds clients when server, TLS flag or credentialsRef change,
//     and a label change re-queues every key.
//   - members: every managed kind the member holds (Deployment, StatefulSet, Service,
//     ConfigMap, plus any kind a template uses) is watched with the managed-by label
//     selector; the events keep a per-member cache of Meridian's objects and queue the
//     owning workload, so an edit or delete made behind Meridian's back is repaired within
//     the time of one reconcile. The watches resume from the last resourceVersion and relist
//     on 410 (MemberClient::Watch).
//   - a slow periodic resync (Options::resync_period, like controller-runtime's SyncPeriod)
//     re-queues every key as a safety net.
//
// Status: an aggregator thread writes each changed workload's status.clusters[],
// status.readyReplicas and the Synced / Ready conditions (status subresource, CAS, retried
// on 409), per workload key, computed on the informer's copy (no read of the store per key;
// its own writes are Assumed into the cache); placement's fields and conditions are kept. A
// member that cannot be reached stays in status.clusters with synced=false and its lastError;
// a member that refuses Meridian's credentials is reported as such with the HTTP status.
//
// Member writes: create with the rendered object plus its last-applied record; when the
// member's copy no longer semantically holds it (sync/member_apply.h), a JSON merge patch of
// only Meridian's fields (never a full PUT), so controllers' annotations and server-allocated
// fields survive. A loop guard backs off an object that is rewritten again and again.
//
// Events (core/v1, when the server stores them): Warning SyncFailed "Sync failed on member X:
// ..." when a member's error appears or changes, Normal Synced "Synced to member X" when it
// recovers. Routine successes record nothing.
//
// Deletion: the finalizer federation.meridian.io/cleanup is on every workload (added at
// creation by the admission of a federation-apiserver that runs this controller, else by this
// controller on first sight); once a workload is being deleted, each member deletes its objects, and the
// finalizer is dropped when every member has reported them gone, or after
// Options::cleanup_timeout (counted from deletionTimestamp) for members that never answered,
// with condition CleanedUp=False (reason CleanupAbandoned) naming them.
//
// Custom objects (a binding annotated api::kCustomResourceDefinitionAnnotation): the member
// first gets the CustomResourceDefinition, and the object is written once the member reports
// it Established (EnsureDefinition, sync/member_definitions.h); the CRD is never deleted.
//
// Everything on the federation side goes through the ObjectService.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/types.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "sync/internal/shared_strings.h"
#include "sync/member_client.h"
#include "sync/member_client_factory.h"
#include "sync/propagation.h"
#include "sync/work_queue.h"

namespace meridian::sync {

class PropagationController {
 public:
  struct Options {
    // Safety net only: drift is repaired from member watches. Every key is re-checked on
    // every member (from the watched copies: CPU, not member calls), so not too often.
    std::chrono::milliseconds resync_period{300'000};
    // While a Deployment of a workload with spec.rollout is not ready on a member in the
    // revision it is meant to run, its pods' restarts are read (one LIST by its selector, at
    // most 500 pods) for the maxRestarts gate, and again this long later: a
    // crash loop need not change the Deployment's status. Nothing is read once it is ready.
    std::chrono::milliseconds restart_probe{2000};
    // How long a deleted workload waits for unreachable members before its finalizer goes.
    std::chrono::milliseconds cleanup_timeout{300'000};
    // Per-member queue: per-key backoff and the bucket for retries. max_delay also caps how
    // long a member that stopped answering is left alone before the next probe.
    RateLimits rate_limits{Duration(5), Duration(10'000), 50, 500};
    // Member watches: reconnect backoff and server-side lifetime of one watch request.
    WatchOptions member_watch{};
    // The aggregator waits this long after a result changes before writing statuses, so
    // that one write carries many members' results.
    std::chrono::milliseconds status_batch{100};
    // Workloads one aggregation copies the members' results for, then writes the statuses
    // of, before the next: all at once, a fleet-wide change (10,000 workloads x 100 members)
    // held a copy of 1,000,000 results (~150 MB) for as long as its status writes took.
    size_t aggregate_batch = 256;
    // Worker threads per member queue (a key is never processed by two at once). More than
    // one keeps several requests in flight to a member: member calls are latency-bound.
    int workers_per_member = 4;
    // The loop guard: an object Meridian has rewritten loop_guard_writes times within
    // loop_guard_window towards the same desired object (a member controller or webhook keeps
    // changing it back; a new desired object starts the count again) is written at
    // most once per window until it stays converged, and reported: synced=false, condition
    // SyncLoop=True and a SyncLoop Event naming the fields that keep differing.
    int loop_guard_writes = 5;
    std::chrono::milliseconds loop_guard_window{60'000};
    // Retry interval for a key refused because its namespace is terminating in the member.
    std::chrono::milliseconds namespace_terminating_retry{500};
    // How long a member namespace's HorizontalPodAutoscalers, read when a scalable object's
    // replicas differ from Meridian's share, are trusted before they are read again (a
    // namespace found without any is read again at the next difference). An autoscaler
    // there owns the object's spec.replicas: Meridian leaves it alone.
    std::chrono::milliseconds autoscaler_cache_ttl{10'000};
  };

  // `objects` and `clock` must outlive the controller, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own. The
  // clock drives backoff, fast-fail of down members and the cleanup timeout.
  PropagationController(apimachinery::ObjectService& objects, const Clock& clock,
                        MemberClientFactory factory, Options options,
                        apimachinery::SharedInformerFactory* informers = nullptr);
  PropagationController(apimachinery::ObjectService& objects, const Clock& clock,
                        MemberClientFactory factory)
      : PropagationController(objects, clock, std::move(factory), Options{}) {}
  ~PropagationController();  // Stop()s
  PropagationController(const PropagationController&) = delete;
  PropagationController& operator=(const PropagationController&) = delete;

  // Starts the federation informers (one LIST each unless already started), the dispatcher
  // (member refresh, resync, status aggregation) and the workers of every member. Errors: an
  // informer could not start.
  Status Start();
  // Stops watches and threads (waits for each worker's current member call). Idempotent.
  void Stop();

  // ---- Driving the controller by hand (tests; not concurrently with a started controller) --
  // Re-reads the MemberClusters (from the informer's cache; listed first when not started):
  // builds clients for new or changed members, drops gone ones.
  Status RefreshMembers();
  // Re-reads the FederatedWorkloads (listed into the informer first when not started) into
  // the controller's map and queues every key on every member.
  Status LoadWorkloads();
  // Processes every key due now (by the clock) on `member`'s queue, including keys queued
  // meanwhile; re-queues failures with backoff. Returns how many keys were processed.
  int ProcessMember(const std::string& member);
  // RefreshMembers, LoadWorkloads, ProcessMember for every member (sequentially), Aggregate.
  StatusOr<int> ReconcileAll();
  // Writes every workload's sync status that differs, adds the cleanup finalizer where it is
  // missing, and drops it from deleted workloads whose member objects are gone (or whose
  // wait timed out). Returns how many objects were written.
  StatusOr<int> Aggregate();

  // ---- Observability ----
  // Creates, updates and deletes sent to members so far (successful or not).
  int64_t member_writes() const { return member_writes_.load(); }
  // Keys waiting on `member`'s queue (-1 for an unknown member).
  int64_t QueueLength(const std::string& member);
  // Failures recorded for `key` on `member`'s queue (its backoff exponent).
  int NumRequeues(const std::string& member, const std::string& key);

 private:
  struct Member;  // one member's client, queue, watches, cache, results and worker

  void RunDispatcher();
  void RunWorker(std::shared_ptr<Member> member);
  // One (workload, member) pair. OK when the member holds what it should.
  Status SyncOne(Member& member, const std::string& key);
  // For a custom object: makes the member hold CustomResourceDefinition `name` as the
  // federation has it (sync/member_definitions.h), Established, and `discovery` list its kind
  // (refreshed when it does not yet). Errors: not there yet (retried), refused, the calls'.
  Status EnsureDefinition(Member& member, MemberClient& client, const std::string& name,
                          std::shared_ptr<const DiscoveryInfo>* discovery);
  // Starts the member watch of `gvr` if not running (lists synchronously first).
  Status EnsureWatch(Member& member, const GroupVersionResource& gvr);
  void OnMemberEvent(Member& member, const GroupVersionResource& gvr, const MemberWatchEvent& e);
  // A workload added or changed (`now`), or deleted (`now` null; `last` its last state).
  void OnWorkloadChange(const std::shared_ptr<const api::FederatedWorkload>& last,
                        const std::shared_ptr<const api::FederatedWorkload>& now);
  // Records the member's result for `key` (nullopt: nothing to report) and marks the
  // workload for aggregation when it changed.
  void SetResult(Member& member, const std::string& key, std::optional<MemberSyncResult> result);
  // Deletes every cached object of `owner` on the member except `keep` (gvr, ns, name);
  // counts the objects deleted into `removed` when given.
  Status DeleteOwned(
      Member& member, const std::string& owner,
      const std::optional<std::pair<GroupVersionResource, std::pair<std::string, std::string>>>&
          keep,
      int* removed = nullptr);
  // Deletes namespace `ns` in the member if Meridian created it (managed-by label), holds
  // nothing of Meridian's there any more, places nothing there (nor has a workload there
  // waiting for its first placement), and no one else keeps objects in it (workload kinds,
  // pods, PVCs without an owner). Decided and deleted under the member's namespace_mu with
  // `ns` fenced out of namespaces_ok, so no worker writes into it meanwhile; "unused" is
  // checked again right before the DELETE, which carries the namespace's uid and
  // resourceVersion as read. Best effort: a failed call keeps the namespace (logged at debug).
  void RemoveNamespaceIfUnused(Member& member, MemberClient& client, const std::string& ns);
  // Whether a HorizontalPodAutoscaler in the member scales `live` (a Deployment, StatefulSet
  // or ReplicaSet whose spec.replicas differs from `desired`'s): then its replicas are the
  // member's. The namespace's autoscalers, when it has any, are read at most once per
  // autoscaler_cache_ttl.
  bool ReplicasOwnedByMemberAutoscaler(Member& member, MemberClient& client,
                                       const GroupVersionResource& gvr, const std::string& ns,
                                       const nlohmann::json& desired, const nlohmann::json& live);
  // The loop guard (Options::loop_guard_*) for a rewrite of `object` about to be sent: ""
  // (write; recorded), "held:<why>" (do not write now), or "<why>" (write, recorded, but it
  // is looping: report it).
  std::string LoopGuard(
      Member& member,
      const std::pair<GroupVersionResource, std::pair<std::string, std::string>>& object,
      const nlohmann::json& desired, const nlohmann::json& live);
  // Re-queues a failed key: after the member's Retry-After (429), at
  // namespace_terminating_retry for a terminating namespace, else with per-key backoff.
  // Returns the delay.
  Duration RetryDelay(Member& member, const std::string& key, const Status& s);
  // Wraps a member call's error: marks the member down on unavailable/timeout; says what a
  // refusal means by its class (credentials only for 401 and RBAC 403s, terminating
  // namespace, quota, webhook, admission policy, throttling, invalid object).
  Status MemberCallFailed(Member& member, Status status);
  // Queues `key` on the members a change of the workload from `old` to `now` (either may
  // be null) can concern: every member while it is being deleted or gone (each must say it
  // holds nothing: FinishDeletion); otherwise the members it is or was placed or retained on,
  // those with a result for it, those whose cache holds its objects, and those whose cache is
  // not listed yet. Any other member holds nothing of it and is not to hold anything: its
  // pass would change nothing (a new workload before placement concerns no member, where
  // queueing it everywhere was 100 no-op passes per workload on 100 members).
  void EnqueueConcerned(const std::string& key, const api::FederatedWorkload* old,
                        const api::FederatedWorkload* now);
  // Lists `informer` again unless the controller is started (then its watch keeps it
  // current). Errors: Internal, naming the kind.
  template <typename T>
  Status RelistUnlessStarted(apimachinery::SharedInformer<T>& informer);
  std::vector<std::shared_ptr<Member>> MembersSnapshot();
  // Aggregates the given workload keys, each read from the workload informer's cache (the
  // store only for a workload not cached yet, new, being deleted, or whose status write met
  // a newer object). Returns the writes. Options::aggregate_batch keys at a time (AggregateBatch).
  int AggregateKeys(const std::set<std::string>& keys);
  // AggregateKeys for one batch: the members' results for just these keys are copied under
  // mu_, then their statuses written.
  int AggregateBatch(const std::vector<std::string>& keys);
  // Writes `w`'s status.clusters, readyReplicas and conditions from the members' `results`
  // when they differ (compare-and-swap on w's resourceVersion; on 409 read again and
  // recompute, up to 5 times). Returns the number of writes (0 or 1).
  int WriteSyncStatus(std::shared_ptr<const api::FederatedWorkload> w,
                      const std::map<std::string, MemberSyncResult>& results);
  // For a policy's binding of a kind with a health model (sync/kind_health.h: DaemonSet, Job,
  // CronJob, Ingress, PodDisruptionBudget): writes the federation object's status/ as the
  // aggregate of `members` (each placed member's copy: kind, generation, status;
  // AggregateKindStatus) when it differs. Returns the number of writes.
  int WriteKindStatus(const api::FederatedWorkload& w,
                      const std::map<std::string, nlohmann::json>& members);
  // For a deleted workload carrying the finalizer: drops it when every member in `cleaned`
  // (member -> workloads it holds nothing of) is done, or the wait timed out; otherwise
  // says who is pending in condition CleanedUp. Returns the number of writes.
  int FinishDeletion(const api::FederatedWorkload& w,
                     const std::map<std::string, std::set<std::string>>& cleaned);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  const MemberClientFactory factory_;
  const Options options_;
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_informer_;
  apimachinery::SharedInformer<api::MemberCluster>& members_informer_;
  std::vector<apimachinery::InformerRegistration> handlers_;
  std::atomic<bool> watching_{false};  // the informers started: their watches keep them current
  std::atomic<int64_t> member_writes_{0};
  // Events for workloads (SyncFailed, Synced after a failure); null when the server does not
  // store core/v1 Events.
  std::unique_ptr<apimachinery::EventRecorder> events_;
  // The last-applied records of the member objects the members' caches hold, one copy per
  // distinct record (every member a workload is placed on holds the same one).
  internal::SharedStrings last_applied_;

  std::mutex mu_;               // guards everything below
  std::condition_variable cv_;  // wakes the dispatcher
  std::map<std::string, std::shared_ptr<Member>> members_;
  // By "ns/name"; shared so a worker takes one without copying it under mu_.
  std::map<std::string, std::shared_ptr<const api::FederatedWorkload>> workloads_;
  std::set<std::string> deleting_;         // keys of workloads_ with a deletionTimestamp
  std::set<std::string> aggregate_dirty_;  // workload keys whose status may need writing
  bool members_dirty_ = true;
  bool started_ = false;
  bool stopping_ = false;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;  // joined in Stop (also those of removed members)
};

}  // namespace meridian::sync
