// A staged rollout's control overhead on a 100-member fleet (issue 23): from a gate passing to
// the next stage's first member write, end to end on real binaries.
//
// Setup: membersim with 100 clusters in 10 regions (r0..r9, 10 clusters each, pods Ready
// 100 ms after binding) and the federation-apiserver with every controller, on its SQLite
// store, on free loopback ports. A RolloutStrategy of 10 stages, one region each; stages 1-9
// wait for an approval. One workload of 100 replicas (10 per region, one per member).
// Each run changes the image and walks the rollout through its stages:
//   first stage   the template PUT's answer -> the first r0 member's Deployment shows the image;
//   stage k>=1    the approval PUT's answer (the gate passing; the rollout was waiting at it)
//                 -> the first rK member's Deployment shows the image.
// The members are watched straight on membersim (a watch stream per member of the stage, opened
// before the write; the time is when the first member's event arrived), not read from
// Meridian's status. Prints every stage, then the median and max over all runs'
// approval stages against the floor (200 ms). Bounded: --runs (default 3), 60 s per
// wait; exits non-zero on a timeout or a median over the floor. Kills what it started.
//
//   build-x/bin/bench_rollout_stage_overhead [--runs 3] [--bin-dir DIR]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "test/common/e2e_federation.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace cli = meridian::cli;

constexpr int kRegions = 10;
constexpr int kPerRegion = 10;

std::string Member(int region, int i) {
  return "r" + std::to_string(region) + "-" + std::to_string(i);
}

std::string MembersimConfig() {
  std::string out =
      "defaults:\n  podReadyDelay: 100ms\n  node: {cpu: \"4\", memory: 8Gi, pods: 110}\nclusters:\n";
  for (int r = 0; r < kRegions; ++r) {
    for (int i = 0; i < kPerRegion; ++i) {
      const std::string m = Member(r, i);
      out += "  - {name: " + m + ", region: r" + std::to_string(r) +
             ", jurisdiction: us, zones: [{name: " + m + "a, nodes: 1}]}\n";
    }
  }
  return out;
}

std::string Federation(int sim_port) {
  std::string out;
  for (int r = 0; r < kRegions; ++r) {
    for (int i = 0; i < kPerRegion; ++i) {
      const std::string m = Member(r, i);
      out += "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: " +
             m + "}\nspec:\n  server: http://127.0.0.1:" + std::to_string(sim_port) + "/clusters/" +
             m + "\n  region: r" + std::to_string(r) + "\n  jurisdiction: us\n  zones: [" + m + "a]\n";
    }
  }
  out += "---\napiVersion: federation.meridian.io/v1alpha1\nkind: RolloutStrategy\n"
         "metadata: {name: ten-regions}\nspec:\n  gateTimeoutSeconds: 60\n  stages:\n";
  for (int r = 0; r < kRegions; ++r) {
    out += "    - {name: s" + std::to_string(r) + ", selector: {regions: [r" + std::to_string(r) +
           "]}" + (r > 0 ? ", approval: true" : "") + "}\n";
  }
  out += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n";
  return out;
}

json Workload(const std::string& image) {
  json weights = json::object();
  for (int r = 0; r < kRegions; ++r) weights["r" + std::to_string(r)] = 1;
  return json{
      {"apiVersion", "federation.meridian.io/v1alpha1"},
      {"kind", "FederatedWorkload"},
      {"metadata", {{"name", "app"}, {"namespace", "bench"}}},
      {"spec",
       {{"rollout", {{"strategyRef", {{"name", "ten-regions"}}}}},
        {"placement", {{"distribution", {{"weights", weights}}}}},
        {"template",
         {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "app"}}},
          {"spec",
           {{"replicas", kRegions * kPerRegion},
            {"selector", {{"matchLabels", {{"app", "app"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "app"}}}}},
              {"spec", {{"containers", json::array({{{"name", "app"}, {"image", image}}})}}}}}}}}}}}};
}

cli::KindInfo Kind(const std::string& group, const std::string& version, const std::string& plural,
                   const std::string& kind) {
  cli::KindInfo k;
  k.group = group;
  k.version = version;
  k.plural = plural;
  k.kind = kind;
  k.namespaced = true;
  return k;
}

