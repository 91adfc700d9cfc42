// Seed objects (membersim/seed.h): created at start-up through the clusters' ObjectService,
// so they are stored, defaulted and simulated exactly as objects created through the API.
#include "membersim/seed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "membersim/kube_resources.h"
#include "membersim/simulator.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

SimConfig Config(const std::string& seeds) {
  auto c = ParseConfig(
      "defaults: {podReadyDelay: 1s, node: {cpu: \"4\", memory: 8Gi, pods: 50}}\n"
      "clusters:\n"
      "  - name: eu-1\n"
      "    region: eu\n"
      "    zones: [{name: eu-1a, nodes: 1}]\n"
      "    seed:\n" +
          seeds +
          "  - name: us-1\n"
          "    region: us\n"
          "    zones: [{name: us-1a, nodes: 1}]\n",
      "seed.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : SimConfig{};
}

// Registered or (PersistentVolumeClaims) generic, as a request path resolves it.
apimachinery::ResourceInfo Info(const char* group, const char* plural) {
  return *MemberClusterRegistry().Resolve(group, "v1", plural, /*namespaced=*/true);
}

json Items(Simulator& sim, const char* cluster, const char* group, const char* plural,
           const std::string& ns) {
  auto list = sim.Find(cluster)->service().List(Info(group, plural), ns, {});
  EXPECT_TRUE(list.ok());
  return list.ok() ? (*list)["items"] : json::array();
}

TEST(SeedTest, ObjectIsBuiltFromThePattern) {
  SeedSpec s;
  s.api_version = "v1";
  s.kind = "ConfigMap";
  s.name = "cm-{i}";
  s.labels = {{"app", "a-{i}"}, {"tier", "web"}};
  s.fields = {{"data", {{"k", "v"}, {"{i}", "n-{i}"}, {"list", {"x-{i}", 3}}}}};
  EXPECT_EQ(SeedObject(s, "default", 42), json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "cm-42", "namespace": "default", "labels": {"app": "a-42", "tier": "web"}},
      "data": {"k": "v", "{i}": "n-42", "list": ["x-42", 3]}})"));
  s.labels.clear();
  EXPECT_EQ(SeedObject(s, "", 0)["metadata"], json::parse(R"({"name": "cm-0"})"));
}

// Namespaces are made, names and labels expanded, defaults applied (the storage round trip
// an API create goes through), the simulation acts on seeded workloads as on created ones,
// and clusters without seeds hold none.
TEST(SeedTest, SeedsAreCreatedAtStartThroughTheApi) {
  FakeClock clock;
  Simulator sim(Config(R"(      - apiVersion: v1
        kind: PersistentVolumeClaim
        namespace: payments
        count: 300
        name: data-{i}
        labels: {app: "app-{i}"}
        fields: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1024Mi}}}}
      - apiVersion: apps/v1
        kind: Deployment
        namespace: payments
        count: 3
        name: web-{i}
        fields:
          spec:
            replicas: 1
            selector: {matchLabels: {app: "web-{i}"}}
            template:
              metadata: {labels: {app: "web-{i}"}}
              spec: {containers: [{name: web, image: nginx}]}
      - {apiVersion: v1, kind: ConfigMap, count: 2, name: "cm-{i}"}
)"),
                clock, {});
  Status started = sim.StartClusters();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(sim.seeded_objects(), 305);
  json pvcs = Items(sim, "eu-1", "", "persistentvolumeclaims", "payments");
  ASSERT_EQ(pvcs.size(), 300u);
  auto pvc =
      sim.Find("eu-1")->service().Get(Info("", "persistentvolumeclaims"), "payments", "data-299");
  ASSERT_TRUE(pvc.ok());
  EXPECT_EQ((*pvc)["metadata"]["labels"]["app"], "app-299");
  EXPECT_FALSE((*pvc)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ((*pvc)["spec"]["resources"]["requests"]["storage"],
            "1Gi");  // canonical, as stored by kube
  EXPECT_EQ(Items(sim, "eu-1", "", "configmaps", "default").size(), 2u);
  auto d = sim.Find("eu-1")->service().Get(Info("apps", "deployments"), "payments", "web-0");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["spec"]["strategy"]["type"], "RollingUpdate");  // WorkloadDefaulting
  EXPECT_EQ((*d)["spec"]["selector"]["matchLabels"]["app"], "web-0");
  EXPECT_TRUE(Items(sim, "us-1", "", "persistentvolumeclaims", "").empty());

  sim.RunUntilIdle();
  clock.Advance(Duration(1000));
  sim.RunUntilIdle();
  EXPECT_EQ(Items(sim, "eu-1", "apps", "replicasets", "payments").size(), 3u);
  auto rolled = sim.Find("eu-1")->service().Get(Info("apps", "deployments"), "payments", "web-2");
  ASSERT_TRUE(rolled.ok());
  EXPECT_EQ((*rolled)["status"].value("availableReplicas", 0), 1);
}

TEST(SeedTest, RefusedSeedsStopStartNamingTheSeed) {
  struct Case {
    const char* name;
    const char* seeds;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"wrong version",
       "      - {apiVersion: apps/v2, kind: Deployment, count: 1, name: w}\n",
       {"seeding cluster eu-1", "seed.yaml:7:9: clusters[0].seed[0].apiVersion: Deployment is served as apps/v1, not apps/v2"}},
      {"namespace on a cluster-scoped kind",
       "      - {apiVersion: v1, kind: Node, namespace: x, count: 1, name: n}\n",
       {"clusters[0].seed[0].namespace: Node is cluster-scoped"}},
      {"refused by the API",
       "      - {apiVersion: v1, kind: ConfigMap, count: 1, name: c, labels: {app: \"not ok!\"}}\n",
       {"clusters[0].seed[0]: object 0 (c): ", "not ok!"}},
      {"two seeds make one name",
       "      - {apiVersion: v1, kind: ConfigMap, count: 2, name: \"c-{i}\"}\n"
       "      - {apiVersion: v1, kind: ConfigMap, count: 1, name: c-1}\n",
       {"seed.yaml:8:9: clusters[0].seed[1]: object 0 (c-1): ", "already exists"}},
  };
  for (const Case& c : cases) {
    FakeClock clock;
    Simulator sim(Config(c.seeds), clock, {});
    Status st = sim.StartClusters();
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.name;
    for (const auto& w : c.want) EXPECT_THAT(st.message(), HasSubstr(w)) << c.name;
  }
}

}  // namespace
}  // namespace meridian::membersim
