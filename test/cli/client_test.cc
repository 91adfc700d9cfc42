// HttpClient against a scripted cpprestsdk listener on loopback: paths and verbs, Status
// bodies, watch streams, timeouts and connection errors.
#include "cli/client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>

namespace meridian::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace http = web::http;

// A port that was free a moment ago (bind to 0, read, close).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(ApiErrorFromResponseTest, ParsesStatusBodiesAndPlainText) {
  ApiError e = ApiErrorFromResponse(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
      "message":"FederatedWorkload.federation.meridian.io \"web\" is invalid: spec.x: bad",
      "reason":"Invalid","code":422,
      "details":{"name":"web","group":"federation.meridian.io","kind":"FederatedWorkload",
                 "causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec.x"}]}})");
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.reason, "Invalid");
  EXPECT_EQ(e.name, "web");
  ASSERT_EQ(e.causes.size(), 1u);
  EXPECT_EQ(e.causes[0].field, "spec.x");
  EXPECT_EQ(e.causes[0].message, "bad");

  ApiError text = ApiErrorFromResponse(502, "bad gateway\n");
  EXPECT_EQ(text.reason, "HTTP 502");
  EXPECT_EQ(text.message, "bad gateway");
  ApiError empty = ApiErrorFromResponse(413, "");
  EXPECT_EQ(empty.reason, "RequestEntityTooLarge");
  EXPECT_EQ(empty.message, "the server answered HTTP 413");
}

TEST(HttpClientTest, RejectsUrlsThatAreNotHttp) {
  for (const char* bad : {"127.0.0.1:8443", "ftp://127.0.0.1", "http://", "not a url"}) {
    ClientOptions o;
    o.server = bad;
    EXPECT_FALSE(HttpClient::Create(o).ok()) << bad;
  }
}

TEST(HttpClientTest, ConnectionRefusedNamesTheServer) {
  ClientOptions o;
  o.server = "http://127.0.0.1:" + std::to_string(FreePort());
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  ApiResult<json> r = (*client)->Get(*ResolveType("ns"), "", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsTransportError(r.error()));
  EXPECT_THAT(r.error().message, HasSubstr("cannot connect to the server at " + o.server));
  EXPECT_THAT(r.error().message, HasSubstr("connection refused"));
}

// A scripted server: records requests and answers from a handler.
class ScriptedServer {
 public:
  using Handler = std::function<void(http::http_request)>;
  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    for (int attempt = 0; attempt < 20 && !listener_; ++attempt) {
      port_ = FreePort();
      try {
        auto l = std::make_unique<http::experimental::listener::http_listener>(
            "http://127.0.0.1:" + std::to_string(port_));
        l->support([this](http::http_request r) {
          {
            std::lock_guard lock(mu_);
            seen_.push_back(r.method() + " " + r.relative_uri().to_string());
          }
          handler_(r);
        });
        l->open().wait();
        listener_ = std::move(l);
      } catch (const std::exception&) {
        // The port was taken between FreePort() and open(): try another.
      }
    }
  }
  ~ScriptedServer() {
    if (listener_) listener_->close().wait();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  Handler handler_;
  int port_ = 0;
  std::unique_ptr<http::experimental::listener::http_listener> listener_;
  std::mutex mu_;
  std::vector<std::string> seen_;  // guarded by mu_
};

