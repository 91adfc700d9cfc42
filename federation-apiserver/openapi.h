// The OpenAPI documents kubectl reads: v2 (/openapi/v2) for `kubectl apply` validation and
// older `kubectl explain`, v3 (/openapi/v3 and /openapi/v3/<group-version>) for current
// `kubectl explain`. Built once at startup from api::FederationResources(). Pure.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace meridian::apiserver {

nlohmann::json OpenApiV2();
// The v3 discovery document: {"paths": {"apis/G/V": {"serverRelativeURL": ...}}}.
nlohmann::json OpenApiV3Index();
// The v3 document for one group-version path ("apis/federation.meridian.io/v1alpha1"), or null.
nlohmann::json OpenApiV3For(const std::string& group_version_path);

// A kind served with its own schema (a CustomResourceDefinition's version).
struct OpenApiKind {
  std::string group, version, kind, plural;
  bool namespaced = true;
  nlohmann::json schema;  // openAPIV3Schema
};
// The v3 document of one group-version path ("apis/G/V") serving `kinds`: the same paths,
// verbs and fieldValidation parameter as Meridian's own kinds, the schemas named as
// kube-apiserver names a CRD's ("com.example.v1.Widget") and tagged with their
// group/version/kind.
nlohmann::json OpenApiV3Document(const std::string& group_version_path,
                                 const std::vector<OpenApiKind>& kinds);

}  // namespace meridian::apiserver
