#include "federation-apiserver/crd/definition.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "apimachinery/object_service.h"
#include "federation-apiserver/crd/internal/json_fields.h"
#include "federation-apiserver/crd/structural_schema.h"

namespace meridian::apiserver::crd {
namespace {

using apimachinery::NameValidation;
using apimachinery::ResourceInfo;
using nlohmann::json;

using internal::Child;
using internal::Str;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Quoted(const std::string& s) { return json(s).dump(); }

void CheckLabel(const std::string& value, const std::string& path, FieldErrors* errors) {
  for (const std::string& m : apimachinery::ValidateObjectName(value, NameValidation::kDnsLabel)) {
    errors->push_back({path, "Invalid value: " + Quoted(value) + ": " + m});
  }
}

bool IsProtectedGroup(const std::string& group) {
  for (const char* suffix : {"k8s.io", "kubernetes.io"}) {
    const std::string s = suffix;
    if (group == s || (group.size() > s.size() && group.ends_with("." + s))) return true;
  }
  return false;
}

// "v1beta2" -> {1, 1 (beta), 2}; nullopt for names outside Kubernetes' version scheme.
struct VersionKey {
  int major = 0;
  int stage = 2;  // 2 GA, 1 beta, 0 alpha
  int minor = 0;
};
std::optional<VersionKey> ParseVersion(const std::string& v) {
  static const std::regex re("^v([1-9][0-9]{0,8})(?:(alpha|beta)([1-9][0-9]{0,8}))?$");
  std::smatch m;
  if (!std::regex_match(v, m, re)) return std::nullopt;
  VersionKey k;
  k.major = std::stoi(m[1]);
  if (m[2].matched) {
    k.stage = m[2] == "beta" ? 1 : 0;
    k.minor = std::stoi(m[3]);
  }
  return k;
}

void ValidateNames(const json& names, const std::string& path, FieldErrors* errors) {
  if (!names.is_object()) {
    errors->push_back({path, "Required value"});
    return;
  }
  const std::string plural = Str(names, "plural");
  const std::string kind = Str(names, "kind");
  if (plural.empty()) {
    errors->push_back({path + ".plural", "Required value"});
  } else {
    CheckLabel(plural, path + ".plural", errors);
  }
  if (!Str(names, "singular").empty())
    CheckLabel(Str(names, "singular"), path + ".singular", errors);
  // Kubernetes: a kind may have mixed case but must otherwise be a DNS-1035 label.
  for (const char* key : {"kind", "listKind"}) {
    const std::string value = Str(names, key);
    if (value.empty()) {
      if (std::string(key) == "kind") errors->push_back({path + ".kind", "Required value"});
      continue;
    }
    const std::string lower = Lower(value);
    if (!apimachinery::ValidateObjectName(lower, NameValidation::kDns1035Label).empty()) {
      errors->push_back({path + "." + key, "Invalid value: " + Quoted(value) +
                                               ": may have mixed case, but should otherwise match: "
                                               "[a-z]([-a-z0-9]*[a-z0-9])?"});
    }
  }
  if (!kind.empty() && Str(names, "listKind") == kind) {
    errors->push_back({path + ".listKind", "Invalid value: " + Quoted(kind) +
                                               ": kind and listKind may not be the same"});
  }
  for (const char* key : {"shortNames", "categories"}) {
    const json& list = Child(names, key);
    if (list.is_null()) continue;
    if (!list.is_array()) {
      errors->push_back({path + "." + key, "Invalid value: must be a list of strings"});
      continue;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = path + "." + key + "[" + std::to_string(i) + "]";
      if (!list[i].is_string()) {
        errors->push_back({at, "Invalid value: " + list[i].dump() + ": must be a string"});
        continue;
      }
      CheckLabel(list[i].get<std::string>(), at, errors);
      if (!seen.insert(list[i].get<std::string>()).second) {
        errors->push_back({at, "Duplicate value: " + list[i].dump()});
      }
    }
  }
}

void ValidatePrinterColumns(const json& columns, const std::string& path, FieldErrors* errors) {
  if (columns.is_null()) return;
  if (!columns.is_array()) {
    errors->push_back({path, "Invalid value: must be a list"});
    return;
  }
  static const std::set<std::string> kColumnTypes = {"integer", "number", "string", "boolean",
                                                     "date"};
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const json& c = columns[i];
    if (Str(c, "name").empty()) errors->push_back({at + ".name", "Required value"});
    if (Str(c, "jsonPath").empty()) errors->push_back({at + ".jsonPath", "Required value"});
    const std::string type = Str(c, "type");
    if (!kColumnTypes.count(type)) {
      errors->push_back({at + ".type", type.empty() ? "Required value"
                                                    : "Unsupported value: " + Quoted(type) +
                                                          ": supported values: \"boolean\", "
                                                          "\"date\", \"integer\", \"number\", "
                                                          "\"string\""});
    }
    if (c.contains("priority") &&
        !(c["priority"].is_number_integer() && c["priority"].get<int64_t>() >= 0)) {
      errors->push_back({at + ".priority", "Invalid value: " + c["priority"].dump() +
                                               ": must be a non-negative integer"});
    }
  }
}

// ".spec.replicas" -> "spec.replicas" (what ScaleSubresource takes); "" when not a simple path.
std::string DottedPath(const std::string& json_path) {
  static const std::regex re(R"(^(\.[A-Za-z_][A-Za-z0-9_]*)+$)");
  if (!std::regex_match(json_path, re)) return "";
  return json_path.substr(1);
}

void ValidateSubresources(const json& sub, const std::string& path, FieldErrors* errors) {
  if (sub.is_null()) return;
  if (!sub.is_object()) {
    errors->push_back({path, "Invalid value: must be an object"});
    return;
  }
  for (const auto& [key, value] : sub.items()) {
    if (key != "status" && key != "scale") {
      errors->push_back({path + "." + key, "Forbidden: unknown field \"" + key + "\""});
    }
  }
  const json& scale = Child(sub, "scale");
  if (scale.is_null()) return;
  for (const char* key : {"specReplicasPath", "statusReplicasPath"}) {
    const std::string p = Str(scale, key);
    if (p.empty()) {
      errors->push_back({path + ".scale." + key, "Required value"});
    } else if (DottedPath(p).empty()) {
      errors->push_back(
          {path + ".scale." + key,
           "Invalid value: " + Quoted(p) + ": should be a json path under .spec or .status"});
    }
  }
  const std::string selector = Str(scale, "labelSelectorPath");
  if (!selector.empty() && DottedPath(selector).empty()) {
    errors->push_back(
        {path + ".scale.labelSelectorPath",
         "Invalid value: " + Quoted(selector) + ": should be a json path under .spec or .status"});
  }
}

void ValidateVersions(const json& versions, const std::string& path, FieldErrors* errors) {
  if (!versions.is_array() || versions.empty()) {
    errors->push_back({path, versions.is_null() || versions.is_array()
                                 ? "Required value: must have exactly one version marked as "
                                   "storage version"
                                 : "Invalid value: must be a list"});
    return;
  }
  int storage = 0;
  std::set<std::string> names;
  for (size_t i = 0; i < versions.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const json& v = versions[i];
    if (!v.is_object()) {
      errors->push_back({at, "Invalid value: must be an object"});
      continue;
    }
    const std::string name = Str(v, "name");
    if (name.empty()) {
      errors->push_back({at + ".name", "Required value"});
    } else {
      CheckLabel(name, at + ".name", errors);
      if (!names.insert(name).second)
        errors->push_back({at + ".name", "Duplicate value: " + Quoted(name)});
    }
    for (const char* key : {"served", "storage"}) {
      if (!v.contains(key) || !v[key].is_boolean()) {
        errors->push_back({at + "." + key, v.contains(key) ? "Invalid value: must be a boolean"
                                                           : "Required value"});
      }
    }
    if (v.value("storage", false) == true) ++storage;
    const json& schema = Child(Child(v, "schema"), "openAPIV3Schema");
    if (schema.is_null()) {
      errors->push_back({at + ".schema.openAPIV3Schema", "Required value: schemas are required"});
    } else {
      ValidateStructuralSchema(schema, at + ".schema.openAPIV3Schema", errors);
    }
    ValidateSubresources(Child(v, "subresources"), at + ".subresources", errors);
    ValidatePrinterColumns(Child(v, "additionalPrinterColumns"), at + ".additionalPrinterColumns",
                           errors);
  }
  if (storage != 1) {
    errors->push_back({path, "Invalid value: " + std::to_string(storage) +
                                 ": must have exactly one version marked as storage version"});
  }
}

json Condition(const std::string& type, bool status, const std::string& reason,
               const std::string& message) {
  return {{"type", type},
          {"status", status ? "True" : "False"},
          {"reason", reason},
          {"message", message}};
}

}  // namespace

