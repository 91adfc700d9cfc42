#include "sync/member_definitions.h"

#include "sync/propagation.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

const json& At(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

const json& VersionNamed(const json& spec, const std::string& name) {
  static const json kNull;
  const json& versions = At(spec, "versions");
  if (!versions.is_array()) return kNull;
  for (const json& v : versions) {
    if (At(v, "name") == name) return v;
  }
  return kNull;
}

}  // namespace

json MemberDefinition(const json& federation_crd) {
  json out = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata",
               {{"name", At(At(federation_crd, "metadata"), "name")},
                {"labels", {{kManagedByLabel, kManagedByValue}}}}},
              {"spec", At(federation_crd, "spec")}};
  out["metadata"]["annotations"][kRenderedHashAnnotation] = RenderedHash(out);
  return out;
}

bool DefinitionEstablished(const json& crd) {
  const json& conditions = At(At(crd, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (At(c, "type") == "Established") return At(c, "status") == "True";
  }
  return false;
}

std::string DefinitionDifference(const json& live, const json& desired) {
  const json& have = At(live, "spec");
  const json& want = At(desired, "spec");
  if (At(have, "group") != At(want, "group")) return "spec.group differs";
  if (At(have, "scope") != At(want, "scope")) return "spec.scope differs";
  for (const char* name : {"kind", "plural"}) {
    if (At(At(have, "names"), name) != At(At(want, "names"), name)) {
      return std::string("spec.names.") + name + " differs";
    }
  }
  const json& versions = At(want, "versions");
  if (!versions.is_array()) return "";
  for (const json& v : versions) {
    if (At(v, "served") != true) continue;
    const std::string name = At(v, "name").is_string() ? At(v, "name").get<std::string>() : "";
    const json& theirs = VersionNamed(have, name);
    if (theirs.is_null() || At(theirs, "served") != true) {
      return "spec.versions[" + name + "] is not served";
    }
    if (At(theirs, "schema") != At(v, "schema"))
      return "spec.versions[" + name + "].schema differs";
  }
  return "";
}

DefinitionStep DecideDefinition(const json& live, const json& desired) {
  if (live.is_null()) return {DefinitionStep::kCreate, ""};
  if (!IsManaged(live)) {
    const std::string difference = DefinitionDifference(live, desired);
    if (!difference.empty()) {
      return {DefinitionStep::kRefuse,
              "CustomResourceDefinition " + At(At(desired, "metadata"), "name").get<std::string>() +
                  " exists there, was not made by Meridian and does not serve what the "
                  "federation's does (" +
                  difference + "): not overwritten (other objects of the member may use it)"};
    }
  } else {
    const json& annotations = At(At(live, "metadata"), "annotations");
    const json& want = desired["metadata"]["annotations"][kRenderedHashAnnotation];
    // Out of date, or edited in the member since: Meridian's copy is Meridian's to repair.
    if (At(annotations, kRenderedHashAnnotation) != want ||
        !DefinitionDifference(live, desired).empty()) {
      return {DefinitionStep::kReplace, ""};
    }
  }
  return {DefinitionEstablished(live) ? DefinitionStep::kReady : DefinitionStep::kWait, ""};
}

}  // namespace meridian::sync
