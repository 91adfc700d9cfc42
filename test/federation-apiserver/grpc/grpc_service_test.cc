// GrpcService / GrpcServer through a real gRPC channel on 127.0.0.1:<port 0>, over an
// ObjectService on a MemoryStore: verbs, error mapping with Status bodies, watch streams
// (order, resume, cancellation, slow clients, shutdown) and listen-address checks.
#include "federation-apiserver/grpc/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ApiError;
using apimachinery::ResourceInfo;
using nlohmann::json;

constexpr char kGroup[] = "test.meridian.io";

ResourceInfo Widgets() {
  ResourceInfo r;
  r.group = kGroup;
  r.version = "v1";
  r.kind = "Widget";
  r.plural = "widgets";
  r.has_status = true;
  return r;
}

json Widget(const std::string& name, int size = 1, const std::string& color = "red") {
  return {{"apiVersion", std::string(kGroup) + "/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec", {{"size", size}, {"color", color}}}};
}

fedpb::ResourceRef Ref(const std::string& ns = "default", const std::string& resource = "widgets",
                       const std::string& group = kGroup, const std::string& version = "v1") {
  fedpb::ResourceRef ref;
  ref.set_group(group);
  ref.set_version(version);
  ref.set_resource(resource);
  ref.set_namespace_(ns);
  return ref;
}

fedpb::ResourceRef NamespacesRef(const std::string& ns = "") {
  return Ref(ns, "namespaces", "", "v1");
}

// What a unary call left behind: its status, the Status body from the trailers, the object.
struct Result {
  ::grpc::Status status;
  std::optional<json> body;  // Kubernetes Status body (errors only)
  json object;               // the returned object (success only)
};