std::unique_ptr<cli::HttpClient> Client(const std::string& server) {
  cli::ClientOptions o;
  o.server = server;
  o.timeout = milliseconds(5000);
  return std::move(cli::HttpClient::Create(o)).value();
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// What a stage's member watches saw: the first time one showed the image, and how many ended.
class WatchState {
 public:
  void Seen(Clock::time_point t) {
    std::lock_guard lock(mu_);
    if (!first_ || t < *first_) first_ = t;
  }
  void Ended(bool seen) {
    std::lock_guard lock(mu_);
    ++ended_;
    if (!seen) ++unseen_;
    cv_.notify_all();
  }
  // The first time, once `n` watches ended each with a sighting; nullopt after `limit` or when
  // a watch ended without one.
  std::optional<Clock::time_point> WaitAll(int n, std::chrono::seconds limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [&] { return ended_ >= n; })) {
      std::cerr << ended_ << " of " << n << " member watches saw the image within " << limit.count()
                << " s\n";
      return std::nullopt;
    }
    if (unseen_ > 0) {
      std::cerr << unseen_ << " member watches ended without seeing the image\n";
      return std::nullopt;
    }
    return first_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Clock::time_point> first_;
  int ended_ = 0, unseen_ = 0;
};

class Bench {
 public:
  explicit Bench(const meridian::test_env::E2EFederation& fed)
      : workloads_(Kind("federation.meridian.io", "v1alpha1", "federatedworkloads", "FederatedWorkload")),
        deployments_(Kind("apps", "v1", "deployments", "Deployment")),
        api_(Client(fed.api_url())) {
    for (int r = 0; r < kRegions; ++r) {
      for (int i = 0; i < kPerRegion; ++i) {
        members_.push_back(Client(fed.sim_url() + "/clusters/" + Member(r, i)));
      }
    }
  }

  json GetWorkload() {
    auto w = api_->Get(workloads_, "bench", "app");
    return w.ok() ? w.value() : json();
  }

