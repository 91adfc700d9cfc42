#include "apimachinery/rest/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace meridian::apimachinery::rest {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; `plus_is_space` for query parts (Go clients encode spaces as '+'). A
// malformed escape is kept as it is (the path then matches no route: 404).
std::string Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

void ParseTarget(std::string_view target, RestRequest& rr) {
  const size_t q = target.find('?');
  rr.path = Decode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  const size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    rr.query[Decode(part.substr(0, eq), true)] =
        eq == std::string_view::npos ? "" : Decode(part.substr(eq + 1), true);
  }
}

// The verified client certificate chain of a TLS connection as PEM, leaf first ("" when the
// client sent none).
std::string PeerCertificatePem(SSL* ssl) {
  X509* leaf = SSL_get_peer_certificate(ssl);
  if (leaf == nullptr) return "";
  std::string out;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, leaf);
  X509_free(leaf);
  // On the server side the chain the client sent, without its leaf.
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) PEM_write_bio_X509(bio, sk_X509_value(chain, i));
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  if (n > 0) out.assign(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string ChunkFrame(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string out(size);
  out.append(data);
  out.append("\r\n");
  return out;
}

// One queued piece of a watch response: `head` (a whole framed chunk, or only the chunk-size
// line of `body`), then `body` and the chunk's closing CRLF when there is a body. The body is
// shared, not copied: one event's bytes serve every watch that sends them.
struct Frame {
  std::string head;
  std::shared_ptr<const std::string> body;
  int64_t size() const {
    return static_cast<int64_t>(head.size()) + (body ? static_cast<int64_t>(body->size()) + 2 : 0);
  }
};

constexpr char kCrLf[] = "\r\n";

// What all watch responses of one server leave unread, in bytes (queued in the server, not
// yet taken by the kernel).
struct BacklogBudget {
  int64_t limit = 0;  // 0 = no total budget
  std::atomic<int64_t> total{0};
};

}  // namespace

class Connection;

// The state shared by the listener, its connections and responders; it outlives the
// HttpServer while a responder or connection still refers to it.
struct Core {
  AsyncHttpHandler handler;
  HttpServerOptions options;
  net::io_context ioc;
  // Keeps the request threads' run() going while no connection is open (until Stop()).
  net::executor_work_guard<net::io_context::executor_type> ioc_work{ioc.get_executor()};
  // The listener has an event loop and a thread of its own. On `ioc` its accepts queued
  // behind every request handler ready to run: under a write storm (a federation syncing
  // 10,000 workloads into membersim, four threads busy) one connection was accepted per turn
  // of that queue, hundreds waited in the kernel's backlog for tens of seconds, health probes
  // and clients on new connections timed out, and their reconnections queued behind them
  // (docs/performance.md, "New connections wait behind requests"). Go's net/http, which
  // kube-apiserver uses, accepts on a goroutine of its own the same way.
  net::io_context accept_ioc;
  tcp::acceptor acceptor{accept_ioc};
  std::thread accept_thread;
  std::vector<std::thread> threads;
  std::shared_ptr<BacklogBudget> backlog_budget = std::make_shared<BacklogBudget>();
  std::atomic<int> open_connections{0};
  std::atomic<bool> stopped{false};
  std::atomic<bool> halting{false};  // the threads are being stopped: post nothing more
  std::mutex mu;  // guards connections
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  std::atomic<int64_t> refused_connections{0};
};

namespace {

// A watch response body: framed chunks queued for the connection, which writes them as the
// client reads. What is queued counts against the per-watch and total budgets.
class StreamSink final : public WatchSink {
 public:
  StreamSink(int64_t max_backlog, std::shared_ptr<BacklogBudget> budget, std::function<void()> wake)
      : max_backlog_(max_backlog),
        shed_threshold_(std::min<int64_t>(256 * 1024, max_backlog / 4)),
        budget_(std::move(budget)),
        wake_(std::move(wake)) {}
  ~StreamSink() override { Account(-queued_); }

  bool Write(const std::string& chunk) override {
    return WriteShared(std::make_shared<const std::string>(chunk));
  }

