// Unit tests for the transport-free half of HttpMemberClient: URLs and paths, error mapping,
// discovery/list parsing, watch-event lines.
#include "sync/internal/kube_wire.h"

#include <gtest/gtest.h>

#include <tuple>

#include <string>
#include <vector>

namespace meridian::sync::internal {
namespace {

using nlohmann::json;

TEST(ParseServerUrlTest, Cases) {
  struct Case {
    std::string server;
    bool ok;
    std::string origin;
    std::string base;
    bool tls;
  };
  const std::vector<Case> cases = {
      {"https://10.0.0.1:6443", true, "https://10.0.0.1:6443", "", true},
      {"https://10.0.0.1:6443/", true, "https://10.0.0.1:6443", "", true},
      {"http://127.0.0.1:7000/clusters/eu-1", true, "http://127.0.0.1:7000", "/clusters/eu-1", false},
      {"http://127.0.0.1:7000/clusters/eu-1/", true, "http://127.0.0.1:7000", "/clusters/eu-1", false},
      {"https://api.example.com", true, "https://api.example.com", "", true},
      {"ftp://x", false, "", "", false},
      {"127.0.0.1:6443", false, "", "", false},
      {"https://", false, "", "", false},
      {"https://host/a?b=c", false, "", "", false},
      {"https://host/a#frag", false, "", "", false},
      {"https://user@host", false, "", "", false},
      {"https://host/a//b", false, "", "", false},
      {"https://host:abc", false, "", "", false},
      {"https://host:99999", false, "", "", false},
      {"https://host:0", false, "", "", false},
      {"https://[::1", false, "", "", false},
      {"https://[::1]x", false, "", "", false},
  };
  for (const Case& c : cases) {
    StatusOr<ServerUrl> u = ParseServerUrl(c.server);
    ASSERT_EQ(u.ok(), c.ok) << c.server << " " << u.status();
    if (!c.ok) {
      EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(u.status().message().find(c.server), std::string::npos) << u.status();
      continue;
    }
    EXPECT_EQ(u->origin, c.origin) << c.server;
    EXPECT_EQ(u->base_path, c.base) << c.server;
    EXPECT_EQ(u->tls, c.tls) << c.server;
  }
  // Host and port, the port defaulted by scheme.
  for (const auto& [server, host, port] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"https://10.0.0.1:6443/x", "10.0.0.1", "6443"},
           {"https://api.example.com", "api.example.com", "443"},
           {"http://example.com/", "example.com", "80"},
           {"https://[::1]:6443", "::1", "6443"},
           {"https://[fd00::1]", "fd00::1", "443"}}) {
    StatusOr<ServerUrl> u = ParseServerUrl(server);
    ASSERT_TRUE(u.ok()) << server << " " << u.status();
    EXPECT_EQ(u->host, host) << server;
    EXPECT_EQ(u->port, port) << server;
  }
}

TEST(ResourcePathTest, CoreGroupsScopesAndSubresources) {
  const GroupVersionResource deployments{"apps", "v1", "deployments"};
  const GroupVersionResource pods{"", "v1", "pods"};
  const GroupVersionResource namespaces{"", "v1", "namespaces"};
  const GroupVersionResource crd{"federation.meridian.io", "v1alpha1", "memberclusters"};
  struct Case {
    std::string base;
    GroupVersionResource gvr;
    std::string ns, name, sub;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", pods, "default", "", "", "/api/v1/namespaces/default/pods"},
      {"", pods, "default", "web-1", "", "/api/v1/namespaces/default/pods/web-1"},
      {"", pods, "", "", "", "/api/v1/pods"},
      {"", namespaces, "", "prod", "", "/api/v1/namespaces/prod"},
      {"", namespaces, "", "prod", "status", "/api/v1/namespaces/prod/status"},
      {"", deployments, "shop", "web", "", "/apis/apps/v1/namespaces/shop/deployments/web"},
      {"", deployments, "shop", "web", "status",
       "/apis/apps/v1/namespaces/shop/deployments/web/status"},
      {"", deployments, "", "", "", "/apis/apps/v1/deployments"},
      {"/clusters/eu-1", deployments, "shop", "web", "",
       "/clusters/eu-1/apis/apps/v1/namespaces/shop/deployments/web"},
      {"/clusters/eu-1", pods, "", "", "", "/clusters/eu-1/api/v1/pods"},
      {"", crd, "", "eu-west-1", "", "/apis/federation.meridian.io/v1alpha1/memberclusters/eu-west-1"},
      {"", pods, "default", "a:b c", "", "/api/v1/namespaces/default/pods/a%3Ab%20c"},
  };
  for (const Case& c : cases) {
    StatusOr<std::string> p = ResourcePath(c.base, c.gvr, c.ns, c.name, c.sub);
    ASSERT_TRUE(p.ok()) << c.want << " " << p.status();
    EXPECT_EQ(*p, c.want);
  }
}

