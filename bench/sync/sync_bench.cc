// Sync at scale, real binaries on loopback: membersim with 100 simulated members and a
// federation-apiserver running its controllers in-process (health, placement, propagation —
// the production layout, so the controllers' cost is the real one, sharing the machine with
// the API server and membersim).
//
// Per run (fresh processes, temp dir):
//   1. 100 MemberClusters; 50 of them labelled bench-group=a.
//   2. 1,000 FederatedWorkloads (a ConfigMap each, clusterSelector bench-group=a) applied
//      through the federation API: 50,000 member objects. Measured from member watches
//      (managed-by selector, one per member): member writes per second while syncing
//      (first to last write), time from the first apply until every member holds all 1,000,
//      and until the federation reports every workload Ready.
//   3. One Deployment workload placed on all 100 members, then `--image-changes` image
//      updates of its template: time from the federation write until all 100 members hold
//      the new image.
// Prints every run and the medians. Bounded: every wait has --timeout; stops by itself.
//
// --apps N instead (issue 18): native Deployments selected by PlacementPolicies against the
// same placement written as FederatedWorkloads, both in every run (fresh processes each,
// the order alternating run by run). The members are cut into slots of --per-app; policy p
// (of --policies) selects slot p mod slots, and its Deployments (app d belongs to policy
// d mod --policies) run one replica on each member of that slot (replicas = --per-app,
// minPerCluster 1). Each policy's Deployments reference its ConfigMap and Secret from the
// pod template (envFrom, a secret volume): native, they follow the Deployments; as
// FederatedWorkloads, each dependency is a workload of its own with the same selector. So
// both modes write the same member objects (N x per-app Deployments, 2 x policies x per-app
// dependencies). Measured from member watches as above: time from the first apply until
// every member holds exactly its Deployments and dependencies, and member writes/s.
//
//   bench_sync [--runs 3] [--members 100] [--selected 50] [--workloads 1000]
//              [--image-changes 5] [--timeout 120] [--bin DIR]
//   bench_sync --apps 10000 --policies 100 --members 50 --per-app 5 [--runs 3] ...
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "sync/http_member_client.h"
#include "test/common/child_process.h"

#include <cpprest/http_client.h>  // last: its U() macro breaks fmt's templates

namespace {

using namespace meridian;
using namespace meridian::sync;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

const GroupVersionResource kWorkloads{"federation.meridian.io", "v1alpha1", "federatedworkloads"};
const GroupVersionResource kMembers{"federation.meridian.io", "v1alpha1", "memberclusters"};
const GroupVersionResource kNamespaces{"", "v1", "namespaces"};
const GroupVersionResource kConfigMaps{"", "v1", "configmaps"};
const GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const GroupVersionResource kSecrets{"", "v1", "secrets"};
const GroupVersionResource kPolicies{"federation.meridian.io", "v1alpha1", "placementpolicies"};
const char kSelector[] = "federation.meridian.io/managed-by=meridian";

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// CPU time (user + system) process `pid` has used so far, in seconds; 0 if it is gone.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i) {  // fields 14 and 15: utime, stime
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Peak resident memory (VmHWM) of process `pid` so far, in MiB; 0 if it is gone.
double ProcessPeakRssMiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0;
}

// apiserver_request_total of the server at `url`, summed by "VERB resource[/subresource]",
// and its store's writes and commits
// (empty if /metrics cannot be read): which requests a run made, to tell what costs CPU.
std::map<std::string, double> RequestCounts(const std::string& url) {
  std::map<std::string, double> out;
  try {
    web::http::client::http_client client(url);
    std::string text = client.request(web::http::methods::GET, "/metrics").get().extract_utf8string(true).get();
    std::istringstream lines(text);
    auto label = [](const std::string& line, const std::string& name) {
      const size_t at = line.find(name + "=\"");
      if (at == std::string::npos) return std::string();
      const size_t from = at + name.size() + 2;
      return line.substr(from, line.find('"', from) - from);
    };
    for (std::string line; std::getline(lines, line);) {
      // The store's writes and commits (in-process controllers write without HTTP).
      for (const char* total : {"meridian_storage_writes_per_commit_sum",
                                "meridian_storage_writes_per_commit_count"}) {
        if (line.rfind(total, 0) == 0) {
          out[std::string("store ") + (line.find("_sum") != std::string::npos ? "writes" : "commits")] +=
              std::stod(line.substr(line.rfind(' ') + 1));
        }
      }
      if (line.rfind("apiserver_request_total{", 0) != 0) continue;
      std::string key = label(line, "verb") + " " + label(line, "resource");
      if (std::string sub = label(line, "subresource"); !sub.empty()) key += "/" + sub;
      out[key] += std::stod(line.substr(line.rfind(' ') + 1));
    }
  } catch (const std::exception& e) {
    std::cerr << url << "/metrics: " << e.what() << "\n";
  }
  return out;
}

// Prints the requests `after` counts beyond `before`, per member write, the largest first.
void PrintRequestsPerWrite(const std::string& who, const std::map<std::string, double>& before,
                           const std::map<std::string, double>& after, int64_t writes) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [key, n] : after) {
    auto b = before.find(key);
    const double d = n - (b == before.end() ? 0 : b->second);
    if (d > 0) rows.emplace_back(d, key);
  }
  std::sort(rows.rbegin(), rows.rend());
  std::cerr << who << " requests while syncing (per member write):";
  for (size_t i = 0; i < rows.size() && i < 8; ++i) {
    std::cerr << " " << rows[i].second << " " << static_cast<int64_t>(rows[i].first) << " ("
              << rows[i].first / std::max<int64_t>(1, writes) << ")";
  }
  std::cerr << "\n";
}

std::string MemberName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "sim-%03d", i);
  return buf;
}

