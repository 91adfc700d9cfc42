// Propagation: the pure render/hash/resolve core (tables), and the controller against an
// in-process federation-apiserver (SQLite in a temp dir) with FakeMemberClients as members.
#include "sync/propagation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/codec.h"
#include "api/yaml.h"
#include "federation-apiserver/server.h"
#include "sync/placement_controller.h"
#include "sync/propagation_controller.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"
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
  o.patches = {{{"op", "replace"}, {"path", "/spec/template/spec/containers/0/image"},
                {"value", image}}};
  return o;
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
      {"defaults", MakeWorkload(DeploymentTemplate(30)), {}, 7, true,
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
      {"template name kept", MakeWorkload(named), {}, 1, true,
       [](const json& o) { EXPECT_EQ(o["metadata"]["name"], "frontend"); }},
      {"no replicas in template: none added", MakeWorkload(configmap), {}, 1, true,
       [](const json& o) {
         EXPECT_FALSE(o.contains("spec"));
         EXPECT_EQ(o["data"]["a"], "b");
       }},
      {"matching override applied",
       MakeWorkload(DeploymentTemplate(30), {EuropeImage("web:eu")}),
       {{"continent", "europe"}}, 4, true,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "web:eu");
       }},
      {"other override ignored",
       MakeWorkload(DeploymentTemplate(30), {EuropeImage("web:eu")}),
       {{"continent", "asia"}}, 4, true,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "web:1");
       }},
      {"failing patch is an error", MakeWorkload(DeploymentTemplate(30), {broken}), {}, 4, false,
       nullptr},
      {"template without kind", MakeWorkload(json{{"apiVersion", "v1"}}), {}, 1, false, nullptr},
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
    PlacementController placement(server_->objects(), clock_);
    ASSERT_TRUE(placement.ReconcileAll().ok());
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

  static const api::Condition* Find(const api::FederatedWorkloadStatus& s, const std::string& type) {
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

}  // namespace
}  // namespace meridian::sync
