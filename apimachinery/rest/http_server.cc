#include "apimachinery/rest/http_server.h"

#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>
#include <cpprest/uri.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <vector>

namespace meridian::apimachinery::rest {

namespace http = web::http;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Query strings from Go clients encode spaces as '+'.
std::string DecodeQueryPart(std::string s) {
  std::replace(s.begin(), s.end(), '+', ' ');
  return web::uri::decode(s);
}

// What all watch responses of one server leave unread, in bytes (as last seen by each
// sink's writes: a client's reads are noticed at the sink's next write).
struct BacklogBudget {
  int64_t limit = 0;  // 0 = no total budget
  std::atomic<int64_t> total{0};
};

// A watch response body: chunks go into a producer/consumer buffer that cpprestsdk drains
// into the socket with chunked transfer encoding.
class BufferSink final : public WatchSink {
 public:
  BufferSink(int64_t max_backlog, std::shared_ptr<BacklogBudget> budget)
      : max_backlog_(max_backlog),
        shed_threshold_(std::min<int64_t>(256 * 1024, max_backlog / 4)),
        budget_(std::move(budget)) {}
  ~BufferSink() override { Account(0); }

  concurrency::streams::istream Stream() { return buf_.create_istream(); }

  bool Write(const std::string& chunk) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    try {
      const int64_t backlog = static_cast<int64_t>(buf_.in_avail());
      Account(backlog);
      const int64_t size = static_cast<int64_t>(chunk.size());
      if (backlog + size > max_backlog_) {
        ShedLocked(backlog, "limit " + std::to_string(max_backlog_) + " bytes per watch");
        return false;
      }
      if (budget_->limit > 0 && budget_->total.load() + size > budget_->limit &&
          backlog >= shed_threshold_) {
        ShedLocked(backlog, "all watches together are over their budget of " +
                                std::to_string(budget_->limit) + " bytes");
        return false;
      }
      PutLocked(chunk);
      Account(backlog + size);
    } catch (const std::exception&) {
      closed_ = true;
      return false;
    }
    return true;
  }

  void Close() override {
    std::lock_guard lock(mu_);
    CloseLocked();
  }

  bool Closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // The response finished (normally or because the client went away).
  void MarkGone() {
    std::lock_guard lock(mu_);
    CloseLocked();
    gone_ = true;
    Account(0);  // nothing more will be read from it
    gone_cv_.notify_all();
  }

  // Waits until the response has been sent to the end (or failed), at most until `deadline`.
  void WaitGone(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    gone_cv_.wait_until(lock, deadline, [&] { return gone_; });
  }

 private:
  // Adds this sink's change of backlog to the server's total.
  void Account(int64_t backlog) {
    budget_->total.fetch_add(backlog - accounted_);
    accounted_ = backlog;
  }

