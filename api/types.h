// Meridian's resource types (group federation.meridian.io, version v1alpha1), as typed
// structs. The shape is docs/design.md's "Resources"; api/codec.h converts them to and from
// the JSON the API speaks, strictly (every problem reported with its field path) and
// losslessly (Decode(Encode(x)) == x; Encode(Decode(j)) == j for canonical j; the workload
// template and unknown metadata fields are carried as JSON untouched).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/rollout.h"
#include "apimachinery/labels.h"
#include "placement/policy.h"

namespace meridian::api {

inline constexpr char kGroup[] = "federation.meridian.io";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "federation.meridian.io/v1alpha1";

// The metadata fields Meridian reads; everything else (ownerReferences, managedFields, ...)
// is kept verbatim in `extra`.
struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string ns;  // `namespace`
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::string creation_timestamp;
  std::string deletion_timestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  nlohmann::json extra = nlohmann::json::object();
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

// A Kubernetes-style condition (metav1.Condition).
struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;
  int64_t observed_generation = 0;
  friend bool operator==(const Condition&, const Condition&) = default;
};

// ---- MemberCluster (cluster-scoped) ----
struct SecretReference {
  std::string name;
  std::string ns;  // `namespace`; default "meridian-system"
  friend bool operator==(const SecretReference&, const SecretReference&) = default;
};

struct MemberClusterSpec {
  std::string server;  // Kubernetes API endpoint; may carry a base path
  SecretReference credentials_ref;
  std::string region;
  std::vector<std::string> zones;
  std::string jurisdiction;
  std::optional<int64_t> capacity_replicas;  // `capacity.replicas`
  bool insecure_skip_tls_verify = false;     // `insecureSkipTLSVerify`: development only
  friend bool operator==(const MemberClusterSpec&, const MemberClusterSpec&) = default;
};

struct ZoneStatus {
  std::string name;
  bool healthy = true;
  std::optional<int64_t> allocatable_replicas;  // `allocatableReplicas`
  std::string last_transition_time;
  // `replicasByPodShape`: per pod shape (failover::PodRequirements::ShapeKey of a workload's
  // template), the replicas of that shape the zone's nodes can take, scheduler-style.
  std::map<std::string, int64_t> replicas_by_pod_shape;
  friend bool operator==(const ZoneStatus&, const ZoneStatus&) = default;
};

// status.workloadSummary: what the FederatedWorkloads have on this member (as Karmada's
// Cluster status.resourceSummary), kept by the member-summary controller
// (scheduling/member_summary.h) so that a fleet view reads the members alone, not every
// workload.
struct MemberWorkloadSummary {
  int64_t workloads = 0;         // FederatedWorkloads with replicas placed on the member
  int64_t desired_replicas = 0;  // `desiredReplicas`: their status.placement replicas here
  int64_t ready_replicas = 0;    // `readyReplicas`: their status.clusters readyReplicas here
  friend bool operator==(const MemberWorkloadSummary&, const MemberWorkloadSummary&) = default;
};

struct MemberClusterStatus {
  std::vector<Condition> conditions;
  std::vector<ZoneStatus> zones;
  std::optional<int64_t> allocatable_replicas;  // `allocatable.replicas`
  std::string last_probe_time;
  std::optional<int64_t> probe_latency_ms;
  std::string kubernetes_version;
  std::optional<MemberWorkloadSummary> workload_summary;  // `workloadSummary`
  friend bool operator==(const MemberClusterStatus&, const MemberClusterStatus&) = default;
};

struct MemberCluster {
  ObjectMeta metadata;
  MemberClusterSpec spec;
  MemberClusterStatus status;
  friend bool operator==(const MemberCluster&, const MemberCluster&) = default;
};

// ---- FederatedWorkload (namespaced) ----
struct Override {
  apimachinery::LabelSelector cluster_selector;
  nlohmann::json patches = nlohmann::json::array();  // RFC 6902 operations
  friend bool operator==(const Override&, const Override&) = default;
};

struct DnsSpec {
  std::string name;               // fully qualified, e.g. web.global.example.com
  std::string strategy = "geo";   // geo | weighted | failover
  int32_t ttl = 30;
  int32_t port = 80;
  std::vector<std::string> failover_order;  // `failoverOrder`: regions or clusters
  friend bool operator==(const DnsSpec&, const DnsSpec&) = default;
};

