// Meridian against a real member (issue 17): an upstream kube-apiserver 1.20 built from
// Debian's `kubernetes` source package (test/common/kube_apiserver.h), joined with
// `fedctl join --kubeconfig` to a real federation-apiserver (health, placement and
// propagation controllers; propagation re-checks everything every kResyncMs). Three
// FederatedWorkloads (a Deployment whose template uses non-canonical quantities, an empty
// list and leaves defaulted fields out; a Service; a ConfigMap) are applied with fedctl.
//
//   1. the objects appear in the member as the server stores them, and every workload
//      reports the member synced;
//   2. no hot loop: once converged (and once the member's Deployment controller has written
//      its revision annotation and status), Meridian writes nothing to the member (counted
//      from the server's audit log, user "admin" of the kubeconfig) over many resyncs, and
//      the objects' resourceVersions and generation stay put;
//   3. a template change is written exactly once (one PATCH), then nothing again;
//   4. a hand edit (scale) is repaired with one write;
//   5. `fedctl unjoin --cleanup` deletes the namespace Meridian created and its objects, and
//      leaves a namespace that existed before Meridian placed into it (only its objects go).
// kube-controller-manager runs beside the server (deployment, replicaset, namespace, service
// account and garbage-collector controllers), so the member's own controllers write into the
// objects Meridian syncs (status, the revision annotation, ReplicaSets and their Pods) while
// Meridian must not write back.
// One federation and one member for the file; the cases run in order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/common/e2e_federation.h"
#include "test/common/kube_apiserver.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kMember[] = "real-1";
constexpr int kResyncMs = 300;

// The Deployment template as users write it: `cpu: 0.5` (a number), `1024Mi`, `"1.0"`, and
// `args: []`, which the server stores as "500m", "1Gi", "1" and no args; no strategy,
// revisionHistoryLimit, imagePullPolicy... (all defaulted by the server).
constexpr char kWorkloads[] = R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web, namespace: shop}
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, labels: {app: web}}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
            - name: web
              image: registry.example.com/shop/web:1.0
              args: []
              ports: [{containerPort: 8080}]
              resources:
                requests: {cpu: 0.5, memory: 1024Mi}
                limits: {cpu: "1.0"}
  placement: {}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web-svc, namespace: shop}
spec:
  template:
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
  placement: {}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web-config, namespace: shop}
spec:
  template:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
    data: {greeting: hello, replicas: "2"}
  placement: {}
)";

// A CRD whose structural schema the member publishes (issue 16: templates of a CRD kind are
// validated against the schema fetched from the member).
constexpr char kWidgetCrd[] = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
          "size": {"type": "integer", "minimum": 1},
          "color": {"type": "string", "enum": ["red", "blue"]}}}}}}}]}})";

struct MemberObject {
  std::string workload, path;
};
const std::vector<MemberObject> kObjects = {
    {"web", "/apis/apps/v1/namespaces/shop/deployments/web"},
    {"web-svc", "/api/v1/namespaces/shop/services/web"},
    {"web-config", "/api/v1/namespaces/shop/configmaps/web-config"},
};

