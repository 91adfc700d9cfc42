// The thin I/O shell of the prometheus gate (rollout/prometheus_gate.h): one instant query
// against Prometheus' HTTP API (GET <url>/api/v1/query?query=...), its answer read by
// ParsePrometheusAnswer. The controller manager makes one from --prometheus-url,
// --prometheus-bearer-token-file and --prometheus-ca-file (federation-apiserver/controllers/
// rollout.cc) and the rollout controller calls it from its worker.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace meridian::rollout {

struct PrometheusOptions {
  std::string url;  // http(s)://host:port, may carry a base path (".../prometheus")
  // Read before every query (a rotated token is picked up, as Prometheus' own
  // bearer_token_file is): sent as "Authorization: Bearer <its content, trimmed>".
  std::string bearer_token_file;
  // PEM roots to verify an https server with (only these are trusted); empty: the system's.
  std::string ca_file;
  std::chrono::milliseconds timeout{5000};  // per query: connect, request and whole answer
};

class PrometheusClient {
 public:
  // Errors (kInvalidArgument, naming the flag): the URL is not http(s), the token file cannot
  // be read or is empty, the CA file cannot be read or holds no PEM certificate.
  static StatusOr<std::unique_ptr<PrometheusClient>> Create(const PrometheusOptions& options);
  ~PrometheusClient();
  PrometheusClient(const PrometheusClient&) = delete;
  PrometheusClient& operator=(const PrometheusClient&) = delete;

  // Evaluates `query` at Prometheus' present time and returns its one number. Blocks up to the
  // timeout. Errors: kUnavailable / kDeadlineExceeded for a transport failure or an unreadable
  // token file, else ParsePrometheusAnswer's (every one names the URL). Not thread-safe.
  StatusOr<double> Query(const std::string& query);

  const std::string& url() const { return options_.url; }

 private:
  struct Http;
  PrometheusClient(PrometheusOptions options, std::unique_ptr<Http> http);
  PrometheusOptions options_;
  std::unique_ptr<Http> http_;
};

}  // namespace meridian::rollout
