// Integration: a real HttpServer on a free loopback port, driven by kubectl.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "test/apimachinery/rest/test_server.h"

namespace meridian::apimachinery::rest::testing {
namespace {

struct Result {
  int exit_code;
  std::string output;  // stdout + stderr
};

const char* KubectlPath() {
  static const char* path = [] {
    // MERIDIAN_KUBECTL: another kubectl to check against (e.g. Debian's 1.20 next to a newer one).
    if (const char* env = std::getenv("MERIDIAN_KUBECTL"); env != nullptr && access(env, X_OK) == 0) return env;
    for (const char* p : {"/usr/bin/kubectl", "/usr/local/bin/kubectl"}) {
      if (access(p, X_OK) == 0) return p;
    }
    return static_cast<const char*>(nullptr);
  }();
  return path;
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (KubectlPath() == nullptr) GTEST_SKIP() << "kubectl not found in /usr/bin or /usr/local/bin";
    // Short heartbeats so that kubectl's watch decoding of them is exercised too.
    server_ = std::make_unique<TestServer>(
        RealClock(), RestOptions{.watch_heartbeat_interval = std::chrono::seconds(1)});
    StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::StartOnFreeLoopbackPort(HandlerFor(*server_->handler));
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = std::move(http).value();
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-kubectl-" + std::to_string(getpid()) + "-" + std::to_string(http_->port()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (http_) http_->Stop();
    if (server_) server_->handler->StopWatches();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  Result Kubectl(const std::string& args) {
    std::string cmd = std::string(KubectlPath()) + " --server " + http_->url() +
                      " --cache-dir " + (dir_ / "cache").string() +
                      " --request-timeout=20s " + args + " 2>&1";
    std::string env = "KUBECONFIG=" + (dir_ / "kubeconfig").string() + " HOME=" + dir_.string() + " ";
    FILE* p = popen((env + cmd).c_str(), "r");
    if (p == nullptr) return {-1, "popen failed"};
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<HttpServer> http_;
  std::filesystem::path dir_;
};

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{containerPort: 80}]
      - name: sidecar
        image: envoy:1
)";

TEST_F(KubectlTest, CreateGetListApplyPatchDelete) {
  std::string file = Write("web.yaml", kDeployment);
  struct Step {
    std::string args;
    int exit_code;
    std::vector<std::string> contains;
  };
  std::vector<Step> steps = {
      {"version -o json", 0, {"\"gitVersion\": \"v1.32.0-meridian\""}},
      {"api-resources", 0, {"deployments", "deploy", "apps/v1", "Deployment", "namespaces"}},
      {"create -f " + file, 0, {"deployment.apps/web created"}},
      {"create -f " + file, 1, {"AlreadyExists", "deployments.apps \"web\" already exists"}},
      {"get deployments", 0, {"NAME", "READY", "REPLICAS", "AGE", "web"}},
      {"get deploy web -o wide", 0, {"IMAGES", "nginx:1.27,envoy:1"}},
      {"get deployment web -o jsonpath={.spec.replicas}", 0, {"2"}},
      {"get deploy -l app=web -o name", 0, {"deployment.apps/web"}},
      {"get deploy -l app=nope", 0, {"No resources found in default namespace."}},
      {"get deploy nope", 1, {"NotFound", "deployments.apps \"nope\" not found"}},
      {"get ns", 0, {"default", "Active", "kube-system"}},
      {"scale deploy web --replicas=1", 0, {"scaled"}},
      {"patch deploy web --type=merge -p '{\"spec\":{\"replicas\":4}}'", 0, {"patched"}},
      {"patch deploy web --type=json -p '[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":5}]'",
       0, {"patched"}},
      {"get deploy web -o jsonpath={.spec.replicas}", 0, {"5"}},
      {"label deploy web tier=frontend", 0, {"labeled"}},
      {"annotate deploy web note=hello", 0, {"annotated"}},
      {"get deploy -l tier=frontend -o name", 0, {"deployment.apps/web"}},
      {"apply -f " + file, 0, {"deployment.apps/web"}},
      {"get deploy web -o jsonpath={.spec.replicas}", 0, {"2"}},
      {"set image deploy/web app=nginx:1.28", 0, {"image updated"}},
      {"get deploy web -o 'jsonpath={.spec.template.spec.containers[*].image}'", 0,
       {"nginx:1.28 envoy:1"}},
      {"get deploy web -o jsonpath={.metadata.generation}", 0, {}},
      {"create namespace team", 0, {"namespace/team created"}},
      {"create configmap cfg -n team --from-literal=a=1", 0, {"configmap/cfg created"}},
      {"get cm -A", 0, {"team", "cfg"}},
      {"create configmap cfg -n nowhere --from-literal=a=1", 1, {"namespaces \"nowhere\" not found"}},
      {"delete namespace team", 0, {"namespace \"team\" deleted"}},
      {"get cm cfg -n team", 1, {"NotFound"}},
      // Generators send protobuf bodies.
      {"create deployment gen --image=nginx:1.27 --replicas=2 --port=8080", 0,
       {"deployment.apps/gen created"}},
      {"get deploy gen -o 'jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} "
       "{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}'",
       0, {"2 gen nginx:1.27 8080"}},
      {"expose deployment gen --port=80 --target-port=8080", 0, {"service/gen exposed"}},
      {"get svc gen -o 'jsonpath={.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app}'",
       0, {"80 8080 gen"}},
      {"run box --image=busybox --restart=Never --labels=app=box -- sleep 3600", 0, {"pod/box created"}},
      {"get pod box -o 'jsonpath={.spec.containers[0].args} {.spec.restartPolicy} {.metadata.labels.app}'",
       0, {"[\"sleep\",\"3600\"] Never box"}},
      {"create secret generic s --from-literal=k=v", 0, {"secret/s created"}},
      {"get secret s -o 'jsonpath={.data.k}'", 0, {"dg=="}},
      {"delete -f " + file, 0, {"deployment.apps \"web\" deleted"}},
      {"get deploy web", 1, {"NotFound"}},
      {"delete deploy --all", 0, {"deployment.apps \"gen\" deleted"}},
      {"get deploy", 0, {"No resources found"}},
  };
  for (const Step& s : steps) {
    Result r = Kubectl(s.args);
    EXPECT_EQ(r.exit_code, s.exit_code) << "kubectl " << s.args << "\n" << r.output;
    for (const std::string& want : s.contains) {
      EXPECT_NE(r.output.find(want), std::string::npos)
          << "kubectl " << s.args << ": missing \"" << want << "\" in\n" << r.output;
    }
  }
}

