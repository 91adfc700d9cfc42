// Every binary's /metrics after a short scenario, with the real binaries on loopback: etcd,
// membersim (three members on three continents), a federation-apiserver serving the API only,
// a federation-controller-manager running every controller (--metrics-listen), and
// meridian-dns on the example zone (--metrics-listen). The scenario applies two
// FederatedWorkloads (one resident in India only), fails region ap-south in membersim and
// heals it, and asks meridian-dns a few questions; the scrapes must show the figures move
// (POST federatedworkloads 201 counts the creates, unplaced replicas rise and fall), pass
// `promtool check metrics`, and hold every metric that examples/monitoring's dashboard and
// alerts name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/etcd_cluster.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"
#include "test/observability/exposition.h"

namespace meridian {
namespace {

using std::chrono::milliseconds;
using test_env::RunCommand;
using test_metrics::Value;

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 200ms
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
  - {name: ap-south-1, region: ap-south, jurisdiction: in, zones: [{name: ap-south-1a, nodes: 1}]}
)";

std::string Federation(const std::string& sim_url) {
  std::string out = R"(apiVersion: federation.meridian.io/v1alpha1
kind: Topology
metadata: {name: default}
spec:
  regions:
    - {name: us-east, jurisdiction: us, rttMs: {eu-west: 76, ap-south: 190}}
    - {name: eu-west, jurisdiction: eu, rttMs: {us-east: 76, ap-south: 120}}
    - {name: ap-south, jurisdiction: in, rttMs: {eu-west: 120, us-east: 190}}
)";
  for (const auto& [name, region, jurisdiction] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"us-east-1", "us-east", "us"},
           {"eu-west-1", "eu-west", "eu"},
           {"ap-south-1", "ap-south", "in"}}) {
    out +=
        "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
        "metadata: {name: " +
        name + "}\nspec:\n  server: " + sim_url + "/clusters/" + name + "\n  region: " + region +
        "\n  jurisdiction: " + jurisdiction + "\n";
  }
  out += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
  return out;
}

std::string Workload(const std::string& name, int replicas, const std::string& placement) {
  return test_env::WorkloadYaml({.name = name,
                                 .replicas = replicas,
                                 .placement = "    " + placement,
                                 .image = "example/" + name + ":1"});
}

