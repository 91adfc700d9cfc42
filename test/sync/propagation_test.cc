// Propagation: the pure render/hash/resolve core (tables), and the controller against an
// in-process federation-apiserver (SQLite in a temp dir) with FakeMemberClients as members.
#include "sync/propagation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "api/codec.h"
#include "api/resource_interpreter.h"
#include "api/yaml.h"
#include "federation-apiserver/server.h"
#include "scheduling/placement_controller.h"
#include "sync/propagation_controller.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/counting_store.h"
#include "test/common/in_process_federation.h"
#include "test/common/interrupting_store.h"
#include "test/common/test_env.h"

namespace meridian::sync {
namespace {

using nlohmann::json;
using testing::FakeMemberClient;

const GroupVersionResource kDeployments{"apps", "v1", "deployments"};

api::FederatedWorkload MakeWorkload(json tmpl, std::vector<api::Override> overrides = {}) {
  api::FederatedWorkload w;
  w.metadata.name = "web";
  w.metadata.ns = "shop";
  w.spec.template_ = std::move(tmpl);
  w.spec.overrides = std::move(overrides);
  return w;
}

json DeploymentTemplate(int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"replicas", replicas},
            {"template", {{"spec", {{"containers", {{{"name", "web"}, {"image", "web:1"}}}}}}}}}}};
}

api::Override EuropeImage(const std::string& image) {
  api::Override o;
  o.cluster_selector.match_labels = {{"continent", "europe"}};
  o.patches = {
      {{"op", "replace"}, {"path", "/spec/template/spec/containers/0/image"}, {"value", image}}};
  return o;
}

// A custom object's binding with a ResourceInterpreter's rule (api/resource_interpreter.h):
// its template carries the whole count in spec.replicas, as the binding controller makes it.
api::FederatedWorkload Interpreted(const std::string& replicas_path) {
  api::FederatedWorkload w =
      MakeWorkload({{"apiVersion", "flink.apache.org/v1beta1"},
                    {"kind", "FlinkDeployment"},
                    {"spec", {{"replicas", 10}, {"taskManager", {{"cpu", 2}}}}}});
  w.metadata.annotations[api::kResourceInterpreterAnnotation] = json{
      {"name", "flink"},
      {"target", {{"apiVersion", "flink.apache.org/v1beta1"}, {"kind", "FlinkDeployment"}}},
      {"replicasPath", replicas_path}}.dump();
  return w;
}

TEST(RenderMemberObjectTest, Table) {
  struct Case {
    std::string name;
    api::FederatedWorkload workload;
    apimachinery::Labels cluster_labels;
    int64_t replicas;
    bool ok;
    std::function<void(const json&)> check;
  };
  json named = DeploymentTemplate(3);
  named["metadata"]["name"] = "frontend";
  json configmap = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"a", "b"}}}};
  api::Override broken;
  broken.patches = {{{"op", "replace"}, {"path", "/spec/nothing/here"}, {"value", 1}}};
  std::vector<Case> cases = {
      {"defaults",
       MakeWorkload(DeploymentTemplate(30)),
       {},
       7,
       true,
       [](const json& o) {
         EXPECT_EQ(o["metadata"]["name"], "web");
         EXPECT_EQ(o["metadata"]["namespace"], "shop");
         EXPECT_EQ(o["spec"]["replicas"], 7);
         EXPECT_EQ(o["metadata"]["labels"]["app"], "web");
         EXPECT_EQ(o["metadata"]["labels"][kManagedByLabel], "meridian");
         EXPECT_EQ(o["metadata"]["labels"][kWorkloadLabel], "shop.web");
         EXPECT_EQ(o["metadata"]["annotations"][kRenderedHashAnnotation].get<std::string>().size(),
                   16u);
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "web:1");
       }},
      {"template name kept",
       MakeWorkload(named),
       {},
       1,
       true,
       [](const json& o) { EXPECT_EQ(o["metadata"]["name"], "frontend"); }},
      {"no replicas in template: none added",
       MakeWorkload(configmap),
       {},
       1,
       true,
       [](const json& o) {
         EXPECT_FALSE(o.contains("spec"));
         EXPECT_EQ(o["data"]["a"], "b");
       }},
      {"matching override applied",
       MakeWorkload(DeploymentTemplate(30), {EuropeImage("web:eu")}),
       {{"continent", "europe"}},
       4,
       true,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "web:eu");
       }},
      {"other override ignored",
       MakeWorkload(DeploymentTemplate(30), {EuropeImage("web:eu")}),
       {{"continent", "asia"}},
       4,
       true,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "web:1");
       }},
      {"failing patch is an error",
       MakeWorkload(DeploymentTemplate(30), {broken}),
       {},
       4,
       false,
       nullptr},
      {"template without kind", MakeWorkload(json{{"apiVersion", "v1"}}), {}, 1, false, nullptr},
      {"interpreted: the share at the interpreter's replicasPath",
       Interpreted(".spec.taskManager.replicas"),
       {},
       4,
       true,
       [](const json& o) {
         EXPECT_FALSE(o["spec"].contains("replicas"));
         EXPECT_EQ(o["spec"]["taskManager"], json({{"replicas", 4}, {"cpu", 2}}));
       }},
      {"interpreted at spec.replicas: as any divided template",
       Interpreted(".spec.replicas"),
       {},
       4,
       true,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["replicas"], 4);
         EXPECT_EQ(o["spec"]["taskManager"], json({{"cpu", 2}}));
       }},
      {"interpreted: a path through a scalar is the member's error",
       Interpreted(".spec.taskManager.cpu.replicas"),
       {},
       4,
       false,
       nullptr},
      {"interpreted: an annotation that does not decode is an error",
       Interpreted("not a path"),
       {},
       4,
       false,
       nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<json> got = RenderMemberObject(c.workload, "m", c.cluster_labels, c.replicas);
    ASSERT_EQ(got.ok(), c.ok);
    if (!c.ok) {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    c.check(*got);
    EXPECT_EQ((*got)["metadata"]["annotations"][kRenderedHashAnnotation], RenderedHash(*got));
  }
}

TEST(RenderedHashTest, StableAndSensitive) {
  api::FederatedWorkload w = MakeWorkload(DeploymentTemplate(30));
  json a = RenderMemberObject(w, "m", {}, 5).value();
  json b = RenderMemberObject(w, "m", {}, 5).value();
  json c = RenderMemberObject(w, "m", {}, 6).value();
  EXPECT_EQ(RenderedHash(a), RenderedHash(b));
  EXPECT_NE(RenderedHash(a), RenderedHash(c));
  // Server fields and status do not count.
  json served = a;
  served["metadata"]["resourceVersion"] = "42";
  served["metadata"]["uid"] = "u";
  served["status"] = {{"readyReplicas", 5}};
  EXPECT_EQ(RenderedHash(served), RenderedHash(a));
}

// The maxRestarts gate's input: restarts of the pods that run the rendered template only.
TEST(RevisionRestartsTest, CountsThePodsOfTheRenderedTemplate) {
  const json rendered = json::parse(R"({"spec": {
      "selector": {"matchLabels": {"app": "web", "tier": "front"}},
      "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}}})");
  EXPECT_EQ(PodSelector(rendered), "app=web,tier=front");
  EXPECT_EQ(PodSelector(json::object()), "");
  auto pod = [](const std::string& image, const json& restarts) {
    json p = json::parse(R"({"spec": {"containers": [{"name": "app"}]},
                             "status": {"containerStatuses": [{"name": "app"}]}})");
    p["spec"]["containers"][0]["image"] = image;
    p["status"]["containerStatuses"][0]["restartCount"] = restarts;
    return p;
  };
  const std::vector<json> pods = {pod("web:2", 3), pod("web:2", 4), pod("web:1", 7),
                                  pod("web:2", "x"), json{{"spec", json::object()}}};
  EXPECT_EQ(RevisionRestarts(pods, rendered), 7);  // web:1 is the old revision's
  EXPECT_EQ(RevisionRestarts({}, rendered), 0);
  EXPECT_EQ(RevisionRestarts(pods, json::object()), 0);  // no pod template: nothing to match
}

