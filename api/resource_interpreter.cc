#include "api/resource_interpreter.h"

#include "api/codec.h"
#include "api/native_kinds.h"
#include "common/json_decoder.h"
#include "common/json_parse.h"

namespace meridian::api {
namespace {

using nlohmann::json;

const JsonPath& SpecReplicas() {
  static const JsonPath kPath = JsonPath::Parse(".spec.replicas").value();
  return kPath;
}

// A path at `field` that must start with `root` ("spec" or "status").
std::optional<JsonPath> DecodePath(JsonDecoder& d, const json& v, const std::string& field,
                                   const char* root) {
  std::optional<std::string> text = d.String(v, field, true);
  if (!text) return std::nullopt;
  StatusOr<JsonPath> path = JsonPath::Parse(*text);
  if (!path.ok()) {
    d.Error(field, path.status().message());
    return std::nullopt;
  }
  const JsonPath::Step& first = path->steps().front();
  if (first.index || first.key != root || path->steps().size() < 2) {
    d.Error(field, "must point into ." + std::string(root) + " (e.g. ." + root + "." +
                       (std::string(root) == "spec" ? "replicas" : "readyReplicas") + ")");
    return std::nullopt;
  }
  return std::move(path).value();
}

void DecodeRuleFields(JsonDecoder& d, const json& spec, const std::string& prefix,
                      InterpreterRule* rule) {
  if (const json* v = JsonDecoder::Member(spec, "replicasPath")) {
    rule->replicas_path = DecodePath(d, *v, prefix + ".replicasPath", "spec");
  }
  if (const json* v = JsonDecoder::Member(spec, "readyCondition")) {
    if (auto s = d.String(*v, prefix + ".readyCondition", true)) rule->ready_condition = *s;
  }
  if (const json* v = JsonDecoder::Member(spec, "readyReplicasPath")) {
    rule->ready_replicas_path = DecodePath(d, *v, prefix + ".readyReplicasPath", "status");
  }
  if (const json* v = JsonDecoder::Member(spec, "statusAggregation")) {
    if (!v->is_array()) {
      d.Error(prefix + ".statusAggregation", "must be a list of paths");
    } else {
      for (size_t i = 0; i < v->size(); ++i) {
        const std::string field = prefix + ".statusAggregation[" + std::to_string(i) + "]";
        if (auto p = DecodePath(d, (*v)[i], field, "status")) {
          rule->status_aggregation.push_back(std::move(*p));
        }
      }
    }
  }
  if (const json* v = JsonDecoder::Member(spec, "podTemplatePaths")) {
    if (!v->is_array()) {
      d.Error(prefix + ".podTemplatePaths", "must be a list of paths");
    } else {
      for (size_t i = 0; i < v->size(); ++i) {
        const std::string field = prefix + ".podTemplatePaths[" + std::to_string(i) + "]";
        if (auto p = DecodePath(d, (*v)[i], field, "spec")) {
          rule->pod_template_paths.push_back(std::move(*p));
        }
      }
    }
  }
}

bool SaysSomething(const json& fields) {
  return fields.contains("replicasPath") || fields.contains("readyCondition") ||
         fields.contains("readyReplicasPath") || fields.contains("statusAggregation") ||
         fields.contains("podTemplatePaths");
}

}  // namespace

std::string InterpreterRule::Source() const {
  return from.empty() ? "ResourceInterpreter " + name : from + "'s interpreter";
}

void DecodeInterpreterRuleFields(const json& fields, const std::string& prefix,
                                 InterpreterRule* rule, FieldErrors* errors) {
  JsonDecoder d(errors);
  if (!d.ExpectObject(fields, prefix)) return;
  d.RejectUnknown(fields, prefix,
                  {"replicasPath", "readyCondition", "readyReplicasPath", "statusAggregation",
                   "podTemplatePaths"});
  DecodeRuleFields(d, fields, prefix, rule);
  if (!SaysSomething(fields)) {
    d.Error(prefix,
            "an interpreter needs at least one of replicasPath, readyCondition, "
            "readyReplicasPath, statusAggregation, podTemplatePaths");
  }
}

ResourceInterpreterObject DecodeResourceInterpreter(const json& j, FieldErrors* errors) {
  JsonDecoder d(errors);
  ResourceInterpreterObject out;
  if (!j.is_object()) {
    d.Error("", "must be a JSON object");
    return out;
  }
  d.RejectUnknown(j, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  if (j.value("apiVersion", json()) != kApiVersion) {
    d.Error("apiVersion", "must be " + std::string(kApiVersion));
  }
  if (j.value("kind", json()) != "ResourceInterpreter") {
    d.Error("kind", "must be ResourceInterpreter");
  }
  if (const json* m = JsonDecoder::Member(j, "metadata")) {
    out.metadata = DecodeObjectMeta(*m, "metadata", errors);
  } else {
    d.Error("metadata", "required");
  }
  if (!out.metadata.ns.empty()) {
    d.Error("metadata.namespace", "ResourceInterpreter is cluster-scoped and takes no namespace");
  }
  out.rule.name = out.metadata.name;
  const json* spec = JsonDecoder::Member(j, "spec");
  if (spec == nullptr) {
    d.Error("spec", "required");
    return out;
  }
  if (!d.ExpectObject(*spec, "spec")) return out;
  d.RejectUnknown(*spec, "spec",
                  {"target", "replicasPath", "readyCondition", "readyReplicasPath",
                   "statusAggregation", "podTemplatePaths"});
  if (const json* t = JsonDecoder::Member(*spec, "target");
      t && d.ExpectObject(*t, "spec.target")) {
    d.RejectUnknown(*t, "spec.target", {"apiVersion", "kind"});
    const std::pair<const char*, std::string*> fields[] = {
        {"apiVersion", &out.rule.target_api_version}, {"kind", &out.rule.target_kind}};
    for (const auto& [field, target] : fields) {
      const std::string path = std::string("spec.target.") + field;
      if (const json* v = JsonDecoder::Member(*t, field)) {
        if (auto s = d.String(*v, path, true)) *target = *s;
      } else {
        d.Error(path, "required");
      }
    }
    const std::string& api_version = out.rule.target_api_version;
    if (!api_version.empty() && api_version.find('/') == std::string::npos) {
      d.Error("spec.target.apiVersion", "must be group/version: a custom kind's");
    } else if (!api_version.empty() && BuiltInGroup(GroupOfApiVersion(api_version))) {
      d.Error("spec.target.apiVersion",
              "group " + GroupOfApiVersion(api_version) +
                  " is served by the federation itself, with built-in rules; an interpreter is "
                  "for a kind a CustomResourceDefinition serves");
    }
  } else if (JsonDecoder::Member(*spec, "target") == nullptr) {
    d.Error("spec.target", "required");
  }
  DecodeRuleFields(d, *spec, "spec", &out.rule);
  if (!SaysSomething(*spec)) {
    d.Error("spec",
            "an interpreter needs at least one of replicasPath, readyCondition, "
            "readyReplicasPath, statusAggregation, podTemplatePaths");
  }
  return out;
}

const ResourceInterpreterObject* InterpreterFor(
    const std::vector<ResourceInterpreterObject>& interpreters, const std::string& api_version,
    const std::string& kind) {
  const ResourceInterpreterObject* best = nullptr;
  for (const ResourceInterpreterObject& i : interpreters) {
    if (i.rule.target_api_version != api_version || i.rule.target_kind != kind) continue;
    if (!i.metadata.deletion_timestamp.empty()) continue;
    if (best == nullptr || i.metadata.name < best->metadata.name) best = &i;
  }
  return best;
}

std::optional<InterpreterRule> ApplicableRule(
    const std::optional<InterpreterRule>& policy_rule,
    const std::vector<ResourceInterpreterObject>& interpreters, const std::string& api_version,
    const std::string& kind, std::string* why) {
  const ResourceInterpreterObject* cluster_wide = InterpreterFor(interpreters, api_version, kind);
  if (policy_rule) {
    InterpreterRule rule = *policy_rule;
    rule.target_api_version = api_version;
    rule.target_kind = kind;
    *why = "interpreted by " + rule.Source();
    if (cluster_wide != nullptr)
      *why += " (over ResourceInterpreter " + cluster_wide->metadata.name + ")";
    return rule;
  }
  if (cluster_wide == nullptr) return std::nullopt;
  *why = "interpreted by ResourceInterpreter " + cluster_wide->metadata.name;
  return cluster_wide->rule;
}

std::string EncodeInterpreterRule(const InterpreterRule& rule) {
  json j = {{"name", rule.name},
            {"target", {{"apiVersion", rule.target_api_version}, {"kind", rule.target_kind}}}};
  if (!rule.from.empty()) j["from"] = rule.from;
  if (rule.replicas_path) j["replicasPath"] = rule.replicas_path->ToString();
  if (!rule.ready_condition.empty()) j["readyCondition"] = rule.ready_condition;
  if (rule.ready_replicas_path) j["readyReplicasPath"] = rule.ready_replicas_path->ToString();
  if (!rule.status_aggregation.empty()) {
    json& list = j["statusAggregation"] = json::array();
    for (const JsonPath& p : rule.status_aggregation) list.push_back(p.ToString());
  }
  if (!rule.pod_template_paths.empty()) {
    json& list = j["podTemplatePaths"] = json::array();
    for (const JsonPath& p : rule.pod_template_paths) list.push_back(p.ToString());
  }
  return j.dump();
}

StatusOr<InterpreterRule> DecodeInterpreterRule(const std::string& text) {
  // ParseJson (depth-limited, not recursive): the annotation can be edited by hand.
  json j = ParseJson(text);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError(std::string(kResourceInterpreterAnnotation) +
                                ": not a JSON object");
  }
  // The annotation is the ResourceInterpreter's spec plus its name: one decoder judges both.
  std::string from;
  if (j.contains("from")) {
    if (!j["from"].is_string()) {
      return InvalidArgumentError(std::string(kResourceInterpreterAnnotation) +
                                  ": from: must be a string");
    }
    from = j["from"].get<std::string>();
  }
  json as_object = {{"apiVersion", kApiVersion},
                    {"kind", "ResourceInterpreter"},
                    {"metadata", {{"name", j.value("name", json("annotation"))}}},
                    {"spec", j}};
  as_object["spec"].erase("name");
  as_object["spec"].erase("from");
  FieldErrors errors;
  ResourceInterpreterObject o = DecodeResourceInterpreter(as_object, &errors);
  if (!errors.empty()) {
    return InvalidArgumentError(std::string(kResourceInterpreterAnnotation) + ": " +
                                errors[0].ToString());
  }
  o.rule.from = std::move(from);
  return std::move(o.rule);
}

StatusOr<std::optional<InterpreterRule>> InterpreterRuleOf(const FederatedWorkload& binding) {
  auto a = binding.metadata.annotations.find(kResourceInterpreterAnnotation);
  if (a == binding.metadata.annotations.end()) return std::optional<InterpreterRule>();
  StatusOr<InterpreterRule> rule = DecodeInterpreterRule(a->second);
  if (!rule.ok()) return rule.status();
  return std::optional<InterpreterRule>(std::move(rule).value());
}

StatusOr<json> InterpretedTemplate(const InterpreterRule& rule, const json& object) {
  json t = object;
  if (!rule.replicas_path || *rule.replicas_path == SpecReplicas()) return t;
  const std::string where = rule.replicas_path->ToString();
  const json* replicas = rule.replicas_path->Find(object);
  if (replicas == nullptr || !replicas->is_number_integer() || replicas->get<int64_t>() < 0) {
    return InvalidArgumentError(rule.Source() + ": " + where +
                                " must be an integer >= 0 to divide the object" +
                                (replicas == nullptr ? " (absent)" : ": " + replicas->dump()));
  }
  if (SpecReplicas().Find(object) != nullptr) {
    return InvalidArgumentError(rule.Source() + " divides by " + where +
                                ", but the object also has spec.replicas, which Meridian "
                                "would use to carry the share");
  }
  MERIDIAN_RETURN_IF_ERROR(SpecReplicas().Set(&t, *replicas));
  return t;
}

Status PlaceReplicas(const InterpreterRule& rule, json* rendered) {
  if (!rule.replicas_path || *rule.replicas_path == SpecReplicas()) return Status::Ok();
  const json* share = SpecReplicas().Find(*rendered);
  if (share == nullptr) return Status::Ok();  // not divided (copied whole)
  json value = *share;
  (*rendered)["spec"].erase("replicas");
  Status s = rule.replicas_path->Set(rendered, std::move(value));
  if (!s.ok()) {
    return InvalidArgumentError(rule.Source() + ": replicasPath " + rule.replicas_path->ToString() +
                                ": " + s.message());
  }
  return Status::Ok();
}

}  // namespace meridian::api
