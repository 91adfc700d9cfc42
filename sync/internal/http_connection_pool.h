// HttpConnectionPool: blocking HTTP/1.1 requests to one server (plain or TLS), each run on the
// caller's own thread over a kept-alive connection, with an end-to-end deadline.
//
// Why not cpprestsdk for these: a member write is one small request and one small answer, and
// cpprestsdk ran each through its thread pool (the request and two continuations on pool
// threads, a promise the caller waits on, a timer on yet another thread): the federation
// apiserver spent ~37 % of its CPU in member HTTP while syncing 1,000 workloads to 50 members
// (docs/performance.md, issue 19), most of it handing the call from thread to thread. Here
// the caller's thread connects, writes and reads with Boost.Beast on an io_context of the
// connection's own, which it runs itself: no other thread takes part. cpprestsdk still
// serves the member client's long-lived watch streams and its parallel discovery calls.
//
// Connections: an idle one is reused unless the server closed it meanwhile (checked without
// blocking before each use) or it sat idle past Options::max_idle_time; at most
// Options::max_idle are kept. A request that fails on a reused connection before any byte of
// the answer arrived is sent once more on a new connection when it is safe to repeat (GET,
// HEAD, PUT, DELETE: the server may have closed the connection as it was reused); a POST or
// PATCH is not (it may have been applied), its caller gets kUnavailable and decides.
//
// Thread-safe: any number of callers at once, each on its own connection.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace meridian::sync::internal {

struct HttpRequestSpec {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, e.g. "/api/v1/namespaces/a/configmaps?limit=500"
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host and Content-Length
  std::string body;    // sent when non-empty, or when the method is POST, PUT or PATCH
};

struct HttpAnswer {
  int code = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header as sent ("" when absent)
};

class HttpConnectionPool {
 public:
  struct Options {
    std::string host;  // a name or an IP address (IPv6 without brackets)
    std::string port;  // "443", "6443"
    // Null for plain HTTP. Otherwise the client context (CA, client certificate); the
    // server's certificate is checked against `host` unless verify_peer is false.
    std::shared_ptr<boost::asio::ssl::context> tls;
    bool verify_peer = true;
    size_t max_idle = 16;
    std::chrono::milliseconds max_idle_time{30'000};
    size_t max_answer_bytes = size_t{1} << 30;  // an answer's body, decoded
  };

  explicit HttpConnectionPool(Options options);
  ~HttpConnectionPool();
  HttpConnectionPool(const HttpConnectionPool&) = delete;
  HttpConnectionPool& operator=(const HttpConnectionPool&) = delete;

  // Sends `request` and reads the whole answer (any HTTP code) before `timeout` runs out.
  // Errors: kDeadlineExceeded when it did not; kUnavailable when the server could not be
  // reached or the connection failed (the message says which step: resolve, connect, TLS
  // handshake, write, read), kInvalidArgument for a method Beast does not know.
  StatusOr<HttpAnswer> Send(const HttpRequestSpec& request, std::chrono::milliseconds timeout);

  // Connections kept for reuse now (tests).
  size_t idle() const;

 private:
  struct Connection;
  std::unique_ptr<Connection> TakeIdle();
  void GiveBack(std::unique_ptr<Connection> c);
  // One attempt on `c` (connecting it first when new). `*answered` says whether any byte of
  // the answer arrived (a failure before that on a reused connection may be retried).
  StatusOr<HttpAnswer> Exchange(Connection& c, const HttpRequestSpec& request,
                                std::chrono::steady_clock::time_point deadline, bool* answered);

  const Options options_;
  mutable std::mutex mu_;  // guards idle_
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace meridian::sync::internal
