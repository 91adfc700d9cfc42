// RestHandler: the Kubernetes REST API over an ObjectService, without sockets.
//
// A RestRequest (method, decoded path, query, headers, body) becomes a RestResponse; watch
// responses stream through a WatchSink the transport provides. HttpServer
// (apimachinery/rest/http_server.h) is the thin Beast shell around it; tests drive the
// handler directly.
//
// Served paths (after an optional base path, e.g. "/clusters/eu-1"):
//   /version, /healthz, /livez, /readyz (and their "/..." sub-checks), /
//   /api, /api/v1, /apis, /apis/G, /apis/G/V              legacy discovery from the registry
//   /api/v1/[namespaces/NS/]RESOURCE[/NAME[/status]]      and /apis/G/V/... likewise
//   /api/v1/watch/..., /apis/G/V/watch/...                legacy watch paths
// Verbs: GET (get, list, watch with ?watch=true), POST (create, 201), PUT (update),
// PATCH (by Content-Type: json-patch, merge-patch, strategic-merge-patch), DELETE (item, with
// an optional DeleteOptions body; or collection). List/watch parameters: labelSelector,
// fieldSelector, limit, continue, resourceVersion, timeoutSeconds, allowWatchBookmarks.
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` answers a meta.k8s.io/v1 Table
// (also for watch events), `as=PartialObjectMetadata[List]` metadata only. Bodies over
// max_body_bytes answer 413. Errors are Kubernetes Status bodies.
//
// Embedder hooks: AddFilter (authentication/authorization: a chain of callbacks run before
// routing; a non-OK Status answers e.g. 401 Unauthorized / 403 Forbidden), AddRoute
// (extra endpoints such as /openapi/v2 or admin routes; exact path or prefix) and
// AddDiscoveryResource (an extra route's resource in discovery, e.g. a create-only review).
//
// Thread-safety: configure (AddFilter/AddRoute) before serving; Handle() is then
// thread-safe. Watches end when their timeout passes (checked against the injected Clock by
// a shared background thread about every 200 ms), when the client goes away, or on
// StopWatches()/destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apimachinery/api_error.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/list_response_cache.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::apimachinery::rest {

struct RestRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded, without query: "/api/v1/namespaces/default/pods"
  std::map<std::string, std::string> query;    // decoded; a repeated key keeps the last value
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  UserInfo user;  // filled by authentication filters
  // The client's TLS certificate (PEM, leaf first) when the connection presented one that the
  // handshake verified (HttpServer and gRPC fill it). Authentication verifies it again before
  // trusting it.
  std::string peer_certificate_pem;
  // The client's IP address ("127.0.0.1", "::1"), "" when the transport does not know it
  // (in-process callers). The audit log's sourceIPs.
  std::string peer_address;
  // What filters keep for as long as the request is served (a max-in-flight slot): released
  // when the request is destroyed, which RestHandler::Handle does when it returns.
  std::vector<std::shared_ptr<void>> holds;

  // A header by lower-case name ("" when absent).
  std::string Header(const std::string& lower_name) const;
  // A query parameter ("" when absent).
  std::string Query(const std::string& name) const;
};

// Where a watch response's events go. Implemented by the transport (HttpServer) and by tests.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Sends one chunk (here: one JSON event and a newline). Returns false once the client is
  // gone or the sink is closed (the chunk is dropped). Thread-safe.
  virtual bool Write(const std::string& chunk) = 0;
  // The same for a chunk shared with other watches (one event's bytes, serialized once for
  // all of them): a transport that queues may keep the pointer instead of copying the bytes.
  // Must not block on a slow client. Thread-safe.
  virtual bool WriteShared(std::shared_ptr<const std::string> chunk) { return Write(*chunk); }
  // Ends the response. Idempotent. Thread-safe.
  virtual void Close() = 0;
  // True once Close() was called or the client went away. Thread-safe.
  virtual bool Closed() const = 0;
};

struct RestResponse {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  // Instead of `body` (then empty): a body shared with a cache (a kept LIST body, hundreds of
  // KiB), sent from where it is kept and never copied. Read either through Body().
  std::shared_ptr<const std::string> shared_body;
  std::map<std::string, std::string> headers;  // extra response headers
  // The gzip encoding of `body` when whoever built the body already has it (the LIST
  // response cache); RestHandler::Handle sends it instead of compressing `body` again when
  // the response is to be compressed (RestOptions::gzip_min_bytes).
  std::shared_ptr<const std::string> gzip_body;
  // Set for watches: the transport answers `code` with a chunked body and calls
  // start_stream(sink) exactly once; events then go to the sink until it is closed.
  std::function<void(std::shared_ptr<WatchSink>)> start_stream;

  const std::string& Body() const { return shared_body ? *shared_body : body; }

  static RestResponse Json(int code, const nlohmann::json& body);
  static RestResponse Text(int code, const std::string& text);
  static RestResponse Error(const ApiError& error);
};

// A request filter: may read and annotate the request (e.g. set `user`). A non-OK Status
// stops the request and is answered as ApiError::FromStatus (kUnauthenticated -> 401
// Unauthorized, kPermissionDenied -> 403 Forbidden, ...).
using RestFilter = std::function<Status(RestRequest& request)>;
// Sees every request once its response is built (the audit stage): `request` as the filters
// left it (user set; unset when a filter refused it), `received` when Handle began. For a
// watch, `response.start_stream` is still to run: the observer may wrap it to see the stream
// end. Must be thread-safe.
using RestObserver =
    std::function<void(const RestRequest& request, RestResponse& response, Timestamp received)>;
// An extra route. Its path is relative to the base path, like built-in routes.
using RestRoute = std::function<RestResponse(const RestRequest& request)>;

struct RestOptions {
  std::string base_path;  // "" or "/clusters/eu-1": stripped before routing; other paths 404
  int64_t max_body_bytes = 3 * 1024 * 1024;
  // /version body; defaults to a v1.32-like version.
  nlohmann::json version = {{"major", "1"},        {"minor", "32"},
                            {"gitVersion", "v1.32.0-meridian"}, {"gitCommit", ""},
                            {"gitTreeState", "clean"}, {"buildDate", "2026-01-01T00:00:00Z"},
                            {"goVersion", "go1.23"}, {"compiler", "gc"},
                            {"platform", "linux/amd64"}};
  // Used when a watch has no timeoutSeconds (Kubernetes: 30-60 min).
  std::chrono::seconds default_watch_timeout{1800};
  // Serve a minimal /openapi/v3 generated from the registry: for every resource a PATCH
  // operation tagged with its group/version/kind and the `fieldValidation` parameter, which is
  // what kubectl (--validate=strict, the default) checks before `create -f`/`apply -f`.
  // There are no schemas (kubectl explain shows nothing; client-side apply falls back to its
  // built-in types or JSON merge patch). An embedder's AddRoute("/openapi/v3", ...) wins.
  bool serve_openapi_v3 = true;
  // Bookmark cadence for watches that allow them.
  std::chrono::seconds bookmark_interval{60};
  // A watch that sent nothing for this long gets a bare "\n" (JSON whitespace: client-go's
  // decoder and line-based readers skip it), so that a vanished client is noticed by the
  // failing write instead of lingering until the timeout. 0 disables.
  std::chrono::seconds watch_heartbeat_interval{30};
  // Watch budgets: open watches in total and per user (RestRequest::user.name; anonymous
  // callers share one budget). A watch past either answers 429 TooManyRequests with
  // Retry-After. 0 = no cap. How much a watch may leave unread is the transport's
  // (HttpServerOptions::max_watch_backlog_bytes and max_total_watch_backlog_bytes).
  int max_watches = 0;
  int max_watches_per_user = 0;
  // Response compression (content_encoding.h): a body of at least this many bytes is sent
  // gzip-encoded to a request whose Accept-Encoding allows it (kube-apiserver: 128 KiB).
  // 0 = never. Watch streams are not compressed.
  size_t gzip_min_bytes = 128 * 1024;
  // Encoded LIST bodies kept for repeated LISTs of an unchanged collection
  // (list_response_cache.h); max_bytes 0 keeps none.
  ListResponseCacheOptions list_response_cache;
};

class RestHandler {
 public:
  // `service` and `clock` must outlive the handler.
  RestHandler(ObjectService& service, const Clock& clock, RestOptions options = {});
  // Stops every watch it started (their sinks are closed).
  ~RestHandler();
  RestHandler(const RestHandler&) = delete;
  RestHandler& operator=(const RestHandler&) = delete;

  // Startup only. Filters run in order for every request, including extra routes unless
  // they were added with `before_filters`.
  void AddFilter(RestFilter filter) { filters_.push_back(std::move(filter)); }
  // Startup only. One observer (see RestObserver); a second replaces the first.
  void SetObserver(RestObserver observer) { observer_ = std::move(observer); }
  // `method` "" matches any; `prefix` true matches `path` and anything under "path/".
  void AddRoute(const std::string& method, const std::string& path, RestRoute route,
                bool prefix = false, bool before_filters = false);
  // Startup only. Lists a resource that an AddRoute route serves (not the registry) in the
  // APIResourceList of /apis/`group`/`version`, so that clients which map kinds through
  // discovery (kubectl create -f) find it: `entry` is its APIResourceList entry ({name,
  // singularName, namespaced, kind, verbs}), appended after the registry's resources. The
  // group/version must be one the registry serves (discovery of others stays 404).
  void AddDiscoveryResource(const std::string& group, const std::string& version,
                            nlohmann::json entry);

  // Serves one request. Thread-safe.
  RestResponse Handle(RestRequest request);

  // True if `path` is under this handler's base path (for a transport multiplexing many).
  bool Owns(const std::string& path) const;

  // The stored resource a request reads consistently, as Handle will route it: a GET (not a
  // watch) of an object, its status, or a collection, without resourceVersion or continue
  // (Kubernetes' "most recent"), for which the store's Get/List of that type is a consistent
  // read. nullopt for anything else. Lets a transport park such a read until its resource is
  // proven fresh (Cacher::WhenConsistent); a wrong answer costs a round, never correctness
  // (the read then takes the blocking path). Runs no filter; thread-safe.
  std::optional<ResourceType> ConsistentReadType(const RestRequest& request) const;

  // Ends every open watch now (their responses finish cleanly). Thread-safe.
  void StopWatches();
  // Open watch streams. Thread-safe.
  size_t ActiveWatches() const;

  const RestOptions& options() const { return options_; }
  // The LIST bodies kept (RestOptions::list_response_cache); for tests and metrics.
  const ListResponseCache& list_response_cache() const { return list_cache_; }

  class WatchSession;  // internal
  class EventLines;    // internal

 private:
  struct ExtraRoute {
    std::string method;
    std::string path;
    RestRoute route;
    bool prefix;
    bool before_filters;
  };
  std::optional<RestResponse> MatchRoute(const RestRequest& request, const std::string& path,
                                         bool before_filters) const;
  RestResponse HandleFiltered(RestRequest& request);
  RestResponse Route(RestRequest& request, const std::string& path);
  RestResponse Discovery(const std::vector<std::string>& segs);
  RestResponse OpenApiV3(const std::vector<std::string>& segs);
  RestResponse ServeResource(RestRequest& request, const std::string& group,
                             const std::string& version, std::vector<std::string> rest);
  RestResponse ServeWatch(const RestRequest& request, const ResourceInfo& resource,
                          const std::string& ns, ListRequest list);
  RestResponse ServeList(const RestRequest& request, const ResourceInfo& resource,
                         const std::string& ns, const ListRequest& list);
  // Compresses `response` for `request` when RestOptions::gzip_min_bytes says so.
  void EncodeBody(const RestRequest& request, RestResponse& response) const;

  ObjectService& service_;
  const Clock& clock_;
  const RestOptions options_;
  std::vector<RestFilter> filters_;
  RestObserver observer_;
  std::vector<ExtraRoute> routes_;
  std::map<std::string, std::vector<nlohmann::json>> extra_discovery_;  // by "group/version"

  struct Sessions;
  std::shared_ptr<Sessions> sessions_;
  ListResponseCache list_cache_;
};

}  // namespace meridian::apimachinery::rest
