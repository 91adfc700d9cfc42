// Authentication: the request pipeline's first filter after TLS. kube-apiserver's order and
// semantics: each authenticator in turn looks for its own kind of credential; the first that
// accepts one sets RestRequest::user (name, groups + "system:authenticated"); a credential
// that is present but invalid is remembered and the next authenticator is tried (a bad
// certificate does not hide a good token). When none accepts, the request is answered 401
// Unauthorized (a Kubernetes Status); /healthz, /readyz, /livez and /version stay open to
// anonymous callers, as with kube-apiserver's default --anonymous-auth.
//
// Authenticators:
//   x509    RestRequest::peer_certificate_pem verified against --client-ca-file at the
//           injected clock's time (chain, validity, clientAuth usage); CN = user, each
//           O = a group. Filled by transports that know the connection's certificate (gRPC).
//           A chain once verified is remembered (by its exact PEM) for as long as every
//           certificate in it is valid at the clock's time, so a kept-alive connection does
//           not pay the signature checks on every request.
//   token   `Authorization: Bearer T` with T in --token-auth-file.
//   OIDC    `Authorization: Bearer <JWT>` verified offline: RS256 or ES256 signature against
//           a key of --oidc-jwks-file (by `kid` when the token names one), `iss` equal to
//           --oidc-issuer-url, `aud` holding --oidc-client-id, `exp` in the future and `nbf`
//           (when present) in the past. Signatures are checked with OpenSSL's EVP API; the
//           JWT/JWKS JSON is parsed with nlohmann-json.
//
// All functions are pure apart from the clock; the returned callables are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/request_filters.h"

namespace meridian::apiserver {

using apimachinery::UserInfo;
using apimachinery::rest::RestRequest;

// nullopt: the request carries no credential of this kind. An error: it carries one that is
// invalid (the message says why; it is logged, the client only sees 401).
using Authenticator = std::function<StatusOr<std::optional<UserInfo>>(const RestRequest&)>;

// x509 client certificates. `client_ca_pem` holds one or more PEM CA certificates;
// kInvalidArgument naming `source` when none parses. `clock` must outlive the authenticator.
StatusOr<Authenticator> X509Authenticator(const std::string& client_ca_pem,
                                          const std::string& source, const Clock& clock);

// Static bearer tokens (ParseTokenFile). An unknown token is "not mine" (OIDC may know it).
Authenticator TokenAuthenticator(std::map<std::string, TokenUser> tokens);

struct OidcOptions {
  std::string issuer_url;              // --oidc-issuer-url, compared to `iss` exactly
  std::string client_id;               // --oidc-client-id, must be in `aud`
  std::string username_claim = "sub";  // --oidc-username-claim
  // --oidc-username-prefix: kube-apiserver's rule when empty: "ISSUER#" unless the claim is
  // `email`; "-" means no prefix.
  std::string username_prefix;
  std::string groups_claim;   // --oidc-groups-claim ("" = no groups from the token)
  std::string groups_prefix;  // --oidc-groups-prefix
};

// OIDC ID tokens. `jwks_json` is a JWK Set ({"keys": [...]}) with RSA and P-256 EC public
// keys; kInvalidArgument naming `source` and the key index for a malformed one or an empty
// set, and for a missing issuer or client id. `clock` must outlive the authenticator.
StatusOr<Authenticator> OidcAuthenticator(const OidcOptions& options, const std::string& jwks_json,
                                          const std::string& source, const Clock& clock);

// The filter running `chain` in order (see the file comment).
apimachinery::rest::RestFilter AuthenticationFilter(std::vector<Authenticator> chain);

}  // namespace meridian::apiserver
