// One Engine::Place call, phase by phase (the steps of engine.h's header comment). The
// phases share per-call state (the candidates' shares, caps, placed replicas, flags) in
// Scratch arrays that stay allocated between calls; PlaceCall holds the rest. Engine::Place
// runs the phases in order; tests may run a prefix and look at the state in between
// (test/placement/place_phases_test.cc). Internal: the only public entry is Engine::Place.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "placement/engine.h"
#include "placement/internal/apportion.h"

namespace meridian::placement::internal {

inline constexpr uint32_t kNone32 = 0xffffffffu;

// Per-candidate flags (Scratch::flags).
enum : uint8_t {
  kHeld = 1,        // recovering: gains nothing
  kPaced = 2,       // returning: gains at most the pace
  kInMax = 4,       // has a per-cluster max
  kCapKnown = 8,    // cap/real computed
  kActive = 16,     // in the active list
  kRoomBound = 32,  // its hi is Workload::pod_room (capacity), not the policy's max
  kOffGroup = 64,   // its affinity group's leader does not run there: holds nothing
};

// The eligible clusters for one combination of selector, effective residency and latency
// bound (Engine caches them: workloads share a handful of combinations).
struct Filter {
  std::vector<uint32_t> cand;      // eligible cluster indices, ascending (region-grouped)
  std::vector<int32_t> pos;        // per cluster: candidate position, -1 when excluded
  std::vector<uint32_t> excluded;  // per cluster: the Constraint bit that excluded it
  std::vector<uint32_t> rb, re;    // per region: candidate range [rb, re), rb = kNone32 if none
  uint32_t by_selector = 0, by_residency = 0, by_latency = 0, by_affinity = 0;
  bool has_latency = false;
  std::optional<uint32_t> profile;  // the latency demand profile, when found
  // Per demand source: the regions within the bound, nearest first.
  std::vector<uint32_t> src_begin, src_regions;
};

// Buffers reused across calls. Per-candidate arrays stay zero between calls: only the
// entries a call touches (those whose flags become non-zero) are reset at its end, so a call
// costs O(what it touches) rather than O(eligible clusters) in memsets.
struct Scratch {
  // Per candidate (indexed by candidate position).
  std::vector<int32_t> cur, rdy, lo, hi, share, x, cap, real, over, cov, excess, own_weight;
  std::vector<uint32_t> limited;
  std::vector<int32_t> group_of;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> active;   // candidates with replicas, a share, current replicas or a cap
  std::vector<uint32_t> touched;  // candidates whose entries must be reset after the call
  // Weight groups.
  struct Group {
    int64_t weight = 0;
    WeightKind kind = WeightKind::kNone;
    uint64_t tie = 0;
    uint32_t begin = 0, end = 0;  // into members (or the candidate range when contiguous)
    uint32_t size = 0;
    int64_t share = 0;
  };
  std::vector<Group> groups;
  std::vector<uint32_t> members;
  bool contiguous = true;  // group members are candidate ranges (no member list needed)
  // Per region.
  std::vector<int64_t> region_weight, region_excess;
  std::vector<int32_t> region_count, region_group;
  std::vector<uint32_t> order;
  // Per zone id.
  std::vector<int32_t> zone_count;
  std::vector<uint8_t> jallow;
  std::vector<ApportionItem> items;
  std::vector<uint32_t> item_pos;
  std::vector<RoundKey> keys;
  ApportionScratch ap;
  std::vector<std::pair<uint32_t, int64_t>> outside;  // excluded clusters with replicas now
};

// Phase 0, the filter: the eligible clusters for `w`. `jurisdiction_allowed` holds per
// jurisdiction id 1 when residency allows it (AllowedJurisdictionBits); empty when the
// workload has no residency restriction.
// `affinity` (when given): its eligible set excludes the rest (kAffinity) after the workload's
// own filters.
std::unique_ptr<Filter> BuildFilter(const World& W, const Workload& w,
                                    std::span<const uint8_t> jurisdiction_allowed,
                                    const AffinityRestriction* affinity = nullptr);
// `out` = per jurisdiction id, 1 when the workload's residency ∩ its matched ResidencyPolicies
// allows it (id 0, no jurisdiction, never).
void AllowedJurisdictionBits(const World& W, const Workload& w, std::vector<uint8_t>& out);

struct PlaceCall {
  // `F` must be the filter for `w`; `s` must be zero in its per-candidate entries (as every
  // finished call leaves it).
  PlaceCall(const World& W, Scratch& s, const Filter& F, const Workload& w, Timestamp now,
            std::span<const int64_t> used_by_others);

