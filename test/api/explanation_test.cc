#include "api/explanation.h"

#include <gtest/gtest.h>

#include "api/codec.h"

namespace meridian::api {
namespace {

using nlohmann::json;

ClusterDecision Excluded(const std::string& cluster, const std::string& reason,
                         const std::string& detail) {
  return {cluster, 0, reason, cluster + ": 0; " + detail};
}

// A fleet as the engine explains it: two clusters placed, the rest passed, most alike.
std::vector<ClusterDecision> Fleet() {
  return {
      {"eu-1", 3, "Placed", "eu-1: 3 = weight 1/2 of 6"},
      Excluded("us-1", "ExcludedByResidency", "excluded by residency (ResidencyPolicy eu: eu)"),
      {"eu-2", 3, "Placed", "eu-2: 3 = weight 1/2 of 6"},
      Excluded("us-2", "ExcludedByResidency", "excluded by residency (ResidencyPolicy eu: eu)"),
      Excluded("eu-3", "Capacity", "capped by capacity 0 (full)"),
      Excluded("ap-1", "ExcludedByResidency", "excluded by residency (ResidencyPolicy eu: eu)"),
      Excluded("eu-4", "Capacity", "capped by capacity 0 (full)"),
      Excluded("eu-5", "Unreachable", "unreachable"),
  };
}

TEST(ExplanationTest, ClustersPassedAlikeAreSaidOnce) {
  PlacementExplanation ex = GroupDecisions(Fleet());
  ASSERT_EQ(ex.clusters.size(), 2u);
  EXPECT_EQ(ex.clusters[0].cluster, "eu-1");
  EXPECT_EQ(ex.clusters[1].cluster, "eu-2");
  ASSERT_EQ(ex.not_placed.size(), 3u);
  EXPECT_EQ(ex.not_placed[0],
            (ClusterDecisionGroup{"ExcludedByResidency", "excluded by residency (ResidencyPolicy eu: eu)",
                                  {"us-1", "us-2", "ap-1"}}));
  EXPECT_EQ(ex.not_placed[1],
            (ClusterDecisionGroup{"Capacity", "capped by capacity 0 (full)", {"eu-3", "eu-4"}}));
  EXPECT_EQ(ex.not_placed[2], (ClusterDecisionGroup{"Unreachable", "unreachable", {"eu-5"}}));
  EXPECT_EQ(ex.omitted, 0);
}

// status.placement as the controller writes it for Fleet(): each line's first reason is the
// cluster's sentence (a second says more).
std::vector<ClusterPlacement> Lines() {
  return {{"eu-1", 3, {}, {"eu-1: 3 = weight 1/2 of 6", "eu-1: keeps 1 until ready"}},
          {"eu-2", 3, {}, {"something else"}}};
}

TEST(ExplanationTest, EveryClusterReadsBackWithItsOwnSentence) {
  const std::vector<ClusterDecision> fleet = Fleet();
  FederatedWorkloadStatus status;
  status.placement = Lines();
  status.explanation = GroupDecisions(fleet, status.placement);
  // eu-1's sentence is its placement line's; eu-2's line says something else, so it is kept.
  EXPECT_EQ(status.explanation.clusters[0].message, "");
  EXPECT_EQ(status.explanation.clusters[1].message, "eu-2: 3 = weight 1/2 of 6");
  std::vector<ClusterDecision> back = Decisions(status);
  ASSERT_EQ(back.size(), fleet.size());
  for (const ClusterDecision& d : fleet) {
    std::optional<ClusterDecision> found = DecisionFor(status, d.cluster);
    ASSERT_TRUE(found.has_value()) << d.cluster;
    EXPECT_EQ(*found, d);
    EXPECT_NE(std::find(back.begin(), back.end(), d), back.end()) << d.cluster;
  }
  EXPECT_FALSE(DecisionFor(status, "nowhere").has_value());
}

TEST(ExplanationTest, TheStoredJsonReadsBackTheSameAndOldObjectsStillRead) {
  FederatedWorkload w;
  w.metadata.name = "web";
  w.metadata.ns = "shop";
  w.spec.template_ = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}};
  w.status.placement = Lines();
  w.status.explanation = GroupDecisions(Fleet(), w.status.placement);
  w.status.explanation.overflow = {"eu: nearest first", "  eu-3 0 (full)"};
  const json stored = Encode(w);
  const json& ex = stored["status"]["explanation"];
  EXPECT_EQ(ex["notPlaced"][0]["clusters"], json({"us-1", "us-2", "ap-1"}));
  FieldErrors errors;
  FederatedWorkload again = DecodeFederatedWorkload(stored, &errors);
  ASSERT_TRUE(errors.empty()) << errors.front().ToString();
  EXPECT_EQ(again.status.explanation, w.status.explanation);