TEST(NeedsUpdateTest, Table) {
  json rendered = RenderMemberObject(MakeWorkload(DeploymentTemplate(30)), "m", {}, 5).value();
  json defaulted = rendered;
  defaulted["metadata"]["resourceVersion"] = "7";
  defaulted["spec"]["revisionHistoryLimit"] = 10;
  defaulted["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";
  defaulted["status"] = {{"readyReplicas", 5}};
  json scaled = defaulted;
  scaled["spec"]["replicas"] = 99;
  json old_hash = defaulted;
  old_hash["metadata"]["annotations"][kRenderedHashAnnotation] = "0000000000000000";
  json no_annotation = defaulted;
  no_annotation["metadata"].erase("annotations");
  struct Case {
    std::string name;
    json live;
    bool want;
  };
  for (const Case& c : std::vector<Case>{{"same", rendered, false},
                                         {"member defaults", defaulted, false},
                                         {"edited by hand", scaled, true},
                                         {"other hash", old_hash, true},
                                         {"no hash", no_annotation, true}}) {
    EXPECT_EQ(NeedsUpdate(c.live, rendered), c.want) << c.name;
  }
  EXPECT_TRUE(IsManaged(rendered));
  EXPECT_FALSE(IsManaged(json{{"metadata", {{"name", "x"}}}}));
}

TEST(ResolveResourceTest, DiscoveryThenFallback) {
  EXPECT_EQ(ResolveResource("apps/v1", "Deployment", nullptr).value(), kDeployments);
  EXPECT_EQ(ResolveResource("v1", "Service", nullptr).value(),
            (GroupVersionResource{"", "v1", "services"}));
  EXPECT_EQ(ResolveResource("v1", "ConfigMap", nullptr).value(),
            (GroupVersionResource{"", "v1", "configmaps"}));
  EXPECT_EQ(ResolveResource("apps/v1", "StatefulSet", nullptr).value(),
            (GroupVersionResource{"apps", "v1", "statefulsets"}));
  // The kinds the federation serves as templates (api/native_kinds.h) that discovery may not
  // have listed yet.
  EXPECT_EQ(ResolveResource("apps/v1", "DaemonSet", nullptr).value(),
            (GroupVersionResource{"apps", "v1", "daemonsets"}));
  EXPECT_EQ(ResolveResource("batch/v1", "CronJob", nullptr).value(),
            (GroupVersionResource{"batch", "v1", "cronjobs"}));
  EXPECT_EQ(ResolveResource("networking.k8s.io/v1", "Ingress", nullptr).value(),
            (GroupVersionResource{"networking.k8s.io", "v1", "ingresses"}));
  EXPECT_EQ(ResolveResource("policy/v1", "PodDisruptionBudget", nullptr).value(),
            (GroupVersionResource{"policy", "v1", "poddisruptionbudgets"}));
  EXPECT_EQ(ResolveResource("example.com/v1", "Widget", nullptr).status().code(),
            StatusCode::kNotFound);
  DiscoveryInfo d;
  d.resources.push_back({{"example.com", "v1", "widgets"}, "Widget", true, {}, false});
  d.resources.push_back({{"example.com", "v1", "widgets/status"}, "Widget", true, {}, false});
  EXPECT_EQ(ResolveResource("example.com/v1", "Widget", &d).value(),
            (GroupVersionResource{"example.com", "v1", "widgets"}));
}

// ---- The controller ----

class PropagationControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
      FakeMemberClient::Options o;
      o.member = name;
      o.timeout = std::chrono::milliseconds(1500);
      fakes_[name] = std::make_shared<FakeMemberClient>(o);
    }
  }
  MemberClientFactory Factory() {
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<MemberClient>> {
      auto it = fakes_.find(m.metadata.name);
      if (it == fakes_.end()) return NotFoundError("no fake for " + m.metadata.name);
      return std::shared_ptr<MemberClient>(it->second);
    };
  }

  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }
  void Apply(const json& object) { federation_.Apply(object); }

  // Whether an Event in namespace shop satisfies `matches` within 2 s. The event recorder
  // writes from its own thread (it never blocks the controller), so this polls, bounded.
  bool EventRecorded(const std::function<bool(const json&)>& matches) {
    const auto& events = Info("v1", "Event");
    for (int i = 0; i < 200; ++i) {
      auto list = server_->objects().List(events, "shop", apimachinery::ListRequest{});
      if (!list.ok()) return false;
      for (const json& e : list.value()["items"]) {
        if (matches(e)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  void ExpectRestartsReadOnlyWhileNotReady(const std::string& kind,
                                           const GroupVersionResource& gvr);

  // Whether `done` holds within 10 s, polled (a started controller works on its own threads:
  // the bound is generous, what must happen decides).
  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  void ApplyExample() {
    for (const char* file : {"topology.yaml", "members.yaml", "workload.yaml"}) {
      federation_.ApplyFile(std::string("examples/three-continents/") + file);
    }
  }

  api::FederatedWorkload Workload() {
    auto got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "web");
    EXPECT_TRUE(got.ok());
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    EXPECT_TRUE(errors.empty());
    return w;
  }

  void Place() {
    scheduling::PlacementController placement(server_->objects(), clock_);
    ASSERT_TRUE(placement.ReconcileAll().ok());
  }

  // What placement writes when `member` drops out: shop/web's status.placement without it,
  // and (when `retained` > 0) that many replicas retained there.
  void PlaceWithout(const std::string& member, int64_t retained = 0) {
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    json w = server_->objects().Get(info, "shop", "web").value();
    json placement = json::array();
    for (const json& p : w["status"]["placement"]) {
      if (p["cluster"] != member) placement.push_back(p);
    }
    w["status"]["placement"] = placement;
    if (retained > 0) {
      w["status"]["retained"] = json::array({{{"cluster", member}, {"replicas", retained}}});
    }
    ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w, "status").ok());
  }

  // Every placed member holds the Deployment with exactly its replicas; the others none.
  void ExpectMembersMatchPlacement(int64_t total) {
    api::FederatedWorkload w = Workload();
    std::map<std::string, int64_t> placed;
    int64_t sum = 0;
    for (const auto& p : w.status.placement) placed[p.cluster] = p.replicas;
    for (const auto& [name, fake] : fakes_) {
      auto obj = fake->Object(kDeployments, "shop", "web");
      if (!placed.count(name)) {
        EXPECT_FALSE(obj.has_value()) << name;
        continue;
      }
      ASSERT_TRUE(obj.has_value()) << name;
      EXPECT_EQ((*obj)["spec"]["replicas"], placed[name]) << name;
      EXPECT_TRUE(IsManaged(*obj)) << name;
      sum += (*obj)["spec"]["replicas"].get<int64_t>();
    }
    EXPECT_EQ(sum, total);
  }

  static const api::Condition* Find(const api::FederatedWorkloadStatus& s,
                                    const std::string& type) {
    for (const auto& c : s.conditions) {
      if (c.type == type) return &c;
    }
    return nullptr;
  }

  test_env::InProcessFederation federation_{"propagation"};
  FakeClock& clock_ = federation_.clock();
  apiserver::FederationApiServer* server_ = &federation_.server();
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;
};

TEST_F(PropagationControllerTest, ThreeContinentsReachTheMembersAndReportReady) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ExpectMembersMatchPlacement(30);

  api::FederatedWorkload w = Workload();
  ASSERT_EQ(w.status.clusters.size(), w.status.placement.size());
  for (const auto& c : w.status.clusters) {
    EXPECT_TRUE(c.synced) << c.cluster << ": " << c.last_error;
  }
  ASSERT_NE(Find(w.status, "Synced"), nullptr);
  EXPECT_EQ(Find(w.status, "Synced")->status, "True");
  EXPECT_EQ(Find(w.status, "Ready")->status, "False");
  EXPECT_EQ(Find(w.status, "Placed")->status, "True");  // placement's condition is kept
  EXPECT_EQ(w.status.desired_replicas, 30);
  EXPECT_EQ(w.metadata.finalizers, std::vector<std::string>{kCleanupFinalizer});
  // Adding the finalizer is no spec change: what admission defaulted (spec.placement.failover)
  // is kept, so the generation stays where the create left it.
  EXPECT_EQ(w.metadata.generation, 1);
  EXPECT_EQ(w.status.observed_generation, 1);

  // The members report their pods ready.
  for (auto& [name, fake] : fakes_) {
    auto obj = fake->Object(kDeployments, "shop", "web");
    if (!obj) continue;
    (*obj)["status"] = {{"readyReplicas", (*obj)["spec"]["replicas"]}};
    fake->Apply(kDeployments, *obj);
  }
  ASSERT_TRUE(controller.ReconcileAll().ok());
  w = Workload();
  EXPECT_EQ(w.status.ready_replicas, 30);
  EXPECT_EQ(Find(w.status, "Ready")->status, "True");
  // Level-triggered and idempotent.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
  EXPECT_EQ(fakes_["us-east-1"]->CallCount(testing::Verb::kUpdate), 0);
  EXPECT_EQ(fakes_["us-east-1"]->CallCount(testing::Verb::kMergePatch), 0);
}

