#include "membersim/reconciler.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "membersim/quantity.h"
#include "test/membersim/sim_harness.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::SimHarness;

ClusterSpec TwoZones(int nodes_per_zone = 2, const char* cpu = "2", const char* mem = "4Gi") {
  ClusterSpec c;
  c.name = "eu-west-1";
  c.region = "eu-west";
  c.jurisdiction = "eu";
  for (const char* z : {"eu-west-1a", "eu-west-1b"}) {
    ZoneSpec zone;
    zone.name = z;
    zone.nodes = nodes_per_zone;
    zone.allocatable.cpu_milli = *ParseQuantityMilli(cpu);
    zone.allocatable.memory_bytes = *ParseQuantity(mem);
    c.zones.push_back(zone);
  }
  c.timings.pod_ready_delay = Duration(2000);
  c.timings.pod_eviction_delay = Duration(5000);
  ParseLoopbackRange("127.20.1.0/29", &c.lb_base, &c.lb_prefix).ok();
  return c;
}

json Deployment(const std::string& name, int replicas, const std::string& image = "nginx:1.25",
                const std::string& cpu = "100m", json strategy = json()) {
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec",
             {{"replicas", replicas},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", name}}}}},
                {"spec",
                 {{"containers",
                   json::array({{{"name", "app"},
                                 {"image", image},
                                 {"resources", {{"requests", {{"cpu", cpu}, {"memory", "64Mi"}}}}}}})}}}}}}}};
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

int CountIf(const std::vector<json>& v, const std::function<bool(const json&)>& f) {
  int n = 0;
  for (const json& x : v) n += f(x) ? 1 : 0;
  return n;
}
bool Ready(const json& pod) {
  for (const json& c : pod["status"].value("conditions", json::array())) {
    if (c["type"] == "Ready") return c["status"] == "True";
  }
  return false;
}
const json* Cond(const json& o, const std::string& type) {
  const json& conds = o["status"]["conditions"];
  for (const json& c : conds) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

json Ingress(const json& svc) {
  return svc.contains(json::json_pointer("/status/loadBalancer/ingress"))
             ? svc.at(json::json_pointer("/status/loadBalancer/ingress"))
             : json();
}

TEST(RollingMathTest, ResolveParams) {
  struct Case {
    json spec;
    int32_t surge, unavailable;
  };
  const Case cases[] = {
      {{{"replicas", 4}}, 1, 1},
      {{{"replicas", 10}}, 3, 2},  // 25% of 10: surge rounds up, unavailable down
      {{{"replicas", 1}}, 1, 0},
      {{{"replicas", 3}, {"strategy", {{"rollingUpdate", {{"maxSurge", 0}, {"maxUnavailable", 0}}}}}}, 0, 1},
      {{{"replicas", 10}, {"strategy", {{"rollingUpdate", {{"maxSurge", "50%"}, {"maxUnavailable", 2}}}}}}, 5, 2},
      {{{"replicas", 5}, {"strategy", {{"type", "Recreate"}}}}, 0, 0},
  };
  for (const Case& c : cases) {
    RollingParams p = ResolveRollingParams(c.spec);
    EXPECT_EQ(p.max_surge, c.surge) << c.spec;
    EXPECT_EQ(p.max_unavailable, c.unavailable) << c.spec;
  }
}

TEST(RollingMathTest, NewReplicaSetReplicas) {
  struct Case {
    int32_t desired, surge, all, current, want;
  };
  const Case cases[] = {
      {10, 3, 10, 0, 3},   // start of a rollout: surge worth of new pods
      {10, 3, 13, 3, 3},   // at the surge ceiling: wait
      {10, 3, 11, 3, 5},   // room for two more
      {10, 0, 10, 0, 0},   // no surge: the old side must shrink first
      {10, 3, 4, 4, 10},   // old side drained: up to desired, never above
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NewReplicaSetReplicas(c.desired, c.surge, c.all, c.current), c.want)
        << c.desired << "/" << c.surge << "/" << c.all << "/" << c.current;
  }
}

