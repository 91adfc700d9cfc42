#include "federation-apiserver/authentication.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/base64.h"
#include "common/json_parse.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

template <typename T, void (*Free)(T*)>
struct OsslDeleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509, X509_free>>;
using StorePtr = std::shared_ptr<X509_STORE>;
using PkeyPtr = std::shared_ptr<EVP_PKEY>;

bool IsAnonymousPath(const std::string& path) {
  for (const char* p : {"/healthz", "/readyz", "/livez", "/version"}) {
    std::string s = p;
    if (path == s || path.rfind(s + "/", 0) == 0) return true;
  }
  return false;
}

std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  BIO_free(bio);
  ERR_clear_error();
  return out;
}

std::vector<std::string> NameEntries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

std::optional<std::string> BearerToken(const RestRequest& request) {
  std::string header = request.Header("authorization");
  const std::string prefix = "Bearer ";
  if (header.rfind(prefix, 0) != 0) return std::nullopt;
  std::string token = header.substr(prefix.size());
  if (token.empty()) return std::nullopt;
  return token;
}

// ---- JWKS -----------------------------------------------------------------------------------

struct Jwk {
  std::string kid;
  std::string kty;  // "RSA" or "EC"
  PkeyPtr key;
};

StatusOr<std::string> B64Field(const json& key, const char* field, const std::string& where) {
  if (!key.contains(field) || !key[field].is_string()) {
    return InvalidArgumentError(where + "." + field + ": required (base64url string)");
  }
  std::string out;
  if (!Base64UrlDecode(key[field].get<std::string>(), &out) || out.empty()) {
    return InvalidArgumentError(where + "." + field + ": not valid base64url");
  }
  return out;
}

StatusOr<PkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld, const std::string& where) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  ERR_clear_error();
  if (!ok || pkey == nullptr) {
    EVP_PKEY_free(pkey);
    return InvalidArgumentError(where + ": not a valid " + type + " public key");
  }
  return PkeyPtr(pkey, EVP_PKEY_free);
}

StatusOr<PkeyPtr> RsaKey(const json& key, const std::string& where) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string n, B64Field(key, "n", where));
  MERIDIAN_ASSIGN_OR_RETURN(std::string e, B64Field(key, "e", where));
  if (n.size() < 256)
    return InvalidArgumentError(where + ".n: RSA keys under 2048 bits are refused");
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  StatusOr<PkeyPtr> out = FromData("RSA", bld, where);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return out;
}

StatusOr<PkeyPtr> EcKey(const json& key, const std::string& where) {
  if (key.value("crv", "") != "P-256") {
    return InvalidArgumentError(where + ".crv: only P-256 (ES256) is supported");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::string x, B64Field(key, "x", where));
  MERIDIAN_ASSIGN_OR_RETURN(std::string y, B64Field(key, "y", where));
  if (x.size() != 32 || y.size() != 32) {
    return InvalidArgumentError(where + ": x and y must be 32 bytes for P-256");
  }
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  StatusOr<PkeyPtr> out = FromData("EC", bld, where);
  OSSL_PARAM_BLD_free(bld);
  return out;
}

StatusOr<std::vector<Jwk>> ParseJwks(const std::string& text, const std::string& source) {
  json doc = ParseJson(text);  // a file's bytes (common/json_parse.h)
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgumentError(source + ": not a JSON object (want a JWK Set: {\"keys\": [...]})");
  }
  if (!doc.contains("keys") || !doc["keys"].is_array() || doc["keys"].empty()) {
    return InvalidArgumentError(source + ": keys: required, a non-empty list of JWKs");
  }
  std::vector<Jwk> out;
  for (size_t i = 0; i < doc["keys"].size(); ++i) {
    const json& k = doc["keys"][i];
    const std::string where = source + ": keys[" + std::to_string(i) + "]";
    if (!k.is_object()) return InvalidArgumentError(where + ": must be an object");
    if (k.contains("use") && k["use"] != "sig") continue;  // encryption keys never verify
    Jwk jwk;
    jwk.kid = k.value("kid", "");
    jwk.kty = k.value("kty", "");
    if (jwk.kty == "RSA") {
      MERIDIAN_ASSIGN_OR_RETURN(jwk.key, RsaKey(k, where));
    } else if (jwk.kty == "EC") {
      MERIDIAN_ASSIGN_OR_RETURN(jwk.key, EcKey(k, where));
    } else {
      return InvalidArgumentError(where + ".kty: \"" + jwk.kty + "\" is not RSA or EC");
    }
    out.push_back(std::move(jwk));
  }
  if (out.empty()) return InvalidArgumentError(source + ": keys: no signing key");
  return out;
}

