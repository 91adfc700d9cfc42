// RestHandler without sockets: routing, discovery, codes and Status bodies, Tables, filters,
// extra routes, watch streams through a fake sink (timeouts on a FakeClock).
#include "apimachinery/rest/rest_handler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <optional>
#include <thread>

#include "apimachinery/rest/protobuf_body.h"
#include "test/apimachinery/rest/test_server.h"

namespace meridian::apimachinery::rest::testing {
namespace {

using nlohmann::json;

class FakeSink final : public WatchSink {
 public:
  bool Write(const std::string& chunk) override {
    std::lock_guard lock(mu_);
    if (closed_ || gone_) return false;
    chunks_.push_back(chunk);
    cv_.notify_all();
    return true;
  }
  bool WriteShared(std::shared_ptr<const std::string> chunk) override {
    {
      std::lock_guard lock(mu_);
      shared_.push_back(chunk);
    }
    return Write(*chunk);
  }
  // The buffers the handler passed, in order (one per chunk).
  std::vector<std::shared_ptr<const std::string>> Shared() {
    std::lock_guard lock(mu_);
    return shared_;
  }
  void Close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  bool Closed() const override {
    std::lock_guard lock(mu_);
    return closed_ || gone_;
  }
  void ClientGoes() {
    std::lock_guard lock(mu_);
    gone_ = true;
  }
  // Waits (real time, generous) for n chunks; returns them parsed.
  std::vector<json> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return chunks_.size() >= n; });
    std::vector<json> out;
    for (const std::string& c : chunks_) {
      EXPECT_EQ(c.back(), '\n');
      if (c == "\n") continue;  // heartbeat
      out.push_back(json::parse(c));
    }
    return out;
  }
  size_t Heartbeats() {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count(chunks_.begin(), chunks_.end(), "\n"));
  }
  bool WaitClosed() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return closed_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> chunks_;
  std::vector<std::shared_ptr<const std::string>> shared_;
  bool closed_ = false;
  bool gone_ = false;
};

json Deploy(const std::string& name, int replicas = 1) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", name}}}}}}}};
}

class RestHandlerTest : public ::testing::Test {
 protected:
  RestResponse Do(RestRequest r) { return server_.handler->Handle(std::move(r)); }
  json Body(const RestResponse& r) { return json::parse(r.Body()); }

  std::shared_ptr<WatchDispatcher> dispatcher_ = std::make_shared<WatchDispatcher>();
  FakeClock clock_;
  TestServer server_{clock_, RestOptions{}, dispatcher_};
};

TEST_F(RestHandlerTest, DiscoveryAndServerEndpoints) {
  struct Case {
    std::string path;
    int code;
    std::vector<std::string> contains;
  };
  for (const Case& c : std::vector<Case>{
           {"/version", 200, {"\"gitVersion\":\"v1.32.0-meridian\""}},
           {"/healthz", 200, {"ok"}},
           {"/readyz", 200, {"ok"}},
           {"/livez", 200, {"ok"}},
           {"/", 200, {"/apis/apps/v1"}},
           {"/api", 200, {"\"kind\":\"APIVersions\"", "\"v1\""}},
           {"/api/v1", 200, {"\"kind\":\"APIResourceList\"", "\"name\":\"namespaces\"",
                             "\"name\":\"namespaces/status\"", "\"shortNames\":[\"cm\"]"}},
           {"/apis", 200, {"\"kind\":\"APIGroupList\"", "\"groupVersion\":\"apps/v1\""}},
           {"/apis/apps", 200, {"\"kind\":\"APIGroup\"", "\"preferredVersion\""}},
           {"/apis/apps/v1", 200, {"\"name\":\"deployments\"", "\"name\":\"deployments/status\"",
                                   "\"name\":\"deployments/scale\"", "\"categories\":[\"all\"]"}},
           {"/apis/nope", 404, {"the server could not find the requested resource"}},
           {"/apis/apps/v2", 404, {"\"reason\":\"NotFound\""}},
           {"/api/v2/pods", 404, {}},
           {"/nothing", 404, {"\"kind\":\"Status\""}},
           {"/openapi/v3", 200, {"apis/apps/v1"}},
           {"/openapi/v3/apis/apps/v1", 200, {"fieldValidation", "x-kubernetes-group-version-kind"}},
       }) {
    RestResponse r = Do(Req("GET", c.path));
    EXPECT_EQ(r.code, c.code) << c.path << ": " << r.Body();
    for (const std::string& want : c.contains) {
      EXPECT_NE(r.Body().find(want), std::string::npos) << c.path << " lacks " << want << ": " << r.Body();
    }
  }
}

TEST_F(RestHandlerTest, MountedUnderABasePath) {
  TestServer mounted(clock_, RestOptions{.base_path = "/clusters/eu-1"}, dispatcher_);
  struct Case {
    std::string path;
    int code;
  };
  for (const Case& c : std::vector<Case>{{"/clusters/eu-1/api/v1", 200},
                                         {"/clusters/eu-1/healthz", 200},
                                         {"/clusters/eu-1/api/v1/namespaces/default", 200},
                                         {"/clusters/eu-1", 200},
                                         {"/clusters/eu-10/api/v1", 404},
                                         {"/api/v1", 404}}) {
    EXPECT_EQ(mounted.handler->Handle(Req("GET", c.path)).code, c.code) << c.path;
  }
}

