// The metrics module in process: request labelling (table-driven), the federation-apiserver's
// /metrics behind authentication and RBAC (kube's system:monitoring role) and the request
// counters it shows, the fleet gauges (pure), client-go's workqueue metrics on a FakeClock,
// the process metrics from /proc, and `promtool check metrics` on the whole exposition.
#include "observability/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/served_kinds.h"
#include "common/clock.h"
#include "federation-apiserver/server.h"
#include "observability/fleet_metrics.h"
#include "observability/request_metrics.h"
#include "sync/work_queue.h"
#include "test/observability/exposition.h"

namespace meridian {
namespace {

namespace rest = apimachinery::rest;
using nlohmann::json;
using test_metrics::Value;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-metrics-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "tokens.csv") << "admin-token,admin,1,system:masters\n"
                                          "prom-token,prometheus,2,system:monitoring\n"
                                          "bob-token,bob,3\n";
    apiserver::ServerOptions options;
    options.storage = "sqlite:" + (dir_ / "db").string();
    options.token_auth_file = (dir_ / "tokens.csv").string();
    options.authorization_mode = "RBAC";
    auto server = apiserver::FederationApiServer::Create(options, clock_);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  rest::RestResponse Call(const std::string& token, const std::string& method,
                          const std::string& path, const json& body = nullptr) {
    rest::RestRequest r;
    r.method = method;
    r.path = path;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.headers["content-type"] = "application/json";
    if (!body.is_null()) r.body = body.dump();
    return server_->handler().Handle(r);
  }
  std::string Scrape() {
    rest::RestResponse r = Call("prom-token", "GET", "/metrics");
    EXPECT_EQ(r.code, 200) << r.Body();
    EXPECT_EQ(r.content_type, observability::kExpositionContentType);
    return r.Body();
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<apiserver::FederationApiServer> server_;
};

TEST_F(MetricsServerTest, MetricsNeedTheMonitoringPermission) {
  EXPECT_EQ(Call("", "GET", "/metrics").code, 401) << "anonymous: no authenticator accepts it";
  rest::RestResponse bob = Call("bob-token", "GET", "/metrics");
  EXPECT_EQ(bob.code, 403) << bob.Body();
  EXPECT_NE(bob.Body().find("cannot get path \\\"/metrics\\\""), std::string::npos) << bob.Body();
  EXPECT_EQ(Call("prom-token", "GET", "/metrics").code, 200);
  EXPECT_EQ(Call("admin-token", "GET", "/metrics").code, 200);
  EXPECT_EQ(Call("prom-token", "GET", "/api/v1/namespaces").code, 403)
      << "system:monitoring reads metrics, not objects";
}

TEST_F(MetricsServerTest, RequestsAreCountedByVerbResourceAndCode) {
  const std::map<std::string, std::string> created = {
      {"verb", "POST"}, {"resource", "namespaces"}, {"code", "201"}, {"scope", "cluster"}};
  const std::map<std::string, std::string> forbidden = {
      {"verb", "POST"}, {"resource", "namespaces"}, {"code", "403"}};
  const std::map<std::string, std::string> listed = {
      {"verb", "LIST"}, {"resource", "namespaces"}, {"code", "200"}};
  const std::string before = Scrape();
  auto count = [](const std::string& text, const std::map<std::string, std::string>& labels) {
    return std::max(0.0, Value(text, "apiserver_request_total", labels));
  };
  for (const char* name : {"a", "b", "c"}) {
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
    ASSERT_EQ(Call("admin-token", "POST", "/api/v1/namespaces", ns).code, 201);
  }
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "d"}}}};
  ASSERT_EQ(Call("bob-token", "POST", "/api/v1/namespaces", ns).code, 403);
  ASSERT_EQ(Call("admin-token", "GET", "/api/v1/namespaces").code, 200);
  const std::string after = Scrape();
  EXPECT_EQ(count(after, created) - count(before, created), 3);
  EXPECT_EQ(count(after, forbidden) - count(before, forbidden), 1)
      << "refused requests are counted too";
  EXPECT_EQ(count(after, listed) - count(before, listed), 1);
  EXPECT_GE(Value(after, "apiserver_request_duration_seconds_count",
                  {{"verb", "POST"}, {"resource", "namespaces"}}),
            4);
  EXPECT_EQ(Value(after, "apiserver_current_inflight_requests", {{"request_kind", "mutating"}}), 0);
  EXPECT_EQ(Value(after, "apiserver_current_inflight_requests", {{"request_kind", "readOnly"}}), 1)
      << "the scrape itself is in flight";
  EXPECT_EQ(Value(after, "apiserver_registered_watchers"), 0);
  EXPECT_GT(Value(after, "process_resident_memory_bytes"), 0);
  EXPECT_GT(Value(after, "process_open_fds"), 0);
  EXPECT_GE(Value(after, "process_cpu_seconds_total"), 0);
  if (test_metrics::HavePromtool()) {
    EXPECT_EQ(test_metrics::PromtoolCheckMetrics(after, (dir_ / "scrape.txt").string()), "");
  }
}