std::unique_ptr<HttpMemberClient> Client(const std::string& name, const std::string& server) {
  MemberEndpoint e;
  e.name = name;
  e.server = server;
  e.timeout = std::chrono::seconds(30);
  auto c = HttpMemberClient::Create(e);
  if (!c.ok()) {
    std::cerr << "client for " << server << ": " << c.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(c).value();
}

// What one member's watch has seen of Meridian's objects.
struct MemberView {
  std::mutex mu;  // guards everything below
  std::map<std::string, std::string> image;  // deployment name -> first container image
  std::set<std::string> present;             // config map names
  std::set<std::string> deployments, secrets;  // names present (apps mode)
  // Per Deployment, a hash of what Meridian writes (spec, labels, annotations but membersim's
  // revision): a MODIFIED that changes none of it is membersim's own, not a member write.
  std::map<std::string, size_t> deployment_written;
  int64_t writes = 0;                        // ADDED + MODIFIED + DELETED (non-synthetic)
  Steady::time_point first_write{}, last_write{};
  std::vector<Steady::time_point> write_times;
  std::map<std::string, Steady::time_point> image_seen;  // image -> when first seen
  std::map<std::string, Steady::time_point> deployment_added;  // name -> first ADDED (apps mode)
};

// --hops (apps mode): when each app reached each step of its path, seen from the bench's
// clients and watches: its create answered, its binding (native) or workload created, its
// placement written, its Deployment on the first of its members, on all of them.
struct Hops {
  std::mutex mu;  // guards everything below
  std::map<std::string, Steady::time_point> created, bound, placed;  // by app name
};

// The apps comparison's shape (--apps).
struct AppsShape {
  int apps = 0, policies = 100, per_app = 5;
  bool native = true;
};

struct RunResult {
  double apply_s = 0, placed_s = 0, converge_s = 0, ready_s = 0, writes_per_s = 0;
  double peak_writes_per_s = 0;  // the busiest 1 s window
  int64_t writes = 0;
  // CPU used from the first apply until every member holds every object, per member write
  // (the federation-apiserver with its controllers; membersim, whose side of a write is a
  // real API server's).
  double api_cpu_us_per_write = 0, sim_cpu_us_per_write = 0;
  // Apps mode: the same CPU in seconds (first create -> every member holds its objects), and
  // the API server's per app; and the store's writes (in-process controllers' included) and
  // commits in that time. CPU per app says what a mode costs with less noise than the
  // convergence time, which also carries the scheduling of two saturated cores.
  double api_cpu_s = 0, sim_cpu_s = 0, api_cpu_ms_per_app = 0;
  int64_t store_writes = 0, store_commits = 0;
  // Peak resident memory of each server over the whole run (issue 19's 3 GiB goal).
  double api_peak_rss_mib = 0, sim_peak_rss_mib = 0;
  std::vector<double> image_change_s;
  bool ok = true;
};

class Run {
 public:
  Run(const std::string& bin, int members, int selected, int workloads, int image_changes,
      int timeout_s)
      : bin_(bin),
        members_(members),
        selected_(selected),
        workloads_(workloads),
        image_changes_(image_changes),
        timeout_(std::chrono::seconds(timeout_s)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-bench-sync-" + std::to_string(getpid()) + "-" + std::to_string(++counter_));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Run() {
    watches_.clear();
    api_.Stop();
    sim_.Stop();
    if (!keep_) std::filesystem::remove_all(dir_);
  }

  static inline bool keep_ = false;  // --keep: leave the logs and database for a look
  static inline bool hops_ = false;  // --hops: time each app's steps (apps mode)

  RunResult Go() {
    RunResult r;
    if (!StartProcesses()) return Fail(r);
    if (!Join()) return Fail(r);
    if (!ManyWorkloads(&r)) return Fail(r);
    if (!ImageChanges(&r)) return Fail(r);
    r.api_peak_rss_mib = ProcessPeakRssMiB(api_.pid());
    r.sim_peak_rss_mib = ProcessPeakRssMiB(sim_.pid());
    return r;
  }

  // The apps comparison, one mode (shape.native or FederatedWorkloads).
  RunResult GoApps(const AppsShape& shape) {
    RunResult r;
    apps_ = shape;
    if (!StartProcesses()) return Fail(r);
    if (!Join()) return Fail(r);
    if (!ManyApps(&r)) return Fail(r);
    return r;
  }

 private:
  RunResult Fail(RunResult r) {
    r.ok = false;
    std::cerr << "run failed; logs in " << dir_
              << (keep_ ? "" : " (removed; rerun with --keep to keep them)") << "\n";
    return r;
  }

  bool StartProcesses() {
    std::ofstream cfg(dir_ / "membersim.yaml");
    // Apps mode: a member runs one pod of each of its slot's Deployments (N / slots).
    const int pods = apps_.apps > 0 ? 500 + 2 * apps_.apps : 500;
    // Placement counts a member's room in replicas of 100m CPU when a template requests
    // nothing (failover::ReferencePod): 64 CPUs hold 640, and 10,000 apps put 1,000 on a
    // member. CPUs for twice what a member runs, at least the 64 of the smaller runs.
    const int cpus = std::max(64, 2 * apps_.apps * PerApp() / std::max(1, members_) / 10);
    cfg << "defaults:\n  podReadyDelay: 100ms\n  node: {cpu: \"" << cpus
        << "\", memory: 256Gi, pods: " << pods << "}\n"
           "clusters:\n";
    for (int i = 0; i < members_; ++i) {
      cfg << "  - name: " << MemberName(i) << "\n    region: r-" << i % 10
          << "\n    zones: [{name: " << MemberName(i) << "a, nodes: 1}]\n";
    }
    cfg.close();
    std::string error;
    if (!sim_.Start({bin_ + "/membersim", "--config", (dir_ / "membersim.yaml").string(),
                     "--listen", "127.0.0.1:0", "--watch-history", "20000"},
                    &error, (dir_ / "membersim.log").string())) {
      std::cerr << error << "\n";
      return false;
    }
    sim_url_ = sim_.WaitForLine("membersim listening on ", std::chrono::seconds(60), &error);
    if (sim_url_.empty()) {
      std::cerr << "membersim: " << error << "\n";
      return false;
    }
    sim_.CopyOutputTo((dir_ / "membersim.log").string());
    if (!api_.Start({bin_ + "/federation-apiserver", "--listen", "127.0.0.1:0", "--storage",
                     "sqlite:" + (dir_ / "fed.db").string(), "--log-level", "warn"},
                    &error, (dir_ / "apiserver.log").string())) {
      std::cerr << error << "\n";
      return false;
    }
    api_url_ = api_.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(60),
                                &error);
    if (api_url_.empty()) {
      std::cerr << "federation-apiserver: " << error << "\n";
      return false;
    }
    api_.CopyOutputTo((dir_ / "apiserver.log").string());
    federation_ = Client("federation", api_url_);
    return true;
  }

  bool Join() {
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bench"}}}};
    if (auto s = federation_->Create(kNamespaces, "", ns); !s.ok()) {
      std::cerr << s.status().ToString() << "\n";
      return false;
    }
    views_.resize(members_);
    for (int i = 0; i < members_; ++i) {
      views_[i] = std::make_unique<MemberView>();
      json m = {{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "MemberCluster"},
                {"metadata",
                 {{"name", MemberName(i)},
                  {"labels",
                   {{"bench-group", i < selected_ ? "a" : "b"}, {"bench-slot", Slot(i / PerApp())}}}}},
                {"spec",
                 {{"server", sim_url_ + "/clusters/" + MemberName(i)},
                  {"region", "r-" + std::to_string(i % 10)},
                  {"jurisdiction", "xx"},
                  {"zones", {MemberName(i) + "a"}}}}};
      if (auto s = federation_->Create(kMembers, "", m); !s.ok()) {
        std::cerr << s.status().ToString() << "\n";
        return false;
      }
      member_clients_.push_back(Client(MemberName(i), sim_url_ + "/clusters/" + MemberName(i)));
      for (const GroupVersionResource& gvr : {kConfigMaps, kDeployments, kSecrets}) {
        MemberView* view = views_[i].get();
        auto w = member_clients_.back()->Watch(
            gvr, "", kSelector, "", [view, gvr](const MemberWatchEvent& e) { Observe(*view, gvr, e); });
        if (!w.ok()) {
          std::cerr << w.status().ToString() << "\n";
          return false;
        }
        watches_.push_back(std::move(w).value());
      }
    }
    return true;
  }

  static void Observe(MemberView& v, const GroupVersionResource& gvr, const MemberWatchEvent& e) {
    const auto now = Steady::now();
    const std::string name = e.object["metadata"].value("name", "");
    std::lock_guard lock(v.mu);
    bool write = !e.synthetic;
    if (gvr == kDeployments) {
      const json& meta = e.object["metadata"];
      // membersim's deployment controller adds the revision annotation, as Kubernetes'.
      json annotations = meta.value("annotations", json::object());
      if (annotations.is_object()) annotations.erase("deployment.kubernetes.io/revision");
      const size_t written =
          std::hash<std::string>()(e.object.value("spec", json()).dump() +
                                   meta.value("labels", json()).dump() + annotations.dump());
      auto [it, added] = v.deployment_written.emplace(name, written);
      if (!added && e.type == MemberEventType::kModified && it->second == written) write = false;
      it->second = written;
      if (e.type == MemberEventType::kDeleted) v.deployment_written.erase(it);
    }
    if (write) {
      if (v.writes++ == 0) v.first_write = now;
      v.last_write = now;
      v.write_times.push_back(now);
    }
    std::set<std::string>& names = gvr == kConfigMaps    ? v.present
                                   : gvr == kSecrets     ? v.secrets
                                                         : v.deployments;
    if (e.type == MemberEventType::kDeleted) {
      names.erase(name);
    } else {
      names.insert(name);
    }
    if (gvr != kDeployments || e.type == MemberEventType::kDeleted) return;
    if (e.type == MemberEventType::kAdded) v.deployment_added.emplace(name, now);
    const json& c = e.object["spec"]["template"]["spec"]["containers"];
    if (!c.is_array() || c.empty()) return;
    const std::string image = c[0].value("image", "");
    v.image[name] = image;
    v.image_seen.emplace(image, now);
  }

  bool WaitFor(const std::function<bool()>& done, const char* what,
               std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
    const auto deadline = Steady::now() + timeout_;
    while (Steady::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(poll);
    }
    std::cerr << "timed out after " << timeout_.count() << " s waiting for " << what << "\n";
    return false;
  }

  bool ManyWorkloads(RunResult* r) {
    // Scraped before the clock starts: two /metrics reads are not part of the sync.
    const auto api_requests0 = RequestCounts(api_url_), sim_requests0 = RequestCounts(sim_url_);
    const double api_cpu0 = ProcessCpuSeconds(api_.pid()), sim_cpu0 = ProcessCpuSeconds(sim_.pid());
    const auto t0 = Steady::now();
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> appliers;
    for (int t = 0; t < 8; ++t) {
      appliers.emplace_back([&] {
        auto client = Client("federation", api_url_);
        for (int i = next++; i < workloads_; i = next++) {
          char name[16];
          std::snprintf(name, sizeof name, "cm-%04d", i);
          json w = {{"apiVersion", "federation.meridian.io/v1alpha1"},
                    {"kind", "FederatedWorkload"},
                    {"metadata", {{"name", name}, {"namespace", "bench"}}},
                    {"spec",
                     {{"template",
                       {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"index", name}}}}},
                      {"placement",
                       {{"clusterSelector", {{"matchLabels", {{"bench-group", "a"}}}}}}}}}};
          if (auto s = client->Create(kWorkloads, "bench", w); !s.ok()) {
            if (failed++ == 0) std::cerr << s.status().ToString() << "\n";
          }
        }
      });
    }
    for (auto& t : appliers) t.join();
    r->apply_s = Seconds(Steady::now() - t0);
    if (failed > 0) return false;

    // Placement's share of the time (the propagation controller starts on a workload only
    // once it is placed). Listing 1,000 workloads costs the server too: poll slowly.
    auto all_placed = [&] {
      int placed = 0;
      const bool listed = ForEachWorkload([&](const json& w) {
        if (w.contains("status") && !w["status"].value("placement", json::array()).empty()) ++placed;
      });
      return listed && placed >= workloads_;
    };
    if (!WaitFor(all_placed, "every workload to be placed", ListPollInterval())) {
      return false;
    }
    r->placed_s = Seconds(Steady::now() - t0);
    std::cerr << "placed after " << r->placed_s << " s\n";

    auto all_present = [&] {
      for (int i = 0; i < selected_; ++i) {
        std::lock_guard lock(views_[i]->mu);
        if (static_cast<int>(views_[i]->present.size()) < workloads_) return false;
      }
      return true;
    };
    if (!WaitFor(all_present, "every selected member to hold every ConfigMap")) return false;
    const double api_cpu = ProcessCpuSeconds(api_.pid()) - api_cpu0;
    const double sim_cpu = ProcessCpuSeconds(sim_.pid()) - sim_cpu0;
    const auto api_requests = RequestCounts(api_url_), sim_requests = RequestCounts(sim_url_);
    Steady::time_point first = Steady::time_point::max(), last{};
    int64_t writes = 0;
    for (int i = 0; i < selected_; ++i) {
      std::lock_guard lock(views_[i]->mu);
      first = std::min(first, views_[i]->first_write);
      last = std::max(last, views_[i]->last_write);
      writes += views_[i]->writes;
    }
    r->writes = writes;
    std::vector<Steady::time_point> times;
    for (int i = 0; i < selected_; ++i) {
      std::lock_guard lock(views_[i]->mu);
      times.insert(times.end(), views_[i]->write_times.begin(), views_[i]->write_times.end());
    }
    std::sort(times.begin(), times.end());
    size_t lo = 0;
    for (size_t hi = 0; hi < times.size(); ++hi) {
      while (times[hi] - times[lo] > std::chrono::seconds(1)) ++lo;
      r->peak_writes_per_s = std::max<double>(r->peak_writes_per_s, hi - lo + 1);
    }
    r->converge_s = Seconds(last - t0);
    r->writes_per_s = writes / std::max(1e-3, Seconds(last - first));
    r->api_cpu_us_per_write = 1e6 * api_cpu / std::max<int64_t>(1, writes);
    r->sim_cpu_us_per_write = 1e6 * sim_cpu / std::max<int64_t>(1, writes);
    std::cerr << "in members after " << r->converge_s << " s, " << r->writes_per_s
              << " writes/s; CPU per member write: federation-apiserver "
              << r->api_cpu_us_per_write << " us, membersim " << r->sim_cpu_us_per_write << " us\n";
    PrintRequestsPerWrite("federation-apiserver", api_requests0, api_requests, writes);
    PrintRequestsPerWrite("membersim", sim_requests0, sim_requests, writes);

    auto all_ready = [&] {
      int ready = 0;
      const bool listed = ForEachWorkload([&](const json& w) {
        for (const json& c : w["status"].value("conditions", json::array())) {
          if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ++ready;
        }
      });
      return listed && ready >= workloads_;
    };
    if (!WaitFor(all_ready, "every workload to report Ready", ListPollInterval())) {
      return false;
    }
    r->ready_s = Seconds(Steady::now() - t0);
    return true;
  }

  // Every workload of the bench, LISTed in pages of 500 as kubectl and client-go's pager do: a
  // whole LIST of 10,000 workloads placed on 100 members each is hundreds of MB in one answer,
  // which would make the server's peak RSS the bench's poll rather than the fleet. False when a
  // page failed.
  bool ForEachWorkload(const std::function<void(const json&)>& visit) {
    MemberListOptions page;
    page.limit = 500;
    do {
      auto list = federation_->List(kWorkloads, "bench", page);
      if (!list.ok()) return false;
      for (const json& w : list->items) visit(w);
      page.continue_token = list->continue_token;
    } while (!page.continue_token.empty());
    return true;
  }

  // How often to LIST every workload while waiting: 250 ms per 1,000 workloads, so that the
  // polls' share of the server's work does not grow with the fleet.
  std::chrono::milliseconds ListPollInterval() const {
    return std::chrono::milliseconds(250 * std::max(1, workloads_ / 1000));
  }

  json WideWorkload(const std::string& image) {
    return {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "FederatedWorkload"},
            {"metadata", {{"name", "wide"}, {"namespace", "bench"}}},
            {"spec",
             {{"template",
               {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", {{"name", "wide"}}},
                {"spec",
                 {{"replicas", members_},
                  {"selector", {{"matchLabels", {{"app", "wide"}}}}},
                  {"template",
                   {{"metadata", {{"labels", {{"app", "wide"}}}}},
                    {"spec", {{"containers", {{{"name", "main"}, {"image", image}}}}}}}}}}}},
              {"placement", {{"distribution", {{"minPerCluster", 1}}}}}}}};
  }

  bool AllHaveImage(const std::string& image) {
    for (int i = 0; i < members_; ++i) {
      std::lock_guard lock(views_[i]->mu);
      auto it = views_[i]->image.find("wide");
      if (it == views_[i]->image.end() || it->second != image) return false;
    }
    return true;
  }

  bool ImageChanges(RunResult* r) {
    if (auto s = federation_->Create(kWorkloads, "bench", WideWorkload("example/wide:0")); !s.ok()) {
      std::cerr << s.status().ToString() << "\n";
      return false;
    }
    if (!WaitFor([&] { return AllHaveImage("example/wide:0"); }, "the wide workload everywhere")) {
      return false;
    }
    for (int change = 1; change <= image_changes_; ++change) {
      const std::string image = "example/wide:" + std::to_string(change);
      const auto t1 = Steady::now();
      for (int attempt = 0;; ++attempt) {
        auto got = federation_->Get(kWorkloads, "bench", "wide");
        if (!got.ok()) return false;
        json w = *got;
        w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = image;
        auto updated = federation_->Update(kWorkloads, "bench", w);
        if (updated.ok()) break;
        if (updated.status().code() != StatusCode::kAborted || attempt > 10) {
          std::cerr << updated.status().ToString() << "\n";
          return false;
        }
      }
      if (!WaitFor([&] { return AllHaveImage(image); }, "the new image on every member")) {
        for (int i = 0; i < members_; ++i) {
          std::string seen;
          {
            std::lock_guard lock(views_[i]->mu);
            seen = views_[i]->image["wide"];
          }
          if (seen == image) continue;
          auto got = member_clients_[i]->Get(kDeployments, "bench", "wide");
          std::cerr << MemberName(i) << ": watch saw " << seen << ", GET says "
                    << (got.ok() ? (*got)["spec"]["template"]["spec"]["containers"][0]
                                       .value("image", "")
                                 : got.status().ToString())
                    << "\n";
        }
        return false;
      }
      Steady::time_point last{};
      for (int i = 0; i < members_; ++i) {
        std::lock_guard lock(views_[i]->mu);
        last = std::max(last, views_[i]->image_seen[image]);
      }
      r->image_change_s.push_back(Seconds(last - t1));
    }
    return true;
  }


  int PerApp() const { return apps_.apps > 0 ? std::max(1, apps_.per_app) : members_; }
  int Slots() const { return std::max(1, members_ / PerApp()); }
  static std::string Slot(int s) { return "s-" + std::to_string(s); }
  static std::string Name(const char* prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s-%05d", prefix, i);
    return buf;
  }
  // The placement every object of policy `p` gets: one replica on each member of its slot.
  json AppPlacement(int p) const {
    return {{"clusterSelector", {{"matchLabels", {{"bench-slot", Slot(p % Slots())}}}}},
            {"distribution", {{"minPerCluster", 1}}}};
  }
  json AppDeployment(int d) const {
    const int p = d % apps_.policies;
    const std::string name = Name("app", d);
    json container = {{"name", "main"}, {"image", "example/app:1"}};
    container["envFrom"] = json::array({{{"configMapRef", {{"name", Name("cfg", p)}}}}});
    container["volumeMounts"] = json::array({{{"name", "creds"}, {"mountPath", "/creds"}}});
    json pod_spec;
    pod_spec["containers"] = json::array({container});
    pod_spec["volumes"] =
        json::array({{{"name", "creds"}, {"secret", {{"secretName", Name("sec", p)}}}}});
    json deployment;
    deployment["apiVersion"] = "apps/v1";
    deployment["kind"] = "Deployment";
    deployment["metadata"] = {{"name", name}, {"namespace", "bench"}};
    deployment["metadata"]["labels"] = {{"bench-policy", Name("p", p)}};
    deployment["spec"]["replicas"] = PerApp();
    deployment["spec"]["selector"]["matchLabels"] = {{"app", name}};
    deployment["spec"]["template"]["metadata"]["labels"] = {{"app", name}};
    deployment["spec"]["template"]["spec"] = std::move(pod_spec);
    return deployment;
  }
  json AppConfigMap(int p) const {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", Name("cfg", p)}, {"namespace", "bench"}}},
            {"data", {{"LOG_LEVEL", "info"}, {"POLICY", Name("p", p)}}}};
  }
  json AppSecret(int p) const {
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", Name("sec", p)}, {"namespace", "bench"}}},
            {"type", "Opaque"},
            {"data", {{"password", "c2VjcmV0"}}}};
  }
  static json Workload(json tmpl, json placement) {
    const std::string name = tmpl["metadata"].value("name", "");
    tmpl["metadata"].erase("namespace");
    return {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "FederatedWorkload"},
            {"metadata", {{"name", name}, {"namespace", "bench"}}},
            {"spec", {{"template", std::move(tmpl)}, {"placement", std::move(placement)}}}};
  }
  json Policy(int p) const {
    return {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "PlacementPolicy"},
            {"metadata", {{"name", Name("p", p)}, {"namespace", "bench"}}},
            {"spec",
             {{"resourceSelectors",
               {{{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"labelSelector", {{"matchLabels", {{"bench-policy", Name("p", p)}}}}}}}},
              {"placement", AppPlacement(p)}}}};
  }

  // Creates `count` objects made by `make(i)` through the API with 8 clients.
  bool CreateAll(int count, const GroupVersionResource& gvr,
                 const std::function<json(int)>& make,
                 const std::function<void(int)>& on_created = nullptr) {
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> appliers;
    for (int t = 0; t < 8; ++t) {
      appliers.emplace_back([&] {
        auto client = Client("federation", api_url_);
        for (int i = next++; i < count; i = next++) {
          if (auto s = client->Create(gvr, "bench", make(i)); !s.ok()) {
            if (failed++ == 0) std::cerr << s.status().ToString() << "\n";
          } else if (on_created) {
            on_created(i);
          }
        }
      });
    }
    for (auto& t : appliers) t.join();
    return failed == 0;
  }

  // --hops: watches the federation's FederatedWorkloads for each app's binding (native:
  // "deployment-<app>") or workload and its first placement.
  bool WatchHops() {
    auto w = federation_->Watch(kWorkloads, "bench", "", "", [this](const MemberWatchEvent& e) {
      const auto now = Steady::now();
      if (e.type == MemberEventType::kDeleted) return;
      std::string name = e.object["metadata"].value("name", "");
      if (name.rfind("deployment-", 0) == 0) name = name.substr(std::strlen("deployment-"));
      if (name.rfind("app-", 0) != 0) return;
      const json& placement = e.object.value("status", json::object()).value("placement", json());
      std::lock_guard lock(hops_data_.mu);
      hops_data_.bound.emplace(name, now);
      if (placement.is_array() && !placement.empty()) hops_data_.placed.emplace(name, now);
    });
    if (!w.ok()) {
      std::cerr << w.status().ToString() << "\n";
      return false;
    }
    watches_.push_back(std::move(w).value());
    return true;
  }

  // --hops: per step, the median / p90 / max over the apps of the time since the step before.
  void PrintHops(Steady::time_point t0) {
    std::map<std::string, Steady::time_point> first_member, all_members;
    std::map<std::string, int> members_holding;
    for (const auto& v : views_) {
      std::lock_guard lock(v->mu);
      for (const auto& [name, t] : v->deployment_added) {
        auto [f, added] = first_member.emplace(name, t);
        if (!added) f->second = std::min(f->second, t);
        auto [a, added_all] = all_members.emplace(name, t);
        if (!added_all) a->second = std::max(a->second, t);
        ++members_holding[name];
      }
    }
    std::lock_guard lock(hops_data_.mu);
    std::vector<std::pair<const char*, std::vector<double>>> steps = {
        {"created (since the first create)", {}},
        {"created -> binding/workload seen", {}},
        {"binding -> placed", {}},
        {"placed -> on its first member", {}},
        {"first member -> all its members", {}},
        {"created -> all its members", {}}};
    int complete = 0;
    for (const auto& [name, created] : hops_data_.created) {
      auto b = hops_data_.bound.find(name);
      auto p = hops_data_.placed.find(name);
      auto f = first_member.find(name);
      auto a = all_members.find(name);
      if (b == hops_data_.bound.end() || p == hops_data_.placed.end() ||
          f == first_member.end() || a == all_members.end()) {
        continue;
      }
      ++complete;
      steps[0].second.push_back(Seconds(created - t0));
      steps[1].second.push_back(Seconds(b->second - created));
      steps[2].second.push_back(Seconds(p->second - b->second));
      steps[3].second.push_back(Seconds(f->second - p->second));
      steps[4].second.push_back(Seconds(a->second - f->second));
      steps[5].second.push_back(Seconds(a->second - created));
    }
    std::fprintf(stderr, "hops (%s, %d apps with every step seen): median / p90 / max s\n",
                 apps_.native ? "native" : "federated", complete);
    for (auto& step : steps) {
      std::vector<double>& v = step.second;
      std::sort(v.begin(), v.end());
      auto at = [&v](double q) {
        return v.empty() ? 0.0 : v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
      };
      std::fprintf(stderr, "  %-36s %7.2f %7.2f %7.2f\n", step.first, at(0.5), at(0.9), at(1.0));
    }
  }

  bool ManyApps(RunResult* r) {
    const int n = apps_.apps, policies = apps_.policies, slots = Slots();
    // What each slot's members must hold.
    std::vector<int> deployments(slots, 0), dependencies(slots, 0);
    for (int d = 0; d < n; ++d) ++deployments[(d % policies) % slots];
    for (int p = 0; p < policies; ++p) dependencies[p % slots] += 1;  // one of each kind
    if (hops_ && !WatchHops()) return false;
    auto app_created = [this](int d) {
      if (!hops_) return;
      const auto now = Steady::now();
      std::lock_guard lock(hops_data_.mu);
      hops_data_.created.emplace(Name("app", d), now);
    };
    const auto api_requests0 = RequestCounts(api_url_);
    const double api_cpu0 = ProcessCpuSeconds(api_.pid()), sim_cpu0 = ProcessCpuSeconds(sim_.pid());
    const auto t0 = Steady::now();
    bool created = true;
    if (apps_.native) {
      created = CreateAll(policies, kConfigMaps, [&](int p) { return AppConfigMap(p); }) &&
                CreateAll(policies, kSecrets, [&](int p) { return AppSecret(p); }) &&
                CreateAll(policies, kPolicies, [&](int p) { return Policy(p); }) &&
                CreateAll(n, kDeployments, [&](int d) { return AppDeployment(d); }, app_created);
    } else {
      created =
          CreateAll(policies, kWorkloads,
                    [&](int p) { return Workload(AppConfigMap(p), AppPlacement(p)); }) &&
          CreateAll(policies, kWorkloads,
                    [&](int p) { return Workload(AppSecret(p), AppPlacement(p)); }) &&
          CreateAll(
              n, kWorkloads,
              [&](int d) { return Workload(AppDeployment(d), AppPlacement(d % policies)); },
              app_created);
    }
    r->apply_s = Seconds(Steady::now() - t0);
    if (!created) return false;
    std::cerr << (apps_.native ? "native" : "federated") << ": applied in " << r->apply_s
              << " s\n";

    const int placed_members = slots * PerApp();
    auto all_present = [&] {
      for (int i = 0; i < placed_members && i < members_; ++i) {
        const int slot = i / PerApp();
        std::lock_guard lock(views_[i]->mu);
        if (static_cast<int>(views_[i]->deployments.size()) != deployments[slot] ||
            static_cast<int>(views_[i]->present.size()) != dependencies[slot] ||
            static_cast<int>(views_[i]->secrets.size()) != dependencies[slot]) {
          return false;
        }
      }
      return true;
    };
    if (!WaitFor(all_present, "every member to hold its Deployments and dependencies",
                 std::chrono::milliseconds(100))) {
      for (int i = 0; i < std::min(members_, 3); ++i) {
        std::lock_guard lock(views_[i]->mu);
        std::cerr << MemberName(i) << ": " << views_[i]->deployments.size() << "/"
                  << deployments[i / PerApp()] << " deployments, " << views_[i]->present.size()
                  << " config maps, " << views_[i]->secrets.size() << " secrets\n";
      }
      return false;
    }
    r->api_cpu_s = ProcessCpuSeconds(api_.pid()) - api_cpu0;
    r->sim_cpu_s = ProcessCpuSeconds(sim_.pid()) - sim_cpu0;
    r->api_cpu_ms_per_app = 1e3 * r->api_cpu_s / std::max(1, n);
    const auto api_requests = RequestCounts(api_url_);
    auto delta = [&](const char* key) {
      auto a = api_requests.find(key), b = api_requests0.find(key);
      return static_cast<int64_t>((a == api_requests.end() ? 0 : a->second) -
                                  (b == api_requests0.end() ? 0 : b->second));
    };
    r->store_writes = delta("store writes");
    r->store_commits = delta("store commits");
    Steady::time_point first = Steady::time_point::max(), last{};
    std::vector<Steady::time_point> times;
    int64_t writes = 0;
    for (int i = 0; i < members_; ++i) {
      std::lock_guard lock(views_[i]->mu);
      if (views_[i]->writes == 0) continue;
      first = std::min(first, views_[i]->first_write);
      last = std::max(last, views_[i]->last_write);
      writes += views_[i]->writes;
      times.insert(times.end(), views_[i]->write_times.begin(), views_[i]->write_times.end());
    }
    std::sort(times.begin(), times.end());
    size_t lo = 0;
    for (size_t hi = 0; hi < times.size(); ++hi) {
      while (times[hi] - times[lo] > std::chrono::seconds(1)) ++lo;
      r->peak_writes_per_s = std::max<double>(r->peak_writes_per_s, hi - lo + 1);
    }
    r->writes = writes;
    r->converge_s = Seconds(last - t0);
    r->writes_per_s = writes / std::max(1e-3, Seconds(last - first));
    std::cerr << (apps_.native ? "native" : "federated") << ": in members after " << r->converge_s
              << " s, " << writes << " writes, " << r->writes_per_s
              << " writes/s; CPU: federation-apiserver " << r->api_cpu_s << " s ("
              << r->api_cpu_ms_per_app << " ms per app), membersim " << r->sim_cpu_s
              << " s; store writes " << r->store_writes << " in " << r->store_commits
              << " commits\n";
    PrintRequestsPerWrite("federation-apiserver", api_requests0, api_requests, writes);
    if (hops_) PrintHops(t0);
    return true;
  }

  AppsShape apps_;  // apps.apps == 0: the ConfigMap workloads instead
  Hops hops_data_;  // --hops
  static inline int counter_ = 0;
  const std::string bin_;
  const int members_, selected_, workloads_, image_changes_;
  const std::chrono::seconds timeout_;
  std::filesystem::path dir_;
  test_env::ChildProcess sim_, api_;
  std::string sim_url_, api_url_;
  std::unique_ptr<HttpMemberClient> federation_;
  std::vector<std::unique_ptr<HttpMemberClient>> member_clients_;
  std::vector<std::unique_ptr<MemberView>> views_;
  std::vector<std::unique_ptr<MemberWatch>> watches_;  // first to go
};


