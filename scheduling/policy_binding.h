// Policy binding, pure core: which PlacementPolicy places a native object stored on the
// federation endpoint (api/native_kinds.h, api/placement_policy.h), the placement unit derived
// from (object, policy), which ConfigMaps/Secrets/ServiceAccounts/PVCs a workload's pod
// template needs (its dependencies) and where they go, and the native object's status as the
// aggregate of what its members report. No I/O; thread-safe.
//
// The placement unit is a FederatedWorkload (a "binding", like Karmada's ResourceBinding),
// written by the binding controller (scheduling/binding_controller.h), so that the placement
// engine, the placement and propagation controllers, failover, residency guardrails, drills and
// DNS treat a native object exactly as the all-in-one form: the engine never knows where a
// unit came from. A binding is named "<kind>-<name>" (BindingName), carries the object's
// labels (ResidencyPolicies select it as they select the object), the label kBindingLabel and
// the annotations kBoundObjectAnnotation / kBoundGenerationAnnotation; its template is the
// object without status and server fields, so member objects keep the object's own name.
//
// Conflict resolution (PolicyPrecedes) when several policies select an object, deterministic:
//   1. the most specific selector: by name, over a labelSelector, over kind only (a
//      namespaceSelector narrows but does not add); at equal level a namespaced
//      PlacementPolicy over a ClusterPlacementPolicy (the namespace owner's word);
//   2. the highest spec.priority;
//   3. the oldest (creationTimestamp), then the name (a total order).
// The outcome is explained on the object (annotation kPlacementAnnotation), as is "not
// selected by any policy" (the object is then not placed: no binding exists).
//
// Dependencies (DependenciesOf): every ConfigMap, Secret, ServiceAccount and PVC the pod
// template of a workload, DaemonSet, Job or CronJob references — volumes (configMap, secret,
// persistentVolumeClaim, projected sources), containers' and initContainers' envFrom and env
// valueFrom, imagePullSecrets, serviceAccountName. A dependency is placed on the union of the
// members its workloads run on (placed or retained replicas: it moves with them on failover) and
// removed from the others; its binding selects exactly those members by kClusterNameLabel, and
// carries its own labels, so residency applies to it too. A dependency of a placed workload is
// placed as a dependency even when a policy selects it as well (so it is never where no workload
// needs it); a policy opts out with propagateDependencies: false.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/native_kinds.h"
#include "api/placement_policy.h"
#include "api/resource_interpreter.h"
#include "api/types.h"
#include "apimachinery/labels.h"

