// Affinity groups end to end (issue 18): membersim with the five clusters of
// examples/topology-3-continents.yaml and the federation-apiserver with every controller, as
// real processes on loopback. Two unchanged Deployments labelled into one affinity group, each
// selected by its own PlacementPolicy (the cache's alone would spread it over all five
// members), are applied with `fedctl apply`; everything is checked from the members' side:
//   1. the cache runs exactly where web runs (us-east-1 and eu-west-1), nowhere else;
//   2. region us-east fails (membersim partitions it): web's replicas there go to the
//      nearest region (us-west-1), and the cache's go with them — the reachable members hold
//      both Deployments or neither, all ready;
//   3. a Deployment with an empty group name is refused at apply, the field named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

struct Member {
  std::string name, region, zones, jurisdiction;
};
const std::vector<Member> kMembers = {
    {"us-east-1", "us-east", "us-east-1a,us-east-1b,us-east-1c", "us"},
    {"us-west-1", "us-west", "us-west-1a,us-west-1b", "us"},
    {"eu-west-1", "eu-west", "eu-west-1a,eu-west-1b,eu-west-1c", "eu"},
    {"eu-central-1", "eu-central", "eu-central-1a,eu-central-1b", "eu"},
    {"ap-south-1", "ap-south", "ap-south-1a,ap-south-1b", "in"},
};

// Two Deployments of one application that must share a cluster, as a team writes them,
// plus the label that groups them; each placed by its own policy.
constexpr char kApp[] = R"(apiVersion: v1
kind: Namespace
metadata: {name: checkout}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: checkout
  labels: {app: web, federation.meridian.io/affinity-group: checkout}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  namespace: checkout
  labels: {app: cache, federation.meridian.io/affinity-group: checkout}
spec:
  replicas: 2
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: cache, image: "redis:7"}]
---
apiVersion: federation.meridian.io/v1alpha1
kind: PlacementPolicy
metadata: {name: web, namespace: checkout}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement:
    distribution: {weights: {us-east: 1, eu-west: 1}}
    failover: {overflow: nearest, recoveryDelaySeconds: 5}
---
apiVersion: federation.meridian.io/v1alpha1
kind: PlacementPolicy
metadata: {name: cache, namespace: checkout}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: cache}]
  placement:
    failover: {recoveryDelaySeconds: 5}
)";

