// Failover drills, pure core (failover/drill.h) and the membersim fault requests
// (failover/drill_fault.h): target matching, samples, the abort condition, the report's
// milestones, residency violations, and the report's JSON round trip.
#include "failover/drill.h"

#include <gtest/gtest.h>

#include "api/codec.h"
#include "failover/drill_fault.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

api::MemberCluster Member(const std::string& name, const std::string& region,
                          std::vector<std::string> zones, const std::string& jurisdiction = "") {
  api::MemberCluster m;
  m.metadata.name = name;
  m.spec.server = "http://127.0.0.1:18080/clusters/" + name;
  m.spec.region = region;
  m.spec.zones = std::move(zones);
  m.spec.jurisdiction = jurisdiction;
  return m;
}

api::ClusterPlacement Placed(const std::string& cluster, int64_t replicas,
                             std::map<std::string, int64_t> zones = {}) {
  api::ClusterPlacement p;
  p.cluster = cluster;
  p.replicas = replicas;
  p.zones = std::move(zones);
  return p;
}

api::FederatedWorkload Workload(const std::string& name, int64_t desired,
                                std::vector<api::ClusterPlacement> placement,
                                std::map<std::string, int64_t> ready) {
  api::FederatedWorkload w;
  w.metadata.ns = "shop";
  w.metadata.name = name;
  w.status.desired_replicas = desired;
  w.status.placement = std::move(placement);
  for (const auto& [cluster, n] : ready) {
    api::ClusterSyncStatus c;
    c.cluster = cluster;
    c.ready_replicas = n;
    w.status.clusters.push_back(c);
    w.status.ready_replicas += n;
  }
  return w;
}

std::vector<api::MemberCluster> Fleet3() {
  return {Member("eu-west-1", "eu-west", {"eu-west-1a", "eu-west-1b"}, "eu"),
          Member("eu-central-1", "eu-central", {"eu-central-1a"}, "eu"),
          Member("us-east-1", "us-east", {"us-east-1a", "us-east-1b"}, "us")};
}

api::DrillTarget Zone(const std::string& z) { return {z, "", ""}; }
api::DrillTarget Region(const std::string& r) { return {"", r, ""}; }
api::DrillTarget Cluster(const std::string& c) { return {"", "", c}; }

TEST(DrillTarget, TouchesAndExists) {
  const auto members = Fleet3();
  struct Case {
    api::DrillTarget target;
    std::vector<bool> touches;  // per member of Fleet3
  };
  const std::vector<Case> cases = {
      {Zone("eu-west-1a"), {true, false, false}},
      {Region("eu-central"), {false, true, false}},
      {Cluster("us-east-1"), {false, false, true}},
      {Zone("ap-south-1a"), {false, false, false}},
  };
  for (const Case& c : cases) {
    for (size_t i = 0; i < members.size(); ++i) {
      EXPECT_EQ(TargetTouches(c.target, members[i]), c.touches[i])
          << DescribeTarget(c.target) << " " << members[i].metadata.name;
    }
  }
  EXPECT_TRUE(CheckTargetExists(Zone("eu-west-1b"), members).ok());
  Status missing = CheckTargetExists(Zone("ap-south-1a"), members);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("spec.target.zone"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("ap-south-1a"), std::string::npos);
  EXPECT_EQ(DescribeTarget(Region("eu-west")), "region=eu-west");
}

TEST(DrillTarget, ReplicasOnTargetUsesZoneHints) {
  const auto members = Fleet3();
  const std::vector<api::ClusterPlacement> placement = {
      Placed("eu-west-1", 6, {{"eu-west-1a", 4}, {"eu-west-1b", 2}}), Placed("eu-central-1", 3),
      Placed("us-east-1", 9, {{"us-east-1a", 5}, {"us-east-1b", 4}})};
  EXPECT_EQ(ReplicasOnTarget(Zone("eu-west-1a"), placement, members), 4);
  EXPECT_EQ(ReplicasOnTarget(Zone("eu-central-1a"), placement, members), 3);  // no hints: all
  EXPECT_EQ(ReplicasOnTarget(Region("eu-west"), placement, members), 6);
  EXPECT_EQ(ReplicasOnTarget(Cluster("us-east-1"), placement, members), 9);
  EXPECT_EQ(ReplicasOnTarget(Zone("nowhere"), placement, members), 0);
}

TEST(DrillTarget, SeenFailedFromMemberStatus) {
  auto members = Fleet3();
  EXPECT_FALSE(TargetSeenFailed(Zone("eu-west-1a"), members));
  members[0].status.zones = {{"eu-west-1a", false, 0, ""}, {"eu-west-1b", true, 10, ""}};
  EXPECT_TRUE(TargetSeenFailed(Zone("eu-west-1a"), members));
  EXPECT_FALSE(TargetSeenFailed(Region("eu-west"), members));  // one zone still healthy
  members[0].status.conditions = {{"Reachable", "False", "ProbeFailed", "", "", 0}};
  EXPECT_TRUE(TargetSeenFailed(Region("eu-west"), members));
  EXPECT_TRUE(TargetSeenFailed(Cluster("eu-west-1"), members));
  EXPECT_FALSE(TargetSeenFailed(Cluster("us-east-1"), members));
}

TEST(DrillSample, ReadyAndDesiredPerRegion) {
  const auto members = Fleet3();
  const std::vector<api::FederatedWorkload> workloads = {
      Workload("web", 18,
               {Placed("eu-west-1", 6, {{"eu-west-1a", 3}, {"eu-west-1b", 3}}), Placed("eu-central-1", 3),
                Placed("us-east-1", 9)},
               {{"eu-west-1", 5}, {"eu-central-1", 3}, {"us-east-1", 9}}),
      Workload("api", 4, {Placed("us-east-1", 4)}, {{"us-east-1", 2}}),
  };
  DrillSample s = TakeSample(Zone("eu-west-1a"), 1500, workloads, members);
  EXPECT_EQ(s.at_ms, 1500);
  EXPECT_EQ(s.ready, 19);
  EXPECT_EQ(s.desired, 22);
  EXPECT_EQ(s.ready_by_region, (std::map<std::string, int64_t>{{"eu-central", 3}, {"eu-west", 5}, {"us-east", 11}}));
  EXPECT_EQ(s.desired_by_region, (std::map<std::string, int64_t>{{"eu-central", 3}, {"eu-west", 6}, {"us-east", 13}}));
  EXPECT_EQ(s.on_target, 3);
  EXPECT_EQ(s.ready_as_placed, 19);
  EXPECT_FALSE(s.target_seen_failed);
}

