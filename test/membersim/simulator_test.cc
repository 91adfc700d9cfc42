// The simulation wired to the real API machinery (MemoryStore + ObjectService), driven with a
// FakeClock: writes go in as a client's would, the simulation answers through the same API.
#include "membersim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "membersim/kube_resources.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

SimConfig TwoClusters() {
  auto c = ParseConfig(R"(
defaults: {podReadyDelay: 2s, podEvictionDelay: 4s, node: {cpu: "2", memory: 4Gi}}
clusters:
  - name: eu-west-1
    region: eu-west
    jurisdiction: eu
    zones: [{name: eu-west-1a, nodes: 2}, {name: eu-west-1b, nodes: 2}]
  - name: eu-central-1
    region: eu-central
    jurisdiction: eu
    zones: [{name: eu-central-1a, nodes: 1}, {name: eu-central-1b, nodes: 1}]
)",
                       "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

const apimachinery::ResourceInfo& Info(const char* group, const char* plural) {
  return *MemberClusterRegistry().Find(group, "v1", plural);
}

json Deployment(int replicas, const std::string& image) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "web"}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", json::array({{{"name", "web"}, {"image", image},
                                                     {"resources", {{"requests", {{"cpu", "500m"}}}}}}})}}}}}}}};
}

class SimulatorTest : public ::testing::Test {
 protected:
  SimulatorTest() : sim_(TwoClusters(), clock_, {}) {}
  void SetUp() override {
    ASSERT_TRUE(sim_.StartClusters().ok());
    sim_.RunUntilIdle();
  }
  apimachinery::ObjectService& api(const char* cluster) { return sim_.Find(cluster)->service(); }
  json Get(const char* cluster, const char* group, const char* plural, const std::string& ns,
           const std::string& name) {
    auto r = api(cluster).Get(Info(group, plural), ns, name);
    return r.ok() ? *r : json();
  }
  void Advance(int ms) {
    clock_.Advance(Duration(ms));
    sim_.RunUntilIdle();
  }

  FakeClock clock_;
  Simulator sim_;
};

TEST_F(SimulatorTest, NodesAndNamespacesExist) {
  auto nodes = api("eu-west-1").List(Info("", "nodes"), "", {});
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ((*nodes)["items"].size(), 4u);
  EXPECT_EQ((*nodes)["kind"], "NodeList");
  auto zoned = api("eu-west-1").List(Info("", "nodes"), "", {.label_selector = "topology.kubernetes.io/zone=eu-west-1b"});
  ASSERT_TRUE(zoned.ok());
  EXPECT_EQ((*zoned)["items"].size(), 2u);
  for (const char* ns : {"default", "kube-system"}) {
    EXPECT_FALSE(Get("eu-west-1", "", "namespaces", "", ns).is_null()) << ns;
  }
  EXPECT_EQ((*api("eu-central-1").List(Info("", "nodes"), "", {}))["items"].size(), 2u);
}