// Issue 23, the rollout's maxRestarts gate: while a Deployment of a workload with spec.rollout
// is not ready on a member, its pods are read (by the Deployment's selector) and the restarts
// of those running the template are reported; once it is ready, no pod is read.
// The restarts of the template's pods are read from the member only while the revision is not
// ready there, for a Deployment and a StatefulSet alike (the maxRestarts gate judges both).
void PropagationControllerTest::ExpectRestartsReadOnlyWhileNotReady(
    const std::string& kind, const GroupVersionResource& gvr) {
  ApplyExample();
  const auto& workloads = Info(api::kApiVersion, "FederatedWorkload");
  ASSERT_TRUE(server_->objects()
                  .Patch(workloads, "shop", "web", apimachinery::PatchType::kMergePatch,
                         R"({"spec": {"rollout": {"strategy": {"stages": [{"name": "all"}]}},
                                      "template": {"kind": ")" +
                             kind + R"("}}})")
                  .ok());
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  FakeMemberClient& us = *fakes_["us-east-1"];
  auto pod = [](const std::string& name, const std::string& image, int restarts) {
    json p = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": "shop", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web"}]},
        "status": {"containerStatuses": [{"name": "web"}]}})");
    p["metadata"]["name"] = name;
    p["spec"]["containers"][0]["image"] = image;
    p["status"]["containerStatuses"][0]["restartCount"] = restarts;
    return p;
  };
  const GroupVersionResource pods{"", "v1", "pods"};
  us.Apply(pods, pod("web-a", "registry.example.com/shop/web:1.0", 4));
  us.Apply(pods, pod("web-b", "registry.example.com/shop/web:1.0", 1));
  us.Apply(pods, pod("web-old", "registry.example.com/shop/web:0.9", 30));
  auto pod_lists = [&] {
    int n = 0;
    for (const auto& c : us.Calls()) n += c.verb == testing::Verb::kList && c.gvr == pods;
    return n;
  };
  auto restarts = [&] {
    for (const auto& c : Workload().status.clusters) {
      if (c.cluster == "us-east-1") return c.restarts;
    }
    return int64_t{-1};
  };
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(restarts(), 5);  // not ready yet: read; the old template's pod does not count
  EXPECT_GE(pod_lists(), 1);  // one per pass of the key (the create's echo is a second pass)

  auto d = us.Object(gvr, "shop", "web");
  ASSERT_TRUE(d.has_value()) << kind;
  const json replicas = (*d)["spec"]["replicas"];
  (*d)["status"] = {{"observedGeneration", (*d)["metadata"].value("generation", 1)},
                    {"replicas", replicas},
                    {"updatedReplicas", replicas},
                    {"readyReplicas", replicas},
                    {"availableReplicas", replicas}};
  us.Apply(gvr, *d);
  us.ClearCalls();
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(restarts(), 0);
  EXPECT_EQ(pod_lists(), 0);  // ready: nothing read
}

TEST_F(PropagationControllerTest, RestartsAreReadFromPodsOnlyWhileTheRevisionIsNotReady) {
  ExpectRestartsReadOnlyWhileNotReady("Deployment", kDeployments);
}

TEST_F(PropagationControllerTest, AStatefulSetsRestartsAreReadLikeADeployments) {
  ExpectRestartsReadOnlyWhileNotReady("StatefulSet", {"apps", "v1", "statefulsets"});
}

// Issue 14: data-bearing objects of a residency-bound namespace (ConfigMap, Secret, PVC —
// copied to every eligible member — and a StatefulSet's volumeClaimTemplates) are written only
// to members of allowed jurisdictions, with the same rule placement uses for replicas.
TEST_F(PropagationControllerTest, DataBearingObjectsOfAResidencyBoundWorkloadStayInTheEu) {
  for (const char* file : {"topology.yaml", "members.yaml"}) {
    federation_.ApplyFile(std::string("examples/three-continents/") + file);
  }
  Apply(json::parse(
      R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})"));
  federation_.ApplyFile("examples/eu-residency/residency-policy.yaml");
  const std::vector<std::pair<GroupVersionResource, json>> templates = {
      {{"", "v1", "configmaps"},
       json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap", "data": {"iban-format": "eu"}})")},
      {{"", "v1", "secrets"},
       json::parse(R"({"apiVersion": "v1", "kind": "Secret", "data": {"key": "czNjcmV0"}})")},
      {{"", "v1", "persistentvolumeclaims"},
       json::parse(R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})")},
      {{"apps", "v1", "statefulsets"},
       json::parse(R"({"apiVersion": "apps/v1", "kind": "StatefulSet",
         "spec": {"replicas": 4, "serviceName": "ledger-db",
                  "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})")},
  };
  for (size_t i = 0; i < templates.size(); ++i) {
    json w = {{"apiVersion", api::kApiVersion},
              {"kind", "FederatedWorkload"},
              {"metadata", {{"name", "ledger-" + std::to_string(i)}, {"namespace", "payments"}}},
              {"spec", {{"template", templates[i].second}}}};
    Apply(w);
  }
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());

  for (size_t i = 0; i < templates.size(); ++i) {
    const GroupVersionResource& gvr = templates[i].first;
    int64_t replicas = 0;
    for (const auto& [name, fake] : fakes_) {
      auto obj = fake->Object(gvr, "payments", "ledger-" + std::to_string(i));
      const bool eu = name == "eu-west-1" || name == "eu-central-1";
      EXPECT_EQ(obj.has_value(), eu) << gvr.resource << " on " << name;
      if (!obj) continue;
      if (gvr.resource == "statefulsets") {
        replicas += (*obj)["spec"]["replicas"].get<int64_t>();
        EXPECT_EQ((*obj)["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
      }
    }
    if (gvr.resource == "statefulsets") {
      EXPECT_EQ(replicas, 4);
    }
  }
}

TEST_F(PropagationControllerTest, ScalingRedividesAndDriftIsRepaired) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());

  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["template"]["spec"]["replicas"] = 60;
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w).ok());
  Place();
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ExpectMembersMatchPlacement(60);

  // Someone scales a member by hand; the next pass puts it back.
  json edited = fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").value();
  const json want = edited["spec"]["replicas"];
  edited["spec"]["replicas"] = 99;
  fakes_["eu-west-1"]->Apply(kDeployments, edited);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").value()["spec"]["replicas"],
            want);

  // Removed by hand: created again.
  fakes_["us-west-1"]->Remove(kDeployments, "shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ExpectMembersMatchPlacement(60);

  // The workload goes away: its managed objects follow, then the finalizer.
  ASSERT_TRUE(server_->objects().Delete(info, "shop", "web").ok());
  ASSERT_TRUE(server_->objects().Get(info, "shop", "web").ok());  // held by the finalizer
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const auto& [name, fake] : fakes_) {
    EXPECT_EQ(fake->ObjectCount(kDeployments), 0u) << name;
  }
  EXPECT_EQ(server_->objects().Get(info, "shop", "web").error().code, 404);
}

// The pass that drops the cleanup finalizer is cut short where a leading controller manager
// killed -9 (or a lost store call) cuts it: the delete never reaches the store. Nothing may be
// left half done: the next pass (here the same controller; in the HA layout the new leader)
// finishes the deletion. Before, the emptied object was stored first and then deleted, so a
// cut left it being deleted without the finalizer, and no pass ever looked at it again
// (e2e_ha_chaos_test: a workload still in the API 45 s after its client was told it is
// deleted, the new leader silent about it).
TEST_F(PropagationControllerTest, ADeletionCutShortWhenTheFinalizerGoesIsFinishedByTheNextPass) {
  ApplyExample();
  Place();
  test_env::InterruptingStore store(server_->store());
  apimachinery::ObjectService objects(store, clock_, server_->registry());
  PropagationController controller(objects, clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ExpectMembersMatchPlacement(30);

  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  ASSERT_TRUE(server_->objects().Delete(info, "shop", "web").ok());
  store.FailDeletes("federatedworkloads", 1);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const auto& [name, fake] : fakes_) {
    EXPECT_EQ(fake->ObjectCount(kDeployments), 0u) << name;
  }
  // Cut short: the workload is still there, held by its finalizer for the next pass.
  EXPECT_EQ(Workload().metadata.finalizers, std::vector<std::string>{kCleanupFinalizer});

  ASSERT_TRUE(controller.ReconcileAll().ok());
  auto gone = server_->objects().Get(info, "shop", "web");
  ASSERT_FALSE(gone.ok()) << "still stored: " << gone.value().dump();
  EXPECT_EQ(gone.error().code, 404);
}

// A pass over more workloads than one aggregation batch (Options::aggregate_batch: the members'
// results are copied for one batch at a time) writes every workload's status, and a deletion
// of them all finishes every workload, whichever batch it falls in.
TEST_F(PropagationControllerTest, MoreWorkloadsThanOneBatchAreAllAggregatedAndDeleted) {
  ApplyExample();
  constexpr int kWorkloads = 23;  // batches of 4, the last one short
  for (int i = 0; i < kWorkloads; ++i) {
    const std::string name = "cm-" + std::to_string(i);
    Apply({{"apiVersion", api::kApiVersion},
           {"kind", "FederatedWorkload"},
           {"metadata", {{"name", name}, {"namespace", "shop"}}},
           {"spec",
            {{"template",
              {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}}},
               {"data", {{"index", std::to_string(i)}}}}},
             {"placement", {{"distribution", {{"minPerCluster", 1}}}}}}}});
  }
  Place();
  PropagationController::Options options;
  options.aggregate_batch = 4;
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  const GroupVersionResource config_maps{"", "v1", "configmaps"};
  int synced = 0;
  for (int i = 0; i < kWorkloads; ++i) {
    auto got = server_->objects().Get(info, "shop", "cm-" + std::to_string(i));
    ASSERT_TRUE(got.ok());
    FieldErrors errors;
    const api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    const api::Condition* c = Find(w.status, "Synced");
    if (c != nullptr && c->status == "True" && w.status.clusters.size() == fakes_.size()) ++synced;
  }
  EXPECT_EQ(synced, kWorkloads);
  for (const auto& [name, fake] : fakes_) {
    EXPECT_EQ(fake->ObjectCount(config_maps), static_cast<size_t>(kWorkloads)) << name;
  }

  for (int i = 0; i < kWorkloads; ++i) {
    ASSERT_TRUE(server_->objects().Delete(info, "shop", "cm-" + std::to_string(i)).ok());
  }
  // The first pass removes the members' objects, the next drops the finalizers of workloads
  // every member is done with.
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const auto& [name, fake] : fakes_) EXPECT_EQ(fake->ObjectCount(config_maps), 0u) << name;
  for (int i = 0; i < kWorkloads; ++i) {
    auto gone = server_->objects().Get(info, "shop", "cm-" + std::to_string(i));
    EXPECT_FALSE(gone.ok()) << "cm-" << i << " still stored";
  }
}

