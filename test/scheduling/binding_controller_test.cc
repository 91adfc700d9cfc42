// The binding controller with the placement controller against an in-process
// federation-apiserver (SQLite, FakeClock): examples/zero-change/ placed 5:3:2 with its
// ConfigMap and Secret on exactly the members that run it; conflicts between policies (two
// matching, one deleted, an object relabelled from one to another) with the outcome explained
// on the object; an unselected object reported as such; a policy selecting an unknown kind
// refused with its field named and nothing stored; and the pure parts of
// scheduling/policy_binding.h.
#include "scheduling/binding_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "api/codec.h"
#include "scheduling/placement_controller.h"
#include "scheduling/policy_binding.h"
#include "test/common/in_process_federation.h"

namespace meridian::scheduling {
namespace {

using nlohmann::json;

class BindingControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    federation_.ApplyFile("examples/three-continents/topology.yaml");
    federation_.ApplyFile("examples/three-continents/members.yaml");
    federation_.ApplyFile("examples/zero-change/app.yaml");
  }

  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }

  // Runs both controllers until neither writes anything.
  void Converge() {
    for (int i = 0; i < 10; ++i) {
      StatusOr<int> b = bindings_.ReconcileAll();
      ASSERT_TRUE(b.ok()) << b.status();
      StatusOr<int> p = placement_.ReconcileAll();
      ASSERT_TRUE(p.ok()) << p.status();
      if (*b == 0 && *p == 0) return;
    }
    FAIL() << "the controllers did not converge";
  }

  json Get(const std::string& api_version, const std::string& kind, const std::string& name,
           const std::string& ns = "shop") {
    auto got = federation_.objects().Get(Info(api_version, kind), ns, name);
    return got.ok() ? got.value() : json();
  }

  // Replicas per member of binding shop/`name` (empty when there is no such binding).
  std::map<std::string, int64_t> Placement(const std::string& name) {
    json b = Get(api::kApiVersion, "FederatedWorkload", name);
    std::map<std::string, int64_t> out;
    // (A binding just created has no status yet: the running controllers' tests look early.)
    if (b.is_null() || !b.contains("status") || !b["status"].is_object()) return out;
    for (const json& p : b["status"].value("placement", json::array())) {
      if (p.value("replicas", 0) > 0) out[p["cluster"]] = p["replicas"];
    }
    return out;
  }

  std::string PlacementNote(const std::string& api_version, const std::string& kind,
                            const std::string& name) {
    json o = Get(api_version, kind, name);
    return o["metadata"].value("annotations", json::object()).value(kPlacementAnnotation, "");
  }

  // web2: a second Deployment with web's spec and labels (same policy, same members).
  void CreateWeb2() { CreateLikeWeb("web2"); }
  void CreateLikeWeb(const std::string& name) {
    json web = Get("apps/v1", "Deployment", "web");
    Create({{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", name}, {"namespace", "shop"}, {"labels", web["metadata"]["labels"]}}},
            {"spec", web["spec"]}});
  }

  // Every revision of shop/`name` stored after resourceVersion `since`, in order: the store's
  // history, through a watch from `since` until it reaches the object's current revision.
  std::vector<json> WritesSince(const std::string& api_version, const std::string& kind,
                                const std::string& name, const std::string& since) {
    const std::string now_rv = Get(api_version, kind, name)["metadata"]["resourceVersion"];
    std::mutex mu;
    std::vector<json> seen;
    std::string last_rv;
    apimachinery::ListRequest request;
    request.resource_version = since;
    request.field_selector = "metadata.name=" + name;
    auto watch = federation_.objects().StartWatch(Info(api_version, kind), "shop", request,
                                                  [&](const apimachinery::ObjectEvent& e) {
                                                    std::lock_guard lock(mu);
                                                    seen.push_back(*e.object);
                                                    last_rv = std::to_string(e.resource_version);
                                                  });
    EXPECT_TRUE(watch.ok()) << watch.error().message;
    if (!watch.ok() || now_rv == since) return {};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto caught_up = [&] {
      std::lock_guard lock(mu);
      return last_rv == now_rv;
    };
    while (!caught_up() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu);
    return seen;
  }

  void Create(const json& object) { federation_.Apply(object); }
  void Delete(const std::string& api_version, const std::string& kind, const std::string& name,
              const std::string& ns) {
    auto r = federation_.objects().Delete(Info(api_version, kind), ns, name);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  static json Policy(const std::string& name, json selector, json placement, int priority = 0,
                     bool cluster_scoped = false) {
    json p = {{"apiVersion", api::kApiVersion},
              {"kind", cluster_scoped ? "ClusterPlacementPolicy" : "PlacementPolicy"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"resourceSelectors", json::array({std::move(selector)})},
                {"priority", priority},
                {"placement", std::move(placement)}}}};
    if (!cluster_scoped) p["metadata"]["namespace"] = "shop";
    return p;
  }
  static json OnRegion(const std::string& region) {
    return {{"distribution", {{"weights", {{region, 1}}}}}};
  }
  // The region binding shop/deployment-web is weighted to: which policy's block it carries
  // (its status may still hold old members: placement moves make-before-break).
  std::string Region() {
    json b = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
    if (b.is_null()) return "";
    const json& w = b["spec"]["placement"]["distribution"]["weights"];
    return w.size() == 1 ? w.begin().key() : w.dump();
  }

  // For the running controllers (Start): real time, the workers react on their own threads.
  // Waits (bounded) until `done` holds and the binding controller has run no pass for 400 ms.
  bool Settle(const std::function<bool()>& done) {
    auto passes = [&] {
      BindingController::PassCounts c = bindings_.Counts();
      return c.whole + c.partial;
    };
    int64_t last = passes();
    auto quiet_since = std::chrono::steady_clock::now();
    const auto deadline = quiet_since + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const int64_t now = passes();
      if (now != last) {
        last = now;
        quiet_since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - quiet_since > std::chrono::milliseconds(400) &&
                 done()) {
        return true;
      }
    }
    return false;
  }

  test_env::InProcessFederation federation_{"binding-controller"};
  FakeClock& clock_ = federation_.clock();
  BindingController bindings_{federation_.objects(), clock_};
  PlacementController placement_{federation_.objects(), clock_};
};