  // The phases, in Engine::Place's order.
  // 1. What runs now: per candidate current and ready replicas; replicas on clusters the
  //    filter excludes are kept aside (they get a line with the reason in the result).
  void LoadCurrent();
  // 2. min/max per cluster (distribution.minPerCluster, clusters[...].min/max) and what the
  //    nodes can take (Workload::pod_room, a bound like max).
  void ApplyBounds();
  // 3. Weight groups: named regions or clusters (weights), demand-derived regions
  //    (fromDemand), or none (then every candidate is its own group, by capacity or equal).
  void FormWeightGroups();
  // 4. Shares: the total apportioned across groups, then inside each group.
  void ComputeShares();
  // 5. Each candidate keeps min(share, what it can hold now, its recovery cap); the rest is
  //    excess, with the reason it could not stay. What a max left over goes to the clusters
  //    at their max (it is theirs, but they cannot take it: it overflows too).
  void CapShares();
  // 6. Excess overflows per failover.overflow (nearest regions / the order list / nowhere).
  void Overflow();
  // 7. Availability over hysteresis: what found no room may go to recovering clusters,
  //    first up to their shares, then routed as overflow is.
  void BackfillRecovering();
  // 8. Coverage: single replicas moved so latency sources, spread.minRegions and
  //    spread.minZones are satisfied where possible; unmet ones reported.
  void Spread();
  // 9. The Result (per-cluster lines, unplaced reasons, zone hints); resets the scratch.
  Result Finish(bool every_eligible);

  // Helpers shared by the phases.
  void SetFlag(uint32_t k, uint8_t bits) {
    if (s.flags[k] == 0) s.touched.push_back(k);
    s.flags[k] |= bits;
  }
  void Activate(uint32_t k) {
    if (!(s.flags[k] & kActive)) {
      SetFlag(k, kActive);
      s.active.push_back(k);
    }
  }
  uint64_t TieOf(uint32_t k) const;
  int32_t LoOf(uint32_t k) const { return any_bounds ? s.lo[k] : 0; }
  int32_t HiOf(uint32_t k) const { return any_bounds ? s.hi[k] : T; }
  // The constraint a cluster at its hi is limited by.
  uint32_t MaxKind(uint32_t k) const { return (s.flags[k] & kRoomBound) ? kCapacity : kMax; }
  void Recheck(int64_t ms);
  // What candidate k can hold now (real) and may gain up to under hysteresis (cap).
  void EnsureCap(uint32_t k);
  // Fills candidates [b, e) with up to `amount` of overflow, equally within their room;
  // returns what fit.
  int64_t FillRange(uint32_t b, uint32_t e, int64_t amount);
  // Gives n replicas to recovering candidate k.
  void Give(uint32_t k, int64_t n, bool as_overflow);
  // Fills the recovering candidates of [b, e) with up to `amount`, equally within their room.
  int64_t FillRecovering(uint32_t b, uint32_t e, int64_t amount);
  int64_t PlacedNow() const;

  // Inputs.
  const World& W;
  Scratch& s;
  const Filter& F;
  const Workload& w;
  const PlacementPolicy& pol;
  std::span<const int64_t> used_by_others;
  const uint32_t R;   // regions
  const int32_t T;    // the total
  const uint64_t wh;  // the workload's hash (ties)
  const int64_t now_ms;
  const uint32_t m;  // candidates
  const std::vector<uint32_t>& cand;
  // Per World index, 1 where the affinity group's leader does not run (w.affinity->runs_on);
  // empty when the workload follows no leader.
  std::vector<uint8_t> off_group;

  // State carried from phase to phase.
  Result res;
  int64_t current_total = 0;  // more than T: a surge (make-before-break) is outstanding
  bool surge_outstanding = false;
  // lo/hi are materialised only when the policy has bounds; otherwise every lo is 0 and
  // every hi is the total.
  bool any_bounds = false;
  int64_t sum_lo = 0;       // the minimums, each capped by its max (not yet by the total)
  bool singletons = false;  // no weight groups: every candidate on its own
  int64_t weight_sum = 0;
  bool mins_exceed = false;
  int64_t leftover = 0;                          // what maxes left of the total
  int64_t delay_ms = 0, pace = 0, paced_ms = 0;  // recovery hold, step, paced window
  std::optional<int64_t> recheck_ms;
  int64_t total_excess = 0;
  int64_t unplaced_overflow = 0;  // blocked by the overflow mode itself
  int64_t placed = 0;
};

}  // namespace meridian::placement::internal
