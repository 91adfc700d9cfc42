// The real federation-apiserver serving TLS with authentication, set up the way a user would:
// `fedctl admin init` writes the PKI, the server starts with its files, an OIDC JWK Set and a
// token file, and curl, fedctl and a gRPC client call it on loopback.
//
// Covered: the admin kubeconfig works (fedctl); who a request is (SelfSubjectReview) for a
// static token and RS256/ES256 OIDC tokens; 401 with a Kubernetes Status for an unknown
// token, an expired or wrongly signed JWT and no credential; /healthz open; a client
// certificate from a foreign CA or an expired one refused in the handshake; TLS 1.1 refused;
// SIGHUP serving a renewed certificate without a restart; non-loopback --listen refused
// without TLS or without an authenticator; over gRPC the admin client certificate, a token,
// an OIDC token, and UNAUTHENTICATED without any.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "cli/pki.h"
#include "test/common/child_process.h"
#include "test/common/test_env.h"
#include "test/federation-apiserver/jwt_signer.h"
#ifdef MERIDIAN_HAS_GRPC
#include <grpcpp/grpcpp.h>

#include "federation-apiserver/grpc/grpc_service.h"
#endif

namespace meridian::apiserver {
namespace {

using nlohmann::json;
using testing::JwtSigner;

constexpr char kIssuer[] = "https://issuer.test";

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("meridian-tls-" + std::to_string(getpid())));
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    const std::filesystem::path pki = *dir_ / "pki";
    test_env::CommandResult init = test_env::RunCommand(
        test_env::BinDir() + "/fedctl admin init --dir " + pki.string() + " --host meridian.test");
    ASSERT_EQ(init.exit_code, 0) << init.output;
    for (const char* f : {"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt",
                          "admin.key", "admin.kubeconfig", "tokens.csv"}) {
      auto perms = std::filesystem::status(pki / f).permissions();
      EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)
          << f;
    }
    std::ofstream(pki / "tokens.csv", std::ios::app) << "v1ewer-t0ken,viewer,2,\"viewers\"\n";
    rsa_ = new JwtSigner(JwtSigner::Alg::kRS256, "rsa");
    ec_ = new JwtSigner(JwtSigner::Alg::kES256, "ec");
    std::ofstream(*dir_ / "jwks.json") << json({{"keys", {rsa_->Jwk(), ec_->Jwk()}}}).dump();

    // A foreign CA's client certificate, and one of ours that has expired.
    const Timestamp now = std::chrono::system_clock::now();
    cli::KeyAndCertificate ca{ReadAll(pki / "ca.key"), ReadAll(pki / "ca.crt")};
    auto foreign_ca = cli::IssueCertificate({.common_name = "foreign",
                                             .is_ca = true,
                                             .not_before = now - std::chrono::hours(1),
                                             .not_after = now + std::chrono::hours(1)},
                                            nullptr);
    ASSERT_TRUE(foreign_ca.ok());
    auto foreign = cli::IssueCertificate({.common_name = "admin",
                                          .organizations = {"system:masters"},
                                          .client_auth = true,
                                          .not_before = now - std::chrono::hours(1),
                                          .not_after = now + std::chrono::hours(1)},
                                         &*foreign_ca);
    auto expired = cli::IssueCertificate({.common_name = "admin",
                                          .organizations = {"system:masters"},
                                          .client_auth = true,
                                          .not_before = now - std::chrono::hours(2),
                                          .not_after = now - std::chrono::hours(1)},
                                         &ca);
    ASSERT_TRUE(foreign.ok() && expired.ok());
    std::ofstream(*dir_ / "foreign.crt") << foreign->certificate_pem;
    std::ofstream(*dir_ / "foreign.key") << foreign->key_pem;
    std::ofstream(*dir_ / "expired.crt") << expired->certificate_pem;
    std::ofstream(*dir_ / "expired.key") << expired->key_pem;

    server_ = new test_env::ChildProcess();
    std::string error;
    ASSERT_TRUE(server_->Start({test_env::BinDir() + "/federation-apiserver",
                                "--listen",
                                "127.0.0.1:0",
                                "--grpc-listen",
                                "127.0.0.1:0",
                                "--storage",
                                "sqlite:" + (*dir_ / "fed.db").string(),
                                "--controllers",
                                "none",
                                "--log-level",
                                "info",
                                "--tls-cert-file",
                                (pki / "apiserver.crt").string(),
                                "--tls-private-key-file",
                                (pki / "apiserver.key").string(),
                                "--client-ca-file",
                                (pki / "ca.crt").string(),
                                "--token-auth-file",
                                (pki / "tokens.csv").string(),
                                "--oidc-issuer-url",
                                kIssuer,
                                "--oidc-client-id",
                                "meridian",
                                "--oidc-jwks-file",
                                (*dir_ / "jwks.json").string(),
                                "--oidc-username-claim",
                                "email",
                                "--oidc-groups-claim",
                                "groups"},
                               &error, (*dir_ / "stderr.log").string()))
        << error;
    grpc_address_ = new std::string(server_->WaitForLine("federation-apiserver gRPC listening on ",
                                                         std::chrono::seconds(30), &error));
    ASSERT_FALSE(grpc_address_->empty()) << error;
    url_ = new std::string(server_->WaitForLine("federation-apiserver listening on ",
                                                std::chrono::seconds(30), &error));
    ASSERT_EQ(url_->rfind("https://127.0.0.1:", 0), 0u) << *url_ << error;
  }

  static void TearDownTestSuite() {
    if (server_) server_->Stop();
    delete server_;
    std::filesystem::remove_all(*dir_);
  }

  static std::filesystem::path Pki(const char* f) { return *dir_ / "pki" / f; }

  struct Http {
    int code = 0;  // 0: no HTTP answer (e.g. the handshake failed)
    json body;
    std::string raw;
  };
  // curl against the server with the test CA and `flags`.
  static Http Curl(const std::string& flags, const std::string& path,
                   const std::string& method = "GET") {
    const std::string out = (*dir_ / "curl.out").string();
    std::filesystem::remove(out);
    test_env::CommandResult r = test_env::RunCommand(
        "curl -sS -o " + out + " -w '%{http_code}' --cacert " + Pki("ca.crt").string() + " -X " +
        method + " " + flags + " " + Quote(*url_ + path));
    Http h;
    h.raw = r.output;
    try {
      h.code = std::stoi(r.output.substr(r.output.size() >= 3 ? r.output.size() - 3 : 0));
    } catch (...) {
      h.code = 0;
    }
    h.body = json::parse(ReadAll(out), nullptr, false);
    return h;
  }
  static std::string Bearer(const std::string& token) {
    return "-H " + Quote("Authorization: Bearer " + token);
  }
  // "user|group|group" from a SelfSubjectReview, or "HTTP <code>".
  static std::string WhoAmI(const std::string& flags) {
    Http h = Curl(flags + " -H 'Content-Type: application/json' -d '{}'",
                  "/apis/authentication.k8s.io/v1/selfsubjectreviews", "POST");
    if (h.code != 201) return "HTTP " + std::to_string(h.code);
    std::string out = h.body["status"]["userInfo"].value("username", "");
    for (const json& g : h.body["status"]["userInfo"]["groups"]) out += "|" + g.get<std::string>();
    return out;
  }
  static json Claims(const std::string& email) {
    return {{"iss", kIssuer}, {"aud", "meridian"},          {"sub", "id-" + email},
            {"email", email}, {"groups", {"shop-editors"}}, {"exp", Now() + 600},
            {"iat", Now()}};
  }

  static inline std::filesystem::path* dir_ = nullptr;
  static inline test_env::ChildProcess* server_ = nullptr;
  static inline std::string* url_ = nullptr;
  static inline std::string* grpc_address_ = nullptr;
  static inline JwtSigner* rsa_ = nullptr;
  static inline JwtSigner* ec_ = nullptr;
};