// The metric names a PromQL expression reads (ours and Kubernetes': the families' prefixes),
// without the _bucket/_sum/_count series suffixes.
std::set<std::string> MetricsIn(const std::string& expr) {
  static const std::regex name(
      R"(\b((apiserver|workqueue|rest_client|meridian|membersim|process)_[a-zA-Z0-9_]*))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string m = (*it)[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (m.size() > s.size() && m.compare(m.size() - s.size(), s.size(), s) == 0 &&
          m.find("_seconds") != std::string::npos) {
        m.resize(m.size() - s.size());
      }
    }
    out.insert(m);
  }
  return out;
}

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-metrics-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    dns_.Stop();
    cm_.Stop();
    api_.Stop();
    sim_.Stop();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::string Scrape(const std::string& url) {
    test_env::CommandResult r = RunCommand("curl -fsS --max-time 5 '" + url + "'");
    EXPECT_EQ(r.exit_code, 0) << url << ": " << r.output;
    return r.output;
  }
  // Polls `url` until `done(scrape)` (20 s at most); the last scrape.
  std::string ScrapeUntil(const std::string& url,
                          const std::function<bool(const std::string&)>& done,
                          const std::string& what) {
    std::string text;
    const bool ok = test_env::PollUntil(milliseconds(20000), milliseconds(100), [&] {
      text = Scrape(url);
      return done(text);
    });
    EXPECT_TRUE(ok) << what << "; last scrape of " << url << ":\n" << text;
    return text;
  }
  void Apply(const std::string& file, const std::string& yaml) {
    test_env::WriteFile(dir_ / file, yaml);
    test_env::CommandResult r = RunCommand(test_env::BinDir() + "/fedctl --server " + api_url_ +
                                           " apply -f " + (dir_ / file).string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void Start(test_env::ChildProcess& p, const std::vector<std::string>& argv,
             const std::string& log) {
    std::string error;
    ASSERT_TRUE(p.Start(argv, &error, (dir_ / log).string())) << error;
  }
  std::string Line(test_env::ChildProcess& p, const std::string& prefix) {
    std::string error;
    std::string rest = p.WaitForLine(prefix, std::chrono::seconds(30), &error);
    EXPECT_FALSE(rest.empty()) << error;
    return rest;
  }

  std::filesystem::path dir_;
  test_env::EtcdCluster etcd_;
  test_env::ChildProcess sim_, api_, cm_, dns_;
  std::string api_url_;
};

TEST_F(MetricsE2E, EveryBinaryReportsTheScenario) {
  if (access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig not found: install bind9-dnsutils";
  const std::string bin = test_env::BinDir();
  std::string error;
  ASSERT_TRUE(etcd_.Start(1, &error)) << error;
  const std::string storage = "etcd:" + etcd_.ClientUrl(0);
  test_env::WriteFile(dir_ / "membersim.yaml", kMembersim);
  Start(sim_,
        {bin + "/membersim", "--config", (dir_ / "membersim.yaml").string(), "--listen",
         "127.0.0.1:0"},
        "membersim.log");
  const std::string sim_url = Line(sim_, "membersim listening on ");
  Start(api_,
        {bin + "/federation-apiserver", "--listen", "127.0.0.1:0", "--storage", storage,
         "--controllers", "member-schemas", "--storage-compaction-interval", "0"},
        "apiserver.err");
  api_url_ = Line(api_, "federation-apiserver listening on ");
  ASSERT_FALSE(api_url_.empty());
  api_.CopyOutputTo((dir_ / "apiserver.log").string());
  // A refused member answers 503 at once: 3 failed probes 200 ms apart mark it unreachable
  // within a second; the long timeout only keeps a slow answer under load from a flap.
  Start(cm_,
        {bin + "/federation-controller-manager", "--storage", storage, "--leader-elect", "false",
         "--controllers", "*,-member-schemas", "--metrics-listen", "127.0.0.1:0",
         "--health-probe-interval-ms", "200", "--health-probe-timeout-ms", "2000",
         "--health-failure-threshold", "3"},
        "cm.err");
  const std::string cm_metrics = Line(cm_, "federation-controller-manager metrics on ");
  ASSERT_FALSE(cm_metrics.empty());
  cm_.CopyOutputTo((dir_ / "cm.log").string());
  Start(dns_,
        {bin + "/meridian-dns", "--config",
         test_env::SourceDir() + "/examples/dns/three-continents.yaml", "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:0", "--rrl-rate", "0"},
        "dns.err");
  const std::string dns_at = Line(dns_, "meridian-dns listening on ");
  const std::string dns_metrics = Line(dns_, "meridian-dns metrics on ");
  ASSERT_FALSE(dns_metrics.empty());
  const std::string api_metrics = api_url_ + "/metrics";
  const std::string sim_metrics = sim_url + "/metrics";

  // 1. Two creates: apiserver_request_total{verb=POST,resource=federatedworkloads,code=201}.
  Apply("federation.yaml", Federation(sim_url));
  const std::map<std::string, std::string> fw_created = {
      {"verb", "POST"}, {"resource", "federatedworkloads"}, {"code", "201"}};
  const double creates_before =
      std::max(0.0, Value(Scrape(api_metrics), "apiserver_request_total", fw_created));
  Apply("workloads.yaml",
        Workload("web", 3,
                 "{distribution: {weights: {us-east: 1, eu-west: 1, ap-south: 1}}, "
                 "failover: {recoveryDelaySeconds: 1}}") +
            "---\n" +
            Workload("ledger", 2,
                     "{residency: {jurisdictions: [in]}, failover: {recoveryDelaySeconds: 1}}"));
  EXPECT_EQ(Value(Scrape(api_metrics), "apiserver_request_total", fw_created) - creates_before, 2);

  // 2. Placed and ready everywhere: five replicas, none unplaced.
  std::string cm = ScrapeUntil(
      cm_metrics,
      [](const std::string& t) {
        return Value(t, "meridian_replicas", {{"state", "ready"}}) == 5 &&
               Value(t, "meridian_replicas_unplaced") == 0 &&
               Value(t, "meridian_member_ready") == 3;
      },
      "five ready replicas, all members ready");
  EXPECT_EQ(Value(cm, "meridian_replicas", {{"region", "ap-south"}, {"state", "placed"}}), 3);
  EXPECT_EQ(Value(cm, "meridian_replicas_desired"), 5);

  // 3. Region ap-south fails: ledger (India only) has nowhere to go.
  test_env::CommandResult ctl = RunCommand(bin + "/membersim ctl --server " + sim_url +
                                           " fail-region ap-south --mode refuse");
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  cm = ScrapeUntil(
      cm_metrics,
      [](const std::string& t) {
        return Value(t, "meridian_replicas_unplaced") == 2 &&
               Value(t, "meridian_member_ready", {{"member", "ap-south-1"}}) == 0;
      },
      "ledger's two replicas unplaced, ap-south-1 not ready");
  EXPECT_GE(Value(cm, "meridian_workloads", {{"condition", "Degraded"}}), 1);
  const std::string sim_failed = Scrape(sim_metrics);
  EXPECT_EQ(Value(sim_failed, "membersim_cluster_reachable", {{"cluster", "ap-south-1"}}), 0);
  EXPECT_EQ(Value(sim_failed, "membersim_cluster_reachable", {{"cluster", "us-east-1"}}), 1);

  // 4. Healed: placed again, the unplaced figure falls back to 0.
  ctl = RunCommand(bin + "/membersim ctl --server " + sim_url + " heal-region ap-south");
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  cm = ScrapeUntil(
      cm_metrics,
      [](const std::string& t) {
        return Value(t, "meridian_replicas_unplaced") == 0 &&
               Value(t, "meridian_member_ready", {{"member", "ap-south-1"}}) == 1;
      },
      "unplaced back to 0 after the heal");
  EXPECT_GT(Value(cm, "workqueue_adds_total", {{"name", "propagation/us-east-1"}}), 0);
  EXPECT_GT(Value(cm, "workqueue_work_duration_seconds_count", {{"name", "propagation/eu-west-1"}}),
            0);
  EXPECT_GT(Value(cm, "rest_client_requests_total",
                  {{"host", sim_url.substr(7) + "/clusters/us-east-1"}}),
            0);
  EXPECT_GT(Value(cm, "rest_client_requests_total",
                  {{"host", sim_url.substr(7) + "/clusters/ap-south-1"}, {"code", "503"}}),
            0)
      << "the partitioned member answered 503 (membersim's shared listener)";
  EXPECT_GT(Value(cm, "meridian_placement_decision_duration_seconds_count"), 0);
  EXPECT_GT(Value(cm, "meridian_placement_events_total"), 0);

  // 5. membersim counts what the federation wrote to each member.
  const std::string sim = Scrape(sim_metrics);
  EXPECT_GT(Value(sim, "apiserver_request_total", {{"cluster", "us-east-1"}, {"code", "201"}}), 0);

  // 6. DNS: three A questions answered, one name that does not exist.
  const std::string dns_port =
      dns_at.substr(dns_at.rfind(':') + 1, dns_at.find(' ') - dns_at.rfind(':') - 1);
  for (const char* q :
       {"web.global.example.com A", "web.global.example.com A", "web.global.example.com A",
        "nosuch.global.example.com A", "global.example.com SOA"}) {
    test_env::CommandResult r =
        RunCommand("dig +short +tries=1 +time=2 @127.0.0.1 -p " + dns_port + " " + q);
    EXPECT_EQ(r.exit_code, 0) << q << ": " << r.output;
  }
  const std::string dns = Scrape(dns_metrics);
  EXPECT_GE(Value(dns, "meridian_dns_responses_total", {{"qtype", "A"}, {"rcode", "NOERROR"}}), 3);
  EXPECT_EQ(Value(dns, "meridian_dns_responses_total", {{"qtype", "A"}, {"rcode", "NXDOMAIN"}}), 1);
  EXPECT_EQ(Value(dns, "meridian_dns_responses_total", {{"qtype", "SOA"}}), 1);
  EXPECT_EQ(Value(dns, "meridian_dns_udp_queries_total"), 5);
  EXPECT_EQ(Value(dns, "meridian_dns_rrl_dropped_total"), 0);

  // 7. The apiserver counts a LIST and sees a watch while it is open (the controller manager
  // works on etcd directly, so these are the only ones).
  Scrape(api_url_ + "/apis/federation.meridian.io/v1alpha1/namespaces/shop/federatedworkloads");
  test_env::ChildProcess watch;
  Start(watch,
        {"/usr/bin/curl", "-sN", "--max-time", "30",
         api_url_ + "/apis/federation.meridian.io/v1alpha1/federatedworkloads?watch=true"},
        "watch.err");
  const std::string api = ScrapeUntil(
      api_metrics,
      [](const std::string& t) { return Value(t, "apiserver_registered_watchers") == 1; },
      "one open watch");
  EXPECT_EQ(Value(api, "apiserver_request_total",
                  {{"verb", "LIST"}, {"resource", "federatedworkloads"}, {"code", "200"}}),
            1);
  watch.Stop();

  // 8. Every exposition is well-formed, and has the process figures.
  std::set<std::string> exported;
  for (const auto& [name, text] :
       std::vector<std::pair<std::string, std::string>>{{"federation-apiserver", api},
                                                        {"federation-controller-manager", cm},
                                                        {"membersim", sim},
                                                        {"meridian-dns", dns}}) {
    EXPECT_GT(Value(text, "process_resident_memory_bytes"), 0) << name;
    EXPECT_GT(Value(text, "process_open_fds"), 0) << name;
    if (test_metrics::HavePromtool()) {
      EXPECT_EQ(test_metrics::PromtoolCheckMetrics(text, (dir_ / (name + ".txt")).string()), "")
          << name;
    }
    for (const std::string& family : test_metrics::FamilyNames(text)) exported.insert(family);
  }

  // 9. examples/monitoring names only metrics the binaries export.
  const std::string monitoring = test_env::SourceDir() + "/examples/monitoring/";
  const nlohmann::json dashboard =
      nlohmann::json::parse(test_env::ReadFile(monitoring + "grafana-dashboard.json"));
  int queries = 0;
  for (const nlohmann::json& panel : dashboard.at("panels")) {
    if (!panel.contains("targets")) continue;
    for (const nlohmann::json& target : panel["targets"]) {
      const std::string expr = target.at("expr");
      ++queries;
      const std::set<std::string> names = MetricsIn(expr);
      EXPECT_FALSE(names.empty()) << panel.value("title", "") << ": " << expr;
      for (const std::string& n : names) {
        EXPECT_TRUE(exported.count(n)) << "panel \"" << panel.value("title", "") << "\" reads " << n
                                       << ", which no binary exports";
      }
    }
  }
  EXPECT_GE(queries, 8);
  const std::string rules = test_env::ReadFile(monitoring + "alerts.yaml");
  std::smatch m;
  int exprs = 0;
  for (std::string rest = rules; std::regex_search(rest, m, std::regex(R"(expr: *([^\n]+))"));
       rest = m.suffix()) {
    ++exprs;
    for (const std::string& n : MetricsIn(m[1])) {
      EXPECT_TRUE(exported.count(n))
          << "alert expr " << m[1] << " reads " << n << ", which no binary exports";
    }
  }
  EXPECT_GE(exprs, 5);
}

// The alerting rules load in Prometheus (promtool check rules) and fire as documented on
// synthetic series (promtool test rules, examples/monitoring/alerts_test.yaml).
TEST(MonitoringExamplesTest, AlertRulesPassPromtool) {
  if (!test_metrics::HavePromtool()) GTEST_SKIP() << "promtool not found: install prometheus";
  const std::string dir = test_env::SourceDir() + "/examples/monitoring";
  test_env::CommandResult check = RunCommand("promtool check rules " + dir + "/alerts.yaml 2>&1");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  test_env::CommandResult test =
      RunCommand("cd " + dir + " && promtool test rules alerts_test.yaml 2>&1");
  EXPECT_EQ(test.exit_code, 0) << test.output;
}

}  // namespace
}  // namespace meridian
