// HttpMemberClient against real HTTP on loopback: the generic REST shell (RestHandler over an
// ObjectService over a MemoryStore, served by HttpServer under a base path with a bearer-token
// filter), plus a member that accepts connections and never answers.
//
// Waits here are bounded waits for real network events (condition variables with deadlines),
// never sleeps standing in for logic.
#include "sync/http_member_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/http_server.h"
#include "apimachinery/rest/rest_handler.h"
#include "test/common/eventually.h"

namespace meridian::sync {
namespace {

using apimachinery::MemoryStore;
using apimachinery::MemoryStoreOptions;
using apimachinery::ObjectService;
using apimachinery::ResourceInfo;
using apimachinery::ResourceRegistry;
using apimachinery::rest::HttpServer;
using apimachinery::rest::RestHandler;
using apimachinery::rest::RestOptions;
using apimachinery::rest::RestRequest;
using apimachinery::rest::RestResponse;
using apimachinery::rest::WatchSink;
using nlohmann::json;
using std::chrono::milliseconds;

const GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const GroupVersionResource kNamespaces{"", "v1", "namespaces"};
const GroupVersionResource kConfigMaps{"", "v1", "configmaps"};
constexpr const char* kToken = "s3cret-token";
constexpr const char* kBasePath = "/clusters/test-1";

ResourceInfo DeploymentsInfo() {
  ResourceInfo r;
  r.group = "apps";
  r.version = "v1";
  r.kind = "Deployment";
  r.plural = "deployments";
  r.has_status = true;
  return r;
}

ResourceInfo ConfigMapsInfo() {
  ResourceInfo r;
  r.version = "v1";
  r.kind = "ConfigMap";
  r.plural = "configmaps";
  return r;
}

// Drops (and counts) watch events while `drop` is set: lets a test make the client miss
// changes, as a real partition would.
class FilteringSink final : public WatchSink {
 public:
  FilteringSink(std::shared_ptr<WatchSink> inner, std::atomic<bool>* drop, std::atomic<int>* dropped)
      : inner_(std::move(inner)), drop_(drop), dropped_(dropped) {}
  bool Write(const std::string& chunk) override {
    if (drop_->load()) {
      dropped_->fetch_add(1);
      return true;
    }
    return inner_->Write(chunk);
  }
  void Close() override { inner_->Close(); }
  bool Closed() const override { return inner_->Closed(); }

 private:
  std::shared_ptr<WatchSink> inner_;
  std::atomic<bool>* drop_;
  std::atomic<int>* dropped_;
};

// One simulated member: the REST shell under kBasePath on a free loopback port, with hooks.
class TestMember {
 public:
  explicit TestMember(size_t history_limit = 10'000)
      : store_(MemoryStoreOptions{.history_limit = history_limit}) {
    EXPECT_TRUE(registry_.Add(apimachinery::NamespaceResourceInfo()).ok());
    EXPECT_TRUE(registry_.Add(ConfigMapsInfo()).ok());
    EXPECT_TRUE(registry_.Add(DeploymentsInfo()).ok());
    service_ = std::make_unique<ObjectService>(store_, RealClock(), registry_);
    for (const char* ns : {"default", "shop"}) {
      EXPECT_TRUE(service_->Create(apimachinery::NamespaceResourceInfo(), "",
                                   {{"metadata", {{"name", ns}}}})
                      .ok());
    }
    RestOptions options;
    options.base_path = kBasePath;
    handler_ = std::make_unique<RestHandler>(*service_, RealClock(), options);
    handler_->AddFilter([](RestRequest& r) -> Status {
      if (r.Header("authorization") != std::string("Bearer ") + kToken) {
        return UnauthenticatedError("Unauthorized");
      }
      return Status::Ok();
    });
    auto server = HttpServer::StartOnFreeLoopbackPort([this](RestRequest r) { return Serve(std::move(r)); });
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(server).value();
  }
  ~TestMember() {
    if (server_) server_->Stop();
  }

  std::string url() const { return server_->url() + kBasePath; }
  MemberEndpoint Endpoint(const std::string& name = "test-1", milliseconds timeout = milliseconds(5000)) const {
    MemberEndpoint e;
    e.name = name;
    e.server = url();
    e.credentials.bearer_token = kToken;
    e.timeout = timeout;
    return e;
  }
  RestHandler& handler() { return *handler_; }
  ObjectService& service() { return *service_; }
  int requests(const std::string& path_suffix) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& p : paths_) n += p.size() >= path_suffix.size() &&
                                      p.compare(p.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0;
    return n;
  }

