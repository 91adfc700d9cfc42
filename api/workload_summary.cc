#include "api/workload_summary.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

namespace meridian::api {
namespace {

using nlohmann::json;

// status.<field> when it is an array, else an empty one.
const json& StatusArray(const json& workload, const char* field) {
  static const json kEmpty = json::array();
  if (!workload.is_object()) return kEmpty;
  auto status = workload.find("status");
  if (status == workload.end() || !status->is_object()) return kEmpty;
  auto it = status->find(field);
  return it != status->end() && it->is_array() ? *it : kEmpty;
}

std::string StringField(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntField(const json& o, const char* key) {
  if (!o.is_object()) return 0;
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

std::string ReplicasByRegion(const json& workload,
                             const std::map<std::string, std::string>& cluster_regions) {
  struct Count {
    int64_t ready = 0;
    int64_t desired = 0;
    int64_t retained = 0;
  };
  std::map<std::string, Count> by_region;
  auto region_of = [&](const std::string& cluster) {
    auto it = cluster_regions.find(cluster);
    return it == cluster_regions.end() ? cluster : it->second;
  };
  std::set<std::string> placed, only_retained;
  for (const json& p : StatusArray(workload, "placement")) {
    placed.insert(StringField(p, "cluster"));
    by_region[region_of(StringField(p, "cluster"))].desired += IntField(p, "replicas");
  }
  // Retained replicas (left where they run) are their own figure: counting them as ready
  // placed ones would read "15/0"; their member's ready replicas are not the placement's.
  for (const json& p : StatusArray(workload, "retained")) {
    if (placed.count(StringField(p, "cluster"))) continue;
    only_retained.insert(StringField(p, "cluster"));
    by_region[region_of(StringField(p, "cluster"))].retained += IntField(p, "replicas");
  }
  for (const json& m : StatusArray(workload, "clusters")) {
    if (only_retained.count(StringField(m, "cluster"))) continue;  // a draining one still counts
    by_region[region_of(StringField(m, "cluster"))].ready += IntField(m, "readyReplicas");
  }
  std::vector<std::pair<std::string, Count>> sorted(by_region.begin(), by_region.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.desired + a.second.retained > b.second.desired + b.second.retained;
  });
  std::string out;
  for (const auto& [region, c] : sorted) {
    if (c.desired == 0 && c.retained == 0 && c.ready == 0) continue;
    if (!out.empty()) out += ", ";
    out += region;
    if (c.desired > 0 || c.retained == 0)
      out += " " + std::to_string(c.ready) + "/" + std::to_string(c.desired);
    if (c.retained > 0) {
      out += (c.desired > 0 ? " +" : " ") + std::to_string(c.retained) + " retained";
    }
  }
  return out.empty() ? "<none>" : out;
}

std::string PlacementSummary(const json& workload) {
  std::string out;
  for (const json& p : StatusArray(workload, "placement")) {
    out += (out.empty() ? "" : ",") + StringField(p, "cluster") + "=" +
           std::to_string(IntField(p, "replicas"));
  }
  return out.empty() ? "<none>" : out;
}

}  // namespace meridian::api