// ES256 signatures are r||s (32 bytes each); EVP wants DER.
std::optional<std::string> EcdsaRawToDer(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);  // takes r and s
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

bool VerifySha256(EVP_PKEY* key, const std::string& signed_part, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

std::optional<json> DecodeJsonPart(const std::string& part) {
  std::string raw;
  if (!Base64UrlDecode(part, &raw)) return std::nullopt;
  // A client's bytes, before any signature is checked (common/json_parse.h).
  json j = ParseJson(raw);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A NumericDate claim (seconds, possibly fractional).
std::optional<double> NumericDate(const json& claims, const char* name) {
  if (!claims.contains(name)) return std::nullopt;
  if (!claims[name].is_number()) return std::nullopt;
  return claims[name].get<double>();
}

class Oidc {
 public:
  Oidc(OidcOptions options, std::vector<Jwk> keys, const Clock& clock)
      : options_(std::move(options)), keys_(std::move(keys)), clock_(clock) {}

  StatusOr<std::optional<UserInfo>> operator()(const RestRequest& request) const {
    std::optional<std::string> token = BearerToken(request);
    if (!token) return std::optional<UserInfo>();
    const size_t dot1 = token->find('.');
    const size_t dot2 = dot1 == std::string::npos ? dot1 : token->find('.', dot1 + 1);
    // Not a JWS compact serialization: some other kind of token, not ours.
    if (dot2 == std::string::npos || token->find('.', dot2 + 1) != std::string::npos) {
      return std::optional<UserInfo>();
    }
    std::optional<json> header = DecodeJsonPart(token->substr(0, dot1));
    std::optional<json> claims = DecodeJsonPart(token->substr(dot1 + 1, dot2 - dot1 - 1));
    std::string signature;
    if (!header || !claims || !Base64UrlDecode(token->substr(dot2 + 1), &signature)) {
      return UnauthenticatedError("oidc: malformed JWT");
    }
    const std::string alg = header->value("alg", "");
    if (alg != "RS256" && alg != "ES256") {
      return UnauthenticatedError("oidc: alg \"" + alg + "\" is not RS256 or ES256");
    }
    if (alg == "ES256") {
      std::optional<std::string> der = EcdsaRawToDer(signature);
      if (!der) return UnauthenticatedError("oidc: ES256 signature is not 64 bytes");
      signature = *der;
    }
    const std::string kid = header->contains("kid") && (*header)["kid"].is_string()
                                ? (*header)["kid"].get<std::string>()
                                : "";
    const std::string kty = alg == "RS256" ? "RSA" : "EC";
    const std::string signed_part = token->substr(0, dot2);
    bool verified = false;
    for (const Jwk& k : keys_) {
      if (k.kty != kty || (!kid.empty() && k.kid != kid)) continue;
      if (VerifySha256(k.key.get(), signed_part, signature)) {
        verified = true;
        break;
      }
    }
    if (!verified) return UnauthenticatedError("oidc: signature not verified by any JWKS key");
    return Claims(*claims);
  }

 private:
  StatusOr<std::optional<UserInfo>> Claims(const json& claims) const {
    if (claims.value("iss", "") != options_.issuer_url) {
      return UnauthenticatedError("oidc: iss \"" + claims.value("iss", "") + "\" is not " +
                                  options_.issuer_url);
    }
    bool audience = false;
    if (claims.contains("aud") && claims["aud"].is_string()) {
      audience = claims["aud"] == options_.client_id;
    } else if (claims.contains("aud") && claims["aud"].is_array()) {
      for (const json& a : claims["aud"]) audience = audience || a == options_.client_id;
    }
    if (!audience) return UnauthenticatedError("oidc: aud does not include " + options_.client_id);
    const double now = std::chrono::duration<double>(clock_.Now().time_since_epoch()).count();
    std::optional<double> exp = NumericDate(claims, "exp");
    if (!exp) return UnauthenticatedError("oidc: exp missing or not a number");
    if (now >= *exp) return UnauthenticatedError("oidc: token expired");
    if (claims.contains("nbf")) {
      std::optional<double> nbf = NumericDate(claims, "nbf");
      if (!nbf) return UnauthenticatedError("oidc: nbf is not a number");
      if (now < *nbf) return UnauthenticatedError("oidc: token not valid yet (nbf)");
    }
    const json& name =
        claims.contains(options_.username_claim) ? claims[options_.username_claim] : json();
    if (!name.is_string() || name.get<std::string>().empty()) {
      return UnauthenticatedError("oidc: claim \"" + options_.username_claim + "\" missing");
    }
    if (options_.username_claim == "email" && claims.contains("email_verified") &&
        claims["email_verified"] != true) {
      return UnauthenticatedError("oidc: email_verified is not true");
    }
    UserInfo user;
    std::string prefix = options_.username_prefix;
    if (prefix.empty() && options_.username_claim != "email") prefix = options_.issuer_url + "#";
    if (prefix == "-") prefix.clear();
    user.name = prefix + name.get<std::string>();
    if (!options_.groups_claim.empty() && claims.contains(options_.groups_claim)) {
      const json& g = claims[options_.groups_claim];
      if (g.is_string()) {
        user.groups.push_back(options_.groups_prefix + g.get<std::string>());
      } else if (g.is_array()) {
        for (const json& one : g) {
          if (!one.is_string())
            return UnauthenticatedError("oidc: groups claim holds a non-string");
          user.groups.push_back(options_.groups_prefix + one.get<std::string>());
        }
      } else {
        return UnauthenticatedError("oidc: groups claim is not a string or a list");
      }
    }
    return std::optional<UserInfo>(std::move(user));
  }

  const OidcOptions options_;
  const std::vector<Jwk> keys_;
  const Clock& clock_;
};

}  // namespace

namespace {

// When `t` is, as a Timestamp (ASN1 times are UTC). False when it does not parse.
bool ToTimestamp(const ASN1_TIME* t, Timestamp* out) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  *out = std::chrono::system_clock::from_time_t(timegm(&tm));
  return true;
}

// Certificates already verified, by their exact PEM chain: a connection presents the same
// chain on every request, and verifying it (PEM parse, chain building, an ECDSA/RSA
// signature check per link) cost ~1 ms per request under load, ten times the rest of the
// request (docs/performance.md, "What security costs"). An entry is only used within the
// validity window of every certificate of its verified chain, judged at the same injected
// clock as a fresh verification, so expiry is honoured exactly; the CA set never changes
// for an authenticator, so nothing else can make a verified chain invalid. Bounded: when
// full it is emptied (a new chain per request only costs what no cache would).
class VerifiedChains {
 public:
  struct Entry {
    UserInfo user;
    Timestamp not_before, not_after;
  };
  std::optional<UserInfo> Find(const std::string& pem, Timestamp now) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(pem);
    if (it == entries_.end() || now < it->second.not_before || now >= it->second.not_after) {
      return std::nullopt;
    }
    return it->second.user;
  }
  void Add(const std::string& pem, Entry entry) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[pem] = std::move(entry);
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace

StatusOr<Authenticator> X509Authenticator(const std::string& client_ca_pem,
                                          const std::string& source, const Clock& clock) {
  std::vector<X509Ptr> cas = ParseCertificates(client_ca_pem);
  if (cas.empty()) return InvalidArgumentError(source + ": no PEM certificate");
  StorePtr store(X509_STORE_new(), X509_STORE_free);
  for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  auto verified = std::make_shared<VerifiedChains>();
  return Authenticator([store, verified,
                        &clock](const RestRequest& request) -> StatusOr<std::optional<UserInfo>> {
    if (request.peer_certificate_pem.empty()) return std::optional<UserInfo>();
    const Timestamp now = clock.Now();
    if (std::optional<UserInfo> user = verified->Find(request.peer_certificate_pem, now)) {
      return user;
    }
    std::vector<X509Ptr> certs = ParseCertificates(request.peer_certificate_pem);
    if (certs.empty()) return UnauthenticatedError("x509: no PEM certificate");
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted, certs[i].get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store.get(), certs[0].get(), untrusted);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(now));
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT);
    const bool ok = X509_verify_cert(ctx) == 1;
    const int err = X509_STORE_CTX_get_error(ctx);
    // The window in which this chain verifies: the intersection of its certificates'.
    VerifiedChains::Entry entry{{}, Timestamp::min(), Timestamp::max()};
    bool window_known = ok;
    if (STACK_OF(X509)* chain = ok ? X509_STORE_CTX_get0_chain(ctx) : nullptr) {
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        Timestamp nb, na;
        X509* c = sk_X509_value(chain, i);
        if (!ToTimestamp(X509_get0_notBefore(c), &nb) || !ToTimestamp(X509_get0_notAfter(c), &na)) {
          window_known = false;
          break;
        }
        entry.not_before = std::max(entry.not_before, nb);
        entry.not_after = std::min(entry.not_after, na);
      }
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (!ok) {
      return UnauthenticatedError(std::string("x509: ") + X509_verify_cert_error_string(err));
    }
    X509_NAME* subject = X509_get_subject_name(certs[0].get());
    std::vector<std::string> cn = NameEntries(subject, NID_commonName);
    if (cn.empty() || cn[0].empty()) return UnauthenticatedError("x509: no common name");
    UserInfo user;
    user.name = cn[0];
    user.groups = NameEntries(subject, NID_organizationName);
    if (window_known) {
      entry.user = user;
      verified->Add(request.peer_certificate_pem, std::move(entry));
    }
    return std::optional<UserInfo>(std::move(user));
  });
}

