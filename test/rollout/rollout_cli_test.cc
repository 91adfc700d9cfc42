// fedctl rollout's changes (cli/rollout.h) and the workload's spec.rollout validation: bad
// input is refused naming the flag or field, and then nothing is to be written.
#include <gtest/gtest.h>

#include "api/codec.h"
#include "cli/rollout.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

json Workload() {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "FederatedWorkload"},
          {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
          {"spec",
           {{"template", {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"v", "3"}}}}},
            {"rollout", {{"strategyRef", {{"name", "s"}}}}}}},
          {"status",
           {{"revisions",
             {{{"revision", 2}, {"templateHash", "a"}, {"template", {{"v", "2"}}}},
              {{"revision", 3}, {"templateHash", "b"}, {"template", {{"v", "3"}}}}}},
            {"rollout",
             {{"revision", 3},
              {"stableRevision", 2},
              {"phase", "WaitingForApproval"},
              {"stage", 1},
              {"stageName", "eu"}}}}}};
}

TEST(RolloutCli, UndoToARevisionNotKeptNamesTheFlag) {
  StatusOr<json> r = WithRolloutUndone(Workload(), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("--to-revision 1"), std::string::npos);
  EXPECT_NE(r.status().message().find("kept: 2, 3"), std::string::npos) << r.status().message();
}

TEST(RolloutCli, UndoGoesBackToTheStableRevisionMidRollout) {
  StatusOr<json> r = WithRolloutUndone(Workload(), std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["spec"]["template"], json({{"v", "2"}}));
  StatusOr<json> to3 = WithRolloutUndone(Workload(), 3);
  ASSERT_TRUE(to3.ok());
  EXPECT_EQ((*to3)["spec"]["template"], json({{"v", "3"}}));
}

TEST(RolloutCli, ApproveNamesTheWaitingStageOfThisRevision) {
  StatusOr<json> r = WithRolloutApproved(Workload());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["metadata"]["annotations"]["rollout.federation.meridian.io/approved"], "3/eu");
  json progressing = Workload();
  progressing["status"]["rollout"]["phase"] = "Progressing";
  StatusOr<json> refused = WithRolloutApproved(progressing);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("waits for approval"), std::string::npos);
}

// The approval after a stage is its own: approve grants the one status names, and says which.
TEST(RolloutCli, ApproveAfterAStageGrantsThatApprovalAndSaysSo) {
  json w = Workload();
  EXPECT_EQ(RolloutApprovalText(w), "approval before stage eu of revision 3");
  w["status"]["rollout"]["approvalPoint"] = "after";
  w["status"]["rollout"]["gatesPassedAt"] = "2026-12-06T12:00:00.000Z";
  EXPECT_EQ(RolloutApprovalText(w), "approval after stage eu of revision 3");
  StatusOr<json> r = WithRolloutApproved(w);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["metadata"]["annotations"]["rollout.federation.meridian.io/approved"],
            "3/eu/after");
  EXPECT_NE(RolloutStatusText(w).find(
                "revision 3 (from 2), phase WaitingForApproval, stage eu (waits for approval "
                "after stage eu of revision 3)\n"),
            std::string::npos)
      << RolloutStatusText(w);
  w["status"]["rollout"]["phase"] = "Waiting";
  EXPECT_EQ(RolloutApprovalText(w), "");
  EXPECT_EQ(RolloutStatusText(w).find("waits for approval"), std::string::npos);
}

TEST(RolloutCli, PauseAndResume) {
  StatusOr<json> paused = WithRolloutPaused(Workload(), true);
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ((*paused)["spec"]["rollout"]["paused"], true);
  EXPECT_FALSE(WithRolloutPaused(*paused, true).ok());
  StatusOr<json> resumed = WithRolloutPaused(*paused, false);
  ASSERT_TRUE(resumed.ok());
  EXPECT_FALSE((*resumed)["spec"]["rollout"].contains("paused"));
}

