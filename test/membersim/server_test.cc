// membersim as a user meets it: the real binary on a loopback port, spoken to over HTTP (and
// with kubectl when installed). Waits on real time only with generous deadlines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
// After gtest: cpprestsdk defines a U() macro that clashes with gtest's template parameters.
#include <cpprest/http_client.h>
#undef U
#include <nlohmann/json.hpp>

#include "test/common/child_process.h"
#include "test/membersim/process.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const char* kConfig = R"(
defaults: {podReadyDelay: 300ms, podEvictionDelay: 1s, node: {cpu: "2", memory: 4Gi}}
clusters:
  - name: eu-west-1
    region: eu-west
    jurisdiction: eu
    zones: [{name: eu-west-1a, nodes: 2}, {name: eu-west-1b, nodes: 2}]
  - name: secure-1
    region: us-east
    auth: {token: s3cret}
    port: 0
    zones: [{name: secure-1a, nodes: 1}]
  - name: tls-less-2
    region: us-east
    zones: [{name: tls-less-2a, nodes: 1}]
)";

struct Reply {
  int code = 0;  // 0: no answer (refused, timed out)
  std::string body;
  std::string error;
  json Json() const { return json::parse(body, nullptr, false); }
};

Reply Http(const std::string& method, const std::string& url, const std::string& body = "",
           const std::string& content_type = "application/json",
           std::map<std::string, std::string> headers = {}, int timeout_ms = 10000) {
  Reply r;
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::milliseconds(timeout_ms));
    web::uri uri(url);
    web::http::client::http_client client(uri.scheme() + "://" + uri.host() + ":" + std::to_string(uri.port()), cfg);
    web::http::http_request req(method);
    req.set_request_uri(uri.resource());
    for (const auto& [k, v] : headers) req.headers().add(k, v);
    if (!body.empty()) req.set_body(body, content_type);
    auto resp = client.request(req).get();
    r.code = resp.status_code();
    r.body = resp.extract_utf8string(true).get();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

// status.<field> as an int (0 when absent), safe on objects without status.
int64_t St(const json& j, const char* field) {
  if (!j.is_object() || !j.contains("status") || !j["status"].is_object()) return 0;
  return j["status"].value(field, int64_t{0});
}

