// The OpenAPI documents kubectl reads: v2 (/openapi/v2) for `kubectl apply` validation and
// older `kubectl explain`, v3 (/openapi/v3 and /openapi/v3/<group-version>) for current
// `kubectl explain`. Built once at startup from api::FederationResources(). Pure.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace meridian::apiserver {

nlohmann::json OpenApiV2();
// The v3 discovery document: {"paths": {"apis/G/V": {"serverRelativeURL": ...}}}.
nlohmann::json OpenApiV3Index();
// The v3 document for one group-version path ("apis/federation.meridian.io/v1alpha1"), or null.
nlohmann::json OpenApiV3For(const std::string& group_version_path);

}  // namespace meridian::apiserver
