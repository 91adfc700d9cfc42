#include "federation-apiserver/grpc/grpc_service.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <deque>
#include <functional>
#include <utility>

#include "common/json_parse.h"
#include "common/loopback.h"

namespace meridian::apiserver {

namespace {

using apimachinery::ApiError;
using apimachinery::ApiResult;
using apimachinery::ResourceInfo;
using nlohmann::json;

// Objects come from our own parser, so they are valid UTF-8; `replace` only guards against a
// throw from dump() should that ever not hold.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// What the audit observer needs of the RPC being served on this thread: the equivalent REST
// request as the filters left it (Prepare) and the outcome (Fail, Reply). A unary handler
// runs on one thread from Prepare to its reply, and so does the start of a Watch, so a
// thread_local carries the record without threading it through every verb's body. Null
// when no observer is configured (or outside Serve / Watch).
struct AuditRecord {
  bool prepared = false;
  apimachinery::rest::RestRequest request;
  apimachinery::rest::RestResponse response;  // code 200 unless Fail recorded an error
};
thread_local AuditRecord* t_audit = nullptr;

::grpc::Status Fail(::grpc::ServerContextBase* context, const ApiError& error) {
  std::string body = Dump(apimachinery::StatusBody(error));
  if (t_audit != nullptr) {
    t_audit->response.code = error.code;
    t_audit->response.body = body;
  }
  context->AddTrailingMetadata(kStatusTrailerKey, std::move(body));
  return GrpcStatusFor(error);
}

// The request body the audit log shows at level Request and above.
void RecordRequestBody(const std::string& body) {
  if (t_audit != nullptr) t_audit->request.body = body;
}

// A watch stream's stand-in for the REST transport's sink: the audit observer wraps it, and
// the wrapper's destruction (when the stream is done) writes the ResponseComplete event.
class NullWatchSink final : public apimachinery::rest::WatchSink {
 public:
  bool Write(const std::string&) override { return true; }
  void Close() override {}
  bool Closed() const override { return false; }
};

// "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> the address alone (audit sourceIPs).
std::string PeerAddress(const std::string& peer) {
  std::string rest;
  if (peer.rfind("ipv4:", 0) == 0) {
    rest = peer.substr(5);
    return rest.substr(0, rest.rfind(':'));
  }
  if (peer.rfind("ipv6:", 0) == 0) {
    rest = peer.substr(5);
    if (!rest.empty() && rest.front() == '[') return rest.substr(1, rest.find(']') - 1);
    return rest.substr(0, rest.rfind(':'));
  }
  return "";
}

ApiError ShuttingDown() {
  ApiError e;
  e.code = 503;
  e.reason = "ServiceUnavailable";
  e.message = "the server is shutting down; re-watch from the last resourceVersion";
  return e;
}

ApiError SlowConsumer(int64_t limit) {
  ApiError e;
  e.code = 429;
  e.reason = "TooManyRequests";
  e.message = "watch closed: the client read too slowly (more than " + std::to_string(limit) +
              " bytes of events unsent); re-watch from the last resourceVersion";
  return e;
}

// The REST handler's rules for a body: the size limit, then the shared depth-limited parser.
ApiResult<json> ParseObjectJson(const std::string& text, const char* field, int64_t max_bytes) {
  if (static_cast<int64_t>(text.size()) > max_bytes) {
    return ApiError::RequestEntityTooLarge(max_bytes);
  }
  JsonParseError error;
  json j = meridian::ParseJson(text, &error);
  if (j.is_discarded()) {
    return ApiError::BadRequest(std::string(field) + " is not valid JSON: " + error.ToString());
  }
  return j;
}

std::optional<ApiError> RequireName(const std::string& name) {
  if (name.empty()) return ApiError::BadRequest("name is required");
  return std::nullopt;
}

ApiError PathNotFound(const std::string& detail) {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "the server could not find the requested resource";
  if (!detail.empty()) e.message += ": " + detail;
  return e;
}

apimachinery::RequestContext ContextFor(bool dry_run, apimachinery::UserInfo user) {
  apimachinery::RequestContext ctx;
  ctx.user = std::move(user);
  ctx.dry_run = dry_run;
  return ctx;
}

::grpc::Status Reply(::grpc::ServerContext* context, ApiResult<json> result,
                     fedpb::ObjectResponse* response) {
  if (!result.ok()) return Fail(context, result.error());
  response->set_object_json(Dump(*result));
  if (t_audit != nullptr) t_audit->response.body = response->object_json();
  return ::grpc::Status::OK;
}

}  // namespace

::grpc::StatusCode GrpcCodeFor(const ApiError& error) {
  switch (error.code) {
    case 400:
      return ::grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return ::grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return ::grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return ::grpc::StatusCode::NOT_FOUND;
    case 405:
      return ::grpc::StatusCode::UNIMPLEMENTED;
    case 409:
      return error.reason == "AlreadyExists" ? ::grpc::StatusCode::ALREADY_EXISTS
                                             : ::grpc::StatusCode::ABORTED;
    case 410:
      return ::grpc::StatusCode::OUT_OF_RANGE;
    case 413:
      return ::grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 422:
      return ::grpc::StatusCode::INVALID_ARGUMENT;
    case 429:
      return ::grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 503:
      return ::grpc::StatusCode::UNAVAILABLE;
    case 504:
      return ::grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      return error.code < 500 ? ::grpc::StatusCode::INVALID_ARGUMENT : ::grpc::StatusCode::INTERNAL;
  }
}

::grpc::Status GrpcStatusFor(const ApiError& error) {
  return ::grpc::Status(GrpcCodeFor(error), error.message);
}

std::optional<json> StatusBodyFromTrailers(const ::grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kStatusTrailerKey);
  if (it == trailers.end()) return std::nullopt;
  json body = meridian::ParseJson(std::string_view(it->second.data(), it->second.size()));
  if (body.is_discarded()) return std::nullopt;
  return body;
}