json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1"},
                                                     {"resources", {{"requests", {{"cpu", "250m"}}}}}}})}}}}}}}};
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    proc_ = new testing::MembersimProcess();
    std::string err;
    // A small pool: hung and delayed requests must not need a thread each (see
    // HungAndSlowClustersDoNotStallTheOthers).
    if (!proc_->Start(kConfig, {"--watch-history", "20", "--http-threads", "4"}, &err)) start_error_ = err;
  }
  static void TearDownTestSuite() {
    delete proc_;
    proc_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

  static std::string Cluster(const std::string& name = "eu-west-1") { return proc_->url() + "/clusters/" + name; }
  static std::string Deploys(const std::string& ns = "default") {
    return Cluster() + "/apis/apps/v1/namespaces/" + ns + "/deployments";
  }
  // Polls `url` until `pred(json)` holds or 30 s pass.
  static json WaitFor(const std::string& url, const std::function<bool(const json&)>& pred) {
    json last;
    for (int i = 0; i < 300; ++i) {
      Reply r = Http("GET", url);
      if (r.code == 200) {
        last = r.Json();
        if (pred(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "condition not met for " << url << "; last: " << last.dump();
    return last;
  }
  static void Admin(const std::string& path, const std::string& body = "") {
    Reply r = Http("POST", proc_->url() + path, body);
    ASSERT_EQ(r.code, 200) << path << ": " << r.body << r.error;
  }

  static testing::MembersimProcess* proc_;
  static std::string start_error_;
};
testing::MembersimProcess* ServerTest::proc_ = nullptr;
std::string ServerTest::start_error_;

TEST_F(ServerTest, HealthVersionAndDiscovery) {
  struct Case {
    std::string path;
    int code;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"/version", 200, "gitVersion"},
      {"/healthz", 200, "ok"},
      {"/readyz", 200, "ok"},
      {"/api", 200, "\"v1\""},
      {"/apis", 200, "\"apps\""},
      {"/api/v1", 200, "\"nodes\""},
      {"/apis/apps/v1", 200, "\"deployments\""},
      {"/apis/apps/v1", 200, "\"statefulsets\""},
      {"/api/v1/nodes?labelSelector=topology.kubernetes.io/zone%3Deu-west-1b", 200, "eu-west-1b-node-1"},
  };
  for (const Case& c : cases) {
    Reply r = Http("GET", Cluster() + c.path);
    EXPECT_EQ(r.code, c.code) << c.path << " " << r.error;
    EXPECT_THAT(r.body, HasSubstr(c.want)) << c.path;
  }
  Reply nodes = Http("GET", Cluster() + "/api/v1/nodes?labelSelector=topology.kubernetes.io/zone%3Deu-west-1b");
  EXPECT_EQ(nodes.Json()["items"].size(), 2u);
  Reply unknown = Http("GET", proc_->url() + "/clusters/nope/api/v1/nodes");
  EXPECT_EQ(unknown.code, 404);
  EXPECT_EQ(unknown.Json()["kind"], "Status");
}

TEST_F(ServerTest, ErrorsAreKubernetesStatusBodies) {
  ASSERT_EQ(Http("POST", Deploys(), Deployment("errs", 1).dump()).code, 201);
  json stale = Http("GET", Deploys() + "/errs").Json();
  ASSERT_EQ(Http("PATCH", Deploys() + "/errs", R"({"spec":{"replicas":2}})", "application/merge-patch+json").code, 200);
  stale["spec"]["replicas"] = 3;
  json bad_name = Deployment("Bad_Name", 1);
  struct Case {
    const char* name;
    std::string method, url, body;
    int code;
    const char* reason;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"missing", "GET", Deploys() + "/nope", "", 404, "NotFound", "deployments.apps \"nope\" not found"},
      {"exists", "POST", Deploys(), Deployment("errs", 1).dump(), 409, "AlreadyExists", "already exists"},
      {"stale", "PUT", Deploys() + "/errs", stale.dump(), 409, "Conflict", "the object has been modified"},
      {"invalid name", "POST", Deploys(), bad_name.dump(), 422, "Invalid", "RFC 1123"},
      {"no namespace", "POST", Deploys("ghost"), Deployment("x", 1).dump(), 404, "NotFound", "namespaces \"ghost\" not found"},
      {"bad json", "POST", Deploys(), "{not json", 400, "BadRequest", ""},
  };
  for (const Case& c : cases) {
    Reply r = Http(c.method, c.url, c.body);
    EXPECT_EQ(r.code, c.code) << c.name << ": " << r.body;
    json s = r.Json();
    EXPECT_EQ(s["kind"], "Status") << c.name;
    EXPECT_EQ(s["status"], "Failure") << c.name;
    EXPECT_EQ(s["reason"], c.reason) << c.name;
    EXPECT_EQ(s["code"], c.code) << c.name;
    EXPECT_THAT(s.value("message", ""), HasSubstr(c.message)) << c.name;
  }
}

TEST_F(ServerTest, PatchesGenerationAndStatusSubresource) {
  ASSERT_EQ(Http("POST", Deploys(), Deployment("patchme", 1).dump()).code, 201);
  Reply merge = Http("PATCH", Deploys() + "/patchme", R"({"spec":{"replicas":2}})", "application/merge-patch+json");
  ASSERT_EQ(merge.code, 200) << merge.body;
  EXPECT_EQ(merge.Json()["metadata"]["generation"], 2);
  Reply jp = Http("PATCH", Deploys() + "/patchme", R"([{"op":"replace","path":"/spec/replicas","value":3}])",
                  "application/json-patch+json");
  ASSERT_EQ(jp.code, 200) << jp.body;
  EXPECT_EQ(jp.Json()["spec"]["replicas"], 3);
  EXPECT_EQ(jp.Json()["metadata"]["generation"], 3);
  // Label-only change: no new generation.
  Reply lab = Http("PATCH", Deploys() + "/patchme", R"({"metadata":{"labels":{"x":"y"}}})", "application/merge-patch+json");
  EXPECT_EQ(lab.Json()["metadata"]["generation"], 3);
  // The simulation observes the newest generation.
  json d = WaitFor(Deploys() + "/patchme", [](const json& j) {
    return St(j, "observedGeneration") == 3 && St(j, "availableReplicas") == 3;
  });
  EXPECT_FALSE(d["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(d["metadata"]["creationTimestamp"].get<std::string>().empty());
  // A main-resource update does not change status; /status does not change spec.
  json body = d;
  body["status"]["replicas"] = 99;
  body["spec"]["replicas"] = 4;
  Reply put = Http("PUT", Deploys() + "/patchme", body.dump());
  ASSERT_EQ(put.code, 200) << put.body;
  EXPECT_EQ(put.Json()["status"]["replicas"], 3);
  Reply sput;
  for (int i = 0; i < 20; ++i) {  // the simulation writes status too: retry lost races
    json st = Http("GET", Deploys() + "/patchme").Json();
    st["spec"]["replicas"] = 1;
    st["status"]["observedGeneration"] = 4;
    sput = Http("PUT", Deploys() + "/patchme/status", st.dump());
    if (sput.code != 409) break;
  }
  ASSERT_EQ(sput.code, 200) << sput.body;
  EXPECT_EQ(sput.Json()["spec"]["replicas"], 4);
}

TEST_F(ServerTest, WatchResumesAndExpiredVersionsAreGone) {
  std::string cms = Cluster() + "/api/v1/namespaces/default/configmaps";
  Reply first = Http("POST", cms, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w0"},"data":{"k":"0"}})");
  ASSERT_EQ(first.code, 201);
  std::string rv0 = first.Json()["metadata"]["resourceVersion"];
  for (int i = 1; i <= 3; ++i) {
    json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "w" + std::to_string(i)}}}};
    ASSERT_EQ(Http("POST", cms, cm.dump()).code, 201);
  }
  // Resume after rv0: exactly the three later creations, in order.
  Reply w = Http("GET", cms + "?watch=true&resourceVersion=" + rv0 + "&timeoutSeconds=1");
  ASSERT_EQ(w.code, 200) << w.error;
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < w.body.size()) {
    size_t nl = w.body.find('\n', pos);
    if (nl == std::string::npos) nl = w.body.size();
    json ev = json::parse(w.body.substr(pos, nl - pos), nullptr, false);
    pos = nl + 1;
    if (ev.is_discarded() || ev["type"] == "BOOKMARK") continue;
    EXPECT_EQ(ev["type"], "ADDED");
    names.push_back(ev["object"]["metadata"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"w1", "w2", "w3"}));
  // Push the window (20 writes kept) past rv0; resuming there is 410 Gone / Expired.
  for (int i = 0; i < 30; ++i) {
    Http("PATCH", cms + "/w1", json{{"data", {{"k", std::to_string(i)}}}}.dump(), "application/merge-patch+json");
  }
  Reply gone = Http("GET", cms + "?watch=true&resourceVersion=" + rv0 + "&timeoutSeconds=1");
  json body;
  if (gone.code == 410) {
    body = gone.Json();
  } else {  // a real server answers 200 and one ERROR event carrying the Status
    ASSERT_EQ(gone.code, 200);
    json ev = json::parse(gone.body.substr(0, gone.body.find('\n')), nullptr, false);
    EXPECT_EQ(ev["type"], "ERROR");
    body = ev["object"];
  }
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["code"], 410);
  EXPECT_EQ(body["reason"], "Expired");
}