TEST(RollingMathTest, ScaleDownOld) {
  struct Case {
    const char* name;
    int32_t desired, unavailable, new_replicas, new_available;
    std::vector<OldReplicaSet> old;
    std::vector<int32_t> want;
  };
  const std::vector<Case> cases = {
      {"floor keeps minimum available", 10, 2, 3, 0, {{10, 10}}, {8}},
      {"new pods available free old ones", 10, 2, 3, 3, {{10, 10}}, {5}},
      {"unhealthy old replicas go first", 10, 1, 1, 0, {{10, 7}}, {9}},
      {"nothing to scale", 4, 1, 4, 4, {{0, 0}}, {0}},
      {"oldest first", 4, 1, 4, 4, {{1, 1}, {2, 2}}, {0, 0}},
      {"blocked by unavailable new pods", 4, 1, 2, 0, {{4, 4}}, {3}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ScaleDownOldReplicaSets(c.desired, c.unavailable, c.new_replicas, c.new_available, c.old), c.want)
        << c.name;
  }
}

TEST(RollingMathTest, RequestsAndHash) {
  json spec = {{"containers", json::array({{{"resources", {{"requests", {{"cpu", "250m"}, {"memory", "1Gi"}}}}}},
                                           {{"resources", {{"limits", {{"cpu", "1"}}}}}}})},
               {"initContainers", json::array({{{"resources", {{"requests", {{"cpu", "2"}}}}}}})}};
  PodRequests r = RequestsOf(spec);
  EXPECT_EQ(r.cpu_milli, 2000);  // max(init 2000, 250 + 1000)
  EXPECT_EQ(r.memory_bytes, int64_t{1} << 30);
  json t1 = {{"spec", {{"containers", json::array({{{"image", "a"}}})}}}};
  json t2 = {{"spec", {{"containers", json::array({{{"image", "b"}}})}}}};
  EXPECT_EQ(PodTemplateHash(t1), PodTemplateHash(t1));
  EXPECT_NE(PodTemplateHash(t1), PodTemplateHash(t2));
  EXPECT_EQ(PodTemplateHash(t1).find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos);
}

TEST(ReconcilerTest, CreatesReadyNodesWithTopologyLabels) {
  SimHarness h(TwoZones());
  h.Settle();
  auto nodes = h.List(kNodes);
  ASSERT_EQ(nodes.size(), 4u);
  std::set<std::string> zones;
  for (const json& n : nodes) {
    zones.insert(n["metadata"]["labels"]["topology.kubernetes.io/zone"]);
    EXPECT_EQ(n["metadata"]["labels"]["topology.kubernetes.io/region"], "eu-west");
    EXPECT_EQ(n["metadata"]["labels"]["meridian.io/jurisdiction"], "eu");
    EXPECT_EQ(n["status"]["allocatable"]["cpu"], "2");
    EXPECT_EQ(n["status"]["allocatable"]["memory"], "4Gi");
    ASSERT_NE(Cond(n, "Ready"), nullptr);
    EXPECT_EQ((*Cond(n, "Ready"))["status"], "True");
    EXPECT_EQ((*Cond(n, "Ready"))["reason"], "KubeletReady");
  }
  EXPECT_EQ(zones, (std::set<std::string>{"eu-west-1a", "eu-west-1b"}));
}