  // Raw JSON readers (fedctl) see every cluster, as the typed ones do.
  std::vector<json> raw = DecisionsJson(stored["status"]);
  std::vector<ClusterDecision> typed = Decisions(w.status);
  ASSERT_EQ(typed.size(), Fleet().size());
  ASSERT_EQ(raw.size(), typed.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_EQ(raw[i]["cluster"], typed[i].cluster);
    EXPECT_EQ(raw[i]["replicas"], typed[i].replicas);
    EXPECT_EQ(raw[i]["reason"], typed[i].reason);
    EXPECT_EQ(raw[i]["message"], typed[i].message);
  }
  // An object written before the groups: every cluster in `clusters`.
  json old = {{"clusters", json::array()}};
  for (const ClusterDecision& d : Fleet()) {
    old["clusters"].push_back(
        {{"cluster", d.cluster}, {"replicas", d.replicas}, {"reason", d.reason}, {"message", d.message}});
  }
  EXPECT_EQ(DecisionsJson(json{{"explanation", old}}).size(), Fleet().size());
  // Malformed entries are skipped, not fatal.
  EXPECT_EQ(DecisionsJson(json::parse(R"({"explanation": {"notPlaced": [{"clusters": [1, "x"]}, 7],
      "clusters": [{"cluster": "a", "replicas": "many"}, {"replicas": 2}]},
      "placement": 5})")).size(),
            2u);
  EXPECT_TRUE(DecisionsJson(json("nonsense")).empty());
}

TEST(ExplanationTest, BadGroupsAreRefusedNamingTheField) {
  const json w = json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"template": {"apiVersion": "v1", "kind": "ConfigMap"}},
    "status": {"explanation": {"notPlaced": [
      {"reason": "Capacity", "clusters": ["a", 3], "colour": "x"}]}}})");
  FieldErrors errors;
  DecodeFederatedWorkload(w, &errors);
  std::string all;
  for (const FieldError& e : errors) all += e.ToString() + "\n";
  EXPECT_NE(all.find("status.explanation.notPlaced[0].clusters[1]"), std::string::npos) << all;
  EXPECT_NE(all.find("status.explanation.notPlaced[0].colour"), std::string::npos) << all;
}

TEST(ExplanationTest, ALargeFleetIsBoundedAndCounted) {
  std::vector<ClusterDecision> fleet;
  const size_t placed = PlacementExplanation::kMaxExplainedClusters + 5;
  const size_t passed = PlacementExplanation::kMaxGroupedClusters + 7;
  for (size_t i = 0; i < placed; ++i) {
    const std::string name = "p-" + std::to_string(i);
    fleet.push_back({name, 1, "Placed", name + ": 1 = weight 1"});
  }
  for (size_t i = 0; i < passed; ++i) {
    fleet.push_back(Excluded("x-" + std::to_string(i), "ExcludedBySelector",
                             "excluded by clusterSelector (tier=prod)"));
  }
  PlacementExplanation ex = GroupDecisions(fleet);
  EXPECT_EQ(ex.clusters.size(), PlacementExplanation::kMaxExplainedClusters);
  ASSERT_EQ(ex.not_placed.size(), 1u);
  EXPECT_EQ(ex.not_placed[0].clusters.size(), PlacementExplanation::kMaxGroupedClusters);
  EXPECT_EQ(ex.omitted, 5 + 7);
  // The stored form of 2,000 passed clusters is their names once, not 2,000 sentences.
  FederatedWorkload w;
  w.status.explanation = ex;
  const size_t bytes = Encode(w)["status"]["explanation"]["notPlaced"].dump().size();
  EXPECT_LT(bytes, 10 * PlacementExplanation::kMaxGroupedClusters) << bytes;
}

}  // namespace
}  // namespace meridian::api