TEST_F(TlsTest, TheAdminKubeconfigWorksWithFedctl) {
  // The kubeconfig names https://meridian.test:8443; --server keeps its credentials.
  test_env::CommandResult r = test_env::RunCommand(test_env::BinDir() + "/fedctl --kubeconfig " +
                                                   Pki("admin.kubeconfig").string() + " --server " +
                                                   *url_ + " get namespaces");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("meridian-system"), std::string::npos) << r.output;
  // KUBECONFIG with a missing first entry (skipped, as kubectl does) works too.
  r = test_env::RunCommand("KUBECONFIG=/nonexistent:" + Pki("admin.kubeconfig").string() + " " +
                           test_env::BinDir() + "/fedctl --server " + *url_ + " get ns default");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Without credentials: Unauthorized, said plainly.
  r = test_env::RunCommand(test_env::BinDir() + "/fedctl --server " + *url_ +
                           " --certificate-authority " + Pki("ca.crt").string() + " get ns");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Unauthorized"), std::string::npos) << r.output;
}

TEST_F(TlsTest, IdentitiesFromTokens) {
  std::string admin_token = ReadAll(Pki("tokens.csv"));
  admin_token = admin_token.substr(0, admin_token.find(','));
  json expired = Claims("alice@example.com");
  expired["exp"] = Now() - 5;
  JwtSigner stranger(JwtSigner::Alg::kRS256, "rsa");
  struct Case {
    std::string what;
    std::string flags;
    std::string want;
  } cases[] = {
      {"admin token", Bearer(admin_token), "admin|system:masters|system:authenticated"},
      {"static token", Bearer("v1ewer-t0ken"), "viewer|viewers|system:authenticated"},
      {"OIDC RS256", Bearer(rsa_->Sign(Claims("alice@example.com"))),
       "alice@example.com|shop-editors|system:authenticated"},
      {"OIDC ES256", Bearer(ec_->Sign(Claims("erin@example.com"))),
       "erin@example.com|shop-editors|system:authenticated"},
      {"unknown token", Bearer("nope"), "HTTP 401"},
      {"expired JWT", Bearer(rsa_->Sign(expired)), "HTTP 401"},
      {"JWT signed by another key", Bearer(stranger.Sign(Claims("alice@example.com"))), "HTTP 401"},
      {"nothing", "", "HTTP 401"},
  };
  for (const Case& c : cases) EXPECT_EQ(WhoAmI(c.flags), c.want) << c.what;
}

