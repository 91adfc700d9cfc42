// HttpServer: the thin cpprestsdk shell that turns HTTP exchanges into RestRequests for a
// handler (usually RestHandler::Handle, or an embedder's router over several RestHandlers,
// e.g. membersim's /clusters/NAME/...), and streams watch responses with chunked transfer
// encoding through a producer/consumer buffer.
//
// Thread-safety: Start/Stop are not to be called concurrently with each other; requests are
// served on cpprestsdk's thread pool, so the handler must be thread-safe (RestHandler is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apimachinery/rest/rest_handler.h"
#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace meridian::apimachinery::rest {

struct HttpServerOptions {
  // Requests announcing a larger Content-Length are answered 413 without reading the body;
  // bodies read larger than this are answered 413 too.
  int64_t max_body_bytes = 3 * 1024 * 1024;
  // A watch whose client leaves more than this unread is a slow consumer: what it left
  // unread is dropped (so the memory is freed even if the client never reads again), an
  // ERROR event with a 410 Expired Status (client-go relists on it) ends the stream.
  int64_t max_watch_backlog_bytes = 16 * 1024 * 1024;
  // Budget for what all watches together leave unread; 0 = none. Past it, a watch that
  // writes while holding at least min(256 KiB, max_watch_backlog_bytes / 4) unread is closed
  // as above, so the memory of many slow clients stays near this budget.
  int64_t max_total_watch_backlog_bytes = 0;
  // TLS: when set, the server speaks HTTPS (Start() wants an https:// URL;
  // StartOnFreeLoopbackPort serves https://127.0.0.1:PORT) and this configures each new
  // context: certificate chain, key, and client-certificate verification if wanted
  // (cpprestsdk's ssl_context_callback, called when the listener opens).
  std::function<void(boost::asio::ssl::context&)> tls_context;
};

using HttpHandler = std::function<RestResponse(RestRequest request)>;
// Answers one request: call exactly once, from any thread, possibly long after the handler
// returned. Copyable; later calls are ignored.
using HttpResponder = std::function<void(RestResponse response)>;
// A handler that may answer later without holding a pool thread while it waits (a timer, a
// held request). It must eventually call `respond` (Stop() answers 500 to what is left).
using AsyncHttpHandler = std::function<void(RestRequest request, HttpResponder respond)>;

class HttpServer {
 public:
  // Listens on `url` ("http://127.0.0.1:8080"). kUnavailable (with the listener's reason)
  // when the address cannot be bound.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& url, HttpHandler handler,
                                                     HttpServerOptions options = {});
  // Listens on a free 127.0.0.1 port: binds a socket to port 0 to learn a free port, closes
  // it, opens the listener there, and retries with another port on a collision.
  static StatusOr<std::unique_ptr<HttpServer>> StartOnFreeLoopbackPort(
      HttpHandler handler, HttpServerOptions options = {});
  // The same with a handler that answers through a responder.
  static StatusOr<std::unique_ptr<HttpServer>> StartAsync(const std::string& url,
                                                          AsyncHttpHandler handler,
                                                          HttpServerOptions options = {});
  static StatusOr<std::unique_ptr<HttpServer>> StartAsyncOnFreeLoopbackPort(
      AsyncHttpHandler handler, HttpServerOptions options = {});

  // Stop()s.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Ends open watch streams, then closes the listener (waiting for requests in flight).
  // Idempotent.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" (https with HttpServerOptions::tls_context)
  const std::string& url() const { return url_; }

  struct Impl;  // internal

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::string url_;
};

// Adapts a RestHandler (which must outlive the server) to an HttpHandler.
inline HttpHandler HandlerFor(RestHandler& handler) {
  return [&handler](RestRequest r) { return handler.Handle(std::move(r)); };
}

}  // namespace meridian::apimachinery::rest
