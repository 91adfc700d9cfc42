// The member health monitor: the pure core (node readiness, allocatable estimate, zone
// health, probe thresholds) and the monitor against an in-process federation-apiserver with
// FakeMemberClients (FakeClock for status times), including placement reacting to a failed
// zone end to end.
#include "failover/health.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "api/codec.h"
#include "api/yaml.h"
#include "failover/health_monitor.h"
#include "failover/member_inventory.h"
#include "federation-apiserver/server.h"
#include "scheduling/placement_controller.h"
#include "sync/http_member_client.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"
#include "test/common/log_capture.h"
#include "test/common/test_env.h"

namespace meridian::failover {
namespace {

using nlohmann::json;
using sync::testing::FakeMemberClient;
using sync::testing::Verb;

const sync::GroupVersionResource kNodes{"", "v1", "nodes"};

json Node(const std::string& name, const std::string& zone, bool ready, json allocatable) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{kZoneLabel, zone}}}}},
          {"status",
           {{"conditions", json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
            {"allocatable", std::move(allocatable)}}}};
}

const api::Condition* Find(const api::MemberClusterStatus& s, const std::string& type) {
  for (const auto& c : s.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

// ---- pure core ----

TEST(NodeAllocatableReplicas, PodsCpuAndBoth) {
  struct Case {
    json allocatable;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {{{"pods", "110"}}, 110},
      {{{"cpu", "4"}}, 40},
      {{{"cpu", "3500m"}}, 35},
      {{{"cpu", "0.5"}}, 5},
      {{{"pods", "110"}, {"cpu", "2"}}, 20},  // the smaller bound wins
      {{{"pods", "3"}, {"cpu", "8"}}, 3},
      {{{"pods", "lots"}}, 0},
      {json::object(), 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NodeAllocatableReplicas(Node("n", "z", true, c.allocatable)), c.want)
        << c.allocatable.dump();
  }
}

TEST(ZoneHealthFromNodes, ReadyNodesMakeAZoneHealthyAndCount) {
  std::vector<json> nodes = {
      Node("a1", "a", true, {{"pods", "5"}}),   Node("a2", "a", false, {{"pods", "7"}}),
      Node("b1", "b", false, {{"pods", "5"}}),  Node("x1", "x", true, {{"pods", "9"}}),
      json{{"metadata", {{"name", "unlabelled"}}}},
  };
  std::vector<ZoneHealth> zones = ZoneHealthFromNodes(nodes, {"a", "b", "c"});
  ASSERT_EQ(zones.size(), 3u);
  EXPECT_EQ(zones[0], (ZoneHealth{"a", true, 5, 1, 2}));
  EXPECT_EQ(zones[1], (ZoneHealth{"b", false, 0, 0, 1}));
  EXPECT_EQ(zones[2], (ZoneHealth{"c", false, 0, 0, 0}));  // no nodes: unhealthy

  // Nothing declared: the zones the nodes name.
  std::vector<ZoneHealth> found = ZoneHealthFromNodes(nodes, {});
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[2], (ZoneHealth{"x", true, 9, 1, 1}));
}

TEST(ApplyProbe, ThresholdAndTransitionTimes) {
  const Timestamp t0 = Timestamp(std::chrono::seconds(1'700'000'000));
  ProbeOutcome ok{true, Duration(3), "", std::vector<ZoneHealth>{{"a", true, 4, 1, 1}}};
  ProbeOutcome fail{false, Duration(1000), "boom", std::nullopt};
  ProbeHistory h;
  h = NextHistory(h, ok);
  api::MemberClusterStatus s = ApplyProbe({}, ok, h, t0, 3);
  EXPECT_EQ(Find(s, "Reachable")->status, "True");
  EXPECT_EQ(Find(s, "Ready")->status, "True");
  EXPECT_EQ(s.allocatable_replicas, 4);
  EXPECT_EQ(s.probe_latency_ms, 3);
  const std::string since = FormatRfc3339(t0);
  for (int i = 1; i <= 3; ++i) {
    h = NextHistory(h, fail);
    s = ApplyProbe(s, fail, h, t0 + std::chrono::seconds(i), 3);
    const api::Condition* r = Find(s, "Reachable");
    if (i < 3) {
      EXPECT_EQ(r->status, "True") << i;
      EXPECT_EQ(r->last_transition_time, since) << i;
    } else {
      EXPECT_EQ(r->status, "False");
      EXPECT_EQ(r->last_transition_time, FormatRfc3339(t0 + std::chrono::seconds(3)));
      EXPECT_EQ(Find(s, "Ready")->status, "False");
    }
  }
  // Never delete what you cannot see: zones and allocatable stay as last observed.
  ASSERT_EQ(s.zones.size(), 1u);
  EXPECT_TRUE(s.zones[0].healthy);
  EXPECT_EQ(s.allocatable_replicas, 4);
  std::vector<std::string> lines = DescribeTransitions({}, s);
  EXPECT_FALSE(lines.empty());
}

// Placement's hysteresis starts only from real recoveries: a member that just joined is not
// "recovering" (reason ProbeSucceeded, zone lastTransitionTime empty), one that comes back is
// (reason Recovered, kept while it stays reachable); a failed zone keeps its room.
TEST(ApplyProbe, RecoveryIsMarkedAndFailedZonesKeepTheirRoom) {
  const Timestamp t0 = Timestamp(std::chrono::seconds(1'700'000'000));
  auto at = [&](int s) { return t0 + std::chrono::seconds(s); };
  ProbeOutcome ok{true, Duration(3), "", std::vector<ZoneHealth>{{"a", true, 4, 1, 1}, {"b", true, 6, 1, 1}}};
  ProbeOutcome a_down{true, Duration(3), "", std::vector<ZoneHealth>{{"a", false, 0, 0, 1}, {"b", true, 6, 1, 1}}};
  ProbeOutcome fail{false, Duration(1000), "boom", std::nullopt};
  ProbeHistory h = NextHistory({}, ok);
  api::MemberClusterStatus s = ApplyProbe({}, ok, h, t0, 1);
  EXPECT_EQ(Find(s, "Reachable")->reason, "ProbeSucceeded");
  EXPECT_EQ(s.zones[0].last_transition_time, "") << "first seen is not a transition";

  h = NextHistory(h, a_down);
  s = ApplyProbe(s, a_down, h, at(1), 1);
  EXPECT_FALSE(s.zones[0].healthy);
  EXPECT_EQ(s.zones[0].allocatable_replicas, 4) << "a failed zone keeps its room";
  EXPECT_EQ(s.zones[0].last_transition_time, FormatRfc3339(at(1)));
  EXPECT_EQ(s.allocatable_replicas, 6) << "the member's room now";
  EXPECT_EQ(s.zones[1].last_transition_time, "");

  h = NextHistory(h, ok);
  s = ApplyProbe(s, ok, h, at(2), 1);
  EXPECT_TRUE(s.zones[0].healthy);
  EXPECT_EQ(s.zones[0].last_transition_time, FormatRfc3339(at(2)));
  EXPECT_EQ(s.allocatable_replicas, 10);

  h = NextHistory(h, fail);
  s = ApplyProbe(s, fail, h, at(3), 1);
  EXPECT_EQ(Find(s, "Reachable")->status, "False");
  h = NextHistory(h, ok);
  s = ApplyProbe(s, ok, h, at(4), 1);
  EXPECT_EQ(Find(s, "Reachable")->status, "True");
  EXPECT_EQ(Find(s, "Reachable")->reason, "Recovered");
  EXPECT_EQ(Find(s, "Reachable")->last_transition_time, FormatRfc3339(at(4)));
  h = NextHistory(h, ok);
  s = ApplyProbe(s, ok, h, at(5), 1);
  EXPECT_EQ(Find(s, "Reachable")->reason, "Recovered") << "kept until the next transition";
  EXPECT_EQ(Find(s, "Reachable")->last_transition_time, FormatRfc3339(at(4)));
}

TEST(TransitionEvents, FailuresAreWarningsRecoveriesNormalFirstSightNothing) {
  const Timestamp t0 = Timestamp(std::chrono::seconds(1'700'000'000));
  ProbeOutcome ok{true, Duration(3), "", std::vector<ZoneHealth>{{"a", true, 4, 1, 1}}};
  ProbeOutcome a_down{true, Duration(3), "", std::vector<ZoneHealth>{{"a", false, 0, 0, 1}}};
  ProbeOutcome fail{false, Duration(1000), "boom", std::nullopt};
  ProbeHistory h = NextHistory({}, ok);
  api::MemberClusterStatus s0 = ApplyProbe({}, ok, h, t0, 1);
  EXPECT_TRUE(TransitionEvents({}, s0).empty());
  api::MemberClusterStatus s1 = ApplyProbe(s0, a_down, NextHistory(h, a_down), t0, 1);
  auto reasons = [](const std::vector<HealthEvent>& events) {
    std::vector<std::string> out;
    for (const HealthEvent& e : events) out.push_back(std::string(e.warning ? "W:" : "N:") + e.reason);
    return out;
  };
  EXPECT_EQ(reasons(TransitionEvents(s0, s1)),
            (std::vector<std::string>{"W:MemberNotReady", "W:ZoneFailed"}));
  EXPECT_EQ(reasons(TransitionEvents(s1, s0)),
            (std::vector<std::string>{"N:MemberReady", "N:ZoneRecovered"}));
  api::MemberClusterStatus s2 = ApplyProbe(s0, fail, NextHistory(h, fail), t0, 1);
  EXPECT_EQ(reasons(TransitionEvents(s0, s2)),
            (std::vector<std::string>{"W:MemberUnreachable", "W:MemberNotReady"}));
  EXPECT_EQ(TransitionEvents(s0, s2)[0].message.rfind("Reachable True -> False (ProbeFailed)", 0), 0u)
      << TransitionEvents(s0, s2)[0].message;
}

// ---- the monitor ----

class HealthMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApplyFile("examples/three-continents/topology.yaml");
    ApplyFile("examples/three-continents/members.yaml");
    // Every member: one node per declared zone with room for the given replicas (pods), cpu
    // "4" (40 at 100m each) never the tighter bound. eu-west-1 (30) has three times
    // eu-central-1's room (10).
    const std::map<std::string, std::pair<std::vector<std::string>, int>> fleet = {
        {"us-east-1", {{"us-east-1a", "us-east-1b", "us-east-1c"}, 10}},
        {"us-west-1", {{"us-west-1a", "us-west-1b"}, 10}},
        {"eu-west-1", {{"eu-west-1a", "eu-west-1b", "eu-west-1c"}, 10}},
        {"eu-central-1", {{"eu-central-1a", "eu-central-1b"}, 5}},
        {"ap-south-1", {{"ap-south-1a", "ap-south-1b"}, 10}},
    };
    for (const auto& [name, spec] : fleet) {
      FakeMemberClient::Options o;
      o.member = name;
      o.clock = &clock_;
      o.timeout = std::chrono::milliseconds(2000);
      auto fake = std::make_shared<FakeMemberClient>(o);
      for (const std::string& zone : spec.first) {
        fake->Apply(kNodes, Node(zone + "-node", zone, true,
                                 {{"pods", std::to_string(spec.second)}, {"cpu", "4"}}));
      }
      fakes_[name] = fake;
    }
  }
  std::unique_ptr<HealthMonitor> Monitor(HealthMonitorOptions options = {}) {
    return std::make_unique<HealthMonitor>(
        server_->objects(), clock_,
        [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
          auto it = fakes_.find(m.metadata.name);
          if (it == fakes_.end()) return NotFoundError("no fake for " + m.metadata.name);
          return std::shared_ptr<sync::MemberClient>(it->second);
        },
        options);
  }

  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }
  void Apply(const json& object) { federation_.Apply(object); }
  void ApplyFile(const std::string& relative) { federation_.ApplyFile(relative); }

  api::MemberCluster Member(const std::string& name) {
    auto got = server_->objects().Get(Info(api::kApiVersion, "MemberCluster"), "", name);
    EXPECT_TRUE(got.ok());
    FieldErrors errors;
    api::MemberCluster m = api::DecodeMemberCluster(got.value(), &errors);
    EXPECT_TRUE(errors.empty()) << errors.front().ToString();
    return m;
  }

  void SetNodeReady(const std::string& member, const std::string& zone, bool ready) {
    auto node = fakes_.at(member)->Object(kNodes, "", zone + "-node");
    ASSERT_TRUE(node.has_value());
    (*node)["status"]["conditions"][0]["status"] = ready ? "True" : "False";
    fakes_.at(member)->Apply(kNodes, *node);
  }

  test_env::InProcessFederation federation_{"health"};
  FakeClock& clock_ = federation_.clock();
  apiserver::FederationApiServer* server_ = &federation_.server();
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;
};

TEST_F(HealthMonitorTest, HealthyMembersAreReachableWithZonesAndAllocatable) {
  auto monitor = Monitor();
  StatusOr<int> written = monitor->ProbeAllOnce(clock_.Now());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 5);

  api::MemberCluster m = Member("eu-west-1");
  ASSERT_NE(Find(m.status, "Reachable"), nullptr);
  EXPECT_EQ(Find(m.status, "Reachable")->status, "True");
  EXPECT_EQ(Find(m.status, "Reachable")->last_transition_time, FormatRfc3339(clock_.Now()));
  EXPECT_EQ(Find(m.status, "Ready")->status, "True");
  ASSERT_EQ(m.status.zones.size(), 3u);
  for (const api::ZoneStatus& z : m.status.zones) {
    EXPECT_TRUE(z.healthy) << z.name;
    EXPECT_EQ(z.allocatable_replicas, 10) << z.name;
    EXPECT_TRUE(z.last_transition_time.empty()) << "first seen: no transition yet";
  }
  EXPECT_EQ(m.status.allocatable_replicas, 30);
  EXPECT_EQ(m.status.last_probe_time, FormatRfc3339(clock_.Now()));
  EXPECT_TRUE(m.status.probe_latency_ms.has_value());
  EXPECT_EQ(Member("us-east-1").status.allocatable_replicas, 30);
  EXPECT_GE(fakes_.at("eu-west-1")->CallCount(Verb::kReadyz), 1);

  // Nothing changed: nothing written.
  clock_.Advance(Duration(1000));
  EXPECT_EQ(monitor->ProbeAllOnce(clock_.Now()).value(), 0);
}

TEST_F(HealthMonitorTest, NConsecutiveFailuresMarkAMemberUnreachable) {
  auto monitor = Monitor();  // threshold 3
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  const std::string since = FormatRfc3339(clock_.Now());
  fakes_.at("eu-west-1")->FailAlways(Verb::kReadyz, UnavailableError("connection refused"));
  for (int i = 1; i <= 2; ++i) {
    clock_.Advance(Duration(1000));
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
    const api::MemberCluster now_seen = Member("eu-west-1");
    const api::Condition* r = Find(now_seen.status, "Reachable");
    EXPECT_EQ(r->status, "True") << i;
    EXPECT_EQ(r->last_transition_time, since) << i;
  }
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  api::MemberCluster m = Member("eu-west-1");
  const api::Condition* r = Find(m.status, "Reachable");
  EXPECT_EQ(r->status, "False");
  EXPECT_EQ(r->reason, "ProbeFailed");
  EXPECT_EQ(r->last_transition_time, FormatRfc3339(clock_.Now()));
  EXPECT_NE(r->message.find("connection refused"), std::string::npos) << r->message;
  EXPECT_EQ(Find(m.status, "Ready")->status, "False");
  EXPECT_EQ(m.status.zones.size(), 3u);  // kept as last seen
  EXPECT_EQ(Find(Member("eu-central-1").status, "Reachable")->status, "True");

  // Still down: no new transition.
  const std::string down_since = r->last_transition_time;
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  EXPECT_EQ(Find(Member("eu-west-1").status, "Reachable")->last_transition_time, down_since);

  // Back: True at once, with a new transition time.
  fakes_.at("eu-west-1")->ClearFailures();
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-west-1");
  r = Find(m.status, "Reachable");
  EXPECT_EQ(r->status, "True");
  EXPECT_EQ(r->last_transition_time, FormatRfc3339(clock_.Now()));
}

// A transition is an Event, and the recorder logs each Event: the monitor must not log it a
// second time (each failover appeared twice in the log before).
TEST_F(HealthMonitorTest, EachTransitionIsLoggedOnceThroughItsEvent) {
  test_env::LogCapture log;
  auto monitor = Monitor();  // threshold 3
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  fakes_.at("eu-west-1")->FailAlways(Verb::kReadyz, UnavailableError("connection refused"));
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(Duration(1000));
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  }
  fakes_.at("eu-west-1")->ClearFailures();
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  monitor->FlushEvents();

  auto events = server_->objects().List(Info("v1", "Event"), "default",
                                        {.field_selector = "involvedObject.name=eu-west-1"});
  ASSERT_TRUE(events.ok());
  std::map<std::string, int> recorded;
  for (const json& e : events.value()["items"]) recorded[e.value("reason", "")] += 1;
  EXPECT_EQ(recorded["MemberUnreachable"], 1) << events.value().dump();
  EXPECT_EQ(recorded["MemberReachable"], 1) << events.value().dump();
  for (const std::string reason : {"MemberUnreachable", "MemberReachable"}) {
    EXPECT_EQ(log.Count({"reason=" + reason}), 1)
        << reason << " in " << ::testing::PrintToString(log.Lines());
    EXPECT_EQ(log.Count({"object=eu-west-1", "reason=" + reason, "controller=health-monitor"}), 1)
        << reason << ": the line carries its fields";
  }
  EXPECT_EQ(log.Count({"Reachable True -> False"}), 1) << ::testing::PrintToString(log.Lines());
}

TEST_F(HealthMonitorTest, AZoneWhoseNodesAreAllNotReadyFails) {
  auto monitor = Monitor();
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  const std::string before = Member("eu-west-1").status.zones[0].last_transition_time;
  SetNodeReady("eu-west-1", "eu-west-1a", false);
  clock_.Advance(Duration(5000));
  EXPECT_EQ(monitor->ProbeAllOnce(clock_.Now()).value(), 1);
  api::MemberCluster m = Member("eu-west-1");
  ASSERT_EQ(m.status.zones.size(), 3u);
  EXPECT_EQ(m.status.zones[0].name, "eu-west-1a");
  EXPECT_FALSE(m.status.zones[0].healthy);
  EXPECT_EQ(m.status.zones[0].last_transition_time, FormatRfc3339(clock_.Now()));
  EXPECT_TRUE(m.status.zones[1].healthy);
  EXPECT_EQ(m.status.zones[1].last_transition_time, before);
  EXPECT_EQ(m.status.allocatable_replicas, 20);
  EXPECT_EQ(Find(m.status, "Ready")->status, "True");  // other zones still serve
  // ... and the transition is an Event on the MemberCluster.
  monitor->FlushEvents();
  {
    const apimachinery::ResourceInfo* events = server_->registry().Find("", "v1", "events");
    ASSERT_NE(events, nullptr);
    apimachinery::ListRequest request;
    request.field_selector = "involvedObject.name=eu-west-1,involvedObject.kind=MemberCluster";
    json list = server_->objects().List(*events, "default", request).value();
    ASSERT_EQ(list["items"].size(), 1u) << list.dump(2);
    EXPECT_EQ(list["items"][0]["reason"], "ZoneFailed");
    EXPECT_EQ(list["items"][0]["type"], "Warning");
    EXPECT_EQ(list["items"][0]["source"]["component"], "health-monitor");
  }

  // Every zone down: reachable but not Ready.
  SetNodeReady("eu-west-1", "eu-west-1b", false);
  SetNodeReady("eu-west-1", "eu-west-1c", false);
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-west-1");
  EXPECT_EQ(Find(m.status, "Reachable")->status, "True");
  EXPECT_EQ(Find(m.status, "Ready")->status, "False");
  EXPECT_EQ(m.status.allocatable_replicas, 0);
}

TEST_F(HealthMonitorTest, PlacementMovesEuReplicasOffAFailedZoneAndStaysInTheEu) {
  Apply(json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 20}},
             "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  auto monitor = Monitor();
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  clock_.Advance(Duration(3'600'000));  // long healthy: no recovery hold anywhere
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  scheduling::PlacementController placement(server_->objects(), clock_);
  ASSERT_TRUE(placement.ReconcileAll().ok());

  auto placed = [&] {
    auto got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "default", "crm");
    EXPECT_TRUE(got.ok());
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    std::map<std::string, int64_t> by_cluster;
    for (const api::ClusterPlacement& p : w.status.placement) {
      EXPECT_TRUE(p.cluster == "eu-west-1" || p.cluster == "eu-central-1") << p.cluster;
      by_cluster[p.cluster] += p.replicas;
    }
    return by_cluster;
  };
  std::map<std::string, int64_t> before = placed();
  ASSERT_GT(before["eu-west-1"], 10) << "eu-west-1 should start with more than one zone's room";
  EXPECT_EQ(before["eu-west-1"] + before["eu-central-1"], 20);

  SetNodeReady("eu-west-1", "eu-west-1a", false);
  SetNodeReady("eu-west-1", "eu-west-1b", false);
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  EXPECT_EQ(Member("eu-west-1").status.allocatable_replicas, 10);
  // The failed zones keep the room they had while healthy (full capacity for shares).
  EXPECT_EQ(Member("eu-west-1").status.zones[0].allocatable_replicas, 10);
  ASSERT_TRUE(placement.ReconcileAll().ok());

  // Degraded, not unreachable: eu-west-1 keeps its old replicas until the replacements on
  // eu-central-1 are ready.
  std::map<std::string, int64_t> kept = placed();
  EXPECT_EQ(kept["eu-west-1"], before["eu-west-1"]);
  EXPECT_GT(kept["eu-central-1"], before["eu-central-1"]);
  {
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    FieldErrors errors;
    api::FederatedWorkload w =
        api::DecodeFederatedWorkload(server_->objects().Get(info, "default", "crm").value(), &errors);
    w.status.clusters.clear();
    for (const api::ClusterPlacement& p : w.status.placement) {
      w.status.clusters.push_back({p.cluster, p.replicas, true, ""});  // as propagation reports
    }
    ASSERT_TRUE(server_->objects().Update(info, "default", "crm", api::Encode(w), "status").ok());
  }
  ASSERT_TRUE(placement.ReconcileAll().ok());

  std::map<std::string, int64_t> after = placed();
  EXPECT_LT(after["eu-west-1"], before["eu-west-1"]);
  EXPECT_LE(after["eu-west-1"], 10);
  EXPECT_GT(after["eu-central-1"], before["eu-central-1"]);
  EXPECT_EQ(after["eu-west-1"] + after["eu-central-1"], 20);
}

