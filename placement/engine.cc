#include "placement/engine.h"

#include <algorithm>
#include <chrono>

#include "placement/internal/apportion.h"

namespace meridian::placement {

using internal::ApportionItem;

namespace {

constexpr uint32_t kNone32 = 0xffffffffu;

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t h = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

int64_t ToMs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Per-candidate flags.
enum : uint8_t { kHeld = 1, kPaced = 2, kInMax = 4 };

}  // namespace

struct Engine::Scratch {
  // Per cluster.
  std::vector<int32_t> pos;        // candidate position, -1 when excluded
  std::vector<uint32_t> excluded;  // the Constraint bit that excluded it
  // Per candidate.
  std::vector<uint32_t> cand;
  std::vector<int64_t> cur, lo, hi, share, x, cap, real, over, cov, excess, own_weight;
  std::vector<uint32_t> limited;
  std::vector<int32_t> group_of;
  std::vector<uint8_t> flags;
  // Weight groups.
  struct Group {
    int64_t weight = 0;
    WeightKind kind = WeightKind::kNone;
    uint64_t tie = 0;
    uint32_t begin = 0, end = 0;  // into members
    uint32_t size = 0;
  };
  std::vector<Group> groups;
  std::vector<uint32_t> members;
  std::vector<uint32_t> fill;
  // Per region.
  std::vector<int64_t> region_weight, region_excess, region_count;
  std::vector<int32_t> region_group;
  std::vector<uint8_t> region_ok;
  std::vector<uint32_t> rb, re;
  std::vector<uint32_t> order;
  // Per zone id.
  std::vector<int32_t> zone_count;
  // Per jurisdiction.
  std::vector<uint8_t> jallow, jtmp;
  // Latency sources: regions within the bound, nearest first.
  std::vector<uint32_t> src_begin, src_regions;
  std::vector<Assignment> dummy;
  std::vector<ApportionItem> items;
  std::vector<uint32_t> item_pos;
  internal::ApportionScratch ap;
  std::vector<std::pair<uint32_t, int64_t>> outside;  // excluded clusters with replicas now
};

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

Result Engine::Place(const Workload& w, Timestamp now) {
  const World& W = *world_;
  Scratch& s = *s_;
  const PlacementPolicy& pol = w.policy;
  const uint32_t n = W.size();
  const uint32_t R = W.region_count();
  const int64_t T = std::max<int32_t>(0, w.replicas);
  const uint64_t wh = StableHash(w.key);
  const int64_t now_ms = ToMs(now);

  Result res;
  res.total = static_cast<int32_t>(T);

  // ---- 1. Filters -------------------------------------------------------------------------
  const std::vector<uint8_t>* selected = nullptr;
  if (pol.cluster_selector && !pol.cluster_selector->Empty()) {
    std::string key = pol.cluster_selector->ToString();
    auto it = selector_cache_.find(key);
    if (it == selector_cache_.end()) {
      if (selector_cache_.size() >= 4096) selector_cache_.clear();
      std::vector<uint8_t> bits(n);
      for (uint32_t i = 0; i < n; ++i) {
        bits[i] = pol.cluster_selector->Matches(W.cluster(i).labels) ? 1 : 0;
      }
      it = selector_cache_.emplace(std::move(key), std::move(bits)).first;
    }
    selected = &it->second;
  }
  const bool has_residency = pol.residency.has_value() || !w.residency_policies.empty();
  if (has_residency) {
    const int32_t J = W.jurisdiction_count();
    s.jallow.assign(J, 1);
    auto restrict_to = [&](const std::vector<std::string>& allowed) {
      s.jtmp.assign(J, 0);
      for (const std::string& j : allowed) {
        if (auto id = W.FindJurisdiction(j); id && *id != 0) s.jtmp[*id] = 1;
      }
      for (int32_t j = 0; j < J; ++j) s.jallow[j] &= s.jtmp[j];
    };
    s.jallow[0] = 0;  // a cluster with no jurisdiction never satisfies residency
    if (pol.residency) restrict_to(pol.residency->jurisdictions);
    for (const ResidencyRule& rule : w.residency_policies) restrict_to(rule.jurisdictions);
  }
  const bool has_latency = pol.latency.has_value();
  std::optional<uint32_t> profile;
  if (has_latency) {
    profile = W.FindDemandProfile(pol.latency->demand);
    s.region_ok.assign(R, 0);
    if (profile) {
      const int32_t bound = pol.latency->max_rtt_ms;
      for (uint32_t src = 0; src < W.source_count(*profile); ++src) {
        for (uint32_t r = 0; r < R; ++r) {
          if (W.source_rtt(*profile, src, r) <= bound) s.region_ok[r] = 1;
        }
      }
    }
  }

  s.pos.assign(n, -1);
  s.excluded.assign(n, 0);
  s.cand.clear();
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t ex = 0;
    if (selected && !(*selected)[i]) {
      ex = kSelector;
      ++res.excluded_by_selector;
    } else if (has_residency && !s.jallow[W.jurisdiction_id(i)]) {
      ex = kResidency;
      ++res.excluded_by_residency;
    } else if (has_latency && !s.region_ok[W.region_of(i)]) {
      ex = kLatency;
      ++res.excluded_by_latency;
    }
    if (ex) {
      s.excluded[i] = ex;
      continue;
    }
    s.pos[i] = static_cast<int32_t>(s.cand.size());
    s.cand.push_back(i);
  }
  const uint32_t m = static_cast<uint32_t>(s.cand.size());
  res.eligible = m;
  auto reset = [m](std::vector<int64_t>& v) { v.assign(m, 0); };
  reset(s.cur);
  reset(s.lo);
  reset(s.hi);
  reset(s.share);
  reset(s.x);
  reset(s.cap);
  reset(s.real);
  reset(s.over);
  reset(s.cov);
  reset(s.excess);
  s.limited.assign(m, 0);
  s.flags.assign(m, 0);
  s.group_of.assign(m, -1);
  s.rb.assign(R, kNone32);
  s.re.assign(R, 0);
  for (uint32_t k = 0; k < m; ++k) {
    uint32_t r = W.region_of(s.cand[k]);
    if (s.rb[r] == kNone32) s.rb[r] = k;
    s.re[r] = k + 1;
  }
  auto tie_of = [&](uint32_t k) { return Mix(W.hash(s.cand[k]), wh); };