std::unique_ptr<::grpc::ClientContext> NewContext(const std::string& token = "") {
  auto ctx = std::make_unique<::grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  // A bug shows up as a failed assertion, not a hung test.
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// A client-side watch stream.
class WatchStream {
 public:
  WatchStream(fedpb::Federation::Stub& stub, const fedpb::WatchRequest& request,
              const std::string& token = "")
      : context_(NewContext(token)), reader_(stub.Watch(context_.get(), request)) {}
  ~WatchStream() {
    if (!finished_) Cancel();
  }

  std::optional<fedpb::WatchEvent> Next() {
    fedpb::WatchEvent event;
    if (reader_->Read(&event)) return event;
    return std::nullopt;
  }
  // Reads everything left, then the final status.
  ::grpc::Status Finish() {
    while (Next()) {
    }
    finished_ = true;
    return reader_->Finish();
  }
  ::grpc::Status Cancel() {
    context_->TryCancel();
    return Finish();
  }
  std::optional<json> Body() const { return StatusBodyFromTrailers(*context_); }

 private:
  std::unique_ptr<::grpc::ClientContext> context_;
  std::unique_ptr<::grpc::ClientReader<fedpb::WatchEvent>> reader_;
  bool finished_ = false;
};

fedpb::WatchRequest WatchReq(const std::string& resource_version, const std::string& ns = "default",
                             const std::string& field_selector = "") {
  fedpb::WatchRequest req;
  *req.mutable_resource() = Ref(ns);
  req.set_resource_version(resource_version);
  req.set_field_selector(field_selector);
  return req;
}

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GrpcServerOptions options;
    options.service.max_object_bytes = 64 * 1024;
    Start(options);
  }

  void Start(GrpcServerOptions options) {
    ASSERT_TRUE(registry_.Add(apimachinery::NamespaceResourceInfo()).ok());
    ASSERT_TRUE(registry_.Add(Widgets()).ok());
    objects_ = std::make_unique<apimachinery::ObjectService>(store_, clock_, registry_);
    // Admission that exercises every error path a real embedder has: authn/authz failures
    // and field errors (every problem reported, each its own cause).
    objects_->AddMutatingAdmission(
        [this](const apimachinery::AdmissionAttributes& attrs, json* object) {
          if (attrs.name == "slow" && on_slow_) on_slow_();
          if (attrs.name == "forbidden")
            return PermissionDeniedError("widgets \"forbidden\" is off limits");
          if (attrs.name == "anonymous") return UnauthenticatedError("Unauthorized");
          if (!attrs.user->name.empty()) {
            (*object)["metadata"]["annotations"]["test/user"] = attrs.user->name;
          }
          return Status::Ok();
        });
    objects_->AddValidatingAdmission([](const apimachinery::AdmissionAttributes& attrs,
                                        const json& object, FieldErrors* errors) {
      if (attrs.resource->plural != "widgets" ||
          attrs.operation == apimachinery::Operation::kDelete) {
        return Status::Ok();
      }
      const json spec = object.value("spec", json::object());
      if (spec.value("size", 0) < 0)
        errors->push_back({"spec.size", "Invalid value: must be >= 0"});
      if (spec.value("color", "x").empty()) errors->push_back({"spec.color", "Required value"});
      return Status::Ok();
    });
    auto ns = objects_->Create(apimachinery::NamespaceResourceInfo(), "",
                               {{"metadata", {{"name", "default"}}}});
    ASSERT_TRUE(ns.ok() || ns.error().code == 409);  // 409: kept from before a Restart
    auto server = GrpcServer::Start(*objects_, "127.0.0.1:0", options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    ::grpc::ChannelArguments args;
    // Keep the client's receive window at its initial size so a client that does not read
    // stalls the stream early (the slow-consumer test).
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    channel_ =
        ::grpc::CreateCustomChannel(server_->address(), ::grpc::InsecureChannelCredentials(), args);
    stub_ = fedpb::Federation::NewStub(channel_);
  }

  // Restarts with other options (fresh store contents are not needed by callers).
  void Restart(GrpcServerOptions options) {
    server_->Shutdown();
    server_.reset();
    stub_.reset();
    channel_.reset();
    objects_.reset();
    registry_ = apimachinery::ResourceRegistry();
    Start(options);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    // A queued delivery task holds store watchers, which hold the dispatcher: let them all
    // finish here so the dispatcher's last reference is not dropped on its own thread.
    dispatcher_->Drain();
  }

  template <typename Response, typename Method, typename Request>
  Result Call(Method method, const Request& request) {
    auto ctx = NewContext(token_);
    Response response;
    Result r;
    r.status = ((*stub_).*method)(ctx.get(), request, &response);
    if (r.status.ok()) {
      if constexpr (std::is_same_v<Response, fedpb::ObjectResponse>) {
        r.object = json::parse(response.object_json());
      } else {
        json items = json::array();
        for (const std::string& item : response.items_json()) items.push_back(json::parse(item));
        r.object = {{"kind", response.kind()},
                    {"apiVersion", response.api_version()},
                    {"resourceVersion", response.resource_version()},
                    {"continue", response.continue_token()},
                    {"items", items}};
        if (response.has_remaining_item_count()) {
          r.object["remainingItemCount"] = response.remaining_item_count();
        }
      }
    } else {
      r.body = StatusBodyFromTrailers(*ctx);
    }
    return r;
  }

  Result Create(const json& object, const std::string& ns = "default", bool dry_run = false) {
    return CreateRaw(object.dump(), Ref(ns), dry_run);
  }
  Result CreateRaw(const std::string& text, const fedpb::ResourceRef& ref, bool dry_run = false) {
    fedpb::CreateRequest req;
    *req.mutable_resource() = ref;
    req.set_object_json(text);
    req.set_dry_run(dry_run);
    return Call<fedpb::ObjectResponse>(&fedpb::Federation::Stub::Create, req);
  }
  Result Get(const std::string& name, const fedpb::ResourceRef& ref = Ref()) {
    fedpb::GetRequest req;
    *req.mutable_resource() = ref;
    req.set_name(name);
    return Call<fedpb::ObjectResponse>(&fedpb::Federation::Stub::Get, req);
  }
  Result List(const std::string& label_selector = "", int64_t limit = 0,
              const std::string& continue_token = "", const std::string& ns = "default") {
    fedpb::ListRequest req;
    *req.mutable_resource() = Ref(ns);
    req.set_label_selector(label_selector);
    req.set_limit(limit);
    req.set_continue_token(continue_token);
    return Call<fedpb::ListResponse>(&fedpb::Federation::Stub::List, req);
  }
  Result Update(const std::string& name, const json& object, const std::string& subresource = "") {
    fedpb::UpdateRequest req;
    *req.mutable_resource() = Ref();
    req.set_name(name);
    req.set_object_json(object.dump());
    req.set_subresource(subresource);
    return Call<fedpb::ObjectResponse>(&fedpb::Federation::Stub::Update, req);
  }
  Result Patch(const std::string& name, fedpb::PatchType type, const std::string& patch,
               const std::string& subresource = "") {
    fedpb::PatchRequest req;
    *req.mutable_resource() = Ref();
    req.set_name(name);
    req.set_patch_type(type);
    req.set_patch(patch);
    req.set_subresource(subresource);
    return Call<fedpb::ObjectResponse>(&fedpb::Federation::Stub::Patch, req);
  }
  Result Delete(const std::string& name, const std::string& uid = "", const std::string& rv = "") {
    fedpb::DeleteRequest req;
    *req.mutable_resource() = Ref();
    req.set_name(name);
    req.mutable_preconditions()->set_uid(uid);
    req.mutable_preconditions()->set_resource_version(rv);
    return Call<fedpb::ObjectResponse>(&fedpb::Federation::Stub::Delete, req);
  }

  std::string CurrentRv() {
    Result l = List();
    EXPECT_TRUE(l.status.ok()) << l.status.error_message();
    return l.object.value("resourceVersion", "");
  }

  std::shared_ptr<apimachinery::WatchDispatcher> dispatcher_ =
      std::make_shared<apimachinery::WatchDispatcher>();
  apimachinery::MemoryStore store_{
      apimachinery::MemoryStoreOptions{.history_limit = 256, .dispatcher = dispatcher_}};
  FakeClock clock_;
  apimachinery::ResourceRegistry registry_;
  std::unique_ptr<apimachinery::ObjectService> objects_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<fedpb::Federation::Stub> stub_;
  std::string token_;              // sent as "authorization: Bearer <token_>" when set
  std::function<void()> on_slow_;  // run by admission for objects named "slow"
};

