// failover/node_capacity.h: scheduler-style room per zone, from Nodes, bound Pods and a pod
// spec. Every expected figure is computed by hand in the comment beside it.
#include "failover/node_capacity.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::failover {
namespace {

using nlohmann::json;

json Node(const std::string& name, const std::string& zone, json allocatable, bool ready = true,
          json spec = json::object(), json labels = json::object()) {
  labels[kZoneLabel] = zone;
  return {
      {"metadata", {{"name", name}, {"labels", labels}}},
      {"spec", std::move(spec)},
      {"status",
       {{"conditions", json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
        {"allocatable", std::move(allocatable)}}}};
}

json Alloc(const std::string& cpu, const std::string& memory, const std::string& pods) {
  return {{"cpu", cpu}, {"memory", memory}, {"pods", pods}};
}

json Pod(const std::string& name, const std::string& node, const std::string& cpu,
         const std::string& memory, const std::string& phase = "Running", json owner = nullptr) {
  json p = {
      {"metadata", {{"name", name}, {"namespace", "shop"}}},
      {"spec",
       {{"nodeName", node},
        {"containers",
         json::array({{{"name", "c"},
                       {"resources", {{"requests", {{"cpu", cpu}, {"memory", memory}}}}}}})}}},
      {"status", {{"phase", phase}}}};
  if (!owner.is_null()) p["metadata"]["ownerReferences"] = json::array({owner});
  return p;
}

json Spec(const std::string& cpu, const std::string& memory) {
  return {{"containers",
           json::array({{{"name", "app"},
                         {"resources", {{"requests", {{"cpu", cpu}, {"memory", memory}}}}}}})}};
}

PodRequirements Req(const json& spec) {
  StatusOr<PodRequirements> r = PodRequirementsFrom(spec);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : PodRequirements{};
}

// The case: three nodes of known allocatable in two zones, some pods bound.
TEST(EstimateZoneCapacity, ThreeNodesWithBoundPodsMatchTheHandComputedFigure) {
  const std::vector<json> nodes = {
      Node("a-1", "a", Alloc("4", "8Gi", "110")),
      Node("a-2", "a", Alloc("2", "4Gi", "110")),
      Node("b-1", "b", Alloc("3500m", "16Gi", "4")),
  };
  const std::vector<json> pods = {
      Pod("x", "a-1", "1", "1Gi"),                  // a-1 free: 3 cpu, 7Gi
      Pod("y", "a-2", "1500m", "512Mi"),            // a-2 free: 500m, 3.5Gi
      Pod("z", "b-1", "500m", "1Gi"),               // b-1 free: 3 cpu, 15Gi, 3 pods
      Pod("w", "b-1", "0", "0"),                    // b-1 free pods: 2
      Pod("done", "a-1", "4", "8Gi", "Succeeded"),  // finished: holds nothing
      Pod("pending", "", "4", "8Gi", "Pending"),    // not bound: holds nothing
  };
  // 500m / 1Gi per replica: a-1 min(3000/500=6, 7Gi/1Gi=7, 109) = 6; a-2 min(1, 3, 109) = 1;
  // b-1 min(6, 15, 2) = 2.
  const std::vector<ZoneCapacity> got =
      EstimateZoneCapacity(nodes, pods, Req(Spec("0.5", "1024Mi")), {});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (ZoneCapacity{"a", true, 2, 2, 7}));
  EXPECT_EQ(got[1], (ZoneCapacity{"b", true, 1, 1, 2}));

  // The 100m reference pod: a-1 min(30, 109) = 30, a-2 min(5, 109) = 5, b-1 min(30, 2) = 2.
  const std::vector<ZoneCapacity> ref = EstimateZoneCapacity(nodes, pods, ReferencePod(), {});
  EXPECT_EQ(ref[0].replicas, 35);
  EXPECT_EQ(ref[1].replicas, 2);

  // Several kinds at once: the same answers, in order.
  const std::vector<std::vector<ZoneCapacity>> both =
      EstimateZoneCapacities(nodes, pods, {Req(Spec("0.5", "1024Mi")), ReferencePod()}, {});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0], got);
  EXPECT_EQ(both[1], ref);

  // A fourth node in zone b raises b by what it holds: 4 cpu / 500m = 8, 8Gi / 1Gi = 8.
  std::vector<json> more = nodes;
  more.push_back(Node("b-2", "b", Alloc("4", "8Gi", "110")));
  EXPECT_EQ(EstimateZoneCapacity(more, pods, Req(Spec("0.5", "1024Mi")), {})[1].replicas, 10);
}