struct FederatedWorkloadSpec {
  nlohmann::json template_;  // `template`: any Kubernetes object, kept as written
  placement::PlacementPolicy placement;
  std::vector<Override> overrides;
  std::optional<DnsSpec> dns;
  bool adopt_existing = false;  // `adoptExisting`: take over unmanaged objects in members
  // `retainedPaths`: JSON pointers into the member object whose member value is kept once
  // the object exists (api/retained_paths.h).
  std::vector<std::string> retained_paths;
  // `rollout`: staged rollout of template changes (api/rollout.h); absent, every member gets a
  // new template at once.
  std::optional<WorkloadRolloutSpec> rollout;
  // `revisionHistoryLimit`: revisions kept in status.revisions besides those members run.
  int32_t revision_history_limit = 10;
  friend bool operator==(const FederatedWorkloadSpec&, const FederatedWorkloadSpec&) = default;
};

struct ClusterPlacement {
  std::string cluster;
  int64_t replicas = 0;
  std::map<std::string, int64_t> zones;  // per-zone hints
  std::vector<std::string> reasons;
  friend bool operator==(const ClusterPlacement&, const ClusterPlacement&) = default;
};

struct ClusterSyncStatus {
  std::string cluster;
  int64_t ready_replicas = 0;
  bool synced = false;
  std::string last_error;
  // The workload revision (status.revisions) the member's object was rendered from (0:
  // unknown), and whether the member runs it fully: every replica updated, ready, available.
  int64_t revision = 0;
  bool revision_ready = false;  // `revisionReady`
  // Container restarts of the member's pods running that revision (sum of
  // containerStatuses[].restartCount), read while the revision is not ready there: a
  // crash-looping pod is not ready, and a member whose pods all run ready is not read.
  int64_t restarts = 0;
  friend bool operator==(const ClusterSyncStatus&, const ClusterSyncStatus&) = default;
};

// One cluster's placement decision, for every cluster of the fleet (including those that get
// nothing): the machine-readable `reason` (placement::ReasonName: Placed, Overflow,
// ExcludedBySelector, ExcludedByResidency, ExcludedByLatency, Unreachable, ZoneFailure,
// RecoveryHold, Capacity, Max, NotNeeded) and the sentence behind it.
struct ClusterDecision {
  std::string cluster;
  int64_t replicas = 0;
  std::string reason;
  std::string message;
  friend bool operator==(const ClusterDecision&, const ClusterDecision&) = default;
};

// Clusters that get nothing for the same reason and detail, said once
// (status.explanation.notPlaced). On a large fleet most clusters are passed alike (excluded by
// the selector, by residency), and one line per cluster made the explanation most of the
// object: 14 of 16 KB per workload placed on 10 of 100 members, kept decoded in every cache
// and rewritten with every status (docs/performance.md, issue 19). `message` is the detail
// without the "<cluster>: 0; " each cluster's own decision begins with.
struct ClusterDecisionGroup {
  std::string reason;
  std::string message;
  std::vector<std::string> clusters;
  friend bool operator==(const ClusterDecisionGroup&, const ClusterDecisionGroup&) = default;
};

// status.explanation: each cluster holding replicas with its own decision (`clusters`), every
// other cluster in the group of its reason and detail (`notPlaced`), and the overflow trail.
// Bounded (at most kMaxExplainedClusters decisions and kMaxGroupedClusters grouped names;
// `omitted` counts the rest) so that a large fleet cannot grow the object unboundedly.
// Objects written before the groups list every cluster in `clusters`; Decisions() reads both.
struct PlacementExplanation {
  static constexpr size_t kMaxExplainedClusters = 200;
  static constexpr size_t kMaxGroupedClusters = 2000;
  std::vector<ClusterDecision> clusters;
  std::vector<ClusterDecisionGroup> not_placed;  // `notPlaced`
  std::vector<std::string> overflow;  // the overflow candidates in order, taken or passed
  int64_t omitted = 0;
  friend bool operator==(const PlacementExplanation&, const PlacementExplanation&) = default;
};

