// The metrics-only listener of meridian-dns and federation-controller-manager: plain HTTP only
// on loopback; anywhere else only with HTTPS and client certificates, which it then requires
// (a throwaway PKI generated in-process; curl as the scraper).
#include "observability/metrics_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test/common/child_process.h"
#include "test/sync/test_certs.h"

namespace meridian::observability {
namespace {

using sync::testing::KeyAndCert;
using sync::testing::MakeCert;
using ::testing::HasSubstr;

TEST(MetricsServerTest, PlainHttpOnlyOnLoopback) {
  for (const char* bad : {"0.0.0.0:0", "10.1.2.3:9153", "[::]:0", "example.com:9153"}) {
    auto s = StartMetricsServer({.listen = bad}, "--metrics-listen");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), HasSubstr("not a loopback address"));
    EXPECT_THAT(s.status().message(), HasSubstr("--metrics-listen-client-ca-file"));
  }
  for (const char* malformed : {"9153", "127.0.0.1:", "127.0.0.1:99999", ":9153"}) {
    auto s = StartMetricsServer({.listen = malformed}, "--metrics-listen");
    ASSERT_FALSE(s.ok()) << malformed;
    EXPECT_THAT(s.status().message(), HasSubstr("is not HOST:PORT")) << malformed;
  }
  auto ok = StartMetricsServer({.listen = "127.0.0.1:0"}, "--metrics-listen");
  ASSERT_TRUE(ok.ok()) << ok.status();
  test_env::CommandResult r = test_env::RunCommand("curl -fsS " + (*ok)->url() + "/metrics");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("process_"));
}

class MetricsTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-metrics-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    ca_ = MakeCert("scrape-ca", nullptr, "", true, 1);
    other_ca_ = MakeCert("other-ca", nullptr, "", true, 2);
    server_ = MakeCert("meridian-dns", &ca_, "IP:127.0.0.1", false, 3);
    prometheus_ = MakeCert("prometheus", &ca_, "", false, 4);
    intruder_ = MakeCert("intruder", &other_ca_, "", false, 5);
    Write("ca.crt", ca_.cert_pem);
    Write("server.crt", server_.cert_pem);
    Write("server.key", server_.key_pem);
    Write("prometheus.crt", prometheus_.cert_pem);
    Write("prometheus.key", prometheus_.key_pem);
    Write("intruder.crt", intruder_.cert_pem);
    Write("intruder.key", intruder_.key_pem);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  MetricsServerOptions Tls() const {
    return {.listen = "127.0.0.1:0",
            .tls_cert_file = Path("server.crt"),
            .tls_key_file = Path("server.key"),
            .client_ca_file = Path("ca.crt")};
  }
  // curl's exit code and output for GET /metrics with the given client certificate ("" none).
  test_env::CommandResult Scrape(const std::string& url, const std::string& who) {
    std::string cmd = "curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --cacert " +
                      Path("ca.crt") + " " + url + "/metrics";
    if (!who.empty()) cmd += " --cert " + Path(who + ".crt") + " --key " + Path(who + ".key");
    return test_env::RunCommand(cmd + " 2>&1");
  }

  std::filesystem::path dir_;
  KeyAndCert ca_, other_ca_, server_, prometheus_, intruder_;
};

TEST_F(MetricsTlsTest, OnlyScrapersWithACertificateFromTheClientCaGetMetrics) {
  auto server = StartMetricsServer(Tls(), "--metrics-listen");
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();
  EXPECT_EQ(url.rfind("https://127.0.0.1:", 0), 0u) << url;
  test_env::CommandResult ok = Scrape(url, "prometheus");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, "200");
  test_env::CommandResult none = Scrape(url, "");
  EXPECT_NE(none.exit_code, 0) << "no client certificate: " << none.output;
  test_env::CommandResult foreign = Scrape(url, "intruder");
  EXPECT_NE(foreign.exit_code, 0) << "a certificate from another CA: " << foreign.output;
  test_env::CommandResult plain =
      test_env::RunCommand("curl -sS --max-time 5 http://" + url.substr(8) + "/metrics 2>&1");
  EXPECT_THAT(plain.output, ::testing::Not(HasSubstr("process_"))) << "plain HTTP on the TLS port";
}

TEST_F(MetricsTlsTest, IncompleteOrUnusableTlsIsAClearError) {
  MetricsServerOptions partial = Tls();
  partial.client_ca_file.clear();
  auto s = StartMetricsServer(partial, "--metrics-listen");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("go together"));

  MetricsServerOptions missing = Tls();
  missing.tls_key_file = Path("nope.key");
  s = StartMetricsServer(missing, "--metrics-listen");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("nope.key"));

  MetricsServerOptions mismatched = Tls();
  mismatched.tls_key_file = Path("prometheus.key");  // not the certificate's key
  s = StartMetricsServer(mismatched, "--metrics-listen");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("prometheus.key"));
}

}  // namespace
}  // namespace meridian::observability