const std::map<std::string, int64_t> kFiveThreeTwo = {
    {"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}};

TEST_F(BindingControllerTest, ZeroChangeAppIsPlacedWithItsDependenciesOnExactlyItsMembers) {
  // Before any policy: stored, nothing placed, and every object says so.
  Converge();
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
  EXPECT_TRUE(Placement("deployment-web").empty());
  json web = Get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web["status"]["conditions"][0]["type"], "Placed");
  EXPECT_EQ(web["status"]["conditions"][0]["status"], "False");

  federation_.ApplyFile("examples/zero-change/policy.yaml");
  Converge();
  EXPECT_EQ(Placement("deployment-web"), kFiveThreeTwo);
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/web (by label, priority 0)");
  // The dependencies: on exactly the three members that run it, one copy each.
  const std::map<std::string, int64_t> one_each = {
      {"us-east-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}};
  EXPECT_EQ(Placement("configmap-web-config"), one_each);
  EXPECT_EQ(Placement("secret-web-db"), one_each);
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"),
            "dependency of Deployment/web: on ap-south-1, eu-west-1, us-east-1");
  // The Service goes wherever the policy allows; the HPA is not selected.
  EXPECT_EQ(Placement("service-web").size(), 5u);
  EXPECT_EQ(PlacementNote("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
  // The binding's template is the Deployment itself (members get "web", not the binding's name).
  json binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  EXPECT_EQ(binding["spec"]["template"]["metadata"]["name"], "web");
  EXPECT_EQ(binding["spec"]["template"]["spec"]["replicas"], 10);
  EXPECT_FALSE(binding["spec"]["template"].contains("status"));

  // Not ready until the members say so: observedGeneration waits.
  web = Get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web["status"]["readyReplicas"], 0);
  EXPECT_FALSE(web["status"].contains("observedGeneration"));

  // The members report (what the propagation controller writes): the aggregate follows.
  // Each runs the binding's newest revision (recorded when the binding was created).
  ASSERT_FALSE(binding["status"]["revisions"].empty());
  const json revision = binding["status"]["revisions"].back()["revision"];
  binding["status"]["clusters"] = json::array();
  for (const auto& [cluster, n] : kFiveThreeTwo) {
    binding["status"]["clusters"].push_back(
        {{"cluster", cluster}, {"readyReplicas", n}, {"synced", true}, {"revision", revision}});
  }
  binding["status"]["conditions"].push_back(
      {{"type", "Synced"},
       {"status", "True"},
       {"reason", "AllClustersSynced"},
       {"message", "3 of 3 clusters synced"},
       {"lastTransitionTime", "2026-01-01T00:00:00Z"},
       {"observedGeneration", binding["metadata"]["generation"]}});
  auto written = federation_.objects().Update(Info(api::kApiVersion, "FederatedWorkload"), "shop",
                                              "deployment-web", binding, "status");
  ASSERT_TRUE(written.ok()) << written.error().message;
  Converge();
  web = Get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web["status"]["replicas"], 10);
  EXPECT_EQ(web["status"]["readyReplicas"], 10);
  EXPECT_EQ(web["status"]["updatedReplicas"], 10);
  EXPECT_EQ(web["status"]["availableReplicas"], 10);
  EXPECT_EQ(web["status"]["observedGeneration"], web["metadata"]["generation"]);

  // Scaling the Deployment re-divides its binding.
  web["spec"]["replicas"] = 20;
  ASSERT_TRUE(federation_.objects().Update(Info("apps/v1", "Deployment"), "shop", "web", web).ok());
  Converge();
  EXPECT_EQ(
      Placement("deployment-web"),
      (std::map<std::string, int64_t>{{"us-east-1", 10}, {"eu-west-1", 6}, {"ap-south-1", 4}}));
  // A new generation is not observed until the members report it.
  web = Get("apps/v1", "Deployment", "web");
  EXPECT_NE(web["status"]["observedGeneration"], web["metadata"]["generation"]);

  // Deleting the policy: nothing placed any more, dependencies included.
  Delete(api::kApiVersion, "PlacementPolicy", "web", "shop");
  Converge();
  EXPECT_TRUE(Get(api::kApiVersion, "FederatedWorkload", "deployment-web").is_null() ||
              Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["metadata"].contains(
                  "deletionTimestamp"));
  EXPECT_TRUE(
      Get(api::kApiVersion, "FederatedWorkload", "configmap-web-config").is_null() ||
      Get(api::kApiVersion, "FederatedWorkload", "configmap-web-config")["metadata"].contains(
          "deletionTimestamp"));
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"),
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
}

TEST_F(BindingControllerTest, ConflictsAreResolvedDeterministicallyAndExplained) {
  const json by_label = {{"apiVersion", "apps/v1"},
                         {"kind", "Deployment"},
                         {"labelSelector", {{"matchLabels", {{"app", "web"}}}}}};
  const json by_kind = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}};
  const json by_name = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}};
  // A cluster-wide policy by kind with a high priority, a namespaced one by label.
  Create(Policy("everything", by_kind, OnRegion("eu-central"), 100, true));
  clock_.Advance(std::chrono::seconds(2));
  Create(Policy("by-label", by_label, OnRegion("us-west")));
  Converge();
  EXPECT_EQ(Region(), "us-west");
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/by-label (by label, priority 0); also matched: "
            "ClusterPlacementPolicy everything (by kind, priority 100): less specific");

  // By name beats by label.
  clock_.Advance(std::chrono::seconds(2));
  Create(Policy("by-name", by_name, OnRegion("eu-west")));
  Converge();
  EXPECT_EQ(Region(), "eu-west");

  // Equally specific: the highest priority, then the oldest.
  clock_.Advance(std::chrono::seconds(2));
  Create(Policy("by-name-newer", by_name, OnRegion("ap-south")));
  Converge();
  EXPECT_EQ(Region(), "eu-west");
  EXPECT_NE(PlacementNote("apps/v1", "Deployment", "web")
                .find("PlacementPolicy shop/by-name-newer (by name, priority 0): newer"),
            std::string::npos);
  clock_.Advance(std::chrono::seconds(2));
  Create(Policy("by-name-urgent", by_name, OnRegion("us-east"), 7));
  Converge();
  EXPECT_EQ(Region(), "us-east");
  EXPECT_EQ(
      PlacementNote("apps/v1", "Deployment", "web")
          .rfind("placed by PlacementPolicy shop/by-name-urgent (by name, priority 7); also "
                 "matched: PlacementPolicy shop/by-name (by name, priority 0): lower priority",
                 0),
      0u);

  // A deleted policy: the next in line places it.
  Delete(api::kApiVersion, "PlacementPolicy", "by-name-urgent", "shop");
  Converge();
  EXPECT_EQ(Region(), "eu-west");
  Delete(api::kApiVersion, "PlacementPolicy", "by-name", "shop");
  Delete(api::kApiVersion, "PlacementPolicy", "by-name-newer", "shop");
  Converge();
  EXPECT_EQ(Region(), "us-west");

  // Relabelled: from the label policy to the cluster-wide one.
  json web = Get("apps/v1", "Deployment", "web");
  web["metadata"]["labels"]["app"] = "web-v2";
  ASSERT_TRUE(federation_.objects().Update(Info("apps/v1", "Deployment"), "shop", "web", web).ok());
  Converge();
  EXPECT_EQ(Region(), "eu-central");
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by ClusterPlacementPolicy everything (by kind, priority 100)");
  // ... and the binding carries the new labels (residency policies select it by them).
  EXPECT_EQ(
      Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["metadata"]["labels"]["app"],
      "web-v2");

  // A policy change re-places what it selects.
  const auto& cpp = Info(api::kApiVersion, "ClusterPlacementPolicy");
  json everything = federation_.objects().Get(cpp, "", "everything").value();
  everything["spec"]["placement"] = OnRegion("ap-south");
  ASSERT_TRUE(federation_.objects().Update(cpp, "", "everything", everything).ok());
  Converge();
  EXPECT_EQ(Region(), "ap-south");
}

TEST_F(BindingControllerTest, DependenciesMoveWithTheirWorkloadOnFailover) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  Converge();
  ASSERT_EQ(Placement("deployment-web"), kFiveThreeTwo);
  // us-east-1 stops answering: its replicas start elsewhere at once and are retained where
  // they may still serve; the ConfigMap must be on both.
  const auto& mc = Info(api::kApiVersion, "MemberCluster");
  json member = federation_.objects().Get(mc, "", "us-east-1").value();
  member["status"] = {
      {"conditions", json::array({{{"type", "Reachable"},
                                   {"status", "False"},
                                   {"reason", "ProbeFailed"},
                                   {"message", ""},
                                   {"lastTransitionTime", FormatRfc3339(clock_.Now())}}})}};
  ASSERT_TRUE(federation_.objects().Update(mc, "", "us-east-1", member, "status").ok());
  Converge();
  std::map<std::string, int64_t> workload = Placement("deployment-web");
  EXPECT_EQ(workload.count("us-east-1"), 0u);
  std::set<std::string> members = {"us-east-1"};  // retained
  for (const auto& [cluster, n] : workload) members.insert(cluster);
  EXPECT_GT(members.size(), 3u);
  std::set<std::string> dependency;
  for (const auto& [cluster, n] : Placement("configmap-web-config")) dependency.insert(cluster);
  // Placement of copies excludes the unreachable member; the selector still names it, so it
  // is written there again (or kept) as soon as it answers.
  json cm = Get(api::kApiVersion, "FederatedWorkload", "configmap-web-config");
  std::set<std::string> selected;
  for (const json& v :
       cm["spec"]["placement"]["clusterSelector"]["matchExpressions"][0]["values"]) {
    selected.insert(v.get<std::string>());
  }
  EXPECT_EQ(selected, members);
  members.erase("us-east-1");
  EXPECT_EQ(dependency, members);
}

