// What the metrics cost on the hot paths, on vs off in the same run:
//   BM_RestGet/0|1     one GET of an object through the RestHandler (MemoryStore), without and
//                      with the request metrics' filter and observer (what the
//                      federation-apiserver installs);
//   BM_RequestMetricsAlone  the same metrics' work for one such GET, timed on its own (the
//                      handler's clock read for the observer, the filter's in-flight hold, the
//                      observer, the hold's release): its ratio to BM_RestGet/0 is the cost,
//                      read without the noise of a difference between two ~4 µs figures;
//   BM_DnsAnswer/0|1   one DNS query answered (HandlePacket), without and with the count of
//                      the answer by qtype/rcode (what the server's workers add);
//   BM_PlacementTiming the timing the placement controller adds around each Engine::Place
//                      (two steady-clock reads and a histogram observation), to compare with
//                      bench_placement's BM_PlaceOne (7-20 µs).
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "dns/packet.h"
#include "dns/query_metrics.h"
#include "dns/records.h"
#include "dns/static_zone.h"
#include "dns/wire.h"
#include "observability/metrics.h"
#include "observability/request_metrics.h"

namespace meridian {
namespace {

namespace rest = apimachinery::rest;

struct Api {
  apimachinery::ResourceRegistry registry;
  apimachinery::MemoryStore store;
  std::unique_ptr<apimachinery::ObjectService> objects;
  std::unique_ptr<observability::RequestMetrics> metrics;
  std::unique_ptr<rest::RestHandler> plain, measured;
  Api() {
    if (!registry.Add(apimachinery::NamespaceResourceInfo()).ok()) abort();
    objects = std::make_unique<apimachinery::ObjectService>(store, RealClock(), registry);
    const apimachinery::ResourceInfo& ns = *registry.Find("", "v1", "namespaces");
    for (int i = 0; i < 100; ++i) {
      nlohmann::json body = {{"apiVersion", "v1"},
                             {"kind", "Namespace"},
                             {"metadata", {{"name", "ns-" + std::to_string(i)}}}};
      if (!objects->Create(ns, "", body).ok()) abort();
    }
    plain = std::make_unique<rest::RestHandler>(*objects, RealClock());
    measured = std::make_unique<rest::RestHandler>(*objects, RealClock());
    metrics = std::make_unique<observability::RequestMetrics>(registry, RealClock());
    measured->AddFilter(metrics->Filter());
    measured->SetObserver(metrics->Observer());
  }
};

void BM_RestGet(benchmark::State& state) {
  static Api api;
  rest::RestHandler& handler = state.range(0) ? *api.measured : *api.plain;
  rest::RestRequest request;
  request.method = "GET";
  request.path = "/api/v1/namespaces/ns-42";
  request.headers["accept"] = "application/json";
  for (auto _ : state) {
    rest::RestResponse r = handler.Handle(request);
    if (r.code != 200) state.SkipWithError("GET failed");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RestGet)->Arg(0)->Arg(1);

void BM_RequestMetricsAlone(benchmark::State& state) {
  static Api api;
  const rest::RestFilter filter = api.metrics->Filter();
  const rest::RestObserver observer = api.metrics->Observer();
  rest::RestRequest request;
  request.method = "GET";
  request.path = "/api/v1/namespaces/ns-42";
  request.headers["accept"] = "application/json";
  rest::RestResponse response;
  response.code = 200;
  const Clock& clock = RealClock();
  for (auto _ : state) {
    const Timestamp received = clock.Now();  // RestHandler::Handle reads it only for an observer
    if (!filter(request).ok()) state.SkipWithError("filter refused");
    observer(request, response, received);
    // The hold released and its vector freed, as when the handler's request is destroyed.
    std::vector<std::shared_ptr<void>>().swap(request.holds);
  }
}
BENCHMARK(BM_RequestMetricsAlone);

std::shared_ptr<const dns::Snapshot> Zone() {
  static auto snap = [] {
    std::string yaml = R"(zones:
  - apex: global.example.com
clientRegions:
  - {cidr: 81.0.0.0/8, region: eu-west}
  - {cidr: 3.0.0.0/8, region: us-east}
defaultRegion: us-east
records:
  - name: web.global.example.com
    strategy: geo
    endpoints:
      - {target: 198.51.100.10, region: eu-west}
      - {target: 203.0.113.10, region: us-east}
)";
    for (int i = 0; i < 10000; ++i) {
      yaml += "  - {name: host" + std::to_string(i) +
              ".global.example.com, endpoints: [{target: 10.0." + std::to_string(i / 250) + "." +
              std::to_string(i % 250) + "}]}\n";
    }
    auto s = dns::ParseStaticZone(yaml, "bench.yaml");
    if (!s.ok()) abort();
    return *s;
  }();
  return snap;
}

void BM_DnsAnswer(benchmark::State& state) {
  const bool count = state.range(0) != 0;
  dns::Message q;
  q.header.id = 42;
  q.questions.push_back(
      {*dns::Name::FromText("web.global.example.com"), dns::RRType::kA, dns::kClassIN});
  const std::vector<uint8_t> query = dns::SerializeMessage(q);
  const dns::IpAddress peer = *dns::IpAddress::Parse("81.2.3.4");
  std::shared_ptr<const dns::Snapshot> zone = Zone();
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();
    dns::PacketResult r = dns::HandlePacket(query, peer, /*udp=*/true, *zone, &out);
    if (count && r.send) dns::CountResponse(r.qtype, r.rcode);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_DnsAnswer)->Arg(0)->Arg(1);

void BM_PlacementTiming(benchmark::State& state) {
  observability::StripedHistogram& h = observability::PlacementDecisionSeconds();
  for (auto _ : state) {
    const auto started = std::chrono::steady_clock::now();
    h.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
}
BENCHMARK(BM_PlacementTiming);

}  // namespace
}  // namespace meridian

BENCHMARK_MAIN();