// Issue 17: capacity from real nodes. eu-central-1 (zones eu-central-1a, eu-central-1b) gets
// three Nodes of known allocatable and some bound pods; the per-zone room for a workload that
// requests 500m / 1Gi per replica is the hand-computed figure, its own pods take no room, and
// nodes that appear later (a declared zone's first node, then one more) raise the room with no
// recovery hold.
TEST_F(HealthMonitorTest, PerZoneCapacityForAWorkloadFromNodesAndBoundPods) {
  const sync::GroupVersionResource kPods{"", "v1", "pods"};
  auto node = [](const std::string& name, const std::string& zone, const std::string& cpu,
                 const std::string& memory, const std::string& pods) {
    return Node(name, zone, true, {{"cpu", cpu}, {"memory", memory}, {"pods", pods}});
  };
  auto pod = [](const std::string& name, const std::string& on, const std::string& cpu,
                const std::string& memory) {
    return json{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", "other"}}},
        {"spec",
         {{"nodeName", on},
          {"containers",
           json::array({{{"name", "c"},
                         {"resources", {{"requests", {{"cpu", cpu}, {"memory", memory}}}}}}})}}},
        {"status", {{"phase", "Running"}}}};
  };
  FakeMemberClient& eu = *fakes_.at("eu-central-1");
  ASSERT_TRUE(eu.Delete(kNodes, "", "eu-central-1b-node").ok());  // zone b: no nodes yet
  eu.Apply(kNodes, node("eu-central-1a-node", "eu-central-1a", "4", "8Gi", "110"));
  eu.Apply(kNodes, node("eu-central-1a-node-2", "eu-central-1a", "2", "4Gi", "110"));
  eu.Apply(kPods, pod("x", "eu-central-1a-node", "1", "1Gi"));          // free 3 cpu, 7Gi
  eu.Apply(kPods, pod("y", "eu-central-1a-node-2", "1500m", "512Mi"));  // free 500m, 3.5Gi
  // A pod of the workload itself (Deployment api, through its ReplicaSet): placement counts it.
  json own = pod("api-7c9d5-q2w3e", "eu-central-1a-node", "2", "2Gi");
  own["metadata"]["namespace"] = "shop";
  own["metadata"]["labels"] = {{"pod-template-hash", "7c9d5"}};
  own["metadata"]["ownerReferences"] =
      json::array({{{"kind", "ReplicaSet"}, {"name", "api-7c9d5"}, {"controller", true}}});
  eu.Apply(kPods, own);

  ApplyFile("examples/three-continents/workload.yaml");  // namespace shop (and web, 100m)
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
      "spec": {"replicas": 40, "selector": {"matchLabels": {"app": "api"}},
        "template": {"metadata": {"labels": {"app": "api"}},
          "spec": {"containers": [{"name": "api", "image": "api:1",
                                   "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"}}}]}}}},
      "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  const std::string shape = "cpu=500m,memory=1073741824";

  auto monitor = Monitor();
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  api::MemberCluster m = Member("eu-central-1");
  ASSERT_EQ(m.status.zones.size(), 2u);
  // a: node 1 min(3000/500, 7Gi/1Gi, 109) = 6, node 2 min(500/500, 3.5Gi/1Gi, 109) = 1.
  EXPECT_EQ(m.status.zones[0].replicas_by_pod_shape.at(shape), 7);
  // The 100m reference pod: 3000/100 + 500/100 = 35.
  EXPECT_EQ(m.status.zones[0].allocatable_replicas, 35);
  EXPECT_FALSE(m.status.zones[1].healthy);
  EXPECT_EQ(m.status.zones[1].replicas_by_pod_shape.at(shape), 0);
  EXPECT_TRUE(m.status.zones[1].last_transition_time.empty());

  // Zone b's first node, with two pods bound: min(3000/500, 15Gi/1Gi, 4 - 2) = 2.
  clock_.Advance(Duration(1000));
  eu.Apply(kNodes, node("eu-central-1b-node", "eu-central-1b", "3500m", "16Gi", "4"));
  eu.Apply(kPods, pod("z", "eu-central-1b-node", "500m", "1Gi"));
  eu.Apply(kPods, pod("w", "eu-central-1b-node", "0", "0"));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-central-1");
  EXPECT_TRUE(m.status.zones[1].healthy);
  EXPECT_EQ(m.status.zones[1].replicas_by_pod_shape.at(shape), 2);
  EXPECT_TRUE(m.status.zones[1].last_transition_time.empty())
      << "a zone's first healthy node is new capacity, not a recovery";

  // One more node in b: + min(4000/500, 8Gi/1Gi, 110) = 8.
  clock_.Advance(Duration(1000));
  eu.Apply(kNodes, node("eu-central-1b-node-2", "eu-central-1b", "4", "8Gi", "110"));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-central-1");
  EXPECT_EQ(m.status.zones[1].replicas_by_pod_shape.at(shape), 10);

  // Placement: no recovery hold, and api gets at most 7 + 10 = 17 on eu-central-1.
  const placement::ClusterState state = scheduling::ClusterStateFrom(m);
  for (const placement::ZoneState& z : state.zones) {
    EXPECT_FALSE(z.last_transition_time.has_value()) << z.name;
  }
  EXPECT_FALSE(state.healthy_since.has_value());
  std::vector<placement::ClusterState> clusters;
  for (const char* name : {"eu-west-1", "eu-central-1", "us-east-1", "us-west-1", "ap-south-1"}) {
    clusters.push_back(scheduling::ClusterStateFrom(Member(name)));
  }
  auto world = placement::World::Build(clusters, {});
  ASSERT_TRUE(world.ok()) << world.status();
  auto got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "api");
  ASSERT_TRUE(got.ok());
  FieldErrors errors;
  const api::FederatedWorkload api_workload = api::DecodeFederatedWorkload(got.value(), &errors);
  ASSERT_TRUE(errors.empty());
  const placement::Workload w = scheduling::EngineWorkload(api_workload, {}, **world);
  ASSERT_TRUE(w.pod_room.count("eu-central-1"));
  EXPECT_EQ(w.pod_room.at("eu-central-1"), 17);
  EXPECT_FALSE(w.policy.distribution.clusters.count("eu-central-1")) << "the policy is kept";

  scheduling::PlacementController placement(server_->objects(), clock_);
  ASSERT_TRUE(placement.ReconcileAll().ok());
  got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "api");
  const api::FederatedWorkload placed = api::DecodeFederatedWorkload(got.value(), &errors);
  int64_t on_central = 0;
  for (const api::ClusterPlacement& p : placed.status.placement) {
    if (p.cluster == "eu-central-1") on_central += p.replicas;
  }
  EXPECT_GT(on_central, 0) << "no recovery hold on the new capacity";
  EXPECT_LE(on_central, 17);

  // The workloads' shapes are kept between rounds and follow the workloads: a new pod template
  // brings its shape (and the old one goes), a deleted workload takes its shape along.
  json edited = got.value();
  edited["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["resources"]
        ["requests"]["cpu"] = "250m";
  ASSERT_TRUE(server_->objects()
                  .Update(Info(api::kApiVersion, "FederatedWorkload"), "shop", "api", edited)
                  .ok());
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-central-1");
  const std::string smaller = "cpu=250m,memory=1073741824";
  EXPECT_EQ(m.status.zones[0].replicas_by_pod_shape.count(shape), 0u);
  ASSERT_EQ(m.status.zones[0].replicas_by_pod_shape.count(smaller), 1u);
  // a: node 1 min(3000/250, 7Gi/1Gi, 109) = 7, node 2 min(500/250, 3.5Gi/1Gi, 109) = 2.
  EXPECT_EQ(m.status.zones[0].replicas_by_pod_shape.at(smaller), 9);
  ASSERT_TRUE(
      server_->objects().Delete(Info(api::kApiVersion, "FederatedWorkload"), "shop", "api").ok());
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  m = Member("eu-central-1");
  EXPECT_EQ(m.status.zones[0].replicas_by_pod_shape.count(smaller), 0u);
}