TEST(EstimateZoneCapacity, NodeStateDecidesWhetherANodeTakesPods) {
  const json alloc = Alloc("1", "1Gi", "10");  // 10 replicas of 100m
  const json no_schedule = {
      {"taints",
       json::array({{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}}})}};
  const json prefer = {{"taints", json::array({{{"key", "x"}, {"effect", "PreferNoSchedule"}}})}};
  const json no_execute = {{"taints", json::array({{{"key", "node.kubernetes.io/unreachable"},
                                                    {"effect", "NoExecute"}}})}};
  struct Case {
    const char* what;
    json node;
    json pod_spec;
    int64_t want;
    bool healthy;
  };
  const json plain = {
      {"containers",
       json::array({{{"name", "c"}, {"resources", {{"requests", {{"cpu", "100m"}}}}}}})}};
  json tolerates_gpu = plain;
  tolerates_gpu["tolerations"] = json::array(
      {{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "gpu"}, {"effect", "NoSchedule"}}});
  json tolerates_other_value = plain;
  tolerates_other_value["tolerations"] =
      json::array({{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "cpu"}}});
  json tolerates_all = plain;
  tolerates_all["tolerations"] = json::array({{{"operator", "Exists"}}});
  json selects_ssd = plain;
  selects_ssd["nodeSelector"] = {{"disk", "ssd"}};
  json affinity_in = plain;
  affinity_in["affinity"] = {
      {"nodeAffinity",
       {{"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           json::array(
               {{{"matchExpressions", json::array({{{"key", "disk"},
                                                    {"operator", "In"},
                                                    {"values", {"nvme", "ssd"}}}})}}})}}}}}};
  const std::vector<Case> cases = {
      {"ready", Node("n", "a", alloc), plain, 10, true},
      {"not ready", Node("n", "a", alloc, false), plain, 0, false},
      {"unschedulable (cordoned)", Node("n", "a", alloc, true, {{"unschedulable", true}}), plain, 0,
       true},
      {"NoSchedule taint", Node("n", "a", alloc, true, no_schedule), plain, 0, true},
      {"tolerated taint", Node("n", "a", alloc, true, no_schedule), tolerates_gpu, 10, true},
      {"toleration of another value", Node("n", "a", alloc, true, no_schedule),
       tolerates_other_value, 0, true},
      {"Exists tolerates everything", Node("n", "a", alloc, true, no_execute), tolerates_all, 10,
       true},
      {"NoExecute taint", Node("n", "a", alloc, true, no_execute), plain, 0, true},
      {"PreferNoSchedule never blocks", Node("n", "a", alloc, true, prefer), plain, 10, true},
      {"nodeSelector unmatched", Node("n", "a", alloc), selects_ssd, 0, true},
      {"nodeSelector matched", Node("n", "a", alloc, true, json::object(), {{"disk", "ssd"}}),
       selects_ssd, 10, true},
      {"required affinity matched", Node("n", "a", alloc, true, json::object(), {{"disk", "ssd"}}),
       affinity_in, 10, true},
      {"required affinity unmatched",
       Node("n", "a", alloc, true, json::object(), {{"disk", "hdd"}}), affinity_in, 0, true},
      {"no cpu reported", Node("n", "a", {{"pods", "10"}}), plain, 0, true},
      {"no requests: pods bound it", Node("n", "a", alloc),
       json{{"containers", json::array({{{"name", "c"}}})}}, 10, true},
  };
  for (const Case& c : cases) {
    const std::vector<ZoneCapacity> got = EstimateZoneCapacity({c.node}, {}, Req(c.pod_spec), {});
    ASSERT_EQ(got.size(), 1u) << c.what;
    EXPECT_EQ(got[0].replicas, c.want) << c.what;
    EXPECT_EQ(got[0].healthy, c.healthy) << c.what;
  }
}

