// Affinity groups (placement/affinity.h): members placed on the same clusters, the group's
// eligible clusters the intersection of every member's constraints (residency included), a
// conflict explained rather than split, and a failover that moves the group together.
#include "placement/affinity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "placement/policy_json.h"

namespace meridian::placement {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Names = std::vector<std::string>;

const Timestamp kNow = Timestamp(std::chrono::seconds(1'800'000'000));

ClusterState Cluster(std::string name, std::string region, int64_t alloc = 100) {
  ClusterState c;
  c.name = std::move(name);
  c.region = std::move(region);
  c.allocatable_replicas = alloc;
  c.labels = {{"region", c.region}};
  return c;
}

// One cluster per region on three continents plus a second US and EU region.
std::vector<ClusterState> Fleet() {
  return {Cluster("us-east-1", "us-east"), Cluster("us-west-1", "us-west"),
          Cluster("eu-west-1", "eu-west"), Cluster("eu-central-1", "eu-central"),
          Cluster("ap-south-1", "ap-south")};
}

TopologySpec Continents() {
  TopologySpec t;
  t.regions = {
      {"us-east",
       "us",
       {},
       {{"us-west", 60}, {"eu-west", 80}, {"eu-central", 90}, {"ap-south", 200}}},
      {"us-west", "us", {}, {{"eu-west", 140}, {"eu-central", 150}, {"ap-south", 180}}},
      {"eu-west", "eu", {}, {{"eu-central", 20}, {"ap-south", 120}}},
      {"eu-central", "eu", {}, {{"ap-south", 110}}},
      {"ap-south", "in", {}, {}},
  };
  return t;
}

Workload Member(std::string key, int32_t replicas, const char* policy) {
  Workload w;
  w.key = std::move(key);
  w.replicas = replicas;
  auto p = ParsePlacementPolicy(nlohmann::json::parse(policy));
  EXPECT_TRUE(p.ok()) << p.status();
  if (p.ok()) w.policy = *p;
  return w;
}

// A member with nothing to divide, as scheduling::EngineWorkload makes it: one per cluster.
Workload Copied(std::string key, const World& world, const char* policy = "{}") {
  Workload w = Member(std::move(key), static_cast<int32_t>(world.size()), policy);
  for (uint32_t i = 0; i < world.size(); ++i)
    w.policy.distribution.clusters[world.cluster(i).name].max = 1;
  return w;
}

struct Placed {
  AffinityGroupPlan plan;
  std::vector<Result> results;   // in member order
  std::vector<Workload> inputs;  // with their restriction
};

// Places a group as the controller does: the leader first, the others following it.
Placed PlaceGroup(Engine& engine, std::vector<Workload> members, std::vector<bool> divided,
                  const std::string& group = "checkout") {
  std::vector<GroupMember> in;
  for (size_t i = 0; i < members.size(); ++i) in.push_back({&members[i], divided[i]});
  Placed out{AffinityGroupPlan::Make(engine, group, in), {}, {}};
  out.results.resize(members.size());
  for (size_t i : out.plan.PlacementOrder()) {
    members[i].affinity = out.plan.RestrictionFor(i);
    out.results[i] = engine.Place(members[i], kNow, {}, /*every_eligible=*/true);
    if (out.plan.leader() == i) {
      out.plan.LeaderPlaced(ClustersHolding(engine.world(), out.results[i]));
    }
  }
  out.inputs = std::move(members);
  return out;
}

std::map<std::string, int32_t> ByName(const World& w, const Result& r) {
  std::map<std::string, int32_t> out;
  for (const auto& p : r.clusters) {
    if (p.replicas > 0) out[w.cluster(p.cluster).name] = p.replicas;
  }
  return out;
}

constexpr char kFiveThreeTwo[] =
    R"({"distribution": {"weights": {"us-east": 5, "eu-west": 3, "ap-south": 2}}})";

TEST(AffinityGroup, FollowersArePlacedOnTheLeadersClustersOnly) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  // Alone, the cache (no weights: equal shares) would go to all five clusters.
  EXPECT_EQ(ByName(**world, engine.Place(Member("shop/cache", 5, "{}"), kNow)).size(), 5u);

  Placed g = PlaceGroup(engine,
                        {Member("shop/web", 10, kFiveThreeTwo), Member("shop/cache", 6, "{}"),
                         Copied("shop/web-svc", **world)},
                        {true, true, false});
  ASSERT_EQ(g.plan.leader(), 0u);
  EXPECT_EQ(
      ByName(**world, g.results[0]),
      (std::map<std::string, int32_t>{{"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  // The cache keeps its own shares (by capacity: 6 over the five eligible clusters, at least
  // one on each of the leader's); the shares of us-west-1 and eu-central-1, where the leader
  // does not run, overflow to the nearest cluster where it does (us-east-1, eu-west-1), as
  // they would from a failed cluster. The Service is copied to exactly the leader's three.
  EXPECT_EQ(
      ByName(**world, g.results[1]),
      (std::map<std::string, int32_t>{{"us-east-1", 3}, {"eu-west-1", 2}, {"ap-south-1", 1}}));
  EXPECT_EQ(g.results[1].unplaced, 0);
  EXPECT_EQ(
      ByName(**world, g.results[2]),
      (std::map<std::string, int32_t>{{"us-east-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}}));
  // As many replicas as the group has clusters: one on each (by its own shares alone, two of
  // the three would land where the leader does not run and overflow).
  Placed three = PlaceGroup(
      engine, {Member("shop/web", 10, kFiveThreeTwo), Member("shop/queue", 3, "{}")}, {true, true});
  EXPECT_EQ(
      ByName(**world, three.results[1]),
      (std::map<std::string, int32_t>{{"us-east-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}}));
  // Fewer: on some of them only, and no minimum is reported unmet.
  Placed two = PlaceGroup(
      engine, {Member("shop/web", 10, kFiveThreeTwo), Member("shop/queue", 2, "{}")}, {true, true});
  EXPECT_EQ(two.results[1].placed, 2);
  EXPECT_EQ(two.results[1].unmet, 0u);
  // Why the cache holds nothing in us-west-1: its group runs elsewhere.
  const uint32_t us_west = *(*world)->FindCluster("us-west-1");
  ClusterReason why = Why(**world, g.inputs[1], g.results[1], us_west, kNow);
  EXPECT_EQ(why.reason, Reason::kAffinityGroup);
  EXPECT_EQ(std::string(ReasonName(why.reason)), "AffinityGroup");
  EXPECT_THAT(why.message, HasSubstr("affinity group checkout runs elsewhere (its leader shop/web "
                                     "is not placed there)"));
  // Same inputs, same answer.
  Placed again = PlaceGroup(engine,
                            {Member("shop/web", 10, kFiveThreeTwo), Member("shop/cache", 6, "{}"),
                             Copied("shop/web-svc", **world)},
                            {true, true, false});
  EXPECT_EQ(again.results, g.results);
}

TEST(AffinityGroup, TheLeaderIsTheDividedMemberWithTheMostReplicas) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  // A copied member first in priority order does not lead: a Service copied everywhere
  // would drag the Deployments onto every cluster.
  Placed g =
      PlaceGroup(engine, {Copied("shop/web-svc", **world), Member("shop/web", 10, kFiveThreeTwo)},
                 {false, true});
  ASSERT_EQ(g.plan.leader(), 1u);
  EXPECT_THAT(g.plan.PlacementOrder(), ElementsAre(1u, 0u));
  EXPECT_EQ(ByName(**world, g.results[0]).size(), 3u);
  // The most replicas leads, whatever the order (a cache created first does not drag its web
  // tier along); ties: the first given.
  Placed order = PlaceGroup(
      engine, {Member("shop/cache", 2, "{}"), Member("shop/web", 10, kFiveThreeTwo)}, {true, true});
  EXPECT_EQ(order.plan.leader(), 1u);
  EXPECT_EQ(
      ByName(**world, order.results[1]),
      (std::map<std::string, int32_t>{{"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  Placed tie = PlaceGroup(engine, {Member("shop/a", 4, "{}"), Member("shop/b", 4, kFiveThreeTwo)},
                          {true, true});
  EXPECT_EQ(tie.plan.leader(), 0u);
  // Without a divided member there is no leader: every member is copied to every eligible
  // cluster (the same set for all).
  Placed copies =
      PlaceGroup(engine,
                 {Copied("shop/a", **world, R"({"residency": {"jurisdictions": ["eu"]}})"),
                  Copied("shop/b", **world)},
                 {false, false});
  EXPECT_FALSE(copies.plan.leader().has_value());
  EXPECT_EQ(ByName(**world, copies.results[1]),
            (std::map<std::string, int32_t>{{"eu-central-1", 1}, {"eu-west-1", 1}}));
}

TEST(AffinityGroup, ResidencyOfOneMemberKeepsTheWholeGroupWithinIt) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  // web alone would run 5:3:2 on three continents; grouped with an EU-resident database
  // (its residency from a ResidencyPolicy) the whole group stays in the EU.
  Workload db = Member("shop/db", 2, "{}");
  db.residency_policies = {{"eu-data", {"eu"}}};
  Placed g = PlaceGroup(engine, {Member("shop/web", 10, kFiveThreeTwo), db}, {true, true});
  EXPECT_EQ(g.plan.eligible(), (Names{"eu-central-1", "eu-west-1"}));
  EXPECT_TRUE(g.plan.conflict().empty());
  // The weights name only eu-west among the eligible: it takes all ten.
  EXPECT_EQ(ByName(**world, g.results[0]), (std::map<std::string, int32_t>{{"eu-west-1", 10}}));
  EXPECT_EQ(ByName(**world, g.results[1]), (std::map<std::string, int32_t>{{"eu-west-1", 2}}));
  const uint32_t us_east = *(*world)->FindCluster("us-east-1");
  EXPECT_EQ(Why(**world, g.inputs[0], g.results[0], us_east, kNow).reason, Reason::kAffinityGroup);
  EXPECT_THAT(Explain(**world, g.inputs[0], g.results[0], us_east),
              HasSubstr("excluded by affinity group checkout (another member's clusterSelector, "
                        "residency or latency excludes it)"));
  // The database's own exclusion says residency, its own rule.
  EXPECT_EQ(Why(**world, g.inputs[1], g.results[1], us_east, kNow).reason, Reason::kResidency);
}

TEST(AffinityGroup, ConflictingConstraintsPlaceNothingAndSayWhy) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  Placed g = PlaceGroup(
      engine,
      {Member("shop/web", 10, R"({"residency": {"jurisdictions": ["eu"]}})"),
       Member("shop/cache", 2, R"({"clusterSelector": {"matchLabels": {"region": "us-east"}}})")},
      {true, true});
  EXPECT_TRUE(g.plan.eligible().empty());
  EXPECT_EQ(g.plan.conflict(),
            "affinity group checkout: no member cluster is allowed by every member (so none of "
            "them is placed): shop/web allows eu-central-1, eu-west-1; shop/cache allows "
            "us-east-1");
  // Never a silent split: neither is placed, and each says the group is why.
  for (size_t i : {0u, 1u}) {
    SCOPED_TRACE(g.inputs[i].key);
    EXPECT_EQ(g.results[i].placed, 0);
    EXPECT_TRUE(g.results[i].unplaced_because & kAffinity)
        << ConstraintNames(g.results[i].unplaced_because);
    EXPECT_THAT(ExplainUnplaced(**world, g.inputs[i], g.results[i]),
                HasSubstr("affinity group checkout: another member's constraints exclude"));
  }
}

TEST(AffinityGroup, ARegionFailureMovesTheGroupTogether) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  std::vector<Workload> members = {Member("shop/web", 10, kFiveThreeTwo),
                                   Member("shop/cache", 3, kFiveThreeTwo)};
  Placed before = PlaceGroup(engine, members, {true, true});
  EXPECT_EQ(
      ByName(**world, before.results[1]),
      (std::map<std::string, int32_t>{{"us-east-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}}));

  // us-east fails: web's five go to the nearest region (us-west-1), and so does the cache's one.
  std::vector<ClusterState> clusters = Fleet();
  clusters[0].reachable = false;
  auto failed = World::Build(clusters, Continents());
  ASSERT_TRUE(failed.ok());
  Engine after_engine(*failed);
  for (size_t i = 0; i < members.size(); ++i) {
    for (const auto& [c, n] : ByName(**world, before.results[i]))
      members[i].current.push_back({c, n, n});
  }
  Placed after = PlaceGroup(after_engine, members, {true, true});
  EXPECT_EQ(
      ByName(**failed, after.results[0]),
      (std::map<std::string, int32_t>{{"us-west-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  EXPECT_EQ(
      ByName(**failed, after.results[1]),
      (std::map<std::string, int32_t>{{"us-west-1", 1}, {"eu-west-1", 1}, {"ap-south-1", 1}}));
}

TEST(AffinityGroup, WithOverflowNoneAFollowerShareOffTheGroupIsUnplacedAndExplained) {
  auto world = World::Build(Fleet(), Continents());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  Placed g = PlaceGroup(
      engine,
      {Member("shop/web", 4, R"({"distribution": {"weights": {"eu-west": 1}}})"),
       Member(
           "shop/cache", 4,
           R"({"distribution": {"weights": {"eu-west": 1, "us-east": 1}}, "failover": {"overflow": "none"}})")},
      {true, true});
  EXPECT_EQ(ByName(**world, g.results[1]), (std::map<std::string, int32_t>{{"eu-west-1", 2}}));
  EXPECT_EQ(g.results[1].unplaced, 2);
  EXPECT_TRUE(g.results[1].unplaced_because & kAffinityLeader);
  EXPECT_THAT(ExplainUnplaced(**world, g.inputs[1], g.results[1]),
              HasSubstr("affinity group checkout runs on eu-west-1 only (where its leader shop/web "
                        "is placed)"));
}

// Random fleets, failures and members: a follower never holds replicas where the leader
// holds none, and no member ever runs outside the group's eligible clusters.
TEST(AffinityGroup, PropertyFollowersNeverRunWhereTheLeaderDoesNot) {
  const char* env = std::getenv("MERIDIAN_PLACEMENT_SEED");
  const uint64_t first = env ? std::strtoull(env, nullptr, 10) : 1;
  const uint64_t count = env ? 1 : 300;
  const char* policies[] = {
      "{}",
      kFiveThreeTwo,
      R"({"residency": {"jurisdictions": ["eu", "us"]}})",
      R"({"residency": {"jurisdictions": ["eu"]}, "failover": {"overflow": "none"}})",
      R"({"distribution": {"weights": {"ap-south": 1, "us-west": 2}}})",
      R"({"clusterSelector": {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["us-east"]}]}})"};
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (replay: MERIDIAN_PLACEMENT_SEED=" + std::to_string(seed) + ")");
    std::mt19937_64 rng(seed);
    std::vector<ClusterState> clusters = Fleet();
    for (ClusterState& c : clusters) {
      c.reachable = rng() % 4 != 0;
      c.allocatable_replicas = static_cast<int64_t>(rng() % 12);
    }
    auto world = World::Build(clusters, Continents());
    ASSERT_TRUE(world.ok());
    Engine engine(*world);
    std::vector<Workload> members;
    std::vector<bool> divided;
    const size_t n = 2 + rng() % 3;
    for (size_t i = 0; i < n; ++i) {
      const bool copied = rng() % 4 == 0;
      const char* policy = policies[rng() % std::size(policies)];
      members.push_back(copied ? Copied("ns/m" + std::to_string(i), **world, policy)
                               : Member("ns/m" + std::to_string(i), 1 + rng() % 15, policy));
      divided.push_back(!copied);
    }
    Placed g = PlaceGroup(engine, members, divided);
    const Names& eligible = g.plan.eligible();
    for (size_t i = 0; i < n; ++i) {
      for (const auto& [c, reps] : ByName(**world, g.results[i])) {
        EXPECT_TRUE(std::count(eligible.begin(), eligible.end(), c))
            << g.inputs[i].key << " on " << c;
        if (g.plan.leader() && i != *g.plan.leader()) {
          EXPECT_TRUE(std::count(g.plan.runs_on()->begin(), g.plan.runs_on()->end(), c))
              << g.inputs[i].key << " on " << c << " where the leader is not";
        }
      }
      EXPECT_EQ(g.results[i].placed + g.results[i].unplaced, g.results[i].total);
    }
  }
}

}  // namespace
}  // namespace meridian::placement