TEST_F(BindingControllerTest, SharedDependenciesGoToTheUnionAndLeaveWithTheirWorkload) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  // A StatefulSet in eu-central sharing the web's ConfigMap, with its own ServiceAccount and
  // PVC (volumeClaimTemplates are the member's to create per pod: not dependencies).
  Create({{"apiVersion", "v1"},
          {"kind", "ServiceAccount"},
          {"metadata", {{"name", "db-sa"}, {"namespace", "shop"}}}});
  Create({{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", {{"name", "backups"}, {"namespace", "shop"}}},
          {"spec",
           {{"accessModes", {"ReadWriteOnce"}},
            {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}});
  Create(json::parse(R"({"apiVersion": "apps/v1", "kind": "StatefulSet",
      "metadata": {"name": "db", "namespace": "shop"},
      "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}},
          "spec": {"serviceAccountName": "db-sa",
            "containers": [{"name": "db", "image": "db:1", "envFrom": [{"configMapRef": {"name": "web-config"}}]}],
            "volumes": [{"name": "b", "persistentVolumeClaim": {"claimName": "backups"}}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
          "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})"));
  Create(Policy("db", {{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"name", "db"}},
                OnRegion("eu-central")));
  Converge();
  EXPECT_EQ(Placement("statefulset-db"), (std::map<std::string, int64_t>{{"eu-central-1", 2}}));
  auto members = [&](const std::string& binding) {
    std::set<std::string> out;
    for (const auto& [cluster, n] : Placement(binding)) out.insert(cluster);
    return out;
  };
  EXPECT_EQ(members("configmap-web-config"),
            (std::set<std::string>{"ap-south-1", "eu-central-1", "eu-west-1", "us-east-1"}));
  EXPECT_EQ(Get(api::kApiVersion, "FederatedWorkload",
                "configmap-web-config")["metadata"]["annotations"][kDependentsAnnotation],
            "Deployment/web, StatefulSet/db");
  EXPECT_EQ(members("serviceaccount-db-sa"), (std::set<std::string>{"eu-central-1"}));
  EXPECT_EQ(members("persistentvolumeclaim-backups"), (std::set<std::string>{"eu-central-1"}));
  EXPECT_EQ(members("secret-web-db"),
            (std::set<std::string>{"ap-south-1", "eu-west-1", "us-east-1"}));

  // The StatefulSet leaves: its own dependencies go, the shared one shrinks back.
  Delete("apps/v1", "StatefulSet", "db", "shop");
  Converge();
  EXPECT_EQ(members("configmap-web-config"),
            (std::set<std::string>{"ap-south-1", "eu-west-1", "us-east-1"}));
  json sa = Get(api::kApiVersion, "FederatedWorkload", "serviceaccount-db-sa");
  EXPECT_TRUE(sa.is_null() || sa["metadata"].contains("deletionTimestamp")) << sa.dump();
  EXPECT_EQ(PlacementNote("v1", "ServiceAccount", "db-sa"),
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
}

// The running controller: a change to one object, or to its binding, is a pass over that
// object and its dependencies, not over every object (native objects on a busy fleet: each
// member's status report used to cost a whole pass); a policy change is a whole pass. The
// per-object passes keep the dependencies right (a reference moved from one ConfigMap to
// another, a workload deleted), and a whole pass over what they left writes nothing.
TEST_F(BindingControllerTest, RunningControllerLooksOnlyAtTheObjectsAChangeIsAbout) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  // 30 more Deployments the policy selects, sharing the web's ConfigMap.
  constexpr int kMore = 30;
  auto api = [](const std::string& name, const std::string& config) {
    json container = {{"name", "c"},
                      {"image", "api:1"},
                      {"envFrom", json::array({{{"configMapRef", {{"name", config}}}}})}};
    return json{{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", {{"app", "web"}}}}},
                {"spec",
                 {{"replicas", 1},
                  {"selector", {{"matchLabels", {{"app", name}}}}},
                  {"template",
                   {{"metadata", {{"labels", {{"app", name}}}}},
                    {"spec", {{"containers", json::array({container})}}}}}}}};
  };
  for (int i = 0; i < kMore; ++i) Create(api("api-" + std::to_string(i), "web-config"));
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());

  auto gone = [&](const std::string& binding) {
    json b = Get(api::kApiVersion, "FederatedWorkload", binding);
    return b.is_null() || b["metadata"].contains("deletionTimestamp");
  };
  auto dependents = [&](const std::string& binding) -> std::string {
    json b = Get(api::kApiVersion, "FederatedWorkload", binding);
    if (b.is_null()) return "";
    return b["metadata"].value("annotations", json::object()).value(kDependentsAnnotation, "");
  };
  auto members = [&](const std::string& binding) {
    std::set<std::string> out;
    for (const auto& [cluster, n] : Placement(binding)) out.insert(cluster);
    return out;
  };
  ASSERT_TRUE(Settle([&] {
    return Placement("deployment-web") == kFiveThreeTwo &&
           !Placement("deployment-api-" + std::to_string(kMore - 1)).empty() &&
           dependents("configmap-web-config").find("Deployment/api-" +
                                                   std::to_string(kMore - 1)) != std::string::npos;
  }));
  // A whole pass looks at every object: 31 Deployments, the ConfigMap, the Secret, the
  // Service and the HPA.
  const int64_t whole_pass = kMore + 5;

  // 1. A member reports on the web's binding (what the propagation controller writes): the
  //    Deployment's status follows, from a pass over it alone (a member's report changes
  //    nothing its two dependencies are asked for: their bindings are not rebuilt).
  BindingController::PassCounts before = bindings_.Counts();
  json binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  binding["status"]["clusters"] = json::array();
  for (const auto& [cluster, n] : kFiveThreeTwo) {
    binding["status"]["clusters"].push_back(
        {{"cluster", cluster}, {"readyReplicas", n}, {"synced", true}});
  }
  ASSERT_TRUE(federation_.objects()
                  .Update(Info(api::kApiVersion, "FederatedWorkload"), "shop", "deployment-web",
                          binding, "status")
                  .ok());
  ASSERT_TRUE(Settle([&] { return Get("apps/v1", "Deployment", "web")["status"]["readyReplicas"] == 10; }));
  BindingController::PassCounts after = bindings_.Counts();
  EXPECT_EQ(after.whole, before.whole);
  EXPECT_GE(after.partial, before.partial + 1);
  EXPECT_EQ(after.objects - before.objects, after.partial - before.partial);  // one each

  // 2. api-0 moves from the shared ConfigMap to its own: created where api-0 runs, and the
  //    shared one no longer names it.
  before = after;
  Create({{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "api-config"}, {"namespace", "shop"}}},
          {"data", {{"k", "v"}}}});
  json api0 = Get("apps/v1", "Deployment", "api-0");
  api0["spec"] = api("api-0", "api-config")["spec"];
  ASSERT_TRUE(federation_.objects().Update(Info("apps/v1", "Deployment"), "shop", "api-0", api0).ok());
  ASSERT_TRUE(Settle([&] {
    return !members("deployment-api-0").empty() &&
           members("configmap-api-config") == members("deployment-api-0");
  }));
  // (A list of dependents alone may wait kDependentsDelay.)
  clock_.Advance(BindingController::kDependentsDelay);
  ASSERT_TRUE(Settle([&] {
    return dependents("configmap-web-config").find("Deployment/api-0,") == std::string::npos;
  }));
  EXPECT_EQ(dependents("configmap-api-config"), "Deployment/api-0");
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "api-config").rfind("dependency of Deployment/api-0: on ", 0), 0u);
  after = bindings_.Counts();
  EXPECT_EQ(after.whole, before.whole);
  EXPECT_LT(after.objects - before.objects, 2 * whole_pass);  // a few small passes, not whole ones

  // 3. api-0 deleted: its binding and its ConfigMap's go; the shared one stays for the others.
  before = after;
  Delete("apps/v1", "Deployment", "api-0", "shop");
  ASSERT_TRUE(Settle([&] { return gone("deployment-api-0") && gone("configmap-api-config"); }));
  EXPECT_FALSE(gone("configmap-web-config"));
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "api-config"),
            "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it");
  after = bindings_.Counts();
  EXPECT_EQ(after.whole, before.whole);
  EXPECT_LT(after.objects - before.objects, whole_pass);

  // 4. A policy changes: what it may select is everything, a whole pass.
  before = after;
  Create(Policy("hpa", {{"apiVersion", "autoscaling/v2"}, {"kind", "HorizontalPodAutoscaler"}},
                OnRegion("eu-west")));
  ASSERT_TRUE(Settle([&] { return !Placement("horizontalpodautoscaler-web").empty(); }));
  EXPECT_GT(bindings_.Counts().whole, before.whole);

  // What the per-object passes left is what a whole pass decides: a fresh controller's whole
  // pass writes nothing.
  placement_.Stop();
  bindings_.Stop();
  BindingController fresh{federation_.objects(), clock_};
  StatusOr<int> written = fresh.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 0);
}

