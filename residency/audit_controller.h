// The residency audit controller: looks into every member (not at Meridian's own status) for
// objects that break residency (residency/audit.h says which), and reports them.
//
// What it looks at, per member through its MemberClient: the audited resources
// (AuditedResources) in every namespace a ResidencyPolicy names, and everything labelled
// managed-by=meridian in all namespaces. It does not poll: per member it lists these once and
// then follows them with watches (residency/internal/member_audit_cache.h), and re-judges only
// what changed — an object event re-judges that object; a change of what governs (a
// ResidencyPolicy, a workload's residency, the topology) re-judges every cached object, and a
// member's jurisdiction changing re-judges that member, from the cache (CPU, no member
// calls). When the policies name other namespaces only the new watches list (a member's
// other objects are not listed again). Steady state costs no list: the member client lists in
// pages (each bounded by its timeout, not the whole list), resumes a watch that ended or
// broke from the last resourceVersion it saw, and relists only on 410 Gone.
// Trust: a member is verified only while every watch it is wanted for is listed and up; a
// member whose list failed, that is still listing what the policies now name, or one of
// whose watches reported trouble (broken stream, failed reconnection, 410 Gone) and has not
// been answered again since, is unverified. A failed list is retried (with backoff,
// options.relist_backoff doubling to options.max_relist_backoff, on a thread of its own so a
// hung member delays nobody else; at most options.max_concurrent_lists at once).
// With options.resync set every member is listed afresh that often, as a safety net (off by
// default); ScanOnce lists every member afresh at once. A pass runs on every
// change and at least every `interval` (default 2 s: evidence heartbeat, relists due), so an
// object is reported within one pass of its watch event, well under 5 s. It reports:
//   - a Warning Event `ResidencyViolation` on every governing ResidencyPolicy (and on the
//     workload, for an object Meridian manages) when a violation is first seen, naming the
//     member, its jurisdiction and the object;
//   - a Normal Event `ResidencyViolationResolved` when it is gone from a member that was
//     verified in this scan (an unverified member's violations stay open: we cannot see them);
//   - a Warning Event `ResidencyUnverified` on every ResidencyPolicy when a member becomes
//     unverified (cannot be listed, a watch is down): unverified, never compliant. Not while
//     it is only still listing what changed policies now name (a newly named namespace):
//     that ends by itself, and the status and evidence say it; if that list then fails, the
//     Event is written.
// Enforcement (residency/enforcement.h): when a governing policy says `enforcement: remove`, the
// violating object is scaled to zero (Deployments, StatefulSets, ReplicaSets), suspended (Jobs)
// or deleted (bare Pods) in the same scan, never rewritten once at zero, and data (PVCs,
// ConfigMaps, Secrets) is never touched: a Normal Event `ResidencyEnforced` (or Warning
// `ResidencyNotEnforced` once for a kind that is not removed, `ResidencyEnforcementFailed`
// when the member refused) on every governing policy and the workload, and an Enforcement
// evidence entry. Otherwise (`report`, the default) it writes nothing to members. With no
// ResidencyPolicy and no residency-bound workload nothing is listed or watched.
//
// Policy status: after each scan every ResidencyPolicy's status holds the condition
// `Compliant` (True: every member verified and nothing found; False, reason
// ResidencyViolations: objects it governs are in members it does not allow; Unknown, reason
// MembersUnverified: nothing found but some member could not be listed) with the counts
// `violations`, `enforced` (held at zero) and `unverifiedMembers`; written only when it
// changes.
//
// Evidence (residency/ledger_writer.h, when the API serves ResidencyEvidence): a
// ViolationOpened / ViolationResolved entry with each of those Events; an AuditScan entry
// (members verified, members unverified and why, objects seen, open violations) when a scan's
// outcome differs from the last one recorded, and otherwise once per `evidence_heartbeat`, so
// a report can tell covered time from time nobody looked (a gap longer than the heartbeat is
// uncovered); a PolicyChange entry when a ResidencyPolicy appears, changes or goes (who
// changed it from the changed-by annotation admission sets; each policy once more as
// "Observed" after a restart, as changes while it was down cannot be seen). An entry that
// cannot be written (the store down, other writers winning for 30 s) is never dropped: the
// scan-derived ones are derived again next pass, the others queued and retried in order,
// each failure logged as an error.
// Thread-safety: Start/Stop from one thread; ScanOnce is not to be called concurrently with
// the running worker; Last is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "residency/audit.h"
#include "residency/internal/member_audit_cache.h"
#include "residency/ledger_writer.h"
#include "sync/member_client_factory.h"