  s.outside.clear();
  for (const Assignment& a : w.current) {
    if (a.replicas <= 0) continue;
    auto idx = W.FindCluster(a.cluster);
    if (!idx) continue;
    if (s.pos[*idx] >= 0) {
      s.cur[s.pos[*idx]] += a.replicas;
    } else {
      s.outside.emplace_back(*idx, a.replicas);
    }
  }

  for (uint32_t k = 0; k < m; ++k) {
    s.lo[k] = pol.distribution.min_per_cluster;
    s.hi[k] = T;
  }
  for (const auto& [name, b] : pol.distribution.clusters) {
    auto idx = W.FindCluster(name);
    if (!idx || s.pos[*idx] < 0) continue;
    uint32_t k = s.pos[*idx];
    if (b.min) s.lo[k] = *b.min;
    if (b.max) {
      s.lo[k] = std::min<int64_t>(s.lo[k], *b.max);
      s.hi[k] = std::min<int64_t>(T, *b.max);
      s.flags[k] |= kInMax;
    }
  }
  int64_t sum_lo = 0;  // the minimums, each capped by its max (not yet by the total)
  for (uint32_t k = 0; k < m; ++k) {
    sum_lo += s.lo[k];
    s.lo[k] = std::min(s.lo[k], s.hi[k]);
  }

