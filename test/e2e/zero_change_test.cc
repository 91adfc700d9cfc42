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
//      CronJob without its schedule is refused at apply, the field named;
//   4. a custom resource (a CRD registered with the federation) selected by a policy: its CRD
//      is put on the selected members first, then the object, which is updated and removed
//      like any placed object; each member's outcome (applied, or why not) is on the object;
//      a member whose own CRD of that name serves something else is refused, not overwritten;
//   5. a custom resource with a ResourceInterpreter (replicasPath, readyReplicasPath,
//      readyCondition, statusAggregation): divided like a Deployment (10 -> 5 + 5), judged by
//      the rule and its status aggregated from what the members report; an interpreter whose
//      JSONPath does not parse is refused with the field named, nothing stored; the same rule
//      written on the policy (spec.interpreter) wins over the ResourceInterpreter and says so;
//   6. a custom object whose rule names its pod template (podTemplatePaths): the ConfigMap it
//      references follows it to exactly its members, and leaves when the rule stops naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/custom_resources.h"
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

  // One request with curl: the HTTP status and the parsed body (null when none). `token`:
  // a member's bearer token (the federation here takes none).
  static std::pair<int, json> Call(const std::string& method, const std::string& url,
                                   const json& body = json(), const std::string& token = "",
                                   const std::string& type = "application/json") {
    std::string cmd = "curl -sS --max-time 5 -w '\\n%{http_code}' -X " + method;
    if (!token.empty()) cmd += " -H 'Authorization: Bearer " + token + "'";
    if (!body.is_null()) {
      const std::filesystem::path file = dir_ / "body.json";
      test_env::WriteFile(file, body.dump());
      cmd += " -H 'Content-Type: " + type + "' --data-binary @" + file.string();
    }
    auto r = test_env::RunCommand(cmd + " '" + url + "'");
    const size_t nl = r.output.rfind('\n');
    if (nl == std::string::npos) return {0, json()};
    return {std::atoi(r.output.substr(nl + 1).c_str()),
            json::parse(r.output.substr(0, nl), nullptr, false)};
  }

  // Registers `crd` with the federation, waits until discovery serves `plural` under
  // example.com/v1, and creates namespace `ns` for its objects.
  static void ServeCustomKind(const json& crd, const std::string& plural, const std::string& ns) {
    const std::string api = fed_->api_url();
    auto created = Call("POST", api + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    ASSERT_EQ(created.first, 201) << created.second.dump();
    ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(100), [&] {
      return fed_->Api("/apis/example.com/v1").dump().find(plural) != std::string::npos;
    })) << plural << " never served";
    ASSERT_EQ(Call("POST", api + "/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
                  .first,
              201);
  }

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
  // Its status is the members' aggregate (sync/kind_health.h). membersim runs no DaemonSet
  // controller, so no member's copy reports a ready pod: not healthy, said per member.
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(200), [&] {
    ds = fed_->Api("/apis/apps/v1/namespaces/ops/daemonsets/node-agent");
    const json& conditions = ds.value("status", json::object()).value("conditions", json());
    if (!conditions.is_array() || conditions.empty()) return false;
    const std::string message = conditions.back().value("message", "");
    return message.find("eu-central-1: ") != std::string::npos &&
           message.find("eu-west-1: ") != std::string::npos;
  })) << ds.dump(2);
  EXPECT_EQ(ds["status"]["conditions"].back()["type"], "Healthy");
  EXPECT_EQ(ds["status"]["conditions"].back()["status"], "False");
  EXPECT_EQ(ds["status"].value("numberReady", int64_t{-1}), 0);

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

// A CustomResourceDefinition for the federation: `kind` in example.com, spec.size an integer
// (or, with `size_type`, whatever the member's own definition says).
json Definition(const std::string& kind, const std::string& size_type = "integer") {
  return test_env::ExampleCustomResourceDefinition(kind, {{"size", {{"type", size_type}}}});
}