// Issue 17: capacity comes from watches. The first probe lists Nodes and Pods once (through
// the watch); later probes send only /readyz, yet see a new node at once, as new capacity
// (no recovery hold), and a 410 relist keeps the cache right.
TEST_F(HealthMonitorTest, CapacityFollowsWatchesWithoutAListPerProbe) {
  const sync::GroupVersionResource kPods{"", "v1", "pods"};
  FakeMemberClient& eu = *fakes_.at("eu-west-1");
  auto monitor = Monitor();
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  EXPECT_EQ(Member("eu-west-1").status.allocatable_replicas, 30);
  EXPECT_EQ(eu.CallCount(Verb::kWatch), 2) << "one Node and one Pod watch";
  const int lists = eu.CallCount(Verb::kList);
  EXPECT_EQ(lists, 0) << "the watches list; the probe does not";

  // A new node in zone a (room for 7 more) and a bound pod on the old one (takes 1 slot).
  clock_.Advance(Duration(1000));
  eu.Apply(kNodes, Node("eu-west-1a-node-2", "eu-west-1a", true, {{"pods", "7"}, {"cpu", "4"}}));
  eu.Apply(kPods, {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"name", "other"}, {"namespace", "ops"}}},
                   {"spec", {{"nodeName", "eu-west-1b-node"}, {"containers", json::array()}}},
                   {"status", {{"phase", "Running"}}}});
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  api::MemberCluster m = Member("eu-west-1");
  EXPECT_EQ(m.status.zones[0].allocatable_replicas, 17);
  EXPECT_EQ(m.status.zones[1].allocatable_replicas, 9);
  EXPECT_EQ(m.status.allocatable_replicas, 36);
  EXPECT_TRUE(m.status.zones[0].last_transition_time.empty()) << "more room is no recovery";
  EXPECT_FALSE(scheduling::ClusterStateFrom(m).healthy_since.has_value());

  // The pod finishes: its slot is free again.
  clock_.Advance(Duration(1000));
  json done = *eu.Object(kPods, "ops", "other");
  done["status"]["phase"] = "Succeeded";
  eu.Apply(kPods, done);
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  EXPECT_EQ(Member("eu-west-1").status.zones[1].allocatable_replicas, 10);

  // 410 Gone: the watches relist (the fake delivers the difference) and stay right.
  eu.ExpireWatches();
  eu.Remove(kNodes, "", "eu-west-1a-node-2");
  clock_.Advance(Duration(1000));
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  EXPECT_EQ(Member("eu-west-1").status.zones[0].allocatable_replicas, 10);

  // Steady state: probes send /readyz and nothing else.
  const int readyz = eu.CallCount(Verb::kReadyz);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(Duration(1000));
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  }
  EXPECT_EQ(eu.CallCount(Verb::kReadyz), readyz + 5);
  EXPECT_EQ(eu.CallCount(Verb::kList), lists);
  EXPECT_EQ(eu.CallCount(Verb::kWatch), 2);
  EXPECT_EQ(eu.ActiveWatches(), 2u);
}