  // Queues the chunk without copying it; the budgets are checked before anything is queued.
  // Never blocks on the socket: the connection's strand writes what is queued.
  bool WriteShared(std::shared_ptr<const std::string> chunk) override {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      if (!chunk || chunk->empty()) return true;  // an empty chunk would end the response
      char size_line[32];
      std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk->size());
      Frame frame{size_line, std::move(chunk)};
      const int64_t size = frame.size();
      if (queued_ + size > max_backlog_) {
        ShedLocked("limit " + std::to_string(max_backlog_) + " bytes per watch");
      } else if (budget_->limit > 0 && budget_->total.load() + size > budget_->limit &&
                 queued_ >= shed_threshold_) {
        ShedLocked("all watches together are over their budget of " +
                   std::to_string(budget_->limit) + " bytes");
      } else {
        Push(std::move(frame));
      }
      // One wake-up per write the connection has to start: while one is posted or a write
      // is in flight, what is queued now is taken with it.
      wake = !writing_ && !wake_posted_;
      wake_posted_ = wake_posted_ || wake;
    }
    if (wake) Wake();
    return !Closed();
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      CloseLocked();
    }
    Wake();
  }

  bool Closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // For the connection's writer: takes what is queued (empty when nothing is), marking a
  // write in progress; `done` is set once the terminating chunk is taken.
  std::vector<Frame> Take(bool* done) {
    std::lock_guard lock(mu_);
    std::vector<Frame> out(std::make_move_iterator(queue_.begin()),
                           std::make_move_iterator(queue_.end()));
    queue_.clear();
    *done = closed_ && terminated_;
    writing_ = !out.empty();
    wake_posted_ = false;
    return out;
  }
  // The writer finished writing `bytes` taken before.
  void Written(int64_t bytes) {
    std::lock_guard lock(mu_);
    queued_ -= bytes;
    Account(-bytes);
  }
  // The client went away or the server stops: nothing more is sent.
  void MarkGone() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      terminated_ = true;
      Account(-queued_);
      queued_ = 0;
      queue_.clear();
      gone_ = true;
      wake_ = nullptr;  // lets go of the connection
    }
    gone_cv_.notify_all();
  }
  // Waits until the response has been sent to the end (or failed), at most until `deadline`.
  void WaitGone(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    gone_cv_.wait_until(lock, deadline, [&] { return gone_; });
  }

 private:
  void Account(int64_t delta) { budget_->total.fetch_add(delta); }

  void Wake() {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      wake = wake_;
    }
    if (wake) wake();
  }

  void Push(Frame frame) {
    const int64_t size = frame.size();
    queue_.push_back(std::move(frame));
    queued_ += size;
    Account(size);
  }

  // Ends a slow consumer's stream: drops what it left unread (so the memory is freed even if
  // the client never reads again), then queues an ERROR event (a 410 Expired Status:
  // client-go relists on it) and the end of the response. A client that reads again sees a
  // cut line, then the ERROR event, then the end.
  void ShedLocked(const std::string& why) {
    const int64_t backlog = queued_;
    int64_t dropped = 0;
    for (const Frame& f : queue_) dropped += f.size();
    queue_.clear();
    queued_ -= dropped;
    Account(-dropped);
    ApiError gone = ApiError::Gone("watch closed: the client left " + std::to_string(backlog) +
                                   " bytes unread (" + why + "); events were dropped, list again");
    nlohmann::json event = {{"type", "ERROR"}, {"object", StatusBody(gone)}};
    Push(Frame{ChunkFrame("\n" + event.dump() + "\n"), nullptr});
    CloseLocked();
  }

  void CloseLocked() {
    if (closed_) return;
    closed_ = true;
    Push(Frame{"0\r\n\r\n", nullptr});
    terminated_ = true;
  }

  const int64_t max_backlog_;
  const int64_t shed_threshold_;
  const std::shared_ptr<BacklogBudget> budget_;
  mutable std::mutex mu_;  // guards everything below
  // Asks the connection to write what is queued. It holds the connection (nothing else does
  // while a quiet watch waits for events) until MarkGone.
  std::function<void()> wake_;
  std::deque<Frame> queue_;
  int64_t queued_ = 0;  // bytes queued or being written; this sink's share of the total
  bool writing_ = false;
  bool wake_posted_ = false;  // a wake-up is on its way to the connection
  bool closed_ = false;
  bool terminated_ = false;  // the terminating chunk is queued
  bool gone_ = false;
  std::condition_variable gone_cv_;
};