// A workload stored being deleted with no finalizer at all (what an older version left when
// cut between emptying the finalizers and deleting: see the test above) is deleted by the
// next pass, instead of being passed over for good.
TEST_F(PropagationControllerTest, AWorkloadLeftBeingDeletedWithoutFinalizersIsDeleted) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json marked = server_->objects().Delete(info, "shop", "web").value();
  marked["metadata"].erase("finalizers");
  const apimachinery::ObjectKey key{info.StorageType(), "shop", "web"};
  ASSERT_TRUE(
      server_->store()
          .Update(key, marked, std::stoll(marked["metadata"]["resourceVersion"].get<std::string>()))
          .ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  auto gone = server_->objects().Get(info, "shop", "web");
  ASSERT_FALSE(gone.ok()) << "still stored: " << gone.value().dump();
  EXPECT_EQ(gone.error().code, 404);
}

// spec.retainedPaths (issue 17): the template's values reach a member on create only; then
// the member owns them (a member HPA's replicas, an annotation `kubectl rollout restart`
// sets): its edits there cause no write, and a template change leaves them alone.
TEST_F(PropagationControllerTest, RetainedPathsKeepTheMembersValuesAndNeverWrite) {
  ApplyExample();
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["retainedPaths"] = {"/spec/replicas",
                                "/spec/template/metadata/annotations/example.com~1restartedAt"};
  w["spec"]["template"]["spec"]["template"]["metadata"]["annotations"] = {
      {"example.com/restartedAt", "t0"}};
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w).ok());
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  json live = eu.Object(kDeployments, "shop", "web").value();
  EXPECT_EQ(live["spec"]["template"]["metadata"]["annotations"]["example.com/restartedAt"], "t0")
      << "set on create";
  const json placed = live["spec"]["replicas"];

  // The member scales and restarts it: kept, and no write.
  live["spec"]["replicas"] = 7;
  live["spec"]["template"]["metadata"]["annotations"]["example.com/restartedAt"] = "t1";
  eu.Apply(kDeployments, live);
  eu.ClearCalls();
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kUpdate), 0);
  EXPECT_EQ(eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"], 7);

  // A template change is written, the retained values stay the member's.
  w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w).ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  live = eu.Object(kDeployments, "shop", "web").value();
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"][0]["image"], "web:2");
  EXPECT_EQ(live["spec"]["replicas"], 7);
  EXPECT_EQ(live["spec"]["template"]["metadata"]["annotations"]["example.com/restartedAt"], "t1");
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 1);
  // Converged: nothing more.
  eu.ClearCalls();
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 0);
  // On create it had placement's replicas, not the member's later 7.
  EXPECT_NE(placed, 7);
}

// A member's HorizontalPodAutoscaler owns the replicas of what it scales: Meridian leaves
// them alone (no fight, no write), found by itself without spec.retainedPaths, and reads the
// member's autoscalers only when the replicas differ, at most once per cache period.
TEST_F(PropagationControllerTest, AMemberAutoscalerOwnsTheReplicasOfWhatItScales) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  const GroupVersionResource hpas{"autoscaling", "v1", "horizontalpodautoscalers"};
  eu.ClearCalls();
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.CallCount(testing::Verb::kList), 0) << "converged: no autoscaler read";

  // Without an autoscaler, a scaled member is drift: repaired.
  json live = eu.Object(kDeployments, "shop", "web").value();
  const json placed = live["spec"]["replicas"];
  live["spec"]["replicas"] = 7;
  eu.Apply(kDeployments, live);
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"], placed);

  // An autoscaler targets it and scales it: kept, and no write.
  eu.Apply(hpas, json{{"apiVersion", "autoscaling/v1"},
                      {"kind", "HorizontalPodAutoscaler"},
                      {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
                      {"spec",
                       {{"scaleTargetRef",
                         {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
                        {"minReplicas", 2},
                        {"maxReplicas", 10}}}});
  // Seen at once (a namespace found without autoscalers is not cached).
  live = eu.Object(kDeployments, "shop", "web").value();
  live["spec"]["replicas"] = 7;
  eu.Apply(kDeployments, live);
  eu.ClearCalls();
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kUpdate), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kList), 1) << "the namespace's autoscalers, read once";
  EXPECT_EQ(eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"], 7);
  // Other members without an autoscaler are untouched by this.
  EXPECT_EQ(fakes_["us-east-1"]->CallCount(testing::Verb::kList), 0);

  // A template change is written; the replicas stay the autoscaler's.
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w).ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  live = eu.Object(kDeployments, "shop", "web").value();
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"][0]["image"], "web:2");
  EXPECT_EQ(live["spec"]["replicas"], 7);
  EXPECT_EQ(eu.CallCount(testing::Verb::kList), 1) << "within the cache period: not read again";

  // The autoscaler goes: once the cache expires, Meridian's share is written back.
  ASSERT_TRUE(eu.Delete(hpas, "shop", "web", {}).ok());
  clock_.Advance(std::chrono::seconds(11));
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"], placed);
}

TEST_F(PropagationControllerTest, CleanupGivesUpOnAnUnreachableMemberAfterTheTimeout) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.cleanup_timeout = std::chrono::minutes(5);
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  fakes_["ap-south-1"]->FailEverything(UnavailableError("connection refused"));

  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  ASSERT_TRUE(server_->objects().Delete(info, "shop", "web").ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(fakes_["us-east-1"]->ObjectCount(kDeployments), 0u);
  EXPECT_EQ(fakes_["ap-south-1"]->ObjectCount(kDeployments), 1u);
  api::FederatedWorkload w = Workload();
  const api::Condition* c = Find(w.status, "CleanedUp");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, "CleanupPending");
  EXPECT_EQ(c->message, "waiting for members: ap-south-1");

  clock_.Advance(std::chrono::minutes(5));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(server_->objects().Get(info, "shop", "web").error().code, 404);
}

TEST_F(PropagationControllerTest, UnmanagedObjectIsNotOverwritten) {
  ApplyExample();
  Place();
  json mine = {{"apiVersion", "apps/v1"},
               {"kind", "Deployment"},
               {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
               {"spec", {{"replicas", 1}}}};
  fakes_["eu-west-1"]->Apply(kDeployments, mine);
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());

  json theirs = fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").value();
  EXPECT_EQ(theirs["spec"]["replicas"], 1);
  EXPECT_FALSE(IsManaged(theirs));
  api::FederatedWorkload w = Workload();
  bool seen = false;
  for (const auto& c : w.status.clusters) {
    if (c.cluster != "eu-west-1") {
      EXPECT_TRUE(c.synced) << c.cluster;
      continue;
    }
    seen = true;
    EXPECT_FALSE(c.synced);
    EXPECT_NE(c.last_error.find("not managed by Meridian"), std::string::npos) << c.last_error;
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(Find(w.status, "Synced")->status, "False");
  EXPECT_EQ(Find(w.status, "Synced")->reason, "SyncFailed");

  // adoptExisting takes it over.
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json wj = server_->objects().Get(info, "shop", "web").value();
  wj["spec"]["adoptExisting"] = true;
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", wj).ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_TRUE(IsManaged(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").value()));
  EXPECT_EQ(Find(Workload().status, "Synced")->status, "True");
}

TEST_F(PropagationControllerTest, HungMemberDoesNotDelayTheOthers) {
  ApplyExample();
  Place();
  fakes_["ap-south-1"]->SetLatency(std::chrono::milliseconds(1500));  // = its timeout: hung
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.Start().ok());
  // Real time: the workers act on their own threads (bounded wait, well under the 1.5 s
  // the hung member takes for a single call).
  const auto start = std::chrono::steady_clock::now();
  bool others_done = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1200)) {
    others_done = true;
    for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1"}) {
      if (!fakes_[name]->Object(kDeployments, "shop", "web")) others_done = false;
    }
    if (others_done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(others_done);
  EXPECT_FALSE(fakes_["ap-south-1"]->Object(kDeployments, "shop", "web").has_value());
  controller.Stop();
}

