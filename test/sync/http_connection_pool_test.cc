// HttpConnectionPool against a scripted HTTP/1.1 server on loopback: what a kept-alive
// connection does when the server closes it, drops a request, never answers or answers too
// much. The server is a thread with Beast's blocking reads; each accepted connection follows
// the script (one step per request on it).
#include "sync/internal/http_connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meridian::sync::internal {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

enum class Step {
  kAnswer,            // 200 "ok <method> <n>", kept alive
  kAnswerAndClose,    // the same, then the server closes the connection
  kCloseUnanswered,   // reads the request, closes without answering
  kAnswerWithClose,   // 200 with "Connection: close"
  kAnswerHuge,        // 200 with a 1 MiB body
  kAnswerHugeChunked, // the same, chunked
  kNeverAnswer,       // reads the request, then waits until the test ends
};

class ScriptedServer {
 public:
  // `script(connection, request)`: what to do with request `request` (from 0) on accepted
  // connection `connection` (from 0).
  explicit ScriptedServer(std::function<Step(int, int)> script)
      : script_(std::move(script)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    released_.set_value();
    boost::system::error_code ec;
    {
      // Wakes the accept with a connection that is closed at once.
      tcp::socket s(io_);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    }
    thread_.join();
    acceptor_.close(ec);
    for (std::thread& t : connections_) t.join();
  }

  std::string port() const { return std::to_string(port_); }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Resolves once connection `c` has been closed by the server.
  std::shared_future<void> closed(int c) {
    std::lock_guard lock(mu_);
    return closed_[c].get_future().share();
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      const int c = accepted_++;
      {
        std::lock_guard lock(mu_);
        closed_.try_emplace(c);
      }
      connections_.emplace_back([this, c, s = std::move(socket)]() mutable { Serve(c, std::move(s)); });
    }
  }

  void Serve(int c, tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (int r = 0;; ++r) {
      bhttp::request<bhttp::string_body> req;
      boost::system::error_code ec;
      bhttp::read(socket, buffer, req, ec);
      if (ec) break;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::string(req.method_string()) + " " + std::string(req.target()) +
                            " on " + std::to_string(c));
      }
      const Step step = script_(c, r);
      if (step == Step::kCloseUnanswered) break;
      if (step == Step::kNeverAnswer) {
        released_future_.wait();
        break;
      }
      bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
      const bool huge = step == Step::kAnswerHuge || step == Step::kAnswerHugeChunked;
      res.body() = huge ? std::string(1 << 20, 'x')
                                            : "ok " + std::string(req.method_string()) + " " +
                                                  std::to_string(r);
      res.keep_alive(step != Step::kAnswerWithClose);
      res.prepare_payload();
      if (step == Step::kAnswerHugeChunked) res.chunked(true);
      bhttp::write(socket, res, ec);
      if (ec || step == Step::kAnswerAndClose || step == Step::kAnswerWithClose) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    std::lock_guard lock(mu_);
    closed_[c].set_value();
  }

  std::function<Step(int, int)> script_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> connections_;  // joined in the destructor
  std::promise<void> released_;
  std::shared_future<void> released_future_ = released_.get_future().share();
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::map<int, std::promise<void>> closed_;
};

HttpConnectionPool::Options To(const ScriptedServer& server) {
  HttpConnectionPool::Options o;
  o.host = "127.0.0.1";
  o.port = server.port();
  return o;
}

HttpRequestSpec Request(const std::string& method, const std::string& target = "/x") {
  HttpRequestSpec r;
  r.method = method;
  r.target = target;
  r.headers.emplace_back("Accept", "application/json");
  if (method == "POST") r.body = "{}";
  return r;
}

TEST(HttpConnectionPoolTest, KeptAliveConnectionCarriesTheNextRequest) {
  ScriptedServer server([](int, int) { return Step::kAnswer; });
  HttpConnectionPool pool(To(server));
  for (int i = 0; i < 3; ++i) {
    auto a = pool.Send(Request("GET"), 5s);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->code, 200);
    EXPECT_EQ(a->body, "ok GET " + std::to_string(i));
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(pool.idle(), 1u);
}

