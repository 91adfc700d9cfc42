// Failover recovery time, end to end, with Meridian's default settings (health probes every
// 1 s, 1 s timeout, 3 failures for Reachable=False; placement and propagation as shipped).
//
// Setup: membersim (pods Ready 2 s after binding) with three EU members, and the
// federation-apiserver on its SQLite store, on free loopback ports. One EU-resident workload
// of 12 replicas; eu-west-1 is a single-zone member holding 4 of them.
// Each run: `membersim ctl fail-zone eu-west-1 eu-west-1a` (or, with --fault partition,
// `membersim ctl partition eu-west-1`: its API hangs), then poll the federation API every
// 20 ms for
//   detection       injection -> MemberCluster eu-west-1 shows zone eu-west-1a failed
//                   (partition: Reachable=False);
//   full recovery   injection -> the 12 replicas ready on the other members
//                   (status.clusters[].readyReplicas outside eu-west-1 sum to 12).
// Then heal and wait until the workload is back where it was, ready:
//   return          heal -> back where it was (its recoveryDelaySeconds is 1 s, so the runs
//                   do not wait a minute each; the rolling return and make-before-break as
//                   shipped; detection and recovery do not depend on it).
// Each injection waits a random 0-999 ms first (fixed seed), so it lands anywhere in the probe
// cycle as a real fault does.
// Prints every run, then median and max. Bounded: --runs (default 10) and a 60 s limit per
// phase; exits non-zero if a phase times out. Kills what it started.
//
//   build-x/bin/bench_failover_recovery [--runs 10] [--fault zone|partition] [--bin-dir DIR]
//                                       [--apiserver-flag=--health-probe-interval-ms=250 ...]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 2s
  podEvictionDelay: 10s
  node: {cpu: "1", memory: 8Gi, pods: 110}
clusters:
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
  - {name: eu-west-2, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-2a, nodes: 1}]}
  - name: eu-central-1
    region: eu-central
    jurisdiction: eu
    zones: [{name: eu-central-1a, nodes: 1}, {name: eu-central-1b, nodes: 1}]
)";

std::string Federation(int sim_port) {
  std::string out = R"(apiVersion: federation.meridian.io/v1alpha1
kind: Topology
metadata: {name: default}
spec:
  regions:
    - {name: eu-west, jurisdiction: eu, rttMs: {eu-central: 18}}
    - {name: eu-central, jurisdiction: eu, rttMs: {eu-west: 18}}
)";
  for (const auto& [name, region, zones] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"eu-west-1", "eu-west", "[eu-west-1a]"},
           {"eu-west-2", "eu-west", "[eu-west-2a]"},
           {"eu-central-1", "eu-central", "[eu-central-1a, eu-central-1b]"}}) {
    out += "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: " +
           name + "}\nspec:\n  server: http://127.0.0.1:" + std::to_string(sim_port) +
           "/clusters/" + name + "\n  region: " + region + "\n  jurisdiction: eu\n  zones: " + zones +
           "\n";
  }
  out += R"(---
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: app, namespace: bench}
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: app}
    spec:
      replicas: 12
      selector: {matchLabels: {app: app}}
      template:
        metadata: {labels: {app: app}}
        spec:
          containers:
            - {name: app, image: example/app:1, resources: {requests: {cpu: 100m}}}
  placement:
    residency: {jurisdictions: [eu]}
    distribution: {weights: {eu-west-1: 1, eu-west-2: 1, eu-central-1: 1}}
    failover: {overflow: nearest, recoveryDelaySeconds: 1}
)";
  return out;
}

meridian::test_env::E2EFederation fed;

json Get(const std::string& path) { return fed.Api(path); }

// Prints what failed (`what` and its output) unless `r` succeeded.
bool Ok(const meridian::test_env::CommandResult& r, const std::string& what) {
  if (r.exit_code != 0) std::cerr << what << ": " << r.output;
  return r.exit_code == 0;
}

bool Unreachable(const json& member) {
  if (!member.is_object() || !member.contains("status")) return false;
  for (const json& c : member["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Reachable") return c.value("status", "") == "False";
  }
  return false;
}

bool ZoneFailed(const json& member) {
  if (!member.is_object() || !member.contains("status")) return false;
  for (const json& z : member["status"].value("zones", json::array())) {
    if (z.value("name", "") == "eu-west-1a") return !z.value("healthy", true);
  }
  return false;
}

// Ready replicas outside eu-west-1, and whether the placement is the healthy one.
int64_t ReadyElsewhere(const json& w) {
  int64_t n = 0;
  if (!w.is_object() || !w.contains("status")) return 0;
  for (const json& c : w["status"].value("clusters", json::array())) {
    if (c.value("cluster", "") != "eu-west-1") n += c.value("readyReplicas", int64_t{0});
  }
  return n;
}
// Back where it was: eu-west-1 holds its 4 again, ready, nothing kept or retained elsewhere
// (12 placed in all), and all 12 ready.
bool Healthy(const json& w) {
  if (!w.is_object() || !w.contains("status")) return false;
  int64_t on_west1 = 0, placed = 0, ready_west1 = 0;
  for (const json& p : w["status"].value("placement", json::array())) {
    if (p.value("cluster", "") == "eu-west-1") on_west1 = p.value("replicas", int64_t{0});
    placed += p.value("replicas", int64_t{0});
  }
  for (const json& c : w["status"].value("clusters", json::array())) {
    if (c.value("cluster", "") == "eu-west-1") ready_west1 = c.value("readyReplicas", int64_t{0});
  }
  return on_west1 == 4 && ready_west1 == 4 && placed == 12 && !w["status"].contains("retained") &&
         w["status"].value("readyReplicas", int64_t{0}) == 12;
}

