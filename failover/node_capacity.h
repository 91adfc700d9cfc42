// Per-zone capacity of a member for one kind of pod, estimated as kube-scheduler would fit
// it: pure functions over the member's v1 Nodes and Pods (no I/O, no clock, thread-safe).
// The health monitor (failover/health_monitor.h) lists Nodes and Pods in its probe and calls
// these; placement reads the results from MemberCluster status.
//
// A node takes replicas of a pod when it is Ready=True, not spec.unschedulable, every
// NoSchedule/NoExecute taint is tolerated by the pod's tolerations (PreferNoSchedule never
// blocks), and the pod's nodeSelector and required node affinity match its labels. It takes
//   min(free pods, free cpu / requested cpu, free memory / requested memory)
// replicas, where free = status.allocatable minus the requests of the pods bound to it
// (spec.nodeName set, phase neither Succeeded nor Failed); a resource the pod does not request
// does not bound it, a resource the node does not report leaves no room for a pod that
// requests it (as the scheduler's NodeResourcesFit answers "Insufficient").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace meridian::failover {

// The node label that names a node's zone.
inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

// What one replica asks of a node.
struct PodRequirements {
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
  std::map<std::string, std::string> node_selector;
  // spec.tolerations and spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuring
  // Execution.nodeSelectorTerms as given (arrays; empty when absent).
  nlohmann::json tolerations = nlohmann::json::array();
  nlohmann::json node_selector_terms = nlohmann::json::array();

  // A stable, readable key for "pods that fit the same nodes the same way":
  // "cpu=500m,memory=268435456" plus ",nodeSelector=..." / ",tolerations=..." /
  // ",affinity=..." (compact JSON) when set. Equal requirements give equal keys.
  std::string ShapeKey() const;
  friend bool operator==(const PodRequirements&, const PodRequirements&) = default;
};

// The replica Meridian assumes when it knows nothing of the workload: 100m CPU and nothing
// else (the shipped examples' request). zones[].allocatableReplicas is counted in these.
PodRequirements ReferencePod();

// The pod spec inside a workload template (an object with apiVersion/kind): spec.template.spec
// for Deployment, StatefulSet, ReplicaSet, DaemonSet and Job, spec.jobTemplate.spec.template.spec
// for CronJob, spec for Pod. nullptr for any other kind (a Service has no pods) or when absent.
const nlohmann::json* TemplatePodSpec(const nlohmann::json& object);

// The requirements of a pod spec: the sum of its containers' requests (a container without a
// request of cpu or memory takes its limit, as the API server defaults it), at least the
// largest init container's; nodeSelector, tolerations, required node affinity.
// Errors (kInvalidArgument) name the field, e.g.
// "containers[0].resources.requests.cpu: quantity \"x\": ...", and "nodeSelector.zone: must
// be a string".
StatusOr<PodRequirements> PodRequirementsFrom(const nlohmann::json& pod_spec);

// Whether `node` takes new pods with `pod` (see the file comment; resources aside).
bool NodeAccepts(const nlohmann::json& node, const PodRequirements& pod);

// One zone's capacity for one kind of pod.
struct ZoneCapacity {
  std::string name;
  bool healthy = false;  // at least one node with Ready=True
  int ready_nodes = 0;
  int nodes = 0;
  int64_t replicas = 0;  // sum over the zone's nodes of what each can still take
  friend bool operator==(const ZoneCapacity&, const ZoneCapacity&) = default;
};

// Which bound pods take room (true) — the health monitor leaves out the pods of Meridian's
// own workloads, whose replicas placement counts itself. nullptr: every bound pod.
using PodFilter = std::function<bool(const nlohmann::json& pod)>;

// "namespace/Kind/name" of the object Meridian would have written that runs `pod`: its
// controller owner, where a ReplicaSet named "<deployment>-<pod-template-hash>" stands for
// its Deployment; the pod itself ("ns/Pod/name") when it has no controller. Pods of CronJobs
// resolve to their Job (whose name Meridian does not write).
std::string PodWorkloadKey(const nlohmann::json& pod);
// The same key for an object Meridian writes.
std::string WorkloadObjectKey(const std::string& ns, const std::string& kind,
                              const std::string& name);

// Per-zone capacity for `pod` from v1 Nodes (zone label topology.kubernetes.io/zone) and v1
// Pods. One entry per declared zone, in declared order (a zone without nodes: unhealthy, 0);
// when `declared_zones` is empty, one per zone label found on the nodes, sorted by name.
// Nodes without the zone label or with an undeclared zone are ignored, as are pods bound to
// nodes not in `nodes`. Malformed quantities on a bound pod count as 0 (it runs whatever we
// think of it); on a node, as absent.
std::vector<ZoneCapacity> EstimateZoneCapacity(const std::vector<nlohmann::json>& nodes,
                                               const std::vector<nlohmann::json>& pods,
                                               const PodRequirements& pod,
                                               const std::vector<std::string>& declared_zones,
                                               const PodFilter& counts = nullptr);

// EstimateZoneCapacity for several kinds of pod at once (the pods are read once): one result
// per entry of `kinds`, in order.
std::vector<std::vector<ZoneCapacity>> EstimateZoneCapacities(
    const std::vector<nlohmann::json>& nodes, const std::vector<nlohmann::json>& pods,
    const std::vector<PodRequirements>& kinds, const std::vector<std::string>& declared_zones,
    const PodFilter& counts = nullptr);

}  // namespace meridian::failover