// Which requests a transport may park until their resource is proven fresh: GETs (object,
// status, collection) without resourceVersion or continue; never a watch, a write, an
// older-state read, or a path the handler would not route to a stored resource.
TEST_F(RestHandlerTest, ConsistentReadTypeNamesTheStoredResourceOfAMostRecentRead) {
  const ResourceType deployments{"apps", "deployments"};
  const ResourceType namespaces{"", "namespaces"};
  const ResourceType configmaps{"", "configmaps"};
  struct Case {
    std::string method;
    std::string path;
    std::map<std::string, std::string> query;
    std::optional<ResourceType> want;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/apis/apps/v1/namespaces/default/deployments/web", {}, deployments},
           {"GET", "/apis/apps/v1/namespaces/default/deployments/web/status", {}, deployments},
           {"GET", "/apis/apps/v1/namespaces/default/deployments", {{"limit", "5"}}, deployments},
           {"GET", "/apis/apps/v1/deployments/", {{"labelSelector", "app=web"}}, deployments},
           {"GET", "/api/v1/namespaces/default", {}, namespaces},
           {"GET", "/api/v1/namespaces/default/status", {}, namespaces},
           {"GET", "/api/v1/namespaces", {}, namespaces},
           {"GET", "/api/v1/namespaces/default/configmaps", {{"watch", "false"}}, configmaps},
           {"GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", {}, std::nullopt},
           {"GET", "/apis/apps/v1/namespaces/default/deployments", {{"watch", "1"}}, std::nullopt},
           {"GET", "/api/v1/namespaces", {{"watch", "true"}}, std::nullopt},
           {"GET", "/apis/apps/v1/watch/namespaces/default/deployments", {}, std::nullopt},
           {"GET", "/apis/apps/v1/deployments", {{"resourceVersion", "0"}}, std::nullopt},
           {"GET", "/apis/apps/v1/deployments", {{"resourceVersion", "12"}}, std::nullopt},
           {"GET", "/apis/apps/v1/deployments", {{"continue", "abc"}}, std::nullopt},
           {"PUT", "/apis/apps/v1/namespaces/default/deployments/web", {}, std::nullopt},
           {"POST", "/api/v1/namespaces", {}, std::nullopt},
           {"GET", "/apis/apps/v1", {}, std::nullopt},
           {"GET", "/apis/apps/v9/deployments", {}, std::nullopt},
           {"GET", "/api/v1/namespaces/default/nothings/x/y/z", {}, std::nullopt},
           {"GET", "/healthz", {}, std::nullopt},
           {"GET", "/version", {}, std::nullopt},
           {"GET", "", {}, std::nullopt},
       }) {
    std::optional<ResourceType> got =
        server_.handler->ConsistentReadType(Req(c.method, c.path, nullptr, c.query));
    EXPECT_EQ(got, c.want) << c.method << " " << c.path;
  }
  TestServer mounted(clock_, RestOptions{.base_path = "/clusters/eu-1"}, dispatcher_);
  EXPECT_EQ(mounted.handler->ConsistentReadType(Req("GET", "/clusters/eu-1/api/v1/namespaces")),
            namespaces);
  EXPECT_EQ(mounted.handler->ConsistentReadType(Req("GET", "/api/v1/namespaces")), std::nullopt);
}

TEST_F(RestHandlerTest, ObjectLifecycleCodesAndStatusBodies) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  const std::string item = coll + "/web";
  RestResponse created = Do(Req("POST", coll, Deploy("web")));
  ASSERT_EQ(created.code, 201) << created.Body();
  const std::string rv1 = Body(created)["metadata"]["resourceVersion"];
  json stale = Body(created);
  struct Case {
    std::string what;
    RestRequest req;
    int code;
    std::string reason;  // of the Status body on failure
  };
  json status_body = Body(created);
  status_body["status"] = {{"readyReplicas", 1}};
  status_body["metadata"].erase("resourceVersion");  // unconditional
  std::string big(4 * 1024 * 1024, 'x');
  RestRequest too_big = Req("POST", coll);
  too_big.body = big;
  RestRequest bad_json = Req("POST", coll);
  bad_json.body = "{nope";
  RestRequest bad_patch = Req("PATCH", item, json{{"spec", {{"replicas", 2}}}});
  bad_patch.headers["content-type"] = "text/plain";
  json stale_update = stale;
  stale_update["spec"]["replicas"] = 9;
  std::vector<Case> cases = {
      {"get", Req("GET", item), 200, ""},
      {"list", Req("GET", coll), 200, ""},
      {"list all namespaces", Req("GET", "/apis/apps/v1/deployments"), 200, ""},
      {"duplicate", Req("POST", coll, Deploy("web")), 409, "AlreadyExists"},
      {"missing", Req("GET", coll + "/nope"), 404, "NotFound"},
      {"post to item", Req("POST", item, Deploy("web")), 405, "MethodNotAllowed"},
      {"post without namespace", Req("POST", "/apis/apps/v1/deployments", Deploy("x")), 405,
       "MethodNotAllowed"},
      {"namespaced get without namespace", Req("GET", "/apis/apps/v1/deployments/web"), 404, "NotFound"},
      {"cluster-scoped under a namespace", Req("GET", "/api/v1/namespaces/default/namespaces/x"),
       404, "NotFound"},
      {"too large", too_big, 413, "RequestEntityTooLarge"},
      {"malformed json", bad_json, 400, "BadRequest"},
      {"unknown patch type", bad_patch, 415, "UnsupportedMediaType"},
      {"update", Req("PUT", item, Deploy("web", 3)), 200, ""},
      {"stale update", Req("PUT", item, stale_update), 409, "Conflict"},
      {"status update", Req("PUT", item + "/status", status_body), 200, ""},
      {"unknown subresource", Req("GET", item + "/exec"), 404, "NotFound"},
      {"bad limit", Req("GET", coll, nullptr, {{"limit", "x"}}), 400, "BadRequest"},
      {"bad selector", Req("GET", coll, nullptr, {{"labelSelector", "a in (b"}}), 400, "BadRequest"},
      {"delete with failing precondition",
       Req("DELETE", item, {{"kind", "DeleteOptions"}, {"apiVersion", "v1"},
                            {"preconditions", {{"resourceVersion", rv1}}}}),
       409, "Conflict"},
      {"delete", Req("DELETE", item, {{"kind", "DeleteOptions"}, {"propagationPolicy", "Background"}}),
       200, ""},
      {"gone", Req("GET", item), 404, "NotFound"},
  };
  for (Case& c : cases) {
    RestResponse r = Do(c.req);
    EXPECT_EQ(r.code, c.code) << c.what << ": " << r.Body();
    if (r.code >= 400) {
      json s = Body(r);
      EXPECT_EQ(s["kind"], "Status") << c.what;
      EXPECT_EQ(s["apiVersion"], "v1") << c.what;
      EXPECT_EQ(s["status"], "Failure") << c.what;
      EXPECT_EQ(s["reason"], c.reason) << c.what;
      EXPECT_EQ(s["code"], c.code) << c.what;
    }
  }
  RestResponse missing = Do(Req("GET", coll + "/nope"));
  EXPECT_EQ(Body(missing)["message"], "deployments.apps \"nope\" not found");
  EXPECT_EQ(Body(missing)["details"], json::parse(R"({"name":"nope","group":"apps","kind":"deployments"})"));
}