struct FederatedWorkloadStatus {
  int64_t observed_generation = 0;
  std::vector<ClusterPlacement> placement;
  // Replicas left where they run although placement moved them away, because Meridian
  // cannot see them (the member is unreachable) or they are still serving after the member
  // came back (until its recovery delay passed and the replacements are ready). Kept in the
  // member as they are, never counted as placed; see scheduling/placement_controller.h.
  std::vector<ClusterPlacement> retained;
  int64_t unplaced_replicas = 0;
  std::vector<ClusterSyncStatus> clusters;
  int64_t ready_replicas = 0;
  int64_t desired_replicas = 0;
  std::vector<Condition> conditions;
  PlacementExplanation explanation;  // why each cluster holds what it holds
  // Written by the rollout controller (rollout/): the template's numbered revisions, newest
  // last, and the staged rollout's state.
  std::vector<WorkloadRevision> revisions;
  std::optional<RolloutStatus> rollout;
  friend bool operator==(const FederatedWorkloadStatus&, const FederatedWorkloadStatus&) = default;
};

struct FederatedWorkload {
  ObjectMeta metadata;
  FederatedWorkloadSpec spec;
  FederatedWorkloadStatus status;
  friend bool operator==(const FederatedWorkload&, const FederatedWorkload&) = default;
};

// ---- RolloutStrategy (cluster-scoped): reusable stages and gates (api/rollout.h) ----
struct RolloutStrategy {
  ObjectMeta metadata;
  RolloutStrategySpec spec;
  friend bool operator==(const RolloutStrategy&, const RolloutStrategy&) = default;
};

// ---- Topology (cluster-scoped) ----
struct Topology {
  ObjectMeta metadata;
  placement::TopologySpec spec;
  friend bool operator==(const Topology&, const Topology&) = default;
};

// ---- ResidencyPolicy (cluster-scoped) ----
struct ResidencyPolicySpec {
  std::vector<std::string> namespaces;           // empty: every namespace
  apimachinery::LabelSelector workload_selector;  // `workloadSelector`; empty: every workload
  std::vector<std::string> jurisdictions;        // allowed; at least one
  // What the residency audit does about an object found in a member of a jurisdiction this
  // policy does not allow: `report` (the default) or `remove` (scale it to zero; never delete
  // data volumes). See residency/enforcement.h.
  std::string enforcement = "report";
  friend bool operator==(const ResidencyPolicySpec&, const ResidencyPolicySpec&) = default;
};

// Written by the residency audit controller after each scan that changes it.
struct ResidencyPolicyStatus {
  // `Compliant`: True (every member verified, nothing found), False (violations open),
  // Unknown (no violation seen but some member could not be audited).
  std::vector<Condition> conditions;
  int64_t violations = 0;          // open violations of objects this policy governs
  int64_t enforced = 0;            // of those, held at zero replicas by `enforcement: remove`
  int64_t unverified_members = 0;  // `unverifiedMembers`: members the last scan could not list
  friend bool operator==(const ResidencyPolicyStatus&, const ResidencyPolicyStatus&) = default;
};

struct ResidencyPolicy {
  ObjectMeta metadata;
  ResidencyPolicySpec spec;
  ResidencyPolicyStatus status;
  friend bool operator==(const ResidencyPolicy&, const ResidencyPolicy&) = default;
};

// ---- FailoverDrill (cluster-scoped) ----
struct DrillTarget {
  std::string zone, region, cluster;  // exactly one is set
  friend bool operator==(const DrillTarget&, const DrillTarget&) = default;
};

// A game day's schedule (`spec.schedule`): runs start when the cron expression fires in the
// time zone, and only inside the maintenance window (local times of day; end before start
// spans midnight). Validated at admission (failover/drill_admission.h).
struct DrillSchedule {
  std::string cron;                     // 5 fields: minute hour day-of-month month day-of-week
  std::string time_zone = "UTC";        // `timeZone`: IANA name
  std::string window_start, window_end;  // `window.start` / `window.end`, "HH:MM" (both or none)
  friend bool operator==(const DrillSchedule&, const DrillSchedule&) = default;
};

// One step of a game day (`spec.steps[i]`): its target failed for `durationSeconds`.
struct DrillStepSpec {
  DrillTarget target;
  int64_t duration_seconds = 0;
  friend bool operator==(const DrillStepSpec&, const DrillStepSpec&) = default;
};

