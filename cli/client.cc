#include "cli/client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>

// fmt before cpprestsdk, and without cpprestsdk's U() macro, which breaks fmt's format_as.
#include <fmt/format.h>
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>

#include <boost/asio/ssl.hpp>

#include "common/json_parse.h"
#include "sync/http_member_client.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
namespace http = web::http;

ApiError TransportError(const std::string& message) {
  ApiError e;
  e.code = 0;
  e.message = message;
  return e;
}

std::string Seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// cpprestsdk reports every failed connect as "host unreachable"; one plain connect() tells
// the user what really happened (usually "connection refused": nothing listens there).
int ConnectErrno(const std::string& server) {
  try {
    web::uri uri(server);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port =
        std::to_string(uri.port() > 0 ? uri.port() : (uri.scheme() == "https" ? 443 : 80));
    if (getaddrinfo(uri.host().c_str(), port.c_str(), &hints, &res) != 0 || !res)
      return EHOSTUNREACH;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    int err = 0;
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) err = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return err;
  } catch (const std::exception&) {
    return EHOSTUNREACH;
  }
}

// Turns whatever cpprestsdk threw into one line that names the server.
ApiError FromException(const std::string& server, std::chrono::milliseconds timeout,
                       const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const http::http_exception& e) {
    int v = e.error_code().value();
    if (v == EHOSTUNREACH) {
      int real = ConnectErrno(server);
      if (real != 0 && real != ECONNREFUSED) {
        return TransportError(
            fmt::format("cannot connect to the server at {}: {}", server, std::strerror(real)));
      }
      if (real == ECONNREFUSED) v = ECONNREFUSED;
    }
    if (v == ECONNREFUSED) {
      return TransportError(fmt::format(
          "cannot connect to the server at {}: connection refused (is the federation-apiserver "
          "running? set --server or MERIDIAN_SERVER)",
          server));
    }
    if (v == ETIMEDOUT || e.error_code() == std::errc::timed_out) {
      return TransportError(fmt::format("the server at {} did not answer within {} (--timeout)",
                                        server, Seconds(timeout)));
    }
    return TransportError(fmt::format("request to the server at {} failed: {}", server, e.what()));
  } catch (const web::uri_exception& e) {
    return TransportError(fmt::format("bad server URL {}: {}", server, e.what()));
  } catch (const json::exception& e) {
    return TransportError(fmt::format("could not encode the request for {}: {}", server, e.what()));
  } catch (const std::exception& e) {
    return TransportError(fmt::format("request to the server at {} failed: {}", server, e.what()));
  }
  return TransportError("request to the server at " + server + " failed");
}

std::string Join(const std::string& base_path, const std::string& path) {
  std::string b = base_path;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b + path;
}

}  // namespace

ApiError ApiErrorFromResponse(int http_code, const std::string& body) {
  ApiError e;
  e.code = http_code;
  json j = ParseJson(body);
  if (j.is_object() && j.value("kind", "") == "Status") {
    if (j.contains("reason") && j["reason"].is_string()) e.reason = j["reason"];
    if (j.contains("message") && j["message"].is_string()) e.message = j["message"];
    if (j.contains("details") && j["details"].is_object()) {
      const json& d = j["details"];
      if (d.contains("name") && d["name"].is_string()) e.name = d["name"];
      if (d.contains("group") && d["group"].is_string()) e.group = d["group"];
      if (d.contains("kind") && d["kind"].is_string()) e.kind = d["kind"];
      if (d.contains("causes") && d["causes"].is_array()) {
        for (const json& c : d["causes"]) {
          if (!c.is_object()) continue;
          apimachinery::StatusCause cause;
          if (c.contains("reason") && c["reason"].is_string()) cause.reason = c["reason"];
          if (c.contains("message") && c["message"].is_string()) cause.message = c["message"];
          if (c.contains("field") && c["field"].is_string()) cause.field = c["field"];
          e.causes.push_back(std::move(cause));
        }
      }
    }
  } else {
    std::string text = body;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    e.message = text.empty() ? fmt::format("the server answered HTTP {}", http_code) : text;
  }
  if (e.reason.empty()) {
    // What Kubernetes clients show for a bare code.
    switch (http_code) {
      case 400:
        e.reason = "BadRequest";
        break;
      case 401:
        e.reason = "Unauthorized";
        break;
      case 403:
        e.reason = "Forbidden";
        break;
      case 404:
        e.reason = "NotFound";
        break;
      case 405:
        e.reason = "MethodNotAllowed";
        break;
      case 409:
        e.reason = "Conflict";
        break;
      case 410:
        e.reason = "Expired";
        break;
      case 413:
        e.reason = "RequestEntityTooLarge";
        break;
      case 422:
        e.reason = "Invalid";
        break;
      case 429:
        e.reason = "TooManyRequests";
        break;
      case 500:
        e.reason = "InternalError";
        break;
      case 503:
        e.reason = "ServiceUnavailable";
        break;
      case 504:
        e.reason = "Timeout";
        break;
      default:
        e.reason = fmt::format("HTTP {}", http_code);
    }
  }
  if (e.message.empty()) e.message = fmt::format("the server answered HTTP {}", http_code);
  return e;
}

