#include "sync/internal/http_connection_pool.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <optional>

namespace meridian::sync::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using boost::system::error_code;

struct HttpConnectionPool::Connection {
  asio::io_context ioc{1};
  // Exactly one of the two: the plain stream, or the TLS stream over its own TCP stream.
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool connected = false;
  Steady::time_point idle_since{};

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs the io_context until the operation `start` began completes, with the stream's
  // deadline armed (Beast closes the socket when it passes: the operation then fails with
  // beast::error::timeout). Only this thread runs `ioc`.
  template <typename Start>
  error_code Run(Steady::time_point deadline, Start start) {
    error_code result = asio::error::would_block;
    tcp().expires_at(deadline);
    start([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  // Whether a kept-alive connection can carry another request: the server has not closed it
  // (nor sent anything unasked) since its last answer. Never blocks.
  bool Reusable() {
    if (buffer.size() > 0) return false;
    char byte;
    const ssize_t n = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

namespace {

bool IsIpAddress(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Requests the server may receive twice without harm (RFC 9110 9.2.2).
bool Repeatable(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

}  // namespace

HttpConnectionPool::HttpConnectionPool(Options options) : options_(std::move(options)) {}

HttpConnectionPool::~HttpConnectionPool() = default;

size_t HttpConnectionPool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

std::unique_ptr<HttpConnectionPool::Connection> HttpConnectionPool::TakeIdle() {
  const Steady::time_point now = Steady::now();
  std::lock_guard lock(mu_);
  while (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    if (now - c->idle_since <= options_.max_idle_time && c->Reusable()) return c;
  }
  return nullptr;
}

void HttpConnectionPool::GiveBack(std::unique_ptr<Connection> c) {
  c->idle_since = Steady::now();
  std::lock_guard lock(mu_);
  if (idle_.size() < options_.max_idle) idle_.push_back(std::move(c));
}

StatusOr<HttpAnswer> HttpConnectionPool::Send(const HttpRequestSpec& request,
                                              std::chrono::milliseconds timeout) {
  if (bhttp::string_to_verb(request.method) == bhttp::verb::unknown) {
    return InvalidArgumentError("unknown HTTP method \"" + request.method + "\"");
  }
  const Steady::time_point deadline = Steady::now() + timeout;
  std::unique_ptr<Connection> c = TakeIdle();
  const bool reused = c != nullptr;
  for (int attempt = 0;; ++attempt) {
    if (!c) c = std::make_unique<Connection>();
    bool answered = false;
    StatusOr<HttpAnswer> answer = Exchange(*c, request, deadline, &answered);
    if (answer.ok()) {
      if (c->connected) GiveBack(std::move(c));
      return answer;
    }
    c.reset();  // a failed exchange leaves the connection in no known state
    // A kept-alive connection the server closed as it was reused: once more on a new one.
    const bool stale = reused && attempt == 0 && !answered &&
                       answer.status().code() == StatusCode::kUnavailable;
    if (!stale || !Repeatable(request.method) || Steady::now() >= deadline) return answer;
  }
}

StatusOr<HttpAnswer> HttpConnectionPool::Exchange(Connection& c, const HttpRequestSpec& request,
                                                  Steady::time_point deadline, bool* answered) {
  auto failed = [&](const char* step, const error_code& ec) -> Status {
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return DeadlineExceededError(std::string("no answer in time (") + step + ")");
    }
    return UnavailableError(std::string(step) + ": " + ec.message());
  };
  const std::string& host = options_.host;
  if (!c.connected) {
    tcp::resolver::results_type endpoints;
    error_code ec;
    if (const asio::ip::address address = asio::ip::make_address(host, ec); !ec) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(address, static_cast<uint16_t>(std::stoi(options_.port))), host,
          options_.port);
    } else {
      // Names are resolved on this thread too, bounded by the deadline.
      tcp::resolver resolver(c.ioc);
      asio::steady_timer timer(c.ioc, deadline);
      bool timed_out = false;
      timer.async_wait([&](error_code e) {
        if (!e) {
          timed_out = true;
          resolver.cancel();
        }
      });
      resolver.async_resolve(host, options_.port, [&](error_code e, tcp::resolver::results_type r) {
        ec = e;
        endpoints = std::move(r);
        timer.cancel();
      });
      c.ioc.restart();
      c.ioc.run();
      if (timed_out) return DeadlineExceededError("no answer in time (resolving " + host + ")");
      if (ec) return UnavailableError("resolving " + host + ": " + ec.message());
    }
    if (options_.tls) {
      c.tls.emplace(c.ioc, *options_.tls);
    } else {
      c.plain.emplace(c.ioc);
    }
    ec = c.Run(deadline, [&](auto done) { c.tcp().async_connect(endpoints, done); });
    if (ec) return failed("connect", ec);
    c.tcp().socket().set_option(tcp::no_delay(true), ec);
    if (c.tls) {
      if (!IsIpAddress(host) && !SSL_set_tlsext_host_name(c.tls->native_handle(), host.c_str())) {
        return UnavailableError("TLS: cannot set the server name " + host);
      }
      if (options_.verify_peer) {
        c.tls->set_verify_mode(asio::ssl::verify_peer);
        c.tls->set_verify_callback(asio::ssl::host_name_verification(host));
      } else {
        c.tls->set_verify_mode(asio::ssl::verify_none);
      }
      ec = c.Run(deadline, [&](auto done) { c.tls->async_handshake(asio::ssl::stream_base::client, done); });
      if (ec) return failed("TLS handshake", ec);
    }
    c.connected = true;
  }

  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(request.method), request.target, 11};
  const bool default_port = options_.port == (options_.tls ? "443" : "80");
  const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  req.set(bhttp::field::host, default_port ? bracketed : bracketed + ":" + options_.port);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.prepare_payload();
  error_code ec = c.Run(deadline, [&](auto done) {
    if (c.tls) {
      bhttp::async_write(*c.tls, req, done);
    } else {
      bhttp::async_write(*c.plain, req, done);
    }
  });
  if (ec) return failed("write", ec);

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(options_.max_answer_bytes);
  if (req.method() == bhttp::verb::head) parser.skip(true);
  auto read = [&](bool header_only) {
    return c.Run(deadline, [&](auto done) {
      if (c.tls && header_only) {
        bhttp::async_read_header(*c.tls, c.buffer, parser, done);
      } else if (c.tls) {
        bhttp::async_read(*c.tls, c.buffer, parser, done);
      } else if (header_only) {
        bhttp::async_read_header(*c.plain, c.buffer, parser, done);
      } else {
        bhttp::async_read(*c.plain, c.buffer, parser, done);
      }
    });
  };
  ec = read(/*header_only=*/true);
  *answered = parser.got_some();
  if (ec) return failed("read", ec);
  // A declared length over the limit is refused before anything is read (the parser's own
  // limit, checked as chunks arrive, covers chunked answers).
  if (const auto length = parser.content_length(); length && *length > options_.max_answer_bytes) {
    return UnavailableError("read: body limit exceeded (" + std::to_string(*length) + " > " +
                            std::to_string(options_.max_answer_bytes) + " bytes)");
  }
  if (!parser.is_done()) ec = read(/*header_only=*/false);
  if (ec) return failed("read", ec);
  bhttp::response<bhttp::string_body> res = parser.release();
  if (!res.keep_alive()) c.connected = false;  // the caller drops it
  HttpAnswer answer;
  answer.code = static_cast<int>(res.result_int());
  answer.retry_after = std::string(res[bhttp::field::retry_after]);
  answer.body = std::move(res.body());
  return answer;
}

}  // namespace meridian::sync::internal