TEST_F(BindingControllerTest, ResidencyGuardrailsApplyToWhatAPolicyPlaces) {
  Create({{"apiVersion", api::kApiVersion},
          {"kind", "ResidencyPolicy"},
          {"metadata", {{"name", "shop-in-eu"}}},
          {"spec", {{"namespaces", {"shop"}}, {"jurisdictions", {"eu"}}}}});
  // 5:3:2 names us-east and ap-south: refused for the binding, said on the object.
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  Converge();
  EXPECT_TRUE(Placement("deployment-web").empty());
  const std::string note = PlacementNote("apps/v1", "Deployment", "web");
  EXPECT_NE(note.find("NOT PLACED"), std::string::npos) << note;
  EXPECT_NE(note.find("shop-in-eu"), std::string::npos) << note;
  // A policy within the guardrail places it, dependencies in the EU only.
  Delete(api::kApiVersion, "PlacementPolicy", "web", "shop");
  Create(Policy("eu", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}},
                {{"distribution", {{"weights", {{"eu-west", 2}, {"eu-central", 1}}}}}}));
  Converge();
  EXPECT_EQ(Placement("deployment-web"),
            (std::map<std::string, int64_t>{{"eu-west-1", 7}, {"eu-central-1", 3}}));
  std::set<std::string> dependency;
  for (const auto& [cluster, n] : Placement("secret-web-db")) dependency.insert(cluster);
  EXPECT_EQ(dependency, (std::set<std::string>{"eu-central-1", "eu-west-1"}));
}

// The running controller looks again at an object whose binding admission refused when what
// admission judges by changes (here the ResidencyPolicy goes), though nothing about the object
// or its policy did.
TEST_F(BindingControllerTest, RunningControllerRetriesWhatAdmissionRefusedWhenResidencyChanges) {
  Create({{"apiVersion", api::kApiVersion},
          {"kind", "ResidencyPolicy"},
          {"metadata", {{"name", "shop-in-eu"}}},
          {"spec", {{"namespaces", {"shop"}}, {"jurisdictions", {"eu"}}}}});
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(Settle([&] {
    return PlacementNote("apps/v1", "Deployment", "web").find("NOT PLACED") != std::string::npos;
  }));
  EXPECT_TRUE(Placement("deployment-web").empty());
  Delete(api::kApiVersion, "ResidencyPolicy", "shop-in-eu", "");
  EXPECT_TRUE(Settle([&] { return Placement("deployment-web") == kFiveThreeTwo; }))
      << PlacementNote("apps/v1", "Deployment", "web");
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/web (by label, priority 0)");
}

// The pass that creates a binding leaves the object's status alone: the binding has no
// placement yet (the status would say "not placed" of an object a policy places, one write
// more per object); the placement controller's first status on the binding brings the pass
// that writes it.
// Its placement annotation waits with it, and the two are one write (one watch event).
TEST_F(BindingControllerTest, StatusWaitsForTheBindingsFirstPlacement) {
  const json created = Get("apps/v1", "Deployment", "web");
  const std::string created_rv = created["metadata"]["resourceVersion"];
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  StatusOr<int> written = bindings_.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_FALSE(Get(api::kApiVersion, "FederatedWorkload", "deployment-web").is_null());
  json web = Get("apps/v1", "Deployment", "web");
  EXPECT_EQ(web, created) << "the creating pass wrote the Deployment";

  ASSERT_TRUE(placement_.ReconcileAll().ok());
  written = bindings_.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  web = Get("apps/v1", "Deployment", "web");
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/web (by label, priority 0)");
  // Every write to web since its create, from the store's history: one.
  EXPECT_EQ(WritesSince("apps/v1", "Deployment", "web", created_rv).size(), 1u)
      << "annotation and status in one write";
  EXPECT_EQ(web["status"]["replicas"], 10);
  ASSERT_TRUE(web["status"]["conditions"].is_array());
  EXPECT_EQ(web["status"]["conditions"][0]["type"], "Placed");
  EXPECT_EQ(web["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(web["status"]["conditions"][0]["reason"], "PlacedByPolicy");
}

// A finalizer added to or removed from a binding (the propagation controller's, on every
// binding it syncs) changes nothing this controller reads: no pass over its object. A member's
// report on the same binding still brings one.
TEST_F(BindingControllerTest, RunningControllerIgnoresABindingsFinalizers) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(Settle([&] { return Placement("deployment-web") == kFiveThreeTwo; }));
  const auto& fw = Info(api::kApiVersion, "FederatedWorkload");

  BindingController::PassCounts before = bindings_.Counts();
  json binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  binding["metadata"]["finalizers"] = json::array({"example.io/test"});
  ASSERT_TRUE(federation_.objects().Update(fw, "shop", "deployment-web", binding).ok());
  ASSERT_TRUE(Settle([&] {
    return Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["metadata"].contains(
        "finalizers");
  }));
  binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  binding["metadata"].erase("finalizers");
  ASSERT_TRUE(federation_.objects().Update(fw, "shop", "deployment-web", binding).ok());
  ASSERT_TRUE(Settle([&] {
    return !Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["metadata"].contains(
        "finalizers");
  }));
  BindingController::PassCounts after = bindings_.Counts();
  EXPECT_EQ(after.partial, before.partial);
  EXPECT_EQ(after.whole, before.whole);

  binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  binding["status"]["clusters"] = json::array();
  for (const auto& [cluster, n] : kFiveThreeTwo) {
    binding["status"]["clusters"].push_back(
        {{"cluster", cluster}, {"readyReplicas", n}, {"synced", true}});
  }
  ASSERT_TRUE(federation_.objects().Update(fw, "shop", "deployment-web", binding, "status").ok());
  ASSERT_TRUE(Settle([&] {
    return Get("apps/v1", "Deployment", "web")["status"]["readyReplicas"] == 10;
  }));
  EXPECT_GT(bindings_.Counts().partial, after.partial);
}

// A binding's update that loses a race with another writer (409: the propagation controller
// wrote its status after this controller's cache last heard of it) is written again by a pass
// over its object alone: not a failed pass, which was retried as a whole pass over everything.
TEST_F(BindingControllerTest, RunningControllerRetriesABindingThatLostARaceInAPassOverItsObject) {
  std::atomic<int> conflicts_to_answer{0};
  std::atomic<int> conflicts_answered{0};
  federation_.objects().AddMutatingAdmission(
      [&](const apimachinery::AdmissionAttributes& attrs, json*) -> Status {
        if (attrs.operation == apimachinery::Operation::kUpdate &&
            attrs.resource->kind == "FederatedWorkload" && attrs.subresource.empty() &&
            attrs.name == "deployment-web" && conflicts_to_answer.fetch_sub(1) > 0) {
          ++conflicts_answered;
          return AbortedError("the object has been modified (test)");
        }
        return Status::Ok();
      });
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(Settle([&] { return Placement("deployment-web") == kFiveThreeTwo; }));

  const BindingController::PassCounts before = bindings_.Counts();
  conflicts_to_answer = 2;
  json web = Get("apps/v1", "Deployment", "web");
  web["spec"]["replicas"] = 4;
  ASSERT_TRUE(federation_.objects().Update(Info("apps/v1", "Deployment"), "shop", "web", web).ok());
  ASSERT_TRUE(Settle([&] {
    return Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["spec"]["template"]["spec"]
               ["replicas"] == 4;
  }));
  EXPECT_EQ(conflicts_answered.load(), 2);
  EXPECT_EQ(bindings_.Counts().whole, before.whole);
  EXPECT_GE(bindings_.Counts().partial, before.partial + 3);
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/web (by label, priority 0)");
}

// Passes over single objects decide with the policies the last whole pass read; a policy's
// change brings a whole pass that reads them again, and the passes after it use what it read.
TEST_F(BindingControllerTest, RunningControllerFollowsAChangedPolicyInItsLaterPasses) {
  Create(Policy("web", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}},
                OnRegion("us-east")));
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(Settle([&] { return Region() == "us-east"; })) << Region();

  json policy = Get(api::kApiVersion, "PlacementPolicy", "web");
  policy["spec"]["placement"] = OnRegion("eu-west");
  ASSERT_TRUE(federation_.objects()
                  .Update(Info(api::kApiVersion, "PlacementPolicy"), "shop", "web", policy)
                  .ok());
  ASSERT_TRUE(Settle([&] { return Region() == "eu-west"; })) << Region();

  // A change to the Deployment alone: a pass over it, with the changed policy.
  const BindingController::PassCounts before = bindings_.Counts();
  json web = Get("apps/v1", "Deployment", "web");
  web["spec"]["replicas"] = 4;
  ASSERT_TRUE(federation_.objects().Update(Info("apps/v1", "Deployment"), "shop", "web", web).ok());
  ASSERT_TRUE(Settle([&] {
    return Get(api::kApiVersion, "FederatedWorkload", "deployment-web")["spec"]["template"]["spec"]
               ["replicas"] == 4;
  }));
  EXPECT_EQ(bindings_.Counts().whole, before.whole);
  EXPECT_EQ(Region(), "eu-west");
}

