// The placement controller against a real (in-process) federation-apiserver on SQLite: the
// shipped three-continents example, residency + capacity that cannot fit, the running
// controller reacting to a new workload, failures (degraded vs unreachable, live drills,
// recovery with a FakeClock); and the pure inputs of scheduling/placement_inputs.h (what-if).
#include "scheduling/placement_controller.h"

#include "api/explanation.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <thread>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/explanation.h"
#include "api/placement_policy.h"
#include "observability/metrics.h"
#include "scheduling/affinity_groups.h"
#include "test/common/in_process_federation.h"

namespace meridian::scheduling {
namespace {

using nlohmann::json;

class PlacementControllerTest : public ::testing::Test {
 protected:
  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    return federation_.Info(api_version, kind);
  }
  void Apply(const json& object) { federation_.Apply(object); }
  void ApplyFile(const std::string& relative) { federation_.ApplyFile(relative); }

  api::FederatedWorkload Workload(const std::string& ns, const std::string& name) {
    auto got = server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), ns, name);
    EXPECT_TRUE(got.ok());
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    EXPECT_TRUE(errors.empty()) << errors.front().ToString();
    return w;
  }

  static const api::Condition* Find(const api::FederatedWorkloadStatus& s,
                                    const std::string& type) {
    for (const auto& c : s.conditions) {
      if (c.type == type) return &c;
    }
    return nullptr;
  }

  test_env::InProcessFederation federation_{"placement-controller"};
  apiserver::FederationApiServer* server_ = &federation_.server();
  FakeClock& clock_ = federation_.clock();
};

TEST_F(PlacementControllerTest, ThreeContinentsExampleIsDividedFiveThreeTwo) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  ApplyFile("examples/three-continents/workload.yaml");
  PlacementController controller(server_->objects(), clock_);
  StatusOr<int> written = controller.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 1);

  api::FederatedWorkload w = Workload("shop", "web");
  std::map<std::string, int64_t> by_continent;
  const std::map<std::string, std::string> continent = {{"us-east-1", "na"},
                                                        {"us-west-1", "na"},
                                                        {"eu-west-1", "eu"},
                                                        {"eu-central-1", "eu"},
                                                        {"ap-south-1", "as"}};
  for (const api::ClusterPlacement& p : w.status.placement) {
    by_continent[continent.at(p.cluster)] += p.replicas;
    ASSERT_EQ(p.reasons.size(), 1u);
    EXPECT_EQ(p.reasons[0].rfind(p.cluster + ": " + std::to_string(p.replicas), 0), 0u)
        << p.reasons[0];
  }
  EXPECT_EQ(by_continent, (std::map<std::string, int64_t>{{"na", 15}, {"eu", 9}, {"as", 6}}));
  EXPECT_EQ(w.status.desired_replicas, 30);
  EXPECT_EQ(w.status.unplaced_replicas, 0);
  EXPECT_EQ(w.status.observed_generation, w.metadata.generation);
  ASSERT_NE(Find(w.status, "Placed"), nullptr);
  EXPECT_EQ(Find(w.status, "Placed")->status, "True");
  EXPECT_EQ(Find(w.status, "Degraded")->status, "False");

  // Level-triggered and idempotent: nothing changed, nothing is written.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
}

TEST_F(PlacementControllerTest, ResidencyWithTooLittleRoomIsDegradedAndStaysInTheEu) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  // The EU members report room for 4 replicas each.
  const auto& mc = Info(api::kApiVersion, "MemberCluster");
  for (const char* name : {"eu-west-1", "eu-central-1"}) {
    json m = server_->objects().Get(mc, "", name).value();
    m["status"] = {{"allocatable", {{"replicas", 4}}}};
    ASSERT_TRUE(server_->objects().Update(mc, "", name, m, "status").ok());
  }
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 30}},
             "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());

  api::FederatedWorkload w = Workload("default", "crm");
  int64_t placed = 0;
  for (const api::ClusterPlacement& p : w.status.placement) {
    EXPECT_TRUE(p.cluster == "eu-west-1" || p.cluster == "eu-central-1") << p.cluster;
    placed += p.replicas;
  }
  EXPECT_EQ(placed, 8);
  EXPECT_EQ(w.status.unplaced_replicas, 22);
  const api::Condition* degraded = Find(w.status, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_EQ(degraded->reason, "ReplicasUnplaced");
  EXPECT_NE(degraded->message.find("22 of 30 unplaced"), std::string::npos) << degraded->message;
  EXPECT_NE(degraded->message.find("residency"), std::string::npos) << degraded->message;
  EXPECT_NE(degraded->message.find("capacity"), std::string::npos) << degraded->message;
}

// Issue 14: the conflicting second policy is refused with the workload named; acknowledged,
// it applies and the workload is Degraded with residency as the reason (residency is hard).
TEST_F(PlacementControllerTest, AcknowledgedConflictingPolicyLeavesTheWorkloadDegraded) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  Apply(json::parse(
      R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})"));
  ApplyFile("examples/eu-residency/residency-policy.yaml");
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "ledger", "namespace": "payments"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 12}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_EQ(Workload("payments", "ledger").status.unplaced_replicas, 0);

  json us_only =
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
    "metadata": {"name": "payments-us-only"}, "spec": {"namespaces": ["payments"], "jurisdictions": ["us"]}})");
  const auto& policies = Info(api::kApiVersion, "ResidencyPolicy");
  auto refused = server_->objects().Create(policies, "", us_only);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find(
                "ResidencyPolicy \"payments-us-only\" would leave 12 replicas of payments/ledger "
                "with no allowed cluster (allowed by payments-eu-only: eu; by payments-us-only: "
                "us; intersection: none)"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(controller.ReconcileAll().value(), 0) << "nothing changed";

  us_only["metadata"]["annotations"] = {{"federation.meridian.io/acknowledge-disruption", "true"}};
  ASSERT_TRUE(server_->objects().Create(policies, "", us_only).ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  api::FederatedWorkload w = Workload("payments", "ledger");
  EXPECT_TRUE(w.status.placement.empty());
  EXPECT_EQ(w.status.unplaced_replicas, 12);
  const api::Condition* degraded = Find(w.status, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_NE(degraded->message.find("ResidencyPolicy payments-eu-only: eu; ResidencyPolicy "
                                   "payments-us-only: us"),
            std::string::npos)
      << degraded->message;
}

// Issue 14: a policy that arrives under a workload whose weights name a US region gives it a
// ResidencyConflict condition and a Warning Event; removing the weight resolves it.
TEST_F(PlacementControllerTest, APolicyChangeThatConflictsWithTheWorkloadsWeightsIsReported) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  Apply(json::parse(
      R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})"));
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "ledger", "namespace": "payments"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 4}},
             "placement": {"distribution": {"weights": {"us-east": 1, "eu-west": 1}}}}})"));
  auto controller = std::make_unique<PlacementController>(server_->objects(), clock_);
  ASSERT_TRUE(controller->ReconcileAll().ok());
  EXPECT_EQ(Find(Workload("payments", "ledger").status, "ResidencyConflict"), nullptr)
      << "not residency-bound: no condition at all";

  json eu_only =
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
    "metadata": {"name": "payments-eu-only",
                 "annotations": {"federation.meridian.io/acknowledge-disruption": "true"}},
    "spec": {"namespaces": ["payments"], "jurisdictions": ["eu"]}})");
  Apply(eu_only);
  ASSERT_TRUE(controller->ReconcileAll().ok());
  api::FederatedWorkload w = Workload("payments", "ledger");
  for (const api::ClusterPlacement& p : w.status.placement) {
    EXPECT_TRUE(p.cluster == "eu-west-1" || p.cluster == "eu-central-1") << p.cluster;
  }
  const api::Condition* conflict = Find(w.status, "ResidencyConflict");
  ASSERT_NE(conflict, nullptr);
  EXPECT_EQ(conflict->status, "True");
  EXPECT_EQ(conflict->reason, "PlacementOutsideJurisdictions");
  EXPECT_EQ(conflict->message,
            "spec.placement.distribution.weights.us-east: region us-east (us) is outside the "
            "allowed jurisdictions (allowed by payments-eu-only: eu; intersection: eu)");
  controller.reset();  // the recorder writes what is queued
  auto events = server_->objects().List(Info("v1", "Event"), "payments",
                                        {.field_selector = "reason=ResidencyConflict"});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events.value()["items"].size(), 1u) << events.value().dump();
  EXPECT_EQ(events.value()["items"][0]["involvedObject"]["name"], "ledger");
  EXPECT_EQ(events.value()["items"][0]["type"], "Warning");

  json updated = server_->objects()
                     .Get(Info(api::kApiVersion, "FederatedWorkload"), "payments", "ledger")
                     .value();
  updated["spec"]["placement"]["distribution"]["weights"] = {{"eu-west", 1}};
  ASSERT_TRUE(
      server_->objects()
          .Update(Info(api::kApiVersion, "FederatedWorkload"), "payments", "ledger", updated)
          .ok());
  controller = std::make_unique<PlacementController>(server_->objects(), clock_);
  ASSERT_TRUE(controller->ReconcileAll().ok());
  conflict = Find(Workload("payments", "ledger").status, "ResidencyConflict");
  ASSERT_NE(conflict, nullptr);
  EXPECT_EQ(conflict->status, "False");
}

