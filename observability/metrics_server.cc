#include "observability/metrics_server.h"

#include "observability/metrics.h"

namespace meridian::observability {

namespace rest = apimachinery::rest;

rest::RestResponse MetricsResponse(const rest::RestRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    return rest::RestResponse::Error(apimachinery::ApiError::MethodNotAllowed());
  }
  rest::RestResponse response;
  response.content_type = kExpositionContentType;
  response.body = ExpositionText();
  return response;
}

StatusOr<std::unique_ptr<rest::HttpServer>> StartMetricsServer(const std::string& listen,
                                                               const std::string& flag) {
  const size_t colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    return InvalidArgumentError(flag + ": \"" + listen +
                                "\" is not HOST:PORT (e.g. 127.0.0.1:9090)");
  }
  rest::HttpHandler handler = [](rest::RestRequest request) {
    if (request.path == "/metrics") return MetricsResponse(request);
    if (request.path == "/healthz") return rest::RestResponse::Text(200, "ok");
    apimachinery::ApiError e;
    e.code = 404;
    e.reason = "NotFound";
    e.message = "only /metrics and /healthz are served here";
    return rest::RestResponse::Error(e);
  };
  rest::HttpServerOptions options;
  options.threads = 1;  // a scrape every few seconds
  options.max_connections = 64;
  StatusOr<std::unique_ptr<rest::HttpServer>> server =
      rest::HttpServer::Start("http://" + listen, handler, options);
  if (!server.ok()) return server.status().WithContext(flag + " " + listen);
  return server;
}

}  // namespace meridian::observability