TEST(ResourcePathTest, RejectsBadSegments) {
  const GroupVersionResource pods{"", "v1", "pods"};
  struct Case {
    GroupVersionResource gvr;
    std::string ns, name, sub;
  };
  const std::vector<Case> cases = {
      {{"", "", "pods"}, "", "", ""},
      {{"", "v1", ""}, "", "", ""},
      {pods, "a/b", "", ""},
      {pods, "default", "..", ""},
      {pods, "default", ".", ""},
      {pods, "default", "x/y", ""},
      {pods, "default", "", "status"},
      {{"a/b", "v1", "x"}, "", "", ""},
  };
  for (const Case& c : cases) {
    StatusOr<std::string> p = ResourcePath("", c.gvr, c.ns, c.name, c.sub);
    EXPECT_FALSE(p.ok()) << c.gvr.ToString() << " " << c.ns << " " << c.name;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(QueryStringTest, EncodesAndDropsEmpty) {
  EXPECT_EQ(QueryString({}), "");
  EXPECT_EQ(QueryString({{"a", ""}}), "");
  EXPECT_EQ(QueryString({{"watch", "true"}, {"resourceVersion", "12"}, {"x", ""}}),
            "?watch=true&resourceVersion=12");
  EXPECT_EQ(QueryString({{"labelSelector", "app=web,tier in (a,b)"}}),
            "?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
}

TEST(DescribeObjectTest, Forms) {
  const GroupVersionResource d{"apps", "v1", "deployments"};
  EXPECT_EQ(DescribeObject(d, "shop", "web"), "deployments.apps \"shop/web\"");
  EXPECT_EQ(DescribeObject({"", "v1", "namespaces"}, "", "prod"), "namespaces \"prod\"");
  EXPECT_EQ(DescribeObject(d, "shop", ""), "deployments.apps in \"shop\"");
  EXPECT_EQ(DescribeObject(d, "", ""), "deployments.apps");
}

json StatusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason}, {"code", code}};
}

TEST(MemberErrorStatusTest, CodesFromHttpAndReason) {
  struct Case {
    int http;
    std::string reason;
    StatusCode want;
  };
  const std::vector<Case> cases = {
      {404, "NotFound", StatusCode::kNotFound},
      {409, "AlreadyExists", StatusCode::kAlreadyExists},
      {409, "Conflict", StatusCode::kAborted},
      {410, "Expired", StatusCode::kOutOfRange},
      {410, "Gone", StatusCode::kOutOfRange},
      {401, "Unauthorized", StatusCode::kUnauthenticated},
      // Not the RBAC authorizer's message: an admission policy, not the credentials.
      {403, "Forbidden", StatusCode::kFailedPrecondition},
      {422, "Invalid", StatusCode::kInvalidArgument},
      {400, "BadRequest", StatusCode::kInvalidArgument},
      {405, "MethodNotAllowed", StatusCode::kUnimplemented},
      {413, "RequestEntityTooLarge", StatusCode::kInvalidArgument},
      {415, "UnsupportedMediaType", StatusCode::kInvalidArgument},
      {429, "TooManyRequests", StatusCode::kResourceExhausted},
      {500, "InternalError", StatusCode::kInternal},
      {502, "", StatusCode::kUnavailable},
      {503, "ServiceUnavailable", StatusCode::kUnavailable},
      {504, "Timeout", StatusCode::kDeadlineExceeded},
      {599, "", StatusCode::kUnavailable},
      {418, "", StatusCode::kUnknown},
  };
  for (const Case& c : cases) {
    Status s = MemberErrorStatus("eu-1", "get deployments.apps \"shop/web\"", c.http,
                                 StatusBody(c.http, c.reason, "the message").dump());
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.reason;
    std::string note = c.reason;
    if (c.http == 403) note += ": AdmissionDenied";
    if (c.http == 429) note += ": Throttled";
    EXPECT_EQ(s.message(), "member \"eu-1\": get deployments.apps \"shop/web\": the message" +
                               (note.empty() ? std::string() : " (" + note + ")"));
  }
}

