// Placement decisions as Events (scheduling/placement_events.h): one table of status pairs,
// each with the events it must produce.
#include "scheduling/placement_events.h"

#include <gtest/gtest.h>

#include "api/explanation.h"

namespace meridian::scheduling {
void PrintTo(const PlacementEvent& e, std::ostream* os);
namespace {

using apimachinery::EventType;

api::ClusterPlacement Line(const std::string& cluster, int64_t replicas) {
  return {cluster, replicas, {}, {}};
}

api::ClusterDecision Decided(const std::string& cluster, int64_t replicas,
                             const std::string& reason, const std::string& message = "") {
  return {cluster, replicas, reason, message};
}

api::FederatedWorkloadStatus Status(std::vector<api::ClusterPlacement> placement,
                                    std::vector<api::ClusterDecision> decisions = {},
                                    int64_t desired = -1) {
  api::FederatedWorkloadStatus s;
  s.placement = std::move(placement);
  s.explanation.clusters = std::move(decisions);
  int64_t total = 0;
  for (const api::ClusterPlacement& p : s.placement) total += p.replicas;
  s.desired_replicas = desired >= 0 ? desired : total;
  return s;
}

struct Case {
  std::string name;
  api::FederatedWorkloadStatus before, after;
  std::vector<PlacementEvent> want;
};

TEST(PlacementEvents, Table) {
  api::FederatedWorkloadStatus retained_after =
      Status({Line("eu-central-1", 12)},
             {Decided("eu-central-1", 12, "Overflow"), Decided("eu-west-1", 0, "Unreachable")});
  retained_after.retained = {Line("eu-west-1", 6)};
  api::FederatedWorkloadStatus retained_before =
      Status({Line("eu-west-1", 6), Line("eu-central-1", 6)});

  api::FederatedWorkloadStatus unplaced_after = Status({Line("eu-west-1", 6)}, {}, 12);
  unplaced_after.unplaced_replicas = 6;
  unplaced_after.conditions.push_back({"Degraded", "True", "ReplicasUnplaced",
                                       "6 of 12 unplaced: capacity (eu-west-1 full)", "", 1});
  api::FederatedWorkloadStatus unplaced_before = Status({Line("eu-west-1", 6)}, {}, 12);
  unplaced_before.unplaced_replicas = 6;

  const std::vector<Case> cases = {
      {"first placement",
       Status({}),
       Status({Line("eu-west-1", 6), Line("eu-central-1", 6)}),
       {{EventType::kNormal, "Placed",
         "placed 12 replicas on 2 clusters: eu-central-1 6, eu-west-1 6"}}},
      {"one replica, one cluster (singular nouns)",
       Status({}),
       Status({Line("us-east-1", 1)}),
       {{EventType::kNormal, "Placed", "placed 1 replica on 1 cluster: us-east-1 1"}}},
      {"nothing changed: no event",
       Status({Line("eu-west-1", 6)}),
       Status({Line("eu-west-1", 6)}),
       {}},
      {"overflow after a failure names the cause",
       Status({Line("us-east-1", 9)}, {Decided("us-east-1", 9, "Placed")}),
       Status({Line("us-west-1", 9)},
              {Decided("us-east-1", 0, "Unreachable", "unreachable: its share overflowed"),
               Decided("us-west-1", 9, "Overflow")}),
       {{EventType::kNormal, "Overflowed",
         "us-east-1 9->0, us-west-1 0->9: overflow to us-west-1 because us-east-1: unreachable: "
         "its share overflowed"}}},
      {"return after recovery",
       Status({Line("us-west-1", 9)},
              {Decided("us-east-1", 0, "RecoveryHold"), Decided("us-west-1", 9, "Overflow")}),
       Status({Line("us-east-1", 9)},
              {Decided("us-east-1", 9, "Placed"), Decided("us-west-1", 0, "NotNeeded")}),
       {{EventType::kNormal, "Returned",
         "us-east-1 0->9, us-west-1 9->0: us-east-1 is back (was RecoveryHold)"}}},
      {"scale up is a reschedule with the desired count as cause",
       Status({Line("eu-west-1", 6)}),
       Status({Line("eu-west-1", 10)}),
       {{EventType::kNormal, "Rescheduled", "eu-west-1 6->10: desired replicas 6->10"}}},
      {"weight change: reschedule naming why the loser lost",
       Status({Line("a", 5), Line("b", 5)}),
       Status({Line("a", 8), Line("b", 2)},
              {Decided("a", 8, "Placed"), Decided("b", 2, "Placed", "weight 1 of 5")}),
       {{EventType::kNormal, "Rescheduled", "a 5->8, b 5->2: b: weight 1 of 5"}}},
      {"member gone from the fleet",
       Status({Line("a", 5), Line("gone", 5)}),
       Status({Line("a", 10)}, {Decided("a", 10, "Placed")}),
       {{EventType::kNormal, "Rescheduled", "a 5->10, gone 5->0: gone: no longer in the fleet"}}},
      {"unreachable member retains its replicas",
       retained_before,
       retained_after,
       {{EventType::kNormal, "Overflowed",
         "eu-central-1 6->12, eu-west-1 6->0: overflow to eu-central-1 because eu-west-1: "
         "Unreachable"},
        {EventType::kWarning, "Retained",
         "left running where Meridian cannot see them, replaced elsewhere: eu-west-1 (6 "
         "replicas)"}}},
      {"newly unplaced replicas with the engine's reason",
       Status({Line("eu-west-1", 12)}),
       unplaced_after,
       {{EventType::kNormal, "Rescheduled", "eu-west-1 12->6"},
        {EventType::kWarning, "FailedPlacement", "6 of 12 unplaced: capacity (eu-west-1 full)"}}},
      {"still unplaced, same count: no repeat", unplaced_before, unplaced_after, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(PlacementEvents(c.before, c.after), c.want);
  }
}

TEST(PlacementEvents, LongListsAreBounded) {
  api::FederatedWorkloadStatus before, after;
  for (int i = 0; i < 30; ++i) {
    before.placement.push_back(Line("c" + std::to_string(100 + i), 2));
    after.placement.push_back(Line("c" + std::to_string(100 + i), 1));
  }
  std::vector<PlacementEvent> events = PlacementEvents(before, after);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].message.find("and 20 more"), std::string::npos) << events[0].message;
}

// Explanations as the placement controller stores them (those holding nothing grouped, a
// placed cluster's sentence left to its placement line; api/explanation.h) give the same
// events as one line per cluster with every sentence.
TEST(PlacementEvents, GroupedExplanationsSayTheSame) {
  auto nothing = [](const std::string& cluster, const std::string& reason, const std::string& why) {
    return Decided(cluster, 0, reason, cluster + ": 0; " + why);
  };
  auto said = [](const std::string& cluster, int64_t replicas, const std::string& why) {
    return api::ClusterPlacement{cluster, replicas, {}, {why}};
  };
  const std::vector<api::ClusterDecision> before_decisions = {
      nothing("us-east-1", "NotNeeded", "no share and no overflow needed"),
      Decided("us-west-1", 9, "Placed", "us-west-1: 9 = weight 1/1"),
      nothing("eu-west-1", "ExcludedByResidency", "excluded by residency (us)"),
      nothing("eu-central-1", "ExcludedByResidency", "excluded by residency (us)")};
  const std::vector<api::ClusterDecision> after_decisions = {
      Decided("us-east-1", 6, "Placed", "us-east-1: 6 = weight 2/3"),
      Decided("us-west-1", 3, "Placed", "us-west-1: 3 = weight 1/3"),
      nothing("us-central-1", "ExcludedBySelector", "excluded by clusterSelector (tier=gold)"),
      nothing("eu-west-1", "ExcludedByResidency", "excluded by residency (us)"),
      nothing("eu-central-1", "ExcludedByResidency", "excluded by residency (us)")};
  const std::vector<api::ClusterPlacement> before_lines = {
      said("us-west-1", 9, "us-west-1: 9 = weight 1/1"), said("us-central-1", 3, "x")};
  const std::vector<api::ClusterPlacement> after_lines = {
      said("us-east-1", 6, "us-east-1: 6 = weight 2/3"),
      said("us-west-1", 3, "us-west-1: 3 = weight 1/3")};
  api::FederatedWorkloadStatus before = Status(before_lines, before_decisions, 12);
  api::FederatedWorkloadStatus after = Status(after_lines, after_decisions, 9);
  api::FederatedWorkloadStatus before_grouped = Status(before_lines, {}, 12);
  before_grouped.explanation = api::GroupDecisions(before_decisions, before_lines);
  api::FederatedWorkloadStatus after_grouped = Status(after_lines, {}, 9);
  after_grouped.explanation = api::GroupDecisions(after_decisions, after_lines);
  ASSERT_FALSE(after_grouped.explanation.not_placed.empty());
  ASSERT_EQ(after_grouped.explanation.clusters.size(), 2u);
  EXPECT_EQ(after_grouped.explanation.clusters[1].message, "") << "said by its placement line";

  const std::vector<PlacementEvent> want = {
      {EventType::kNormal, "Rescheduled",
       "us-central-1 3->0, us-east-1 0->6, us-west-1 9->3: desired replicas 12->9, "
       "us-central-1: us-central-1: 0; excluded by clusterSelector (tier=gold), us-west-1: "
       "us-west-1: 3 = weight 1/3"}};
  EXPECT_EQ(PlacementEvents(before, after), want);
  EXPECT_EQ(PlacementEvents(before_grouped, after_grouped), want);
}

}  // namespace
void PrintTo(const PlacementEvent& e, std::ostream* os) {
  *os << apimachinery::EventTypeName(e.type) << " " << e.reason << " \"" << e.message << "\"";
}

}  // namespace meridian::scheduling