  // ---- 2. Weight groups -------------------------------------------------------------------
  s.groups.clear();
  auto new_group = [&](int64_t weight, WeightKind kind, uint64_t tie) {
    s.groups.push_back({weight, weight > 0 ? kind : WeightKind::kNone, tie, 0, 0, 0});
    return static_cast<int32_t>(s.groups.size() - 1);
  };
  auto singletons = [&](WeightKind kind, bool by_capacity) {
    s.groups.clear();
    for (uint32_t k = 0; k < m; ++k) {
      int64_t wt = by_capacity ? W.nominal_capacity(s.cand[k]) : 1;
      s.group_of[k] = new_group(wt, kind, tie_of(k));
    }
  };
  const DistributionSpec& dist = pol.distribution;
  if (!dist.weights.empty()) {
    s.region_weight.assign(R, -1);
    s.own_weight.assign(m, -1);
    for (const auto& [name, wt] : dist.weights) {
      if (auto idx = W.FindCluster(name)) {
        if (s.pos[*idx] >= 0) s.own_weight[s.pos[*idx]] = wt;
      } else if (auto r = W.FindRegion(name)) {
        s.region_weight[*r] = wt;
      }
    }
    s.region_group.assign(R, -1);
    for (uint32_t k = 0; k < m; ++k) {
      uint32_t r = W.region_of(s.cand[k]);
      if (s.own_weight[k] >= 0) {
        s.group_of[k] = new_group(s.own_weight[k], WeightKind::kCluster, tie_of(k));
      } else if (s.region_weight[r] >= 0) {
        if (s.region_group[r] < 0) {
          s.region_group[r] =
              new_group(s.region_weight[r], WeightKind::kRegion, Mix(W.region_hash(r), wh));
        }
        s.group_of[k] = s.region_group[r];
      } else {
        s.group_of[k] = new_group(0, WeightKind::kNone, tie_of(k));
      }
    }
  } else if (dist.from_demand) {
    std::optional<uint32_t> prof = profile;
    if (!has_latency && W.topology().demand_profiles.size() == 1) prof = 0;
    s.region_weight.assign(R, 0);
    if (prof) {
      for (uint32_t src = 0; src < W.source_count(*prof); ++src) {
        uint32_t best = kNone32;
        int32_t best_rtt = kUnknownRtt;
        for (uint32_t r = 0; r < R; ++r) {
          if (s.rb[r] == kNone32) continue;
          int32_t rtt = W.source_rtt(*prof, src, r);
          if (rtt >= kUnknownRtt) continue;
          if (has_latency && rtt > pol.latency->max_rtt_ms) continue;
          if (best == kNone32 || rtt < best_rtt ||
              (rtt == best_rtt && W.region_hash(r) < W.region_hash(best))) {
            best = r;
            best_rtt = rtt;
          }
        }
        if (best != kNone32) s.region_weight[best] += W.source_weight(*prof, src);
      }
    }
    s.region_group.assign(R, -1);
    for (uint32_t k = 0; k < m; ++k) {
      uint32_t r = W.region_of(s.cand[k]);
      if (s.region_group[r] < 0) {
        s.region_group[r] =
            new_group(s.region_weight[r], WeightKind::kDemand, Mix(W.region_hash(r), wh));
      }
      s.group_of[k] = s.region_group[r];
    }
  } else {
    bool all_known = m > 0;
    int64_t sum = 0;
    for (uint32_t k = 0; k < m && all_known; ++k) {
      int64_t c = W.nominal_capacity(s.cand[k]);
      all_known = c < kUnbounded;
      sum += c;
    }
    if (all_known && sum > 0) {
      singletons(WeightKind::kCapacity, true);
    } else {
      singletons(WeightKind::kEqual, false);
    }
  }
  {
    int64_t sum = 0;
    for (const auto& g : s.groups) sum += g.weight;
    if (sum == 0 && m > 0) singletons(WeightKind::kEqual, false);
  }
  // Members by group (counting sort keeps candidate order inside a group).
  const uint32_t G = static_cast<uint32_t>(s.groups.size());
  for (uint32_t k = 0; k < m; ++k) ++s.groups[s.group_of[k]].size;
  {
    uint32_t at = 0;
    for (auto& g : s.groups) {
      g.begin = g.end = at;
      at += g.size;
    }
    s.members.assign(m, 0);
    for (uint32_t k = 0; k < m; ++k) s.members[s.groups[s.group_of[k]].end++] = k;
  }
  for (const auto& g : s.groups) res.weight_total += g.weight;

