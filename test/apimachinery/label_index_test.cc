// LabelIndex (apimachinery/label_index.h) against a plain match: for random label sets,
// random selectors (every operator, matchLabels, several requirements), random starting keys
// and random removals and relabellings, ForEachMatch visits exactly the elements
// LabelSelector::Matches accepts, in key order. The seed is printed; MERIDIAN_SEED replays one.
#include "apimachinery/label_index.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace meridian::apimachinery {
namespace {

using Key = std::pair<std::string, std::string>;
using Objects = std::map<Key, Labels>;
using Op = LabelRequirement::Operator;

const Labels& Same(const Labels& l) { return l; }

struct Random {
  std::mt19937 rng;
  int Int(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
  // Small alphabets so that selectors hit, miss and overlap.
  std::string LabelKey() { return std::string("k") + static_cast<char>('0' + Int(4)); }
  std::string Value() { return std::string("v") + static_cast<char>('0' + Int(4)); }
  Key ObjectKey() { return {"ns" + std::to_string(Int(3)), "o" + std::to_string(Int(40))}; }
  Labels LabelSet() {
    Labels l;
    for (int i = Int(4); i > 0; --i) l[LabelKey()] = Value();
    return l;
  }
  LabelSelector Selector() {
    LabelSelector s;
    for (int i = Int(3); i > 0; --i) {
      if (Int(4) == 0) {
        s.match_labels[LabelKey()] = Value();
        continue;
      }
      LabelRequirement r;
      r.key = LabelKey();
      r.op = static_cast<Op>(Int(4));
      if (r.op == Op::kIn || r.op == Op::kNotIn) {
        for (int v = 1 + Int(3); v > 0; --v) r.values.push_back(Value());
      }
      s.match_expressions.push_back(std::move(r));
    }
    return s;
  }
};

std::vector<Key> Indexed(const Objects& objects, const LabelIndex<Objects>& index,
                         const LabelSelector& selector, const Key& from, bool after,
                         size_t stop_after) {
  std::vector<Key> out;
  index.ForEachMatch(objects, selector, from, after, Same, [&](Objects::const_iterator it) {
    out.push_back(it->first);
    return out.size() < stop_after;
  });
  return out;
}

std::vector<Key> Plain(const Objects& objects, const LabelSelector& selector, const Key& from,
                       bool after, size_t stop_after) {
  std::vector<Key> out;
  for (const auto& [k, labels] : objects) {
    if (after ? !(from < k) : k < from) continue;
    if (!selector.Empty() && !selector.Matches(labels)) continue;
    out.push_back(k);
    if (out.size() >= stop_after) break;
  }
  return out;
}

TEST(LabelIndexTest, VisitsExactlyWhatAPlainMatchAccepts) {
  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("MERIDIAN_SEED")) seed = static_cast<unsigned>(std::atol(s));
  std::printf("seed %u (MERIDIAN_SEED=%u replays it)\n", seed, seed);
  Random r{std::mt19937(seed)};
  Objects objects;
  LabelIndex<Objects> index;
  for (int step = 0; step < 400; ++step) {
    // Change the map as the watch cache does: Remove before erasing or relabelling.
    const Key k = r.ObjectKey();
    auto it = objects.find(k);
    if (it != objects.end()) index.Remove(it, it->second);
    if (r.Int(4) == 0) {
      if (it != objects.end()) objects.erase(it);
    } else {
      it = objects.insert_or_assign(k, r.LabelSet()).first;
      index.Add(it, it->second);
    }
    for (int q = 0; q < 10; ++q) {
      const LabelSelector selector = r.Selector();
      const Key from = r.Int(3) == 0 ? Key{} : r.ObjectKey();
      const bool after = r.Int(2) == 0;
      const size_t stop = r.Int(3) == 0 ? 1 + static_cast<size_t>(r.Int(5)) : SIZE_MAX;
      ASSERT_EQ(Indexed(objects, index, selector, from, after, stop),
                Plain(objects, selector, from, after, stop))
          << "seed " << seed << " step " << step << " selector \"" << selector.ToString()
          << "\" from " << from.first << "/" << from.second << (after ? " (after)" : "");
    }
  }
}

TEST(LabelIndexTest, EmptiedPostingsAreDropped) {
  Objects objects;
  LabelIndex<Objects> index;
  auto it = objects.emplace(Key{"a", "x"}, Labels{{"app", "web"}}).first;
  index.Add(it, it->second);
  index.Remove(it, it->second);
  objects.erase(it);
  LabelSelector web;
  web.match_labels["app"] = "web";
  EXPECT_TRUE(Indexed(objects, index, web, {}, false, SIZE_MAX).empty());
  // A second element at a reused address is found only under its own labels.
  it = objects.emplace(Key{"a", "y"}, Labels{{"app", "db"}}).first;
  index.Add(it, it->second);
  EXPECT_TRUE(Indexed(objects, index, web, {}, false, SIZE_MAX).empty());
}

}  // namespace
}  // namespace meridian::apimachinery