// A slow first list does not make the probe late: EnsureStarted waits a bounded time, the
// start goes on in the background, and a later call sees it done.
TEST(MemberInventoryTest, ASlowFirstListGoesOnInTheBackground) {
  FakeMemberClient::Options o;
  o.member = "slow";
  auto fake = std::make_shared<FakeMemberClient>(o);
  fake->Apply(kNodes, Node("n1", "z", true, {{"pods", "3"}}));
  fake->SetLatency(std::chrono::milliseconds(300));
  MemberInventory inventory(fake);
  const Status early = inventory.EnsureStarted(std::chrono::milliseconds(20));
  EXPECT_EQ(early.code(), StatusCode::kUnavailable) << early;
  EXPECT_NE(early.message().find("still listing"), std::string::npos) << early;
  EXPECT_EQ(inventory.Read().status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(inventory.EnsureStarted(std::chrono::milliseconds(5000)).ok());
  StatusOr<MemberInventory::Snapshot> seen = inventory.Read();
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->nodes.size(), 1u);
  EXPECT_EQ(seen->nodes[0]["metadata"]["name"], "n1");
  EXPECT_EQ(fake->CallCount(Verb::kWatch), 2);
  // Started: no more calls.
  EXPECT_TRUE(inventory.EnsureStarted(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(fake->CallCount(Verb::kWatch), 2);
}

TEST_F(HealthMonitorTest, AHungMemberIsMarkedUnreachableWithoutDelayingTheOthers) {
  HealthMonitorOptions options;
  options.timeout = std::chrono::milliseconds(500);
  auto monitor = Monitor(options);
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  // Every call to ap-south-1 now hangs until the fake's own 2 s timeout.
  fakes_.at("ap-south-1")->SetLatency(std::chrono::milliseconds(60'000));
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(Duration(1000));
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
    // A round waits at most the probe timeout (generous slack for a loaded machine).
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500)) << i;
    const api::MemberCluster seen = Member("ap-south-1");
    const api::Condition* r = Find(seen.status, "Reachable");
    EXPECT_EQ(r->status, i < 3 ? "True" : "False") << i;
  }
  for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1"}) {
    api::MemberCluster m = Member(name);
    EXPECT_EQ(Find(m.status, "Reachable")->status, "True") << name;
    EXPECT_EQ(m.status.last_probe_time.empty(), false) << name;
  }
  EXPECT_NE(Find(Member("ap-south-1").status, "Reachable")->message.find("within 500 ms"),
            std::string::npos);
}