TEST(MemberErrorStatusTest, CausesAndNonStatusBodies) {
  json invalid = StatusBody(422, "Invalid", "Deployment.apps \"web\" is invalid");
  invalid["details"] = {{"causes",
                         {{{"reason", "FieldValueInvalid"},
                           {"message", "Invalid value: -1: must be >= 0"},
                           {"field", "spec.replicas"}}}}};
  Status s = MemberErrorStatus("eu-1", "create deployments.apps \"shop/web\"", 422, invalid.dump());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.replicas: Invalid value: -1: must be >= 0"), std::string::npos)
      << s;

  Status html = MemberErrorStatus("eu-1", "get x", 502, "<html>Bad Gateway</html>\n");
  EXPECT_EQ(html.code(), StatusCode::kUnavailable);
  EXPECT_EQ(html.message(), "member \"eu-1\": get x: HTTP 502: <html>Bad Gateway</html>");

  Status empty = MemberErrorStatus("eu-1", "get x", 404, "");
  EXPECT_EQ(empty.code(), StatusCode::kNotFound);
  EXPECT_EQ(empty.message(), "member \"eu-1\": get x: HTTP 404");

  // 409 without a Status body is a conflict, not AlreadyExists.
  EXPECT_EQ(MemberErrorStatus("m", "w", 409, "").code(), StatusCode::kAborted);
}

// The refusals a real kube-apiserver answers, classified by reason, message and details.
TEST(MemberErrorStatusTest, ClassifiedByReasonAndDetails) {
  json terminating = StatusBody(403, "Forbidden",
                                "deployments.apps \"web\" is forbidden: unable to create new "
                                "content in namespace shop because it is being terminated");
  terminating["details"] = {{"name", "web"},
                            {"group", "apps"},
                            {"kind", "deployments"},
                            {"causes",
                             {{{"reason", "NamespaceTerminating"},
                               {"message", "namespace shop is being terminated"},
                               {"field", "metadata.namespace"}}}}};
  json rbac = StatusBody(403, "Forbidden",
                         "deployments.apps is forbidden: User \"meridian\" cannot create "
                         "resource \"deployments\" in API group \"apps\" in the namespace "
                         "\"shop\"");
  json quota = StatusBody(403, "Forbidden",
                          "pods \"web-1\" is forbidden: exceeded quota: compute, requested: "
                          "cpu=500m, used: cpu=2, limited: cpu=2");
  json webhook = StatusBody(400, "BadRequest",
                            "admission webhook \"policy.example.com\" denied the request: "
                            "images must come from registry.example.com");
  json invalid = StatusBody(422, "Invalid", "Deployment.apps \"web\" is invalid");
  json throttled = StatusBody(429, "TooManyRequests", "too many requests, please try again later");
  throttled["details"] = {{"retryAfterSeconds", 3}};
  json conflict = StatusBody(409, "Conflict", "the object has been modified");
  struct Case {
    std::string name;
    int http;
    json body;
    int64_t retry_after_header;
    StatusCode code;
    std::string note;  // what the message ends with
    int64_t retry_after;
  };
  const std::vector<Case> cases = {
      {"terminating namespace", 403, terminating, 0, StatusCode::kFailedPrecondition,
       "(Forbidden: NamespaceTerminating)", 0},
      {"RBAC denial", 403, rbac, 0, StatusCode::kPermissionDenied, "(Forbidden: RBAC)", 0},
      {"quota", 403, quota, 0, StatusCode::kResourceExhausted, "(Forbidden: QuotaExceeded)", 0},
      {"webhook", 400, webhook, 0, StatusCode::kFailedPrecondition, "(BadRequest: WebhookDenied)",
       0},
      {"field validation", 422, invalid, 0, StatusCode::kInvalidArgument, "(Invalid)", 0},
      {"conflict", 409, conflict, 0, StatusCode::kAborted, "(Conflict)", 0},
      {"429 with details", 429, throttled, 0, StatusCode::kResourceExhausted,
       "(TooManyRequests: Throttled; retry after 3s)", 3},
      {"429: the Retry-After header wins", 429, throttled, 7, StatusCode::kResourceExhausted,
       "(TooManyRequests: Throttled; retry after 7s)", 7},
  };
  for (const Case& c : cases) {
    Status s = MemberErrorStatus("real-1", "create deployments.apps \"shop/web\"", c.http,
                                 c.body.dump(), c.retry_after_header);
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s;
    EXPECT_TRUE(s.message().size() >= c.note.size() &&
                s.message().compare(s.message().size() - c.note.size(), c.note.size(), c.note) == 0)
        << c.name << ": " << s;
    EXPECT_EQ(RetryAfterSeconds(s), c.retry_after) << c.name;
    EXPECT_NE(s.message().find(c.body["message"].get<std::string>()), std::string::npos) << c.name;
  }
}