  // Polls the workload (every 5 ms, up to 60 s) until `done`; false on the timeout.
  bool WaitWorkload(const std::function<bool(const json&)>& done) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      if (done(GetWorkload())) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  // Polls every member (every 50 ms, up to 60 s) until each one's Deployment shows `image`.
  bool WaitEveryMember(const std::string& image) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (auto& member : members_) {
      for (;;) {
        auto d = member->Get(deployments_, "bench", "app");
        if (d.ok()) {
          const json& c = d.value()["spec"]["template"]["spec"]["containers"];
          if (c.is_array() && !c.empty() && c[0].value("image", "") == image) break;
        }
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
    return true;
  }

  static const json& Rollout(const json& w) {
    static const json kNull;
    if (!w.is_object() || !w.contains("status") || !w["status"].contains("rollout")) return kNull;
    return w["status"]["rollout"];
  }

  // Writes `w` (PUT, unconditional: the controllers write the status meanwhile); the time its
  // answer arrived, or nullopt on an error.
  std::optional<Clock::time_point> Put(json w) {
    w["metadata"].erase("resourceVersion");
    auto r = api_->Update(workloads_, "bench", "app", w);
    if (!r.ok()) {
      std::cerr << "PUT: " << r.error().message << "\n";
      return std::nullopt;
    }
    return Clock::now();
  }

  // Watches region `r`'s members' Deployments (one stream per member, each on its own kept
  // connection) from before the write that should reach them; `write` makes it. The time the
  // first member's Deployment showed `image` (as the watch event arrived), or nullopt when not
  // every member showed it within 60 s (the process must then exit: the watches stay open).
  std::optional<Clock::time_point> FirstWrite(int r, const std::string& image,
                                              const std::function<bool()>& write) {
    std::vector<std::string> versions;
    for (int i = 0; i < kPerRegion; ++i) {
      auto d = members_[r * kPerRegion + i]->Get(deployments_, "bench", "app");
      if (!d.ok()) {
        std::cerr << Member(r, i) << ": " << d.error().message << "\n";
        return std::nullopt;
      }
      versions.push_back(d.value()["metadata"].value("resourceVersion", ""));
    }
    auto state = std::make_shared<WatchState>();
    for (int i = 0; i < kPerRegion; ++i) {
      cli::HttpClient* member = members_[r * kPerRegion + i].get();
      std::thread([this, state, member, image, rv = versions[i]] {
        bool seen = false;
        auto watched = member->Watch(deployments_, "bench", "", rv, [&](const cli::WatchEvent& e) {
          const json& c = e.object["spec"]["template"]["spec"]["containers"];
          if (!c.is_array() || c.empty() || c[0].value("image", "") != image) return true;
          state->Seen(Clock::now());
          seen = true;
          return false;
        });
        if (!watched.ok()) std::cerr << "watch: " << watched.error().message << "\n";
        state->Ended(seen);
      }).detach();
    }
    if (!write()) return std::nullopt;
    return state->WaitAll(kPerRegion, std::chrono::seconds(60));
  }

 private:
  cli::KindInfo workloads_, deployments_;
  std::unique_ptr<cli::HttpClient> api_;
  std::vector<std::unique_ptr<cli::HttpClient>> members_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"staged rollout control overhead: a gate passing -> the next stage's first member write"};
  int runs = 3;
  std::string bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  app.add_option("--runs", runs, "rollouts measured (>= 1), 9 approval stages each")
      ->capture_default_str();
  app.add_option("--bin-dir", bin_dir, "where membersim, federation-apiserver, fedctl are")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (runs < 1) {
    std::cerr << "--runs must be >= 1\n";
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("meridian-rollout-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "membersim.yaml") << MembersimConfig();

  meridian::test_env::E2EFederation fed;
  std::string error;
  if (!fed.Start({.bin_dir = bin_dir, .dir = dir, .membersim_config = (dir / "membersim.yaml").string()},
                 &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::ofstream(dir / "federation.yaml") << Federation(fed.sim_port());
  if (auto r = fed.Fedctl("apply -f " + (dir / "federation.yaml").string()); r.exit_code != 0) {
    std::cerr << "fedctl apply: " << r.output;
    return 1;
  }
  Bench bench(fed);
  {
    std::ofstream(dir / "workload.json") << Workload("example/app:0").dump();
    auto created = fed.Fedctl("apply -f " + (dir / "workload.json").string());
    if (created.exit_code != 0) {
      std::cerr << "fedctl apply (workload): " << created.output;
      return 1;
    }
  }
  auto complete = [](int64_t revision) {
    return [revision](const json& w) {
      const json& r = Bench::Rollout(w);
      return r.is_object() && r.value("revision", int64_t{0}) == revision &&
             r.value("phase", "") == "Complete";
    };
  };
  if (!bench.WaitWorkload(complete(1)) || !bench.WaitEveryMember("example/app:0")) {
    std::cerr << "the first revision never completed: " << bench.GetWorkload().dump(2) << "\n";
    return 1;
  }

  std::vector<double> approval_ms, first_stage_ms;
  std::printf("100 members in 10 regions, 10 stages (stages 1-9 behind an approval), %d runs\n", runs);
  std::printf("run  stage  gate->first member write (ms)\n");
  for (int run = 1; run <= runs; ++run) {
    const std::string image = "example/app:" + std::to_string(run);
    const int64_t revision = run + 1;
    json w = bench.GetWorkload();
    w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    std::optional<Clock::time_point> t0;
    std::optional<Clock::time_point> t1 = bench.FirstWrite(0, image, [&] { return (t0 = bench.Put(w)).has_value(); });
    if (!t1) {
      std::cerr << "run " << run << ": the first stage's members never got " << image << "\n";
      std::fflush(stderr);
      fed.Stop();
      std::_Exit(1);  // member watches are still open
    }
    first_stage_ms.push_back(Ms(*t1 - *t0));
    std::printf("%3d  %5d  %8.1f  (template change)\n", run, 0, first_stage_ms.back());
    for (int stage = 1; stage < kRegions; ++stage) {
      const std::string stage_name = "s" + std::to_string(stage);
      if (!bench.WaitWorkload([&](const json& x) {
            const json& r = Bench::Rollout(x);
            return r.is_object() && r.value("revision", int64_t{0}) == revision &&
                   r.value("phase", "") == "WaitingForApproval" && r.value("stageName", "") == stage_name;
          })) {
        std::cerr << "run " << run << ": never waited for approval at " << stage_name << ": "
                  << Bench::Rollout(bench.GetWorkload()).dump(2) << "\n";
        return 1;
      }
      json waiting = bench.GetWorkload();
      waiting["metadata"]["annotations"]["rollout.federation.meridian.io/approved"] =
          std::to_string(revision) + "/" + stage_name;
      t1 = bench.FirstWrite(stage, image, [&] { return (t0 = bench.Put(waiting)).has_value(); });
      if (!t1) {
        std::cerr << "run " << run << ": stage " << stage_name << "'s members never got " << image << "\n";
        std::fflush(stderr);
        fed.Stop();
        std::_Exit(1);  // member watches are still open
      }
      approval_ms.push_back(Ms(*t1 - *t0));
      std::printf("%3d  %5d  %8.1f\n", run, stage, approval_ms.back());
      std::fflush(stdout);
    }
    if (!bench.WaitWorkload(complete(revision)) || !bench.WaitEveryMember(image)) {
      std::cerr << "run " << run << ": the rollout never completed\n";
      return 1;
    }
  }
  const double median = Median(approval_ms);
  std::printf("approval -> next stage's first member write: median %.1f ms, max %.1f ms over %zu "
              "stages (floor 200 ms)\n",
              median, *std::max_element(approval_ms.begin(), approval_ms.end()), approval_ms.size());
  std::printf("template change -> first stage's first member write: median %.1f ms\n",
              Median(first_stage_ms));
  fed.Stop();
  fs::remove_all(dir);
  return median <= 200 ? 0 : 3;
}