TEST(HttpConnectionPoolTest, AConnectionTheServerClosedIsNotReusedEvenForAPost) {
  ScriptedServer server([](int c, int) { return c == 0 ? Step::kAnswerAndClose : Step::kAnswer; });
  HttpConnectionPool pool(To(server));
  std::shared_future<void> first_closed = server.closed(0);
  ASSERT_TRUE(pool.Send(Request("GET"), 5s).ok());
  first_closed.wait();
  auto a = pool.Send(Request("POST"), 5s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->body, "ok POST 0");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpConnectionPoolTest, ARepeatableRequestDroppedOnAReusedConnectionIsSentAgain) {
  // Connection 0 answers its first request and drops the second unanswered.
  ScriptedServer server([](int c, int r) {
    return c == 0 && r == 1 ? Step::kCloseUnanswered : Step::kAnswer;
  });
  HttpConnectionPool pool(To(server));
  ASSERT_TRUE(pool.Send(Request("GET"), 5s).ok());
  auto a = pool.Send(Request("PUT"), 5s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->body, "ok PUT 0");
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.requests(),
            (std::vector<std::string>{"GET /x on 0", "PUT /x on 0", "PUT /x on 1"}));
}

TEST(HttpConnectionPoolTest, APostDroppedOnAReusedConnectionIsNotSentAgain) {
  ScriptedServer server([](int c, int r) {
    return c == 0 && r == 1 ? Step::kCloseUnanswered : Step::kAnswer;
  });
  HttpConnectionPool pool(To(server));
  ASSERT_TRUE(pool.Send(Request("GET"), 5s).ok());
  auto a = pool.Send(Request("POST"), 5s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable) << a.status().ToString();
  EXPECT_NE(a.status().message().find("read"), std::string::npos) << a.status().ToString();
  EXPECT_EQ(server.requests(), (std::vector<std::string>{"GET /x on 0", "POST /x on 0"}));
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(HttpConnectionPoolTest, AnAnswerSayingCloseIsNotKept) {
  ScriptedServer server([](int, int) { return Step::kAnswerWithClose; });
  HttpConnectionPool pool(To(server));
  ASSERT_TRUE(pool.Send(Request("GET"), 5s).ok());
  EXPECT_EQ(pool.idle(), 0u);
  ASSERT_TRUE(pool.Send(Request("GET"), 5s).ok());
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpConnectionPoolTest, AServerThatNeverAnswersMeetsTheDeadline) {
  ScriptedServer server([](int, int) { return Step::kNeverAnswer; });
  HttpConnectionPool pool(To(server));
  auto a = pool.Send(Request("GET"), 200ms);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kDeadlineExceeded) << a.status().ToString();
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(HttpConnectionPoolTest, AnAnswerOverTheLimitIsAnErrorNotAnAllocation) {
  for (Step step : {Step::kAnswerHuge, Step::kAnswerHugeChunked}) {
    ScriptedServer server([step](int, int) { return step; });
    HttpConnectionPool::Options o = To(server);
    o.max_answer_bytes = 64 * 1024;
    HttpConnectionPool pool(o);
    auto a = pool.Send(Request("GET"), 5s);
    ASSERT_FALSE(a.ok()) << a->code << " " << a->body.size();
    EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(a.status().message().find("body limit"), std::string::npos)
        << a.status().ToString();
  }
}

TEST(HttpConnectionPoolTest, NobodyListeningIsUnavailableAndAnUnknownMethodIsRefused) {
  uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  HttpConnectionPool::Options o;
  o.host = "127.0.0.1";
  o.port = std::to_string(port);
  HttpConnectionPool pool(o);
  auto a = pool.Send(Request("GET"), 5s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("connect"), std::string::npos) << a.status().ToString();
  auto b = pool.Send(Request("BREW"), 5s);
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument) << b.status().ToString();
}

TEST(HttpConnectionPoolTest, ConcurrentCallersEachGetTheirOwnAnswer) {
  ScriptedServer server([](int, int) { return Step::kAnswer; });
  HttpConnectionPool pool(To(server));
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto a = pool.Send(Request("GET", "/c" + std::to_string(t)), 5s);
        if (a.ok() && a->code == 200 && a->body.rfind("ok GET ", 0) == 0) ++ok;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_LE(server.accepted(), 8);  // connections are reused, at most one per caller
  EXPECT_EQ(server.requests().size(), 160u);
}

}  // namespace
}  // namespace meridian::sync::internal
