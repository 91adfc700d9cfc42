// HttpServer: the thin HTTP/1.1 shell (Boost.Beast over Asio, plain or TLS) that turns HTTP
// exchanges into RestRequests for a handler (usually RestHandler::Handle, or an embedder's
// router over several RestHandlers, e.g. membersim's /clusters/NAME/...), and streams watch
// responses with chunked transfer encoding.
//
// What a client can make the server hold is bounded: headers (count and bytes, 431 past
// them), the body (read as it arrives, chunked or not, 413 past the limit without reading
// on; a smaller allowance before authentication, see pre_authenticate), time (a deadline for
// the TLS handshake and headers, for each step of the body, for idle keep-alive connections
// and for writing a response), open connections, and what watches leave unread.
//
// Thread-safety: Start/Stop are not to be called concurrently with each other; requests are
// served on the server's own threads (HttpServerOptions::threads), so the handler must be
// thread-safe (RestHandler is).
#pragma once

#include <chrono>
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
  // StartOnFreeLoopbackPort serves https://127.0.0.1:PORT) and this configures the context of
  // each accepted connection (so new material applies to the next handshake): certificate
  // chain, key, and client-certificate verification if wanted. The verified client
  // certificate reaches the handler as RestRequest::peer_certificate_pem.
  std::function<void(boost::asio::ssl::context&)> tls_context;

  // Called once a request's headers are read when its body may exceed
  // unauthenticated_body_bytes (a larger Content-Length, or chunked), with the request as
  // far as it is known (no body). OK: the body may be up to max_body_bytes. An error (e.g.
  // kUnauthenticated): the body may be at most unauthenticated_body_bytes, and a larger one
  // is answered with this error (ApiError::FromStatus) and the connection closed, without
  // reading on. Unset: every body may be up to max_body_bytes. Must be thread-safe.
  std::function<Status(const RestRequest&)> pre_authenticate;
  int64_t unauthenticated_body_bytes = 64 * 1024;
  // Request line and headers together; past it 431 and the connection is closed. Go's
  // net/http (kube-apiserver) allows 1 MiB; a kubeconfig's longest header is a JWT.
  int64_t max_header_bytes = 64 * 1024;
  int max_header_count = 256;  // header fields; past it 431
  // From accepting the connection (or the first byte of a request on a kept-alive one) to
  // the end of the TLS handshake and of the headers; then the connection is closed.
  std::chrono::milliseconds header_timeout{10000};
  // Each read of the body must bring bytes within this (a client stalling its upload).
  std::chrono::milliseconds body_progress_timeout{30000};
  // A kept-alive connection with no new request for this long is closed (Go: IdleTimeout).
  std::chrono::milliseconds idle_timeout{90000};
  // Writing a (non-watch) response must finish within this. Watches are bounded by the
  // backlog budgets instead.
  std::chrono::milliseconds write_timeout{60000};
  // Open connections; one more is accepted and closed at once. 0 = no cap.
  int max_connections = 10000;
  // Threads serving requests (handlers run on them; watch writes never block one).
  int threads = 4;
};

using HttpHandler = std::function<RestResponse(RestRequest request)>;
// Answers one request: call exactly once, from any thread, possibly long after the handler
// returned. Copyable; later calls are ignored.
using HttpResponder = std::function<void(RestResponse response)>;
// A handler that may answer later without holding a pool thread while it waits (a timer, a
// held request). It should eventually call `respond`; Stop() closes the connections of what
// is left unanswered (later calls are then ignored).
using AsyncHttpHandler = std::function<void(RestRequest request, HttpResponder respond)>;
// Runs a task on one of a server's threads (HttpServer::Poster); dropped once the server is
// stopping or gone. Copyable, thread-safe, and safe to keep past the server.
using HttpPoster = std::function<void(std::function<void()> task)>;

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

  // Ends open watch streams (waiting up to 2 s for them to be sent), then closes the listener
  // and every connection (waiting for handlers running on the server's threads). Idempotent.
  void Stop();

  // For an async handler's continuations: a task that another component calls back (e.g. a
  // parked read's round returning on some thread) is run on this server's pool, so that the
  // caller's thread is not held by the request it continues.
  HttpPoster Poster() const;

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
