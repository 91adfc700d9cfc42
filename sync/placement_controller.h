// The placement controller: keeps every FederatedWorkload's status.placement equal to what
// the placement engine says for the current fleet.
//
// Level-triggered: any change to a FederatedWorkload, MemberCluster, Topology or
// ResidencyPolicy marks the world dirty; the worker then rebuilds the placement World from
// the API objects and re-places every workload (the engine's cost is ~15 µs per workload
// over 1,000 clusters, so a full pass is cheap next to the API writes it saves). A status is
// written only when it differs (compare-and-swap on resourceVersion; a lost race re-queues).
// Recovery hysteresis comes from the engine: when it asks to be asked again later
// (recheck_after), the worker wakes up then even if nothing changed.
//
// Everything goes through the ObjectService, the same API kubectl and fedctl use.
// Status fields written: observedGeneration, placement[], unplacedReplicas, desiredReplicas,
// conditions Placed and Degraded (other conditions and the sync fields are kept).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/types.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "placement/engine.h"
#include "placement/world.h"

namespace meridian::sync {

// ---- Pure core ----

// A MemberCluster as the engine sees it: zones from spec (health and room from status),
// allocatable from status (else spec.capacity, else unknown), reachable unless the
// Reachable condition is False, healthy_since from that condition's transition time.
placement::ClusterState ClusterStateFrom(const api::MemberCluster& member);

// The ResidencyPolicies that govern `workload` (namespace list and workload selector).
std::vector<placement::ResidencyRule> ResidencyRulesFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies);

// The engine's input for a workload. A template without spec.replicas is copied: one per
// eligible cluster (the total is the fleet size, at most one per cluster).
placement::Workload EngineWorkload(const api::FederatedWorkload& workload,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const placement::World& world);

// The status `workload` should have after placing it; `recheck_after` receives the engine's
// request to be asked again. Keeps fields and conditions this controller does not own.
api::FederatedWorkloadStatus PlacedStatus(const api::FederatedWorkload& workload,
                                          const std::vector<api::ResidencyPolicy>& policies,
                                          placement::Engine& engine, Timestamp now,
                                          std::optional<Duration>* recheck_after);

// ---- Shell ----

class PlacementController {
 public:
  // `objects` and `clock` must outlive the controller.
  PlacementController(apimachinery::ObjectService& objects, const Clock& clock);
  ~PlacementController();  // Stop()s
  PlacementController(const PlacementController&) = delete;
  PlacementController& operator=(const PlacementController&) = delete;

  // Starts the watches and the worker thread. Errors: a watch could not start.
  Status Start();
  // Stops watches and the worker. Idempotent.
  void Stop();

  // One full pass: reads the fleet and every workload, writes the statuses that differ.
  // Returns how many statuses were written; the earliest recheck the engine asked for goes
  // to `recheck_after`. Called by the worker; public so tests drive it with a FakeClock.
  // Not to be called concurrently with itself.
  StatusOr<int> ReconcileAll(std::optional<Duration>* recheck_after = nullptr);

 private:
  void Run();
  void MarkDirty();

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;

  std::mutex mu_;  // guards dirty_, stopping_
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace meridian::sync