  std::atomic<bool> drop_events{false};
  std::atomic<int> dropped{0};
  std::atomic<int> expire_next_watches{0};  // answer this many watches with an ERROR 410 event
  std::atomic<bool> no_readyz{false};       // /readyz answers 404 (a pre-1.16 server)
  std::atomic<int> list_us_per_item{0};     // a ConfigMap list answers after this per item
  // The limit= of every ConfigMap list asked so far ("" for none).
  std::vector<std::string> list_limits() {
    std::lock_guard lock(mu_);
    return list_limits_;
  }

 private:
  RestResponse Serve(RestRequest r) {
    {
      std::lock_guard lock(mu_);
      paths_.push_back(r.path);
    }
    const bool watch = r.Query("watch") == "true" || r.Query("watch") == "1";
    if (no_readyz.load() && r.path == std::string(kBasePath) + "/readyz") {
      return RestResponse::Text(404, "404 page not found");
    }
    if (watch && expire_next_watches.load() > 0) {
      expire_next_watches.fetch_sub(1);
      RestResponse resp;
      resp.start_stream = [](std::shared_ptr<WatchSink> sink) {
        json ev = {{"type", "ERROR"},
                   {"object",
                    {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                     {"message", "too old resource version"}, {"reason", "Expired"}, {"code", 410}}}};
        sink->Write(ev.dump() + "\n");
        sink->Close();
      };
      return resp;
    }
    const bool list = !watch && r.method == "GET" && r.path.ends_with("/configmaps");
    const std::string limit = r.Query("limit");
    RestResponse resp = handler_->Handle(std::move(r));
    if (list) {
      {
        std::lock_guard lock(mu_);
        list_limits_.push_back(limit);
      }
      // A member whose answer takes time in proportion to its size (encoding, a slow link).
      if (const int us = list_us_per_item.load(); us > 0) {
        const json body = json::parse(resp.Body(), nullptr, /*allow_exceptions=*/false);
        const size_t items = body.is_object() && body.contains("items") ? body["items"].size() : 0;
        std::this_thread::sleep_for(std::chrono::microseconds(us * static_cast<int64_t>(items)));
      }
    }
    if (resp.start_stream) {
      auto inner = std::move(resp.start_stream);
      resp.start_stream = [this, inner](std::shared_ptr<WatchSink> sink) {
        inner(std::make_shared<FilteringSink>(std::move(sink), &drop_events, &dropped));
      };
    }
    return resp;
  }

  MemoryStore store_;
  ResourceRegistry registry_;
  std::unique_ptr<ObjectService> service_;
  std::unique_ptr<RestHandler> handler_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;  // guards paths_, list_limits_
  std::vector<std::string> paths_;
  std::vector<std::string> list_limits_;
};

// A member that accepts TCP connections and never answers.
class HungMember {
 public:
  HungMember() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 64), 0);
    EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
          int fd = ::accept(listen_fd_, nullptr, nullptr);
          if (fd >= 0) {
            std::lock_guard lock(mu_);
            accepted_.push_back(fd);
          }
        }
      }
    });
  }
  ~HungMember() {
    stop_.store(true);
    thread_.join();
    std::lock_guard lock(mu_);
    for (int fd : accepted_) ::close(fd);
    ::close(listen_fd_);
  }
  MemberEndpoint Endpoint(milliseconds timeout) const {
    MemberEndpoint e;
    e.name = "hung-1";
    e.server = "http://127.0.0.1:" + std::to_string(port_) + kBasePath;
    e.credentials.bearer_token = kToken;
    e.timeout = timeout;
    return e;
  }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> accepted_;
};

// A loopback port nobody listens on (bound to learn a free one, then closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Collects watch events and errors; waits for them with deadlines.
class Recorder {
 public:
  MemberWatchCallback Callback() {
    return [this](const MemberWatchEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::function<void(const Status&)> OnError() {
    return [this](const Status& s) {
      std::lock_guard lock(mu_);
      errors_.push_back(s);
      cv_.notify_all();
    };
  }
  // Waits until at least `n` events arrived (bounded). Returns whether they did.
  bool WaitEvents(size_t n, milliseconds within = milliseconds(10'000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, within, [&] { return events_.size() >= n; });
  }
  bool WaitErrors(size_t n, milliseconds within = milliseconds(10'000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, within, [&] { return errors_.size() >= n; });
  }
  std::vector<std::string> Summary() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      out.push_back(std::string(MemberEventTypeName(e.type)) + " " +
                    e.object["metadata"]["name"].get<std::string>() + (e.synthetic ? " *" : ""));
    }
    return out;
  }
  std::vector<Status> Errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  std::vector<MemberWatchEvent> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MemberWatchEvent> events_;
  std::vector<Status> errors_;
};

// Polls `cond` until true or the deadline (for counters the client exposes).
using test_env::Eventually;

std::unique_ptr<HttpMemberClient> NewClient(const MemberEndpoint& e, HttpMemberClientOptions o = {}) {
  auto c = HttpMemberClient::Create(e, o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(c).value() : nullptr;
}

json Deployment(const std::string& name, int replicas, json labels = json::object()) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
}

json ConfigMap(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
}

TEST(HttpMemberClientTest, CrudRoundTripsUnderBasePath) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);

