// Failover end to end: membersim (six small members on three continents, pods Ready 1 s after
// binding) and the federation-apiserver (health monitor, placement and propagation with their
// default settings) as real processes on free loopback ports; faults injected with
// `membersim ctl`, results read from the federation API as a user would.
//
//   1. an EU-resident workload loses a zone: its replicas overflow to the remaining EU room
//      only, and the full count is ready again;
//   2. region us-east fails (API partitioned, zones down): its replicas go to the nearest
//      region by RTT (us-west), nowhere else;
//   3. the region comes back: replicas return only after the workload's recoveryDelaySeconds,
//      the member's own replicas never deleted (retained) and the ready count never dips;
//   4. one member is partitioned: its replicas are replaced elsewhere at once, the other
//      workloads are untouched, and when it heals its deployment is the same object;
//   5. residency with too little EU room: Degraded with the unplaced count and why, nothing
//      outside the EU;
//   and `fedctl what-if` answers without changing anything.
// One federation for the whole file (tests run in order and heal what they break).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

using test_env::Placement;

// Every node holds 10 replicas of 100m (1 cpu). EU room: eu-west-1 20, eu-central-1 20.
// Placement shares that room between the workloads, oldest first (crm, then web, then
// vault); only crm's pods request cpu, so membersim's own scheduler never refuses the others.
constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 1s
  podEvictionDelay: 2s
  node: {cpu: "1", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: us-west-1, region: us-west, jurisdiction: us, zones: [{name: us-west-1a, nodes: 1}]}
  - name: eu-west-1
    region: eu-west
    jurisdiction: eu
    zones: [{name: eu-west-1a, nodes: 1}, {name: eu-west-1b, nodes: 1}]
  - name: eu-central-1
    region: eu-central
    jurisdiction: eu
    zones: [{name: eu-central-1a, nodes: 1}, {name: eu-central-1b, nodes: 1}]
  - {name: ap-south-1, region: ap-south, jurisdiction: in, zones: [{name: ap-south-1a, nodes: 1}]}
)";

constexpr char kTopology[] = R"(apiVersion: federation.meridian.io/v1alpha1
kind: Topology
metadata: {name: default}
spec:
  regions:
    - {name: us-east, jurisdiction: us, rttMs: {us-west: 62, eu-west: 76, eu-central: 90, ap-south: 190}}
    - {name: us-west, jurisdiction: us, rttMs: {us-east: 62, eu-west: 135, eu-central: 145, ap-south: 220}}
    - {name: eu-west, jurisdiction: eu, rttMs: {eu-central: 18, us-east: 76, us-west: 135, ap-south: 120}}
    - {name: eu-central, jurisdiction: eu, rttMs: {eu-west: 18, us-east: 90, us-west: 145, ap-south: 110}}
    - {name: ap-south, jurisdiction: in, rttMs: {eu-central: 110, eu-west: 120, us-east: 190, us-west: 220}}
)";

std::string Members(int sim_port) {
  std::string out;
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> members = {
      {"us-east-1", "us-east", "us", "[us-east-1a]"},
      {"us-west-1", "us-west", "us", "[us-west-1a]"},
      {"eu-west-1", "eu-west", "eu", "[eu-west-1a, eu-west-1b]"},
      {"eu-central-1", "eu-central", "eu", "[eu-central-1a, eu-central-1b]"},
      {"ap-south-1", "ap-south", "in", "[ap-south-1a]"}};
  for (const auto& [name, region, jurisdiction, zones] : members) {
    out += "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
           "metadata: {name: " + name + "}\nspec:\n  server: http://127.0.0.1:" +
           std::to_string(sim_port) + "/clusters/" + name + "\n  region: " + region +
           "\n  jurisdiction: " + jurisdiction + "\n  zones: " + zones + "\n";
  }
  return out;
}

std::string WorkloadYaml(const std::string& ns, const std::string& name, int replicas,
                     const std::string& placement, bool requests = true) {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns +
         "}\n---\napiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
         "metadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  template:\n"
         "    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: " + name +
         "}\n    spec:\n      replicas: " + std::to_string(replicas) +
         "\n      selector: {matchLabels: {app: " + name + "}}\n      template:\n"
         "        metadata: {labels: {app: " + name + "}}\n        spec:\n          containers:\n"
         "            - name: main\n              image: example/" + name + ":1\n" +
         (requests ? "              resources: {requests: {cpu: 100m}}\n" : "") +
         "  placement: " + placement + "\n";
}