// One Watch stream. Lifetime: created by GrpcService::Watch, deleted by itself in OnDone.
//
// Events are serialized by the thread delivering them (the store's dispatcher, or the handler
// thread for the initial ADDED events) and queued; at most one write is in flight. Decisions
// are taken under mu_ and the gRPC calls made after releasing it: `writing_` and `finished_`
// make every StartWrite/Finish exclusive, and Finish is only issued with no write in flight.
class GrpcService::WatchReactor final : public ::grpc::ServerWriteReactor<fedpb::WatchEvent> {
 public:
  WatchReactor(GrpcService& owner, ::grpc::CallbackServerContext* context, int64_t max_backlog)
      : owner_(owner), context_(context), max_backlog_(max_backlog) {}

  // The store watch is running: start writing. Called once, on the handler thread.
  void Begin(std::unique_ptr<apimachinery::Watch> watch) {
    {
      std::lock_guard lock(mu_);
      store_watch_ = std::move(watch);
      ready_ = true;
      // The initial listing is as large as the collection; the bound applies on top of it.
      limit_ = queued_bytes_ + max_backlog_;
    }
    Pump();
  }

  // Ends the stream before a store watch was started. Called once, on the handler thread.
  void Fail(const ApiError& error) {
    End(GrpcStatusFor(error), Dump(apimachinery::StatusBody(error)));
    {
      std::lock_guard lock(mu_);
      ready_ = true;
    }
    Pump();
  }