TEST_F(KubectlTest, ApplyCreatesThenUpdatesAndStaleReplaceConflicts) {
  std::string file = Write("web.yaml", kDeployment);
  Result first = Kubectl("apply -f " + file);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("deployment.apps/web created"), std::string::npos) << first.output;
  Result again = Kubectl("apply -f " + file);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("unchanged"), std::string::npos) << again.output;
  // A replace with a stale resourceVersion gets the real conflict message.
  Result got = Kubectl("get deploy web -o json");
  ASSERT_EQ(got.exit_code, 0);
  nlohmann::json obj = nlohmann::json::parse(got.output);
  ASSERT_EQ(Kubectl("scale deploy web --replicas=3").exit_code, 0);
  std::string stale = Write("stale.json", obj.dump());
  Result replace = Kubectl("replace -f " + stale);
  EXPECT_NE(replace.exit_code, 0);
  EXPECT_NE(replace.output.find("Operation cannot be fulfilled on deployments.apps \"web\": the "
                                "object has been modified; please apply your changes to the "
                                "latest version and try again"),
            std::string::npos)
      << replace.output;
}

TEST_F(KubectlTest, GetWatchStreamsChangesAndEndsOnTimeout) {
  std::string file = Write("web.yaml", kDeployment);
  ASSERT_EQ(Kubectl("create -f " + file).exit_code, 0);
  Result watched;
  std::thread watcher([&] { watched = Kubectl("get deploy web -w --request-timeout=4s"); });
  // Wait until the watch is open, then change the object twice.
  for (int i = 0; i < 200 && server_->handler->ActiveWatches() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(server_->handler->ActiveWatches(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let a heartbeat go out first
  ASSERT_EQ(Kubectl("scale deploy web --replicas=7").exit_code, 0);
  ASSERT_EQ(Kubectl("label deploy web round=two").exit_code, 0);
  watcher.join();
  EXPECT_NE(watched.output.find("web"), std::string::npos) << watched.output;
  EXPECT_NE(watched.output.find("7"), std::string::npos) << watched.output;
  EXPECT_EQ(watched.output.find("rror"), std::string::npos) << watched.output;
  // The watch ended with kubectl's request timeout; the server side closes without leaking.
  for (int i = 0; i < 100 && server_->handler->ActiveWatches() != 0; ++i) {
    ASSERT_EQ(Kubectl("label deploy web --overwrite round=" + std::to_string(i)).exit_code, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(server_->handler->ActiveWatches(), 0u);
}

// Raw HTTP/1.1 over a loopback socket (no kubectl needed): chunked watch streaming, 413 on an
// announced oversized body, and Stop() ending open streams without hanging.
class RawClient {
 public:
  // `receive_buffer` > 0: a small kernel receive buffer, so that what the client leaves
  // unread stays in the server.
  explicit RawClient(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& s) { (void)!::write(fd_, s.data(), s.size()); }
  // Reads until `needle` shows up in everything read so far, EOF, or the 10 s timeout.
  std::string ReadUntil(const std::string& needle) {
    char buf[4096];
    while (all_.find(needle) == std::string::npos) {
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      all_.append(buf, static_cast<size_t>(n));
    }
    return all_;
  }
  // Reads (and drops) until the server closes the connection: true on EOF or a reset, false
  // when the 10 s timeout passes first.
  bool ReadsClose() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n > 0) continue;
      if (n == 0) return true;
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string all_;
};

TEST(HttpServerTest, ManyConcurrentWritesAndWatchesDoNotExhaustThePool) {
  TestServer server(RealClock());
  StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::StartOnFreeLoopbackPort(HandlerFor(*server.handler));
  ASSERT_TRUE(http.ok()) << http.status();
  // More open watches and concurrent bodies than cpprestsdk's pool has threads (40).
  std::vector<std::unique_ptr<RawClient>> watches;
  for (int i = 0; i < 60; ++i) {
    watches.push_back(std::make_unique<RawClient>((*http)->port()));
    ASSERT_TRUE(watches.back()->connected());
    watches.back()->Send("GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  std::vector<std::thread> writers;
  std::atomic<int> created{0};
  for (int i = 0; i < 60; ++i) {
    writers.emplace_back([&, i] {
      RawClient c((*http)->port());
      const std::string body = "{\"metadata\":{\"name\":\"cm-" + std::to_string(i) + "\"}}";
      c.Send("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body);
      if (c.ReadUntil("}").find("201 Created") != std::string::npos) ++created;
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(created.load(), 60);
  // Every watch saw the last object.
  for (auto& w : watches) {
    EXPECT_NE(w->ReadUntil("cm-59").find("cm-59"), std::string::npos);
  }
  (*http)->Stop();
}

TEST(HttpServerTest, StreamsChunkedWatchesRejectsLargeBodiesAndStopsCleanly) {
  TestServer server(RealClock());
  StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::StartOnFreeLoopbackPort(HandlerFor(*server.handler));
  ASSERT_TRUE(http.ok()) << http.status();
  {
    RawClient big((*http)->port());
    ASSERT_TRUE(big.connected());
    // Sent whole: the server answers 413 from the Content-Length, then drains briefly.
    const std::string body = "{\"data\":\"" + std::string(4 * 1024 * 1024, 'x') + "\"}";
    big.Send("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string reply = big.ReadUntil("}");
    EXPECT_NE(reply.find("413"), std::string::npos) << reply;
    EXPECT_NE(reply.find("RequestEntityTooLarge"), std::string::npos) << reply;
  }
  RawClient watch((*http)->port());
  ASSERT_TRUE(watch.connected());
  watch.Send("GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first = watch.ReadUntil("kube-system");
  EXPECT_NE(first.find("200"), std::string::npos) << first;
  EXPECT_NE(first.find("ransfer-Encoding: chunked"), std::string::npos) << first;
  EXPECT_NE(first.find("{\"object\":"), std::string::npos) << first;
  ASSERT_EQ(server.handler->ActiveWatches(), 1u);
  auto started = std::chrono::steady_clock::now();
  (*http)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  std::string rest = watch.ReadUntil("\r\n0\r\n\r\n");
  EXPECT_NE(rest.find("\r\n0\r\n\r\n"), std::string::npos) << "stream not terminated:\n" << rest;
  for (int i = 0; i < 100 && server.handler->ActiveWatches() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.handler->ActiveWatches(), 0u);
}

// The listener accepts on a thread of its own: with its only request thread held by a
// handler, a new connection is still taken at once (here refused at the connection cap, so
// the client sees it closed). When accepts shared the request threads' queue, a server busy
// with requests left new connections in the kernel's backlog (membersim under a 10,000-
// workload sync: health probes unanswered for ~45 s, members failed over for nothing).
TEST(HttpServerTest, AcceptsNewConnectionsWhileEveryRequestThreadIsBusy) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  HttpServerOptions options;
  options.threads = 1;
  options.max_connections = 1;
  StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::StartOnFreeLoopbackPort(
      [&entered, released](RestRequest request) {
        if (request.path == "/hold") {
          entered.set_value();
          released.wait_for(std::chrono::seconds(30));  // bounded: a failing test still ends
        }
        return RestResponse::Text(200, "done");
      },
      options);
  ASSERT_TRUE(http.ok()) << http.status();
  RawClient held((*http)->port());
  ASSERT_TRUE(held.connected());
  held.Send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  RawClient next((*http)->port());
  ASSERT_TRUE(next.connected());
  next.Send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
  const bool refused_while_held = next.ReadsClose();
  release.set_value();
  EXPECT_TRUE(refused_while_held) << "the new connection waited for the busy request thread";
  EXPECT_NE(held.ReadUntil("done").find("HTTP/1.1 200"), std::string::npos);
  (*http)->Stop();
}

// One request on its own connection (closed by the server after the answer); the whole
// answer, or what arrived within RawClient's 10 s timeout.
std::string Exchange(int port, const std::string& method, const std::string& path,
                     const std::string& body = "") {
  RawClient c(port);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  c.Send(request + "\r\n" + body);
  return c.ReadUntil("\x01never\x01");  // to EOF
}

// Watches whose clients never read hold up neither writes nor GETs: the store's delivery
// thread only queues bytes (serialized once, shared by every watch), socket writes never block
// a server thread, and a watch that leaves more than its budget unread is cut with an ERROR
// event. No latency is asserted (the machine may be loaded): every request must merely be
// answered (each read bounded by RawClient's 10 s timeout) while the stalled watches are open.
TEST(HttpServerTest, WatchesThatNeverReadHoldUpNeitherWritesNorGets) {
  TestServer server(RealClock());
  HttpServerOptions options;
  options.threads = 2;
  options.max_watch_backlog_bytes = 256 * 1024;
  StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::StartOnFreeLoopbackPort(HandlerFor(*server.handler), options);
  ASSERT_TRUE(http.ok()) << http.status();
  const int port = (*http)->port();
  const std::string coll = "/api/v1/namespaces/default/configmaps";
  auto config_map = [](const std::string& name, size_t bytes, int version) {
    return "{\"metadata\":{\"name\":\"" + name + "\"},\"data\":{\"v\":\"" +
           std::string(bytes, static_cast<char>('a' + version % 26)) + "\"}}";
  };
  ASSERT_EQ(Exchange(port, "POST", coll, config_map("small", 10, 0)).rfind("HTTP/1.1 201", 0), 0u);
  ASSERT_EQ(Exchange(port, "POST", coll, config_map("big", 200'000, 0)).rfind("HTTP/1.1 201", 0),
            0u);
  constexpr int kStalled = 10;
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(std::make_unique<RawClient>(port, 4096));
    ASSERT_TRUE(stalled.back()->connected());
    stalled.back()->Send("GET " + coll + "?watch=true HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (int i = 0; i < 500 && server.handler->ActiveWatches() < kStalled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(server.handler->ActiveWatches(), static_cast<size_t>(kStalled));
  // 24 updates of a 200 KB object: ~4.8 MB for each watch, far past its 256 KiB budget and
  // what the kernel buffers; a GET after each.
  for (int v = 1; v <= 24; ++v) {
    std::string put = Exchange(port, "PUT", coll + "/big", config_map("big", 200'000, v));
    ASSERT_EQ(put.rfind("HTTP/1.1 200", 0), 0u) << "update " << v << ": " << put.substr(0, 200);
    std::string get = Exchange(port, "GET", coll + "/small");
    ASSERT_EQ(get.rfind("HTTP/1.1 200", 0), 0u) << "GET after update " << v << ": " << get;
  }
  // Every stalled watch was cut: what it reads now ends with an ERROR event (410 Expired)
  // and the end of the response.
  int with_error = 0;
  for (auto& w : stalled) {
    std::string all = w->ReadUntil("\r\n0\r\n\r\n");
    ASSERT_NE(all.find("\r\n0\r\n\r\n"), std::string::npos) << "stream not ended";
    with_error += all.find("\"type\":\"ERROR\"") != std::string::npos &&
                  all.find("\"reason\":\"Expired\"") != std::string::npos;
  }
  EXPECT_EQ(with_error, kStalled);
  EXPECT_EQ(Exchange(port, "GET", coll + "/small").rfind("HTTP/1.1 200", 0), 0u);
  (*http)->Stop();
}

}  // namespace
}  // namespace meridian::apimachinery::rest::testing