std::string Rv(const json& object) { return object["metadata"].value("resourceVersion", ""); }

TEST_F(GrpcServiceTest, VerbsRoundTripThroughTheObjectService) {
  // Each step runs one RPC against the state the previous steps left and checks the answer.
  json last;  // the widget as the server last returned it
  struct Step {
    std::string what;
    std::function<Result()> call;
    std::function<void(const json&)> check;
  };
  const std::vector<Step> steps = {
      {"create drops status and fills server metadata",
       [&] {
         json w = Widget("w1");
         w["status"] = {{"phase", "Bogus"}};
         return Create(w);
       },
       [&](const json& o) {
         EXPECT_EQ(o["metadata"]["namespace"], "default");
         EXPECT_EQ(o["metadata"]["generation"], 1);
         EXPECT_EQ(o["metadata"]["uid"].get<std::string>().size(), 36u);
         EXPECT_FALSE(Rv(o).empty());
         EXPECT_FALSE(o.contains("status"));
       }},
      {"get returns what create stored", [&] { return Get("w1"); },
       [&](const json& o) { EXPECT_EQ(o, last); }},
      {"dry-run create stores nothing", [&] { return Create(Widget("ghost"), "default", true); },
       [&](const json& o) { EXPECT_EQ(o["metadata"]["name"], "ghost"); }},
      {"second widget", [&] { return Create(Widget("w2", 2)); }, [&](const json&) {}},
      {"list sees both (not the dry-run one)", [&] { return List(); },
       [&](const json& l) {
         ASSERT_EQ(l["items"].size(), 2u);
         EXPECT_EQ(l["items"][0]["metadata"]["name"], "w1");
         EXPECT_EQ(l["items"][1]["metadata"]["name"], "w2");
         EXPECT_EQ(l["kind"], "WidgetList");
         EXPECT_EQ(l["apiVersion"], std::string(kGroup) + "/v1");
         EXPECT_FALSE(l["resourceVersion"].get<std::string>().empty());
       }},
      {"list with a label selector", [&] { return List("app=w2"); },
       [&](const json& l) {
         ASSERT_EQ(l["items"].size(), 1u);
         EXPECT_EQ(l["items"][0]["metadata"]["name"], "w2");
       }},
      {"list pages", [&] { return List("", 1); },
       [&](const json& l) {
         ASSERT_EQ(l["items"].size(), 1u);
         EXPECT_FALSE(l["continue"].get<std::string>().empty());
         EXPECT_EQ(l.value("remainingItemCount", -1), 1);
         Result next = List("", 1, l["continue"].get<std::string>());
         ASSERT_TRUE(next.status.ok()) << next.status.error_message();
         ASSERT_EQ(next.object["items"].size(), 1u);
         EXPECT_EQ(next.object["items"][0]["metadata"]["name"], "w2");
         EXPECT_EQ(next.object["continue"], "");
       }},
      {"update of spec bumps generation",
       [&] {
         json w = last;
         w["spec"]["size"] = 5;
         return Update("w1", w);
       },
       [&](const json& o) {
         EXPECT_EQ(o["spec"]["size"], 5);
         EXPECT_EQ(o["metadata"]["generation"], 2);
       }},
      {"status update changes only status",
       [&] {
         json w = last;
         w["status"] = {{"phase", "Ready"}};
         w["spec"]["size"] = 99;  // ignored by a status write
         return Update("w1", w, "status");
       },
       [&](const json& o) {
         EXPECT_EQ(o["status"]["phase"], "Ready");
         EXPECT_EQ(o["spec"]["size"], 5);
         EXPECT_EQ(o["metadata"]["generation"], 2);
       }},
      {"merge patch",
       [&] { return Patch("w1", fedpb::PATCH_TYPE_MERGE, R"({"spec":{"color":"blue"}})"); },
       [&](const json& o) {
         EXPECT_EQ(o["spec"]["color"], "blue");
         EXPECT_EQ(o["spec"]["size"], 5);
       }},
      {"json patch",
       [&] {
         return Patch("w1", fedpb::PATCH_TYPE_JSON,
                      R"([{"op":"replace","path":"/spec/size","value":7}])");
       },
       [&](const json& o) { EXPECT_EQ(o["spec"]["size"], 7); }},
      {"strategic merge patch",
       [&] {
         return Patch("w1", fedpb::PATCH_TYPE_STRATEGIC,
                      R"({"metadata":{"finalizers":["test/keep"]}})");
       },
       [&](const json& o) { EXPECT_EQ(o["metadata"]["finalizers"], json::array({"test/keep"})); }},
      {"status patch",
       [&] {
         return Patch("w1", fedpb::PATCH_TYPE_MERGE, R"({"status":{"phase":"Done"}})", "status");
       },
       [&](const json& o) { EXPECT_EQ(o["status"]["phase"], "Done"); }},
      {"delete with finalizers only marks", [&] { return Delete("w1", "", Rv(last)); },
       [&](const json& o) { EXPECT_TRUE(o["metadata"].contains("deletionTimestamp")); }},
      {"dropping the finalizer removes it",
       [&] { return Patch("w1", fedpb::PATCH_TYPE_MERGE, R"({"metadata":{"finalizers":null}})"); },
       [&](const json&) {
         EXPECT_EQ(Get("w1").status.error_code(), ::grpc::StatusCode::NOT_FOUND);
       }},
      {"delete with a matching uid precondition",
       [&] { return Delete("w2", Get("w2").object["metadata"]["uid"].get<std::string>()); },
       [&](const json& o) {
         EXPECT_EQ(o["metadata"]["name"], "w2");
         EXPECT_EQ(Get("w2").status.error_code(), ::grpc::StatusCode::NOT_FOUND);
       }},
      {"cluster-scoped resources take an empty namespace",
       [&] { return CreateRaw(R"({"metadata":{"name":"other"}})", NamespacesRef()); },
       [&](const json& o) { EXPECT_EQ(o["status"]["phase"], "Active"); }},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.what);
    Result r = step.call();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    if (r.object.contains("metadata") && r.object["metadata"].value("name", "") == "w1") {
      last = r.object;
    }
    step.check(r.object);
  }
}