// The bounded caches are measured (bench/soak.sh tells a filling cache from a leak by them).
TEST_F(MetricsServerTest, CachesAreMeasured) {
  for (const char* name : {"a", "b"}) {
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
    ASSERT_EQ(Call("admin-token", "POST", "/api/v1/namespaces", ns).code, 201);
  }
  ASSERT_EQ(Call("admin-token", "GET", "/api/v1/namespaces").code, 200);
  const std::string text = Scrape();
  const std::map<std::string, std::string> namespaces = {{"resource", "namespaces"}};
  // default and meridian-system, created at start, and the two above.
  EXPECT_EQ(Value(text, "meridian_watch_cache_objects", namespaces), 4);
  EXPECT_GT(Value(text, "meridian_watch_cache_object_bytes", namespaces), 4 * 50);
  EXPECT_GE(Value(text, "meridian_watch_cache_window_events", namespaces), 2);
  EXPECT_GT(Value(text, "meridian_watch_cache_window_bytes", namespaces), 2 * 50);
  EXPECT_GE(Value(text, "meridian_watch_cache_delivery_backlog", namespaces), 0) << "missing";
  EXPECT_EQ(Value(text, "meridian_list_response_cache_entries"), 1) << "the LIST above is kept";
  EXPECT_GT(Value(text, "meridian_list_response_cache_bytes"), 4 * 50);
}

TEST(RequestLabelsTest, KubernetesVerbsAndBoundedResources) {
  auto server_options = apiserver::ServerOptions{};
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("meridian-labels-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  server_options.storage = "sqlite:" + (dir / "db").string();
  FakeClock clock;
  auto server = apiserver::FederationApiServer::Create(server_options, clock);
  ASSERT_TRUE(server.ok()) << server.status().message();
  const apimachinery::ResourceRegistry& registry = (*server)->registry();
  const std::string fw = "/apis/federation.meridian.io/v1alpha1";
  struct Case {
    std::string method, path, watch, content_type;
    std::string verb, resource, subresource, scope;
  };
  const std::vector<Case> cases = {
      {"GET", fw + "/namespaces/shop/federatedworkloads", "", "", "LIST", "federatedworkloads", "",
       "namespace"},
      {"GET", fw + "/federatedworkloads", "", "", "LIST", "federatedworkloads", "", "cluster"},
      {"GET", fw + "/namespaces/shop/federatedworkloads/web", "", "", "GET", "federatedworkloads",
       "", "resource"},
      {"GET", fw + "/namespaces/shop/federatedworkloads", "true", "", "WATCH", "federatedworkloads",
       "", "namespace"},
      {"GET", fw + "/watch/namespaces/shop/federatedworkloads", "", "", "WATCH",
       "federatedworkloads", "", "namespace"},
      {"POST", fw + "/namespaces/shop/federatedworkloads", "", "application/json", "POST",
       "federatedworkloads", "", "namespace"},
      {"PUT", fw + "/namespaces/shop/federatedworkloads/web/status", "", "", "PUT",
       "federatedworkloads", "status", "resource"},
      {"PATCH", fw + "/namespaces/shop/federatedworkloads/web", "", "application/apply-patch+yaml",
       "APPLY", "federatedworkloads", "", "resource"},
      {"PATCH", fw + "/memberclusters/eu-1", "", "application/merge-patch+json", "PATCH",
       "memberclusters", "", "resource"},
      {"DELETE", "/api/v1/namespaces/shop", "", "", "DELETE", "namespaces", "", "resource"},
      {"GET", "/api/v1/namespaces/shop/secrets", "", "", "LIST", "secrets", "", "namespace"},
      // Unknown resources and non-resource paths: resource "", so a client cannot add series.
      {"GET", fw + "/namespaces/shop/made-up-things", "", "", "GET", "", "", ""},
      {"GET", "/metrics", "", "", "GET", "", "", ""},
      {"GET", "/apis/x.example.com/v1/namespaces/a/b/c/d", "", "", "GET", "", "", ""},
      {"OPTIONS", "/api", "", "", "OTHER", "", "", ""},
  };
  for (const Case& c : cases) {
    observability::RequestLabels l =
        observability::LabelRequest(registry, c.method, c.path, c.watch, c.content_type);
    EXPECT_EQ(l.verb, c.verb) << c.method << " " << c.path;
    EXPECT_EQ(l.resource, c.resource) << c.method << " " << c.path;
    EXPECT_EQ(l.subresource, c.subresource) << c.method << " " << c.path;
    EXPECT_EQ(l.scope, c.scope) << c.method << " " << c.path;
  }
  server->reset();
  std::filesystem::remove_all(dir);
}

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  for (const auto& f : families) {
    for (const auto& m : f.metric) {
      out += f.name;
      if (!m.label.empty()) {
        out += "{";
        for (size_t i = 0; i < m.label.size(); ++i) {
          out += (i ? "," : "") + m.label[i].name + "=\"" + m.label[i].value + "\"";
        }
        out += "}";
      }
      const double v = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      out += " " + std::to_string(v) + "\n";
    }
  }
  return out;
}

