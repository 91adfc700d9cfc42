#include "api/explanation.h"

#include <map>
#include <utility>

namespace meridian::api {
namespace {

using nlohmann::json;

// "<cluster>: 0; " — how the engine's sentence about a cluster holding nothing begins.
std::string NothingPrefix(std::string_view cluster) {
  return std::string(cluster) + ": 0; ";
}

}  // namespace

PlacementExplanation GroupDecisions(std::vector<ClusterDecision> decisions) {
  PlacementExplanation out;
  std::map<std::pair<std::string, std::string>, size_t> group_of;  // (reason, detail) -> index
  size_t grouped = 0;
  for (ClusterDecision& d : decisions) {
    const std::string prefix = NothingPrefix(d.cluster);
    // Holding replicas, or a sentence that does not begin as the engine's do: its own line.
    if (d.replicas > 0 || d.message.rfind(prefix, 0) != 0) {
      if (out.clusters.size() >= PlacementExplanation::kMaxExplainedClusters) {
        ++out.omitted;
      } else {
        out.clusters.push_back(std::move(d));
      }
      continue;
    }
    if (grouped >= PlacementExplanation::kMaxGroupedClusters) {
      ++out.omitted;
      continue;
    }
    std::string detail = d.message.substr(prefix.size());
    auto [it, added] = group_of.try_emplace({d.reason, detail}, out.not_placed.size());
    if (added) out.not_placed.push_back({d.reason, std::move(detail), {}});
    out.not_placed[it->second].clusters.push_back(std::move(d.cluster));
    ++grouped;
  }
  return out;
}

std::vector<ClusterDecision> Decisions(const PlacementExplanation& explanation) {
  std::vector<ClusterDecision> out = explanation.clusters;
  for (const ClusterDecisionGroup& g : explanation.not_placed) {
    for (const std::string& cluster : g.clusters) {
      out.push_back({cluster, 0, g.reason, NothingPrefix(cluster) + g.message});
    }
  }
  return out;
}

std::optional<ClusterDecision> DecisionFor(const PlacementExplanation& explanation,
                                           std::string_view cluster) {
  for (const ClusterDecision& d : explanation.clusters) {
    if (d.cluster == cluster) return d;
  }
  for (const ClusterDecisionGroup& g : explanation.not_placed) {
    for (const std::string& c : g.clusters) {
      if (c == cluster) return ClusterDecision{c, 0, g.reason, NothingPrefix(c) + g.message};
    }
  }
  return std::nullopt;
}

std::vector<json> DecisionsJson(const json& explanation) {
  std::vector<json> out;
  if (!explanation.is_object()) return out;
  auto text = [](const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (auto cl = explanation.find("clusters"); cl != explanation.end() && cl->is_array()) {
    for (const json& c : *cl) {
      if (c.is_object() && c.contains("cluster") && c["cluster"].is_string()) out.push_back(c);
    }
  }
  if (auto groups = explanation.find("notPlaced"); groups != explanation.end() && groups->is_array()) {
    for (const json& g : *groups) {
      if (!g.is_object()) continue;
      auto names = g.find("clusters");
      if (names == g.end() || !names->is_array()) continue;
      for (const json& name : *names) {
        if (!name.is_string()) continue;
        const std::string cluster = name.get<std::string>();
        out.push_back({{"cluster", cluster},
                       {"replicas", 0},
                       {"reason", text(g, "reason")},
                       {"message", NothingPrefix(cluster) + text(g, "message")}});
      }
    }
  }
  return out;
}

}  // namespace meridian::api
