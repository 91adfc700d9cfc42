#include "apimachinery/rest/rest_handler.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>

#include "apimachinery/rest/content_encoding.h"
#include "apimachinery/rest/protobuf_body.h"
#include "apimachinery/table.h"
#include "common/json_parse.h"
#include "common/path_segments.h"

namespace meridian::apimachinery::rest {

using nlohmann::json;

namespace {

const char* kNotFoundMessage = "the server could not find the requested resource";

ApiError PathNotFound() {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = kNotFoundMessage;
  return e;
}

enum class Render { kObject, kTable, kPartial };

Render ParseAccept(const std::string& accept) {
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    std::string range =
        accept.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (range.find("as=Table") != std::string::npos) return Render::kTable;
    if (range.find("as=PartialObjectMetadata") != std::string::npos) return Render::kPartial;
    if (range.find("json") != std::string::npos || range.find("*/*") != std::string::npos) {
      return Render::kObject;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Render::kObject;
}

TableObjects ParseIncludeObject(const std::string& v) {
  if (v == "None") return TableObjects::kNone;
  if (v == "Object") return TableObjects::kObject;
  return TableObjects::kMetadata;
}

json PartialObject(const json& o) {
  return {{"kind", "PartialObjectMetadata"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", o.contains("metadata") ? o["metadata"] : json::object()}};
}

json ResourceListEntry(const ResourceInfo& r) {
  json e = {{"name", r.plural},
            {"singularName", r.singular},
            {"namespaced", r.namespaced},
            {"kind", r.kind},
            {"verbs", {"create", "delete", "deletecollection", "get", "list", "patch", "update",
                       "watch"}}};
  if (!r.short_names.empty()) e["shortNames"] = r.short_names;
  if (!r.categories.empty()) e["categories"] = r.categories;
  return e;
}

json GroupEntry(const ResourceRegistry& reg, const std::string& group) {
  json versions = json::array();
  for (const std::string& v : reg.Versions(group)) {
    versions.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  }
  return {{"name", group}, {"versions", versions}, {"preferredVersion", versions.empty() ? json::object() : versions[0]}};
}

constexpr const char* kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// "Application/JSON; charset=utf-8" -> "application/json".
std::string MediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used != s.size()) return false;
    *out = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

// ---- RestRequest / RestResponse ---------------------------------------------------------

std::string RestRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string RestRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

RestResponse RestResponse::Json(int code, const json& body) {
  RestResponse r;
  r.code = code;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

RestResponse RestResponse::Text(int code, const std::string& text) {
  RestResponse r;
  r.code = code;
  r.content_type = "text/plain; charset=utf-8";
  r.body = text;
  return r;
}

RestResponse RestResponse::Error(const ApiError& error) {
  RestResponse r = Json(error.code, StatusBody(error));
  // Clients back off by the header (client-go reads Retry-After, not the body).
  if (error.retry_after_seconds > 0)
    r.headers["Retry-After"] = std::to_string(error.retry_after_seconds);
  return r;
}

// ---- watch sessions ---------------------------------------------------------------------

namespace {

// A watch event as its bytes on the wire: {"object":...,"type":"..."} and a newline, in
// nlohmann's key order (what the json dump of the pair used to give). Built without copying
// the object into a wrapper.
std::string EventLine(const std::string& type, const json& object) {
  std::string line = "{\"object\":";
  line += object.dump(-1, ' ', false, json::error_handler_t::replace);
  line += ",\"type\":";
  line += json(type).dump();
  line += "}\n";
  return line;
}

// The same from the object's compact JSON as the store keeps it (watch cache).
std::string EncodedEventLine(const std::string& type, const std::string& encoded) {
  std::string line;
  line.reserve(encoded.size() + type.size() + 24);
  line += "{\"object\":";
  line += encoded;
  line += ",\"type\":";
  line += json(type).dump();
  line += "}\n";
  return line;
}

}  // namespace

// The rendered lines of the last few events, shared by the watches of one handler: a store
// hands every watch the same object for one event, so the first watch to send it serializes
// it and the others reuse the bytes (with 100 watches on a 20 KB object this was 100
// serializations and 100 copies per update, on the store's single delivery thread). Keyed by
// the object's address, held alive by the entry so the address cannot be reused meanwhile.
class RestHandler::EventLines {
 public:
  std::shared_ptr<const std::string> Get(const std::string& type,
                                         const std::shared_ptr<const json>& object, bool partial,
                                         const std::shared_ptr<const std::string>& encoded) {
    {
      std::lock_guard lock(mu_);
      for (const Entry& e : entries_) {
        if (e.object == object && e.partial == partial && e.type == type) return e.line;
      }
    }
    // Serialized outside the lock: a miss costs no other watch a wait.
    auto line = std::make_shared<const std::string>(
        encoded && !partial ? EncodedEventLine(type, *encoded)
                            : EventLine(type, partial ? PartialObject(*object) : *object));
    std::lock_guard lock(mu_);
    entries_[next_] = Entry{object, type, partial, line};
    next_ = (next_ + 1) % entries_.size();
    return line;
  }

 private:
  struct Entry {
    std::shared_ptr<const json> object;
    std::string type;
    bool partial = false;
    std::shared_ptr<const std::string> line;
  };
  std::mutex mu_;  // guards entries_, next_
  std::array<Entry, 8> entries_;
  size_t next_ = 0;
};

class RestHandler::WatchSession {
 public:
  WatchSession(const Clock& clock, ResourceInfo resource, Render render, TableObjects include,
               Timestamp deadline, std::optional<std::chrono::seconds> bookmarks,
               std::chrono::seconds heartbeat, std::string user, std::shared_ptr<EventLines> lines)
      : user_(std::move(user)),
        lines_(std::move(lines)),
        clock_(clock),
        resource_(std::move(resource)),
        render_(render),
        include_(include),
        deadline_(deadline),
        bookmarks_(bookmarks),
        heartbeat_(heartbeat) {
    if (bookmarks_) next_bookmark_ = NextBookmark(clock_.Now());
    last_write_ = clock_.Now();
  }

  // Formats and sends one event (or buffers it until the transport attaches a sink).
  // Called from the request thread (initial events) and the store's dispatcher thread.
  // `shared`: the object is the store's, the same for every watch of this event (not one
  // made for this watch alone, e.g. its initial listing), so its line is worth sharing.
  void Emit(const std::string& type, const std::shared_ptr<const json>& object, int64_t rv,
            bool shared, const std::shared_ptr<const std::string>& encoded = nullptr) {
    std::shared_ptr<const std::string> line;
    if (render_ == Render::kTable) {
      json payload;
      {
        std::lock_guard lock(mu_);
        payload = RenderTable(resource_, {*object}, {{"resourceVersion", std::to_string(rv)}},
                              clock_.Now(), include_, !sent_header_);
        sent_header_ = true;
      }
      line = std::make_shared<const std::string>(EventLine(type, payload));
    } else if (shared && lines_) {
      line = lines_->Get(type, object, render_ == Render::kPartial, encoded);
    } else if (encoded && render_ == Render::kObject) {
      // The store's encoding (the watch cache's): no serialization per watch.
      line = std::make_shared<const std::string>(EncodedEventLine(type, *encoded));
    } else {
      line = std::make_shared<const std::string>(
          EventLine(type, render_ == Render::kPartial ? PartialObject(*object) : *object));
    }
    SendShared(std::move(line), rv);
  }

  void Send(const std::string& line) { SendShared(std::make_shared<const std::string>(line)); }

  // `rv`: the revision of the event the line carries (0: none), recorded under the lock the
  // line is written under, so that a bookmark (also written under it) is never older than an
  // event sent before it.
  void SendShared(std::shared_ptr<const std::string> line, int64_t rv = 0) {
    std::lock_guard lock(mu_);
    SendLocked(std::move(line));
    if (rv > last_rv_) last_rv_ = rv;
  }

  void SendLocked(std::shared_ptr<const std::string> line) {
    last_write_ = clock_.Now();
    if (!sink_) {
      pending_.push_back(std::move(line));
      return;
    }
    if (!sink_->WriteShared(std::move(line))) stop_requested_.store(true);
  }

  void Attach(std::shared_ptr<WatchSink> sink) {
    std::lock_guard lock(mu_);
    sink_ = std::move(sink);
    for (auto& line : pending_) {
      if (!sink_->WriteShared(std::move(line))) stop_requested_.store(true);
    }
    pending_.clear();
    if (finished_.load()) sink_->Close();
  }

  void SetWatch(std::unique_ptr<Watch> w) {
    std::lock_guard lock(mu_);
    watch_ = std::move(w);
  }

  void SetStartRv(int64_t rv) {
    std::lock_guard lock(mu_);
    if (rv > last_rv_) last_rv_ = rv;
  }

  void RequestStop() { stop_requested_.store(true); }

  // Periodic check (reaper thread). Returns false once the session is over.
  bool Tick() {
    std::lock_guard alive(alive_mu_);
    if (finished_.load()) return false;
    const Timestamp now = clock_.Now();
    bool sink_closed = false;
    {
      std::lock_guard lock(mu_);
      sink_closed = sink_ && sink_->Closed();
    }
    if (stop_requested_.load() || sink_closed || now >= deadline_) {
      Finish();
      return false;
    }
    if (bookmarks_ && now >= next_bookmark_) {
      next_bookmark_ = NextBookmark(now);
      SendBookmark();
    }
    if (heartbeat_.count() > 0) {
      bool idle = false;
      {
        std::lock_guard lock(mu_);
        idle = sink_ != nullptr && now - last_write_ >= heartbeat_;
      }
      if (idle) Send("\n");
    }
    return true;
  }

  // Cancels the store watch, then ends the response. Never called from a watch callback.
  void Finish() {
    if (finished_.exchange(true)) return;
    std::shared_ptr<Watch> w;
    {
      std::lock_guard lock(mu_);
      w = std::move(watch_);
    }
    if (w) w->Cancel();
    w.reset();
    std::lock_guard lock(mu_);
    if (sink_) sink_->Close();
  }

  bool finished() const { return finished_.load(); }
  const std::string& user() const { return user_; }

 private:
  // As kube-apiserver's watch cache: every bookmark interval, and once more about two seconds
  // before the watch's deadline, so that the client resumes from a fresh revision.
  Timestamp NextBookmark(Timestamp now) const {
    const Timestamp periodic = now + *bookmarks_;
    const Timestamp before_end = deadline_ - std::chrono::seconds(2);
    return before_end > now && before_end < periodic ? before_end : periodic;
  }

  // A BOOKMARK at the newest revision this watch is known complete through: the store's
  // delivery progress (which moves on writes of other kinds too, so a quiet kind's watch does
  // not fall behind the store's history), or the newest event sent. Every event at or below
  // the progress read has been sent before it is read, and later ones are above it and sent
  // in order, so taking the newest sent under the lock events are written under makes every
  // event before the bookmark at or below its revision and every event after it above. The
  // progress is read without that lock (a gated watch's delivery holds its gate, then ours).
  void SendBookmark() {
    std::shared_ptr<Watch> watch;
    {
      std::lock_guard lock(mu_);
      watch = watch_;
    }
    const int64_t delivered = watch ? watch->DeliveredThrough() : 0;
    std::lock_guard lock(mu_);
    const int64_t rv = std::max(last_rv_, delivered);
    if (rv <= 0) return;
    last_rv_ = rv;
    json bookmark = {{"type", "BOOKMARK"},
                     {"object",
                      {{"kind", resource_.kind},
                       {"apiVersion", resource_.GroupVersion()},
                       {"metadata", {{"resourceVersion", std::to_string(rv)}}}}}};
    SendLocked(std::make_shared<const std::string>(bookmark.dump() + "\n"));
  }

 public:
  // Waits for a Tick in progress to return (after which, if finished, the session touches
  // neither the clock nor the sink again).
  void WaitIdle() { std::lock_guard alive(alive_mu_); }

 private:
  const std::string user_;  // whose watch budget it counts against
  const std::shared_ptr<EventLines> lines_;
  const Clock& clock_;
  const ResourceInfo resource_;
  const Render render_;
  const TableObjects include_;
  const Timestamp deadline_;
  const std::optional<std::chrono::seconds> bookmarks_;
  const std::chrono::seconds heartbeat_;
  Timestamp next_bookmark_{};  // reaper thread only

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> finished_{false};

  std::mutex alive_mu_;  // held for the whole of Tick()
  std::mutex mu_;  // guards sink_, pending_, watch_, sent_header_, last_write_, last_rv_
  Timestamp last_write_{};
  int64_t last_rv_ = 0;  // the newest revision sent (event or bookmark), or the start
  std::shared_ptr<WatchSink> sink_;
  std::vector<std::shared_ptr<const std::string>> pending_;
  std::shared_ptr<Watch> watch_;  // shared: a bookmark reads its progress outside mu_
  bool sent_header_ = false;
};

namespace {

// One process-wide thread that ticks every open watch session (timeouts, bookmarks, client
// gone), so that a process with many handlers (membersim) does not need a thread per handler.
class WatchReaper {
 public:
  static WatchReaper& Get() {
    static auto* reaper = new WatchReaper();  // never destroyed: sessions may outlive statics
    return *reaper;
  }

  void Add(std::shared_ptr<RestHandler::WatchSession> s) {
    {
      std::lock_guard lock(mu_);
      sessions_.push_back(std::move(s));
      if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (sessions_.empty()) {
        cv_.wait(lock, [&] { return !sessions_.empty(); });
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(200));
      }
      std::vector<std::shared_ptr<RestHandler::WatchSession>> snapshot = sessions_;
      lock.unlock();
      std::vector<RestHandler::WatchSession*> done;
      for (const auto& s : snapshot) {
        if (!s->Tick()) done.push_back(s.get());
      }
      snapshot.clear();
      lock.lock();
      std::erase_if(sessions_, [&](const auto& s) {
        return std::find(done.begin(), done.end(), s.get()) != done.end();
      });
    }
  }

  std::mutex mu_;  // guards sessions_, thread_
  std::condition_variable cv_;
  std::vector<std::shared_ptr<RestHandler::WatchSession>> sessions_;
  std::thread thread_;
};

}  // namespace

struct RestHandler::Sessions {
  std::mutex mu;  // guards list
  std::vector<std::weak_ptr<WatchSession>> list;
  const std::shared_ptr<EventLines> lines = std::make_shared<EventLines>();
};

// ---- RestHandler ------------------------------------------------------------------------

RestHandler::RestHandler(ObjectService& service, const Clock& clock, RestOptions options)
    : service_(service),
      clock_(clock),
      options_(std::move(options)),
      sessions_(std::make_shared<Sessions>()),
      list_cache_(options_.list_response_cache) {}

RestHandler::~RestHandler() { StopWatches(); }

void RestHandler::AddRoute(const std::string& method, const std::string& path, RestRoute route,
                           bool prefix, bool before_filters) {
  routes_.push_back(ExtraRoute{method, path, std::move(route), prefix, before_filters});
}

void RestHandler::AddDiscoveryResource(const std::string& group, const std::string& version,
                                       json entry) {
  extra_discovery_[group + "/" + version].push_back(std::move(entry));
}

bool RestHandler::Owns(const std::string& path) const {
  const std::string& base = options_.base_path;
  if (base.empty()) return true;
  return path == base || (path.size() > base.size() && path.compare(0, base.size(), base) == 0 &&
                          path[base.size()] == '/');
}

void RestHandler::StopWatches() {
  std::vector<std::shared_ptr<WatchSession>> live;
  {
    std::lock_guard lock(sessions_->mu);
    for (auto& w : sessions_->list) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    sessions_->list.clear();
  }
  for (auto& s : live) {
    s->Finish();
    s->WaitIdle();
  }
}

size_t RestHandler::ActiveWatches() const {
  std::lock_guard lock(sessions_->mu);
  size_t n = 0;
  for (const auto& w : sessions_->list) {
    auto s = w.lock();
    if (s && !s->finished()) ++n;
  }
  return n;
}

std::optional<RestResponse> RestHandler::MatchRoute(const RestRequest& request,
                                                    const std::string& path,
                                                    bool before_filters) const {
  for (const ExtraRoute& r : routes_) {
    if (r.before_filters != before_filters) continue;
    if (!r.method.empty() && r.method != request.method) continue;
    bool match = path == r.path ||
                 (r.prefix && path.size() > r.path.size() &&
                  path.compare(0, r.path.size(), r.path) == 0 &&
                  (r.path.ends_with("/") || path[r.path.size()] == '/'));
    if (match) return r.route(request);
  }
  return std::nullopt;
}

RestResponse RestHandler::Handle(RestRequest request) {
  const Timestamp received = observer_ ? clock_.Now() : Timestamp{};
  RestResponse response = HandleFiltered(request);
  if (observer_) observer_(request, response, received);
  if (!response.start_stream) EncodeBody(request, response);
  return response;
}

void RestHandler::EncodeBody(const RestRequest& request, RestResponse& response) const {
  std::shared_ptr<const std::string> gzip = std::move(response.gzip_body);
  if (options_.gzip_min_bytes == 0 || response.Body().size() < options_.gzip_min_bytes ||
      response.headers.count("Content-Encoding") > 0 ||
      !AcceptsGzip(request.Header("accept-encoding"))) {
    return;
  }
  if (!gzip) {
    StatusOr<std::string> z = Gzip(response.Body());
    if (!z.ok()) return;  // zlib out of memory: the body goes as it is
    response.body = std::move(z).value();
    response.shared_body.reset();
  } else {
    response.shared_body = std::move(gzip);  // kept with the identity body: not copied
    response.body.clear();
  }
  response.headers["Content-Encoding"] = "gzip";
  response.headers["Vary"] = "Accept-Encoding";
}

RestResponse RestHandler::ServeList(const RestRequest& request, const ResourceInfo& r,
                                    const std::string& ns, const ListRequest& list) {
  // Items shared with the store and, from the watch cache, already encoded: the body is
  // concatenated, not built as a JSON tree and serialized (key order as nlohmann's).
  ApiResult<SharedList> listed = service_.ListShared(r, ns, list);
  if (!listed.ok()) return RestResponse::Error(listed.error());
  // The request's shape; whether a kept body still answers it is decided by the list itself.
  std::string key = r.GroupVersion();
  for (const std::string* part :
       {&r.plural, &ns, &list.label_selector, &list.field_selector, &list.continue_token,
        &list.resource_version, &list.resource_version_match}) {
    key += '\n';
    key += *part;
  }
  key += '\n' + std::to_string(list.limit);
  size_t size = 128;
  for (const SharedObject& o : listed->items) size += (o.encoded ? o.encoded->size() : 512) + 1;
  // Whether EncodeBody will compress it (the cache then keeps the gzip encoding too).
  const bool want_gzip = options_.gzip_min_bytes > 0 && size >= options_.gzip_min_bytes &&
                         AcceptsGzip(request.Header("accept-encoding"));
  RestResponse resp;
  if (std::optional<ListBody> kept = list_cache_.Find(key, *listed, want_gzip)) {
    resp.shared_body = std::move(kept->identity);
    resp.gzip_body = std::move(kept->gzip);
    return resp;
  }
  std::string body;
  body.reserve(size);
  body += "{\"apiVersion\":";
  body += json(r.GroupVersion()).dump();
  body += ",\"items\":[";
  for (size_t i = 0; i < listed->items.size(); ++i) {
    if (i > 0) body += ',';
    const SharedObject& o = listed->items[i];
    if (o.encoded) {
      body += *o.encoded;
    } else {
      body += o.object->dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  body += "],\"kind\":";
  body += json(r.ListKind()).dump();
  body += ",\"metadata\":";
  body += listed->metadata.dump(-1, ' ', false, json::error_handler_t::replace);
  body += '}';
  if (options_.list_response_cache.max_bytes == 0) {
    resp.body = std::move(body);  // nothing is kept: EncodeBody compresses it if wanted
    return resp;
  }
  ListBody made = list_cache_.Put(key, *listed, std::move(body), want_gzip);
  resp.shared_body = std::move(made.identity);
  resp.gzip_body = std::move(made.gzip);
  return resp;
}

RestResponse RestHandler::HandleFiltered(RestRequest& request) {
  try {
    if (!Owns(request.path)) return RestResponse::Error(PathNotFound());
    std::string path = request.path.substr(options_.base_path.size());
    if (path.empty()) path = "/";
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    if (static_cast<int64_t>(request.body.size()) > options_.max_body_bytes) {
      return RestResponse::Error(ApiError::RequestEntityTooLarge(options_.max_body_bytes));
    }
    if (auto r = MatchRoute(request, path, /*before_filters=*/true)) return *r;
    for (const RestFilter& f : filters_) {
      Status st = f(request);
      if (!st.ok()) return RestResponse::Error(ApiError::FromStatus(st));
    }
    if (auto r = MatchRoute(request, path, /*before_filters=*/false)) return *r;
    return Route(request, path);
  } catch (const std::exception& e) {
    return RestResponse::Error(ApiError::Internal(e.what()));
  }
}

std::optional<ResourceType> RestHandler::ConsistentReadType(const RestRequest& request) const {
  if (request.method != "GET" || !Owns(request.path)) return std::nullopt;
  if (!request.Query("resourceVersion").empty() || !request.Query("continue").empty()) {
    return std::nullopt;
  }
  const std::string watch_param = request.Query("watch");
  if (watch_param == "true" || watch_param == "1") return std::nullopt;
  // The path as HandleFiltered, Route and ServeResource split it.
  std::vector<std::string> segs = SplitPath(request.path.substr(options_.base_path.size()));
  if (segs.empty() || (segs[0] != "api" && segs[0] != "apis")) return std::nullopt;
  const bool core = segs[0] == "api";
  const size_t depth = core ? 2 : 3;
  if (segs.size() <= depth) return std::nullopt;
  const std::string group = core ? "" : segs[1];
  const std::string& version = core ? segs[1] : segs[2];
  std::vector<std::string> rest(segs.begin() + static_cast<long>(depth), segs.end());
  if (rest[0] == "watch") return std::nullopt;
  std::string ns;
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3 || (rest.size() == 3 && rest[2] != "status")) {
    return std::nullopt;
  }
  std::optional<ResourceInfo> resolved =
      service_.registry().Resolve(group, version, rest[0], !ns.empty());
  if (!resolved) return std::nullopt;
  return resolved->StorageType();
}

RestResponse RestHandler::Route(RestRequest& request, const std::string& path) {
  std::vector<std::string> segs = SplitPath(path);
  if (segs.empty()) {
    json paths = json::array({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"});
    for (const std::string& g : service_.registry().Groups()) {
      if (g.empty()) continue;
      paths.push_back("/apis/" + g);
      for (const std::string& v : service_.registry().Versions(g)) paths.push_back("/apis/" + g + "/" + v);
    }
    return RestResponse::Json(200, {{"paths", paths}});
  }
  const std::string& first = segs[0];
  if (first == "healthz" || first == "livez" || first == "readyz") {
    if (request.method != "GET" && request.method != "HEAD") {
      return RestResponse::Error(ApiError::MethodNotAllowed());
    }
    return RestResponse::Text(200, "ok");
  }
  if (first == "version" && segs.size() == 1) return RestResponse::Json(200, options_.version);
  if (first == "openapi" && segs.size() >= 2 && segs[1] == "v3" && options_.serve_openapi_v3) {
    return OpenApiV3(segs);
  }
  if (first == "api" || first == "apis") {
    const bool core = first == "api";
    const size_t discovery_depth = core ? 2 : 3;  // /api/v1 vs /apis/G/V
    if (segs.size() <= discovery_depth) {
      if (request.method != "GET") return RestResponse::Error(ApiError::MethodNotAllowed());
      return Discovery(segs);
    }
    std::string group = core ? "" : segs[1];
    std::string version = core ? segs[1] : segs[2];
    if (core && version != "v1") return RestResponse::Error(PathNotFound());
    std::vector<std::string> rest(segs.begin() + static_cast<long>(discovery_depth), segs.end());
    return ServeResource(request, group, version, std::move(rest));
  }
  return RestResponse::Error(PathNotFound());
}

RestResponse RestHandler::Discovery(const std::vector<std::string>& segs) {
  const ResourceRegistry& reg = service_.registry();
  auto resource_list = [&](const std::string& group, const std::string& version) {
    std::vector<const ResourceInfo*> rs = reg.ResourcesOf(group, version);
    if (rs.empty()) return RestResponse::Error(PathNotFound());
    json resources = json::array();
    for (const ResourceInfo* r : rs) {
      resources.push_back(ResourceListEntry(*r));
      if (r->has_status) {
        resources.push_back({{"name", r->plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", r->namespaced},
                             {"kind", r->kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
      if (r->scale) {
        resources.push_back({{"name", r->plural + "/scale"},
                             {"singularName", ""},
                             {"namespaced", r->namespaced},
                             {"group", "autoscaling"},
                             {"version", "v1"},
                             {"kind", "Scale"},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    auto extra = extra_discovery_.find(group + "/" + version);
    if (extra != extra_discovery_.end()) {
      for (const json& e : extra->second) resources.push_back(e);
    }
    return RestResponse::Json(200, {{"kind", "APIResourceList"},
                                    {"apiVersion", "v1"},
                                    {"groupVersion", group.empty() ? version : group + "/" + version},
                                    {"resources", resources}});
  };
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      return RestResponse::Json(
          200, {{"kind", "APIVersions"},
                {"versions", {"v1"}},
                {"serverAddressByClientCIDRs",
                 {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:443"}}}}});
    }
    return resource_list("", segs[1]);
  }
  if (segs.size() == 1) {
    json groups = json::array();
    for (const std::string& g : reg.Groups()) {
      if (!g.empty()) groups.push_back(GroupEntry(reg, g));
    }
    return RestResponse::Json(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
  }
  if (segs.size() == 2) {
    if (segs[1].empty() || reg.Versions(segs[1]).empty()) return RestResponse::Error(PathNotFound());
    json g = GroupEntry(reg, segs[1]);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return RestResponse::Json(200, g);
  }
  return resource_list(segs[1], segs[2]);
}

RestResponse RestHandler::OpenApiV3(const std::vector<std::string>& segs) {
  const ResourceRegistry& reg = service_.registry();
  auto gv_path = [](const std::string& group, const std::string& version) {
    return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  };
  if (segs.size() == 2) {
    json paths = json::object();
    for (const std::string& g : reg.Groups()) {
      for (const std::string& v : reg.Versions(g)) {
        std::string p = gv_path(g, v);
        paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p}};
      }
    }
    return RestResponse::Json(200, {{"paths", paths}});
  }
  // /openapi/v3/api/v1 or /openapi/v3/apis/G/V
  std::string group, version;
  if (segs.size() == 4 && segs[2] == "api") {
    version = segs[3];
  } else if (segs.size() == 5 && segs[2] == "apis") {
    group = segs[3];
    version = segs[4];
  } else {
    return RestResponse::Error(PathNotFound());
  }
  std::vector<const ResourceInfo*> rs = reg.ResourcesOf(group, version);
  if (rs.empty()) return RestResponse::Error(PathNotFound());
  json paths = json::object();
  const std::string prefix = "/" + gv_path(group, version) + "/";
  for (const ResourceInfo* r : rs) {
    json gvk = {{"group", r->group}, {"version", r->version}, {"kind", r->kind}};
    json params = json::array({
        {{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
        {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
        {{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
    });
    json op = {{"operationId", "patch" + r->kind},
               {"x-kubernetes-action", "patch"},
               {"x-kubernetes-group-version-kind", gvk},
               {"parameters", params},
               {"responses", {{"200", {{"description", "OK"}}}}}};
    std::string item = prefix + (r->namespaced ? "namespaces/{namespace}/" : "") + r->plural + "/{name}";
    json create = op;
    create["operationId"] = "create" + r->kind;
    create["x-kubernetes-action"] = "post";
    std::string collection = prefix + (r->namespaced ? "namespaces/{namespace}/" : "") + r->plural;
    paths[item] = {{"patch", op}};
    paths[collection] = {{"post", create}};
  }
  return RestResponse::Json(200, {{"openapi", "3.0.0"},
                                  {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                                  {"paths", paths},
                                  {"components", {{"schemas", json::object()}}}});
}

RestResponse RestHandler::ServeResource(RestRequest& request, const std::string& group,
                                        const std::string& version,
                                        std::vector<std::string> rest) {
  bool watch = false;
  if (!rest.empty() && rest[0] == "watch") {
    watch = true;
    rest.erase(rest.begin());
  }
  std::string ns;
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return RestResponse::Error(PathNotFound());
  const std::string plural = rest[0];
  const std::string name = rest.size() > 1 ? rest[1] : "";
  const std::string sub = rest.size() > 2 ? rest[2] : "";
  std::optional<ResourceInfo> resolved =
      service_.registry().Resolve(group, version, plural, !ns.empty());
  if (!resolved) return RestResponse::Error(PathNotFound());
  const ResourceInfo& r = *resolved;
  if (!r.namespaced && !ns.empty()) return RestResponse::Error(PathNotFound());
  if (r.namespaced && ns.empty() && !name.empty()) return RestResponse::Error(PathNotFound());
  const bool scale_sub = sub == "scale" && r.scale.has_value();
  if (!sub.empty() && !scale_sub && (sub != "status" || !r.has_status)) {
    return RestResponse::Error(PathNotFound());
  }

  const std::string& m = request.method;
  const Render render = ParseAccept(request.Header("accept"));
  const TableObjects include = ParseIncludeObject(request.Query("includeObject"));
  const std::string watch_param = request.Query("watch");
  watch = watch || watch_param == "true" || watch_param == "1";

  ListRequest list;
  list.label_selector = request.Query("labelSelector");
  list.field_selector = request.Query("fieldSelector");
  list.continue_token = request.Query("continue");
  list.resource_version = request.Query("resourceVersion");
  list.resource_version_match = request.Query("resourceVersionMatch");
  list.allow_bookmarks = request.Query("allowWatchBookmarks") == "true";
  if (!request.Query("limit").empty() && !ParseInt(request.Query("limit"), &list.limit)) {
    return RestResponse::Error(ApiError::BadRequest("limit: invalid value \"" + request.Query("limit") + "\""));
  }
  RequestContext ctx;
  ctx.user = request.user;
  ctx.dry_run = request.Query("dryRun") == "All";
  ctx.strict_fields = request.Query("fieldValidation") == "Strict";

  auto render_object = [&](int code, const json& obj) {
    if (render == Render::kTable) {
      return RestResponse::Json(code, RenderTable(r, {obj}, {{"resourceVersion", obj["metadata"].value("resourceVersion", "")}},
                                                  clock_.Now(), include));
    }
    if (render == Render::kPartial) return RestResponse::Json(code, PartialObject(obj));
    return RestResponse::Json(code, obj);
  };
  // kube-apiserver's 415 for a PATCH Content-Type it does not serve for this kind.
  auto patch_type_error = [&](const std::string& ct) {
    std::vector<std::string> accepted = {"application/json-patch+json",
                                         "application/merge-patch+json"};
    if (r.strategic_merge_patch) accepted.push_back("application/strategic-merge-patch+json");
    accepted.push_back("application/apply-patch+yaml");
    return ApiError::UnsupportedMediaType(ct, accepted);
  };
  auto parse_body = [&](json* out) -> std::optional<ApiError> {
    const std::string ct = request.Header("content-type");
    const std::string media = MediaType(ct);
    // As kube-apiserver's NegotiateInputSerializer: no Content-Type means JSON, anything it
    // cannot decode is 415 before the body is looked at (text/plain used to be stored).
    if (!media.empty() && media != "application/json" && media != kProtobufMediaType) {
      return ApiError::UnsupportedMediaType(ct, {"application/json", kProtobufMediaType});
    }
    if (request.body.empty()) return ApiError::BadRequest("the request body is empty");
    if (media == kProtobufMediaType) {
      StatusOr<json> decoded = DecodeKubernetesProtobuf(request.body);
      if (!decoded.ok()) {
        if (decoded.status().code() == StatusCode::kUnimplemented) {
          ApiError e = ApiError::UnsupportedMediaType(ct);
          e.message = decoded.status().message();
          return e;
        }
        return ApiError::BadRequest(decoded.status().message());
      }
      *out = std::move(decoded).value();
      return std::nullopt;
    }
    JsonParseError error;
    *out = ParseJson(request.body, &error);
    if (out->is_discarded()) {
      return ApiError::BadRequest("couldn't get version/kind; json parse error: " +
                                  error.ToString());
    }
    return std::nullopt;
  };

  if (name.empty()) {
    if (m == "GET" && watch) return ServeWatch(request, r, ns, list);
    if (m == "GET" && render == Render::kObject) return ServeList(request, r, ns, list);
    if (m == "GET") {
      ApiResult<json> listed = service_.List(r, ns, list);
      if (!listed.ok()) return RestResponse::Error(listed.error());
      if (render == Render::kTable) {
        std::vector<json> items((*listed)["items"].begin(), (*listed)["items"].end());
        return RestResponse::Json(200, RenderTable(r, items, (*listed)["metadata"], clock_.Now(), include));
      }
      if (render == Render::kPartial) {
        json items = json::array();
        for (const json& o : (*listed)["items"]) items.push_back(PartialObject(o));
        return RestResponse::Json(200, {{"kind", "PartialObjectMetadataList"},
                                        {"apiVersion", "meta.k8s.io/v1"},
                                        {"metadata", (*listed)["metadata"]},
                                        {"items", items}});
      }
      return RestResponse::Json(200, *listed);
    }
    if (m == "POST") {
      if (r.namespaced && ns.empty()) return RestResponse::Error(ApiError::MethodNotAllowed());
      json body;
      if (auto e = parse_body(&body)) return RestResponse::Error(*e);
      ApiResult<json> created = service_.Create(r, ns, std::move(body), ctx);
      if (!created.ok()) return RestResponse::Error(created.error());
      return render_object(201, *created);
    }
    if (m == "DELETE") {
      ApiResult<json> deleted = service_.DeleteCollection(r, ns, list, {}, ctx);
      if (!deleted.ok()) return RestResponse::Error(deleted.error());
      return RestResponse::Json(200, *deleted);
    }
    return RestResponse::Error(ApiError::MethodNotAllowed());
  }

  if (scale_sub) {
    ApiResult<json> out = ApiError::MethodNotAllowed();
    if (m == "GET") {
      out = service_.GetScale(r, ns, name);
    } else if (m == "PUT") {
      json body;
      if (auto e = parse_body(&body)) return RestResponse::Error(*e);
      out = service_.UpdateScale(r, ns, name, body, ctx);
    } else if (m == "PATCH") {
      PatchType type;
      const std::string ct = request.Header("content-type");
      if (!ParsePatchType(ct, &type)) return RestResponse::Error(patch_type_error(ct));
      out = service_.PatchScale(r, ns, name, type, request.body, ctx);
    }
    if (!out.ok()) return RestResponse::Error(out.error());
    return RestResponse::Json(200, *out);
  }
  if (m == "GET" && watch) {
    list.field_selector = "metadata.name=" + name +
                          (list.field_selector.empty() ? "" : "," + list.field_selector);
    return ServeWatch(request, r, ns, list);
  }
  if (m == "GET") {
    // resourceVersion=0: whatever the watch cache holds (kube-apiserver's "any"), no round;
    // any other revision is answered with the newest (never older than it); not a number: 400.
    const std::string rv = request.Query("resourceVersion");
    if (ApiResult<int64_t> parsed = ParseQueryResourceVersion(rv); !parsed.ok()) {
      return RestResponse::Error(parsed.error());
    }
    ApiResult<SharedObject> got = service_.GetShared(r, ns, name, rv == "0");
    if (!got.ok()) return RestResponse::Error(got.error());
    if (render == Render::kObject && got->encoded) {
      // The watch cache's bytes are the response (the same dump RestResponse::Json makes).
      RestResponse resp;
      resp.shared_body = std::move(got->encoded);
      return resp;
    }
    return render_object(200, *DecodedObject(*got));
  }
  if (m == "PUT") {
    json body;
    if (auto e = parse_body(&body)) return RestResponse::Error(*e);
    ApiResult<json> updated = service_.Update(r, ns, name, std::move(body), sub, ctx);
    if (!updated.ok()) return RestResponse::Error(updated.error());
    return render_object(200, *updated);
  }
  if (m == "PATCH") {
    PatchType type;
    const std::string ct = request.Header("content-type");
    if (!ParsePatchType(ct, &type)) return RestResponse::Error(patch_type_error(ct));
    if (request.body.empty()) return RestResponse::Error(ApiError::BadRequest("the request body is empty"));
    ApiResult<json> patched = service_.Patch(r, ns, name, type, request.body, sub, ctx);
    if (!patched.ok()) return RestResponse::Error(patched.error());
    return render_object(200, *patched);
  }
  if (m == "DELETE" && sub.empty()) {
    DeleteOptions opts;
    opts.propagation_policy = request.Query("propagationPolicy");
    opts.dry_run = ctx.dry_run;
    if (!request.body.empty()) {
      JsonParseError error;
      json body = ParseJson(request.body, &error);
      if (body.is_discarded()) {
        return RestResponse::Error(
            ApiError::BadRequest("invalid DeleteOptions body: " + error.ToString()));
      }
      if (!body.is_object()) {
        return RestResponse::Error(ApiError::BadRequest("invalid DeleteOptions body"));
      }
      if (body.contains("preconditions") && body["preconditions"].is_object()) {
        const json& p = body["preconditions"];
        if (p.contains("uid") && p["uid"].is_string()) opts.precondition_uid = p["uid"];
        if (p.contains("resourceVersion") && p["resourceVersion"].is_string()) {
          opts.precondition_resource_version = p["resourceVersion"];
        }
      }
      if (body.contains("propagationPolicy") && body["propagationPolicy"].is_string()) {
        opts.propagation_policy = body["propagationPolicy"];
      }
      if (body.contains("dryRun") && body["dryRun"].is_array()) {
        for (const json& d : body["dryRun"]) opts.dry_run = opts.dry_run || d == "All";
      }
    }
    ApiResult<json> deleted = service_.Delete(r, ns, name, opts, ctx);
    if (!deleted.ok()) return RestResponse::Error(deleted.error());
    return RestResponse::Json(200, *deleted);
  }
  return RestResponse::Error(ApiError::MethodNotAllowed());
}

RestResponse RestHandler::ServeWatch(const RestRequest& request, const ResourceInfo& r,
                                const std::string& ns, ListRequest list) {
  int64_t timeout_seconds = 0;
  const std::string t = request.Query("timeoutSeconds");
  if (!t.empty() && (!ParseInt(t, &timeout_seconds) || timeout_seconds < 0)) {
    return RestResponse::Error(ApiError::BadRequest("timeoutSeconds: invalid value \"" + t + "\""));
  }
  std::chrono::seconds timeout =
      timeout_seconds > 0 ? std::chrono::seconds(timeout_seconds) : options_.default_watch_timeout;
  const std::string user = request.user.name.empty() ? "system:anonymous" : request.user.name;
  if (options_.max_watches > 0 || options_.max_watches_per_user > 0) {
    int total = 0, mine = 0;
    std::lock_guard lock(sessions_->mu);
    for (const auto& w : sessions_->list) {
      auto s = w.lock();
      if (!s || s->finished()) continue;
      ++total;
      mine += s->user() == user;
    }
    // Counted and registered under one lock hold below would be exact; a race lets a burst
    // open a few more than the cap, which is fine for a budget.
    if (options_.max_watches > 0 && total >= options_.max_watches) {
      return RestResponse::Error(ApiError::TooManyRequests(
          "Too many requests, please try again later: " + std::to_string(total) +
              " watches are open",
          1));
    }
    if (options_.max_watches_per_user > 0 && mine >= options_.max_watches_per_user) {
      return RestResponse::Error(
          ApiError::TooManyRequests("Too many requests, please try again later: user " + user +
                                        " has " + std::to_string(mine) + " watches open",
                                    1));
    }
  }
  const Render render = ParseAccept(request.Header("accept"));
  std::optional<std::chrono::seconds> bookmarks;
  if (list.allow_bookmarks && render == Render::kObject) bookmarks = options_.bookmark_interval;
  auto session = std::make_shared<WatchSession>(
      clock_, r, render, ParseIncludeObject(request.Query("includeObject")), clock_.Now() + timeout,
      bookmarks, options_.watch_heartbeat_interval, user, sessions_->lines);
  std::weak_ptr<WatchSession> weak = session;
  int64_t start_rv = 0;
  // The initial listing is sent from the service's thread, not this HTTP thread: a storm of
  // new watches must not hold the threads GETs need (issue 22). Its events are this watch's
  // own; live events are shared with the other watches.
  list.async_initial_events = true;
  ApiResult<std::unique_ptr<apimachinery::Watch>> w = service_.StartWatch(
      r, ns, list,
      [weak](const ObjectEvent& e) {
        if (auto s = weak.lock())
          s->Emit(e.type, e.object, e.resource_version, !e.initial, e.encoded);
      },
      &start_rv);
  if (!w.ok()) return RestResponse::Error(w.error());
  session->SetStartRv(start_rv);
  session->SetWatch(std::move(w).value());
  {
    std::lock_guard lock(sessions_->mu);
    std::erase_if(sessions_->list, [](const auto& s) { return s.expired(); });
    sessions_->list.push_back(session);
  }
  WatchReaper::Get().Add(session);
  RestResponse resp;
  resp.code = 200;
  resp.content_type = "application/json";
  resp.start_stream = [session](std::shared_ptr<WatchSink> sink) { session->Attach(std::move(sink)); };
  return resp;
}

}  // namespace meridian::apimachinery::rest
