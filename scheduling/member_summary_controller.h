// The member-summary controller: keeps every MemberCluster's status.workloadSummary (workloads
// placed there, replicas desired and ready there; scheduling/member_summary.h) current, so that
// a fleet view (the console's, issue 21) reads 1,000 members instead of 10,000 workloads.
//
// Level-triggered (apimachinery/change_loop.h) over the process's shared MemberCluster and
// FederatedWorkload informers; a member's summary is written through the /status subresource
// only when it changed (compare-and-swap; a lost race re-reads and retries; other status
// fields are kept). Rate-limited, because every workload change could change three members'
// summaries: passes run at most once per `interval` (changes in between coalesce into the
// next pass), and a pass writes at most `max_writes_per_pass` members (the rest, in turn, in
// the next ones), so 100 workload changes/s cost at most max_writes_per_pass/interval status
// writes, whatever the fleet's size.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::scheduling {

class MemberSummaryController {
 public:
  struct Options {
    std::chrono::milliseconds interval{1000};  // at least this long between two passes
    size_t max_writes_per_pass = 100;
  };

  // `objects` and `clock` must outlive the controller, and so must `informers` (the process's
  // shared informers over `objects`) when given; without, it has its own.
  MemberSummaryController(apimachinery::ObjectService& objects, const Clock& clock, Options options,
                          apimachinery::SharedInformerFactory* informers = nullptr);
  ~MemberSummaryController();  // Stop()s
  MemberSummaryController(const MemberSummaryController&) = delete;
  MemberSummaryController& operator=(const MemberSummaryController&) = delete;

  // Starts the two informers (one LIST each unless already started) and the worker. Errors: an
  // informer could not start.
  Status Start();
  // Stops reacting to changes and waits for a running pass. Idempotent.
  void Stop();

  // One pass: computes every member's summary from the informers' caches and writes at most
  // max_writes_per_pass of those that changed. Returns the writes made and, in `outdated`,
  // how many members differed before it. Tests call it without Start (it then LISTs first).
  // Errors: a LIST failed (without Start). A write that fails (other than by a lost race or a
  // member deleted meanwhile) is logged and left to the next pass.
  StatusOr<int> ReconcileAll(size_t* outdated = nullptr);

 private:
  std::optional<std::chrono::milliseconds> Pass();
  // Writes `summary` into member `name`'s status, starting from `current`. False: the member
  // is gone, or it kept changing (the next pass tries again).
  StatusOr<bool> Write(api::MemberCluster current, const api::MemberWorkloadSummary& summary);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  const Options options_;
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::MemberCluster>& members_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_;
  std::vector<apimachinery::InformerRegistration> handlers_;
  bool started_ = false;
  // Set by an informer change, cleared when a pass starts reading: only the first change
  // after a pass wakes the loop, so 100 changes/s are not 100 wake-ups of a waiting loop.
  std::atomic<bool> pending_{false};
  // Touched only by passes (one at a time, ChangeLoop): when the next may run, and the last
  // member written (the round robin's position, scheduling/member_summary.h).
  Timestamp next_pass_{};
  std::string last_written_;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::scheduling
