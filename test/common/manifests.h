// YAML manifests the end-to-end tests apply with fedctl: the MemberClusters of a membersim
// and a FederatedWorkload of one Deployment. Header-only, like the other test helpers, so a
// test only includes it.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace meridian::test_env {

// The membersim config of examples/topology-3-continents.yaml (`topology`, the file's text)
// with each cluster requiring its own bearer token ("token-NAME-PID", also written to
// `dir`/NAME.token for MemberCluster credentials) and pods Ready after 1 s instead of 2 s.
// `tokens` gets cluster name -> token.
inline std::string TokenedMembersimConfig(const std::string& topology,
                                          const std::filesystem::path& dir,
                                          std::map<std::string, std::string>* tokens) {
  const std::string faster =
      std::regex_replace(topology, std::regex("podReadyDelay: 2s"), "podReadyDelay: 1s");
  std::string config;
  std::istringstream lines(faster);
  for (std::string line; std::getline(lines, line);) {
    config += line + "\n";
    if (line.rfind("  - name: ", 0) == 0) {
      const std::string name = line.substr(10);
      const std::string token = "token-" + name + "-" + std::to_string(getpid());
      (*tokens)[name] = token;
      config += "    auth: {token: " + token + "}\n";
      std::ofstream(dir / (name + ".token")) << token << "\n";
    }
  }
  return config;
}

struct SimMember {
  std::string name;  // membersim's cluster name, also the MemberCluster's
  std::string region;
  std::string jurisdiction;
};

// A Topology naming the members' regions (each once, in the order first seen) and one
// MemberCluster per member, served by membersim at `sim_url` (e.g. http://127.0.0.1:PORT).
inline std::string MemberClustersYaml(const std::string& sim_url,
                                      const std::vector<SimMember>& members) {
  std::string out =
      "apiVersion: federation.meridian.io/v1alpha1\nkind: Topology\n"
      "metadata: {name: default}\nspec:\n  regions:\n";
  std::vector<std::string> regions;
  for (const SimMember& m : members) {
    bool seen = false;
    for (const std::string& r : regions) seen = seen || r == m.region;
    if (seen) continue;
    regions.push_back(m.region);
    out += "    - {name: " + m.region + ", jurisdiction: " + m.jurisdiction + "}\n";
  }
  for (const SimMember& m : members) {
    out +=
        "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
        "metadata: {name: " +
        m.name + "}\nspec:\n  server: " + sim_url + "/clusters/" + m.name +
        "\n  region: " + m.region + "\n  jurisdiction: " + m.jurisdiction + "\n";
  }
  return out;
}

// A FederatedWorkload whose template is a Deployment of one container labelled app=NAME.
struct DeploymentWorkload {
  std::string name;
  std::string ns = "shop";
  int replicas = 1;
  // The lines under spec.placement, indented by four spaces, without a final newline,
  // e.g. "    distribution:\n      weights: {us-east: 1, eu-west: 1}".
  std::string placement;
  // More fields of spec after the placement (indented by two spaces), e.g. "  dns: {...}".
  std::string more_spec;
  std::string image = "app:1";
  std::string cpu = "100m";
  std::string memory = "64Mi";
};

inline std::string WorkloadYaml(const DeploymentWorkload& w) {
  std::string out =
      "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
      "metadata: {name: " +
      w.name + ", namespace: " + w.ns +
      "}\nspec:\n  template:\n    apiVersion: apps/v1\n    kind: Deployment\n"
      "    metadata: {name: " +
      w.name + "}\n    spec:\n      replicas: " + std::to_string(w.replicas) +
      "\n      selector: {matchLabels: {app: " + w.name +
      "}}\n      template:\n        metadata: {labels: {app: " + w.name +
      "}}\n        spec:\n          containers:\n            - {name: app, image: \"" + w.image +
      "\", resources: {requests: {cpu: " + w.cpu + ", memory: " + w.memory + "}}}\n";
  if (!w.placement.empty()) out += "  placement:\n" + w.placement + "\n";
  if (!w.more_spec.empty()) out += w.more_spec + "\n";
  return out;
}

}  // namespace meridian::test_env