  // ---- 3. Shares --------------------------------------------------------------------------
  bool mins_exceed = false;
  s.items.resize(G);
  for (uint32_t g = 0; g < G; ++g) {
    const auto& grp = s.groups[g];
    ApportionItem it;
    it.weight = grp.weight;
    it.tie = grp.tie;
    for (uint32_t j = grp.begin; j < grp.end; ++j) {
      uint32_t k = s.members[j];
      it.lo += s.lo[k];
      it.hi += s.hi[k];
    }
    s.items[g] = it;
  }
  const int64_t placed1 = internal::Apportion(T, s.items, s.ap, &mins_exceed);
  int64_t leftover = T - placed1;
  std::vector<int64_t> group_share(G);
  for (uint32_t g = 0; g < G; ++g) group_share[g] = s.items[g].out;
  for (uint32_t g = 0; g < G; ++g) {
    const auto& grp = s.groups[g];
    if (grp.size == 1) {
      s.share[s.members[grp.begin]] = group_share[g];
      continue;
    }
    s.items.resize(grp.size);
    for (uint32_t j = 0; j < grp.size; ++j) {
      uint32_t k = s.members[grp.begin + j];
      s.items[j] = ApportionItem{1, s.lo[k], s.hi[k], 0, tie_of(k), 0};
    }
    bool inner_exceed = false;
    internal::Apportion(group_share[g], std::span(s.items.data(), grp.size), s.ap,
                        &inner_exceed);
    mins_exceed |= inner_exceed;
    for (uint32_t j = 0; j < grp.size; ++j) s.share[s.members[grp.begin + j]] = s.items[j].out;
  }
  if (mins_exceed || sum_lo > T) res.unmet |= kMin;