TEST(ReconcilerTest, DeploymentBecomesReadyAfterDelayAndSpreadsAcrossZones) {
  SimHarness h(TwoZones());
  h.Settle();
  h.Create(kDeployments, Deployment("web", 4));
  h.Settle();
  json d = h.Get(kDeployments, "default", "web");
  EXPECT_EQ(d["status"]["observedGeneration"], 1);
  EXPECT_EQ(d["status"]["replicas"], 4);
  EXPECT_EQ(d["status"]["updatedReplicas"], 4);
  EXPECT_FALSE(d["status"].contains("readyReplicas"));  // omitempty, as the Go types do
  EXPECT_EQ((*Cond(d, "Progressing"))["reason"], "ReplicaSetUpdated");
  EXPECT_EQ(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  auto pods = h.List(kPods);
  ASSERT_EQ(pods.size(), 4u);
  std::map<std::string, int> per_zone;
  for (const json& p : pods) {
    EXPECT_THAT(p["metadata"]["name"].get<std::string>(), ::testing::StartsWith("web-"));
    std::string node = p["spec"]["nodeName"];
    per_zone[node.substr(0, 10)]++;
    EXPECT_FALSE(Ready(p));
  }
  EXPECT_EQ(per_zone["eu-west-1a"], 2);
  EXPECT_EQ(per_zone["eu-west-1b"], 2);
  ASSERT_TRUE(h.wake_at().has_value());
  EXPECT_EQ(*h.wake_at(), h.clock().Now() + Duration(2000));

  h.clock().Advance(Duration(1999));
  h.Settle();
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 0);
  h.clock().Advance(Duration(1));
  h.Settle();
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 4);
  d = h.Get(kDeployments, "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 4);
  EXPECT_EQ(d["status"]["availableReplicas"], 4);
  EXPECT_FALSE(d["status"].contains("unavailableReplicas"));
  EXPECT_EQ((*Cond(d, "Available"))["status"], "True");
  EXPECT_EQ((*Cond(d, "Available"))["reason"], "MinimumReplicasAvailable");
  EXPECT_EQ((*Cond(d, "Progressing"))["reason"], "NewReplicaSetAvailable");
  EXPECT_THAT((*Cond(d, "Progressing"))["message"].get<std::string>(), HasSubstr("has successfully progressed."));
  auto rss = h.List(kReplicaSets);
  ASSERT_EQ(rss.size(), 1u);
  EXPECT_EQ(rss[0]["status"]["readyReplicas"], 4);
  EXPECT_EQ(rss[0]["metadata"]["ownerReferences"][0]["kind"], "Deployment");
  for (const json& p : h.List(kPods)) {
    EXPECT_EQ(p["status"]["phase"], "Running");
    EXPECT_TRUE(p["status"].contains("podIP"));
    EXPECT_EQ(p["status"]["containerStatuses"][0]["ready"], true);
  }
}

TEST(ReconcilerTest, ClockSteppedBackDoesNotUnreadyPods) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 2));
  h.Settle();
  h.clock().Advance(Duration(2000));
  h.Settle();
  ASSERT_EQ(CountIf(h.List(kPods), Ready), 2);
  h.clock().Set(h.clock().Now() - Duration(1500));  // the wall clock steps back
  h.Settle();
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 2);
  for (const json& p : h.List(kPods)) EXPECT_EQ(p["status"]["phase"], "Running");
  EXPECT_EQ(h.Get(kDeployments, "default", "web")["status"]["readyReplicas"], 2);
}