// Issue 16: status that reads right. Degraded only with a true cause (spread unmet with
// nothing unplaced is not "ReplicasUnplaced"), plurals, and copied objects are not replicas.
TEST_F(PlacementControllerTest, ConditionsNameTheirTrueCauseWithPluralsAndObjects) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 4}},
             "placement": {"residency": {"jurisdictions": ["eu"]}, "spread": {"minRegions": 3}}}})"));
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "one", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}},
             "placement": {"distribution": {"weights": {"eu-west-1": 1}}}}})"));
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "lb", "namespace": "default"},
    "spec": {"template": {"apiVersion": "v1", "kind": "Service",
                          "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());

  api::FederatedWorkload crm = Workload("default", "crm");
  EXPECT_EQ(crm.status.unplaced_replicas, 0);
  const api::Condition* degraded = Find(crm.status, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_EQ(degraded->reason, "SpreadUnmet");
  EXPECT_EQ(degraded->message, "unmet spread: 2 regions (minRegions 3)");
  EXPECT_EQ(Find(crm.status, "Placed")->message, "4 of 4 replicas placed on 2 clusters");

  api::FederatedWorkload one = Workload("default", "one");
  EXPECT_EQ(Find(one.status, "Placed")->message, "1 of 1 replica placed on 1 cluster");
  EXPECT_EQ(Find(one.status, "Degraded")->reason, "AllPlaced");

  api::FederatedWorkload lb = Workload("default", "lb");
  EXPECT_EQ(Find(lb.status, "Placed")->message, "copied to 5 clusters");
  EXPECT_EQ(Find(lb.status, "Degraded")->status, "False");
}

TEST_F(PlacementControllerTest, RunningControllerPlacesANewWorkload) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.Start().ok());
  ApplyFile("examples/three-continents/workload.yaml");
  // Real time here: the worker reacts to the watch on its own thread (bounded wait).
  api::FederatedWorkload w;
  for (int i = 0; i < 500; ++i) {
    w = Workload("shop", "web");
    if (!w.status.placement.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(w.status.desired_replicas, 30);
  EXPECT_FALSE(w.status.placement.empty());
  controller.Stop();
}

// A running controller re-places only what a change can move: a workload's own change places
// that workload (and, when it shares capacity, every workload that shares it); a change to the
// fleet places all. And what the partial passes leave is what a whole pass computes.
TEST_F(PlacementControllerTest, RunningControllerPlacesOnlyWhatAChangeCanMove) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  Apply(json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  auto config = [](const std::string& name, const std::string& tier) {
    return json{{"apiVersion", api::kApiVersion},
                {"kind", "FederatedWorkload"},
                {"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"spec",
                 {{"template",
                   {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"k", name}}}}},
                  {"placement",
                   {{"clusterSelector", {{"matchLabels", {{"tier", tier}}}}}}}}}};
  };
  auto deployment = [](const std::string& name, int replicas) {
    json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", name}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", name}}}}},
                  {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "i:1"}}})}}}}}}}};
    return json{{"apiVersion", api::kApiVersion},
                {"kind", "FederatedWorkload"},
                {"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"spec", {{"template", d}, {"placement", json::object()}}}};
  };
  constexpr int kConfigs = 24;
  for (int i = 0; i < kConfigs; ++i) Apply(config("cm-" + std::to_string(i), "prod"));
  Apply(deployment("api", 10));
  Apply(deployment("db", 6));

  // Placement decisions made in this process (observability/metrics.h counts each one).
  auto decisions = [] {
    return observability::PlacementDecisionSeconds().Collect().histogram.sample_count;
  };
  // Real time: the worker reacts on its own thread. Waits (bounded) until no decision has been
  // made for 400 ms, and returns how many were made since `from`.
  auto settle = [&](uint64_t from) {
    uint64_t last = decisions();
    auto quiet_since = std::chrono::steady_clock::now();
    const auto deadline = quiet_since + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const uint64_t now = decisions();
      if (now != last) {
        last = now;
        quiet_since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - quiet_since > std::chrono::milliseconds(400)) {
        break;
      }
    }
    return last - from;
  };
  // Replaces a stored object's spec and labels (the subresource "status": its status).
  auto replace = [&](const json& object, const std::string& subresource = "") {
    const auto& info = Info(object["apiVersion"], object["kind"]);
    const std::string ns = object["metadata"].value("namespace", "");
    const std::string name = object["metadata"]["name"];
    auto current = server_->objects().Get(info, ns, name);
    ASSERT_TRUE(current.ok());
    json updated = current.value();
    if (subresource.empty()) {
      updated["spec"] = object["spec"];
      if (object["metadata"].contains("labels")) updated["metadata"]["labels"] = object["metadata"]["labels"];
    } else {
      updated["status"] = object["status"];
    }
    auto written = server_->objects().Update(info, ns, name, updated, subresource);
    ASSERT_TRUE(written.ok()) << written.error().message;
  };
  // A decision is counted before its status is written (the writes of a pass go out
  // together, each waiting for a commit): the status may come later than a quiet spell of
  // decisions on a loaded machine. Waits (bounded) until `name` is placed.
  auto placed = [&](const std::string& name) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Workload("shop", name).status.placement.empty() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return !Workload("shop", name).status.placement.empty();
  };
  const uint64_t at_start = decisions();
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.Start().ok());
  EXPECT_GE(settle(at_start), static_cast<uint64_t>(kConfigs + 2));
  for (int i = 0; i < kConfigs; ++i) ASSERT_TRUE(placed("cm-" + std::to_string(i))) << i;

  // One ConfigMap workload moves to other members: it alone is placed again (its change, and
  // the echo of its own status write: at most a few decisions, not 26).
  uint64_t before = decisions();
  replace(config("cm-3", "gold"));
  const uint64_t one = settle(before);
  EXPECT_GE(one, 1u);
  EXPECT_LE(one, 4u);
  EXPECT_TRUE(Workload("shop", "cm-3").status.placement.empty());  // no member is "gold"

  // A workload that shares capacity changes: both that share it are placed again, the
  // ConfigMaps are not.
  before = decisions();
  replace(deployment("api", 12));
  const uint64_t shared = settle(before);
  EXPECT_GE(shared, 2u);
  EXPECT_LT(shared, static_cast<uint64_t>(kConfigs));
  EXPECT_EQ(Workload("shop", "api").status.desired_replicas, 12);

  // A member's workload summary, written for people: no decision at all.
  auto member = server_->objects().Get(Info(api::kApiVersion, "MemberCluster"), "", "eu-west-1");
  ASSERT_TRUE(member.ok());
  json summarised = member.value();
  summarised["status"]["workloadSummary"] = {{"workloads", 7}, {"desiredReplicas", 9}};
  before = decisions();
  replace(summarised, "status");
  EXPECT_EQ(settle(before), 0u);
  // The fleet changes (a member relabelled): every workload is placed again.
  json relabelled = member.value();
  relabelled["metadata"]["labels"]["tier"] = "gold";
  replace(relabelled);
  EXPECT_GE(settle(before), static_cast<uint64_t>(kConfigs + 2));
  EXPECT_TRUE(placed("cm-3"));  // eu-west-1 is gold now
  controller.Stop();

  // What the partial passes left is what a whole pass computes: a second controller's whole
  // pass over the same objects has nothing to write.
  PlacementController whole(server_->objects(), clock_);
  StatusOr<int> written = whole.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, 0);
}