TEST(DiscoveryParsingTest, VersionResourcesGroups) {
  StatusOr<ServerVersion> v = ParseServerVersion(
      {{"major", "1"}, {"minor", "10+"}, {"gitVersion", "v1.10.13-gke.1"}});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 10);
  StatusOr<ServerVersion> from_git =
      ParseServerVersion({{"major", ""}, {"minor", ""}, {"gitVersion", "v1.27.3"}});
  ASSERT_TRUE(from_git.ok());
  EXPECT_EQ(from_git->major, 1);
  EXPECT_EQ(from_git->minor, 27);
  EXPECT_FALSE(ParseServerVersion(json::array()).ok());

  json list = {{"kind", "APIResourceList"},
               {"groupVersion", "apps/v1"},
               {"resources",
                {{{"name", "deployments"}, {"namespaced", true}, {"kind", "Deployment"},
                  {"verbs", {"create", "get", "list", "watch"}}},
                 {{"name", "deployments/status"}, {"namespaced", true}, {"kind", "Deployment"}},
                 {{"name", "deployments/scale"}, {"namespaced", true}, {"kind", "Scale"}},
                 {{"name", "controllerrevisions"}, {"namespaced", true},
                  {"kind", "ControllerRevision"}}}}};
  std::vector<DiscoveredResource> rs = ParseApiResourceList(list, "apps", "v1");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].gvr, (GroupVersionResource{"apps", "v1", "deployments"}));
  EXPECT_EQ(rs[0].kind, "Deployment");
  EXPECT_TRUE(rs[0].has_status);
  EXPECT_EQ(rs[0].verbs.size(), 4u);
  EXPECT_FALSE(rs[1].has_status);

  json groups = {{"kind", "APIGroupList"},
                 {"groups",
                  {{{"name", "apps"},
                    {"versions", {{{"groupVersion", "apps/v1"}, {"version", "v1"}}}},
                    {"preferredVersion", {{"groupVersion", "apps/v1"}}}},
                   {{"name", "autoscaling"},
                    {"versions",
                     {{{"groupVersion", "autoscaling/v1"}}, {{"groupVersion", "autoscaling/v2"}}}},
                    {"preferredVersion", {{"groupVersion", "autoscaling/v2"}}}}}}};
  EXPECT_EQ(ParseApiGroupList(groups),
            (std::vector<std::string>{"apps/v1", "autoscaling/v2", "autoscaling/v1"}));
  EXPECT_EQ(ParseApiVersions({{"kind", "APIVersions"}, {"versions", {"v1"}}}),
            (std::vector<std::string>{"v1"}));
}

TEST(ParseObjectListTest, MetadataAndItems) {
  StatusOr<ObjectList> l = ParseObjectList(
      {{"kind", "DeploymentList"},
       {"metadata", {{"resourceVersion", "42"}, {"continue", "tok"}, {"remainingItemCount", 3}}},
       {"items", {{{"metadata", {{"name", "a"}}}}, {{"metadata", {{"name", "b"}}}}}}});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->items.size(), 2u);
  EXPECT_EQ(l->resource_version, "42");
  EXPECT_EQ(l->continue_token, "tok");
  EXPECT_EQ(l->remaining_item_count, 3);
  // Go servers write "items": null for empty lists.
  StatusOr<ObjectList> null_items = ParseObjectList({{"items", nullptr}});
  ASSERT_TRUE(null_items.ok());
  EXPECT_TRUE(null_items->items.empty());
  EXPECT_FALSE(ParseObjectList({{"kind", "Status"}}).ok());
}

