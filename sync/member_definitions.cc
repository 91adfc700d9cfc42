#include "sync/member_definitions.h"

#include "common/json_fields.h"
#include "sync/propagation.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

using json_fields::Child;

const json& VersionNamed(const json& spec, const std::string& name) {
  static const json kNull;
  const json& versions = Child(spec, "versions");
  if (!versions.is_array()) return kNull;
  for (const json& v : versions) {
    if (Child(v, "name") == name) return v;
  }
  return kNull;
}

}  // namespace

json MemberDefinition(const json& federation_crd) {
  json out = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata",
               {{"name", Child(Child(federation_crd, "metadata"), "name")},
                {"labels", {{kManagedByLabel, kManagedByValue}}}}},
              {"spec", Child(federation_crd, "spec")}};
  out["metadata"]["annotations"][kRenderedHashAnnotation] = RenderedHash(out);
  return out;
}

bool DefinitionEstablished(const json& crd) {
  const json& conditions = Child(Child(crd, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (Child(c, "type") == "Established") return Child(c, "status") == "True";
  }
  return false;
}

std::string DefinitionDifference(const json& live, const json& desired) {
  const json& have = Child(live, "spec");
  const json& want = Child(desired, "spec");
  if (Child(have, "group") != Child(want, "group")) return "spec.group differs";
  if (Child(have, "scope") != Child(want, "scope")) return "spec.scope differs";
  for (const char* name : {"kind", "plural"}) {
    if (Child(Child(have, "names"), name) != Child(Child(want, "names"), name)) {
      return std::string("spec.names.") + name + " differs";
    }
  }
  const json& versions = Child(want, "versions");
  if (!versions.is_array()) return "";
  for (const json& v : versions) {
    if (Child(v, "served") != true) continue;
    const std::string name = Child(v, "name").is_string() ? Child(v, "name").get<std::string>() : "";
    const json& theirs = VersionNamed(have, name);
    if (theirs.is_null() || Child(theirs, "served") != true) {
      return "spec.versions[" + name + "] is not served";
    }
    if (Child(theirs, "schema") != Child(v, "schema"))
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
              "CustomResourceDefinition " + Child(Child(desired, "metadata"), "name").get<std::string>() +
                  " exists there, was not made by Meridian and does not serve what the "
                  "federation's does (" +
                  difference + "): not overwritten (other objects of the member may use it)"};
    }
  } else {
    const json& annotations = Child(Child(live, "metadata"), "annotations");
    const json& want = desired["metadata"]["annotations"][kRenderedHashAnnotation];
    // Out of date, or edited in the member since: Meridian's copy is Meridian's to repair.
    if (Child(annotations, kRenderedHashAnnotation) != want ||
        !DefinitionDifference(live, desired).empty()) {
      return {DefinitionStep::kReplace, ""};
    }
  }
  return {DefinitionEstablished(live) ? DefinitionStep::kReady : DefinitionStep::kWait, ""};
}

}  // namespace meridian::sync