class FailoverE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("meridian-failover-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Write("membersim.yaml", kMembersim);
    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start({.bin_dir = test_env::BinDir(),
                             .dir = dir_,
                             .membersim_config = (dir_ / "membersim.yaml").string()},
                            &error))
        << error;
    const int sim_port = fed_->sim_port();

    Write("topology.yaml", kTopology);
    Write("members.yaml", Members(sim_port));
    ASSERT_EQ(Fedctl("apply -f " + (dir_ / "topology.yaml").string()).exit_code, 0);
    ASSERT_EQ(Fedctl("apply -f " + (dir_ / "members.yaml").string()).exit_code, 0);
    // crm: EU only, 3:1 eu-west:eu-central (12 + 4 of 16).
    Write("crm.yaml", WorkloadYaml("eu", "crm", 16,
                               "{residency: {jurisdictions: [eu]}, distribution: {weights: "
                               "{eu-west: 3, eu-central: 1}}, failover: {recoveryDelaySeconds: 3}}"));
    // web: us-east 4, us-west 2, eu-west 2, ap-south 2; eu-central takes only overflow.
    Write("web.yaml", WorkloadYaml("shop", "web", 10,
                               "{distribution: {weights: {us-east: 2, us-west: 1, eu-west: 1, "
                               "ap-south: 1}}, failover: {overflow: nearest, "
                               "recoveryDelaySeconds: 6}}",
                               /*requests=*/false));
    ASSERT_EQ(Fedctl("apply -f " + (dir_ / "crm.yaml").string()).exit_code, 0);
    ASSERT_EQ(Fedctl("apply -f " + (dir_ / "web.yaml").string()).exit_code, 0);
  }

  static void TearDownTestSuite() {
    fed_.reset();
    std::filesystem::remove_all(dir_);
  }

  static void Write(const std::string& file, const std::string& text) {
    test_env::WriteFile(dir_ / file, text);
  }
  static test_env::CommandResult Fedctl(const std::string& args) {
    return fed_->Fedctl(args);
  }
  static void Ctl(const std::string& args) {
    auto r = fed_->MembersimCtl(args);
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  // Runs `membersim ctl <heal>` when it goes out of scope, so a failed assertion does not
  // leave the fault in place for the next test.
  struct Heal {
    std::string args;
    ~Heal() {
      if (!args.empty()) {
        fed_->MembersimCtl(args);
      }
    }
  };
  static json Get(const std::string& path) { return fed_->Api(path); }
  static json Workload(const std::string& ns, const std::string& name) {
    return Get(test_env::WorkloadPath(ns, name));
  }
  static int64_t Ready(const json& w, const std::string& cluster = "") {
    return test_env::ReadyReplicas(w, cluster);
  }
  static std::string Condition(const json& o, const std::string& type, const char* field = "status") {
    if (!o.is_object() || !o.contains("status")) return "";
    for (const json& c : o["status"].value("conditions", json::array())) {
      if (c.value("type", "") == type) return c.value(field, "");
    }
    return "";
  }
  // Polls `done` every 100 ms for up to `limit`; the last workload read is left in *last.
  static bool WaitFor(const std::string& ns, const std::string& name, milliseconds limit,
                      const std::function<bool(const json&)>& done, json* last) {
    return test_env::PollUntil(limit, milliseconds(100), [&] {
      *last = Workload(ns, name);
      return done(*last);
    });
  }
  static bool AllReady(const json& w, int64_t n) {
    int64_t placed = 0;
    for (const auto& [c, r] : Placement(w)) placed += r;
    return placed == n && Ready(w) == n;
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
};

TEST_F(FailoverE2E, A_EuZoneFailureOverflowsWithinTheEuAndRecoversTheFullCount) {
  json w;
  ASSERT_TRUE(WaitFor("eu", "crm", milliseconds(30000), [](const json& x) { return AllReady(x, 16); }, &w))
      << w.dump(2);
  EXPECT_EQ(Placement(w), (std::map<std::string, int64_t>{{"eu-west-1", 12}, {"eu-central-1", 4}}));

  // eu-west-1 keeps one zone: room for 10 of its 12.
  Ctl("fail-zone eu-west-1 eu-west-1a");
  Heal heal{"heal-zone eu-west-1 eu-west-1a"};
  ASSERT_TRUE(WaitFor("eu", "crm", milliseconds(30000), [](const json& x) {
    auto p = Placement(x);
    return p["eu-west-1"] == 10 && p["eu-central-1"] == 6 && Ready(x) == 16;
  }, &w)) << w.dump(2);
  for (const auto& [cluster, n] : Placement(w)) {
    EXPECT_TRUE(cluster == "eu-west-1" || cluster == "eu-central-1") << cluster;
  }
  EXPECT_EQ(Condition(w, "Degraded"), "False");

  // The zone heals: after recoveryDelaySeconds (3 s) eu-west-1 takes its share back.
  Ctl("heal-zone eu-west-1 eu-west-1a");
  heal.args.clear();
  ASSERT_TRUE(WaitFor("eu", "crm", milliseconds(30000), [](const json& x) {
    auto p = Placement(x);
    return p["eu-west-1"] == 12 && p["eu-central-1"] == 4 && Ready(x) == 16;
  }, &w)) << w.dump(2);
}

TEST_F(FailoverE2E, B_RegionFailureOverflowsToTheNearestRegionThenReturnsAfterTheDelay) {
  json w;
  // While A's zone was down, crm (older) kept eu-west-1's last room, so web's two replicas
  // there overflowed to eu-central-1; they come back after web's recoveryDelaySeconds.
  const std::map<std::string, int64_t> healthy = {
      {"us-east-1", 4}, {"us-west-1", 2}, {"eu-west-1", 2}, {"ap-south-1", 2}};
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [&](const json& x) {
    return AllReady(x, 10) && Placement(x) == healthy;
  }, &w)) << w.dump(2);

  // what-if first: the same answer the controller will reach, and nothing changes.
  auto what_if = Fedctl("what-if --fail region=us-east");
  EXPECT_EQ(what_if.exit_code, 0) << what_if.output;
  EXPECT_NE(what_if.output.find("shop/web: 10 replicas"), std::string::npos) << what_if.output;
  EXPECT_NE(what_if.output.find("us-west-1"), std::string::npos) << what_if.output;
  EXPECT_EQ(Fedctl("what-if --fail zone=nowhere-1a").exit_code, 2);
  EXPECT_EQ(Placement(Workload("shop", "web")), healthy);

  const std::string deployment = fed_->sim_url() +
                                 "/clusters/us-east-1/apis/apps/v1/namespaces/shop/deployments/web";
  const json running = test_env::GetJson(deployment);
  ASSERT_TRUE(running.is_object()) << deployment;
  Ctl("fail-region us-east");
  Heal heal{"heal-region us-east"};
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Placement(x).count("us-east-1") == 0;
  }, &w)) << w.dump(2);
  auto after = Placement(w);
  EXPECT_EQ(after, (std::map<std::string, int64_t>{
                       {"us-west-1", 6}, {"eu-west-1", 2}, {"ap-south-1", 2}}))
      << "the nearest region (us-west, 62 ms) takes all four";
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Ready(x, "us-west-1") == 6;
  }, &w)) << w.dump(2);

  // Recovery: the member answers again (Reachable=True), but replicas stay away for the
  // workload's recoveryDelaySeconds (6 s).
  Ctl("heal-region us-east");
  heal.args.clear();
  steady_clock::time_point reachable_seen;
  {
    const auto deadline = steady_clock::now() + milliseconds(30000);
    json m;
    while (steady_clock::now() < deadline) {
      m = Get("/apis/federation.meridian.io/v1alpha1/memberclusters/us-east-1");
      if (Condition(m, "Reachable") == "True") break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_EQ(Condition(m, "Reachable"), "True") << m.dump(2);
    EXPECT_EQ(Condition(m, "Reachable", "reason"), "Recovered");
    reachable_seen = steady_clock::now();
  }
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Placement(x).count("us-east-1") > 0;
  }, &w)) << w.dump(2);
  const auto held = std::chrono::duration_cast<milliseconds>(steady_clock::now() - reachable_seen);
  // The transition time has one-second resolution and we saw it up to a probe late.
  EXPECT_GE(held.count(), 4000) << "replicas returned before recoveryDelaySeconds";
  // us-east-1's replicas were retained through the outage (never deleted): after the delay
  // it keeps its share of them and us-west-1 lets go of the replacements only once they are
  // ready there, so the ready count never dips.
  int64_t lowest_ready = 10;
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [&](const json& x) {
    lowest_ready = std::min(lowest_ready, Ready(x));
    return Placement(x) == healthy && Ready(x) == 10;
  }, &w)) << w.dump(2);
  EXPECT_EQ(lowest_ready, 10) << "the return cost availability";
  const json back = test_env::GetJson(deployment);
  ASSERT_TRUE(back.is_object());
  EXPECT_EQ(back["metadata"]["uid"], running["metadata"]["uid"]) << "deleted and recreated";
}

