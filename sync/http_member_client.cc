#include "sync/http_member_client.h"

#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/json_parse.h"
#include "observability/metrics.h"
#include "sync/internal/http_connection_pool.h"
#include "sync/internal/kube_wire.h"
#include "sync/member_apply.h"

namespace meridian::sync {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;
using nlohmann::json;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int64_t kListPageSize = 500;

boost::asio::io_service& TimerService() { return crossplat::threadpool::shared_instance().service(); }

// ---- TLS material -------------------------------------------------------------------------

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in a PEM bundle (empty when none parse).
std::vector<X509*> ReadCertificates(const std::string& pem) {
  std::vector<X509*> out;
  BioPtr bio = MemBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.push_back(x);
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

void FreeCertificates(std::vector<X509*>& certs) {
  for (X509* x : certs) X509_free(x);
  certs.clear();
}

Status ValidateCredentials(const std::string& member, const MemberCredentials& c) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("member \"" + member + "\": " + why);
  };
  if (!c.certificate_authority_pem.empty()) {
    std::vector<X509*> certs = ReadCertificates(c.certificate_authority_pem);
    const bool none = certs.empty();
    FreeCertificates(certs);
    if (none) return bad("certificate authority: no PEM certificate found");
  }
  if (c.client_certificate_pem.empty() != c.client_key_pem.empty()) {
    return bad(c.client_key_pem.empty() ? "client certificate given without a client key"
                                        : "client key given without a client certificate");
  }
  if (!c.client_certificate_pem.empty()) {
    std::vector<X509*> certs = ReadCertificates(c.client_certificate_pem);
    if (certs.empty()) return bad("client certificate: no PEM certificate found");
    BioPtr bio = MemBio(c.client_key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    if (!key) {
      FreeCertificates(certs);
      return bad("client key: no PEM private key found");
    }
    const bool match = X509_check_private_key(certs[0], key) == 1;
    ERR_clear_error();
    EVP_PKEY_free(key);
    FreeCertificates(certs);
    if (!match) return bad("client key does not match the client certificate");
  }
  return Status::Ok();
}

http_client_config MakeConfig(const MemberCredentials& creds, std::chrono::milliseconds timeout) {
  http_client_config config;
  config.set_timeout(timeout);
  config.set_validate_certificates(!creds.insecure_skip_tls_verify);
  if (!creds.certificate_authority_pem.empty() || !creds.client_certificate_pem.empty()) {
    config.set_ssl_context_callback(
        [creds](boost::asio::ssl::context& ctx) { ConfigureClientTls(creds, ctx); });
  }
  return config;
}

struct HttpResult {
  int code = 0;
  std::string body;
  int64_t retry_after = 0;  // the Retry-After header in seconds (0: absent or a date)
};

// The Retry-After header's value in seconds (0: absent or a date).
int64_t RetryAfterSeconds(const std::string& v) {
  if (v.empty()) return 0;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return 0;  // an HTTP date: rare from API servers; use backoff
    n = n * 10 + (c - '0');
    if (n > 3600) return 3600;
  }
  return n;
}

int64_t RetryAfterHeader(const http::http_headers& headers) {
  auto it = headers.find(U("Retry-After"));
  if (it == headers.end()) return 0;
  return RetryAfterSeconds(utility::conversions::to_utf8string(it->second));
}

}  // namespace

Status CheckClientCredentials(const std::string& who, const MemberCredentials& creds) {
  return ValidateCredentials(who, creds);
}

void ConfigureClientTls(const MemberCredentials& creds, boost::asio::ssl::context& ctx) {
  if (!creds.certificate_authority_pem.empty() && !creds.insecure_skip_tls_verify) {
    // Only the given roots are trusted, as kubectl does with certificate-authority-data.
    X509_STORE* store = X509_STORE_new();
    std::vector<X509*> certs = ReadCertificates(creds.certificate_authority_pem);
    for (X509* x : certs) X509_STORE_add_cert(store, x);
    FreeCertificates(certs);
    SSL_CTX_set_cert_store(ctx.native_handle(), store);  // takes ownership
  }
  if (!creds.client_certificate_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(creds.client_certificate_pem));
    ctx.use_private_key(boost::asio::buffer(creds.client_key_pem), boost::asio::ssl::context::pem);
  }
}

// ---- Transport ------------------------------------------------------------------------------

