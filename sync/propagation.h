// Propagation, pure core: what one member cluster should hold for a FederatedWorkload, whether
// a live member object needs rewriting, which resource a template is, and what the workload's
// sync status says given per-member results. No I/O except ResolveResource's discovery call.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/types.h"
#include "apimachinery/labels.h"
#include "common/clock.h"
#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::sync {

inline constexpr char kManagedByLabel[] = "federation.meridian.io/managed-by";
inline constexpr char kManagedByValue[] = "meridian";
inline constexpr char kWorkloadLabel[] = "federation.meridian.io/workload";
inline constexpr char kRenderedHashAnnotation[] = "federation.meridian.io/rendered-hash";
// On every FederatedWorkload: its member objects are deleted before it goes.
inline constexpr char kCleanupFinalizer[] = "federation.meridian.io/cleanup";

// "<namespace>.<name>": the value of kWorkloadLabel for `workload`.
std::string WorkloadLabelValue(const api::FederatedWorkload& workload);

// The object member `cluster_name` (with `cluster_labels`) should hold for `workload`:
// the template with metadata.namespace = the workload's namespace, metadata.name defaulting
// to the workload's name, spec.replicas = `replicas` (only when the template has
// spec.replicas), the overrides whose clusterSelector matches `cluster_labels` applied in
// order as RFC 6902 patches, the managed-by and workload labels, and the rendered-hash
// annotation (a stable hash of everything else). Any status in the template is dropped. The
// result is in the form a member stores (NormalizeForMember: canonical quantities, no null
// values or empty lists).
// Errors: kInvalidArgument when the template is not an object with apiVersion and kind, or a
// patch fails (naming the override index) — a per-member error, never a crash.
StatusOr<nlohmann::json> RenderMemberObject(const api::FederatedWorkload& workload,
                                            const std::string& cluster_name,
                                            const apimachinery::Labels& cluster_labels,
                                            int64_t replicas);

// The stable hash (16 hex digits, FNV-1a 64 over the canonical JSON) of `object` without its
// rendered-hash annotation, resourceVersion-like server fields and status.
std::string RenderedHash(const nlohmann::json& object);

// Whether the object carries managed-by=meridian.
bool IsManaged(const nlohmann::json& live);

// Whether `live` must be rewritten to become `rendered`: its rendered-hash annotation differs
// from the rendered one, or someone changed a field Meridian set (SemanticallyContains in
// sync/member_apply.h: fields the member added, e.g. defaults and controllers' annotations,
// are ignored; quantities compare in canonical form; arrays match element by element).
bool NeedsUpdate(const nlohmann::json& live, const nlohmann::json& rendered);

// The resource for apiVersion/kind from a fallback table: apps/v1 Deployment, StatefulSet,
// DaemonSet, ReplicaSet; v1 Service, ConfigMap, Secret, ServiceAccount,
// PersistentVolumeClaim; batch/v1 Job, CronJob; networking.k8s.io/v1 Ingress; policy/v1
// PodDisruptionBudget. std::nullopt for anything else.
std::optional<GroupVersionResource> FallbackResource(const std::string& api_version,
                                                     const std::string& kind);

// The resource for apiVersion/kind: what `discovery` serves (when given), else the fallback
// table. kNotFound when neither knows it.
StatusOr<GroupVersionResource> ResolveResource(const std::string& api_version,
                                               const std::string& kind,
                                               const DiscoveryInfo* discovery);

// The replicas a member is to run for `workload`: its status.placement line, or — when more —
// its status.retained line (replicas left where they run: see scheduling/placement_controller.h).
int64_t ReplicasForMember(const api::FederatedWorkload& workload, const std::string& member);

// The template member `member` is to run and its revision number (status.revisions; 0 when
// not recorded yet). Without spec.rollout, or before the rollout controller wrote
// status.rollout, that is spec.template; with them, the revision status.rollout.members
// assigns the member (a member not listed yet: the stable revision), so a member not yet in
// its stage's turn keeps rendering the previous revision. Errors: kFailedPrecondition when
// the assigned revision is no longer in status.revisions.
struct MemberTemplate {
  int64_t revision = 0;
  const nlohmann::json* template_ = nullptr;  // points into `workload`
};
StatusOr<MemberTemplate> TemplateForMember(const api::FederatedWorkload& workload,
                                           const std::string& member);

// Whether the member's copy `live` of `rendered` runs it fully: for an object with
// spec.replicas, the member's controller observed this generation and reports `placed`
// replicas updated, ready and available (readyReplicas where it reports no availability);
// for any other object, being there is enough.
bool RevisionReady(const nlohmann::json& live, const nlohmann::json& rendered, int64_t placed);

// The pods of a rendered Deployment or StatefulSet, as a label selector ("app=web,tier=db": its
// spec.selector.matchLabels; "" when it has none, then nothing is read).
std::string PodSelector(const nlohmann::json& rendered);
// The container restarts of `pods` (v1 Pods) that run `rendered`'s pod template — their
// containers' images are the template's, in order: the sum of their
// status.containerStatuses[].restartCount. What the rollout's maxRestarts gate judges.
int64_t RevisionRestarts(const std::vector<nlohmann::json>& pods, const nlohmann::json& rendered);

// What one member reported for one workload in its last pass.
struct MemberSyncResult {
  int64_t replicas = 0;  // the placed replicas this result was synced for
  api::ClusterSyncStatus status;
  // Non-empty while the loop guard holds or reports an object of this workload here.
  std::string sync_loop;
};

// The workload's status with clusters[], readyReplicas and the Synced and Ready conditions
// computed from `results` (by cluster name) for the clusters in status.placement. A placed
// cluster with no result, or a result for other replicas, is not synced ("pending"). A
// cluster no longer placed whose result is not synced (its objects could not be removed, e.g.
// it is unreachable) is listed too, not synced, so it never silently disappears. A cluster
// with status.retained replicas is listed with what it reports; its ready replicas are not
// added to readyReplicas (retained replicas are not placed ones).
// Condition SyncLoop is True (reason RewriteLoop) naming each member whose result has a
// sync_loop, and turns False (NoRewriteLoop) once none has, if it was there.
// Every other field and condition is kept.
api::FederatedWorkloadStatus SyncedStatus(const api::FederatedWorkload& workload,
                                          const std::map<std::string, MemberSyncResult>& results,
                                          Timestamp now);

}  // namespace meridian::sync