// A dependency's list of dependents, when nothing else about it changes (a second Deployment
// on the same members needs the same ConfigMap), is written kDependentsDelay later: it would
// otherwise be rewritten for every workload created that needs it.
TEST_F(BindingControllerTest, RunningControllerWritesAGrowingListOfDependentsLater) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  auto dependents = [&] {
    json b = Get(api::kApiVersion, "FederatedWorkload", "configmap-web-config");
    if (b.is_null()) return std::string();
    return b["metadata"].value("annotations", json::object()).value(kDependentsAnnotation, "");
  };
  ASSERT_TRUE(Settle([&] {
    return Placement("deployment-web") == kFiveThreeTwo && dependents() == "Deployment/web";
  }));
  const std::map<std::string, int64_t> one_each = {
      {"us-east-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}};

  CreateWeb2();
  ASSERT_TRUE(Settle([&] { return Placement("deployment-web2") == kFiveThreeTwo; }));
  EXPECT_EQ(Placement("configmap-web-config"), one_each);
  EXPECT_EQ(dependents(), "Deployment/web");  // not yet: the clock has not moved
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"),
            "dependency of Deployment/web: on ap-south-1, eu-west-1, us-east-1");

  clock_.Advance(BindingController::kDependentsDelay);
  ASSERT_TRUE(Settle([&] { return dependents() == "Deployment/web, Deployment/web2"; }))
      << dependents();
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"),
            "dependency of Deployment/web, Deployment/web2: on ap-south-1, eu-west-1, us-east-1");
  EXPECT_EQ(Placement("configmap-web-config"), one_each);
}

// While none of its workloads is placed a dependency has no binding, and its list of dependents
// is only in its placement annotation: that list, growing with each new workload, is written
// kDependentsDelay later too (a burst of Deployments sharing a ConfigMap rewrote it per pass).
TEST_F(BindingControllerTest, RunningControllerWritesAnUnplacedDependencysGrowingListLater) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());  // no placement controller: web's binding stays unplaced
  ASSERT_TRUE(Settle(
      [&] { return !Get(api::kApiVersion, "FederatedWorkload", "deployment-web").is_null(); }));
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"), "")
      << "not yet: its binding is not written with it, and the clock has not moved";
  clock_.Advance(BindingController::kDependentsDelay);
  const std::string waiting = "dependency of Deployment/web: not placed until they are";
  ASSERT_TRUE(Settle([&] { return PlacementNote("v1", "ConfigMap", "web-config") == waiting; }))
      << PlacementNote("v1", "ConfigMap", "web-config");

  CreateWeb2();
  ASSERT_TRUE(Settle(
      [&] { return !Get(api::kApiVersion, "FederatedWorkload", "deployment-web2").is_null(); }));
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"), waiting)
      << "not yet: the clock has not moved";
  EXPECT_TRUE(Get(api::kApiVersion, "FederatedWorkload", "configmap-web-config").is_null());

  clock_.Advance(BindingController::kDependentsDelay);
  const std::string both =
      "dependency of Deployment/web, Deployment/web2: not placed until they are";
  ASSERT_TRUE(Settle([&] { return PlacementNote("v1", "ConfigMap", "web-config") == both; }))
      << PlacementNote("v1", "ConfigMap", "web-config");
}

// A dependency's annotation is written with its binding when the members it is on change, and
// otherwise waits: created before any policy ("no policy selects it"), then needed by a
// workload not placed yet ("not placed until they are"), it is written once, placed; its list
// of dependents then grows, written kDependentsDelay later. Each of those texts was written at
// once before (a burst of 1,000 new Deployments annotated each shared ConfigMap ~5 times,
// docs/performance.md, issue 18, h18g).
TEST_F(BindingControllerTest, RunningControllerAnnotatesADependencyWhenItsMembersChange) {
  const std::string created_rv =
      Get("v1", "ConfigMap", "web-config")["metadata"]["resourceVersion"];
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(Settle([&] {
    return PlacementNote("apps/v1", "Deployment", "web") ==
           "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it";
  }));
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"), "") << "its first text waits";

  federation_.ApplyFile("examples/zero-change/policy.yaml");
  const std::string placed = "dependency of Deployment/web: on ap-south-1, eu-west-1, us-east-1";
  ASSERT_TRUE(Settle([&] { return PlacementNote("v1", "ConfigMap", "web-config") == placed; }))
      << PlacementNote("v1", "ConfigMap", "web-config");

  CreateWeb2();
  ASSERT_TRUE(Settle([&] { return Placement("deployment-web2") == kFiveThreeTwo; }));
  clock_.Advance(BindingController::kDependentsDelay);
  const std::string both =
      "dependency of Deployment/web, Deployment/web2: on ap-south-1, eu-west-1, us-east-1";
  ASSERT_TRUE(Settle([&] { return PlacementNote("v1", "ConfigMap", "web-config") == both; }))
      << PlacementNote("v1", "ConfigMap", "web-config");

  std::vector<std::string> texts;
  for (const json& w : WritesSince("v1", "ConfigMap", "web-config", created_rv)) {
    texts.push_back(w["metadata"]["annotations"].value(kPlacementAnnotation, ""));
  }
  EXPECT_EQ(texts, (std::vector<std::string>{placed, both}));
}

