// Staged rollouts of native objects (issue 23 on issue 18's zero-change path): a Deployment
// stored on the federation endpoint, placed by a PlacementPolicy with spec.rollout. The binding,
// placement and rollout controllers run against an in-process federation-apiserver (SQLite,
// FakeClock); the propagation controller's report is simulated (each placed member runs, ready,
// the revision sync::TemplateForMember gives it), so the test judges what the rollout assigns.
//
//   - every change of the Deployment's spec is a numbered revision of its binding; the canary
//     stage's member gets it first, the rest only after readySeconds and the approval that
//     fedctl's pure change (cli::WithNativeRolloutApproved) puts on the Deployment;
//   - the Deployment says which revision runs where (kRevisionsAnnotation) and counts only the
//     members on the newest revision as updated, so `kubectl rollout status` waits;
//   - approval and pause annotations are not revisions; a pause holds a new revision back;
//   - the ConfigMap it depends on is rolled out in stages by the same strategy;
//   - undo puts the kept revision's spec back on the Deployment (a new revision);
//   - a policy with a bad rollout block is refused naming the field, nothing stored.
#include <gtest/gtest.h>

#include <map>

#include "api/codec.h"
#include "cli/rollout.h"
#include "rollout/rollout_controller.h"
#include "scheduling/binding_controller.h"
#include "scheduling/placement_controller.h"
#include "scheduling/policy_binding.h"
#include "sync/propagation.h"
#include "test/common/in_process_federation.h"

namespace meridian::rollout {
namespace {

using nlohmann::json;

// The example's policy (5:3:2 over us-east, eu-west, ap-south) with a two-stage rollout: the
// canary us-east-1 for readySeconds 5, then the rest after an approval.
json Policy() {
  return json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "PlacementPolicy",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
      "resourceSelectors": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "web"}}}],
      "placement": {"clusterSelector": {"matchLabels": {"tier": "prod"}},
                    "distribution": {"weights": {"us-east": 5, "eu-west": 3, "ap-south": 2}}},
      "revisionHistoryLimit": 3,
      "rollout": {"strategy": {"stages": [
        {"name": "canary", "selector": {"clusters": ["us-east-1"]}, "readySeconds": 5},
        {"name": "rest", "approval": true}]}}}})");
}

class NativeRolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    federation_.ApplyFile("examples/three-continents/topology.yaml");
    federation_.ApplyFile("examples/three-continents/members.yaml");
    federation_.ApplyFile("examples/zero-change/app.yaml");
    federation_.Apply(Policy());
    Converge();
  }

  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }
  json Get(const std::string& api_version, const std::string& kind, const std::string& name) {
    auto got = federation_.objects().Get(Info(api_version, kind), "shop", name);
    return got.ok() ? got.value() : json();
  }
  json Deployment() { return Get("apps/v1", "Deployment", "web"); }
  api::FederatedWorkload Binding(const std::string& name = "deployment-web") {
    FieldErrors ignored;
    return api::DecodeFederatedWorkload(Get(api::kApiVersion, "FederatedWorkload", name), &ignored);
  }
  void Write(const std::string& api_version, const std::string& kind, const json& object) {
    json body = object;
    body.erase("status");
    auto r = federation_.objects().Update(Info(api_version, kind), "shop",
                                          object["metadata"]["name"], body);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  void SetImage(const std::string& image) {
    json d = Deployment();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    Write("apps/v1", "Deployment", d);
  }
  std::string Annotation(const json& o, const char* key) {
    return o["metadata"].value("annotations", json::object()).value(key, "");
  }

  // What the propagation controller would report: every placed member runs, ready, the revision
  // assigned to it. How many bindings' status it wrote.
  int Propagate() {
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    auto list = federation_.objects().List(info, "shop", {});
    EXPECT_TRUE(list.ok());
    int written = 0;
    for (const json& item : list.value()["items"]) {
      FieldErrors ignored;
      api::FederatedWorkload w = api::DecodeFederatedWorkload(item, &ignored);
      std::vector<api::ClusterSyncStatus> clusters;
      for (const api::ClusterPlacement& p : w.status.placement) {
        const int64_t replicas = sync::ReplicasForMember(w, p.cluster);
        if (replicas == 0) continue;
        StatusOr<sync::MemberTemplate> t = sync::TemplateForMember(w, p.cluster);
        EXPECT_TRUE(t.ok()) << t.status();
        api::ClusterSyncStatus c;
        c.cluster = p.cluster;
        c.ready_replicas = replicas;
        c.synced = true;
        c.revision = t.ok() ? t->revision : 0;
        c.revision_ready = true;
        clusters.push_back(c);
      }
      if (clusters == w.status.clusters) continue;
      w.status.clusters = clusters;
      auto r =
          federation_.objects().Update(info, "shop", w.metadata.name, api::Encode(w), "status");
      EXPECT_TRUE(r.ok()) << r.error().message;
      ++written;
    }
    return written;
  }

  // Runs the controllers (and the simulated propagation) until nothing is written.
  void Converge() {
    for (int i = 0; i < 30; ++i) {
      StatusOr<int> b = bindings_.ReconcileAll();
      ASSERT_TRUE(b.ok()) << b.status();
      StatusOr<int> p = placement_.ReconcileAll();
      ASSERT_TRUE(p.ok()) << p.status();
      StatusOr<int> r = rollouts_.ReconcileAll();
      ASSERT_TRUE(r.ok()) << r.status();
      const int s = Propagate();
      if (*b == 0 && *p == 0 && *r == 0 && s == 0) return;
    }
    FAIL() << "the controllers did not converge";
  }

  // Which revision the rollout means each member of `binding` to run.
  std::map<std::string, int64_t> Meant(const std::string& binding = "deployment-web") {
    std::map<std::string, int64_t> out;
    api::FederatedWorkload b = Binding(binding);
    if (!b.status.rollout) return out;
    for (const api::MemberRevision& m : b.status.rollout->members) out[m.cluster] = m.revision;
    return out;
  }
  std::string Phase(const std::string& binding = "deployment-web") {
    api::FederatedWorkload b = Binding(binding);
    return b.status.rollout ? b.status.rollout->phase : "";
  }

  test_env::InProcessFederation federation_{"native-rollout"};
  FakeClock& clock_ = federation_.clock();
  scheduling::BindingController bindings_{federation_.objects(), clock_};
  scheduling::PlacementController placement_{federation_.objects(), clock_};
  RolloutController rollouts_{federation_.objects(), clock_};
};

TEST_F(NativeRolloutTest, ADeploymentChangeReachesEachStageInItsTurn) {
  // The binding carries the policy's rollout block and history limit; the first revision went
  // everywhere.
  api::FederatedWorkload b = Binding();
  ASSERT_TRUE(b.spec.rollout.has_value());
  ASSERT_TRUE(b.spec.rollout->strategy.has_value());
  EXPECT_EQ(b.spec.rollout->strategy->stages.size(), 2u);
  EXPECT_EQ(b.spec.revision_history_limit, 3);
  ASSERT_EQ(b.status.revisions.size(), 1u);
  EXPECT_EQ(Phase(), "Complete");
  const std::map<std::string, int64_t> all1 = {
      {"ap-south-1", 1}, {"eu-west-1", 1}, {"us-east-1", 1}};
  EXPECT_EQ(Meant(), all1);

  SetImage("example/web:2");
  Converge();
  b = Binding();
  ASSERT_EQ(b.status.revisions.size(), 2u);
  EXPECT_EQ(
      b.status.revisions.back().template_["spec"]["template"]["spec"]["containers"][0]["image"],
      "example/web:2");
  // Only the canary has it; readySeconds holds the rest.
  const std::map<std::string, int64_t> canary = {
      {"ap-south-1", 1}, {"eu-west-1", 1}, {"us-east-1", 2}};
  EXPECT_EQ(Meant(), canary);
  EXPECT_EQ(Phase(), "Progressing");
  json d = Deployment();
  EXPECT_EQ(Annotation(d, scheduling::kRevisionsAnnotation),
            "revision 2 on us-east-1; revision 1 on ap-south-1, eu-west-1; rollout of revision 2: "
            "Progressing, stage canary");
  // Only the canary's 5 replicas are updated: kubectl rollout status keeps waiting.
  EXPECT_EQ(d["status"]["updatedReplicas"], 5);
  EXPECT_EQ(d["status"]["readyReplicas"], 10);

  clock_.Advance(std::chrono::seconds(6));
  Converge();
  EXPECT_EQ(Phase(), "WaitingForApproval");
  EXPECT_EQ(Meant(), canary);  // waits at the approval
  clock_.Advance(std::chrono::seconds(60));
  Converge();
  EXPECT_EQ(Meant(), canary);

  // fedctl rollout approve deployment/web: the annotation goes on the Deployment, the binding
  // controller carries it over, and it is no revision of its own.
  StatusOr<json> approved = cli::WithNativeRolloutApproved(
      Deployment(), Get(api::kApiVersion, "FederatedWorkload", "deployment-web"), "deployment/web");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(Annotation(*approved, api::kRolloutApprovedAnnotation), "2/rest");
  Write("apps/v1", "Deployment", *approved);
  Converge();
  EXPECT_EQ(Phase(), "Complete");
  const std::map<std::string, int64_t> all2 = {
      {"ap-south-1", 2}, {"eu-west-1", 2}, {"us-east-1", 2}};
  EXPECT_EQ(Meant(), all2);
  EXPECT_EQ(Binding().status.revisions.size(), 2u);
  d = Deployment();
  EXPECT_EQ(Annotation(d, scheduling::kRevisionsAnnotation),
            "revision 2 on ap-south-1, eu-west-1, us-east-1; rollout of revision 2: Complete");
  EXPECT_EQ(d["status"]["updatedReplicas"], 10);
  // Approving again: nothing waits, and the message names the object.
  StatusOr<json> again = cli::WithNativeRolloutApproved(
      Deployment(), Get(api::kApiVersion, "FederatedWorkload", "deployment-web"), "deployment/web");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("nothing of deployment/web waits"), std::string::npos)
      << again.status().message();
}

