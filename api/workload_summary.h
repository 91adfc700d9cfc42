// One-line summaries of a FederatedWorkload's placement, shared by `fedctl get/describe` and
// the federation-apiserver's Table printer (what `kubectl get fw` shows), so both read alike.
// Pure functions over the stored JSON (tolerant: missing or odd fields read as nothing).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace meridian::api {

// Ready/placed replicas per region: "us-east 9/9, eu-west 6/6, ap-south 4/4", largest first
// (desired from status.placement, ready from status.clusters; a cluster missing from
// `cluster_regions` stands for itself). Retained replicas (status.retained) are their own
// figure: "us-east 15 retained", "us-west 4/6 +3 retained". "<none>" before placement.
std::string ReplicasByRegion(const nlohmann::json& workload,
                             const std::map<std::string, std::string>& cluster_regions);

// status.placement as "us-east-1=5,us-east-2=4" (the -o wide PLACEMENT column); "<none>".
std::string PlacementSummary(const nlohmann::json& workload);

}  // namespace meridian::api