struct HttpMemberClient::Transport {
  std::string member;
  internal::ServerUrl url;
  MemberCredentials credentials;
  std::chrono::milliseconds timeout{10'000};
  std::string user_agent;
  std::function<HttpHeaders()> write_headers;  // HttpMemberClientOptions::write_headers
  // client-go's rest_client_* metrics (observability/metrics.h) are per member host and path
  // prefix (membersim serves many members on one host:port): "host:port/base/path".
  std::string metrics_host;
  std::shared_ptr<http_client> client;  // for parallel discovery and relists (async calls)
  // For blocking calls: run on the caller's thread (sync/internal/http_connection_pool.h).
  std::shared_ptr<internal::HttpConnectionPool> pool;

  std::shared_ptr<http_client> NewClient(std::chrono::milliseconds inactivity_timeout) const {
    return std::make_shared<http_client>(web::uri(url.origin),
                                         MakeConfig(credentials, inactivity_timeout));
  }

  // A request with the member's headers (accept, user agent, credentials, the options'
  // write headers on anything but GET).
  internal::HttpRequestSpec Spec(const std::string& method, const std::string& path_and_query,
                                 const std::string* body = nullptr,
                                 const std::string& content_type = "application/json") const {
    internal::HttpRequestSpec spec;
    spec.method = method;
    spec.target = path_and_query;
    spec.headers.emplace_back("Accept", "application/json");
    spec.headers.emplace_back("User-Agent", user_agent);
    if (write_headers && method != "GET") {
      for (const auto& [name, value] : write_headers()) {
        if (!value.empty()) spec.headers.emplace_back(name, value);
      }
    }
    if (!credentials.bearer_token.empty()) {
      spec.headers.emplace_back("Authorization", "Bearer " + credentials.bearer_token);
    }
    if (body) {
      spec.headers.emplace_back("Content-Type", content_type);
      spec.body = *body;
    }
    return spec;
  }

  // The same request for cpprestsdk (watch streams, async calls).
  http::http_request NewRequest(const http::method& method, const std::string& path_and_query,
                                const std::string* body = nullptr,
                                const std::string& content_type = "application/json") const {
    http::http_request req(method);
    req.set_request_uri(web::uri(path_and_query));
    for (const auto& [name, value] : Spec(method, path_and_query).headers) {
      req.headers().add(name, value);
    }
    if (body) req.set_body(*body, content_type);
    return req;
  }

  Status TransportError(const std::string& what, const std::exception& e) const {
    return TransportErrorFor(Prefix(what), timeout, e);
  }

  static Status TransportErrorFor(const std::string& prefix, std::chrono::milliseconds timeout,
                                  const std::exception& e) {
    if (const auto* he = dynamic_cast<const http::http_exception*>(&e)) {
      if (he->error_code() == std::errc::timed_out) {
        return DeadlineExceededError(prefix + "timed out after " +
                                     std::to_string(timeout.count()) + " ms");
      }
    }
    return UnavailableError(prefix + e.what());
  }

  std::string Prefix(const std::string& what) const {
    return "member \"" + member + "\": " + (what.empty() ? "" : what + ": ");
  }

  // Sends `req` on `on` and calls `done` exactly once: with the answer (any HTTP code), a
  // transport error, or kDeadlineExceeded once `deadline` passes (the request is then
  // cancelled). `done` runs on a cpprestsdk pool thread.
  void StartCall(http_client& on, http::http_request req, std::chrono::milliseconds deadline,
                 const std::string& what, std::function<void(StatusOr<HttpResult>)> done) const {
    struct CallState {
      std::atomic<bool> finished{false};
      std::function<void(StatusOr<HttpResult>)> done;
      pplx::cancellation_token_source cts;
      boost::asio::steady_timer timer{TimerService()};
      void Finish(StatusOr<HttpResult> r) {
        if (finished.exchange(true)) return;
        auto d = std::move(done);
        d(std::move(r));
      }
    };
    auto state = std::make_shared<CallState>();
    state->done = [done = std::move(done), host = metrics_host, method = req.method(),
                   start = std::chrono::steady_clock::now()](StatusOr<HttpResult> r) {
      observability::ObserveRestClientRequest(
          host, method, r.ok() ? r->code : -1,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      done(std::move(r));
    };
    const std::string prefix = Prefix(what);
    const int64_t ms = deadline.count();
    state->timer.expires_after(deadline);
    state->timer.async_wait([state, prefix, ms](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the call finished first
      // Answer first: cancelling closes the connection, whose error would race this.
      state->Finish(DeadlineExceededError(prefix + "no answer within " + std::to_string(ms) + " ms"));
      state->cts.cancel();
    });
    try {
      on.request(req, state->cts.get_token())
          .then([](http::http_response resp) {
            const int code = resp.status_code();
            const int64_t retry_after = RetryAfterHeader(resp.headers());
            return resp.extract_utf8string(/*ignore_content_type=*/true)
                .then([code, retry_after](std::string body) {
                  return HttpResult{code, std::move(body), retry_after};
                });
          })
          .then([state, prefix, timeout = timeout](pplx::task<HttpResult> t) {
            try {
              HttpResult r = t.get();
              state->timer.cancel();
              state->Finish(std::move(r));
            } catch (const pplx::task_canceled&) {
              state->Finish(CancelledStatus(prefix));
            } catch (const std::exception& e) {
              state->timer.cancel();
              state->Finish(TransportErrorFor(prefix, timeout, e));
            }
          });
    } catch (const std::exception& e) {
      state->timer.cancel();
      state->Finish(TransportError(what, e));
    }
  }

  static Status CancelledStatus(const std::string& prefix) {
    return Status(StatusCode::kCancelled, prefix + "request cancelled");
  }

  // A blocking call with the endpoint's timeout, on the caller's thread: any HTTP code, or
  // kDeadlineExceeded / kUnavailable (as StartCall's).
  StatusOr<HttpResult> Call(const internal::HttpRequestSpec& req, const std::string& what) const {
    const auto start = std::chrono::steady_clock::now();
    StatusOr<internal::HttpAnswer> a = pool->Send(req, timeout);
    observability::ObserveRestClientRequest(
        metrics_host, req.method, a.ok() ? a->code : -1,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!a.ok()) {
      if (a.status().code() == StatusCode::kDeadlineExceeded) {
        return DeadlineExceededError(Prefix(what) + "no answer within " +
                                     std::to_string(timeout.count()) + " ms");
      }
      return Status(a.status().code(), Prefix(what) + a.status().message());
    }
    return HttpResult{a->code, std::move(a->body), RetryAfterSeconds(a->retry_after)};
  }

  // A call whose 2xx answer is a JSON document.
  StatusOr<json> CallJson(const internal::HttpRequestSpec& req, const std::string& what) const {
    MERIDIAN_ASSIGN_OR_RETURN(HttpResult r, Call(std::move(req), what));
    return JsonAnswer(r, what);
  }

  StatusOr<json> JsonAnswer(const HttpResult& r, const std::string& what) const {
    if (r.code < 200 || r.code > 299) {
      return internal::MemberErrorStatus(member, what, r.code, r.body, r.retry_after);
    }
    JsonParseError error;
    json j = ParseJson(r.body, &error);
    if (j.is_discarded()) {
      return InternalError(Prefix(what) + "answer is not JSON: " + error.ToString());
    }
    return j;
  }
};

// ---- Watch ----------------------------------------------------------------------------------

namespace {

// What a watch keeps of an object it delivered: its resourceVersion (to diff a relist
// against) and, serialised, its apiVersion, kind and metadata without managedFields and
// without the last-applied records (Meridian's and kubectl's annotations: each a whole copy
// of the object, and no reader of a DELETED event looks at them) — the DELETED event of an
// object a relist no longer finds. A few hundred bytes instead of the decoded object (every
// object Meridian writes carries its last-applied record, which would double that): a member
// with 10,000 objects, a fleet with 1,000,000 (issue 14).
struct Delivered {
  std::string resource_version;
  std::string identity;  // JSON text
};

// `keep_identity` false (WatchOptions::caller_keeps_objects): the resourceVersion only.
Delivered DeliveredFrom(const json& item, bool keep_identity) {
  if (!keep_identity) return {internal::ResourceVersionOf(item), ""};
  json identity = json::object();
  for (const char* field : {"apiVersion", "kind"}) {
    if (auto it = item.find(field); it != item.end()) identity[field] = *it;
  }
  if (auto meta = item.find("metadata"); meta != item.end() && meta->is_object()) {
    json m = *meta;
    m.erase("managedFields");
    if (auto a = m.find("annotations"); a != m.end() && a->is_object()) {
      a->erase(kLastAppliedAnnotation);
      a->erase("kubectl.kubernetes.io/last-applied-configuration");
      if (a->empty()) m.erase(a);
    }
    identity["metadata"] = std::move(m);
  }
  return {internal::ResourceVersionOf(item), identity.dump()};
}

// The DELETED event's object for `key` (ObjectCacheKey: "ns/name" or "name"): its identity,
// or only its namespace and name when the watch kept none.
json LastKnown(const std::string& key, const Delivered& d) {
  if (d.identity.empty()) {
    const size_t slash = key.find('/');
    json meta = slash == std::string::npos
                    ? json{{"name", key}}
                    : json{{"namespace", key.substr(0, slash)}, {"name", key.substr(slash + 1)}};
    return json{{"metadata", std::move(meta)}};
  }
  JsonParseError error;
  json j = ParseJson(d.identity, &error);
  return j.is_discarded() ? json::object() : j;  // cannot happen: we wrote it
}

// One watch: a chain of tasks (connect -> read -> ... -> reconnect / relist) on cpprestsdk's
// pool; at most one link of the chain runs at a time, so events are delivered in order.
class WatchStream final : public std::enable_shared_from_this<WatchStream> {
 public:
  using Transport = HttpMemberClient::Transport;

  WatchStream(std::shared_ptr<const Transport> transport, GroupVersionResource gvr,
              std::string ns, std::string collection_path, std::string label_selector,
              MemberWatchCallback callback, WatchOptions options)
      : transport_(std::move(transport)),
        gvr_(std::move(gvr)),
        ns_(std::move(ns)),
        path_(std::move(collection_path)),
        selector_(std::move(label_selector)),
        callback_(std::move(callback)),
        options_(std::move(options)),
        backoff_(options_.initial_backoff),
        client_(transport_->NewClient(options_.timeout + transport_->timeout)) {}

  // Delivers a list as synthetic ADDED events (calling thread) and starts after it.
  void Seed(ObjectList& list) {
    std::vector<MemberWatchEvent> events;
    events.reserve(list.items.size());
    {
      std::lock_guard lock(mu_);
      for (json& item : list.items) {
        if (!CallerKnows()) known_[internal::ObjectCacheKey(item)] = DeliveredFrom(item, KeepIdentity());
        std::string rv = internal::ResourceVersionOf(item);
        events.push_back({MemberEventType::kAdded, std::move(item), std::move(rv), true});
      }
      last_rv_ = list.resource_version;
    }
    list.items.clear();
    Emit(events);
  }

  void StartFrom(const std::string& rv) {
    {
      std::lock_guard lock(mu_);
      if (!rv.empty()) last_rv_ = rv;
    }
    Connect();
  }

  void Stop() {
    pplx::cancellation_token_source cts;
    std::shared_ptr<boost::asio::steady_timer> timer;
    {
      std::lock_guard lock(mu_);
      if (stopped_.exchange(true)) return;
      cts = cts_;
      timer = timer_;
    }
    cts.cancel();
    if (timer) timer->cancel();
    // Wait for a callback in progress, unless we are that callback.
    if (callback_thread_.load() != std::this_thread::get_id()) {
      std::lock_guard lock(callback_mu_);
    }
  }

  std::string LastResourceVersion() const {
    std::lock_guard lock(mu_);
    return last_rv_;
  }
  int64_t connections() const { return connections_.load(); }
  int64_t relists() const { return relists_.load(); }

 private:
  // State of one watch connection.
  struct Connection {
    pplx::cancellation_token_source cts;
    http::http_response response;
    concurrency::streams::streambuf<uint8_t> body;
    std::shared_ptr<boost::asio::steady_timer> lifetime;
    std::atomic<bool> lifetime_expired{false};
    std::vector<uint8_t> buf = std::vector<uint8_t>(kReadChunk);
    internal::LineSplitter lines;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    int64_t events = 0;
  };

  enum class After { kContinue, kReconnect, kRelist };

  bool stopped() const { return stopped_.load(); }
  bool KeepIdentity() const { return !options_.caller_keeps_objects; }
  // The caller tells a relist what it holds (WatchOptions::known_objects): known_ is filled
  // from it for the relist only, and otherwise empty.
  bool CallerKnows() const { return options_.caller_keeps_objects && options_.known_objects; }

  void Connect() {
    if (stopped()) return;
    auto conn = std::make_shared<Connection>();
    std::string rv;
    {
      std::lock_guard lock(mu_);
      if (stopped()) return;
      cts_ = conn->cts;
      rv = last_rv_;
    }
    const std::string query = internal::QueryString(
        {{"watch", "true"},
         {"resourceVersion", rv},
         {"timeoutSeconds", std::to_string(options_.timeout.count())},
         {"allowWatchBookmarks", "true"},
         {"labelSelector", selector_}});
    auto header_timer = std::make_shared<boost::asio::steady_timer>(TimerService());
    auto header_expired = std::make_shared<std::atomic<bool>>(false);
    header_timer->expires_after(transport_->timeout);
    header_timer->async_wait([cts = conn->cts, header_expired](const boost::system::error_code& ec) {
      if (ec) return;
      header_expired->store(true);
      cts.cancel();
    });
    auto self = shared_from_this();
    try {
      client_->request(transport_->NewRequest(http::methods::GET, path_ + query), conn->cts.get_token())
          .then([self, conn, header_timer, header_expired](pplx::task<http::http_response> t) {
            header_timer->cancel();
            self->OnHeaders(conn, std::move(t), header_expired->load());
          });
    } catch (const std::exception& e) {
      header_timer->cancel();
      Retry(transport_->TransportError(What(), e), Next::kConnect);
    }
  }

  void OnHeaders(const std::shared_ptr<Connection>& conn, pplx::task<http::http_response> t,
                 bool header_timeout) {
    // Always observe the task first: pplx traps on a faulted task nobody looked at.
    try {
      conn->response = t.get();
    } catch (const std::exception& e) {
      if (stopped()) return;
      Status s = header_timeout ? DeadlineExceededError(transport_->Prefix(What()) +
                                                        "no watch response within " +
                                                        std::to_string(transport_->timeout.count()) + " ms")
                                : transport_->TransportError(What(), e);
      Retry(s, Next::kConnect);
      return;
    }
    if (stopped()) return;
    const int code = conn->response.status_code();
    if (code != 200) {
      auto self = shared_from_this();
      conn->response.extract_utf8string(true).then([self, conn, code](pplx::task<std::string> bt) {
        std::string body;
        try {
          body = bt.get();
        } catch (const std::exception&) {
        }
        if (self->stopped()) return;
        Status s = internal::MemberErrorStatus(self->transport_->member, self->What(), code, body);
        if (code == 410) {
          self->Expired(s);
        } else {
          self->Retry(s, Next::kConnect);
        }
      });
      return;
    }
    connections_.fetch_add(1);
    if (options_.on_connected) {
      std::lock_guard lock(callback_mu_);
      callback_thread_.store(std::this_thread::get_id());
      if (!stopped()) options_.on_connected();
      callback_thread_.store(std::thread::id());
    }
    conn->body = conn->response.body().streambuf();
    conn->lifetime = std::make_shared<boost::asio::steady_timer>(TimerService());
    conn->lifetime->expires_after(options_.timeout + transport_->timeout);
    std::weak_ptr<Connection> weak = conn;
    conn->lifetime->async_wait([weak](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto c = weak.lock()) {
        c->lifetime_expired.store(true);
        c->cts.cancel();
      }
    });
    ReadMore(conn);
  }

  void ReadMore(const std::shared_ptr<Connection>& conn) {
    if (stopped()) return;
    size_t want = 1;
    try {
      want = std::clamp<size_t>(conn->body.in_avail(), 1, kReadChunk);
    } catch (const std::exception&) {
    }
    auto self = shared_from_this();
    try {
      conn->body.getn(conn->buf.data(), want).then([self, conn](pplx::task<size_t> t) {
        size_t got = 0;
        Status err;
        try {
          got = t.get();
        } catch (const std::exception& e) {
          err = self->transport_->TransportError(self->What() + ": reading the watch stream", e);
        }
        if (self->stopped()) {
          self->EndConnection(conn);  // releases the lifetime timer now, not minutes later
          return;
        }
        if (!err.ok() || got == 0) {
          self->StreamEnded(conn, err);
          return;
        }
        std::vector<std::string> lines;
        Status s = conn->lines.Append(
            std::string_view(reinterpret_cast<const char*>(conn->buf.data()), got), &lines);
        if (!s.ok()) {
          self->EndConnection(conn);
          self->Retry(s.WithContext(self->transport_->Prefix(self->What())), Next::kConnect);
          return;
        }
        for (const std::string& line : lines) {
          Status why;
          const After after = self->HandleLine(conn, line, &why);
          if (after == After::kContinue) continue;
          self->EndConnection(conn);
          if (after == After::kRelist) {
            self->Expired(why);
          } else {
            self->Retry(why, Next::kConnect);
          }
          return;
        }
        self->ReadMore(conn);
      });
    } catch (const std::exception& e) {
      StreamEnded(conn, transport_->TransportError(What(), e));
    }
  }

  After HandleLine(const std::shared_ptr<Connection>& conn, const std::string& line, Status* why) {
    StatusOr<internal::WireWatchEvent> parsed = internal::ParseWatchEventLine(line);
    if (!parsed.ok()) {
      *why = parsed.status().WithContext(transport_->Prefix(What()) + "malformed watch event");
      return After::kReconnect;
    }
    internal::WireWatchEvent& e = *parsed;
    using T = internal::WireWatchEvent::Type;
    if (e.type == T::kError) {
      *why = Status(internal::CodeForHttp(e.error_code, e.error_reason),
                    transport_->Prefix(What()) + "watch ERROR event " +
                        std::to_string(e.error_code) + " " + e.error_reason + ": " +
                        e.error_message);
      const bool expired =
          e.error_code == 410 || e.error_reason == "Expired" || e.error_reason == "Gone";
      return expired ? After::kRelist : After::kReconnect;
    }
    ++conn->events;
    relisted_since_event_ = false;
    MemberWatchEvent out;
    {
      std::lock_guard lock(mu_);
      if (!e.resource_version.empty()) last_rv_ = e.resource_version;
      if (e.type == T::kBookmark) return After::kContinue;
      if (e.type == T::kDeleted) {
        if (!CallerKnows()) known_.erase(internal::ObjectCacheKey(e.object));
        out.type = MemberEventType::kDeleted;
      } else {
        if (!CallerKnows()) known_[internal::ObjectCacheKey(e.object)] = DeliveredFrom(e.object, KeepIdentity());
        out.type = e.type == T::kAdded ? MemberEventType::kAdded : MemberEventType::kModified;
      }
    }
    backoff_ = options_.initial_backoff;
    out.object = std::move(e.object);
    out.resource_version = std::move(e.resource_version);
    Emit({std::move(out)});
    return After::kContinue;
  }

  void EndConnection(const std::shared_ptr<Connection>& conn) {
    if (conn->lifetime) conn->lifetime->cancel();
    conn->cts.cancel();
  }

  void StreamEnded(const std::shared_ptr<Connection>& conn, const Status& err) {
    if (conn->lifetime) conn->lifetime->cancel();
    const bool lived = std::chrono::steady_clock::now() - conn->started >= std::chrono::seconds(1);
    if ((err.ok() || conn->lifetime_expired.load()) && (lived || conn->events > 0)) {
      // The server ended the watch (timeoutSeconds) or our lifetime bound did: resume now.
      backoff_ = options_.initial_backoff;
      Connect();
      return;
    }
    Retry(err.ok() ? UnavailableError(transport_->Prefix(What()) + "watch stream ended at once")
                   : err,
          Next::kConnect);
  }

  // 410: relist now, or after backoff when the watch started right after a relist already
  // expired (a member whose history is too short must not make us relist in a tight loop).
  void Expired(const Status& why) {
    if (relisted_since_event_) {
      Retry(why, Next::kRelist);
    } else {
      Notify(why);
      Relist();
    }
  }

  // Lists again and delivers the difference from what was delivered so far; then watches
  // from the list's resourceVersion. In pages of kListPageSize, each bounded by the call
  // timeout (not the whole list: a member with 10,000 objects on a loaded machine would
  // never finish); a failed page is asked again after backoff, a continue token that expired
  // (410) starts the list again. Objects new or changed are delivered page by page, the ones
  // gone after the last page.
  void Relist() {
    if (stopped()) return;
    relists_.fetch_add(1);
    relist_ = RelistState{};
    if (CallerKnows()) {
      std::map<std::string, Delivered> held;
      {
        // As a callback: never after Stop() returned (the caller's copy may be gone then).
        std::lock_guard lock(callback_mu_);
        if (stopped()) return;
        callback_thread_.store(std::this_thread::get_id());
        try {
          options_.known_objects([&](const std::string& key, const std::string& rv) {
            held[key] = Delivered{rv, ""};
          });
        } catch (const std::exception&) {
          // Then the relist takes nothing for gone this time.
        }
        callback_thread_.store(std::thread::id());
      }
      std::lock_guard lock(mu_);
      known_.swap(held);
    }
    RelistPage();
  }

  void RelistPage() {
    if (stopped()) return;
    auto self = shared_from_this();
    const std::string query = internal::QueryString({{"labelSelector", selector_},
                                                     {"limit", std::to_string(kListPageSize)},
                                                     {"continue", relist_.continue_token}});
    transport_->StartCall(*transport_->client,
                          transport_->NewRequest(http::methods::GET, path_ + query),
                          transport_->timeout, What(), [self](StatusOr<HttpResult> r) {
                            if (self->stopped()) return;
                            self->OnRelistPage(std::move(r));
                          });
  }

  void OnRelistPage(StatusOr<HttpResult> r) {
    StatusOr<ObjectList> list = [&]() -> StatusOr<ObjectList> {
      if (!r.ok()) return r.status();
      StatusOr<json> j = transport_->JsonAnswer(*r, What());
      if (!j.ok()) return j.status();
      return internal::ParseObjectList(*j);
    }();
    if (!list.ok()) {
      const bool expired =
          list.status().code() == StatusCode::kOutOfRange && !relist_.continue_token.empty();
      Retry(list.status(), expired ? Next::kRelist : Next::kRelistPage);
      return;
    }
    std::vector<MemberWatchEvent> events;
    {
      std::lock_guard lock(mu_);
      if (relist_.continue_token.empty()) relist_.resource_version = list->resource_version;
      for (json& item : list->items) {
        std::string key = internal::ObjectCacheKey(item);
        std::string rv = internal::ResourceVersionOf(item);
        auto it = known_.find(key);
        const bool added = it == known_.end();
        const bool changed = !added && it->second.resource_version != rv;
        if (added || changed) {
          known_[key] = DeliveredFrom(item, KeepIdentity());
          events.push_back({added ? MemberEventType::kAdded : MemberEventType::kModified,
                            std::move(item), std::move(rv), true});
        }
        relist_.seen.insert(std::move(key));
      }
    }
    Emit(events);
    if (!list->continue_token.empty()) {
      relist_.continue_token = list->continue_token;
      RelistPage();
      return;
    }
    events.clear();
    {
      std::lock_guard lock(mu_);
      for (auto it = known_.begin(); it != known_.end();) {
        // Not listed, yet written after the list was taken (the caller's copy can be newer
        // than the list: a write's answer): not gone.
        if (relist_.seen.count(it->first) ||
            internal::NewerVersion(it->second.resource_version, relist_.resource_version)) {
          ++it;
          continue;
        }
        events.push_back(
            {MemberEventType::kDeleted, LastKnown(it->first, it->second),
             it->second.resource_version, true});
        it = known_.erase(it);
      }
      last_rv_ = relist_.resource_version;
      if (CallerKnows()) std::map<std::string, Delivered>().swap(known_);  // the caller's again
    }
    relist_ = RelistState{};
    relisted_since_event_ = true;
    Emit(events);
    Connect();
  }

  enum class Next { kConnect, kRelist, kRelistPage };

  void Retry(const Status& why, Next next) {
    if (stopped()) return;
    Notify(why);
    const std::chrono::milliseconds delay = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    auto timer = std::make_shared<boost::asio::steady_timer>(TimerService());
    auto self = shared_from_this();
    std::lock_guard lock(mu_);
    if (stopped()) return;
    timer_ = timer;
    timer->expires_after(delay);
    timer->async_wait([self, next](const boost::system::error_code& ec) {
      if (ec || self->stopped()) return;
      switch (next) {
        case Next::kConnect:
          self->Connect();
          break;
        case Next::kRelist:
          self->Relist();
          break;
        case Next::kRelistPage:
          self->RelistPage();
          break;
      }
    });
  }

  void Emit(const std::vector<MemberWatchEvent>& events) {
    if (events.empty()) return;
    std::lock_guard lock(callback_mu_);
    callback_thread_.store(std::this_thread::get_id());
    for (const MemberWatchEvent& e : events) {
      if (stopped()) break;
      try {
        callback_(e);
      } catch (const std::exception&) {
        // A throwing callback must not kill the watch chain.
      }
    }
    callback_thread_.store(std::thread::id());
  }

  void Notify(const Status& why) {
    if (!options_.on_error || why.ok()) return;
    std::lock_guard lock(callback_mu_);
    if (stopped()) return;
    callback_thread_.store(std::this_thread::get_id());
    try {
      options_.on_error(why);
    } catch (const std::exception&) {
    }
    callback_thread_.store(std::thread::id());
  }

  std::string What() const { return "watch " + internal::DescribeObject(gvr_, ns_, ""); }

  const std::shared_ptr<const Transport> transport_;
  const GroupVersionResource gvr_;
  const std::string ns_;
  const std::string path_;
  const std::string selector_;
  const MemberWatchCallback callback_;
  const WatchOptions options_;
  // Touched only by the chain (one link at a time).
  std::chrono::milliseconds backoff_;
  bool relisted_since_event_ = false;
  std::shared_ptr<http_client> client_;

  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> relists_{0};

  // A relist in progress (touched only by the chain).
  struct RelistState {
    std::string continue_token;    // of the next page; "" for the first
    std::string resource_version;  // the first page's: watch from it afterwards
    std::set<std::string> seen;    // keys listed so far
  };
  RelistState relist_;

  mutable std::mutex mu_;  // guards last_rv_, known_, cts_, timer_
  std::string last_rv_;
  std::map<std::string, Delivered> known_;  // what the callback has been told exists
  pplx::cancellation_token_source cts_;
  std::shared_ptr<boost::asio::steady_timer> timer_;

  std::mutex callback_mu_;  // held while a callback runs
  std::atomic<std::thread::id> callback_thread_{};
};

class HttpMemberWatch final : public MemberWatch {
 public:
  explicit HttpMemberWatch(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
  ~HttpMemberWatch() override { stream_->Stop(); }
  void Stop() override { stream_->Stop(); }
  std::string LastResourceVersion() const override { return stream_->LastResourceVersion(); }
  int64_t Connections() const override { return stream_->connections(); }
  int64_t Relists() const override { return stream_->relists(); }

 private:
  std::shared_ptr<WatchStream> stream_;
};

}  // namespace

// ---- HttpMemberClient -----------------------------------------------------------------------

StatusOr<std::unique_ptr<HttpMemberClient>> HttpMemberClient::Create(
    MemberEndpoint endpoint, HttpMemberClientOptions options) {
  StatusOr<internal::ServerUrl> url = internal::ParseServerUrl(endpoint.server);
  if (!url.ok()) return url.status().WithContext("member \"" + endpoint.name + "\"");
  if (endpoint.timeout.count() <= 0) {
    return InvalidArgumentError("member \"" + endpoint.name + "\": timeout must be positive");
  }
  MERIDIAN_RETURN_IF_ERROR(ValidateCredentials(endpoint.name, endpoint.credentials));
  auto transport = std::make_shared<Transport>();
  transport->member = endpoint.name;
  transport->url = *url;
  transport->credentials = endpoint.credentials;
  transport->timeout = endpoint.timeout;
  transport->user_agent = options.user_agent;
  transport->write_headers = options.write_headers;
  const size_t scheme_end = url->origin.find("://");
  const std::string authority =
      scheme_end == std::string::npos ? url->origin : url->origin.substr(scheme_end + 3);
  transport->metrics_host = authority + url->base_path;
  internal::HttpConnectionPool::Options pool;
  pool.host = url->host;
  pool.port = url->port;
  try {
    if (url->tls) {
      // As cpprestsdk does: the system's roots unless the credentials name a CA.
      pool.tls = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
      pool.tls->set_default_verify_paths();
      ConfigureClientTls(endpoint.credentials, *pool.tls);
      pool.verify_peer = !endpoint.credentials.insecure_skip_tls_verify;
    }
    transport->pool = std::make_shared<internal::HttpConnectionPool>(std::move(pool));
    // cpprestsdk's own (inactivity) timeout only backs up our end-to-end deadline, which
    // must fire first so that a timeout reads as kDeadlineExceeded.
    transport->client = transport->NewClient(endpoint.timeout + std::chrono::seconds(2));
  } catch (const std::exception& e) {
    return InvalidArgumentError("member \"" + endpoint.name + "\": " + e.what());
  }
  return std::unique_ptr<HttpMemberClient>(
      new HttpMemberClient(std::move(endpoint), std::move(options), std::move(transport)));
}

HttpMemberClient::HttpMemberClient(MemberEndpoint endpoint, HttpMemberClientOptions options,
                                   std::shared_ptr<Transport> transport)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      transport_(std::move(transport)) {}

HttpMemberClient::~HttpMemberClient() = default;

StatusOr<DiscoveryInfo> HttpMemberClient::Discover(bool refresh) {
  std::lock_guard lock(discovery_mu_);
  const Timestamp now = clock_.Now();
  if (!refresh && discovery_ && now - discovery_time_ < options_.discovery_ttl) return *discovery_;
  const std::string& base = transport_->url.base_path;
  DiscoveryInfo info;
  {
    MERIDIAN_ASSIGN_OR_RETURN(json v, transport_->CallJson(
                                          transport_->Spec(http::methods::GET, base + "/version"),
                                          "discovery /version"));
    StatusOr<ServerVersion> sv = internal::ParseServerVersion(v);
    if (!sv.ok()) return sv.status().WithContext(transport_->Prefix("discovery /version"));
    info.version = *sv;
    info.supports_server_side_apply =
        info.version.major > 1 || (info.version.major == 1 && info.version.minor >= 22);
  }
  MERIDIAN_ASSIGN_OR_RETURN(json api, transport_->CallJson(
                                          transport_->Spec(http::methods::GET, base + "/api"),
                                          "discovery /api"));
  MERIDIAN_ASSIGN_OR_RETURN(json apis, transport_->CallJson(
                                           transport_->Spec(http::methods::GET, base + "/apis"),
                                           "discovery /apis"));
  info.group_versions = internal::ParseApiVersions(api);
  for (const std::string& gv : internal::ParseApiGroupList(apis)) info.group_versions.push_back(gv);

  // Every group version at once, each bounded by the timeout.
  struct Pending {
    std::string group, version;
    std::future<StatusOr<HttpResult>> answer;
  };
  std::vector<Pending> pending;
  for (const std::string& gv : info.group_versions) {
    Pending p;
    const size_t slash = gv.find('/');
    if (slash == std::string::npos) {
      p.version = gv;
    } else {
      p.group = gv.substr(0, slash);
      p.version = gv.substr(slash + 1);
    }
    auto promise = std::make_shared<std::promise<StatusOr<HttpResult>>>();
    p.answer = promise->get_future();
    const std::string path = base + internal::GroupVersionPath({p.group, p.version, ""});
    transport_->StartCall(*transport_->client, transport_->NewRequest(http::methods::GET, path),
                          transport_->timeout, "discovery " + path,
                          [promise](StatusOr<HttpResult> r) { promise->set_value(std::move(r)); });
    pending.push_back(std::move(p));
  }
  Status last_error;
  size_t answered = 0;
  for (Pending& p : pending) {
    StatusOr<HttpResult> r = p.answer.get();
    StatusOr<json> j = r.ok() ? transport_->JsonAnswer(*r, "discovery " + p.group + "/" + p.version)
                              : StatusOr<json>(r.status());
    if (!j.ok()) {
      last_error = j.status();
      continue;
    }
    ++answered;
    for (DiscoveredResource& d : internal::ParseApiResourceList(*j, p.group, p.version)) {
      info.resources.push_back(std::move(d));
    }
  }
  if (answered == 0 && !pending.empty()) return last_error;
  discovery_ = info;
  discovery_time_ = now;
  return info;
}

StatusOr<json> HttpMemberClient::Get(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name) {
  const std::string what = "get " + internal::DescribeObject(gvr, ns, name);
  if (name.empty()) return InvalidArgumentError(transport_->Prefix(what) + "name is empty");
  StatusOr<std::string> path = internal::ResourcePath(transport_->url.base_path, gvr, ns, name);
  if (!path.ok()) return path.status().WithContext(transport_->Prefix(what));
  return transport_->CallJson(transport_->Spec(http::methods::GET, *path), what);
}

StatusOr<ObjectList> HttpMemberClient::List(const GroupVersionResource& gvr, const std::string& ns,
                                            const MemberListOptions& options) {
  const std::string what = "list " + internal::DescribeObject(gvr, ns, "");
  StatusOr<std::string> path = internal::ResourcePath(transport_->url.base_path, gvr, ns, "");
  if (!path.ok()) return path.status().WithContext(transport_->Prefix(what));
  const std::string query = internal::QueryString(
      {{"labelSelector", options.label_selector},
       {"fieldSelector", options.field_selector},
       {"limit", options.limit > 0 ? std::to_string(options.limit) : ""},
       {"continue", options.continue_token}});
  MERIDIAN_ASSIGN_OR_RETURN(
      json j, transport_->CallJson(transport_->Spec(http::methods::GET, *path + query), what));
  StatusOr<ObjectList> list = internal::ParseObjectList(j);
  if (!list.ok()) return list.status().WithContext(transport_->Prefix(what));
  return list;
}

StatusOr<json> HttpMemberClient::Write(const std::string& method, const GroupVersionResource& gvr,
                                       const std::string& ns, const std::string& name,
                                       const std::string& subresource, const json& body,
                                       const std::string& content_type) {
  std::string verb = method == "POST" ? "create" : method == "PUT" ? "update" : "patch";
  if (!subresource.empty()) verb += " " + subresource + " of";
  std::string described = name;
  if (method == "POST" && body.is_object() && body.contains("metadata") &&
      body["metadata"].is_object() && body["metadata"].contains("name") &&
      body["metadata"]["name"].is_string()) {
    described = body["metadata"]["name"].get<std::string>();
  }
  const std::string what = verb + " " + internal::DescribeObject(gvr, ns, described);
  if (method != "POST" && name.empty()) {
    return InvalidArgumentError(transport_->Prefix(what) + "the object has no metadata.name");
  }
  StatusOr<std::string> path =
      internal::ResourcePath(transport_->url.base_path, gvr, ns, name, subresource);
  if (!path.ok()) return path.status().WithContext(transport_->Prefix(what));
  std::string text;
  try {
    text = body.dump();
  } catch (const std::exception& e) {  // invalid UTF-8 in a string
    return InvalidArgumentError(transport_->Prefix(what) + "cannot encode the body: " + e.what());
  }
  return transport_->CallJson(transport_->Spec(method, *path, &text, content_type), what);
}

namespace {
std::string NameOf(const json& object) {
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    const json& m = object["metadata"];
    if (m.contains("name") && m["name"].is_string()) return m["name"].get<std::string>();
  }
  return "";
}
}  // namespace

StatusOr<json> HttpMemberClient::Create(const GroupVersionResource& gvr, const std::string& ns,
                                        const json& object) {
  return Write("POST", gvr, ns, "", "", object, "application/json");
}

StatusOr<json> HttpMemberClient::Update(const GroupVersionResource& gvr, const std::string& ns,
                                        const json& object) {
  return Write("PUT", gvr, ns, NameOf(object), "", object, "application/json");
}

StatusOr<json> HttpMemberClient::UpdateStatus(const GroupVersionResource& gvr,
                                              const std::string& ns, const json& object) {
  return Write("PUT", gvr, ns, NameOf(object), "status", object, "application/json");
}

StatusOr<json> HttpMemberClient::MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                                            const std::string& name, const json& patch) {
  if (!patch.is_object()) {
    return InvalidArgumentError(transport_->Prefix("patch " + internal::DescribeObject(gvr, ns, name)) +
                                "a merge patch must be a JSON object");
  }
  return Write("PATCH", gvr, ns, name, "", patch, "application/merge-patch+json");
}