TEST_F(NativeRolloutTest, APauseHoldsANewRevisionAndIsNoRevisionItself) {
  StatusOr<json> paused = cli::WithNativeRolloutPaused(
      Deployment(), Get(api::kApiVersion, "FederatedWorkload", "deployment-web"), true,
      "deployment/web");
  ASSERT_TRUE(paused.ok()) << paused.status();
  Write("apps/v1", "Deployment", *paused);
  Converge();
  api::FederatedWorkload b = Binding();
  ASSERT_TRUE(b.spec.rollout.has_value());
  EXPECT_TRUE(b.spec.rollout->paused);
  EXPECT_EQ(b.status.revisions.size(), 1u);  // the annotation is not in the template

  SetImage("example/web:paused");
  Converge();
  EXPECT_EQ(Binding().status.revisions.size(), 2u);
  EXPECT_EQ(Phase(), "Paused");
  const std::map<std::string, int64_t> all1 = {
      {"ap-south-1", 1}, {"eu-west-1", 1}, {"us-east-1", 1}};
  EXPECT_EQ(Meant(), all1);

  StatusOr<json> resumed = cli::WithNativeRolloutPaused(
      Deployment(), Get(api::kApiVersion, "FederatedWorkload", "deployment-web"), false,
      "deployment/web");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  Write("apps/v1", "Deployment", *resumed);
  Converge();
  EXPECT_FALSE(Binding().spec.rollout->paused);
  EXPECT_EQ(Meant()["us-east-1"], 2);
  EXPECT_EQ(Meant()["eu-west-1"], 1);
  // Resuming what is not paused is refused, naming the object.
  StatusOr<json> twice = cli::WithNativeRolloutPaused(
      Deployment(), Get(api::kApiVersion, "FederatedWorkload", "deployment-web"), false,
      "deployment/web");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(), "the rollout of deployment/web is already not paused");
}

TEST_F(NativeRolloutTest, TheConfigMapItDependsOnIsRolledOutByTheSameStrategy) {
  api::FederatedWorkload cm = Binding("configmap-web-config");
  ASSERT_TRUE(cm.spec.rollout.has_value());
  ASSERT_EQ(cm.status.revisions.size(), 1u);
  json config = Get("v1", "ConfigMap", "web-config");
  config["data"]["LOG_LEVEL"] = "debug";
  Write("v1", "ConfigMap", config);
  Converge();
  cm = Binding("configmap-web-config");
  ASSERT_EQ(cm.status.revisions.size(), 2u);
  const std::map<std::string, int64_t> canary = {
      {"ap-south-1", 1}, {"eu-west-1", 1}, {"us-east-1", 2}};
  EXPECT_EQ(Meant("configmap-web-config"), canary);
  EXPECT_EQ(Annotation(Get("v1", "ConfigMap", "web-config"), scheduling::kRevisionsAnnotation),
            "revision 2 on us-east-1; revision 1 on ap-south-1, eu-west-1; rollout of revision 2: "
            "Progressing, stage canary");
  // The Deployment did not change: no revision of it.
  EXPECT_EQ(Binding().status.revisions.size(), 1u);
}

