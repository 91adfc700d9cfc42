// Seeded property tests over thousands of random worlds. A failure prints the seed and the
// whole world as JSON; replay one seed with MERIDIAN_PLACEMENT_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>

#include "placement/engine.h"
#include "placement/policy_json.h"

namespace meridian::placement {
namespace {

using nlohmann::json;

const Timestamp kNow = Timestamp(std::chrono::seconds(1'800'000'000));

struct RandomWorld {
  std::vector<ClusterState> clusters;
  TopologySpec topology;
  Workload workload;
};

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int64_t Int(int64_t a, int64_t b) { return std::uniform_int_distribution<int64_t>(a, b)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(0, static_cast<int64_t>(v.size()) - 1)];
  }

 private:
  std::mt19937_64 rng_;
};

RandomWorld MakeWorld(uint64_t seed, bool with_recovery = true) {
  Gen g(seed);
  RandomWorld rw;
  const std::vector<std::string> jurisdictions = {"eu", "us", "in", ""};
  const int nr = static_cast<int>(g.Int(1, 6));
  std::vector<std::string> regions;
  for (int r = 0; r < nr; ++r) {
    RegionSpec spec;
    spec.name = "r" + std::to_string(r);
    spec.jurisdiction = g.Pick(jurisdictions);
    regions.push_back(spec.name);
    rw.topology.regions.push_back(spec);
  }
  for (int a = 0; a < nr; ++a) {
    for (int b = a + 1; b < nr; ++b) {
      if (g.Chance(80))
        rw.topology.regions[a].rtt_ms[regions[b]] = static_cast<int32_t>(g.Int(1, 250));
    }
  }
  DemandProfile prof{"users", {}};
  const int ns = static_cast<int>(g.Int(1, 4));
  for (int s = 0; s < ns; ++s) {
    DemandSource src{"s" + std::to_string(s), g.Int(0, 100), {}};
    for (const std::string& r : regions) {
      if (g.Chance(70)) src.rtt_ms[r] = static_cast<int32_t>(g.Int(1, 200));
    }
    prof.sources.push_back(src);
  }
  rw.topology.demand_profiles.push_back(prof);

  const int nc = static_cast<int>(g.Int(0, 14));
  for (int c = 0; c < nc; ++c) {
    ClusterState cs;
    cs.name = "c" + std::to_string(c);
    cs.region = g.Pick(regions);
    if (g.Chance(10)) cs.jurisdiction = g.Pick(jurisdictions);
    cs.labels["tier"] = g.Chance(70) ? "prod" : "dev";
    if (g.Chance(70)) cs.allocatable_replicas = g.Int(0, 40);
    const int nz = static_cast<int>(g.Int(0, 3));
    for (int z = 0; z < nz; ++z) {
      ZoneState zs;
      zs.name = cs.region + "-z" + std::to_string(g.Int(0, 3));
      bool dup = false;
      for (const ZoneState& o : cs.zones) dup = dup || o.name == zs.name;
      if (dup) continue;
      zs.healthy = g.Chance(85);
      if (g.Chance(20)) zs.allocatable_replicas = g.Int(0, 15);
      if (with_recovery && zs.healthy && g.Chance(15)) {
        zs.last_transition_time = kNow - std::chrono::seconds(g.Int(0, 200));
      }
      cs.zones.push_back(zs);
    }
    cs.reachable = g.Chance(88);
    if (with_recovery && cs.reachable && g.Chance(15)) {
      cs.healthy_since = kNow - std::chrono::seconds(g.Int(0, 200));
    }
    rw.clusters.push_back(cs);
  }

  Workload& w = rw.workload;
  w.key = "ns/w" + std::to_string(seed);
  w.replicas = static_cast<int32_t>(g.Int(0, 60));
  PlacementPolicy& p = w.policy;
  if (g.Chance(25)) {
    apimachinery::LabelSelector sel;
    sel.match_labels["tier"] = "prod";
    p.cluster_selector = sel;
  }
  if (g.Chance(30)) {
    ResidencySpec r;
    r.jurisdictions.push_back(g.Pick(jurisdictions));
    if (r.jurisdictions[0].empty()) r.jurisdictions[0] = "eu";
    if (g.Chance(40)) r.jurisdictions.push_back(r.jurisdictions[0] == "us" ? "in" : "us");
    p.residency = r;
  }
  if (g.Chance(20)) w.residency_policies.push_back({"guard", {g.Chance(50) ? "eu" : "us"}});
  if (g.Chance(15))
    p.latency =
        LatencySpec{g.Chance(90) ? "users" : "nobody", static_cast<int32_t>(g.Int(10, 150))};
  const int mode = static_cast<int>(g.Int(0, 2));
  if (mode == 0) {
    const int nw = static_cast<int>(g.Int(1, 4));
    for (int i = 0; i < nw; ++i) {
      std::string key =
          g.Chance(60) || nc == 0 ? g.Pick(regions) : "c" + std::to_string(g.Int(0, nc - 1));
      p.distribution.weights[key] = g.Int(0, 10);
    }
  } else if (mode == 1) {
    p.distribution.from_demand = true;
  }
  if (g.Chance(20)) p.distribution.min_per_cluster = static_cast<int32_t>(g.Int(0, 3));
  for (int c = 0; c < nc; ++c) {
    if (!g.Chance(15)) continue;
    ClusterBounds b;
    if (g.Chance(50)) b.min = static_cast<int32_t>(g.Int(0, 5));
    if (g.Chance(70)) b.max = static_cast<int32_t>(g.Int(b.min.value_or(0), 20));
    p.distribution.clusters["c" + std::to_string(c)] = b;
  }
  if (g.Chance(20)) p.spread.min_regions = static_cast<int32_t>(g.Int(0, 4));
  if (g.Chance(20)) p.spread.min_zones = static_cast<int32_t>(g.Int(0, 6));
  const int overflow = static_cast<int>(g.Int(0, 5));
  p.failover.overflow = overflow <= 3   ? OverflowMode::kNearest
                        : overflow == 4 ? OverflowMode::kOrdered
                                        : OverflowMode::kNone;
  if (p.failover.overflow == OverflowMode::kOrdered) {
    const int no = static_cast<int>(g.Int(1, 4));
    std::set<std::string> seen;
    for (int i = 0; i < no; ++i) {
      std::string name =
          g.Chance(50) || nc == 0 ? g.Pick(regions) : "c" + std::to_string(g.Int(0, nc - 1));
      if (seen.insert(name).second) p.failover.order.push_back(name);
    }
  }
  p.failover.recovery_delay_seconds = static_cast<int32_t>(g.Int(0, 120));
  if (g.Chance(30)) {
    p.failover.recovery_max_replicas_per_step = {static_cast<int32_t>(g.Int(1, 5)), false};
  }
  if (g.Chance(40) && nc > 0) {
    for (int c = 0; c < nc; ++c) {
      if (!g.Chance(50)) continue;
      const auto replicas = static_cast<int32_t>(g.Int(0, 20));
      w.current.push_back({"c" + std::to_string(c), replicas,
                           static_cast<int32_t>(g.Int(0, replicas))});
    }
  }
  return rw;
}

std::string Dump(const RandomWorld& rw) {
  json clusters = json::array();
  for (const ClusterState& c : rw.clusters) {
    json cj = {{"name", c.name},
               {"region", c.region},
               {"jurisdiction", c.jurisdiction},
               {"labels", c.labels},
               {"reachable", c.reachable}};
    if (c.allocatable_replicas) cj["allocatable"] = *c.allocatable_replicas;
    if (c.healthy_since) cj["healthySince"] = FormatRfc3339(*c.healthy_since);
    for (const ZoneState& z : c.zones) {
      json zj = {{"name", z.name}, {"healthy", z.healthy}};
      if (z.allocatable_replicas) zj["allocatable"] = *z.allocatable_replicas;
      if (z.last_transition_time) zj["lastTransitionTime"] = FormatRfc3339(*z.last_transition_time);
      cj["zones"].push_back(zj);
    }
    clusters.push_back(cj);
  }
  json current = json::array();
  for (const Assignment& a : rw.workload.current)
    current.push_back({{"cluster", a.cluster}, {"replicas", a.replicas}});
  json rp = json::array();
  for (const ResidencyRule& r : rw.workload.residency_policies)
    rp.push_back({{"name", r.name}, {"jurisdictions", r.jurisdictions}});
  json world = {{"clusters", clusters},
                {"topology", EncodeTopologySpec(rw.topology)},
                {"workload",
                 {{"key", rw.workload.key},
                  {"replicas", rw.workload.replicas},
                  {"placement", EncodePlacementPolicy(rw.workload.policy)},
                  {"residencyPolicies", rp},
                  {"current", current}}},
                {"now", FormatRfc3339(kNow)}};
  return world.dump(2);
}

}  // namespace

void PrintTo(const Assignment& a, std::ostream* os) { *os << a.cluster << "=" << a.replicas; }

namespace {

std::string Render(const World& world, const Workload& w, const Result& r) {
  std::string out;
  for (uint32_t i = 0; i < world.size(); ++i) out += "  " + Explain(world, w, r, i) + "\n";
  return out + "  " + ExplainUnplaced(world, w, r) + "\n";
}

bool Allowed(const std::vector<std::string>& list, const std::string& j) {
  return !j.empty() && std::find(list.begin(), list.end(), j) != list.end();
}

std::vector<Assignment> AsCurrent(const World& world, const Result& r) {
  std::vector<Assignment> out;
  for (const ClusterPlacement& p : r.clusters) {
    if (p.replicas > 0) out.push_back({world.cluster(p.cluster).name, p.replicas});
  }
  return out;
}

// Returns "" or the first violated property.
std::string CheckInvariants(const World& world, const Workload& w, const Result& r) {
  const PlacementPolicy& p = w.policy;
  int64_t sum = 0;
  for (const ClusterPlacement& cp : r.clusters) {
    const ClusterState& c = world.cluster(cp.cluster);
    const std::string& jur = world.jurisdiction_of(cp.cluster);
    if (cp.replicas < 0) return c.name + ": negative replicas";
    sum += cp.replicas;
    if (cp.replicas == 0) continue;
    if (p.residency && !Allowed(p.residency->jurisdictions, jur))
      return c.name + ": residency violated";
    for (const ResidencyRule& rule : w.residency_policies) {
      if (!Allowed(rule.jurisdictions, jur)) return c.name + ": ResidencyPolicy violated";
    }
    if (p.cluster_selector && !p.cluster_selector->Matches(c.labels))
      return c.name + ": selector violated";
    if (cp.replicas > world.capacity(cp.cluster)) return c.name + ": capacity exceeded";
    auto b = p.distribution.clusters.find(c.name);
    if (b != p.distribution.clusters.end() && b->second.max && cp.replicas > *b->second.max) {
      return c.name + ": max exceeded";
    }
  }
  if (sum != r.placed) return "placed != sum of replicas";
  if (r.placed + r.unplaced != std::max(0, w.replicas)) return "placed + unplaced != total";
  if (r.placed > std::max(0, w.replicas)) return "total exceeded";
  if (r.unplaced > 0 && r.unplaced_because == 0) return "unplaced without a reason";
  // Minimums: honoured for clusters that can take them when the minimums fit the total.
  if (!(r.unmet & kMin)) {
    const int64_t delay_ms = int64_t{p.failover.recovery_delay_seconds} * 1000;
    for (uint32_t i = 0; i < world.size(); ++i) {
      const ClusterState& c = world.cluster(i);
      int64_t min = p.distribution.min_per_cluster;
      auto b = p.distribution.clusters.find(c.name);
      if (b != p.distribution.clusters.end() && b->second.min) min = *b->second.min;
      if (b != p.distribution.clusters.end() && b->second.max)
        min = std::min<int64_t>(min, *b->second.max);
      if (min <= 0 || world.capacity(i) < min) continue;
      bool eligible = Explain(world, w, r, i).find("excluded by") == std::string::npos;
      if (!eligible) continue;
      if (auto rec = world.recovered_at(i)) {
        auto since = std::chrono::duration_cast<std::chrono::milliseconds>(kNow - *rec).count();
        if (since < delay_ms + 3'600'000) continue;  // hold or paced return
      }
      if (r.ReplicasOf(i) < min) return c.name + ": min " + std::to_string(min) + " not honoured";
    }
  }
  return "";
}

uint64_t FirstSeed() {
  const char* s = std::getenv("MERIDIAN_PLACEMENT_SEED");
  return s ? std::strtoull(s, nullptr, 10) : 1;
}
uint64_t SeedCount(uint64_t n) { return std::getenv("MERIDIAN_PLACEMENT_SEED") ? 1 : n; }

TEST(PlacementProperties, InvariantsDeterminismIdempotence) {
  for (uint64_t seed = FirstSeed(), left = SeedCount(4000); left > 0; ++seed, --left) {
    RandomWorld rw = MakeWorld(seed);
    auto world = World::Build(rw.clusters, rw.topology);
    ASSERT_TRUE(world.ok()) << world.status();
    Engine engine(*world);
    Result r = engine.Place(rw.workload, kNow);
    auto context = [&]() {
      return "seed " + std::to_string(seed) +
             " (replay: MERIDIAN_PLACEMENT_SEED=" + std::to_string(seed) + ")\nworld:\n" +
             Dump(rw) + "\nresult:\n" + Render(**world, rw.workload, r);
    };
    std::string bad = CheckInvariants(**world, rw.workload, r);
    ASSERT_EQ(bad, "") << context();
    // Deterministic: a fresh engine (empty caches) gives the identical result.
    Engine fresh(*world);
    ASSERT_EQ(fresh.Place(rw.workload, kNow), r) << "not deterministic\n" << context();
    // Idempotent: feeding the answer back as the current assignment changes nothing
    // (unless a paced recovery is in progress, which moves one step per call by design).
    if (!r.recheck_after) {
      Workload again = rw.workload;
      again.current = AsCurrent(**world, r);
      Result r2 = engine.Place(again, kNow);
      ASSERT_EQ(AsCurrent(**world, r2), again.current) << "not idempotent\n"
                                                       << context() << "second:\n"
                                                       << Render(**world, again, r2);
    }
  }
}

// After a single failure (a cluster becomes unreachable, or one zone fails), replicas move
// only away from the failed capacity: no replica moves between two healthy clusters that
// both keep room.
TEST(PlacementProperties, MinimalMovementAfterOneFailure) {
  int checked = 0;
  for (uint64_t seed = FirstSeed(), left = SeedCount(3000); left > 0; ++seed, --left) {
    RandomWorld rw = MakeWorld(seed, /*with_recovery=*/false);
    // Coverage (spread, latency sources) may legitimately move a replica between healthy
    // clusters; this property is about failover movement.
    rw.workload.policy.spread = {};
    rw.workload.policy.latency.reset();
    if (rw.clusters.empty()) continue;
    Gen g(seed * 7919);
    auto before = World::Build(rw.clusters, rw.topology);
    ASSERT_TRUE(before.ok());
    Engine e0(*before);
    Workload w = rw.workload;
    w.current.clear();
    Result r0 = e0.Place(w, kNow);
    w.current = AsCurrent(**before, r0);
    // Fail one cluster or one zone.
    const size_t victim =
        static_cast<size_t>(g.Int(0, static_cast<int64_t>(rw.clusters.size()) - 1));
    ClusterState& v = rw.clusters[victim];
    if (!v.zones.empty() && g.Chance(60)) {
      v.zones[g.Int(0, static_cast<int64_t>(v.zones.size()) - 1)].healthy = false;
    } else {
      v.reachable = false;
    }
    auto after = World::Build(rw.clusters, rw.topology);
    ASSERT_TRUE(after.ok());
    Engine e1(*after);
    Result r1 = e1.Place(w, kNow);
    rw.workload = w;
    auto context = [&]() {
      return "seed " + std::to_string(seed) + ", victim " + v.name +
             " (replay: MERIDIAN_PLACEMENT_SEED=" + std::to_string(seed) +
             ")\nworld after failure:\n" + Dump(rw) + "\nbefore:\n" + Render(**before, w, r0) +
             "after:\n" + Render(**after, w, r1);
    };
    ASSERT_EQ(CheckInvariants(**after, w, r1), "") << context();
    // Clusters keep their World index order (same names, same regions).
    std::vector<uint32_t> losers, gainers;
    for (uint32_t i = 0; i < (*after)->size(); ++i) {
      const ClusterState& c = (*after)->cluster(i);
      if (c.name == v.name) continue;
      const int32_t a = r0.ReplicasOf(i), b = r1.ReplicasOf(i);
      auto bounds = w.policy.distribution.clusters.find(c.name);
      int64_t room = (*after)->capacity(i);
      if (bounds != w.policy.distribution.clusters.end() && bounds->second.max) {
        room = std::min<int64_t>(room, *bounds->second.max);
      }
      if (b < a && b < room) losers.push_back(i);
      if (b > a && b < room) gainers.push_back(i);
    }
    ++checked;
    ASSERT_TRUE(losers.empty() || gainers.empty())
        << (*after)->cluster(losers[0]).name << " lost while " << (*after)->cluster(gainers[0]).name
        << " gained\n"
        << context();
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace meridian::placement

namespace meridian::placement {
namespace {

// Issue 16: every cluster of the fleet has exactly one primary reason, consistent with the
// answer; and explaining does not change the answer.
std::string CheckReasons(const World& world, const Workload& w, const Result& plain,
                         const Result& r) {
  // The placement with every eligible cluster listed is the same placement.
  for (uint32_t i = 0; i < world.size(); ++i) {
    if (plain.ReplicasOf(i) != r.ReplicasOf(i)) return world.cluster(i).name + ": explain changed it";
  }
  if (plain.unplaced != r.unplaced || plain.recheck_after != r.recheck_after) {
    return "explain changed unplaced / recheck";
  }
  const PlacementPolicy& p = w.policy;
  for (uint32_t i = 0; i < world.size(); ++i) {
    const ClusterState& c = world.cluster(i);
    ClusterReason why = Why(world, w, r, i, kNow);
    const std::string tag = c.name + " (" + ReasonName(why.reason) + ", " + why.message + "): ";
    if (why.cluster != i || why.replicas != r.ReplicasOf(i)) return tag + "wrong cluster/replicas";
    if (why.message.rfind(c.name + ": ", 0) != 0) return tag + "message does not name it";
    const bool holds = why.replicas > 0;
    switch (why.reason) {
      case Reason::kPlaced:
      case Reason::kOverflow:
      case Reason::kCoverage:
        if (!holds) return tag + "a placing reason for a cluster with nothing";
        break;
      default:
        if (holds) return tag + "an excluding reason for a cluster holding replicas";
    }
    const ClusterPlacement* cp = r.Find(i);
    if (why.reason == Reason::kOverflow && (!cp || cp->overflow <= 0)) return tag + "no overflow";
    if (why.reason == Reason::kUnreachable && c.reachable) return tag + "but reachable";
    if (why.reason == Reason::kResidency) {
      const std::string& jur = world.jurisdiction_of(i);
      bool allowed = !p.residency || Allowed(p.residency->jurisdictions, jur);
      for (const ResidencyRule& rule : w.residency_policies) {
        allowed = allowed && Allowed(rule.jurisdictions, jur);
      }
      if (allowed) return tag + "but its jurisdiction is allowed";
    }
    if (why.reason == Reason::kSelector &&
        (!p.cluster_selector || p.cluster_selector->Matches(c.labels))) {
      return tag + "but the selector matches";
    }
    if (why.reason == Reason::kRecoveryHold && !world.recovered_at(i)) return tag + "not recovering";
    if (why.reason == Reason::kCapacity && world.capacity(i) >= kUnbounded) {
      return tag + "but capacity is unbounded";
    }
  }
  if (r.placed > 0) {
    int64_t overflowed = 0;
    for (const ClusterPlacement& cp : r.clusters) overflowed += cp.overflow;
    const std::vector<std::string> trail = ExplainOverflow(world, w, r, kNow);
    if (overflowed > 0 && trail.empty()) return "overflow without a trail";
    if (trail.size() > 2 * world.size() + world.region_count() + 1) return "trail not bounded";
  }
  return "";
}

TEST(PlacementProperties, EveryClusterHasOneConsistentReason) {
  for (uint64_t seed = FirstSeed(), left = SeedCount(3000); left > 0; ++seed, --left) {
    RandomWorld rw = MakeWorld(seed);
    auto world = World::Build(rw.clusters, rw.topology);
    ASSERT_TRUE(world.ok()) << world.status();
    Engine engine(*world);
    Result plain = engine.Place(rw.workload, kNow);
    Result r = engine.Place(rw.workload, kNow, {}, /*every_eligible=*/true);
    std::string bad = CheckReasons(**world, rw.workload, plain, r);
    ASSERT_EQ(bad, "") << "seed " << seed << " (replay: MERIDIAN_PLACEMENT_SEED=" << seed
                       << ")\nworld:\n"
                       << Dump(rw) << "\nresult:\n"
                       << Render(**world, rw.workload, r);
    // The engine's scratch is clean after an explained call: the next plain call agrees.
    ASSERT_EQ(engine.Place(rw.workload, kNow), plain) << "seed " << seed;
  }
}

}  // namespace
}  // namespace meridian::placement