  // ---- 4. Capacity, hysteresis, overflow --------------------------------------------------
  const FailoverSpec& fo = pol.failover;
  const int64_t delay_ms = int64_t{fo.recovery_delay_seconds} * 1000;
  const int64_t pace = fo.recovery_max_replicas_per_step;
  const int64_t step_ms = int64_t{std::max(1, fo.recovery_step_seconds)} * 1000;
  std::optional<int64_t> recheck_ms;
  auto recheck = [&](int64_t ms) {
    ms = std::max<int64_t>(ms, 1);
    if (!recheck_ms || ms < *recheck_ms) recheck_ms = ms;
  };
  for (uint32_t k = 0; k < m; ++k) {
    const uint32_t i = s.cand[k];
    const int64_t c = std::min<int64_t>(W.capacity(i), T);
    s.real[k] = std::min(c, s.hi[k]);
    s.cap[k] = s.real[k];
    if (auto rec = W.recovered_at(i)) {
      const int64_t since = now_ms - ToMs(*rec);
      if (since < delay_ms) {
        s.cap[k] = std::min({s.real[k], s.cur[k], s.share[k]});
        s.flags[k] |= kHeld;
        if (s.share[k] > s.cap[k]) recheck(delay_ms - since);
      } else if (pace > 0) {
        const int64_t ramp = (T + pace - 1) / pace * step_ms;
        if (since < delay_ms + ramp) {
          s.cap[k] = std::min({s.real[k], s.cur[k] + pace, s.share[k]});
          s.flags[k] |= kPaced;
          if (s.share[k] > s.cap[k]) recheck(step_ms);
        }
      }
    }
    if ((s.flags[k] & kInMax) && s.share[k] >= s.hi[k] && s.hi[k] < T &&
        s.groups[s.group_of[k]].weight > 0) {
      s.limited[k] |= kMax;
    }
    s.x[k] = std::min(s.share[k], s.cap[k]);
    s.excess[k] = s.share[k] - s.x[k];
    if (s.excess[k] > 0) {
      uint32_t why;
      if (s.cap[k] < s.real[k]) {
        why = kRecovery;
      } else if (!W.cluster(i).reachable) {
        why = kUnreachable;
      } else if (W.zone_failed(i) && W.capacity(i) < W.nominal_capacity(i)) {
        why = kZoneFailure;
      } else {
        why = kCapacity;
      }
      s.limited[k] |= why;
    }
  }
  // What max left over belongs to the clusters at their max, in proportion to their shares.
  if (leftover > 0) {
    s.items.clear();
    s.item_pos.clear();
    for (uint32_t k = 0; k < m; ++k) {
      if ((s.flags[k] & kInMax) && s.share[k] >= s.hi[k] && s.groups[s.group_of[k]].weight > 0) {
        s.items.push_back(ApportionItem{std::max<int64_t>(1, s.share[k]), 0, leftover, 0,
                                        tie_of(k), 0});
        s.item_pos.push_back(k);
        s.limited[k] |= kMax;
      }
    }
    if (!s.items.empty()) {
      int64_t given = internal::Apportion(leftover, s.items, s.ap);
      for (size_t j = 0; j < s.items.size(); ++j) s.excess[s.item_pos[j]] += s.items[j].out;
      leftover -= given;
    }
  }
  int64_t unplaced_overflow = 0;  // blocked by the overflow mode itself
  // Fills candidates [b, e) (optionally only `only`) with up to `amount`, returns what fit.
  auto fill_range = [&](uint32_t b, uint32_t e, int64_t amount) -> int64_t {
    s.items.clear();
    s.item_pos.clear();
    int64_t room_sum = 0;
    for (uint32_t k = b; k < e; ++k) {
      int64_t room = s.cap[k] - s.x[k];
      if (room <= 0) continue;
      s.items.push_back(ApportionItem{1, 0, room, 0, tie_of(k), 0});
      s.item_pos.push_back(k);
      room_sum += room;
    }
    if (room_sum == 0) return 0;
    int64_t give = std::min(amount, room_sum);
    internal::Apportion(give, s.items, s.ap);
    for (size_t j = 0; j < s.items.size(); ++j) {
      s.x[s.item_pos[j]] += s.items[j].out;
      s.over[s.item_pos[j]] += s.items[j].out;
    }
    return give;
  };
  int64_t total_excess = leftover;
  for (uint32_t k = 0; k < m; ++k) total_excess += s.excess[k];
  if (total_excess > 0) {
    switch (fo.overflow) {
      case OverflowMode::kNearest: {
        s.region_excess.assign(R, 0);
        for (uint32_t k = 0; k < m; ++k) s.region_excess[W.region_of(s.cand[k])] += s.excess[k];
        s.order.clear();
        for (uint32_t r = 0; r < R; ++r) {
          if (s.region_excess[r] > 0) s.order.push_back(r);
        }
        std::sort(s.order.begin(), s.order.end(), [&](uint32_t a, uint32_t b) {
          if (s.region_excess[a] != s.region_excess[b]) {
            return s.region_excess[a] > s.region_excess[b];
          }
          return Mix(W.region_hash(a), wh) < Mix(W.region_hash(b), wh);
        });
        int64_t left = leftover;  // unattributed remainder (no cluster at max): nowhere to go
        for (uint32_t r : s.order) {
          int64_t ex = s.region_excess[r];
          for (uint32_t t : W.regions_by_distance(r)) {
            if (ex == 0) break;
            if (s.rb[t] == kNone32) continue;
            ex -= fill_range(s.rb[t], s.re[t], ex);
          }
          left += ex;
        }
        (void)left;
        break;
      }
      case OverflowMode::kOrdered: {
        int64_t ex = total_excess;
        for (const std::string& name : fo.order) {
          if (ex == 0) break;
          if (auto idx = W.FindCluster(name)) {
            if (s.pos[*idx] >= 0) ex -= fill_range(s.pos[*idx], s.pos[*idx] + 1, ex);
          } else if (auto r = W.FindRegion(name)) {
            if (s.rb[*r] != kNone32) ex -= fill_range(s.rb[*r], s.re[*r], ex);
          }
        }
        unplaced_overflow = ex;
        break;
      }
      case OverflowMode::kNone:
        unplaced_overflow = total_excess;
        break;
    }
  }
  // Availability before hysteresis: what found no room may go to recovering clusters.
  int64_t placed = 0;
  for (uint32_t k = 0; k < m; ++k) placed += s.x[k];
  // First back up to their shares (in proportion to what each is short), then any room
  // left; both steps depend only on the shares, so feeding the answer back is a fixed point.
  for (int phase = 0; phase < 2 && placed < T; ++phase) {
    s.items.clear();
    s.item_pos.clear();
    for (uint32_t k = 0; k < m; ++k) {
      if (!(s.flags[k] & (kHeld | kPaced))) continue;
      int64_t room = phase == 0 ? std::min(s.share[k], s.real[k]) - s.x[k] : s.real[k] - s.x[k];
      if (room <= 0) continue;
      s.items.push_back(ApportionItem{phase == 0 ? room : 1, 0, room, 0, tie_of(k), 0});
      s.item_pos.push_back(k);
    }
    if (s.items.empty()) continue;
    int64_t got = internal::Apportion(T - placed, s.items, s.ap);
    for (size_t j = 0; j < s.items.size(); ++j) {
      const uint32_t k = s.item_pos[j];
      s.x[k] += s.items[j].out;
      if (phase == 1) s.over[k] += s.items[j].out;
      s.cap[k] = std::max(s.cap[k], s.x[k]);
    }
    placed += got;
    unplaced_overflow = std::max<int64_t>(0, unplaced_overflow - got);
  }

