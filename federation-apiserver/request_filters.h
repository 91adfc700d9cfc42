// The request pipeline's authentication and authorization stage. Filters run, in order,
// before any routing (RestHandler::AddFilter): authentication sets RestRequest::user or
// answers 401; authorization (to come: RBAC-style rules per user/group) answers 403.
//
// Here: static bearer tokens, in kube-apiserver's --token-auth-file format (CSV:
// token,user,uid[,"group1,group2"]). The whole authentication chain (x509, tokens, OIDC) is
// in authentication.h. /healthz, /readyz, /livez and /version stay anonymous.
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