TEST_F(TlsTest, UnauthenticatedIsAKubernetesStatusAndHealthStaysOpen) {
  Http h = Curl(Bearer("nope"), "/api/v1/namespaces");
  EXPECT_EQ(h.code, 401);
  EXPECT_EQ(h.body.value("kind", ""), "Status") << h.raw;
  EXPECT_EQ(h.body.value("reason", ""), "Unauthorized") << h.raw;
  EXPECT_EQ(h.body.value("code", 0), 401);
  for (const char* path : {"/healthz", "/readyz", "/livez"}) {
    EXPECT_EQ(Curl("", path).code, 200) << path;
  }
}

TEST_F(TlsTest, ForeignOrExpiredClientCertificatesFailTheHandshake) {
  for (const char* name : {"foreign", "expired"}) {
    const std::string flags = "--cert " + (*dir_ / (std::string(name) + ".crt")).string() +
                              " --key " + (*dir_ / (std::string(name) + ".key")).string();
    Http h = Curl(flags + " " + Bearer("v1ewer-t0ken"), "/api/v1/namespaces");
    EXPECT_EQ(h.code, 0) << name << ": " << h.raw;
  }
  // Our own admin certificate passes the handshake (over REST the token names the user).
  Http h = Curl("--cert " + Pki("admin.crt").string() + " --key " + Pki("admin.key").string() +
                    " " + Bearer("v1ewer-t0ken"),
                "/api/v1/namespaces");
  EXPECT_EQ(h.code, 200) << h.raw;
}

TEST_F(TlsTest, OnlyTls12AndNewer) {
  EXPECT_EQ(Curl("--tls-max 1.1 " + Bearer("v1ewer-t0ken"), "/healthz").code, 0);
  EXPECT_EQ(Curl("--tlsv1.2 --tls-max 1.2 " + Bearer("v1ewer-t0ken"), "/healthz").code, 200);
  EXPECT_EQ(Curl("--tlsv1.3 " + Bearer("v1ewer-t0ken"), "/healthz").code, 200);
}