  // ---- 5. Coverage: latency sources, spread.minRegions, spread.minZones --------------------
  const int32_t min_regions = pol.spread.min_regions;
  const int32_t min_zones = pol.spread.min_zones;
  const bool lat_cover = has_latency && profile.has_value();
  s.region_count.assign(R, 0);
  for (uint32_t k = 0; k < m; ++k) s.region_count[W.region_of(s.cand[k])] += s.x[k];
  auto regions_covered = [&]() {
    int32_t c = 0;
    for (uint32_t r = 0; r < R; ++r) c += s.region_count[r] > 0;
    return c;
  };
  const bool need_zones = min_zones > 1;
  int32_t zones_covered = 0;
  auto zone_of = [&](uint32_t k, int64_t nth) -> int64_t {  // zone the nth replica covers
    const uint32_t i = s.cand[k];
    auto hz = W.healthy_zones(i);
    if (nth < 0 || nth >= static_cast<int64_t>(hz.size())) return -1;
    return W.zone_id(i, hz[nth]);
  };
  if (need_zones) {
    s.zone_count.assign(W.zone_id_count(), 0);
    for (uint32_t k = 0; k < m; ++k) {
      for (int64_t j = 0; j < s.x[k]; ++j) {
        int64_t z = zone_of(k, j);
        if (z < 0) break;
        if (s.zone_count[z]++ == 0) ++zones_covered;
      }
    }
  }
  // Sources: regions within the bound, nearest first.
  uint32_t S = 0;
  if (lat_cover) {
    S = W.source_count(*profile);
    s.src_begin.assign(S + 1, 0);
    s.src_regions.clear();
    for (uint32_t src = 0; src < S; ++src) {
      s.src_begin[src] = static_cast<uint32_t>(s.src_regions.size());
      for (uint32_t r = 0; r < R; ++r) {
        if (W.source_rtt(*profile, src, r) <= pol.latency->max_rtt_ms) s.src_regions.push_back(r);
      }
      std::sort(s.src_regions.begin() + s.src_begin[src], s.src_regions.end(),
                [&](uint32_t a, uint32_t b) {
                  int32_t ra = W.source_rtt(*profile, src, a), rb = W.source_rtt(*profile, src, b);
                  if (ra != rb) return ra < rb;
                  return W.region_hash(a) < W.region_hash(b);
                });
    }
    s.src_begin[S] = static_cast<uint32_t>(s.src_regions.size());
  }
  auto source_covered = [&](uint32_t src) {
    for (uint32_t j = s.src_begin[src]; j < s.src_begin[src + 1]; ++j) {
      if (s.region_count[s.src_regions[j]] > 0) return true;
    }
    return false;
  };
  auto move = [&](uint32_t from, uint32_t to) {
    if (need_zones) {
      int64_t z = zone_of(from, s.x[from] - 1);
      if (z >= 0 && --s.zone_count[z] == 0) --zones_covered;
      z = zone_of(to, s.x[to]);
      if (z >= 0 && s.zone_count[z]++ == 0) ++zones_covered;
    }
    --s.x[from];
    --s.cov[from];
    --s.region_count[W.region_of(s.cand[from])];
    ++s.x[to];
    ++s.cov[to];
    ++s.region_count[W.region_of(s.cand[to])];
  };
  // The donor of one replica: keeps its min, its region covered, and (when zones matter)
  // the zone count; prefers replicas that are not where they run now.
  auto find_donor = [&](uint32_t receiver, bool zones_may_drop) -> int64_t {
    int64_t best = -1;
    for (uint32_t k = 0; k < m; ++k) {
      if (k == receiver || s.x[k] <= 0 || s.x[k] <= s.lo[k]) continue;
      if (s.region_count[W.region_of(s.cand[k])] <= 1 &&
          W.region_of(s.cand[k]) != W.region_of(s.cand[receiver])) {
        continue;
      }
      if (need_zones) {
        int64_t z = zone_of(k, s.x[k] - 1);
        bool drops = z >= 0 && s.zone_count[z] == 1;
        if (drops && (!zones_may_drop || zones_covered <= min_zones)) continue;
      }
      if (best < 0) {
        best = k;
        continue;
      }
      auto key = [&](uint32_t j) {
        return std::tuple(s.x[j], tie_of(j));
      };
      if (key(k) > key(static_cast<uint32_t>(best))) best = k;
    }
    return best;
  };
  auto better_receiver = [&](uint32_t a, int64_t b) {
    if (b < 0) return true;
    return tie_of(a) > tie_of(static_cast<uint32_t>(b));
  };
  bool stuck_latency = !lat_cover, stuck_regions = min_regions <= 1, stuck_zones = !need_zones;
  for (int64_t guard = 0; guard < 4 * (T + S + min_regions + min_zones) + 8; ++guard) {
    int64_t receiver = -1;
    bool zones_may_drop = true;
    if (!stuck_latency) {
      bool found_deficit = false;
      for (uint32_t src = 0; src < S && receiver < 0; ++src) {
        if (source_covered(src)) continue;
        for (uint32_t j = s.src_begin[src]; j < s.src_begin[src + 1] && receiver < 0; ++j) {
          uint32_t r = s.src_regions[j];
          if (s.rb[r] == kNone32) continue;
          for (uint32_t k = s.rb[r]; k < s.re[r]; ++k) {
            if (s.cap[k] - s.x[k] > 0 && better_receiver(k, receiver)) receiver = k;
          }
          found_deficit = true;
        }
      }
      if (receiver < 0) {
        stuck_latency = true;
        (void)found_deficit;
        continue;
      }
    } else if (!stuck_regions && regions_covered() < min_regions) {
      for (uint32_t k = 0; k < m; ++k) {
        if (s.region_count[W.region_of(s.cand[k])] > 0) continue;
        if (s.cap[k] - s.x[k] > 0 && better_receiver(k, receiver)) receiver = k;
      }
      if (receiver < 0) {
        stuck_regions = true;
        continue;
      }
    } else if (!stuck_zones && zones_covered < min_zones) {
      zones_may_drop = false;
      for (uint32_t k = 0; k < m; ++k) {
        int64_t z = zone_of(k, s.x[k]);
        if (z < 0 || s.zone_count[z] > 0 || s.cap[k] - s.x[k] <= 0) continue;
        if (better_receiver(k, receiver)) receiver = k;
      }
      if (receiver < 0) {
        stuck_zones = true;
        continue;
      }
    } else {
      break;
    }
    int64_t donor = find_donor(static_cast<uint32_t>(receiver), zones_may_drop);
    if (donor < 0) {
      if (!stuck_latency) {
        stuck_latency = true;
      } else if (!stuck_regions && regions_covered() < min_regions) {
        stuck_regions = true;
      } else {
        stuck_zones = true;
      }
      continue;
    }
    move(static_cast<uint32_t>(donor), static_cast<uint32_t>(receiver));
  }
  res.regions_covered = regions_covered();
  if (need_zones) {
    res.zones_covered = zones_covered;
  } else {
    s.zone_count.assign(W.zone_id_count(), 0);
    for (uint32_t k = 0; k < m; ++k) {
      for (int64_t j = 0; j < s.x[k]; ++j) {
        int64_t z = zone_of(k, j);
        if (z < 0) break;
        if (s.zone_count[z]++ == 0) ++res.zones_covered;
      }
    }
  }
  if (min_regions > res.regions_covered) res.unmet |= kSpread;
  if (min_zones > res.zones_covered) res.unmet |= kSpread;
  if (has_latency) {
    if (!profile) {
      res.unmet |= kLatency;
    } else {
      for (uint32_t src = 0; src < S; ++src) {
        if (!source_covered(src)) ++res.sources_uncovered;
      }
      if (res.sources_uncovered > 0) res.unmet |= kLatency;
    }
  }

