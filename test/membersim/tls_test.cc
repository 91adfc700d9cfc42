// Client-certificate and token authentication on a cluster's dedicated HTTPS port, with a
// real PKI made in the test, spoken to by Meridian's own member client (and kubectl when
// installed). A missing or foreign client certificate fails the TLS handshake (server.h says
// why it is not a 401 as with kube-apiserver); a missing token is a 401 Status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
// After gtest: cpprestsdk defines a U() macro that clashes with gtest's template parameters.
#include <cpprest/http_client.h>
#undef U

#include "sync/http_member_client.h"
#include "test/common/child_process.h"
#include "test/membersim/process.h"
#include "test/membersim/test_pki.h"

namespace meridian::membersim {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki();
    proc_ = new testing::MembersimProcess();
    std::string tls = "tls: {cert: " + pki_->server_cert + ", key: " + pki_->server_key + "}";
    std::string config = R"(
defaults: {podReadyDelay: 100ms}
clusters:
  - name: mtls-1
    region: eu-west
    port: 0
    )" + tls + R"(
    auth: {clientCA: )" + pki_->client_ca +
                         R"(}
    zones: [{name: mtls-1a, nodes: 1}]
  - name: token-1
    region: eu-west
    port: 0
    )" + tls + R"(
    auth: {token: t0ken}
    zones: [{name: token-1a, nodes: 1}]
  - name: both-1
    region: eu-west
    port: 0
    )" + tls + R"(
    auth: {token: t0ken, clientCA: )" +
                         pki_->client_ca + R"(}
    zones: [{name: both-1a, nodes: 1}]
)";
    std::string err;
    if (!proc_->Start(config, {}, &err)) start_error_ = err;
  }
  static void TearDownTestSuite() {
    delete proc_;
    delete pki_;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

  struct Pki {
    testing::Identity server_ca = testing::Issue("server-ca", nullptr);
    testing::Identity client_ca_id = testing::Issue("client-ca", nullptr);
    testing::Identity foreign_ca = testing::Issue("someone-elses-ca", nullptr);
    testing::Identity server = testing::Issue("membersim", &server_ca, "serverAuth");
    testing::Identity client = testing::Issue("meridian", &client_ca_id, "clientAuth");
    testing::Identity foreign_client = testing::Issue("meridian", &foreign_ca, "clientAuth");
    testing::PemFolder folder;
    std::string server_cert = folder.Write("server.crt", server.cert_pem);
    std::string server_key = folder.Write("server.key", server.key_pem);
    std::string client_ca = folder.Write("client-ca.crt", client_ca_id.cert_pem);
  };

  // Lists nodes of `cluster` on its dedicated port with Meridian's member client.
  static Status ListNodes(const std::string& cluster, const testing::Identity* client_cert,
                          const std::string& token, const std::string& trusted_ca_pem = "") {
    sync::MemberEndpoint ep;
    ep.name = cluster;
    ep.server = proc_->Dedicated(cluster);
    ep.timeout = std::chrono::seconds(10);
    ep.credentials.certificate_authority_pem =
        trusted_ca_pem.empty() ? pki_->server_ca.cert_pem : trusted_ca_pem;
    ep.credentials.bearer_token = token;
    if (client_cert) {
      ep.credentials.client_certificate_pem = client_cert->cert_pem;
      ep.credentials.client_key_pem = client_cert->key_pem;
    }
    auto client = sync::HttpMemberClient::Create(ep);
    if (!client.ok()) return client.status();
    auto nodes = (*client)->List({"", "v1", "nodes"}, "");
    if (!nodes.ok()) return nodes.status();
    if (nodes->items.size() != 1)
      return InternalError("want 1 node, got " + std::to_string(nodes->items.size()));
    return Status::Ok();
  }

  static Pki* pki_;
  static testing::MembersimProcess* proc_;
  static std::string start_error_;
};
TlsTest::Pki* TlsTest::pki_ = nullptr;
testing::MembersimProcess* TlsTest::proc_ = nullptr;
std::string TlsTest::start_error_;