TEST(RoundLooksDisrupted, StrictlyMostMembersAndAtLeastTwo) {
  EXPECT_FALSE(RoundLooksDisrupted(0, 5));
  EXPECT_FALSE(RoundLooksDisrupted(2, 5));
  EXPECT_TRUE(RoundLooksDisrupted(3, 5));
  EXPECT_FALSE(RoundLooksDisrupted(1, 1));  // one member alone: its silence is its own
  EXPECT_FALSE(RoundLooksDisrupted(1, 2));
  EXPECT_TRUE(RoundLooksDisrupted(2, 2));
  EXPECT_TRUE(RoundLooksDisrupted(2, 3));
}

// Most of the fleet silent in the same rounds (the control plane starved of CPU, its network
// down): not counted as failures until disruption_grace has passed, then as usual. A silence
// of a minority, or answers that say no, count at once (the two tests around this one).
TEST_F(HealthMonitorTest, MostMembersSilentAtOnceAreNotFailedOverUntilTheGracePasses) {
  auto monitor = Monitor();  // threshold 3, grace 30 s
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  const std::vector<std::string> silent = {"us-east-1", "us-west-1", "eu-west-1"};  // 3 of 5
  for (const std::string& name : silent) {
    fakes_.at(name)->FailAlways(Verb::kReadyz,
                                DeadlineExceededError(name + ": no answer within 500 ms"));
  }
  // Ten rounds, 10 s: three would fail a member; these are not counted.
  for (int i = 1; i <= 10; ++i) {
    clock_.Advance(Duration(1000));
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
    for (const std::string& name : silent) {
      EXPECT_EQ(Find(Member(name).status, "Reachable")->status, "True") << name << " round " << i;
    }
  }
  // 30 s (by the monitor's clock) after the first silent round: silences count again, and
  // three fail a member.
  clock_.Advance(Duration(21'000));
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
    for (const std::string& name : silent) {
      EXPECT_EQ(Find(Member(name).status, "Reachable")->status, i < 3 ? "True" : "False")
          << name << " round " << i;
    }
    clock_.Advance(Duration(1000));
  }
  for (const char* name : {"eu-central-1", "ap-south-1"}) {
    EXPECT_EQ(Find(Member(name).status, "Reachable")->status, "True") << name;
  }

  // Answers that say no are not silence: most members refusing fail at the third round.
  for (const std::string& name : silent) fakes_.at(name)->ClearFailures();
  ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  for (const std::string& name : silent) {
    EXPECT_EQ(Find(Member(name).status, "Reachable")->status, "True") << name;
    fakes_.at(name)->FailAlways(Verb::kReadyz, UnavailableError("connection refused"));
  }
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(Duration(1000));
    ASSERT_TRUE(monitor->ProbeAllOnce(clock_.Now()).ok());
  }
  for (const std::string& name : silent) {
    EXPECT_EQ(Find(Member(name).status, "Reachable")->status, "False") << name;
  }
}

