// SimulatedCluster: one member cluster in memory — a MemoryStore, the shared
// apimachinery ObjectService in front of it (what the REST shell serves), the pure
// Reconciler acting as its controllers, and the faults injected into it.
//
// The simulation is a client of the API like any controller: it watches the store, lists
// a snapshot, and writes its results back through the ObjectService (creates, main-resource
// updates, /status updates, deletes with resourceVersion preconditions), so users and
// Meridian see exactly what a real controller would have written.
//
// Namespaces are deleted as on kube-apiserver: a DELETE marks the Namespace Terminating
// (ObjectService::DeferNamespaceDeletion) and the cluster's namespace controller, run with
// the other controllers, empties it and removes it after timings.namespace_deletion_delay.
//
// Thread-safety: Reconcile() is called from one runner thread at a time; the fault setters
// and getters are thread-safe; service()/store() are thread-safe as their classes are.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"
#include "federation-apiserver/crd/registrar.h"
#include "membersim/config.h"
#include "membersim/reconciler.h"

namespace meridian::membersim {

enum class PartitionMode { kNone, kHang, kRefuse };
const char* PartitionModeName(PartitionMode m);                // "none" | "hang" | "refuse"
StatusOr<PartitionMode> ParsePartitionMode(const std::string& text);

class SimulatedCluster {
 public:
  struct Options {
    size_t history_limit = 1000;  // watch history kept per cluster (older: 410 Gone)
    std::shared_ptr<apimachinery::WatchDispatcher> dispatcher;  // null: the shared one
  };

  // `clock` must outlive the cluster. `on_dirty` is called (from store watch threads) when
  // the cluster needs a reconcile; it must be cheap and non-blocking.
  SimulatedCluster(ClusterSpec spec, const Clock& clock, Options options,
                   std::function<void()> on_dirty);
  ~SimulatedCluster();
  SimulatedCluster(const SimulatedCluster&) = delete;
  SimulatedCluster& operator=(const SimulatedCluster&) = delete;

  // Creates the standard namespaces and starts the watches. Call once before serving.
  Status Start();

  // True if an event arrived since the last pass or a wake-up time has come.
  bool NeedsReconcile(Timestamp now) const;
  // The earliest time a pass is wanted without new events (max() if none).
  Timestamp NextWake() const;
  // One pass: snapshot, reconcile, apply. Returns the number of writes that succeeded.
  int Reconcile(Timestamp now);

  const ClusterSpec& spec() const { return spec_; }
  apimachinery::ObjectService& service() { return *service_; }
  apimachinery::MemoryStore& store() { return *store_; }

  // Faults. FailZone/HealZone: kNotFound for a zone the cluster does not have;
  // kFailedPrecondition if already in that state (so drills see a clear answer).
  Status FailZone(const std::string& zone, Timestamp now);
  Status HealZone(const std::string& zone);
  SimFaults faults() const;
  void SetPartition(PartitionMode mode);
  PartitionMode partition() const;
  void SetLatency(Duration latency);
  Duration latency() const;

  // Counts one write request (POST, PUT, PATCH, DELETE) received through the API, whatever
  // its outcome, as an audit log would; the simulation's own controllers are not counted.
  // Thread-safe.
  void CountApiWrite(const std::string& method);
  // Counts one read request (GET) received through the API, as an audit log's verb would
  // name it: "get", "list", "watch", or "health" (/healthz, /readyz, /livez); other GETs
  // (discovery, /version, /openapi) count as "other". `path` may carry the /clusters/NAME
  // prefix. Thread-safe. Shown as apiReads in StatusJson (how much a client polls).
  void CountApiRead(const std::string& path, bool watch);

  // {name, region, jurisdiction, zones: [{name, nodes, failed, failedAt}], partition,
  //  latencyMs, objects, apiWrites: {create, update, patch, delete, total},
  //  apiReads: {get, list, watch, health, other, total}}
  nlohmann::json StatusJson() const;

 private:
  void MarkDirty();
  // The namespace controller: empties each Namespace being deleted at once and removes it
  // (FinalizeNamespace) once it is empty and timings.namespace_deletion_delay has passed
  // since this controller first saw it Terminating. Returns when it wants to run again.
  std::optional<Timestamp> SyncNamespaces(Timestamp now);

  const ClusterSpec spec_;
  const Clock& clock_;
  std::function<void()> on_dirty_;
  std::unique_ptr<apimachinery::MemoryStore> store_;
  // The built-in kinds (MemberClusterRegistry) plus apiextensions.k8s.io/v1
  // CustomResourceDefinitions and the custom kinds they serve (this cluster's own).
  apimachinery::ResourceRegistry registry_;
  std::unique_ptr<apimachinery::ObjectService> service_;
  // Serves this cluster's CRDs as kube-apiserver does (the federation-apiserver's registrar:
  // validation, Established, discovery of the custom kinds, cleanup on deletion).
  std::unique_ptr<apiserver::crd::CustomResourceRegistrar> custom_resources_;
  std::atomic<uint32_t> next_cluster_ip_{10};
  Reconciler reconciler_;  // runner thread only
  std::map<std::string, Timestamp> terminating_since_;  // by Namespace uid; runner thread only
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;

  // API write requests by verb: POST, PUT, PATCH, DELETE.
  std::atomic<int64_t> api_creates_{0}, api_updates_{0}, api_patches_{0}, api_deletes_{0};
  // API read requests by audit verb (CountApiRead).
  std::atomic<int64_t> api_gets_{0}, api_lists_{0}, api_watches_{0}, api_health_{0},
      api_other_reads_{0};

  std::atomic<bool> dirty_{true};
  std::atomic<int64_t> next_wake_ms_{INT64_MAX};

  mutable std::mutex mu_;  // guards faults_, partition_, latency_
  SimFaults faults_;
  PartitionMode partition_ = PartitionMode::kNone;
  Duration latency_{0};
};

}  // namespace meridian::membersim
