// PlacementPolicy (namespaced) and ClusterPlacementPolicy (cluster-scoped), group
// federation.meridian.io/v1alpha1: place unchanged Kubernetes objects (api/native_kinds.h)
// stored on the federation endpoint, without rewriting them into FederatedWorkloads.
//
//   spec:
//     resourceSelectors:            # at least one; an object matches when any selector does
//       - apiVersion: apps/v1       # required, with kind: a native kind the federation serves
//         kind: Deployment
//         name: web                 # optional: exactly this object
//         labelSelector: {...}      # optional: objects whose labels match
//         namespaceSelector: {...}  # optional, ClusterPlacementPolicy only: by namespace labels
//     priority: 0                   # higher wins between equally specific policies
//     propagateDependencies: true   # ConfigMaps/Secrets/ServiceAccounts/PVCs follow (opt-out)
//     placement: {...}              # a FederatedWorkload's spec.placement, same language
//     overrides: [...]              # a FederatedWorkload's spec.overrides
//     rollout: {...}                # a FederatedWorkload's spec.rollout: the objects it places
//                                   # change in stages (docs/design.md "Rollouts")
//     revisionHistoryLimit: 10      # a FederatedWorkload's: revisions kept per placed object
//     interpreter:                  # optional: how the custom kinds it places are divided,
//       replicasPath: .spec.x       #   judged and aggregated — a ResourceInterpreter's rule
//       readyCondition: Ready       #   (api/resource_interpreter.h) without a target; it wins
//       ...                         #   over a ResourceInterpreter of the kind
//
// A PlacementPolicy selects only objects of its own namespace. Which policy places an object
// when several match is PolicyPrecedes (scheduling/policy_binding.h). Validation (the
// decoders) refuses a selector naming a kind the federation does not serve, naming the field,
// and an interpreter on a policy that selects a built-in kind (those have built-in rules).
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/resource_interpreter.h"
#include "api/types.h"
#include "apimachinery/labels.h"
#include "common/field_error.h"
#include "placement/policy.h"

namespace meridian::api {

// On a native object placed by a policy with spec.rollout (scheduling/policy_binding.h): "true"
// pauses that object's rollout (its binding's spec.rollout.paused), which `fedctl rollout pause
// TYPE/NAME` sets. The approval annotation (kRolloutApprovedAnnotation, api/rollout.h) goes on
// the native object too; the binding controller copies both onto the binding, and neither is
// part of the template.
inline constexpr char kRolloutPausedAnnotation[] = "rollout.federation.meridian.io/paused";

struct ResourceSelector {
  std::string api_version;
  std::string kind;
  std::string name;  // "": any name
  std::optional<apimachinery::LabelSelector> label_selector;
  std::optional<apimachinery::LabelSelector> namespace_selector;
  friend bool operator==(const ResourceSelector&, const ResourceSelector&) = default;
};

struct PlacementPolicyObject {
  ObjectMeta metadata;
  bool cluster_scoped = false;  // a ClusterPlacementPolicy
  std::vector<ResourceSelector> resource_selectors;
  int32_t priority = 0;
  bool propagate_dependencies = true;
  placement::PlacementPolicy placement;
  nlohmann::json placement_json = nlohmann::json::object();  // spec.placement as written
  nlohmann::json overrides = nlohmann::json::array();        // spec.overrides as written
  // spec.rollout, decoded (for admission's look at the fleet) and as written (what each
  // binding carries); null/nullopt when the policy has none: a change reaches every member at
  // once.
  std::optional<WorkloadRolloutSpec> rollout;
  nlohmann::json rollout_json;
  std::optional<int32_t> revision_history_limit;  // spec.revisionHistoryLimit (1-100)
  // spec.interpreter: name = the policy's, from = Display(); no target (set per object).
  std::optional<InterpreterRule> interpreter;

  // "PlacementPolicy shop/web" or "ClusterPlacementPolicy all-web".
  std::string Display() const;
};

// The label that puts a workload — a FederatedWorkload, or a native object (whose binding
// carries its labels) — into an affinity group: the workloads of one namespace with the same
// value are placed on the same member clusters and fail over together
// (scheduling/affinity_groups.h, placement/affinity.h).
inline constexpr char kAffinityGroupLabel[] = "federation.meridian.io/affinity-group";
// Refuses an empty kAffinityGroupLabel value in `metadata` (an object's metadata JSON): it
// would join no group while reading as if it did. Any other value a label may hold names a
// group (the API server checks label syntax for every object).
void CheckAffinityGroupLabel(const nlohmann::json& metadata, FieldErrors* errors);

// Strict decoders with every problem in `errors` (paths from the object root:
// "spec.resourceSelectors[0].kind: ..."). A best-effort value on errors.
PlacementPolicyObject DecodeNamespacedPlacementPolicy(const nlohmann::json& j, FieldErrors* errors);
PlacementPolicyObject DecodeClusterPlacementPolicy(const nlohmann::json& j, FieldErrors* errors);

}  // namespace meridian::api