  void PutLocked(const std::string& chunk) {
    // Never wait on the returned tasks: producer_consumer_buffer copies the bytes at once,
    // but cpprestsdk completes the task through a continuation on its shared thread pool.
    // Writers run on that pool too, so waiting here deadlocks once as many watches write
    // as the pool has threads (40 by default). The string is kept alive until the task is
    // done regardless, in case the copy is ever deferred.
    auto data = std::make_shared<std::string>(chunk);
    buf_.putn_nocopy(reinterpret_cast<const uint8_t*>(data->data()), data->size())
        .then([data](pplx::task<size_t> t) {
          try {
            t.get();
          } catch (const std::exception&) {
          }
        });
    buf_.sync().then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception&) {
      }
    });
  }

  // Ends a slow consumer's stream: drops what it left unread (reading it out of the buffer
  // is the only way to free those blocks while cpprestsdk waits on a socket the client does
  // not drain), then sends an ERROR event and closes. A client that reads again sees a cut
  // line, then the ERROR event (a 410 Expired Status: client-go relists), then the end.
  void ShedLocked(int64_t backlog, const std::string& why) {
    // getn completes at once while data is there (it reads under the buffer's lock); the
    // scratch space lives in the continuation in case a concurrent read by cpprestsdk made
    // one wait instead.
    for (size_t avail = buf_.in_avail(); avail > 0;) {
      auto scratch = std::make_shared<std::vector<uint8_t>>(std::min<size_t>(avail, 64 * 1024));
      buf_.getn(scratch->data(), scratch->size()).then([scratch](pplx::task<size_t> t) {
        try {
          t.get();
        } catch (const std::exception&) {
        }
      });
      const size_t left = buf_.in_avail();
      if (left >= avail) break;  // nothing was read at once: leave the rest
      avail = left;
    }
    Account(static_cast<int64_t>(buf_.in_avail()));
    ApiError gone = ApiError::Gone("watch closed: the client left " + std::to_string(backlog) +
                                   " bytes unread (" + why + "); events were dropped, list again");
    nlohmann::json event = {{"type", "ERROR"}, {"object", StatusBody(gone)}};
    PutLocked("\n" + event.dump() + "\n");
    CloseLocked();
  }

  void CloseLocked() {
    if (closed_) return;
    closed_ = true;
    try {
      // Not waited on, for the same reason as in Write().
      buf_.close(std::ios_base::out).then([](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception&) {
        }
      });
    } catch (const std::exception&) {
    }
  }

  const int64_t max_backlog_;
  const int64_t shed_threshold_;
  const std::shared_ptr<BacklogBudget> budget_;
  mutable std::mutex mu_;  // guards closed_, gone_, accounted_ and writes to buf_
  int64_t accounted_ = 0;  // this sink's share of budget_->total
  std::condition_variable gone_cv_;
  bool closed_ = false;
  bool gone_ = false;
  concurrency::streams::producer_consumer_buffer<uint8_t> buf_;
};

}  // namespace

struct HttpServer::Impl {
  AsyncHttpHandler handler;
  HttpServerOptions options;
  std::unique_ptr<http_listener> listener;
  std::mutex mu;  // guards sinks, stopped
  std::vector<std::weak_ptr<BufferSink>> sinks;
  bool stopped = false;
  std::shared_ptr<BacklogBudget> backlog_budget = std::make_shared<BacklogBudget>();

  void Reply(http::http_request req, const RestResponse& r) {
    http::http_response resp(static_cast<http::status_code>(r.code));
    for (const auto& [k, v] : r.headers) resp.headers().add(k, v);
    resp.set_body(r.body, r.content_type);
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception&) {
        // The client went away; nothing to do.
      }
    });
  }

  // Never blocks on a pplx task: continuations run on cpprestsdk's pool, which this code
  // also runs on, so a blocking get() could deadlock under load. The body is read in a
  // continuation instead.
  void Serve(http::http_request req) {
    RestRequest rr;
    try {
      rr.method = req.method();
      const web::uri& uri = req.request_uri();
      rr.path = web::uri::decode(uri.path());
      for (const auto& [k, v] : web::uri::split_query(uri.query())) {
        rr.query[DecodeQueryPart(k)] = DecodeQueryPart(v);
      }
      for (const auto& [k, v] : req.headers()) rr.headers[Lower(k)] = v;
      const int64_t announced = static_cast<int64_t>(req.headers().content_length());
      if (announced > options.max_body_bytes) {
        Reply(req, RestResponse::Error(ApiError::RequestEntityTooLarge(options.max_body_bytes)));
        return;
      }
      if (announced > 0 || rr.headers.count("transfer-encoding") != 0) {
        req.extract_vector().then(
            [this, req, rr = std::move(rr)](pplx::task<std::vector<unsigned char>> t) mutable {
              try {
                std::vector<unsigned char> body = t.get();
                if (static_cast<int64_t>(body.size()) > options.max_body_bytes) {
                  Reply(req, RestResponse::Error(
                                 ApiError::RequestEntityTooLarge(options.max_body_bytes)));
                  return;
                }
                rr.body.assign(body.begin(), body.end());
              } catch (const std::exception& e) {
                Reply(req, RestResponse::Error(
                               ApiError::BadRequest(std::string("reading the request body: ") + e.what())));
                return;
              }
              Dispatch(req, std::move(rr));
            });
        return;
      }
    } catch (const std::exception& e) {
      Reply(req, RestResponse::Error(ApiError::BadRequest(std::string("malformed request: ") + e.what())));
      return;
    }
    Dispatch(req, std::move(rr));
  }

  void Dispatch(http::http_request req, RestRequest rr) {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    HttpResponder respond = [this, req, answered](RestResponse response) {
      if (answered->exchange(true)) return;
      Respond(req, std::move(response));
    };
    try {
      handler(std::move(rr), respond);
    } catch (const std::exception& e) {
      respond(RestResponse::Error(ApiError::Internal(std::string("serving request: ") + e.what())));
    }
  }

  void Respond(http::http_request req, RestResponse response) {
    if (!response.start_stream) {
      Reply(req, response);
      return;
    }
    auto sink = std::make_shared<BufferSink>(options.max_watch_backlog_bytes, backlog_budget);
    {
      std::lock_guard lock(mu);
      std::erase_if(sinks, [](const auto& w) { return w.expired(); });
      if (stopped) {
        sink->Close();
      } else {
        sinks.push_back(sink);
      }
    }
    try {
      http::http_response resp(static_cast<http::status_code>(response.code));
      for (const auto& [k, v] : response.headers) resp.headers().add(k, v);
      resp.set_body(sink->Stream(), response.content_type);
      req.reply(resp).then([sink](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception&) {
        }
        sink->MarkGone();
      });
    } catch (const std::exception&) {
      sink->MarkGone();
    }
    response.start_stream(sink);
  }
};