Authenticator TokenAuthenticator(std::map<std::string, TokenUser> tokens) {
  return [tokens =
              std::move(tokens)](const RestRequest& request) -> StatusOr<std::optional<UserInfo>> {
    std::optional<std::string> token = BearerToken(request);
    if (!token) return std::optional<UserInfo>();
    auto it = tokens.find(*token);
    if (it == tokens.end()) return std::optional<UserInfo>();
    return std::optional<UserInfo>(UserInfo{it->second.name, it->second.groups});
  };
}

StatusOr<Authenticator> OidcAuthenticator(const OidcOptions& options, const std::string& jwks_json,
                                          const std::string& source, const Clock& clock) {
  if (options.issuer_url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("--oidc-issuer-url \"" + options.issuer_url +
                                "\": required, an https:// URL");
  }
  if (options.client_id.empty()) return InvalidArgumentError("--oidc-client-id: required");
  if (options.username_claim.empty()) {
    return InvalidArgumentError("--oidc-username-claim: must not be empty");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<Jwk> keys, ParseJwks(jwks_json, source));
  auto oidc = std::make_shared<Oidc>(options, std::move(keys), clock);
  return Authenticator([oidc](const RestRequest& r) { return (*oidc)(r); });
}

apimachinery::rest::RestFilter AuthenticationFilter(std::vector<Authenticator> chain) {
  return [chain = std::move(chain)](RestRequest& request) -> Status {
    Status rejected = Status::Ok();
    for (const Authenticator& authenticate : chain) {
      StatusOr<std::optional<UserInfo>> user = authenticate(request);
      if (!user.ok()) {
        if (rejected.ok()) rejected = user.status();
        continue;
      }
      if (!user->has_value()) continue;
      request.user = std::move(**user);
      request.user.groups.push_back("system:authenticated");
      return Status::Ok();
    }
    if (IsAnonymousPath(request.path)) return Status::Ok();
    // The reason stays in the log: telling a client why its credential failed helps an
    // attacker more than a user, and kube-apiserver answers a bare "Unauthorized" too.
    if (!rejected.ok())
      spdlog::info("{} {}: 401: {}", request.method, request.path, rejected.message());
    return UnauthenticatedError("Unauthorized");
  };
}

}  // namespace meridian::apiserver
