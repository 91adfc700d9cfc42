// The route of a create-only review kind (Kubernetes' SubjectAccessReview idiom: asked with a
// POST, answered in the response, never stored), shared by WhatIfReview (what_if_review.h) and
// ComplianceReview (compliance_review.h).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/types.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/json_parse.h"

namespace meridian::apiserver {

// Registers on `handler` (after its filters: authentication, RBAC): POST
// /apis/federation.meridian.io/v1alpha1/<plural> answered by `answer`; every other method on
// that path and below it 405 ("... create-only, nothing is stored"); and the discovery entry
// {name: plural, singularName, namespaced: false, kind, verbs: [create]}, as kube-apiserver
// lists SubjectAccessReview, so that `kubectl create -f review.yaml` maps the kind to the path.
inline void InstallReviewRoute(apimachinery::rest::RestHandler& handler, const std::string& plural,
                               const std::string& singular, const std::string& kind,
                               apimachinery::rest::RestRoute answer) {
  namespace rest = apimachinery::rest;
  const std::string path = std::string("/apis/") + api::kGroup + "/" + api::kVersion + "/" + plural;
  handler.AddRoute("POST", path, std::move(answer));
  handler.AddDiscoveryResource(api::kGroup, api::kVersion,
                               {{"name", plural},
                                {"singularName", singular},
                                {"namespaced", false},
                                {"kind", kind},
                                {"verbs", {"create"}}});
  // Nothing is stored: there is nothing to get, list, watch, update or delete.
  handler.AddRoute(
      "", path,
      [plural](const rest::RestRequest& request) {
        return rest::RestResponse::Error(
            apimachinery::ApiError::MethodNotAllowed(request.method + " is not supported on " +
                                                     plural + " (create-only, nothing is stored)"));
      },
      /*prefix=*/true);
}

// A review's body, parsed depth-limited (common/json_parse.h: an answer copies and dumps the
// spec, which recurses once per nesting level of what the client sent) into `*body`; or the 400
// to answer, naming `kind` and where the body is wrong.
inline std::optional<apimachinery::rest::RestResponse> ParseReviewBody(
    const apimachinery::rest::RestRequest& request, const std::string& kind,
    nlohmann::json* body) {
  JsonParseError error;
  *body = ParseJson(request.body, &error);
  if (!body->is_discarded()) return std::nullopt;
  return apimachinery::rest::RestResponse::Error(
      apimachinery::ApiError::BadRequest("invalid " + kind + ": " + error.ToString()));
}

}  // namespace meridian::apiserver
