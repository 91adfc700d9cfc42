// Staged rollouts with global DNS, end to end (issue 23, "traffic during a stage"): membersim's
// five members on three continents, federation-apiserver with every controller and
// --dns-listen, as real processes on free loopback ports. The strategy's EU stage has
// `drain: true`. Two workloads with a geo name roll out a new image:
//
//   - web (every region, no residency): the EU stage is drained first and waits the name's TTL
//     (5 s: phase Draining, status.rollout.drainUntil) before either EU member gets a new pod;
//     while it changes eu-west-1 and eu-central-1, a query with an EDNS client subnet from
//     Paris is answered with a non-EU member, and with eu-west-1 again once its gates pass;
//   - vault (EU residency: only eu-west-1 and eu-central-1 may answer): draining would leave
//     Paris nobody, so the stage is not drained (status.rollout.drain OneAtATime, the Event
//     RolloutNotDrained) and its two members change one at a time: every Paris query during
//     the stage is answered with an EU member, and the second member's first new pod is bound
//     only after the first member's new pods are ready (membersim's pod timestamps).
//
// The DNS answers come from a raw UDP client sampling every ~50 ms (test/common/dns_query.h);
// one dig +subnet= checks the drained answer as a user would see it.
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/dns_query.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test_env::CommandResult;

constexpr char kDig[] = "/usr/bin/dig";
constexpr char kZone[] = "global.example.com";
constexpr std::array<uint8_t, 3> kParis = {81, 1, 2};  // 81.0.0.0/8 -> paris (regions.yaml)

constexpr char kClientRegions[] = R"(clientRegions:
  - {cidr: 81.0.0.0/8, region: paris}
defaultRegion: us-east
)";

// The EU stage is drained; readySeconds 3 leaves time to sample the drained answers.
constexpr char kStrategy[] = R"(apiVersion: federation.meridian.io/v1alpha1
kind: RolloutStrategy
metadata: {name: canary-eu-rest}
spec:
  onFailure: halt
  gateTimeoutSeconds: 60
  stages:
    - {name: canary, selector: {clusters: [us-west-1]}, readySeconds: 1}
    - {name: eu, selector: {regions: [eu-west, eu-central]}, readySeconds: 3, drain: true}
    - {name: rest}
)";

// A Deployment with a geo name and a rollout, and its LoadBalancer Service (same name) as a
// second FederatedWorkload.
std::string Workload(const std::string& name, const std::string& image, int replicas,
                     const std::string& placement) {
  return "---\n" +
         test_env::WorkloadYaml(
             {.name = name,
              .replicas = replicas,
              .placement = placement,
              .more_spec = "  rollout: {strategyRef: {name: canary-eu-rest}}\n  dns: {name: " +
                           name + "." + kZone + ", strategy: geo, ttl: 5}",
              .image = image}) +
         "---\napiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
         "metadata: {name: " +
         name + "-service, namespace: shop}\nspec:\n  template:\n    apiVersion: v1\n" +
         "    kind: Service\n    metadata: {name: " + name +
         "}\n    spec:\n      type: LoadBalancer\n      selector: {app: " + name +
         "}\n      ports: [{port: 80, targetPort: 8080}]\n";
}

std::string Workloads(const std::string& image) {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n" +
         Workload("web", image, 5,
                  "    distribution:\n      weights: {us-east: 1, us-west: 1, eu-west: 1, "
                  "eu-central: 1, ap-south: 1}\n      minPerCluster: 1") +
         Workload("vault", image, 4,
                  "    residency: {jurisdictions: [eu]}\n    distribution:\n      weights: "
                  "{eu-west: 1, eu-central: 1}");
}

class RolloutDnsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access(kDig, X_OK) != 0) return;  // each test skips
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-rollout-dns-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string src = test_env::SourceDir();
    test_env::WriteFile(dir_ / "regions.yaml", kClientRegions);
    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start(
        {.bin_dir = test_env::BinDir(),
         .dir = dir_,
         .membersim_config = src + "/examples/topology-3-continents.yaml",
         .apiserver_flags = {"--controllers", "all", "--dns-listen", "127.0.0.1:0", "--dns-zone",
                             kZone, "--dns-client-regions", (dir_ / "regions.yaml").string(),
                             "--dns-rrl-rate", "0"},
         .apiserver_ready_before = {"federation-apiserver dns listening on 127.0.0.1:"}},
        &error))
        << error;
    dns_port_ = std::stoi(fed_->ready_lines().at(0));
    std::string members = test_env::ReadFile(src + "/examples/three-continents/members.yaml");
    members =
        std::regex_replace(members, std::regex("http://127\\.0\\.0\\.1:18080"), fed_->sim_url());
    test_env::WriteFile(dir_ / "members.yaml", members);
    test_env::WriteFile(dir_ / "strategy.yaml", kStrategy);
    for (const std::string& file :
         {src + "/examples/three-continents/topology.yaml", (dir_ / "members.yaml").string(),
          (dir_ / "strategy.yaml").string()}) {
      CommandResult r = Fedctl("apply -f " + file);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
    Apply(Workloads("example/app:1"));
    // Converged: Paris is answered by eu-west-1 for both names.
    ASSERT_TRUE(test_env::PollUntil(milliseconds(60'000), milliseconds(100), [] {
      for (const char* member : {"eu-west-1", "eu-central-1"}) {
        for (const char* name : {"web", "vault"}) {
          if (Address(member, name).empty()) return false;
        }
      }
      return Paris("web") == Address("eu-west-1", "web") &&
             Paris("vault") == Address("eu-west-1", "vault");
    })) << Fedctl("dns records").output;
  }

  static void TearDownTestSuite() {
    fed_.reset();
    if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    if (access(kDig, X_OK) != 0) GTEST_SKIP() << kDig << " not found: install bind9-dnsutils";
    ASSERT_GT(dns_port_, 0) << "the suite's processes did not start";
  }

  static CommandResult Fedctl(const std::string& args) { return fed_->Fedctl(args); }
  static void Apply(const std::string& yaml) {
    test_env::WriteFile(dir_ / "workloads.yaml", yaml);
    CommandResult r = Fedctl("apply -f " + (dir_ / "workloads.yaml").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // The A answer for NAME.global.example.com to a client in Paris (ECS).
  static std::vector<std::string> Paris(const std::string& name) {
    return test_env::QueryA(dns_port_, name + "." + kZone, kParis);
  }
  // The load-balancer address of Service shop/NAME in `member`, read from the member.
  static std::vector<std::string> Address(const std::string& member, const std::string& name) {
    json svc = test_env::GetJson(fed_->sim_url() + "/clusters/" + member +
                                 "/api/v1/namespaces/shop/services/" + name);
    if (!svc.is_object()) return {};
    const json& ingress = svc["status"]["loadBalancer"]["ingress"];
    if (!ingress.is_array() || ingress.empty()) return {};
    return {ingress[0].value("ip", "")};
  }
  static json Rollout(const std::string& name) {
    json w = fed_->Api(test_env::WorkloadPath("shop", name));
    return w.is_object() ? w.value("status", json::object()).value("rollout", json::object())
                         : json::object();
  }
  // membersim's bound/ready stamps (ms) of the earliest-bound pod of NAME running `image`.
  static std::pair<int64_t, int64_t> FirstPod(const std::string& member, const std::string& name,
                                              const std::string& image) {
    json pods =
        test_env::GetJson(fed_->sim_url() + "/clusters/" + member + "/api/v1/namespaces/shop/pods");
    std::pair<int64_t, int64_t> out{0, 0};
    if (!pods.is_object()) return out;
    for (const json& p : pods.value("items", json::array())) {
      const json& labels = p["metadata"].value("labels", json::object());
      const json& c = p["spec"]["containers"];
      if (labels.value("app", "") != name || !c.is_array() || c.empty() ||
          c[0].value("image", "") != image) {
        continue;
      }
      const json& ann = p["metadata"].value("annotations", json::object());
      const int64_t bound = std::atoll(ann.value("membersim.meridian.io/bound-at-ms", "0").c_str());
      if (bound == 0 || (out.first != 0 && bound >= out.first)) continue;
      out = {bound, std::atoll(ann.value("membersim.meridian.io/ready-at-ms", "0").c_str())};
    }
    return out;
  }
  // "2026-12-06T05:30:01.250Z" (what the rollout writes) in ms since the epoch; 0 if not that.
  static int64_t EpochMs(const std::string& rfc3339) {
    std::tm tm{};
    const char* rest = strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) return 0;
    int ms = 0;
    if (std::sscanf(rest, ".%3dZ", &ms) != 1) return 0;
    return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
  }
  static bool HasEvent(const std::string& object, const std::string& reason) {
    json events = fed_->Api("/api/v1/namespaces/shop/events");
    for (const json& e : events.is_object() ? events.value("items", json::array()) : json()) {
      if (e.value("reason", "") == reason &&
          e.value("involvedObject", json::object()).value("name", "") == object) {
        return true;
      }
    }
    return false;
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
  static inline int dns_port_ = 0;
};

TEST_F(RolloutDnsE2E, TheEuStageIsDrainedOnlyWhereResidencyLetsAnotherRegionAnswer) {
  const std::set<std::string> eu_web = {Address("eu-west-1", "web").at(0),
                                        Address("eu-central-1", "web").at(0)};
  const std::set<std::string> eu_vault = {Address("eu-west-1", "vault").at(0),
                                          Address("eu-central-1", "vault").at(0)};
  const std::string v2 = "example/app:2";
  Apply(Workloads(v2));

  // Sample until both rollouts are complete: Paris's answers for each name while its EU stage
  // runs, and what the status said.
  int web_eu_samples = 0, web_drained_answers = 0, vault_eu_samples = 0, web_draining = 0;
  std::string drain_until;                      // web's status.rollout.drainUntil while Draining
  std::vector<std::string> web_bad, vault_bad;  // answers the rule forbids, with context
  std::string dig_answer;
  bool web_done = false, vault_done = false;
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(120'000), milliseconds(50),
      [&] {
        const json web = Rollout("web"), vault = Rollout("vault");
        const std::vector<std::string> web_answer = Paris("web"), vault_answer = Paris("vault");
        if (web.value("stageName", "") == "eu" && web.value("phase", "") == "Draining") {
          ++web_draining;
          drain_until = web.value("drainUntil", "");
          EXPECT_EQ(web.value("drained", json::array()).size(), 2u) << web.dump();
        }
        if (web.value("stageName", "") == "eu" && web.value("phase", "") == "Progressing") {
          ++web_eu_samples;
          EXPECT_EQ(web.value("drain", ""), "Drained");
          if (web_answer.size() == 1 && !eu_web.count(web_answer[0])) {
            if (++web_drained_answers == 1) {
              dig_answer = test_env::RunCommand(
                               std::string(kDig) + " @127.0.0.1 -p " + std::to_string(dns_port_) +
                               " +short +tries=1 +time=2 +subnet=81.1.2.0/24 web." + kZone)
                               .output;
            }
          }
          if (web_answer.empty()) web_bad.push_back("no answer during the EU stage");
        }
        if (vault.value("stageName", "") == "eu" && vault.value("phase", "") == "Progressing") {
          ++vault_eu_samples;
          EXPECT_EQ(vault.value("drain", ""), "OneAtATime");
          EXPECT_FALSE(vault.contains("drained")) << vault.dump();
          // One EU member always serves, and only EU members ever do.
          if (vault_answer.size() != 1 || !eu_vault.count(vault_answer[0])) {
            vault_bad.push_back(vault_answer.empty() ? "no answer" : vault_answer[0]);
          }
        }
        web_done = web_done || web.value("phase", "") == "Complete";
        vault_done = vault_done || vault.value("phase", "") == "Complete";
        return web_done && vault_done;
      }))
      << Fedctl("rollout status web -n shop").output
      << Fedctl("rollout status vault -n shop").output;

  // web: while its EU members changed, Paris was sent elsewhere (after the DNS controller
  // caught up with the drain), and is answered by eu-west-1 again once the stage passed.
  EXPECT_GT(web_eu_samples, 5);
  EXPECT_GT(web_drained_answers, 0) << web_eu_samples << " samples during the EU stage";
  EXPECT_TRUE(web_bad.empty()) << web_bad.front();
  EXPECT_NE(dig_answer, "") << "dig +subnet= from Paris during the drain";
  EXPECT_EQ(eu_web.count(dig_answer.substr(0, dig_answer.find('\n'))), 0u) << dig_answer;
  EXPECT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50),
                                  [] { return Paris("web") == Address("eu-west-1", "web"); }));
  EXPECT_TRUE(HasEvent("web", "RolloutDrained"));
  EXPECT_TRUE(HasEvent("web", "RolloutDraining"));
  EXPECT_TRUE(HasEvent("web", "RolloutDrainRestored"));
  // The TTL wait: drained, then neither EU member got a new pod before drainUntil (the drain
  // plus the name's 5 s TTL; membersim stamps pods with the same machine's clock).
  EXPECT_GT(web_draining, 5) << "samples while Draining";
  const int64_t until_ms = EpochMs(drain_until);
  ASSERT_GT(until_ms, 0) << "drainUntil \"" << drain_until << "\"";
  for (const char* member : {"eu-west-1", "eu-central-1"}) {
    const auto pod = FirstPod(member, "web", v2);
    ASSERT_GT(pod.first, 0) << member;
    EXPECT_GE(pod.first, until_ms)
        << member << "'s first new pod was bound before drainUntil " << drain_until;
  }

  // vault: not drained, one member at a time, an EU member answering throughout.
  EXPECT_GT(vault_eu_samples, 5);
  EXPECT_TRUE(vault_bad.empty()) << vault_bad.size() << " bad answers, first " << vault_bad.front();
  EXPECT_TRUE(HasEvent("vault", "RolloutNotDrained"));
  EXPECT_FALSE(HasEvent("vault", "RolloutDrained"));
  const auto first = FirstPod("eu-central-1", "vault", v2);  // name order: changed first
  const auto second = FirstPod("eu-west-1", "vault", v2);
  ASSERT_GT(first.second, 0);
  ASSERT_GT(second.first, 0);
  EXPECT_GE(second.first, first.second)
      << "eu-west-1 got the new image (pod bound at " << second.first
      << " ms) before eu-central-1 ran it ready (" << first.second << " ms)";
}

}  // namespace
}  // namespace meridian