  // ---- 6. Result --------------------------------------------------------------------------
  placed = 0;
  for (uint32_t k = 0; k < m; ++k) placed += s.x[k];
  res.placed = static_cast<int32_t>(placed);
  res.unplaced = static_cast<int32_t>(T - placed);
  if (res.unplaced > 0) {
    uint32_t why = 0;
    if (m == 0) why |= kNoCluster;
    if (res.excluded_by_selector) why |= kSelector;
    if (res.excluded_by_residency) why |= kResidency;
    if (res.excluded_by_latency || (has_latency && !profile)) why |= kLatency;
    if (unplaced_overflow > 0) why |= kOverflow;
    for (uint32_t k = 0; k < m; ++k) {
      const uint32_t i = s.cand[k];
      if (s.x[k] < s.cap[k]) continue;  // still had room
      if (!W.cluster(i).reachable) {
        why |= kUnreachable;
      } else if (s.flags[k] & kInMax && s.x[k] >= s.hi[k] && s.hi[k] < T) {
        why |= kMax;
      } else if (W.zone_failed(i) && W.capacity(i) < W.nominal_capacity(i)) {
        why |= kZoneFailure | kCapacity;
      } else if (s.cap[k] < s.real[k]) {
        why |= kRecovery;
      } else {
        why |= kCapacity;
      }
    }
    res.unplaced_because = why;
  }
  if (recheck_ms) res.recheck_after = Duration(*recheck_ms);

