// Exact integer apportionment with bounds: the arithmetic under every placement decision.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace meridian::placement::internal {

struct ApportionItem {
  int64_t weight = 0;  // >= 0; weight-0 items get exactly `lo`
  int64_t lo = 0;      // lower bound (>= 0)
  int64_t hi = 0;      // upper bound (>= lo)
  int64_t held = 0;    // what the item holds now: rounding keeps extra replicas where they are
  uint64_t tie = 0;    // last tie-break (a hash, so that no name order is favoured)
  int64_t out = 0;     // the answer
};

// A candidate for one extra replica during rounding.
struct RoundKey {
  uint64_t rem_hi = 0;  // remainder (common denominator), high and low 64 bits
  uint64_t rem_lo = 0;
  uint64_t tie = 0;
  uint32_t index = 0;
  uint8_t keeps = 0;  // already holds more than the floor
};

// Reusable buffers so that the hot path does not allocate.
struct ApportionScratch {
  std::vector<uint8_t> state;
  std::vector<RoundKey> keys;
  std::vector<unsigned __int128> packed;
};

// Divides `total` over `items` in proportion to their weights, water-filled between lo and
// hi: x_i = clamp(λ·w_i, lo_i, hi_i) with λ chosen so that Σx = total (exact rational
// arithmetic), then rounded by the largest-remainder rule. Only items with a fractional
// quota get the extra replica; among those, larger remainders win, then items already
// holding more than the floor, then the larger `tie` (when no item holds anything, only the
// top 44 bits of `tie` count, then the larger index).
// Returns Σout. When Σhi (weight-0 items counting lo) < total, everyone sits at that bound
// and the return is < total. When Σlo > total, `*mins_exceed` is set and the total is
// divided in proportion to the minimums. Pure; O(n) per water-fill round.
int64_t Apportion(int64_t total, std::span<ApportionItem> items, ApportionScratch& scratch,
                  bool* mins_exceed = nullptr);

}  // namespace meridian::placement::internal