ApiError HeadersTooLarge(const std::string& what) {
  ApiError e;
  e.code = 431;
  e.reason = "RequestHeaderFieldsTooLarge";
  e.message = "Request Header Fields Too Large: " + what;
  return e;
}

}  // namespace

// One accepted connection. Every step runs on the connection's strand; watch sinks reach it
// by posting there.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Core> core, tcp::socket socket)
      : core_(std::move(core)), options_(core_->options) {
    boost::system::error_code ec;
    tcp::endpoint peer = socket.remote_endpoint(ec);
    if (!ec) peer_address_ = peer.address().to_string();
    if (options_.tls_context) {
      tls_context_ = std::make_unique<ssl::context>(ssl::context::tls_server);
      options_.tls_context(*tls_context_);
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(
          beast::tcp_stream(std::move(socket)), *tls_context_);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  ~Connection() {
    core_->open_connections.fetch_sub(1);
    std::lock_guard lock(core_->mu);
    core_->connections.erase(this);
  }

  void Start() {
    if (!tls_) {
      ReadRequest(/*kept_alive=*/false);
      return;
    }
    Lowest().expires_after(options_.header_timeout);
    tls_->async_handshake(
        ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
          if (ec) return self->Close();
          self->peer_certificate_pem_ = PeerCertificatePem(self->tls_->native_handle());
          self->ReadRequest(false);
        });
  }

  // Closes the socket; for Stop(), with no server thread running, or on the strand.
  void Close() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().socket().close(ec);
    if (sink_) sink_->MarkGone();
  }

  // After a final response: stops sending, then reads and discards what the client still
  // sends (at most 4 MiB, for at most 500 ms; into a fixed scratch buffer, so nothing grows)
  // before closing. Closing with unread bytes makes the kernel reset the connection, and a
  // reset can reach the client before it reads our answer (Go's net/http lingers the same
  // way): a client still uploading a refused body would see "broken pipe" instead of 413.
  void LingerClose() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    linger_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    linger_left_ = 4 << 20;
    Drain();
  }

  void Drain() {
    if (linger_left_ <= 0 || core_->stopped) return Close();
    Lowest().expires_at(linger_until_);
    if (!scratch_) scratch_ = std::make_unique<std::array<char, 16384>>();
    // Raw TCP below TLS: the bytes are thrown away, there is nothing to decrypt.
    Lowest().async_read_some(
        net::buffer(*scratch_), [self = shared_from_this()](beast::error_code ec, size_t n) {
          if (ec) return self->Close();
          self->linger_left_ -= static_cast<int64_t>(n);
          self->Drain();
        });
  }

  // Stop(): the sink of a watch being streamed, if any.
  std::shared_ptr<StreamSink> sink() {
    std::lock_guard lock(sink_mu_);
    return sink_for_stop_;
  }

 private:
  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <class F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  void ReadRequest(bool kept_alive) {
    if (core_->stopped) return Close();
    if (kept_alive && buffer_.size() == 0) {
      // Idle until the next request's first byte; then the header deadline applies.
      Lowest().expires_after(options_.idle_timeout);
      WithStream([&](auto& stream) {
        stream.async_read_some(buffer_.prepare(4096),
                               [self = shared_from_this()](beast::error_code ec, size_t n) {
                                 if (ec) return self->Close();
                                 self->buffer_.commit(n);
                                 self->ReadHeader();
                               });
      });
      return;
    }
    ReadHeader();
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::clamp<int64_t>(options_.max_header_bytes, 64, std::numeric_limits<uint32_t>::max())));
    // Decided once the headers are known. (Not boost::none: Beast 1.74 compares a
    // Content-Length against an empty optional as if it were over the limit.)
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    Lowest().expires_after(options_.header_timeout);
    WithStream([&](auto& stream) {
      bhttp::async_read_header(
          stream, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
    });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return Refuse(
          HeadersTooLarge("limit is " + std::to_string(options_.max_header_bytes) + " bytes"));
    }
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == ssl::error::stream_truncated) {
      return Close();
    }
    if (ec) return Refuse(ApiError::BadRequest("malformed request: " + ec.message()));
    auto& req = parser_->get();
    int fields = 0;
    for (auto it = req.begin(); it != req.end(); ++it) ++fields;
    if (fields > options_.max_header_count) {
      return Refuse(HeadersTooLarge(std::to_string(fields) + " header fields, limit is " +
                                    std::to_string(options_.max_header_count)));
    }
    request_ = RestRequest();
    request_.method = std::string(req.method_string());
    ParseTarget(std::string_view(req.target().data(), req.target().size()), request_);
    for (const auto& f : req) {
      std::string name = Lower(std::string(f.name_string()));
      auto [it, inserted] = request_.headers.emplace(name, std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());  // RFC 9110 field combining
    }
    request_.peer_address = peer_address_;
    request_.peer_certificate_pem = peer_certificate_pem_;
    keep_alive_ = req.keep_alive();

    const bool chunked = parser_->chunked();
    const boost::optional<uint64_t> length = parser_->content_length();
    const bool has_body = chunked || (length && *length > 0);
    if (!has_body) return Dispatch();
    int64_t limit = options_.max_body_bytes;
    std::optional<ApiError> refusal;  // the answer past `limit`
    const bool may_exceed_allowance =
        chunked || static_cast<int64_t>(*length) > options_.unauthenticated_body_bytes;
    if (options_.pre_authenticate && may_exceed_allowance) {
      Status st = Status::Ok();
      try {
        st = options_.pre_authenticate(request_);
      } catch (const std::exception& e) {
        st = InternalError(std::string("pre-authentication: ") + e.what());
      }
      if (!st.ok()) {
        limit = std::min(limit, options_.unauthenticated_body_bytes);
        refusal = ApiError::FromStatus(st);
      }
    }
    over_limit_ = refusal ? *refusal : ApiError::RequestEntityTooLarge(limit);
    if (length && static_cast<int64_t>(*length) > limit) return Refuse(over_limit_);
    parser_->body_limit(static_cast<uint64_t>(limit));
    if (Lower(std::string(req[bhttp::field::expect])) == "100-continue") {
      // curl waits for this before a large upload.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Lowest().expires_after(options_.write_timeout);
      WithStream([&](auto& stream) {
        net::async_write(stream, net::buffer(kContinue),
                         [self = shared_from_this()](beast::error_code ec, size_t) {
                           if (ec) return self->Close();
                           self->ReadBody();
                         });
      });
      return;
    }
    ReadBody();
  }

  // Reads the body step by step so that each step has its own progress deadline.
  void ReadBody() {
    if (parser_->is_done()) {
      request_.body = std::move(parser_->get().body());
      return Dispatch();
    }
    Lowest().expires_after(options_.body_progress_timeout);
    WithStream([&](auto& stream) {
      bhttp::async_read_some(
          stream, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec == bhttp::error::body_limit) {
              return self->Refuse(self->over_limit_);
            }
            if (ec == beast::error::timeout || ec == net::error::eof ||
                ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
                ec == net::error::connection_reset || ec == ssl::error::stream_truncated) {
              return self->Close();
            }
            if (ec) {
              return self->Refuse(
                  ApiError::BadRequest("reading the request body: " + ec.message()));
            }
            self->ReadBody();
          });
    });
  }

  // Answers `error` and closes the connection without reading further.
  void Refuse(const ApiError& error) {
    keep_alive_ = false;
    Write(RestResponse::Error(error));
  }

  void Dispatch() {
    Lowest().expires_never();  // the handler may take its time (held requests)
    parser_.reset();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<Core> weak_core = core_;
    // Dispatched, not posted: a handler that answers at once (every synchronous one) runs on
    // this connection's strand, so the response is written right here instead of waking
    // another server thread for it (a thread hand-off per request cost more CPU than the GET
    // itself on this VM). An answer from elsewhere (a held request) is posted to the strand.
    HttpResponder respond = [self = shared_from_this(), answered](RestResponse response) {
      if (answered->exchange(true)) return;
      if (self->core_->stopped) return;
      auto shared = std::make_shared<RestResponse>(std::move(response));
      net::dispatch(self->Lowest().get_executor(),
                    [self, shared]() { self->Respond(std::move(*shared)); });
    };
    try {
      core_->handler(std::move(request_), respond);
    } catch (const std::exception& e) {
      respond(RestResponse::Error(ApiError::Internal(std::string("serving request: ") + e.what())));
    }
  }

  void Respond(RestResponse response) {
    if (response.start_stream) return StartStream(std::move(response));
    Write(std::move(response));
  }

  void Write(RestResponse r) {
    // The body is sent from where it is: a kept LIST body (shared_body, hundreds of KiB) is
    // shared with the cache, any other one moved; neither is copied.
    std::shared_ptr<const std::string> body =
        r.shared_body ? std::move(r.shared_body)
                      : std::make_shared<const std::string>(std::move(r.body));
    auto res = std::make_shared<bhttp::response<bhttp::span_body<const char>>>(
        static_cast<bhttp::status>(r.code), 11);
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    res->set(bhttp::field::content_type, r.content_type);
    res->body() = beast::span<const char>(body->data(), body->size());
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    Lowest().expires_after(options_.write_timeout);
    WithStream([&](auto& stream) {
      bhttp::async_write(stream, *res,
                         [self = shared_from_this(), res, body](beast::error_code ec, size_t) {
                           if (ec) return self->Close();
                           if (!self->keep_alive_) return self->LingerClose();
                           self->ReadRequest(true);
                         });
    });
  }

  void StartStream(RestResponse response) {
    auto sink = std::make_shared<StreamSink>(
        options_.max_watch_backlog_bytes, core_->backlog_budget, [self = shared_from_this()]() {
          // Not `stopped`: Stop() lets watches send their end first.
          if (!self->core_->halting) {
            net::post(self->Lowest().get_executor(), [self]() { self->WriteStream(); });
          }
        });
    sink_ = sink;
    {
      std::lock_guard lock(sink_mu_);
      sink_for_stop_ = sink;
    }
    std::string head =
        "HTTP/1.1 " + std::to_string(response.code) + " " +
        std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(response.code))) +
        "\r\nContent-Type: " + response.content_type +
        "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n";
    for (const auto& [k, v] : response.headers) head += k + ": " + v + "\r\n";
    if (!keep_alive_) head += "Connection: close\r\n";
    head += "\r\n";
    stream_head_ = std::move(head);
    // No deadline while streaming: a watch may be quiet for long; the backlog budgets bound
    // what a client that does not read costs.
    Lowest().expires_never();
    if (core_->stopped) sink->Close();
    response.start_stream(sink);
    WriteStream();
  }

  // Writes what the watch queued; one write at a time.
  void WriteStream() {
    if (!sink_ || stream_writing_) return;
    bool done = false;
    std::vector<Frame> batch = sink_->Take(&done);
    if (!stream_head_.empty()) {
      head_bytes_ = static_cast<int64_t>(stream_head_.size());
      batch.insert(batch.begin(), Frame{std::move(stream_head_), nullptr});
      stream_head_.clear();
    }
    if (batch.empty()) {
      if (done) {
        // The terminating chunk is written: the response is complete.
        auto sink = std::move(sink_);
        sink_.reset();
        {
          std::lock_guard lock(sink_mu_);
          sink_for_stop_.reset();
        }
        sink->MarkGone();
        if (!keep_alive_ || core_->stopped) return Close();
        ReadRequest(true);
      }
      return;
    }
    stream_writing_ = true;
    auto data = std::make_shared<std::vector<Frame>>(std::move(batch));
    std::vector<net::const_buffer> buffers;
    buffers.reserve(data->size() * 3);
    int64_t bytes = 0;
    for (const Frame& f : *data) {
      buffers.emplace_back(net::buffer(f.head));
      if (f.body) {
        buffers.emplace_back(net::buffer(*f.body));
        buffers.emplace_back(net::buffer(kCrLf, 2));
      }
      bytes += f.size();
    }
    WithStream([&](auto& stream) {
      net::async_write(stream, buffers,
                       [self = shared_from_this(), data, bytes](beast::error_code ec, size_t) {
                         self->stream_writing_ = false;
                         if (!self->sink_) return;
                         // The head is not part of the sink's accounting.
                         self->sink_->Written(bytes - self->head_bytes_);
                         self->head_bytes_ = 0;
                         if (ec) {
                           self->sink_->MarkGone();
                           return self->Close();
                         }
                         self->WriteStream();
                       });
    });
  }

  std::shared_ptr<Core> core_;
  const HttpServerOptions& options_;
  std::string peer_address_;
  std::string peer_certificate_pem_;
  std::unique_ptr<ssl::context> tls_context_;  // before tls_: outlives it
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  RestRequest request_;
  bool keep_alive_ = true;
  std::chrono::steady_clock::time_point linger_until_;
  int64_t linger_left_ = 0;
  std::unique_ptr<std::array<char, 16384>> scratch_;
  ApiError over_limit_;
  // Watch streaming (strand only, apart from sink_for_stop_).
  std::shared_ptr<StreamSink> sink_;
  std::string stream_head_;
  int64_t head_bytes_ = 0;
  bool stream_writing_ = false;
  std::mutex sink_mu_;  // guards sink_for_stop_
  std::shared_ptr<StreamSink> sink_for_stop_;
};