  StatusOr<json> created = client->Create(kDeployments, "shop", Deployment("web", 3, {{"tier", "front"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "shop");
  const std::string rv1 = (*created)["metadata"]["resourceVersion"];
  ASSERT_TRUE(client->Create(kDeployments, "shop", Deployment("api", 1, {{"tier", "back"}})).ok());

  StatusOr<json> got = client->Get(kDeployments, "shop", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["replicas"], 3);

  StatusOr<ObjectList> all = client->List(kDeployments, "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_FALSE(all->resource_version.empty());
  StatusOr<ObjectList> front = client->List(kDeployments, "shop", {.label_selector = "tier in (front)"});
  ASSERT_TRUE(front.ok()) << front.status();
  ASSERT_EQ(front->items.size(), 1u);
  EXPECT_EQ(front->items[0]["metadata"]["name"], "web");
  StatusOr<ObjectList> page = client->List(kDeployments, "shop", {.limit = 1});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->items.size(), 1u);
  ASSERT_FALSE(page->continue_token.empty());
  StatusOr<ObjectList> page2 =
      client->List(kDeployments, "shop", {.limit = 1, .continue_token = page->continue_token});
  ASSERT_TRUE(page2.ok()) << page2.status();
  EXPECT_EQ(page2->items.size(), 1u);
  EXPECT_TRUE(page2->continue_token.empty());

  json update = *got;
  update["spec"]["replicas"] = 4;
  StatusOr<json> updated = client->Update(kDeployments, "shop", update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["spec"]["replicas"], 4);
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], rv1);

  json status = *updated;
  status["status"] = {{"readyReplicas", 4}, {"replicas", 4}};
  StatusOr<json> with_status = client->UpdateStatus(kDeployments, "shop", status);
  ASSERT_TRUE(with_status.ok()) << with_status.status();
  EXPECT_EQ((*with_status)["status"]["readyReplicas"], 4);

  StatusOr<json> merged = client->MergePatch(kDeployments, "shop", "web",
                                             {{"metadata", {{"annotations", {{"meridian.io/owner", "fw"}}}}}});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)["metadata"]["annotations"]["meridian.io/owner"], "fw");
  StatusOr<json> patched = client->JsonPatch(
      kDeployments, "shop", "web",
      json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 6}}}));
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["spec"]["replicas"], 6);

  // Cluster-scoped resources go without a namespace.
  StatusOr<json> ns = client->Create(kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"},
                                                       {"metadata", {{"name", "prod"}}}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_TRUE(client->Get(kNamespaces, "", "prod").ok());

  MemberDeleteOptions stale;
  stale.precondition_resource_version = rv1;
  Status pre = client->Delete(kDeployments, "shop", "web", stale);
  EXPECT_EQ(pre.code(), StatusCode::kAborted) << pre;
  MemberDeleteOptions background;
  background.propagation_policy = "Background";
  EXPECT_TRUE(client->Delete(kDeployments, "shop", "web", background).ok());
  Status gone = client->Get(kDeployments, "shop", "web").status();
  EXPECT_EQ(gone.code(), StatusCode::kNotFound);
  EXPECT_NE(gone.message().find("member \"test-1\""), std::string::npos) << gone;
  EXPECT_NE(gone.message().find("deployments.apps \"shop/web\""), std::string::npos) << gone;
}