// A bad image (ClusterTimings::crash_loop_image): never ready, one restart per period of the
// simulator's clock since binding; other images are untouched.
TEST(ReconcilerTest, ACrashLoopingImageRestartsEveryPeriodAndNeverTurnsReady) {
  ClusterSpec c = TwoZones();
  c.timings.crash_loop_image = "example/web:crash*";
  c.timings.crash_loop_every = Duration(3000);
  SimHarness h(c);
  h.Create(kDeployments, Deployment("bad", 2, "example/web:crash-1"));
  h.Create(kDeployments, Deployment("good", 1, "example/web:2"));
  h.Settle();
  auto restarts = [&](const std::string& app) {
    std::vector<int64_t> out;
    for (const json& p : h.List(kPods)) {
      if (p["metadata"]["labels"]["app"] != app) continue;
      out.push_back(p["status"]["containerStatuses"][0]["restartCount"].get<int64_t>());
    }
    return out;
  };
  h.clock().Advance(Duration(2999));
  h.Settle();
  EXPECT_EQ(restarts("bad"), (std::vector<int64_t>{0, 0}));
  h.clock().Advance(Duration(1));
  h.Settle();
  EXPECT_EQ(restarts("bad"), (std::vector<int64_t>{1, 1}));
  h.clock().Advance(Duration(6000));
  h.Settle();
  EXPECT_EQ(restarts("bad"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(restarts("good"), (std::vector<int64_t>{0}));
  for (const json& p : h.List(kPods)) {
    if (p["metadata"]["labels"]["app"] != "bad") continue;
    const json& cs = p["status"]["containerStatuses"][0];
    EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
    EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 1);
    EXPECT_FALSE(Ready(p));
  }
  EXPECT_FALSE(h.Get(kDeployments, "default", "bad")["status"].contains("readyReplicas"));
  EXPECT_EQ(h.Get(kDeployments, "default", "good")["status"]["readyReplicas"], 1);
}

TEST(ReconcilerTest, SettledWorldWritesNothing) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 3));
  h.Run(Duration(5000));
  int before = h.writes();
  h.Settle();
  h.clock().Advance(Duration(60000));
  h.Settle();
  EXPECT_EQ(h.writes(), before);
}

TEST(ReconcilerTest, PodsThatDoNotFitStayPending) {
  struct Case {
    const char* name;
    int replicas;
    const char* cpu;
    int want_bound;
    const char* want_message;
  };
  // 4 nodes of 2 cpu each.
  const Case cases[] = {
      {"fits exactly", 8, "1", 8, ""},
      {"one too many", 9, "1", 8, "0/4 nodes are available: 4 Insufficient cpu."},
      {"too big for any node", 2, "3", 0, "4 Insufficient cpu"},
      {"fractional", 5, "1500m", 4, "Insufficient cpu"},
  };
  for (const Case& c : cases) {
    SimHarness h(TwoZones());
    h.Create(kDeployments, Deployment("web", c.replicas, "nginx", c.cpu));
    h.Run(Duration(3000));
    auto pods = h.List(kPods);
    EXPECT_EQ(static_cast<int>(pods.size()), c.replicas) << c.name;
    int bound = CountIf(pods, [](const json& p) { return p["spec"].contains("nodeName"); });
    EXPECT_EQ(bound, c.want_bound) << c.name;
    for (const json& p : pods) {
      if (p["spec"].contains("nodeName")) continue;
      EXPECT_EQ(p["status"]["phase"], "Pending") << c.name;
      const json* sched = Cond(p, "PodScheduled");
      ASSERT_NE(sched, nullptr) << c.name;
      EXPECT_EQ((*sched)["reason"], "Unschedulable") << c.name;
      EXPECT_THAT((*sched)["message"].get<std::string>(), HasSubstr(c.want_message)) << c.name;
    }
    json d = h.Get(kDeployments, "default", "web");
    EXPECT_EQ(d["status"].value("readyReplicas", 0), c.want_bound) << c.name;
  }
}

