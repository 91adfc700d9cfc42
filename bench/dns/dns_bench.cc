// In-process cost of answering one DNS query: parse, build the answer from a snapshot,
// serialize. The socket side is measured by dnsperf_vs_nsd.sh.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "dns/answer.h"
#include "dns/server.h"
#include "dns/static_zone.h"

namespace meridian::dns {
namespace {

std::shared_ptr<const Snapshot> BenchSnapshot() {
  static auto snap = [] {
    std::string yaml = R"(zones:
  - apex: global.example.com
rtt:
  - {from: eu-west, to: us-east, ms: 80}
  - {from: eu-west, to: ap-south, ms: 120}
  - {from: us-east, to: ap-south, ms: 200}
clientRegions:
  - {cidr: 81.0.0.0/8, region: eu-west}
  - {cidr: 3.0.0.0/8, region: us-east}
  - {cidr: 103.0.0.0/8, region: ap-south}
defaultRegion: us-east
records:
  - name: static.global.example.com
    endpoints: [{target: 198.51.100.10}, {target: 203.0.113.10}]
  - name: web.global.example.com
    strategy: geo
    endpoints:
      - {target: 198.51.100.10, region: eu-west}
      - {target: 198.51.100.11, region: eu-west}
      - {target: 203.0.113.10, region: us-east}
      - {target: 192.0.2.10, region: ap-south}
  - name: shop.global.example.com
    strategy: weighted
    endpoints:
      - {target: 203.0.113.20, region: us-east, weight: 5}
      - {target: 198.51.100.20, region: eu-west, weight: 3}
      - {target: 192.0.2.20, region: ap-south, weight: 2}
  - name: www.global.example.com
    type: CNAME
    endpoints: [{target: web.global.example.com}]
)";
    // Plus 10,000 unrelated names so that lookups are not in a toy table.
    for (int i = 0; i < 10000; ++i) {
      yaml += "  - {name: host" + std::to_string(i) +
              ".global.example.com, endpoints: [{target: 10.0." + std::to_string(i / 250) + "." +
              std::to_string(i % 250) + "}]}\n";
    }
    auto s = ParseStaticZone(yaml, "bench.yaml");
    if (!s.ok()) abort();
    return *s;
  }();
  return snap;
}

std::vector<uint8_t> QueryBytes(const std::string& name, RRType type, bool ecs) {
  Message q;
  q.header.id = 42;
  q.header.rd = true;
  q.questions.push_back({*Name::FromText(name), type, kClassIN});
  q.edns = Edns{};
  if (ecs) q.edns->client_subnet = ClientSubnet{ClientSubnet::kFamilyIPv4, 24, 0, {81, 2, 3}};
  return SerializeMessage(q);
}

void BM_ParseQuery(benchmark::State& state) {
  auto bytes = QueryBytes("web.global.example.com", RRType::kA, true);
  for (auto _ : state) {
    auto m = ParseMessage(bytes);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_ParseQuery);

// The whole per-packet path, by kind of answer.
void BM_HandlePacket(benchmark::State& state, std::string name, RRType type, bool ecs) {
  auto snap = BenchSnapshot();
  auto bytes = QueryBytes(name, type, ecs);
  std::vector<uint8_t> out;
  const IpAddress peer = IpAddress::V4(3, 3, 3, 3);
  for (auto _ : state) {
    PacketResult r = HandlePacket(bytes, peer, true, *snap, &out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_HandlePacket, static_A, std::string("static.global.example.com"), RRType::kA,
                  false);
BENCHMARK_CAPTURE(BM_HandlePacket, geo_A_ecs, std::string("web.global.example.com"), RRType::kA,
                  true);
BENCHMARK_CAPTURE(BM_HandlePacket, weighted_A, std::string("shop.global.example.com"), RRType::kA,
                  false);
BENCHMARK_CAPTURE(BM_HandlePacket, cname_chain, std::string("www.global.example.com"), RRType::kA,
                  true);
BENCHMARK_CAPTURE(BM_HandlePacket, nxdomain, std::string("nope.global.example.com"), RRType::kA,
                  false);
BENCHMARK_CAPTURE(BM_HandlePacket, refused, std::string("www.example.org"), RRType::kA, false);
BENCHMARK_CAPTURE(BM_HandlePacket, host_in_10k, std::string("host7777.global.example.com"),
                  RRType::kA, false);

void BM_SnapshotBuild10k(benchmark::State& state) {
  // What a publish costs the producer (the DNS controller) for a 10k-name world.
  SnapshotSpec spec;
  spec.zones.push_back(ZoneSpec{.apex = "global.example.com"});
  for (int i = 0; i < 10000; ++i) {
    RecordSetSpec r;
    r.name = "host" + std::to_string(i) + ".global.example.com";
    r.endpoints.push_back(
        {.target = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)});
    spec.record_sets.push_back(r);
  }
  for (auto _ : state) {
    auto s = Snapshot::Build(spec);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_SnapshotBuild10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace meridian::dns

BENCHMARK_MAIN();