TEST(HttpMemberClientTest, ErrorsMapToCodes) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  StatusOr<json> first = client->Create(kDeployments, "shop", Deployment("web", 1));
  ASSERT_TRUE(first.ok()) << first.status();

  // AlreadyExists.
  Status exists = client->Create(kDeployments, "shop", Deployment("web", 1)).status();
  EXPECT_EQ(exists.code(), StatusCode::kAlreadyExists) << exists;
  EXPECT_NE(exists.message().find("create deployments.apps \"shop/web\""), std::string::npos) << exists;

  // CAS: two writers from the same read; the second loses with kAborted.
  json a = *first;
  json b = *first;
  a["spec"]["replicas"] = 2;
  b["spec"]["replicas"] = 3;
  ASSERT_TRUE(client->Update(kDeployments, "shop", a).ok());
  Status conflict = client->Update(kDeployments, "shop", b).status();
  EXPECT_EQ(conflict.code(), StatusCode::kAborted) << conflict;
  EXPECT_NE(conflict.message().find("the object has been modified"), std::string::npos) << conflict;
  // A merge patch pinning the old resourceVersion is CAS too.
  Status patch_conflict =
      client
          ->MergePatch(kDeployments, "shop", "web",
                       {{"metadata", {{"resourceVersion", (*first)["metadata"]["resourceVersion"]}}},
                        {"spec", {{"replicas", 9}}}})
          .status();
  EXPECT_EQ(patch_conflict.code(), StatusCode::kAborted) << patch_conflict;

  // Invalid names: 422 -> kInvalidArgument.
  Status invalid = client->Create(kDeployments, "shop", Deployment("Bad_Name", 1)).status();
  EXPECT_EQ(invalid.code(), StatusCode::kInvalidArgument) << invalid;

  // Missing namespace: 404.
  EXPECT_EQ(client->Create(kDeployments, "nowhere", Deployment("x", 1)).status().code(),
            StatusCode::kNotFound);
  // Unknown resource: 404.
  EXPECT_EQ(client->List({"example.com", "v1", "widgets"}, "").status().code(), StatusCode::kNotFound);
  // Bad selector: 400 -> kInvalidArgument.
  EXPECT_EQ(client->List(kDeployments, "", {.label_selector = "in in in"}).status().code(),
            StatusCode::kInvalidArgument);
  // Client-side argument checks never reach the wire.
  EXPECT_EQ(client->Get(kDeployments, "shop", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Update(kDeployments, "shop", json::object()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->JsonPatch(kDeployments, "shop", "web", json::object()).status().code(),
            StatusCode::kInvalidArgument);

  // Wrong token: 401 -> kUnauthenticated, on every verb and the probes.
  MemberEndpoint wrong = member.Endpoint();
  wrong.credentials.bearer_token = "wrong";
  auto intruder = NewClient(wrong);
  ASSERT_NE(intruder, nullptr);
  Status unauth = intruder->Get(kDeployments, "shop", "web").status();
  EXPECT_EQ(unauth.code(), StatusCode::kUnauthenticated) << unauth;
  EXPECT_EQ(intruder->Readyz().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(intruder->Discover().status().code(), StatusCode::kUnauthenticated);

  // Connection refused -> kUnavailable, quickly.
  MemberEndpoint refused = member.Endpoint("refused-1");
  refused.server = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto down = NewClient(refused);
  ASSERT_NE(down, nullptr);
  Status unavailable = down->Get(kDeployments, "shop", "web").status();
  EXPECT_EQ(unavailable.code(), StatusCode::kUnavailable) << unavailable;
  EXPECT_NE(unavailable.message().find("refused-1"), std::string::npos) << unavailable;
}

TEST(HttpMemberClientTest, CreateRejectsBadEndpoints) {
  struct Case {
    std::string name;
    std::function<void(MemberEndpoint&)> mutate;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"scheme", [](MemberEndpoint& e) { e.server = "ftp://x"; }, "scheme"},
      {"port-letters", [](MemberEndpoint& e) { e.server = "https://127.0.0.1:abc"; }, "port"},
      {"port-range", [](MemberEndpoint& e) { e.server = "https://127.0.0.1:99999"; }, "port"},
      {"timeout", [](MemberEndpoint& e) { e.timeout = milliseconds(0); }, "timeout"},
      {"ca", [](MemberEndpoint& e) { e.credentials.certificate_authority_pem = "junk"; },
       "certificate authority"},
      {"cert-no-key", [](MemberEndpoint& e) { e.credentials.client_certificate_pem = "junk"; },
       "without a client key"},
      {"bad-cert",
       [](MemberEndpoint& e) {
         e.credentials.client_certificate_pem = "junk";
         e.credentials.client_key_pem = "junk";
       },
       "client certificate"},
  };
  for (const Case& c : cases) {
    MemberEndpoint e;
    e.name = "m-" + c.name;
    e.server = "https://127.0.0.1:6443";
    c.mutate(e);
    auto client = HttpMemberClient::Create(e);
    ASSERT_FALSE(client.ok()) << c.name;
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(client.status().message().find(e.name), std::string::npos) << client.status();
    EXPECT_NE(client.status().message().find(c.want), std::string::npos) << client.status();
  }
}

TEST(HttpMemberClientTest, DiscoveryIsCachedForTheTtl) {
  TestMember member;
  FakeClock clock;
  HttpMemberClientOptions options;
  options.clock = &clock;
  options.discovery_ttl = std::chrono::seconds(60);
  auto client = NewClient(member.Endpoint(), options);
  ASSERT_NE(client, nullptr);
  StatusOr<DiscoveryInfo> d = client->Discover();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->version.major, 1);
  EXPECT_EQ(d->version.minor, 32);
  EXPECT_TRUE(d->supports_server_side_apply);
  const DiscoveredResource* deployments = d->Find(kDeployments);
  ASSERT_NE(deployments, nullptr);
  EXPECT_TRUE(deployments->namespaced);
  EXPECT_TRUE(deployments->has_status);
  EXPECT_EQ(deployments->kind, "Deployment");
  const DiscoveredResource* namespaces = d->Find(kNamespaces);
  ASSERT_NE(namespaces, nullptr);
  EXPECT_FALSE(namespaces->namespaced);
  EXPECT_NE(d->FindKind("", "ConfigMap"), nullptr);
  EXPECT_EQ(member.requests("/version"), 1);

  ASSERT_TRUE(client->Discover().ok());
  EXPECT_EQ(member.requests("/version"), 1);  // cached
  clock.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(client->Discover().ok());
  EXPECT_EQ(member.requests("/version"), 2);
  ASSERT_TRUE(client->Discover(/*refresh=*/true).ok());
  EXPECT_EQ(member.requests("/version"), 3);
}