TEST(ReconcilerTest, RollingUpdateHonoursSurgeAndUnavailable) {
  struct Case {
    const char* name;
    int replicas;
    json strategy;
    int max_total, min_available;
  };
  const Case cases[] = {
      {"defaults 25%", 8, json(), 10, 6},
      {"surge only", 4, {{"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}, 5, 4},
      {"unavailable only", 4, {{"rollingUpdate", {{"maxSurge", 0}, {"maxUnavailable", 1}}}}, 4, 3},
      {"percent", 10, {{"rollingUpdate", {{"maxSurge", "50%"}, {"maxUnavailable", "20%"}}}}, 15, 8},
  };
  for (const Case& c : cases) {
    SimHarness h(TwoZones(4, "8", "16Gi"));
    h.Create(kDeployments, Deployment("web", c.replicas, "nginx:1", "100m", c.strategy));
    h.Run(Duration(3000));
    json d = h.Get(kDeployments, "default", "web");
    ASSERT_EQ(d["status"].value("availableReplicas", 0), c.replicas) << c.name;
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
    h.Update(kDeployments, d);
    // Step through the rollout, checking the bounds at every settled point.
    bool saw_mixed = false;
    for (int i = 0; i < 40; ++i) {
      h.Settle();
      auto pods = h.List(kPods);
      EXPECT_LE(static_cast<int>(pods.size()), c.max_total) << c.name << " step " << i;
      EXPECT_GE(CountIf(pods, Ready), c.min_available) << c.name << " step " << i;
      std::set<std::string> images;
      for (const json& p : pods) images.insert(p["spec"]["containers"][0]["image"]);
      saw_mixed = saw_mixed || images.size() > 1;
      h.clock().Advance(Duration(500));
    }
    EXPECT_TRUE(saw_mixed) << c.name;
    d = h.Get(kDeployments, "default", "web");
    EXPECT_EQ(d["status"]["observedGeneration"], 2) << c.name;
    EXPECT_EQ(d["status"]["updatedReplicas"], c.replicas) << c.name;
    EXPECT_EQ(d["status"]["replicas"], c.replicas) << c.name;
    EXPECT_EQ(d["status"]["availableReplicas"], c.replicas) << c.name;
    EXPECT_EQ((*Cond(d, "Progressing"))["reason"], "NewReplicaSetAvailable") << c.name;
    EXPECT_EQ(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2") << c.name;
    auto rss = h.List(kReplicaSets);
    ASSERT_EQ(rss.size(), 2u) << c.name;
    int total_spec = 0;
    for (const json& rs : rss) total_spec += rs["spec"]["replicas"].get<int>();
    EXPECT_EQ(total_spec, c.replicas) << c.name;
    for (const json& p : h.List(kPods)) EXPECT_EQ(p["spec"]["containers"][0]["image"], "nginx:2") << c.name;
  }
}

TEST(ReconcilerTest, RecreateStopsOldPodsFirst) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 3, "nginx:1", "100m", {{"type", "Recreate"}}));
  h.Run(Duration(3000));
  json d = h.Get(kDeployments, "default", "web");
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  h.Update(kDeployments, d);
  for (int i = 0; i < 20; ++i) {
    h.Settle();
    std::set<std::string> images;
    for (const json& p : h.List(kPods)) images.insert(p["spec"]["containers"][0]["image"]);
    EXPECT_LE(images.size(), 1u) << "step " << i;
    h.clock().Advance(Duration(500));
  }
  EXPECT_EQ(h.Get(kDeployments, "default", "web")["status"]["updatedReplicas"], 3);
  EXPECT_EQ(h.Get(kDeployments, "default", "web")["status"]["availableReplicas"], 3);
}

TEST(ReconcilerTest, ScaleDownRemovesPendingPodsFirst) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 10, "nginx", "1"));  // 8 fit
  h.Run(Duration(3000));
  json d = h.Get(kDeployments, "default", "web");
  d["spec"]["replicas"] = 8;
  h.Update(kDeployments, d);
  h.Run(Duration(1000));
  auto pods = h.List(kPods);
  EXPECT_EQ(pods.size(), 8u);
  EXPECT_EQ(CountIf(pods, Ready), 8);
  EXPECT_EQ(h.Get(kDeployments, "default", "web")["status"]["availableReplicas"], 8);
}

