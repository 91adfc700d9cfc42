#include "observability/metrics_server.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>

#include "common/loopback.h"
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

namespace {

// The TLS setup of each connection: the serving certificate, and a client certificate
// signed by `client_ca` required in the handshake. Throws boost::system::system_error on
// unusable files.
std::function<void(boost::asio::ssl::context&)> MutualTls(const MetricsServerOptions& o) {
  return [cert = o.tls_cert_file, key = o.tls_key_file,
          ca = o.client_ca_file](boost::asio::ssl::context& ctx) {
    namespace ssl = boost::asio::ssl;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(cert);
    ctx.use_private_key_file(key, ssl::context::pem);  // also checks it matches the cert
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    }
  };
}

}  // namespace

StatusOr<std::unique_ptr<rest::HttpServer>> StartMetricsServer(const MetricsServerOptions& o,
                                                               const std::string& flag) {
  const std::string& listen = o.listen;
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    return InvalidArgumentError(flag + ": \"" + listen +
                                "\" is not HOST:PORT (e.g. 127.0.0.1:9090)");
  }
  const int tls_parts =
      !o.tls_cert_file.empty() + !o.tls_key_file.empty() + !o.client_ca_file.empty();
  if (tls_parts != 0 && tls_parts != 3) {
    return InvalidArgumentError(flag + "-tls-cert-file, " + flag + "-tls-private-key-file and " +
                                flag + "-client-ca-file go together (give all three or none)");
  }
  const bool tls = tls_parts == 3;
  const std::string bare_host = host.size() > 2 && host.front() == '[' && host.back() == ']'
                                    ? host.substr(1, host.size() - 2)
                                    : host;
  if (!tls && !IsLoopbackHost(bare_host)) {
    return InvalidArgumentError(
        flag + " " + listen +
        ": not a loopback address, and the exposition would have no authentication; listen on "
        "127.0.0.1 (or [::1]), or give " +
        flag + "-tls-cert-file, " + flag + "-tls-private-key-file and " + flag +
        "-client-ca-file so that only scrapers with a client certificate from that CA get it");
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
  if (tls) {
    options.tls_context = MutualTls(o);
    try {
      boost::asio::ssl::context probe(boost::asio::ssl::context::tls_server);
      options.tls_context(probe);
    } catch (const std::exception& e) {
      return InvalidArgumentError(flag + " TLS (cert " + o.tls_cert_file + ", key " +
                                  o.tls_key_file + ", client CA " + o.client_ca_file +
                                  "): " + e.what());
    }
  }
  StatusOr<std::unique_ptr<rest::HttpServer>> server =
      rest::HttpServer::Start((tls ? "https://" : "http://") + listen, handler, options);
  if (!server.ok()) return server.status().WithContext(flag + " " + listen);
  return server;
}

}  // namespace meridian::observability