TEST_F(ServerTest, DeploymentRollsOutAndLoadBalancerGetsAddress) {
  ASSERT_EQ(Http("POST", Deploys(), Deployment("roll", 4).dump()).code, 201);
  json d = WaitFor(Deploys() + "/roll", [](const json& j) { return St(j, "availableReplicas") == 4; });
  EXPECT_EQ(d["status"]["updatedReplicas"], 4);
  Reply pods = Http("GET", Cluster() + "/api/v1/namespaces/default/pods?labelSelector=app%3Droll");
  EXPECT_EQ(pods.Json()["items"].size(), 4u);
  Reply p = Http("PATCH", Deploys() + "/roll", R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}})",
                 "application/strategic-merge-patch+json");
  ASSERT_EQ(p.code, 200) << p.body;
  d = WaitFor(Deploys() + "/roll", [](const json& j) {
    return St(j, "observedGeneration") == 2 && St(j, "updatedReplicas") == 4 &&
           St(j, "availableReplicas") == 4 && St(j, "replicas") == 4;
  });
  std::string svc = R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"roll"},"spec":{"type":"LoadBalancer","selector":{"app":"roll"},"ports":[{"port":80}]}})";
  ASSERT_EQ(Http("POST", Cluster() + "/api/v1/namespaces/default/services", svc).code, 201);
  json s = WaitFor(Cluster() + "/api/v1/namespaces/default/services/roll", [](const json& j) {
    return j.contains("status") && j["status"].contains("loadBalancer") && j["status"]["loadBalancer"].contains("ingress");
  });
  EXPECT_THAT(s["status"]["loadBalancer"]["ingress"][0]["ip"].get<std::string>(), ::testing::StartsWith("127."));
}

