// NamespaceTerminator: finishes the deletion of every Namespace left Terminating, as
// kube-controller-manager's namespace controller re-drives a deletion until it is done.
//
// The federation-apiserver deletes a Namespace in the DELETE request itself (ObjectService:
// mark it Terminating, delete its objects, remove it once empty), and an object's removal
// removes its Terminating namespace when it was the last one. Each step is one whole write,
// but the steps are several, and the one that ends it may not happen: the server that was to
// take it was killed (several API servers share one etcd), its compare-and-swap lost to
// another write of the namespace, the store failed. The namespace then stays Terminating,
// whole, refusing new objects, until something does the rest: this, on every API server (the
// work is idempotent and every write conditional, so several at once are fine).
//
// Tick() is one pass (tests call it directly); the timer only calls it.
#pragma once

#include <chrono>
#include <mutex>

#include "apimachinery/object_service.h"
#include "common/status.h"
#include "federation-apiserver/periodic_task.h"

namespace meridian::apiserver {

class NamespaceTerminator {
 public:
  // Passes over `objects` (which outlives this object; without DeferNamespaceDeletion) every
  // `interval` once started.
  explicit NamespaceTerminator(apimachinery::ObjectService& objects,
                               std::chrono::milliseconds interval = std::chrono::seconds(10));
  ~NamespaceTerminator();

  void Start();
  void Stop();

  // One pass: ObjectService::ResumeNamespaceDeletion for every Namespace being deleted.
  // Returns how many it removed; a failed list is the error, a failed namespace is logged and
  // left for the next pass.
  StatusOr<int> Tick();

 private:
  apimachinery::ObjectService& objects_;
  std::mutex tick_mu_;  // one pass at a time
  PeriodicTask timer_;  // last: stopped before the members its ticks use go
};

}  // namespace meridian::apiserver