TEST(FleetMetricsTest, ReplicasPerRegionResidencyAndDrills) {
  observability::FleetObjects fleet;
  auto member = [](const std::string& name, const std::string& region, const std::string& j,
                   bool ready) {
    api::MemberCluster m;
    m.metadata.name = name;
    m.spec.region = region;
    m.spec.jurisdiction = j;
    m.status.conditions.push_back({"Ready", ready ? "True" : "False", "", "", "", 0});
    m.status.probe_latency_ms = 12;
    return m;
  };
  fleet.members = {member("us-east-1", "us-east", "us", true),
                   member("eu-west-1", "eu-west", "eu", true),
                   member("ap-south-1", "ap-south", "in", false)};
  api::FederatedWorkload web;
  web.status.desired_replicas = 6;
  web.status.placement = {{"us-east-1", 4, {}, {}}, {"eu-west-1", 2, {}, {}}};
  web.status.clusters = {{"us-east-1", 4, true, ""}, {"eu-west-1", 1, true, ""}};
  web.status.conditions.push_back({"Placed", "True", "", "", "", 0});
  api::FederatedWorkload ledger;
  ledger.status.desired_replicas = 2;
  ledger.status.unplaced_replicas = 2;
  ledger.status.retained = {{"ap-south-1", 2, {}, {}}};
  ledger.status.conditions.push_back({"Degraded", "True", "", "", "", 0});
  fleet.workloads = {web, ledger};
  api::ResidencyPolicy p1, p2;
  p1.status.violations = 1;
  p2.status.violations = 2;
  p2.status.unverified_members = 1;
  fleet.policies = {p1, p2};
  api::FailoverDrill running, done, fresh;
  running.status.phase = "Running";
  done.status.phase = "Completed";
  fleet.drills = {running, done, fresh};

  const std::string text = Text(observability::FleetFamilies(fleet));
  EXPECT_EQ(Value(text, "meridian_member_ready", {{"member", "ap-south-1"}}), 0);
  EXPECT_EQ(Value(text, "meridian_member_ready"), 2);
  EXPECT_NEAR(Value(text, "meridian_member_probe_latency_seconds", {{"member", "us-east-1"}}),
              0.012, 1e-9);
  EXPECT_EQ(Value(text, "meridian_replicas", {{"region", "us-east"}, {"state", "placed"}}), 4);
  EXPECT_EQ(Value(text, "meridian_replicas", {{"region", "eu-west"}, {"state", "ready"}}), 1);
  EXPECT_EQ(Value(text, "meridian_replicas", {{"jurisdiction", "in"}, {"state", "retained"}}), 2);
  EXPECT_EQ(Value(text, "meridian_replicas", {{"region", "ap-south"}, {"state", "placed"}}), 0)
      << "a region of the fleet reads 0, it does not vanish";
  EXPECT_EQ(Value(text, "meridian_replicas_desired"), 8);
  EXPECT_EQ(Value(text, "meridian_replicas_unplaced"), 2);
  EXPECT_EQ(Value(text, "meridian_workloads", {{"condition", "Degraded"}}), 1);
  EXPECT_EQ(Value(text, "meridian_workloads", {{"condition", "Placed"}}), 1);
  EXPECT_EQ(Value(text, "meridian_residency_violations"), 3);
  EXPECT_NEAR(Value(text, "meridian_residency_audit_coverage_ratio"), 2.0 / 3.0, 1e-6);
  EXPECT_EQ(Value(text, "meridian_drills", {{"phase", "Running"}}), 1);
  EXPECT_EQ(Value(text, "meridian_drills", {{"phase", "Pending"}}), 1);
  EXPECT_EQ(Value(text, "meridian_drills", {{"phase", "Failed"}}), 0);

  fleet = {};
  const std::string empty = Text(observability::FleetFamilies(fleet));
  EXPECT_EQ(Value(empty, "meridian_residency_audit_coverage_ratio"), 1);
  EXPECT_EQ(Value(empty, "meridian_replicas_unplaced"), 0);
}

