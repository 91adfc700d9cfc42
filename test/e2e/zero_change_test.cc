// Zero-change adoption end to end (issue 18): membersim with the five clusters of
// examples/topology-3-continents.yaml (each with its own token, pods Ready 1 s after binding)
// and the federation-apiserver with every controller, as real processes on loopback. The
// unchanged app of examples/zero-change/app.yaml and its one PlacementPolicy are applied with
// `kubectl apply -f examples/zero-change/` (`fedctl apply` where kubectl is not installed), and
// everything is checked from the members' side, as kubectl would see them:
//   1. the Deployment runs 5:3:2 (us-east-1, eu-west-1, ap-south-1), all ready; its ConfigMap
//      and Secret are in exactly those members; the federation's Deployment shows the
//      aggregate (and `kubectl rollout status` completes against the federation, when kubectl
//      is installed);
//   2. a ConfigMap change reaches those members;
//   3. an unchanged DaemonSet and CronJob (no replicas to divide) are copied to each member
//      their policy selects, with the ConfigMap the DaemonSet mounts, and nowhere else; a
//      CronJob without its schedule is refused at apply, the field named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

struct Member {
  std::string name, region, zones, jurisdiction, continent;
};
const std::vector<Member> kMembers = {
    {"us-east-1", "us-east", "us-east-1a,us-east-1b,us-east-1c", "us", "north-america"},
    {"us-west-1", "us-west", "us-west-1a,us-west-1b", "us", "north-america"},
    {"eu-west-1", "eu-west", "eu-west-1a,eu-west-1b,eu-west-1c", "eu", "europe"},
    {"eu-central-1", "eu-central", "eu-central-1a,eu-central-1b", "eu", "europe"},
    {"ap-south-1", "ap-south", "ap-south-1a,ap-south-1b", "in", "asia"},
};
const std::map<std::string, int64_t> kFiveThreeTwo = {
    {"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}};

class ZeroChangeE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-zero-change-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string topology =
        test_env::ReadFile(test_env::SourceDir() + "/examples/topology-3-continents.yaml");
    ASSERT_FALSE(topology.empty());
    const std::string config = test_env::TokenedMembersimConfig(topology, dir_, &tokens_);
    std::ofstream(dir_ / "membersim.yaml") << config;
    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start(
        {.bin_dir = test_env::BinDir(),
         .dir = dir_,
         .membersim_config = (dir_ / "membersim.yaml").string(),
         // This test is about placement, not detection: a loaded CI machine must not
         // declare a member down (its share would then be held elsewhere for the 60 s
         // recovery delay).
         .apiserver_flags = {"--controllers", "all", "--health-failure-threshold", "10"}},
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
                            m.jurisdiction + " --label tier=prod --label continent=" + m.continent);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }

  static void TearDownTestSuite() {
    fed_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A member's object straight from membersim: null when absent (404), an empty object when
  // the member did not answer.
  static json MemberGet(const std::string& member, const std::string& path) {
    auto r = test_env::RunCommand(
        "curl -sS --max-time 2 -w '\\n%{http_code}' -H 'Authorization: Bearer " + tokens_[member] +
        "' " + fed_->sim_url() + "/clusters/" + member + path);
    size_t nl = r.output.rfind('\n');
    std::string code = nl == std::string::npos ? "" : r.output.substr(nl + 1);
    if (code == "404") return json();
    if (code != "200") return json::object();
    return json::parse(r.output.substr(0, nl), nullptr, false);
  }

  // "" when every member runs exactly its share, all ready, and the ConfigMap and Secret are
  // in exactly the members that run it (with `log_level`); else what differs.
  static std::string Mismatch(const std::string& log_level) {
    for (const Member& m : kMembers) {
      json d = MemberGet(m.name, "/apis/apps/v1/namespaces/shop/deployments/web");
      json cm = MemberGet(m.name, "/api/v1/namespaces/shop/configmaps/web-config");
      json secret = MemberGet(m.name, "/api/v1/namespaces/shop/secrets/web-db");
      auto want = kFiveThreeTwo.find(m.name);
      if (want == kFiveThreeTwo.end()) {
        if (!d.is_null()) return m.name + " runs web but was not placed";
        if (!cm.is_null()) return m.name + " holds the ConfigMap but does not run web";
        if (!secret.is_null()) return m.name + " holds the Secret but does not run web";
        continue;
      }
      if (!d.is_object() || d.empty()) return m.name + ": no deployment";
      const int64_t spec = d["spec"].value("replicas", int64_t{-1});
      const int64_t ready = d.value("status", json::object()).value("readyReplicas", int64_t{0});
      if (spec != want->second || ready != want->second) {
        return m.name + ": spec " + std::to_string(spec) + ", ready " + std::to_string(ready) +
               ", want " + std::to_string(want->second);
      }
      if (!cm.is_object() || cm.empty()) return m.name + ": no ConfigMap";
      if (cm.value("data", json::object()).value("LOG_LEVEL", "") != log_level) {
        return m.name + ": ConfigMap LOG_LEVEL is not " + log_level;
      }
      if (!secret.is_object() || secret.empty()) return m.name + ": no Secret";
    }
    return "";
  }

  static bool HasKubectl() { return std::filesystem::exists("/usr/bin/kubectl"); }
  static std::string Kubectl() { return "/usr/bin/kubectl --server " + fed_->api_url() + " "; }

  static std::string Logs() {
    return "\n--- apiserver log (tail) ---\n" +
           test_env::RunCommand("tail -30 " + (dir_ / "apiserver.log").string()).output;
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
  static inline std::map<std::string, std::string> tokens_;
};

TEST_F(ZeroChangeE2E, UnchangedAppRunsFiveThreeTwoWithItsDependenciesAndAggregatedStatus) {
  const std::string example = test_env::SourceDir() + "/examples/zero-change/";
  // As a new user would: the whole folder with kubectl (fedctl, the existing client, where
  // the machine has no kubectl).
  auto r = HasKubectl() ? test_env::RunCommand(Kubectl() + "apply -f " + example + " 2>&1")
                        : fed_->Fedctl("apply -f " + example);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("deployment.apps/web created"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("placementpolicy.federation.meridian.io/web created"), std::string::npos)
      << r.output;

  std::string last;
  const bool converged = test_env::PollUntil(milliseconds(30000), milliseconds(250), [&] {
    last = Mismatch("info");
    return last.empty();
  });
  ASSERT_TRUE(converged) << last << Logs();

  // The federation's Deployment: the members' aggregate, its generation observed.
  json web;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(200), [&] {
    web = fed_->Api("/apis/apps/v1/namespaces/shop/deployments/web");
    return web.is_object() && web.contains("status") &&
           web["status"].value("readyReplicas", 0) == 10 &&
           web["status"].value("updatedReplicas", 0) == 10 &&
           web["status"].value("availableReplicas", 0) == 10 &&
           web["status"].value("observedGeneration", int64_t{0}) ==
               web["metadata"].value("generation", int64_t{-1});
  })) << web.dump(2);
  EXPECT_EQ(web["metadata"]["annotations"]["federation.meridian.io/placement"],
            "placed by PlacementPolicy shop/web (by label, priority 0)");
  json hpa = fed_->Api("/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web");
  EXPECT_EQ(hpa["metadata"]["annotations"]["federation.meridian.io/placement"],
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");

  // kubectl against the federation endpoint, when the machine has it.
  if (HasKubectl()) {
    const std::string kubectl = Kubectl() + "-n shop ";
    auto rollout =
        test_env::RunCommand(kubectl + "rollout status deployment/web --timeout=20s 2>&1");
    EXPECT_EQ(rollout.exit_code, 0) << rollout.output;
    EXPECT_NE(rollout.output.find("successfully rolled out"), std::string::npos) << rollout.output;
    auto get = test_env::RunCommand(kubectl + "get deploy web 2>&1");
    EXPECT_EQ(get.exit_code, 0) << get.output;
    EXPECT_NE(get.output.find("10/10"), std::string::npos) << get.output;
  }

  // A ConfigMap change reaches exactly those members.
  std::string app = test_env::ReadFile(example + "app.yaml");
  app = std::regex_replace(app, std::regex("LOG_LEVEL: info"), "LOG_LEVEL: debug");
  test_env::WriteFile(dir_ / "app.yaml", app);
  r = HasKubectl()
          ? test_env::RunCommand(Kubectl() + "apply -f " + (dir_ / "app.yaml").string() + " 2>&1")
          : fed_->Fedctl("apply -f " + (dir_ / "app.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const bool updated = test_env::PollUntil(milliseconds(20000), milliseconds(250), [&] {
    last = Mismatch("debug");
    return last.empty();
  });
  EXPECT_TRUE(updated) << last << Logs();
}

// Plain manifests of kinds with no spec.replicas, as a team applies them today.
constexpr char kOpsApp[] = R"(apiVersion: v1
kind: Namespace
metadata:
  name: ops
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: agent-config
  namespace: ops
data:
  INTERVAL: 10s
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
  namespace: ops
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      containers:
        - name: agent
          image: registry.example.com/node-agent:1.4
          volumeMounts: [{name: config, mountPath: /etc/agent}]
      volumes:
        - name: config
          configMap: {name: agent-config}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
  namespace: ops
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: registry.example.com/report:2.0
---
apiVersion: federation.meridian.io/v1alpha1
kind: PlacementPolicy
metadata:
  name: ops
  namespace: ops
spec:
  resourceSelectors:
    - {apiVersion: apps/v1, kind: DaemonSet}
    - {apiVersion: batch/v1, kind: CronJob}
  placement:
    clusterSelector: {matchLabels: {continent: europe}}
)";