// ---- pure inputs (scheduling/placement_inputs.h) ----

api::MemberCluster Member(const std::string& name, const std::string& region,
                          std::vector<std::pair<std::string, int64_t>> zones) {
  api::MemberCluster m;
  m.metadata.name = name;
  m.spec.region = region;
  for (const auto& [zone, alloc] : zones) {
    m.spec.zones.push_back(zone);
    m.status.zones.push_back({zone, true, alloc, ""});
  }
  return m;
}

TEST(PlacementInputs, ClusterStateUsesFullCapacityAndOnlyRealRecoveries) {
  api::MemberCluster m = Member("eu-west-1", "eu-west", {{"a", 40}, {"b", 40}, {"c", 20}});
  m.status.zones[0].healthy = false;   // keeps the room it had while healthy
  m.status.allocatable_replicas = 60;  // the room now
  const Timestamp t = Timestamp(std::chrono::seconds(1'700'000'000));
  api::SetCondition(&m.status.conditions, {"Reachable", "True", "ProbeSucceeded", "", "", 0}, t);
  placement::ClusterState c = ClusterStateFrom(m);
  EXPECT_EQ(c.allocatable_replicas, 100);
  EXPECT_FALSE(c.zones[0].healthy);
  EXPECT_TRUE(c.reachable);
  EXPECT_FALSE(c.healthy_since.has_value()) << "a member that just joined is not recovering";
  EXPECT_FALSE(c.zones[1].last_transition_time.has_value());

  m.status.conditions.clear();
  api::SetCondition(&m.status.conditions,
                    {"Reachable", "True", kReachableRecoveredReason, "", "", 0}, t);
  m.status.zones[1].last_transition_time = FormatRfc3339(t + std::chrono::seconds(5));
  c = ClusterStateFrom(m);
  EXPECT_EQ(c.healthy_since, t);
  EXPECT_EQ(c.zones[1].last_transition_time, t + std::chrono::seconds(5));

  m.spec.capacity_replicas = 300;  // declared capacity wins
  EXPECT_EQ(ClusterStateFrom(m).allocatable_replicas, 300);
  m.status.conditions[0].status = "False";
  EXPECT_FALSE(ClusterStateFrom(m).reachable);
}

// The capacity ledger: what every other workload holds, per member. Reservations go in
// priority order and never exceed the room, so after a capacity cut the older workload keeps
// its replicas and the newer one is the one squeezed; a placed workload holds its new
// placement from then on.
TEST(PlacementInputs, CapacityLedgerReservesInPriorityOrderWithinTheRoom) {
  placement::ClusterState a;
  a.name = "a";
  a.region = "r";
  a.allocatable_replicas = 40;  // after a cut: the two workloads below ran 50 here
  placement::ClusterState b;
  b.name = "b";
  b.region = "r";  // capacity unknown: unbounded
  auto world = placement::World::Build({a, b}, placement::TopologySpec{});
  ASSERT_TRUE(world.ok()) << world.status();
  const uint32_t ia = *(*world)->FindCluster("a");
  const uint32_t ib = *(*world)->FindCluster("b");

  CapacityLedger ledger(**world);
  ledger.Reserve(0, {{"a", 30, 30}, {"b", 5, 5}, {"gone", 7, 7}});  // older
  ledger.Reserve(1, {{"a", 20, 20}, {"b", 4, 4}});                  // newer: 10 of its 20 fit
  std::span<const int64_t> others = ledger.Release(0);
  EXPECT_EQ(others[ia], 10) << "the newer one holds only what fitted";
  EXPECT_EQ(others[ib], 4);
  ledger.Commit({{"a", 30, {}, {}}, {"b", 5, {}, {}}});
  others = ledger.Release(1);
  EXPECT_EQ(others[ia], 30) << "the older one's placement";
  EXPECT_EQ(others[ib], 5);
  // Releasing twice is harmless; an unknown workload holds nothing.
  others = ledger.Release(1);
  EXPECT_EQ(others[ia], 30);
  EXPECT_EQ(ledger.Release(7)[ia], 30);

  // Priority: creationTimestamp, then namespace/name.
  std::vector<api::FederatedWorkload> ws(3);
  ws[0].metadata = {.name = "b", .ns = "x", .creation_timestamp = "2026-11-21T10:00:05Z"};
  ws[1].metadata = {.name = "a", .ns = "x", .creation_timestamp = "2026-11-21T10:00:05Z"};
  ws[2].metadata = {.name = "z", .ns = "x", .creation_timestamp = "2026-11-21T10:00:01Z"};
  EXPECT_EQ(PriorityOrder(ws), (std::vector<size_t>{2, 1, 0}));
}

TEST(PlacementInputs, ParseFailureTarget) {
  struct Case {
    const char* text;
    const char* want;  // FailureTargetString, or "" for an error
  };
  for (const Case& c : std::vector<Case>{{"zone=eu-west-1a", "zone=eu-west-1a"},
                                         {"region=us-east", "region=us-east"},
                                         {"cluster=ap-south-1", "cluster=ap-south-1"},
                                         {"zone=", ""},
                                         {"rack=r1", ""},
                                         {"us-east", ""}}) {
    auto t = ParseFailureTarget(c.text);
    if (*c.want == '\0') {
      ASSERT_FALSE(t.ok()) << c.text;
      EXPECT_NE(t.status().message().find(c.text), std::string::npos) << t.status();
    } else {
      ASSERT_TRUE(t.ok()) << c.text << ": " << t.status();
      EXPECT_EQ(FailureTargetString(*t), c.want);
    }
  }
}

TEST(PlacementInputs, ApplyFailuresAndDrills) {
  const Timestamp t = Timestamp(std::chrono::seconds(1'700'000'000));
  std::vector<placement::ClusterState> fleet = {
      ClusterStateFrom(Member("us-east-1", "us-east", {{"us-east-1a", 10}})),
      ClusterStateFrom(Member("us-east-2", "us-east", {{"us-east-2a", 10}})),
      ClusterStateFrom(Member("eu-west-1", "eu-west", {{"eu-west-1a", 10}, {"eu-west-1b", 10}})),
  };
  std::vector<api::DrillTarget> failures = {
      {"eu-west-1a", "", ""}, {"", "us-east", ""}, {"", "", "nope"}, {"z", "r", ""}};
  std::vector<placement::ClusterState> failed = fleet;
  std::vector<std::string> unmatched;
  ApplyFailures(failures, failed, &unmatched);
  EXPECT_FALSE(failed[0].reachable);
  EXPECT_FALSE(failed[1].reachable);
  EXPECT_TRUE(failed[2].reachable);
  EXPECT_FALSE(failed[2].zones[0].healthy);
  EXPECT_TRUE(failed[2].zones[1].healthy);
  ASSERT_EQ(unmatched.size(), 2u);
  EXPECT_EQ(unmatched[0], "cluster=nope matches no member cluster");
  EXPECT_NE(unmatched[1].find("exactly one"), std::string::npos);

  // Live drills: only Running + live acts; an ended live drill is a recovery at its end.
  api::FailoverDrill running, simulated, ended, ended_zone;
  running.spec = {{"", "", "eu-west-1"}, "live", 300, std::nullopt, false};
  running.status.phase = "Running";
  simulated.spec = {{"", "us-east", ""}, "simulate", 300, std::nullopt, false};
  simulated.status.phase = "Running";
  ended.spec = {{"", "us-east", ""}, "live", 300, std::nullopt, false};
  ended.status.phase = "Completed";
  ended.status.completion_time = FormatRfc3339(t);
  ended_zone.spec = {{"eu-west-1b", "", ""}, "live", 300, std::nullopt, false};
  ended_zone.status.phase = "Aborted";
  ended_zone.status.completion_time = FormatRfc3339(t + std::chrono::seconds(1));
  PlacementInputs inputs;
  for (const char* name : {"us-east-1", "eu-west-1"}) {
    inputs.members.push_back(Member(name, name == std::string("us-east-1") ? "us-east" : "eu-west",
                                    {{std::string(name) + "b", 10}}));
  }
  inputs.members[1].spec.zones = {"eu-west-1a", "eu-west-1b"};
  inputs.members[1].status.zones = {{"eu-west-1a", true, 10, ""}, {"eu-west-1b", true, 10, ""}};
  inputs.drills = {running, simulated, ended, ended_zone};
  EXPECT_EQ(LiveDrillTargets(inputs.drills).size(), 1u);
  std::vector<placement::ClusterState> states = ClusterStatesFor(inputs);
  EXPECT_TRUE(states[0].reachable);
  EXPECT_EQ(states[0].healthy_since, t);
  EXPECT_FALSE(states[1].reachable);
  inputs.drills = {ended_zone};
  states = ClusterStatesFor(inputs);
  EXPECT_TRUE(states[1].reachable);
  EXPECT_FALSE(states[1].zones[0].last_transition_time.has_value());
  EXPECT_EQ(states[1].zones[1].last_transition_time, t + std::chrono::seconds(1));
}

// ---- the controller under failures ----

class FailoverPlacementTest : public PlacementControllerTest {
 protected:
  // What what-if reads: members, topologies and workloads as stored.
  PlacementInputs InputsFromServer() {
    PlacementInputs inputs;
    FieldErrors errors;
    auto list = [&](const char* kind) {
      return server_->objects().List(Info(api::kApiVersion, kind), "", {}).value()["items"];
    };
    for (const json& j : list("MemberCluster"))
      inputs.members.push_back(api::DecodeMemberCluster(j, &errors));
    for (const json& j : list("Topology"))
      inputs.topologies.push_back(api::DecodeTopology(j, &errors));
    for (const json& j : list("FederatedWorkload")) {
      inputs.workloads.push_back(api::DecodeFederatedWorkload(j, &errors));
    }
    EXPECT_TRUE(errors.empty());
    return inputs;
  }

  // The three-continents fleet as the health monitor reports it (40 replicas per node).
  void SetUp() override {
    ApplyFile("examples/three-continents/topology.yaml");
    ApplyFile("examples/three-continents/members.yaml");
    const std::map<std::string, std::vector<std::pair<std::string, int64_t>>> zones = {
        {"us-east-1", {{"us-east-1a", 120}, {"us-east-1b", 120}, {"us-east-1c", 120}}},
        {"us-west-1", {{"us-west-1a", 80}, {"us-west-1b", 80}}},
        {"eu-west-1", {{"eu-west-1a", 120}, {"eu-west-1b", 120}, {"eu-west-1c", 80}}},
        {"eu-central-1", {{"eu-central-1a", 80}, {"eu-central-1b", 80}}},
        {"ap-south-1", {{"ap-south-1a", 80}, {"ap-south-1b", 80}}}};
    for (const auto& [name, member_zones] : zones) {
      const auto& z = member_zones;  // clang 14 cannot capture a structured binding
      SetMemberStatus(name, [&](api::MemberClusterStatus& s) {
        int64_t sum = 0;
        for (const auto& [zone, alloc] : z) {
          s.zones.push_back({zone, true, alloc, ""});
          sum += alloc;
        }
        s.allocatable_replicas = sum;
        api::SetCondition(&s.conditions, {"Reachable", "True", "ProbeSucceeded", "", "", 0},
                          clock_.Now());
      });
    }
  }

  void SetMemberStatus(const std::string& name,
                       const std::function<void(api::MemberClusterStatus&)>& change) {
    const auto& mc = Info(api::kApiVersion, "MemberCluster");
    FieldErrors errors;
    api::MemberCluster m =
        api::DecodeMemberCluster(server_->objects().Get(mc, "", name).value(), &errors);
    change(m.status);
    auto r = server_->objects().Update(mc, "", name, api::Encode(m), "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  void SetReachable(const std::string& name, bool reachable) {
    SetMemberStatus(name, [&](api::MemberClusterStatus& s) {
      const api::Condition* old = api::FindCondition(s.conditions, "Reachable");
      api::Condition c{
          "Reachable",
          reachable ? "True" : "False",
          reachable ? (old && old->status == "False" ? kReachableRecoveredReason : old->reason)
                    : "ProbeFailed",
          "",
          "",
          0};
      api::SetCondition(&s.conditions, c, clock_.Now());
    });
  }

  // What the propagation controller would report: every placed replica ready, except in
  // `not_ready`.
  void ReportReady(const std::string& ns, const std::string& name,
                   const std::set<std::string>& not_ready = {}) {
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    api::FederatedWorkload w = Workload(ns, name);
    w.status.clusters.clear();
    for (const api::ClusterPlacement& p : w.status.placement) {
      w.status.clusters.push_back(
          {p.cluster, not_ready.count(p.cluster) ? 0 : p.replicas, true, ""});
    }
    ASSERT_TRUE(server_->objects().Update(info, ns, name, api::Encode(w), "status").ok());
  }

  std::map<std::string, int64_t> Placement(const std::string& ns, const std::string& name) {
    std::map<std::string, int64_t> out;
    for (const api::ClusterPlacement& p : Workload(ns, name).status.placement) {
      out[p.cluster] = p.replicas;
    }
    return out;
  }

  void CreateDrill(const std::string& name, const json& target, const std::string& phase,
                   const std::string& completion = "") {
    const auto& info = Info(api::kApiVersion, "FailoverDrill");
    json d = {{"apiVersion", api::kApiVersion},
              {"kind", "FailoverDrill"},
              {"metadata", {{"name", name}}},
              {"spec", {{"target", target}, {"mode", "live"}, {"durationSeconds", 60}}}};
    auto existing = server_->objects().Get(info, "", name);
    if (!existing.ok()) {
      ASSERT_TRUE(server_->objects().Create(info, "", d).ok());
      existing = server_->objects().Get(info, "", name);
    }
    json with_status = existing.value();
    with_status["status"] = {{"phase", phase}};
    if (!completion.empty()) with_status["status"]["completionTime"] = completion;
    auto r = server_->objects().Update(info, "", name, with_status, "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
};

// The demo's bug, through the controller: members that have just joined are not
// "recovering", so a failed region's replicas go to the nearest region only.
TEST_F(FailoverPlacementTest, UnreachableRegionOverflowsNearestRightAfterJoining) {
  ApplyFile("examples/three-continents/workload.yaml");
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> before = Placement("shop", "web");
  ASSERT_EQ(before["us-east-1"], 9);
  clock_.Advance(Duration(5000));
  SetReachable("us-east-1", false);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> after = Placement("shop", "web");
  EXPECT_EQ(after.count("us-east-1"), 0u);
  EXPECT_EQ(after["us-west-1"], before["us-west-1"] + 9);
  for (const char* other : {"eu-west-1", "eu-central-1", "ap-south-1"}) {
    EXPECT_EQ(after[other], before[other]) << other;
  }
}

// Degraded (a zone failed): the member keeps its old replicas until the replacements
// elsewhere are ready. Unreachable: replacements start at once and nothing is kept.
TEST_F(FailoverPlacementTest, DegradedKeepsOldReplicasUntilReplacementsAreReady) {
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 400}},
             "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> before = Placement("default", "crm");
  ASSERT_EQ(before["eu-west-1"] + before["eu-central-1"], 400);
  ReportReady("default", "crm");

  // eu-west-1b and eu-west-1c fail: eu-west-1 can hold 120 now.
  clock_.Advance(Duration(1000));
  SetMemberStatus("eu-west-1", [&](api::MemberClusterStatus& s) {
    s.zones[1].healthy = false;
    s.zones[2].healthy = false;
    s.allocatable_replicas = 120;
  });
  ASSERT_TRUE(controller.ReconcileAll().ok());
  api::FederatedWorkload w = Workload("default", "crm");
  std::map<std::string, int64_t> kept = Placement("default", "crm");
  EXPECT_EQ(kept["eu-west-1"], before["eu-west-1"]) << "old replicas stay until replaced";
  EXPECT_EQ(kept["eu-central-1"], 160) << "replacements start at once";
  EXPECT_EQ(w.status.desired_replicas, 400);
  EXPECT_EQ(w.status.unplaced_replicas, 400 - 120 - 160);
  bool says_why = false;
  for (const auto& p : w.status.placement) {
    for (const auto& r : p.reasons)
      says_why |= r.find("until their replacements") != std::string::npos;
  }
  EXPECT_TRUE(says_why);
  // Level-triggered: another pass with nothing ready changes nothing.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);

  ReportReady("default", "crm", {"eu-central-1"});  // replacements not ready yet
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("default", "crm")["eu-west-1"], before["eu-west-1"]);
  ReportReady("default", "crm");  // eu-central-1 reports 160 ready
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("default", "crm")["eu-west-1"], 120)
      << "released once replacements are ready";

  // Unreachable: nothing kept, even though eu-central-1's replicas are not ready.
  ReportReady("default", "crm", {"eu-central-1"});
  SetReachable("eu-west-1", false);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> down = Placement("default", "crm");
  EXPECT_EQ(down.count("eu-west-1"), 0u);
  EXPECT_EQ(down["eu-central-1"], 160);
  EXPECT_EQ(Workload("default", "crm").status.unplaced_replicas, 240);
}

// A running live drill fails its target for placement; when it ends, replicas return after
// recoveryDelaySeconds (FakeClock), not before.
TEST_F(FailoverPlacementTest, LiveDrillFailsItsTargetAndRecoveryWaitsForTheDelay) {
  ApplyFile("examples/three-continents/workload.yaml");  // recoveryDelaySeconds: 60
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const std::map<std::string, int64_t> healthy = Placement("shop", "web");

  CreateDrill("east-drill", {{"region", "us-east"}}, "Pending");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web"), healthy) << "only a Running drill acts";

  CreateDrill("east-drill", {{"region", "us-east"}}, "Running");
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> during = Placement("shop", "web");
  // The target really serves (only the drill fails it): make-before-break, it keeps its 9
  // until the replacements on us-west-1 are ready.
  EXPECT_EQ(during["us-east-1"], 9);
  EXPECT_EQ(during["us-west-1"], healthy.at("us-west-1") + 9);
  EXPECT_TRUE(Workload("shop", "web").status.retained.empty()) << "a drill retains nothing";
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  during = Placement("shop", "web");
  EXPECT_EQ(during.count("us-east-1"), 0u);
  EXPECT_EQ(during["us-west-1"], healthy.at("us-west-1") + 9);

  clock_.Advance(Duration(30'000));
  CreateDrill("east-drill", {{"region", "us-east"}}, "Completed", FormatRfc3339(clock_.Now()));
  std::optional<Duration> recheck;
  ASSERT_TRUE(controller.ReconcileAll(&recheck).ok());
  EXPECT_EQ(Placement("shop", "web"), during) << "held for recoveryDelaySeconds";
  ASSERT_TRUE(recheck.has_value());
  EXPECT_EQ(*recheck, Duration(60'000));
  clock_.Advance(Duration(59'000));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web"), during);
  // After the delay: a rolling return, make-before-break. Step 1: 25% of 30 = 8 go back to
  // us-east-1 while us-west-1 keeps its 15 until they are ready.
  clock_.Advance(Duration(1'000));
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> step = Placement("shop", "web");
  EXPECT_EQ(step["us-east-1"], 8);
  EXPECT_EQ(step["us-west-1"], during.at("us-west-1")) << "kept until the returned ones are ready";
  // Any number of passes before they are ready change nothing.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
  ReportReady("shop", "web", {"us-east-1"});
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
  // Ready: us-west-1 lets go of the 8 they replace; the next step waits for that release.
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  step = Placement("shop", "web");
  EXPECT_EQ(step["us-east-1"], 8);
  EXPECT_EQ(step["us-west-1"], healthy.at("us-west-1") + 1);
  // Step 2: the last one goes back, and is released once ready.
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  step = Placement("shop", "web");
  EXPECT_EQ(step["us-east-1"], 9);
  EXPECT_EQ(step["us-west-1"], healthy.at("us-west-1") + 1);
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web"), healthy);
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
}

// Never delete what you cannot see: an unreachable member's replicas are retained (left as
// they are) while replacements start elsewhere; when it comes back they keep serving until
// recoveryDelaySeconds have passed and the replacements are ready, through flapping; then
// the member keeps its share and only the surplus elsewhere goes.
TEST_F(FailoverPlacementTest, UnreachableMemberKeepsItsReplicasUntilItIsBackAndTheDelayPassed) {
  ApplyFile("examples/three-continents/workload.yaml");  // recoveryDelaySeconds: 60
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const std::map<std::string, int64_t> healthy = Placement("shop", "web");
  ASSERT_EQ(healthy.at("us-east-1"), 9);
  ReportReady("shop", "web");
  auto retained = [&] {
    std::map<std::string, int64_t> out;
    for (const api::ClusterPlacement& p : Workload("shop", "web").status.retained) {
      out[p.cluster] = p.replicas;
    }
    return out;
  };
  auto reasons = [&] {
    std::string out;
    for (const api::ClusterPlacement& p : Workload("shop", "web").status.retained) {
      for (const std::string& r : p.reasons) out += r + "\n";
    }
    return out;
  };

  clock_.Advance(Duration(1000));
  SetReachable("us-east-1", false);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  std::map<std::string, int64_t> during = Placement("shop", "web");
  EXPECT_EQ(during.count("us-east-1"), 0u) << "replacements start at once";
  EXPECT_EQ(during["us-west-1"], healthy.at("us-west-1") + 9);
  EXPECT_EQ(retained(), (std::map<std::string, int64_t>{{"us-east-1", 9}}));
  EXPECT_NE(reasons().find("never delete what cannot be seen"), std::string::npos) << reasons();
  EXPECT_EQ(controller.ReconcileAll().value(), 0) << "level-triggered";
  ReportReady("shop", "web");

  // Back, gone again, back again: retained all along.
  for (int flap = 0; flap < 2; ++flap) {
    clock_.Advance(Duration(10'000));
    SetReachable("us-east-1", true);
    std::optional<Duration> recheck;
    ASSERT_TRUE(controller.ReconcileAll(&recheck).ok());
    EXPECT_EQ(retained(), (std::map<std::string, int64_t>{{"us-east-1", 9}})) << flap;
    EXPECT_NE(reasons().find("stay until recoveryDelaySeconds (60)"), std::string::npos)
        << reasons();
    EXPECT_EQ(Placement("shop", "web"), during) << flap;
    ASSERT_TRUE(recheck.has_value());
    EXPECT_LE(*recheck, Duration(60'000));
    if (flap == 0) {
      clock_.Advance(Duration(5'000));
      SetReachable("us-east-1", false);
      ASSERT_TRUE(controller.ReconcileAll().ok());
      EXPECT_EQ(retained(), (std::map<std::string, int64_t>{{"us-east-1", 9}}));
    }
  }
  // 59 s after it came back: still retained.
  clock_.Advance(Duration(59'000));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(retained(), (std::map<std::string, int64_t>{{"us-east-1", 9}}));
  // The delay has passed and the replacements are ready: the member keeps its 9 (its share:
  // nothing is deleted there) and us-west-1 lets go of the 9 replacements once us-east-1
  // reports them ready.
  clock_.Advance(Duration(1'000));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_TRUE(retained().empty());
  std::map<std::string, int64_t> back = Placement("shop", "web");
  EXPECT_EQ(back["us-east-1"], 9);
  EXPECT_EQ(back["us-west-1"], during.at("us-west-1")) << "kept until us-east-1 reports ready";
  // Then us-west-1's surplus of 9 drains at a bounded pace: 8 (25% of 30) first, the last one
  // only once us-west-1 has let go of those 8.
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web")["us-west-1"], healthy.at("us-west-1") + 1);
  bool says_pace = false;
  for (const auto& p : Workload("shop", "web").status.placement) {
    for (const auto& r : p.reasons)
      says_pace |= r.find("drains at most 8 per step") != std::string::npos;
  }
  EXPECT_TRUE(says_pace);
  EXPECT_EQ(controller.ReconcileAll().value(), 0) << "us-west-1 still runs 15: no next step";
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web"), healthy);
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
}

// Residency is hard, retention is not: replicas retained on a member (unreachable, or back
// and within its recovery delay) are dropped as soon as a ResidencyPolicy forbids that member,
// so propagation never writes there again and removes them when it can (issue 14; found by
// the residency torture test).
TEST_F(FailoverPlacementTest, RetainedReplicasGoWhenResidencyForbidsTheirMember) {
  ApplyFile("examples/three-continents/workload.yaml");  // shop/web, recoveryDelaySeconds: 60
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_EQ(Placement("shop", "web").at("us-east-1"), 9);
  ReportReady("shop", "web");
  auto retained = [&] {
    std::map<std::string, int64_t> out;
    for (const api::ClusterPlacement& p : Workload("shop", "web").status.retained) {
      out[p.cluster] = p.replicas;
    }
    return out;
  };
  for (const bool back : {false, true}) {
    SCOPED_TRACE(back ? "back, within its recovery delay" : "unreachable");
    clock_.Advance(Duration(1000));
    SetReachable("us-east-1", false);
    ASSERT_TRUE(controller.ReconcileAll().ok());
    ASSERT_EQ(retained().count("us-east-1"), 1u);
    if (back) {
      clock_.Advance(Duration(1000));
      SetReachable("us-east-1", true);
      ASSERT_TRUE(controller.ReconcileAll().ok());
      ASSERT_EQ(retained().count("us-east-1"), 1u);
    }
    const auto& rp = Info(api::kApiVersion, "ResidencyPolicy");
    ASSERT_TRUE(server_->objects()
                    .Create(rp, "", json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1",
                              "kind": "ResidencyPolicy", "metadata": {"name": "shop-not-us",
                              "annotations": {"federation.meridian.io/acknowledge-disruption":
                              "true"}}, "spec": {"namespaces": ["shop"],
                              "jurisdictions": ["eu", "in"]}})"))
                    .ok());
    ASSERT_TRUE(controller.ReconcileAll().ok());
    EXPECT_TRUE(retained().empty());
    for (const auto& [cluster, replicas] : Placement("shop", "web")) {
      EXPECT_TRUE(cluster.rfind("us-", 0) != 0) << cluster << ": " << replicas;
    }
    ASSERT_TRUE(server_->objects().Delete(rp, "", "shop-not-us", {}).ok());
    SetReachable("us-east-1", true);
    clock_.Advance(Duration(120'000));
    ReportReady("shop", "web");
    ASSERT_TRUE(controller.ReconcileAll().ok());
    ReportReady("shop", "web");
    ASSERT_TRUE(controller.ReconcileAll().ok());
  }
}

// A copied template (a Service) is retained too: losing sight of a member for a moment must
// not delete its Service (and with it the load balancer address).
TEST_F(FailoverPlacementTest, CopiedServiceOnAnUnreachableMemberIsRetained) {
  ApplyFile("examples/three-continents/workload.yaml");
  ApplyFile("examples/dns/web-service.yaml");
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ReportReady("shop", "web-lb");
  ASSERT_EQ(Placement("shop", "web-lb")["ap-south-1"], 1);
  clock_.Advance(Duration(1000));
  SetReachable("ap-south-1", false);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web-lb").count("ap-south-1"), 0u);
  const auto retained = Workload("shop", "web-lb").status.retained;
  ASSERT_EQ(retained.size(), 1u);
  EXPECT_EQ(retained[0].cluster, "ap-south-1");
  EXPECT_EQ(retained[0].replicas, 1);
  // Back, and the delay passed: placed again, nothing retained.
  clock_.Advance(Duration(1000));
  SetReachable("ap-south-1", true);
  clock_.Advance(Duration(61'000));
  ReportReady("shop", "web-lb");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web-lb")["ap-south-1"], 1);
  EXPECT_TRUE(Workload("shop", "web-lb").status.retained.empty());
}

// A live drill's target is reachable: its replicas really move (make-before-break), nothing
// is retained.
TEST_F(FailoverPlacementTest, LiveDrillTargetRetainsNothing) {
  ApplyFile("examples/three-continents/workload.yaml");
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ReportReady("shop", "web");
  CreateDrill("east-drill", {{"region", "us-east"}}, "Running");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web")["us-east-1"], 9) << "kept until the replacements are ready";
  ReportReady("shop", "web");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("shop", "web").count("us-east-1"), 0u);
  EXPECT_TRUE(Workload("shop", "web").status.retained.empty());
}

// Workloads share a member's capacity: the older one keeps its room, the newer one overflows
// what no longer fits (and says why), whatever order the API lists them in.
TEST_F(FailoverPlacementTest, WorkloadsShareCapacityOldestFirst) {
  // eu-west-1 has room for 320 pods, eu-central-1 for 160 (SetUp).
  auto eu_west_first = [&](const std::string& name, int replicas) {
    json w = json::parse(
        R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
      "metadata": {"namespace": "default"},
      "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}},
               "placement": {"residency": {"jurisdictions": ["eu"]},
                             "distribution": {"weights": {"eu-west-1": 1}}}}})");
    w["metadata"]["name"] = name;
    w["spec"]["template"]["spec"]["replicas"] = replicas;
    Apply(w);
  };
  eu_west_first("zz-older", 300);  // listed last, created first
  clock_.Advance(Duration(1000));
  eu_west_first("aa-newer", 100);
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("default", "zz-older"), (std::map<std::string, int64_t>{{"eu-west-1", 300}}));
  std::map<std::string, int64_t> newer = Placement("default", "aa-newer");
  EXPECT_EQ(newer["eu-west-1"], 20) << "320 - 300 used by the older workload";
  EXPECT_EQ(newer["eu-central-1"], 80) << "the rest overflows, within the EU";
  bool says_why = false;
  for (const auto& p : Workload("default", "aa-newer").status.placement) {
    for (const auto& r : p.reasons)
      says_why |= r.find("300 used by other workloads") != std::string::npos;
  }
  EXPECT_TRUE(says_why);
  // Stable: another pass writes nothing.
  EXPECT_EQ(controller.ReconcileAll().value(), 0);

  // Growing the newer one never takes room from the older one: it is Degraded instead.
  {
    api::FederatedWorkload w = Workload("default", "aa-newer");
    json j = api::Encode(w);
    j["spec"]["template"]["spec"]["replicas"] = 200;
    const auto& info = Info(api::kApiVersion, "FederatedWorkload");
    ASSERT_TRUE(server_->objects().Update(info, "default", "aa-newer", j, "").ok());
  }
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_EQ(Placement("default", "zz-older")["eu-west-1"], 300);
  newer = Placement("default", "aa-newer");
  EXPECT_EQ(newer["eu-west-1"], 20);
  EXPECT_EQ(newer["eu-central-1"], 160);
  EXPECT_EQ(Workload("default", "aa-newer").status.unplaced_replicas, 20);
  for (const auto& [cluster, n] : newer) EXPECT_TRUE(cluster.rfind("eu-", 0) == 0) << cluster;

  // what-if shares capacity the same way: losing eu-central-1 leaves the newer one with the
  // 20 on eu-west-1 only.
  PlacementInputs inputs = InputsFromServer();
  std::vector<api::DrillTarget> fail = {{"", "", "eu-central-1"}};
  auto answer = WhatIf(inputs, fail, clock_.Now());
  ASSERT_TRUE(answer.ok()) << answer.status();
  bool found = false;
  for (const WhatIfWorkload& w : answer->affected) {
    if (w.name != "aa-newer") continue;
    found = true;
    EXPECT_EQ(w.unplaced_after, 180);
  }
  EXPECT_TRUE(found);
}

// What-if on the shipped example: the answer names the moved replicas and the constraint that
// blocks full placement, and nothing is written.
TEST_F(FailoverPlacementTest, WhatIfReportsBeforeAfterAndBlockingConstraints) {
  ApplyFile("examples/three-continents/workload.yaml");
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "crm", "namespace": "default"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 400}},
             "placement": {"residency": {"jurisdictions": ["eu"]}}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const std::string rv = Workload("shop", "web").metadata.resource_version;

  const PlacementInputs inputs = InputsFromServer();

  std::vector<api::DrillTarget> fail = {ParseFailureTarget("region=us-east").value()};
  WhatIfAnswer a = WhatIf(inputs, fail, clock_.Now()).value();
  ASSERT_EQ(a.affected.size(), 1u);  // crm lives in the EU: unaffected
  EXPECT_EQ(a.unaffected, 1);
  const WhatIfWorkload& web = a.affected[0];
  EXPECT_EQ(web.name, "web");
  std::map<std::string, std::pair<int64_t, int64_t>> moves;
  for (const WhatIfCluster& c : web.clusters) moves[c.cluster] = {c.before, c.after};
  EXPECT_EQ(moves["us-east-1"], std::make_pair(int64_t{9}, int64_t{0}));
  EXPECT_EQ(moves["us-west-1"], std::make_pair(int64_t{6}, int64_t{15}));
  EXPECT_EQ(web.unplaced_after, 0);
  EXPECT_TRUE(web.blocked_by.empty());

  fail = {ParseFailureTarget("zone=eu-west-1a").value(),
          ParseFailureTarget("zone=eu-west-1b").value(),
          ParseFailureTarget("cluster=eu-central-1").value(),
          ParseFailureTarget("zone=mars-1a").value()};
  a = WhatIf(inputs, fail, clock_.Now()).value();
  ASSERT_EQ(a.unmatched.size(), 1u);
  EXPECT_EQ(a.unmatched[0], "zone=mars-1a matches no member cluster");
  const WhatIfWorkload* crm = nullptr;
  for (const auto& w : a.affected) {
    if (w.name == "crm") crm = &w;
  }
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->unplaced_after, 400 - 80);
  EXPECT_TRUE(crm->blocked_bits & placement::kResidency);
  EXPECT_NE(crm->blocked_by.find("320 of 400 unplaced"), std::string::npos) << crm->blocked_by;
  for (const WhatIfCluster& c : crm->clusters) {
    EXPECT_TRUE(c.cluster == "eu-west-1" || c.cluster == "eu-central-1") << c.cluster;
  }
  EXPECT_EQ(Workload("shop", "web").metadata.resource_version, rv) << "what-if changes nothing";
}

// A copied template (a Service: no spec.replicas) wants one copy per cluster able to hold
// one: losing a region lowers the copies wanted and leaves nothing unplaced, as the
// controller reports it.
TEST_F(FailoverPlacementTest, WhatIfCopiedTemplateLosesCopiesWithoutUnplaced) {
  Apply(
      json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "web-lb", "namespace": "default"},
    "spec": {"template": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                          "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
             "placement": {}}})"));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const size_t copies = Placement("default", "web-lb").size();
  ASSERT_GE(copies, 2u);

  const PlacementInputs inputs = InputsFromServer();

  std::vector<api::DrillTarget> fail = {ParseFailureTarget("region=us-east").value()};
  WhatIfAnswer a = WhatIf(inputs, fail, clock_.Now()).value();
  ASSERT_EQ(a.affected.size(), 1u);
  const WhatIfWorkload& lb = a.affected[0];
  EXPECT_EQ(lb.desired, static_cast<int64_t>(copies) - 1);
  EXPECT_EQ(lb.unplaced_after, 0);
  EXPECT_TRUE(lb.blocked_by.empty()) << lb.blocked_by;
  for (const WhatIfCluster& c : lb.clusters) {
    EXPECT_EQ(c.after, c.cluster == "us-east-1" ? 0 : 1) << c.cluster;
  }
}

}  // namespace
}  // namespace meridian::scheduling

namespace meridian::scheduling {
namespace {

// Issue 16: placement decisions are Events on the workload (kubectl get events, fedctl
// describe): the first placement is Placed, a replica change Rescheduled with its cause.
TEST_F(PlacementControllerTest, PlacementDecisionsAreRecordedAsEvents) {
  ApplyFile("examples/three-continents/topology.yaml");
  ApplyFile("examples/three-continents/members.yaml");
  ApplyFile("examples/three-continents/workload.yaml");
  auto controller = std::make_unique<PlacementController>(server_->objects(), clock_);
  ASSERT_TRUE(controller->ReconcileAll().ok());

  json updated =
      server_->objects().Get(Info(api::kApiVersion, "FederatedWorkload"), "shop", "web").value();
  updated["spec"]["template"]["spec"]["replicas"] = 60;
  ASSERT_TRUE(server_->objects()
                  .Update(Info(api::kApiVersion, "FederatedWorkload"), "shop", "web", updated)
                  .ok());
  ASSERT_TRUE(controller->ReconcileAll().ok());
  EXPECT_EQ(controller->ReconcileAll().value(), 0) << "no change, no write, no event";
  controller.reset();  // the recorder writes what is queued

  auto events = server_->objects().List(Info("v1", "Event"), "shop",
                                        {.field_selector = "involvedObject.name=web"});
  ASSERT_TRUE(events.ok());
  std::map<std::string, std::string> by_reason;
  for (const json& e : events.value()["items"]) {
    by_reason[e["reason"].get<std::string>()] = e["message"].get<std::string>();
    EXPECT_EQ(e["source"]["component"], "placement-controller");
    EXPECT_EQ(e["count"], 1);
  }
  ASSERT_EQ(by_reason.size(), 2u) << events.value().dump();
  EXPECT_EQ(by_reason["Placed"].rfind("placed 30 replicas on 5 clusters: ", 0), 0u)
      << by_reason["Placed"];
  EXPECT_NE(by_reason["Rescheduled"].find("desired replicas 30->60"), std::string::npos)
      << by_reason["Rescheduled"];
}

}  // namespace
}  // namespace meridian::scheduling

namespace meridian::scheduling {
namespace {

// Issue 18, affinity groups through the controller: FederatedWorkloads labelled into one
// group are placed on the same members (the oldest with replicas leads), a region failure
// moves the group together, residency of one member binds the group, a conflict is said on
// every member and nothing of the group is placed, and an empty group name is refused.
class AffinityGroupPlacementTest : public FailoverPlacementTest {
 protected:
  // A FederatedWorkload in namespace shop labelled into `group` ("" for no label).
  void AddWorkload(const std::string& name, const std::string& group, const json& tmpl,
                   const json& placement = json::object()) {
    json w = {{"apiVersion", api::kApiVersion},
              {"kind", "FederatedWorkload"},
              {"metadata", {{"name", name}, {"namespace", "shop"}}},
              {"spec", {{"template", tmpl}, {"placement", placement}}}};
    if (!group.empty()) w["metadata"]["labels"] = {{api::kAffinityGroupLabel, group}};
    Apply(w);
    clock_.Advance(Duration(1000));  // creation order is priority order
  }
  static json Deployment(int replicas) {
    return {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", replicas}}}};
  }
  static json Service() {
    return {{"apiVersion", "v1"}, {"kind", "Service"}, {"spec", {{"ports", {{{"port", 80}}}}}}};
  }
  std::set<std::string> Clusters(const std::string& name) {
    std::set<std::string> out;
    for (const auto& [c, n] : Placement("shop", name)) {
      if (n > 0) out.insert(c);
    }
    return out;
  }
  const api::Condition* Affinity(const std::string& name) {
    status_ = FailoverPlacementTest::Workload("shop", name).status;
    return api::FindCondition(status_.conditions, kAffinityGroupCondition);
  }
  api::FederatedWorkloadStatus status_;
};

TEST_F(AffinityGroupPlacementTest, GroupIsPlacedOnTheLeadersMembersAndFailsOverTogether) {
  Apply(json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})"));
  const json five_three_two = {
      {"distribution", {{"weights", {{"us-east", 5}, {"eu-west", 3}, {"ap-south", 2}}}}}};
  AddWorkload("web", "checkout", Deployment(10), five_three_two);
  AddWorkload("cache", "checkout", Deployment(3));  // alone: by capacity, on all five members
  AddWorkload("web-svc", "checkout", Service());
  AddWorkload("other", "", Deployment(5));
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());

  const std::set<std::string> group = {"us-east-1", "eu-west-1", "ap-south-1"};
  EXPECT_EQ(Placement("shop", "web"), (std::map<std::string, int64_t>{
                                          {"us-east-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  EXPECT_EQ(Clusters("cache"), group);
  EXPECT_EQ(Clusters("web-svc"), group);
  EXPECT_EQ(Clusters("other").size(), 5u) << "not in the group: placed on its own";
  const api::Condition* c = Affinity("web");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "True");
  EXPECT_EQ(c->reason, "Leader");
  EXPECT_EQ(c->message,
            "leads affinity group checkout (3 workloads: shop/web, shop/cache, shop/web-svc): the "
            "group runs on ap-south-1, eu-west-1, us-east-1");
  c = Affinity("cache");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "WithGroup");
  EXPECT_NE(c->message.find("where its leader shop/web runs"), std::string::npos) << c->message;
  EXPECT_EQ(Affinity("other"), nullptr);
  // The explanation names the group for a member it keeps the cache out of.
  const std::optional<api::ClusterDecision> kept_out = api::DecisionFor(
      FailoverPlacementTest::Workload("shop", "cache").status, "us-west-1");
  ASSERT_TRUE(kept_out.has_value());
  EXPECT_EQ(kept_out->reason, "AffinityGroup") << kept_out->message;
  EXPECT_EQ(controller.ReconcileAll().value(), 0) << "idempotent";

  // us-east fails: the leader's five go to the nearest region (us-west-1), and with them the
  // cache's replica and the Service copy; what ran in us-east-1 is retained, for both.
  clock_.Advance(Duration(5000));
  SetReachable("us-east-1", false);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  const std::set<std::string> moved = {"us-west-1", "eu-west-1", "ap-south-1"};
  EXPECT_EQ(Placement("shop", "web"), (std::map<std::string, int64_t>{
                                          {"us-west-1", 5}, {"eu-west-1", 3}, {"ap-south-1", 2}}));
  EXPECT_EQ(Clusters("cache"), moved);
  EXPECT_EQ(Clusters("web-svc"), moved);
  for (const char* name : {"web", "cache"}) {
    api::FederatedWorkload w = FailoverPlacementTest::Workload("shop", name);
    ASSERT_EQ(w.status.retained.size(), 1u) << name;
    EXPECT_EQ(w.status.retained[0].cluster, "us-east-1") << name;
  }
  EXPECT_EQ(Affinity("cache")->reason, "WithGroup");
}

TEST_F(AffinityGroupPlacementTest, ResidencyOfOneMemberBindsTheGroupAndConflictsAreSaid) {
  Apply(json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})"));
  AddWorkload("api", "ledger", Deployment(4));
  AddWorkload("store", "ledger", Deployment(2), {{"residency", {{"jurisdictions", {"eu"}}}}});
  PlacementController controller(server_->objects(), clock_);
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const char* name : {"api", "store"}) {
    for (const std::string& c : Clusters(name)) {
      EXPECT_TRUE(c == "eu-west-1" || c == "eu-central-1") << name << " on " << c;
    }
    EXPECT_FALSE(Clusters(name).empty()) << name;
  }
  EXPECT_EQ(Clusters("api"), Clusters("store"));

  // A third member that may run only in North America: no member is allowed by all three.
  AddWorkload("reports", "ledger", Deployment(1),
              {{"clusterSelector", {{"matchLabels", {{"continent", "north-america"}}}}}});
  ASSERT_TRUE(controller.ReconcileAll().ok());
  for (const char* name : {"api", "store", "reports"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(Clusters(name).empty()) << "never a silent split";
    const api::Condition* c = Affinity(name);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status, "False");
    EXPECT_EQ(c->reason, "ConstraintsConflict");
    EXPECT_EQ(c->message,
              "affinity group ledger: no member cluster is allowed by every member (so none of "
              "them is placed): shop/api allows ap-south-1, eu-central-1, eu-west-1, us-east-1, "
              "us-west-1; shop/store allows eu-central-1, eu-west-1; shop/reports allows "
              "us-east-1, us-west-1");
    const api::Condition* placed = api::FindCondition(status_.conditions, "Placed");
    ASSERT_NE(placed, nullptr);
    EXPECT_EQ(placed->status, "False");
    const api::Condition* degraded = api::FindCondition(status_.conditions, "Degraded");
    ASSERT_NE(degraded, nullptr);
    EXPECT_NE(degraded->message.find("affinity group ledger"), std::string::npos)
        << degraded->message;
  }

  // reports leaves the group (label removed): the others are placed again, and reports no
  // longer carries the condition.
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json reports = server_->objects().Get(info, "shop", "reports").value();
  reports["metadata"].erase("labels");
  ASSERT_TRUE(server_->objects().Update(info, "shop", "reports", reports).ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  EXPECT_FALSE(Clusters("api").empty());
  EXPECT_EQ(Clusters("api"), Clusters("store"));
  EXPECT_FALSE(Clusters("reports").empty());
  EXPECT_EQ(Affinity("reports"), nullptr);
}

TEST_F(AffinityGroupPlacementTest, EmptyGroupNameIsRefusedAndNothingIsStored) {
  Apply(json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})"));
  const auto& info = Info(api::kApiVersion, "FederatedWorkload");
  json w = {
      {"apiVersion", api::kApiVersion},
      {"kind", "FederatedWorkload"},
      {"metadata",
       {{"name", "web"}, {"namespace", "shop"}, {"labels", {{api::kAffinityGroupLabel, ""}}}}},
      {"spec", {{"template", Deployment(2)}}}};
  auto refused = server_->objects().Create(info, "shop", w);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 422);
  EXPECT_NE(refused.error().message.find(
                "metadata.labels[federation.meridian.io/affinity-group]: must name an affinity "
                "group"),
            std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(server_->objects().Get(info, "shop", "web").ok()) << "nothing stored";
  // A native Deployment too, and an update that empties the name of a stored one.
  const auto& deployments = Info("apps/v1", "Deployment");
  json d = json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop",
                 "labels": {"federation.meridian.io/affinity-group": "checkout"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})");
  auto created = server_->objects().Create(deployments, "shop", d);
  ASSERT_TRUE(created.ok()) << created.error().message;
  json emptied = created.value();
  emptied["metadata"]["labels"][api::kAffinityGroupLabel] = "";
  auto update = server_->objects().Update(deployments, "shop", "web", emptied);
  ASSERT_FALSE(update.ok());
  EXPECT_NE(update.error().message.find("metadata.labels[federation.meridian.io/affinity-group]"),
            std::string::npos)
      << update.error().message;
  EXPECT_EQ(server_->objects()
                .Get(deployments, "shop", "web")
                .value()["metadata"]["labels"][api::kAffinityGroupLabel],
            "checkout");
}

}  // namespace
}  // namespace meridian::scheduling