ResourceInfo DefinitionResourceInfo() {
  ResourceInfo info;
  info.group = kGroup;
  info.version = "v1";
  info.kind = "CustomResourceDefinition";
  info.plural = kPlural;
  info.singular = "customresourcedefinition";
  info.short_names = {"crd", "crds"};
  info.categories = {"api-extensions"};
  info.namespaced = false;
  info.has_status = true;
  info.printer_columns = {
      {"Created At", "date", ".metadata.creationTimestamp", "", "", 0},
  };
  return info;
}

void DefaultDefinition(json* crd, bool create) {
  if (!crd->is_object()) return;
  json& spec = (*crd)["spec"];
  if (!spec.is_object()) return;
  json& names = spec["names"];
  if (names.is_object() && names.contains("kind") && names["kind"].is_string()) {
    const std::string kind = names["kind"].get<std::string>();
    if (Str(names, "singular").empty()) names["singular"] = Lower(kind);
    if (Str(names, "listKind").empty()) names["listKind"] = kind + "List";
  }
  if (!spec.contains("conversion") || !spec["conversion"].is_object()) {
    spec["conversion"] = {{"strategy", "None"}};
  }
  if (create) {
    json& meta = (*crd)["metadata"];
    if (!meta.is_object()) return;
    json& finalizers = meta["finalizers"];
    if (!finalizers.is_array()) finalizers = json::array();
    if (std::find(finalizers.begin(), finalizers.end(), kCleanupFinalizer) == finalizers.end()) {
      finalizers.push_back(kCleanupFinalizer);
    }
  }
}

