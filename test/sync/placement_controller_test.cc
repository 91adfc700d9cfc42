// The placement controller against a real (in-process) federation-apiserver on SQLite: the
// shipped three-continents example, residency + capacity that cannot fit, and the running
// controller reacting to a new workload.
#include "sync/placement_controller.h"

#include <gtest/gtest.h>
#include <thread>

#include "api/codec.h"
#include "test/common/in_process_federation.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

class PlacementControllerTest : public ::testing::Test {
 protected:
  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }
  void Apply(const json& object) { federation_.Apply(object); }
  void ApplyFile(const std::string& relative) { federation_.ApplyFile(relative); }

  api::FederatedWorkload Workload(const std::string& ns, const std::string& name) {
    auto got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), ns, name);
    EXPECT_TRUE(got.ok());
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    EXPECT_TRUE(errors.empty()) << errors.front().ToString();
    return w;
  }

  static const api::Condition* Find(const api::FederatedWorkloadStatus& s, const std::string& type) {
    for (const auto& c : s.conditions) {
      if (c.type == type) return &c;
    }
    return nullptr;
  }

  test_env::InProcessFederation federation_{"placement-controller"};
  apiserver::FederationApiServer* server_ = &federation_.server();
  FakeClock& clock_ = federation_.clock();
};

TEST_F(PlacementControllerTest, ThreeContinentsExampleIsDividedFiveThreeTwo) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  ApplyFile("examples/three-continents/workload.yaml");
  PlacementController controller(server_->objects(), clock_);
  StatusOr<int> written = controller.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 1);

  api::FederatedWorkload w = Workload("shop", "web");
  std::map<std::string, int64_t> by_continent;
  const std::map<std::string, std::string> continent = {
      {"us-east-1", "na"}, {"us-west-1", "na"}, {"eu-west-1", "eu"},
      {"eu-central-1", "eu"}, {"ap-south-1", "as"}};
  for (const api::ClusterPlacement& p : w.status.placement) {
    by_continent[continent.at(p.cluster)] += p.replicas;
    ASSERT_EQ(p.reasons.size(), 1u);
    EXPECT_EQ(p.reasons[0].rfind(p.cluster + ": " + std::to_string(p.replicas), 0), 0u) << p.reasons[0];
  }
  EXPECT_EQ(by_continent, (std::map<std::string, int64_t>{{"na", 15}, {"eu", 9}, {"as", 6}}));
  EXPECT_EQ(w.status.desired_replicas, 30);
  EXPECT_EQ(w.status.unplaced_replicas, 0);
  EXPECT_EQ(w.status.observed_generation, w.metadata.generation);
  ASSERT_NE(Find(w.status, "Placed"), nullptr);
  EXPECT_EQ(Find(w.status, "Placed")->status, "True");
  EXPECT_EQ(Find(w.status, "Degraded")->status, "False");

  // Level-triggered and idempotent: nothing changed, nothing is written.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
}

TEST_F(PlacementControllerTest, ResidencyWithTooLittleRoomIsDegradedAndStaysInTheEu) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  // The EU members report room for 4 replicas each.
  const auto& mc = Info(api::kApiVersion, "MemberCluster");
  for (const char* name : {"eu-west-1", "eu-central-1"}) {
    json m = server_->objects().Get(mc, "", name).value();
    m["status"] = {{"allocatable", {{"replicas", 4}}}};
    ASSERT_TRUE(server_->objects().Update(mc, "", name, m, "status").ok());
  }
  Apply(json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 30}},
             "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());

  api::FederatedWorkload w = Workload("default", "crm");
  int64_t placed = 0;
  for (const api::ClusterPlacement& p : w.status.placement) {
    EXPECT_TRUE(p.cluster == "eu-west-1" || p.cluster == "eu-central-1") << p.cluster;
    placed += p.replicas;
  }
  EXPECT_EQ(placed, 8);
  EXPECT_EQ(w.status.unplaced_replicas, 22);
  const api::Condition* degraded = Find(w.status, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_EQ(degraded->reason, "ReplicasUnplaced");
  EXPECT_NE(degraded->message.find("22 of 30 unplaced"), std::string::npos) << degraded->message;
  EXPECT_NE(degraded->message.find("residency"), std::string::npos) << degraded->message;
  EXPECT_NE(degraded->message.find("capacity"), std::string::npos) << degraded->message;
}

TEST_F(PlacementControllerTest, RunningControllerPlacesANewWorkload) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.Start().ok());
  ApplyFile("examples/three-continents/workload.yaml");
  // Real time here: the worker reacts to the watch on its own thread (bounded wait).
  api::FederatedWorkload w;
  for (int i = 0; i < 500; ++i) {
    w = Workload("shop", "web");
    if (!w.status.placement.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(w.status.desired_replicas, 30);
  EXPECT_FALSE(w.status.placement.empty());
  controller.Stop();
}

}  // namespace
}  // namespace meridian::sync
