// What the federation-controller-manager end-to-end tests share (on etcd,
// test/federation-apiserver/controller_manager_ha_test.cc; through the API,
// test/federation-controller-manager/controller_manager_rest_test.cc): membersim with two
// members in two regions, the federation that joins them, a workload spread 1:1 over both, and
// the replicas the members hold, read from membersim's side.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"

namespace meridian::test_env {

inline constexpr char kTwoMemberSimConfig[] = R"(defaults:
  podReadyDelay: 200ms
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
)";

// The MemberClusters of kTwoMemberSimConfig and namespace shop.
inline std::string TwoMemberFederation(const std::string& sim_url) {
  return MemberClustersYaml(sim_url,
                            {{"us-east-1", "us-east", "us"}, {"eu-west-1", "eu-west", "eu"}}) +
         "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
}

// FederatedWorkload shop/`name` with weights 1:1 over both regions.
inline std::string SpreadWorkload(const std::string& name, int replicas) {
  return WorkloadYaml({.name = name,
                       .replicas = replicas,
                       .placement = "    distribution:\n      weights: {us-east: 1, eu-west: 1}",
                       .image = "example/" + name + ":1",
                       .cpu = "10m",
                       .memory = "16Mi"});
}

// Replicas of Deployment shop/`name` per member, read from membersim (members without it
// left out).
inline std::map<std::string, int64_t> MemberReplicas(const std::string& sim_url,
                                                     const std::string& name) {
  std::map<std::string, int64_t> out;
  for (const std::string member : {"us-east-1", "eu-west-1"}) {
    nlohmann::json d = GetJson(sim_url + "/clusters/" + member +
                               "/apis/apps/v1/namespaces/shop/deployments/" + name);
    if (d.is_object() && d.contains("spec")) out[member] = d["spec"].value("replicas", 0);
  }
  return out;
}

// Whether the members hold `total` replicas of shop/`name`, in both (weights 1:1).
inline bool MembersRun(const std::string& sim_url, const std::string& name, int64_t total) {
  std::map<std::string, int64_t> per = MemberReplicas(sim_url, name);
  int64_t sum = 0;
  for (const auto& [member, n] : per) sum += n;
  return sum == total && per.size() == 2;
}

}  // namespace meridian::test_env
