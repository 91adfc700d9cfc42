// The member-summary controller (scheduling/member_summary_controller.h) against an in-process
// federation-apiserver (SQLite, FakeClock): summaries written through /status, other status
// fields kept, nothing rewritten when nothing changed, only the members whose sums changed
// written after a workload moves, and a budget smaller than the backlog reaching every member
// in turn.
#include "scheduling/member_summary_controller.h"

#include <gtest/gtest.h>

#include "api/codec.h"
#include "test/common/in_process_federation.h"

namespace meridian::scheduling {
namespace {

using nlohmann::json;

class MemberSummaryControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    federation_.ApplyFile("examples/three-continents/topology.yaml");
    federation_.ApplyFile("examples/three-continents/members.yaml");
    federation_.Apply(
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  }

  // A workload shop/`name` whose status says `placed` replicas per member, all ready.
  void PlaceWorkload(const std::string& name, const std::map<std::string, int64_t>& placed) {
    json w = {
        {"apiVersion", api::kApiVersion},
        {"kind", "FederatedWorkload"},
        {"metadata", {{"name", name}, {"namespace", "shop"}}},
        {"spec",
         {{"template",
           {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", name}}}}},
                {"spec",
                 {{"containers",
                   json::array({{{"name", "c"}, {"image", "registry.example/a:1"}}})}}}}}}}}}}}};
    if (!Get("FederatedWorkload", name, "shop").is_object()) federation_.Apply(w);
    json status = {{"placement", json::array()}, {"clusters", json::array()}};
    for (const auto& [cluster, n] : placed) {
      status["placement"].push_back({{"cluster", cluster}, {"replicas", n}});
      status["clusters"].push_back({{"cluster", cluster}, {"readyReplicas", n}});
    }
    auto r = federation_.objects().Patch(Info("FederatedWorkload"), "shop", name,
                                         apimachinery::PatchType::kMergePatch,
                                         json{{"status", status}}.dump(), "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  const apimachinery::ResourceInfo& Info(const std::string& kind) {
    return federation_.Info(api::kApiVersion, kind);
  }
  json Get(const std::string& kind, const std::string& name, const std::string& ns = "") {
    auto got = federation_.objects().Get(Info(kind), ns, name);
    return got.ok() ? got.value() : json();
  }
  json Summary(const std::string& member) {
    return Get("MemberCluster", member)["status"].value("workloadSummary", json());
  }

  test_env::InProcessFederation federation_{"member-summary"};
  FakeClock& clock_ = federation_.clock();
};

TEST_F(MemberSummaryControllerTest, WritesSummariesOnceAndKeepsOtherStatus) {
  // The health monitor's part of the status, which the summary must not drop.
  auto r = federation_.objects().Patch(
      Info("MemberCluster"), "", "us-east-1", apimachinery::PatchType::kMergePatch,
      R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Probed","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}],"kubernetesVersion":"v1.32.0"}})",
      "status");
  ASSERT_TRUE(r.ok()) << r.error().message;
  PlaceWorkload("web", {{"us-east-1", 5}, {"eu-west-1", 3}});
  PlaceWorkload("api", {{"us-east-1", 2}});

  MemberSummaryController controller(federation_.objects(), clock_, {});
  size_t outdated = 0;
  StatusOr<int> written = controller.ReconcileAll(&outdated);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 5);  // every member: those without workloads get zeros
  EXPECT_EQ(outdated, 5u);
  EXPECT_EQ(Summary("us-east-1"),
            (json{{"workloads", 2}, {"desiredReplicas", 7}, {"readyReplicas", 7}}));
  EXPECT_EQ(Summary("eu-west-1"),
            (json{{"workloads", 1}, {"desiredReplicas", 3}, {"readyReplicas", 3}}));
  EXPECT_EQ(Summary("ap-south-1"),
            (json{{"workloads", 0}, {"desiredReplicas", 0}, {"readyReplicas", 0}}));
  json east = Get("MemberCluster", "us-east-1");
  EXPECT_EQ(east["status"]["kubernetesVersion"], "v1.32.0");
  EXPECT_EQ(east["status"]["conditions"][0]["type"], "Ready");
  const std::string rv = east["metadata"]["resourceVersion"];

  // Nothing changed: nothing written.
  written = controller.ReconcileAll(&outdated);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 0);
  EXPECT_EQ(outdated, 0u);
  EXPECT_EQ(Get("MemberCluster", "us-east-1")["metadata"]["resourceVersion"], rv);

  // A workload moves: only the members whose sums changed are written.
  PlaceWorkload("api", {{"eu-west-1", 2}});
  written = controller.ReconcileAll(&outdated);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 2);
  EXPECT_EQ(Summary("us-east-1"),
            (json{{"workloads", 1}, {"desiredReplicas", 5}, {"readyReplicas", 5}}));
  EXPECT_EQ(Summary("eu-west-1"),
            (json{{"workloads", 2}, {"desiredReplicas", 5}, {"readyReplicas", 5}}));
}

TEST_F(MemberSummaryControllerTest, BudgetReachesEveryMemberInTurn) {
  MemberSummaryController controller(
      federation_.objects(), clock_,
      {.interval = std::chrono::milliseconds(1000), .max_writes_per_pass = 2});
  std::vector<int> writes;
  for (int pass = 0; pass < 4; ++pass) {
    size_t outdated = 0;
    StatusOr<int> written = controller.ReconcileAll(&outdated);
    ASSERT_TRUE(written.ok()) << written.status();
    writes.push_back(*written);
  }
  EXPECT_EQ(writes, (std::vector<int>{2, 2, 1, 0}));  // 5 members, 2 per pass
  for (const char* m : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
    EXPECT_TRUE(Summary(m).is_object()) << m;
  }
}

}  // namespace
}  // namespace meridian::scheduling