// Issue 15: availability is what the members hold. Status says eu-west-1 has 5 ready (its
// last known figure), but eu-west-1 does not answer: nothing of it counts, and the sample
// names it; surge replicas the members really run count.
TEST(DrillSample, FromMembersCountsWhatTheyHoldAndNamesWhoDidNotAnswer) {
  const auto members = Fleet3();
  std::vector<api::FederatedWorkload> workloads = {
      Workload("web", 18,
               {Placed("eu-west-1", 6), Placed("eu-central-1", 3), Placed("us-east-1", 9)},
               {{"eu-west-1", 5}, {"eu-central-1", 3}, {"us-east-1", 9}}),
      // A copied Service: objects, not replicas; left out of availability.
      Workload("web-lb", 3, {Placed("eu-west-1", 1), Placed("us-east-1", 1)},
               {{"eu-west-1", 1}, {"us-east-1", 1}}),
  };
  workloads[0].spec.template_ = {{"kind", "Deployment"}, {"spec", {{"replicas", 18}}}};
  workloads[1].spec.template_ = {{"kind", "Service"}, {"spec", {{"type", "LoadBalancer"}}}};
  MemberReadiness observed;
  observed.ready["eu-west-1"]["shop.web"] = 6;  // stale entry of a member that did not answer
  observed.unverified = {"eu-west-1"};
  observed.ready["eu-central-1"]["shop.web"] = 5;  // 3 placed + 2 surge
  observed.ready["us-east-1"]["shop.web"] = 4;
  observed.ready["us-east-1"]["shop.other"] = 7;  // another workload: not followed
  DrillSample s = TakeSample(Region("eu-west"), 2000, workloads, members, &observed);
  EXPECT_TRUE(s.from_members);
  EXPECT_EQ(s.desired, 18);
  EXPECT_EQ(s.ready, 9);
  EXPECT_EQ(s.ready_as_placed, 7);  // eu-central-1 min(5, 3) + us-east-1 4
  EXPECT_EQ(s.ready_by_region,
            (std::map<std::string, int64_t>{{"eu-central", 5}, {"eu-west", 0}, {"us-east", 4}}));
  EXPECT_EQ(s.unverified, (std::vector<std::string>{"eu-west-1"}));
  EXPECT_EQ(s.by_workload, (std::map<std::string, WorkloadSampleFigures>{
                               {"shop/web", {.desired = 18, .ready = 9, .ready_as_placed = 7, .on_target = 6}}}));

  // The timeline keeps the fleet's figures only (AddSample clears by_workload).
  s.by_workload.clear();
  DrillRecord r;
  r.timeline.push_back(s);
  StatusOr<DrillRecord> back = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->timeline.at(0), s);
}

TEST(DrillAbortCondition, FiresStrictlyBelowThreshold) {
  struct Case {
    int64_t ready, desired;
    std::optional<int32_t> percent;
    bool fires;
  };
  const std::vector<Case> cases = {
      {24, 30, 80, false},  // exactly 80%: not below
      {23, 30, 80, true},   // 76.7%
      {30, 30, 100, false},
      {29, 30, 100, true},
      {0, 30, std::nullopt, false},  // no condition
      {0, 0, 80, false},             // nothing desired
      {1, 3, 34, true},              // 33.3% < 34%
      {1, 3, 33, false},
  };
  for (const Case& c : cases) {
    DrillSample s;
    s.ready = c.ready;
    s.desired = c.desired;
    EXPECT_EQ(AbortConditionFires(s, c.percent), c.fires) << c.ready << "/" << c.desired;
  }
}

// A zone drill from start to re-placement and recovery: the milestones land on the samples
// where they happen, and the moves are counted against the placement at the start.
TEST(DrillRecord, MilestonesMovesAndLowestAvailability) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Zone("eu-west-1a");
  drill.spec.mode = "live";
  drill.spec.abort_below_percent = 50;
  auto at_start = Workload("web", 12,
                           {Placed("eu-west-1", 6, {{"eu-west-1a", 3}, {"eu-west-1b", 3}}),
                            Placed("us-east-1", 6)},
                           {{"eu-west-1", 6}, {"us-east-1", 6}});
  auto other = Workload("untouched", 2, {Placed("us-east-1", 2)}, {{"us-east-1", 2}});
  DrillRecord r = StartRecord(drill, 1'000'000, {at_start, other}, members);
  ASSERT_EQ(r.before.size(), 1u);  // only the workload with replicas on the target
  EXPECT_EQ(r.before[0].workload, "shop/web");
  EXPECT_EQ(r.before[0].on_target, 3);
  EXPECT_EQ(r.placed_before_per_region, (std::map<std::string, int64_t>{{"eu-west", 6}, {"us-east", 6}}));
  EXPECT_EQ(FollowedWorkloads(r, {at_start, other}).size(), 1u);

  auto add = [&](int64_t at, const api::FederatedWorkload& w, std::vector<api::MemberCluster> m) {
    AddSample(&r, TakeSample(drill.spec.target, at, {w}, m), {w}, m, {}, {});
  };
  add(0, at_start, members);
  EXPECT_FALSE(r.detected_ms);
  EXPECT_FALSE(r.replaced_ms);

  // The fault bites: 3 replicas not ready; nothing moved yet.
  auto hurt = Workload("web", 12, at_start.status.placement, {{"eu-west-1", 3}, {"us-east-1", 6}});
  add(1000, hurt, members);
  EXPECT_FALSE(r.detected_ms);

  // The health monitor reports the zone failed.
  auto seen = members;
  seen[0].status.zones = {{"eu-west-1a", false, 0, ""}, {"eu-west-1b", true, 10, ""}};
  add(2000, hurt, seen);
  EXPECT_EQ(r.detected_ms, 2000);

  // Placement moves the zone's 3 replicas to eu-central-1; they are not ready yet.
  auto moved = Workload("web", 12,
                        {Placed("eu-west-1", 3, {{"eu-west-1b", 3}}), Placed("eu-central-1", 3),
                         Placed("us-east-1", 6)},
                        {{"eu-west-1", 3}, {"us-east-1", 6}});
  add(3000, moved, seen);
  // Moved between the 2 s and the 3 s sample: the middle (off by at most half a gap).
  EXPECT_EQ(r.replaced_ms, 2500);
  EXPECT_FALSE(r.fully_ready_ms);
  EXPECT_EQ(r.replicas_moved_per_region, (std::map<std::string, int64_t>{{"eu-central", 3}, {"eu-west", -3}}));

  auto ready = moved;
  ready.status = Workload("web", 12, moved.status.placement,
                          {{"eu-west-1", 3}, {"eu-central-1", 3}, {"us-east-1", 6}}).status;
  add(5000, ready, seen);
  EXPECT_EQ(r.fully_ready_ms, 5000);
  EXPECT_EQ(r.lowest_ready, 9);
  EXPECT_EQ(r.lowest_ready_desired, 12);
  EXPECT_EQ(r.timeline.size(), 5u);
  EXPECT_TRUE(r.residency_violations.empty());

  json j = RecordToJson(r);
  EXPECT_EQ(j["timeToDetectSeconds"], 2.0);
  EXPECT_EQ(j["timeToReplaceSeconds"], 2.5);
  EXPECT_EQ(j["timeToFullReadySeconds"], 5.0);
  EXPECT_EQ(j["lowestAvailabilityPercent"], 75.0);
  EXPECT_EQ(j["residencyViolations"], 0);
}