// --apps: native and FederatedWorkload modes in every run, the order alternating.
// `only`: "native" or "federated" runs that mode alone (for runs kept short, interleaved by
// the caller), "both" alternates them.
int RunApps(const std::string& bin, int members, AppsShape shape, int runs, int timeout,
            const std::string& only) {
  std::map<bool, std::vector<double>> converge, writes_per_s, peak, apply, cpu_per_app,
      store_writes;
  std::map<bool, int64_t> writes;
  for (int i = 0; i < runs; ++i) {
    for (int k = 0; k < 2; ++k) {
      shape.native = (i % 2 == 0) == (k == 0);  // N F, F N, N F, ...
      if (only != "both" && shape.native != (only == "native")) continue;
      Run run(bin, members, members, 0, 0, timeout);
      RunResult r = run.GoApps(shape);
      if (!r.ok) return 1;
      const char* mode = shape.native ? "native Deployments + PlacementPolicies"
                                      : "FederatedWorkloads";
      std::printf(
          "run %d, %s: %d apps (%d policies, 2 dependencies each) x %d members each of "
          "%d: applied in %.2f s; %lld member writes at %.0f writes/s (peak 1 s: %.0f); "
          "all in members after %.2f s; CPU federation-apiserver %.1f s (%.1f ms per "
          "app), membersim %.1f s; %lld store writes in %lld commits\n",
          i + 1, mode, shape.apps, shape.policies, shape.per_app, members, r.apply_s,
          static_cast<long long>(r.writes), r.writes_per_s, r.peak_writes_per_s, r.converge_s,
          r.api_cpu_s, r.api_cpu_ms_per_app, r.sim_cpu_s, static_cast<long long>(r.store_writes),
          static_cast<long long>(r.store_commits));
      std::fflush(stdout);
      converge[shape.native].push_back(r.converge_s);
      writes_per_s[shape.native].push_back(r.writes_per_s);
      peak[shape.native].push_back(r.peak_writes_per_s);
      apply[shape.native].push_back(r.apply_s);
      cpu_per_app[shape.native].push_back(r.api_cpu_ms_per_app);
      store_writes[shape.native].push_back(static_cast<double>(r.store_writes));
      writes[shape.native] = r.writes;
    }
  }
  auto ratio = [](double native, double federated) {
    return federated > 0 ? (native / federated - 1) * 100 : 0.0;
  };
  std::printf("\n| median of %d runs | native + policies | FederatedWorkloads | native vs FW |\n"
              "|---|---:|---:|---:|\n", runs);
  std::printf("| applied -> every member holds its objects | %.2f s | %.2f s | %+.0f %% |\n",
              Median(converge[true]), Median(converge[false]),
              ratio(Median(converge[true]), Median(converge[false])));
  std::printf(
      "| federation-apiserver CPU per app (to convergence) | %.1f ms | %.1f ms | %+.0f %% |\n",
      Median(cpu_per_app[true]), Median(cpu_per_app[false]),
      ratio(Median(cpu_per_app[true]), Median(cpu_per_app[false])));
  std::printf("| store writes (to convergence) | %.0f | %.0f | %+.0f %% |\n",
              Median(store_writes[true]), Median(store_writes[false]),
              ratio(Median(store_writes[true]), Median(store_writes[false])));
  std::printf("| member writes/s (first to last write) | %.0f | %.0f | %+.0f %% |\n",
              Median(writes_per_s[true]), Median(writes_per_s[false]),
              ratio(Median(writes_per_s[true]), Median(writes_per_s[false])));
  std::printf("| member writes/s, busiest 1 s | %.0f | %.0f | |\n", Median(peak[true]),
              Median(peak[false]));
  std::printf("| member writes (last run) | %lld | %lld | |\n",
              static_cast<long long>(writes[true]), static_cast<long long>(writes[false]));
  std::printf("| (applying through the API) | %.2f s | %.2f s | |\n", Median(apply[true]),
              Median(apply[false]));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_sync: propagation at scale against membersim (real binaries)"};
  int runs = 3, members = 100, selected = 50, workloads = 1000, image_changes = 5, timeout = 120;
  std::string bin = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  app.add_option("--runs", runs)->capture_default_str();
  app.add_option("--members", members)->capture_default_str();
  app.add_option("--selected", selected, "members the 1,000 workloads select")->capture_default_str();
  app.add_option("--workloads", workloads)->capture_default_str();
  app.add_option("--image-changes", image_changes)->capture_default_str();
  app.add_option("--timeout", timeout, "seconds, per wait")->capture_default_str();
  app.add_option("--bin", bin, "folder with membersim and federation-apiserver")->capture_default_str();
  app.add_flag("--keep", Run::keep_, "keep each run's folder (logs, database)");
  app.add_flag("--hops", Run::hops_,
               "with --apps: time each app's steps (created, binding, placed, first member, all "
               "members) from a watch of the federation's workloads (one more watcher)");
  AppsShape shape;
  app.add_option("--apps", shape.apps,
                 "instead: this many native Deployments under PlacementPolicies against the same "
                 "as FederatedWorkloads (see the file comment)")
      ->capture_default_str();
  app.add_option("--policies", shape.policies, "with --apps: PlacementPolicies (each with a "
                 "ConfigMap and a Secret its Deployments reference)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--per-app", shape.per_app, "with --apps: members each Deployment runs on")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  std::string apps_mode = "both";
  app.add_option("--apps-mode", apps_mode, "with --apps: both (alternating), native or federated")
      ->check(CLI::IsMember({"both", "native", "federated"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  selected = std::min(selected, members);
  if (shape.apps > 0) return RunApps(bin, members, shape, runs, timeout, apps_mode);

  std::vector<double> writes_per_s, peak, converge, ready, apply, placed, image, api_cpu, sim_cpu,
      api_rss, sim_rss;
  for (int i = 0; i < runs; ++i) {
    Run run(bin, members, selected, workloads, image_changes, timeout);
    RunResult r = run.Go();
    if (!r.ok) return 1;
    std::vector<double> sorted = r.image_change_s;
    std::sort(sorted.begin(), sorted.end());
    std::printf("run %d: %d workloads x %d members: applied in %.2f s; %lld member writes at "
                "%.0f writes/s (peak 1 s: %.0f); all placed after %.2f s; all in members after %.2f s; all Ready after %.2f s; CPU per member write: "
                "federation-apiserver %.0f us, membersim %.0f us; image change on %d members: median "
                "%.3f s, max %.3f s; peak RSS: federation-apiserver %.0f MiB, membersim %.0f MiB\n",
                i + 1, workloads, selected, r.apply_s, static_cast<long long>(r.writes),
                r.writes_per_s, r.peak_writes_per_s, r.placed_s, r.converge_s, r.ready_s, r.api_cpu_us_per_write,
                r.sim_cpu_us_per_write, members, Median(r.image_change_s),
                sorted.empty() ? 0.0 : sorted.back(), r.api_peak_rss_mib, r.sim_peak_rss_mib);
    std::fflush(stdout);
    writes_per_s.push_back(r.writes_per_s);
    peak.push_back(r.peak_writes_per_s);
    converge.push_back(r.converge_s);
    ready.push_back(r.ready_s);
    apply.push_back(r.apply_s);
    placed.push_back(r.placed_s);
    api_cpu.push_back(r.api_cpu_us_per_write);
    sim_cpu.push_back(r.sim_cpu_us_per_write);
    for (double d : r.image_change_s) image.push_back(d);
    api_rss.push_back(r.api_peak_rss_mib);
    sim_rss.push_back(r.sim_peak_rss_mib);
  }
  std::printf("\n| what (median of %d runs) | result | floor |\n|---|---:|---:|\n", runs);
  std::printf("| member writes/s while syncing %d x %d | %.0f | >= 2,000 |\n", workloads, selected,
              Median(writes_per_s));
  std::printf("| member writes/s, busiest 1 s window | %.0f | |\n", Median(peak));
  std::printf("| CPU per member write: federation-apiserver (with its controllers) | %.0f us | |\n",
              Median(api_cpu));
  std::printf("| CPU per member write: membersim | %.0f us | |\n", Median(sim_cpu));
  std::printf("| %d workloads applied -> every member holds them | %.2f s | < 60 s |\n", workloads,
              Median(converge));
  std::printf("| ... -> every workload reports Ready | %.2f s | |\n", Median(ready));
  std::printf("| (applying the %d workloads through the API) | %.2f s | |\n", workloads,
              Median(apply));
  std::printf("| (... -> placement has placed every workload) | %.2f s | |\n", Median(placed));
  std::printf("| image change reaches all %d members (%zu changes) | %.3f s | < 2 s |\n", members,
              image.size(), Median(image));
  std::printf("| peak RSS: federation-apiserver (with its controllers) | %.0f MiB | |\n",
              Median(api_rss));
  std::printf("| peak RSS: membersim (%d members) | %.0f MiB | |\n", members, Median(sim_rss));
  return 0;
}