// A list of dependents that keeps changing is written once it has not changed for
// kDependentsDelay, and at the latest kDependentsMaxDelay after it first waited (a burst of
// workloads that lasts minutes: each change used to bring a write kDependentsDelay later).
TEST_F(BindingControllerTest, RunningControllerWritesAListThatKeepsChangingOnceItSettlesOrLate) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());
  ASSERT_TRUE(placement_.Start().ok());
  const std::string placed = "dependency of Deployment/web: on ap-south-1, eu-west-1, us-east-1";
  ASSERT_TRUE(Settle([&] { return PlacementNote("v1", "ConfigMap", "web-config") == placed; }));
  constexpr auto step = std::chrono::seconds(4);  // less than kDependentsDelay
  static_assert(step < BindingController::kDependentsDelay);
  const int steps = BindingController::kDependentsMaxDelay / step;  // 7: 28 s
  // A new Deployment on the same members every 4 s: its list waits while it keeps changing.
  for (int i = 0; i <= steps; ++i) {
    if (i > 0) clock_.Advance(step);
    CreateLikeWeb("web-" + std::to_string(i));
    ASSERT_TRUE(Settle([&] { return !Placement("deployment-web-" + std::to_string(i)).empty(); }));
    EXPECT_EQ(PlacementNote("v1", "ConfigMap", "web-config"), placed)
        << "after " << i * step.count() << " s";
  }
  // 32 s after the list first changed, the next change writes it (due at 30 s).
  clock_.Advance(step);
  CreateLikeWeb("web-last");
  ASSERT_TRUE(Settle([&] {
    return PlacementNote("v1", "ConfigMap", "web-config").find("Deployment/web-last") !=
           std::string::npos;
  })) << PlacementNote("v1", "ConfigMap", "web-config");
}

// A Deployment's status and annotation wait for placement's decision on its binding, not only
// the pass that creates it: the rollout controller records a new binding's first revision
// before placement decides, and the pass that write woke wrote "0 replicas placed", rewritten
// at once by the next.
TEST_F(BindingControllerTest, RunningControllerWritesAWorkloadsStatusOncePlacementDecided) {
  federation_.ApplyFile("examples/zero-change/policy.yaml");
  ASSERT_TRUE(bindings_.Start().ok());  // placement later
  ASSERT_TRUE(Settle(
      [&] { return !Get(api::kApiVersion, "FederatedWorkload", "deployment-web").is_null(); }));
  const std::string rv = Get("apps/v1", "Deployment", "web")["metadata"]["resourceVersion"];

  // What the rollout controller writes on a new binding: its first revision.
  const BindingController::PassCounts before = bindings_.Counts();
  json binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  binding["status"]["revisions"] = json::array({{{"revision", 1},
                                                 {"template", binding["spec"]["template"]},
                                                 {"created", "2026-01-01T00:00:00Z"}}});
  ASSERT_TRUE(federation_.objects()
                  .Update(Info(api::kApiVersion, "FederatedWorkload"), "shop", "deployment-web",
                          binding, "status")
                  .ok());
  ASSERT_TRUE(Settle([&] { return bindings_.Counts().partial > before.partial; }));
  EXPECT_EQ(Get("apps/v1", "Deployment", "web")["metadata"]["resourceVersion"], rv)
      << "written before placement decided";

  ASSERT_TRUE(placement_.Start().ok());
  ASSERT_TRUE(
      Settle([&] { return Get("apps/v1", "Deployment", "web")["status"]["replicas"] == 10; }));
  EXPECT_EQ(WritesSince("apps/v1", "Deployment", "web", rv).size(), 1u);
  EXPECT_EQ(PlacementNote("apps/v1", "Deployment", "web"),
            "placed by PlacementPolicy shop/web (by label, priority 0)");
}

TEST_F(BindingControllerTest, PolicySelectingAnUnknownKindIsRefusedNamingTheField) {
  const auto& info = Info(api::kApiVersion, "PlacementPolicy");
  json bad = Policy("typo", {{"apiVersion", "apps/v1"}, {"kind", "Deploymnet"}}, json::object());
  // The same judgement client-side (fedctl) and in the fuzzers' invariant.
  const FieldErrors offline = api::ValidateObject(bad);
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0].path, "spec.resourceSelectors[0].kind");
  auto created = federation_.objects().Create(info, "shop", bad);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 422);
  EXPECT_NE(created.error().message.find("spec.resourceSelectors[0].kind"), std::string::npos)
      << created.error().message;
  EXPECT_NE(created.error().message.find("apps/v1 Deploymnet"), std::string::npos);
  // A namespaced policy cannot reach other namespaces; a bad placement block is named too.
  json reach = Policy("reach",
                      {{"apiVersion", "apps/v1"},
                       {"kind", "Deployment"},
                       {"namespaceSelector", {{"matchLabels", {{"team", "a"}}}}}},
                      {{"spread", {{"minRegions", -1}}}});
  created = federation_.objects().Create(info, "shop", reach);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("spec.resourceSelectors[0].namespaceSelector"),
            std::string::npos)
      << created.error().message;
  EXPECT_NE(created.error().message.find("spec.placement.spread.minRegions"), std::string::npos)
      << created.error().message;
  auto list = federation_.objects().List(info, "", {});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list.value()["items"].empty());

  // A native object with a typo is refused when applied, not when a policy selects it.
  json typo = {{"apiVersion", "apps/v1"},
               {"kind", "Deployment"},
               {"metadata", {{"name", "typo"}, {"namespace", "shop"}}},
               {"spec", {{"replicaz", 3}}}};
  created = federation_.objects().Create(Info("apps/v1", "Deployment"), "shop", typo);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 422);
  EXPECT_NE(created.error().message.find("spec.replicaz"), std::string::npos)
      << created.error().message;
  EXPECT_TRUE(Get("apps/v1", "Deployment", "typo").is_null());
}

