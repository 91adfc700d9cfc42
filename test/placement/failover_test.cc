// The engine under failures, on the shipped three-continents fleet (examples/): overflow goes
// to the nearest allowed region by RTT (also when other clusters are recovering), residency
// is never traded for room, a zone failure moves only what no longer fits, and recovery
// hysteresis holds, paces and survives flapping (time passed in, no clock).
#include <gtest/gtest.h>

#include <map>

#include "placement/engine.h"
#include "placement/policy_json.h"

namespace meridian::placement {
namespace {

const Timestamp kNow = Timestamp(std::chrono::seconds(1'800'000'000));
using std::chrono::seconds;

// examples/three-continents as the health monitor reports it: nodes of 4 cpu and 110 pods hold
// min(110, 4 / 100m) = 40 replicas each.
struct Member {
  const char* name;
  const char* region;
  const char* jurisdiction;
  std::vector<std::pair<std::string, int64_t>> zones;  // name, allocatable replicas
};
const std::vector<Member> kMembers = {
    {"us-east-1", "us-east", "us", {{"us-east-1a", 120}, {"us-east-1b", 120}, {"us-east-1c", 120}}},
    {"us-west-1", "us-west", "us", {{"us-west-1a", 80}, {"us-west-1b", 80}}},
    {"eu-west-1", "eu-west", "eu", {{"eu-west-1a", 120}, {"eu-west-1b", 120}, {"eu-west-1c", 80}}},
    {"eu-central-1", "eu-central", "eu", {{"eu-central-1a", 80}, {"eu-central-1b", 80}}},
    {"ap-south-1", "ap-south", "in", {{"ap-south-1a", 80}, {"ap-south-1b", 80}}},
};

std::vector<ClusterState> Fleet() {
  std::vector<ClusterState> out;
  for (const Member& m : kMembers) {
    ClusterState c;
    c.name = m.name;
    c.region = m.region;
    c.jurisdiction = m.jurisdiction;
    int64_t sum = 0;
    for (const auto& [zone, alloc] : m.zones) {
      c.zones.push_back(ZoneState{zone, true, alloc, std::nullopt});
      sum += alloc;
    }
    c.allocatable_replicas = sum;
    c.labels = {{"tier", "prod"}};
    out.push_back(std::move(c));
  }
  return out;
}

TopologySpec Topology() {
  TopologySpec t;
  t.regions = {
      {"us-east", "us", {}, {{"us-west", 62}, {"eu-west", 76}, {"eu-central", 90}, {"ap-south", 190}}},
      {"us-west", "us", {}, {{"us-east", 62}, {"eu-west", 135}, {"eu-central", 145}, {"ap-south", 220}}},
      {"eu-west", "eu", {}, {{"eu-central", 18}, {"us-east", 76}, {"us-west", 135}, {"ap-south", 120}}},
      {"eu-central", "eu", {}, {{"eu-west", 18}, {"us-east", 90}, {"us-west", 145}, {"ap-south", 110}}},
      {"ap-south", "in", {}, {{"eu-central", 110}, {"eu-west", 120}, {"us-east", 190}, {"us-west", 220}}},
  };
  return t;
}

ClusterState& Named(std::vector<ClusterState>& fleet, const std::string& name) {
  for (ClusterState& c : fleet) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << name;
  return fleet.front();
}

PlacementPolicy Policy(const char* json_text) {
  auto p = ParsePlacementPolicy(nlohmann::json::parse(json_text));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : PlacementPolicy{};
}

// The demo workload's policy (examples/three-continents/workload.yaml).
constexpr char kDemoPolicy[] = R"({
  "distribution": {"weights": {"us-east": 3, "us-west": 2, "eu-west": 2, "eu-central": 1,
                               "ap-south": 2}, "minPerCluster": 1},
  "spread": {"minRegions": 3},
  "failover": {"overflow": "nearest", "recoveryDelaySeconds": 60}})";

struct Placed {
  Result result;
  std::map<std::string, int32_t> by_cluster;
  std::vector<Assignment> as_current;
  std::shared_ptr<const World> world;
};

Placed Place(std::vector<ClusterState> fleet, const Workload& w, Timestamp now) {
  auto world = World::Build(std::move(fleet), Topology());
  EXPECT_TRUE(world.ok()) << world.status();
  Engine engine(*world);
  Placed out;
  out.world = *world;
  out.result = engine.Place(w, now);
  for (const ClusterPlacement& p : out.result.clusters) {
    if (p.replicas == 0) continue;
    out.by_cluster[(*world)->cluster(p.cluster).name] = p.replicas;
    out.as_current.push_back({(*world)->cluster(p.cluster).name, p.replicas});
  }
  return out;
}

Workload Demo(int32_t replicas = 30) {
  Workload w;
  w.key = "shop/web";
  w.replicas = replicas;
  w.policy = Policy(kDemoPolicy);
  return w;
}

TEST(Failover, UnreachableRegionOverflowsToTheNearestRegionOnly) {
  Workload w = Demo();
  Placed before = Place(Fleet(), w, kNow);
  ASSERT_EQ(before.result.unplaced, 0);
  const int32_t east = before.by_cluster["us-east-1"];
  ASSERT_EQ(east, 9);

  w.current = before.as_current;
  std::vector<ClusterState> fleet = Fleet();
  Named(fleet, "us-east-1").reachable = false;
  Placed after = Place(fleet, w, kNow);
  EXPECT_EQ(after.result.unplaced, 0);
  EXPECT_EQ(after.by_cluster.count("us-east-1"), 0u);
  // us-west is 62 ms from us-east, the next (eu-west) 76 ms: it has room for all nine.
  EXPECT_EQ(after.by_cluster["us-west-1"], before.by_cluster["us-west-1"] + east);
  for (const char* other : {"eu-west-1", "eu-central-1", "ap-south-1"}) {
    EXPECT_EQ(after.by_cluster[other], before.by_cluster[other]) << other;
  }
}

// The demo's bug: every member had become Reachable within recoveryDelaySeconds (the whole
// federation had just started), so every member was "recovering", took no overflow, and the
// availability fallback spread us-east's nine replicas equally over every region. Overflow
// into recovering members must follow the overflow rule too.
TEST(Failover, OverflowIntoRecoveringMembersStillGoesNearest) {
  Workload w = Demo();
  std::vector<ClusterState> fleet = Fleet();
  for (ClusterState& c : fleet) c.healthy_since = kNow - seconds(20);
  Placed before = Place(fleet, w, kNow);
  ASSERT_EQ(before.result.unplaced, 0);
  w.current = before.as_current;

  Named(fleet, "us-east-1").reachable = false;
  Placed after = Place(fleet, w, kNow);
  EXPECT_EQ(after.result.unplaced, 0);
  EXPECT_EQ(after.by_cluster["us-west-1"], before.by_cluster["us-west-1"] + 9);
  for (const char* other : {"eu-west-1", "eu-central-1", "ap-south-1"}) {
    EXPECT_EQ(after.by_cluster[other], before.by_cluster[other]) << other;
  }
}

TEST(Failover, OverflowNoneNeverFillsRecoveringMembers) {
  Workload w = Demo();
  w.policy.failover.overflow = OverflowMode::kNone;
  std::vector<ClusterState> fleet = Fleet();
  for (ClusterState& c : fleet) c.healthy_since = kNow - seconds(20);
  w.current = Place(fleet, w, kNow).as_current;
  Named(fleet, "us-east-1").reachable = false;
  Placed after = Place(fleet, w, kNow);
  EXPECT_EQ(after.result.unplaced, 9);
  EXPECT_TRUE(after.result.unplaced_because & kOverflow);
  EXPECT_TRUE(after.result.unplaced_because & kUnreachable);
}

TEST(Failover, FailedEuZoneOverflowsWithinTheEuAndNeverLeavesIt) {
  Workload w;
  w.key = "crm/db";
  w.replicas = 400;
  w.policy = Policy(R"({"residency": {"jurisdictions": ["eu"]}})");
  Placed before = Place(Fleet(), w, kNow);
  ASSERT_EQ(before.result.unplaced, 0);  // 320 + 160 room in the EU
  w.current = before.as_current;

  std::vector<ClusterState> fleet = Fleet();
  Named(fleet, "eu-west-1").zones[0].healthy = false;  // eu-west-1a: 120 of room gone
  Placed after = Place(fleet, w, kNow);
  int32_t eu = 0;
  for (const auto& [name, n] : after.by_cluster) {
    EXPECT_TRUE(name == "eu-west-1" || name == "eu-central-1") << name;
    eu += n;
  }
  EXPECT_EQ(after.by_cluster["eu-west-1"], 200);
  EXPECT_EQ(after.by_cluster["eu-central-1"], 160);
  EXPECT_EQ(eu, 360);
  EXPECT_EQ(after.result.unplaced, 40);
  EXPECT_TRUE(after.result.unplaced_because & kResidency);
  EXPECT_TRUE(after.result.unplaced_because & kCapacity);
  EXPECT_NE(ExplainUnplaced(*after.world, w, after.result).find("40 of 400 unplaced"),
            std::string::npos)
      << ExplainUnplaced(*after.world, w, after.result);
}

// Capacity-proportional shares come from full capacity: a failed zone moves only the
// replicas it held, never re-divides the healthy members.
TEST(Failover, ZoneFailureMovesOnlyWhatNoLongerFits) {
  Workload w;
  w.key = "shop/api";
  w.replicas = 60;
  w.policy = Policy(R"({"residency": {"jurisdictions": ["us"]}})");
  Placed before = Place(Fleet(), w, kNow);
  w.current = before.as_current;
  std::vector<ClusterState> fleet = Fleet();
  // us-west-1b fails; us-west-1 keeps 80 of room: enough for its share, nothing moves.
  Named(fleet, "us-west-1").zones[1].healthy = false;
  Placed after = Place(fleet, w, kNow);
  EXPECT_EQ(after.by_cluster, before.by_cluster);
  // Both us-west zones fail: exactly its replicas move to us-east.
  Named(fleet, "us-west-1").zones[0].healthy = false;
  after = Place(fleet, w, kNow);
  EXPECT_EQ(after.by_cluster["us-east-1"], 60);
  EXPECT_EQ(after.by_cluster.count("us-west-1"), 0u);
}

// `current` with every replica reported ready.
std::vector<Assignment> AllReady(std::vector<Assignment> current) {
  for (Assignment& a : current) a.ready = a.replicas;
  return current;
}

const ClusterPlacement* LineOf(const Placed& p, const std::string& cluster) {
  auto idx = p.world->FindCluster(cluster);
  return idx ? p.result.Find(*idx) : nullptr;
}

// Recovery: held for recoveryDelaySeconds, then back in steps of recoveryMaxReplicasPerStep;
// a step starts only once the previous one is done (its replicas ready, no surge outstanding);
// a member that flaps (unreachable again during the hold) restarts its hold and never gets a
// replica back while flapping.
TEST(Failover, RecoveryWaitsForTheDelayReturnsInStepsAndIgnoresFlapping) {
  Workload w = Demo();
  w.policy.failover.recovery_delay_seconds = 30;
  w.policy.failover.recovery_max_replicas_per_step = {3, false};
  const std::map<std::string, int32_t> healthy = Place(Fleet(), w, kNow).by_cluster;
  ASSERT_GT(healthy.at("us-east-1"), 6);

  std::vector<ClusterState> fleet = Fleet();
  Named(fleet, "us-east-1").reachable = false;
  Timestamp t = kNow;
  Placed p = Place(fleet, w, t);
  ASSERT_EQ(p.by_cluster.count("us-east-1"), 0u);
  w.current = AllReady(p.as_current);

  // Flapping: back, down, back, down, back again, within 30 s each time.
  Timestamp up_since{};
  for (int flap = 0; flap < 3; ++flap) {
    t += seconds(10);
    up_since = t;
    Named(fleet, "us-east-1").reachable = true;
    Named(fleet, "us-east-1").healthy_since = up_since;
    p = Place(fleet, w, t);
    EXPECT_EQ(p.by_cluster.count("us-east-1"), 0u) << "flap " << flap;
    ASSERT_TRUE(p.result.recheck_after.has_value());
    EXPECT_EQ(*p.result.recheck_after, Duration(30'000));
    w.current = AllReady(p.as_current);
    t += seconds(20);
    p = Place(fleet, w, t);
    EXPECT_EQ(p.by_cluster.count("us-east-1"), 0u) << "flap " << flap;
    w.current = AllReady(p.as_current);
    if (flap < 2) {
      t += seconds(5);
      Named(fleet, "us-east-1").reachable = false;
      p = Place(fleet, w, t);
      w.current = AllReady(p.as_current);
    }
  }
  // Stays up: after 30 s the replicas come back three per step.
  t = up_since + seconds(30);
  int32_t last = 0;
  for (int step = 1; last < healthy.at("us-east-1"); ++step) {
    ASSERT_LE(step, 20);
    p = Place(fleet, w, t);
    const int32_t want = std::min(3 * step, healthy.at("us-east-1"));
    EXPECT_EQ(p.by_cluster["us-east-1"], want) << step;
    EXPECT_EQ(p.result.unplaced, 0);
    w.current = p.as_current;  // the step's replicas are not ready yet
    // Asked again (any number of times) before they are ready: no further step.
    for (int again = 0; again < 3; ++again) {
      Placed same = Place(fleet, w, t + seconds(again));
      EXPECT_EQ(same.by_cluster["us-east-1"], want) << step;
      if (want < healthy.at("us-east-1")) {
        ASSERT_NE(LineOf(same, "us-east-1"), nullptr);
        EXPECT_EQ(LineOf(same, "us-east-1")->recovery, RecoveryState::kStepWaits);
        EXPECT_NE(Explain(*same.world, w, same.result, *same.world->FindCluster("us-east-1"))
                      .find("the next step once they are ready"),
                  std::string::npos);
      }
    }
    // A surge outstanding elsewhere (the replicas this step replaces not released yet)
    // holds the next step too, even with every replica ready.
    std::vector<Assignment> surged = AllReady(p.as_current);
    for (Assignment& a : surged) {
      if (a.cluster != "us-east-1") {
        a.replicas += 1;
        a.ready += 1;
        break;
      }
    }
    Workload with_surge = w;
    with_surge.current = surged;
    EXPECT_EQ(Place(fleet, with_surge, t).by_cluster["us-east-1"], want) << step;
    last = want;
    w.current = AllReady(p.as_current);
    t += seconds(2);
  }
  EXPECT_EQ(p.by_cluster, healthy);
}

// The default step is 25% of the replicas, rounded up.
TEST(Failover, DefaultRecoveryStepIsAQuarterOfTheReplicas) {
  Workload w = Demo(30);
  w.policy.failover.recovery_delay_seconds = 30;
  ASSERT_EQ(w.policy.failover.recovery_max_replicas_per_step, (ReplicasOrPercent{25, true}));
  const std::map<std::string, int32_t> healthy = Place(Fleet(), w, kNow).by_cluster;
  ASSERT_GT(healthy.at("us-east-1"), 8);
  std::vector<ClusterState> fleet = Fleet();
  Named(fleet, "us-east-1").reachable = false;
  Placed p = Place(fleet, w, kNow);
  w.current = AllReady(p.as_current);
  Named(fleet, "us-east-1").reachable = true;
  Named(fleet, "us-east-1").healthy_since = kNow + seconds(1);
  p = Place(fleet, w, kNow + seconds(31));
  EXPECT_EQ(p.by_cluster["us-east-1"], 8);  // ceil(30 * 25%)
}

// The pacing has a time budget per step: a cluster whose return has not finished within it
// (its pods never got ready, say) is an ordinary cluster again and gets its whole share.
TEST(Failover, PacingEndsAfterItsTimeBudget) {
  Workload w = Demo(30);
  w.policy.failover.recovery_delay_seconds = 30;
  w.policy.failover.recovery_max_replicas_per_step = {4, false};
  const std::map<std::string, int32_t> healthy = Place(Fleet(), w, kNow).by_cluster;
  std::vector<ClusterState> fleet = Fleet();
  Named(fleet, "us-east-1").reachable = false;
  Placed p = Place(fleet, w, kNow);
  w.current = AllReady(p.as_current);
  Named(fleet, "us-east-1").reachable = true;
  Named(fleet, "us-east-1").healthy_since = kNow;
  p = Place(fleet, w, kNow + seconds(30));
  EXPECT_EQ(p.by_cluster["us-east-1"], 4);
  w.current = p.as_current;  // never ready
  // ceil(30 / 4) = 8 steps x kRecoveryStepBudgetSeconds after the delay; the engine asks to
  // be called then.
  const auto window_end = seconds(30 + 8 * kRecoveryStepBudgetSeconds);
  p = Place(fleet, w, kNow + seconds(31));
  EXPECT_EQ(p.by_cluster["us-east-1"], 4);
  ASSERT_TRUE(p.result.recheck_after.has_value());
  EXPECT_EQ(*p.result.recheck_after, Duration(window_end - seconds(31)));
  p = Place(fleet, w, kNow + window_end);
  EXPECT_EQ(p.by_cluster, healthy);
}

// Capacity shared with other workloads: what they use is taken off a cluster's room; the
// rest overflows as after a zone failure (the shares stay).
TEST(Failover, CapacityUsedByOtherWorkloadsOverflows) {
  Workload w;
  w.key = "shop/api";
  w.replicas = 60;
  w.policy = Policy(R"({"residency": {"jurisdictions": ["us"]}})");
  auto world = World::Build(Fleet(), Topology());
  ASSERT_TRUE(world.ok());
  Engine engine(*world);
  const Result alone = engine.Place(w, kNow);
  const uint32_t west = *(*world)->FindCluster("us-west-1");
  const uint32_t east = *(*world)->FindCluster("us-east-1");
  ASSERT_GT(alone.ReplicasOf(west), 0);
  std::vector<int64_t> used((*world)->size(), 0);
  used[west] = (*world)->capacity(west) - 5;  // 5 replicas of room left
  const Result shared = engine.Place(w, kNow, used);
  EXPECT_EQ(shared.ReplicasOf(west), 5);
  EXPECT_EQ(shared.ReplicasOf(east), 60 - 5);
  EXPECT_EQ(shared.Find(west)->share, alone.Find(west)->share);
  EXPECT_NE(Explain(**world, w, shared, west).find("used by other workloads"), std::string::npos);
  // No room anywhere: unplaced, because of capacity.
  used[east] = (*world)->capacity(east);
  used[west] = (*world)->capacity(west);
  const Result full = engine.Place(w, kNow, used);
  EXPECT_EQ(full.unplaced, 60);
  EXPECT_TRUE(full.unplaced_because & kCapacity);
}

}  // namespace
}  // namespace meridian::placement