// A pass reads the API objects, then the members (0.1-0.7 s for a fleet), then stamps the
// sample: the re-placement is dated between the previous and this pass's placement reads,
// full readiness in the middle of the member reads, and neither before the detection; the
// timeline keeps at_ms only.
TEST(DrillRecord, PlacementMilestonesAreDatedWhenThePlacementWasRead) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Zone("eu-west-1a");
  drill.spec.mode = "live";
  auto at_start = Workload("web", 12,
                           {Placed("eu-west-1", 6, {{"eu-west-1a", 3}, {"eu-west-1b", 3}}),
                            Placed("us-east-1", 6)},
                           {{"eu-west-1", 6}, {"us-east-1", 6}});
  DrillRecord r = StartRecord(drill, 1'000'000, {at_start}, members);
  auto add = [&](int64_t at, std::optional<int64_t> read_at, const api::FederatedWorkload& w,
                 const std::vector<api::MemberCluster>& m) {
    DrillSample s = TakeSample(drill.spec.target, at, {w}, m);
    s.placement_read_ms = read_at;
    AddSample(&r, std::move(s), {w}, m, {}, {});
  };
  add(0, std::nullopt, at_start, members);
  auto seen = members;
  seen[0].status.zones = {{"eu-west-1a", false, 0, ""}, {"eu-west-1b", true, 10, ""}};
  auto hurt = Workload("web", 12, at_start.status.placement, {{"eu-west-1", 3}, {"us-east-1", 6}});
  add(2000, 1400, hurt, seen);
  ASSERT_TRUE(r.detected_ms);
  const int64_t detected = *r.detected_ms;

  auto moved = Workload("web", 12,
                        {Placed("eu-west-1", 3, {{"eu-west-1b", 3}}), Placed("eu-central-1", 3),
                         Placed("us-east-1", 6)},
                        {{"eu-west-1", 3}, {"us-east-1", 6}});
  add(3000, 2400, moved, seen);  // placement read at 2.4 s, members until 3.0 s
  // Moved after the previous pass read the placement (~1.4 s: its end, 2.0 s, less this
  // pass's 0.6 s of member reads) and before this one did (2.4 s): the middle, 1.9 s.
  EXPECT_EQ(r.replaced_ms, std::max<int64_t>(1900, detected));
  auto ready = moved;
  ready.status = Workload("web", 12, moved.status.placement,
                          {{"eu-west-1", 3}, {"eu-central-1", 3}, {"us-east-1", 6}}).status;
  add(5000, 4200, ready, seen);
  EXPECT_EQ(r.fully_ready_ms, 4600);  // the middle of 4.2 s .. 5.0 s
  ASSERT_EQ(r.workloads.count("shop/web"), 1u);
  EXPECT_EQ(r.workloads.at("shop/web").replaced_ms, r.replaced_ms);
  EXPECT_EQ(r.workloads.at("shop/web").fully_ready_ms, 4600);
  for (const DrillSample& t : r.timeline) EXPECT_FALSE(t.placement_read_ms) << t.at_ms;

  // A placement read before the detection's estimate still dates the move at the detection.
  DrillRecord early = StartRecord(drill, 1'000'000, {at_start}, members);
  DrillSample s = TakeSample(drill.spec.target, 2000, {moved}, seen);
  s.placement_read_ms = 100;
  AddSample(&early, std::move(s), {moved}, seen, {}, {});
  ASSERT_TRUE(early.detected_ms && early.replaced_ms);
  EXPECT_GE(*early.replaced_ms, *early.detected_ms);
}

// A live drill of cluster eu-west-1, started while web had its 6 replicas there.
struct EuWestDrill {
  std::vector<api::MemberCluster> members = Fleet3();
  api::FailoverDrill drill;
  api::FederatedWorkload w = Workload("web", 6, {Placed("eu-west-1", 6)}, {{"eu-west-1", 6}});
  DrillRecord r;
  EuWestDrill() {
    drill.spec.target = Cluster("eu-west-1");
    drill.spec.mode = "live";
    r = StartRecord(drill, 0, {w}, members);
  }
};

TEST(DrillRecord, PlacementMovingOffTheTargetCountsAsDetection) {
  EuWestDrill d;
  auto& [members, drill, w, r] = d;
  auto partly = Workload("web", 6, {Placed("eu-west-1", 2), Placed("eu-central-1", 4)}, {{"eu-west-1", 6}});
  AddSample(&r, TakeSample(drill.spec.target, 700, {partly}, members), {partly}, members, {}, {});
  EXPECT_EQ(r.detected_ms, 700);
  EXPECT_FALSE(r.replaced_ms);
}

// An injected drill rehearses the real detection path: a move alone is not detection, the
// members' health is (at its transition time when the members give one).
TEST(DrillRecord, InjectedDrillsAreDetectedByHealthOnly) {
  EuWestDrill d;
  auto& [members, drill, w, r] = d;
  drill.spec.inject_fault = true;
  r = StartRecord(drill, 0, {w}, members);
  EXPECT_EQ(r.failure, kFailureInjected);
  auto partly =
      Workload("web", 6, {Placed("eu-west-1", 2), Placed("eu-central-1", 4)}, {{"eu-west-1", 6}});
  AddSample(&r, TakeSample(drill.spec.target, 700, {partly}, members), {partly}, members, {}, {});
  EXPECT_FALSE(r.detected_ms);
  auto seen = members;
  seen[0].status.conditions = {
      {"Reachable", "False", "ProbeFailed", "", "1970-01-01T00:00:01Z", 0}};
  EXPECT_EQ(TargetFailedSince(drill.spec.target, seen), Timestamp(std::chrono::seconds(1)));
  AddSample(&r, TakeSample(drill.spec.target, 2000, {partly}, seen), {partly}, seen, {}, {});
  // Written as 1 s (truncated): the transition was in [1000, 1999], after the 700 ms sample
  // and before this one; the middle of it.
  EXPECT_EQ(r.detected_ms, 1499);
  EXPECT_EQ(RecordToJson(r)["failure"], "injected");
  EXPECT_EQ(RecordFromJson(RecordToJson(r))->failure, "injected");
}