TEST(HttpClientTest, VerbsPathsAndStatusBodies) {
  ScriptedServer server([](http::http_request r) {
    if (r.method() == http::methods::GET && r.relative_uri().path().ends_with("/missing")) {
      r.reply(404, R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",
                     "message":"federatedworkloads.federation.meridian.io \"missing\" not found",
                     "code":404})",
              "application/json");
      return;
    }
    std::string body = r.extract_utf8string(true).get();
    json echo = {{"method", r.method()},
                 {"uri", r.relative_uri().to_string()},
                 {"body", body.empty() ? json() : json::parse(body)},
                 {"ct", r.headers().content_type()}};
    r.reply(r.method() == http::methods::POST ? 201 : 200, echo.dump(), "application/json");
  });
  ClientOptions o;
  o.server = server.url();
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  const KindInfo& fw = *ResolveType("fw");
  const KindInfo& mc = *ResolveType("mc");

  auto get = (*client)->Get(fw, "shop", "web");
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ((*get)["uri"],
            "/apis/federation.meridian.io/v1alpha1/namespaces/shop/federatedworkloads/web");
  auto list = (*client)->List(mc, "ignored", "region in (eu-west)");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["uri"],
            "/apis/federation.meridian.io/v1alpha1/"
            "memberclusters?labelSelector=region%20in%20%28eu-west%29");
  auto all = (*client)->List(fw, "", "");
  EXPECT_EQ((*all)["uri"], "/apis/federation.meridian.io/v1alpha1/federatedworkloads");
  json body = {{"metadata", {{"name", "n"}}}};
  auto created = (*client)->Create(*ResolveType("ns"), "", body);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)["method"], "POST");
  EXPECT_EQ((*created)["uri"], "/api/v1/namespaces");
  EXPECT_EQ((*created)["body"], body);
  EXPECT_THAT((*created)["ct"].get<std::string>(), HasSubstr("application/json"));
  auto updated = (*client)->Update(*ResolveType("secret"), "shop", "s", body);
  EXPECT_EQ((*updated)["method"], "PUT");
  EXPECT_EQ((*updated)["uri"], "/api/v1/namespaces/shop/secrets/s");
  auto deleted = (*client)->Delete(fw, "shop", "web");
  EXPECT_EQ((*deleted)["method"], "DELETE");

  auto missing = (*client)->Get(fw, "shop", "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.error().reason, "NotFound");
  EXPECT_EQ(missing.error().message,
            "federatedworkloads.federation.meridian.io \"missing\" not found");
}

TEST(HttpClientTest, BasePathIsKept) {
  ScriptedServer server([](http::http_request r) {
    r.reply(200, json({{"uri", r.relative_uri().to_string()}}).dump(), "application/json");
  });
  ClientOptions o;
  o.server = server.url() + "/federation/";
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Get(*ResolveType("ns"), "", "a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["uri"], "/federation/api/v1/namespaces/a");
}

TEST(HttpClientTest, TimeoutIsAOneLinerNamingTheServer) {
  std::atomic<bool> done{false};
  ScriptedServer server([&](http::http_request r) {
    for (int i = 0; i < 100 && !done; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.reply(200, "{}", "application/json");
  });
  ClientOptions o;
  o.server = server.url();
  o.timeout = std::chrono::milliseconds(200);
  auto client = HttpClient::Create(o);
  auto r = (*client)->Get(*ResolveType("ns"), "", "slow");
  done = true;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsTransportError(r.error()));
  EXPECT_THAT(r.error().message, HasSubstr(server.url()));
  EXPECT_THAT(r.error().message, HasSubstr("200ms"));
}

TEST(HttpClientTest, WatchStreamsEventsSkipsBookmarksAndReportsErrors) {
  ScriptedServer server([](http::http_request r) {
    std::string q = r.relative_uri().query();
    std::string body;
    if (q.find("resourceVersion=1") != std::string::npos) {
      json status = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"status", "Failure"},
                     {"reason", "Expired"},
                     {"message", "too old resource version: 1 (40)"},
                     {"code", 410}};
      body = json({{"type", "ERROR"}, {"object", status}}).dump() + "\n";
    } else {
      body = std::string(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})") + "\n" +
             R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})" + "\n" +
             R"({"type":"MODIFIED","object":{"metadata":{"name":"a"}}})" + "\n" +
             R"({"type":"DELETED","object":{"metadata":{"name":"a"}}})" + "\n";
    }
    r.reply(200, body, "application/json");
  });
  ClientOptions o;
  o.server = server.url();
  auto client = HttpClient::Create(o);
  std::vector<std::string> types;
  auto w = (*client)->Watch(*ResolveType("ns"), "", "app=web", "5", [&](const WatchEvent& e) {
    types.push_back(e.type + "/" + e.object["metadata"].value("name", ""));
    return true;
  });
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED/a", "MODIFIED/a", "DELETED/a"}));
  EXPECT_THAT(server.seen().back(), HasSubstr("watch=true"));
  EXPECT_THAT(server.seen().back(), HasSubstr("labelSelector=app%3Dweb"));

  types.clear();
  auto stopped = (*client)->Watch(*ResolveType("ns"), "", "", "5", [&](const WatchEvent& e) {
    types.push_back(e.type);
    return false;
  });
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(types.size(), 1u);

  auto expired =
      (*client)->Watch(*ResolveType("ns"), "", "", "1", [](const WatchEvent&) { return true; });
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, 410);
  EXPECT_EQ(expired.error().reason, "Expired");
}

}  // namespace
}  // namespace meridian::cli