// `{"a":{"a":...}}` with `depth` objects around `leaf`.
std::string Nested(int depth, const std::string& leaf = "1") {
  std::string s;
  s.reserve(depth * 6 + leaf.size());
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += leaf;
  s.append(depth, '}');
  return s;
}

// Bodies a client controls: too deep (the stack-overflow crash of issue 22), numbers out of
// range, NaN, invalid UTF-8. Each is refused with 400, a message naming the field, and
// nothing stored changes.
TEST_F(RestHandlerTest, DeepAndMalformedBodiesAreRefusedWithTheField) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  const std::string item = coll + "/web";
  RestResponse created = Do(Req("POST", coll, Deploy("web")));
  ASSERT_EQ(created.code, 201) << created.Body();
  const json before = Body(created);
  auto raw = [](const std::string& method, const std::string& path, std::string body,
                const std::string& content_type = "application/json") {
    RestRequest r = Req(method, path, nullptr, {}, {{"content-type", content_type}});
    r.body = std::move(body);
    return r;
  };
  const std::string deploy_head =
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"deep"},)";
  struct Case {
    std::string what;
    RestRequest req;
    std::string message;  // a substring of the Status message
  };
  const std::vector<Case> cases = {
      {"70,000 levels under spec.template",
       raw("POST", coll, deploy_head + R"("spec":{"template":)" + Nested(70'000) + "}}"),
       "spec.template.a.a.a.a ... (992 more) ... .a.a: nesting depth exceeds the limit of 1000"},
      {"one level past the limit", raw("POST", coll, Nested(1001)),
       "nesting depth exceeds the limit of 1000"},
      {"deep update",
       raw("PUT", item, deploy_head + R"("spec":{"template":)" + Nested(5000) + "}}"),
       "spec.template.a.a.a.a ... (992 more) ... .a.a: nesting depth exceeds the limit of 1000"},
      {"deep merge patch",
       raw("PATCH", item, R"({"spec":{"template":)" + Nested(50'000) + "}}",
           "application/merge-patch+json"),
       "error decoding patch: spec.template.a.a.a.a ... (992 more) ... .a.a: nesting depth"},
      {"json patch building a deep object",
       raw("PATCH", item,
           R"([{"op":"add","path":"/spec/t","value":{"u":{}}},)"
           R"({"op":"add","path":"/spec/t/u/v","value":)" +
               Nested(997) + "}]",
           "application/json-patch+json"),
       "the patched object: nesting depth exceeds the limit of 1000 at spec.t.u.v.a.a"},
      {"deep DeleteOptions", raw("DELETE", item, Nested(2000)), "invalid DeleteOptions body: "},
      {"number overflow", raw("PUT", item, R"({"spec":{"replicas":1e400}})"),
       "spec.replicas: invalid JSON: number overflow parsing '1e400'"},
      {"NaN", raw("POST", coll, R"({"spec":{"replicas":NaN}})"),
       "spec.replicas: invalid JSON: syntax error while parsing value - invalid literal"},
      {"invalid UTF-8", raw("POST", coll, "{\"metadata\":{\"name\":\"w\xc3\x28\"}}"),
       "metadata.name: invalid JSON: syntax error while parsing value - invalid string: "
       "ill-formed UTF-8 byte"},
      {"overflow in a patch",
       raw("PATCH", item, R"({"spec":{"replicas":-1e999}})", "application/merge-patch+json"),
       "error decoding patch: spec.replicas: invalid JSON: number overflow"},
  };
  for (const Case& c : cases) {
    RestResponse r = Do(c.req);
    EXPECT_EQ(r.code, 400) << c.what << ": " << r.Body().substr(0, 300);
    json s = Body(r);
    EXPECT_EQ(s["reason"], "BadRequest") << c.what;
    EXPECT_NE(s["message"].get<std::string>().find(c.message), std::string::npos)
        << c.what << ": " << s["message"];
  }
  RestResponse after = Do(Req("GET", item));
  ASSERT_EQ(after.code, 200);
  EXPECT_EQ(Body(after), before);
  EXPECT_EQ(Do(Req("GET", coll + "/deep")).code, 404);
  // At the limit is fine.
  EXPECT_EQ(Do(raw("PATCH", item,
                   R"({"metadata":{"annotations":{"n":"x"}},"spec":{"t":)" + Nested(998) + "}}",
                   "application/merge-patch+json"))
                .code,
            200);
}

// Kubernetes' rules Meridian used to skip: the total annotation size, and a resourceVersion
// query parameter that is not a revision.
TEST_F(RestHandlerTest, KubernetesValidationRules) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  auto with_annotations = [](const std::string& name, size_t value_bytes) {
    json d = Deploy(name);
    d["metadata"]["annotations"] = {{"a", std::string(value_bytes, 'x')}, {"bb", "y"}};
    return d;
  };
  struct Case {
    std::string what;
    RestRequest req;
    int code;
    std::string message;  // a substring of the Status message ("" when 2xx)
  };
  const std::vector<Case> cases = {
      // keys and values: 1 + 2 + 1 + value bytes
      {"annotations at 256 KiB", Req("POST", coll, with_annotations("fits", 262144 - 4)), 201, ""},
      {"annotations over 256 KiB", Req("POST", coll, with_annotations("big", 262144 - 3)), 422,
       "metadata.annotations: Too long: must have at most 262144 bytes"},
      {"2.5 MiB annotation", Req("POST", coll, with_annotations("huge", 2'500'000)), 422,
       "metadata.annotations: Too long"},
      {"list resourceVersion=abc", Req("GET", coll, nullptr, {{"resourceVersion", "abc"}}), 400,
       "resourceVersion: Invalid value: \"abc\""},
      {"list resourceVersion=-1", Req("GET", coll, nullptr, {{"resourceVersion", "-1"}}), 400,
       "resourceVersion: Invalid value: \"-1\""},
      {"list resourceVersion=0", Req("GET", coll, nullptr, {{"resourceVersion", "0"}}), 200, ""},
      {"watch resourceVersion=abc",
       Req("GET", coll, nullptr, {{"watch", "true"}, {"resourceVersion", "abc"}}), 400,
       "resourceVersion: Invalid value: \"abc\""},
      {"get resourceVersion=abc", Req("GET", coll + "/fits", nullptr, {{"resourceVersion", "abc"}}),
       400, "resourceVersion: Invalid value: \"abc\""},
      {"get resourceVersion out of range",
       Req("GET", coll + "/fits", nullptr, {{"resourceVersion", "99999999999999999999"}}), 400,
       "must be a non-negative integer"},
      {"get resourceVersion=0", Req("GET", coll + "/fits", nullptr, {{"resourceVersion", "0"}}),
       200, ""},
      {"get resourceVersion=7", Req("GET", coll + "/fits", nullptr, {{"resourceVersion", "7"}}),
       200, ""},
  };
  for (const Case& c : cases) {
    RestResponse r = Do(c.req);
    EXPECT_EQ(r.code, c.code) << c.what << ": " << r.Body().substr(0, 300);
    if (c.message.empty()) continue;
    json s = Body(r);
    EXPECT_NE(s["message"].get<std::string>().find(c.message), std::string::npos)
        << c.what << ": " << s["message"];
  }
  EXPECT_EQ(Do(Req("GET", coll + "/big")).code, 404);
  EXPECT_EQ(Do(Req("GET", coll + "/huge")).code, 404);
}

TEST_F(RestHandlerTest, PatchByContentTypeAndScale) {
  const std::string item = "/apis/apps/v1/namespaces/default/deployments/web";
  ASSERT_EQ(Do(Req("POST", "/apis/apps/v1/namespaces/default/deployments", Deploy("web"))).code, 201);
  struct Case {
    std::string content_type;
    std::string path;
    json patch;
    int code;
    json replicas;  // spec.replicas afterwards (object or Scale)
  };
  for (const Case& c : std::vector<Case>{
           {"application/merge-patch+json", item, {{"spec", {{"replicas", 2}}}}, 200, 2},
           {"application/strategic-merge-patch+json", item, {{"spec", {{"replicas", 3}}}}, 200, 3},
           {"application/json-patch+json", item,
            json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 4}}}), 200, 4},
           {"application/merge-patch+json", item + "/scale", {{"spec", {{"replicas", 6}}}}, 200, 6},
           {"application/apply-patch+yaml", item, json::object(), 415, nullptr},
       }) {
    RestRequest r = Req("PATCH", c.path, c.patch, {}, {{"content-type", c.content_type}});
    RestResponse resp = Do(r);
    ASSERT_EQ(resp.code, c.code) << c.content_type << " " << c.path << ": " << resp.Body();
    if (resp.code == 200) {
      EXPECT_EQ(Body(resp)["spec"]["replicas"], c.replicas) << c.content_type;
    }
  }
  RestResponse scale = Do(Req("GET", item + "/scale"));
  ASSERT_EQ(scale.code, 200);
  EXPECT_EQ(Body(scale)["kind"], "Scale");
  EXPECT_EQ(Body(scale)["status"]["selector"], "app=web");
  json put = Body(scale);
  put["spec"]["replicas"] = 1;
  EXPECT_EQ(Body(Do(Req("PUT", item + "/scale", put)))["spec"]["replicas"], 1);
  EXPECT_EQ(Do(Req("PUT", item + "/scale", put)).code, 409);  // stale resourceVersion
}