namespace {

AsyncHttpHandler Synchronous(HttpHandler handler) {
  return [handler = std::move(handler)](RestRequest request, HttpResponder respond) {
    respond(handler(std::move(request)));
  };
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& url,
                                                         HttpHandler handler,
                                                         HttpServerOptions options) {
  return StartAsync(url, Synchronous(std::move(handler)), std::move(options));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::StartOnFreeLoopbackPort(
    HttpHandler handler, HttpServerOptions options) {
  return StartAsyncOnFreeLoopbackPort(Synchronous(std::move(handler)), std::move(options));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::StartAsync(const std::string& url,
                                                              AsyncHttpHandler handler,
                                                              HttpServerOptions options) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl* impl = server->impl_.get();
  impl->handler = std::move(handler);
  impl->options = options;
  impl->backlog_budget->limit = options.max_total_watch_backlog_bytes;
  try {
    web::uri uri(url);
    http_listener_config config;
    config.set_timeout(utility::seconds(24 * 3600));
    if (impl->options.tls_context) config.set_ssl_context_callback(impl->options.tls_context);
    impl->listener = std::make_unique<http_listener>(uri, config);
    impl->listener->support([impl](http::http_request req) { impl->Serve(std::move(req)); });
    impl->listener->open().wait();
    server->port_ = uri.port();
    server->url_ = url;
    while (!server->url_.empty() && server->url_.back() == '/') server->url_.pop_back();
  } catch (const std::exception& e) {
    return UnavailableError("listening on " + url + ": " + e.what());
  }
  return server;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::StartAsyncOnFreeLoopbackPort(
    AsyncHttpHandler handler, HttpServerOptions options) {
  const std::string scheme = options.tls_context ? "https" : "http";
  Status last = UnavailableError("no attempt made");
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return UnavailableError("socket(): cannot create a probe socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port == 0) continue;
    StatusOr<std::unique_ptr<HttpServer>> s =
        StartAsync(scheme + "://127.0.0.1:" + std::to_string(port), handler, options);
    if (s.ok()) return s;
    last = s.status();
  }
  return last.WithContext("no free loopback port after 20 attempts");
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (!impl_) return;
  std::vector<std::shared_ptr<BufferSink>> open;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& w : impl_->sinks) {
      if (auto s = w.lock()) open.push_back(std::move(s));
    }
    impl_->sinks.clear();
  }
  for (auto& s : open) s->Close();
  // Let cpprestsdk send the terminating chunks before the listener drops the connections.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& s : open) s->WaitGone(deadline);
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // Closing is best effort at shutdown.
  }
}

}  // namespace meridian::apimachinery::rest