TEST_F(ServerTest, BearerTokenIsRequired) {
  struct Case {
    const char* name;
    std::string url;
    std::map<std::string, std::string> headers;
    int code;
  };
  std::string base = Cluster("secure-1");
  const std::vector<Case> cases = {
      {"no token", base + "/api/v1/nodes", {}, 401},
      {"wrong token", base + "/api/v1/nodes", {{"Authorization", "Bearer nope"}}, 401},
      {"right token", base + "/api/v1/nodes", {{"Authorization", "Bearer s3cret"}}, 200},
      {"anonymous healthz", base + "/healthz", {}, 200},
      {"wrong token healthz", base + "/healthz", {{"Authorization", "Bearer nope"}}, 401},
      {"dedicated port", proc_->Dedicated("secure-1") + "/api/v1/nodes", {{"Authorization", "Bearer s3cret"}}, 200},
      {"dedicated no token", proc_->Dedicated("secure-1") + "/api/v1/nodes", {}, 401},
  };
  for (const Case& c : cases) {
    Reply r = Http("GET", c.url, "", "", c.headers);
    EXPECT_EQ(r.code, c.code) << c.name << " " << r.error;
    if (c.code == 401) {
      EXPECT_EQ(r.Json()["kind"], "Status") << c.name;
      EXPECT_EQ(r.Json()["reason"], "Unauthorized") << c.name;
      EXPECT_EQ(r.Json()["message"], "Unauthorized") << c.name;
    }
  }
}

TEST_F(ServerTest, PartitionRefuseClosesTheDedicatedPort) {
  std::string url = proc_->Dedicated("secure-1") + "/healthz";
  ASSERT_EQ(Http("GET", url).code, 200);
  Admin("/admin/clusters/secure-1/partition", R"({"mode":"refuse"})");
  Reply refused;
  for (int i = 0; i < 50; ++i) {  // the listener closes asynchronously
    refused = Http("GET", url, "", "", {}, 2000);
    if (refused.code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(refused.code, 0);
  EXPECT_FALSE(refused.error.empty());
  Reply shared = Http("GET", Cluster("secure-1") + "/healthz");
  EXPECT_EQ(shared.code, 503);  // a path mount cannot refuse TCP; it fails fast instead
  Admin("/admin/clusters/secure-1/heal");
  EXPECT_EQ(Http("GET", url).code, 200);
}

TEST_F(ServerTest, PartitionHangHoldsRequestsUntilHealed) {
  Admin("/admin/clusters/eu-west-1/partition", R"({"mode":"hang"})");
  Reply hung = Http("GET", Cluster() + "/healthz", "", "", {}, 1000);
  EXPECT_EQ(hung.code, 0) << hung.body;  // the client gave up: no answer at all
  EXPECT_EQ(Http("GET", Cluster("secure-1") + "/healthz").code, 200);  // others unaffected
  // A request held while the partition heals is then answered.
  std::thread healer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Admin("/admin/clusters/eu-west-1/heal");
  });
  Reply late = Http("GET", Cluster() + "/healthz", "", "", {}, 20000);
  healer.join();
  EXPECT_EQ(late.code, 200);
}