TEST_F(SimulatorTest, DeploymentRollsOutThroughTheApi) {
  auto created = api("eu-west-1").Create(Info("apps", "deployments"), "default", Deployment(4, "nginx:1"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  sim_.RunUntilIdle();
  json d = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(d["metadata"]["generation"], 1);
  EXPECT_EQ(d["status"]["replicas"], 4);
  EXPECT_FALSE(d["status"].contains("readyReplicas"));
  Advance(2000);
  d = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 4);
  EXPECT_EQ(d["status"]["availableReplicas"], 4);
  EXPECT_EQ(d["status"]["observedGeneration"], 1);
  auto pods = api("eu-west-1").List(Info("", "pods"), "default", {.field_selector = "status.phase=Running"});
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ((*pods)["items"].size(), 4u);

  // A template change rolls out; the stale client update conflicts like a real server.
  json stale = d;
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  ASSERT_TRUE(api("eu-west-1").Update(Info("apps", "deployments"), "default", "web", d).ok());
  stale["spec"]["replicas"] = 1;
  auto conflict = api("eu-west-1").Update(Info("apps", "deployments"), "default", "web", stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(conflict.error().reason, "Conflict");
  for (int i = 0; i < 20; ++i) Advance(500);
  d = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(d["metadata"]["generation"], 2);
  EXPECT_EQ(d["status"]["observedGeneration"], 2);
  EXPECT_EQ(d["status"]["updatedReplicas"], 4);
  EXPECT_EQ(d["status"]["availableReplicas"], 4);
  EXPECT_EQ(d["status"]["replicas"], 4);
  auto rs = api("eu-west-1").List(Info("apps", "replicasets"), "default", {});
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ((*rs)["items"].size(), 2u);
  // The other cluster saw none of it.
  EXPECT_TRUE((*api("eu-central-1").List(Info("apps", "deployments"), "", {}))["items"].empty());
}

TEST_F(SimulatorTest, CapacityLimitsLeavePodsPending) {
  json d = Deployment(10, "nginx");  // 4 nodes x 2 cpu / 500m = 16 fit
  d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1";  // 8 fit
  ASSERT_TRUE(api("eu-west-1").Create(Info("apps", "deployments"), "default", d).ok());
  sim_.RunUntilIdle();
  Advance(2000);
  json dep = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(dep["status"]["replicas"], 10);
  EXPECT_EQ(dep["status"]["readyReplicas"], 8);
  EXPECT_EQ(dep["status"]["unavailableReplicas"], 2);
  auto pending = api("eu-west-1").List(Info("", "pods"), "default", {.field_selector = "status.phase=Pending"});
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ((*pending)["items"].size(), 2u);
  EXPECT_THAT((*pending)["items"][0]["status"]["conditions"].dump(), HasSubstr("Insufficient cpu"));
}

TEST_F(SimulatorTest, ZoneFailureAndHealThroughAdminApi) {
  ASSERT_TRUE(api("eu-west-1").Create(Info("apps", "deployments"), "default", Deployment(4, "nginx")).ok());
  sim_.RunUntilIdle();
  Advance(2000);
  AdminResponse r = HandleAdmin(sim_, "POST", "/admin/clusters/eu-west-1/zones/eu-west-1a/fail", "");
  ASSERT_EQ(r.code, 200) << r.body;
  sim_.RunUntilIdle();
  json node = Get("eu-west-1", "", "nodes", "", "eu-west-1a-node-0");
  EXPECT_THAT(node["status"]["conditions"].dump(), HasSubstr("NodeStatusUnknown"));
  json d = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 2);
  // Evicted and rescheduled into eu-west-1b after the eviction delay (room: 4 cpu for 2 cpu).
  Advance(4000);
  Advance(2000);
  d = Get("eu-west-1", "apps", "deployments", "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 4);
  auto pods = *api("eu-west-1").List(Info("", "pods"), "default", {});
  for (const json& p : pods["items"]) {
    EXPECT_THAT(p["spec"]["nodeName"].get<std::string>(), ::testing::StartsWith("eu-west-1b"));
  }
  // Failing it twice is a clear error; heal brings the nodes back.
  EXPECT_EQ(HandleAdmin(sim_, "POST", "/admin/clusters/eu-west-1/zones/eu-west-1a/fail", "").code, 409);
  EXPECT_EQ(HandleAdmin(sim_, "POST", "/admin/clusters/eu-west-1/zones/eu-west-1a/heal", "").code, 200);
  sim_.RunUntilIdle();
  node = Get("eu-west-1", "", "nodes", "", "eu-west-1a-node-0");
  EXPECT_THAT(node["status"]["conditions"].dump(), HasSubstr("KubeletReady"));
  auto log = sim_.InjectionLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].action, "fail-zone");
  EXPECT_EQ(log[0].target, "eu-west-1/eu-west-1a");
  EXPECT_EQ(log[1].action, "heal-zone");
  EXPECT_EQ(log[1].time - log[0].time, Duration(6000));
}

TEST_F(SimulatorTest, AdminApiTable) {
  struct Case {
    const char* method;
    const char* path;
    const char* body;
    int code;
    const char* want;  // substring of the body
  };
  const Case cases[] = {
      {"POST", "/admin/clusters/nope/partition", "", 404, "unknown cluster \\\"nope\\\""},
      {"POST", "/admin/clusters/eu-west-1/zones/nope/fail", "", 404, "no zone"},
      {"POST", "/admin/clusters/eu-west-1/partition", R"({"mode":"sideways"})", 400, "want hang or refuse"},
      {"POST", "/admin/clusters/eu-west-1/partition", R"({"mode":"refuse"})", 200, "ok"},
      {"GET", "/admin/status", "", 200, "\"partition\":\"refuse\""},
      {"POST", "/admin/clusters/eu-west-1/heal", "", 200, "ok"},
      {"POST", "/admin/clusters/eu-west-1/heal", "", 409, "not partitioned"},
      {"POST", "/admin/clusters/eu-west-1/latency", R"({"ms":250})", 200, "ok"},
      {"POST", "/admin/clusters/eu-west-1/latency", R"({"ms":"slow"})", 400, "latency needs"},
      {"POST", "/admin/clusters/eu-west-1/latency", "{", 400, "JSON object"},
      {"GET", "/admin/status", "", 200, "\"latencyMs\":250"},
      {"POST", "/admin/regions/mars/fail", "", 404, "unknown region"},
      {"POST", "/admin/regions/eu-central/fail", "", 200, "ok"},
      {"GET", "/admin/status", "", 200, "\"failed\":true"},
      {"POST", "/admin/regions/eu-central/heal", "", 200, "ok"},
      {"GET", "/admin/log", "", 200, "fail-region"},
      {"DELETE", "/admin/status", "", 405, "not allowed"},
      {"GET", "/admin/nothing", "", 404, "not found"},
  };
  for (const Case& c : cases) {
    AdminResponse r = HandleAdmin(sim_, c.method, c.path, c.body);
    EXPECT_EQ(r.code, c.code) << c.method << " " << c.path << " " << r.body;
    EXPECT_THAT(r.body.dump(), HasSubstr(c.want)) << c.method << " " << c.path;
  }
  EXPECT_EQ(sim_.Find("eu-central-1")->partition(), PartitionMode::kNone);
  EXPECT_TRUE(sim_.Find("eu-central-1")->faults().failed_zones.empty());
  auto log = sim_.InjectionLogJson()["injections"];
  ASSERT_EQ(log.size(), 5u);  // partition, heal, latency, fail-region, heal-region
  EXPECT_EQ(log[3]["action"], "fail-region");
  EXPECT_EQ(log[3]["detail"], "mode=hang clusters=1");
  EXPECT_EQ(log[3]["time"], FormatRfc3339(clock_.Now()));
}

