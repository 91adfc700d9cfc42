#include "federation-apiserver/openapi.h"

#include <functional>

#include "api/resources.h"
#include "api/types.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

const std::string kGvPath = std::string("apis/") + api::kGroup + "/" + api::kVersion;

std::string DefinitionName(const std::string& kind) {
  return std::string("io.meridian.federation.") + api::kVersion + "." + kind;
}

// OpenAPI v2 has no x-kubernetes-preserve-unknown-fields semantics of its own; kubectl
// accepts the extension, and free-form objects are plain `type: object` either way.
json Schemas() {
  json schemas = json::object();
  for (const api::ResourceDescriptor& r : api::FederationResources()) {
    schemas[DefinitionName(r.kind)] = api::OpenApiSchemaFor(r);
  }
  return schemas;
}

// Paths with the verbs and the fieldValidation parameter, so kubectl knows the server
// validates fields itself (it then sends ?fieldValidation=Strict instead of validating
// client-side).
json Paths(bool v3) {
  json paths = json::object();
  json field_validation = {{"name", "fieldValidation"}, {"in", "query"},
                           {"description", "Strict, Warn or Ignore."}};
  if (v3) {
    field_validation["schema"] = {{"type", "string"}};
  } else {
    field_validation["type"] = "string";
  }
  for (const api::ResourceDescriptor& r : api::FederationResources()) {
    std::string base = "/" + kGvPath + "/" + (r.namespaced ? "namespaces/{namespace}/" : "");
    json ref = v3 ? json{{"$ref", "#/components/schemas/" + DefinitionName(r.kind)}}
                  : json{{"$ref", "#/definitions/" + DefinitionName(r.kind)}};
    json ok = v3 ? json{{"description", "OK"}, {"content", {{"application/json", {{"schema", ref}}}}}}
                 : json{{"description", "OK"}, {"schema", ref}};
    json gvk = {{"group", api::kGroup}, {"version", api::kVersion}, {"kind", r.kind}};
    auto op = [&](const std::string& action, const std::string& id) {
      return json{{"operationId", id + r.kind},
                  {"x-kubernetes-action", action},
                  {"x-kubernetes-group-version-kind", gvk},
                  {"parameters", json::array({field_validation})},
                  {"responses", {{"200", ok}}}};
    };
    paths[base + r.plural] = {{"get", op("list", "list")}, {"post", op("post", "create")}};
    paths[base + r.plural + "/{name}"] = {{"get", op("get", "read")},
                                          {"put", op("put", "replace")},
                                          {"patch", op("patch", "patch")},
                                          {"delete", op("delete", "delete")}};
  }
  return paths;
}

}  // namespace

json OpenApiV2() {
  return {{"swagger", "2.0"},
          {"info", {{"title", "Meridian federation API"}, {"version", api::kVersion}}},
          {"paths", Paths(false)},
          {"definitions", Schemas()}};
}

json OpenApiV3Index() {
  std::string hash = std::to_string(std::hash<std::string>{}(OpenApiV3For(kGvPath).dump()));
  return {{"paths",
           {{kGvPath, {{"serverRelativeURL", "/openapi/v3/" + kGvPath + "?hash=" + hash}}}}}};
}

json OpenApiV3For(const std::string& group_version_path) {
  if (group_version_path != kGvPath) return nullptr;
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Meridian federation API"}, {"version", api::kVersion}}},
          {"paths", Paths(true)},
          {"components", {{"schemas", Schemas()}}}};
}

}  // namespace meridian::apiserver
