// The kubectl rows membersim prints, case by case against what kube-apiserver's printers
// print for the same objects.
#include "membersim/printers.h"

#include <gtest/gtest.h>

#include "apimachinery/table.h"
#include "membersim/kube_resources.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;

const Timestamp kNow = Timestamp(std::chrono::seconds(1'700'000'000));  // 2023-11-14T22:13:20Z
const char* kCreated = "2023-11-14T22:00:00Z";                          // 13m before kNow

json Meta(const std::string& name, json extra = json::object()) {
  json m = {{"name", name}, {"creationTimestamp", kCreated}};
  m.update(extra);
  return m;
}

TEST(PrintersTest, Nodes) {
  struct Case {
    std::string name;
    json node;
    json want;
  };
  json info = {{"kubeletVersion", "v1.32.0-membersim"},
               {"osImage", "membersim"},
               {"kernelVersion", "6.1"},
               {"containerRuntimeVersion", "membersim://1"}};
  json addresses = json::array({{{"type", "InternalIP"}, {"address", "10.0.0.1"}}});
  const std::vector<Case> cases = {
      {"ready",
       {{"metadata", Meta("n1", {{"labels", {{"topology.kubernetes.io/zone", "a"}}}})},
        {"status",
         {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}},
          {"nodeInfo", info},
          {"addresses", addresses}}}},
       {"Ready", "<none>", "13m", "v1.32.0-membersim", "10.0.0.1", "<none>", "membersim", "6.1",
        "membersim://1"}},
      {"unknown-is-notready-and-cordoned-with-roles",
       {{"metadata", Meta("n2", {{"labels",
                                  {{"node-role.kubernetes.io/control-plane", ""},
                                   {"node-role.kubernetes.io/worker", ""}}}})},
        {"spec", {{"unschedulable", true}}},
        {"status",
         {{"conditions",
           {{{"type", "Ready"}, {"status", "Unknown"}, {"reason", "NodeStatusUnknown"}}}},
          {"nodeInfo", info}}}},
       {"NotReady,SchedulingDisabled", "control-plane,worker", "13m", "v1.32.0-membersim", "<none>",
        "<none>", "membersim", "6.1", "membersim://1"}},
      {"no-conditions",
       {{"metadata", Meta("n3")}},
       {"Unknown", "<none>", "13m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
  };
  for (const Case& c : cases) EXPECT_EQ(NodeRow(c.node, kNow), c.want) << c.name;
  EXPECT_EQ(NodeColumns().size(), cases[0].want.size());
}

TEST(PrintersTest, Pods) {
  json spec = {
      {"containers",
       {{{"name", "app"}, {"image", "nginx:1"}}, {{"name", "side"}, {"image", "envoy:1"}}}},
      {"nodeName", "a-node-1"}};
  json running = {
      {"ready", true}, {"restartCount", 2}, {"state", {{"running", {{"startedAt", kCreated}}}}}};
  json creating = {{"ready", false},
                   {"restartCount", 0},
                   {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}};
  json crashed = {
      {"ready", false}, {"restartCount", 5}, {"state", {{"terminated", {{"exitCode", 137}}}}}};
  struct Case {
    std::string name;
    json pod;
    json want;
  };
  const std::vector<Case> cases = {
      {"running",
       {{"metadata", Meta("p")},
        {"spec", spec},
        {"status",
         {{"phase", "Running"}, {"podIP", "10.1.0.7"}, {"containerStatuses", {running, running}}}}},
       {"2/2", "Running", "4", "13m", "10.1.0.7", "a-node-1", "<none>", "<none>"}},
      {"creating",
       {{"metadata", Meta("p")},
        {"spec", spec},
        {"status", {{"phase", "Pending"}, {"containerStatuses", {running, creating}}}}},
       {"1/2", "ContainerCreating", "2", "13m", "<none>", "a-node-1", "<none>", "<none>"}},
      {"exit-code",
       {{"metadata", Meta("p")},
        {"spec", spec},
        {"status", {{"phase", "Running"}, {"containerStatuses", {crashed, running}}}}},
       {"1/2", "ExitCode:137", "7", "13m", "<none>", "a-node-1", "<none>", "<none>"}},
      {"unscheduled",
       {{"metadata", Meta("p")},
        {"spec", {{"containers", {{{"name", "app"}}}}}},
        {"status", {{"phase", "Pending"}}}},
       {"0/1", "Pending", "0", "13m", "<none>", "<none>", "<none>", "<none>"}},
      {"terminating",
       {{"metadata", Meta("p", {{"deletionTimestamp", kCreated}})},
        {"spec", spec},
        {"status", {{"phase", "Running"}, {"containerStatuses", {running, running}}}}},
       {"2/2", "Terminating", "4", "13m", "<none>", "a-node-1", "<none>", "<none>"}},
      {"evicted",
       {{"metadata", Meta("p")},
        {"spec", spec},
        {"status", {{"phase", "Failed"}, {"reason", "Evicted"}}}},
       {"0/2", "Evicted", "0", "13m", "<none>", "a-node-1", "<none>", "<none>"}},
  };
  for (const Case& c : cases) EXPECT_EQ(PodRow(c.pod, kNow), c.want) << c.name;
  EXPECT_EQ(PodColumns().size(), cases[0].want.size());
}

TEST(PrintersTest, Workloads) {
  json tmpl = {{"spec", {{"containers", {{{"name", "app"}, {"image", "nginx:1"}}}}}}};
  json deploy = {
      {"metadata", Meta("web")},
      {"spec",
       {{"replicas", 3}, {"selector", {{"matchLabels", {{"app", "web"}}}}}, {"template", tmpl}}},
      {"status", {{"readyReplicas", 2}, {"updatedReplicas", 3}, {"availableReplicas", 2}}}};
  EXPECT_EQ(DeploymentRow(deploy, kNow), json({"2/3", 3, 2, "13m", "app", "nginx:1", "app=web"}));
  json fresh = {{"metadata", Meta("new")}, {"spec", {{"replicas", 3}}}};  // no status yet
  EXPECT_EQ(DeploymentRow(fresh, kNow), json({"0/3", 0, 0, "13m", "", "", "<none>"}));
  json rs = deploy;
  rs["status"] = {{"replicas", 3}, {"readyReplicas", 1}};
  EXPECT_EQ(ReplicaSetRow(rs, kNow), json({3, 3, 1, "13m", "app", "nginx:1", "app=web"}));
  json sts = deploy;
  sts["spec"]["selector"] = {
      {"matchExpressions", {{{"key", "tier"}, {"operator", "In"}, {"values", {"a", "b"}}}}}};
  EXPECT_EQ(StatefulSetRow(sts, kNow), json({"2/3", "13m", "app", "nginx:1"}));
  EXPECT_EQ(DeploymentColumns().size(), 7u);
  EXPECT_EQ(ReplicaSetColumns().size(), 7u);
  EXPECT_EQ(StatefulSetColumns().size(), 4u);
}

TEST(PrintersTest, Services) {
  struct Case {
    std::string name;
    json service;
    json want;
  };
  json ports = {{{"port", 80}, {"protocol", "TCP"}}, {{"port", 53}, {"protocol", "UDP"}}};
  const std::vector<Case> cases = {
      {"cluster-ip",
       {{"metadata", Meta("s")},
        {"spec",
         {{"type", "ClusterIP"},
          {"clusterIP", "10.96.0.5"},
          {"ports", ports},
          {"selector", {{"app", "web"}}}}}},
       {"ClusterIP", "10.96.0.5", "<none>", "80/TCP,53/UDP", "13m", "app=web"}},
      {"lb-pending",
       {{"metadata", Meta("s")},
        {"spec",
         {{"type", "LoadBalancer"},
          {"clusterIP", "10.96.0.6"},
          {"ports", {{{"port", 443}, {"nodePort", 30443}}}}}}},
       {"LoadBalancer", "10.96.0.6", "<pending>", "443:30443/TCP", "13m", "<none>"}},
      {"lb-ready",
       {{"metadata", Meta("s")},
        {"spec", {{"type", "LoadBalancer"}, {"clusterIP", "10.96.0.7"}, {"ports", ports}}},
        {"status", {{"loadBalancer", {{"ingress", {{{"ip", "127.20.1.1"}}}}}}}}},
       {"LoadBalancer", "10.96.0.7", "127.20.1.1", "80/TCP,53/UDP", "13m", "<none>"}},
      {"headless",
       {{"metadata", Meta("s")}, {"spec", {{"clusterIP", "None"}}}},
       {"ClusterIP", "None", "<none>", "<none>", "13m", "<none>"}},
      {"external-name",
       {{"metadata", Meta("s")},
        {"spec", {{"type", "ExternalName"}, {"externalName", "db.example.com"}}}},
       {"ExternalName", "<none>", "db.example.com", "<none>", "13m", "<none>"}},
  };
  for (const Case& c : cases) EXPECT_EQ(ServiceRow(c.service, kNow), c.want) << c.name;
  EXPECT_EQ(ServiceColumns().size(), cases[0].want.size());
}

// The registry wires the printers in: a Table for nodes says Ready, not the condition reason.
TEST(PrintersTest, RegistryRendersTablesWithThePrinters) {
  const apimachinery::ResourceInfo* nodes = MemberClusterRegistry().Find("", "v1", "nodes");
  ASSERT_NE(nodes, nullptr);
  json node = {
      {"metadata", Meta("n1")},
      {"status",
       {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}}}}};
  json t = apimachinery::RenderTable(*nodes, {node}, json::object(), kNow);
  ASSERT_EQ(t["columnDefinitions"].size(), 10u);
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Status");
  EXPECT_EQ(t["columnDefinitions"][5]["priority"], 1);
  EXPECT_EQ(t["rows"][0]["cells"][0], "n1");
  EXPECT_EQ(t["rows"][0]["cells"][1], "Ready");
  for (const char* plural : {"pods", "services"}) {
    const apimachinery::ResourceInfo* r = MemberClusterRegistry().Find("", "v1", plural);
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(static_cast<bool>(r->row_cells)) << plural;
  }
  for (const char* plural : {"deployments", "replicasets", "statefulsets"}) {
    const apimachinery::ResourceInfo* r = MemberClusterRegistry().Find("apps", "v1", plural);
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(static_cast<bool>(r->row_cells)) << plural;
  }
}

}  // namespace
}  // namespace meridian::membersim
