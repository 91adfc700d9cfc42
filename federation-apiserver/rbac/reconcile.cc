#include "federation-apiserver/rbac/reconcile.h"

#include <algorithm>
#include <vector>

#include "federation-apiserver/rbac/policy.h"

namespace meridian::apiserver::rbac {
namespace {

using nlohmann::json;
using Action = BootstrapReconciliation::Action;

json EncodeRule(const PolicyRule& rule) {
  json out = {{"verbs", rule.verbs}};
  if (!rule.non_resource_urls.empty()) {
    out["nonResourceURLs"] = rule.non_resource_urls;
    return out;
  }
  out["apiGroups"] = rule.api_groups;
  out["resources"] = rule.resources;
  if (!rule.resource_names.empty()) out["resourceNames"] = rule.resource_names;
  return out;
}

// Adds to result.metadata[field] the keys of expected's it lacks; says which.
void MergeMap(const json& expected, const char* field, json* result, std::string* changes) {
  const json want = expected["metadata"].value(field, json::object());
  for (const auto& [key, value] : want.items()) {
    json& have = (*result)["metadata"][field];
    if (!have.is_object()) have = json::object();
    if (have.contains(key)) continue;
    have[key] = value;
    *changes += std::string(changes->empty() ? "" : "; ") + field + " " + key;
  }
}

// Appends to `have` (an array) the entries of `want` it lacks; says how many.
void MergeArray(const json& want, json* have, const char* what, std::string* changes) {
  if (!have->is_array()) *have = json::array();
  int added = 0;
  for (const json& entry : want) {
    if (std::find(have->begin(), have->end(), entry) != have->end()) continue;
    have->push_back(entry);
    ++added;
  }
  if (added > 0) {
    *changes += (changes->empty() ? "" : "; ") + std::to_string(added) + " " + what;
  }
}

}  // namespace

BootstrapReconciliation ReconcileBootstrapObject(const std::string& plural, const json& expected,
                                                 const json* stored) {
  BootstrapReconciliation out;
  if (stored == nullptr) {
    out.action = Action::kCreate;
    out.object = expected;
    out.changes = "created";
    return out;
  }
  json result = *stored;
  std::string changes;
  MergeMap(expected, "labels", &result, &changes);
  MergeMap(expected, "annotations", &result, &changes);
  bool recreate = false;
  if (plural == "clusterroles") {
    std::vector<PolicyRule> uncovered;
    Covers(DecodeRules(stored->value("rules", json::array())),
           DecodeRules(expected.value("rules", json::array())), &uncovered);
    json& rules = result["rules"];
    if (!rules.is_array()) rules = json::array();
    for (const PolicyRule& rule : uncovered) rules.push_back(EncodeRule(rule));
    if (!uncovered.empty()) {
      changes += (changes.empty() ? "" : "; ") + ("rules " + DescribeRules(uncovered));
    }
    if (expected.contains("aggregationRule")) {
      MergeArray(expected["aggregationRule"].value("clusterRoleSelectors", json::array()),
                 &result["aggregationRule"]["clusterRoleSelectors"], "aggregation selectors",
                 &changes);
    }
  } else {
    MergeArray(expected.value("subjects", json::array()), &result["subjects"], "subjects",
               &changes);
    if (stored->value("roleRef", json()) != expected["roleRef"]) {
      result["roleRef"] = expected["roleRef"];
      changes += (changes.empty() ? "" : "; ") + ("roleRef " + expected["roleRef"].dump());
      recreate = true;
    }
  }
  if (changes.empty()) return out;  // kNone
  out.changes = std::move(changes);
  const json annotations =
      stored->value("metadata", json::object()).value("annotations", json::object());
  if (annotations.value(kAutoupdateAnnotation, "") == "false") {
    out.action = Action::kProtected;
    return out;
  }
  out.action = recreate ? Action::kRecreate : Action::kUpdate;
  if (recreate) {
    // A new object: the stored one's identity and revision go with it.
    for (const char* field : {"resourceVersion", "uid", "creationTimestamp", "generation"}) {
      result["metadata"].erase(field);
    }
  }
  out.object = std::move(result);
  return out;
}

}  // namespace meridian::apiserver::rbac
