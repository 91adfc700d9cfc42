// Member health, the pure core: what one probe of a member means for its MemberCluster
// status. No I/O, no clock reads, no logging; the shell (failover/health_monitor.h) probes,
// then calls these with the outcome and the time.
//
// Status fields produced (exactly what scheduling::ClusterStateFrom reads, plus probe details):
//   conditions Reachable (True after a successful probe; False after `failure_threshold`
//   consecutive failures; a first failure of a member never probed is Unknown; reason
//   Recovered when it answers again after being False, read by placement as the start of
//   recovery hysteresis) and Ready (Reachable=True and at least one healthy zone), each
//   keeping lastTransitionTime while its status does not change; zones[] {name, healthy,
//   allocatableReplicas, replicasByPodShape, lastTransitionTime}: lastTransitionTime is empty
//   until the zone first changes health after it was first healthy (a zone of a member that
//   just joined, or a declared zone whose first nodes appear later, is new, not
//   "recovering"), and a failed zone keeps the allocatableReplicas it had while healthy (its
//   full room, for capacity-proportional shares; placement caps by healthy zones);
//   allocatable.replicas (the sum over healthy zones: the room now); lastProbeTime;
//   probeLatencyMs.
//
// Never delete what you cannot see: a failed probe changes only the conditions and
// lastProbeTime. Zones and allocatable keep their last observed values (the member may still
// be serving); placement already drops an unreachable member through Reachable=False.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "failover/node_capacity.h"  // kZoneLabel

namespace meridian::failover {

// One zone as the member's nodes show it.
struct ZoneHealth {
  std::string name;
  bool healthy = false;              // at least one node with condition Ready=True
  int64_t allocatable_replicas = 0;  // see ZoneHealthFromNodes for the estimate
  int ready_nodes = 0;
  int nodes = 0;
  // Per pod shape (PodRequirements::ShapeKey) of the workloads placed: what the zone's nodes
  // can take (EstimateZoneCapacity).
  std::map<std::string, int64_t> replicas_by_pod_shape;
  friend bool operator==(const ZoneHealth&, const ZoneHealth&) = default;
};

// Replicas one Ready node can take. The estimate assumes a replica requests 100m CPU (the
// shipped examples' request) and that a node runs no more pods than it allows:
//   min(status.allocatable.pods, status.allocatable.cpu / 100m) when both are present,
//   whichever one is present otherwise, 0 when neither parses.
// Quantities: pods a plain integer ("110"); cpu in cores ("4", "0.5") or millicores ("3500m").
int64_t NodeAllocatableReplicas(const nlohmann::json& node);

// True when the node's status.conditions has type Ready with status "True".
bool NodeReady(const nlohmann::json& node);

// Per-zone health from v1 Node objects. One entry per declared zone, in declared order
// (zones with no nodes are unhealthy with 0 allocatable); when `declared_zones` is empty, one
// entry per zone label found on the nodes (sorted by name). Nodes without the zone label, or
// labelled with an undeclared zone, are ignored. A zone is healthy when at least one of its
// nodes is Ready=True; its allocatable replicas are the sum of NodeAllocatableReplicas over
// its Ready nodes.
std::vector<ZoneHealth> ZoneHealthFromNodes(const std::vector<nlohmann::json>& nodes,
                                            const std::vector<std::string>& declared_zones);

// What one probe found.
struct ProbeOutcome {
  bool ok = false;             // /readyz (or /healthz) answered 200 in time
  Duration latency{0};         // how long the probe took (also for failures)
  std::string error;           // why it failed (empty when ok)
  // Zone health from the member's nodes; nullopt when the nodes could not be read (the
  // zones keep their previous status).
  std::optional<std::vector<ZoneHealth>> zones;
  bool timed_out = false;  // it failed by silence (no answer in time), not by an answer
};

// Per-member memory between probes (kept by the shell, in memory: after a restart a member
// needs `failure_threshold` fresh failures before it is marked unreachable).
struct ProbeHistory {
  int consecutive_failures = 0;
};

// The history after `outcome`.
ProbeHistory NextHistory(ProbeHistory history, const ProbeOutcome& outcome);

// Whether a round's silences say more about the prober than about the members: strictly more
// than half of the `probed` members (and at least two) gave no answer in time. The prober's
// process starved of CPU, or its own network, silences members that are fine; a real outage
// this wide is rarer than that, and answers such as "connection refused" do not count here.
// Like kube-controller-manager's node lifecycle controller, which stops evicting when every
// zone is fully disrupted (it suspects itself): the shell does not count those silences as
// failures for a grace period (HealthMonitorOptions::disruption_grace), so that one stall of
// the control plane cannot fail most of the fleet over at once.
bool RoundLooksDisrupted(int timed_out, int probed);

// The status after a probe. `history` is the history *after* this probe (NextHistory).
// Keeps conditions other than Reachable/Ready and kubernetesVersion untouched.
// `failure_threshold` < 1 is treated as 1.
api::MemberClusterStatus ApplyProbe(const api::MemberClusterStatus& previous,
                                    const ProbeOutcome& outcome, const ProbeHistory& history,
                                    Timestamp now, int failure_threshold);

// `status` without the fields that change on every probe (lastProbeTime, probeLatencyMs):
// two statuses equal under this are not worth a write.
api::MemberClusterStatus WithoutProbeDetails(api::MemberClusterStatus status);

// A transition worth a core/v1 Event on the MemberCluster.
struct HealthEvent {
  bool warning = false;  // Warning (something failed) or Normal (something came back)
  std::string reason;    // MemberReachable | MemberUnreachable | MemberReady | MemberNotReady |
                         // ZoneFailed | ZoneRecovered
  std::string message;
  friend bool operator==(const HealthEvent&, const HealthEvent&) = default;
};

// The Events for every transition between `before` and `after`: Reachable and Ready status
// changes, a zone failing or recovering (a zone seen for the first time is no transition, nor
// is a condition's first appearance as True). Same transitions as DescribeTransitions.
std::vector<HealthEvent> TransitionEvents(const api::MemberClusterStatus& before,
                                          const api::MemberClusterStatus& after);

// One line per transition between `before` and `after` (Reachable or Ready status changes,
// a zone turning healthy or failed, a zone appearing), for the event log. Empty when nothing
// transitioned.
std::vector<std::string> DescribeTransitions(const api::MemberClusterStatus& before,
                                             const api::MemberClusterStatus& after);

}  // namespace meridian::failover