// ---- Watch-driven repair, queues and backoff (driven by hand on the FakeClock) ----

// The member's watch queues the owning workload: no relist, no resync needed.
TEST_F(PropagationControllerTest, MemberWatchEventsQueueTheRepair) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  const json want = eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"];
  EXPECT_EQ(controller.QueueLength("eu-west-1"), 0);

  json edited = eu.Object(kDeployments, "shop", "web").value();
  edited["spec"]["replicas"] = 99;
  eu.Apply(kDeployments, edited);
  EXPECT_EQ(controller.QueueLength("eu-west-1"), 1);  // the watch queued shop/web
  EXPECT_EQ(controller.QueueLength("us-east-1"), 0);  // other members are not bothered
  eu.ClearCalls();
  // (The fake delivers our own write's event before the write returns, so the key may be
  // looked at once more; that second look changes nothing.)
  EXPECT_GE(controller.ProcessMember("eu-west-1"), 1);
  EXPECT_EQ(eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"], want);
  // Repaired from the watched copy: one merge patch (never a full PUT), no Get; the one
  // List is the namespace's autoscalers (the replicas differ: is an autoscaler their owner?).
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 1);
  EXPECT_EQ(eu.CallCount(testing::Verb::kUpdate), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kGet), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kList), 1);

  eu.Remove(kDeployments, "shop", "web");
  EXPECT_EQ(controller.QueueLength("eu-west-1"), 1);
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(eu.Object(kDeployments, "shop", "web").has_value());
  EXPECT_TRUE(IsManaged(*eu.Object(kDeployments, "shop", "web")));

  // After a 410 the watch relists; nothing changed, so nothing is written.
  eu.ClearCalls();
  eu.ExpireWatches();
  controller.ProcessMember("eu-west-1");
  EXPECT_EQ(eu.CallCount(testing::Verb::kUpdate), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 0);
  EXPECT_EQ(eu.CallCount(testing::Verb::kCreate), 0);
}

// A deletion the member watch missed (it was broken then) comes back from the relist as a
// DELETED event that names only the object (the watch keeps no copy: the controller's member
// cache is the copy): whose object it was is read from that cache, and it is repaired.
TEST_F(PropagationControllerTest, ADeletionARelistFindsIsRepaired) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  ASSERT_TRUE(eu.RemoveUnseen(kDeployments, "shop", "web"));
  EXPECT_EQ(controller.QueueLength("eu-west-1"), 0);  // nobody was told
  eu.ExpireWatches();
  EXPECT_EQ(controller.QueueLength("eu-west-1"), 1);  // the relist's DELETED queued shop/web
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(eu.Object(kDeployments, "shop", "web").has_value());
  EXPECT_TRUE(IsManaged(*eu.Object(kDeployments, "shop", "web")));
}

// A workload's change is queued only on the members it concerns: where it is or was placed,
// or holds objects; every member for its deletion (each must say it holds nothing). Queueing
// every change everywhere made 100 no-op passes per change on 100 members (issue 19: ~6
// queued keys per member write while syncing 1,000 workloads to 50 of 100 members). No
// workers: the queues are looked at as the informer's events fill them.
TEST_F(PropagationControllerTest, AWorkloadChangeIsQueuedOnlyOnTheMembersItConcerns) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.resync_period = std::chrono::hours(1);
  options.workers_per_member = 0;
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.Start().ok());
  auto drain = [&] {
    for (const auto& [name, fake] : fakes_) controller.ProcessMember(name);
  };
  ASSERT_TRUE(Eventually([&] { return controller.QueueLength("us-west-1") == 1; }));
  drain();
  ASSERT_TRUE(fakes_["ap-south-1"]->Object(kDeployments, "shop", "web").has_value());

  // Placement leaves ap-south-1: it was placed there, so it is told (and removes its copy).
  // Each change is queued in the members' name order: once the last (us-west-1) has it,
  // every member's decision is made.
  PlaceWithout("ap-south-1");
  ASSERT_TRUE(Eventually([&] { return controller.QueueLength("us-west-1") == 1; }));
  EXPECT_EQ(controller.QueueLength("ap-south-1"), 1);
  drain();
  ASSERT_FALSE(fakes_["ap-south-1"]->Object(kDeployments, "shop", "web").has_value());

  // A new template: the four members it is placed on, not ap-south-1 (nothing there, nothing
  // to be there).
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["template"]["metadata"]["annotations"]["edited"] = "yes";
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w).ok());
  ASSERT_TRUE(Eventually([&] { return controller.QueueLength("us-west-1") == 1; }));
  for (const char* placed : {"us-east-1", "eu-west-1", "eu-central-1"}) {
    EXPECT_EQ(controller.QueueLength(placed), 1) << placed;
  }
  EXPECT_EQ(controller.QueueLength("ap-south-1"), 0);
  drain();
  EXPECT_EQ(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").value()["metadata"]
                ["annotations"].value("edited", ""),
            "yes");

  // Its deletion: every member.
  ASSERT_TRUE(server_->objects().Delete(info, "shop", "web").ok());
  ASSERT_TRUE(Eventually([&] { return controller.QueueLength("us-west-1") == 1; }));
  EXPECT_EQ(controller.QueueLength("ap-south-1"), 1);
  controller.Stop();
}

// Namespaces Meridian creates carry its label and go when it no longer places anything
// there; one it found, or one where someone else keeps objects, stays.
TEST_F(PropagationControllerTest, NamespacesMeridianCreatedGoWhenNothingIsPlacedThere) {
  ApplyExample();
  Place();
  const GroupVersionResource kNamespaces{"", "v1", "namespaces"};
  const GroupVersionResource kServices{"", "v1", "services"};
  // us-east-1 had the namespace before Meridian came.
  fakes_["us-east-1"]->Apply(
      kNamespaces, {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const char* m : {"eu-west-1", "us-east-1", "ap-south-1"}) {
    ASSERT_TRUE(fakes_[m]->Object(kDeployments, "shop", "web").has_value()) << m;
  }
  auto eu_ns = fakes_["eu-west-1"]->Object(kNamespaces, "", "shop");
  ASSERT_TRUE(eu_ns.has_value());
  EXPECT_TRUE(IsManaged(*eu_ns));
  EXPECT_FALSE(IsManaged(*fakes_["us-east-1"]->Object(kNamespaces, "", "shop")));
  // Someone keeps a Service of their own in ap-south-1's (Meridian-created) namespace.
  fakes_["ap-south-1"]->Apply(kServices,
                              {{"apiVersion", "v1"},
                               {"kind", "Service"},
                               {"metadata", {{"name", "theirs"}, {"namespace", "shop"}}}});

  PlaceWithout("eu-west-1");
  PlaceWithout("us-east-1");
  PlaceWithout("ap-south-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const char* m : {"eu-west-1", "us-east-1", "ap-south-1"}) {
    EXPECT_FALSE(fakes_[m]->Object(kDeployments, "shop", "web").has_value()) << m;
  }
  EXPECT_FALSE(fakes_["eu-west-1"]->Object(kNamespaces, "", "shop").has_value());
  EXPECT_TRUE(fakes_["us-east-1"]->Object(kNamespaces, "", "shop").has_value());
  EXPECT_TRUE(fakes_["ap-south-1"]->Object(kNamespaces, "", "shop").has_value());

  // Placed again: recreated (with the label).
  Place();
  ASSERT_TRUE(controller.ReconcileAll().ok());
  eu_ns = fakes_["eu-west-1"]->Object(kNamespaces, "", "shop");
  ASSERT_TRUE(eu_ns.has_value());
  EXPECT_TRUE(IsManaged(*eu_ns));
  EXPECT_TRUE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").has_value());
}

// A member controller that keeps changing Meridian's field back: after loop_guard_writes
// rewrites within the window Meridian stops writing (one write per window), and says so in
// status (synced=false, condition SyncLoop naming the field) and a SyncLoop Event. Once the
// fight stops, the object converges and the condition turns False.
TEST_F(PropagationControllerTest, LoopGuardBacksOffAndReportsTheFields) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.loop_guard_writes = 3;
  options.loop_guard_window = std::chrono::seconds(10);
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  // The fighter: sets the first container's image back to what it wants, as a webhook or
  // another controller would.
  auto fight = [&] {
    json o = eu.Object(kDeployments, "shop", "web").value();
    o["spec"]["template"]["spec"]["containers"][0]["image"] = "fighter:1";
    eu.Apply(kDeployments, o);
  };
  auto image = [&] {
    return eu.Object(kDeployments, "shop", "web")
        .value()["spec"]["template"]["spec"]["containers"][0]["image"]
        .get<std::string>();
  };
  eu.ClearCalls();
  for (int i = 0; i < 3; ++i) {
    fight();
    clock_.Advance(std::chrono::seconds(1));
    controller.ProcessMember("eu-west-1");
    EXPECT_NE(image(), "fighter:1") << i;  // repaired
  }
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 3);

  // The fourth rewrite within 10 s is held, and reported.
  for (int i = 0; i < 5; ++i) {
    fight();
    clock_.Advance(std::chrono::seconds(1));
    controller.ProcessMember("eu-west-1");
  }
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 3);
  EXPECT_EQ(image(), "fighter:1");
  ASSERT_TRUE(controller.Aggregate().ok());
  api::FederatedWorkload w = Workload();
  const api::Condition* loop = Find(w.status, "SyncLoop");
  ASSERT_NE(loop, nullptr);
  EXPECT_EQ(loop->status, "True");
  EXPECT_EQ(loop->reason, "RewriteLoop");
  EXPECT_NE(loop->message.find("eu-west-1: SyncLoop: deployments.apps shop/web was rewritten 3 "
                               "times within 10 s"),
            std::string::npos)
      << loop->message;
  EXPECT_NE(loop->message.find("fields that keep differing: "
                               "spec.template.spec.containers[0].image"),
            std::string::npos)
      << loop->message;
  for (const auto& c : w.status.clusters) {
    EXPECT_EQ(c.synced, c.cluster != "eu-west-1") << c.cluster;
  }

  // Once the window since the last write has passed, one more write goes out.
  clock_.Advance(std::chrono::seconds(10));
  controller.ProcessMember("eu-west-1");
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 4);
  EXPECT_NE(image(), "fighter:1");

  // The fighter gave up: the next pass finds the object converged; the report clears.
  clock_.Advance(std::chrono::seconds(11));
  controller.ProcessMember("eu-west-1");
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 4);
  ASSERT_TRUE(controller.Aggregate().ok());
  w = Workload();
  loop = Find(w.status, "SyncLoop");
  ASSERT_NE(loop, nullptr);
  EXPECT_EQ(loop->status, "False");
  for (const auto& c : w.status.clusters) EXPECT_TRUE(c.synced) << c.cluster;

  // The user found it among the workload's Events (written in the background).
  EXPECT_TRUE(EventRecorded([](const json& e) {
    return e.value("reason", "") == "SyncLoop" &&
           e.value("message", "").find("spec.template.spec.containers[0].image") !=
               std::string::npos;
  }));
}

