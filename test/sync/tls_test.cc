// HttpMemberClient over HTTPS against a cpprestsdk listener with a throwaway PKI: CA pinning,
// host name verification, mutual TLS, and the explicit insecure mode.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>

#include "sync/http_member_client.h"
#include "test/sync/test_certs.h"

namespace meridian::sync {
namespace {

using testing::KeyAndCert;
using testing::MakeCert;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

struct Pki {
  KeyAndCert ca = MakeCert("meridian-test-ca", nullptr, "", true, 1);
  KeyAndCert other_ca = MakeCert("someone-else-ca", nullptr, "", true, 2);
  KeyAndCert server = MakeCert("member-apiserver", &ca, "IP:127.0.0.1,DNS:localhost", false, 3);
  KeyAndCert wrong_host = MakeCert("member-apiserver", &ca, "IP:127.0.0.2", false, 4);
  KeyAndCert client = MakeCert("meridian-controller", &ca, "", false, 5);
  KeyAndCert foreign_client = MakeCert("intruder", &other_ca, "", false, 6);
};

const Pki& TestPki() {
  static const Pki* pki = new Pki();
  return *pki;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// An HTTPS member answering GET .../healthz with "ok" and anything else with a Namespace.
class TlsMember {
 public:
  TlsMember(const KeyAndCert& server_cert, bool require_client_cert) {
    const std::string ca = TestPki().ca.cert_pem;
    const KeyAndCert cert = server_cert;
    for (int attempt = 0; attempt < 20 && !listener_; ++attempt) {
      port_ = FreePort();
      http_listener_config config;
      config.set_ssl_context_callback([cert, ca, require_client_cert](boost::asio::ssl::context& ctx) {
        ctx.use_certificate_chain(boost::asio::buffer(cert.cert_pem));
        ctx.use_private_key(boost::asio::buffer(cert.key_pem), boost::asio::ssl::context::pem);
        if (require_client_cert) {
          ctx.set_verify_mode(boost::asio::ssl::verify_peer |
                              boost::asio::ssl::verify_fail_if_no_peer_cert);
          ctx.add_certificate_authority(boost::asio::buffer(ca));
        }
      });
      try {
        auto l = std::make_unique<http_listener>(
            web::uri("https://127.0.0.1:" + std::to_string(port_)), config);
        l->support([](web::http::http_request req) {
          pplx::task<void> replied =
              req.request_uri().path() == "/base/healthz"
                  ? req.reply(200, "ok", "text/plain")
                  : req.reply(200,
                              nlohmann::json{{"kind", "Namespace"},
                                             {"apiVersion", "v1"},
                                             {"metadata", {{"name", "default"}}}}
                                  .dump(),
                              "application/json");
          replied.then([](pplx::task<void> t) {
            try {
              t.get();
            } catch (const std::exception&) {
              // The client went away.
            }
          });
        });
        l->open().wait();
        listener_ = std::move(l);
      } catch (const std::exception&) {
        // Port taken between probe and bind: try another.
      }
    }
    EXPECT_NE(listener_, nullptr);
  }
  ~TlsMember() {
    if (listener_) {
      try {
        listener_->close().wait();
      } catch (const std::exception&) {
      }
    }
  }

  MemberEndpoint Endpoint(MemberCredentials creds) const {
    MemberEndpoint e;
    e.name = "tls-1";
    e.server = "https://127.0.0.1:" + std::to_string(port_) + "/base";
    e.credentials = std::move(creds);
    e.timeout = std::chrono::milliseconds(3000);
    return e;
  }

 private:
  int port_ = 0;
  std::unique_ptr<http_listener> listener_;
};

Status GetDefault(const MemberEndpoint& e) {
  auto client = HttpMemberClient::Create(e);
  if (!client.ok()) return client.status();
  StatusOr<nlohmann::json> ns = (*client)->Get({"", "v1", "namespaces"}, "", "default");
  if (ns.ok() && (*ns)["metadata"]["name"] != "default") return InternalError("wrong answer");
  return ns.status();
}

TEST(HttpMemberClientTlsTest, VerifiesTheServerWithTheGivenCa) {
  const Pki& pki = TestPki();
  TlsMember member(pki.server, /*require_client_cert=*/false);
  struct Case {
    std::string name;
    MemberCredentials creds;
    StatusCode want;
  };
  const std::vector<Case> cases = {
      {"pinned-ca", {.certificate_authority_pem = pki.ca.cert_pem}, StatusCode::kOk},
      {"other-ca", {.certificate_authority_pem = pki.other_ca.cert_pem}, StatusCode::kUnavailable},
      {"system-roots", {}, StatusCode::kUnavailable},
      {"insecure", {.insecure_skip_tls_verify = true}, StatusCode::kOk},
      {"insecure-with-wrong-ca",
       {.certificate_authority_pem = pki.other_ca.cert_pem, .insecure_skip_tls_verify = true},
       StatusCode::kOk},
  };
  for (const Case& c : cases) {
    Status s = GetDefault(member.Endpoint(c.creds));
    EXPECT_EQ(s.code(), c.want) << c.name << ": " << s;
    if (!s.ok()) {
      EXPECT_NE(s.message().find("tls-1"), std::string::npos) << s;
    }
  }
}

TEST(HttpMemberClientTlsTest, ChecksTheHostName) {
  const Pki& pki = TestPki();
  TlsMember member(pki.wrong_host, false);
  EXPECT_EQ(GetDefault(member.Endpoint({.certificate_authority_pem = pki.ca.cert_pem})).code(),
            StatusCode::kUnavailable);
  EXPECT_TRUE(GetDefault(member.Endpoint({.insecure_skip_tls_verify = true})).ok());
}

TEST(HttpMemberClientTlsTest, PresentsTheClientCertificate) {
  const Pki& pki = TestPki();
  TlsMember member(pki.server, /*require_client_cert=*/true);
  MemberCredentials mtls{.client_certificate_pem = pki.client.cert_pem,
                         .client_key_pem = pki.client.key_pem,
                         .certificate_authority_pem = pki.ca.cert_pem};
  Status ok = GetDefault(member.Endpoint(mtls));
  EXPECT_TRUE(ok.ok()) << ok;
  auto client = HttpMemberClient::Create(member.Endpoint(mtls));
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Healthz().ok());

  EXPECT_EQ(GetDefault(member.Endpoint({.certificate_authority_pem = pki.ca.cert_pem})).code(),
            StatusCode::kUnavailable);
  MemberCredentials foreign{.client_certificate_pem = pki.foreign_client.cert_pem,
                            .client_key_pem = pki.foreign_client.key_pem,
                            .certificate_authority_pem = pki.ca.cert_pem};
  EXPECT_EQ(GetDefault(member.Endpoint(foreign)).code(), StatusCode::kUnavailable);
}

TEST(HttpMemberClientTlsTest, RejectsAKeyThatDoesNotMatchTheCertificate) {
  const Pki& pki = TestPki();
  MemberEndpoint e;
  e.name = "m";
  e.server = "https://127.0.0.1:6443";
  e.credentials.client_certificate_pem = pki.client.cert_pem;
  e.credentials.client_key_pem = pki.foreign_client.key_pem;
  auto client = HttpMemberClient::Create(e);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("does not match"), std::string::npos) << client.status();
}

}  // namespace
}  // namespace meridian::sync
