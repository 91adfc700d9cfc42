#include "placement/internal/apportion.h"

#include <algorithm>
#include <functional>

namespace meridian::placement::internal {
namespace {

using i128 = __int128;
enum : uint8_t { kFree = 0, kAtLo = 1, kAtHi = 2 };

using Key = RoundKey;

bool Before(const Key& a, const Key& b) {
  if (a.rem_hi != b.rem_hi) return a.rem_hi > b.rem_hi;
  if (a.rem_lo != b.rem_lo) return a.rem_lo > b.rem_lo;
  if (a.keeps != b.keeps) return a.keeps > b.keeps;
  if (a.tie != b.tie) return a.tie > b.tie;
  return a.index < b.index;
}

}  // namespace

int64_t Apportion(int64_t total, std::span<ApportionItem> items, ApportionScratch& scratch,
                  bool* mins_exceed) {
  if (total < 0) total = 0;
  const size_t n = items.size();
  int64_t sum_lo = 0, sum_cap = 0;
  bool bounded = false;  // some weighted item has a bound that may bind
  bool any_held = false;
  for (ApportionItem& it : items) {
    if (it.lo < 0) it.lo = 0;
    if (it.hi > total) it.hi = total;
    if (it.lo > it.hi) it.lo = it.hi;
    sum_lo += it.lo;
    sum_cap += it.weight > 0 ? it.hi : it.lo;
    bounded |= it.weight > 0 && (it.lo > 0 || it.hi < total);
    any_held |= it.held > 0;
  }
  if (sum_lo > total) {
    // Minimums cannot all be honoured: divide the total in proportion to them.
    if (mins_exceed) *mins_exceed = true;
    for (ApportionItem& it : items) {
      it.weight = it.lo;
      it.hi = it.lo;
      it.lo = 0;
    }
    return Apportion(total, items, scratch, nullptr);
  }
  if (sum_cap <= total) {
    for (ApportionItem& it : items) it.out = it.weight > 0 ? it.hi : it.lo;
    return sum_cap;
  }

  // Water-fill. Invariant: the exact continuous solution exists (Σlo <= total < Σcap).
  scratch.state.assign(n, kFree);
  for (size_t i = 0; i < n; ++i) {
    if (items[i].weight == 0) {
      scratch.state[i] = kAtLo;
    } else if (items[i].lo == items[i].hi) {
      scratch.state[i] = kAtHi;  // nothing to decide
    }
  }
  i128 rest = 0, wsum = 0;
  if (!bounded) {
    // No weighted item can hit a bound: one proportional round, no water-filling.
    int64_t fixed = 0;
    for (size_t i = 0; i < n; ++i) {
      if (scratch.state[i] == kAtLo)
        fixed += items[i].lo;
      else
        wsum += items[i].weight;
    }
    rest = total - fixed;
  }
  for (; bounded;) {
    int64_t fixed = 0;
    i128 w = 0;
    for (size_t i = 0; i < n; ++i) {
      if (scratch.state[i] == kAtLo)
        fixed += items[i].lo;
      else if (scratch.state[i] == kAtHi)
        fixed += items[i].hi;
      else
        w += items[i].weight;
    }
    rest = total - fixed;
    wsum = w;
    if (w == 0) break;
    // λ = rest / w. Total overshoot above hi and undershoot below lo decide which side is
    // certainly bound in the final solution (the standard capped-simplex argument).
    i128 excess = 0, deficit = 0;
    for (size_t i = 0; i < n; ++i) {
      if (scratch.state[i] != kFree) continue;
      i128 q = rest * items[i].weight;  // quota * w
      i128 h = static_cast<i128>(items[i].hi) * w;
      i128 l = static_cast<i128>(items[i].lo) * w;
      if (q > h) excess += q - h;
      if (q < l) deficit += l - q;
    }
    if (excess == 0 && deficit == 0) break;
    const bool fix_hi = excess >= deficit;
    for (size_t i = 0; i < n; ++i) {
      if (scratch.state[i] != kFree) continue;
      i128 q = rest * items[i].weight;
      if (fix_hi && q > static_cast<i128>(items[i].hi) * w) scratch.state[i] = kAtHi;
      if (!fix_hi && q < static_cast<i128>(items[i].lo) * w) scratch.state[i] = kAtLo;
    }
  }

  // Round: floors, then the remaining units by largest remainder. 64-bit division when the
  // products fit (the common case; 128-bit division is several times slower).
  int64_t placed = 0;
  std::vector<Key>& keys = scratch.keys;
  keys.clear();
  int64_t max_w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (scratch.state[i] == kFree) max_w = std::max(max_w, items[i].weight);
  }
  const bool narrow =
      wsum > 0 && wsum < (i128{1} << 62) && max_w > 0 && rest < (i128{1} << 62) / max_w;
  const uint64_t rest64 = static_cast<uint64_t>(rest), wsum64 = static_cast<uint64_t>(wsum);
  for (size_t i = 0; i < n; ++i) {
    ApportionItem& it = items[i];
    if (scratch.state[i] == kAtLo) {
      it.out = it.lo;
    } else if (scratch.state[i] == kAtHi) {
      it.out = it.hi;
    } else {
      i128 rem;
      if (narrow) {
        uint64_t q = rest64 * static_cast<uint64_t>(it.weight);
        it.out = static_cast<int64_t>(q / wsum64);
        rem = static_cast<i128>(q % wsum64);
      } else {
        i128 q = rest * it.weight;
        it.out = static_cast<int64_t>(q / wsum);
        rem = q % wsum;
      }
      if (rem > 0) {
        const auto urem = static_cast<unsigned __int128>(rem);
        keys.push_back(Key{static_cast<uint64_t>(urem >> 64), static_cast<uint64_t>(urem), it.tie,
                           static_cast<uint32_t>(i),
                           static_cast<uint8_t>(it.held > it.out ? 1 : 0)});
      }
    }
    placed += it.out;
  }
  int64_t k = total - placed;
  if (k > 0 && narrow && !any_held && n < (size_t{1} << 20)) {
    // Fast path: one 128-bit key per candidate, (remainder, tie with the index in its low
    // bits), compared as a single integer.
    std::vector<unsigned __int128>& packed = scratch.packed;
    packed.clear();
    for (const Key& key : keys) {
      packed.push_back((static_cast<unsigned __int128>(key.rem_lo) << 64) |
                       (key.tie & ~uint64_t{0xFFFFF}) | key.index);
    }
    if (static_cast<size_t>(k) < packed.size()) {
      std::nth_element(packed.begin(), packed.begin() + (k - 1), packed.end(),
                       std::greater<unsigned __int128>());
    }
    for (int64_t j = 0; j < k && j < static_cast<int64_t>(packed.size()); ++j) {
      ++items[static_cast<uint32_t>(packed[j] & 0xFFFFF)].out;
      ++placed;
    }
    return placed;
  }
  if (k > 0) {
    // k < keys.size() by construction (Σ fractional parts == k, each < 1).
    if (static_cast<size_t>(k) < keys.size()) {
      std::nth_element(keys.begin(), keys.begin() + k, keys.end(), Before);
    }
    for (int64_t j = 0; j < k && j < static_cast<int64_t>(keys.size()); ++j) {
      ++items[keys[j].index].out;
      ++placed;
    }
  }
  return placed;
}

}  // namespace meridian::placement::internal