TEST_F(ZeroChangeE2E, UnchangedDaemonSetAndCronJobAreCopiedToEachSelectedMember) {
  test_env::WriteFile(dir_ / "ops.yaml", kOpsApp);
  auto r =
      HasKubectl()
          ? test_env::RunCommand(Kubectl() + "apply -f " + (dir_ / "ops.yaml").string() + " 2>&1")
          : fed_->Fedctl("apply -f " + (dir_ / "ops.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Each European member holds one copy of each (and the ConfigMap the DaemonSet mounts);
  // the others hold none.
  const std::set<std::string> europe = {"eu-west-1", "eu-central-1"};
  std::string last;
  const bool converged = test_env::PollUntil(milliseconds(30000), milliseconds(250), [&] {
    for (const Member& m : kMembers) {
      json ds = MemberGet(m.name, "/apis/apps/v1/namespaces/ops/daemonsets/node-agent");
      json cj = MemberGet(m.name, "/apis/batch/v1/namespaces/ops/cronjobs/nightly-report");
      json cm = MemberGet(m.name, "/api/v1/namespaces/ops/configmaps/agent-config");
      if (europe.count(m.name) == 0) {
        if (!ds.is_null() || !cj.is_null() || !cm.is_null()) {
          last = m.name + " holds ops objects but is not in Europe";
          return false;
        }
        continue;
      }
      if (!ds.is_object() || ds.empty()) {
        last = m.name + ": no DaemonSet";
        return false;
      }
      if (ds["spec"].contains("replicas")) {
        last = m.name + ": the DaemonSet was given replicas";
        return false;
      }
      if (!cj.is_object() || cj.empty() || cj["spec"].value("schedule", "") != "0 3 * * *") {
        last = m.name + ": no CronJob with its schedule";
        return false;
      }
      if (!cm.is_object() || cm.empty()) {
        last = m.name + ": no ConfigMap agent-config";
        return false;
      }
    }
    return true;
  });
  ASSERT_TRUE(converged) << last << Logs();
  json ds = fed_->Api("/apis/apps/v1/namespaces/ops/daemonsets/node-agent");
  EXPECT_EQ(ds["metadata"]["annotations"]["federation.meridian.io/placement"],
            "placed by PlacementPolicy ops/ops (by kind, priority 0)");

  // A CronJob without its schedule: refused at apply, the field named, nothing stored.
  test_env::WriteFile(dir_ / "bad-cronjob.yaml", R"(apiVersion: batch/v1
kind: CronJob
metadata:
  name: no-schedule
  namespace: ops
spec:
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: registry.example.com/report:2.0}]
)");
  r = HasKubectl() ? test_env::RunCommand(Kubectl() + "apply -f " +
                                          (dir_ / "bad-cronjob.yaml").string() + " 2>&1")
                   : fed_->Fedctl("apply -f " + (dir_ / "bad-cronjob.yaml").string());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("spec.schedule"), std::string::npos) << r.output;
  EXPECT_TRUE(fed_->Api("/apis/batch/v1/namespaces/ops/cronjobs/no-schedule").is_null());
}

}  // namespace
}  // namespace meridian