TEST(WatchEventLineTest, Types) {
  struct Case {
    std::string line;
    bool ok;
    WireWatchEvent::Type type;
    std::string rv;
    int error_code;
  };
  using T = WireWatchEvent::Type;
  const std::vector<Case> cases = {
      {R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})", true,
       T::kAdded, "5", 0},
      {R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"6"}}})", true,
       T::kModified, "6", 0},
      {R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"7"}}})", true,
       T::kDeleted, "7", 0},
      {R"({"type":"BOOKMARK","object":{"kind":"Deployment","metadata":{"resourceVersion":"9"}}})",
       true, T::kBookmark, "9", 0},
      {R"j({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"}})j",
       true, T::kError, "", 410},
      {R"({"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError"}})", true,
       T::kError, "", 500},
      {R"({"type":"SURPRISE","object":{}})", false, T::kAdded, "", 0},
      {R"({"type":"ADDED"})", false, T::kAdded, "", 0},
      {R"({"type":"ADDED","object":"x"})", false, T::kAdded, "", 0},
      {R"(not json)", false, T::kAdded, "", 0},
      {R"([1,2])", false, T::kAdded, "", 0},
  };
  for (const Case& c : cases) {
    StatusOr<WireWatchEvent> e = ParseWatchEventLine(c.line);
    ASSERT_EQ(e.ok(), c.ok) << c.line << " " << e.status();
    if (!c.ok) continue;
    EXPECT_EQ(e->type, c.type) << c.line;
    EXPECT_EQ(e->resource_version, c.rv) << c.line;
    EXPECT_EQ(e->error_code, c.error_code) << c.line;
  }
  StatusOr<WireWatchEvent> expired = ParseWatchEventLine(cases[4].line);
  EXPECT_EQ(expired->error_reason, "Expired");
  EXPECT_EQ(expired->error_message, "too old resource version: 1 (5)");
}

TEST(LineSplitterTest, SplitsAcrossChunks) {
  LineSplitter s;
  std::vector<std::string> lines;
  ASSERT_TRUE(s.Append("{\"a\":1}\n{\"b\"", &lines).ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}"}));
  EXPECT_EQ(s.pending(), "{\"b\"");
  ASSERT_TRUE(s.Append(":2}\r\n\n\n{\"c\":3}\n", &lines).ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(s.pending(), "");

  // Byte-at-a-time gives the same lines.
  LineSplitter bytes;
  std::vector<std::string> one_by_one;
  for (char c : std::string("x\ny\n")) ASSERT_TRUE(bytes.Append(std::string(1, c), &one_by_one).ok());
  EXPECT_EQ(one_by_one, (std::vector<std::string>{"x", "y"}));

  LineSplitter small(8);
  std::vector<std::string> ignored;
  EXPECT_EQ(small.Append("0123456789", &ignored).code(), StatusCode::kResourceExhausted);
}

TEST(Base64Test, DecodesStandardWithPadding) {
  EXPECT_EQ(Base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(Base64Decode("aGVsbG8h"), "hello!");
  EXPECT_EQ(Base64Decode("aGVs\nbG8="), "hello");
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("aGVsbG8"), std::nullopt);  // bad length
  EXPECT_EQ(Base64Decode("aGV*bG8="), std::nullopt);
}

TEST(ObjectKeysTest, ResourceVersionAndCacheKey) {
  json o = {{"metadata", {{"namespace", "shop"}, {"name", "web"}, {"resourceVersion", "12"}}}};
  EXPECT_EQ(ResourceVersionOf(o), "12");
  EXPECT_EQ(ObjectCacheKey(o), "shop/web");
  EXPECT_EQ(ObjectCacheKey({{"metadata", {{"name", "prod"}}}}), "prod");
  EXPECT_EQ(ResourceVersionOf(json::object()), "");
  EXPECT_TRUE(NewerVersion("100", "99"));
  EXPECT_FALSE(NewerVersion("99", "100"));
  EXPECT_FALSE(NewerVersion("7", "7"));
  EXPECT_FALSE(NewerVersion("", "1"));  // no order known: never newer
  EXPECT_FALSE(NewerVersion("abc", "1"));
  EXPECT_FALSE(NewerVersion("99999999999999999999", "1"));  // not a 64-bit number
}

}  // namespace
}  // namespace meridian::sync::internal
