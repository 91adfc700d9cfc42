// The authentication chain: x509 client certificates, static tokens, OIDC ID tokens (RS256,
// ES256), in kube-apiserver's order and with its 401 semantics. Time is a FakeClock.
#include "federation-apiserver/authentication.h"

#include <gtest/gtest.h>

#include "cli/pki.h"
#include "test/federation-apiserver/jwt_signer.h"

namespace meridian::apiserver {
namespace {

using apimachinery::rest::RestFilter;
using cli::CertificateSpec;
using cli::IssueCertificate;
using cli::KeyAndCertificate;
using nlohmann::json;
using testing::JwtSigner;

constexpr char kIssuer[] = "https://issuer.example";

class AuthenticationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Timestamp now = clock_.Now();
    auto ca = IssueCertificate({.common_name = "ca",
                                .is_ca = true,
                                .not_before = now - Hours(1),
                                .not_after = now + Hours(100)},
                               nullptr);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto other = IssueCertificate({.common_name = "other-ca",
                                   .is_ca = true,
                                   .not_before = now - Hours(1),
                                   .not_after = now + Hours(100)},
                                  nullptr);
    ASSERT_TRUE(other.ok());
    other_ca_ = *other;

    auto x509 = X509Authenticator(ca_.certificate_pem, "ca.crt", clock_);
    ASSERT_TRUE(x509.ok()) << x509.status();
    auto tokens = ParseTokenFile("t0k3n,bob,1,\"viewers,ops\"\n", "tokens.csv");
    ASSERT_TRUE(tokens.ok());
    json jwks = {{"keys", {rsa_.Jwk(), ec_.Jwk()}}};
    OidcOptions oidc{.issuer_url = kIssuer, .client_id = "meridian", .groups_claim = "groups"};
    auto o = OidcAuthenticator(oidc, jwks.dump(), "jwks.json", clock_);
    ASSERT_TRUE(o.ok()) << o.status();
    filter_ = AuthenticationFilter({*x509, TokenAuthenticator(*tokens), *o});
  }

  static std::chrono::hours Hours(int n) { return std::chrono::hours(n); }

  std::string Cert(const std::string& cn, std::vector<std::string> orgs,
                   const KeyAndCertificate& by, Timestamp from, Timestamp until,
                   bool client_auth = true) {
    auto c = IssueCertificate({.common_name = cn,
                               .organizations = std::move(orgs),
                               .server_auth = !client_auth,
                               .client_auth = client_auth,
                               .not_before = from,
                               .not_after = until},
                              &by);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->certificate_pem : "";
  }

  json Claims(const std::string& sub) const {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
    return {{"iss", kIssuer},   {"aud", "meridian"}, {"sub", sub},
            {"exp", now + 600}, {"iat", now},        {"groups", {"shop-editors"}}};
  }

  // The user the filter set, or the error code.
  std::string Run(RestRequest r) {
    Status st = filter_(r);
    if (!st.ok())
      return "error " + std::to_string(static_cast<int>(st.code())) + " " + st.message();
    std::string out = r.user.name;
    for (const std::string& g : r.user.groups) out += "|" + g;
    return out;
  }

  static RestRequest Bearer(const std::string& token, std::string path = "/api/v1/pods") {
    RestRequest r;
    r.method = "GET";
    r.path = std::move(path);
    r.headers["authorization"] = "Bearer " + token;
    return r;
  }

  FakeClock clock_;
  KeyAndCertificate ca_, other_ca_;
  JwtSigner rsa_{JwtSigner::Alg::kRS256, "rsa-1"};
  JwtSigner ec_{JwtSigner::Alg::kES256, "ec-1"};
  RestFilter filter_;
};

const std::string kUnauthorized =
    "error " + std::to_string(static_cast<int>(StatusCode::kUnauthenticated)) + " Unauthorized";

TEST_F(AuthenticationTest, ClientCertificates) {
  const Timestamp now = clock_.Now();
  struct Case {
    std::string name;
    std::string pem;
    std::string want;
  } cases[] = {
      {"admin", Cert("admin", {"system:masters"}, ca_, now - Hours(1), now + Hours(1)),
       "admin|system:masters|system:authenticated"},
      {"two groups", Cert("carol", {"a", "b"}, ca_, now - Hours(1), now + Hours(1)),
       "carol|a|b|system:authenticated"},
      {"foreign CA", Cert("admin", {"system:masters"}, other_ca_, now - Hours(1), now + Hours(1)),
       kUnauthorized},
      {"expired", Cert("admin", {}, ca_, now - Hours(2), now - Hours(1)), kUnauthorized},
      {"not yet valid", Cert("admin", {}, ca_, now + Hours(1), now + Hours(2)), kUnauthorized},
      {"server-only usage", Cert("admin", {}, ca_, now - Hours(1), now + Hours(1), false),
       kUnauthorized},
      {"garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", kUnauthorized},
  };
  for (const Case& c : cases) {
    RestRequest r;
    r.method = "GET";
    r.path = "/api/v1/pods";
    r.peer_certificate_pem = c.pem;
    EXPECT_EQ(Run(r), c.want) << c.name;
  }
}