// A DaemonSet, a Job and a CronJob have no spec.replicas to divide: each is copied whole to
// every member its policy selects (a Job's parallelism and completions are each member's, not
// split), and the ConfigMaps and Secrets their pod templates reference (a CronJob's under
// spec.jobTemplate) follow them there.
TEST_F(BindingControllerTest, DaemonSetJobAndCronJobAreCopiedToEachSelectedMember) {
  Create(json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "agent-config", "namespace": "shop"}, "data": {"k": "v"}})"));
  Create(json::parse(R"({"apiVersion": "apps/v1", "kind": "DaemonSet",
      "metadata": {"name": "node-agent", "namespace": "shop", "labels": {"team": "ops"}},
      "spec": {"selector": {"matchLabels": {"app": "node-agent"}},
               "template": {"metadata": {"labels": {"app": "node-agent"}},
                            "spec": {"containers": [{"name": "a", "image": "agent:1"}],
                                     "volumes": [{"name": "c", "configMap": {"name": "agent-config"}}]}}}})"));
  Create(json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
      "metadata": {"name": "migrate", "namespace": "shop", "labels": {"team": "ops"}},
      "spec": {"parallelism": 4, "completions": 8,
               "template": {"spec": {"restartPolicy": "Never",
                                     "containers": [{"name": "m", "image": "migrate:1"}]}}}})"));
  Create(json::parse(R"({"apiVersion": "batch/v1", "kind": "CronJob",
      "metadata": {"name": "report", "namespace": "shop", "labels": {"team": "ops"}},
      "spec": {"schedule": "0 3 * * *",
               "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                   "containers": [{"name": "r", "image": "report:1",
                                   "envFrom": [{"secretRef": {"name": "web-db"}}]}]}}}}}})"));
  json policy = Policy("ops", {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}},
                       {{"clusterSelector", {{"matchLabels", {{"continent", "europe"}}}}}});
  policy["spec"]["resourceSelectors"].push_back(
      {{"apiVersion", "batch/v1"},
       {"kind", "Job"},
       {"labelSelector", {{"matchLabels", {{"team", "ops"}}}}}});
  policy["spec"]["resourceSelectors"].push_back(
      {{"apiVersion", "batch/v1"}, {"kind", "CronJob"}, {"name", "report"}});
  Create(policy);
  Converge();

  const std::map<std::string, int64_t> europe = {{"eu-west-1", 1}, {"eu-central-1", 1}};
  EXPECT_EQ(Placement("daemonset-node-agent"), europe);
  EXPECT_EQ(Placement("job-migrate"), europe);
  EXPECT_EQ(Placement("cronjob-report"), europe);
  EXPECT_EQ(PlacementNote("apps/v1", "DaemonSet", "node-agent"),
            "placed by PlacementPolicy shop/ops (by kind, priority 0)");
  EXPECT_EQ(PlacementNote("batch/v1", "CronJob", "report"),
            "placed by PlacementPolicy shop/ops (by name, priority 0)");
  // Copied, not divided: no replicas are added, the Job keeps its own counts.
  json ds = Get(api::kApiVersion, "FederatedWorkload", "daemonset-node-agent");
  EXPECT_FALSE(ds["spec"]["template"]["spec"].contains("replicas"));
  json job = Get(api::kApiVersion, "FederatedWorkload", "job-migrate");
  EXPECT_EQ(job["spec"]["template"]["spec"]["parallelism"], 4);
  EXPECT_EQ(job["spec"]["template"]["spec"]["completions"], 8);
  // Their dependencies follow them: the DaemonSet's ConfigMap, the CronJob's Secret (which
  // also follows the unplaced Deployment: nowhere else yet).
  EXPECT_EQ(Placement("configmap-agent-config"), europe);
  EXPECT_EQ(Placement("secret-web-db"), europe);
  EXPECT_EQ(PlacementNote("v1", "ConfigMap", "agent-config"),
            "dependency of DaemonSet/node-agent: on eu-central-1, eu-west-1");

  // A bad manifest of the new kinds is refused at apply, the field named, nothing stored.
  json no_schedule = json::parse(R"({"apiVersion": "batch/v1", "kind": "CronJob",
      "metadata": {"name": "bad", "namespace": "shop"},
      "spec": {"jobTemplate": {"spec": {"template": {"spec": {
          "containers": [{"name": "r", "image": "report:1"}]}}}}}})");
  auto created = federation_.objects().Create(Info("batch/v1", "CronJob"), "shop", no_schedule);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 422);
  EXPECT_NE(created.error().message.find("spec.schedule"), std::string::npos)
      << created.error().message;
  EXPECT_TRUE(Get("batch/v1", "CronJob", "bad").is_null());
  json negative = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
      "metadata": {"name": "bad", "namespace": "shop"},
      "spec": {"parallelism": -1, "template": {"spec": {
          "containers": [{"name": "m", "image": "migrate:1"}]}}}})");
  created = federation_.objects().Create(Info("batch/v1", "Job"), "shop", negative);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("spec.parallelism"), std::string::npos)
      << created.error().message;
  // Ingress and PodDisruptionBudget are checked against their schemas before any member is
  // reached: the member would refuse them only at propagation, one member at a time.
  json ingress = json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
      "metadata": {"name": "bad", "namespace": "shop"},
      "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
          "backend": {"serviceName": "web", "servicePort": 80}}]}}]}})");
  created = federation_.objects().Create(Info("networking.k8s.io/v1", "Ingress"), "shop", ingress);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 422);
  EXPECT_NE(created.error().message.find("spec.rules[0].http.paths[0].backend.serviceName"),
            std::string::npos)
      << created.error().message;
  EXPECT_TRUE(Get("networking.k8s.io/v1", "Ingress", "bad").is_null());
  json pdb = json::parse(R"({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
      "metadata": {"name": "bad", "namespace": "shop"}, "spec": {"minAvailable": true}})");
  created = federation_.objects().Create(Info("policy/v1", "PodDisruptionBudget"), "shop", pdb);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("spec.minAvailable"), std::string::npos)
      << created.error().message;
  EXPECT_TRUE(Get("policy/v1", "PodDisruptionBudget", "bad").is_null());
}

TEST(PolicyBindingTest, DependenciesOfAPodTemplate) {
  json deployment = json::parse(R"({"spec": {"template": {"spec": {
      "serviceAccountName": "web-sa",
      "imagePullSecrets": [{"name": "pull"}],
      "volumes": [{"name": "a", "configMap": {"name": "cm-vol"}},
                  {"name": "b", "secret": {"secretName": "s-vol"}},
                  {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                  {"name": "d", "projected": {"sources": [{"configMap": {"name": "cm-proj"}},
                                                          {"secret": {"name": "s-proj"}}]}}],
      "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s-init"}}]}],
      "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cm-env"}}],
                      "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-key", "key": "k"}}},
                              {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s-key", "key": "k"}}},
                              {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}})");
  const std::set<DependencyRef> expected = {{"ConfigMap", "cm-env"},
                                            {"ConfigMap", "cm-key"},
                                            {"ConfigMap", "cm-proj"},
                                            {"ConfigMap", "cm-vol"},
                                            {"PersistentVolumeClaim", "data"},
                                            {"Secret", "pull"},
                                            {"Secret", "s-init"},
                                            {"Secret", "s-key"},
                                            {"Secret", "s-proj"},
                                            {"Secret", "s-vol"},
                                            {"ServiceAccount", "web-sa"}};
  EXPECT_EQ(DependenciesOf(deployment), expected);
  deployment["spec"]["template"]["spec"]["serviceAccountName"] = "default";
  EXPECT_EQ(DependenciesOf(deployment).count({"ServiceAccount", "default"}), 0u);
  EXPECT_TRUE(DependenciesOf(json::object()).empty());
}

// A custom kind's dependencies come from the pod templates its interpreter rule names
// (podTemplatePaths): a FlinkDeployment's job and task managers each have one.
TEST(PolicyBindingTest, DependenciesOfACustomObjectAreInThePodTemplatesItsRuleNames) {
  json flink = json::parse(R"({"spec": {
      "podTemplate": {"spec": {"serviceAccountName": "flink",
                               "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "flink-conf"}}]}]}},
      "taskManager": {"replicas": 4, "podTemplate": {"spec": {
          "volumes": [{"name": "s", "secret": {"secretName": "s3-creds"}}],
          "containers": [{"name": "c"}]}}},
      "jobManager": {"podTemplate": {"spec": {"volumes": [{"name": "x", "configMap": {"name": "unlisted"}}]}}}}})");
  FieldErrors errors;
  api::InterpreterRule rule;
  api::DecodeInterpreterRuleFields(
      json::parse(R"({"podTemplatePaths": [".spec.podTemplate", ".spec.taskManager.podTemplate",
                                           ".spec.missing.podTemplate"]})"),
      "spec.interpreter", &rule, &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  const std::set<DependencyRef> expected = {
      {"ConfigMap", "flink-conf"}, {"Secret", "s3-creds"}, {"ServiceAccount", "flink"}};
  EXPECT_EQ(DependenciesOfInterpreted(rule, flink), expected)
      << "only the named templates; a path the object lacks adds nothing";
  EXPECT_TRUE(DependenciesOfInterpreted(api::InterpreterRule{}, flink).empty());
  // A path into a scalar is no pod template.
  flink["spec"]["podTemplate"] = "inline";
  EXPECT_EQ(DependenciesOfInterpreted(rule, flink),
            (std::set<DependencyRef>{{"Secret", "s3-creds"}}));
}