// A user who changes the template often is not a member fighting Meridian: the loop guard
// counts rewrites towards one desired object only (found by e2e_sync_test, where a series of
// image changes within a minute was held).
TEST_F(PropagationControllerTest, LoopGuardNeverHoldsTheUsersOwnChanges) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.loop_guard_writes = 3;
  options.loop_guard_window = std::chrono::seconds(10);
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  eu.ClearCalls();
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  for (int i = 0; i < 6; ++i) {
    json w = server_->objects().Get(info, "shop", "web").value();
    const std::string image = "web:" + std::to_string(10 + i);
    w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w, "").ok());
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(controller.ReconcileAll().ok());
    EXPECT_EQ(eu.Object(kDeployments, "shop", "web")
                  .value()["spec"]["template"]["spec"]["containers"][0]["image"],
              image)
        << i;
  }
  EXPECT_EQ(eu.CallCount(testing::Verb::kMergePatch), 6);
  const api::Condition* loop = Find(Workload().status, "SyncLoop");
  EXPECT_TRUE(loop == nullptr || loop->status == "False") << loop->message;
}

// Someone takes an object over (removes Meridian's label): it is no longer ours, and the
// watch path must not overwrite it either.
TEST_F(PropagationControllerTest, AnObjectTakenOverInAMemberIsNotOverwritten) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  json taken = eu.Object(kDeployments, "shop", "web").value();
  taken["metadata"]["labels"].erase(kManagedByLabel);
  taken["spec"]["replicas"] = 42;
  eu.Apply(kDeployments, taken);  // the label selector reports it DELETED to our watch
  controller.ProcessMember("eu-west-1");
  ASSERT_TRUE(controller.Aggregate().ok());
  json theirs = eu.Object(kDeployments, "shop", "web").value();
  EXPECT_EQ(theirs["spec"]["replicas"], 42);
  EXPECT_FALSE(IsManaged(theirs));
  bool seen = false;
  for (const auto& c : Workload().status.clusters) {
    if (c.cluster != "eu-west-1") continue;
    seen = true;
    EXPECT_FALSE(c.synced);
    EXPECT_NE(c.last_error.find("not managed by Meridian"), std::string::npos) << c.last_error;
  }
  EXPECT_TRUE(seen);
}

TEST_F(PropagationControllerTest, FailedKeysBackOffExponentiallyAndResetOnSuccess) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.rate_limits = RateLimits{Duration(100), Duration(400), 0, 0};
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  eu.FailAlways(testing::Verb::kCreate, InternalError("etcd is sad"));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(controller.NumRequeues("eu-west-1", "shop/web"), 1);
  EXPECT_EQ(controller.NumRequeues("us-east-1", "shop/web"), 0);  // others unaffected
  ASSERT_TRUE(fakes_["us-east-1"]->Object(kDeployments, "shop", "web").has_value());

  // Not retried before its backoff (100 ms, then 200, then capped at 400).
  for (int64_t backoff : {100, 200, 400, 400}) {
    const int creates = eu.CallCount(testing::Verb::kCreate);
    clock_.Advance(Duration(backoff - 1));
    EXPECT_EQ(controller.ProcessMember("eu-west-1"), 0) << backoff;
    clock_.Advance(Duration(1));
    EXPECT_EQ(controller.ProcessMember("eu-west-1"), 1) << backoff;
    EXPECT_EQ(eu.CallCount(testing::Verb::kCreate), creates + 1) << backoff;
  }
  EXPECT_EQ(controller.NumRequeues("eu-west-1", "shop/web"), 5);

  eu.ClearFailures();
  clock_.Advance(Duration(400));
  EXPECT_GE(controller.ProcessMember("eu-west-1"), 1);
  EXPECT_TRUE(eu.Object(kDeployments, "shop", "web").has_value());
  EXPECT_EQ(controller.NumRequeues("eu-west-1", "shop/web"), 0);  // reset on success
}

// An unreachable member fails its keys fast (no call per key) until a backoff-spaced probe.
TEST_F(PropagationControllerTest, ADownMemberIsProbedNotHammered) {
  ApplyExample();
  // A second workload, so the member has two keys.
  json second =
      server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "web").value();
  second["metadata"] = {{"name", "api"}, {"namespace", "shop"}};
  second.erase("status");
  second["spec"]["template"]["metadata"]["name"] = "api";
  Apply(second);
  Place();
  PropagationController::Options options;
  options.rate_limits = RateLimits{Duration(1000), Duration(8000), 0, 0};
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  FakeMemberClient& ap = *fakes_["ap-south-1"];
  ap.FailEverything(UnavailableError("connection refused"));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  // One call found it down; the other key failed without calling.
  EXPECT_EQ(ap.Calls().size(), 1u);
  api::FederatedWorkload w = Workload();
  bool seen = false;
  for (const auto& c : w.status.clusters) {
    if (c.cluster != "ap-south-1") continue;
    seen = true;
    EXPECT_FALSE(c.synced);
    EXPECT_NE(c.last_error.find("connection refused"), std::string::npos) << c.last_error;
  }
  EXPECT_TRUE(seen) << "an unreachable member stays in status.clusters";

  clock_.Advance(Duration(1000));
  controller.ProcessMember("ap-south-1");
  EXPECT_EQ(ap.Calls().size(), 2u);  // one probe for both keys
  ap.ClearFailures();
  clock_.Advance(Duration(2000));
  controller.ProcessMember("ap-south-1");
  EXPECT_TRUE(ap.Object(kDeployments, "shop", "web").has_value());
  EXPECT_TRUE(ap.Object(kDeployments, "shop", "api").has_value());
}

// Placement moves replicas off a member that cannot be reached: its old objects cannot be
// removed, so it stays in status.clusters (not synced, saying why) until they are.
TEST_F(PropagationControllerTest, AnUnplacedUnreachableMemberStaysInStatus) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  fakes_["ap-south-1"]->FailEverything(DeadlineExceededError("member \"ap-south-1\": timed out"));

  PlaceWithout("ap-south-1");
  ASSERT_TRUE(controller.ReconcileAll().ok());

  api::FederatedWorkload got = Workload();
  const api::ClusterSyncStatus* ap = nullptr;
  for (const auto& c : got.status.clusters) {
    if (c.cluster == "ap-south-1") ap = &c;
  }
  ASSERT_NE(ap, nullptr);
  EXPECT_FALSE(ap->synced);
  EXPECT_NE(ap->last_error.find("no longer placed here"), std::string::npos) << ap->last_error;
  EXPECT_NE(ap->last_error.find("timed out"), std::string::npos) << ap->last_error;
  EXPECT_EQ(Find(got.status, "Synced")->status, "False");

  // It answers again: the objects go, and so does its entry.
  fakes_["ap-south-1"]->ClearFailures();
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_FALSE(fakes_["ap-south-1"]->Object(kDeployments, "shop", "web").has_value());
  for (const auto& c : Workload().status.clusters) EXPECT_NE(c.cluster, "ap-south-1");
}

