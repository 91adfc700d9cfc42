// Engine::Place's phases one at a time (placement/internal/place_call.h): each test runs a
// prefix of the phases and checks the state the next phase starts from, so a change to one
// phase shows up where it is made rather than only in the final answer.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "placement/internal/place_call.h"
#include "placement/policy_json.h"

namespace meridian::placement::internal {
namespace {

const Timestamp kNow = Timestamp(std::chrono::seconds(1'800'000'000));

ClusterState Cluster(std::string name, std::string region, std::optional<int64_t> alloc = {}) {
  ClusterState c;
  c.name = std::move(name);
  c.region = std::move(region);
  c.allocatable_replicas = alloc;
  c.labels = {{"region", c.region}};
  return c;
}

TopologySpec ThreeContinents() {
  TopologySpec t;
  t.regions = {
      RegionSpec{"us-east", "us", {}, {{"eu-west", 80}, {"ap-south", 200}}},
      RegionSpec{"eu-west", "eu", {}, {{"eu-central", 20}, {"ap-south", 120}}},
      RegionSpec{"eu-central", "eu", {}, {{"ap-south", 110}}},
      RegionSpec{"ap-south", "in", {}, {}},
  };
  return t;
}

PlacementPolicy Policy(const char* json_text) {
  auto p = ParsePlacementPolicy(nlohmann::json::parse(json_text));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : PlacementPolicy{};
}

// A World, a workload and one call's state, with a per-cluster view of the scratch arrays.
class Phases {
 public:
  Phases(std::vector<ClusterState> clusters, const char* policy, int32_t replicas,
         std::vector<Assignment> current = {}) {
    auto world = World::Build(std::move(clusters), ThreeContinents());
    EXPECT_TRUE(world.ok()) << world.status();
    world_ = *world;
    w_.key = "shop/web";
    w_.replicas = replicas;
    w_.policy = Policy(policy);
    w_.current = std::move(current);
    std::vector<uint8_t> bits;
    const bool residency = w_.policy.residency.has_value();
    if (residency) AllowedJurisdictionBits(*world_, w_, bits);
    filter_ = BuildFilter(*world_, w_,
                          residency ? std::span<const uint8_t>(bits) : std::span<const uint8_t>());
    call_ = std::make_unique<PlaceCall>(*world_, scratch_, *filter_, w_, kNow,
                                        std::span<const int64_t>());
  }

  PlaceCall& call() { return *call_; }
  const Filter& filter() const { return *filter_; }

  // A per-candidate array by cluster name (excluded clusters are absent).
  std::map<std::string, int32_t> ByName(const std::vector<int32_t>& v) const {
    std::map<std::string, int32_t> out;
    for (uint32_t k = 0; k < filter_->cand.size(); ++k) {
      out[world_->cluster(filter_->cand[k]).name] = k < v.size() ? v[k] : 0;
    }
    return out;
  }
  uint8_t FlagsOf(const std::string& cluster) const {
    return scratch_.flags[filter_->pos[*world_->FindCluster(cluster)]];
  }
  uint32_t ExcludedBy(const std::string& cluster) const {
    return filter_->excluded[*world_->FindCluster(cluster)];
  }
  uint32_t LimitedBy(const std::string& cluster) const {
    auto idx = world_->FindCluster(cluster);
    return scratch_.limited[filter_->pos[*idx]];
  }

 private:
  std::shared_ptr<const World> world_;
  Workload w_;
  Scratch scratch_;
  std::unique_ptr<Filter> filter_;
  std::unique_ptr<PlaceCall> call_;
};

using Counts = std::map<std::string, int32_t>;

TEST(PlacePhases, FilterKeepsOnlyTheAllowedJurisdictions) {
  Phases p({Cluster("us-east-1", "us-east"), Cluster("eu-west-1", "eu-west"),
            Cluster("eu-central-1", "eu-central"), Cluster("ap-south-1", "ap-south")},
           R"({"residency": {"jurisdictions": ["eu"]}})", 6);
  EXPECT_EQ(p.filter().cand.size(), 2u);
  EXPECT_EQ(p.filter().by_residency, 2u);
  EXPECT_EQ(p.ExcludedBy("us-east-1"), kResidency);
}

TEST(PlacePhases, SharesFollowTheWeightsWhateverTheHealth) {
  std::vector<ClusterState> clusters = {Cluster("us-east-1", "us-east"),
                                        Cluster("eu-west-1", "eu-west"),
                                        Cluster("ap-south-1", "ap-south")};
  clusters[1].reachable = false;
  Phases p(clusters,
           R"({"distribution": {"weights": {"us-east": 5, "eu-west": 3, "ap-south": 2}}})", 10);
  PlaceCall& c = p.call();
  c.LoadCurrent();
  c.ApplyBounds();
  c.FormWeightGroups();
  EXPECT_FALSE(c.singletons);
  EXPECT_EQ(c.weight_sum, 10);
  c.ComputeShares();
  // Health is not a filter for the share: the unreachable cluster keeps its 3.
  EXPECT_EQ(p.ByName(c.s.share), (Counts{{"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  c.CapShares();
  EXPECT_EQ(p.ByName(c.s.x), (Counts{{"us-east-1", 5}, {"eu-west-1", 0}, {"ap-south-1", 2}}));
  EXPECT_EQ(c.total_excess, 3);
  EXPECT_EQ(p.LimitedBy("eu-west-1") & kUnreachable, kUnreachable);
}

TEST(PlacePhases, OverflowGoesToTheNearestRegionWithRoom) {
  std::vector<ClusterState> clusters = {
      Cluster("us-east-1", "us-east"), Cluster("eu-west-1", "eu-west"),
      Cluster("eu-central-1", "eu-central"), Cluster("ap-south-1", "ap-south")};
  clusters[1].reachable = false;
  Phases p(
      clusters,
      R"({"distribution": {"weights": {"us-east": 1, "eu-west": 1, "eu-central": 1, "ap-south": 1}},
               "failover": {"overflow": "nearest"}})",
      8);
  PlaceCall& c = p.call();
  c.LoadCurrent();
  c.ApplyBounds();
  c.FormWeightGroups();
  c.ComputeShares();
  c.CapShares();
  c.Overflow();
  // eu-west's 2 go to eu-central (20 ms), not to us-east (80 ms) or ap-south (120 ms).
  EXPECT_EQ(p.ByName(c.s.x),
            (Counts{{"us-east-1", 2}, {"eu-west-1", 0}, {"eu-central-1", 4}, {"ap-south-1", 2}}));
  EXPECT_EQ(p.ByName(c.s.over)["eu-central-1"], 2);
  EXPECT_EQ(c.unplaced_overflow, 0);
}

TEST(PlacePhases, OverflowNoneLeavesTheExcessUnplaced) {
  std::vector<ClusterState> clusters = {Cluster("us-east-1", "us-east"),
                                        Cluster("eu-west-1", "eu-west")};
  clusters[1].reachable = false;
  Phases p(clusters, R"({"failover": {"overflow": "none"}})", 4);
  PlaceCall& c = p.call();
  c.LoadCurrent();
  c.ApplyBounds();
  c.FormWeightGroups();
  EXPECT_TRUE(c.singletons);  // no weights: every candidate on its own, equal
  c.ComputeShares();
  c.CapShares();
  c.Overflow();
  EXPECT_EQ(c.unplaced_overflow, 2);
  Result r = c.Finish(false);
  EXPECT_EQ(r.unplaced, 2);
  EXPECT_EQ(r.unplaced_because & kOverflow, kOverflow);
}

TEST(PlacePhases, BackfillGivesARecoveringClusterWhatNobodyElseCanHold) {
  // eu-west-1 came back 10 s ago (held for 60 s) and runs 1; us-east-1 is full.
  std::vector<ClusterState> clusters = {Cluster("us-east-1", "us-east", 2),
                                        Cluster("eu-west-1", "eu-west")};
  clusters[1].healthy_since = kNow - std::chrono::seconds(10);
  Phases p(clusters,
           R"({"distribution": {"weights": {"us-east": 1, "eu-west": 1}},
               "failover": {"overflow": "nearest", "recoveryDelaySeconds": 60}})",
           6, {{"us-east-1", 2}, {"eu-west-1", 1}});
  PlaceCall& c = p.call();
  c.LoadCurrent();
  EXPECT_EQ(c.current_total, 3);
  c.ApplyBounds();
  c.FormWeightGroups();
  c.ComputeShares();
  c.CapShares();
  // Held: keeps what it runs (1) though its share is 3.
  EXPECT_EQ(p.ByName(c.s.x), (Counts{{"us-east-1", 2}, {"eu-west-1", 1}}));
  EXPECT_EQ(p.FlagsOf("eu-west-1") & kHeld, kHeld);
  EXPECT_EQ(c.recheck_ms, 50'000);
  c.Overflow();
  c.BackfillRecovering();
  // Availability wins over hysteresis: back up to its share (3); the last one has no room
  // anywhere but the recovering cluster either, and goes there as overflow.
  EXPECT_EQ(p.ByName(c.s.x), (Counts{{"us-east-1", 2}, {"eu-west-1", 4}}));
  EXPECT_EQ(c.placed, 6);
}

TEST(PlacePhases, SpreadMovesSingleReplicasToCoverRegions) {
  Phases p({Cluster("us-east-1", "us-east"), Cluster("eu-west-1", "eu-west"),
            Cluster("ap-south-1", "ap-south")},
           R"({"distribution": {"weights": {"us-east": 1}}, "spread": {"minRegions": 3}})", 6);
  PlaceCall& c = p.call();
  c.LoadCurrent();
  c.ApplyBounds();
  c.FormWeightGroups();
  c.ComputeShares();
  c.CapShares();
  c.Overflow();
  c.BackfillRecovering();
  EXPECT_EQ(p.ByName(c.s.x), (Counts{{"us-east-1", 6}, {"eu-west-1", 0}, {"ap-south-1", 0}}));
  c.Spread();
  EXPECT_EQ(p.ByName(c.s.x), (Counts{{"us-east-1", 4}, {"eu-west-1", 1}, {"ap-south-1", 1}}));
  EXPECT_EQ(p.ByName(c.s.cov), (Counts{{"us-east-1", -2}, {"eu-west-1", 1}, {"ap-south-1", 1}}));
  EXPECT_EQ(c.res.regions_covered, 3);
  EXPECT_EQ(c.res.unmet & kSpread, 0u);
}

TEST(PlacePhases, FinishLeavesTheScratchZeroForTheNextCall) {
  Phases p({Cluster("us-east-1", "us-east", 1), Cluster("eu-west-1", "eu-west")},
           R"({"distribution": {"minPerCluster": 1}})", 5, {{"us-east-1", 1}});
  PlaceCall& c = p.call();
  c.LoadCurrent();
  c.ApplyBounds();
  c.FormWeightGroups();
  c.ComputeShares();
  c.CapShares();
  c.Overflow();
  c.BackfillRecovering();
  c.Spread();
  Result r = c.Finish(false);
  EXPECT_EQ(r.placed, 5);
  for (const std::vector<int32_t>* v : {&c.s.cur, &c.s.rdy, &c.s.share, &c.s.x, &c.s.cap, &c.s.real,
                                        &c.s.over, &c.s.cov, &c.s.excess}) {
    for (int32_t e : *v) EXPECT_EQ(e, 0);
  }
  for (uint8_t f : c.s.flags) EXPECT_EQ(f, 0);
  for (uint32_t l : c.s.limited) EXPECT_EQ(l, 0u);
}

}  // namespace
}  // namespace meridian::placement::internal