TEST(RolloutValidation, WorkloadRolloutBlockIsStrict) {
  struct Case {
    json rollout;
    std::string path;
  };
  const std::vector<Case> cases = {
      {json::object(), "spec.rollout"},  // neither strategyRef nor strategy
      {{{"strategyRef", {{"name", "s"}}}, {"strategy", {{"stages", {{{"name", "a"}}}}}}},
       "spec.rollout"},
      {{{"strategy", {{"stages", {{{"name", "a"}, {"selector", {{"zones", {"z"}}}}}}}}}},
       "spec.rollout.strategy.stages[0].selector.zones"},
      {{{"strategyRef", {{"name", "s"}}}, {"pause", true}}, "spec.rollout.pause"},
      {{{"strategy",
         {{"stages",
           {{{"name", "a"}, {"after", {{"prometheus", {{"query", "sum(up"}, {"max", 0}}}}}}}}}}},
       "spec.rollout.strategy.stages[0].after.prometheus.query"},
      {{{"strategy",
         {{"stages",
           {{{"name", "a"},
             {"groups", {{{"name", "g"}, {"selector", {{"clusterz", {"c1"}}}}}}}}}}}}},
       "spec.rollout.strategy.stages[0].groups[0].selector.clusterz"},
  };
  for (const Case& c : cases) {
    json w = Workload();
    w.erase("status");
    w["spec"]["rollout"] = c.rollout;
    FieldErrors errors = api::ValidateObject(w);
    ASSERT_FALSE(errors.empty()) << c.rollout.dump();
    EXPECT_EQ(errors[0].path, c.path) << errors[0].ToString();
  }
  // And a valid one round-trips.
  json w = Workload();
  FieldErrors errors;
  api::FederatedWorkload decoded = api::DecodeFederatedWorkload(w, &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  EXPECT_EQ(api::DecodeFederatedWorkload(api::Encode(decoded), &errors), decoded);
}

// What `fedctl rollout` acts on, named as kubectl users name it.
TEST(RolloutCli, TargetsAreNamedAsKubectlUsersNameThem) {
  struct Case {
    std::vector<std::string> args;
    std::string workload, display;
    bool native;
  };
  const std::vector<Case> cases = {
      {{"web"}, "web", "federatedworkload/web", false},
      {{"fw/web"}, "web", "federatedworkload/web", false},
      {{"deployment/web"}, "deployment-web", "deployment/web", true},
      {{"deploy", "web"}, "deployment-web", "deployment/web", true},
      {{"deployments/web"}, "deployment-web", "deployment/web", true},
      {{"sts/db"}, "statefulset-db", "statefulset/db", true},
      {{"configmap", "web-config"}, "configmap-web-config", "configmap/web-config", true},
  };
  for (const Case& c : cases) {
    StatusOr<RolloutTarget> t = ResolveRolloutTarget(c.args);
    ASSERT_TRUE(t.ok()) << c.args[0] << ": " << t.status().message();
    EXPECT_EQ(t->workload, c.workload) << c.args[0];
    EXPECT_EQ(t->display, c.display) << c.args[0];
    EXPECT_EQ(t->native != nullptr, c.native) << c.args[0];
  }
  // Bad targets: refused naming what is wrong.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"mc/eu-west-1"}, "TYPE: \"mc\" has no rollouts"},
      {{"widgets/w"}, "TYPE: \"widgets\" has no rollouts"},
      {{"deployment/"}, "NAME: \"\" is not a name"},
      {{"deployment/a/b"}, "NAME: \"a/b\" is not a name"},
      {{"deployment", "a/b"}, "NAME: \"a/b\" is not a name"},
  };
  for (const auto& [args, message] : bad) {
    StatusOr<RolloutTarget> t = ResolveRolloutTarget(args);
    ASSERT_FALSE(t.ok()) << args[0];
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message().rfind(message, 0), 0u) << t.status().message();
  }
}

// A native object's changes go on the object; without a staged rollout they are refused.
TEST(RolloutCli, NativeChangesGoOnTheObjectAndNeedAStagedRollout) {
  const json object = {{"apiVersion", "apps/v1"},
                       {"kind", "Deployment"},
                       {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
                       {"spec", {{"replicas", 3}}}};
  json binding = Workload();
  binding["metadata"]["name"] = "deployment-web";
  binding["status"]["revisions"][0]["template"] = {{"spec", {{"replicas", 2}}}};
  StatusOr<json> approved = WithNativeRolloutApproved(object, binding, "deployment/web");
  ASSERT_TRUE(approved.ok()) << approved.status().message();
  EXPECT_EQ((*approved)["metadata"]["annotations"]["rollout.federation.meridian.io/approved"],
            "3/eu");
  EXPECT_EQ((*approved)["spec"], object["spec"]);
  StatusOr<json> paused = WithNativeRolloutPaused(object, binding, true, "deployment/web");
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ((*paused)["metadata"]["annotations"]["rollout.federation.meridian.io/paused"], "true");
  StatusOr<json> undone = WithNativeRolloutUndone(object, binding, std::nullopt, "deployment/web");
  ASSERT_TRUE(undone.ok()) << undone.status().message();
  EXPECT_EQ((*undone)["spec"], json({{"replicas", 2}}));
  // The policy's own pause is not the user's to resume.
  json policy_paused = binding;
  policy_paused["spec"]["rollout"]["paused"] = true;
  StatusOr<json> resumed = WithNativeRolloutPaused(object, policy_paused, false, "deployment/web");
  ASSERT_FALSE(resumed.ok());
  EXPECT_EQ(resumed.status().message(),
            "the rollout of deployment/web is paused by its PlacementPolicy's spec.rollout.paused");
  // No spec.rollout on the binding: nothing to act on, each change refused naming the object.
  json plain = binding;
  plain["spec"].erase("rollout");
  for (const StatusOr<json>& r : {WithNativeRolloutApproved(object, plain, "deployment/web"),
                                  WithNativeRolloutPaused(object, plain, true, "deployment/web"),
                                  WithNativeRolloutUndone(object, plain, 2, "deployment/web")}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(r.status().message(),
              "deployment/web has no staged rollout: the PlacementPolicy placing it has no "
              "spec.rollout");
  }
}

}  // namespace
}  // namespace meridian::cli