// Retained replicas (status.retained: the member was unreachable when placement moved them)
// are left as they are: not deleted when the member answers again, listed in status.clusters
// with what the member reports, and never added to readyReplicas.
TEST_F(PropagationControllerTest, RetainedReplicasAreLeftAsTheyAre) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, Factory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  auto before = fakes_["ap-south-1"]->Object(kDeployments, "shop", "web");
  ASSERT_TRUE(before.has_value());
  const int64_t ran = (*before)["spec"]["replicas"].get<int64_t>();
  (*before)["status"] = {{"readyReplicas", ran}};
  fakes_["ap-south-1"]->Apply(kDeployments, *before);
  fakes_["ap-south-1"]->FailEverything(DeadlineExceededError("member \"ap-south-1\": timed out"));

  // Placement moves ap-south-1's share away and retains what it ran.
  PlaceWithout("ap-south-1", ran);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w;
  auto entry = [&]() -> std::optional<api::ClusterSyncStatus> {
    for (const auto& c : Workload().status.clusters) {
      if (c.cluster == "ap-south-1") return c;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(entry().has_value()) << "a retained member never silently disappears";
  EXPECT_EQ(fakes_["ap-south-1"]->CallCount(testing::Verb::kDelete), 0);
  // A new image must reach it too: the call finds it unreachable: not synced, and nothing
  // reported ready there.
  w = server_->objects().Get(info, "shop", "web").value();
  w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w, "").ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_TRUE(entry().has_value());
  EXPECT_FALSE(entry()->synced);
  EXPECT_EQ(entry()->ready_replicas, 0) << "unseen replicas are not reported ready";
  EXPECT_NE(entry()->last_error.find("left in place"), std::string::npos) << entry()->last_error;
  EXPECT_EQ(fakes_["ap-south-1"]->CallCount(testing::Verb::kDelete), 0);

  // It answers again: the objects stay exactly as they were, and its entry reports them.
  fakes_["ap-south-1"]->ClearFailures();
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  auto after = fakes_["ap-south-1"]->Object(kDeployments, "shop", "web");
  ASSERT_TRUE(after.has_value()) << "retained replicas were deleted";
  EXPECT_EQ((*after)["spec"]["replicas"], ran);
  ASSERT_TRUE(entry().has_value());
  EXPECT_TRUE(entry()->synced) << entry()->last_error;
  EXPECT_EQ(entry()->ready_replicas, ran);
  int64_t placed_ready = 0;
  for (const auto& c : Workload().status.clusters) {
    if (c.cluster != "ap-south-1") placed_ready += c.ready_replicas;
  }
  EXPECT_EQ(Workload().status.ready_replicas, placed_ready);

  // Released (no longer retained, not placed): now the objects go.
  w = server_->objects().Get(info, "shop", "web").value();
  w["status"].erase("retained");
  ASSERT_TRUE(server_->objects().Update(info, "shop", "web", w, "status").ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_FALSE(fakes_["ap-south-1"]->Object(kDeployments, "shop", "web").has_value());
}

TEST_F(PropagationControllerTest, RefusedCredentialsNameTheMemberAndTheHttpStatus) {
  ApplyExample();
  Place();
  struct Case {
    Status refusal;
    std::string want;
  };
  for (const Case& c :
       {Case{UnauthenticatedError("member \"eu-west-1\": Unauthorized"), "HTTP 401"},
        Case{PermissionDeniedError("member \"eu-west-1\": forbidden"), "HTTP 403"}}) {
    SCOPED_TRACE(c.want);
    fakes_["eu-west-1"] =
        std::make_shared<FakeMemberClient>(FakeMemberClient::Options{.member = "eu-west-1"});
    fakes_["eu-west-1"]->FailEverything(c.refusal);
    PropagationController controller(server_->objects(), clock_, Factory());
    ASSERT_TRUE(controller.ReconcileAll().ok());
    bool seen = false;
    for (const auto& s : Workload().status.clusters) {
      if (s.cluster != "eu-west-1") {
        EXPECT_TRUE(s.synced) << s.cluster;
        continue;
      }
      seen = true;
      EXPECT_FALSE(s.synced);
      EXPECT_NE(s.last_error.find("member \"eu-west-1\" refused Meridian's credentials (" + c.want),
                std::string::npos)
          << s.last_error;
    }
    EXPECT_TRUE(seen);
  }
  // The user also finds it among the workload's Events (written in the background).
  EXPECT_TRUE(EventRecorded([](const json& e) {
    const std::string message = e.value("message", "");
    return e.value("reason", "") == "SyncFailed" &&
           message.rfind("Sync failed on member eu-west-1: ", 0) == 0 &&
           message.find("member \"eu-west-1\" refused Meridian's credentials") !=
               std::string::npos &&
           e["involvedObject"].value("name", "") == "web";
  }));
}

// Real threads: an edit made in a member is repaired from the watch, with the periodic
// resync an hour away.
TEST_F(PropagationControllerTest, StartedControllerRepairsDriftFromTheWatch) {
  ApplyExample();
  Place();
  PropagationController::Options options;
  options.resync_period = std::chrono::hours(1);
  PropagationController controller(server_->objects(), clock_, Factory(), options);
  ASSERT_TRUE(controller.Start().ok());
  FakeMemberClient& eu = *fakes_["eu-west-1"];
  ASSERT_TRUE(Eventually([&] { return eu.Object(kDeployments, "shop", "web").has_value(); }));
  const json want = eu.Object(kDeployments, "shop", "web").value()["spec"]["replicas"];
  json edited = eu.Object(kDeployments, "shop", "web").value();
  edited["spec"]["replicas"] = 99;
  eu.Apply(kDeployments, edited);
  EXPECT_TRUE(Eventually([&] {
    auto o = eu.Object(kDeployments, "shop", "web");
    return o && (*o)["spec"]["replicas"] == want;
  }));
  eu.Remove(kDeployments, "shop", "web");
  EXPECT_TRUE(Eventually([&] { return eu.Object(kDeployments, "shop", "web").has_value(); }));
  controller.Stop();
}

// Issue 19: a started controller reads the federation from its informers only. Its requests
// are counted by verb at the store under its ObjectService while a stream of changes follows
// the start (placement moving replicas, a MemberCluster relabelled), each on the members and
// in the workload's status before the next. No LIST after start; and no read of a
// FederatedWorkload of its own: every GET counted is the one each Update makes of the stored
// object (the aggregator computes a status on the informer's copy, per workload key).
TEST_F(PropagationControllerTest, StartedControllerListsOnlyAtStartAndAggregatesFromItsCache) {
  ApplyExample();
  Place();
  test_env::CountingStore counting(server_->store());
  apimachinery::ObjectService objects(counting, clock_, server_->registry());
  PropagationController::Options options;
  options.resync_period = std::chrono::hours(1);
  PropagationController controller(objects, clock_, Factory(), options);
  ASSERT_TRUE(controller.Start().ok());
  // Every placed member holds its replicas, the others nothing.
  auto members_hold = [&] {
    api::FederatedWorkload w = Workload();
    std::map<std::string, int64_t> placed;
    for (const auto& p : w.status.placement) placed[p.cluster] = p.replicas;
    for (const auto& [name, fake] : fakes_) {
      auto obj = fake->Object(kDeployments, "shop", "web");
      if (obj.has_value() != (placed.count(name) > 0)) return false;
      if (obj && (*obj)["spec"]["replicas"] != placed[name]) return false;
    }
    return true;
  };
  // The members report all their replicas ready (a watch event each); returns how many.
  auto report_ready = [&] {
    int64_t total = 0;
    for (auto& [name, fake] : fakes_) {
      auto obj = fake->Object(kDeployments, "shop", "web");
      if (!obj) continue;
      (*obj)["status"] = {{"readyReplicas", (*obj)["spec"]["replicas"]}};
      total += (*obj)["spec"]["replicas"].get<int64_t>();
      fake->Apply(kDeployments, *obj);
    }
    return total;
  };
  // The workload's status shows `ready` replicas ready and every placed member synced.
  auto status_shows = [&](int64_t ready) {
    api::FederatedWorkload w = Workload();
    const api::Condition* synced = Find(w.status, "Synced");
    return synced && synced->status == "True" && w.status.ready_replicas == ready;
  };
  ASSERT_TRUE(Eventually(members_hold));
  const int64_t ready = report_ready();
  ASSERT_TRUE(Eventually([&] { return status_shows(ready); }));
  const auto at_start = counting.counts();
  const std::string lists_at_start = counting.Describe("list");
  EXPECT_EQ(at_start.at("list").at("federatedworkloads"), 1) << lists_at_start;
  EXPECT_EQ(at_start.at("list").at("memberclusters"), 1) << lists_at_start;
  auto count = [&](const std::string& verb, const std::string& resource) {
    const auto all = counting.counts();
    auto v = all.find(verb);
    if (v == all.end()) return 0;
    auto r = v->second.find(resource);
    return r == v->second.end() ? 0 : r->second;
  };
  const int gets = count("get", "federatedworkloads");
  const int updates = count("update", "federatedworkloads");

  const auto& workloads = Info(api::kApiVersion, "FederatedWorkload");
  const auto& clusters = Info(api::kApiVersion, "MemberCluster");
  for (int step = 1; step <= 6; ++step) {
    if (step % 3 == 0) {
      // A label change re-queues every key on the member (overrides select by labels).
      ASSERT_TRUE(
          server_->objects()
              .Patch(clusters, "", "eu-west-1", apimachinery::PatchType::kMergePatch,
                     json{{"metadata", {{"labels", {{"test/step", std::to_string(step)}}}}}}.dump())
              .ok());
    }
    // Placement moves replicas: one status write, as the placement controller makes it.
    json w = server_->objects().Get(workloads, "shop", "web").value();
    for (json& p : w["status"]["placement"]) p["replicas"] = step + 1;
    ASSERT_TRUE(server_->objects().Update(workloads, "shop", "web", w, "status").ok());
    ASSERT_TRUE(Eventually(members_hold)) << "step " << step;
    const int64_t now_ready = report_ready();
    ASSERT_TRUE(Eventually([&] { return status_shows(now_ready); })) << "step " << step;
  }
  controller.Stop();

  EXPECT_EQ(counting.Describe("list"), lists_at_start) << "LISTs after start";
  const int status_writes = count("update", "federatedworkloads") - updates;
  EXPECT_GE(status_writes, 6);  // readyReplicas changed at every step
  EXPECT_LE(count("get", "federatedworkloads") - gets, status_writes)
      << "reads of workloads besides the ones each Update makes";
}

// ---- Issue 17: removing an unused namespace races with workloads placed into it ----

// A member client that runs `on_list` (once set) before every List it forwards: the moment
// between the namespace removal's "is it unused" reads and its DELETE.
class ListHookClient final : public ForwardingMemberClient {
 public:
  explicit ListHookClient(std::shared_ptr<FakeMemberClient> fake)
      : ForwardingMemberClient(std::move(fake)) {}
  std::function<void(const GroupVersionResource&, const std::string&)> on_list;

  StatusOr<ObjectList> List(const GroupVersionResource& gvr, const std::string& ns,
                            const MemberListOptions& options) override {
    if (on_list) on_list(gvr, ns);
    return inner().List(gvr, ns, options);
  }
};

class NamespaceRemovalRaceTest : public PropagationControllerTest {
 protected:
  const GroupVersionResource kNamespaces{"", "v1", "namespaces"};

  void SetUp() override {
    PropagationControllerTest::SetUp();
    eu_ = std::make_shared<ListHookClient>(fakes_["eu-west-1"]);
  }
  // eu-west-1 through eu_ (its hook), the others as the fixture has them.
  MemberClientFactory HookedFactory() {
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<MemberClient>> {
      if (m.metadata.name == "eu-west-1") return std::shared_ptr<MemberClient>(eu_);
      return Factory()(m);
    };
  }
  // shop/api: a second workload of namespace shop, like shop/web (not placed yet).
  void ApplyApi() {
    json web =
        server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "web").value();
    json w = {{"apiVersion", web["apiVersion"]},
              {"kind", web["kind"]},
              {"metadata", {{"name", "api"}, {"namespace", "shop"}}},
              {"spec", web["spec"]}};
    w["spec"]["template"]["metadata"]["name"] = "api";
    Apply(w);
  }
  // What placement writes for shop/api: one replica on each of `members`.
  void PlaceApiOn(const std::vector<std::string>& members) {
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    json w = server_->objects().Get(info, "shop", "api").value();
    json placement = json::array();
    for (const std::string& m : members) placement.push_back({{"cluster", m}, {"replicas", 1}});
    w["status"]["placement"] = placement;
    w["status"]["observedGeneration"] = w["metadata"].value("generation", int64_t{1});
    ASSERT_TRUE(server_->objects().Update(info, "shop", "api", w, "status").ok());
  }
  // eu-west-1's namespace shop (null when absent).
  json EuNamespace() {
    return fakes_["eu-west-1"]->Object(kNamespaces, "", "shop").value_or(json());
  }
  int NamespaceDeletes() {
    int n = 0;
    for (const auto& c : fakes_["eu-west-1"]->Calls()) {
      n += c.verb == testing::Verb::kDelete && c.gvr == kNamespaces;
    }
    return n;
  }
  // shop/web and shop/api synced: web on eu-west-1 (among others), api on us-east-1 only, so
  // that eu-west-1's namespace shop (Meridian-created) holds only web.
  void SyncWebAndApi(PropagationController& controller) {
    ApplyApi();
    PlaceApiOn({"us-east-1"});
    ASSERT_TRUE(controller.ReconcileAll().ok());
    ASSERT_TRUE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").has_value());
    ASSERT_FALSE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "api").has_value());
    ASSERT_TRUE(IsManaged(EuNamespace()));
    fakes_["eu-west-1"]->ClearCalls();
  }

  std::shared_ptr<ListHookClient> eu_;
};

