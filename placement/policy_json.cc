#include "placement/policy_json.h"

#include "common/json_decoder.h"

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>

namespace meridian::placement {
namespace {

using nlohmann::json;

// The shared strict decoder (common/json_decoder.h) plus the one shape only the policy
// language has: a map of region name -> RTT.
class Decoder : public JsonDecoder {
 public:
  using JsonDecoder::JsonDecoder;

  // A map of name -> RTT in ms (>= 0).
  std::map<std::string, int32_t> RttMap(const json& j, const std::string& path) {
    std::map<std::string, int32_t> out;
    if (!j.is_object()) {
      Error(path, "must be an object of region name to milliseconds");
      return out;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string p = JoinPath(path, it.key());
      if (it.key().empty()) {
        Error(p, "region name must not be empty");
        continue;
      }
      if (auto v = Int32(it.value(), p, 0)) out[it.key()] = *v;
    }
    return out;
  }
};

void DecodeDistribution(Decoder& d, const json& j, const std::string& path, DistributionSpec* out) {
  if (!d.ExpectObject(j, path)) return;
  d.RejectUnknown(j, path, {"weights", "fromDemand", "minPerCluster", "clusters"});
  if (auto it = j.find("weights"); it != j.end() && !it->is_null()) {
    std::string p = JoinPath(path, "weights");
    if (!it->is_object()) {
      d.Error(p, "must be an object of region or cluster name to weight");
    } else {
      for (auto w = it->begin(); w != it->end(); ++w) {
        std::string wp = JoinPath(p, w.key());
        if (w.key().empty()) {
          d.Error(wp, "name must not be empty");
          continue;
        }
        if (auto v = d.Int(w.value(), wp, 0, 1'000'000'000)) out->weights[w.key()] = *v;
      }
    }
  }
  if (auto it = j.find("fromDemand"); it != j.end() && !it->is_null()) {
    if (auto v = d.Bool(*it, JoinPath(path, "fromDemand"))) out->from_demand = *v;
  }
  if (!out->weights.empty() && out->from_demand) {
    d.Error(JoinPath(path, "fromDemand"), "must not be set together with weights");
  }
  if (auto it = j.find("minPerCluster"); it != j.end() && !it->is_null()) {
    if (auto v = d.Int32(*it, JoinPath(path, "minPerCluster"), 0)) out->min_per_cluster = *v;
  }
  if (auto it = j.find("clusters"); it != j.end() && !it->is_null()) {
    std::string p = JoinPath(path, "clusters");
    if (!it->is_object()) {
      d.Error(p, "must be an object of cluster name to {min, max}");
    } else {
      for (auto c = it->begin(); c != it->end(); ++c) {
        std::string cp = JoinPath(p, c.key());
        if (c.key().empty()) {
          d.Error(cp, "name must not be empty");
          continue;
        }
        if (!c->is_object()) {
          d.Error(cp, "must be an object");
          continue;
        }
        d.RejectUnknown(*c, cp, {"min", "max"});
        ClusterBounds b;
        if (auto m = c->find("min"); m != c->end() && !m->is_null()) {
          b.min = d.Int32(*m, JoinPath(cp, "min"), 0);
        }
        if (auto m = c->find("max"); m != c->end() && !m->is_null()) {
          b.max = d.Int32(*m, JoinPath(cp, "max"), 0);
        }
        if (b.min && b.max && *b.min > *b.max) {
          d.Error(JoinPath(cp, "min"), "must be <= max (" + std::to_string(*b.max) + ")");
        }
        out->clusters[c.key()] = b;
      }
    }
  }
}

// `3` (>= 1) or `"25%"` (1% to 100%), as Kubernetes' IntOrString fields.
std::optional<ReplicasOrPercent> DecodeReplicasOrPercent(Decoder& d, const json& j,
                                                         const std::string& path) {
  const char* expected = "must be a replica count >= 1 or a percentage like \"25%\" (1% to 100%)";
  if (j.is_number_integer()) {
    if (auto v = d.Int32(j, path, 1)) return ReplicasOrPercent{*v, false};
    return std::nullopt;
  }
  if (j.is_string()) {
    const std::string text = j.get<std::string>();
    if (text.size() >= 2 && text.back() == '%' &&
        text.find_first_not_of("0123456789") == text.size() - 1 && text.size() <= 4) {
      const int32_t v = std::stoi(text.substr(0, text.size() - 1));
      if (v >= 1 && v <= 100) return ReplicasOrPercent{v, true};
    }
    d.Error(path, std::string(expected) + ", got \"" + text + "\"");
    return std::nullopt;
  }
  d.Error(path, expected);
  return std::nullopt;
}

void DecodeFailover(Decoder& d, const json& j, const std::string& path, FailoverSpec* out) {
  if (!d.ExpectObject(j, path)) return;
  if (j.contains("recoveryStepSeconds")) {
    // Gone with the rolling return: say what replaced it rather than "unknown field".
    d.Error(JoinPath(path, "recoveryStepSeconds"),
            "is no longer supported: a recovery step now lasts until its returned replicas are "
            "ready (set the step size with recoveryMaxReplicasPerStep, e.g. 3 or \"25%\")");
  }
  d.RejectUnknown(j, path,
                  {"overflow", "order", "recoveryDelaySeconds", "recoveryMaxReplicasPerStep",
                   "recoveryStepSeconds"});
  if (auto it = j.find("overflow"); it != j.end() && !it->is_null()) {
    std::string p = JoinPath(path, "overflow");
    if (auto s = d.String(*it, p, false)) {
      if (*s == "nearest") {
        out->overflow = OverflowMode::kNearest;
      } else if (*s == "ordered") {
        out->overflow = OverflowMode::kOrdered;
      } else if (*s == "none") {
        out->overflow = OverflowMode::kNone;
      } else {
        d.Error(p, "must be one of nearest, ordered, none");
      }
    }
  }
  if (auto it = j.find("order"); it != j.end() && !it->is_null()) {
    out->order = d.StringList(*it, JoinPath(path, "order"));
  }
  if (out->overflow == OverflowMode::kOrdered && out->order.empty()) {
    d.Error(JoinPath(path, "order"), "must list clusters or regions when overflow is ordered");
  }
  const int32_t kDay = 86'400;
  if (auto it = j.find("recoveryDelaySeconds"); it != j.end() && !it->is_null()) {
    if (auto v = d.Int32(*it, JoinPath(path, "recoveryDelaySeconds"), 0, 30 * kDay)) {
      out->recovery_delay_seconds = *v;
    }
  }
  if (auto it = j.find("recoveryMaxReplicasPerStep"); it != j.end() && !it->is_null()) {
    if (auto v = DecodeReplicasOrPercent(d, *it, JoinPath(path, "recoveryMaxReplicasPerStep"))) {
      out->recovery_max_replicas_per_step = *v;
    }
  }
}

json EncodeRtt(const std::map<std::string, int32_t>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

}  // namespace

const char* OverflowModeName(OverflowMode mode) {
  switch (mode) {
    case OverflowMode::kNearest:
      return "nearest";
    case OverflowMode::kOrdered:
      return "ordered";
    case OverflowMode::kNone:
      return "none";
  }
  return "nearest";
}

PlacementPolicy DecodePlacementPolicy(const nlohmann::json& j, FieldErrors* errors) {
  PlacementPolicy out;
  Decoder d(errors);
  if (!d.ExpectObject(j, "")) return out;
  d.RejectUnknown(
      j, "", {"clusterSelector", "residency", "latency", "distribution", "spread", "failover"});
  if (auto it = j.find("clusterSelector"); it != j.end() && !it->is_null()) {
    FieldErrors sel_errors;
    out.cluster_selector = apimachinery::DecodeLabelSelector(*it, &sel_errors);
    AppendWithPrefix("clusterSelector", sel_errors, errors);
  }
  if (auto it = j.find("residency"); it != j.end() && d.ExpectObject(*it, "residency")) {
    d.RejectUnknown(*it, "residency", {"jurisdictions"});
    ResidencySpec r;
    if (auto js = it->find("jurisdictions"); js != it->end() && !js->is_null()) {
      r.jurisdictions = d.StringList(*js, "residency.jurisdictions");
      if (js->is_array() && js->empty()) {
        d.Error("residency.jurisdictions", "must not be empty");
      }
    } else {
      d.Error("residency.jurisdictions", "is required");
    }
    out.residency = std::move(r);
  }
  if (auto it = j.find("latency"); it != j.end() && d.ExpectObject(*it, "latency")) {
    d.RejectUnknown(*it, "latency", {"demand", "maxRTTMs"});
    LatencySpec l;
    if (auto v = it->find("demand"); v != it->end() && !v->is_null()) {
      if (auto s = d.String(*v, "latency.demand", true)) l.demand = *s;
    } else {
      d.Error("latency.demand", "is required");
    }
    if (auto v = it->find("maxRTTMs"); v != it->end() && !v->is_null()) {
      if (auto n = d.Int32(*v, "latency.maxRTTMs", 1)) l.max_rtt_ms = *n;
    } else {
      d.Error("latency.maxRTTMs", "is required");
    }
    out.latency = std::move(l);
  }
  if (auto it = j.find("distribution"); it != j.end()) {
    DecodeDistribution(d, *it, "distribution", &out.distribution);
  }
  if (auto it = j.find("spread"); it != j.end() && d.ExpectObject(*it, "spread")) {
    d.RejectUnknown(*it, "spread", {"minRegions", "minZones"});
    if (auto v = it->find("minRegions"); v != it->end() && !v->is_null()) {
      if (auto n = d.Int32(*v, "spread.minRegions", 0)) out.spread.min_regions = *n;
    }
    if (auto v = it->find("minZones"); v != it->end() && !v->is_null()) {
      if (auto n = d.Int32(*v, "spread.minZones", 0)) out.spread.min_zones = *n;
    }
  }
  if (auto it = j.find("failover"); it != j.end()) {
    DecodeFailover(d, *it, "failover", &out.failover);
  }
  return out;
}

nlohmann::json EncodePlacementPolicy(const PlacementPolicy& p) {
  json out = json::object();
  if (p.cluster_selector) {
    out["clusterSelector"] = apimachinery::EncodeLabelSelector(*p.cluster_selector);
  }
  if (p.residency) out["residency"] = {{"jurisdictions", p.residency->jurisdictions}};
  if (p.latency) {
    out["latency"] = {{"demand", p.latency->demand}, {"maxRTTMs", p.latency->max_rtt_ms}};
  }
  const DistributionSpec& dist = p.distribution;
  json dj = json::object();
  if (!dist.weights.empty()) {
    json w = json::object();
    for (const auto& [k, v] : dist.weights) w[k] = v;
    dj["weights"] = std::move(w);
  }
  if (dist.from_demand) dj["fromDemand"] = true;
  if (dist.min_per_cluster != 0) dj["minPerCluster"] = dist.min_per_cluster;
  if (!dist.clusters.empty()) {
    json cj = json::object();
    for (const auto& [name, b] : dist.clusters) {
      json bj = json::object();
      if (b.min) bj["min"] = *b.min;
      if (b.max) bj["max"] = *b.max;
      cj[name] = std::move(bj);
    }
    dj["clusters"] = std::move(cj);
  }
  if (!dj.empty()) out["distribution"] = std::move(dj);
  json sj = json::object();
  if (p.spread.min_regions != 0) sj["minRegions"] = p.spread.min_regions;
  if (p.spread.min_zones != 0) sj["minZones"] = p.spread.min_zones;
  if (!sj.empty()) out["spread"] = std::move(sj);
  const FailoverSpec defaults;
  json fj = json::object();
  if (p.failover.overflow != defaults.overflow) {
    fj["overflow"] = OverflowModeName(p.failover.overflow);
  }
  if (!p.failover.order.empty()) fj["order"] = p.failover.order;
  if (p.failover.recovery_delay_seconds != defaults.recovery_delay_seconds) {
    fj["recoveryDelaySeconds"] = p.failover.recovery_delay_seconds;
  }
  if (const ReplicasOrPercent& step = p.failover.recovery_max_replicas_per_step;
      step != defaults.recovery_max_replicas_per_step) {
    fj["recoveryMaxReplicasPerStep"] =
        step.percent ? json(std::to_string(step.value) + "%") : json(step.value);
  }
  if (!fj.empty()) out["failover"] = std::move(fj);
  return out;
}

TopologySpec DecodeTopologySpec(const nlohmann::json& j, FieldErrors* errors) {
  TopologySpec out;
  Decoder d(errors);
  if (!d.ExpectObject(j, "")) return out;
  d.RejectUnknown(j, "", {"regions", "demandProfiles"});
  std::set<std::string> region_names;
  if (auto it = j.find("regions"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      d.Error("regions", "must be a list");
    } else {
      for (size_t i = 0; i < it->size(); ++i) {
        std::string p = "regions[" + std::to_string(i) + "]";
        const json& rj = (*it)[i];
        if (!rj.is_object()) {
          d.Error(p, "must be an object");
          continue;
        }
        d.RejectUnknown(rj, p, {"name", "jurisdiction", "zones", "rttMs"});
        RegionSpec r;
        if (auto v = rj.find("name"); v != rj.end()) {
          if (auto s = d.String(*v, JoinPath(p, "name"), true)) {
            r.name = *s;
            if (!region_names.insert(r.name).second) {
              d.Error(JoinPath(p, "name"), "duplicate region \"" + r.name + "\"");
            }
          }
        } else {
          d.Error(JoinPath(p, "name"), "is required");
        }
        if (auto v = rj.find("jurisdiction"); v != rj.end() && !v->is_null()) {
          if (auto s = d.String(*v, JoinPath(p, "jurisdiction"), false)) r.jurisdiction = *s;
        }
        if (auto v = rj.find("zones"); v != rj.end() && !v->is_null()) {
          r.zones = d.StringList(*v, JoinPath(p, "zones"));
        }
        if (auto v = rj.find("rttMs"); v != rj.end() && !v->is_null()) {
          r.rtt_ms = d.RttMap(*v, JoinPath(p, "rttMs"));
        }
        out.regions.push_back(std::move(r));
      }
    }
  }
  if (auto it = j.find("demandProfiles"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      d.Error("demandProfiles", "must be a list");
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < it->size(); ++i) {
        std::string p = "demandProfiles[" + std::to_string(i) + "]";
        const json& pj = (*it)[i];
        if (!pj.is_object()) {
          d.Error(p, "must be an object");
          continue;
        }
        d.RejectUnknown(pj, p, {"name", "sources"});
        DemandProfile prof;
        if (auto v = pj.find("name"); v != pj.end()) {
          if (auto s = d.String(*v, JoinPath(p, "name"), true)) {
            prof.name = *s;
            if (!names.insert(prof.name).second) {
              d.Error(JoinPath(p, "name"), "duplicate demand profile \"" + prof.name + "\"");
            }
          }
        } else {
          d.Error(JoinPath(p, "name"), "is required");
        }
        if (auto v = pj.find("sources"); v != pj.end() && !v->is_null()) {
          if (!v->is_array()) {
            d.Error(JoinPath(p, "sources"), "must be a list");
          } else {
            for (size_t k = 0; k < v->size(); ++k) {
              std::string sp = JoinPath(p, "sources[" + std::to_string(k) + "]");
              const json& sj = (*v)[k];
              if (!sj.is_object()) {
                d.Error(sp, "must be an object");
                continue;
              }
              d.RejectUnknown(sj, sp, {"name", "weight", "rttMs"});
              DemandSource src;
              if (auto n = sj.find("name"); n != sj.end()) {
                if (auto s = d.String(*n, JoinPath(sp, "name"), true)) src.name = *s;
              } else {
                d.Error(JoinPath(sp, "name"), "is required");
              }
              if (auto w = sj.find("weight"); w != sj.end() && !w->is_null()) {
                if (auto n = d.Int(*w, JoinPath(sp, "weight"), 0, 1'000'000'000)) {
                  src.weight = *n;
                }
              } else {
                d.Error(JoinPath(sp, "weight"), "is required");
              }
              if (auto r = sj.find("rttMs"); r != sj.end() && !r->is_null()) {
                src.rtt_ms = d.RttMap(*r, JoinPath(sp, "rttMs"));
              }
              prof.sources.push_back(std::move(src));
            }
          }
        }
        out.demand_profiles.push_back(std::move(prof));
      }
    }
  }
  return out;
}

nlohmann::json EncodeTopologySpec(const TopologySpec& t) {
  json out = json::object();
  json regions = json::array();
  for (const RegionSpec& r : t.regions) {
    json rj = {{"name", r.name}};
    if (!r.jurisdiction.empty()) rj["jurisdiction"] = r.jurisdiction;
    if (!r.zones.empty()) rj["zones"] = r.zones;
    if (!r.rtt_ms.empty()) rj["rttMs"] = EncodeRtt(r.rtt_ms);
    regions.push_back(std::move(rj));
  }
  if (!regions.empty()) out["regions"] = std::move(regions);
  json profiles = json::array();
  for (const DemandProfile& p : t.demand_profiles) {
    json sources = json::array();
    for (const DemandSource& s : p.sources) {
      json sj = {{"name", s.name}, {"weight", s.weight}};
      if (!s.rtt_ms.empty()) sj["rttMs"] = EncodeRtt(s.rtt_ms);
      sources.push_back(std::move(sj));
    }
    json pj = {{"name", p.name}};
    if (!sources.empty()) pj["sources"] = std::move(sources);
    profiles.push_back(std::move(pj));
  }
  if (!profiles.empty()) out["demandProfiles"] = std::move(profiles);
  return out;
}

namespace {
Status JoinErrors(const FieldErrors& errors) {
  std::string msg;
  for (const FieldError& e : errors) {
    if (!msg.empty()) msg += "; ";
    msg += e.ToString();
  }
  return InvalidArgumentError(msg);
}
}  // namespace

StatusOr<PlacementPolicy> ParsePlacementPolicy(const nlohmann::json& j) {
  FieldErrors errors;
  PlacementPolicy p = DecodePlacementPolicy(j, &errors);
  if (!errors.empty()) return JoinErrors(errors);
  return p;
}

StatusOr<TopologySpec> ParseTopologySpec(const nlohmann::json& j) {
  FieldErrors errors;
  TopologySpec t = DecodeTopologySpec(j, &errors);
  if (!errors.empty()) return JoinErrors(errors);
  return t;
}

}  // namespace meridian::placement
