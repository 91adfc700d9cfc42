// One reconcile step of a simulated member cluster (membersim's Reconciler, the pure core every
// watch event and wake-up of a cluster runs) on a settled cluster of N Deployments: the cost a
// member pays per event once it holds many workloads. A settled step makes no writes, so what
// is timed is the reading of the whole cluster (ownership, scheduling, status) and nothing else.
#include <benchmark/benchmark.h>

#include <string>

#include "membersim/quantity.h"
#include "membersim/reconciler.h"
#include "test/membersim/sim_harness.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;

// Two zones with room for every pod of the largest case (2 replicas of 100m each).
ClusterSpec RoomyCluster() {
  ClusterSpec c;
  c.name = "bench-1";
  c.region = "eu-west";
  c.jurisdiction = "eu";
  for (const char* z : {"bench-1a", "bench-1b"}) {
    ZoneSpec zone;
    zone.name = z;
    zone.nodes = 20;
    zone.allocatable.cpu_milli = 64'000;
    zone.allocatable.memory_bytes = int64_t{256} << 30;
    zone.allocatable.pods = 250;
    c.zones.push_back(zone);
  }
  return c;
}

json Deployment(const std::string& name) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec",
           {{"replicas", 2},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "app"},
                               {"image", "shop:1"},
                               {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}}}}}})}}}}}}}};
}

void BM_ReconcileSettledCluster(benchmark::State& state) {
  const int deployments = static_cast<int>(state.range(0));
  testing::SimHarness sim(RoomyCluster());
  for (int i = 0; i < deployments; ++i) sim.Create(kDeployments, Deployment("app-" + std::to_string(i)));
  sim.Run(Duration(10'000));
  const Snapshot settled = sim.Take();
  const SimFaults no_faults;
  const Timestamp now = sim.clock().Now();
  for (auto _ : state) {
    Step step = sim.reconciler().Reconcile(settled, no_faults, now);
    if (!step.writes.empty()) {
      state.SkipWithError("the cluster did not settle");
      break;
    }
    benchmark::DoNotOptimize(step);
  }
  state.counters["pods"] = static_cast<double>(settled.pods.size());
  state.counters["replicasets"] = static_cast<double>(settled.replicasets.size());
}
BENCHMARK(BM_ReconcileSettledCluster)
    ->Arg(100)
    ->Arg(500)
    ->Arg(1500)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace
}  // namespace meridian::membersim

BENCHMARK_MAIN();