TEST(PolicyBindingTest, DependenciesOfACronJobAreUnderItsJobTemplate) {
  json cronjob = json::parse(R"({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
      "volumes": [{"name": "a", "configMap": {"name": "cm-vol"}}],
      "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s-env"}}]}]}}}}}})");
  const api::NativeKind* kind = api::FindNativeKind("batch/v1", "CronJob");
  ASSERT_NE(kind, nullptr);
  const std::set<DependencyRef> expected = {{"ConfigMap", "cm-vol"}, {"Secret", "s-env"}};
  EXPECT_EQ(DependenciesOf(cronjob, kind->pod_template), expected);
  // Not at a Deployment's path.
  EXPECT_TRUE(DependenciesOf(cronjob).empty());
}

TEST(PolicyBindingTest, NewKindsAreServedWithKubectlsShortNamesAndPodTemplates) {
  struct Want {
    const char* api_version;
    const char* kind;
    const char* short_name;  // "" when kubectl has none
    bool pod_template;
  };
  for (const Want& w : {Want{"apps/v1", "DaemonSet", "ds", true}, Want{"batch/v1", "Job", "", true},
                        Want{"batch/v1", "CronJob", "cj", true},
                        Want{"networking.k8s.io/v1", "Ingress", "ing", false},
                        Want{"policy/v1", "PodDisruptionBudget", "pdb", false}}) {
    const api::NativeKind* k = api::FindNativeKind(w.api_version, w.kind);
    ASSERT_NE(k, nullptr) << w.kind;
    EXPECT_FALSE(k->workload) << w.kind << ": no spec.replicas to divide";
    EXPECT_EQ(!k->pod_template.empty(), w.pod_template) << w.kind;
    if (*w.short_name == '\0') {
      EXPECT_TRUE(k->short_names.empty()) << w.kind;
    } else {
      EXPECT_EQ(k->short_names, std::vector<std::string>{w.short_name}) << w.kind;
    }
  }
}

// The decoder judges the federation's own groups (a typo there selects nothing); any other
// group is a custom resource's, which the server checks against its CRDs
// (custom_resources_integration_test, e2e_zero_change_test).
TEST(PolicyBindingTest, CustomGroupsAreLeftToTheServerNativeGroupsJudgedHere) {
  auto errors_for = [](const std::string& api_version, const std::string& kind) {
    json policy = {{"apiVersion", api::kApiVersion},
                   {"kind", "PlacementPolicy"},
                   {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
                   {"spec",
                    {{"resourceSelectors", {{{"apiVersion", api_version}, {"kind", kind}}}},
                     {"placement", json::object()}}}};
    return api::ValidateObject(policy);
  };
  EXPECT_TRUE(errors_for("example.com/v1", "Widget").empty());
  EXPECT_TRUE(errors_for("apps/v1", "Deployment").empty());
  for (const auto& [api_version, kind] :
       std::vector<std::pair<std::string, std::string>>{{"apps/v1", "Deploymnet"},
                                                        {"v1", "Widget"},
                                                        {"networking.k8s.io/v1", "Widget"},
                                                        {api::kApiVersion, "FederatedWorkload"}}) {
    FieldErrors e = errors_for(api_version, kind);
    ASSERT_EQ(e.size(), 1u) << api_version << " " << kind;
    EXPECT_EQ(e[0].path, "spec.resourceSelectors[0].kind");
    EXPECT_NE(e[0].message.find("any kind a CustomResourceDefinition serves"), std::string::npos)
        << e[0].message;
  }
}

TEST(PolicyBindingTest, CustomKindsBindingNameCarriesTheGroupAndStatusSaysAppliedOnly) {
  api::NativeKind widget;
  widget.group = "example.com";
  widget.version = "v1";
  widget.kind = "Deployment";  // a CRD's kind may be named like a native one
  widget.custom = true;
  EXPECT_EQ(BindingName(widget, "web"), "deployment.example.com-web");
  EXPECT_EQ(BindingName(*api::FindNativeKind("apps/v1", "Deployment"), "web"), "deployment-web");
  // The template is the object, copied: no replicas added, no status.
  json t = TemplateOf(widget, {{"apiVersion", "example.com/v1"},
                               {"kind", "Deployment"},
                               {"metadata", {{"name", "web"}, {"uid", "u"}}},
                               {"spec", {{"size", 3}}},
                               {"status", {{"ready", true}}}});
  EXPECT_EQ(t, (json{{"apiVersion", "example.com/v1"},
                     {"kind", "Deployment"},
                     {"metadata", {{"name", "web"}}},
                     {"spec", {{"size", 3}}}}));

  api::FederatedWorkload binding;
  EXPECT_EQ(MemberApplyStatus(binding), "");
  api::ClusterSyncStatus a, b, c;
  a.cluster = "us-east-1";
  a.synced = false;
  a.last_error = "CustomResourceDefinition widgets.example.com exists there, ...";
  b.cluster = "eu-west-1";
  b.synced = true;
  b.ready_replicas = 7;  // never shown: no health model
  c.cluster = "ap-south-1";
  binding.status.clusters = {a, b, c};
  EXPECT_EQ(MemberApplyStatus(binding),
            "ap-south-1: pending; eu-west-1: applied; us-east-1: error: "
            "CustomResourceDefinition widgets.example.com exists there, ...");
}

TEST(PolicyBindingTest, PrecedenceIsATotalOrder) {
  auto policy = [](std::string name, bool cluster, int priority, std::string created) {
    api::PlacementPolicyObject p;
    p.metadata.name = std::move(name);
    p.metadata.ns = cluster ? "" : "shop";
    p.cluster_scoped = cluster;
    p.priority = priority;
    p.metadata.creation_timestamp = std::move(created);
    return p;
  };
  const api::PlacementPolicyObject old_low = policy("a", false, 0, "2026-01-01T00:00:00Z");
  const api::PlacementPolicyObject new_low = policy("b", false, 0, "2026-02-01T00:00:00Z");
  const api::PlacementPolicyObject high = policy("c", false, 5, "2026-03-01T00:00:00Z");
  const api::PlacementPolicyObject cluster = policy("d", true, 9, "2025-01-01T00:00:00Z");
  const api::PlacementPolicyObject twin = policy("e", false, 0, "2026-01-01T00:00:00Z");
  struct Case {
    PolicyMatch a, b;
    bool a_first;
  } cases[] = {
      {{&old_low, 2}, {&new_low, 2}, true},   // oldest
      {{&new_low, 2}, {&high, 2}, false},     // priority
      {{&high, 2}, {&new_low, 3}, false},     // specificity over priority
      {{&cluster, 2}, {&new_low, 2}, false},  // namespaced over cluster-wide at equal level
      {{&cluster, 3}, {&new_low, 2}, true},   // ... but not over a less specific match
      {{&old_low, 1}, {&twin, 1}, true},      // same age: the name
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PolicyPrecedes(c.a, c.b), c.a_first)
        << c.a.policy->metadata.name << " vs " << c.b.policy->metadata.name;
    EXPECT_EQ(PolicyPrecedes(c.b, c.a), !c.a_first);
  }
}

}  // namespace
}  // namespace meridian::scheduling