TEST(HttpMemberClientTest, ProbesFallBackToHealthz) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Readyz().ok());
  EXPECT_TRUE(client->Healthz().ok());
  EXPECT_EQ(member.requests("/healthz"), 1);
  member.no_readyz.store(true);
  EXPECT_TRUE(client->Readyz().ok());
  EXPECT_EQ(member.requests("/healthz"), 2);
}

TEST(HttpMemberClientTest, WatchDeliversEventsAndResumesAfterServerTimeout) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("before")).ok());

  Recorder rec;
  WatchOptions options;
  options.timeout = std::chrono::seconds(1);  // the server ends each stream after ~1 s
  options.on_error = rec.OnError();
  auto watch = client->Watch(kConfigMaps, "shop", "", "", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED before *"}));  // synchronous list

  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("during")).ok());
  ASSERT_TRUE(rec.WaitEvents(2));
  ASSERT_TRUE(client->MergePatch(kConfigMaps, "shop", "during", {{"data", {{"k", "v"}}}}).ok());
  ASSERT_TRUE(rec.WaitEvents(3));

  // The server ends the stream (timeoutSeconds); the client resumes from the last version.
  ASSERT_TRUE(Eventually([&] { return (*watch)->Connections() >= 2; }));
  ASSERT_TRUE(client->Delete(kConfigMaps, "shop", "during").ok());
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("after")).ok());
  ASSERT_TRUE(rec.WaitEvents(5));
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED before *", "ADDED during", "MODIFIED during",
                                                     "DELETED during", "ADDED after"}));
  EXPECT_EQ((*watch)->Relists(), 0);
  StatusOr<json> after = client->Get(kConfigMaps, "shop", "after");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*watch)->LastResourceVersion(), (*after)["metadata"]["resourceVersion"]);
  EXPECT_TRUE(rec.Errors().empty()) << rec.Errors()[0];
}

TEST(HttpMemberClientTest, WatchResumesAfterServerEndsStreamsAbruptly) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  Recorder rec;
  WatchOptions options;
  options.initial_backoff = milliseconds(20);
  auto watch = client->Watch(kConfigMaps, "", "", "", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));
    const int64_t before = (*watch)->Connections();
    member.handler().StopWatches();
    ASSERT_TRUE(Eventually([&] { return (*watch)->Connections() > before; }));
    ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("cm-" + std::to_string(i))).ok());
    ASSERT_TRUE(rec.WaitEvents(static_cast<size_t>(i + 1)));
  }
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED cm-0", "ADDED cm-1", "ADDED cm-2"}));
}