FieldErrors ValidateDefinition(const json& crd, const json* old,
                               const std::vector<std::string>& builtin_groups) {
  FieldErrors errors;
  const json& meta = Child(crd, "metadata");
  const json& spec = Child(crd, "spec");
  if (!spec.is_object()) {
    errors.push_back({"spec", "Required value"});
    return errors;
  }
  const std::string group = Str(spec, "group");
  const std::string plural = Str(Child(spec, "names"), "plural");
  const std::string name = Str(meta, "name");
  if (name != plural + "." + group) {
    errors.push_back({"metadata.name", "Invalid value: " + Quoted(name) +
                                           ": must be spec.names.plural+\".\"+spec.group"});
  }
  if (group.empty()) {
    errors.push_back({"spec.group", "Required value"});
  } else {
    for (const std::string& m :
         apimachinery::ValidateObjectName(group, NameValidation::kDnsSubdomain)) {
      errors.push_back({"spec.group", "Invalid value: " + Quoted(group) + ": " + m});
    }
    if (group.find('.') == std::string::npos) {
      errors.push_back({"spec.group", "Invalid value: " + Quoted(group) +
                                          ": should be a domain with at least one dot"});
    }
    if (std::find(builtin_groups.begin(), builtin_groups.end(), group) != builtin_groups.end()) {
      errors.push_back({"spec.group", "Invalid value: " + Quoted(group) +
                                          ": is an API group this server serves itself"});
    }
    const json& annotations = Child(meta, "annotations");
    if (IsProtectedGroup(group) && Str(annotations, "api-approved.kubernetes.io").empty()) {
      errors.push_back({"metadata.annotations[api-approved.kubernetes.io]",
                        "Required value: protected groups must have approval annotation "
                        "\"api-approved.kubernetes.io\", see "
                        "https://github.com/kubernetes/enhancements/pull/1111"});
    }
  }
  ValidateNames(Child(spec, "names"), "spec.names", &errors);
  const std::string scope = Str(spec, "scope");
  if (scope.empty()) {
    errors.push_back({"spec.scope", "Required value"});
  } else if (scope != "Namespaced" && scope != "Cluster") {
    errors.push_back({"spec.scope", "Unsupported value: " + Quoted(scope) +
                                        ": supported values: \"Cluster\", \"Namespaced\""});
  }
  ValidateVersions(Child(spec, "versions"), "spec.versions", &errors);
  const std::string strategy = Str(Child(spec, "conversion"), "strategy");
  if (!strategy.empty() && strategy != "None") {
    errors.push_back({"spec.conversion.strategy",
                      strategy == "Webhook"
                          ? "Unsupported value: \"Webhook\": conversion webhooks are not "
                            "supported by this server yet; supported values: \"None\""
                          : "Unsupported value: " + Quoted(strategy) +
                                ": supported values: \"None\", \"Webhook\""});
  }
  if (Child(spec, "preserveUnknownFields") == true) {
    errors.push_back({"spec.preserveUnknownFields",
                      "Invalid value: true: cannot set to true, set "
                      "x-kubernetes-preserve-unknown-fields to true in "
                      "spec.versions[*].schema instead"});
  }
  if (old != nullptr) {
    const json& old_spec = Child(*old, "spec");
    if (!Str(old_spec, "scope").empty() && Str(old_spec, "scope") != scope) {
      errors.push_back({"spec.scope", "Invalid value: " + Quoted(scope) + ": field is immutable"});
    }
    // A version objects are stored in may only leave spec.versions once it has left
    // status.storedVersions (Kubernetes' storage-version migration rule).
    const json& stored = Child(Child(*old, "status"), "storedVersions");
    if (stored.is_array()) {
      std::set<std::string> present;
      for (const json& v : Child(spec, "versions")) present.insert(Str(v, "name"));
      for (size_t i = 0; i < stored.size(); ++i) {
        if (stored[i].is_string() && !present.count(stored[i].get<std::string>())) {
          errors.push_back(
              {"status.storedVersions[" + std::to_string(i) + "]",
               "Invalid value: " + stored[i].dump() + ": must appear in spec.versions"});
        }
      }
    }
  }
  return errors;
}