TEST_F(ServerTest, LatencyDelaysAnswers) {
  Admin("/admin/clusters/eu-west-1/latency", R"({"ms":400})");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Http("GET", Cluster() + "/healthz").code, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  Admin("/admin/clusters/eu-west-1/latency", R"({"ms":0})");
}

// Raw HTTP/1.1 requests left outstanding on their own connections (a client that waits).
class OutstandingRequests {
 public:
  OutstandingRequests(const std::string& base_url, const std::string& path, int count) {
    web::uri uri(base_url);
    for (int i = 0; i < count; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(uri.port()));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ADD_FAILURE() << "connect " << base_url;
        if (fd >= 0) ::close(fd);
        continue;
      }
      std::string req = "GET " + uri.path() + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      EXPECT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
      fds_.push_back(fd);
    }
  }
  ~OutstandingRequests() {
    for (int fd : fds_) ::close(fd);
  }
  // How many connections have an answer starting with `status_line` within `timeout`.
  int CountAnswered(const std::string& status_line, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::string> got(fds_.size());
    int done = 0;
    while (std::chrono::steady_clock::now() < deadline && done < static_cast<int>(fds_.size())) {
      done = 0;
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (got[i].size() >= status_line.size()) {
          ++done;
          continue;
        }
        pollfd p{fds_[i], POLLIN, 0};
        if (::poll(&p, 1, 10) > 0) {
          char buf[256];
          ssize_t n = ::recv(fds_[i], buf, sizeof buf, 0);
          if (n > 0) got[i].append(buf, static_cast<size_t>(n));
          if (n <= 0) got[i] = "closed without an answer";
        }
      }
    }
    int ok = 0;
    for (const std::string& g : got) ok += g.rfind(status_line, 0) == 0 ? 1 : 0;
    return ok;
  }
  int count() const { return static_cast<int>(fds_.size()); }

 private:
  std::vector<int> fds_;
};

// membersim runs with 4 HTTP threads here: 40 requests held by a hung cluster and 40 delayed
// by a slow one would have taken every thread when waiting cost a thread. Now the other
// clusters answer while they wait, and the held ones are answered once the partition heals.
TEST_F(ServerTest, HungAndSlowClustersDoNotStallTheOthers) {
  Admin("/admin/clusters/eu-west-1/partition", R"({"mode":"hang"})");
  Admin("/admin/clusters/secure-1/latency", R"({"ms":120000})");
  OutstandingRequests hung(Cluster(), "/api/v1/nodes", 40);
  OutstandingRequests slow(Cluster("secure-1"), "/healthz", 40);
  ASSERT_EQ(hung.count(), 40);
  ASSERT_EQ(slow.count(), 40);
  EXPECT_EQ(hung.CountAnswered("HTTP/1.1", std::chrono::milliseconds(300)), 0);
  // A third cluster on the same listener and thread pool answers at once.
  for (int i = 0; i < 20; ++i) {
    Reply other = Http("GET", Cluster("tls-less-2") + "/api/v1/nodes", "", "", {}, 5000);
    ASSERT_EQ(other.code, 200) << other.error;
  }
  EXPECT_EQ(Http("GET", proc_->url() + "/admin/status", "", "", {}, 5000).code, 200);
  Admin("/admin/clusters/eu-west-1/heal");
  EXPECT_EQ(hung.CountAnswered("HTTP/1.1 200", std::chrono::seconds(20)), 40);
  EXPECT_EQ(slow.CountAnswered("HTTP/1.1", std::chrono::milliseconds(100)), 0);  // still delayed
  Admin("/admin/clusters/secure-1/latency", R"({"ms":0})");
}