TEST_F(AuthenticationTest, CertificateExpiresWhenTheClockPassesNotAfter) {
  const Timestamp now = clock_.Now();
  RestRequest r;
  r.path = "/api";
  r.peer_certificate_pem = Cert("dave", {}, ca_, now - Hours(1), now + Hours(1));
  EXPECT_EQ(Run(r), "dave|system:authenticated");
  clock_.Advance(Hours(2));
  EXPECT_EQ(Run(r), kUnauthorized);
}

TEST_F(AuthenticationTest, BearerTokens) {
  const std::string prefix = std::string(kIssuer) + "#";
  JwtSigner stranger(JwtSigner::Alg::kRS256, "rsa-1");  // same kid, other key
  json expired = Claims("alice");
  expired["exp"] = expired["iat"].get<int64_t>() - 1;
  json future = Claims("alice");
  future["nbf"] = future["iat"].get<int64_t>() + 60;
  json wrong_iss = Claims("alice");
  wrong_iss["iss"] = "https://evil.example";
  json wrong_aud = Claims("alice");
  wrong_aud["aud"] = {"someone-else"};
  json aud_list = Claims("alice");
  aud_list["aud"] = {"x", "meridian"};
  json no_exp = Claims("alice");
  no_exp.erase("exp");
  std::string none_alg = Base64UrlEncode(json({{"alg", "none"}}).dump()) + "." +
                         Base64UrlEncode(Claims("alice").dump()) + ".";
  std::string rsa_token = rsa_.Sign(Claims("alice"));
  std::string tampered = rsa_token;
  tampered[tampered.find('.') + 5] ^= 1;
  struct Case {
    std::string name;
    std::string token;
    std::string want;
  } cases[] = {
      {"static token", "t0k3n", "bob|viewers|ops|system:authenticated"},
      {"unknown token", "nope", kUnauthorized},
      {"RS256", rsa_token, prefix + "alice|shop-editors|system:authenticated"},
      {"ES256", ec_.Sign(Claims("erin")), prefix + "erin|shop-editors|system:authenticated"},
      {"aud list", rsa_.Sign(aud_list), prefix + "alice|shop-editors|system:authenticated"},
      {"expired", rsa_.Sign(expired), kUnauthorized},
      {"not before", rsa_.Sign(future), kUnauthorized},
      {"wrong issuer", rsa_.Sign(wrong_iss), kUnauthorized},
      {"wrong audience", rsa_.Sign(wrong_aud), kUnauthorized},
      {"no exp", rsa_.Sign(no_exp), kUnauthorized},
      {"other key", stranger.Sign(Claims("alice")), kUnauthorized},
      {"tampered payload", tampered, kUnauthorized},
      {"alg none", none_alg, kUnauthorized},
  };
  for (const Case& c : cases) EXPECT_EQ(Run(Bearer(c.token)), c.want) << c.name;
  RestRequest none;
  none.path = "/apis/core.meridian.io/v1alpha1/federatedworkloads";
  EXPECT_EQ(Run(none), kUnauthorized);
}

TEST_F(AuthenticationTest, TokenValidityFollowsTheClock) {
  json claims = Claims("alice");
  claims["nbf"] = claims["iat"].get<int64_t>() + 30;
  const std::string token = rsa_.Sign(claims);
  EXPECT_EQ(Run(Bearer(token)), kUnauthorized);  // not yet
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_NE(Run(Bearer(token)).find("#alice|"), std::string::npos);
  clock_.Advance(std::chrono::seconds(600));
  EXPECT_EQ(Run(Bearer(token)), kUnauthorized);  // expired
}

TEST_F(AuthenticationTest, HealthPathsStayOpenEvenWithABadCredential) {
  for (const std::string path : {"/healthz", "/readyz", "/livez", "/version", "/livez/ping"}) {
    EXPECT_EQ(Run(Bearer("nope", path)), "") << path;
    EXPECT_EQ(Run(Bearer("t0k3n", path)), "bob|viewers|ops|system:authenticated") << path;
  }
  EXPECT_EQ(Run(Bearer("nope", "/healthzz")), kUnauthorized);
}

