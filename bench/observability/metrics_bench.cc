// What the metrics cost on the hot paths, on vs off in the same run:
//   BM_RestGet/0|1     one GET of an object through the RestHandler (MemoryStore), without and
//                      with the request metrics' filter and observer (what the
//                      federation-apiserver installs);
//   BM_RequestMetricsAlone  the same metrics' work for one such GET, timed on its own (the
//                      handler's clock read for the observer, the filter's in-flight hold, the
//                      observer, the hold's release): its ratio to BM_RestGet/0 is the cost,
//                      read without the noise of a difference between two ~4 µs figures;
//   BM_HttpGet/0|1     the same GET as a client sends it: over a kept-alive loopback connection
//                      to the HttpServer the federation-apiserver runs, without and with the
//                      metrics; reported as the server's CPU per GET (`server_cpu_ns`: the
//                      process's CPU minus the client thread's), the GET as the server pays it;
//   BM_DnsAnswer/0|1   one DNS query answered (HandlePacket), without and with the count of
//                      the answer by qtype/rcode (what the server's workers add);
//   BM_PlacementTiming the timing the placement controller adds around each Engine::Place
//                      (two steady-clock reads and a histogram observation), to compare with
//                      bench_placement's BM_PlaceOne (7-20 µs).
#include <benchmark/benchmark.h>
#include <time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/http_server.h"
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

int64_t CpuNanos(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

void BM_HttpGet(benchmark::State& state) {
  namespace http = boost::beast::http;
  using boost::asio::ip::tcp;
  static Api api;
  rest::RestHandler& handler = state.range(0) ? *api.measured : *api.plain;
  auto server = rest::HttpServer::StartOnFreeLoopbackPort(rest::HandlerFor(handler));
  if (!server.ok()) return state.SkipWithError("no server");
  boost::asio::io_context ioc;
  tcp::socket socket(ioc);
  boost::asio::connect(socket, tcp::resolver(ioc).resolve("127.0.0.1", std::to_string((*server)->port())));
  http::request<http::empty_body> request(http::verb::get, "/api/v1/namespaces/ns-42", 11);
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::accept, "application/json");
  request.keep_alive(true);
  boost::beast::flat_buffer buffer;
  const int64_t process_start = CpuNanos(CLOCK_PROCESS_CPUTIME_ID);
  const int64_t client_start = CpuNanos(CLOCK_THREAD_CPUTIME_ID);
  for (auto _ : state) {
    http::write(socket, request);
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    if (response.result_int() != 200) state.SkipWithError("GET failed");
  }
  const int64_t process = CpuNanos(CLOCK_PROCESS_CPUTIME_ID) - process_start;
  const int64_t client = CpuNanos(CLOCK_THREAD_CPUTIME_ID) - client_start;
  state.counters["server_cpu_ns"] = benchmark::Counter(
      static_cast<double>(process - client), benchmark::Counter::kAvgIterations);
  socket.close();
  (*server)->Stop();
}
BENCHMARK(BM_HttpGet)->Arg(0)->Arg(1)->UseRealTime();

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
