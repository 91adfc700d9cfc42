// The propagation controller: makes every member cluster hold what placement decided.
//
// For every FederatedWorkload placed on a member (status.placement), the member's worker
// ensures the namespace exists, creates the rendered object (sync/propagation.h) when absent,
// rewrites it (compare-and-swap) when NeedsUpdate says so, refuses to overwrite a same-named
// object without the managed-by label unless spec.adoptExisting, reads back
// status.readyReplicas, and deletes managed objects (found by label) of workloads no longer
// placed on it or gone. An aggregator then writes each workload's status.clusters[],
// status.readyReplicas and the Synced / Ready conditions (status subresource, CAS, retried
// on 409); placement's fields and conditions are kept.
//
// Level-triggered: any FederatedWorkload or MemberCluster event, and a periodic resync (which
// repairs drift made behind Meridian's back), wake every member's worker. One worker thread
// per member: a hung member delays only itself.
//
// Everything on the federation side goes through the ObjectService.
//
// Deletion: the finalizer federation.meridian.io/cleanup is added to every workload on first
// sight; once a workload is being deleted, each member's pass deletes its objects, and the
// finalizer is dropped when every member has reported them gone, or after
// Options::cleanup_timeout (counted from deletionTimestamp) for members that never answered,
// with condition CleanedUp=False (reason CleanupAbandoned) naming them.
//
// Not yet: credentials from MemberCluster spec.credentialsRef (the production factory
// connects without credentials).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/types.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "sync/member_client.h"
#include "sync/member_client_factory.h"
#include "sync/propagation.h"

namespace meridian::sync {


class PropagationController {
 public:
  struct Options {
    std::chrono::milliseconds resync_period{2000};
    // How long a deleted workload waits for unreachable members before its finalizer goes.
    std::chrono::milliseconds cleanup_timeout{300'000};
  };

  // `objects` and `clock` must outlive the controller.
  PropagationController(apimachinery::ObjectService& objects, const Clock& clock,
                        MemberClientFactory factory, Options options);
  PropagationController(apimachinery::ObjectService& objects, const Clock& clock,
                        MemberClientFactory factory)
      : PropagationController(objects, clock, std::move(factory), Options{}) {}
  ~PropagationController();  // Stop()s
  PropagationController(const PropagationController&) = delete;
  PropagationController& operator=(const PropagationController&) = delete;

  // Starts the watches, the dispatcher and (as members appear) one worker per member.
  // Errors: a watch could not start.
  Status Start();
  // Stops watches and threads (waits for each worker's current member call). Idempotent.
  void Stop();

  // Tests drive these directly (not concurrently with a started controller).
  // Re-reads the MemberClusters: builds clients for new or changed members, drops gone ones.
  Status RefreshMembers();
  // One pass over one member: syncs every workload placed on it, deletes orphans, records
  // the results for the aggregator. Errors: the workloads could not be listed.
  Status ReconcileMember(const std::string& member);
  // Writes every workload's sync status that differs, adds the cleanup finalizer where it is
  // missing, and drops it from deleted workloads whose member objects are gone (or whose
  // wait timed out). Returns how many objects were written.
  StatusOr<int> Aggregate();
  // RefreshMembers, ReconcileMember for every member (sequentially), Aggregate.
  StatusOr<int> ReconcileAll();

 private:
  struct Member;  // one member's client, results and worker

  void RunDispatcher();
  void RunWorker(std::shared_ptr<Member> member);
  void MarkDirty();
  void StartWorkerLocked(const std::shared_ptr<Member>& member);  // mu_ held
  std::vector<std::string> MemberNames();
  StatusOr<std::vector<api::FederatedWorkload>> ListWorkloads();
  // For a deleted workload carrying the finalizer: drops it when every member in `cleaned`
  // (member -> workloads it holds nothing of) is done, or the wait timed out; otherwise
  // says who is pending in condition CleanedUp. Returns the number of writes.
  int FinishDeletion(const api::FederatedWorkload& w,
                     const std::map<std::string, std::set<std::string>>& cleaned);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  const MemberClientFactory factory_;
  const Options options_;
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Member>> members_;
  bool dirty_ = true;
  bool aggregate_ = false;
  bool started_ = false;
  bool stopping_ = false;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;  // joined in Stop (also those of removed members)
};

}  // namespace meridian::sync