// shop/web leaves eu-west-1 (its last workload there); while Meridian reads whether the
// namespace is unused, placement puts shop/api there. The namespace is kept (the same one:
// no DELETE), and shop/api is created in it at once instead of after a termination.
TEST_F(NamespaceRemovalRaceTest, APlacementArrivingDuringTheRemovalKeepsTheNamespace) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, HookedFactory());
  SyncWebAndApi(controller);
  const json uid = EuNamespace()["metadata"]["uid"];

  PlaceWithout("eu-west-1");
  ASSERT_TRUE(controller.LoadWorkloads().ok());
  int hooked = 0;
  eu_->on_list = [&](const GroupVersionResource&, const std::string& ns) {
    if (ns != "shop" || hooked++ > 0) return;
    PlaceApiOn({"us-east-1", "eu-west-1"});
    ASSERT_TRUE(controller.LoadWorkloads().ok());  // as the federation watch would
  };
  controller.ProcessMember("eu-west-1");
  EXPECT_EQ(hooked, 7);  // the removal read every kind: the placement came during it
  EXPECT_EQ(NamespaceDeletes(), 0);
  EXPECT_EQ(EuNamespace()["metadata"]["uid"], uid);
  EXPECT_FALSE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").has_value());
  EXPECT_TRUE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "api").has_value());
}

// A workload created in the namespace but not placed yet may land on this member in a
// moment: the namespace stays until placement has decided, and goes once nothing is there.
TEST_F(NamespaceRemovalRaceTest, AWorkloadWaitingForPlacementKeepsTheNamespace) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, HookedFactory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const json uid = EuNamespace()["metadata"]["uid"];
  ASSERT_TRUE(IsManaged(EuNamespace()));
  fakes_["eu-west-1"]->ClearCalls();

  ApplyApi();  // no placement yet
  PlaceWithout("eu-west-1");
  ASSERT_TRUE(controller.LoadWorkloads().ok());
  controller.ProcessMember("eu-west-1");
  EXPECT_FALSE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "web").has_value());
  EXPECT_EQ(NamespaceDeletes(), 0);

  PlaceApiOn({"eu-west-1"});
  ASSERT_TRUE(controller.LoadWorkloads().ok());
  controller.ProcessMember("eu-west-1");
  EXPECT_TRUE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "api").has_value());
  EXPECT_EQ(EuNamespace()["metadata"]["uid"], uid);

  // Placed elsewhere: now nothing is there, and the namespace goes.
  PlaceApiOn({"us-east-1"});
  ASSERT_TRUE(controller.LoadWorkloads().ok());
  controller.ProcessMember("eu-west-1");
  EXPECT_FALSE(fakes_["eu-west-1"]->Object(kDeployments, "shop", "api").has_value());
  EXPECT_EQ(NamespaceDeletes(), 1);
  EXPECT_TRUE(EuNamespace().is_null());
}

// The DELETE carries the namespace's uid and resourceVersion as read: one changed meanwhile
// (here: a user took it over by dropping Meridian's label) is refused and kept.
TEST_F(NamespaceRemovalRaceTest, ANamespaceChangedDuringTheRemovalIsKept) {
  ApplyExample();
  Place();
  PropagationController controller(server_->objects(), clock_, HookedFactory());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  fakes_["eu-west-1"]->ClearCalls();

  PlaceWithout("eu-west-1");
  ASSERT_TRUE(controller.LoadWorkloads().ok());
  bool hooked = false;
  eu_->on_list = [&](const GroupVersionResource&, const std::string& ns) {
    if (ns != "shop" || hooked) return;
    hooked = true;
    json taken = EuNamespace();
    taken["metadata"]["labels"].erase(kManagedByLabel);
    fakes_["eu-west-1"]->Apply(kNamespaces, taken);
  };
  controller.ProcessMember("eu-west-1");
  EXPECT_TRUE(hooked);
  EXPECT_EQ(NamespaceDeletes(), 1);  // sent, and refused
  ASSERT_FALSE(EuNamespace().is_null());
  EXPECT_FALSE(IsManaged(EuNamespace()));
}

}  // namespace
}  // namespace meridian::sync