TEST(ReconcilerTest, ProgressDeadlineExceeded) {
  SimHarness h(TwoZones());
  json dep = Deployment("web", 2, "nginx", "4");  // never fits
  dep["spec"]["progressDeadlineSeconds"] = 30;
  h.Create(kDeployments, dep);
  h.Run(Duration(10000));
  EXPECT_EQ((*Cond(h.Get(kDeployments, "default", "web"), "Progressing"))["status"], "True");
  h.Run(Duration(30000));
  json d = h.Get(kDeployments, "default", "web");
  EXPECT_EQ((*Cond(d, "Progressing"))["status"], "False");
  EXPECT_EQ((*Cond(d, "Progressing"))["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ((*Cond(d, "Available"))["reason"], "MinimumReplicasUnavailable");
}

TEST(ReconcilerTest, DeletingDeploymentCollectsReplicaSetsAndPods) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 3));
  h.Run(Duration(3000));
  h.Delete(kDeployments, "default", "web");
  h.Settle();
  EXPECT_TRUE(h.List(kReplicaSets).empty());
  EXPECT_TRUE(h.List(kPods).empty());
}

TEST(ReconcilerTest, ZoneFailureMakesNodesNotReadyAndReschedules) {
  SimHarness h(TwoZones(2, "4", "8Gi"));
  h.Create(kDeployments, Deployment("web", 4, "nginx", "1"));
  h.Run(Duration(3000));
  ASSERT_EQ(CountIf(h.List(kPods), Ready), 4);

  h.faults().failed_zones["eu-west-1a"] = h.clock().Now();
  h.Settle();
  for (const json& n : h.List(kNodes)) {
    bool in_a = n["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eu-west-1a";
    EXPECT_EQ((*Cond(n, "Ready"))["status"], in_a ? "Unknown" : "True");
    EXPECT_EQ(n["spec"].contains("taints"), in_a);
  }
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 2);
  json d = h.Get(kDeployments, "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 2);
  EXPECT_EQ(d["status"]["availableReplicas"], 2);

  // After the eviction delay the pods of zone a are replaced in zone b (room for 8 cpu).
  h.Run(Duration(5000 + 2000));
  auto pods = h.List(kPods);
  ASSERT_EQ(pods.size(), 4u);
  for (const json& p : pods) EXPECT_THAT(p["spec"]["nodeName"].get<std::string>(), ::testing::StartsWith("eu-west-1b"));
  EXPECT_EQ(CountIf(pods, Ready), 4);

  h.faults().failed_zones.clear();
  h.Settle();
  for (const json& n : h.List(kNodes)) {
    EXPECT_EQ((*Cond(n, "Ready"))["status"], "True");
    EXPECT_FALSE(n["spec"].contains("taints"));
  }
}

TEST(ReconcilerTest, ZoneFailureWithoutRoomLeavesPodsPending) {
  SimHarness h(TwoZones(1, "2", "8Gi"));  // one node of 2 cpu per zone
  h.Create(kDeployments, Deployment("web", 4, "nginx", "1"));
  h.Run(Duration(3000));
  ASSERT_EQ(CountIf(h.List(kPods), Ready), 4);
  h.faults().failed_zones["eu-west-1b"] = h.clock().Now();
  h.Run(Duration(8000));
  auto pods = h.List(kPods);
  EXPECT_EQ(pods.size(), 4u);
  EXPECT_EQ(CountIf(pods, Ready), 2);
  int pending = CountIf(pods, [](const json& p) { return !p["spec"].contains("nodeName"); });
  EXPECT_EQ(pending, 2);
  // Healing brings the capacity back and the pending pods land there.
  h.faults().failed_zones.clear();
  h.Run(Duration(3000));
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 4);
}

TEST(ReconcilerTest, HealBeforeEvictionRestoresReadiness) {
  SimHarness h(TwoZones());
  h.Create(kDeployments, Deployment("web", 2));
  h.Run(Duration(3000));
  std::set<std::string> names;
  for (const json& p : h.List(kPods)) names.insert(p["metadata"]["name"]);
  h.faults().failed_zones["eu-west-1a"] = h.clock().Now();
  h.Run(Duration(1000));
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 1);
  h.faults().failed_zones.clear();
  h.Run(Duration(1000));
  EXPECT_EQ(CountIf(h.List(kPods), Ready), 2);
  std::set<std::string> after;
  for (const json& p : h.List(kPods)) after.insert(p["metadata"]["name"]);
  EXPECT_EQ(names, after);  // nothing was evicted
}

