#include "api/explanation.h"

#include <map>
#include <unordered_map>
#include <utility>

namespace meridian::api {
namespace {

using nlohmann::json;

// "<cluster>: 0; " — how the engine's sentence about a cluster holding nothing begins.
std::string NothingPrefix(std::string_view cluster) {
  return std::string(cluster) + ": 0; ";
}

// The first reason of `cluster`'s placement line ("" when it has none).
const std::string& FirstReason(const std::vector<ClusterPlacement>& placement,
                               std::string_view cluster) {
  static const std::string kNone;
  for (const ClusterPlacement& p : placement) {
    if (p.cluster == cluster) return p.reasons.empty() ? kNone : p.reasons.front();
  }
  return kNone;
}

// FirstReason of every line at once: the explanation and the placement list the same clusters
// (hundreds on a large fleet), so one lookup each instead of a scan each.
std::unordered_map<std::string_view, std::string_view> FirstReasons(
    const std::vector<ClusterPlacement>& placement) {
  std::unordered_map<std::string_view, std::string_view> out;
  out.reserve(placement.size());
  for (const ClusterPlacement& p : placement) {
    if (!p.reasons.empty()) out.try_emplace(p.cluster, p.reasons.front());
  }
  return out;
}

std::string_view Find(const std::unordered_map<std::string_view, std::string_view>& reasons,
                      std::string_view cluster) {
  auto it = reasons.find(cluster);
  return it == reasons.end() ? std::string_view() : it->second;
}

}  // namespace

PlacementExplanation GroupDecisions(std::vector<ClusterDecision> decisions,
                                    const std::vector<ClusterPlacement>& placement) {
  PlacementExplanation out;
  std::map<std::pair<std::string, std::string>, size_t> group_of;  // (reason, detail) -> index
  const auto first_reasons = FirstReasons(placement);
  size_t grouped = 0;
  for (ClusterDecision& d : decisions) {
    const std::string prefix = NothingPrefix(d.cluster);
    // Holding replicas, or a sentence that does not begin as the engine's do: its own line.
    if (d.replicas > 0 || d.message.rfind(prefix, 0) != 0) {
      if (out.clusters.size() >= PlacementExplanation::kMaxExplainedClusters) {
        ++out.omitted;
        continue;
      }
      if (d.replicas > 0 && !d.message.empty() && d.message == Find(first_reasons, d.cluster)) {
        d.message.clear();
      }
      out.clusters.push_back(std::move(d));
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

std::vector<ClusterDecision> Decisions(const FederatedWorkloadStatus& status) {
  std::vector<ClusterDecision> out = status.explanation.clusters;
  const auto first_reasons = FirstReasons(status.placement);
  for (ClusterDecision& d : out) {
    if (d.message.empty() && d.replicas > 0) d.message = Find(first_reasons, d.cluster);
  }
  for (const ClusterDecisionGroup& g : status.explanation.not_placed) {
    for (const std::string& cluster : g.clusters) {
      out.push_back({cluster, 0, g.reason, NothingPrefix(cluster) + g.message});
    }
  }
  return out;
}

std::optional<ClusterDecision> DecisionFor(const FederatedWorkloadStatus& status,
                                           std::string_view cluster) {
  for (const ClusterDecision& d : status.explanation.clusters) {
    if (d.cluster != cluster) continue;
    ClusterDecision whole = d;
    if (whole.message.empty() && whole.replicas > 0) {
      whole.message = FirstReason(status.placement, cluster);
    }
    return whole;
  }
  for (const ClusterDecisionGroup& g : status.explanation.not_placed) {
    for (const std::string& c : g.clusters) {
      if (c == cluster) return ClusterDecision{c, 0, g.reason, NothingPrefix(c) + g.message};
    }
  }
  return std::nullopt;
}

std::vector<json> DecisionsJson(const json& status) {
  std::vector<json> out;
  if (!status.is_object()) return out;
  auto ex = status.find("explanation");
  if (ex == status.end() || !ex->is_object()) return out;
  auto text = [](const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  // The first reason of a cluster's status.placement line (for a sentence left out).
  auto first_reason = [&](const std::string& cluster) {
    auto lines = status.find("placement");
    if (lines == status.end() || !lines->is_array()) return std::string();
    for (const json& line : *lines) {
      if (!line.is_object() || text(line, "cluster") != cluster) continue;
      auto reasons = line.find("reasons");
      if (reasons != line.end() && reasons->is_array() && !reasons->empty() &&
          (*reasons)[0].is_string()) {
        return (*reasons)[0].get<std::string>();
      }
    }
    return std::string();
  };
  if (auto cl = ex->find("clusters"); cl != ex->end() && cl->is_array()) {
    for (const json& c : *cl) {
      if (!c.is_object() || !c.contains("cluster") || !c["cluster"].is_string()) continue;
      json d = c;
      int64_t replicas = 0;
      if (auto r = c.find("replicas"); r != c.end() && r->is_number_integer()) {
        replicas = r->get<int64_t>();
      }
      if (text(c, "message").empty() && replicas > 0) {
        d["message"] = first_reason(c["cluster"].get<std::string>());
      }
      out.push_back(std::move(d));
    }
  }
  if (auto groups = ex->find("notPlaced"); groups != ex->end() && groups->is_array()) {
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