StatusOr<json> HttpMemberClient::JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                                           const std::string& name, const json& ops) {
  if (!ops.is_array()) {
    return InvalidArgumentError(transport_->Prefix("patch " + internal::DescribeObject(gvr, ns, name)) +
                                "a JSON patch must be an array of operations");
  }
  return Write("PATCH", gvr, ns, name, "", ops, "application/json-patch+json");
}

Status HttpMemberClient::Delete(const GroupVersionResource& gvr, const std::string& ns,
                                const std::string& name, const MemberDeleteOptions& options) {
  const std::string what = "delete " + internal::DescribeObject(gvr, ns, name);
  if (name.empty()) return InvalidArgumentError(transport_->Prefix(what) + "name is empty");
  StatusOr<std::string> path = internal::ResourcePath(transport_->url.base_path, gvr, ns, name);
  if (!path.ok()) return path.status().WithContext(transport_->Prefix(what));
  json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (!options.precondition_uid.empty()) body["preconditions"]["uid"] = options.precondition_uid;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  const std::string text = body.dump();
  MERIDIAN_ASSIGN_OR_RETURN(
      HttpResult r,
      transport_->Call(transport_->Spec(http::methods::DEL, *path, &text), what));
  if (r.code < 200 || r.code > 299) {
    return internal::MemberErrorStatus(transport_->member, what, r.code, r.body, r.retry_after);
  }
  if (options.answer != nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(*options.answer, transport_->JsonAnswer(r, what));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<MemberWatch>> HttpMemberClient::Watch(
    const GroupVersionResource& gvr, const std::string& ns, const std::string& label_selector,
    const std::string& from_resource_version, MemberWatchCallback callback, WatchOptions options) {
  const std::string what = "watch " + internal::DescribeObject(gvr, ns, "");
  if (!callback) return InvalidArgumentError(transport_->Prefix(what) + "no callback");
  if (options.timeout.count() <= 0 || options.initial_backoff.count() <= 0 ||
      options.max_backoff < options.initial_backoff) {
    return InvalidArgumentError(transport_->Prefix(what) + "invalid watch options");
  }
  StatusOr<std::string> path = internal::ResourcePath(transport_->url.base_path, gvr, ns, "");
  if (!path.ok()) return path.status().WithContext(transport_->Prefix(what));
  std::shared_ptr<WatchStream> stream;
  try {
    stream = std::make_shared<WatchStream>(transport_, gvr, ns, *path, label_selector,
                                           std::move(callback), std::move(options));
  } catch (const std::exception& e) {
    return InternalError(transport_->Prefix(what) + e.what());
  }
  if (from_resource_version.empty()) {
    // In pages, each bounded by the call timeout (not the whole list). Delivered once all
    // are in: a Watch that fails has delivered nothing.
    ObjectList all;
    MemberListOptions page;
    page.label_selector = label_selector;
    page.limit = kListPageSize;
    for (;;) {
      MERIDIAN_ASSIGN_OR_RETURN(ObjectList l, List(gvr, ns, page));
      if (all.resource_version.empty()) all.resource_version = l.resource_version;
      for (json& item : l.items) all.items.push_back(std::move(item));
      if (l.continue_token.empty()) break;
      page.continue_token = l.continue_token;
    }
    stream->Seed(all);
  }
  stream->StartFrom(from_resource_version);
  return std::unique_ptr<MemberWatch>(new HttpMemberWatch(std::move(stream)));
}

Status HttpMemberClient::Probe(const std::string& path, bool* not_found) {
  const std::string what = "probe " + path;
  MERIDIAN_ASSIGN_OR_RETURN(
      HttpResult r,
      transport_->Call(transport_->Spec(http::methods::GET, transport_->url.base_path + path),
                       what));
  if (not_found) *not_found = r.code == 404;
  if (r.code >= 200 && r.code <= 299) return Status::Ok();
  if (r.code == 401 || r.code == 403 || r.code == 404) {
    return internal::MemberErrorStatus(transport_->member, what, r.code, r.body, r.retry_after);
  }
  return UnavailableError(transport_->Prefix(what) + "HTTP " + std::to_string(r.code) + ": " +
                          r.body.substr(0, 500));
}

Status HttpMemberClient::Healthz() { return Probe("/healthz", nullptr); }

Status HttpMemberClient::Readyz() {
  bool not_found = false;
  Status s = Probe("/readyz", &not_found);
  if (!s.ok() && not_found) return Probe("/healthz", nullptr);
  return s;
}

StatusOr<json> HttpMemberClient::OpenApiV2() {
  return transport_->CallJson(
      transport_->Spec(http::methods::GET, transport_->url.base_path + "/openapi/v2"),
      "get /openapi/v2");
}

}  // namespace meridian::sync