TEST(HttpMemberClientTest, WatchFromExpiredVersionRelists) {
  TestMember member(/*history_limit=*/3);
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("cm-" + std::to_string(i))).ok());
  }
  // Version 1 fell out of the member's history: HTTP 410 -> relist -> synthetic ADDED.
  Recorder rec;
  WatchOptions options;
  options.on_error = rec.OnError();
  auto watch = client->Watch(kConfigMaps, "shop", "", "1", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(rec.WaitEvents(6));
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED cm-0 *", "ADDED cm-1 *", "ADDED cm-2 *",
                                                     "ADDED cm-3 *", "ADDED cm-4 *", "ADDED cm-5 *"}));
  EXPECT_EQ((*watch)->Relists(), 1);
  ASSERT_FALSE(rec.Errors().empty());
  EXPECT_EQ(rec.Errors()[0].code(), StatusCode::kOutOfRange) << rec.Errors()[0];
  ASSERT_TRUE(Eventually([&] { return (*watch)->Connections() >= 1; }));
  ASSERT_TRUE(client->Delete(kConfigMaps, "shop", "cm-0").ok());
  ASSERT_TRUE(rec.WaitEvents(7));
  EXPECT_EQ(rec.Summary().back(), "DELETED cm-0");
}

// Param: WatchOptions::caller_keeps_objects.
// Who keeps what a relist compares against: the watch (identities), the watch (versions only,
// the caller keeping the objects), or the caller alone (WatchOptions::known_objects).
enum class Keeper { kWatchIdentities, kWatchVersions, kCaller };

// What a caller keeping its own copies holds: each object's resourceVersion by key, as its
// events said (and as a test sets it).
class CallerCopies {
 public:
  MemberWatchCallback Wrap(MemberWatchCallback next) {
    return [this, next = std::move(next)](const MemberWatchEvent& e) {
      {
        std::lock_guard lock(mu_);
        const json& meta = e.object["metadata"];
        const std::string key = meta.value("namespace", "") + "/" + meta.value("name", "");
        if (e.type == MemberEventType::kDeleted) {
          held_.erase(key);
        } else {
          held_[key] = e.resource_version;
        }
      }
      next(e);
    };
  }
  void Set(const std::string& key, const std::string& rv) {
    std::lock_guard lock(mu_);
    held_[key] = rv;
  }
  void Known(const std::function<void(const std::string&, const std::string&)>& visit) {
    std::lock_guard lock(mu_);
    for (const auto& [key, rv] : held_) visit(key, rv);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> held_;
};

class RelistDiffTest : public ::testing::TestWithParam<Keeper> {};

TEST_P(RelistDiffTest, WatchErrorEvent410RelistsAndReportsTheDiff) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  for (const char* n : {"keep", "change"}) {
    ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap(n)).ok());
  }
  // "gone" carries labels, an annotation and the two last-applied records (Meridian's and
  // kubectl's: each a whole copy of the object).
  json gone = ConfigMap("gone");
  gone["metadata"]["labels"] = {{"app.kubernetes.io/managed-by", "meridian"}};
  gone["metadata"]["annotations"] = {{"federation.meridian.io/owner", "shop/web"},
                                     {"federation.meridian.io/last-applied", std::string(2000, 'x')},
                                     {"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", gone).ok());
  Recorder rec;
  CallerCopies caller;
  WatchOptions options;
  options.initial_backoff = milliseconds(20);
  options.caller_keeps_objects = GetParam() != Keeper::kWatchIdentities;
  if (GetParam() == Keeper::kCaller) {
    options.known_objects = [&caller](const auto& visit) { caller.Known(visit); };
  }
  auto watch = client->Watch(kConfigMaps, "shop", "", "", caller.Wrap(rec.Callback()), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));

  // Partition: the client misses these changes.
  member.drop_events.store(true);
  ASSERT_TRUE(client->MergePatch(kConfigMaps, "shop", "change", {{"data", {{"k", "v"}}}}).ok());
  ASSERT_TRUE(client->Delete(kConfigMaps, "shop", "gone").ok());
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("new")).ok());
  ASSERT_TRUE(Eventually([&] { return member.dropped.load() >= 3; }));

  // The stream ends; the resumed watch is told its version expired (ERROR event, code 410).
  member.expire_next_watches.store(1);
  member.drop_events.store(false);
  member.handler().StopWatches();
  ASSERT_TRUE(rec.WaitEvents(6));
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED change *", "ADDED gone *", "ADDED keep *",
                                                     "MODIFIED change *", "ADDED new *", "DELETED gone *"}));
  EXPECT_EQ((*watch)->Relists(), 1);
  const json deleted = rec.Events()[5].object;
  if (GetParam() != Keeper::kWatchIdentities) {
    // The caller keeps its own copy: the watch kept only the resourceVersion, and the DELETED
    // event names the object.
    EXPECT_EQ(deleted, (json{{"metadata", {{"namespace", "shop"}, {"name", "gone"}}}}))
        << deleted.dump();
  } else {
    // The DELETED event the relist made up carries the identity the watch kept: labels and
    // annotations, but not the last-applied records (never read from a deleted object).
    EXPECT_EQ(deleted["metadata"]["labels"], gone["metadata"]["labels"]) << deleted.dump();
    EXPECT_EQ(deleted["metadata"]["annotations"],
              (json{{"federation.meridian.io/owner", "shop/web"}}))
        << deleted.dump();
  }

  // Live again after the relist.
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("later")).ok());
  ASSERT_TRUE(rec.WaitEvents(7));
  EXPECT_EQ(rec.Summary().back(), "ADDED later");
}