TEST_F(TlsTest, SighupServesARenewedCertificateWithoutARestart) {
  auto subject = [] {
    return test_env::RunCommand("curl -sv -o /dev/null --cacert " + Pki("ca.crt").string() + " " +
                                *url_ + "/healthz")
        .output;
  };
  ASSERT_NE(subject().find("CN=meridian-apiserver"), std::string::npos);
  const Timestamp now = std::chrono::system_clock::now();
  cli::KeyAndCertificate ca{ReadAll(Pki("ca.key")), ReadAll(Pki("ca.crt"))};
  auto renewed = cli::IssueCertificate({.common_name = "meridian-apiserver-renewed",
                                        .dns_names = {"localhost"},
                                        .ip_addresses = {"127.0.0.1"},
                                        .server_auth = true,
                                        .not_before = now - std::chrono::minutes(1),
                                        .not_after = now + std::chrono::hours(1)},
                                       &ca);
  ASSERT_TRUE(renewed.ok());
  // A broken file first: SIGHUP keeps serving the old certificate.
  std::ofstream(Pki("apiserver.crt"), std::ios::trunc) << "not a certificate";
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string kept = subject();
  EXPECT_NE(kept.find("CN=meridian-apiserver"), std::string::npos) << kept;
  EXPECT_EQ(kept.find("renewed"), std::string::npos) << kept;
  std::ofstream(Pki("apiserver.key"), std::ios::trunc) << renewed->key_pem;
  std::ofstream(Pki("apiserver.crt"), std::ios::trunc) << renewed->certificate_pem;
  ASSERT_EQ(kill(server_->pid(), SIGHUP), 0);
  std::string seen;
  for (int i = 0; i < 50; ++i) {
    seen = subject();
    if (seen.find("meridian-apiserver-renewed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(seen.find("CN=meridian-apiserver-renewed"), std::string::npos) << seen;
  EXPECT_TRUE(server_->running());
  EXPECT_EQ(Curl(Bearer("v1ewer-t0ken"), "/api/v1/namespaces").code, 200);
}

#ifdef MERIDIAN_HAS_GRPC
TEST_F(TlsTest, GrpcAuthenticatesCertificatesAndTokens) {
  ::grpc::SslCredentialsOptions admin{ReadAll(Pki("ca.crt")), ReadAll(Pki("admin.key")),
                                      ReadAll(Pki("admin.crt"))};
  ::grpc::SslCredentialsOptions anonymous{ReadAll(Pki("ca.crt")), "", ""};
  ::grpc::SslCredentialsOptions foreign{ReadAll(Pki("ca.crt")), ReadAll(*dir_ / "foreign.key"),
                                        ReadAll(*dir_ / "foreign.crt")};
  auto get = [](const ::grpc::SslCredentialsOptions& tls, const std::string& token) {
    auto stub = fedpb::Federation::NewStub(
        ::grpc::CreateChannel(*grpc_address_, ::grpc::SslCredentials(tls)));
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    fedpb::GetRequest req;
    req.mutable_resource()->set_version("v1");
    req.mutable_resource()->set_resource("namespaces");
    req.set_name("default");
    fedpb::ObjectResponse resp;
    return stub->Get(&ctx, req, &resp).error_code();
  };
  // gRPC re-reads the certificate files itself every 10 s and fails handshakes while they are
  // broken (the SIGHUP test writes a broken file before the renewed one): wait until it has
  // read the renewed pair.
  for (int i = 0; i < 150 && get(admin, "") != ::grpc::StatusCode::OK; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(get(admin, ""), ::grpc::StatusCode::OK);
  EXPECT_EQ(get(anonymous, "v1ewer-t0ken"), ::grpc::StatusCode::OK);
  EXPECT_EQ(get(anonymous, rsa_->Sign(Claims("alice@example.com"))), ::grpc::StatusCode::OK);
  EXPECT_EQ(get(anonymous, ""), ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(anonymous, "nope"), ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(foreign, ""), ::grpc::StatusCode::UNAVAILABLE);  // handshake refused
}
#endif

TEST(TlsExposureTest, NonLoopbackListenNeedsTlsAndAnAuthenticator) {
  const std::string bin = test_env::BinDir() + "/federation-apiserver";
  const std::string db =
      " --storage sqlite:" + (std::filesystem::temp_directory_path() /
                              ("meridian-exposure-" + std::to_string(getpid()) + ".db"))
                                 .string();
  struct Case {
    std::string flags;
    std::string want;
  } cases[] = {
      {"--listen 0.0.0.0:18443",
       "--listen 0.0.0.0:18443: not a loopback address; serving beyond loopback needs TLS and "
       "authentication: add --tls-cert-file and --tls-private-key-file (fedctl admin init "
       "writes them), and an authenticator: --client-ca-file, --token-auth-file or "
       "--oidc-issuer-url"},
      {"--listen 0.0.0.0:18443 --token-auth-file /dev/null",
       "add --tls-cert-file and --tls-private-key-file (fedctl admin init writes them)\n"},
      {"--listen 127.0.0.1:0 --grpc-listen 0.0.0.0:18444",
       "--grpc-listen 0.0.0.0:18444: not a loopback address"},
  };
  for (const Case& c : cases) {
    test_env::CommandResult r =
        test_env::RunCommand(bin + db + " --controllers none " + c.flags + " < /dev/null");
    EXPECT_EQ(r.exit_code, 1) << c.flags << ": " << r.output;
    EXPECT_NE(r.output.find(c.want), std::string::npos) << c.flags << ": " << r.output;
  }
  std::filesystem::remove(db.substr(db.find(':') + 1));
}

}  // namespace
}  // namespace meridian::apiserver

namespace meridian::apiserver {
namespace {

// A client certificate is an identity over REST too (CN = user, O = groups): RBAC grants it
// what its group is bound to, and the audit log names it with the connection's source IP.
TEST_F(TlsTest, ClientCertificateUsersGetTheirRbacRightsAndAreAudited) {
  const Timestamp now = std::chrono::system_clock::now();
  cli::KeyAndCertificate ca{ReadAll(Pki("ca.key")), ReadAll(Pki("ca.crt"))};
  auto carol = cli::IssueCertificate({.common_name = "carol",
                                      .organizations = {"shop-viewers"},
                                      .client_auth = true,
                                      .not_before = now - std::chrono::hours(1),
                                      .not_after = now + std::chrono::hours(1)},
                                     &ca);
  ASSERT_TRUE(carol.ok());
  std::ofstream(*dir_ / "carol.crt") << carol->certificate_pem;
  std::ofstream(*dir_ / "carol.key") << carol->key_pem;
  const std::filesystem::path audit = *dir_ / "audit-x509.log";
  test_env::ChildProcess rbac;
  std::string error;
  ASSERT_TRUE(
      rbac.Start({test_env::BinDir() + "/federation-apiserver", "--listen", "127.0.0.1:0",
                  "--storage", "sqlite:" + (*dir_ / "rbac.db").string(), "--controllers", "none",
                  "--tls-cert-file", Pki("apiserver.crt").string(), "--tls-private-key-file",
                  Pki("apiserver.key").string(), "--client-ca-file", Pki("ca.crt").string(),
                  "--authorization-mode", "RBAC", "--audit-log-path", audit.string()},
                 &error, (*dir_ / "rbac-stderr.log").string()))
      << error;
  const std::string url =
      rbac.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error);
  ASSERT_FALSE(url.empty()) << error;
  auto curl = [&](const std::string& who, const std::string& method, const std::string& path,
                  const std::string& body = "") {
    const std::string out = (*dir_ / "curl-x509.out").string();
    std::filesystem::remove(out);
    const std::string cert =
        who == "admin" ? Pki("admin.crt").string() : (*dir_ / (who + ".crt")).string();
    const std::string key =
        who == "admin" ? Pki("admin.key").string() : (*dir_ / (who + ".key")).string();
    std::string cmd = "curl -sS -o " + out + " -w '%{http_code}' --cacert " +
                      Pki("ca.crt").string() + " --cert " + cert + " --key " + key + " -X " +
                      method + " " + Quote(url + path);
    if (!body.empty()) cmd += " -H 'Content-Type: application/json' -d " + Quote(body);
    test_env::CommandResult r = test_env::RunCommand(cmd);
    Http h;
    h.raw = r.output;
    try {
      h.code = std::stoi(r.output.substr(r.output.size() >= 3 ? r.output.size() - 3 : 0));
    } catch (...) {
    }
    h.body = json::parse(ReadAll(out), nullptr, false);
    return h;
  };
  const json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", {{"name", "shop-viewers"}, {"namespace", "default"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
      {"subjects",
       {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", "shop-viewers"}}}}};
  Http h =
      curl("admin", "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
           binding.dump());
  ASSERT_EQ(h.code, 201) << h.raw << h.body.dump();

  auto fw = [](const std::string& ns) {
    return "/apis/federation.meridian.io/v1alpha1/namespaces/" + ns + "/federatedworkloads";
  };
  // The binding applies once the authorizer's watch has seen it.
  int listed = 0;
  for (int i = 0; i < 50 && listed != 200; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    listed = curl("carol", "GET", fw("default")).code;
  }
  EXPECT_EQ(listed, 200);
  h = curl("carol", "POST", fw("default"),
           R"({"apiVersion":"federation.meridian.io/v1alpha1","kind":"FederatedWorkload",)"
           R"("metadata":{"name":"w"}})");
  EXPECT_EQ(h.code, 403) << h.raw;
  EXPECT_NE(h.body.value("message", "")
                .find("User \"carol\" cannot create resource \"federatedworkloads\" in API group "
                      "\"federation.meridian.io\" in the namespace \"default\""),
            std::string::npos)
      << h.body.dump();
  EXPECT_EQ(curl("carol", "GET", fw("payments")).code, 403);
  rbac.Stop();

  // One ResponseComplete line per request, with carol, her verb, the code and 127.0.0.1.
  std::ifstream in(audit);
  std::vector<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object() || e["user"]["username"] != "carol") continue;
    EXPECT_EQ(e["sourceIPs"], json({"127.0.0.1"})) << line;
    const std::string ns = e.contains("objectRef") ? e["objectRef"].value("namespace", "") : "";
    seen.push_back(e.value("verb", "") + " " + e.value("stage", "") + " " + ns + " " +
                   std::to_string(e["responseStatus"].value("code", 0)));
  }
  for (const char* want :
       {"list ResponseComplete default 200", "create ResponseComplete default 403",
        "list ResponseComplete payments 403"}) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), want), 1) << want;
  }
}

