#include "api/placement_policy.h"

#include "api/codec.h"
#include "api/native_kinds.h"
#include "common/json_decoder.h"
#include "placement/policy_json.h"

namespace meridian::api {
namespace {

using nlohmann::json;

void DecodeSelectors(JsonDecoder& d, const json& list, bool cluster_scoped, FieldErrors* errors,
                     std::vector<ResourceSelector>* out) {
  const std::string base = "spec.resourceSelectors";
  if (!list.is_array()) {
    d.Error(base, "must be a list");
    return;
  }
  if (list.empty()) d.Error(base, "must select something: at least one selector");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string p = base + "[" + std::to_string(i) + "]";
    const json& item = list[i];
    if (!d.ExpectObject(item, p)) {
      if (item.is_null()) d.Error(p, "must be an object");
      continue;
    }
    d.RejectUnknown(item, p, {"apiVersion", "kind", "name", "labelSelector", "namespaceSelector"});
    ResourceSelector s;
    const std::pair<const char*, std::string*> fields[] = {
        {"apiVersion", &s.api_version}, {"kind", &s.kind}, {"name", &s.name}};
    for (const auto& [field, target] : fields) {
      const json* v = JsonDecoder::Member(item, field);
      if (v == nullptr) {
        if (std::string(field) != "name") d.Error(JoinPath(p, field), "required");
        continue;
      }
      if (auto str = d.String(*v, JoinPath(p, field), std::string(field) != "name")) {
        *target = *str;
      }
    }
    // In the federation's own groups only the native kinds can be selected: a typo would
    // otherwise select nothing, silently. Any other group is a custom resource's: the server
    // checks a CustomResourceDefinition serves it (federation-apiserver/crd/registrar.h).
    if (!s.api_version.empty() && !s.kind.empty() &&
        FindNativeKind(s.api_version, s.kind) == nullptr &&
        BuiltInGroup(GroupOfApiVersion(s.api_version))) {
      d.Error(JoinPath(p, "kind"), "a policy cannot select " + s.api_version + " " + s.kind +
                                       "; it can select " + NativeKindsList() +
                                       ", and any kind a CustomResourceDefinition serves");
    }
    if (const json* sel = JsonDecoder::Member(item, "labelSelector")) {
      FieldErrors sel_errors;
      s.label_selector = apimachinery::DecodeLabelSelector(*sel, &sel_errors);
      AppendWithPrefix(p + ".labelSelector", sel_errors, errors);
    }
    if (const json* sel = JsonDecoder::Member(item, "namespaceSelector")) {
      if (!cluster_scoped) {
        d.Error(p + ".namespaceSelector",
                "only a ClusterPlacementPolicy selects namespaces; a PlacementPolicy selects in "
                "its own namespace");
      }
      FieldErrors sel_errors;
      s.namespace_selector = apimachinery::DecodeLabelSelector(*sel, &sel_errors);
      AppendWithPrefix(p + ".namespaceSelector", sel_errors, errors);
    }
    out->push_back(std::move(s));
  }
}

PlacementPolicyObject Decode(const json& j, bool cluster_scoped, FieldErrors* errors) {
  JsonDecoder d(errors);
  PlacementPolicyObject out;
  out.cluster_scoped = cluster_scoped;
  const std::string kind = cluster_scoped ? "ClusterPlacementPolicy" : "PlacementPolicy";
  if (!j.is_object()) {
    d.Error("", "must be a JSON object");
    return out;
  }
  d.RejectUnknown(j, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  if (j.value("apiVersion", json()) != kApiVersion) {
    d.Error("apiVersion", "must be " + std::string(kApiVersion));
  }
  if (j.value("kind", json()) != kind) d.Error("kind", "must be " + kind);
  if (const json* m = JsonDecoder::Member(j, "metadata")) {
    out.metadata = DecodeObjectMeta(*m, "metadata", errors);
  } else {
    d.Error("metadata", "required");
  }
  if (cluster_scoped && !out.metadata.ns.empty()) {
    d.Error("metadata.namespace", kind + " is cluster-scoped and takes no namespace");
  }
  const json* spec = JsonDecoder::Member(j, "spec");
  if (spec == nullptr) {
    d.Error("spec", "required");
    return out;
  }
  if (!d.ExpectObject(*spec, "spec")) return out;
  d.RejectUnknown(*spec, "spec",
                  {"resourceSelectors", "priority", "propagateDependencies", "placement",
                   "overrides", "rollout", "revisionHistoryLimit", "interpreter"});
  if (const json* sel = JsonDecoder::Member(*spec, "resourceSelectors")) {
    DecodeSelectors(d, *sel, cluster_scoped, errors, &out.resource_selectors);
  } else {
    d.Error("spec.resourceSelectors", "required");
  }
  if (const json* v = JsonDecoder::Member(*spec, "priority")) {
    out.priority =
        static_cast<int32_t>(d.Int(*v, "spec.priority", -1'000'000'000, 1'000'000'000).value_or(0));
  }
  if (const json* v = JsonDecoder::Member(*spec, "propagateDependencies")) {
    out.propagate_dependencies = d.Bool(*v, "spec.propagateDependencies").value_or(true);
  }
  if (const json* v = JsonDecoder::Member(*spec, "interpreter")) {
    InterpreterRule rule;
    rule.name = out.metadata.name;
    rule.from = out.Display();
    DecodeInterpreterRuleFields(*v, "spec.interpreter", &rule, errors);
    // The built-in kinds are judged by built-in rules (sync/kind_health.h); a rule here would
    // silently do nothing for them.
    for (size_t i = 0; i < out.resource_selectors.size(); ++i) {
      const ResourceSelector& s = out.resource_selectors[i];
      if (s.api_version.empty() || !BuiltInGroup(GroupOfApiVersion(s.api_version))) continue;
      d.Error("spec.interpreter",
              "is for kinds a CustomResourceDefinition serves; spec.resourceSelectors[" +
                  std::to_string(i) + "] selects " + s.api_version + " " + s.kind +
                  ", which has built-in rules (select custom kinds only, or move the rule to a "
                  "policy of their own)");
      break;
    }
    out.interpreter = std::move(rule);
  }
  // The placement block, overrides, rollout block and history limit are a FederatedWorkload's,
  // judged by its decoder: one language, one set of messages (the paths coincide:
  // spec.placement, spec.overrides, spec.rollout, spec.revisionHistoryLimit).
  json as_workload = {
      {"apiVersion", kApiVersion},
      {"kind", "FederatedWorkload"},
      {"metadata", {{"name", "policy"}, {"namespace", "default"}}},
      {"spec",
       {{"template",
         {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", json::object()}}}}}};
  if (const json* v = JsonDecoder::Member(*spec, "placement")) {
    out.placement_json = *v;
    as_workload["spec"]["placement"] = *v;
  }
  if (const json* v = JsonDecoder::Member(*spec, "overrides")) {
    out.overrides = *v;
    as_workload["spec"]["overrides"] = *v;
  }
  if (const json* v = JsonDecoder::Member(*spec, "rollout")) {
    out.rollout_json = *v;
    as_workload["spec"]["rollout"] = *v;
  }
  if (const json* v = JsonDecoder::Member(*spec, "revisionHistoryLimit")) {
    as_workload["spec"]["revisionHistoryLimit"] = *v;
  }
  FieldErrors workload_errors;
  FederatedWorkload w = DecodeFederatedWorkload(as_workload, &workload_errors);
  for (const FieldError& e : workload_errors) {
    for (const char* field :
         {"spec.placement", "spec.overrides", "spec.rollout", "spec.revisionHistoryLimit"}) {
      if (e.path.rfind(field, 0) == 0) {
        errors->push_back(e);
        break;
      }
    }
  }
  out.placement = w.spec.placement;
  out.rollout = w.spec.rollout;
  if (JsonDecoder::Member(*spec, "revisionHistoryLimit") != nullptr) {
    out.revision_history_limit = w.spec.revision_history_limit;
  }
  return out;
}

}  // namespace

std::string PlacementPolicyObject::Display() const {
  return cluster_scoped ? "ClusterPlacementPolicy " + metadata.name
                        : "PlacementPolicy " + metadata.ns + "/" + metadata.name;
}

PlacementPolicyObject DecodeNamespacedPlacementPolicy(const nlohmann::json& j,
                                                      FieldErrors* errors) {
  return Decode(j, false, errors);
}

PlacementPolicyObject DecodeClusterPlacementPolicy(const nlohmann::json& j, FieldErrors* errors) {
  return Decode(j, true, errors);
}

void CheckAffinityGroupLabel(const nlohmann::json& metadata, FieldErrors* errors) {
  if (!metadata.is_object()) return;
  auto labels = metadata.find("labels");
  if (labels == metadata.end() || !labels->is_object()) return;
  auto group = labels->find(kAffinityGroupLabel);
  if (group == labels->end() || !group->is_string() || !group->get<std::string>().empty()) return;
  errors->push_back({std::string("metadata.labels[") + kAffinityGroupLabel + "]",
                     "must name an affinity group (an empty value joins none; remove the label "
                     "to leave the group)"});
}

}  // namespace meridian::api
