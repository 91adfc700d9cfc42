// The DNS controller (shell around dns/record_sets.h): keeps one DNSRecordSet per
// FederatedWorkload with spec.dns equal to what DesiredRecordSet says for the current world.
//
// Inputs, all watched (no polling):
//   - FederatedWorkloads (spec.dns, status.placement / status.clusters), MemberClusters
//     (health conditions, region, jurisdiction), ResidencyPolicies, and the DNSRecordSets it
//     manages (so edits and deletions behind its back are repaired), through the ObjectService;
//   - every member's v1 Services (all namespaces), through one MemberClient watch per member,
//     of which only the load-balancer addresses (IPs, else hostnames) are kept. Each member's watch is started on
//     that member's own thread (the first list blocks for at most the client's timeout), so
//     a hung member delays nothing else; a failed start is retried every `member_retry`.
//     When a member stops answering its last known addresses are kept (never drop what you
//     cannot see); its MemberCluster health decides whether it is answered.
// Any change marks the world dirty; the worker then re-reads everything through the
// ObjectService and writes the record sets that differ: create, update (compare-and-swap on
// resourceVersion; a lost race re-queues), delete the managed ones whose workload is gone or
// lost spec.dns. Record sets without the managed-by label are never touched (a same-named
// one blocks the workload's, with a warning).
//
// Thread-safety: Start/Stop from one owner thread; RefreshMembers/ReconcileAll are for tests
// and must not run concurrently with a started controller.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "dns/record_sets.h"
#include "sync/member_client_factory.h"

namespace meridian::dns {

struct DnsControllerOptions {
  // Between attempts to start a member's Service watch after a failure.
  std::chrono::milliseconds member_retry{1000};
  // After a pass that failed for a reason other than a lost write race.
  std::chrono::milliseconds error_retry{1000};
};

class DnsController {
 public:
  // `objects` must outlive the controller; `factory` makes the member clients. `informers`
  // (the process's shared informers over `objects`), when given, must outlive it too;
  // without, it has its own.
  DnsController(apimachinery::ObjectService& objects, sync::MemberClientFactory factory,
                DnsControllerOptions options = {},
                apimachinery::SharedInformerFactory* informers = nullptr);
  ~DnsController();  // Stop()s
  DnsController(const DnsController&) = delete;
  DnsController& operator=(const DnsController&) = delete;

  // Starts the informers (any change to the four kinds wakes the worker) and the worker.
  // Errors: an informer could not start.
  Status Start();
  // Stops every watch and thread (waits for member watch starts in flight). Idempotent.
  void Stop();

  // Re-reads the MemberClusters (from the informer; relisted first when not started): starts a
  // Service watch for each new member (on its own thread), restarts it when the member's server,
  // TLS flag or credentialsRef changed, and stops those of members that left. Errors: the
  // MemberClusters could not be listed.
  Status RefreshMembers();
  // One pass: computes every desired record set from the informers' caches (relisted first
  // when not started) and writes those that differ. Returns the number of writes (creates,
  // updates, deletes). Errors: a relist failed.
  StatusOr<int> ReconcileAll();
  // The load-balancer addresses seen so far, per member (a copy). Thread-safe.
  ServiceDirectory Services() const;

 private:
  struct Member;

  // One pass of the worker: RefreshMembers + ReconcileAll, retried after error_retry when
  // either fails.
  std::optional<std::chrono::milliseconds> Pass();
  void WatchMember(std::shared_ptr<Member> member);

  apimachinery::ObjectService& objects_;
  const sync::MemberClientFactory factory_;
  const DnsControllerOptions options_;
  std::unique_ptr<apimachinery::SharedInformerFactory> own_informers_;  // when none was given
  apimachinery::SharedInformerFactory& informers_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_;
  apimachinery::SharedInformer<api::MemberCluster>& members_informer_;
  apimachinery::SharedInformer<api::ResidencyPolicy>& policies_;
  apimachinery::SharedInformer<api::DnsRecordSet>& record_sets_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // wake the worker
  std::atomic<bool> started_{false};

  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, std::shared_ptr<Member>> members_;
  std::vector<std::thread> member_threads_;  // joined in Stop (also those of removed members)
  bool stopping_ = false;
  apimachinery::ChangeLoop loop_;  // last: stopped (in Stop) before the members go
};

}  // namespace meridian::dns