namespace meridian::residency {

class ResidencyAuditController {
 public:
  struct Options {
    // A pass runs on every change and at least this often (heartbeat, relists due).
    std::chrono::milliseconds interval{2000};
    // An unchanged scan outcome is recorded again after this long (the coverage heartbeat).
    std::chrono::milliseconds evidence_heartbeat{60000};
    // When positive, every member is listed afresh this often, whatever its watches say.
    // Off by default: the watches resume from their last resourceVersion and relist on 410
    // Gone themselves, and at 100 members x 10,000 objects a relist of the fleet is minutes
    // of CPU (docs/performance.md).
    std::chrono::milliseconds resync{0};
    // A member whose list failed is listed again after this, doubled per failure up to max.
    std::chrono::milliseconds relist_backoff{1000};
    std::chrono::milliseconds max_relist_backoff{30'000};
    // Member lists in flight at once (each on a thread of its own).
    size_t max_concurrent_lists = 8;
    // The member watches' server-side lifetime and reconnect backoff.
    sync::WatchOptions member_watch{};
  };

  // `objects` and `clock` must outlive the controller, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own.
  ResidencyAuditController(apimachinery::ObjectService& objects, const Clock& clock,
                           sync::MemberClientFactory factory, Options options,
                           apimachinery::SharedInformerFactory* informers = nullptr);
  ~ResidencyAuditController();  // Stop()s
  ResidencyAuditController(const ResidencyAuditController&) = delete;
  ResidencyAuditController& operator=(const ResidencyAuditController&) = delete;

  // Starts the informers of Meridian's objects (one LIST each unless already started) and the
  // worker. Errors: an informer could not start.
  Status Start();
  // Stops the worker and the watches. Idempotent.
  void Stop();

  // One full scan: lists every member afresh (replacing its watched copy; in parallel,
  // waiting for all), judges everything and records the Events for what changed since the
  // previous pass. Meridian's own objects come from the informers' caches (listed first when
  // the controller is not started). Errors: they could not be listed (nothing is reported).
  StatusOr<AuditResult> ScanOnce();

  // Lists of members started so far (first lists, retries of failed ones, lists of what
  // changed policies name, full scans, resyncs). For tests and benchmarks: a watch-driven
  // audit does not list in steady state.
  int64_t member_lists() const { return member_lists_.load(); }
  // Workloads whose residency the view refreshes have described so far (each refresh
  // describes every workload, when anything is residency-bound; none otherwise). For tests.
  int64_t workloads_described() const { return workloads_described_.load(); }

  // The result of the latest scan (empty before the first).
  AuditResult Last() const;

 private:
  // The informer's workloads, shared read-only (not copied per refresh).
  using Workloads = std::vector<std::shared_ptr<const api::FederatedWorkload>>;
  // Meridian's objects as decoded for judging; rebuilt when what judging reads of a watched
  // kind changes (a workload's status, written many times a second while a fleet converges,
  // is not read: see WorkloadChangeMatters).
  struct View {
    std::vector<api::MemberCluster> members;
    std::vector<api::ResidencyPolicy> policies;
    Workloads workloads;
    std::shared_ptr<const placement::World> world;
    bool any_bound = false;
    std::vector<internal::AuditWatchSpec> specs;  // what every member is watched for
    std::string governing;  // what judging reads besides the member: changed => re-judge all
    std::unique_ptr<ResidencyJudge> judge;
  };
  // One member: its client, its watched copy and what was found in it.
  struct Slot {
    std::shared_ptr<sync::MemberClient> client;
    std::string client_error;                           // the factory's, when client is null
    std::shared_ptr<internal::MemberAuditCache> cache;  // null before the first list
    std::string list_error;                             // the last list's failure, "" after success
    bool fresh = false;  // a fresh copy is wanted (new client, full scan, resync)
    Timestamp next_relist{};
    int failures = 0;
    std::future<Status> listing;                               // in flight
    std::shared_ptr<internal::MemberAuditCache> listing_into;  // what `listing` fills
    std::shared_ptr<sync::MemberClient> listed_with;           // the client `listing` uses
    bool rejudge = true;       // judge every cached object in the next pass, not only changed ones
    std::string jurisdiction;  // as last judged
    std::map<std::string, ResidencyViolation> violations;  // by object key
  };