FieldErrors NameConflicts(const json& crd, const std::vector<json>& others) {
  FieldErrors errors;
  const json& spec = Child(crd, "spec");
  const json& names = Child(spec, "names");
  const std::string group = Str(spec, "group");
  const std::string self = Str(Child(crd, "metadata"), "name");
  // Resource names (plural, singular, short names) and kind names live apart, as in
  // Kubernetes' naming controller.
  std::set<std::string> resources_taken, kinds_taken;
  for (const json& other : others) {
    const json& other_spec = Child(other, "spec");
    if (Str(Child(other, "metadata"), "name") == self || Str(other_spec, "group") != group)
      continue;
    const json& n = Child(other_spec, "names");
    for (const char* key : {"plural", "singular"}) resources_taken.insert(Str(n, key));
    for (const json& s : Child(n, "shortNames")) {
      if (s.is_string()) resources_taken.insert(s.get<std::string>());
    }
    for (const char* key : {"kind", "listKind"}) kinds_taken.insert(Str(n, key));
  }
  resources_taken.erase("");
  kinds_taken.erase("");
  auto check = [&](const std::string& value, const std::string& path,
                   const std::set<std::string>& taken) {
    if (!value.empty() && taken.count(value)) {
      errors.push_back(
          {path, "Invalid value: " + Quoted(value) + ": " + Quoted(value) + " is already in use"});
    }
  };
  check(Str(names, "plural"), "spec.names.plural", resources_taken);
  check(Str(names, "singular"), "spec.names.singular", resources_taken);
  const json& short_names = Child(names, "shortNames");
  for (size_t i = 0; short_names.is_array() && i < short_names.size(); ++i) {
    if (short_names[i].is_string()) {
      check(short_names[i].get<std::string>(), "spec.names.shortNames[" + std::to_string(i) + "]",
            resources_taken);
    }
  }
  check(Str(names, "kind"), "spec.names.kind", kinds_taken);
  check(Str(names, "listKind"), "spec.names.listKind", kinds_taken);
  return errors;
}

int CompareVersionPriority(const std::string& a, const std::string& b) {
  const std::optional<VersionKey> ka = ParseVersion(a), kb = ParseVersion(b);
  if (ka && kb) {
    if (ka->stage != kb->stage) return ka->stage > kb->stage ? -1 : 1;
    if (ka->major != kb->major) return ka->major > kb->major ? -1 : 1;
    if (ka->minor != kb->minor) return ka->minor > kb->minor ? -1 : 1;
    return 0;
  }
  if (ka) return -1;
  if (kb) return 1;
  return a < b ? -1 : (a == b ? 0 : 1);
}

std::string StorageVersion(const json& crd) {
  for (const json& v : Child(Child(crd, "spec"), "versions")) {
    if (v.is_object() && v.value("storage", false) == true) return Str(v, "name");
  }
  return "";
}

