// MemberCluster status.workloadSummary (scheduling/member_summary.h): the pure sums and the
// write plan (only what changed, a budget per pass, a round robin over the backlog).
#include "scheduling/member_summary.h"

#include <gtest/gtest.h>


namespace meridian::scheduling {
namespace {

std::shared_ptr<const api::FederatedWorkload> Workload(
    std::vector<std::pair<std::string, int64_t>> placed,
    std::vector<std::pair<std::string, int64_t>> ready) {
  auto w = std::make_shared<api::FederatedWorkload>();
  for (auto& [cluster, n] : placed)
    w->status.placement.push_back({.cluster = cluster, .replicas = n});
  for (auto& [cluster, n] : ready) {
    api::ClusterSyncStatus c;
    c.cluster = cluster;
    c.ready_replicas = n;
    w->status.clusters.push_back(c);
  }
  return w;
}

std::shared_ptr<const api::MemberCluster> Member(
    const std::string& name, std::optional<api::MemberWorkloadSummary> summary) {
  auto m = std::make_shared<api::MemberCluster>();
  m->metadata.name = name;
  m->status.workload_summary = summary;
  return m;
}

api::MemberWorkloadSummary S(int64_t workloads, int64_t desired, int64_t ready) {
  return {.workloads = workloads, .desired_replicas = desired, .ready_replicas = ready};
}

TEST(MemberWorkloadSummariesTest, SumsPlacementAndReadyPerMember) {
  struct Case {
    std::string name;
    std::vector<std::shared_ptr<const api::FederatedWorkload>> workloads;
    std::map<std::string, api::MemberWorkloadSummary> want;
  };
  const std::vector<Case> cases = {
      {"no workloads", {}, {}},
      {"one workload on two members, partly ready",
       {Workload({{"a", 3}, {"b", 2}}, {{"a", 3}, {"b", 1}})},
       {{"a", S(1, 3, 3)}, {"b", S(1, 2, 1)}}},
      {"two workloads sharing a member",
       {Workload({{"a", 3}}, {{"a", 2}}), Workload({{"a", 1}, {"c", 4}}, {{"c", 4}})},
       {{"a", S(2, 4, 2)}, {"c", S(1, 4, 4)}}},
      {"a zero placement is no workload there",
       {Workload({{"a", 0}, {"b", 5}}, {})},
       {{"b", S(1, 5, 0)}}},
      {"ready replicas left where placement moved away (retained) still count as ready",
       {Workload({{"b", 2}}, {{"a", 2}, {"b", 0}})},
       {{"a", S(0, 0, 2)}, {"b", S(1, 2, 0)}}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MemberWorkloadSummaries(c.workloads), c.want) << c.name;
  }
}

TEST(PlanSummaryWritesTest, WritesOnlyChangesWithinBudgetInTurn) {
  const std::vector<std::shared_ptr<const api::MemberCluster>> members = {
      Member("d", S(1, 1, 1)), Member("a", std::nullopt), Member("c", S(0, 0, 0)),
      Member("b", S(1, 2, 2))};
  const std::map<std::string, api::MemberWorkloadSummary> summaries = {
      {"b", S(1, 2, 2)}, {"c", S(2, 3, 3)}, {"d", S(1, 1, 0)}};
  struct Case {
    std::string name;
    size_t budget;
    std::string after;
    std::vector<std::string> want;
  };
  // Outdated: a (no summary yet: gets zeros), c, d; b is current.
  const std::vector<Case> cases = {
      {"all within budget, in name order", 10, "", {"a", "c", "d"}},
      {"budget 2 from the start", 2, "", {"a", "c"}},
      {"budget 2 after a", 2, "a", {"c", "d"}},
      {"budget 2 after c wraps around", 2, "c", {"d", "a"}},
      {"after the last name wraps to the first", 1, "z", {"a"}},
      {"after a name that is not outdated", 1, "b", {"c"}},
  };
  for (const Case& c : cases) {
    SummaryPlan plan = PlanSummaryWrites(members, summaries, c.budget, c.after);
    EXPECT_EQ(plan.outdated, 3u) << c.name;
    std::vector<std::string> got;
    for (const SummaryWrite& w : plan.writes) got.push_back(w.member);
    EXPECT_EQ(got, c.want) << c.name;
  }
  SummaryPlan plan = PlanSummaryWrites(members, summaries, 10, "");
  ASSERT_EQ(plan.writes.size(), 3u);
  EXPECT_EQ(plan.writes[0], (SummaryWrite{"a", S(0, 0, 0)}));
  EXPECT_EQ(plan.writes[1], (SummaryWrite{"c", S(2, 3, 3)}));
  EXPECT_EQ(plan.writes[2], (SummaryWrite{"d", S(1, 1, 0)}));

  // Everything current: nothing to write.
  const std::vector<std::shared_ptr<const api::MemberCluster>> current = {Member("b", S(1, 2, 2))};
  EXPECT_EQ(PlanSummaryWrites(current, summaries, 10, "").outdated, 0u);
}

}  // namespace
}  // namespace meridian::scheduling