TEST_F(RestHandlerTest, TablesAndPartialMetadata) {
  ASSERT_EQ(Do(Req("POST", "/apis/apps/v1/namespaces/default/deployments", Deploy("web", 3))).code, 201);
  clock_.Advance(std::chrono::minutes(5));
  const std::string accept =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
  RestResponse list = Do(Req("GET", "/apis/apps/v1/namespaces/default/deployments", nullptr, {},
                             {{"accept", accept}}));
  ASSERT_EQ(list.code, 200);
  json t = Body(list);
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  std::vector<std::string> names;
  for (const json& c : t["columnDefinitions"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Replicas", "Age", "Images"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["web", null, 3, "5m", null])"));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  RestResponse one = Do(Req("GET", "/api/v1/namespaces/default", nullptr, {}, {{"accept", accept}}));
  EXPECT_EQ(Body(one)["rows"][0]["cells"][1], "Active");
  RestResponse partial = Do(Req("GET", "/apis/apps/v1/namespaces/default/deployments", nullptr, {},
                                {{"accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"}}));
  EXPECT_EQ(Body(partial)["kind"], "PartialObjectMetadataList");
  EXPECT_FALSE(Body(partial)["items"][0].contains("spec"));
}

TEST_F(RestHandlerTest, FiltersAndExtraRoutes) {
  server_.handler->AddFilter([](RestRequest& r) {
    if (r.Header("authorization") != "Bearer s3cret") return UnauthenticatedError("Unauthorized");
    r.user.name = "alice";
    return Status::Ok();
  });
  server_.handler->AddFilter([](RestRequest& r) {
    if (r.method == "DELETE") {
      return PermissionDeniedError("deployments.apps \"web\" is forbidden: User \"" + r.user.name +
                                   "\" cannot delete resource \"deployments\"");
    }
    return Status::Ok();
  });
  server_.handler->AddRoute("GET", "/openapi/v2", [](const RestRequest& r) {
    return RestResponse::Json(200, {{"swagger", "2.0"}, {"user", r.user.name}});
  });
  server_.handler->AddRoute("", "/admin", [](const RestRequest& r) {
    return RestResponse::Text(200, "admin " + r.path);
  }, /*prefix=*/true, /*before_filters=*/true);
  const std::map<std::string, std::string> auth = {{"authorization", "Bearer s3cret"}};
  struct Case {
    RestRequest req;
    int code;
    std::string contains;
  };
  for (const Case& c : std::vector<Case>{
           {Req("GET", "/api/v1/namespaces"), 401, "\"reason\":\"Unauthorized\""},
           {Req("GET", "/api/v1/namespaces", nullptr, {}, {{"authorization", "Bearer nope"}}), 401, "Unauthorized"},
           {Req("GET", "/api/v1/namespaces", nullptr, {}, auth), 200, "NamespaceList"},
           {Req("DELETE", "/api/v1/namespaces/default", nullptr, {}, auth), 403, "User \\\"alice\\\" cannot delete"},
           {Req("GET", "/openapi/v2", nullptr, {}, auth), 200, "\"user\":\"alice\""},
           {Req("GET", "/openapi/v2"), 401, "Unauthorized"},
           {Req("POST", "/admin/fail-zone/a"), 200, "admin /admin/fail-zone/a"},
           {Req("GET", "/administrator"), 401, ""},
       }) {
    RestResponse r = Do(c.req);
    EXPECT_EQ(r.code, c.code) << c.req.method << " " << c.req.path << ": " << r.Body();
    EXPECT_NE(r.Body().find(c.contains), std::string::npos) << r.Body();
  }
}

