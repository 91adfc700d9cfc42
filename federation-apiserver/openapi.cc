#include "federation-apiserver/openapi.h"

#include <algorithm>
#include <functional>

#include "api/resources.h"
#include "api/types.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

const std::string kGvPath = std::string("apis/") + api::kGroup + "/" + api::kVersion;
const std::string kCorePath = "api/v1";

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

// One served kind, as the OpenAPI paths describe it.
struct PathKind {
  std::string gv_path;  // "apis/G/V" or "api/v1"
  std::string group, version, kind, plural, definition;
  bool namespaced;
};

std::vector<PathKind> FederationPathKinds() {
  std::vector<PathKind> out;
  for (const api::ResourceDescriptor& r : api::FederationResources()) {
    out.push_back({kGvPath, api::kGroup, api::kVersion, r.kind, r.plural,
                   DefinitionName(r.kind), r.namespaced});
  }
  return out;
}

std::vector<PathKind> CorePathKinds() {
  return {{kCorePath, "", "v1", "Namespace", "namespaces", "io.k8s.api.core.v1.Namespace", false},
          {kCorePath, "", "v1", "Secret", "secrets", "io.k8s.api.core.v1.Secret", true}};
}

// Paths with the verbs and the fieldValidation parameter, so kubectl knows the server
// validates fields itself (it then sends ?fieldValidation=Strict instead of validating
// client-side against the protobuf OpenAPI v2, which this server does not serve).
json Paths(const std::vector<PathKind>& kinds, bool v3) {
  json paths = json::object();
  json field_validation = {{"name", "fieldValidation"}, {"in", "query"},
                           {"description", "Strict, Warn or Ignore."}};
  if (v3) {
    field_validation["schema"] = {{"type", "string"}};
  } else {
    field_validation["type"] = "string";
  }
  for (const PathKind& r : kinds) {
    std::string base = "/" + r.gv_path + "/" + (r.namespaced ? "namespaces/{namespace}/" : "");
    json ref = v3 ? json{{"$ref", "#/components/schemas/" + r.definition}}
                  : json{{"$ref", "#/definitions/" + r.definition}};
    json ok = v3 ? json{{"description", "OK"}, {"content", {{"application/json", {{"schema", ref}}}}}}
                 : json{{"description", "OK"}, {"schema", ref}};
    json gvk = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
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

// The two core kinds the federation serves, so kubectl can validate them (it asks the
// server's OpenAPI for every kind it applies).
json CoreSchemas() {
  json meta = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true},
               {"description", "Standard object metadata."}};
  auto gvk = [](const char* kind) {
    return json::array({{{"group", ""}, {"version", "v1"}, {"kind", kind}}});
  };
  json ns = {{"type", "object"},
             {"description", "Namespace provides a scope for names."},
             {"properties",
              {{"apiVersion", {{"type", "string"}}},
               {"kind", {{"type", "string"}}},
               {"metadata", meta},
               {"spec", {{"type", "object"}, {"properties", {{"finalizers", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}},
               {"status", {{"type", "object"}, {"properties", {{"phase", {{"type", "string"}}}}}}}}},
             {"x-kubernetes-group-version-kind", gvk("Namespace")}};
  json string_map = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  json secret = {{"type", "object"},
                 {"description", "Secret holds secret data, e.g. a member cluster's credentials."},
                 {"properties",
                  {{"apiVersion", {{"type", "string"}}},
                   {"kind", {{"type", "string"}}},
                   {"metadata", meta},
                   {"data", string_map},
                   {"stringData", string_map},
                   {"type", {{"type", "string"}}},
                   {"immutable", {{"type", "boolean"}}}}},
                 {"x-kubernetes-group-version-kind", gvk("Secret")}};
  return {{"io.k8s.api.core.v1.Namespace", ns}, {"io.k8s.api.core.v1.Secret", secret}};
}

}  // namespace

json OpenApiV2() {
  return {{"swagger", "2.0"},
          {"info", {{"title", "Meridian federation API"}, {"version", api::kVersion}}},
          {"paths", [] {
             json p = Paths(FederationPathKinds(), false);
             p.update(Paths(CorePathKinds(), false));
             return p;
           }()},
          {"definitions", [] {
             json d = Schemas();
             d.update(CoreSchemas());
             return d;
           }()}};
}

json OpenApiV3Index() {
  json paths = json::object();
  for (const std::string& gv : {kGvPath, kCorePath}) {
    std::string hash = std::to_string(std::hash<std::string>{}(OpenApiV3For(gv).dump()));
    paths[gv] = {{"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + hash}};
  }
  return {{"paths", paths}};
}

json OpenApiV3For(const std::string& group_version_path) {
  if (group_version_path == kCorePath) {
    return {{"openapi", "3.0.0"},
            {"info", {{"title", "Meridian federation API (core/v1 subset)"}, {"version", "v1"}}},
            {"paths", Paths(CorePathKinds(), true)},
            {"components", {{"schemas", CoreSchemas()}}}};
  }
  if (group_version_path != kGvPath) return nullptr;
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Meridian federation API"}, {"version", api::kVersion}}},
          {"paths", Paths(FederationPathKinds(), true)},
          {"components", {{"schemas", Schemas()}}}};
}

json OpenApiV3Document(const std::string& group_version_path,
                       const std::vector<OpenApiKind>& kinds) {
  std::vector<PathKind> paths;
  json schemas = json::object();
  for (const OpenApiKind& k : kinds) {
    // kube-apiserver's name for a CRD's schema: the group reversed, then version and kind.
    std::vector<std::string> labels;
    for (size_t begin = 0; begin <= k.group.size();) {
      const size_t dot = std::min(k.group.find('.', begin), k.group.size());
      labels.push_back(k.group.substr(begin, dot - begin));
      begin = dot + 1;
    }
    std::string reversed;
    for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
      reversed += (reversed.empty() ? "" : ".") + *it;
    }
    const std::string definition = reversed + "." + k.version + "." + k.kind;
    paths.push_back(
        {group_version_path, k.group, k.version, k.kind, k.plural, definition, k.namespaced});
    json schema = k.schema.is_object() ? k.schema : json{{"type", "object"}};
    json& properties = schema["properties"];
    if (!properties.is_object()) properties = json::object();
    properties["apiVersion"] = {{"type", "string"}};
    properties["kind"] = {{"type", "string"}};
    properties["metadata"] = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    schema["x-kubernetes-group-version-kind"] =
        json::array({{{"group", k.group}, {"version", k.version}, {"kind", k.kind}}});
    schemas[definition] = std::move(schema);
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes CRD Swagger"}, {"version", "v0.1.0"}}},
          {"paths", Paths(paths, true)},
          {"components", {{"schemas", schemas}}}};
}

}  // namespace meridian::apiserver
