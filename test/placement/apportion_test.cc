#include "placement/internal/apportion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace meridian::placement::internal {
namespace {

struct Case {
  const char* name;
  int64_t total;
  std::vector<ApportionItem> items;  // out ignored
  std::vector<int64_t> want;
  int64_t want_placed;
  bool want_mins_exceed = false;
};

ApportionItem Item(int64_t w, int64_t lo = 0, int64_t hi = 1'000'000, int64_t held = 0,
                   uint64_t tie = 0) {
  return ApportionItem{w, lo, hi, held, tie << 40, 0};  // ties are hashes: high bits matter
}

TEST(Apportion, Table) {
  const std::vector<Case> cases = {
      {"exact 5:3:2 of 30", 30, {Item(5), Item(3), Item(2)}, {15, 9, 6}, 30},
      {"largest remainder 1:1:1 of 10, tie by hash",
       10,
       {Item(1, 0, 100, 0, 1), Item(1, 0, 100, 0, 3), Item(1, 0, 100, 0, 2)},
       {3, 4, 3},
       10},
      {"remainder beats hash", 10, {Item(1, 0, 100, 0, 9), Item(2, 0, 100, 0, 1)}, {3, 7}, 10},
      {"holder keeps the extra replica",
       10,
       {Item(1, 0, 100, 4, 1), Item(1, 0, 100, 3, 3), Item(1, 0, 100, 3, 2)},
       {4, 3, 3},
       10},
      {"holding more than the ceiling does not break the quota rule",
       10,
       {Item(1, 0, 100, 10, 0), Item(1, 0, 100, 0, 9)},
       {5, 5},
       10},
      {"cap water-fills to the others", 30, {Item(5, 0, 9), Item(3), Item(2)}, {9, 13, 8}, 30},
      {"min lifts a small weight", 10, {Item(9), Item(1, 3)}, {7, 3}, 10},
      {"min and cap together (needs the excess/deficit rule)",
       12,
       {Item(10, 0, 5), Item(1, 9)},
       {3, 9},
       12},
      {"weight 0 gets exactly lo", 10, {Item(0, 2), Item(1)}, {2, 8}, 10},
      {"all capped: returns what fits", 30, {Item(1, 0, 4), Item(1, 0, 6)}, {4, 6}, 10},
      {"weight 0 does not absorb leftovers", 30, {Item(1, 0, 4), Item(0, 1, 50)}, {4, 1}, 5},
      {"minimums exceed the total", 3, {Item(1, 2), Item(1, 2), Item(1, 2)}, {1, 1, 1}, 3, true},
      {"zero total", 0, {Item(1, 0), Item(5)}, {0, 0}, 0},
      {"empty", 5, {}, {}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<ApportionItem> items = c.items;
    ApportionScratch scratch;
    bool mins_exceed = false;
    int64_t placed = Apportion(c.total, items, scratch, &mins_exceed);
    EXPECT_EQ(placed, c.want_placed);
    EXPECT_EQ(mins_exceed, c.want_mins_exceed);
    ASSERT_EQ(items.size(), c.want.size());
    for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i].out, c.want[i]) << "item " << i;
  }
}

// Seeded property test: bounds, sum, quota rule against the water-filled real solution.
TEST(Apportion, RandomBoundsAndSum) {
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937_64 rng(seed);
    auto uni = [&](int64_t a, int64_t b) {
      return std::uniform_int_distribution<int64_t>(a, b)(rng);
    };
    const int n = static_cast<int>(uni(1, 12));
    const int64_t total = uni(0, 200);
    std::vector<ApportionItem> items(n);
    for (auto& it : items) {
      it.weight = uni(0, 3) == 0 ? 0 : uni(1, 1000);
      it.lo = uni(0, 3) == 0 ? uni(0, 10) : 0;
      it.hi = uni(0, 2) == 0 ? uni(it.lo, it.lo + 40) : 1'000'000;
      it.held = uni(0, 30);
      it.tie = rng();
    }
    std::vector<ApportionItem> copy = items;
    ApportionScratch scratch;
    bool exceed = false;
    int64_t placed = Apportion(total, items, scratch, &exceed);
    int64_t sum = 0, sum_lo = 0, cap = 0;
    for (int i = 0; i < n; ++i) {
      sum += items[i].out;
      sum_lo += std::min(copy[i].lo, std::min(copy[i].hi, total));
      cap += copy[i].weight > 0 ? std::min(copy[i].hi, total) : std::min(copy[i].lo, total);
    }
    SCOPED_TRACE("seed " + std::to_string(seed));
    ASSERT_EQ(sum, placed);
    ASSERT_LE(placed, total);
    ASSERT_EQ(placed, std::min(total, std::max(cap, std::min(sum_lo, total))));
    for (int i = 0; i < n; ++i) {
      ASSERT_GE(items[i].out, 0);
      if (!exceed) {
        ASSERT_LE(items[i].out, std::min(copy[i].hi, total)) << "item " << i;
        ASSERT_GE(items[i].out, std::min({copy[i].lo, copy[i].hi, total})) << "item " << i;
      }
    }
    // Quota rule against the continuous water-fill x_i = clamp(λ·w_i, lo_i, hi_i) with
    // Σx = total (λ found by bisection in long double): every answer is the floor or the
    // ceiling of its exact quota.
    if (!exceed && placed == total && sum_lo < total) {
      auto clamp_at = [&](long double lambda, int i) {
        const int64_t hi = std::min(copy[i].hi, total);
        const int64_t lo = std::min(copy[i].lo, hi);
        if (copy[i].weight == 0) return static_cast<long double>(lo);
        return std::clamp(lambda * copy[i].weight, static_cast<long double>(lo),
                          static_cast<long double>(hi));
      };
      long double a = 0, b = 1e12L;
      for (int it = 0; it < 200; ++it) {
        long double mid = (a + b) / 2, f = 0;
        for (int i = 0; i < n; ++i) f += clamp_at(mid, i);
        (f < total ? a : b) = mid;
      }
      for (int i = 0; i < n; ++i) {
        const long double q = clamp_at(b, i);
        ASSERT_GE(items[i].out, std::floor(q - 1e-6L)) << "item " << i;
        ASSERT_LE(items[i].out, std::ceil(q + 1e-6L)) << "item " << i;
      }
    }
    // Deterministic.
    std::vector<ApportionItem> again = copy;
    Apportion(total, again, scratch);
    for (int i = 0; i < n; ++i) ASSERT_EQ(again[i].out, items[i].out);
  }
}

}  // namespace
}  // namespace meridian::placement::internal
