#include "placement/internal/place_call.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>

#include "placement/residency.h"

namespace meridian::placement::internal {

namespace {

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t h = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

int64_t ToMs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

PlaceCall::PlaceCall(const World& W, Scratch& s, const Filter& F, const Workload& w, Timestamp now,
                     std::span<const int64_t> used_by_others)
    : W(W),
      s(s),
      F(F),
      w(w),
      pol(w.policy),
      used_by_others(used_by_others),
      R(W.region_count()),
      T(std::max<int32_t>(0, w.replicas)),
      wh(StableHash(w.key)),
      now_ms(ToMs(now)),
      m(static_cast<uint32_t>(F.cand.size())),
      cand(F.cand) {
  res.total = T;
  res.eligible = m;
  res.excluded_by_selector = F.by_selector;
  res.excluded_by_residency = F.by_residency;
  res.excluded_by_latency = F.by_latency;
  res.excluded_by_affinity = F.by_affinity;
  if (w.affinity && w.affinity->runs_on) {
    off_group.assign(W.size(), 1);
    for (const std::string& name : *w.affinity->runs_on) {
      if (auto i = W.FindCluster(name)) off_group[*i] = 0;
    }
  }
  const FailoverSpec& fo = pol.failover;
  delay_ms = int64_t{fo.recovery_delay_seconds} * 1000;
  pace = fo.recovery_max_replicas_per_step.For(T);
  // How long the return is paced: a budget per step (see kRecoveryStepBudgetSeconds).
  paced_ms = (T + pace - 1) / pace * kRecoveryStepBudgetSeconds * 1000;
}

void AllowedJurisdictionBits(const World& W, const Workload& w, std::vector<uint8_t>& out) {
  // The one residency rule (placement/residency.h), turned into a bit per jurisdiction id.
  const AllowedJurisdictions allowed = AllowedJurisdictionsFor(w.policy, w.residency_policies);
  out.assign(W.jurisdiction_count(), 0);  // id 0 (no jurisdiction) is never allowed
  for (const std::string& j : allowed.allowed) {
    if (auto id = W.FindJurisdiction(j); id && *id != 0) out[*id] = 1;
  }
}

std::unique_ptr<Filter> BuildFilter(const World& W, const Workload& w,
                                    std::span<const uint8_t> jurisdiction_allowed,
                                    const AffinityRestriction* affinity) {
  const PlacementPolicy& pol = w.policy;
  const uint32_t n = W.size();
  const uint32_t R = W.region_count();
  const bool has_selector = pol.cluster_selector && !pol.cluster_selector->Empty();
  auto f = std::make_unique<Filter>();
  f->has_latency = pol.latency.has_value();
  std::vector<uint8_t> region_ok;
  if (f->has_latency) {
    f->profile = W.FindDemandProfile(pol.latency->demand);
    region_ok.assign(R, 0);
    if (f->profile) {
      const int32_t bound = pol.latency->max_rtt_ms;
      const uint32_t S = W.source_count(*f->profile);
      f->src_begin.assign(S + 1, 0);
      for (uint32_t src = 0; src < S; ++src) {
        f->src_begin[src] = static_cast<uint32_t>(f->src_regions.size());
        for (uint32_t r = 0; r < R; ++r) {
          if (W.source_rtt(*f->profile, src, r) <= bound) {
            region_ok[r] = 1;
            f->src_regions.push_back(r);
          }
        }
        std::sort(f->src_regions.begin() + f->src_begin[src], f->src_regions.end(),
                  [&](uint32_t a, uint32_t b) {
                    int32_t ra = W.source_rtt(*f->profile, src, a);
                    int32_t rb = W.source_rtt(*f->profile, src, b);
                    if (ra != rb) return ra < rb;
                    return W.region_hash(a) < W.region_hash(b);
                  });
      }
      f->src_begin[S] = static_cast<uint32_t>(f->src_regions.size());
    }
  }
  f->pos.assign(n, -1);
  f->excluded.assign(n, 0);
  std::vector<uint8_t> in_group;
  if (affinity) {
    in_group.assign(n, 0);
    for (const std::string& name : affinity->eligible) {
      if (auto i = W.FindCluster(name)) in_group[*i] = 1;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t ex = 0;
    if (has_selector && !pol.cluster_selector->Matches(W.cluster(i).labels)) {
      ex = kSelector;
      ++f->by_selector;
    } else if (!jurisdiction_allowed.empty() && !jurisdiction_allowed[W.jurisdiction_id(i)]) {
      ex = kResidency;
      ++f->by_residency;
    } else if (f->has_latency && !region_ok[W.region_of(i)]) {
      ex = kLatency;
      ++f->by_latency;
    } else if (affinity && !in_group[i]) {
      ex = kAffinity;
      ++f->by_affinity;
    }
    if (ex) {
      f->excluded[i] = ex;
      continue;
    }
    f->pos[i] = static_cast<int32_t>(f->cand.size());
    f->cand.push_back(i);
  }
  f->rb.assign(R, kNone32);
  f->re.assign(R, 0);
  for (uint32_t k = 0; k < f->cand.size(); ++k) {
    uint32_t r = W.region_of(f->cand[k]);
    if (f->rb[r] == kNone32) f->rb[r] = k;
    f->re[r] = k + 1;
  }
  return f;
}

uint64_t PlaceCall::TieOf(uint32_t k) const { return Mix(W.hash(cand[k]), wh); }

void PlaceCall::Recheck(int64_t ms) {
  ms = std::max<int64_t>(ms, 1);
  if (!recheck_ms || ms < *recheck_ms) recheck_ms = ms;
}

void PlaceCall::EnsureCap(uint32_t k) {
  if (s.flags[k] & kCapKnown) return;
  SetFlag(k, kCapKnown);
  const uint32_t i = cand[k];
  int64_t room = W.capacity(i);
  if (!used_by_others.empty() && room < kUnbounded) {
    room = std::max<int64_t>(0, room - used_by_others[i]);
  }
  if (!off_group.empty() && off_group[i]) {
    // The group's leader does not run here: like a failed cluster, it holds nothing.
    room = 0;
    s.flags[k] |= kOffGroup;
  }
  const int32_t c = static_cast<int32_t>(std::min<int64_t>(room, T));
  s.real[k] = std::min(c, HiOf(k));
  s.cap[k] = s.real[k];
  if (const int64_t rec = W.recovered_at_ms(i); rec != INT64_MIN) {
    const int64_t since = now_ms - rec;
    if (since < delay_ms) {
      s.cap[k] = std::min({s.real[k], s.cur[k], s.share[k]});
      s.flags[k] |= kHeld;
      if (s.share[k] > s.cap[k]) Recheck(delay_ms - since);
    } else if (since < delay_ms + paced_ms) {
      // Rolling return: one step at a time, the next once the previous one is done. Until
      // the window ends it takes no overflow beyond its share (as while held).
      const bool step_done = s.rdy[k] >= s.cur[k] && !surge_outstanding;
      s.cap[k] = static_cast<int32_t>(
          std::min<int64_t>({s.real[k], int64_t{s.cur[k]} + (step_done ? pace : 0), s.share[k]}));
      s.flags[k] |= kPaced;
      // Readiness changes come as new calls; the window's end needs a call of its own.
      Recheck(delay_ms + paced_ms - since);
    }
  }
}

int64_t PlaceCall::FillRange(uint32_t b, uint32_t e, int64_t amount) {
  s.items.clear();
  s.item_pos.clear();
  int64_t room_sum = 0;
  for (uint32_t k = b; k < e; ++k) {
    EnsureCap(k);
    int64_t room = s.cap[k] - s.x[k];
    if (room <= 0) continue;
    s.items.push_back(ApportionItem{1, 0, room, 0, TieOf(k), 0});
    s.item_pos.push_back(k);
    room_sum += room;
  }
  if (room_sum == 0) return 0;
  int64_t give = std::min(amount, room_sum);
  internal::Apportion(give, s.items, s.ap);
  for (size_t j = 0; j < s.items.size(); ++j) {
    if (s.items[j].out == 0) continue;
    const uint32_t k = s.item_pos[j];
    s.x[k] += static_cast<int32_t>(s.items[j].out);
    s.over[k] += static_cast<int32_t>(s.items[j].out);
    Activate(k);
  }
  return give;
}

void PlaceCall::Give(uint32_t k, int64_t n, bool as_overflow) {
  s.x[k] += static_cast<int32_t>(n);
  if (as_overflow) s.over[k] += static_cast<int32_t>(n);
  s.cap[k] = std::max(s.cap[k], s.x[k]);
  Activate(k);
  placed += n;
  unplaced_overflow = std::max<int64_t>(0, unplaced_overflow - n);
}

int64_t PlaceCall::FillRecovering(uint32_t b, uint32_t e, int64_t amount) {
  s.items.clear();
  s.item_pos.clear();
  for (uint32_t k = b; k < e; ++k) {
    EnsureCap(k);
    if (!(s.flags[k] & (kHeld | kPaced))) continue;
    int64_t room = s.real[k] - s.x[k];
    if (room <= 0) continue;
    s.items.push_back(ApportionItem{1, 0, room, 0, TieOf(k), 0});
    s.item_pos.push_back(k);
  }
  if (s.items.empty() || amount <= 0) return 0;
  int64_t got = internal::Apportion(amount, s.items, s.ap);
  for (size_t j = 0; j < s.items.size(); ++j) {
    if (s.items[j].out > 0) Give(s.item_pos[j], s.items[j].out, true);
  }
  return got;
}

int64_t PlaceCall::PlacedNow() const {
  int64_t n = 0;
  for (uint32_t k : s.active) n += s.x[k];
  return n;
}

void PlaceCall::LoadCurrent() {
  if (s.cur.size() < m) {
    for (auto* v : {&s.cur, &s.rdy, &s.over, &s.cov, &s.share, &s.x, &s.cap, &s.real, &s.excess}) {
      v->resize(m);
    }
    s.limited.resize(m);
    s.flags.resize(m);
  }
  s.touched.clear();
  s.active.clear();

  s.outside.clear();
  for (const Assignment& a : w.current) {
    if (a.replicas <= 0) continue;
    auto idx = W.FindCluster(a.cluster);
    if (!idx) continue;
    current_total += a.replicas;
    if (F.pos[*idx] >= 0) {
      const uint32_t k = F.pos[*idx];
      s.cur[k] = static_cast<int32_t>(
          std::min<int64_t>(int64_t{s.cur[k]} + a.replicas, std::numeric_limits<int32_t>::max()));
      s.rdy[k] = static_cast<int32_t>(std::min<int64_t>(int64_t{s.rdy[k]} + std::max(0, a.ready),
                                                        std::numeric_limits<int32_t>::max()));
      Activate(k);
    } else {
      s.outside.emplace_back(*idx, a.replicas);
    }
  }
  surge_outstanding = current_total > T;
}

void PlaceCall::ApplyBounds() {
  // A follower of an affinity group holds at least one replica on each cluster its leader
  // runs on, when it has that many: the group shares every one of them (with fewer it cannot,
  // and no minimum is invented that would read "the minimums exceed the total").
  int64_t group_clusters = 0;
  if (!off_group.empty()) {
    for (uint32_t k = 0; k < m; ++k) group_clusters += off_group[cand[k]] ? 0 : 1;
  }
  const bool one_each = group_clusters > 0 && group_clusters <= T;
  any_bounds = pol.distribution.min_per_cluster > 0 || !pol.distribution.clusters.empty() ||
               !w.pod_room.empty() || one_each;
  if (any_bounds) {
    s.lo.assign(m, pol.distribution.min_per_cluster);
    s.hi.assign(m, T);
  }
  for (const auto& [name, b] : pol.distribution.clusters) {
    auto idx = W.FindCluster(name);
    if (!idx || F.pos[*idx] < 0) continue;
    uint32_t k = F.pos[*idx];
    if (b.min) s.lo[k] = *b.min;
    if (b.max) {
      s.lo[k] = std::min(s.lo[k], *b.max);
      s.hi[k] = std::min(T, *b.max);
      SetFlag(k, kInMax);
    }
  }
  // What the nodes can take of this workload's pods: a bound like max where it is lower.
  for (const auto& [name, room] : w.pod_room) {
    auto idx = W.FindCluster(name);
    if (!idx || F.pos[*idx] < 0) continue;
    const uint32_t k = F.pos[*idx];
    const int32_t bound = std::max(0, room);
    if (bound >= s.hi[k]) continue;  // the policy's max (or the total) binds first
    s.hi[k] = bound;
    s.lo[k] = std::min(s.lo[k], bound);
    SetFlag(k, kInMax | kRoomBound);
  }
  if (one_each) {
    for (uint32_t k = 0; k < m; ++k) {
      if (!off_group[cand[k]]) s.lo[k] = std::max(s.lo[k], std::min(1, s.hi[k]));
    }
  }
  if (any_bounds) {
    for (uint32_t k = 0; k < m; ++k) {
      sum_lo += s.lo[k];
      s.lo[k] = std::min(s.lo[k], s.hi[k]);
    }
  }
}

void PlaceCall::FormWeightGroups() {
  s.groups.clear();
  s.contiguous = true;
  auto new_group = [&](int64_t weight, WeightKind kind, uint64_t tie, uint32_t begin,
                       uint32_t end) {
    s.groups.push_back(
        {weight, weight > 0 ? kind : WeightKind::kNone, tie, begin, end, end - begin, 0});
  };
  // Region groups over the candidate ranges; weight from region_weight (-1: weight 0).
  auto region_groups = [&](WeightKind kind) {
    for (uint32_t r = 0; r < R; ++r) {
      if (F.rb[r] == kNone32) continue;
      new_group(std::max<int64_t>(0, s.region_weight[r]), kind, Mix(W.region_hash(r), wh), F.rb[r],
                F.re[r]);
    }
  };
  const DistributionSpec& dist = pol.distribution;
  if (!dist.weights.empty()) {
    s.region_weight.assign(R, -1);
    bool own = false;
    for (const auto& [name, wt] : dist.weights) {
      if (auto idx = W.FindCluster(name)) {
        if (F.pos[*idx] >= 0) {
          if (!own) s.own_weight.assign(m, -1);
          own = true;
          s.own_weight[F.pos[*idx]] = static_cast<int32_t>(wt);
        }
      } else if (auto r = W.FindRegion(name)) {
        s.region_weight[*r] = wt;
      }
    }
    if (!own) {
      region_groups(WeightKind::kRegion);
    } else {
      // Some clusters carry their own weight: member lists instead of ranges.
      s.contiguous = false;
      s.group_of.assign(m, -1);
      s.region_group.assign(R, -1);
      for (uint32_t k = 0; k < m; ++k) {
        uint32_t r = W.region_of(cand[k]);
        if (s.own_weight[k] >= 0) {
          s.group_of[k] = static_cast<int32_t>(s.groups.size());
          new_group(s.own_weight[k], WeightKind::kCluster, TieOf(k), 0, 0);
        } else {
          if (s.region_group[r] < 0) {
            s.region_group[r] = static_cast<int32_t>(s.groups.size());
            new_group(std::max<int64_t>(0, s.region_weight[r]), WeightKind::kRegion,
                      Mix(W.region_hash(r), wh), 0, 0);
          }
          s.group_of[k] = s.region_group[r];
        }
        ++s.groups[s.group_of[k]].size;
      }
      uint32_t at = 0;
      for (auto& g : s.groups) {
        g.begin = g.end = at;
        at += g.size;
      }
      s.members.resize(m);
      for (uint32_t k = 0; k < m; ++k) s.members[s.groups[s.group_of[k]].end++] = k;
    }
  } else if (dist.from_demand) {
    std::optional<uint32_t> prof = F.profile;
    if (!F.has_latency && W.topology().demand_profiles.size() == 1) prof = 0;
    s.region_weight.assign(R, 0);
    if (prof) {
      for (uint32_t src = 0; src < W.source_count(*prof); ++src) {
        uint32_t best = kNone32;
        int32_t best_rtt = kUnknownRtt;
        for (uint32_t r = 0; r < R; ++r) {
          if (F.rb[r] == kNone32) continue;
          int32_t rtt = W.source_rtt(*prof, src, r);
          if (rtt >= kUnknownRtt) continue;
          if (F.has_latency && rtt > pol.latency->max_rtt_ms) continue;
          if (best == kNone32 || rtt < best_rtt ||
              (rtt == best_rtt && W.region_hash(r) < W.region_hash(best))) {
            best = r;
            best_rtt = rtt;
          }
        }
        if (best != kNone32) s.region_weight[best] += W.source_weight(*prof, src);
      }
    }
    region_groups(WeightKind::kDemand);
  } else {
    singletons = true;
  }
  for (const auto& g : s.groups) weight_sum += g.weight;
  if (!singletons && weight_sum == 0 && m > 0) singletons = true;  // nothing weighted: equal
}

void PlaceCall::ComputeShares() {
  const DistributionSpec& dist = pol.distribution;
  auto set_share = [&](uint32_t k, int64_t v) {
    s.share[k] = static_cast<int32_t>(v);
    if (v > 0) Activate(k);
  };
  if (singletons) {
    // Capacity-proportional when every candidate's capacity is known, else equal.
    bool by_capacity = !dist.from_demand && dist.weights.empty() && m > 0;
    int64_t cap_sum = 0;
    for (uint32_t k = 0; k < m && by_capacity; ++k) {
      int64_t c = W.nominal_capacity(cand[k]);
      by_capacity = c < kUnbounded;
      cap_sum += c;
    }
    by_capacity = by_capacity && cap_sum > 0;
    const WeightKind kind = by_capacity ? WeightKind::kCapacity : WeightKind::kEqual;
    s.items.resize(m);
    weight_sum = 0;
    for (uint32_t k = 0; k < m; ++k) {
      const int64_t wt = by_capacity ? W.nominal_capacity(cand[k]) : 1;
      s.items[k] = ApportionItem{wt, LoOf(k), HiOf(k), 0, TieOf(k), 0};
      weight_sum += wt;
    }
    leftover = T - internal::Apportion(T, s.items, s.ap, &mins_exceed);
    s.groups.clear();
    s.groups.push_back({0, kind, 0, 0, 0, 1, 0});  // a shared descriptor; weight per cluster
    for (uint32_t k = 0; k < m; ++k) set_share(k, s.items[k].out);
  } else {
    const uint32_t G = static_cast<uint32_t>(s.groups.size());
    s.items.resize(G);
    for (uint32_t g = 0; g < G; ++g) {
      const auto& grp = s.groups[g];
      ApportionItem it;
      it.weight = grp.weight;
      it.tie = grp.tie;
      for (uint32_t j = grp.begin; j < grp.end; ++j) {
        uint32_t k = s.contiguous ? j : s.members[j];
        it.lo += LoOf(k);
        it.hi += HiOf(k);
      }
      s.items[g] = it;
    }
    leftover = T - internal::Apportion(T, s.items, s.ap, &mins_exceed);
    for (uint32_t g = 0; g < G; ++g) s.groups[g].share = s.items[g].out;
    for (uint32_t g = 0; g < G; ++g) {
      const auto& grp = s.groups[g];
      auto member = [&](uint32_t j) {
        return s.contiguous ? grp.begin + j : s.members[grp.begin + j];
      };
      if (grp.share == 0) continue;
      if (grp.size == 1) {
        set_share(member(0), grp.share);
        continue;
      }
      if (!any_bounds) {
        // Equal split without bounds: everyone gets the floor, the remainder goes to the
        // largest tie hashes (all remainders are equal).
        const int64_t base = grp.share / grp.size;
        const int64_t extra = grp.share % grp.size;
        if (base > 0) {
          for (uint32_t j = 0; j < grp.size; ++j) set_share(member(j), base);
        }
        if (extra > 0) {
          s.keys.clear();
          for (uint32_t j = 0; j < grp.size; ++j) {
            s.keys.push_back(internal::RoundKey{0, 0, TieOf(member(j)), member(j), 0});
          }
          auto by_tie = [](const internal::RoundKey& a, const internal::RoundKey& b) {
            return a.tie != b.tie ? a.tie > b.tie : a.index < b.index;
          };
          std::nth_element(s.keys.begin(), s.keys.begin() + (extra - 1), s.keys.end(), by_tie);
          for (int64_t j = 0; j < extra; ++j) set_share(s.keys[j].index, base + 1);
        }
        continue;
      }
      s.items.resize(grp.size);
      for (uint32_t j = 0; j < grp.size; ++j) {
        uint32_t k = member(j);
        s.items[j] = ApportionItem{1, s.lo[k], s.hi[k], 0, TieOf(k), 0};
      }
      bool inner_exceed = false;
      internal::Apportion(grp.share, std::span(s.items.data(), grp.size), s.ap, &inner_exceed);
      mins_exceed |= inner_exceed;
      for (uint32_t j = 0; j < grp.size; ++j) set_share(member(j), s.items[j].out);
    }
  }
  res.weight_total = weight_sum;
  if (mins_exceed || sum_lo > T) res.unmet |= kMin;
}

void PlaceCall::CapShares() {
  for (uint32_t k : s.active) {
    EnsureCap(k);
    const uint32_t i = cand[k];
    if ((s.flags[k] & kInMax) && s.share[k] >= s.hi[k] && s.hi[k] < T && s.share[k] > 0) {
      s.limited[k] |= MaxKind(k);
    }
    s.x[k] = std::min(s.share[k], s.cap[k]);
    s.excess[k] = s.share[k] - s.x[k];
    total_excess += s.excess[k];
    if (s.excess[k] > 0) {
      uint32_t why;
      if (s.flags[k] & kOffGroup) {
        why = kAffinityLeader;
      } else if (s.cap[k] < s.real[k]) {
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
    for (uint32_t k : s.active) {
      if ((s.flags[k] & kInMax) && s.share[k] >= s.hi[k] && s.share[k] > 0) {
        s.items.push_back(ApportionItem{s.share[k], 0, leftover, 0, TieOf(k), 0});
        s.item_pos.push_back(k);
        s.limited[k] |= MaxKind(k);
      }
    }
    if (!s.items.empty()) {
      int64_t given = internal::Apportion(leftover, s.items, s.ap);
      for (size_t j = 0; j < s.items.size(); ++j) s.excess[s.item_pos[j]] += s.items[j].out;
      leftover -= given;
      total_excess += given;
    }
  }
}

void PlaceCall::Overflow() {
  const FailoverSpec& fo = pol.failover;
  if (total_excess > 0) {
    switch (fo.overflow) {
      case OverflowMode::kNearest: {
        s.region_excess.assign(R, 0);
        for (uint32_t k : s.active) s.region_excess[W.region_of(cand[k])] += s.excess[k];
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
        for (uint32_t r : s.order) {
          int64_t ex = s.region_excess[r];
          for (uint32_t t : W.regions_by_distance(r)) {
            if (ex == 0) break;
            if (F.rb[t] == kNone32) continue;
            ex -= FillRange(F.rb[t], F.re[t], ex);
          }
          s.region_excess[r] = ex;  // what found no room: recovering clusters may take it
        }
        break;
      }
      case OverflowMode::kOrdered: {
        int64_t ex = total_excess;
        for (const std::string& name : fo.order) {
          if (ex == 0) break;
          if (auto idx = W.FindCluster(name)) {
            if (F.pos[*idx] >= 0) ex -= FillRange(F.pos[*idx], F.pos[*idx] + 1, ex);
          } else if (auto r = W.FindRegion(name)) {
            if (F.rb[*r] != kNone32) ex -= FillRange(F.rb[*r], F.re[*r], ex);
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
}

void PlaceCall::BackfillRecovering() {
  // Availability before hysteresis: what found no room may go to recovering clusters.
  // First back up to their shares (in proportion to what each is short), then any room
  // left, routed as overflow is (nearest to where it failed / the order list / not at all);
  // both steps depend only on the shares, so feeding the answer back is a fixed point.
  const FailoverSpec& fo = pol.failover;
  placed = PlacedNow();
  if (placed < T) {
    s.items.clear();
    s.item_pos.clear();
    for (uint32_t k = 0; k < m; ++k) {
      EnsureCap(k);
      if (!(s.flags[k] & (kHeld | kPaced))) continue;
      int64_t room = std::min(s.share[k], s.real[k]) - s.x[k];
      if (room <= 0) continue;
      s.items.push_back(ApportionItem{room, 0, room, 0, TieOf(k), 0});
      s.item_pos.push_back(k);
    }
    if (!s.items.empty()) {
      internal::Apportion(T - placed, s.items, s.ap);
      for (size_t j = 0; j < s.items.size(); ++j) {
        if (s.items[j].out > 0) Give(s.item_pos[j], s.items[j].out, false);
      }
    }
  }
  if (placed < T && total_excess > 0) {
    switch (fo.overflow) {
      case OverflowMode::kNearest:
        for (uint32_t r : s.order) {
          int64_t ex = std::min(s.region_excess[r], T - placed);
          for (uint32_t t : W.regions_by_distance(r)) {
            if (ex <= 0) break;
            if (F.rb[t] == kNone32) continue;
            ex -= FillRecovering(F.rb[t], F.re[t], ex);
          }
        }
        break;
      case OverflowMode::kOrdered:
        for (const std::string& name : fo.order) {
          if (placed >= T) break;
          if (auto idx = W.FindCluster(name)) {
            if (F.pos[*idx] >= 0) FillRecovering(F.pos[*idx], F.pos[*idx] + 1, T - placed);
          } else if (auto r = W.FindRegion(name)) {
            if (F.rb[*r] != kNone32) FillRecovering(F.rb[*r], F.re[*r], T - placed);
          }
        }
        break;
      case OverflowMode::kNone:
        break;  // overflow goes nowhere, recovering or not
    }
  }
}

void PlaceCall::Spread() {
  const int32_t min_regions = pol.spread.min_regions;
  const int32_t min_zones = pol.spread.min_zones;
  const bool lat_cover = F.has_latency && F.profile.has_value();
  s.region_count.assign(R, 0);
  for (uint32_t k : s.active) s.region_count[W.region_of(cand[k])] += s.x[k];
  auto regions_covered = [&]() {
    int32_t c = 0;
    for (uint32_t r = 0; r < R; ++r) c += s.region_count[r] > 0;
    return c;
  };
  auto zone_of = [&](uint32_t k, int64_t nth) -> int64_t {  // zone the nth replica covers
    const uint32_t i = cand[k];
    auto hz = W.healthy_zones(i);
    if (nth < 0 || nth >= static_cast<int64_t>(hz.size())) return -1;
    return W.zone_id(i, hz[nth]);
  };
  const bool need_zones = min_zones > 1;
  int32_t zones_covered = 0;
  s.zone_count.assign(W.zone_id_count(), 0);
  for (uint32_t k : s.active) {
    for (int64_t j = 0; j < s.x[k]; ++j) {
      int64_t z = zone_of(k, j);
      if (z < 0) break;
      if (s.zone_count[z]++ == 0) ++zones_covered;
    }
  }
  const uint32_t S = lat_cover ? W.source_count(*F.profile) : 0;
  auto source_covered = [&](uint32_t src) {
    for (uint32_t j = F.src_begin[src]; j < F.src_begin[src + 1]; ++j) {
      if (s.region_count[F.src_regions[j]] > 0) return true;
    }
    return false;
  };
  auto move = [&](uint32_t from, uint32_t to) {
    int64_t z = zone_of(from, s.x[from] - 1);
    if (z >= 0 && --s.zone_count[z] == 0) --zones_covered;
    z = zone_of(to, s.x[to]);
    if (z >= 0 && s.zone_count[z]++ == 0) ++zones_covered;
    --s.x[from];
    --s.cov[from];
    --s.region_count[W.region_of(cand[from])];
    ++s.x[to];
    ++s.cov[to];
    ++s.region_count[W.region_of(cand[to])];
    Activate(to);
  };
  // The donor of one replica: keeps its min, its region covered, and (when zones matter)
  // the zone count; takes from the cluster with the most replicas.
  auto find_donor = [&](uint32_t receiver, bool zones_may_drop) -> int64_t {
    int64_t best = -1;
    uint64_t best_tie = 0;
    for (uint32_t k : s.active) {
      if (k == receiver || s.x[k] <= 0 || s.x[k] <= LoOf(k)) continue;
      if (s.region_count[W.region_of(cand[k])] <= 1 &&
          W.region_of(cand[k]) != W.region_of(cand[receiver])) {
        continue;
      }
      if (need_zones) {
        int64_t z = zone_of(k, s.x[k] - 1);
        bool drops = z >= 0 && s.zone_count[z] == 1;
        if (drops && (!zones_may_drop || zones_covered <= min_zones)) continue;
      }
      if (best >= 0 && s.x[k] < s.x[best]) continue;
      const uint64_t t = TieOf(k);
      if (best < 0 || s.x[k] > s.x[best] || t > best_tie) {
        best = k;
        best_tie = t;
      }
    }
    return best;
  };
  auto has_room = [&](uint32_t k) {
    EnsureCap(k);
    return s.cap[k] - s.x[k] > 0;
  };
  uint64_t receiver_tie = 0;
  auto better_receiver = [&](uint32_t a, int64_t b) {
    const uint64_t t = TieOf(a);
    if (b >= 0 && t <= receiver_tie) return false;
    receiver_tie = t;
    return true;
  };
  bool stuck_latency = !lat_cover, stuck_regions = min_regions <= 1, stuck_zones = !need_zones;
  for (int64_t guard = 0; guard < 4 * (int64_t{T} + S + min_regions + min_zones) + 8; ++guard) {
    int64_t receiver = -1;
    bool zones_may_drop = true;
    if (!stuck_latency) {
      for (uint32_t src = 0; src < S && receiver < 0; ++src) {
        if (source_covered(src)) continue;
        for (uint32_t j = F.src_begin[src]; j < F.src_begin[src + 1] && receiver < 0; ++j) {
          uint32_t r = F.src_regions[j];
          if (F.rb[r] == kNone32) continue;
          for (uint32_t k = F.rb[r]; k < F.re[r]; ++k) {
            if (has_room(k) && better_receiver(k, receiver)) receiver = k;
          }
        }
      }
      if (receiver < 0) {
        stuck_latency = true;
        continue;
      }
    } else if (!stuck_regions && regions_covered() < min_regions) {
      for (uint32_t k = 0; k < m; ++k) {
        if (s.region_count[W.region_of(cand[k])] > 0) continue;
        if (has_room(k) && better_receiver(k, receiver)) receiver = k;
      }
      if (receiver < 0) {
        stuck_regions = true;
        continue;
      }
    } else if (!stuck_zones && zones_covered < min_zones) {
      zones_may_drop = false;
      for (uint32_t k = 0; k < m; ++k) {
        int64_t z = zone_of(k, s.x[k]);
        if (z < 0 || s.zone_count[z] > 0 || !has_room(k)) continue;
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
  res.zones_covered = zones_covered;
  if (min_regions > res.regions_covered) res.unmet |= kSpread;
  if (min_zones > res.zones_covered) res.unmet |= kSpread;
  if (F.has_latency) {
    if (!F.profile) {
      res.unmet |= kLatency;
    } else {
      for (uint32_t src = 0; src < S; ++src) {
        if (!source_covered(src)) ++res.sources_uncovered;
      }
      if (res.sources_uncovered > 0) res.unmet |= kLatency;
    }
  }
}

Result PlaceCall::Finish(bool every_eligible) {
  placed = PlacedNow();
  res.placed = static_cast<int32_t>(placed);
  res.unplaced = static_cast<int32_t>(T - placed);
  if (res.unplaced > 0) {
    uint32_t why = 0;
    if (m == 0) why |= kNoCluster;
    if (res.excluded_by_selector) why |= kSelector;
    if (res.excluded_by_residency) why |= kResidency;
    if (res.excluded_by_latency || (F.has_latency && !F.profile)) why |= kLatency;
    if (res.excluded_by_affinity) why |= kAffinity;
    if (unplaced_overflow > 0) why |= kOverflow;
    for (uint32_t k = 0; k < m; ++k) {
      EnsureCap(k);
      const uint32_t i = cand[k];
      if (s.x[k] < s.cap[k]) continue;  // still had room
      if (s.flags[k] & kOffGroup) {
        why |= kAffinityLeader;
      } else if (!W.cluster(i).reachable) {
        why |= kUnreachable;
      } else if ((s.flags[k] & kInMax) && s.x[k] >= s.hi[k] && s.hi[k] < T) {
        why |= MaxKind(k);
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

  if (every_eligible) {
    // For explanations only: every candidate gets a line with its cap and recovery state
    // (computed as for any other; the answer is final, so this changes nothing placed).
    for (uint32_t k = 0; k < m; ++k) {
      Activate(k);
      EnsureCap(k);
    }
    // Every candidate is active: their sorted order is 0..m-1, no sort needed.
    std::iota(s.active.begin(), s.active.end(), 0u);
  } else {
    std::sort(s.active.begin(), s.active.end());
  }
  res.clusters.reserve(s.active.size() + s.outside.size());
  size_t next_group = 0;  // s.contiguous: the group of k, found by walking (k only grows)
  for (uint32_t k : s.active) {
    if (!every_eligible && s.x[k] == 0 && s.share[k] == 0 && s.cur[k] == 0 && s.limited[k] == 0) {
      continue;
    }
    ClusterPlacement p;
    p.cluster = cand[k];
    p.replicas = s.x[k];
    p.share = s.share[k];
    p.limit = s.cap[k];
    p.overflow = s.over[k];
    p.coverage = s.cov[k];
    p.limited_by = s.limited[k];
    if (s.flags[k] & kHeld) {
      p.recovery = RecoveryState::kHeld;
    } else if (s.flags[k] & kPaced) {
      // Judged on the answer, so the pass that grants a step and the passes after it, until
      // the step is done, say the same thing.
      const bool in_flight = s.x[k] > s.rdy[k] || surge_outstanding;
      p.recovery = in_flight && s.x[k] > 0 ? RecoveryState::kStepWaits : RecoveryState::kStepping;
    }
    if (!used_by_others.empty()) {
      p.used_elsewhere = static_cast<int32_t>(
          std::min<int64_t>(used_by_others[cand[k]], std::numeric_limits<int32_t>::max()));
    }
    if (singletons) {
      p.weight_kind = s.groups[0].kind;
      p.weight = p.weight_kind == WeightKind::kCapacity ? W.nominal_capacity(cand[k]) : 1;
      if (p.weight == 0) p.weight_kind = WeightKind::kNone;
      p.group_size = 1;
    } else {
      const auto* grp = &s.groups[0];
      if (s.contiguous) {
        while (next_group + 1 < s.groups.size() && s.groups[next_group].end <= k) ++next_group;
        grp = &s.groups[next_group];
      } else {
        grp = &s.groups[s.group_of[k]];
      }
      p.weight = grp->weight;
      p.weight_kind = grp->kind;
      p.group_size = static_cast<uint16_t>(std::min<uint32_t>(grp->size, 0xffff));
    }
    res.clusters.push_back(p);
  }
  if (!s.outside.empty()) {
    for (const auto& [i, reps] : s.outside) {
      ClusterPlacement p;
      p.cluster = i;
      p.limited_by = F.excluded[i];
      res.clusters.push_back(p);
    }
    std::sort(
        res.clusters.begin(), res.clusters.end(),
        [](const ClusterPlacement& a, const ClusterPlacement& b) { return a.cluster < b.cluster; });
    res.clusters.erase(std::unique(res.clusters.begin(), res.clusters.end(),
                                   [](const ClusterPlacement& a, const ClusterPlacement& b) {
                                     return a.cluster == b.cluster;
                                   }),
                       res.clusters.end());
  }

  // Zone hints: first one replica per healthy zone (best zones first), then by zone capacity.
  for (uint32_t k : s.active) {
    const uint32_t i = cand[k];
    if (s.x[k] <= 0 || W.cluster(i).zones.size() < 2) continue;
    auto hz = W.healthy_zones(i);
    auto part = W.healthy_zone_capacity(i);
    if (hz.empty()) continue;
    const size_t first = res.zones.size();
    if (s.x[k] <= static_cast<int64_t>(hz.size())) {
      // One replica per zone, best zones first: what the apportionment below would give.
      for (int64_t z = 0; z < s.x[k]; ++z) res.zones.push_back({i, hz[z], 1});
    } else {
      bool known = true;
      for (int64_t p : part) known = known && p < kUnbounded;
      s.items.resize(hz.size());
      for (size_t z = 0; z < hz.size(); ++z) {
        ApportionItem it;
        it.weight = known ? std::max<int64_t>(part[z], 1) : 1;
        it.lo = 1;
        it.hi = std::min<int64_t>(part[z], s.x[k]);
        it.tie = ~static_cast<uint64_t>(z);  // earlier zones in the order win ties
        s.items[z] = it;
      }
      internal::Apportion(s.x[k], std::span(s.items.data(), hz.size()), s.ap);
      for (size_t z = 0; z < hz.size(); ++z) {
        if (s.items[z].out > 0) {
          res.zones.push_back({i, hz[z], static_cast<int32_t>(s.items[z].out)});
        }
      }
    }
    std::sort(res.zones.begin() + first, res.zones.end(),
              [](const ZoneHint& a, const ZoneHint& b) { return a.zone < b.zone; });
  }
  for (uint32_t k : s.touched) {
    s.cur[k] = s.rdy[k] = s.over[k] = s.cov[k] = s.share[k] = s.x[k] = s.cap[k] = s.real[k] =
        s.excess[k] = 0;
    s.limited[k] = 0;
    s.flags[k] = 0;
  }
  return std::move(res);
}

}  // namespace meridian::placement::internal
