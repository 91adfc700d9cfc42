// Debian's real Prometheus server (/usr/bin/prometheus, installed by scripts/setup.sh) for
// tests: started on a free loopback port with a temporary config that scrapes one target every
// 250 ms, its TSDB and log in the caller's directory; stopped when destroyed.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"

namespace meridian::test_env {

class PrometheusServer {
 public:
  static constexpr char kBinary[] = "/usr/bin/prometheus";
  static bool Installed() { return access(kBinary, X_OK) == 0; }

  // Starts it scraping http://127.0.0.1:<target_port>/metrics (job "web") and waits until it
  // is ready (30 s). False with `error` (and its log) otherwise.
  bool Start(const std::filesystem::path& dir, int target_port, std::string* error) {
    std::filesystem::create_directories(dir / "tsdb");
    WriteFile(dir / "prometheus.yml",
              "global: {scrape_interval: 250ms, scrape_timeout: 200ms, evaluation_interval: 1s}\n"
              "scrape_configs:\n  - job_name: web\n    static_configs:\n"
              "      - targets: ['127.0.0.1:" +
                  std::to_string(target_port) + "']\n");
    const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    url_ = "http://" + address;
    const std::string log = (dir / "prometheus.log").string();
    if (!process_.Start({kBinary, "--config.file=" + (dir / "prometheus.yml").string(),
                         "--storage.tsdb.path=" + (dir / "tsdb").string(),
                         "--web.listen-address=" + address, "--log.level=warn"},
                        error, log)) {
      return false;
    }
    if (!PollUntil(std::chrono::milliseconds(30'000), std::chrono::milliseconds(100), [&] {
          return RunCommand("curl -fsS --max-time 2 " + url_ + "/-/ready").exit_code == 0;
        })) {
      *error = "prometheus not ready within 30 s: " + ReadFile(log);
      return false;
    }
    return true;
  }

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT

  // Waits (10 s) until the instant query `query` answers one sample equal to `value`.
  bool WaitForValue(const std::string& query, double value) {
    return PollUntil(std::chrono::milliseconds(10'000), std::chrono::milliseconds(100), [&] {
      nlohmann::json answer = GetJson(url_ + "/api/v1/query?query=" + query);
      const nlohmann::json& result =
          answer.is_object() ? answer["data"]["result"] : nlohmann::json();
      return result.is_array() && result.size() == 1 &&
             std::stod(result[0]["value"][1].get<std::string>()) == value;
    });
  }

 private:
  ChildProcess process_;
  std::string url_;
};

}  // namespace meridian::test_env
