// Reconciler: the simulated kubelets, scheduler, node-lifecycle, Deployment, ReplicaSet,
// StatefulSet, garbage-collector and LoadBalancer controllers of one member cluster, as one
// pure, level-triggered function.
//
// Reconcile() takes a snapshot of the cluster's objects (as listed from its store), the
// injected faults and the time, and returns the writes that move the cluster one step toward
// what real controllers would make of it, plus the time at which it wants to run again
// (a pod turning Ready, an eviction deadline). It performs no I/O and reads no clock; the
// shell (ClusterSim) lists, applies the writes through the API machinery and calls again on
// every watch event and at the wake-up time. Running it twice on an unchanged world yields
// no writes (idempotent), so lost or repeated events change nothing.
//
// Behaviour follows the upstream controllers where it is visible through the API:
//   - Deployment: a ReplicaSet per pod-template hash ("<name>-<hash>", label
//     pod-template-hash), rolling updates with maxSurge/maxUnavailable (surge rounds up,
//     unavailable down; both zero means 1 unavailable), Recreate, revision annotations,
//     status replicas/updatedReplicas/readyReplicas/availableReplicas/unavailableReplicas/
//     observedGeneration and Available/Progressing conditions with upstream reasons
//     (MinimumReplicasAvailable, NewReplicaSetCreated, ReplicaSetUpdated,
//     NewReplicaSetAvailable, ProgressDeadlineExceeded).
//   - ReplicaSet: pods "<rs>-<5 chars>", deletes the least useful pods first (unscheduled,
//     not ready, newest), status with observedGeneration.
//   - StatefulSet: pods "<name>-<ordinal>", OrderedReady or Parallel, RollingUpdate from the
//     highest ordinal honouring partition, currentRevision/updateRevision.
//   - Scheduler: pods are bound within node allocatable (cpu, memory, pod count) honouring
//     nodeSelector, spreading a workload's pods across zones then nodes; pods that fit
//     nowhere stay Pending with PodScheduled=False/Unschedulable and a message like the
//     real scheduler's.
//   - Kubelet: a bound pod becomes Running and Ready `pod_ready_delay` after binding.
//   - Node lifecycle: nodes of failed zones get Ready=Unknown (NodeStatusUnknown) and the
//     unreachable taints; their pods turn Ready=False and are evicted after
//     `pod_eviction_delay`, so their controllers recreate them in healthy zones when there is room.
//   - Garbage collection: objects whose controller owner (by uid) is gone are deleted.
//   - Services of type LoadBalancer get status.loadBalancer.ingress from the cluster's range.
// Objects created in a step carry no uid until stored, so dependants of a new object are
// created in the next step (as the real controllers also do, one informer event later).
//
// Thread-compatible: one Reconciler per cluster, called from one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apimachinery/store.h"
#include "common/clock.h"
#include "membersim/config.h"

namespace meridian::membersim {

using nlohmann::json;
using apimachinery::ObjectKey;
using apimachinery::ResourceType;

// Resource types the simulation reads or writes.
inline const ResourceType kNodes{"", "nodes"};
inline const ResourceType kPods{"", "pods"};
inline const ResourceType kServices{"", "services"};
inline const ResourceType kNamespaces{"", "namespaces"};
inline const ResourceType kDeployments{"apps", "deployments"};
inline const ResourceType kReplicaSets{"apps", "replicasets"};
inline const ResourceType kStatefulSets{"apps", "statefulsets"};

// The cluster's objects at one moment (items as a list returns them).
struct Snapshot {
  std::vector<json> nodes, pods, deployments, replicasets, statefulsets, services;
};

// Injected faults that the simulation itself must act out (partition and latency are the
// HTTP shell's business).
struct SimFaults {
  std::map<std::string, Timestamp> failed_zones;  // zone -> when it failed
  bool operator==(const SimFaults&) const = default;
};

enum class WriteOp { kCreate, kUpdate, kDelete };

// One write for the shell to apply. Updates and deletes are compare-and-swap on
// `expected_resource_version`; a lost race is harmless (the next step recomputes).
struct Write {
  WriteOp op;
  ObjectKey key;
  json object;  // kCreate/kUpdate: the full object
  int64_t expected_resource_version = 0;
  bool status_only = false;  // kUpdate that changes only .status (the /status subresource)
};

struct Step {
  std::vector<Write> writes;
  std::optional<Timestamp> wake_at;  // run again at this time even without events
};

// Pure helpers, exposed for tests.

// maxSurge / maxUnavailable of a rolling update ("25%" or an int) resolved against
// `replicas`: surge rounds up, unavailable down; if both are 0, unavailable becomes 1.
struct RollingParams {
  int32_t max_surge = 0;
  int32_t max_unavailable = 0;
};
RollingParams ResolveRollingParams(const json& deployment_spec);

// Replicas the new ReplicaSet should have during a rolling update (upstream NewRSNewReplicas).
int32_t NewReplicaSetReplicas(int32_t desired, int32_t max_surge, int32_t all_pods,
                              int32_t new_rs_replicas);

// Scale-down budget for the old ReplicaSets: how many old replicas may go now
// (upstream reconcileOldReplicaSets with unhealthy cleanup and availability floor).
struct OldReplicaSet {
  int32_t replicas = 0;   // spec.replicas
  int32_t available = 0;  // status.availableReplicas
};
std::vector<int32_t> ScaleDownOldReplicaSets(int32_t desired, int32_t max_unavailable,
                                             int32_t new_rs_replicas, int32_t new_rs_available,
                                             const std::vector<OldReplicaSet>& old_oldest_first);

// Requests of a pod spec (sum over containers, max with each init container) in millicores
// and bytes; malformed quantities count as 0.
struct PodRequests {
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
};
PodRequests RequestsOf(const json& pod_spec);

// The pod-template hash as upstream prints it (fnv32a of the template, safe-encoded).
std::string PodTemplateHash(const json& pod_template);

class Reconciler {
 public:
  // `spec` is copied. `seed` makes generated pod names and IPs deterministic for tests.
  explicit Reconciler(ClusterSpec spec, uint64_t seed = 1);

  // One step; see the file comment.
  Step Reconcile(const Snapshot& snapshot, const SimFaults& faults, Timestamp now);

  // The Node objects this cluster should have (by zone order), with Ready=True.
  std::vector<json> DesiredNodes() const;

  const ClusterSpec& spec() const { return spec_; }

 private:
  struct World;
  void SyncNodes(World& w, const SimFaults& faults, Timestamp now);
  void SyncDeployments(World& w, Timestamp now);
  void SyncReplicaSets(World& w);
  void SyncStatefulSets(World& w);
  void CollectGarbage(World& w);
  void EvictFromFailedNodes(World& w, const SimFaults& faults, Timestamp now);
  void Schedule(World& w, Timestamp now);
  void RunKubelets(World& w, Timestamp now);
  void ReplicaSetStatus(World& w, Timestamp now);
  void DeploymentStatus(World& w, Timestamp now);
  void StatefulSetStatus(World& w, Timestamp now);
  void LoadBalancers(World& w);
  std::string RandomSuffix();

  ClusterSpec spec_;
  std::mt19937_64 rng_;
};

}  // namespace meridian::membersim