TEST_F(ZeroChangeE2E, CustomResourceIsPlacedWithItsDefinitionUpdatedAndRemoved) {
  const std::string api = fed_->api_url();
  const std::string crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  // us-east-1 already has a gizmos.example.com of its own, serving spec.size as a string.
  auto own = Call("POST", fed_->sim_url() + "/clusters/us-east-1" + crds,
                  Definition("Gizmo", "string"), tokens_["us-east-1"]);
  ASSERT_EQ(own.first, 201) << own.second.dump();
  for (const char* kind : {"Widget", "Gizmo"}) {
    auto created = Call("POST", api + crds, Definition(kind));
    ASSERT_EQ(created.first, 201) << created.second.dump();
  }
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(100), [&] {
    return fed_->Api("/apis/example.com/v1").is_object() &&
           fed_->Api("/apis/example.com/v1")["resources"].size() >= 2;
  }));
  ASSERT_EQ(Call("POST", api + "/api/v1/namespaces",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "lab"}}}})
                .first,
            201);
  const std::string widgets = "/apis/example.com/v1/namespaces/lab/widgets";
  const std::string gizmos = "/apis/example.com/v1/namespaces/lab/gizmos";
  auto w = Call("POST", api + widgets,
                {{"apiVersion", "example.com/v1"},
                 {"kind", "Widget"},
                 {"metadata", {{"name", "big"}}},
                 {"spec", {{"size", 3}}}});
  ASSERT_EQ(w.first, 201) << w.second.dump();
  auto g = Call("POST", api + gizmos,
                {{"apiVersion", "example.com/v1"},
                 {"kind", "Gizmo"},
                 {"metadata", {{"name", "small"}}},
                 {"spec", {{"size", 1}}}});
  ASSERT_EQ(g.first, 201) << g.second.dump();

  // A policy selecting a custom kind no CRD serves: refused, the field named, nothing stored.
  const std::string policies =
      "/apis/federation.meridian.io/v1alpha1/namespaces/lab/placementpolicies";
  auto policy = [](const std::string& name, const std::string& kind, const std::string& where) {
    return json{
        {"apiVersion", "federation.meridian.io/v1alpha1"},
        {"kind", "PlacementPolicy"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"resourceSelectors", {{{"apiVersion", "example.com/v1"}, {"kind", kind}}}},
          {"placement", {{"clusterSelector", {{"matchLabels", {{"continent", where}}}}}}}}}};
  };
  auto refused = Call("POST", api + policies, policy("gadgets", "Gadget", "europe"));
  EXPECT_EQ(refused.first, 422) << refused.second.dump();
  EXPECT_NE(refused.second.dump().find("spec.resourceSelectors[0].kind"), std::string::npos)
      << refused.second.dump();
  EXPECT_NE(refused.second.dump().find("no CustomResourceDefinition"), std::string::npos);
  EXPECT_TRUE(fed_->Api(policies + "/gadgets").is_null());

  ASSERT_EQ(Call("POST", api + policies, policy("widgets", "Widget", "europe")).first, 201);
  ASSERT_EQ(Call("POST", api + policies, policy("gizmos", "Gizmo", "north-america")).first, 201);

  // Europe holds the Widget (and Meridian's CRD, Established); nobody else holds either.
  const std::set<std::string> europe = {"eu-west-1", "eu-central-1"};
  auto widgets_are = [&](int64_t size, std::string* last) {
    for (const Member& m : kMembers) {
      json crd = MemberGet(m.name, crds + "/widgets.example.com");
      json big = MemberGet(m.name, widgets + "/big");
      if (europe.count(m.name) == 0) {
        if (!crd.is_null() || !big.is_null()) {
          *last = m.name + " holds the Widget or its CRD but is not in Europe";
          return false;
        }
        continue;
      }
      if (!crd.is_object() || crd.empty() ||
          crd["metadata"]["labels"].value("federation.meridian.io/managed-by", "") != "meridian") {
        *last = m.name + ": no CRD widgets.example.com of Meridian's";
        return false;
      }
      if (!big.is_object() || big.empty() || big["spec"].value("size", int64_t{-1}) != size) {
        *last = m.name + ": no Widget big of size " + std::to_string(size) + ": " + big.dump();
        return false;
      }
    }
    return true;
  };
  std::string last;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(250),
                                  [&] { return widgets_are(3, &last); }))
      << last << Logs();
  json fed_big;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(200), [&] {
    fed_big = fed_->Api(widgets + "/big");
    return fed_big["metadata"]["annotations"].value("federation.meridian.io/member-status", "") ==
           "eu-central-1: applied; eu-west-1: applied";
  })) << fed_big.dump(2);
  EXPECT_EQ(fed_big["metadata"]["annotations"]["federation.meridian.io/placement"],
            "placed by PlacementPolicy lab/widgets (by kind, priority 0)");

  // us-west-1 gets the Gizmo; us-east-1's own CRD serves something else: refused there, said
  // on the object, its CRD untouched.
  json fed_small;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(250),
                                  [&] {
                                    fed_small = fed_->Api(gizmos + "/small");
                                    const std::string status =
                                        fed_small["metadata"]["annotations"].value(
                                            "federation.meridian.io/member-status", "");
                                    return status.find("us-west-1: applied") != std::string::npos &&
                                           status.find("us-east-1: error: ") != std::string::npos;
                                  }))
      << fed_small.dump(2) << Logs();
  EXPECT_NE(fed_small.dump().find("spec.versions[v1].schema differs"), std::string::npos)
      << fed_small.dump(2);
  EXPECT_FALSE(MemberGet("us-west-1", gizmos + "/small").is_null());
  EXPECT_TRUE(MemberGet("us-east-1", gizmos + "/small").is_null());
  json theirs = MemberGet("us-east-1", crds + "/gizmos.example.com");
  EXPECT_EQ(theirs["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                  ["properties"]["size"]["type"],
            "string");
  EXPECT_FALSE(theirs["metadata"]
                   .value("labels", json::object())
                   .contains("federation.meridian.io/managed-by"));

  // Converged means quiet: neither the object nor the CRD is rewritten while nothing changes.
  json before = MemberGet("eu-west-1", widgets + "/big");
  json crd_before = MemberGet("eu-west-1", crds + "/widgets.example.com");
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_EQ(MemberGet("eu-west-1", widgets + "/big")["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]);
  EXPECT_EQ(MemberGet("eu-west-1", crds + "/widgets.example.com")["metadata"]["resourceVersion"],
            crd_before["metadata"]["resourceVersion"]);

  // An update reaches the members.
  auto patched = Call("PATCH", api + widgets + "/big", {{"spec", {{"size", 5}}}}, "",
                      "application/merge-patch+json");
  ASSERT_EQ(patched.first, 200) << patched.second.dump();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(250),
                                  [&] { return widgets_are(5, &last); }))
      << last << Logs();

  // The policy goes: the Widgets go from the members; Meridian's CRD stays (deleting it would
  // delete every Widget there, Meridian's or not).
  ASSERT_EQ(Call("DELETE", api + policies + "/widgets").first, 200);
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(250), [&] {
    for (const std::string& m : europe) {
      if (!MemberGet(m, widgets + "/big").is_null()) return false;
    }
    return true;
  })) << Logs();
  for (const std::string& m : europe) {
    EXPECT_TRUE(MemberGet(m, crds + "/widgets.example.com").is_object()) << m;
  }
  EXPECT_EQ(
      fed_->Api(widgets + "/big")["metadata"]["annotations"]["federation.meridian.io/placement"],
      "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
}