  // Queues one event; any thread. Never blocks on the client.
  void Enqueue(const apimachinery::ObjectEvent& event) {
    fedpb::WatchEvent message;
    message.set_type(event.type);
    if (event.object) message.set_object_json(Dump(*event.object));
    message.set_resource_version(std::to_string(event.resource_version));
    const int64_t size = static_cast<int64_t>(message.ByteSizeLong());
    bool overflow = false;
    {
      std::lock_guard lock(mu_);
      if (end_ || finished_) return;
      if (ready_ && !queue_.empty() && queued_bytes_ + size > limit_) {
        overflow = true;
        queue_.clear();
        queued_bytes_ = 0;
        const ApiError error = SlowConsumer(max_backlog_);
        end_ = GrpcStatusFor(error);
        end_trailer_ = Dump(apimachinery::StatusBody(error));
      } else {
        queue_.push_back({std::move(message), size});
        queued_bytes_ += size;
      }
    }
    if (overflow) owner_.CountSlowWatch();
    Pump();
  }

  // Ends the stream with `status` once the write in flight (if any) completes; queued events
  // are dropped. The first end wins. Any thread.
  void End(::grpc::Status status, std::string trailer) {
    {
      std::lock_guard lock(mu_);
      if (end_ || finished_) return;
      queue_.clear();
      queued_bytes_ = 0;
      end_ = std::move(status);
      end_trailer_ = std::move(trailer);
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok && !end_) {  // the stream is broken (client gone); nothing more can be sent
        queue_.clear();
        queued_bytes_ = 0;
        end_ = ::grpc::Status(::grpc::StatusCode::CANCELLED, "write failed");
      }
    }
    Pump();
  }

  void OnCancel() override {
    End(::grpc::Status(::grpc::StatusCode::CANCELLED, "watch cancelled"), "");
  }

  // The audit observer's sink: released (its ResponseComplete event written) when the stream
  // is done. Called once, on the handler thread, before the stream can be done.
  void HoldAuditSink(std::shared_ptr<apimachinery::rest::WatchSink> sink) {
    audit_sink_ = std::move(sink);
  }

  void OnDone() override {
    std::unique_ptr<apimachinery::Watch> watch;
    {
      std::lock_guard lock(mu_);
      watch = std::move(store_watch_);
    }
    // After Cancel returns the store calls Enqueue no more, so deleting `this` is safe.
    if (watch) watch->Cancel();
    watch.reset();
    owner_.Forget(this);
    delete this;
  }

 private:
  struct Queued {
    fedpb::WatchEvent message;
    int64_t bytes;
  };

  // Starts the next write, or the finish, if the stream is idle.
  void Pump() {
    enum class Action { kWrite, kFinish } action;
    ::grpc::Status status;
    std::string trailer;
    {
      std::lock_guard lock(mu_);
      if (!ready_ || finished_ || writing_) return;
      if (end_) {
        finished_ = true;
        action = Action::kFinish;
        status = *end_;
        trailer = std::move(end_trailer_);
      } else if (!queue_.empty()) {
        in_flight_ = std::move(queue_.front().message);
        queued_bytes_ -= queue_.front().bytes;
        queue_.pop_front();
        writing_ = true;
        action = Action::kWrite;
      } else {
        return;
      }
    }
    if (action == Action::kWrite) {
      // in_flight_ is not touched again until OnWriteDone.
      StartWrite(&in_flight_);
    } else {
      if (!trailer.empty()) context_->AddTrailingMetadata(kStatusTrailerKey, trailer);
      Finish(std::move(status));
    }
  }

  GrpcService& owner_;
  ::grpc::CallbackServerContext* const context_;
  const int64_t max_backlog_;
  std::shared_ptr<apimachinery::rest::WatchSink> audit_sink_;  // see HoldAuditSink

  std::mutex mu_;  // guards everything below except in_flight_ (owned by the write in flight)
  std::unique_ptr<apimachinery::Watch> store_watch_;
  std::deque<Queued> queue_;
  int64_t queued_bytes_ = 0;
  int64_t limit_ = 0;
  bool ready_ = false;                 // Begin/Fail ran: writes and the finish may start
  bool writing_ = false;               // a StartWrite awaits OnWriteDone
  bool finished_ = false;              // Finish was called
  std::optional<::grpc::Status> end_;  // how the stream is to end, once idle
  std::string end_trailer_;
  fedpb::WatchEvent in_flight_;
};