// Polls `done` every 20 ms for up to 60 s; returns the elapsed time since `from` or -1.
double WaitMs(Clock::time_point from, const std::function<bool()>& done) {
  if (!meridian::test_env::PollUntil(std::chrono::seconds(60), milliseconds(20), done)) return -1;
  return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"failover recovery time: injected zone failure -> full replica count ready"};
  int runs = 10;
  std::string fault = "zone";
  std::string bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  app.add_option("--runs", runs, "measured runs (>= 1)")->capture_default_str();
  app.add_option("--fault", fault, "zone (fail-zone) or partition (the member's API hangs)")
      ->check(CLI::IsMember({"zone", "partition"}))
      ->capture_default_str();
  app.add_option("--bin-dir", bin_dir, "where membersim, federation-apiserver, fedctl are")
      ->capture_default_str();
  std::vector<std::string> apiserver_flags;
  app.add_option("--apiserver-flag", apiserver_flags,
                 "an extra federation-apiserver flag (repeatable), e.g. "
                 "--apiserver-flag=--health-failure-threshold=1; the defaults are measured "
                 "without any");
  CLI11_PARSE(app, argc, argv);
  if (runs < 1) {
    std::cerr << "--runs must be >= 1\n";
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("meridian-failover-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "membersim.yaml") << kMembersim;

  std::string error;
  if (!fed.Start({.bin_dir = bin_dir,
                  .dir = dir,
                  .membersim_config = (dir / "membersim.yaml").string(),
                  .apiserver_flags = apiserver_flags},
                 &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::ofstream(dir / "federation.yaml") << Federation(fed.sim_port());
  if (!Ok(fed.Fedctl("apply -f " + (dir / "federation.yaml").string()), "fedctl apply")) return 1;
  const std::string workload = "/apis/federation.meridian.io/v1alpha1/namespaces/bench/federatedworkloads/app";
  const std::string member = "/apis/federation.meridian.io/v1alpha1/memberclusters/eu-west-1";
  if (WaitMs(Clock::now(), [&] { return Healthy(Get(workload)); }) < 0) {
    std::cerr << "the workload never became ready: " << Get(workload).dump(2) << "\n";
    return 1;
  }

  std::vector<double> detection, recovery;
  std::printf("fault: %s of eu-west-1 (4 of 12 replicas), %d runs\n", fault.c_str(), runs);
  std::printf("run  detection_ms  full_recovery_ms  return_ms\n");
  std::vector<double> returns;
  std::mt19937 phase_rng(20261121);  // fixed seed: the same phases every time
  for (int run = 1; run <= runs; ++run) {
    // A real fault lands anywhere in the 1 s probe cycle; without this the runs lock onto
    // the phase where the previous run's return was seen and the detection time is that
    // phase, not a median over faults.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 999)(phase_rng)));
    const auto t0 = Clock::now();
    const bool zone = fault == "zone";
    const std::string inject = zone ? "fail-zone eu-west-1 eu-west-1a" : "partition eu-west-1";
    if (!Ok(fed.MembersimCtl(inject), "membersim ctl " + inject)) return 1;
    const double detected = WaitMs(t0, [&] {
      json m = Get(member);
      return zone ? ZoneFailed(m) : Unreachable(m);
    });
    const double recovered = WaitMs(t0, [&] { return ReadyElsewhere(Get(workload)) >= 12; });
    if (detected < 0 || recovered < 0) {
      std::cerr << "run " << run << ": timed out (detected " << detected << " ms, recovered "
                << recovered << " ms)\n" << Get(workload).dump(2) << "\n";
      return 1;
    }
    detection.push_back(detected);
    recovery.push_back(recovered);
    const std::string heal = zone ? "heal-zone eu-west-1 eu-west-1a" : "heal eu-west-1";
    if (!Ok(fed.MembersimCtl(heal), "membersim ctl " + heal)) return 1;
    const double returned = WaitMs(Clock::now(), [&] { return Healthy(Get(workload)); });
    if (returned < 0) {
      std::cerr << "run " << run << ": did not return after healing\n";
      return 1;
    }
    returns.push_back(returned);
    std::printf("%3d  %12.0f  %16.0f  %9.0f\n", run, detected, recovered, returned);
    std::fflush(stdout);
  }
  std::printf("detection:     median %.0f ms, max %.0f ms (floor 6000 ms)\n", Median(detection),
              *std::max_element(detection.begin(), detection.end()));
  std::printf("full recovery: median %.0f ms, max %.0f ms (floor 15000 ms median)\n",
              Median(recovery), *std::max_element(recovery.begin(), recovery.end()));
  std::printf("return:        median %.0f ms, max %.0f ms (heal -> back where it was, ready; "
              "recoveryDelaySeconds 1, default pace)\n",
              Median(returns), *std::max_element(returns.begin(), returns.end()));
  fed.Stop();
  fs::remove_all(dir);
  const bool ok = Median(recovery) <= 15000 &&
                  *std::max_element(detection.begin(), detection.end()) <= 6000;
  return ok ? 0 : 3;
}
