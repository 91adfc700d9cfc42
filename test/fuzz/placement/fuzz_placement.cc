// libFuzzer target: policy and topology decoding, then placement over the decoded world.
//
// Input: a JSON document {"placement": <spec.placement>, "topology": <Topology spec>,
// "clusters": [{name, region, jurisdiction, labels, allocatable, reachable, healthySince,
// zones: [{name, healthy, allocatable, lastTransition}]}], "replicas": N, "current": {name: n},
// "residencyPolicies": [{name, jurisdictions}], "now": seconds}. Anything that is not such a
// document still exercises the decoders. Crashes, sanitizer reports and broken invariants
// (round trip, total exceeded, residency/max/capacity violated) abort.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "placement/engine.h"
#include "placement/policy_json.h"

namespace {

using nlohmann::json;
using namespace meridian;
using namespace meridian::placement;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_placement: invariant broken: %s\n", what);
    std::abort();
  }
}

int64_t Int(const json& j, const char* key, int64_t lo, int64_t hi, int64_t def) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return def;
  int64_t v = it->is_number_unsigned()
                  ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX))
                  : it->get<int64_t>();
  return std::clamp(v, lo, hi);
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Timestamp Seconds(int64_t s) { return Timestamp(std::chrono::seconds(s)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  json doc = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;

  // Decoders on whatever is there: the document itself and its parts.
  FieldErrors errors;
  PlacementPolicy policy = DecodePlacementPolicy(
      doc.is_object() && doc.contains("placement") ? doc["placement"] : doc, &errors);
  if (errors.empty()) {
    FieldErrors again;
    Check(DecodePlacementPolicy(EncodePlacementPolicy(policy), &again) == policy,
          "policy round trip");
    Check(again.empty(), "policy re-decode errors");
  }
  for (const FieldError& e : errors) Check(!e.message.empty(), "empty error message");
  if (!doc.is_object()) return 0;
  FieldErrors topo_errors;
  TopologySpec topology =
      DecodeTopologySpec(doc.contains("topology") ? doc["topology"] : json::object(), &topo_errors);
  if (topo_errors.empty()) {
    FieldErrors again;
    Check(DecodeTopologySpec(EncodeTopologySpec(topology), &again) == topology,
          "topology round trip");
  }
  if (!errors.empty()) return 0;

  // The world.
  std::vector<ClusterState> clusters;
  if (auto it = doc.find("clusters"); it != doc.end() && it->is_array()) {
    for (const json& cj : *it) {
      if (!cj.is_object() || clusters.size() >= 64) continue;
      ClusterState c;
      c.name = Str(cj, "name");
      c.region = Str(cj, "region");
      c.jurisdiction = Str(cj, "jurisdiction");
      if (auto l = cj.find("labels"); l != cj.end() && l->is_object()) {
        for (auto kv = l->begin(); kv != l->end(); ++kv) {
          if (kv->is_string()) c.labels[kv.key()] = kv->get<std::string>();
        }
      }
      if (cj.contains("allocatable"))
        c.allocatable_replicas = Int(cj, "allocatable", -1, INT64_MAX, 0);
      c.reachable = !cj.contains("reachable") || cj["reachable"] != false;
      if (cj.contains("healthySince"))
        c.healthy_since = Seconds(Int(cj, "healthySince", 0, 4'000'000'000, 0));
      if (auto zs = cj.find("zones"); zs != cj.end() && zs->is_array()) {
        for (const json& zj : *zs) {
          if (!zj.is_object() || c.zones.size() >= 8) continue;
          ZoneState z;
          z.name = Str(zj, "name");
          z.healthy = !zj.contains("healthy") || zj["healthy"] != false;
          if (zj.contains("allocatable"))
            z.allocatable_replicas = Int(zj, "allocatable", -1, INT64_MAX, 0);
          if (zj.contains("lastTransition")) {
            z.last_transition_time = Seconds(Int(zj, "lastTransition", 0, 4'000'000'000, 0));
          }
          c.zones.push_back(z);
        }
      }
      clusters.push_back(std::move(c));
    }
  }
  auto world = World::Build(clusters, topology);
  if (!world.ok()) return 0;
  Engine engine(*world);
  Workload w;
  w.key = Str(doc, "key");
  w.replicas = static_cast<int32_t>(Int(doc, "replicas", INT32_MIN, INT32_MAX, 0));
  w.policy = policy;
  if (auto it = doc.find("current"); it != doc.end() && it->is_object()) {
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (kv->is_number_integer()) {
        w.current.push_back({kv.key(), static_cast<int32_t>(std::clamp<int64_t>(
                                           kv->get<int64_t>(), INT32_MIN, INT32_MAX))});
      }
    }
  }
  if (auto it = doc.find("residencyPolicies"); it != doc.end() && it->is_array()) {
    for (const json& rj : *it) {
      if (!rj.is_object()) continue;
      ResidencyRule rule{Str(rj, "name"), {}};
      if (auto js = rj.find("jurisdictions"); js != rj.end() && js->is_array()) {
        for (const json& j : *js) {
          if (j.is_string()) rule.jurisdictions.push_back(j.get<std::string>());
        }
      }
      w.residency_policies.push_back(rule);
    }
  }
  const Timestamp now = Seconds(Int(doc, "now", 0, 4'000'000'000, 1'800'000'000));
  Result r = engine.Place(w, now);

  // Invariants.
  const int64_t total = std::max(0, w.replicas);
  Check(r.placed + r.unplaced == total, "placed + unplaced == total");
  Check(r.placed >= 0 && r.placed <= total, "total exceeded");
  int64_t sum = 0;
  for (const ClusterPlacement& p : r.clusters) {
    Check(p.cluster < (*world)->size(), "cluster index");
    Check(p.replicas >= 0, "negative replicas");
    sum += p.replicas;
    if (p.replicas == 0) continue;
    Check(p.replicas <= (*world)->capacity(p.cluster), "capacity exceeded");
    const std::string& jur = (*world)->jurisdiction_of(p.cluster);
    auto allowed = [&](const std::vector<std::string>& list) {
      return !jur.empty() && std::find(list.begin(), list.end(), jur) != list.end();
    };
    if (policy.residency) Check(allowed(policy.residency->jurisdictions), "residency violated");
    for (const ResidencyRule& rule : w.residency_policies)
      Check(allowed(rule.jurisdictions), "ResidencyPolicy violated");
    auto b = policy.distribution.clusters.find((*world)->cluster(p.cluster).name);
    if (b != policy.distribution.clusters.end() && b->second.max)
      Check(p.replicas <= *b->second.max, "max exceeded");
  }
  Check(sum == r.placed, "sum == placed");
  int64_t zone_sum = 0;
  for (const ZoneHint& z : r.zones) zone_sum += z.replicas;
  Check(zone_sum <= r.placed, "zone hints exceed placed");
  Check(engine.Place(w, now) == r, "deterministic");
  for (uint32_t i = 0; i < (*world)->size(); ++i)
    Check(!Explain(**world, w, r, i).empty(), "explain");
  (void)ExplainUnplaced(**world, w, r);
  return 0;
}