// Lives exactly as long as one call: created when it arrives, destroyed with its
// ServerContext once the call is over.
class GrpcService::CallTracker final : public ::grpc::experimental::Interceptor {
 public:
  explicit CallTracker(GrpcService& service) : service_(service) { service_.CallStarted(); }
  ~CallTracker() override { service_.CallEnded(); }
  void Intercept(::grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  GrpcService& service_;
};

namespace {

class CallTrackerFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  using Create = std::function<::grpc::experimental::Interceptor*()>;
  explicit CallTrackerFactory(Create create) : create_(std::move(create)) {}
  ::grpc::experimental::Interceptor* CreateServerInterceptor(
      ::grpc::experimental::ServerRpcInfo*) override {
    return create_();
  }

 private:
  Create create_;
};

}  // namespace

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>
GrpcService::NewCallTracker() {
  return std::make_unique<CallTrackerFactory>([this] { return new CallTracker(*this); });
}

void GrpcService::CallStarted() {
  std::lock_guard lock(mu_);
  ++calls_;
}

void GrpcService::CallEnded() {
  {
    std::lock_guard lock(mu_);
    --calls_;
  }
  watches_changed_.notify_all();
}

GrpcService::GrpcService(apimachinery::ObjectService& objects, GrpcServiceOptions options)
    : objects_(objects), options_(options) {}

GrpcService::~GrpcService() {
  std::lock_guard lock(mu_);
  assert(watches_.empty() && "shut the grpc::Server down before destroying its GrpcService");
}

template <typename F>
::grpc::Status GrpcService::Serve(::grpc::ServerContext* context, F&& body) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Fail(context, ShuttingDown());
    ++unary_running_;
  }
  struct Done {
    GrpcService* service;
    ~Done() {
      {
        std::lock_guard lock(service->mu_);
        --service->unary_running_;
      }
      service->watches_changed_.notify_all();
    }
  } done{this};
  AuditRecord record;
  const Timestamp received = options_.observer ? options_.clock->Now() : Timestamp{};
  if (options_.observer) t_audit = &record;
  ::grpc::Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    status = Fail(context, ApiError::Internal(e.what()));
  }
  t_audit = nullptr;
  // Calls refused before their REST equivalent existed (a malformed name) carry no request
  // to describe; every call that reached the filters is logged once, like a REST request.
  if (options_.observer && record.prepared) {
    if (status.ok() && record.request.method == "POST") record.response.code = 201;
    options_.observer(record.request, record.response, received);
  }
  return status;
}

