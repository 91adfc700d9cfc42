// The request pipeline's authentication and authorization stage. Filters run, in order,
// before any routing (RestHandler::AddFilter): authentication sets RestRequest::user or
// answers 401; authorization (to come: RBAC-style rules per user/group) answers 403.
//
// Implemented today: static bearer tokens, in kube-apiserver's --token-auth-file format
// (CSV: token,user,uid[,"group1,group2"]), so a federation can be shared safely on one host.
// /healthz, /readyz, /livez and /version stay anonymous, as in Kubernetes.
#pragma once

#include <map>
#include <string>

#include "apimachinery/rest/rest_handler.h"
#include "common/status.h"

namespace meridian::apiserver {

struct TokenUser {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

// Parses a token file's text. Errors name `source`:line and the problem; duplicate tokens
// are errors. Pure.
StatusOr<std::map<std::string, TokenUser>> ParseTokenFile(const std::string& text,
                                                          const std::string& source);

// A filter accepting `Authorization: Bearer <token>` for the given tokens; anything else
// (missing header, unknown token) is kUnauthenticated, which the handler answers 401.
apimachinery::rest::RestFilter BearerTokenFilter(std::map<std::string, TokenUser> tokens);

}  // namespace meridian::apiserver
