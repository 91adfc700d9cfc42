// ResourceInterpreter (cluster-scoped, group federation.meridian.io/v1alpha1): how Meridian
// divides, judges and aggregates a custom kind (one a CustomResourceDefinition serves), which
// it otherwise copies whole to each selected member and reports "applied" only (issue 18,
// "health for any kind"). Like Karmada's ResourceInterpreterCustomization, declarative:
//
//   spec:
//     target: {apiVersion: flink.apache.org/v1beta1, kind: FlinkDeployment}   # required
//     replicasPath: .spec.taskManager.replicas   # into spec: divided between members
//     readyCondition: Ready                      # status.conditions[type].status True: ready
//     readyReplicasPath: .status.taskManager.readyReplicas   # into status: ready replicas
//     statusAggregation: [.status.jobCount]      # status fields summed over the members
//     podTemplatePaths: [.spec.podTemplate]      # into spec: pod templates whose ConfigMaps,
//                                                # Secrets, ServiceAccounts, PVCs follow it
//
// At least one of the last five. Paths are the JSONPath subset of api/json_path.h; an
// unparsable one is refused at admission naming the field ("spec.replicasPath: at position
// 6: ..."), nothing stored. Several interpreters of one target: the first by name applies
// (InterpreterFor), deterministic and said on the binding.
//
// A PlacementPolicy or ClusterPlacementPolicy may carry the same rule itself (spec.interpreter:
// the four fields, no target — the kinds it selects are the targets; api/placement_policy.h).
// For the custom objects that policy places, its rule wins over a ResourceInterpreter of the
// kind (ApplicableRule), and the object's placement annotation says which applied and over
// what.
//
// The binding controller (scheduling/binding_controller.h) copies the rule that applies onto
// the object's binding FederatedWorkload as an annotation (kResourceInterpreterAnnotation), so
// the propagation controller (sync/) renders, judges and aggregates from the binding alone,
// and an edited interpreter re-renders every object it interprets. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/json_path.h"
#include "api/types.h"
#include "common/field_error.h"
#include "common/status.h"

namespace meridian::api {

// On a binding FederatedWorkload placing a custom object: the rule of the ResourceInterpreter
// that interprets its kind (EncodeInterpreterRule's compact JSON).
inline constexpr char kResourceInterpreterAnnotation[] =
    "federation.meridian.io/resource-interpreter";

struct InterpreterRule {
  std::string name;  // the ResourceInterpreter's (or the policy's, for a policy's rule)
  // Where the rule comes from when not a ResourceInterpreter: "PlacementPolicy shop/flink"
  // (that policy's spec.interpreter). Named in every message about the rule (Source()).
  std::string from;
  std::string target_api_version, target_kind;
  std::optional<JsonPath> replicas_path;        // starts at .spec
  std::string ready_condition;                  // "" : none
  std::optional<JsonPath> ready_replicas_path;  // starts at .status
  std::vector<JsonPath> status_aggregation;     // each starts at .status
  // Each starts at .spec and points to a pod template (an object whose `spec` is a Pod's, as
  // a Deployment's spec.template): what it references follows the object to its members, as
  // a Deployment's dependencies do (scheduling/policy_binding.h DependenciesOfPodTemplate).
  std::vector<JsonPath> pod_template_paths;
  // "ResourceInterpreter flink" or "PlacementPolicy shop/flink's interpreter".
  std::string Source() const;
  friend bool operator==(const InterpreterRule&, const InterpreterRule&) = default;
};

// The rule fields (replicasPath, readyCondition, readyReplicasPath, statusAggregation,
// podTemplatePaths) of
// `fields`, judged as a ResourceInterpreter's spec is, with paths under `prefix`
// ("spec.interpreter" for a policy's rule: "spec.interpreter.replicasPath: at position 6:
// ..."). Other fields and a rule that says nothing are refused too. Sets every field but
// name, from and target.
void DecodeInterpreterRuleFields(const nlohmann::json& fields, const std::string& prefix,
                                 InterpreterRule* rule, FieldErrors* errors);

struct ResourceInterpreterObject {
  ObjectMeta metadata;
  InterpreterRule rule;
};

// Strict decoder with every problem in `errors` (paths from the object root:
// "spec.replicasPath: at position 6: '*' is not supported ..."). The target must be a kind of
// a group the federation does not serve itself (the native kinds have their own rules:
// sync/kind_health.h, scheduling/policy_binding.h). A best-effort value on errors.
ResourceInterpreterObject DecodeResourceInterpreter(const nlohmann::json& j, FieldErrors* errors);

// The interpreter among `interpreters` whose target is apiVersion/kind: the first by name
// (metadata.name; a deleting one is skipped); null when none.
const ResourceInterpreterObject* InterpreterFor(
    const std::vector<ResourceInterpreterObject>& interpreters, const std::string& api_version,
    const std::string& kind);

// The rule for an object of apiVersion/kind placed by a policy whose own rule is
// `policy_rule` (its spec.interpreter, when set): the policy's rule wins over a
// ResourceInterpreter's (InterpreterFor), as the more specific word — it is about the objects
// that policy places, the interpreter about every object of the kind. The result carries the
// target. `why` receives what the object's placement annotation adds ("interpreted by
// PlacementPolicy shop/f's interpreter (over ResourceInterpreter flink)"); nullopt: no rule.
std::optional<InterpreterRule> ApplicableRule(
    const std::optional<InterpreterRule>& policy_rule,
    const std::vector<ResourceInterpreterObject>& interpreters, const std::string& api_version,
    const std::string& kind, std::string* why);

// The annotation's text for `rule`, and back. The decoder is strict (an annotation edited by
// hand into nonsense is refused: kInvalidArgument with the field), never throws.
std::string EncodeInterpreterRule(const InterpreterRule& rule);
StatusOr<InterpreterRule> DecodeInterpreterRule(const std::string& text);
// The rule a binding carries (kResourceInterpreterAnnotation): nullopt without the annotation,
// DecodeInterpreterRule's error when it does not decode.
StatusOr<std::optional<InterpreterRule>> InterpreterRuleOf(const FederatedWorkload& binding);

// The binding's template for `object` (TemplateOf's) under `rule`: a placement unit is divided
// by its spec.replicas (api::TemplateReplicas), so the replicas at rule.replicas_path are put
// there; when the path is spec.replicas itself nothing changes. Unchanged when the rule has no
// replicas_path. Errors (kInvalidArgument, the answer said on the object; the object is then
// not placed): the value at the path is not an integer >= 0, or the object has a
// spec.replicas of its own besides a replicas_path elsewhere (its meaning would be lost).
StatusOr<nlohmann::json> InterpretedTemplate(const InterpreterRule& rule,
                                             const nlohmann::json& object);

// The object member gets under `rule`, from `rendered` (which carries its share in
// spec.replicas, as any divided template): the share moved to rule.replicas_path when that is
// elsewhere. Errors as JsonPath::Set's (the path crosses a non-object).
Status PlaceReplicas(const InterpreterRule& rule, nlohmann::json* rendered);

}  // namespace meridian::api