TEST_F(AuthenticationTest, AGoodTokenIsNotHiddenByABadCertificate) {
  RestRequest r = Bearer("t0k3n");
  r.peer_certificate_pem = Cert("admin", {"system:masters"}, other_ca_, clock_.Now() - Hours(1),
                                clock_.Now() + Hours(1));
  EXPECT_EQ(Run(r), "bob|viewers|ops|system:authenticated");
}

TEST(OidcConfigTest, BadJwksAndOptionsNameTheFileAndField) {
  FakeClock clock;
  JwtSigner rsa(JwtSigner::Alg::kRS256, "k");
  OidcOptions ok{.issuer_url = kIssuer, .client_id = "meridian"};
  json small = rsa.Jwk();
  small["n"] = Base64UrlEncode(std::string(64, '\x7f'));
  json curve = JwtSigner(JwtSigner::Alg::kES256, "e").Jwk();
  curve["crv"] = "P-384";
  struct Case {
    OidcOptions options;
    std::string jwks;
    std::string want;
  } cases[] = {
      {ok, "not json", "jwks.json: not a JSON object"},
      {ok, R"({"keys": []})", "jwks.json: keys: required"},
      {ok, R"({"keys": [{"kty": "oct", "k": "AAAA"}]})", "jwks.json: keys[0].kty: \"oct\""},
      {ok, json({{"keys", {small}}}).dump(), "jwks.json: keys[0].n: RSA keys under 2048 bits"},
      {ok, json({{"keys", {curve}}}).dump(), "jwks.json: keys[0].crv: only P-256"},
      {ok, R"({"keys": [{"kty": "RSA", "n": "%%%", "e": "AQAB"}]})",
       "jwks.json: keys[0].n: not valid base64url"},
      {{.issuer_url = "http://insecure", .client_id = "m"},
       json({{"keys", {rsa.Jwk()}}}).dump(),
       "--oidc-issuer-url \"http://insecure\": required, an https:// URL"},
      {{.issuer_url = kIssuer}, json({{"keys", {rsa.Jwk()}}}).dump(), "--oidc-client-id: required"},
  };
  for (const Case& c : cases) {
    auto a = OidcAuthenticator(c.options, c.jwks, "jwks.json", clock);
    ASSERT_FALSE(a.ok()) << c.want;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message().rfind(c.want, 0), 0u) << a.status().message();
  }
}

TEST(OidcConfigTest, UsernamePrefixAndEmailClaim) {
  FakeClock clock;
  JwtSigner rsa(JwtSigner::Alg::kRS256, "k");
  const std::string jwks = json({{"keys", {rsa.Jwk()}}}).dump();
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  json claims = {{"iss", kIssuer},
                 {"aud", "m"},
                 {"sub", "123"},
                 {"email", "a@example.com"},
                 {"exp", now + 60}};
  struct Case {
    OidcOptions options;
    std::string want;
  } cases[] = {
      {{.issuer_url = kIssuer, .client_id = "m"}, std::string(kIssuer) + "#123"},
      {{.issuer_url = kIssuer, .client_id = "m", .username_prefix = "-"}, "123"},
      {{.issuer_url = kIssuer, .client_id = "m", .username_prefix = "oidc:"}, "oidc:123"},
      {{.issuer_url = kIssuer, .client_id = "m", .username_claim = "email"}, "a@example.com"},
  };
  for (const Case& c : cases) {
    auto a = OidcAuthenticator(c.options, jwks, "jwks.json", clock);
    ASSERT_TRUE(a.ok()) << a.status();
    RestRequest r;
    r.headers["authorization"] = "Bearer " + rsa.Sign(claims);
    auto user = (*a)(r);
    ASSERT_TRUE(user.ok()) << user.status();
    ASSERT_TRUE(user->has_value());
    EXPECT_EQ((*user)->name, c.want);
  }
  claims["email_verified"] = false;
  auto a = OidcAuthenticator({.issuer_url = kIssuer, .client_id = "m", .username_claim = "email"},
                             jwks, "jwks.json", clock);
  RestRequest r;
  r.headers["authorization"] = "Bearer " + rsa.Sign(claims);
  EXPECT_FALSE((*a)(r).ok());
}

}  // namespace
}  // namespace meridian::apiserver