TEST_F(FailoverE2E, C_PartitionedMemberIsReplacedAtOnceAndOthersAreUntouched) {
  json w, crm;
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) { return AllReady(x, 10); }, &w))
      << w.dump(2);
  ASSERT_TRUE(WaitFor("eu", "crm", milliseconds(30000), [](const json& x) { return AllReady(x, 16); }, &crm))
      << crm.dump(2);
  const auto crm_before = Placement(crm);
  const std::string deployment = fed_->sim_url() +
                                 "/clusters/ap-south-1/apis/apps/v1/namespaces/shop/deployments/web";
  const json running = test_env::GetJson(deployment);
  ASSERT_TRUE(running.is_object()) << deployment;

  Ctl("partition ap-south-1");
  Heal heal{"heal ap-south-1"};
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Placement(x).count("ap-south-1") == 0;
  }, &w)) << w.dump(2);
  // ap-south's nearest region is eu-central (110 ms).
  EXPECT_EQ(Placement(w), (std::map<std::string, int64_t>{
                              {"us-east-1", 4}, {"us-west-1", 2}, {"eu-west-1", 2}, {"eu-central-1", 2}}));
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Ready(x, "eu-central-1") == 2;
  }, &w)) << w.dump(2);
  EXPECT_EQ(Placement(Workload("eu", "crm")), crm_before);
  json m = Get("/apis/federation.meridian.io/v1alpha1/memberclusters/eu-west-1");
  EXPECT_EQ(Condition(m, "Reachable"), "True");
  // What ap-south-1 ran is retained, not deleted: it may still be serving.
  EXPECT_NE(Workload("shop", "web")["status"].value("retained", json::array()).dump().find("ap-south-1"),
            std::string::npos) << Workload("shop", "web").dump(2);

  // The partition heals: its deployment is the same object (never deleted and recreated);
  // after web's recovery delay it keeps its share and eu-central-1's replacements go.
  Ctl("heal ap-south-1");
  heal.args.clear();
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return Placement(x).count("eu-central-1") == 0 && Placement(x)["ap-south-1"] == 2 &&
           Ready(x) == 10 && !x["status"].contains("retained");
  }, &w)) << w.dump(2);
  const json after = test_env::GetJson(deployment);
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after["metadata"]["uid"], running["metadata"]["uid"]) << "deleted and recreated";
}