struct HttpClient::Impl {
  std::string scheme_host;  // "http://127.0.0.1:8443"
  std::string base_path;    // "" or "/base"
  std::unique_ptr<http::client::http_client> client;
  std::unique_ptr<http::client::http_client> watch_client;  // no per-request timeout
};

HttpClient::HttpClient(const ClientOptions& options)
    : options_(options), impl_(std::make_unique<Impl>()) {}

HttpClient::~HttpClient() = default;

StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const ClientOptions& options) {
  std::unique_ptr<HttpClient> c(new HttpClient(options));
  try {
    web::uri uri(utility::conversions::to_string_t(options.server));
    if ((uri.scheme() != "http" && uri.scheme() != "https") || uri.host().empty()) {
      return InvalidArgumentError("bad server URL \"" + options.server +
                                  "\": want http://HOST:PORT or https://HOST:PORT");
    }
    std::string authority = uri.scheme() + "://" + uri.host();
    if (uri.port() > 0) authority += ":" + std::to_string(uri.port());
    c->impl_->scheme_host = authority;
    c->impl_->base_path = uri.path() == "/" ? "" : uri.path();
    MERIDIAN_RETURN_IF_ERROR(
        sync::CheckClientCredentials("server " + options.server, options.credentials));
    http::client::http_client_config config;
    config.set_timeout(options.timeout);
    config.set_validate_certificates(!options.credentials.insecure_skip_tls_verify);
    if (!options.credentials.certificate_authority_pem.empty() ||
        !options.credentials.client_certificate_pem.empty()) {
      config.set_ssl_context_callback(
          [creds = options.credentials](boost::asio::ssl::context& ctx) {
            sync::ConfigureClientTls(creds, ctx);
          });
    }
    c->impl_->client = std::make_unique<http::client::http_client>(authority, config);
    http::client::http_client_config watch_config = config;
    watch_config.set_timeout(std::chrono::hours(24));
    c->impl_->watch_client = std::make_unique<http::client::http_client>(authority, watch_config);
  } catch (const std::exception& e) {
    return InvalidArgumentError("bad server URL \"" + options.server + "\": " + e.what());
  }
  return c;
}

std::string HttpClient::ResourcePath(const KindInfo& kind, const std::string& ns,
                                     const std::string& name) {
  std::string path = kind.ApiPrefix();
  if (kind.namespaced && !ns.empty()) {
    path += "/namespaces/" + web::uri::encode_data_string(ns);
  }
  path += "/" + kind.plural;
  if (!name.empty()) path += "/" + web::uri::encode_data_string(name);
  return path;
}

ApiResult<json> HttpClient::GetPath(const std::string& path) { return Call("GET", path, nullptr); }

ApiResult<std::string> HttpClient::CallText(const std::string& method,
                                            const std::string& path_and_query, const json* body) {
  try {
    http::http_request request(method);
    request.set_request_uri(Join(impl_->base_path, path_and_query));
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", "fedctl/0.1");
    if (!options_.credentials.bearer_token.empty()) {
      request.headers().add("Authorization", "Bearer " + options_.credentials.bearer_token);
    }
    if (body) request.set_body(body->dump(), "application/json");
    http::http_response response = impl_->client->request(request).get();
    std::string text = response.extract_utf8string(true).get();
    int code = response.status_code();
    if (code < 200 || code >= 300) return ApiErrorFromResponse(code, text);
    return text;
  } catch (...) {
    return FromException(options_.server, options_.timeout, std::current_exception());
  }
}

ApiError HttpClient::NotJson(const std::string& method, const std::string& path_and_query) const {
  return TransportError(
      fmt::format("the server at {} answered {} {} with a body that is not "
                  "JSON",
                  options_.server, method, path_and_query));
}

