// `kubectl get fw` (issue 16): the server's Table for FederatedWorkloads shows REGIONS (ready/
// placed per region, retained replicas apart) and, with -o wide, PLACEMENT per cluster — the
// same texts fedctl prints (api/workload_summary.h).
#include <gtest/gtest.h>

#include "test/common/in_process_federation.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

TEST(WorkloadTable, KubectlGetShowsRegionsAndWidePlacement) {
  test_env::InProcessFederation fed("workload-table");
  fed.ApplyFile("examples/three-continents/topology.yaml");
  fed.ApplyFile("examples/three-continents/members.yaml");
  fed.ApplyFile("examples/three-continents/workload.yaml");
  const auto& info = fed.Info("federation.meridian.io/v1alpha1", "FederatedWorkload");
  json web = fed.objects().Get(info, "shop", "web").value();
  web["status"]["placement"] = json::parse(
      R"([{"cluster": "us-west-1", "replicas": 15}, {"cluster": "eu-west-1", "replicas": 9}])");
  web["status"]["retained"] = json::parse(R"([{"cluster": "us-east-1", "replicas": 15}])");
  web["status"]["clusters"] = json::parse(R"([{"cluster": "us-west-1", "readyReplicas": 12},
      {"cluster": "eu-west-1", "readyReplicas": 9}, {"cluster": "us-east-1", "readyReplicas": 15}])");
  ASSERT_TRUE(fed.objects().Update(info, "shop", "web", web, "status").ok());

  rest::RestRequest req;
  req.method = "GET";
  req.path = "/apis/federation.meridian.io/v1alpha1/namespaces/shop/federatedworkloads";
  req.headers["accept"] = "application/json;as=Table;v=v1;g=meta.k8s.io";
  rest::RestResponse resp = fed.server().handler().Handle(req);
  ASSERT_EQ(resp.code, 200) << resp.Body();
  json table = json::parse(resp.Body());
  std::vector<std::string> columns;
  std::vector<int> priorities;
  for (const json& c : table["columnDefinitions"]) {
    columns.push_back(c["name"]);
    priorities.push_back(c["priority"]);
  }
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "READY", "DESIRED", "UNPLACED", "REGIONS",
                                               "AGE", "PLACEMENT"}));
  EXPECT_EQ(priorities.back(), 1) << "PLACEMENT is an -o wide column";
  ASSERT_EQ(table["rows"].size(), 1u);
  const json& cells = table["rows"][0]["cells"];
  ASSERT_EQ(cells.size(), columns.size());
  EXPECT_EQ(cells[0], "web");
  EXPECT_EQ(cells[4], "us-east 15 retained, us-west 12/15, eu-west 9/9");
  EXPECT_EQ(cells[6], "us-west-1=15,eu-west-1=9");

  // A member's region changes: the column follows (the cache is per store revision).
  const auto& mc = fed.Info("federation.meridian.io/v1alpha1", "MemberCluster");
  json member = fed.objects().Get(mc, "", "us-west-1").value();
  member["spec"]["region"] = "us-west-2";
  ASSERT_TRUE(fed.objects().Update(mc, "", "us-west-1", member).ok());
  resp = fed.server().handler().Handle(req);
  ASSERT_EQ(resp.code, 200) << resp.Body();
  EXPECT_EQ(json::parse(resp.Body())["rows"][0]["cells"][4],
            "us-east 15 retained, us-west-2 12/15, eu-west 9/9");
}

}  // namespace
}  // namespace meridian::apiserver