TEST_F(NativeRolloutTest, UndoPutsAKeptRevisionsSpecBackOnTheDeployment) {
  SetImage("example/web:bad");
  Converge();
  ASSERT_EQ(Binding().status.revisions.size(), 2u);
  const json binding = Get(api::kApiVersion, "FederatedWorkload", "deployment-web");
  StatusOr<json> missing = cli::WithNativeRolloutUndone(Deployment(), binding, 7, "deployment/web");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--to-revision 7: revision 7 of deployment/web is not "
                                            "kept in status.revisions (kept: 1, 2)"),
            std::string::npos)
      << missing.status().message();
  StatusOr<json> undone =
      cli::WithNativeRolloutUndone(Deployment(), binding, std::nullopt, "deployment/web");
  ASSERT_TRUE(undone.ok()) << undone.status();
  EXPECT_EQ((*undone)["spec"]["template"]["spec"]["containers"][0]["image"],
            binding["status"]["revisions"][0]["template"]["spec"]["template"]["spec"]["containers"]
                   [0]["image"]);
  Write("apps/v1", "Deployment", *undone);
  Converge();
  // A new revision with the old spec, which every member already runs: nothing changes there.
  api::FederatedWorkload b = Binding();
  ASSERT_EQ(b.status.revisions.size(), 3u);
  EXPECT_EQ(b.status.revisions.back().template_, b.status.revisions.front().template_);
}

TEST_F(NativeRolloutTest, APolicyWithABadRolloutBlockIsRefusedNamingTheField) {
  struct Case {
    json rollout;
    json history;
    std::string field;
  };
  const std::vector<Case> cases = {
      {json::parse(R"({"strategy": {"stages": [{"name": "a", "maxConcurrency": 0}]}})"), nullptr,
       "spec.rollout.strategy.stages[0].maxConcurrency"},
      {json::parse(R"({"strategyRef": {"name": "s"}, "strategy": {"stages": [{"name": "a"}]}})"),
       nullptr, "spec.rollout"},
      {json::parse(R"({"strategyRef": {"name": "s"}, "pause": true})"), nullptr,
       "spec.rollout.pause"},
      {json::parse(R"({"strategyRef": {"name": "s"}})"), 0, "spec.revisionHistoryLimit"},
      // Two groups of one stage that share eu-west-1 (tier: prod, region eu-west).
      {json::parse(R"({"strategy": {"stages": [{"name": "a", "groups": [
          {"name": "g1", "selector": {"regions": ["eu-west"]}},
          {"name": "g2", "selector": {"matchLabels": {"continent": "europe"}}}]}]}})"),
       nullptr, "spec.rollout.strategy.stages[0].groups[1].selector"},
  };
  const auto& info = Info(api::kApiVersion, "PlacementPolicy");
  const json before = Get(api::kApiVersion, "PlacementPolicy", "web");
  for (const Case& c : cases) {
    json p = before;
    p["spec"]["rollout"] = c.rollout;
    if (!c.history.is_null()) p["spec"]["revisionHistoryLimit"] = c.history;
    auto r = federation_.objects().Update(info, "shop", "web", p);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
    EXPECT_EQ(Get(api::kApiVersion, "PlacementPolicy", "web"), before) << c.field;
  }
  // A new policy with one is refused too, and not stored.
  json fresh = Policy();
  fresh["metadata"]["name"] = "other";
  fresh["spec"]["rollout"] = cases[0].rollout;
  auto created = federation_.objects().Create(info, "shop", fresh);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(Get(api::kApiVersion, "PlacementPolicy", "other").is_null());
}

}  // namespace
}  // namespace meridian::rollout