TEST_F(GrpcServiceTest, ErrorsMapToGrpcCodesWithTheKubernetesStatusBody) {
  ASSERT_TRUE(Create(Widget("taken")).status.ok());
  const json taken = Get("taken").object;
  json stale = taken;
  stale["metadata"]["resourceVersion"] = "1";
  stale["spec"]["size"] = 3;
  json bad_name = Widget("Bad_Name");
  json huge = Widget("huge");
  huge["spec"]["blob"] = std::string(100 * 1024, 'x');

  struct Case {
    std::string what;
    std::function<Result()> call;
    ::grpc::StatusCode code;
    int http;
    std::string reason;
    std::vector<std::string> cause_fields;
  };
  const std::vector<Case> cases = {
      {"get of a missing object",
       [&] { return Get("nope"); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"unknown resource",
       [&] { return Get("x", Ref("default", "gizmos")); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"unknown version",
       [&] { return Get("x", Ref("default", "widgets", kGroup, "v9")); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"cluster-scoped resource with a namespace",
       [&] { return Get("default", NamespacesRef("default")); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"create in a missing namespace",
       [&] { return Create(Widget("x"), "nope"); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"unknown subresource",
       [&] { return Update("taken", taken, "scale"); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"create of an existing name",
       [&] { return Create(Widget("taken")); },
       ::grpc::StatusCode::ALREADY_EXISTS,
       409,
       "AlreadyExists",
       {}},
      {"update with a stale resourceVersion",
       [&] { return Update("taken", stale); },
       ::grpc::StatusCode::ABORTED,
       409,
       "Conflict",
       {}},
      {"delete with a failed uid precondition",
       [&] { return Delete("taken", "not-the-uid"); },
       ::grpc::StatusCode::ABORTED,
       409,
       "Conflict",
       {}},
      {"invalid name",
       [&] { return Create(bad_name); },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       422,
       "Invalid",
       {"metadata.name"}},
      {"every admission field error is kept",
       [&] { return Create(Widget("w", -1, "")); },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       422,
       "Invalid",
       {"spec.size", "spec.color"}},
      {"malformed JSON",
       [&] { return CreateRaw("{\"metadata\":", Ref()); },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       400,
       "BadRequest",
       {}},
      {"body/request namespace mismatch",
       [&] {
         json w = Widget("x");
         w["metadata"]["namespace"] = "other";
         return Create(w);
       },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       400,
       "BadRequest",
       {}},
      {"missing name",
       [&] { return Get(""); },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       400,
       "BadRequest",
       {}},
      {"namespaced object without a namespace",
       [&] { return Get("taken", Ref("")); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"name that is not a path segment",
       [&] { return Get("x/../taken"); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"namespace that is not a path segment",
       [&] { return Get("taken", Ref("..")); },
       ::grpc::StatusCode::NOT_FOUND,
       404,
       "NotFound",
       {}},
      {"patch without a type",
       [&] { return Patch("taken", fedpb::PATCH_TYPE_UNSPECIFIED, "{}"); },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       400,
       "BadRequest",
       {}},
      {"json patch whose test fails",
       [&] {
         return Patch("taken", fedpb::PATCH_TYPE_JSON,
                      R"([{"op":"test","path":"/spec/size","value":42}])");
       },
       ::grpc::StatusCode::INVALID_ARGUMENT,
       422,
       "Invalid",
       {"spec.size"}},  // the patch error names the field (issue 22)
      {"object over the size limit",
       [&] { return Create(huge); },
       ::grpc::StatusCode::RESOURCE_EXHAUSTED,
       413,
       "RequestEntityTooLarge",
       {}},
      {"admission: forbidden",
       [&] { return Create(Widget("forbidden")); },
       ::grpc::StatusCode::PERMISSION_DENIED,
       403,
       "Forbidden",
       {}},
      {"admission: unauthenticated",
       [&] { return Create(Widget("anonymous")); },
       ::grpc::StatusCode::UNAUTHENTICATED,
       401,
       "Unauthorized",
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Result r = c.call();
    EXPECT_EQ(r.status.error_code(), c.code) << r.status.error_message();
    ASSERT_TRUE(r.body.has_value());
    const json& body = *r.body;
    EXPECT_EQ(body["kind"], "Status");
    EXPECT_EQ(body["status"], "Failure");
    EXPECT_EQ(body["code"], c.http);
    EXPECT_EQ(body["reason"], c.reason);
    EXPECT_EQ(body["message"], r.status.error_message());
    std::vector<std::string> fields;
    if (body.contains("details") && body["details"].contains("causes")) {
      for (const json& cause : body["details"]["causes"]) {
        fields.push_back(cause["field"].get<std::string>());
        EXPECT_FALSE(cause["message"].get<std::string>().empty());
      }
    }
    EXPECT_EQ(fields, c.cause_fields);
  }
  // Nothing failed half-way: the one stored widget is unchanged.
  Result after = Get("taken");
  ASSERT_TRUE(after.status.ok());
  EXPECT_EQ(after.object, taken);
}

TEST(GrpcCodeForTest, FollowsTheKubernetesToGrpcTable) {
  struct Case {
    int http;
    std::string reason;
    ::grpc::StatusCode code;
  };
  for (const Case& c : std::vector<Case>{
           {400, "BadRequest", ::grpc::StatusCode::INVALID_ARGUMENT},
           {401, "Unauthorized", ::grpc::StatusCode::UNAUTHENTICATED},
           {403, "Forbidden", ::grpc::StatusCode::PERMISSION_DENIED},
           {404, "NotFound", ::grpc::StatusCode::NOT_FOUND},
           {405, "MethodNotAllowed", ::grpc::StatusCode::UNIMPLEMENTED},
           {409, "AlreadyExists", ::grpc::StatusCode::ALREADY_EXISTS},
           {409, "Conflict", ::grpc::StatusCode::ABORTED},
           {410, "Expired", ::grpc::StatusCode::OUT_OF_RANGE},
           {413, "RequestEntityTooLarge", ::grpc::StatusCode::RESOURCE_EXHAUSTED},
           {415, "UnsupportedMediaType", ::grpc::StatusCode::INVALID_ARGUMENT},
           {422, "Invalid", ::grpc::StatusCode::INVALID_ARGUMENT},
           {429, "TooManyRequests", ::grpc::StatusCode::RESOURCE_EXHAUSTED},
           {500, "InternalError", ::grpc::StatusCode::INTERNAL},
           {503, "ServiceUnavailable", ::grpc::StatusCode::UNAVAILABLE},
           {504, "Timeout", ::grpc::StatusCode::DEADLINE_EXCEEDED},
       }) {
    ApiError e;
    e.code = c.http;
    e.reason = c.reason;
    e.message = "m";
    EXPECT_EQ(GrpcCodeFor(e), c.code) << c.http << " " << c.reason;
    EXPECT_EQ(GrpcStatusFor(e).error_message(), "m");
  }
}

TEST_F(GrpcServiceTest, FiltersSeeTheEquivalentRestRequestAndSetTheUser) {
  // A bearer-token authenticator plus a toy authorizer, written as REST filters.
  auto seen = std::make_shared<std::vector<std::string>>();  // "METHOD path[?watch]"
  auto mu = std::make_shared<std::mutex>();
  GrpcServerOptions options;
  options.service.filters.push_back([seen, mu](apimachinery::rest::RestRequest& r) {
    {
      std::lock_guard lock(*mu);
      seen->push_back(r.method + " " + r.path + (r.Query("watch") == "true" ? "?watch" : ""));
    }
    if (r.Header("authorization") != "Bearer good") return UnauthenticatedError("Unauthorized");
    r.user.name = "alice";
    return Status::Ok();
  });
  options.service.filters.push_back([](apimachinery::rest::RestRequest& r) {
    if (r.method == "DELETE" && r.path.find("/protected") != std::string::npos) {
      return PermissionDeniedError("user \"" + r.user.name + "\" cannot delete \"protected\"");
    }
    return Status::Ok();
  });
  Restart(options);
  const std::string base = std::string("/apis/") + kGroup + "/v1/namespaces/default/widgets";

  struct Case {
    std::string what;
    std::string token;
    std::function<Result()> call;
    ::grpc::StatusCode code;
    std::string request;  // what the filters saw
  };
  const std::vector<Case> cases = {
      {"no token", "", [&] { return Get("w"); }, ::grpc::StatusCode::UNAUTHENTICATED,
       "GET " + base + "/w"},
      {"wrong token", "bad", [&] { return List(); }, ::grpc::StatusCode::UNAUTHENTICATED,
       "GET " + base},
      {"create", "good", [&] { return Create(Widget("w")); }, ::grpc::StatusCode::OK,
       "POST " + base},
      {"create protected", "good", [&] { return Create(Widget("protected")); },
       ::grpc::StatusCode::OK, "POST " + base},
      {"get", "good", [&] { return Get("w"); }, ::grpc::StatusCode::OK, "GET " + base + "/w"},
      {"list", "good", [&] { return List(); }, ::grpc::StatusCode::OK, "GET " + base},
      {"status update", "good",
       [&] {
         json w = Get("w").object;
         w["status"] = {{"phase", "Ready"}};
         return Update("w", w, "status");
       },
       ::grpc::StatusCode::OK, "PUT " + base + "/w/status"},
      {"patch", "good",
       [&] { return Patch("w", fedpb::PATCH_TYPE_MERGE, R"({"spec":{"size":2}})"); },
       ::grpc::StatusCode::OK, "PATCH " + base + "/w"},
      {"core group, cluster scope", "good", [&] { return Get("default", NamespacesRef()); },
       ::grpc::StatusCode::OK, "GET /api/v1/namespaces/default"},
      {"authorizer says no", "good", [&] { return Delete("protected"); },
       ::grpc::StatusCode::PERMISSION_DENIED, "DELETE " + base + "/protected"},
      {"delete", "good", [&] { return Delete("w"); }, ::grpc::StatusCode::OK,
       "DELETE " + base + "/w"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    {
      std::lock_guard lock(*mu);
      seen->clear();
    }
    token_ = c.token;
    Result r = c.call();
    EXPECT_EQ(r.status.error_code(), c.code) << r.status.error_message();
    std::lock_guard lock(*mu);
    ASSERT_FALSE(seen->empty());
    EXPECT_EQ(seen->back(), c.request);
    if (!r.status.ok()) {
      ASSERT_TRUE(r.body.has_value());
      EXPECT_EQ((*r.body)["code"], c.code == ::grpc::StatusCode::UNAUTHENTICATED ? 401 : 403);
    } else if (c.what == "create") {
      // Admission saw the user the filter set.
      EXPECT_EQ(r.object["metadata"]["annotations"]["test/user"], "alice");
    }
  }

  // Watch goes through the same chain, as a GET with watch=true.
  {
    WatchStream denied(*stub_, WatchReq(""));
    EXPECT_EQ(denied.Finish().error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
    std::lock_guard lock(*mu);
    EXPECT_EQ(seen->back(), "GET " + base + "?watch");
  }
  WatchStream allowed(*stub_, WatchReq(""), "good");
  std::optional<fedpb::WatchEvent> e = allowed.Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(json::parse(e->object_json())["metadata"]["name"], "protected");
  allowed.Cancel();
}

TEST_F(GrpcServiceTest, WatchStreamsAddedModifiedDeletedInRevisionOrder) {
  WatchStream watch(*stub_, WatchReq(CurrentRv()));
  Result created = Create(Widget("w"));
  ASSERT_TRUE(created.status.ok());
  json changed = created.object;
  changed["spec"]["size"] = 2;
  Result updated = Update("w", changed);
  ASSERT_TRUE(updated.status.ok());
  Result deleted = Delete("w");
  ASSERT_TRUE(deleted.status.ok());

  struct Want {
    std::string type;
    std::string rv;
  };
  int64_t previous = 0;
  for (const Want& want : std::vector<Want>{{"ADDED", Rv(created.object)},
                                            {"MODIFIED", Rv(updated.object)},
                                            {"DELETED", Rv(deleted.object)}}) {
    SCOPED_TRACE(want.type);
    std::optional<fedpb::WatchEvent> e = watch.Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type(), want.type);
    EXPECT_EQ(e->resource_version(), want.rv);
    json object = json::parse(e->object_json());
    EXPECT_EQ(object["metadata"]["name"], "w");
    EXPECT_EQ(Rv(object), want.rv);
    EXPECT_GT(std::stoll(want.rv), previous);
    previous = std::stoll(want.rv);
  }
  EXPECT_EQ(watch.Cancel().error_code(), ::grpc::StatusCode::CANCELLED);
}

TEST_F(GrpcServiceTest, WatchFromScratchListsFirstAndResumesFromAnyRevision) {
  std::vector<std::string> rvs;
  ASSERT_TRUE(Create(Widget("a")).status.ok());
  Result b = Create(Widget("b"));
  ASSERT_TRUE(b.status.ok());
  json changed = b.object;
  for (int size : {2, 3}) {
    changed["spec"]["size"] = size;
    Result u = Update("b", changed);
    ASSERT_TRUE(u.status.ok());
    rvs.push_back(Rv(u.object));
    changed = u.object;
  }

  struct Case {
    std::string what;
    fedpb::WatchRequest request;
    std::vector<std::string> want;  // "TYPE name size"
  };
  const std::vector<Case> cases = {
      {"no resourceVersion: current objects as ADDED", WatchReq(""), {"ADDED a 1", "ADDED b 3"}},
      {"resourceVersion \"0\" is the same", WatchReq("0"), {"ADDED a 1", "ADDED b 3"}},
      {"resume after the first update", WatchReq(rvs[0]), {"MODIFIED b 3"}},
      {"resume from before b existed",
       WatchReq(Rv(Get("a").object)),
       {"ADDED b 1", "MODIFIED b 2", "MODIFIED b 3"}},
      {"field selector", WatchReq("", "default", "metadata.name=b"), {"ADDED b 3"}},
      {"all namespaces", WatchReq("", ""), {"ADDED a 1", "ADDED b 3"}},
  };
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    streams.push_back(std::make_unique<WatchStream>(*stub_, c.request));
    std::vector<std::string> got;
    for (size_t i = 0; i < c.want.size(); ++i) {
      std::optional<fedpb::WatchEvent> e = streams.back()->Next();
      ASSERT_TRUE(e.has_value());
      json o = json::parse(e->object_json());
      got.push_back(e->type() + " " + o["metadata"]["name"].get<std::string>() + " " +
                    std::to_string(o["spec"]["size"].get<int>()));
    }
    EXPECT_EQ(got, c.want);
  }
  // Then live events follow on every stream.
  ASSERT_TRUE(Patch("b", fedpb::PATCH_TYPE_MERGE, R"({"spec":{"size":4}})").status.ok());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].what);
    std::optional<fedpb::WatchEvent> e = streams[i]->Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type(), "MODIFIED");
    EXPECT_EQ(json::parse(e->object_json())["spec"]["size"], 4);
    EXPECT_EQ(streams[i]->Cancel().error_code(), ::grpc::StatusCode::CANCELLED);
  }
}

TEST_F(GrpcServiceTest, WatchErrorsEndTheStreamWithTheStatusBody) {
  // Push revision 1 out of the store's 256-write history.
  json w = Widget("churn");
  ASSERT_TRUE(Create(w).status.ok());
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(objects_
                    ->Patch(Widgets(), "default", "churn", apimachinery::PatchType::kMergePatch,
                            R"({"spec":{"size":)" + std::to_string(i) + "}}")
                    .ok());
  }
  struct Case {
    std::string what;
    fedpb::WatchRequest request;
    ::grpc::StatusCode code;
    int http;
  };
  fedpb::WatchRequest unknown = WatchReq("");
  unknown.mutable_resource()->set_resource("gizmos");
  for (const Case& c : std::vector<Case>{
           {"expired resourceVersion", WatchReq("1"), ::grpc::StatusCode::OUT_OF_RANGE, 410},
           {"malformed resourceVersion", WatchReq("abc"), ::grpc::StatusCode::INVALID_ARGUMENT,
            400},
           {"malformed selector", WatchReq("", "default", "metadata.name"),
            ::grpc::StatusCode::INVALID_ARGUMENT, 400},
           {"unknown resource", unknown, ::grpc::StatusCode::NOT_FOUND, 404},
       }) {
    SCOPED_TRACE(c.what);
    WatchStream watch(*stub_, c.request);
    EXPECT_FALSE(watch.Next().has_value());
    ::grpc::Status st = watch.Finish();
    EXPECT_EQ(st.error_code(), c.code) << st.error_message();
    std::optional<json> body = watch.Body();
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ((*body)["code"], c.http);
  }
  EXPECT_TRUE(server_->service().WaitForActiveWatchesAtMost(0, std::chrono::seconds(5)));
}

TEST_F(GrpcServiceTest, CancellingAWatchReleasesItsStoreWatchAndLeavesOthersRunning) {
  WatchStream kept(*stub_, WatchReq(""));
  ASSERT_TRUE(Create(Widget("first")).status.ok());
  ASSERT_TRUE(kept.Next().has_value());
  {
    WatchStream cancelled(*stub_, WatchReq(""));
    ASSERT_TRUE(cancelled.Next().has_value());  // its handler ran: two streams are open
    EXPECT_EQ(server_->service().ActiveWatches(), 2u);
    EXPECT_EQ(cancelled.Cancel().error_code(), ::grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(server_->service().WaitForActiveWatchesAtMost(1, std::chrono::seconds(5)));
  ASSERT_TRUE(Create(Widget("second")).status.ok());
  std::optional<fedpb::WatchEvent> e = kept.Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(json::parse(e->object_json())["metadata"]["name"], "second");
  kept.Cancel();
  EXPECT_TRUE(server_->service().WaitForActiveWatchesAtMost(0, std::chrono::seconds(5)));
}

TEST_F(GrpcServiceTest, ASlowClientIsCutOffWithoutBlockingTheStore) {
  GrpcServerOptions options;
  options.service.max_watch_backlog_bytes = 256 * 1024;
  Restart(options);
  WatchStream slow(*stub_, WatchReq(CurrentRv()));
  // The client reads nothing. Writes go on at full speed until the transport's buffers and
  // then the stream's backlog are full; the stream is then ended, never the writer blocked.
  json w = Widget("big");
  w["spec"]["blob"] = std::string(128 * 1024, 'x');
  int writes = 0;
  for (; writes < 2000 && server_->service().SlowWatchesClosed() == 0; ++writes) {
    w["metadata"]["name"] = "big-" + std::to_string(writes);
    ASSERT_TRUE(objects_->Create(Widgets(), "default", w).ok());
  }
  ASSERT_EQ(server_->service().SlowWatchesClosed(), 1) << "after " << writes << " writes";
  // The client gets what was sent before the cut, in order, then RESOURCE_EXHAUSTED.
  int received = 0;
  while (std::optional<fedpb::WatchEvent> e = slow.Next()) {
    EXPECT_EQ(json::parse(e->object_json())["metadata"]["name"], "big-" + std::to_string(received));
    ++received;
  }
  EXPECT_LT(received, writes);
  ::grpc::Status st = slow.Finish();
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  std::optional<json> body = slow.Body();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ((*body)["reason"], "TooManyRequests");
  EXPECT_TRUE(server_->service().WaitForActiveWatchesAtMost(0, std::chrono::seconds(5)));
}

TEST_F(GrpcServiceTest, ShutdownEndsWatchesWithUnavailableAndIgnoresIdleConnections) {
  GrpcServerOptions options;
  options.shutdown_grace = std::chrono::seconds(20);
  Restart(options);
  WatchStream watch(*stub_, WatchReq(""));
  ASSERT_TRUE(Create(Widget("x")).status.ok());
  ASSERT_TRUE(watch.Next().has_value());
  // The channel stays open (and idle once the watch ends); Shutdown must not wait for it.
  const auto started = std::chrono::steady_clock::now();
  server_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_EQ(server_->service().ActiveWatches(), 0u);
  ::grpc::Status st = watch.Finish();
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::UNAVAILABLE) << st.error_message();
  std::optional<json> body = watch.Body();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ((*body)["code"], 503);
  server_->Shutdown();  // idempotent
}

TEST_F(GrpcServiceTest, ShutdownLetsRunningCallsFinishAndRefusesNewOnes) {
  GrpcServerOptions options;
  options.shutdown_grace = std::chrono::seconds(20);
  Restart(options);
  // A create that is inside admission when the shutdown starts.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  on_slow_ = [&] {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  Result slow;
  std::thread writer([&] { slow = Create(Widget("slow")); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  std::thread stopper([&] { server_->Shutdown(); });
  // Once draining, new calls are refused; the running one is not affected.
  Result refused;
  for (int i = 0; i < 100000; ++i) {
    refused = Get("anything");
    if (refused.status.error_code() == ::grpc::StatusCode::UNAVAILABLE) break;
  }
  EXPECT_EQ(refused.status.error_code(), ::grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(refused.body.has_value());
  EXPECT_EQ((*refused.body)["reason"], "ServiceUnavailable");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  writer.join();
  stopper.join();
  EXPECT_TRUE(slow.status.ok()) << slow.status.error_message();
  EXPECT_EQ(slow.object["metadata"]["name"], "slow");
  EXPECT_TRUE(objects_->Get(Widgets(), "default", "slow").ok());
}

TEST(GrpcServerTest, ListensOnLoopbackOnlyUnlessAllowed) {
  struct Case {
    std::string address;
    bool allow_non_loopback;
    bool ok;
  };
  for (const Case& c : std::vector<Case>{
           {"127.0.0.1:0", false, true},
           {"127.1.2.3:8443", false, true},
           {"localhost:9000", false, true},
           {"[::1]:0", false, true},
           {"unix:/tmp/meridian.sock", false, true},
           {"0.0.0.0:0", false, false},
           {"[::]:0", false, false},
           {":8443", false, false},
           {"10.1.2.3:443", false, false},
           {"example.com:443", false, false},
           {"0.0.0.0:0", true, true},
           {"10.1.2.3:443", true, true},
           {"127.0.0.1", false, false},
           {"127.0.0.1:", false, false},
           {"127.0.0.1:http", false, false},
           {"127.0.0.1:65536", false, false},
           {"::1:80", false, false},
           {"[::1:80", false, false},
           {"unix:", false, false},
       }) {
    Status st = CheckListenAddress(c.address, c.allow_non_loopback);
    EXPECT_EQ(st.ok(), c.ok) << c.address << ": " << st;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(st.message().find(c.address), std::string::npos) << st;
    }
  }
  // Start refuses before binding anything.
  apimachinery::MemoryStore store;
  FakeClock clock;
  apimachinery::ResourceRegistry registry;
  apimachinery::ObjectService objects(store, clock, registry);
  auto refused = GrpcServer::Start(objects, "0.0.0.0:0");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("loopback"), std::string::npos);

  // A taken port is an error, not a second server silently sharing it.
  auto first = GrpcServer::Start(objects, "127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = GrpcServer::Start(objects, (*first)->address());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find((*first)->address()), std::string::npos);
}

}  // namespace
}  // namespace meridian::apiserver