class RealMemberE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-real-member-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string error;
    kube_ = std::make_unique<test_env::KubeApiServer>();
    // With kube-controller-manager: the member's own Deployment, ReplicaSet and namespace
    // controllers write into what Meridian syncs, as in a real cluster.
    ASSERT_TRUE(kube_->Start({.controller_manager = true}, &error)) << error;

    // The member's only node, in the zone the join declares (no kubelet: it stays Ready).
    auto node = kube_->Request(
        "POST", "/api/v1/nodes",
        {{"apiVersion", "v1"},
         {"kind", "Node"},
         {"metadata",
          {{"name", "node-a"}, {"labels", {{"topology.kubernetes.io/zone", "real-1a"}}}}},
         {"status",
          {{"allocatable", {{"cpu", "8"}, {"memory", "16Gi"}, {"pods", "110"}}},
           {"capacity", {{"cpu", "8"}, {"memory", "16Gi"}, {"pods", "110"}}},
           {"conditions",
            {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}}}}});
    ASSERT_EQ(node.code, 201) << node.body.dump();
    // The TaintNodesByCondition admission plugin taints a new node not-ready:NoSchedule; the
    // node lifecycle controller (not run here) lifts it once the node is Ready. Until then no
    // scheduler would place a pod there, and Meridian counts no room on it.
    auto untainted =
        kube_->Request("PATCH", "/api/v1/nodes/node-a", {{"spec", {{"taints", nullptr}}}});
    ASSERT_EQ(untainted.code, 200) << untainted.body.dump();
    // A CRD with a structural schema, before the join: the member's /openapi/v2 then has it.
    auto crd = kube_->Request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                              json::parse(kWidgetCrd));
    ASSERT_EQ(crd.code, 201) << crd.body.dump();
    ASSERT_TRUE(WaitFor(milliseconds(20000), [] {
      return kube_->Request("GET", "/apis/example.com/v1/widgets").code == 200;
    })) << "the Widget CRD was not served";
    // kube-apiserver publishes its schema in /openapi/v2 a moment later: join after that, so
    // the schemas fetched at join have it (a later CRD is seen on a refresh).
    ASSERT_TRUE(WaitFor(milliseconds(20000), [] {
      json doc = kube_->Request("GET", "/openapi/v2").body;
      return doc.is_object() &&
             doc.value("definitions", json::object()).contains("com.example.v1.Widget");
    })) << "the Widget CRD's schema was not published";

    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start(
        {.bin_dir = test_env::BinDir(),
         .dir = dir_,
         .membersim_config = "",  // the member is the real server
         .apiserver_flags = {"--controllers", "health,member-schemas,placement,propagation",
                             "--propagation-resync-ms", std::to_string(kResyncMs),
                             "--health-probe-interval-ms", "500"}},
        &error))
        << error;
    auto join =
        fed_->Fedctl(std::string("join ") + kMember + " --kubeconfig " + kube_->kubeconfig() +
                     " --region r-1 --zones real-1a --jurisdiction xx");
    ASSERT_EQ(join.exit_code, 0) << join.output;
    test_env::WriteFile(dir_ / "workloads.yaml", kWorkloads);
    auto apply = fed_->Fedctl("apply -f " + (dir_ / "workloads.yaml").string());
    ASSERT_EQ(apply.exit_code, 0) << apply.output;
  }

  static void TearDownTestSuite() {
    fed_.reset();
    kube_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes Meridian sent to the member: audit events of the kubeconfig's user "admin" that
  // change something (create, update, patch, delete), optionally only those on `path`.
  static std::vector<json> MeridianWrites(const std::string& path = "") {
    std::vector<json> out;
    for (const json& e : kube_->AuditEvents()) {
      const std::string verb = e.value("verb", "");
      if (e.value("stage", "") != "ResponseComplete") continue;
      if (e.value("user", json::object()).value("username", "") != "admin") continue;
      if (verb != "create" && verb != "update" && verb != "patch" && verb != "delete") continue;
      if (!path.empty() && e.value("requestURI", "").rfind(path, 0) != 0) continue;
      out.push_back(e);
    }
    return out;
  }
  // Health/capacity requests Meridian sent to the member so far, by "verb resource" ("list
  // nodes", "watch pods", "get /readyz"): audit events of user "admin" on Nodes, Pods and the
  // health endpoints, each request once (by auditID, whatever stages were logged).
  static std::map<std::string, int> HealthRequests() {
    std::map<std::string, int> out;
    std::set<std::string> seen;
    for (const json& e : kube_->AuditEvents()) {
      if (e.value("user", json::object()).value("username", "") != "admin") continue;
      if (!seen.insert(e.value("auditID", "")).second) continue;
      std::string uri = e.value("requestURI", "");
      uri = uri.substr(0, uri.find('?'));
      std::string what;
      if (uri == "/api/v1/nodes" || uri == "/api/v1/pods") {
        what = uri.substr(8);
      } else if (uri == "/readyz" || uri == "/healthz") {
        what = uri;
      } else {
        continue;
      }
      ++out[e.value("verb", "") + " " + what];
    }
    return out;
  }

  // "verb requestURI -> code" of an audit event.
  static std::string Line(const json& e) {
    return e.value("verb", "") + " " + e.value("requestURI", "") + " -> " +
           std::to_string(e.value("responseStatus", json::object()).value("code", 0));
  }
  static std::string Describe(const std::vector<json>& writes) {
    std::string out;
    for (const json& w : writes) out += "  " + Line(w) + "\n";
    return out;
  }

  // resourceVersion and generation of each member object ("" when absent).
  static std::map<std::string, std::string> Versions() {
    std::map<std::string, std::string> out;
    for (const MemberObject& o : kObjects) {
      json live = kube_->Get(o.path);
      json meta = live.is_object() ? live.value("metadata", json::object()) : json::object();
      out[o.path] = meta.value("resourceVersion", "") + "/" +
                    std::to_string(meta.value("generation", int64_t{0}));
    }
    return out;
  }

  // "" when the workload's status reports the member synced without error; else what it says.
  static std::string NotSynced(const std::string& workload) {
    json w = fed_->Api(test_env::WorkloadPath("shop", workload));
    if (!w.is_object()) return workload + ": not readable";
    for (const json& c : w.value("status", json::object()).value("clusters", json::array())) {
      if (c.value("cluster", "") != kMember) continue;
      if (c.value("synced", false) && c.value("lastError", "").empty()) return "";
      return workload + ": synced=false, lastError " + c.value("lastError", "");
    }
    return workload + ": no status for " + kMember + " yet";
  }
  static std::string AnyNotSynced() {
    for (const MemberObject& o : kObjects) {
      if (std::string why = NotSynced(o.workload); !why.empty()) return why;
    }
    return "";
  }
  static bool HasSyncLoop(const std::string& workload) {
    json w = fed_->Api(test_env::WorkloadPath("shop", workload));
    if (!w.is_object()) return false;
    for (const json& c : w.value("status", json::object()).value("conditions", json::array())) {
      if (c.value("type", "") == "SyncLoop" && c.value("status", "") == "True") return true;
    }
    return false;
  }

  static bool WaitFor(milliseconds limit, const std::function<bool()>& done) {
    return test_env::PollUntil(limit, milliseconds(100), done) || done();
  }
  static std::string Logs() {
    return "\n--- federation-apiserver log (tail) ---\n" +
           test_env::RunCommand("tail -40 " + (dir_ / "apiserver.log").string()).output +
           "--- kube-apiserver log (tail) ---\n" + kube_->LogTail(20) +
           "--- Meridian's writes to the member ---\n" + Describe(MeridianWrites());
  }
  static json Deployment() { return kube_->Get(kObjects[0].path); }
  static json Container(const json& deployment) {
    try {
      return deployment.at("spec").at("template").at("spec").at("containers").at(0);
    } catch (const std::exception&) {
      return json::object();
    }
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::KubeApiServer> kube_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
};

TEST_F(RealMemberE2E, ObjectsAppearInTheMemberAndReportSynced) {
  ASSERT_TRUE(WaitFor(milliseconds(60'000), [] {
    for (const MemberObject& o : kObjects) {
      json live = kube_->Get(o.path);
      if (!live.is_object() || live.empty()) return false;
    }
    return true;
  })) << Logs();
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(20'000), [&] { return (why = AnyNotSynced()).empty(); }))
      << why << Logs();

  // Stored the server's way: canonical quantities, no empty args, defaults filled in.
  json c = Container(Deployment());
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "500m") << c.dump();
  EXPECT_EQ(c["resources"]["requests"]["memory"], "1Gi") << c.dump();
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1") << c.dump();
  EXPECT_FALSE(c.contains("args")) << c.dump();
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent") << c.dump();
  json svc = kube_->Get(kObjects[1].path);
  EXPECT_FALSE(svc["spec"].value("clusterIP", "").empty()) << svc.dump();
  EXPECT_EQ(svc["spec"]["ports"][0]["protocol"], "TCP") << svc.dump();
  EXPECT_EQ(kube_->Get(kObjects[2].path)["data"]["greeting"], "hello");
  // Room from the real Node (8 cpu, 16Gi, 110 pods; no pods bound, no scheduler here):
  // 8000m / 100m = 80 reference replicas; min(8000m / 500m, 16Gi / 1Gi) = 16 of web's pods.
  json mc =
      fed_->Api(std::string("/apis/federation.meridian.io/v1alpha1/memberclusters/") + kMember);
  json zone = mc.is_object() ? mc["status"]["zones"][0] : json::object();
  EXPECT_EQ(zone.value("allocatableReplicas", -1), 80) << mc.dump();
  EXPECT_EQ(zone["replicasByPodShape"].value("cpu=500m,memory=1073741824", -1), 16) << mc.dump();
  // The minimum: one create of the namespace and of each object, nothing else (not even a
  // create refused as AlreadyExists).
  std::multiset<std::string> want = {"create /api/v1/namespaces -> 201",
                                     "create /api/v1/namespaces/shop/configmaps -> 201",
                                     "create /api/v1/namespaces/shop/services -> 201",
                                     "create /apis/apps/v1/namespaces/shop/deployments -> 201"};
  std::multiset<std::string> got;
  for (const json& w : MeridianWrites()) got.insert(Line(w));
  EXPECT_EQ(got, want) << Describe(MeridianWrites());
}

TEST_F(RealMemberE2E, NoWritesOnceConverged) {
  std::string why;
  ASSERT_TRUE(WaitFor(milliseconds(20'000), [&] { return (why = AnyNotSynced()).empty(); }))
      << why << Logs();
  // The member's Deployment controller has had its say: the revision annotation, a
  // ReplicaSet, the status of this generation. Meridian must leave all of it alone.
  ASSERT_TRUE(WaitFor(milliseconds(20'000),
                      [] {
                        json d = Deployment();
                        if (!d.is_object() || d.empty()) return false;
                        const json& meta = d["metadata"];
                        const json status = d.value("status", json::object());
                        return meta.value("annotations", json::object())
                                   .contains("deployment.kubernetes.io/revision") &&
                               status.value("observedGeneration", int64_t{-1}) ==
                                   meta.value("generation", int64_t{0}) &&
                               status.value("replicas", 0) == 2 &&
                               status.value("updatedReplicas", 0) == 2;
                      }))
      << Deployment().dump() << Logs();
  json replica_sets = kube_->Get("/apis/apps/v1/namespaces/shop/replicasets");
  EXPECT_EQ(replica_sets.value("items", json::array()).size(), 1u) << replica_sets.dump();
  // The member's controllers settle (status writes end once every Pod exists, Pending).
  auto settled = Versions();
  ASSERT_TRUE(WaitFor(milliseconds(20'000), [&] {
    std::this_thread::sleep_for(milliseconds(kResyncMs * 3));
    auto now = Versions();
    return std::exchange(settled, now) == now;
  })) << Logs();
  const auto versions = Versions();
  const size_t writes = MeridianWrites().size();
  const std::map<std::string, int> health_before = HealthRequests();
  // Many resyncs (and health probes) go by; each re-checks every object against the member.
  std::this_thread::sleep_for(milliseconds(kResyncMs * 10));
  EXPECT_EQ(Versions(), versions) << Logs();
  EXPECT_EQ(MeridianWrites().size(), writes) << Logs();
  // Health and capacity come from Node/Pod watches (issue 17): the probes (every 500 ms)
  // send /readyz only, no LIST. Printed for docs/performance.md.
  std::map<std::string, int> health = HealthRequests();
  for (const auto& [what, n] : health_before) health[what] -= n;
  for (const auto& [what, n] : health) {
    std::printf("health/capacity requests in %d ms: %s %d\n", kResyncMs * 10, what.c_str(), n);
  }
  EXPECT_EQ(health["list nodes"], 0);
  EXPECT_EQ(health["list pods"], 0);
  EXPECT_GE(health["get /readyz"], 2);
  EXPECT_EQ(AnyNotSynced(), "");
  for (const MemberObject& o : kObjects) EXPECT_FALSE(HasSyncLoop(o.workload)) << o.workload;
}

TEST_F(RealMemberE2E, ATemplateChangeIsWrittenOnce) {
  const std::string path = kObjects[0].path;
  const json before = Deployment();
  ASSERT_TRUE(before.is_object() && !before.empty());
  const int64_t generation = before["metadata"].value("generation", int64_t{0});
  const size_t writes = MeridianWrites(path).size();

  std::string yaml = kWorkloads;
  yaml.replace(yaml.find("shop/web:1.0"), 12, "shop/web:2.0");
  test_env::WriteFile(dir_ / "workloads.yaml", yaml);
  auto apply = fed_->Fedctl("apply -f " + (dir_ / "workloads.yaml").string());
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  ASSERT_TRUE(WaitFor(milliseconds(15'000), [] {
    return Container(Deployment()).value("image", "") == "registry.example.com/shop/web:2.0";
  })) << Logs();
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(10'000), [&] { return (why = NotSynced("web")).empty(); }))
      << why;
  std::this_thread::sleep_for(milliseconds(kResyncMs * 10));

  auto after = MeridianWrites(path);
  ASSERT_EQ(after.size(), writes + 1) << Describe(after) << Logs();
  EXPECT_EQ(after.back().value("verb", ""), "patch") << Describe(after);
  const json now = Deployment();
  EXPECT_EQ(now["metadata"].value("generation", int64_t{0}), generation + 1) << now.dump();
  // Untouched: the quantities as the server stores them.
  EXPECT_EQ(Container(now)["resources"]["requests"]["cpu"], "500m");
}

TEST_F(RealMemberE2E, AHandEditIsRepairedWithOneWrite) {
  const std::string path = kObjects[0].path;
  const size_t writes = MeridianWrites(path).size();
  auto scaled = kube_->Request("PATCH", path, {{"spec", {{"replicas", 5}}}});
  ASSERT_EQ(scaled.code, 200) << scaled.body.dump();
  ASSERT_TRUE(WaitFor(milliseconds(10'000), [] {
    return Deployment()["spec"].value("replicas", 0) == 2;
  })) << Logs();
  std::this_thread::sleep_for(milliseconds(kResyncMs * 10));
  EXPECT_EQ(Deployment()["spec"].value("replicas", 0), 2);
  auto after = MeridianWrites(path);
  EXPECT_EQ(after.size(), writes + 1) << Describe(after) << Logs();
}

// spec.retainedPaths (issue 17) against the real server: the template's value is written on
// create only; the member's later value is kept through many resyncs and costs no write.
TEST_F(RealMemberE2E, ARetainedPathKeepsTheMembersValueWithoutWrites) {
  const std::string collection = "/api/v1/namespaces/shop/configmaps";
  const std::string path = collection + "/retained";
  // Creates are POSTs to the collection: count them around this test.
  auto creates = [&] {
    size_t n = 0;
    for (const json& e : MeridianWrites(collection)) {
      if (e.value("verb", "") == "create" && e.value("requestURI", "").rfind(path, 0) != 0) ++n;
    }
    return n;
  };
  const size_t creates_before = creates();
  test_env::WriteFile(dir_ / "retained.yaml", R"(apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: retained, namespace: shop}
spec:
  template:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: retained}
    data: {owned: by-meridian, tuned: from-template}
  retainedPaths: [/data/tuned]
  placement: {}
)");
  auto apply = fed_->Fedctl("apply -f " + (dir_ / "retained.yaml").string());
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  ASSERT_TRUE(WaitFor(milliseconds(15'000), [&] {
    json cm = kube_->Get(path);
    return cm.is_object() && cm.value("data", json::object()).value("tuned", "") == "from-template";
  })) << Logs();
  auto tuned = kube_->Request("PATCH", path, {{"data", {{"tuned", "by-member"}}}});
  ASSERT_EQ(tuned.code, 200) << tuned.body.dump();
  std::this_thread::sleep_for(milliseconds(kResyncMs * 10));
  const json cm = kube_->Get(path);
  EXPECT_EQ(cm["data"].value("tuned", ""), "by-member");
  EXPECT_EQ(cm["data"].value("owned", ""), "by-meridian");
  EXPECT_EQ(creates(), creates_before + 1) << Describe(MeridianWrites(collection));
  const std::vector<json> writes = MeridianWrites(path);
  EXPECT_TRUE(writes.empty()) << "no write after the create:\n" << Describe(writes) << Logs();
  // Gone again, so that the later tests see the suite's own objects only.
  auto del = fed_->Fedctl("delete -f " + (dir_ / "retained.yaml").string());
  EXPECT_EQ(del.exit_code, 0) << del.output;
  EXPECT_TRUE(WaitFor(milliseconds(15'000), [&] {
    return !kube_->Get(path).is_object() || kube_->Get(path).value("kind", "") != "ConfigMap";
  })) << Logs();
}

// A member HorizontalPodAutoscaler (kube-controller-manager's, enforcing its minReplicas)
// owns the Deployment's replicas: Meridian finds it by itself and leaves them alone, with no
// write and no fight (before, each side rewrote spec.replicas until the loop guard held).
// Once the autoscaler is gone, Meridian's share comes back.
TEST_F(RealMemberE2E, AMemberAutoscalerOwnsTheReplicasWithoutAFight) {
  const std::string path = kObjects[0].path;
  const int share = Deployment()["spec"].value("replicas", 0);
  ASSERT_GT(share, 0);
  const size_t writes = MeridianWrites(path).size();
  const json hpa = {
      {"apiVersion", "autoscaling/v1"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
        {"minReplicas", share + 2},
        {"maxReplicas", share + 4}}}};
  const std::string hpas = "/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers";
  auto created = kube_->Request("POST", hpas, hpa);
  ASSERT_EQ(created.code, 201) << created.body.dump();
  ASSERT_TRUE(WaitFor(milliseconds(20'000),
                      [&] { return Deployment()["spec"].value("replicas", 0) == share + 2; }))
      << "the autoscaler did not scale to its minimum" << Logs()
      << kube_->ControllerManagerLogTail(20);
  std::this_thread::sleep_for(milliseconds(kResyncMs * 10));
  EXPECT_EQ(Deployment()["spec"].value("replicas", 0), share + 2);
  const std::vector<json> after = MeridianWrites(path);
  EXPECT_EQ(after.size(), writes) << "no write while the autoscaler owns the replicas:\n"
                                  << Describe(after) << Logs();
  EXPECT_FALSE(HasSyncLoop("web"));

  auto deleted = kube_->Request("DELETE", hpas + "/web");
  ASSERT_EQ(deleted.code, 200) << deleted.body.dump();
  // Meridian reads the namespace's autoscalers again after its 10 s cache.
  EXPECT_TRUE(WaitFor(milliseconds(30'000),
                      [&] { return Deployment()["spec"].value("replicas", 0) == share; }))
      << "the share did not come back" << Logs();
}

// A FederatedWorkload of the CRD's kind: a typo, a wrong type and a kind no member serves are
// refused at admission with their paths (the schema is the member's, fetched by the
// member-schemas controller) and nothing is stored; the correct one is accepted and propagated.
TEST_F(RealMemberE2E, ACrdTemplateIsValidatedAgainstTheMembersSchema) {
  auto workload = [](const std::string& name, const std::string& kind, const json& spec) {
    return json{{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "FederatedWorkload"},
                {"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"spec",
                 {{"template",
                   {{"apiVersion", "example.com/v1"},
                    {"kind", kind},
                    {"metadata", {{"name", name}}},
                    {"spec", spec}}},
                  {"placement", json::object()}}}};
  };
  const std::string collection =
      "/apis/federation.meridian.io/v1alpha1/namespaces/shop/federatedworkloads";
  // POST with curl: the HTTP code and the answer.
  auto post = [&](const json& body, const std::string& query) {
    test_env::WriteFile(dir_ / "post.json", body.dump());
    test_env::CommandResult r = test_env::RunCommand(
        "curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' "
        "--data-binary @'" +
        (dir_ / "post.json").string() + "' '" + fed_->api_url() + collection + query + "'");
    const size_t nl = r.output.rfind('\n');
    return std::make_pair(nl == std::string::npos ? 0 : std::atoi(r.output.c_str() + nl + 1),
                          r.output.substr(0, nl == std::string::npos ? 0 : nl));
  };
  const json typo = workload("gadget", "Widget", {{"sizez", 3}});
  // The schemas are fetched at join; kube-apiserver publishes a new CRD's schema a moment
  // after it is established, and a template naming a kind not seen yet asks for a refresh.
  std::string last;
  ASSERT_TRUE(WaitFor(milliseconds(30000),
                      [&] {
                        last = post(typo, "?dryRun=All").second;
                        return last.find("unknown field") != std::string::npos;
                      }))
      << "the member's schema never refused the typo; last answer: " << last << Logs();

  auto [code, body] = post(typo, "");
  EXPECT_EQ(code, 422) << body;
  EXPECT_NE(body.find(R"(spec.template.spec.sizez: unknown field \"sizez\")"), std::string::npos)
      << body;
  EXPECT_NE(body.find("spec.template.spec.size: required"), std::string::npos) << body;
  std::tie(code, body) =
      post(workload("gadget", "Widget", {{"size", "3"}, {"color", "green"}}), "");
  EXPECT_EQ(code, 422) << body;
  EXPECT_NE(body.find("spec.template.spec.size: must be an integer, not a string"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("spec.template.spec.color: unsupported value"), std::string::npos) << body;
  std::tie(code, body) = post(workload("gadget", "Wigdet", {{"size", 3}}), "");
  EXPECT_EQ(code, 422) << body;
  EXPECT_NE(body.find("spec.template.kind: no member serves example.com/v1 Wigdet"),
            std::string::npos)
      << body;
  EXPECT_TRUE(fed_->Api(test_env::WorkloadPath("shop", "gadget")).is_null());  // nothing stored

  // Through fedctl, as a user would.
  test_env::WriteFile(dir_ / "typo.yaml", typo.dump());
  auto apply = fed_->Fedctl("apply -f " + (dir_ / "typo.yaml").string());
  EXPECT_NE(apply.exit_code, 0);
  EXPECT_NE(apply.output.find("spec.template.spec.sizez: unknown field"), std::string::npos)
      << apply.output;

  test_env::WriteFile(dir_ / "gadget.yaml",
                      workload("gadget", "Widget", {{"size", 3}, {"color", "blue"}}).dump());
  apply = fed_->Fedctl("apply -f " + (dir_ / "gadget.yaml").string());
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  const std::string member_path = "/apis/example.com/v1/namespaces/shop/widgets/gadget";
  ASSERT_TRUE(WaitFor(milliseconds(20000),
                      [&] {
                        json w = kube_->Get(member_path);
                        return w.is_object() &&
                               w.value("spec", json::object()).value("size", 0) == 3;
                      }))
      << "the Widget never reached the member" << Logs();
}

// Last: it unjoins the member.
TEST_F(RealMemberE2E, UnjoinCleanupRemovesOnlyTheNamespacesMeridianCreated) {
  auto keep = kube_->Request(
      "POST", "/api/v1/namespaces",
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "keep"}}}});
  ASSERT_EQ(keep.code, 201) << keep.body.dump();
  test_env::WriteFile(dir_ / "keep.yaml", R"(apiVersion: v1
kind: Namespace
metadata: {name: keep}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: kept-config, namespace: keep}
spec:
  template:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: kept-config}
    data: {a: b}
  placement: {}
)");
  auto apply = fed_->Fedctl("apply -f " + (dir_ / "keep.yaml").string());
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  const std::string kept_config = "/api/v1/namespaces/keep/configmaps/kept-config";
  ASSERT_TRUE(WaitFor(milliseconds(20'000), [&] {
    json cm = kube_->Get(kept_config);
    return cm.is_object() && !cm.empty();
  })) << Logs();
  // Meridian found "keep" and did not label it.
  EXPECT_FALSE(kube_->Get("/api/v1/namespaces/keep")["metadata"]
                   .value("labels", json::object())
                   .contains("federation.meridian.io/managed-by"));

  auto unjoin = fed_->Fedctl(std::string("unjoin ") + kMember + " --cleanup");
  ASSERT_EQ(unjoin.exit_code, 0) << unjoin.output << Logs();
  // Namespaces Meridian deleted: exactly the one it created.
  std::set<std::string> deleted_namespaces;
  for (const json& w : MeridianWrites("/api/v1/namespaces/")) {
    std::string uri = w.value("requestURI", "");
    uri = uri.substr(0, uri.find('?'));
    if (w.value("verb", "") == "delete" &&
        uri.find('/', std::string("/api/v1/namespaces/").size()) == std::string::npos) {
      deleted_namespaces.insert(uri);
    }
  }
  EXPECT_EQ(deleted_namespaces, (std::set<std::string>{"/api/v1/namespaces/shop"}))
      << unjoin.output << Describe(MeridianWrites());
  // shop goes (the member's namespace controller empties and removes it), keep stays with
  // only Meridian's object removed.
  EXPECT_TRUE(
      WaitFor(milliseconds(20'000), [] { return kube_->Get("/api/v1/namespaces/shop").is_null(); }))
      << kube_->Get("/api/v1/namespaces/shop").dump() << kube_->ControllerManagerLogTail();
  json kept = kube_->Get("/api/v1/namespaces/keep");
  ASSERT_TRUE(kept.is_object() && !kept.empty());
  EXPECT_FALSE(kept["metadata"].contains("deletionTimestamp")) << kept.dump();
  EXPECT_TRUE(kube_->Get(kept_config).is_null()) << unjoin.output;
}

}  // namespace
}  // namespace meridian