class AffinityGroupE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-affinity-group-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string topology =
        test_env::ReadFile(test_env::SourceDir() + "/examples/topology-3-continents.yaml");
    ASSERT_FALSE(topology.empty());
    const std::string config = test_env::TokenedMembersimConfig(topology, dir_, &tokens_);
    std::ofstream(dir_ / "membersim.yaml") << config;
    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start({.bin_dir = test_env::BinDir(),
                             .dir = dir_,
                             .membersim_config = (dir_ / "membersim.yaml").string(),
                             .apiserver_flags = {"--controllers", "all"}},
                            &error))
        << error;
    ASSERT_EQ(fed_->Fedctl("apply -f " + test_env::SourceDir() +
                           "/examples/three-continents/topology.yaml")
                  .exit_code,
              0);
    for (const Member& m : kMembers) {
      auto r = fed_->Fedctl("join " + m.name + " --member-url " + fed_->sim_url() + "/clusters/" +
                            m.name + " --token-file " + (dir_ / (m.name + ".token")).string() +
                            " --region " + m.region + " --zones " + m.zones + " --jurisdiction " +
                            m.jurisdiction + " --label tier=prod");
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }

  static void TearDownTestSuite() {
    fed_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A member's Deployment straight from membersim: null when absent (404), an empty object
  // when the member did not answer.
  static json MemberDeployment(const std::string& member, const std::string& name) {
    auto r = test_env::RunCommand(
        "curl -sS --max-time 2 -w '\\n%{http_code}' -H 'Authorization: Bearer " + tokens_[member] +
        "' " + fed_->sim_url() + "/clusters/" + member +
        "/apis/apps/v1/namespaces/checkout/deployments/" + name);
    size_t nl = r.output.rfind('\n');
    std::string code = nl == std::string::npos ? "" : r.output.substr(nl + 1);
    if (code == "404") return json();
    if (code != "200") return json::object();
    return json::parse(r.output.substr(0, nl), nullptr, false);
  }

  // "" when, on each of `members` (every reachable member), web runs `web` replicas all
  // ready and the cache runs exactly where web does (its replicas ready, together `cache`),
  // and neither runs anywhere else; else what differs.
  static std::string Mismatch(const std::vector<std::string>& members,
                              const std::map<std::string, int64_t>& web, int64_t cache) {
    int64_t cache_total = 0;
    for (const std::string& m : members) {
      json w = MemberDeployment(m, "web");
      json c = MemberDeployment(m, "cache");
      if ((w.is_object() && w.empty()) || (c.is_object() && c.empty()))
        return m + " did not answer";
      auto want = web.find(m);
      if (want == web.end()) {
        if (!w.is_null()) return m + " runs web but should not";
        if (!c.is_null()) return m + " runs the cache without web";
        continue;
      }
      if (w.is_null()) return m + ": no web";
      if (c.is_null()) return m + ": web without its cache";
      const int64_t spec = w["spec"].value("replicas", int64_t{-1});
      const int64_t ready = w.value("status", json::object()).value("readyReplicas", int64_t{0});
      if (spec != want->second || ready != want->second) {
        return m + ": web spec " + std::to_string(spec) + ", ready " + std::to_string(ready) +
               ", want " + std::to_string(want->second);
      }
      const int64_t cache_spec = c["spec"].value("replicas", int64_t{-1});
      const int64_t cache_ready =
          c.value("status", json::object()).value("readyReplicas", int64_t{0});
      if (cache_spec < 1 || cache_ready != cache_spec) {
        return m + ": cache spec " + std::to_string(cache_spec) + ", ready " +
               std::to_string(cache_ready);
      }
      cache_total += cache_spec;
    }
    if (cache_total != cache) {
      return "the cache runs " + std::to_string(cache_total) + " replicas, want " +
             std::to_string(cache);
    }
    return "";
  }

  static std::string Logs() {
    return "\n--- apiserver log (tail) ---\n" +
           test_env::RunCommand("tail -30 " + (dir_ / "apiserver.log").string()).output;
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
  static inline std::map<std::string, std::string> tokens_;
};

TEST_F(AffinityGroupE2E, GroupRunsTogetherAndARegionFailureMovesItTogether) {
  test_env::WriteFile(dir_ / "app.yaml", kApp);
  auto r = fed_->Fedctl("apply -f " + (dir_ / "app.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const std::vector<std::string> all = {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1",
                                        "ap-south-1"};
  std::string last;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(250),
                                  [&] {
                                    last = Mismatch(all, {{"us-east-1", 3}, {"eu-west-1", 3}}, 2);
                                    return last.empty();
                                  }))
      << last << Logs();
  // The binding of the cache says how its group is placed.
  json binding = fed_->Api(test_env::WorkloadPath("checkout", "deployment-cache"));
  std::string affinity;
  for (const json& c : binding["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "AffinityGroup") affinity = c.value("message", "");
  }
  EXPECT_NE(affinity.find("with affinity group checkout"), std::string::npos) << binding.dump(2);

  // us-east fails: from the reachable members' side, web's three go to us-west-1 (nearest)
  // and the cache's replica goes with them; nothing appears where web does not run.
  auto fail = fed_->MembersimCtl("fail-region us-east");
  ASSERT_EQ(fail.exit_code, 0) << fail.output;
  struct Heal {
    ~Heal() { fed_->MembersimCtl("heal-region us-east"); }
  } heal;
  const std::vector<std::string> reachable = {"us-west-1", "eu-west-1", "eu-central-1",
                                              "ap-south-1"};
  ASSERT_TRUE(
      test_env::PollUntil(milliseconds(60000), milliseconds(250),
                          [&] {
                            last = Mismatch(reachable, {{"us-west-1", 3}, {"eu-west-1", 3}}, 2);
                            return last.empty();
                          }))
      << last << Logs();
}

TEST_F(AffinityGroupE2E, EmptyGroupNameIsRefusedWithTheFieldNamed) {
  test_env::WriteFile(dir_ / "bad.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: orphan
  namespace: checkout
  labels: {app: orphan, federation.meridian.io/affinity-group: ""}
spec:
  replicas: 1
  selector: {matchLabels: {app: orphan}}
  template:
    metadata: {labels: {app: orphan}}
    spec:
      containers: [{name: orphan, image: "nginx:1.27"}]
)");
  auto r = fed_->Fedctl("apply -f " + (dir_ / "bad.yaml").string());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("metadata.labels[federation.meridian.io/affinity-group]"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fed_->Api("/apis/apps/v1/namespaces/checkout/deployments/orphan").is_null())
      << "nothing stored";
}

}  // namespace
}  // namespace meridian