TEST_F(SimulatorTest, RegionFailurePartitionsAndFailsZones) {
  std::vector<std::string> seen;
  sim_.SetPartitionListener([&](SimulatedCluster& c) { seen.push_back(c.spec().name); });
  ASSERT_TRUE(sim_.FailRegion("eu-central", PartitionMode::kRefuse).ok());
  SimulatedCluster* c = sim_.Find("eu-central-1");
  EXPECT_EQ(c->partition(), PartitionMode::kRefuse);
  EXPECT_EQ(c->faults().failed_zones.size(), 2u);
  sim_.RunUntilIdle();
  json node = Get("eu-central-1", "", "nodes", "", "eu-central-1a-node-0");
  EXPECT_THAT(node["status"]["conditions"].dump(), HasSubstr("NodeStatusUnknown"));
  EXPECT_EQ(sim_.Find("eu-west-1")->partition(), PartitionMode::kNone);
  ASSERT_TRUE(sim_.HealRegion("eu-central").ok());
  EXPECT_EQ(c->partition(), PartitionMode::kNone);
  EXPECT_EQ(seen, (std::vector<std::string>{"eu-central-1", "eu-central-1"}));
}

TEST_F(SimulatorTest, LoadBalancerServiceGetsLoopbackAddressAndClusterIP) {
  json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}}},
              {"spec", {{"type", "LoadBalancer"}, {"selector", {{"app", "web"}}}, {"ports", json::array({{{"port", 80}}})}}}};
  auto created = api("eu-west-1").Create(Info("", "services"), "default", svc);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_THAT((*created)["spec"]["clusterIP"].get<std::string>(), ::testing::StartsWith("10.96."));
  EXPECT_EQ((*created)["spec"]["ports"][0]["targetPort"], 80);
  sim_.RunUntilIdle();
  json got = Get("eu-west-1", "", "services", "default", "web");
  std::string ip = got["status"]["loadBalancer"]["ingress"][0]["ip"];
  EXPECT_EQ(ip, "127.20.1.1");  // first cluster's default range 127.20.1.0/24
  // A different cluster hands out from its own range.
  ASSERT_TRUE(api("eu-central-1").Create(Info("", "services"), "default", svc).ok());
  sim_.RunUntilIdle();
  EXPECT_EQ(Get("eu-central-1", "", "services", "default", "web")["status"]["loadBalancer"]["ingress"][0]["ip"],
            "127.20.2.1");
}

TEST_F(SimulatorTest, ArbitraryObjectsAreStoredGenerically) {
  auto info = MemberClusterRegistry().Resolve("example.meridian.io", "v1", "widgets", true);
  ASSERT_TRUE(info.has_value());
  json w = {{"apiVersion", "example.meridian.io/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w1"}}}, {"spec", {{"size", 3}}}};
  auto created = api("eu-west-1").Create(*info, "default", w);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  sim_.RunUntilIdle();
  EXPECT_EQ((*api("eu-west-1").Get(*info, "default", "w1"))["spec"]["size"], 3);
}

