// Placement engine benchmarks (docs/performance.md, "Placement").
//
//   BM_PlaceOne            one workload over 1,000 clusters (the policy mix below, round robin)
//   BM_FullRecompute       100,000 workloads over 1,000 clusters, results kept (peak memory)
//   BM_ZoneFailureReplace  one zone fails: rebuild the World, re-place only the workloads
//                          that had replicas in that cluster
//
// The fleet: 1,000 clusters in 20 regions (4 jurisdictions), 3 zones each, allocatable
// 100..600 replicas, labels tier in {prod, staging, dev} and team in {a..e}. Topology: RTT
// between all regions, 3 demand profiles of 12 sources. Workloads: 1..200 replicas (mean ~100),
// policies mixed: region weights + selector (40%), fromDemand + latency bound (20%), EU
// residency + capacity-proportional (20%), capacity-proportional + spread (20%).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <random>

#include "placement/engine.h"

namespace meridian::placement {
namespace {

const Timestamp kNow = Timestamp(std::chrono::seconds(1'800'000'000));
constexpr int kClusters = 1000;
constexpr int kRegions = 20;
constexpr int kWorkloads = 100'000;

struct Fleet {
  std::vector<ClusterState> clusters;
  TopologySpec topology;
};

Fleet MakeFleet() {
  std::mt19937_64 rng(42);
  auto uni = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  const char* jur[] = {"eu", "us", "in", "jp"};
  Fleet f;
  std::vector<std::pair<int, int>> coords;  // a fake map for plausible RTTs
  for (int r = 0; r < kRegions; ++r) {
    RegionSpec spec;
    spec.name = "region-" + std::to_string(r);
    spec.jurisdiction = jur[r % 4];
    coords.emplace_back(uni(0, 100), uni(0, 100));
    f.topology.regions.push_back(spec);
  }
  for (int a = 0; a < kRegions; ++a) {
    for (int b = a + 1; b < kRegions; ++b) {
      int d = std::abs(coords[a].first - coords[b].first) +
              std::abs(coords[a].second - coords[b].second);
      f.topology.regions[a].rtt_ms[f.topology.regions[b].name] = 5 + d * 2;
    }
  }
  for (int p = 0; p < 3; ++p) {
    DemandProfile prof{"profile-" + std::to_string(p), {}};
    for (int s = 0; s < 12; ++s) {
      DemandSource src{"city-" + std::to_string(s), uni(1, 100), {}};
      int x = uni(0, 100), y = uni(0, 100);
      for (int r = 0; r < kRegions; ++r) {
        int d = std::abs(coords[r].first - x) + std::abs(coords[r].second - y);
        src.rtt_ms[f.topology.regions[r].name] = 3 + d * 2;
      }
      prof.sources.push_back(src);
    }
    f.topology.demand_profiles.push_back(prof);
  }
  const char* tiers[] = {"prod", "prod", "staging", "dev"};
  for (int c = 0; c < kClusters; ++c) {
    ClusterState cs;
    cs.name = "cluster-" + std::to_string(c);
    cs.region = f.topology.regions[c % kRegions].name;
    cs.labels = {{"tier", tiers[uni(0, 3)]},
                 {"team", std::string(1, static_cast<char>('a' + uni(0, 4)))}};
    cs.allocatable_replicas = uni(100, 600);
    for (int z = 0; z < 3; ++z) {
      cs.zones.push_back(ZoneState{cs.region + "-" + static_cast<char>('a' + z), true, std::nullopt,
                                   std::nullopt});
    }
    f.clusters.push_back(cs);
  }
  return f;
}

std::vector<Workload> MakeWorkloads(int n) {
  std::mt19937_64 rng(7);
  auto uni = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  std::vector<Workload> out(n);
  for (int i = 0; i < n; ++i) {
    Workload& w = out[i];
    w.key = "ns-" + std::to_string(i % 500) + "/app-" + std::to_string(i);
    w.replicas = uni(1, 200);
    PlacementPolicy& p = w.policy;
    const int kind = i % 5;
    if (kind <= 1) {
      apimachinery::LabelSelector sel;
      sel.match_labels["tier"] = "prod";
      if (uni(0, 1)) sel.match_labels["team"] = std::string(1, static_cast<char>('a' + uni(0, 4)));
      p.cluster_selector = sel;
      const int nr = uni(2, 5);
      for (int r = 0; r < nr; ++r)
        p.distribution.weights["region-" + std::to_string(uni(0, kRegions - 1))] = uni(1, 10);
      if (uni(0, 3) == 0) p.distribution.min_per_cluster = 1;
    } else if (kind == 2) {
      p.latency = LatencySpec{"profile-" + std::to_string(uni(0, 2)), 120};
      p.distribution.from_demand = true;
    } else if (kind == 3) {
      p.residency = ResidencySpec{{"eu"}};
      if (uni(0, 1)) w.residency_policies.push_back({"eu-guard", {"eu"}});
    } else {
      p.spread.min_regions = 3;
      p.spread.min_zones = 4;
    }
  }
  return out;
}

const Fleet& TheFleet() {
  static const Fleet f = MakeFleet();
  return f;
}
const std::vector<Workload>& TheWorkloads() {
  static const std::vector<Workload> w = MakeWorkloads(kWorkloads);
  return w;
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void BM_PlaceOne(benchmark::State& state) {
  auto world = World::Build(TheFleet().clusters, TheFleet().topology);
  Engine engine(*world);
  const auto& workloads = TheWorkloads();
  // range(0): -1 = the mix; 0..4 = one policy kind (i % 5 == kind) to see where time goes.
  const int kind = static_cast<int>(state.range(0));
  size_t i = 0;
  for (auto _ : state) {
    size_t at = kind < 0 ? i % 1000 : (i % 200) * 5 + static_cast<size_t>(kind);
    Result r = engine.Place(workloads[at], kNow);
    benchmark::DoNotOptimize(r);
    ++i;
  }
}
BENCHMARK(BM_PlaceOne)
    ->Arg(-1)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PlaceOne)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Explanations are lazy: Place() only keeps what Why() / ExplainOverflow() need (every
// eligible cluster with its cap, recovery state and others' use); the sentences are built
// when asked. range(0): 0 = without (the same calls as BM_PlaceOne/-1), 1 = with explanations
// requested (every_eligible). Both in one run, so their ratio is not skewed by load (issue 16:
// < 2x).
void BM_PlaceOneExplained(benchmark::State& state) {
  auto world = World::Build(TheFleet().clusters, TheFleet().topology);
  Engine engine(*world);
  const auto& workloads = TheWorkloads();
  const bool explain = state.range(0) == 1;
  size_t i = 0;
  for (auto _ : state) {
    Result r = engine.Place(workloads[i % 1000], kNow, {}, explain);
    benchmark::DoNotOptimize(r);
    ++i;
  }
}
BENCHMARK(BM_PlaceOneExplained)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

void BM_FullRecompute(benchmark::State& state) {
  auto world = World::Build(TheFleet().clusters, TheFleet().topology);
  const auto& workloads = TheWorkloads();
  std::vector<Result> results;
  for (auto _ : state) {
    Engine engine(*world);
    results.clear();
    results.reserve(workloads.size());
    for (const Workload& w : workloads) results.push_back(engine.Place(w, kNow));
    benchmark::DoNotOptimize(results.data());
  }
  size_t entries = 0, zones = 0;
  for (const Result& r : results) {
    entries += r.clusters.size();
    zones += r.zones.size();
  }
  state.counters["workloads"] = static_cast<double>(workloads.size());
  state.counters["cluster_entries"] = static_cast<double>(entries);
  state.counters["zone_hints"] = static_cast<double>(zones);
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_FullRecompute)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

void BM_ZoneFailureReplace(benchmark::State& state) {
  const Fleet& fleet = TheFleet();
  const auto& workloads = TheWorkloads();
  auto world = World::Build(fleet.clusters, fleet.topology);
  Engine engine(*world);
  std::vector<Result> results;
  results.reserve(workloads.size());
  for (const Workload& w : workloads) results.push_back(engine.Place(w, kNow));
  // The victim: range(0) == 0: the cluster holding replicas of the most workloads (worst
  // case); 1: the median cluster by that count (a typical zone failure).
  std::vector<int> holders((*world)->size());
  for (const Result& r : results) {
    for (const ClusterPlacement& p : r.clusters) holders[p.cluster] += p.replicas > 0;
  }
  std::vector<uint32_t> by_holders(holders.size());
  for (uint32_t i = 0; i < by_holders.size(); ++i) by_holders[i] = i;
  std::sort(by_holders.begin(), by_holders.end(),
            [&](uint32_t a, uint32_t b) { return holders[a] > holders[b]; });
  const uint32_t victim =
      state.range(0) == 0 ? by_holders.front() : by_holders[by_holders.size() / 2];
  const std::string victim_name = (*world)->cluster(victim).name;
  std::vector<size_t> touched;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ReplicasOf(victim) > 0) touched.push_back(i);
  }
  Fleet failed = fleet;
  for (ClusterState& c : failed.clusters) {
    if (c.name == victim_name) c.zones[0].healthy = false;
  }
  for (auto _ : state) {
    auto after = World::Build(failed.clusters, failed.topology);
    Engine e(*after);
    for (size_t i : touched) {
      Result r = e.Place(workloads[i], kNow);
      benchmark::DoNotOptimize(r);
    }
  }
  state.counters["touched_workloads"] = static_cast<double>(touched.size());
}
BENCHMARK(BM_ZoneFailureReplace)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace meridian::placement

BENCHMARK_MAIN();