INSTANTIATE_TEST_SUITE_P(HttpMemberClientTest, RelistDiffTest,
                         ::testing::Values(Keeper::kWatchIdentities, Keeper::kWatchVersions,
                                           Keeper::kCaller),
                         [](const ::testing::TestParamInfo<Keeper>& info) {
                           switch (info.param) {
                             case Keeper::kWatchIdentities: return "WatchKeepsIdentities";
                             case Keeper::kWatchVersions: return "CallerKeepsObjects";
                             case Keeper::kCaller: return "CallerTellsWhatItHolds";
                           }
                           return "";
                         });

// With WatchOptions::known_objects a relist compares the list with what the caller holds: an
// object the caller holds that the list lacks is gone (DELETED), unless the caller's copy is
// newer than the list (written after it was taken, e.g. known from a write's answer).
TEST(HttpMemberClientTest, ARelistComparesWithWhatTheCallerHolds) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("keep")).ok());
  Recorder rec;
  CallerCopies caller;
  WatchOptions options;
  options.initial_backoff = milliseconds(20);
  options.caller_keeps_objects = true;
  options.known_objects = [&caller](const auto& visit) { caller.Known(visit); };
  auto watch = client->Watch(kConfigMaps, "shop", "", "", caller.Wrap(rec.Callback()), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(rec.WaitEvents(1));
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));

  // Held by the caller, never listed: one from long ago, one "written" far in the future.
  caller.Set("shop/stale", "1");
  caller.Set("shop/written-later", "999999999");
  member.expire_next_watches.store(1);
  member.handler().StopWatches();
  ASSERT_TRUE(rec.WaitEvents(2));
  ASSERT_TRUE(Eventually([&] { return (*watch)->Relists() == 1; }));
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("later")).ok());
  ASSERT_TRUE(rec.WaitEvents(3));
  EXPECT_EQ(rec.Summary(),
            (std::vector<std::string>{"ADDED keep *", "DELETED stale *", "ADDED later"}));
}

// A member whose whole list takes longer than one call's timeout (2,600 objects at 1 ms
// each, a 2 s timeout): lists and relists after 410 in pages of 500 (0.5 s each), each
// bounded by the timeout on its own, so the watch still starts and still recovers.
TEST(HttpMemberClientTest, ListsAndRelistsInPagesEachBoundedByTheTimeout) {
  TestMember member;
  for (int i = 0; i < 2600; ++i) {
    ASSERT_TRUE(member.service()
                    .Create(ConfigMapsInfo(), "shop", ConfigMap("cm-" + std::to_string(i)))
                    .ok());
  }
  member.list_us_per_item.store(1000);
  auto client = NewClient(member.Endpoint("test-1", milliseconds(2000)));
  ASSERT_NE(client, nullptr);
  Recorder rec;
  WatchOptions options;
  options.initial_backoff = milliseconds(20);
  options.on_error = rec.OnError();
  auto watch = client->Watch(kConfigMaps, "shop", "", "", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(rec.WaitEvents(2600));
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 1; }));

  // The client misses a change, then its resumed watch is told its version expired.
  member.drop_events.store(true);
  ASSERT_TRUE(client->Create(kConfigMaps, "shop", ConfigMap("late")).ok());
  ASSERT_TRUE(Eventually([&] { return member.dropped.load() >= 1; }));
  member.expire_next_watches.store(1);
  member.drop_events.store(false);
  member.handler().StopWatches();
  ASSERT_TRUE(rec.WaitEvents(2601));
  EXPECT_EQ(rec.Summary().back(), "ADDED late *");
  EXPECT_EQ((*watch)->Relists(), 1);
  for (const Status& e : rec.Errors()) {
    EXPECT_NE(e.code(), StatusCode::kDeadlineExceeded) << "no list timed out: " << e;
  }
  // 6 pages for the first list, 6 for the relist; none without a limit.
  EXPECT_EQ(member.list_limits(), std::vector<std::string>(12, "500"));
}