ApiResult<GrpcService::Target> GrpcService::Prepare(::grpc::ServerContextBase* context,
                                                    const fedpb::ResourceRef& ref,
                                                    const char* method, const std::string& name,
                                                    const std::string& subresource,
                                                    bool watch) const {
  // Every name becomes a path segment for the filters: one that is not a segment would make
  // the path they judge differ from the object served.
  for (const std::string* segment :
       {&ref.group(), &ref.version(), &ref.resource(), &ref.namespace_(), &name, &subresource}) {
    if (segment->find('/') != std::string::npos || *segment == "." || *segment == "..") {
      return PathNotFound("\"" + *segment + "\" is not a valid path segment");
    }
  }
  apimachinery::rest::RestRequest rest;
  rest.method = method;
  rest.path =
      ref.group().empty() ? "/api/" + ref.version() : "/apis/" + ref.group() + "/" + ref.version();
  if (!ref.namespace_().empty()) rest.path += "/namespaces/" + ref.namespace_();
  rest.path += "/" + ref.resource();
  if (!name.empty()) rest.path += "/" + name;
  if (!subresource.empty()) rest.path += "/" + subresource;
  if (watch) rest.query["watch"] = "true";
  for (const auto& [key, value] : context->client_metadata()) {
    rest.headers[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
  }
  if (std::shared_ptr<const ::grpc::AuthContext> auth = context->auth_context(); auth != nullptr) {
    // Only present when the TLS handshake verified the certificate against the client CA.
    for (const ::grpc::string_ref& pem : auth->FindPropertyValues("x509_pem_cert")) {
      rest.peer_certificate_pem.assign(pem.data(), pem.size());
    }
  }
  rest.peer_address = PeerAddress(context->peer());
  Status filtered;
  for (const apimachinery::rest::RestFilter& filter : options_.filters) {
    filtered = filter(rest);
    if (!filtered.ok()) break;
  }
  if (t_audit != nullptr) {
    t_audit->prepared = true;
    t_audit->request = rest;
  }
  if (!filtered.ok()) return ApiError::FromStatus(filtered);

  const bool namespaced = !ref.namespace_().empty();
  std::optional<ResourceInfo> info =
      objects_.registry().Resolve(ref.group(), ref.version(), ref.resource(), namespaced);
  const std::string gv = ref.group().empty() ? ref.version() : ref.group() + "/" + ref.version();
  if (!info) {
    const ResourceInfo* known =
        objects_.registry().Find(ref.group(), ref.version(), ref.resource());
    if (known != nullptr && !known->namespaced && namespaced) {
      return PathNotFound(known->GroupResource() + " is cluster-scoped; namespace must be empty");
    }
    return PathNotFound("no resource \"" + ref.resource() + "\" in \"" + gv + "\"");
  }
  if (info->namespaced && !namespaced && !name.empty()) {
    return PathNotFound(info->GroupResource() + " is namespaced; namespace is required");
  }
  return Target{*std::move(info), ref.namespace_(), std::move(rest.user)};
}

::grpc::Status GrpcService::Create(::grpc::ServerContext* context,
                                   const fedpb::CreateRequest* request,
                                   fedpb::ObjectResponse* response) {
  return Serve(context, [&] {
    ApiResult<Target> t = Prepare(context, request->resource(), "POST", "", "", false);
    if (!t.ok()) return Fail(context, t.error());
    RecordRequestBody(request->object_json());
    ApiResult<json> body =
        ParseObjectJson(request->object_json(), "object_json", options_.max_object_bytes);
    if (!body.ok()) return Fail(context, body.error());
    return Reply(context,
                 objects_.Create(t->resource, t->ns, std::move(body).value(),
                                 ContextFor(request->dry_run(), std::move(t->user))),
                 response);
  });
}

::grpc::Status GrpcService::Get(::grpc::ServerContext* context, const fedpb::GetRequest* request,
                                fedpb::ObjectResponse* response) {
  return Serve(context, [&] {
    if (auto e = RequireName(request->name())) return Fail(context, *e);
    ApiResult<Target> t = Prepare(context, request->resource(), "GET", request->name(), "", false);
    if (!t.ok()) return Fail(context, t.error());
    return Reply(context, objects_.Get(t->resource, t->ns, request->name()), response);
  });
}

::grpc::Status GrpcService::List(::grpc::ServerContext* context, const fedpb::ListRequest* request,
                                 fedpb::ListResponse* response) {
  return Serve(context, [&] {
    ApiResult<Target> t = Prepare(context, request->resource(), "GET", "", "", false);
    if (!t.ok()) return Fail(context, t.error());
    apimachinery::ListRequest list;
    list.label_selector = request->label_selector();
    list.field_selector = request->field_selector();
    list.limit = request->limit();
    list.continue_token = request->continue_token();
    ApiResult<json> result = objects_.List(t->resource, t->ns, list);
    if (!result.ok()) return Fail(context, result.error());
    const json& body = *result;
    if (auto items = body.find("items"); items != body.end() && items->is_array()) {
      for (const json& item : *items) response->add_items_json(Dump(item));
    }
    response->set_kind(body.value("kind", ""));
    response->set_api_version(body.value("apiVersion", ""));
    if (auto meta = body.find("metadata"); meta != body.end() && meta->is_object()) {
      response->set_resource_version(meta->value("resourceVersion", ""));
      response->set_continue_token(meta->value("continue", ""));
      if (auto rem = meta->find("remainingItemCount");
          rem != meta->end() && rem->is_number_integer()) {
        response->set_remaining_item_count(rem->get<int64_t>());
      }
    }
    return ::grpc::Status::OK;
  });
}

::grpc::Status GrpcService::Update(::grpc::ServerContext* context,
                                   const fedpb::UpdateRequest* request,
                                   fedpb::ObjectResponse* response) {
  return Serve(context, [&] {
    if (auto e = RequireName(request->name())) return Fail(context, *e);
    ApiResult<Target> t = Prepare(context, request->resource(), "PUT", request->name(),
                                  request->subresource(), false);
    if (!t.ok()) return Fail(context, t.error());
    RecordRequestBody(request->object_json());
    ApiResult<json> body =
        ParseObjectJson(request->object_json(), "object_json", options_.max_object_bytes);
    if (!body.ok()) return Fail(context, body.error());
    return Reply(
        context,
        objects_.Update(t->resource, t->ns, request->name(), std::move(body).value(),
                        request->subresource(), ContextFor(request->dry_run(), std::move(t->user))),
        response);
  });
}

::grpc::Status GrpcService::Patch(::grpc::ServerContext* context,
                                  const fedpb::PatchRequest* request,
                                  fedpb::ObjectResponse* response) {
  return Serve(context, [&] {
    if (auto e = RequireName(request->name())) return Fail(context, *e);
    ApiResult<Target> t = Prepare(context, request->resource(), "PATCH", request->name(),
                                  request->subresource(), false);
    if (!t.ok()) return Fail(context, t.error());
    apimachinery::PatchType type;
    switch (request->patch_type()) {
      case fedpb::PATCH_TYPE_MERGE:
        type = apimachinery::PatchType::kMergePatch;
        break;
      case fedpb::PATCH_TYPE_JSON:
        type = apimachinery::PatchType::kJsonPatch;
        break;
      case fedpb::PATCH_TYPE_STRATEGIC:
        type = apimachinery::PatchType::kStrategicMergePatch;
        break;
      default:
        return Fail(context, ApiError::BadRequest("patch_type must be PATCH_TYPE_MERGE, "
                                                  "PATCH_TYPE_JSON or PATCH_TYPE_STRATEGIC"));
    }
    if (static_cast<int64_t>(request->patch().size()) > options_.max_object_bytes) {
      return Fail(context, ApiError::RequestEntityTooLarge(options_.max_object_bytes));
    }
    RecordRequestBody(request->patch());
    return Reply(
        context,
        objects_.Patch(t->resource, t->ns, request->name(), type, request->patch(),
                       request->subresource(), ContextFor(request->dry_run(), std::move(t->user))),
        response);
  });
}

::grpc::Status GrpcService::Delete(::grpc::ServerContext* context,
                                   const fedpb::DeleteRequest* request,
                                   fedpb::ObjectResponse* response) {
  return Serve(context, [&] {
    if (auto e = RequireName(request->name())) return Fail(context, *e);
    ApiResult<Target> t =
        Prepare(context, request->resource(), "DELETE", request->name(), "", false);
    if (!t.ok()) return Fail(context, t.error());
    apimachinery::DeleteOptions options;
    options.precondition_uid = request->preconditions().uid();
    options.precondition_resource_version = request->preconditions().resource_version();
    options.propagation_policy = request->propagation_policy();
    options.dry_run = request->dry_run();
    return Reply(context,
                 objects_.Delete(t->resource, t->ns, request->name(), options,
                                 ContextFor(request->dry_run(), std::move(t->user))),
                 response);
  });
}

::grpc::ServerWriteReactor<fedpb::WatchEvent>* GrpcService::Watch(
    ::grpc::CallbackServerContext* context, const fedpb::WatchRequest* request) {
  auto* reactor = new WatchReactor(*this, context, options_.max_watch_backlog_bytes);
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    watches_.insert(reactor);
  }
  watches_changed_.notify_all();
  if (stopping) {
    reactor->Fail(ShuttingDown());
    return reactor;
  }
  AuditRecord record;
  const Timestamp received = options_.observer ? options_.clock->Now() : Timestamp{};
  if (options_.observer) t_audit = &record;
  std::optional<ApiError> failed;
  std::unique_ptr<apimachinery::Watch> started;
  try {
    ApiResult<Target> t = Prepare(context, request->resource(), "GET", "", "", true);
    if (!t.ok()) {
      failed = t.error();
    } else {
      apimachinery::ListRequest list;
      list.label_selector = request->label_selector();
      list.field_selector = request->field_selector();
      list.resource_version = request->resource_version();
      ApiResult<std::unique_ptr<apimachinery::Watch>> watch = objects_.StartWatch(
          t->resource, t->ns, list,
          [reactor](const apimachinery::ObjectEvent& event) { reactor->Enqueue(event); });
      if (watch.ok()) {
        started = std::move(watch).value();
      } else {
        failed = watch.error();
      }
    }
  } catch (const std::exception& e) {
    failed = ApiError::Internal(e.what());
  }
  t_audit = nullptr;
  if (options_.observer && record.prepared) {
    // As for a REST watch: a refused one is one ResponseComplete event; a started one gets
    // RequestReceived now and ResponseComplete when the stream is done.
    if (failed) {
      record.response = apimachinery::rest::RestResponse::Error(*failed);
    } else {
      record.response.start_stream = [reactor](std::shared_ptr<apimachinery::rest::WatchSink> s) {
        reactor->HoldAuditSink(std::move(s));
      };
    }
    options_.observer(record.request, record.response, received);
    if (record.response.start_stream) {
      record.response.start_stream(std::make_shared<NullWatchSink>());
    }
  }
  if (failed) {
    reactor->Fail(*failed);
  } else {
    reactor->Begin(std::move(started));
  }
  return reactor;
}

