// membersim at scale: N simulated clusters (default 1,000 with 10 nodes each) in one process,
// `objects` ConfigMaps per cluster each watched through the API machinery, then HTTP request
// throughput (GET, LIST, PATCH with watch fan-out) against the shared listener, and RSS.
//
//   bench_membersim_scale [--clusters 1000] [--nodes 10] [--objects 100] [--seconds 5]
//                         [--threads 8]
// Prints one line per phase and a markdown table for docs/performance.md. Bounded: every
// phase runs for at most `seconds`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "membersim/kube_resources.h"
#include "membersim/seed.h"
#include "membersim/server.h"
#include "membersim/simulator.h"
// Last: cpprestsdk defines a U() macro that breaks fmt's templates.
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>
#undef U

namespace {

using namespace meridian;
using namespace meridian::membersim;
using Clock_ = std::chrono::steady_clock;

long ProcStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
  }
  return -1;
}
double Mib(long kb) { return kb / 1024.0; }

struct Phase {
  std::string name;
  double rps = 0;
  double p50_ms = 0, p99_ms = 0;
  long ok = 0, failed = 0;
};

// Runs `threads` clients for `seconds`, each calling `one(client, rng)` -> HTTP code.
Phase Load(const std::string& name, const std::string& base, int threads, int seconds,
           const std::function<int(web::http::client::http_client&, std::mt19937&)>& one) {
  std::atomic<long> ok{0}, failed{0};
  std::vector<std::vector<double>> lat(threads);
  auto end = Clock_::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> ts;
  auto start = Clock_::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      web::http::client::http_client client(base);
      std::mt19937 rng(t + 1);
      while (Clock_::now() < end) {
        auto s = Clock_::now();
        int code = 0;
        try {
          code = one(client, rng);
        } catch (const std::exception&) {
        }
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock_::now() - s).count());
        (code >= 200 && code < 300 ? ok : failed)++;
      }
    });
  }
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock_::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Phase p;
  p.name = name;
  p.ok = ok;
  p.failed = failed;
  p.rps = ok / secs;
  if (!all.empty()) {
    p.p50_ms = all[all.size() / 2];
    p.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  std::printf("%-28s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  ok %ld failed %ld\n", name.c_str(), p.rps,
              p.p50_ms, p.p99_ms, p.ok, p.failed);
  std::fflush(stdout);
  return p;
}

std::string ClusterName(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "sim-%04d", i);
  return b;
}

