// The prometheus gate's HTTP call (rollout/prometheus_client.h) against Debian's real
// Prometheus server scraping an exposition this test serves (a number, Prometheus' own error
// for a query it refuses, no series), and against a stub API that records what the client sent
// (the encoded query, the bearer token read from its file before every query); bad flags are
// refused at Create naming the flag, and an unreachable server is kUnavailable naming the URL.
#include "rollout/prometheus_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "test/common/e2e_federation.h"
#include "test/common/http_stub.h"
#include "test/common/prometheus_server.h"

namespace meridian::rollout {
namespace {

class PrometheusClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-prometheus-client-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<PrometheusClient> Client(PrometheusOptions options) {
    StatusOr<std::unique_ptr<PrometheusClient>> c = PrometheusClient::Create(options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c.value()) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(PrometheusClientTest, AsksARealPrometheus) {
  if (!test_env::PrometheusServer::Installed()) {
    GTEST_SKIP() << test_env::PrometheusServer::kBinary << " not found: install prometheus";
  }
  test_env::HttpStub exposition;
  exposition.Answer(200, "# TYPE shop_web_error_ratio gauge\nshop_web_error_ratio 0.25\n",
                    "text/plain; version=0.0.4");
  test_env::PrometheusServer prometheus;
  std::string error;
  ASSERT_TRUE(prometheus.Start(dir_, exposition.port(), &error)) << error;
  ASSERT_TRUE(prometheus.WaitForValue("max(shop_web_error_ratio)", 0.25));
  std::unique_ptr<PrometheusClient> client = Client({.url = prometheus.url()});
  ASSERT_NE(client, nullptr);

  StatusOr<double> value = client->Query("max(shop_web_error_ratio)");
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(value.value(), 0.25);
  value = client->Query("scalar(shop_web_error_ratio) * 4");
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(value.value(), 1.0);

  // Prometheus' own refusal, quoted with the server it came from.
  StatusOr<double> refused = client->Query("rate(shop_web_error_ratio)");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(prometheus.url() +
                                            ": Prometheus answered HTTP 400: bad_data: "),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("range vector"), std::string::npos)
      << refused.status().message();
  StatusOr<double> none = client->Query("shop_web_error_ratio{job=\"nobody\"}");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("the query returned no series"), std::string::npos)
      << none.status().message();
  StatusOr<double> nan = client->Query("shop_web_error_ratio - shop_web_error_ratio + (0 / 0)");
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("the value is NaN"), std::string::npos)
      << nan.status().message();
}

TEST_F(PrometheusClientTest, SendsTheEncodedQueryAndTheTokenReadBeforeEveryQuery) {
  test_env::HttpStub api;
  api.Answer(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}})");
  const std::filesystem::path token = dir_ / "token";
  test_env::WriteFile(token, "s3cret\n");
  std::unique_ptr<PrometheusClient> client =
      Client({.url = api.url() + "/prom", .bearer_token_file = token.string()});
  ASSERT_NE(client, nullptr);
  StatusOr<double> value = client->Query("sum(up{job=\"a b\"})");
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(value.value(), 3.0);
  const std::string sent = api.LastRequest();
  // Under the base path; what a query may not carry is percent-encoded ("(" may stay).
  EXPECT_EQ(sent.rfind("GET /prom/api/v1/query?query=sum(up%7Bjob%3D%22a%20b%22%7D) HTTP/1.1", 0),
            0u)
      << sent;
  EXPECT_TRUE(std::regex_search(sent, std::regex("\r\nAuthorization: ?Bearer s3cret(\r\n|$)")))
      << sent;

  test_env::WriteFile(token, "rotated");  // picked up by the next query
  ASSERT_TRUE(client->Query("up").ok());
  EXPECT_TRUE(std::regex_search(api.LastRequest(),
                                std::regex("\r\nAuthorization: ?Bearer rotated(\r\n|$)")))
      << api.LastRequest();

  std::filesystem::remove(token);  // unreadable now: no query is sent without it
  StatusOr<double> no_token = client->Query("up");
  ASSERT_FALSE(no_token.ok());
  EXPECT_EQ(no_token.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(no_token.status().message().find("--prometheus-bearer-token-file"), std::string::npos)
      << no_token.status().message();
}

TEST_F(PrometheusClientTest, BadFlagsAreRefusedNamingTheFlag) {
  test_env::WriteFile(dir_ / "empty", "\n");
  test_env::WriteFile(dir_ / "not-pem", "hello");
  const std::vector<std::pair<PrometheusOptions, std::string>> cases = {
      {{.url = "prometheus:9090"}, "--prometheus-url \"prometheus:9090\": must be an http(s) URL"},
      {{.url = "http://127.0.0.1:9090", .bearer_token_file = (dir_ / "missing").string()},
       "--prometheus-bearer-token-file " + (dir_ / "missing").string() + ": cannot be read"},
      {{.url = "http://127.0.0.1:9090", .bearer_token_file = (dir_ / "empty").string()},
       "--prometheus-bearer-token-file " + (dir_ / "empty").string() + ": is empty"},
      {{.url = "https://127.0.0.1:9090", .ca_file = (dir_ / "missing").string()},
       "--prometheus-ca-file " + (dir_ / "missing").string() + ": cannot be read"},
      {{.url = "https://127.0.0.1:9090", .ca_file = (dir_ / "not-pem").string()},
       "no PEM certificate found"},
  };
  for (const auto& [options, message] : cases) {
    StatusOr<std::unique_ptr<PrometheusClient>> c = PrometheusClient::Create(options);
    ASSERT_FALSE(c.ok()) << message;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << message;
    EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status().message();
  }
}

TEST_F(PrometheusClientTest, AnUnreachableServerIsUnavailableNamingIt) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test_env::FreeLoopbackPort());
  std::unique_ptr<PrometheusClient> client = Client({.url = url});
  ASSERT_NE(client, nullptr);
  StatusOr<double> value = client->Query("up");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), StatusCode::kUnavailable) << value.status().ToString();
  EXPECT_EQ(value.status().message().rfind(url + ": ", 0), 0u) << value.status().message();
}

}  // namespace
}  // namespace meridian::rollout