void GrpcService::Stop() {
  const ApiError error = ShuttingDown();
  std::lock_guard lock(mu_);
  stopping_ = true;
  // End() never calls back into this object synchronously (gRPC runs reactions on its own
  // threads), so holding mu_ here keeps every reactor alive while it is told.
  for (WatchReactor* w : watches_) {
    w->End(GrpcStatusFor(error), Dump(apimachinery::StatusBody(error)));
  }
}

bool GrpcService::WaitUntilIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return watches_changed_.wait_for(
      lock, timeout, [&] { return watches_.empty() && unary_running_ == 0 && calls_ == 0; });
}

size_t GrpcService::ActiveWatches() const {
  std::lock_guard lock(mu_);
  return watches_.size();
}

bool GrpcService::WaitForActiveWatchesAtMost(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return watches_changed_.wait_for(lock, timeout, [&] { return watches_.size() <= n; });
}

int64_t GrpcService::SlowWatchesClosed() const {
  std::lock_guard lock(mu_);
  return slow_closed_;
}

void GrpcService::Forget(WatchReactor* reactor) {
  {
    std::lock_guard lock(mu_);
    watches_.erase(reactor);
  }
  watches_changed_.notify_all();
}

void GrpcService::CountSlowWatch() {
  std::lock_guard lock(mu_);
  ++slow_closed_;
}

