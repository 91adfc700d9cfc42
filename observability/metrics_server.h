// A metrics-only HTTP listener for the binaries that serve no API of their own
// (meridian-dns, federation-controller-manager): GET /metrics answers ExpositionText();
// /healthz answers "ok"; anything else is 404. Meant for loopback or a scrape network: it has
// no authentication (the federation-apiserver serves /metrics behind its own instead).
#pragma once

#include <memory>
#include <string>

#include "apimachinery/rest/http_server.h"
#include "common/status.h"

namespace meridian::observability {

// The /metrics answer every Meridian HTTP server gives (text exposition, 200; 405 for a
// method other than GET or HEAD).
apimachinery::rest::RestResponse MetricsResponse(const apimachinery::rest::RestRequest& request);

// Serves /metrics on `listen`, "HOST:PORT" (port 0 picks a free one; the returned server's
// url() says which). `flag` names the option in errors: kInvalidArgument for a malformed
// address, kUnavailable when it cannot be bound.
StatusOr<std::unique_ptr<apimachinery::rest::HttpServer>> StartMetricsServer(
    const std::string& listen, const std::string& flag);

}  // namespace meridian::observability