TEST_F(HealthMonitorTest, RunningLoopProbesOnItsOwn) {
  HealthMonitorOptions options;
  options.interval = std::chrono::milliseconds(50);
  auto monitor = Monitor(options);
  monitor->Start();
  // Real time here: the loop runs on its own thread (bounded wait).
  for (int i = 0; i < 250; ++i) {
    if (Find(Member("eu-central-1").status, "Reachable") != nullptr) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  monitor->Stop();
  ASSERT_NE(Find(Member("eu-central-1").status, "Reachable"), nullptr);
  EXPECT_EQ(Find(Member("eu-central-1").status, "Reachable")->status, "True");
}

TEST_F(HealthMonitorTest, HttpFactoryReadsTheCredentialsSecret) {
  // The federation-apiserver creates the meridian-system namespace itself.
  Apply({{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "eu-west-1-creds"}, {"namespace", "meridian-system"}}},
         {"data", {{"token", "c2VjcmV0LXRva2Vu"}}}});  // "secret-token"
  MemberClientFactory factory = HttpMemberClientFactory(server_->objects(), Duration(700));
  api::MemberCluster m = Member("eu-west-1");
  m.spec.credentials_ref.name = "eu-west-1-creds";
  StatusOr<std::shared_ptr<sync::MemberClient>> client = factory(m);
  ASSERT_TRUE(client.ok()) << client.status();
  auto* http = dynamic_cast<sync::HttpMemberClient*>(client->get());
  ASSERT_NE(http, nullptr);
  EXPECT_EQ(http->member(), "eu-west-1");
  EXPECT_EQ(http->endpoint().credentials.bearer_token, "secret-token");
  EXPECT_EQ(http->endpoint().timeout, Duration(700));

  // No credentials: no Secret needed. A missing Secret: an error naming it.
  EXPECT_TRUE(factory(Member("eu-central-1")).ok());
  m.spec.credentials_ref.name = "missing";
  StatusOr<std::shared_ptr<sync::MemberClient>> missing = factory(m);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("meridian-system/missing"), std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace meridian::failover