Status CheckListenAddress(const std::string& listen_address, bool allow_non_loopback) {
  const std::string& a = listen_address;
  auto invalid = [&](const std::string& why) {
    return InvalidArgumentError("gRPC listen address \"" + a + "\": " + why);
  };
  if (a.rfind("unix:", 0) == 0 || a.rfind("unix-abstract:", 0) == 0) {
    if (a.substr(a.find(':') + 1).empty()) return invalid("empty socket path");
    return Status::Ok();  // local by nature
  }
  std::string host;
  std::string port;
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string::npos) return invalid("unterminated '['");
    host = a.substr(1, close - 1);
    if (close + 1 >= a.size() || a[close + 1] != ':') return invalid("expected [host]:port");
    port = a.substr(close + 2);
  } else {
    const size_t colon = a.rfind(':');
    if (colon == std::string::npos) return invalid("expected host:port");
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return invalid("IPv6 addresses must be bracketed, e.g. [::1]:8443");
    }
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      std::stoi(port) > 65535) {
    return invalid("port must be a number from 0 to 65535");
  }
  if (!allow_non_loopback && !IsLoopbackHost(host)) {
    return invalid(
        "not a loopback address; the gRPC API has no TLS or authentication yet, so it listens "
        "only on 127.0.0.0/8, [::1] or localhost unless non-loopback listening is explicitly "
        "allowed");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(apimachinery::ObjectService& objects,
                                                        const std::string& listen_address,
                                                        GrpcServerOptions options) {
  MERIDIAN_RETURN_IF_ERROR(CheckListenAddress(listen_address, options.allow_non_loopback));
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<GrpcService>(objects, options.service);
  server->shutdown_grace_ = options.shutdown_grace;

  ::grpc::ServerBuilder builder;
  int selected_port = 0;
  std::shared_ptr<::grpc::ServerCredentials> credentials = ::grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    namespace gx = ::grpc::experimental;
    const bool client_ca = !options.tls_client_ca_file.empty();
    auto provider =
        client_ca ? std::make_shared<gx::FileWatcherCertificateProvider>(
                        options.tls_key_file, options.tls_cert_file, options.tls_client_ca_file,
                        options.tls_refresh_seconds)
                  : std::make_shared<gx::FileWatcherCertificateProvider>(
                        options.tls_key_file, options.tls_cert_file, options.tls_refresh_seconds);
    gx::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (client_ca) {
      tls.watch_root_certs();
      // Asked for and verified when sent, not required: token callers still connect.
      tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    credentials = gx::TlsServerCredentials(tls);
  }
  builder.AddListeningPort(listen_address, credentials, &selected_port);
  builder.RegisterService(server->service_.get());
  std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>> trackers;
  trackers.push_back(server->service_->NewCallTracker());
  builder.experimental().SetInterceptorCreators(std::move(trackers));
  // Let bodies a little over the limit through so that the service answers them with a
  // Kubernetes 413 Status instead of gRPC's bare RESOURCE_EXHAUSTED.
  const int64_t max_message = std::min<int64_t>(
      INT_MAX, std::max<int64_t>(options.service.max_object_bytes, 0) + 1024 * 1024);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  // A port already in use is an error, not silently shared (gRPC defaults to SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Find clients that vanished without closing their connection, so their watches (and the
  // store watches behind them) are released.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || selected_port == 0) {
    return UnavailableError("cannot listen for gRPC on \"" + listen_address + "\"");
  }
  server->port_ = selected_port;
  if (listen_address.rfind("unix", 0) == 0) {
    server->address_ = listen_address;
  } else {
    server->address_ =
        listen_address.substr(0, listen_address.rfind(':') + 1) + std::to_string(selected_port);
  }
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (server_ == nullptr) return;
    service_->Stop();
    // grpc::Server::Shutdown(deadline) also waits for idle client connections to go away,
    // which a client that is not polling never does: drain ourselves, then close at once.
    service_->WaitUntilIdle(shutdown_grace_);
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    // Reactors delete themselves in OnDone, which may still be running on a gRPC thread;
    // the service must outlive them.
    while (!service_->WaitForActiveWatchesAtMost(0, std::chrono::seconds(60))) {
    }
  });
}

}  // namespace meridian::apiserver