// A CustomResourceDefinition of `kind` in example.com with these spec properties and a
// status subresource whose fields the members' controller (here: the test) reports.
json StatusDefinition(const std::string& kind, const json& spec_properties) {
  json crd = Definition(kind);
  json& version = crd["spec"]["versions"][0];
  version["subresources"] = {{"status", json::object()}};
  json& properties = version["schema"]["openAPIV3Schema"]["properties"];
  properties["spec"]["properties"] = spec_properties;
  properties["status"] = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  return crd;
}

// A PlacementPolicy placing every `kind` of example.com/v1 evenly on the two European members.
json EvenlyInEurope(const std::string& name, const std::string& kind) {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "PlacementPolicy"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"resourceSelectors", {{{"apiVersion", "example.com/v1"}, {"kind", kind}}}},
            {"placement",
             {{"clusterSelector", {{"matchLabels", {{"continent", "europe"}}}}},
              {"distribution", {{"weights", {{"eu-west", 1}, {"eu-central", 1}}}}}}}}}};
}

TEST_F(ZeroChangeE2E, CustomResourceWithAnInterpreterIsDividedJudgedAndAggregated) {
  const std::string api = fed_->api_url();
  const std::string interpreters = "/apis/federation.meridian.io/v1alpha1/resourceinterpreters";
  auto interpreter = [](const std::string& replicas_path, const std::string& aggregated) {
    return json{{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "ResourceInterpreter"},
                {"metadata", {{"name", "pipelines"}}},
                {"spec",
                 {{"target", {{"apiVersion", "example.com/v1"}, {"kind", "Pipeline"}}},
                  {"replicasPath", replicas_path},
                  {"readyCondition", "Ready"},
                  {"readyReplicasPath", ".status.readyReplicas"},
                  {"statusAggregation", {aggregated}}}}};
  };
  // Bad input: a JSONPath that does not parse is refused, the field named; nothing stored.
  for (const auto& [bad, field] : std::vector<std::pair<json, std::string>>{
           {interpreter(".spec.replicas[*]", ".status.processed"), "spec.replicasPath"},
           {interpreter(".spec.replicas", ".status..processed"), "spec.statusAggregation[0]"}}) {
    auto refused = Call("POST", api + interpreters, bad);
    EXPECT_EQ(refused.first, 422) << refused.second.dump();
    EXPECT_NE(refused.second.dump().find(field + ": at position"), std::string::npos)
        << refused.second.dump();
    EXPECT_TRUE(fed_->Api(interpreters + "/pipelines").is_null());
  }

  // A CRD with spec.replicas and a status subresource whose fields the members' controller
  // (here: this test) reports.
  const json crd = StatusDefinition(
      "Pipeline", {{"replicas", {{"type", "integer"}}}, {"image", {{"type", "string"}}}});
  ASSERT_NO_FATAL_FAILURE(ServeCustomKind(crd, "pipelines", "data"));
  ASSERT_EQ(
      Call("POST", api + interpreters, interpreter(".spec.replicas", ".status.processed")).first,
      201);
  const std::string pipelines = "/apis/example.com/v1/namespaces/data/pipelines";
  auto p = Call("POST", api + pipelines,
                {{"apiVersion", "example.com/v1"},
                 {"kind", "Pipeline"},
                 {"metadata", {{"name", "ingest"}}},
                 {"spec", {{"replicas", 10}, {"image", "ingest:1"}}}});
  ASSERT_EQ(p.first, 201) << p.second.dump();
  auto policy =
      Call("POST", api + "/apis/federation.meridian.io/v1alpha1/namespaces/data/placementpolicies",
           EvenlyInEurope("pipelines", "Pipeline"));
  ASSERT_EQ(policy.first, 201) << policy.second.dump();

  // Divided like a Deployment: 5 + 5 in Europe, read from the members; nobody else holds it.
  const std::map<std::string, int64_t> shares = {{"eu-west-1", 5}, {"eu-central-1", 5}};
  std::string last;
  ASSERT_TRUE(
      test_env::PollUntil(milliseconds(30000), milliseconds(250),
                          [&] {
                            for (const Member& m : kMembers) {
                              json got = MemberGet(m.name, pipelines + "/ingest");
                              auto share = shares.find(m.name);
                              if (share == shares.end()) {
                                if (!got.is_null()) {
                                  last = m.name + " holds the Pipeline but is not in Europe";
                                  return false;
                                }
                                continue;
                              }
                              if (!got.is_object() || got.empty() ||
                                  got["spec"].value("replicas", int64_t{-1}) != share->second ||
                                  got["spec"].value("image", "") != "ingest:1") {
                                last = m.name + ": " + got.dump();
                                return false;
                              }
                            }
                            return true;
                          }))
      << last << Logs();
  json fed_ingest = fed_->Api(pipelines + "/ingest");
  EXPECT_NE(fed_ingest["metadata"]["annotations"]
                .value("federation.meridian.io/placement", "")
                .find("interpreted by ResourceInterpreter pipelines"),
            std::string::npos)
      << fed_ingest.dump(2);
  EXPECT_EQ(fed_ingest["spec"]["replicas"], 10);  // the template keeps the whole count

  // Nothing reported yet: not healthy, each member named.
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(20000), milliseconds(200),
      [&] {
        fed_ingest = fed_->Api(pipelines + "/ingest");
        const json& c =
            fed_ingest.value("status", json::object()).value("conditions", json::array());
        return c.is_array() && !c.empty() && c[0].value("status", "") == "False" &&
               c[0].value("message", "").find("eu-west-1: condition Ready not reported") !=
                   std::string::npos;
      }))
      << fed_ingest.dump(2) << Logs();

  // The members' controllers report (this test plays them): ready, with their own counts.
  const std::map<std::string, int64_t> processed = {{"eu-west-1", 100}, {"eu-central-1", 250}};
  for (const auto& [name, processed_count] : processed) {
    const std::string member = name;
    const int64_t count = processed_count;
    ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(200), [&] {
      json live = MemberGet(member, pipelines + "/ingest");
      if (!live.is_object() || live.empty()) return false;
      live["status"] = {{"readyReplicas", 5},
                        {"processed", count},
                        {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
      return Call("PUT", fed_->sim_url() + "/clusters/" + member + pipelines + "/ingest/status",
                  live, tokens_[member])
                 .first == 200;
    })) << member;
  }
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(200),
                                  [&] {
                                    fed_ingest = fed_->Api(pipelines + "/ingest");
                                    const json status = fed_ingest.value("status", json::object());
                                    const json& c = status.value("conditions", json::array());
                                    return status.value("readyReplicas", int64_t{0}) == 10 &&
                                           status.value("processed", int64_t{0}) == 350 &&
                                           c.is_array() && !c.empty() &&
                                           c[0].value("status", "") == "True" &&
                                           c[0].value("message", "") == "ready on 2/2 members";
                                  }))
      << fed_ingest.dump(2) << Logs();
  // The binding's own status says the same: 10 ready.
  json binding = fed_->Api(
      "/apis/federation.meridian.io/v1alpha1/namespaces/data/federatedworkloads/"
      "pipeline.example.com-ingest");
  EXPECT_EQ(binding.value("status", json::object()).value("readyReplicas", int64_t{-1}), 10)
      << binding.dump(2);

  // One member falls behind: the aggregate says which, and how far.
  json live = MemberGet("eu-west-1", pipelines + "/ingest");
  live["status"]["readyReplicas"] = 2;
  ASSERT_EQ(Call("PUT", fed_->sim_url() + "/clusters/eu-west-1" + pipelines + "/ingest/status",
                 live, tokens_["eu-west-1"])
                .first,
            200);
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(200),
                                  [&] {
                                    fed_ingest = fed_->Api(pipelines + "/ingest");
                                    const json status = fed_ingest.value("status", json::object());
                                    const json& c = status.value("conditions", json::array());
                                    return status.value("readyReplicas", int64_t{0}) == 7 &&
                                           c.is_array() && !c.empty() &&
                                           c[0].value("message", "") ==
                                               "ready on 1/2 members; eu-west-1: 2/5 ready";
                                  }))
      << fed_ingest.dump(2) << Logs();

  // The rule may be written on the policy itself (spec.interpreter); a JSONPath that does not
  // parse is refused with the field named, and the stored policy is unchanged.
  const std::string policy_url =
      api + "/apis/federation.meridian.io/v1alpha1/namespaces/data/placementpolicies/pipelines";
  const json stored_policy = Call("GET", policy_url).second;
  auto refused = Call("PATCH", policy_url,
                      {{"spec", {{"interpreter", {{"replicasPath", ".spec.replicas[*]"}}}}}}, "",
                      "application/merge-patch+json");
  EXPECT_EQ(refused.first, 422) << refused.second.dump();
  EXPECT_NE(refused.second.dump().find("spec.interpreter.replicasPath: at position"),
            std::string::npos)
      << refused.second.dump();
  EXPECT_EQ(Call("GET", policy_url).second, stored_policy) << "nothing stored changed";
  // The policy's rule (readiness by the Ready condition alone) wins over the
  // ResourceInterpreter (which counted status.readyReplicas: 2/5 on eu-west-1), and the object
  // says which rule applies and over what.
  auto patched = Call("PATCH", policy_url,
                      {{"spec",
                        {{"interpreter",
                          {{"replicasPath", ".spec.replicas"},
                           {"readyCondition", "Ready"},
                           {"statusAggregation", {".status.processed"}}}}}}},
                      "", "application/merge-patch+json");
  ASSERT_EQ(patched.first, 200) << patched.second.dump();
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(20000), milliseconds(200),
      [&] {
        fed_ingest = fed_->Api(pipelines + "/ingest");
        const json& c =
            fed_ingest.value("status", json::object()).value("conditions", json::array());
        return fed_ingest["metadata"]["annotations"]
                       .value("federation.meridian.io/placement", "")
                       .find(
                           "interpreted by PlacementPolicy "
                           "data/pipelines's interpreter (over "
                           "ResourceInterpreter pipelines)") != std::string::npos &&
               c.is_array() && !c.empty() && c[0].value("message", "") == "ready on 2/2 members";
      }))
      << fed_ingest.dump(2) << Logs();
}