// ConfigMap number `n` (0..objects-1) as seeded below: shard n % 10, index n / 10.
std::string ConfigMapName(int n) { return "cm-" + std::to_string(n % 10) + "-" + std::to_string(n / 10); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"membersim scale bench"};
  int clusters = 1000, nodes = 10, objects = 100, seconds = 5, threads = 8, replicas = 5;
  app.add_option("--clusters", clusters)->check(CLI::Range(1, 5000));
  app.add_option("--nodes", nodes, "nodes per cluster (two zones)")->check(CLI::Range(2, 100));
  app.add_option("--objects", objects, "ConfigMaps per cluster")->check(CLI::Range(0, 1000));
  app.add_option("--seconds", seconds, "duration of each load phase")->check(CLI::Range(1, 30));
  app.add_option("--threads", threads, "client threads")->check(CLI::Range(1, 64));
  app.add_option("--replicas", replicas, "replicas of one Deployment per cluster (0: skip)")->check(CLI::Range(0, 50));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  crossplat::threadpool::initialize_with_threads(256);

  long rss_start = ProcStatusKb("VmRSS:");
  auto t0 = Clock_::now();
  Simulator sim(GenerateConfig(clusters, 2, nodes / 2), RealClock(), {});
  if (!sim.StartClusters().ok()) return 1;
  sim.RunUntilIdle(1000);
  double setup_s = std::chrono::duration<double>(Clock_::now() - t0).count();
  long rss_nodes = ProcStatusKb("VmRSS:");
  std::printf("%d clusters x %d nodes ready in %.2f s, RSS %.0f MiB\n", clusters, nodes, setup_s, Mib(rss_nodes));

  const auto& cm_info = *MemberClusterRegistry().Find("", "v1", "configmaps");
  // The objects go in as membersim's config `seed:` puts them (membersim/seed.h: one
  // ObjectService::Create each), one cluster after another on this thread.
  std::vector<SeedSpec> seeds;
  for (int shard = 0; shard < 10; ++shard) {
    SeedSpec s;
    s.location = "scale_bench";
    s.path = "shard " + std::to_string(shard);
    s.api_version = "v1";
    s.kind = "ConfigMap";
    s.count = objects / 10 + (shard < objects % 10 ? 1 : 0);
    s.name = "cm-" + std::to_string(shard) + "-{i}";
    s.labels = {{"app", "bench"}, {"shard", std::to_string(shard)}};
    s.fields = {{"data", {{"config.yaml", std::string(200, 'x')}, {"index", "{i}"}}}};
    seeds.push_back(std::move(s));
  }
  auto t1 = Clock_::now();
  for (int c = 0; c < clusters; ++c) {
    auto made = SeedCluster(seeds, sim.clusters()[c]->service());
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
      return 1;
    }
  }
  double load_s = std::chrono::duration<double>(Clock_::now() - t1).count();
  // One watch per cluster on its ConfigMaps, as a syncing controller would hold.
  std::atomic<long> events{0};
  std::vector<std::unique_ptr<apimachinery::Watch>> watches;
  for (int c = 0; c < clusters; ++c) {
    apimachinery::ListRequest lr;
    lr.resource_version = std::to_string(sim.clusters()[c]->store().CurrentResourceVersion());
    auto w = sim.clusters()[c]->service().StartWatch(cm_info, "default", lr,
                                                      [&](const apimachinery::ObjectEvent&) { events++; });
    if (!w.ok()) return 1;
    watches.push_back(std::move(w).value());
  }
  long rss_objects = ProcStatusKb("VmRSS:");
  std::printf("%d objects stored in %.2f s (%.0f creates/s), %d watches, RSS %.0f MiB\n", clusters * objects,
              load_s, clusters * objects / load_s, clusters, Mib(rss_objects));

  sim.Start();
  if (replicas > 0) {
    // One Deployment per cluster; time until every one reports all replicas available.
    const auto& dep_info = *MemberClusterRegistry().Find("apps", "v1", "deployments");
    auto t2 = Clock_::now();
    for (int c = 0; c < clusters; ++c) {
      nlohmann::json d = {
          {"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "web"}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", nlohmann::json::array({{{"name", "web"}, {"image", "nginx"},
                                                               {"resources", {{"requests", {{"cpu", "100m"}}}}}}})}}}}}}}};
      if (!sim.clusters()[c]->service().Create(dep_info, "default", d).ok()) return 1;
    }
    int ready = 0;
    auto deadline = Clock_::now() + std::chrono::seconds(120);
    while (Clock_::now() < deadline) {
      ready = 0;
      for (int c = 0; c < clusters; ++c) {
        auto d = sim.clusters()[c]->service().Get(dep_info, "default", "web");
        if (d.ok() && d->contains("status") && (*d)["status"].value("availableReplicas", 0) == replicas) ++ready;
      }
      if (ready == clusters) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    double roll_s = std::chrono::duration<double>(Clock_::now() - t2).count();
    std::printf("%d/%d Deployments x %d replicas available after %.1f s (pod ready delay 2 s), RSS %.0f MiB\n", ready,
                clusters, replicas, roll_s, Mib(ProcStatusKb("VmRSS:")));
    std::fflush(stdout);
  }
  MembersimServer server(sim, RealClock(), {});
  if (!server.Start().ok()) return 1;
  std::string base = server.url();
  std::vector<Phase> phases;
  phases.push_back(Load("GET configmap", base, threads, seconds, [&](auto& client, std::mt19937& rng) {
    std::string path = "/clusters/" + ClusterName(rng() % clusters) + "/api/v1/namespaces/default/configmaps/" +
                       ConfigMapName(rng() % std::max(1, objects));
    return client.request(web::http::methods::GET, path).get().status_code();
  }));
  phases.push_back(Load("LIST configmaps (shard)", base, threads, seconds, [&](auto& client, std::mt19937& rng) {
    std::string path = "/clusters/" + ClusterName(rng() % clusters) +
                       "/api/v1/namespaces/default/configmaps?labelSelector=shard%3D" + std::to_string(rng() % 10);
    auto r = client.request(web::http::methods::GET, path).get();
    r.extract_string().get();
    return r.status_code();
  }));
  phases.push_back(Load("GET node", base, threads, seconds, [&](auto& client, std::mt19937& rng) {
    int c = rng() % clusters;
    return client.request(web::http::methods::GET, "/clusters/" + ClusterName(c) + "/api/v1/nodes/" + ClusterName(c) + "a-node-0")
        .get()
        .status_code();
  }));
  long events_before = events.load();
  phases.push_back(Load("PATCH configmap (watched)", base, threads, seconds, [&](auto& client, std::mt19937& rng) {
    std::string path = "/clusters/" + ClusterName(rng() % clusters) + "/api/v1/namespaces/default/configmaps/" +
                       ConfigMapName(rng() % std::max(1, objects));
    web::http::http_request req(web::http::methods::PATCH);
    req.set_request_uri(path);
    req.set_body("{\"data\":{\"index\":\"" + std::to_string(rng()) + "\"}}", "application/merge-patch+json");
    return client.request(req).get().status_code();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long delivered = events.load() - events_before;
  long rss_end = ProcStatusKb("VmRSS:");
  long hwm = ProcStatusKb("VmHWM:");
  std::printf("watch events delivered during PATCH phase: %ld (patches ok: %ld)\n", delivered, phases.back().ok);
  std::printf("RSS: start %.0f MiB, nodes %.0f MiB, objects+watches %.0f MiB, end %.0f MiB, peak %.0f MiB\n",
              Mib(rss_start), Mib(rss_nodes), Mib(rss_objects), Mib(rss_end), Mib(hwm));

  std::printf("\n| phase | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|\n");
  for (const auto& p : phases) std::printf("| %s | %.0f | %.2f | %.2f |\n", p.name.c_str(), p.rps, p.p50_ms, p.p99_ms);
  server.Stop();
  sim.Stop();
  watches.clear();
  return 0;
}
