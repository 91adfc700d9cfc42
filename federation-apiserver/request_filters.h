// The request pipeline's authentication and authorization stage. Filters run, in order,
// before any routing (RestHandler::AddFilter): authentication sets RestRequest::user or
// answers 401; authorization (to come: RBAC-style rules per user/group) answers 403.
//
// Here: static bearer tokens, in kube-apiserver's --token-auth-file format (CSV:
// token,user,uid[,"group1,group2"]). The whole authentication chain (x509, tokens, OIDC) is
// in authentication.h. /healthz, /readyz, /livez and /version stay anonymous.
#pragma once

#include <map>
#include <memory>
#include <mutex>
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

// Max in flight: kube-apiserver's --max-requests-inflight and --max-mutating-requests-inflight,
// plus a cap per user so that one client cannot take a whole budget and starve the others.
// 0 disables a cap.
struct InFlightLimits {
  int max_requests = 400;           // GET, HEAD, OPTIONS (kube-apiserver's default)
  int max_mutating_requests = 200;  // POST, PUT, PATCH, DELETE (kube-apiserver's default)
  int max_requests_per_user = 100;  // both kinds together, per authenticated user name
};

// Counts requests being served against InFlightLimits. Exempt, as in kube-apiserver: long-
// running requests (watches: ?watch=true or a /watch/ path; they have their own budget, see
// RestOptions) and the system:masters group. Anonymous requests count as one user,
// "system:anonymous". Thread-safe.
class InFlightLimiter {
 public:
  explicit InFlightLimiter(InFlightLimits limits) : limits_(limits) {}
  InFlightLimiter(const InFlightLimiter&) = delete;
  InFlightLimiter& operator=(const InFlightLimiter&) = delete;

  // A slot for `request`, released when the returned hold is destroyed (null for an exempt
  // request); or kResourceExhausted ("too many requests in flight ...", naming the cap that
  // was reached), which the REST handler answers 429 TooManyRequests with Retry-After: 1.
  // The limiter must outlive its holds (keep it in a shared_ptr; holds share it).
  static StatusOr<std::shared_ptr<void>> Acquire(const std::shared_ptr<InFlightLimiter>& self,
                                                 const apimachinery::rest::RestRequest& request);

  struct Counts {
    int requests = 0;
    int mutating_requests = 0;
  };
  Counts InFlight() const;
  int InFlightFor(const std::string& user) const;  // "" = anonymous

 private:
  const InFlightLimits limits_;
  mutable std::mutex mu_;  // guards the counts below
  Counts counts_;
  std::map<std::string, int> per_user_;  // users with requests in flight only
};

// The pipeline stage: takes a slot per request (RestRequest::holds keeps it until the handler
// returns). Runs after authentication, so that the user is known, and before authorization.
apimachinery::rest::RestFilter InFlightFilter(std::shared_ptr<InFlightLimiter> limiter);

}  // namespace meridian::apiserver