// A custom kind's dependencies (issue 18): the policy's interpreter names the pod template in
// the object (podTemplatePaths); the ConfigMap it references goes to exactly the members
// that run the object, and nowhere else — as a Deployment's does.
TEST_F(ZeroChangeE2E, CustomResourceDependenciesInItsPodTemplateFollowIt) {
  const std::string api = fed_->api_url();
  const json crd = StatusDefinition(
      "Feed", {{"replicas", {{"type", "integer"}}},
               {"podTemplate", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}});
  ASSERT_NO_FATAL_FAILURE(ServeCustomKind(crd, "feeds", "feeds"));
  ASSERT_EQ(Call("POST", api + "/api/v1/namespaces/feeds/configmaps",
                 {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", "feed-conf"}}},
                  {"data", {{"SOURCE", "kafka"}}}})
                .first,
            201);
  json policy = EvenlyInEurope("feeds", "Feed");
  policy["spec"]["interpreter"] = {{"replicasPath", ".spec.replicas"},
                                   {"podTemplatePaths", {".spec.podTemplate"}}};
  auto created =
      Call("POST", api + "/apis/federation.meridian.io/v1alpha1/namespaces/feeds/placementpolicies",
           policy);
  ASSERT_EQ(created.first, 201) << created.second.dump();
  const std::string feeds = "/apis/example.com/v1/namespaces/feeds/feeds";
  ASSERT_EQ(Call("POST", api + feeds,
                 {{"apiVersion", "example.com/v1"},
                  {"kind", "Feed"},
                  {"metadata", {{"name", "orders"}}},
                  {"spec",
                   {{"replicas", 4},
                    {"podTemplate",
                     {{"spec",
                       {{"containers",
                         {{{"name", "reader"},
                           {"image", "reader:1"},
                           {"envFrom", {{{"configMapRef", {{"name", "feed-conf"}}}}}}}}}}}}}}}})
                .first,
            201);
  const std::set<std::string> europe = {"eu-west-1", "eu-central-1"};
  std::string last;
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(30000), milliseconds(250),
      [&] {
        for (const Member& m : kMembers) {
          json feed = MemberGet(m.name, feeds + "/orders");
          json cm = MemberGet(m.name, "/api/v1/namespaces/feeds/configmaps/feed-conf");
          if ((feed.is_object() && feed.empty()) || (cm.is_object() && cm.empty())) {
            last = m.name + " did not answer";
            return false;
          }
          if (!europe.count(m.name)) {
            if (!feed.is_null() || !cm.is_null()) {
              last = m.name + " holds the Feed or its ConfigMap but is not in Europe";
              return false;
            }
            continue;
          }
          if (feed.is_null() || feed["spec"].value("replicas", int64_t{-1}) != 2) {
            last = m.name + ": " + feed.dump();
            return false;
          }
          if (cm.is_null() || cm.value("data", json::object()).value("SOURCE", "") != "kafka") {
            last = m.name + ": ConfigMap " + cm.dump();
            return false;
          }
        }
        return true;
      }))
      << last << Logs();
  // Without the rule's podTemplatePaths the ConfigMap is nobody's dependency: it leaves.
  auto patched = Call(
      "PATCH", api + "/apis/federation.meridian.io/v1alpha1/namespaces/feeds/placementpolicies/feeds",
      {{"spec", {{"interpreter", {{"replicasPath", ".spec.replicas"}, {"podTemplatePaths", nullptr}}}}}},
      "", "application/merge-patch+json");
  ASSERT_EQ(patched.first, 200) << patched.second.dump();
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(30000), milliseconds(250),
      [&] {
        for (const std::string& m : europe) {
          if (!MemberGet(m, "/api/v1/namespaces/feeds/configmaps/feed-conf").is_null()) {
            last = m + " still holds the ConfigMap";
            return false;
          }
          if (MemberGet(m, feeds + "/orders").is_null()) {
            last = m + " lost the Feed";
            return false;
          }
        }
        return true;
      }))
      << last << Logs();
}