// Make-before-break: the target keeps its replicas while their replacements start elsewhere.
// Placement acted on the drill (replacements placed), so that is detection too; re-placed
// only once the target holds none.
TEST(DrillRecord, ReplacementsPlacedElsewhereCountAsDetection) {
  EuWestDrill d;
  auto& [members, drill, w, r] = d;
  AddSample(&r, TakeSample(drill.spec.target, 300, {w}, members), {w}, members, {}, {});
  EXPECT_FALSE(r.detected_ms) << "nothing moved yet";
  auto surge = Workload("web", 6, {Placed("eu-west-1", 6), Placed("eu-central-1", 6)},
                        {{"eu-west-1", 6}});
  AddSample(&r, TakeSample(drill.spec.target, 700, {surge}, members), {surge}, members, {}, {});
  EXPECT_EQ(r.detected_ms, 700);
  EXPECT_FALSE(r.replaced_ms);
  auto moved = Workload("web", 6, {Placed("eu-central-1", 6)}, {{"eu-central-1", 6}});
  AddSample(&r, TakeSample(drill.spec.target, 2500, {moved}, members), {moved}, members, {}, {});
  EXPECT_EQ(r.replaced_ms, 1600);  // after the 700 ms sample, before this one: the middle
  EXPECT_EQ(r.lowest_ready, 6) << "no availability lost";
}

TEST(DrillRecord, UnplacedAndResidencyViolationsAreKept) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Region("eu-west");
  drill.spec.mode = "live";
  auto w = Workload("web", 6, {Placed("eu-west-1", 6)}, {{"eu-west-1", 6}});
  w.spec.placement.residency = placement::ResidencySpec{{"eu"}};
  DrillRecord r = StartRecord(drill, 0, {w}, members);
  auto bad = w;
  bad.status.placement = {Placed("eu-central-1", 4), Placed("us-east-1", 2)};  // us breaks residency
  bad.status.unplaced_replicas = 1;
  bad.status.conditions = {{"Degraded", "True", "ReplicasUnplaced", "1 of 6 unplaced: capacity", "", 0}};
  AddSample(&r, TakeSample(drill.spec.target, 1000, {bad}, members), {bad}, members, {}, {});
  auto good = w;
  good.status.placement = {Placed("eu-central-1", 6)};
  AddSample(&r, TakeSample(drill.spec.target, 2000, {good}, members), {good}, members, {}, {});
  ASSERT_EQ(r.residency_violations.size(), 1u);  // seen once, stays reported
  EXPECT_EQ(r.residency_violations[0], (ResidencyViolation{"shop/web", "us-east-1", "us", 2}));
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].replicas, 1);
  EXPECT_EQ(r.unplaced[0].why, "1 of 6 unplaced: capacity");
}

TEST(DrillResidency, WorkloadAndPoliciesIntersect) {
  auto members = Fleet3();
  members.push_back(Member("ch-1", "eu-central", {"ch-1a"}));  // jurisdiction from the Topology
  placement::TopologySpec topology;
  topology.regions.push_back({"eu-central", "ch", {}, {}});
  EXPECT_EQ(JurisdictionOf(members[3], topology), "ch");
  EXPECT_EQ(JurisdictionOf(members[0], topology), "eu");

  auto w = Workload("web", 9, {Placed("eu-west-1", 3), Placed("ch-1", 3), Placed("us-east-1", 3)}, {});
  EXPECT_FALSE(AllowedJurisdictions(w, {}));
  EXPECT_TRUE(FindResidencyViolations({w}, members, {}, topology).empty());

  api::ResidencyPolicy eu_or_ch;
  eu_or_ch.metadata.name = "eu-or-ch";
  eu_or_ch.spec.namespaces = {"shop"};
  eu_or_ch.spec.jurisdictions = {"eu", "ch"};
  api::ResidencyPolicy elsewhere = eu_or_ch;
  elsewhere.spec.namespaces = {"other"};
  elsewhere.spec.jurisdictions = {"us"};
  w.spec.placement.residency = placement::ResidencySpec{{"eu", "us"}};
  EXPECT_EQ(AllowedJurisdictions(w, {eu_or_ch, elsewhere}), (std::vector<std::string>{"eu"}));
  auto v = FindResidencyViolations({w}, members, {eu_or_ch, elsewhere}, topology);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], (ResidencyViolation{"shop/web", "ch-1", "ch", 3}));
  EXPECT_EQ(v[1], (ResidencyViolation{"shop/web", "us-east-1", "us", 3}));
}

TEST(DrillRecord, JsonRoundTrip) {
  DrillRecord r;
  r.target = "zone=eu-west-1a";
  r.mode = "live";
  r.started_at_ms = 1'700'000'000'000;
  r.min_availability_percent = 80;
  r.before = {{"shop/web", {{"eu-west-1", 6}}, 3}};
  DrillSample s;
  s.at_ms = 1000;
  s.ready = 27;
  s.desired = 30;
  s.ready_by_region = {{"eu-west", 3}};
  s.desired_by_region = {{"eu-west", 6}};
  s.on_target = 3;
  s.ready_as_placed = 26;
  s.target_seen_failed = true;
  r.timeline = {s};
  r.detected_ms = 1000;
  r.restored_ms = 9000;
  r.aborted_ms = 9000;
  r.abort_condition_fired = true;
  r.abort_reason = "availability";
  r.fault_injected = true;
  r.replicas_moved_per_region = {{"eu-west", -3}};
  r.placed_before_per_region = {{"eu-west", 6}};
  r.placed_during_per_region = {{"eu-west", 3}};
  r.residency_violations = {{"shop/web", "us-east-1", "us", 2}};
  r.unplaced = {{"shop/web", 1, "capacity"}};
  r.lowest_ready = 27;
  r.lowest_ready_desired = 30;
  StatusOr<DrillRecord> back = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);

  json broken = RecordToJson(r);
  broken["timeline"][0]["ready"] = "many";
  StatusOr<DrillRecord> bad = RecordFromJson(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("status.report.timeline[0].ready"), std::string::npos)
      << bad.status().message();
}