TEST_F(FailoverE2E, D_ResidencyWithTooLittleEuRoomIsDegradedAndStaysInTheEu) {
  // No cpu requests: membersim can run them all; placement still counts 10 per node, and
  // the EU's 40 are shared: crm (16) and web (2 on eu-west-1) were there first.
  json crm, web;
  ASSERT_TRUE(WaitFor("eu", "crm", milliseconds(30000), [](const json& x) { return AllReady(x, 16); }, &crm))
      << crm.dump(2);
  // web back from C's partition (ap-south-1 returns after its delay): 2 in the EU.
  ASSERT_TRUE(WaitFor("shop", "web", milliseconds(30000), [](const json& x) {
    return AllReady(x, 10) && Placement(x) == std::map<std::string, int64_t>{
        {"us-east-1", 4}, {"us-west-1", 2}, {"eu-west-1", 2}, {"ap-south-1", 2}};
  }, &web)) << web.dump(2);
  Write("vault.yaml", WorkloadYaml("eu", "vault", 60, "{residency: {jurisdictions: [eu]}}", false));
  ASSERT_EQ(Fedctl("apply -f " + (dir_ / "vault.yaml").string()).exit_code, 0);
  json w;
  ASSERT_TRUE(WaitFor("eu", "vault", milliseconds(30000), [](const json& x) {
    return Condition(x, "Degraded") == "True";
  }, &w)) << w.dump(2);
  int64_t placed = 0;
  for (const auto& [cluster, n] : Placement(w)) {
    EXPECT_TRUE(cluster == "eu-west-1" || cluster == "eu-central-1") << cluster;
    placed += n;
  }
  EXPECT_EQ(placed, 40 - 16 - 2);
  EXPECT_EQ(w["status"].value("unplacedReplicas", 0), 38);
  const std::string why = Condition(w, "Degraded", "message");
  EXPECT_NE(why.find("38 of 60 unplaced"), std::string::npos) << why;
  EXPECT_NE(why.find("residency"), std::string::npos) << why;
  EXPECT_NE(why.find("capacity"), std::string::npos) << why;
  EXPECT_NE(w["status"].dump().find("used by other workloads"), std::string::npos) << w.dump(2);
  // The older workloads keep their room.
  EXPECT_EQ(Placement(Workload("eu", "crm")), Placement(crm));
  EXPECT_EQ(Placement(Workload("shop", "web")), Placement(web));
}

}  // namespace
}  // namespace meridian