TEST_F(RestHandlerTest, WatchStreamsEventsAndEndsOnTimeout) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  ASSERT_EQ(Do(Req("POST", coll, Deploy("a"))).code, 201);
  RestResponse w = Do(Req("GET", coll, nullptr, {{"watch", "true"}, {"timeoutSeconds", "30"}}));
  ASSERT_EQ(w.code, 200);
  ASSERT_TRUE(w.start_stream);
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  ASSERT_EQ(Do(Req("POST", coll, Deploy("b"))).code, 201);
  ASSERT_EQ(Do(Req("DELETE", coll + "/a")).code, 200);
  std::vector<json> events = sink->WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "a");
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(server_.handler->ActiveWatches(), 1u);
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_TRUE(sink->WaitClosed());
  EXPECT_EQ(server_.handler->ActiveWatches(), 0u);
}

// One update watched by many: its line is serialized once and the same bytes go to every
// watch of the same rendering (a storm of watches on a big object used to serialize and copy
// it once per watch on the store's single delivery thread, holding up writes and GETs).
// Initial listings and Table renderings stay per watch.
TEST_F(RestHandlerTest, OneEventIsSerializedOnceForAllItsWatches) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  ASSERT_EQ(Do(Req("POST", coll, Deploy("a"))).code, 201);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  auto watch = [&](std::map<std::string, std::string> headers) {
    RestResponse w =
        Do(Req("GET", coll, nullptr, {{"watch", "true"}, {"timeoutSeconds", "60"}}, headers));
    EXPECT_EQ(w.code, 200);
    sinks.push_back(std::make_shared<FakeSink>());
    w.start_stream(sinks.back());
  };
  for (int i = 0; i < 5; ++i) watch({});
  watch({{"accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}});
  watch({{"accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}});
  watch({{"accept", "application/json;as=Table;g=meta.k8s.io;v=v1"}});
  ASSERT_EQ(Do(Req("PUT", coll + "/a", Deploy("a", 3))).code, 200);
  for (auto& s : sinks) ASSERT_EQ(s->WaitFor(2).size(), 2u);
  std::vector<std::shared_ptr<const std::string>> initial, modified;
  for (auto& s : sinks) {
    std::vector<std::shared_ptr<const std::string>> got = s->Shared();
    ASSERT_EQ(got.size(), 2u);
    initial.push_back(got[0]);
    modified.push_back(got[1]);
  }
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(modified[i], modified[0]) << "watch " << i << " got its own copy";
    EXPECT_NE(initial[i], initial[0]) << "the initial listing is each watch's own";
  }
  EXPECT_EQ(modified[6], modified[5]);  // PartialObjectMetadata: shared among its own kind
  EXPECT_NE(modified[5], modified[0]);
  EXPECT_NE(modified[7], modified[0]);  // a Table is rendered per watch
  // The shared line is what a watch sends: one JSON event and a newline.
  json event = json::parse(*modified[0]);
  EXPECT_EQ(modified[0]->back(), '\n');
  EXPECT_EQ(event["type"], "MODIFIED");
  EXPECT_EQ(event["object"]["spec"]["replicas"], 3);
  json partial = json::parse(*modified[5]);
  EXPECT_EQ(partial["object"]["kind"], "PartialObjectMetadata");
  EXPECT_FALSE(partial["object"].contains("spec"));
  EXPECT_EQ(json::parse(*modified[7])["object"]["kind"], "Table");
  server_.handler->StopWatches();
}

// Watch budgets: per user and in total, 429 with Retry-After past either; a watch that ends
// gives its slot back.
TEST_F(RestHandlerTest, WatchBudgetsPerUserAndInTotal) {
  TestServer capped(clock_, RestOptions{.max_watches = 3, .max_watches_per_user = 2}, dispatcher_);
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  std::vector<std::shared_ptr<FakeSink>> sinks;
  auto watch = [&](const std::string& user) {
    RestRequest r = Req("GET", coll, nullptr, {{"watch", "true"}, {"timeoutSeconds", "60"}});
    r.user.name = user;
    RestResponse resp = capped.handler->Handle(std::move(r));
    if (resp.start_stream) {
      sinks.push_back(std::make_shared<FakeSink>());
      resp.start_stream(sinks.back());
    }
    return resp;
  };
  struct Step {
    std::string user;
    int code;
    std::string message;
  };
  for (const Step& s : std::vector<Step>{
           {"alice", 200, ""},
           {"alice", 200, ""},
           {"alice", 429,
            "Too many requests, please try again later: user alice has 2 watches open"},
           {"", 200, ""},
           {"bob", 429, "Too many requests, please try again later: 3 watches are open"},
       }) {
    RestResponse r = watch(s.user);
    ASSERT_EQ(r.code, s.code) << s.user << ": " << r.Body();
    if (s.code != 429) continue;
    json status = Body(r);
    EXPECT_EQ(status["reason"], "TooManyRequests");
    EXPECT_EQ(status["message"], s.message);
    EXPECT_EQ(status["details"]["retryAfterSeconds"], 1);
    EXPECT_EQ(r.headers["Retry-After"], "1");
  }
  // Alice's first client goes away: bob gets its slot.
  sinks[0]->ClientGoes();
  for (int i = 0; i < 100 && capped.handler->ActiveWatches() > 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the reaper ticks every 200 ms
  }
  ASSERT_EQ(capped.handler->ActiveWatches(), 2u);
  EXPECT_EQ(watch("bob").code, 200);
  capped.handler->StopWatches();
}

TEST_F(RestHandlerTest, WatchFromResourceVersionLegacyPathTablesAndErrors) {
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  RestResponse a = Do(Req("POST", coll, Deploy("a")));
  const std::string rv = Body(a)["metadata"]["resourceVersion"];
  ASSERT_EQ(Do(Req("POST", coll, Deploy("b"))).code, 201);
  // Legacy /watch/ path on one object, from a resourceVersion, as a Table.
  RestResponse w = Do(Req("GET", "/apis/apps/v1/watch/namespaces/default/deployments/a", nullptr,
                          {{"resourceVersion", rv}},
                          {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}}));
  ASSERT_EQ(w.code, 200) << w.Body();
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  RestRequest patch = Req("PATCH", coll + "/a", {{"spec", {{"replicas", 5}}}}, {},
                          {{"content-type", "application/merge-patch+json"}});
  ASSERT_EQ(Do(patch).code, 200);
  RestRequest patch_b = patch;
  patch_b.path = coll + "/b";
  ASSERT_EQ(Do(patch_b).code, 200);
  ASSERT_EQ(Do(patch).code, 200);  // no-op: no event
  patch.body = R"({"spec":{"replicas":6}})";
  ASSERT_EQ(Do(patch).code, 200);
  std::vector<json> events = sink->WaitFor(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["kind"], "Table");
  EXPECT_EQ(events[0]["object"]["rows"][0]["cells"][2], 5);
  EXPECT_FALSE(events[0]["object"]["columnDefinitions"].empty());
  EXPECT_TRUE(events[1]["object"]["columnDefinitions"].empty());
  EXPECT_EQ(events[1]["object"]["rows"][0]["cells"][2], 6);
  // The client goes away: the session ends without a write.
  sink->ClientGoes();
  for (int i = 0; i < 100 && server_.handler->ActiveWatches() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_.handler->ActiveWatches(), 0u);

  RestResponse bad = Do(Req("GET", coll, nullptr, {{"watch", "1"}, {"resourceVersion", "abc"}}));
  EXPECT_EQ(bad.code, 400);
  RestResponse bad_timeout = Do(Req("GET", coll, nullptr, {{"watch", "1"}, {"timeoutSeconds", "-1"}}));
  EXPECT_EQ(bad_timeout.code, 400);
}

TEST_F(RestHandlerTest, ExpiredWatchAnswersGoneAndBookmarksFlow) {
  MemoryStore tiny(MemoryStoreOptions{.history_limit = 1, .dispatcher = dispatcher_});
  ObjectService svc(tiny, clock_, server_.registry);
  RestHandler h(svc, clock_, RestOptions{.bookmark_interval = std::chrono::seconds(10)});
  ASSERT_TRUE(svc.Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", "default"}}}}).ok());
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(svc.Create(DeploymentsInfo(), "default", Deploy(n)).ok());
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  RestResponse gone = h.Handle(Req("GET", coll, nullptr, {{"watch", "true"}, {"resourceVersion", "1"}}));
  ASSERT_EQ(gone.code, 410);
  EXPECT_EQ(json::parse(gone.Body())["reason"], "Expired");
  EXPECT_EQ(json::parse(gone.Body())["message"], "too old resource version: 1 (4)");

  RestResponse w = h.Handle(Req("GET", coll, nullptr, {{"watch", "true"}, {"allowWatchBookmarks", "true"}}));
  ASSERT_EQ(w.code, 200);
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  ASSERT_EQ(sink->WaitFor(3).size(), 3u);  // initial ADDED a, b, c
  clock_.Advance(std::chrono::seconds(11));
  std::vector<json> events = sink->WaitFor(4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3]["type"], "BOOKMARK");
  EXPECT_EQ(events[3]["object"]["metadata"]["resourceVersion"], "4");
  h.StopWatches();
  EXPECT_TRUE(sink->WaitClosed());
}

// A watch of a kind nobody writes, while other kinds are written past the store's history:
// its bookmarks carry the store's progress, not the revision it started at, so the client
// resumes from there instead of getting 410 Gone and relisting (as with kube-apiserver,
// whose bookmarks carry its watch cache's revision).
TEST_F(RestHandlerTest, BookmarksOfAQuietWatchFollowTheStoreSoItsResumeIsNotGone) {
  MemoryStore tiny(MemoryStoreOptions{.history_limit = 2, .dispatcher = dispatcher_});
  ObjectService svc(tiny, clock_, server_.registry);
  RestHandler h(svc, clock_, RestOptions{.bookmark_interval = std::chrono::seconds(10)});
  ASSERT_TRUE(svc.Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", "default"}}}}).ok());
  ASSERT_TRUE(svc.Create(DeploymentsInfo(), "default", Deploy("a")).ok());  // revision 2
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  RestResponse w = h.Handle(Req("GET", coll, nullptr, {{"watch", "true"}, {"allowWatchBookmarks", "true"}}));
  ASSERT_EQ(w.code, 200);
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  ASSERT_EQ(sink->WaitFor(1).size(), 1u);  // initial ADDED a
  for (const char* n : {"n1", "n2", "n3", "n4", "n5"}) {  // revisions 3..7: another kind
    ASSERT_TRUE(svc.Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", n}}}}).ok());
  }
  dispatcher_->Drain();
  clock_.Advance(std::chrono::seconds(11));
  std::vector<json> events = sink->WaitFor(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["type"], "BOOKMARK");
  const std::string bookmark = events[1]["object"]["metadata"]["resourceVersion"];
  EXPECT_EQ(bookmark, "7");

  // The watch from the start revision is gone (history keeps 2 writes); from the bookmark it
  // resumes and sees the next Deployment.
  EXPECT_EQ(h.Handle(Req("GET", coll, nullptr, {{"watch", "true"}, {"resourceVersion", "2"}})).code, 410);
  RestResponse resumed =
      h.Handle(Req("GET", coll, nullptr, {{"watch", "true"}, {"resourceVersion", bookmark}}));
  ASSERT_EQ(resumed.code, 200) << resumed.Body();
  auto sink2 = std::make_shared<FakeSink>();
  resumed.start_stream(sink2);
  ASSERT_TRUE(svc.Create(DeploymentsInfo(), "default", Deploy("b")).ok());
  std::vector<json> after = sink2->WaitFor(1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["type"], "ADDED");
  EXPECT_EQ(after[0]["object"]["metadata"]["name"], "b");
  h.StopWatches();
}

// A bookmark about two seconds before the watch's deadline, even when the periodic one is not
// due: the client's next watch starts from the newest revision, not from its last event.
TEST_F(RestHandlerTest, AWatchSendsABookmarkJustBeforeItsDeadline) {
  RestHandler h(*server_.service, clock_, RestOptions{.bookmark_interval = std::chrono::seconds(60)});
  const std::string coll = "/apis/apps/v1/namespaces/default/deployments";
  RestResponse w = h.Handle(Req("GET", coll, nullptr,
                                {{"watch", "true"}, {"allowWatchBookmarks", "true"}, {"timeoutSeconds", "30"}}));
  ASSERT_EQ(w.code, 200);
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  dispatcher_->Drain();
  clock_.Advance(std::chrono::seconds(28));  // two before the deadline
  std::vector<json> events = sink->WaitFor(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "BOOKMARK");
  EXPECT_FALSE(sink->Closed());
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_TRUE(sink->WaitClosed());
}

TEST_F(RestHandlerTest, IdleWatchesSendHeartbeatsSoVanishedClientsAreNoticed) {
  RestResponse w = Do(Req("GET", "/api/v1/namespaces", nullptr, {{"watch", "true"}}));
  ASSERT_EQ(w.code, 200);
  auto sink = std::make_shared<FakeSink>();
  w.start_stream(sink);
  ASSERT_EQ(sink->WaitFor(2).size(), 2u);  // default, kube-system
  clock_.Advance(std::chrono::seconds(31));
  for (int i = 0; i < 200 && sink->Heartbeats() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sink->Heartbeats(), 1u);
  sink->ClientGoes();  // the next write fails; the session ends
  for (int i = 0; i < 200 && server_.handler->ActiveWatches() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_.handler->ActiveWatches(), 0u);
}

// Encodes a protobuf length-delimited field.
std::string Field(int number, const std::string& bytes) {
  std::string out(1, static_cast<char>((number << 3) | 2));
  size_t n = bytes.size();
  do {
    char b = static_cast<char>(n & 0x7f);
    n >>= 7;
    if (n) b |= static_cast<char>(0x80);
    out.push_back(b);
  } while (n);
  return out + bytes;
}

TEST_F(RestHandlerTest, ProtobufBodiesForCoreKindsFromKubectlGenerators) {
  std::string meta = Field(1, "cfg") + Field(11, Field(1, "app") + Field(2, "web"));
  std::string configmap = Field(1, meta) + Field(2, Field(1, "a") + Field(2, "1"));
  std::string body = std::string("k8s\0", 4) + Field(1, Field(1, "v1") + Field(2, "ConfigMap")) +
                     Field(2, configmap) + Field(4, "application/vnd.kubernetes.protobuf");
  StatusOr<json> decoded = DecodeKubernetesProtobuf(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cfg","labels":{"app":"web"}},"data":{"a":"1"}})"));
  RestRequest r = Req("POST", "/api/v1/namespaces/default/configmaps", nullptr, {},
                      {{"content-type", "application/vnd.kubernetes.protobuf"}});
  r.body = body;
  RestResponse created = Do(r);
  EXPECT_EQ(created.code, 201) << created.Body();
  std::string deploy = std::string("k8s\0", 4) + Field(1, Field(1, "apps/v1") + Field(2, "StatefulSet")) +
                       Field(2, Field(1, Field(1, "x")));
  r.path = "/apis/apps/v1/namespaces/default/deployments";
  r.body = deploy;
  EXPECT_EQ(Do(r).code, 415);
  r.body = "k8s";
  EXPECT_EQ(Do(r).code, 400);
  // Invalid UTF-8 (possible in protobuf strings) is stored with replacement characters.
  std::string bad = Field(1, Field(1, "bad")) + Field(2, Field(1, "k") + Field(2, "\xff"));
  r.path = "/api/v1/namespaces/default/configmaps";
  r.body = std::string("k8s\0", 4) + Field(1, Field(1, "v1") + Field(2, "ConfigMap")) + Field(2, bad);
  RestResponse stored = Do(r);
  ASSERT_EQ(stored.code, 201) << stored.Body();
  EXPECT_EQ(Body(Do(Req("GET", "/api/v1/namespaces/default/configmaps/bad")))["data"]["k"], "\xEF\xBF\xBD");
}

// `kubectl auth can-i create residencypolicies` posts this.
TEST(ProtobufBodyTest, SelfSubjectAccessReviewAsKubectlSendsIt) {
  std::string attrs =
      Field(2, "create") + Field(3, "federation.meridian.io") + Field(5, "residencypolicies");
  std::string review = Field(1, "") + Field(2, Field(1, attrs));
  std::string body =
      std::string("k8s\0", 4) +
      Field(1, Field(1, "authorization.k8s.io/v1") + Field(2, "SelfSubjectAccessReview")) +
      Field(2, review);
  StatusOr<json> decoded = DecodeKubernetesProtobuf(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)["spec"]["resourceAttributes"],
            json::parse(R"({"verb":"create","group":"federation.meridian.io",
                            "resource":"residencypolicies"})"));
}

// `kubectl create rolebinding viewers-view --clusterrole=view --group=viewers -n shop` and
// `kubectl create clusterrole reader --verb=get,list --resource=pods` send these.
TEST(ProtobufBodyTest, RbacKindsAsKubectlCreateSendsThem) {
  std::string binding =
      Field(1, Field(1, "viewers-view") + Field(3, "shop")) +
      Field(2, Field(1, "Group") + Field(2, "rbac.authorization.k8s.io") + Field(3, "viewers")) +
      Field(2, Field(1, "ServiceAccount") + Field(3, "bot") + Field(4, "ci")) +
      Field(3, Field(1, "rbac.authorization.k8s.io") + Field(2, "ClusterRole") + Field(3, "view"));
  std::string body =
      std::string("k8s\0", 4) +
      Field(1, Field(1, "rbac.authorization.k8s.io/v1") + Field(2, "RoleBinding")) +
      Field(2, binding);
  StatusOr<json> decoded = DecodeKubernetesProtobuf(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1",
      "kind":"RoleBinding","metadata":{"name":"viewers-view","namespace":"shop"},
      "subjects":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"viewers"},
                  {"kind":"ServiceAccount","name":"bot","namespace":"ci"}],
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}})"));

  std::string rule = Field(1, "get") + Field(1, "list") + Field(2, "") + Field(3, "pods") +
                     Field(4, "web");
  std::string selector = Field(1, Field(1, "rbac.example.com/aggregate") + Field(2, "true"));
  std::string role = Field(1, Field(1, "reader")) + Field(2, rule) + Field(3, Field(1, selector));
  body = std::string("k8s\0", 4) +
         Field(1, Field(1, "rbac.authorization.k8s.io/v1") + Field(2, "ClusterRole")) +
         Field(2, role);
  decoded = DecodeKubernetesProtobuf(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1",
      "kind":"ClusterRole","metadata":{"name":"reader"},
      "rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"],
                "resourceNames":["web"]}],
      "aggregationRule":{"clusterRoleSelectors":[
          {"matchLabels":{"rbac.example.com/aggregate":"true"}}]}})"));
}

}  // namespace
}  // namespace meridian::apimachinery::rest::testing