TEST(DrillRecord, TimelineIsThinnedBeyondTheCap) {
  DrillRecord r;
  for (int64_t i = 0; i < static_cast<int64_t>(kMaxTimelineSamples) + 1; ++i) {
    DrillSample s;
    s.at_ms = i * 1000;
    AddSample(&r, s, {}, {}, {}, {});
  }
  EXPECT_LE(r.timeline.size(), kMaxTimelineSamples);
  EXPECT_EQ(r.timeline.front().at_ms, 0);
  EXPECT_EQ(r.timeline.back().at_ms, static_cast<int64_t>(kMaxTimelineSamples) * 1000);
}

// ---- The return to the target after the restore ----

TEST(DrillReturn, ReadyOnTargetIsExactForClustersAndALowerBoundForZones) {
  const auto members = Fleet3();
  // eu-west-1 places 6 (4 in zone a, 2 in b) and has 5 ready.
  auto w = Workload("web", 9, {Placed("eu-west-1", 6, {{"eu-west-1a", 4}, {"eu-west-1b", 2}}), Placed("us-east-1", 3)},
                    {{"eu-west-1", 5}, {"us-east-1", 3}});
  EXPECT_EQ(ReadyOnTarget(Cluster("eu-west-1"), w, members), 5);
  EXPECT_EQ(ReadyOnTarget(Region("eu-west"), w, members), 5);
  // The replicas outside the target zone are taken as ready first: for zone a, b's 2, so 3
  // of a's 4; for zone b, a's 4, so 1 of b's 2.
  EXPECT_EQ(ReadyOnTarget(Zone("eu-west-1a"), w, members), 3);
  EXPECT_EQ(ReadyOnTarget(Zone("eu-west-1b"), w, members), 1);
  // Ready beyond the placed count (old replicas still going) does not count.
  auto surplus = Workload("web", 9, {Placed("eu-west-1", 2)}, {{"eu-west-1", 6}});
  EXPECT_EQ(ReadyOnTarget(Cluster("eu-west-1"), surplus, members), 2);
  // Nothing ready on the member: 0, never negative.
  auto none = Workload("web", 9, {Placed("eu-west-1", 6, {{"eu-west-1a", 4}, {"eu-west-1b", 2}})}, {});
  EXPECT_EQ(ReadyOnTarget(Zone("eu-west-1a"), none, members), 0);
}

TEST(DrillReturn, ProgressIsCappedPerWorkloadAndSkipsDeletedOnes) {
  const auto members = Fleet3();
  const std::vector<WorkloadBefore> before = {{"shop/web", {{"eu-west-1", 6}}, 6},
                                              {"shop/api", {{"eu-west-1", 3}}, 3},
                                              {"shop/gone", {{"eu-west-1", 2}}, 2}};
  // web has more than before on the target (7), api fewer (1): web does not make up for api.
  auto web = Workload("web", 7, {Placed("eu-west-1", 7)}, {{"eu-west-1", 7}});
  auto api = Workload("api", 3, {Placed("eu-west-1", 1), Placed("eu-central-1", 2)},
                      {{"eu-west-1", 0}, {"eu-central-1", 2}});
  ReturnProgress p = ReturnProgressOf(Cluster("eu-west-1"), before, {web, api}, members);
  EXPECT_EQ(p, (ReturnProgress{.want = 9, .placed = 7, .ready = 6, .before = 9}));
  EXPECT_FALSE(p.Complete());
  api = Workload("api", 3, {Placed("eu-west-1", 3)}, {{"eu-west-1", 3}});
  p = ReturnProgressOf(Cluster("eu-west-1"), before, {web, api}, members);
  EXPECT_EQ(p, (ReturnProgress{.want = 9, .placed = 9, .ready = 9, .before = 9}));
  EXPECT_TRUE(p.Complete());
}

// A drill started while another member was still recovering: placement had overflowed that
// member's share onto the target (8 there instead of 6). After the restore that member is
// back too and placement settles on 6 for the target: the return waits for those 6, not for
// 8 that placement no longer wants there (it would watch for 10 minutes and say "not back").
TEST(DrillReturn, ItWaitsForWhatSettledPlacementWantsWhenThatIsFewerThanBefore) {
  const auto members = Fleet3();
  const std::vector<WorkloadBefore> before = {{"shop/web", {{"eu-west-1", 8}}, 8}};
  auto explained = [](api::FederatedWorkload w, const std::string& reason) {
    w.status.explanation.clusters = {{"eu-west-1", 0, reason, ""}};
    return w;
  };
  auto back = Workload("web", 9, {Placed("eu-west-1", 6), Placed("us-east-1", 3)},
                       {{"eu-west-1", 6}, {"us-east-1", 3}});
  // Not explained, or still held back for failure: placement has not settled, so 8 it is.
  for (const char* reason : {"", "Unreachable", "RecoveryHold", "ZoneFailure"}) {
    const auto w = *reason ? explained(back, reason) : back;
    EXPECT_FALSE(PlacementSettledOnTarget(Region("eu-west"), w, members)) << reason;
    ReturnProgress p = ReturnProgressOf(Region("eu-west"), before, {w}, members);
    EXPECT_EQ(p, (ReturnProgress{.want = 8, .placed = 6, .ready = 6, .before = 8})) << reason;
    EXPECT_FALSE(p.Complete()) << reason;
  }
  // Settled on 6: complete once those 6 are ready; the report keeps the 8 of before.
  const auto settled = explained(back, "Placed");
  EXPECT_TRUE(PlacementSettledOnTarget(Region("eu-west"), settled, members));
  EXPECT_TRUE(PlacementSettledOnTarget(Cluster("eu-west-1"), settled, members));
  ReturnProgress p = ReturnProgressOf(Region("eu-west"), before, {settled}, members);
  EXPECT_EQ(p, (ReturnProgress{.want = 6, .placed = 6, .ready = 6, .before = 8}));
  EXPECT_TRUE(p.Complete());
  // Settled, but the 6 not ready yet: not complete.
  auto starting = explained(Workload("web", 9, {Placed("eu-west-1", 6), Placed("us-east-1", 3)},
                                     {{"eu-west-1", 2}, {"us-east-1", 3}}),
                            "Placed");
  EXPECT_FALSE(ReturnProgressOf(Region("eu-west"), before, {starting}, members).Complete());
  // Settled on more than before: still only the 8 of before are waited for.
  auto more = explained(Workload("web", 12, {Placed("eu-west-1", 10)}, {{"eu-west-1", 10}}), "Placed");
  EXPECT_EQ(ReturnProgressOf(Region("eu-west"), before, {more}, members),
            (ReturnProgress{.want = 8, .placed = 8, .ready = 8, .before = 8}));
  // A zone target: the explanation is per cluster (one failed zone reads Placed), so never.
  auto zoned = explained(Workload("web", 9, {Placed("eu-west-1", 6, {{"eu-west-1a", 0}, {"eu-west-1b", 6}})},
                                  {{"eu-west-1", 6}}),
                         "Placed");
  EXPECT_FALSE(PlacementSettledOnTarget(Zone("eu-west-1a"), zoned, members));
  // The JSON keeps `before`; a report written before it existed reads before = want.
  DrillRecord r;
  r.return_observation = kReturnWatching;
  r.return_progress = p;
  StatusOr<DrillRecord> round = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->return_progress, p);
  json old = RecordToJson(r);
  old["returnProgress"].erase("before");
  StatusOr<DrillRecord> read_old = RecordFromJson(old);
  ASSERT_TRUE(read_old.ok()) << read_old.status();
  EXPECT_EQ(read_old->return_progress.before, 6);
}