namespace meridian::scheduling {

// Set by ClusterStateFrom (scheduling/placement_inputs.h) on every member, to its name, like
// a node's kubernetes.io/hostname: a dependency's binding names its exact members with it.
inline constexpr char kClusterNameLabel[] = "federation.meridian.io/cluster-name";

// On every binding FederatedWorkload: "policy" (placed by a policy) or "dependency".
inline constexpr char kBindingLabel[] = "federation.meridian.io/binding";
// On a binding: "<apiVersion>/<kind>/<name>" of the object it places ("apps/v1/Deployment/web").
inline constexpr char kBoundObjectAnnotation[] = "federation.meridian.io/bound-object";
// On a binding: the object's metadata.generation its template was made from.
inline constexpr char kBoundGenerationAnnotation[] = "federation.meridian.io/bound-generation";
// On every native object: which policy places it and why, or why it is not placed.
inline constexpr char kPlacementAnnotation[] = "federation.meridian.io/placement";
// On a placed custom object (a kind a CRD serves): what each member did with it,
// "eu-central-1: applied; eu-west-1: error: <why>" (MemberApplyStatus).
inline constexpr char kMemberStatusAnnotation[] = "federation.meridian.io/member-status";
// On a dependency's binding: the workloads that need it ("Deployment/web, StatefulSet/db").
inline constexpr char kDependentsAnnotation[] = "federation.meridian.io/dependents";
// On a native object whose binding has a staged rollout: which revision runs where
// (RevisionSummary), so `kubectl describe` and `fedctl describe` show it on the object itself.
inline constexpr char kRevisionsAnnotation[] = "federation.meridian.io/revisions";

// How specifically a selector matched: 0 no match, 1 kind only, 2 labelSelector, 3 name.
int SelectorMatch(const api::ResourceSelector& selector, const api::NativeKind& kind,
                  const nlohmann::json& object, const apimachinery::Labels& namespace_labels);

// One policy that selects an object, with how specifically (its best selector).
struct PolicyMatch {
  const api::PlacementPolicyObject* policy = nullptr;
  int level = 0;
};

// Whether `a` wins over `b` (see the file comment). A strict total order on distinct policies.
bool PolicyPrecedes(const PolicyMatch& a, const PolicyMatch& b);

// The policies that select `object` (of `kind`, in a namespace with `namespace_labels`),
// winner first; empty when none does. A PlacementPolicy only selects in its own namespace.
std::vector<PolicyMatch> MatchingPolicies(const nlohmann::json& object, const api::NativeKind& kind,
                                          const apimachinery::Labels& namespace_labels,
                                          const std::vector<api::PlacementPolicyObject>& policies);

// The kPlacementAnnotation text for an object with these matches (winner first):
// "PlacementPolicy shop/web (selected by name, priority 0); also matched:
// ClusterPlacementPolicy all (by label, priority 5): less specific" or "not placed: no
// PlacementPolicy or ClusterPlacementPolicy selects it".
std::string ExplainMatches(const std::vector<PolicyMatch>& matches);

// "deployment-web": the binding's name for an object of `kind` named `name`; for a custom kind
// the group is in it ("widget.example.com-big"), so a CRD's kind named like a native one
// ("Deployment" of example.com) never shares a binding with it.
std::string BindingName(const api::NativeKind& kind, const std::string& name);
// "apps/v1/Deployment/web".
std::string BoundObject(const api::NativeKind& kind, const std::string& name);

// The template a binding carries for `object`: apiVersion, kind, metadata (name, labels,
// annotations without kubectl's last-applied record, Meridian's placement, member-status and
// revisions annotations and the rollout's approval and pause: none is the object's content, and
// each would make a new revision) and
// everything else but status. A workload without spec.replicas gets Kubernetes' default, 1.
nlohmann::json TemplateOf(const api::NativeKind& kind, const nlohmann::json& object);

// The binding FederatedWorkload (JSON, as created) that places `object` with `policy`. With the
// policy's spec.rollout the binding carries it as its own spec.rollout (paused too when the
// object has kRolloutPausedAnnotation "true"), and the policy's revisionHistoryLimit: every
// change of the object's template is then a numbered revision rolled out in stages by the
// rollout controller, exactly as a FederatedWorkload's. The object's approval annotation
// (api::kRolloutApprovedAnnotation) is copied onto the binding, where the rollout reads it.
nlohmann::json PolicyBinding(const api::NativeKind& kind, const nlohmann::json& object,
                             const api::PlacementPolicyObject& policy);

// The binding that places dependency `object` on exactly `clusters` (non-empty), needed by
// `dependents` ("Deployment/web"). `rollout` (null: none) is a dependent's binding's
// spec.rollout and `history` its revisionHistoryLimit: a ConfigMap's or Secret's changes then
// become revisions of its own binding, rolled out in stages by the same strategy over the same
// members (its approval and pause are its own: annotations on the dependency object).
nlohmann::json DependencyBinding(const api::NativeKind& kind, const nlohmann::json& object,
                                 const std::set<std::string>& clusters,
                                 const std::set<std::string>& dependents,
                                 const nlohmann::json& rollout = nullptr,
                                 std::optional<int32_t> history = std::nullopt);

// kRevisionsAnnotation's text for a binding with spec.rollout: which revision each placed
// member runs and the rollout's state, "revision 3 on us-west-1; revision 2 on ap-south-1,
// eu-west-1 (not ready); rollout of revision 3: WaitingForApproval, stage rest". "" when no
// member reports a revision yet and there is no rollout state.
std::string RevisionSummary(const api::FederatedWorkload& binding);

// A dependency reference: kind (ConfigMap | Secret | ServiceAccount | PersistentVolumeClaim)
// and name, in the workload's namespace.
struct DependencyRef {
  std::string kind;
  std::string name;
  friend auto operator<=>(const DependencyRef&, const DependencyRef&) = default;
};

// What `workload`'s pod template references (see the file comment): the template at
// `pod_template` (NativeKind::pod_template: spec.template for a Deployment, DaemonSet or Job,
// spec.jobTemplate.spec.template for a CronJob). ServiceAccount "default" is left out (every
// namespace of every member has one). Sorted, without duplicates.
std::set<DependencyRef> DependenciesOf(const nlohmann::json& workload,
                                       const std::vector<std::string>& pod_template = {"spec",
                                                                                       "template"});
// The same for one pod template (an object whose `spec` is a Pod's); nothing when it is not
// an object.
std::set<DependencyRef> DependenciesOfPodTemplate(const nlohmann::json& pod_template);
// A custom object's dependencies under an interpreter rule (api/resource_interpreter.h
// podTemplatePaths): the union over the pod templates found at the rule's paths (a path the
// object does not have contributes nothing).
std::set<DependencyRef> DependenciesOfInterpreted(const api::InterpreterRule& rule,
                                                  const nlohmann::json& object);

// kMemberStatusAnnotation's text for a custom object's binding: each member of its
// status.clusters[], by name, "applied" (synced), "pending" (not yet) or "error: <lastError>".
// No readiness: a custom kind has no health model here. "" when no member reports yet.
std::string MemberApplyStatus(const api::FederatedWorkload& binding);

// The members a binding's workload runs on: placed or retained replicas > 0.
std::set<std::string> MembersOf(const api::FederatedWorkload& binding);

// The status a workload object (Deployment, StatefulSet) should have, from its binding
// (null: not placed) and `placement` (kPlacementAnnotation's text): replicas (placed) and
// readyReplicas summed over the members it is placed on; updatedReplicas the ready replicas of
// the members that hold the current template (synced, and, once the binding has revisions,
// running the newest one: a member a staged rollout has not reached yet is not updated, so
// `kubectl rollout status` waits for every stage), availableReplicas the ready ones
// (status.clusters carries no per-member updated or available count yet); observedGeneration
// the object's generation once the binding was made from it, placement has seen the binding's
// generation, the binding's Synced condition is True for that generation and every member it
// is placed on is synced — otherwise the previous value, so
// `kubectl rollout status` waits; conditions Placed (True/False with `placement`), Available
// and Progressing as kube's Deployment controller words them. Fields of `object`'s status
// not listed here are kept.
nlohmann::json AggregatedStatus(const nlohmann::json& object, const api::FederatedWorkload* binding,
                                const std::string& placement, const std::string& now_rfc3339);

}  // namespace meridian::scheduling
