// StorageCompactor: compacts the store's revision history on a timer, as kube-apiserver's
// compactor does with etcd (--etcd-compaction-interval, 5 min by default). Each tick
// compacts to the revision the previous tick saw, so a watch can always resume from up to one
// interval back, and no superseded value stays in the store longer than two intervals: the
// plaintext of a Secret written before encryption at rest was turned on is gone from the
// files within two intervals of `fedctl admin rewrite-secrets`. The stores' count bounds
// (--watch-history-events) still apply in between.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "apimachinery/store.h"
#include "apimachinery/store_compaction.h"
#include "common/status.h"
#include "federation-apiserver/periodic_task.h"

namespace meridian::apiserver {

class StorageCompactor {
 public:
  // `target` compacts `store`'s history (both outlive this object).
  StorageCompactor(apimachinery::CompactableStore& target, apimachinery::Store& store,
                   std::chrono::milliseconds interval);
  ~StorageCompactor();  // stops the timer

  // Runs Tick() every interval on its own thread until Stop().
  void Start();
  void Stop();

  // One tick: compacts to the revision the previous tick recorded (nothing on the first),
  // then records the current one. The compaction's error, if any (logged by the timer).
  Status Tick();

 private:
  apimachinery::CompactableStore& target_;
  apimachinery::Store& store_;
  int64_t previous_revision_ = 0;  // guarded by tick_mu_
  std::mutex tick_mu_;
  PeriodicTask timer_;  // last: stopped before the members its ticks use go
};

}  // namespace meridian::apiserver