ApiResult<json> HttpClient::Call(const std::string& method, const std::string& path_and_query,
                                 const json* body) {
  ApiResult<std::string> text = CallText(method, path_and_query, body);
  if (!text.ok()) return text.error();
  json j = ParseJson(text.value());
  if (j.is_discarded()) return NotJson(method, path_and_query);
  return j;
}

ApiResult<json> HttpClient::Get(const KindInfo& kind, const std::string& ns,
                                const std::string& name) {
  return Call("GET", ResourcePath(kind, ns, name), nullptr);
}

ApiResult<json> HttpClient::List(const KindInfo& kind, const std::string& ns,
                                 const std::string& label_selector) {
  std::string path = ResourcePath(kind, ns, "");
  if (!label_selector.empty()) {
    path += "?labelSelector=" + web::uri::encode_data_string(label_selector);
  }
  return Call("GET", path, nullptr);
}

std::string HttpClient::PagePath(const KindInfo& kind, const std::string& ns, int64_t limit,
                                 const std::string& continue_token) {
  std::string path = ResourcePath(kind, ns, "") + "?limit=" + std::to_string(limit);
  if (!continue_token.empty()) {
    path += "&continue=" + web::uri::encode_data_string(continue_token);
  }
  return path;
}

ApiResult<json> HttpClient::ListPage(const KindInfo& kind, const std::string& ns, int64_t limit,
                                     const std::string& continue_token) {
  return Call("GET", PagePath(kind, ns, limit, continue_token), nullptr);
}

ApiResult<std::string> HttpClient::ListPageText(const KindInfo& kind, const std::string& ns,
                                                int64_t limit, const std::string& continue_token) {
  return CallText("GET", PagePath(kind, ns, limit, continue_token), nullptr);
}

ApiResult<json> HttpClient::Create(const KindInfo& kind, const std::string& ns, const json& body) {
  return Call("POST", ResourcePath(kind, ns, ""), &body);
}

ApiResult<json> HttpClient::Update(const KindInfo& kind, const std::string& ns,
                                   const std::string& name, const json& body) {
  return Call("PUT", ResourcePath(kind, ns, name), &body);
}

ApiResult<json> HttpClient::Delete(const KindInfo& kind, const std::string& ns,
                                   const std::string& name) {
  return Call("DELETE", ResourcePath(kind, ns, name), nullptr);
}

ApiResult<bool> HttpClient::Watch(const KindInfo& kind, const std::string& ns,
                                  const std::string& label_selector,
                                  const std::string& resource_version,
                                  const WatchCallback& callback) {
  std::string path = ResourcePath(kind, ns, "") + "?watch=true&allowWatchBookmarks=true";
  if (!resource_version.empty()) {
    path += "&resourceVersion=" + web::uri::encode_data_string(resource_version);
  }
  if (!label_selector.empty()) {
    path += "&labelSelector=" + web::uri::encode_data_string(label_selector);
  }
  try {
    http::http_request request(http::methods::GET);
    request.set_request_uri(Join(impl_->base_path, path));
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", "fedctl/0.1");
    if (!options_.credentials.bearer_token.empty()) {
      request.headers().add("Authorization", "Bearer " + options_.credentials.bearer_token);
    }
    http::http_response response = impl_->watch_client->request(request).get();
    int code = response.status_code();
    if (code < 200 || code >= 300) {
      return ApiErrorFromResponse(code, response.extract_utf8string(true).get());
    }
    concurrency::streams::istream stream = response.body();
    while (true) {
      concurrency::streams::container_buffer<std::string> line;
      size_t n = stream.read_line(line).get();
      const std::string& text = line.collection();
      if (n == 0 && text.empty()) {
        if (stream.is_eof()) return true;
        continue;
      }
      json event = ParseJson(text);
      if (!event.is_object() || !event.contains("type")) {
        return TransportError(fmt::format("the server at {} sent a malformed watch event: {}",
                                          options_.server, text.substr(0, 200)));
      }
      std::string type = event.value("type", "");
      json object = event.contains("object") ? event["object"] : json::object();
      if (type == "BOOKMARK") continue;
      if (type == "ERROR") {
        int status_code = object.is_object() ? object.value("code", 500) : 500;
        return ApiErrorFromResponse(status_code, object.dump());
      }
      if (!callback(WatchEvent{type, std::move(object)})) return true;
    }
  } catch (...) {
    return FromException(options_.server, options_.timeout, std::current_exception());
  }
}

}  // namespace meridian::cli