  // One pass (see the file comment); `full` lists every member afresh first and waits.
  StatusOr<AuditResult> Pass(bool full);
  Status RefreshView();
  void StartList(Slot& slot);
  void FinishList(Slot& slot);  // slot.listing is ready
  void Judge(const std::string& name, Slot& slot);
  // "" when `slot` is verified now, else why not.
  std::string Unverified(const Slot& slot) const;
  // Events for what changed since the previous scan (see the file comment); `still_listing`:
  // the unverified members that only list what the policies now name (no Event for them).
  void Report(const AuditResult& result, const std::set<std::string>& still_listing,
              const std::vector<api::ResidencyPolicy>& policies, const Workloads& workloads);

  // Evidence entries (see the file comment); a failed append is logged and retried next scan.
  void RecordScan(const AuditResult& result, const std::vector<api::MemberCluster>& members);
  void RecordPolicies(const std::vector<api::ResidencyPolicy>& policies);
  // A ViolationOpened / ViolationResolved / Enforcement entry: one that the scan will not
  // derive again (the violation is then in open_), so it is queued and the queue appended in
  // order; one that fails stays queued (logged as an error) for the next pass, with
  // `observedAt` added when it is written late.
  void Append(const char* type, nlohmann::json data);
  void AppendUnrecorded();

  // Applies `enforcement: remove` to the violations of `result` (see the file comment); what
  // was done goes to result->enforced, and an object scaled here counts as held at zero.
  void Enforce(AuditResult* result, const std::vector<api::ResidencyPolicy>& policies,
               const std::vector<api::MemberCluster>& members, const Workloads& workloads);
  // Writes each policy's status (Compliant condition and counts) when it changed.
  void UpdatePolicyStatus(const AuditResult& result,
                          const std::vector<api::ResidencyPolicy>& policies);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  Options options_;
  std::unique_ptr<apimachinery::EventRecorder> events_;  // null without an events resource
  // Touched by the pass thread only.
  sync::MemberClientCache clients_;
  std::optional<View> view_;
  std::map<std::string, Slot> slots_;  // by member name
  Timestamp next_resync_{};
  std::atomic<bool> view_dirty_{true};  // a watched Meridian kind changed
  std::atomic<int64_t> member_lists_{0};
  std::atomic<int64_t> workloads_described_{0};
  std::map<std::string, ResidencyViolation> open_;  // by Key()
  // Members unverified in the last scan whose ResidencyUnverified Event has been written.
  std::set<std::string> reported_unverified_;
  std::set<std::string> not_enforceable_;   // keys already reported as not removable
  std::shared_ptr<EvidenceLedger> ledger_;  // null without the ResidencyEvidence kind
  struct Unrecorded {
    std::string type;
    nlohmann::json data;
    Timestamp observed;
    int failures = 0;
  };
  std::deque<Unrecorded> unrecorded_;       // entries Append could not write yet, oldest first
  nlohmann::json recorded_scan_;            // the outcome last recorded (dedupe key)
  Timestamp recorded_scan_at_{};
  // The policies as last recorded: name -> spec with the changer; empty map before the first.
  std::optional<std::map<std::string, nlohmann::json>> recorded_policies_;
  mutable std::mutex mu_;  // guards last_
  AuditResult last_;
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::MemberCluster>& members_informer_;
  apimachinery::SharedInformer<api::Topology>& topologies_informer_;
  apimachinery::SharedInformer<api::ResidencyPolicy>& policies_informer_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_informer_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the view dirty
  bool started_ = false;  // set before the loop starts: passes read the caches as they are
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::residency