// How each credential combination fares: accepted, refused in the handshake (a transport
// error, nothing served), or answered 401.
TEST_F(TlsTest, CredentialsAreCheckedPerCluster) {
  enum class Want { kOk, kHandshakeFails, kUnauthorized };
  struct Case {
    std::string name;
    std::string cluster;
    const testing::Identity* cert;
    std::string token;
    Want want;
  };
  const std::vector<Case> cases = {
      {"client cert from the CA", "mtls-1", &pki_->client, "", Want::kOk},
      {"no client cert", "mtls-1", nullptr, "", Want::kHandshakeFails},
      {"client cert from another CA", "mtls-1", &pki_->foreign_client, "", Want::kHandshakeFails},
      {"self-signed client cert", "mtls-1", &pki_->foreign_ca, "", Want::kHandshakeFails},
      {"a token does not replace the cert", "mtls-1", nullptr, "t0ken", Want::kHandshakeFails},
      {"token over TLS", "token-1", nullptr, "t0ken", Want::kOk},
      {"wrong token over TLS", "token-1", nullptr, "nope", Want::kUnauthorized},
      {"no token over TLS", "token-1", nullptr, "", Want::kUnauthorized},
      {"both: cert and token", "both-1", &pki_->client, "t0ken", Want::kOk},
      {"both: cert without token", "both-1", &pki_->client, "", Want::kUnauthorized},
      {"both: token without cert", "both-1", nullptr, "t0ken", Want::kHandshakeFails},
  };
  for (const Case& c : cases) {
    Status st = ListNodes(c.cluster, c.cert, c.token);
    switch (c.want) {
      case Want::kOk:
        EXPECT_TRUE(st.ok()) << c.name << ": " << st.ToString();
        break;
      case Want::kUnauthorized:
        EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << c.name << ": " << st.ToString();
        EXPECT_THAT(st.message(), HasSubstr("Unauthorized")) << c.name;
        break;
      case Want::kHandshakeFails:
        EXPECT_FALSE(st.ok()) << c.name;
        EXPECT_NE(st.code(), StatusCode::kUnauthenticated) << c.name << ": " << st.ToString();
        EXPECT_NE(st.code(), StatusCode::kInternal) << c.name << ": " << st.ToString();
        break;
    }
  }
}

TEST_F(TlsTest, ServerCertificateIsVerifiedByTheClient) {
  EXPECT_TRUE(ListNodes("mtls-1", &pki_->client, "").ok());
  // Trusting another CA, the client refuses the server: the TLS is real on both sides.
  EXPECT_FALSE(ListNodes("mtls-1", &pki_->client, "", pki_->foreign_ca.cert_pem).ok());
  EXPECT_EQ(proc_->Dedicated("mtls-1").rfind("https://127.0.0.1:", 0), 0u);
}

// The shared listener is plain HTTP: a client-CA cluster answers 401 there, except the
// anonymous health and version paths.
TEST_F(TlsTest, SharedPathOfAClientCaClusterIsUnauthorized) {
  struct Case {
    std::string path;
    int code;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/nodes", 401}, {"/apis/apps/v1", 401}, {"/healthz", 200}, {"/version", 200}}) {
    web::http::client::http_client client(proc_->url());
    auto resp = client.request(web::http::methods::GET, "/clusters/mtls-1" + c.path).get();
    EXPECT_EQ(resp.status_code(), c.code) << c.path;
    if (c.code == 401) {
      EXPECT_THAT(resp.extract_utf8string(true).get(), HasSubstr("\"reason\":\"Unauthorized\""))
          << c.path;
    }
  }
}

TEST_F(TlsTest, KubectlWithClientCertificates) {
  if (access("/usr/bin/kubectl", X_OK) != 0)
    GTEST_SKIP() << "kubectl not installed at /usr/bin/kubectl";
  testing::PemFolder files;
  std::string ca = files.Write("ca.crt", pki_->server_ca.cert_pem);
  std::string crt = files.Write("me.crt", pki_->client.cert_pem);
  std::string key = files.Write("me.key", pki_->client.key_pem);
  std::string foreign_crt = files.Write("other.crt", pki_->foreign_client.cert_pem);
  std::string foreign_key = files.Write("other.key", pki_->foreign_client.key_pem);
  std::string k = "/usr/bin/kubectl --server " + proc_->Dedicated("mtls-1") +
                  " --certificate-authority " + ca + " ";
  test_env::CommandResult ok = test_env::RunCommand(k + "--client-certificate " + crt +
                                                    " --client-key " + key + " get nodes");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, ::testing::ContainsRegex("mtls-1a-node-0 +Ready"));
  // Without any credential kubectl would prompt for a user name; a token is not a certificate.
  test_env::CommandResult none = test_env::RunCommand(k + "--token unused get nodes");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.output, HasSubstr("tls:"));
  test_env::CommandResult foreign = test_env::RunCommand(
      k + "--client-certificate " + foreign_crt + " --client-key " + foreign_key + " get nodes");
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_THAT(foreign.output, HasSubstr("tls:"));
}

}  // namespace
}  // namespace meridian::membersim
