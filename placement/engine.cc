#include "placement/engine.h"

#include <algorithm>

#include "placement/internal/place_call.h"

namespace meridian::placement {

using internal::Filter;
using internal::kNone32;
using internal::Scratch;

Engine::Engine(std::shared_ptr<const World> world)
    : world_(std::move(world)), s_(std::make_unique<Scratch>()) {}
Engine::~Engine() = default;

int32_t Result::ReplicasOf(uint32_t cluster) const {
  const ClusterPlacement* p = Find(cluster);
  return p ? p->replicas : 0;
}

const ClusterPlacement* Result::Find(uint32_t cluster) const {
  auto it = std::lower_bound(clusters.begin(), clusters.end(), cluster,
                             [](const ClusterPlacement& p, uint32_t c) { return p.cluster < c; });
  if (it == clusters.end() || it->cluster != cluster) return nullptr;
  return &*it;
}

const Filter& Engine::FilterFor(const Workload& w, bool with_affinity) {
  const AffinityRestriction* affinity = with_affinity && w.affinity ? &*w.affinity : nullptr;
  const World& W = *world_;
  const PlacementPolicy& pol = w.policy;
  Scratch& s = *s_;
  const bool has_selector = pol.cluster_selector && !pol.cluster_selector->Empty();
  const bool has_residency = pol.residency.has_value() || !w.residency_policies.empty();
  // An unambiguous key: every string length-prefixed (the string form of a selector is
  // ambiguous for odd values).
  std::string key;
  auto put = [&key](std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key += v;
  };
  if (has_selector) {
    for (const auto& [k, v] : pol.cluster_selector->match_labels) {
      put(k);
      put(v);
    }
    key += '|';
    for (const apimachinery::LabelRequirement& req : pol.cluster_selector->match_expressions) {
      put(req.key);
      key += static_cast<char>('0' + static_cast<int>(req.op));
      key += std::to_string(req.values.size());
      key += '#';
      for (const std::string& v : req.values) put(v);
    }
  }
  key += '\x1f';
  if (has_residency) {
    internal::AllowedJurisdictionBits(W, w, s.jallow);
    key += 'r';
    for (uint8_t b : s.jallow) key += static_cast<char>('0' + b);
  }
  key += '\x1f';
  if (pol.latency) {
    key += std::to_string(pol.latency->max_rtt_ms);
    key += '#';
    put(pol.latency->demand);
  }
  key += '\x1f';
  if (affinity) {
    // The group's eligible set filters; its name only labels explanations (not cached here).
    key += 'a';
    for (const std::string& c : affinity->eligible) put(c);
  }
  auto it = filter_cache_.find(key);
  if (it != filter_cache_.end()) return *it->second;
  if (filter_cache_.size() >= 1024) filter_cache_.clear();

  auto f = internal::BuildFilter(
      W, w, has_residency ? std::span<const uint8_t>(s.jallow) : std::span<const uint8_t>(),
      affinity);
  return *filter_cache_.emplace(std::move(key), std::move(f)).first->second;
}

Result Engine::Place(const Workload& w, Timestamp now, std::span<const int64_t> used_by_others,
                     bool every_eligible) {
  internal::PlaceCall call(*world_, *s_, FilterFor(w, /*with_affinity=*/true), w, now,
                           used_by_others);
  call.LoadCurrent();
  call.ApplyBounds();
  call.FormWeightGroups();
  call.ComputeShares();
  call.CapShares();
  call.Overflow();
  call.BackfillRecovering();
  call.Spread();
  return call.Finish(every_eligible);
}

std::vector<uint32_t> Engine::OwnEligible(const Workload& w) {
  return FilterFor(w, /*with_affinity=*/false).cand;
}

}  // namespace meridian::placement