// What kubectl's table printer receives (Accept: as=Table), as kube-apiserver builds it.
TEST_F(ServerTest, TablesHaveKubectlColumns) {
  const std::map<std::string, std::string> kTable = {
      {"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  ASSERT_EQ(Http("POST", Deploys(), Deployment("tabled", 2).dump()).code, 201);
  json svc = {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "tabled"}}},
              {"spec", {{"type", "LoadBalancer"}, {"selector", {{"app", "tabled"}}},
                        {"ports", {{{"port", 80}, {"protocol", "TCP"}}}}}}};
  ASSERT_EQ(Http("POST", Cluster() + "/api/v1/namespaces/default/services", svc.dump()).code, 201);
  WaitFor(Deploys() + "/tabled", [](const json& j) { return St(j, "readyReplicas") == 2; });
  // The pods too: membersim can count a pod ready (its ready time passed) a moment before the
  // pod's own status is written.
  WaitFor(Cluster() + "/api/v1/namespaces/default/pods?labelSelector=app%3Dtabled",
          [](const json& j) {
            int running = 0;
            for (const json& p : j.value("items", json::array())) {
              running += p.value("status", json::object()).value("phase", "") == "Running";
            }
            return running == 2;
          });
  WaitFor(Cluster() + "/api/v1/namespaces/default/services/tabled", [](const json& j) {
    return j.dump().find("ingress") != std::string::npos;
  });
  struct Case {
    std::string path;
    std::vector<std::string> headers;  // the first column names after Name
    std::vector<std::string> cells;    // substrings of the first row's cells after the name
  };
  const std::vector<Case> cases = {
      {"/api/v1/nodes/eu-west-1a-node-0", {"Status", "Roles", "Age", "Version"}, {"Ready", "<none>", "", "v1.32"}},
      {"/apis/apps/v1/namespaces/default/deployments/tabled", {"Ready", "Up-to-date", "Available", "Age"},
       {"2/2", "2", "2", ""}},
      {"/api/v1/namespaces/default/pods?labelSelector=app%3Dtabled", {"Ready", "Status", "Restarts", "Age"},
       {"1/1", "Running", "0", ""}},
      {"/api/v1/namespaces/default/services/tabled", {"Type", "Cluster-IP", "External-IP", "Port(s)", "Age"},
       {"LoadBalancer", "10.96.", "127.", "80/TCP", ""}},
  };
  for (const Case& c : cases) {
    Reply r = Http("GET", Cluster() + c.path, "", "", kTable);
    ASSERT_EQ(r.code, 200) << c.path << r.body;
    json t = r.Json();
    ASSERT_EQ(t["kind"], "Table") << c.path;
    for (size_t i = 0; i < c.headers.size(); ++i) EXPECT_EQ(t["columnDefinitions"][i + 1]["name"], c.headers[i]) << c.path;
    ASSERT_FALSE(t["rows"].empty()) << c.path;
    const json& cells = t["rows"][0]["cells"];
    for (size_t i = 0; i < c.cells.size(); ++i) {
      std::string cell = cells[i + 1].is_string() ? cells[i + 1].get<std::string>() : cells[i + 1].dump();
      EXPECT_THAT(cell, HasSubstr(c.cells[i])) << c.path << " column " << c.headers[i] << "\n"
                                               << Http("GET", Cluster() + c.path).body;
    }
  }
  // A failed zone's nodes print NotReady, as `kubectl get nodes` shows a lost node.
  Admin("/admin/clusters/tls-less-2/zones/tls-less-2a/fail");
  json t = WaitFor(Cluster("tls-less-2") + "/api/v1/nodes/tls-less-2a-node-0", [](const json& j) {
    return j.dump().find("NodeStatusUnknown") != std::string::npos;
  });
  Reply nodes = Http("GET", Cluster("tls-less-2") + "/api/v1/nodes/tls-less-2a-node-0", "", "", kTable);
  EXPECT_EQ(nodes.Json()["rows"][0]["cells"][1], "NotReady");
  Admin("/admin/clusters/tls-less-2/zones/tls-less-2a/heal");
  ASSERT_EQ(Http("DELETE", Deploys() + "/tabled").code, 200);
  ASSERT_EQ(Http("DELETE", Cluster() + "/api/v1/namespaces/default/services/tabled").code, 200);
}