// The replicas need not be at spec.replicas (a FlinkDeployment's are at
// spec.taskManager.replicas): the share goes to the interpreter's path on each member, and a
// readyCondition alone judges it.
TEST_F(ZeroChangeE2E, CustomResourceIsDividedAtTheInterpretersNestedReplicasPath) {
  const std::string api = fed_->api_url();
  const json crd = StatusDefinition(
      "Stream",
      {{"workers", {{"type", "object"}, {"properties", {{"count", {{"type", "integer"}}}}}}}});
  ASSERT_NO_FATAL_FAILURE(ServeCustomKind(crd, "streams", "flow"));
  auto interpreter =
      Call("POST", api + "/apis/federation.meridian.io/v1alpha1/resourceinterpreters",
           {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "ResourceInterpreter"},
            {"metadata", {{"name", "streams"}}},
            {"spec",
             {{"target", {{"apiVersion", "example.com/v1"}, {"kind", "Stream"}}},
              {"replicasPath", ".spec.workers.count"},
              {"readyCondition", "Ready"}}}});
  ASSERT_EQ(interpreter.first, 201) << interpreter.second.dump();
  const std::string streams = "/apis/example.com/v1/namespaces/flow/streams";
  ASSERT_EQ(Call("POST", api + streams,
                 {{"apiVersion", "example.com/v1"},
                  {"kind", "Stream"},
                  {"metadata", {{"name", "clicks"}}},
                  {"spec", {{"workers", {{"count", 6}}}}}})
                .first,
            201);
  ASSERT_EQ(
      Call("POST", api + "/apis/federation.meridian.io/v1alpha1/namespaces/flow/placementpolicies",
           EvenlyInEurope("streams", "Stream"))
          .first,
      201);
  const std::vector<std::string> europe = {"eu-west-1", "eu-central-1"};
  std::string last;
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(30000), milliseconds(250),
      [&] {
        for (const std::string& m : europe) {
          json got = MemberGet(m, streams + "/clicks");
          // The share is at the interpreter's path (a spec.replicas would be pruned by the
          // member's copy of the CRD anyway: it does not declare one).
          if (!got.is_object() || got.empty() || got["spec"].contains("replicas") ||
              got["spec"].value("workers", json::object()).value("count", int64_t{-1}) != 3) {
            last = m + ": " + got.dump();
            return false;
          }
        }
        return true;
      }))
      << last << Logs();
  for (const std::string& m : europe) {
    json live = MemberGet(m, streams + "/clicks");
    live["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
    ASSERT_EQ(Call("PUT", fed_->sim_url() + "/clusters/" + m + streams + "/clicks/status", live,
                   tokens_[m])
                  .first,
              200)
        << m;
  }
  json fed_clicks;
  ASSERT_TRUE(test_env::PollUntil(
      milliseconds(20000), milliseconds(200),
      [&] {
        fed_clicks = fed_->Api(streams + "/clicks");
        const json& c =
            fed_clicks.value("status", json::object()).value("conditions", json::array());
        return c.is_array() && !c.empty() && c[0].value("status", "") == "True" &&
               c[0].value("message", "") == "ready on 2/2 members";
      }))
      << fed_clicks.dump(2) << Logs();
  // The federation's object is the template as written: the whole count, at its own path.
  EXPECT_EQ(fed_clicks["spec"], json({{"workers", {{"count", 6}}}}));
}

}  // namespace
}  // namespace meridian