TEST(HttpMemberClientTest, RepeatedExpiryBacksOffInsteadOfRelistingInALoop) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  member.expire_next_watches.store(1'000'000);  // every watch request: ERROR 410
  Recorder rec;
  WatchOptions options;
  options.initial_backoff = milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  auto watch = client->Watch(kConfigMaps, "shop", "", "", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  // Relist 1 is immediate; each further one waits 100, 200, 400 ms.
  ASSERT_TRUE(Eventually([&] { return (*watch)->Relists() >= 4; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(700));
  watch->reset();
}

TEST(HttpMemberClientTest, WatchSelectorAndPromptStop) {
  TestMember member;
  auto client = NewClient(member.Endpoint());
  ASSERT_NE(client, nullptr);
  Recorder stopped;
  Recorder barrier;
  auto first = client->Watch(kDeployments, "shop", "tier=front", "", stopped.Callback());
  auto second = client->Watch(kDeployments, "shop", "", "", barrier.Callback());
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(Eventually([&] { return member.handler().ActiveWatches() == 2; }));
  ASSERT_TRUE(client->Create(kDeployments, "shop", Deployment("back", 1, {{"tier", "back"}})).ok());
  ASSERT_TRUE(client->Create(kDeployments, "shop", Deployment("front", 1, {{"tier", "front"}})).ok());
  ASSERT_TRUE(barrier.WaitEvents(2));
  ASSERT_TRUE(stopped.WaitEvents(1));
  EXPECT_EQ(stopped.Summary(), (std::vector<std::string>{"ADDED front"}));

  const auto start = std::chrono::steady_clock::now();
  first->reset();  // destroying the handle stops the watch
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  ASSERT_TRUE(client->Create(kDeployments, "shop", Deployment("front-2", 1, {{"tier", "front"}})).ok());
  ASSERT_TRUE(barrier.WaitEvents(3));  // the other watch saw it, so the stopped one had its chance
  EXPECT_EQ(stopped.Summary().size(), 1u);
}

TEST(HttpMemberClientTest, HungMemberTimesOutWithoutDelayingOthers) {
  TestMember healthy;
  HungMember hung;
  const milliseconds timeout(400);
  auto slow = NewClient(hung.Endpoint(timeout));
  auto fast = NewClient(healthy.Endpoint("healthy-1", timeout));
  ASSERT_NE(slow, nullptr);
  ASSERT_NE(fast, nullptr);

  // Several calls to the hung member at once, and meanwhile many calls to the healthy one.
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<Status>> hung_calls;
  for (int i = 0; i < 4; ++i) {
    hung_calls.push_back(std::async(std::launch::async, [&] {
      return slow->Get(kDeployments, "shop", "web").status();
    }));
  }
  std::vector<milliseconds> healthy_latency;
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = fast->Readyz();
    ASSERT_TRUE(s.ok()) << s;
    healthy_latency.push_back(std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0));
  }
  const auto healthy_done = std::chrono::steady_clock::now();
  for (auto& f : hung_calls) {
    Status s = f.get();
    EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
    EXPECT_NE(s.message().find("hung-1"), std::string::npos) << s;
  }
  const auto hung_done = std::chrono::steady_clock::now();
  EXPECT_GE(hung_done - start, timeout);
  EXPECT_LT(hung_done - start, timeout + milliseconds(1500));
  EXPECT_LT(healthy_done, hung_done);  // healthy calls never waited for the hung member
  for (milliseconds l : healthy_latency) EXPECT_LT(l, timeout);

  // Probes and discovery are bounded too.
  Status probe = slow->Readyz();
  EXPECT_EQ(probe.code(), StatusCode::kDeadlineExceeded) << probe;
  EXPECT_EQ(slow->Discover().status().code(), StatusCode::kDeadlineExceeded);

  // A watch from "" fails with its initial list; from a version it keeps retrying, reports
  // each timeout, and stops promptly.
  Recorder rec;
  EXPECT_EQ(slow->Watch(kDeployments, "", "", "", rec.Callback()).status().code(),
            StatusCode::kDeadlineExceeded);
  WatchOptions options;
  options.on_error = rec.OnError();
  options.initial_backoff = milliseconds(10);
  auto watch = slow->Watch(kDeployments, "", "", "5", rec.Callback(), options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(rec.WaitErrors(1, timeout * 4));
  EXPECT_EQ(rec.Errors()[0].code(), StatusCode::kDeadlineExceeded) << rec.Errors()[0];
  const auto stop_start = std::chrono::steady_clock::now();
  watch->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, milliseconds(1000));
}

}  // namespace
}  // namespace meridian::sync
