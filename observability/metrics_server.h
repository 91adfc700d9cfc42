// A metrics-only HTTP listener for the binaries that serve no API of their own
// (meridian-dns, federation-controller-manager): GET /metrics answers ExpositionText();
// /healthz answers "ok"; anything else is 404. Without TLS it has no authentication, so it
// listens only on a loopback address; on any other address it must be given a serving
// certificate and a client CA, and then only scrapers presenting a certificate that CA signed
// get an answer (Prometheus' tls_config cert_file/key_file; the handshake refuses the rest).
// The federation-apiserver serves /metrics behind its own authentication and RBAC instead.
#pragma once

#include <memory>
#include <string>

#include "apimachinery/rest/http_server.h"
#include "common/status.h"

namespace meridian::observability {

// The /metrics answer every Meridian HTTP server gives (text exposition, 200; 405 for a
// method other than GET or HEAD).
apimachinery::rest::RestResponse MetricsResponse(const apimachinery::rest::RestRequest& request);

struct MetricsServerOptions {
  std::string listen;  // "HOST:PORT" (port 0 picks a free one; url() says which)
  // All three or none: HTTPS with client certificates required (files read at start, so a
  // bad file is a startup error naming it).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string client_ca_file;
};

// Serves /metrics as configured. `flag` names the listen option in errors (the TLS flags
// are named "<flag>-tls-cert-file", "-tls-private-key-file", "-client-ca-file"):
// kInvalidArgument for a malformed address, a non-loopback address without TLS, an
// incomplete TLS trio or unusable files; kUnavailable when it cannot be bound.
StatusOr<std::unique_ptr<apimachinery::rest::HttpServer>> StartMetricsServer(
    const MetricsServerOptions& options, const std::string& flag);

}  // namespace meridian::observability