TEST_F(ServerTest, ZoneFailureVisibleThroughTheApi) {
  ASSERT_EQ(Http("POST", Deploys(), Deployment("zonal", 2).dump()).code, 201);
  WaitFor(Deploys() + "/zonal", [](const json& j) { return St(j, "availableReplicas") == 2; });
  Admin("/admin/clusters/eu-west-1/zones/eu-west-1a/fail");
  json n = WaitFor(Cluster() + "/api/v1/nodes/eu-west-1a-node-0", [](const json& j) {
    return j.dump().find("NodeStatusUnknown") != std::string::npos;
  });
  EXPECT_THAT(n["spec"]["taints"].dump(), HasSubstr("node.kubernetes.io/unreachable"));
  // Replacements land in eu-west-1b after the 1 s eviction delay.
  WaitFor(Cluster() + "/api/v1/namespaces/default/pods?labelSelector=app%3Dzonal", [](const json& j) {
    int ok = 0;
    for (const auto& p : j["items"]) {
      bool ready = false;
      json conds = p.value("status", json::object()).value("conditions", json::array());
      for (const auto& c : conds) ready = ready || (c["type"] == "Ready" && c["status"] == "True");
      if (p.value("spec", json::object()).value("nodeName", "").rfind("eu-west-1b", 0) == 0 && ready) ++ok;
    }
    return ok == 2 && j["items"].size() == 2;
  });
  Admin("/admin/clusters/eu-west-1/zones/eu-west-1a/heal");
  WaitFor(Cluster() + "/api/v1/nodes/eu-west-1a-node-0", [](const json& j) {
    return j.dump().find("KubeletReady") != std::string::npos;
  });
  Reply log = Http("GET", proc_->url() + "/admin/log");
  EXPECT_THAT(log.body, HasSubstr("fail-zone"));
  EXPECT_THAT(log.body, HasSubstr("\"time\""));
}

TEST_F(ServerTest, CtlSubcommands) {
  std::string bin = testing::BinDir() + "/membersim ctl --server " + proc_->url() + " ";
  struct Case {
    std::string args;
    int exit_code;
  };
  const std::vector<Case> cases = {
      {"latency eu-west-1 0", 0},
      {"fail-region us-east", 0},
      {"heal-region us-east", 0},
      {"partition secure-1 --mode hang", 0},
      {"heal secure-1", 0},
      {"heal secure-1", 1},            // not partitioned
      {"fail-zone nope z", 1},         // unknown cluster
      {"partition secure-1 --mode sideways", 2},
      {"latency eu-west-1", 2},
      {"status", 0},
      {"log", 0},
  };
  for (const Case& c : cases) {
    int rc = std::system((bin + c.args + " >/dev/null 2>&1").c_str());
    ASSERT_TRUE(WIFEXITED(rc)) << c.args;
    EXPECT_EQ(WEXITSTATUS(rc), c.exit_code) << c.args;
  }
  Reply status = Http("GET", proc_->url() + "/admin/status");
  EXPECT_THAT(status.body, HasSubstr("\"partition\":\"none\""));
}