std::vector<ResourceInfo> ServedResources(const json& crd) {
  const json& spec = Child(crd, "spec");
  const json& names = Child(spec, "names");
  std::vector<ResourceInfo> out;
  for (const json& v : Child(spec, "versions")) {
    if (!v.is_object() || v.value("served", false) != true) continue;
    ResourceInfo info;
    info.group = Str(spec, "group");
    info.version = Str(v, "name");
    info.kind = Str(names, "kind");
    info.plural = Str(names, "plural");
    info.singular = Str(names, "singular").empty() ? Lower(info.kind) : Str(names, "singular");
    for (const json& s : Child(names, "shortNames")) {
      if (s.is_string()) info.short_names.push_back(s.get<std::string>());
    }
    for (const json& c : Child(names, "categories")) {
      if (c.is_string()) info.categories.push_back(c.get<std::string>());
    }
    info.namespaced = Str(spec, "scope") != "Cluster";
    const json& sub = Child(v, "subresources");
    info.has_status = Child(sub, "status").is_object();
    if (const json& scale = Child(sub, "scale"); scale.is_object()) {
      apimachinery::ScaleSubresource s;
      s.spec_replicas_path = DottedPath(Str(scale, "specReplicasPath"));
      s.status_replicas_path = DottedPath(Str(scale, "statusReplicasPath"));
      s.label_selector_path = DottedPath(Str(scale, "labelSelectorPath"));
      info.scale = s;
    }
    info.strategic_merge_patch = false;  // custom resources take merge and JSON patches
    for (const json& c : Child(v, "additionalPrinterColumns")) {
      info.printer_columns.push_back({Str(c, "name"), Str(c, "type"), Str(c, "jsonPath"),
                                      Str(c, "description"), Str(c, "format"),
                                      static_cast<int32_t>(c.value("priority", 0))});
    }
    out.push_back(std::move(info));
  }
  std::stable_sort(out.begin(), out.end(), [](const ResourceInfo& a, const ResourceInfo& b) {
    return CompareVersionPriority(a.version, b.version) < 0;
  });
  return out;
}

json DesiredStatus(const json& crd, const std::optional<std::string>& conflict,
                   const std::string& terminating_message, Timestamp now) {
  const json& old_status = Child(crd, "status");
  json status = old_status.is_object() ? old_status : json::object();
  std::vector<std::string> stored;
  for (const json& v : Child(old_status, "storedVersions")) {
    if (v.is_string()) stored.push_back(v.get<std::string>());
  }
  const std::string storage = StorageVersion(crd);
  if (!storage.empty() && std::find(stored.begin(), stored.end(), storage) == stored.end()) {
    stored.push_back(storage);
  }
  status["storedVersions"] = stored;
  const bool accepted = !conflict.has_value();
  if (accepted) status["acceptedNames"] = Child(Child(crd, "spec"), "names");
  if (!status.contains("acceptedNames")) status["acceptedNames"] = {{"kind", ""}, {"plural", ""}};
  std::vector<json> wanted = {
      accepted ? Condition("NamesAccepted", true, "NoConflicts", "no conflicts found")
               : Condition("NamesAccepted", false, "NameConflict", *conflict)};
  // Established stays once set (Kubernetes does not take it back on a later name clash).
  bool was_established = false;
  for (const json& c : Child(old_status, "conditions")) {
    was_established =
        was_established || (Str(c, "type") == "Established" && Str(c, "status") == "True");
  }
  if (accepted || was_established) {
    wanted.push_back(Condition("Established", true, "InitialNamesAccepted",
                               "the initial names have been accepted"));
  } else {
    wanted.push_back(Condition("Established", false, "NotAccepted", "not all names are accepted"));
  }
  if (!terminating_message.empty()) {
    wanted.push_back(
        Condition("Terminating", true, "InstanceDeletionInProgress", terminating_message));
  }
  json conditions = json::array();
  for (json& c : wanted) {
    std::string since = FormatRfc3339(now);
    for (const json& o : Child(old_status, "conditions")) {
      if (Str(o, "type") == Str(c, "type") && Str(o, "status") == Str(c, "status") &&
          !Str(o, "lastTransitionTime").empty()) {
        since = Str(o, "lastTransitionTime");
      }
    }
    c["lastTransitionTime"] = since;
    conditions.push_back(std::move(c));
  }
  status["conditions"] = std::move(conditions);
  return status;
}

}  // namespace meridian::apiserver::crd