TEST(ReconcilerTest, StatefulSetOrderedReadyAndRollingUpdate) {
  SimHarness h(TwoZones());
  json sts = Deployment("db", 3);
  sts["kind"] = "StatefulSet";
  sts["spec"]["serviceName"] = "db";
  h.Create(kStatefulSets, sts);
  h.Settle();
  EXPECT_EQ(h.List(kPods).size(), 1u);  // OrderedReady: db-0 first
  EXPECT_FALSE(h.Get(kPods, "default", "db-0").is_null());
  h.Run(Duration(2000));
  EXPECT_EQ(h.List(kPods).size(), 2u);
  h.Run(Duration(4000));
  ASSERT_EQ(h.List(kPods).size(), 3u);
  json s = h.Get(kStatefulSets, "default", "db");
  EXPECT_EQ(s["status"]["readyReplicas"], 3);
  EXPECT_EQ(s["status"]["currentRevision"], s["status"]["updateRevision"]);
  std::string old_rev = s["status"]["currentRevision"];
  s["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  h.Update(kStatefulSets, s);
  h.Settle();
  EXPECT_TRUE(h.Get(kPods, "default", "db-2").is_null() ||
              h.Get(kPods, "default", "db-2")["metadata"]["labels"]["controller-revision-hash"] != old_rev);
  h.Run(Duration(10000));
  s = h.Get(kStatefulSets, "default", "db");
  EXPECT_NE(s["status"]["currentRevision"], old_rev);
  EXPECT_EQ(s["status"]["updatedReplicas"], 3);
  EXPECT_EQ(s["status"]["readyReplicas"], 3);
  EXPECT_EQ(s["status"]["observedGeneration"], 2);
  for (const json& p : h.List(kPods)) EXPECT_EQ(p["spec"]["containers"][0]["image"], "nginx:2");
  // Scale down removes the highest ordinal.
  s["spec"]["replicas"] = 2;
  h.Update(kStatefulSets, s);
  h.Run(Duration(1000));
  EXPECT_TRUE(h.Get(kPods, "default", "db-2").is_null());
  EXPECT_FALSE(h.Get(kPods, "default", "db-1").is_null());
}

TEST(ReconcilerTest, LoadBalancerAddressesComeFromTheClusterRange) {
  SimHarness h(TwoZones());  // range 127.20.1.0/29: 6 usable addresses
  for (int i = 0; i < 7; ++i) {
    h.Create(kServices, {{"apiVersion", "v1"},
                         {"kind", "Service"},
                         {"metadata", {{"name", "svc" + std::to_string(i)}, {"namespace", "default"}}},
                         {"spec", {{"type", "LoadBalancer"}, {"ports", json::array({{{"port", 80}}})}}}});
  }
  h.Create(kServices, {{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"metadata", {{"name", "internal"}, {"namespace", "default"}}},
                       {"spec", {{"type", "ClusterIP"}}}});
  h.Settle();
  std::set<std::string> ips;
  int without = 0;
  for (const json& s : h.List(kServices)) {
    json ingress = Ingress(s);
    if (s["metadata"]["name"] == "internal") {
      EXPECT_TRUE(ingress.is_null());
      continue;
    }
    if (ingress.is_null()) {
      ++without;
      continue;
    }
    std::string ip = ingress[0]["ip"];
    EXPECT_THAT(ip, ::testing::StartsWith("127.20.1."));
    ips.insert(ip);
  }
  EXPECT_EQ(ips.size(), 6u);
  EXPECT_EQ(without, 1);  // range exhausted: stays <pending>, as on a real cloud
  h.Delete(kServices, "default", "svc0");
  h.Settle();
  EXPECT_FALSE(Ingress(h.Get(kServices, "default", "svc6")).is_null());
}

}  // namespace
}  // namespace meridian::membersim