// A region drill as the controller would record it: restored at 10 s; placement starts the
// return after the workload's recovery delay; all back and ready at 72.3 s.
TEST(DrillReturn, TheTimelineGoesOnUntilTheReplicasAreBackAndReady) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Region("eu-west");
  drill.spec.mode = "live";
  auto start = Workload("web", 9, {Placed("eu-west-1", 6), Placed("us-east-1", 3)},
                        {{"eu-west-1", 6}, {"us-east-1", 3}});
  DrillRecord r = StartRecord(drill, 0, {start}, members);
  auto failed = Workload("web", 9, {Placed("eu-central-1", 6), Placed("us-east-1", 3)},
                         {{"eu-central-1", 6}, {"us-east-1", 3}});
  AddSample(&r, TakeSample(drill.spec.target, 0, {start}, members), {start}, members, {}, {});
  AddSample(&r, TakeSample(drill.spec.target, 5000, {failed}, members), {failed}, members, {}, {});
  ASSERT_EQ(r.fully_ready_ms, 5000);
  r.restored_ms = 10'000;
  StartReturnObservation(&r, 600);
  EXPECT_TRUE(WatchingReturn(r));
  EXPECT_EQ(r.return_watch_until_ms, 610'000);
  EXPECT_EQ(r.return_progress, (ReturnProgress{.want = 6, .before = 6}));
  const DrillRecord at_restore = r;

  auto sample = [&](int64_t at, const api::FederatedWorkload& w) {
    AddReturnSample(&r, TakeSample(drill.spec.target, at, {w}, members),
                    ReturnProgressOf(drill.spec.target, r.before, {w}, members), {w}, members, {}, {});
  };
  // Half back, not ready yet: still watching, the timeline grows, the failure's milestones stay.
  auto half = Workload("web", 9, {Placed("eu-west-1", 3), Placed("eu-central-1", 3), Placed("us-east-1", 3)},
                       {{"eu-central-1", 6}, {"us-east-1", 3}});
  sample(40'000, half);
  EXPECT_TRUE(WatchingReturn(r));
  EXPECT_EQ(r.return_progress, (ReturnProgress{.want = 6, .placed = 3, .ready = 0, .before = 6}));
  EXPECT_EQ(r.timeline.size(), 3u);
  EXPECT_EQ(r.timeline.back().at_ms, 40'000);
  EXPECT_EQ(r.timeline.back().ready_by_region.at("eu-west"), 0);
  EXPECT_EQ(r.fully_ready_ms, at_restore.fully_ready_ms);
  EXPECT_EQ(r.lowest_ready, at_restore.lowest_ready);
  EXPECT_EQ(r.placed_during_per_region, at_restore.placed_during_per_region);
  EXPECT_EQ(r.replicas_moved_per_region, at_restore.replicas_moved_per_region);
  EXPECT_FALSE(r.returned_ms);

  // All 6 placed back, 5 ready: not yet.
  auto placed = Workload("web", 9, {Placed("eu-west-1", 6), Placed("us-east-1", 3)},
                         {{"eu-west-1", 5}, {"eu-central-1", 1}, {"us-east-1", 3}});
  sample(70'000, placed);
  EXPECT_TRUE(WatchingReturn(r));
  EXPECT_EQ(r.return_progress, (ReturnProgress{.want = 6, .placed = 6, .ready = 5, .before = 6}));

  sample(72'300, start);
  EXPECT_EQ(r.return_observation, kReturnReturned);
  EXPECT_EQ(r.returned_ms, 72'300);
  EXPECT_FALSE(WatchingReturn(r));
  json j = RecordToJson(r);
  EXPECT_EQ(j["returned"], true);
  EXPECT_EQ(j["timeToReturnSeconds"], 62.3);
  EXPECT_EQ(j["events"]["returnedMs"], 72'300);
  EXPECT_EQ(j["returnObservedUntilMs"], 610'000);
  EXPECT_EQ(j["returnProgress"], (json{{"want", 6}, {"placed", 6}, {"ready", 6}, {"before", 6}}));
  EXPECT_EQ(j["timeToFullReadySeconds"], 5.0);

  // Done: later samples change nothing.
  const DrillRecord done = r;
  sample(80'000, half);
  EXPECT_EQ(r, done);
}

TEST(DrillReturn, WatchingEndsAtTheBoundWhenTheReplicasAreNotBack) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Cluster("eu-west-1");
  auto start = Workload("web", 9, {Placed("eu-west-1", 9)}, {{"eu-west-1", 9}});
  DrillRecord r = StartRecord(drill, 0, {start}, members);
  r.restored_ms = 2000;
  StartReturnObservation(&r, 30);
  auto partly = Workload("web", 9, {Placed("eu-west-1", 3), Placed("eu-central-1", 6)},
                         {{"eu-west-1", 3}, {"eu-central-1", 6}});
  auto sample = [&](int64_t at) {
    AddReturnSample(&r, TakeSample(drill.spec.target, at, {partly}, members),
                    ReturnProgressOf(drill.spec.target, r.before, {partly}, members), {partly}, members, {}, {});
  };
  sample(31'999);
  EXPECT_TRUE(WatchingReturn(r));
  sample(32'000);
  EXPECT_EQ(r.return_observation, kReturnNotReturned);
  EXPECT_FALSE(r.returned_ms);
  json j = RecordToJson(r);
  EXPECT_EQ(j["returned"], false);
  EXPECT_TRUE(j["timeToReturnSeconds"].is_null());
  EXPECT_EQ(j["returnProgress"], (json{{"want", 9}, {"placed", 3}, {"ready", 3}, {"before", 9}}));
  EXPECT_EQ(r.timeline.size(), 2u);
}

TEST(DrillReturn, OffWhenNotAskedForAndNoneWhenNothingWasOnTheTarget) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Cluster("eu-west-1");
  DrillRecord r = StartRecord(drill, 0, {Workload("web", 9, {Placed("eu-west-1", 9)}, {})}, members);
  r.restored_ms = 1000;
  StartReturnObservation(&r, 0);
  EXPECT_EQ(r.return_observation, kReturnOff);
  EXPECT_FALSE(WatchingReturn(r));
  EXPECT_FALSE(r.return_watch_until_ms);

  // The drill followed every workload because none ran on the target.
  DrillRecord elsewhere = StartRecord(drill, 0, {Workload("web", 9, {Placed("us-east-1", 9)}, {})}, members);
  elsewhere.restored_ms = 1000;
  StartReturnObservation(&elsewhere, 600);
  EXPECT_EQ(elsewhere.return_observation, kReturnNothing);
  EXPECT_FALSE(WatchingReturn(elsewhere));
}

TEST(DrillReturn, JsonRoundTripAndBadValuesNameTheField) {
  DrillRecord r;
  r.target = "region=eu-west";
  r.mode = "live";
  r.before = {{"shop/web", {{"eu-west-1", 6}}, 6}};
  r.restored_ms = 10'000;
  r.return_observation = kReturnWatching;
  r.return_watch_until_ms = 610'000;
  r.return_progress = {.want = 6, .placed = 3, .ready = 1};
  StatusOr<DrillRecord> back = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  r.return_observation = kReturnReturned;
  r.returned_ms = 20'000;
  back = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);

  json bad = RecordToJson(r);
  bad["returnObservation"] = "maybe";
  EXPECT_NE(RecordFromJson(bad).status().message().find("status.report.returnObservation"), std::string::npos);
  bad = RecordToJson(r);
  bad["returnProgress"]["ready"] = "all";
  EXPECT_NE(RecordFromJson(bad).status().message().find("status.report.returnProgress.ready"), std::string::npos)
      << RecordFromJson(bad).status().message();
  // A report written before the return was observed reads as not watching.
  json old = RecordToJson(DrillRecord{});
  ASSERT_FALSE(old.contains("returnObservation"));
  EXPECT_FALSE(WatchingReturn(*RecordFromJson(old)));
}

TEST(DrillSpec, ObserveReturnSecondsDefaultsAndIsValidated) {
  json j = {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "FailoverDrill"},
            {"metadata", {{"name", "d"}}},
            {"spec", {{"target", {{"zone", "a"}}}, {"mode", "live"}}}};
  FieldErrors errors;
  api::FailoverDrill d = api::DecodeFailoverDrill(j, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(d.spec.observe_return_seconds, 600);
  j["spec"]["observeReturnSeconds"] = 0;
  d = api::DecodeFailoverDrill(j, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(d.spec.observe_return_seconds, 0);
  EXPECT_EQ(api::Encode(d)["spec"]["observeReturnSeconds"], 0);
  for (json bad : {json(-1), json(86401), json("10m")}) {
    j["spec"]["observeReturnSeconds"] = bad;
    FieldErrors e;
    api::DecodeFailoverDrill(j, &e);
    ASSERT_EQ(e.size(), 1u) << bad;
    EXPECT_NE(e.front().ToString().find("spec.observeReturnSeconds"), std::string::npos) << e.front().ToString();
  }
}

TEST(DrillFault, MembersimAdminFromServerOrAnnotation) {
  auto m = Member("eu-west-1", "eu-west", {"eu-west-1a"});
  auto admin = FindMembersimAdmin(m);
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(*admin, (MembersimAdmin{"http://127.0.0.1:18080", "eu-west-1"}));

  m.spec.server = "https://10.0.0.1:6443";
  EXPECT_EQ(FindMembersimAdmin(m).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(FindMembersimAdmin(m).status().message().find(kMembersimAnnotation), std::string::npos);
  m.metadata.annotations[kMembersimAnnotation] = "http://127.0.0.1:9000/";
  EXPECT_EQ(*FindMembersimAdmin(m), (MembersimAdmin{"http://127.0.0.1:9000", "eu-west-1"}));
  m.metadata.annotations[kMembersimAnnotation] = "not a url";
  EXPECT_EQ(FindMembersimAdmin(m).status().code(), StatusCode::kFailedPrecondition);
}

TEST(DrillFault, RequestsPerTarget) {
  auto members = Fleet3();
  members.push_back(Member("eu-west-2", "eu-west", {"eu-west-1a"}));
  const std::string root = "http://127.0.0.1:18080";
  struct Case {
    api::DrillTarget target;
    bool heal;
    std::vector<AdminRequest> want;
  };
  const std::vector<Case> cases = {
      {Zone("eu-west-1a"), false,
       {{root, "/admin/clusters/eu-west-1/zones/eu-west-1a/fail", ""},
        {root, "/admin/clusters/eu-west-2/zones/eu-west-1a/fail", ""}}},
      {Zone("eu-central-1a"), true, {{root, "/admin/clusters/eu-central-1/zones/eu-central-1a/heal", ""}}},
      {Cluster("us-east-1"), false, {{root, "/admin/clusters/us-east-1/partition", R"({"mode":"refuse"})"}}},
      {Cluster("us-east-1"), true, {{root, "/admin/clusters/us-east-1/heal", ""}}},
      // One request per simulator, however many of the region's members it runs.
      {Region("eu-west"), false, {{root, "/admin/regions/eu-west/fail", R"({"mode":"refuse"})"}}},
      {Region("eu-west"), true, {{root, "/admin/regions/eu-west/heal", ""}}},
  };
  for (const Case& c : cases) {
    auto got = FaultRequests(c.target, members, c.heal);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want) << DescribeTarget(c.target) << (c.heal ? " heal" : " fail");
  }
  EXPECT_EQ(FaultRequests(Zone("nowhere"), members, false).status().code(), StatusCode::kNotFound);
}


TEST(DrillPercentiles, NearestRank) {
  EXPECT_EQ(NearestRankPercentile({}, 50), std::nullopt);
  EXPECT_EQ(NearestRankPercentile({7}, 95), 7);
  EXPECT_EQ(NearestRankPercentile({4, 1, 3, 2}, 50), 2);
  EXPECT_EQ(NearestRankPercentile({4, 1, 3, 2}, 95), 4);
  std::vector<int64_t> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(NearestRankPercentile(hundred, 95), 95);
  EXPECT_EQ(NearestRankPercentile(hundred, 50), 50);
}

// Two workloads lose eu-west: "api" is re-placed and ready quickly, "web" slowly; "batch"
// was never there. The report gives each one's milestones, p50/p95 over the two hurt ones,
// and the time the fleet and each workload spent below the SLO.
TEST(DrillRecord, PerWorkloadMilestonesPercentilesAndTimeBelowSlo) {
  const auto members = Fleet3();
  api::FailoverDrill drill;
  drill.spec.target = Region("eu-west");
  drill.spec.mode = "live";
  drill.spec.slo_min_availability_percent = 80;
  auto web0 = Workload("web", 4, {Placed("eu-west-1", 4)}, {{"eu-west-1", 4}});
  auto api0 = Workload("api", 2, {Placed("eu-west-1", 2)}, {{"eu-west-1", 2}});
  auto batch = Workload("batch", 4, {Placed("us-east-1", 4)}, {{"us-east-1", 4}});
  DrillRecord r = StartRecord(drill, 0, {web0, api0, batch}, members);
  ASSERT_EQ(r.workloads.size(), 2u);  // only the hurt workloads are followed
  EXPECT_EQ(r.slo_percent, 80);
  auto add = [&](int64_t at, std::vector<api::FederatedWorkload> ws) {
    AddSample(&r, TakeSample(drill.spec.target, at, ws, members), ws, members, {}, {});
  };
  add(0, {web0, api0});  // 6/6
  // t=1s: the fault bites, nothing ready on eu-west (0/6, below 80%).
  add(1000, {Workload("web", 4, {Placed("eu-west-1", 4)}, {}),
             Workload("api", 2, {Placed("eu-west-1", 2)}, {})});
  // t=2s: api re-placed on eu-central and ready; web re-placed, not ready (2/6).
  add(2000, {Workload("web", 4, {Placed("eu-central-1", 4)}, {}),
             Workload("api", 2, {Placed("eu-central-1", 2)}, {{"eu-central-1", 2}})});
  // t=5s: web 3 of 4 ready (5/6 = 83%: the fleet is back above the SLO, web at 75% is not).
  add(5000, {Workload("web", 4, {Placed("eu-central-1", 4)}, {{"eu-central-1", 3}}),
             Workload("api", 2, {Placed("eu-central-1", 2)}, {{"eu-central-1", 2}})});
  // t=7s: all ready.
  add(7000, {Workload("web", 4, {Placed("eu-central-1", 4)}, {{"eu-central-1", 4}}),
             Workload("api", 2, {Placed("eu-central-1", 2)}, {{"eu-central-1", 2}})});

  const WorkloadMilestones& web = r.workloads.at("shop/web");
  const WorkloadMilestones& api = r.workloads.at("shop/api");
  EXPECT_EQ(web.replaced_ms, 2000);
  EXPECT_EQ(web.fully_ready_ms, 7000);
  EXPECT_EQ(api.replaced_ms, 2000);
  EXPECT_EQ(api.fully_ready_ms, 2000);
  EXPECT_EQ(web.lowest_ready, 0);
  EXPECT_EQ(web.below_slo.TotalAt(7000), 6000);  // 1s..7s
  EXPECT_EQ(api.below_slo.TotalAt(7000), 1000);  // 1s..2s
  EXPECT_EQ(r.below_slo.TotalAt(7000), 4000);    // 1s..5s
  EXPECT_FALSE(r.below_slo.since_ms);
  EXPECT_EQ(FullReadyPercentiles(r), (MilestonePercentiles{.p50_ms = 2000, .p95_ms = 7000, .of = 2}));
  EXPECT_EQ(ReplacePercentiles(r), (MilestonePercentiles{.p50_ms = 2000, .p95_ms = 2000, .of = 2}));
  // Samples in the timeline do not carry the per-workload figures (the report stays small).
  for (const DrillSample& s : r.timeline) EXPECT_TRUE(s.by_workload.empty());

  json j = RecordToJson(r);
  EXPECT_EQ(j["slo"]["secondsBelow"], 4.0);
  EXPECT_EQ(j["percentiles"]["timeToFullReadySeconds"]["p95"], 7.0);
  EXPECT_EQ(j["percentiles"]["timeToFullReadySeconds"]["p50"], 2.0);
  EXPECT_EQ(j["percentiles"]["timeToReturnSeconds"]["of"], 0);
  auto back = RecordFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->workloads, r.workloads);
  EXPECT_EQ(back->slo_percent, r.slo_percent);
  EXPECT_EQ(back->below_slo, r.below_slo);

  // The return, per workload: api comes back first.
  r.restored_ms = 10'000;
  StartReturnObservation(&r, 600);
  auto ret = [&](int64_t at, std::vector<api::FederatedWorkload> ws) {
    AddReturnSample(&r, TakeSample(drill.spec.target, at, ws, members),
                    ReturnProgressOf(drill.spec.target, r.before, ws, members), ws, members, {}, {});
  };
  ret(12'000, {Workload("web", 4, {Placed("eu-central-1", 4)}, {{"eu-central-1", 4}}), api0});
  ret(20'000, {web0, api0});
  EXPECT_EQ(r.workloads.at("shop/api").returned_ms, 12'000);
  EXPECT_EQ(r.workloads.at("shop/web").returned_ms, 20'000);
  EXPECT_EQ(ReturnPercentiles(r), (MilestonePercentiles{.p50_ms = 2000, .p95_ms = 10'000, .of = 2}));

  // A malformed per-workload entry names its field.
  j["perWorkload"][0]["replacedMs"] = "soon";
  auto bad = RecordFromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("status.report.perWorkload[0].replacedMs"), std::string::npos)
      << bad.status().message();
}

TEST(DrillSpec, SloIsValidated) {
  auto decode = [](const json& slo, FieldErrors* errors) {
    json j = {{"apiVersion", "federation.meridian.io/v1alpha1"},
              {"kind", "FailoverDrill"},
              {"metadata", {{"name", "d"}}},
              {"spec", {{"target", {{"region", "eu-west"}}}, {"mode", "live"}, {"slo", slo}}}};
    return api::DecodeFailoverDrill(j, errors);
  };
  FieldErrors none;
  api::FailoverDrill ok = decode({{"minAvailabilityPercent", 99}}, &none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(ok.spec.slo_min_availability_percent, 99);
  EXPECT_EQ(api::Encode(ok)["spec"]["slo"]["minAvailabilityPercent"], 99);
  for (json bad : {json{{"minAvailabilityPercent", 101}}, json{{"minAvailability", 90}}, json(5)}) {
    FieldErrors e;
    decode(bad, &e);
    ASSERT_EQ(e.size(), 1u) << bad;
    EXPECT_NE(e.front().ToString().find("spec.slo"), std::string::npos) << e.front().ToString();
  }
}

}  // namespace
}  // namespace meridian::failover