struct FailoverDrillSpec {
  DrillTarget target;  // empty when `steps` are given
  std::string mode = "simulate";  // simulate | live
  int64_t duration_seconds = 300;  // `durationSeconds`
  std::optional<int32_t> abort_below_percent;  // `abortConditions.minAvailabilityPercent`
  // The kind of live drill, `failure` (`injectFault: true` is the older spelling of
  // `injected`): false = "declared", the target is treated as failed for placement (a
  // planned evacuation, make-before-break); true = "injected", the real fault is injected
  // through the member's fault API (membersim) and the drill only observes how health,
  // placement and propagation react, as to an unannounced failure.
  bool inject_fault = false;
  // `observeReturnSeconds`: after the restore, how long a live drill keeps sampling the
  // replicas' return to the target (0: not at all).
  int64_t observe_return_seconds = 600;
  // `slo.minAvailabilityPercent`: the service level the report judges the drill against
  // (time spent below it, overall and per workload). Unlike abortConditions it stops nothing.
  std::optional<int32_t> slo_min_availability_percent;
  // `abortConditions.residencyViolation`: abort as soon as a sample sees a residency violation.
  bool abort_on_residency_violation = false;
  // `abortConditions.dnsAnswersToFailedRegionPercent`: abort when, once the target was
  // detected failed, more than this percent of a sample's DNS answers still point at it.
  std::optional<int32_t> abort_dns_to_failed_percent;
  // A game day (failover/gameday.h): a schedule and/or ordered steps. Each step of each run is
  // a single-target drill of its own (a child FailoverDrill) that the game day creates in turn.
  std::optional<DrillSchedule> schedule;
  std::vector<DrillStepSpec> steps;
  bool IsGameDay() const { return schedule.has_value() || !steps.empty(); }
  friend bool operator==(const FailoverDrillSpec&, const FailoverDrillSpec&) = default;
};

struct FailoverDrillStatus {
  std::string phase;  // Pending | Running | Completed | Aborted | Failed
  std::string message;
  std::string start_time, completion_time;
  std::vector<Condition> conditions;
  nlohmann::json report = nlohmann::json::object();  // the drill report (see failover/)
  friend bool operator==(const FailoverDrillStatus&, const FailoverDrillStatus&) = default;
};

struct FailoverDrill {
  ObjectMeta metadata;
  FailoverDrillSpec spec;
  FailoverDrillStatus status;
  friend bool operator==(const FailoverDrill&, const FailoverDrill&) = default;
};

// ---- DNSRecordSet (namespaced), close to external-dns' DNSEndpoint ----
struct DnsEndpoint {
  std::string dns_name;     // `dnsName`
  std::string record_type;  // `recordType`: A | AAAA | CNAME | SRV | TXT
  std::vector<std::string> targets;
  int64_t record_ttl = 0;   // `recordTTL`
  std::string set_identifier;  // `setIdentifier`: the member cluster
  std::map<std::string, std::string> labels;  // region, cluster, jurisdiction, ...
  // Meridian's routing data (external-dns would carry these as providerSpecific).
  std::string region;
  std::string jurisdiction;
  int64_t weight = 0;    // ready replicas behind the targets
  int32_t priority = 0;  // failover order, lower first
  bool healthy = true;
  friend bool operator==(const DnsEndpoint&, const DnsEndpoint&) = default;
};

struct DnsRecordSetSpec {
  std::string strategy = "geo";  // geo | weighted | failover | static
  std::vector<DnsEndpoint> endpoints;
  // Residency: when set, only endpoints whose jurisdiction is listed are ever answered (an
  // empty list answers none); unset, no restriction. The DNS server enforces it, so an
  // edited or imported record set cannot answer outside the allowed jurisdictions either.
  std::optional<std::vector<std::string>> jurisdictions;
  friend bool operator==(const DnsRecordSetSpec&, const DnsRecordSetSpec&) = default;
};

struct DnsRecordSet {
  ObjectMeta metadata;
  DnsRecordSetSpec spec;
  friend bool operator==(const DnsRecordSet&, const DnsRecordSet&) = default;
};

}  // namespace meridian::api