struct HttpServer::Impl {
  std::shared_ptr<Core> core;
};

namespace {

// Runs on the listener's thread (Core::accept_ioc); each connection's socket and timers
// belong to a strand of the request threads' `ioc`, which runs all its handlers.
void Accept(const std::shared_ptr<Core>& core) {
  core->acceptor.async_accept(
      net::make_strand(core->ioc), [core](beast::error_code ec, tcp::socket socket) {
        if (core->stopped) return;
        if (!ec) {
          const int max = core->options.max_connections;
          if (max > 0 && core->open_connections.load() >= max) {
            // Refused at once rather than left waiting in the backlog: the client sees the
            // connection closed and may retry elsewhere.
            if (core->refused_connections.fetch_add(1) % 1000 == 0) {
              spdlog::warn("http: {} open connections (the limit): refusing new ones", max);
            }
            beast::error_code ignored;
            socket.close(ignored);
          } else {
            core->open_connections.fetch_add(1);
            std::shared_ptr<Connection> conn;
            try {
              conn = std::make_shared<Connection>(core, std::move(socket));
            } catch (const std::exception& e) {
              core->open_connections.fetch_sub(1);
              spdlog::warn("http: accepting a connection: {}", e.what());
            }
            if (conn) {
              {
                std::lock_guard lock(core->mu);
                core->connections[conn.get()] = conn;
              }
              conn->Start();
            }
          }
        } else if (ec == net::error::operation_aborted) {
          return;
        }
        Accept(core);
      });
}

// A server thread: runs `ioc` until it is stopped; what a handler throws is logged, and the
// loop goes on.
void RunLoop(net::io_context* ioc, const char* what) {
  for (;;) {
    try {
      ioc->run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http: {} threw: {}", what, e.what());
    }
  }
}

AsyncHttpHandler Synchronous(HttpHandler handler) {
  return [handler = std::move(handler)](RestRequest request, HttpResponder respond) {
    // Two statements: the request (and what filters hold for it) must be gone before the
    // answer leaves; a by-value argument lives to the end of its caller's full expression.
    RestResponse response = handler(std::move(request));
    respond(std::move(response));
  };
}

// "http://HOST:PORT[/]" -> scheme, host, port.
bool SplitUrl(const std::string& url, std::string* scheme, std::string* host, int* port) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return false;
  *scheme = url.substr(0, sep);
  std::string rest = url.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    *host = rest;
    *port = *scheme == "https" ? 443 : 80;
  } else {
    *host = rest.substr(0, colon);
    try {
      size_t used = 0;
      *port = std::stoi(rest.substr(colon + 1), &used);
      if (used != rest.size() - colon - 1) return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return (*scheme == "http" || *scheme == "https") && !host->empty();
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& url, HttpHandler handler,
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
  std::string scheme, host;
  int port = 0;
  const std::string given_host = url.substr(0, url.rfind(':'));
  if (!SplitUrl(url, &scheme, &host, &port) || port < 0 || port > 65535) {
    return InvalidArgumentError("listening on " + url + ": not an http(s)://HOST:PORT URL");
  }
  if ((scheme == "https") != static_cast<bool>(options.tls_context)) {
    return InvalidArgumentError("listening on " + url + ": https needs a tls_context, http none");
  }
  if (host == "localhost") host = "127.0.0.1";
  auto core = std::make_shared<Core>();
  core->handler = std::move(handler);
  core->options = std::move(options);
  core->backlog_budget->limit = core->options.max_total_watch_backlog_bytes;
  try {
    boost::system::error_code ec;
    tcp::resolver resolver(core->ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return UnavailableError("listening on " + url + ": cannot resolve " + host + ": " +
                              ec.message());
    }
    tcp::endpoint endpoint = results.begin()->endpoint();
    core->acceptor.open(endpoint.protocol());
    core->acceptor.set_option(net::socket_base::reuse_address(true));
    core->acceptor.bind(endpoint, ec);
    if (ec) return UnavailableError("listening on " + url + ": " + ec.message());
    core->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("listening on " + url + ": " + ec.message());
    port = core->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return UnavailableError("listening on " + url + ": " + e.what());
  }
  Accept(core);
  core->accept_thread = std::thread(RunLoop, &core->accept_ioc, "accepting");
  const int threads = std::max(1, core->options.threads);
  for (int i = 0; i < threads; ++i) {
    core->threads.emplace_back(RunLoop, &core->ioc, "a request handler");
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  server->impl_->core = std::move(core);
  server->port_ = port;
  server->url_ = url;
  while (!server->url_.empty() && server->url_.back() == '/') server->url_.pop_back();
  if (server->url_.size() >= 2 && server->url_.compare(server->url_.size() - 2, 2, ":0") == 0) {
    server->url_ = given_host + ":" + std::to_string(port);  // the port the kernel picked
  }
  return server;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::StartAsyncOnFreeLoopbackPort(
    AsyncHttpHandler handler, HttpServerOptions options) {
  // Binding port 0 lets the kernel pick: no probe, no race with another process.
  const std::string scheme = options.tls_context ? "https" : "http";
  StatusOr<std::unique_ptr<HttpServer>> s =
      StartAsync(scheme + "://127.0.0.1:0", std::move(handler), std::move(options));
  if (!s.ok()) return s.status().WithContext("no free loopback port");
  return s;
}

HttpPoster HttpServer::Poster() const {
  std::weak_ptr<Core> weak = impl_ ? impl_->core : nullptr;
  return [weak](std::function<void()> task) {
    std::shared_ptr<Core> core = weak.lock();
    // A stopping server runs nothing new (a task queued now would keep its connection).
    if (!core || core->stopped || core->halting) return;
    net::post(core->ioc, std::move(task));
  };
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (!impl_) return;
  std::shared_ptr<Core> core = impl_->core;
  if (core->stopped.exchange(true)) return;
  // No connection is accepted from here on (one being accepted now is registered first, and
  // closed below with the others).
  core->accept_ioc.stop();
  if (core->accept_thread.joinable()) core->accept_thread.join();
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(core->mu);
    for (auto& [p, w] : core->connections) {
      if (auto c = w.lock()) open.push_back(std::move(c));
    }
  }
  // Let open watches send their terminating chunk before the connections are dropped.
  std::vector<std::shared_ptr<StreamSink>> sinks;
  for (auto& c : open) {
    if (auto s = c->sink()) sinks.push_back(std::move(s));
  }
  for (auto& s : sinks) s->Close();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& s : sinks) s->WaitGone(deadline);
  sinks.clear();
  core->halting = true;
  core->ioc_work.reset();
  core->ioc.stop();  // handlers running now finish; nothing new starts
  for (std::thread& t : core->threads) t.join();
  core->threads.clear();
  {
    beast::error_code ec;
    core->acceptor.close(ec);
  }
  for (auto& c : open) c->Close();
  open.clear();
  // Run what the closing aborted (each sees `stopped` and lets go of its connection, the
  // pending accept of the core), so that connections and their sockets are freed now.
  core->accept_ioc.restart();
  try {
    core->accept_ioc.poll();
  } catch (const std::exception&) {
  }
  core->ioc.restart();
  try {
    core->ioc.poll();
  } catch (const std::exception&) {
  }
}

}  // namespace meridian::apimachinery::rest
