// The observability flags a binary registers with CLI11, written once: the metrics-only
// listener (meridian-dns, federation-controller-manager) and the log flags (every server:
// federation-apiserver, federation-controller-manager, membersim, meridian-dns). Header-only,
// so the libraries need no CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "observability/metrics_server.h"

namespace meridian::observability {

// --metrics-listen and its TLS trio into `options`; `example` is the usual address
// ("127.0.0.1:9153").
inline void AddMetricsListenFlags(CLI::App& app, MetricsServerOptions* options,
                                  const std::string& example) {
  app.add_option("--metrics-listen", options->listen,
                 "HOST:PORT serving Prometheus /metrics, e.g. " + example +
                     " (port 0 picks one). Without TLS only a loopback address: the exposition "
                     "has no authentication");
  app.add_option("--metrics-listen-tls-cert-file", options->tls_cert_file,
                 "Serving certificate (PEM) for --metrics-listen over HTTPS");
  app.add_option("--metrics-listen-tls-private-key-file", options->tls_key_file,
                 "Its private key (PEM)");
  app.add_option("--metrics-listen-client-ca-file", options->client_ca_file,
                 "CA (PEM) whose client certificates may scrape; required with TLS");
}

struct LogFlags {
  std::string level = "info";
  std::string format = "text";
  int verbosity = -1;  // -v; -1 when not given
};

// --log-level, --log-format and -v into `flags` (ConfigureLogging takes them).
inline void AddLogFlags(CLI::App& app, LogFlags* flags) {
  app.add_option("--log-level", flags->level, "trace|debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", flags->format,
                 "text, or json: one JSON object per line (ts, level, component, msg, fields)")
      ->capture_default_str();
  app.add_option("-v,--v", flags->verbosity,
                 "Kubernetes-style verbosity, overrides --log-level: 0-3 info, 4-5 debug, 6+ trace")
      ->check(CLI::Range(0, 10));
}

}  // namespace meridian::observability