TEST_F(SimulatorTest, WorkloadsGetApiServerDefaults) {
  auto d = api("eu-west-1").Create(Info("apps", "deployments"), "default", Deployment(2, "nginx"));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ((*d)["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ((*d)["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
  EXPECT_EQ((*d)["spec"]["progressDeadlineSeconds"], 600);
  EXPECT_EQ((*d)["spec"]["revisionHistoryLimit"], 10);
  const json& pod = (*d)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Always");
  EXPECT_EQ(pod["containers"][0]["imagePullPolicy"], "Always");  // untagged image
  json sts = Deployment(1, "postgres:16");
  sts["kind"] = "StatefulSet";
  sts["spec"].erase("replicas");
  auto s = api("eu-west-1").Create(Info("apps", "statefulsets"), "default", sts);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)["spec"]["replicas"], 1);
  EXPECT_EQ((*s)["spec"]["updateStrategy"]["type"], "RollingUpdate");
  EXPECT_EQ((*s)["spec"]["updateStrategy"]["rollingUpdate"]["partition"], 0);
  EXPECT_EQ((*s)["spec"]["podManagementPolicy"], "OrderedReady");
  EXPECT_EQ((*s)["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
  // An update that leaves defaults out gets them again. (A real server also keeps
  // generation 1 here; ObjectService compares spec before mutating admission runs, so it
  // bumps it: reported as an apimachinery gap, not asserted.)
  json again = *d;
  again["spec"].erase("strategy");
  auto u = api("eu-west-1").Update(Info("apps", "deployments"), "default", "web", again);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ((*u)["spec"]["strategy"], (*d)["spec"]["strategy"]);
}

TEST_F(SimulatorTest, DeleteDeploymentCollectsDependants) {
  ASSERT_TRUE(api("eu-west-1").Create(Info("apps", "deployments"), "default", Deployment(3, "nginx")).ok());
  sim_.RunUntilIdle();
  Advance(2000);
  ASSERT_TRUE(api("eu-west-1").Delete(Info("apps", "deployments"), "default", "web").ok());
  sim_.RunUntilIdle();
  EXPECT_TRUE((*api("eu-west-1").List(Info("apps", "replicasets"), "", {}))["items"].empty());
  EXPECT_TRUE((*api("eu-west-1").List(Info("", "pods"), "", {}))["items"].empty());
}

// As on a real cluster: a deleted Namespace is Terminating (creates inside refused with the
// NamespaceLifecycle 403), the namespace controller deletes its contents at once and removes
// it after namespaceDeletionDelay (500 ms by default), counted on the injected clock.
TEST_F(SimulatorTest, DeletedNamespaceIsTerminatingUntilTheNamespaceControllerRemovesIt) {
  const auto& nss = Info("", "namespaces");
  ASSERT_TRUE(api("eu-west-1").Create(nss, "", {{"metadata", {{"name", "shop"}}}}).ok());
  ASSERT_TRUE(
      api("eu-west-1").Create(Info("apps", "deployments"), "shop", Deployment(2, "nginx")).ok());
  sim_.RunUntilIdle();
  Advance(2000);
  ASSERT_EQ((*api("eu-west-1").List(Info("", "pods"), "shop", {}))["items"].size(), 2u);

  auto marked = api("eu-west-1").Delete(nss, "", "shop");
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ((*marked)["status"]["phase"], "Terminating");
  EXPECT_EQ((*marked)["spec"]["finalizers"], json::array({"kubernetes"}));
  sim_.RunUntilIdle();
  json ns = Get("eu-west-1", "", "namespaces", "", "shop");
  ASSERT_TRUE(ns.is_object());
  EXPECT_EQ(ns["status"]["phase"], "Terminating");
  EXPECT_TRUE(Get("eu-west-1", "apps", "deployments", "shop", "web").is_null());
  EXPECT_TRUE((*api("eu-west-1").List(Info("apps", "replicasets"), "shop", {}))["items"].empty());
  EXPECT_TRUE((*api("eu-west-1").List(Info("", "pods"), "shop", {}))["items"].empty());
  auto refused =
      api("eu-west-1").Create(Info("", "configmaps"), "shop", {{"metadata", {{"name", "c"}}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 403);
  EXPECT_THAT(refused.error().message, HasSubstr("because it is being terminated"));
  ASSERT_EQ(refused.error().causes.size(), 1u);
  EXPECT_EQ(refused.error().causes[0].reason, "NamespaceTerminating");

  Advance(400);
  EXPECT_TRUE(Get("eu-west-1", "", "namespaces", "", "shop").is_object());
  Advance(200);
  EXPECT_TRUE(Get("eu-west-1", "", "namespaces", "", "shop").is_null());
  // Gone: the name is free again, and the other cluster never noticed.
  ASSERT_TRUE(api("eu-west-1").Create(nss, "", {{"metadata", {{"name", "shop"}}}}).ok());
  EXPECT_EQ(Get("eu-west-1", "", "namespaces", "", "shop")["status"]["phase"], "Active");
}

}  // namespace
}  // namespace meridian::membersim