TEST(WorkQueueMetricsTest, ClientGoFiguresOnTheInjectedClock) {
  FakeClock clock;
  // Series live as long as the process: a fresh name per run (--gtest_repeat).
  static int run = 0;
  const std::string queue_name = "metrics-test-" + std::to_string(++run);
  sync::WorkQueue queue(clock, sync::RateLimits{}, queue_name);
  auto text = [] { return observability::ExpositionText(); };
  const std::map<std::string, std::string> name = {{"name", queue_name}};
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");  // already waiting: counted as an add, not queued twice
  EXPECT_EQ(Value(text(), "workqueue_depth", name), 2);
  EXPECT_EQ(Value(text(), "workqueue_adds_total", name), 3);
  clock.Advance(std::chrono::seconds(2));
  auto key = queue.TryGet();
  ASSERT_TRUE(key);
  EXPECT_EQ(Value(text(), "workqueue_depth", name), 1);
  EXPECT_EQ(Value(text(), "workqueue_queue_duration_seconds_count", name), 1);
  EXPECT_NEAR(Value(text(), "workqueue_queue_duration_seconds_sum", name), 2.0, 1e-9);
  clock.Advance(std::chrono::milliseconds(500));
  queue.Done(*key);
  EXPECT_NEAR(Value(text(), "workqueue_work_duration_seconds_sum", name), 0.5, 1e-9);
  queue.AddRateLimited("c");
  EXPECT_EQ(Value(text(), "workqueue_retries_total", name), 1);
  EXPECT_EQ(Value(text(), "workqueue_depth", name), 2);
}

// SeriesFor caches series per thread: two instances on one thread (membersim has one per
// cluster), and a new instance after one is destroyed (maybe at the same address), must each
// count into their own series.
TEST(RequestMetricsTest, EachInstanceCountsItsOwnSeriesOnOneThread) {
  apimachinery::ResourceRegistry registry;
  ASSERT_TRUE(registry.Add(apimachinery::NamespaceResourceInfo()).ok());
  FakeClock clock;
  static int run = 0;  // series live as long as the process: fresh labels per run
  const std::string tag = "cache-test-" + std::to_string(++run);
  rest::RestRequest get;
  get.method = "GET";
  get.path = "/api/v1/namespaces/shop";
  auto total = [&](const std::string& cluster) {
    return Value(
        observability::ExpositionText(), "apiserver_request_total",
        {{"cluster", cluster}, {"verb", "GET"}, {"resource", "namespaces"}, {"code", "200"}});
  };
  {
    observability::RequestMetrics a(registry, clock, "", {{"cluster", tag + "-a"}});
    observability::RequestMetrics b(registry, clock, "", {{"cluster", tag + "-b"}});
    for (int i = 0; i < 3; ++i) a.Observe(get, 200, clock.Now());
    b.Observe(get, 200, clock.Now());
    a.Observe(get, 200, clock.Now());
    EXPECT_EQ(total(tag + "-a"), 4);
    EXPECT_EQ(total(tag + "-b"), 1);
  }
  for (int i = 0; i < 2; ++i) {
    observability::RequestMetrics again(registry, clock, "",
                                        {{"cluster", tag + "-c" + std::to_string(i)}});
    again.Observe(get, 200, clock.Now());
    EXPECT_EQ(total(tag + "-c" + std::to_string(i)), 1) << i;
  }
  EXPECT_EQ(total(tag + "-a"), 4) << "nothing counted into a destroyed instance's series";
}

TEST(ExpositionTest, ScrapeTimeCollectorsComeAndGo) {
  auto registration = observability::RegisterCollector([] {
    prometheus::MetricFamily f = observability::GaugeFamily("meridian_test_gauge", "A test.");
    observability::AddSample(f, {{"k", "v"}}, 7);
    return std::vector<prometheus::MetricFamily>{f};
  });
  EXPECT_EQ(Value(observability::ExpositionText(), "meridian_test_gauge", {{"k", "v"}}), 7);
  registration.reset();
  EXPECT_EQ(Value(observability::ExpositionText(), "meridian_test_gauge"), -1);
}

}  // namespace
}  // namespace meridian