  for (uint32_t k = 0; k < m; ++k) {
    if (s.x[k] == 0 && s.share[k] == 0 && s.cur[k] == 0 && s.limited[k] == 0) continue;
    const auto& grp = s.groups[s.group_of[k]];
    ClusterPlacement p;
    p.cluster = s.cand[k];
    p.replicas = static_cast<int32_t>(s.x[k]);
    p.share = static_cast<int32_t>(s.share[k]);
    p.limit = static_cast<int32_t>(s.cap[k]);
    p.overflow = static_cast<int32_t>(s.over[k]);
    p.coverage = static_cast<int32_t>(s.cov[k]);
    p.weight = grp.weight;
    p.limited_by = s.limited[k];
    p.group_size = static_cast<uint16_t>(std::min<uint32_t>(grp.size, 0xffff));
    p.weight_kind = grp.kind;
    res.clusters.push_back(p);
  }
  if (!s.outside.empty()) {
    for (const auto& [i, reps] : s.outside) {
      ClusterPlacement p;
      p.cluster = i;
      p.limited_by = s.excluded[i];
      res.clusters.push_back(p);
    }
    std::sort(res.clusters.begin(), res.clusters.end(),
              [](const ClusterPlacement& a, const ClusterPlacement& b) {
                return a.cluster < b.cluster;
              });
    res.clusters.erase(std::unique(res.clusters.begin(), res.clusters.end(),
                                   [](const ClusterPlacement& a, const ClusterPlacement& b) {
                                     return a.cluster == b.cluster;
                                   }),
                       res.clusters.end());
  }

  // Zone hints: first one replica per healthy zone (best zones first), then by zone capacity.
  for (uint32_t k = 0; k < m; ++k) {
    const uint32_t i = s.cand[k];
    if (s.x[k] <= 0 || W.cluster(i).zones.size() < 2) continue;
    auto hz = W.healthy_zones(i);
    auto part = W.healthy_zone_capacity(i);
    if (hz.empty()) continue;
    bool known = true;
    for (int64_t p : part) known = known && p < kUnbounded;
    s.items.resize(hz.size());
    for (size_t z = 0; z < hz.size(); ++z) {
      ApportionItem it;
      it.weight = known ? std::max<int64_t>(part[z], 1) : 1;
      it.lo = static_cast<int64_t>(z) < s.x[k] ? 1 : 0;
      it.hi = std::min<int64_t>(part[z], s.x[k]);
      it.tie = ~static_cast<uint64_t>(z);  // earlier zones in the order win ties
      s.items[z] = it;
    }
    internal::Apportion(s.x[k], std::span(s.items.data(), hz.size()), s.ap);
    size_t first = res.zones.size();
    for (size_t z = 0; z < hz.size(); ++z) {
      if (s.items[z].out > 0) {
        res.zones.push_back({i, hz[z], static_cast<int32_t>(s.items[z].out)});
      }
    }
    std::sort(res.zones.begin() + first, res.zones.end(),
              [](const ZoneHint& a, const ZoneHint& b) { return a.zone < b.zone; });
  }
  return res;
}

}  // namespace meridian::placement