TEST(EstimateZoneCapacity, DeclaredZonesFilteredPodsAndLimits) {
  const std::vector<json> nodes = {Node("a-1", "a", Alloc("1", "1Gi", "10")),
                                   Node("q-1", "q", Alloc("1", "1Gi", "10"))};
  const json owner = {{"kind", "ReplicaSet"}, {"name", "web-5d8f7c"}, {"controller", true}};
  json mine = Pod("web-5d8f7c-abcde", "a-1", "500m", "0", "Running", owner);
  mine["metadata"]["labels"] = {{"pod-template-hash", "5d8f7c"}};
  EXPECT_EQ(PodWorkloadKey(mine), "shop/Deployment/web");
  const std::vector<json> pods = {mine, Pod("other", "a-1", "200m", "0")};
  // Declared zones: "q" is not declared (ignored), "c" has no nodes (unhealthy, 0).
  const std::vector<ZoneCapacity> all =
      EstimateZoneCapacity(nodes, pods, ReferencePod(), {"a", "c"});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], (ZoneCapacity{"a", true, 1, 1, 3}));  // (1000 - 700) / 100
  EXPECT_EQ(all[1], (ZoneCapacity{"c", false, 0, 0, 0}));
  // Leaving out the Deployment's own pod: (1000 - 200) / 100 = 8.
  const std::vector<ZoneCapacity> others = EstimateZoneCapacity(
      nodes, pods, ReferencePod(), {"a"},
      [](const json& p) { return PodWorkloadKey(p) != "shop/Deployment/web"; });
  EXPECT_EQ(others[0].replicas, 8);

  // A request missing falls back to the limit; the largest init container counts.
  json spec = {{"containers",
                json::array({{{"name", "c"},
                              {"resources", {{"limits", {{"cpu", "1.0"}, {"memory", "1Gi"}}}}}},
                             {{"name", "d"}, {"resources", {{"requests", {{"cpu", 0.25}}}}}}})},
               {"initContainers",
                json::array({{{"name", "i"}, {"resources", {{"requests", {{"cpu", "2"}}}}}}})}};
  PodRequirements r = Req(spec);
  EXPECT_EQ(r.cpu_milli, 2000);
  EXPECT_EQ(r.memory_bytes, 1073741824);
  EXPECT_EQ(r.ShapeKey(), "cpu=2000m,memory=1073741824");
  EXPECT_EQ(Req(Spec("0.5", "1024Mi")).ShapeKey(), Req(Spec("500m", "1Gi")).ShapeKey())
      << "equal requests in other spellings are one shape";
}

TEST(PodRequirementsFrom, BadFieldsAreNamed) {
  StatusOr<PodRequirements> bad = PodRequirementsFrom(Spec("lots", "1Gi"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("containers[0].resources.requests.cpu"), std::string::npos)
      << bad.status();
  json spec = Spec("1", "1Gi");
  spec["nodeSelector"] = {{"zone", 3}};
  bad = PodRequirementsFrom(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nodeSelector.zone"), std::string::npos) << bad.status();
}

TEST(TemplatePodSpec, FindsThePodSpecOfEachWorkloadKind) {
  const json pod_spec = Spec("1", "1Gi");
  const json deployment = {{"kind", "Deployment"}, {"spec", {{"template", {{"spec", pod_spec}}}}}};
  const json cronjob = {
      {"kind", "CronJob"},
      {"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec}}}}}}}}}};
  const json pod = {{"kind", "Pod"}, {"spec", pod_spec}};
  const json service = {{"kind", "Service"}, {"spec", {{"ports", json::array()}}}};
  ASSERT_NE(TemplatePodSpec(deployment), nullptr);
  EXPECT_EQ(*TemplatePodSpec(deployment), pod_spec);
  EXPECT_EQ(*TemplatePodSpec(cronjob), pod_spec);
  EXPECT_EQ(*TemplatePodSpec(pod), pod_spec);
  EXPECT_EQ(TemplatePodSpec(service), nullptr);
}

}  // namespace
}  // namespace meridian::failover
