// End to end: membersim's five members on three continents, federation-apiserver with every
// controller and --dns-listen, and dig as the real DNS client. Five federated workloads with
// spec.dns (geo, weighted, failover, a geo name under EU residency, and a geo name whose load
// balancers report only a hostname, answered as a CNAME), each with its
// LoadBalancer Service federated as a second FederatedWorkload; the answers are checked
// against the Service addresses read from the members themselves. Last, a whole region is
// killed (membersim fail-region) and the time from detection (MemberCluster Reachable=False
// visible in the API) to the changed DNS answer is measured and printed.
//
// The processes are shared by the tests of the suite (started once, ~10 s to converge); the
// failure test runs last.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/dns_query.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using test_env::CommandResult;
using test_env::RunCommand;
using Clock = std::chrono::steady_clock;

constexpr char kDig[] = "/usr/bin/dig";
constexpr char kZone[] = "global.example.com";

// Client subnets (ECS) and the population centre the --dns-client-regions table maps them to.
constexpr char kParis[] = "81.1.2.0/24";
constexpr char kNewYork[] = "3.1.2.0/24";
constexpr char kMumbai[] = "103.1.2.0/24";
constexpr char kSanFrancisco[] = "13.1.2.0/24";

constexpr char kClientRegions[] = R"(clientRegions:
  - {cidr: 81.0.0.0/8, region: paris}
  - {cidr: 3.0.0.0/8, region: new-york}
  - {cidr: 103.0.0.0/8, region: mumbai}
  - {cidr: 13.0.0.0/8, region: san-francisco}
defaultRegion: us-east
)";

// A Deployment with spec.dns, and its LoadBalancer Service (same name, same namespace) as a
// second FederatedWorkload: how a user publishes a workload under a global name.
std::string Workload(const std::string& name, int replicas, const std::string& placement,
                     const std::string& dns, const std::string& service_annotations = "{}") {
  return "---\n" +
         test_env::WorkloadYaml({.name = name,
                                 .replicas = replicas,
                                 .placement = placement,
                                 .more_spec = "  dns: " + dns}) +
         R"(---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: )" +
         name + R"(-service, namespace: shop}
spec:
  template:
    apiVersion: v1
    kind: Service
    metadata: {name: )" +
         name + ", annotations: " + service_annotations + R"(}
    spec:
      type: LoadBalancer
      selector: {app: )" +
         name + R"(}
      ports: [{port: 80, targetPort: 8080}]
)";
}

std::string Workloads() {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n" +
         Workload("web", 10,
                  "    distribution:\n      weights: {us-east: 1, us-west: 1, eu-west: 1, "
                  "eu-central: 1, ap-south: 1}\n      minPerCluster: 1",
                  "{name: web.global.example.com, strategy: geo, ttl: 5}") +
         Workload("cart", 8, "    distribution:\n      weights: {us-east: 3, eu-west: 1}",
                  "{name: cart.global.example.com, strategy: weighted, ttl: 5}") +
         Workload("api", 4, "    distribution:\n      weights: {us-east: 1, eu-west: 1}",
                  "{name: api.global.example.com, strategy: failover, ttl: 5, failoverOrder: "
                  "[eu-west, us-east]}") +
         Workload("vault", 4,
                  "    residency: {jurisdictions: [eu]}\n    distribution:\n      weights: "
                  "{eu-west: 1, eu-central: 1}",
                  "{name: vault.global.example.com, strategy: geo, ttl: 5}") +
         // Its load balancers report only a hostname, as AWS ELB/NLB do (membersim's annotation).
         Workload("store", 4, "    distribution:\n      weights: {us-east: 1, eu-west: 1}",
                  "{name: store.global.example.com, strategy: geo, ttl: 5}",
                  "{membersim.meridian.io/load-balancer-ingress: hostname}");
}

using test_env::QueryA;
using test_env::ReadFile;
using test_env::WriteFile;

class DnsEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access(kDig, X_OK) != 0) return;  // each test skips
    dir_ =
        std::filesystem::temp_directory_path() / ("meridian-e2e-dns-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string src = test_env::SourceDir();
    std::string error;

    WriteFile(dir_ / "regions.yaml", kClientRegions);
    fed_ = new test_env::E2EFederation;
    ASSERT_TRUE(
        fed_->Start({.bin_dir = test_env::BinDir(),
                     .dir = dir_,
                     .membersim_config = src + "/examples/topology-3-continents.yaml",
                     .apiserver_flags = {"--controllers", "all", "--dns-listen", "127.0.0.1:0",
                                         "--dns-zone", kZone, "--dns-client-regions",
                                         (dir_ / "regions.yaml").string(), "--dns-rrl-rate", "0"},
                     .apiserver_ready_before = {"federation-apiserver dns listening on 127.0.0.1:"},
                     .read_apiserver_output = true},  // reads the health monitor's event lines
                    &error))
        << error;
    dns_port_ = std::stoi(fed_->ready_lines().at(0));
    sim_url_ = fed_->sim_url();
    api_url_ = fed_->api_url();

    // The members, as the demo registers them (pointing at this membersim), the topology,
    // and the workloads.
    std::string members = ReadFile(src + "/examples/three-continents/members.yaml");
    members = std::regex_replace(members, std::regex("http://127\\.0\\.0\\.1:18080"), sim_url_);
    WriteFile(dir_ / "members.yaml", members);
    WriteFile(dir_ / "workloads.yaml", Workloads());
    for (const std::string& file :
         {src + "/examples/three-continents/topology.yaml", (dir_ / "members.yaml").string(),
          (dir_ / "workloads.yaml").string()}) {
      CommandResult r = Fedctl("apply -f " + file);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }

    // Converged: every member holding a workload is answered (healthy in its record set).
    const std::map<std::string, size_t> want = {
        {"web", 5}, {"cart", 2}, {"api", 2}, {"vault", 2}, {"store", 2}};
    auto start = Clock::now();
    std::map<std::string, size_t> healthy;
    while (Clock::now() - start < std::chrono::seconds(60)) {
      healthy = HealthyEndpoints();
      if (healthy == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(healthy, want) << "record sets did not converge; see " << dir_ << "\n"
                             << Fedctl("dns records").output;
    std::printf("converged in %.1f s\n",
                std::chrono::duration<double>(Clock::now() - start).count());
  }

  static void TearDownTestSuite() {
    delete fed_;
    fed_ = nullptr;
    if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    if (access(kDig, X_OK) != 0) GTEST_SKIP() << kDig << " not found: install bind9-dnsutils";
    ASSERT_GT(dns_port_, 0) << "the suite's processes did not start";
  }

  static CommandResult Fedctl(const std::string& args) { return fed_->Fedctl(args); }

  static json Get(const std::string& url) { return test_env::GetJson(url); }

  // Record set name -> number of endpoints answered.
  static std::map<std::string, size_t> HealthyEndpoints() {
    std::map<std::string, size_t> out;
    json list = Get(api_url_ + "/apis/federation.meridian.io/v1alpha1/dnsrecordsets");
    if (!list.is_object() || !list.contains("items")) return out;
    for (const json& rs : list["items"]) {
      size_t n = 0;
      for (const json& e : rs["spec"].value("endpoints", json::array())) {
        n += e.value("healthy", true) && !e.value("targets", json::array()).empty();
      }
      out[rs["metadata"].value("name", "")] = n;
    }
    return out;
  }

  // The load-balancer address of Service shop/NAME in `member`, read from the member.
  static std::string ServiceAddress(const std::string& member, const std::string& name) {
    json svc = Get(sim_url_ + "/clusters/" + member + "/api/v1/namespaces/shop/services/" + name);
    if (!svc.is_object()) return "";
    const json& ingress = svc["status"]["loadBalancer"]["ingress"];
    return ingress.is_array() && !ingress.empty() ? ingress[0].value("ip", "") : "";
  }

  // The load-balancer hostname of Service shop/NAME in `member`, read from the member.
  static std::string ServiceHostname(const std::string& member, const std::string& name) {
    json svc = Get(sim_url_ + "/clusters/" + member + "/api/v1/namespaces/shop/services/" + name);
    if (!svc.is_object()) return "";
    const json& ingress = svc["status"]["loadBalancer"]["ingress"];
    return ingress.is_array() && !ingress.empty() ? ingress[0].value("hostname", "") : "";
  }

  // dig's +short answer lines, sorted.
  static std::vector<std::string> Dig(const std::string& name, const std::string& options = "") {
    CommandResult r = RunCommand(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(dns_port_) +
                                 " +short +tries=1 +time=2 " + options + " " + name);
    std::vector<std::string> lines;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }

  static std::string Status(const std::string& name, const std::string& options = "") {
    CommandResult r = RunCommand(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(dns_port_) +
                                 " +tries=1 +time=2 " + options + " " + name);
    std::smatch m;
    return std::regex_search(r.output, m, std::regex("status: ([A-Z]+)")) ? m[1].str() : r.output;
  }

  static std::vector<std::string> One(const std::string& ip) { return {ip}; }

  static inline std::filesystem::path dir_;
  static inline test_env::E2EFederation* fed_ = nullptr;
  static inline std::string sim_url_, api_url_;
  static inline int dns_port_ = 0;
};

TEST_F(DnsEndToEndTest, GeoAnswersTheNearestRegionForClientsOnEachContinent) {
  const std::string web = "web.global.example.com";
  EXPECT_EQ(Dig(web, std::string("+subnet=") + kParis), One(ServiceAddress("eu-west-1", "web")));
  EXPECT_EQ(Dig(web, std::string("+subnet=") + kNewYork), One(ServiceAddress("us-east-1", "web")));
  EXPECT_EQ(Dig(web, std::string("+subnet=") + kMumbai), One(ServiceAddress("ap-south-1", "web")));
  EXPECT_EQ(Dig(web, std::string("+subnet=") + kSanFrancisco),
            One(ServiceAddress("us-west-1", "web")));
  // No ECS: the source address (127.0.0.1, in no CIDR) falls back to defaultRegion us-east.
  EXPECT_EQ(Dig(web), One(ServiceAddress("us-east-1", "web")));
}

TEST_F(DnsEndToEndTest, WeightedSpreadsClientsByReadyReplicas) {
  // cart: 6 ready replicas in us-east-1, 2 in eu-west-1. One dig, 120 queries from
  // different /24s.
  std::string queries;
  for (int i = 0; i < 120; ++i) {
    queries += " cart.global.example.com +subnet=" + std::to_string(20 + i) + "." +
               std::to_string(i * 7 % 250) + ".3.0/24";
  }
  std::map<std::string, int> seen;
  for (const std::string& ip : Dig("", queries)) ++seen[ip];
  const std::string us = ServiceAddress("us-east-1", "cart"),
                    eu = ServiceAddress("eu-west-1", "cart");
  EXPECT_EQ(seen[us] + seen[eu], 120) << ::testing::PrintToString(seen);
  EXPECT_GT(seen[us], seen[eu]) << "6 : 2 ready replicas";
  EXPECT_GE(seen[eu], 10) << "the smaller member still gets its share";
}

TEST_F(DnsEndToEndTest, FailoverAnswersTheFirstHealthyInOrder) {
  // failoverOrder [eu-west, us-east]: everyone gets eu-west while it is healthy.
  for (const char* subnet : {kParis, kNewYork, kMumbai}) {
    EXPECT_EQ(Dig("api.global.example.com", std::string("+subnet=") + subnet),
              One(ServiceAddress("eu-west-1", "api")));
  }
}

TEST_F(DnsEndToEndTest, AResidencyScopedNameAnswersOnlyInsideItsJurisdictions) {
  // vault runs only in the EU; a client in New York gets the nearest EU region (eu-west,
  // 75 ms from New York vs 88 ms to eu-central), never anything else.
  EXPECT_EQ(Dig("vault.global.example.com", std::string("+subnet=") + kNewYork),
            One(ServiceAddress("eu-west-1", "vault")));
  json rs =
      Get(api_url_ + "/apis/federation.meridian.io/v1alpha1/namespaces/shop/dnsrecordsets/vault");
  EXPECT_EQ(rs["spec"]["jurisdictions"], json::array({"eu"}));
  for (const json& e : rs["spec"]["endpoints"]) EXPECT_EQ(e["jurisdiction"], "eu") << e;
}

TEST_F(DnsEndToEndTest, TcpAnswersTheSame) {
  EXPECT_EQ(Dig("web.global.example.com", std::string("+tcp +subnet=") + kParis),
            One(ServiceAddress("eu-west-1", "web")));
  EXPECT_EQ(Dig("api.global.example.com", "+tcp"), One(ServiceAddress("eu-west-1", "api")));
}

TEST_F(DnsEndToEndTest, AHostnameOnlyLoadBalancerIsAnsweredWithACnameToTheNearestMember) {
  const std::string store = "store.global.example.com";
  const std::string eu = ServiceHostname("eu-west-1", "store");
  const std::string us = ServiceHostname("us-east-1", "store");
  ASSERT_EQ(eu, "store.shop.eu-west-1.lb.membersim.test");
  ASSERT_EQ(ServiceAddress("eu-west-1", "store"), "") << "hostname only, no ip";
  // A, AAAA and CNAME queries all get one CNAME (its target is outside our zone: the resolver
  // follows it), to the member geo picks for the client.
  EXPECT_EQ(Dig(store, std::string("+subnet=") + kParis), One(eu + "."));
  EXPECT_EQ(Dig(store, std::string("AAAA +subnet=") + kParis), One(eu + "."));
  EXPECT_EQ(Dig(store, std::string("CNAME +subnet=") + kNewYork), One(us + "."));
  EXPECT_EQ(Dig(store, std::string("+tcp +subnet=") + kNewYork), One(us + "."));
  // The whole answer: authoritative, one record, a CNAME alone at its name.
  CommandResult full =
      RunCommand(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(dns_port_) +
                 " +tries=1 +time=2 +subnet=" + kParis + " " + store);
  EXPECT_NE(full.output.find("status: NOERROR"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find(" aa"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("ANSWER: 1,"), std::string::npos) << full.output;
  const std::string escaped = std::regex_replace(eu, std::regex("\\."), "\\.");
  EXPECT_TRUE(std::regex_search(
      full.output,
      std::regex("store\\.global\\.example\\.com\\.\\s+5\\s+IN\\s+CNAME\\s+" + escaped + "\\.")))
      << full.output;
  // fedctl shows the hostname as the member's target.
  CommandResult r = Fedctl("dns records " + store);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("CNAME"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(eu), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(us), std::string::npos) << r.output;
}

TEST_F(DnsEndToEndTest, StatusCodes) {
  EXPECT_EQ(Status("www.example.org"), "REFUSED");  // out of zone: no recursion
  EXPECT_EQ(Status("nothing.global.example.com"), "NXDOMAIN");
  EXPECT_EQ(Status("web.global.example.com", "TXT"), "NOERROR");  // NODATA
  EXPECT_EQ(Dig("global.example.com", "SOA").size(), 1u);
}

TEST_F(DnsEndToEndTest, FedctlShowsWhatIsServed) {
  CommandResult r = Fedctl("dns records web.global.example.com");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"NAME", "STRATEGY", "HEALTHY", "web.global.example.com", "geo",
                               "eu-central-1", "ap-south-1", "shop/web"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  }
  EXPECT_NE(r.output.find(ServiceAddress("us-west-1", "web")), std::string::npos) << r.output;
  EXPECT_EQ(Fedctl("dns records nothing.global.example.com").exit_code, 1);
}

// Runs last (gtest keeps definition order): kills the eu-west region.
TEST_F(DnsEndToEndTest, AKilledRegionLeavesTheAnswersSoonAfterDetection) {
  const std::string eu_west_api = ServiceAddress("eu-west-1", "api");
  const std::string us_east_api = ServiceAddress("us-east-1", "api");
  const std::string eu_central_web = ServiceAddress("eu-central-1", "web");
  ASSERT_EQ(Dig("api.global.example.com"), One(eu_west_api));

  CommandResult r = fed_->MembersimCtl("fail-region eu-west");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto injected = std::chrono::system_clock::now();
  // One poller per name, each on its own thread so that neither delays the other's sampling.
  // Times are wall-clock, to compare with the server's log.
  std::atomic<int> samples{0};
  auto first_time =
      [&](std::function<bool()> seen) -> std::optional<std::chrono::system_clock::time_point> {
    while (std::chrono::system_clock::now() - injected < std::chrono::seconds(30)) {
      ++samples;
      if (seen()) return std::chrono::system_clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return std::nullopt;
  };
  std::optional<std::chrono::system_clock::time_point> api_moved, web_moved;
  std::thread api([&] {
    api_moved =
        first_time([&] { return QueryA(dns_port_, "api.global.example.com") == One(us_east_api); });
  });
  std::thread web([&] {
    web_moved = first_time([&] {
      return QueryA(dns_port_, "web.global.example.com", std::array<uint8_t, 3>{81, 1, 2}) ==
             One(eu_central_web);
    });
  });
  api.join();
  web.join();
  const auto polled = std::chrono::system_clock::now() - injected;
  ASSERT_TRUE(api_moved) << "api.global.example.com still answers "
                         << ::testing::PrintToString(Dig("api.global.example.com"));
  ASSERT_TRUE(web_moved) << "Paris still gets "
                         << ::testing::PrintToString(
                                Dig("web.global.example.com", std::string("+subnet=") + kParis));

  // Detection: the log line of the health monitor's MemberUnreachable Event for eu-west-1
  // (recorded when it writes Reachable=False), "[YYYY-MM-DD HH:MM:SS.mmm] [warning]
  // federation-apiserver: Reachable True -> False ... object=eu-west-1 reason=MemberUnreachable"
  // with the time in UTC (observability/logging.h).
  std::optional<std::chrono::system_clock::time_point> detected;
  std::string error;
  while (!detected) {
    std::string line = fed_->apiserver().WaitForLine("[", std::chrono::seconds(5), &error);
    ASSERT_FALSE(line.empty()) << "no MemberUnreachable event for eu-west-1: " << error;
    if (line.find(" object=eu-west-1 ") == std::string::npos ||
        line.find(" reason=MemberUnreachable") == std::string::npos) {
      continue;
    }
    std::tm tm{};
    int millis = 0;
    std::istringstream in(line);
    in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
    in.ignore(1);
    in >> millis;
    ASSERT_FALSE(in.fail()) << line;
    detected =
        std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
  }
  auto ms = [](std::chrono::system_clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  // Upper bounds: a sample (one UDP query) completes a little after the change.
  std::printf(
      "fail-region eu-west: detected (health monitor: Reachable=False) %lld ms after injection; "
      "the answers changed %lld ms (failover name) / %lld ms (geo name) after detection "
      "(sampled every ~%lld ms)\n",
      ms(*detected - injected), ms(*api_moved - *detected), ms(*web_moved - *detected),
      ms(2 * polled / std::max(1, samples.load())));
  EXPECT_LT(ms(std::max(*api_moved, *web_moved) - *detected), 1000)
      << "a failure must reach answers within 1 s of detection";
  // dig agrees: the dead region is not answered any more, over UDP or TCP.
  EXPECT_EQ(Dig("api.global.example.com"), One(us_east_api));
  EXPECT_EQ(Dig("api.global.example.com", "+tcp"), One(us_east_api));
  EXPECT_EQ(Dig("web.global.example.com", std::string("+subnet=") + kParis), One(eu_central_web));
}

}  // namespace
}  // namespace meridian