// kubectl, as a new user would use it.
std::string Shell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = pclose(f);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST_F(ServerTest, KubectlAsANewUser) {
  if (access("/usr/bin/kubectl", X_OK) != 0) GTEST_SKIP() << "kubectl not installed at /usr/bin/kubectl";
  std::string k = "/usr/bin/kubectl --server " + Cluster() + " ";
  int rc = 0;
  std::string out = Shell(k + "get nodes -L topology.kubernetes.io/zone", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("NAME +STATUS +ROLES +AGE +VERSION +ZONE"));
  EXPECT_THAT(out, ::testing::ContainsRegex("eu-west-1a-node-0 +Ready +<none> +[0-9]+[smh] +v1.32.0-membersim +eu-west-1a"));
  // `get deploy -w`, started before the apply, shows the replicas becoming ready.
  test_env::ChildProcess watch;
  std::string err;
  ASSERT_TRUE(watch.Start({"/usr/bin/kubectl", "--server", Cluster(), "get", "deploy", "-w"}, &err)) << err;
  // The header comes with the initial list; the watch then starts from the list's version.
  std::string header = watch.WaitForLine("NAME", std::chrono::seconds(20), &err);
  ASSERT_THAT(header, ::testing::ContainsRegex("READY +UP-TO-DATE +AVAILABLE +AGE")) << err;
  char path[] = "/tmp/membersim-kubectl-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string yaml = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: kweb}
spec:
  replicas: 3
  selector: {matchLabels: {app: kweb}}
  template:
    metadata: {labels: {app: kweb}}
    spec:
      containers:
      - {name: web, image: "nginx:1.25", resources: {requests: {cpu: 100m}}}
)";
  ASSERT_EQ(write(fd, yaml.data(), yaml.size()), static_cast<ssize_t>(yaml.size()));
  close(fd);
  out = Shell(k + "apply -f " + path, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("deployment.apps/kweb created"));
  std::string first = watch.WaitForLine("kweb ", std::chrono::seconds(20), &err);
  EXPECT_THAT(first, ::testing::ContainsRegex("^ +0/3 +0 +0 +[0-9]+s")) << err;
  std::string row;
  while ((row = watch.WaitForLine("kweb ", std::chrono::seconds(30), &err)).find("3/3") == std::string::npos) {
    ASSERT_FALSE(row.empty()) << "no 3/3 row from kubectl get deploy -w: " << err;
  }
  EXPECT_THAT(row, ::testing::ContainsRegex("^ +3/3 +3 +3 "));
  watch.Stop();
  out = Shell(k + "rollout status deploy/kweb --timeout=60s", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("successfully rolled out"));
  out = Shell(k + "get pods -l app=kweb", &rc);
  EXPECT_THAT(out, ::testing::ContainsRegex("NAME +READY +STATUS +RESTARTS +AGE"));
  EXPECT_THAT(out, ::testing::ContainsRegex("kweb-[a-z0-9]+-[a-z0-9]+ +1/1 +Running +0 +[0-9]+s"));
  out = Shell(k + "get deploy kweb -o jsonpath={.status.readyReplicas}", &rc);
  EXPECT_EQ(out, "3");
  std::string stale = Shell(k + "get deploy kweb -o json", &rc);
  out = Shell(k + "scale deploy/kweb --replicas=2", &rc);
  EXPECT_EQ(rc, 0) << out;
  std::string stale_path = std::string(path) + ".json";
  { std::ofstream(stale_path) << stale; }
  out = Shell(k + "replace -f " + stale_path, &rc);
  EXPECT_NE(rc, 0);
  EXPECT_THAT(out, HasSubstr("Conflict"));
  EXPECT_THAT(out, HasSubstr("the object has been modified"));
  out = Shell(k + "rollout status deploy/kweb --timeout=60s", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(Shell(k + "get deploy kweb -o jsonpath={.status.availableReplicas}", &rc), "2");
  unlink(path);
  unlink(stale_path.c_str());
}

}  // namespace
}  // namespace meridian::membersim
