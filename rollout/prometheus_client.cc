#include "rollout/prometheus_client.h"

#include <cpprest/http_client.h>

#include <fstream>
#include <sstream>

#include "rollout/prometheus_gate.h"
#include "sync/http_member_client.h"

namespace meridian::rollout {
namespace {

namespace http = web::http;

StatusOr<std::string> ReadFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(flag + " " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The token in `path`, without the line end editors add.
StatusOr<std::string> ReadToken(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string token, ReadFile(path, "--prometheus-bearer-token-file"));
  const size_t end = token.find_last_not_of(" \t\r\n");
  token.erase(end == std::string::npos ? 0 : end + 1);
  if (token.empty()) {
    return InvalidArgumentError("--prometheus-bearer-token-file " + path + ": is empty");
  }
  return token;
}

}  // namespace

struct PrometheusClient::Http {
  std::unique_ptr<http::client::http_client> client;
};

PrometheusClient::PrometheusClient(PrometheusOptions options, std::unique_ptr<Http> http)
    : options_(std::move(options)), http_(std::move(http)) {}

PrometheusClient::~PrometheusClient() = default;

StatusOr<std::unique_ptr<PrometheusClient>> PrometheusClient::Create(
    const PrometheusOptions& options) {
  const std::string& url = options.url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("--prometheus-url \"" + url + "\": must be an http(s) URL");
  }
  sync::MemberCredentials tls;
  if (!options.ca_file.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(tls.certificate_authority_pem,
                              ReadFile(options.ca_file, "--prometheus-ca-file"));
    MERIDIAN_RETURN_IF_ERROR(
        sync::CheckClientCredentials("--prometheus-ca-file " + options.ca_file, tls));
  }
  if (!options.bearer_token_file.empty()) {
    MERIDIAN_RETURN_IF_ERROR(ReadToken(options.bearer_token_file).status());
  }
  http::client::http_client_config config;
  config.set_timeout(options.timeout);
  if (!tls.certificate_authority_pem.empty()) {
    config.set_ssl_context_callback(
        [tls](boost::asio::ssl::context& ctx) { sync::ConfigureClientTls(tls, ctx); });
  }
  auto h = std::make_unique<Http>();
  try {
    h->client = std::make_unique<http::client::http_client>(web::uri(url), config);
  } catch (const std::exception& e) {
    return InvalidArgumentError("--prometheus-url \"" + url + "\": " + e.what());
  }
  return std::unique_ptr<PrometheusClient>(new PrometheusClient(options, std::move(h)));
}

StatusOr<double> PrometheusClient::Query(const std::string& query) {
  const std::string where = options_.url + ": ";
  http::http_request req(http::methods::GET);
  req.set_request_uri(web::uri_builder(U("api/v1/query")).append_query(U("query"), query).to_uri());
  req.headers().add(http::header_names::accept, "application/json");
  if (!options_.bearer_token_file.empty()) {
    StatusOr<std::string> token = ReadToken(options_.bearer_token_file);
    if (!token.ok()) return UnavailableError(where + token.status().message());
    req.headers().add(http::header_names::authorization, "Bearer " + token.value());
  }
  int code = 0;
  std::string body;
  try {
    http::http_response resp = http_->client->request(req).get();
    code = resp.status_code();
    body = resp.extract_utf8string(true).get();
  } catch (const http::http_exception& e) {
    if (e.error_code() == std::errc::timed_out) {
      return DeadlineExceededError(where + "no answer within " +
                                   std::to_string(options_.timeout.count()) + " ms");
    }
    return UnavailableError(where + e.what());
  } catch (const std::exception& e) {
    return UnavailableError(where + e.what());
  }
  StatusOr<double> value = ParsePrometheusAnswer(code, body);
  if (!value.ok()) return FailedPreconditionError(where + value.status().message());
  return value;
}

}  // namespace meridian::rollout