// The issue's matrix as a new user meets it, with kubectl over TLS: the admin kubeconfig of
// `fedctl admin init`, a `view` user with a static token and an `edit` user with an OIDC ID
// token (RS256, signed by the test issuer's key), RBAC and the audit log on.
TEST_F(TlsTest, KubectlOverTlsWithTheAdminKubeconfigATokenAndAnOidcUser) {
  if (test_env::RunCommand("command -v kubectl").exit_code != 0) {
    GTEST_SKIP() << "kubectl is not installed on this machine";
  }
  test_env::ChildProcess rbac;
  std::string error;
  ASSERT_TRUE(rbac.Start({test_env::BinDir() + "/federation-apiserver",
                          "--listen",
                          "127.0.0.1:0",
                          "--storage",
                          "sqlite:" + (*dir_ / "kubectl.db").string(),
                          "--controllers",
                          "none",
                          "--tls-cert-file",
                          Pki("apiserver.crt").string(),
                          "--tls-private-key-file",
                          Pki("apiserver.key").string(),
                          "--client-ca-file",
                          Pki("ca.crt").string(),
                          "--token-auth-file",
                          Pki("tokens.csv").string(),
                          "--oidc-issuer-url",
                          kIssuer,
                          "--oidc-client-id",
                          "meridian",
                          "--oidc-jwks-file",
                          (*dir_ / "jwks.json").string(),
                          "--oidc-username-claim",
                          "email",
                          "--oidc-groups-claim",
                          "groups",
                          "--authorization-mode",
                          "RBAC",
                          "--audit-log-path",
                          (*dir_ / "audit-kubectl.log").string()},
                         &error, (*dir_ / "kubectl-stderr.log").string()))
      << error;
  const std::string url =
      rbac.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error);
  ASSERT_FALSE(url.empty()) << error;
  const std::string common = "kubectl --request-timeout=20s --cache-dir " +
                             (*dir_ / "kcache").string() + " --server " + url + " ";
  const std::string admin = common + "--kubeconfig " + Pki("admin.kubeconfig").string() + " ";
  const std::string anyone = common + "--kubeconfig /dev/null --certificate-authority " +
                             Pki("ca.crt").string() + " --token ";
  const std::string viewer = anyone + "v1ewer-t0ken ";
  const std::string editor = anyone + rsa_->Sign(Claims("edie@example.com")) + " ";
  auto run = [](const std::string& cmd) { return test_env::RunCommand(cmd + " 2>&1"); };
  // `kubectl auth can-i`'s answer: its last line (a warning may precede it, e.g. that a
  // cluster-scoped resource ignores the namespace).
  auto can_i = [&](const std::string& cmd) {
    std::string out = run(cmd).output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  };
  const json fw = {
      {"apiVersion", "federation.meridian.io/v1alpha1"},
      {"kind", "FederatedWorkload"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"template",
         {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", 2}}}}}}}};
  const std::string manifest = (*dir_ / "fw.json").string();
  std::ofstream(manifest) << fw.dump();

  // RBAC objects from kubectl's generators, which send protobuf bodies.
  for (const std::string& cmd :
       {std::string("create namespace shop"), std::string("create namespace payments"),
        std::string("create rolebinding viewers-view -n shop --clusterrole=view --group=viewers"),
        std::string("create rolebinding editors-edit -n shop --clusterrole=edit "
                    "--group=shop-editors")}) {
    test_env::CommandResult r = run(admin + cmd);
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
  }
  test_env::CommandResult r = run(admin + "get fw -A");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(can_i(admin + "auth can-i create residencypolicies"), "yes");
  // Bindings apply once their watch events reach the authorizer.
  for (int i = 0; i < 100; ++i) {
    if (can_i(viewer + "auth can-i list federatedworkloads -n shop") == "yes" &&
        can_i(editor + "auth can-i create federatedworkloads -n shop") == "yes") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // view: list yes, create no.
  r = run(viewer + "get fw -n shop");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run(viewer + "create -n shop -f " + manifest);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("User \"viewer\" cannot create resource \"federatedworkloads\" in API "
                          "group \"federation.meridian.io\" in the namespace \"shop\""),
            std::string::npos)
      << r.output;
  // edit (OIDC): create in shop, not in payments; no ResidencyPolicies; no meridian-system
  // Secrets; cannot make itself cluster-admin.
  r = run(editor + "create -n shop -f " + manifest);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run(editor + "create -n payments -f " + manifest);
  EXPECT_NE(r.output.find("User \"edie@example.com\" cannot create resource "
                          "\"federatedworkloads\""),
            std::string::npos)
      << r.output;
  EXPECT_EQ(can_i(editor + "auth can-i create residencypolicies"), "no");
  r = run(editor + "get secrets -n meridian-system");
  EXPECT_NE(r.output.find("Forbidden"), std::string::npos) << r.output;
  r = run(editor +
          "create clusterrolebinding edie-root --clusterrole=cluster-admin "
          "--user=edie@example.com");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("User \"edie@example.com\" cannot create resource "
                          "\"clusterrolebindings\""),
            std::string::npos)
      << r.output;
  // Bad credentials: an unknown token, an expired or foreign-signed ID token.
  json expired = Claims("edie@example.com");
  expired["exp"] = Now() - 60;
  JwtSigner stranger(JwtSigner::Alg::kRS256, "rsa");  // same kid, another key
  for (const std::string& token : {std::string("n0-such-t0ken"), rsa_->Sign(expired),
                                   stranger.Sign(Claims("edie@example.com"))}) {
    r = run(anyone + token + " get fw -n shop");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("Unauthorized"), std::string::npos) << r.output;
  }
  rbac.Stop();

  // The audit log: the editor's create in shop, once, with its code; no credential.
  std::ifstream in(*dir_ / "audit-kubectl.log");
  int creates = 0;
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object() || e["user"]["username"] != "edie@example.com") continue;
    const json ref = e.value("objectRef", json::object());
    creates += e["verb"] == "create" && ref.value("resource", "") == "federatedworkloads" &&
               ref.value("namespace", "") == "shop" && e["responseStatus"]["code"] == 201;
  }
  EXPECT_EQ(creates, 1);
}

}  // namespace
}  // namespace meridian::apiserver
