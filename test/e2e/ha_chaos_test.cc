// The HA layout under kill -9, Jepsen-style (issue 13), with the real binaries on loopback: a
// 3-member etcd cluster, two federation-apiservers on it, two leader-elected
// federation-controller-managers, and membersim with five members on three continents.
// Two clients create, scale and delete workloads through both API replicas while the test
// kills -9, in turn, the leading controller manager, one API replica and one etcd member (and
// brings each back). A sampler reads the non-EU members the whole time.
//
// At the end, checked from the members' side as well as the API's:
//   - every acknowledged write is what the API holds (a client that got no answer reads the
//     object back before going on, so its model is exact), exactly once;
//   - every member runs exactly the placed replicas of every workload, and nothing of a
//     deleted one;
//   - no replica of an EU-resident workload was ever seen outside the EU;
//   - the standby manager took the lease within 2x the lease duration of the kill;
//   - a LIST through either API replica returns every workload the clients were told exists
//     exactly once (with the acknowledged replicas), and nothing else;
//   - a controller manager that exits by itself (a leader that missed its renew deadline on a
//     loaded machine exits by design, as kube-controller-manager does) is restarted at once,
//     as its supervisor (systemd, a Deployment) would, and reported: what the test checks is
//     that nothing is lost through such exits too, not that the machine was fast;
//   - a watch opened on replica 1 before the storm (replica 0 is the one killed) sees every
//     acknowledged write, by its resourceVersion, in revision order, with no gap other than
//     a 410 followed by a relist (the writes a relist covers), and what it ends with
//     (events applied to the relists) is what the final LIST holds.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "cli/kinds.h"
#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/etcd_cluster.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 100ms
  node: {cpu: "16", memory: 32Gi, pods: 500}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: us-west-1, region: us-west, jurisdiction: us, zones: [{name: us-west-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
  - {name: eu-central-1, region: eu-central, jurisdiction: eu, zones: [{name: eu-central-1a, nodes: 1}]}
  - {name: ap-south-1, region: ap-south, jurisdiction: in, zones: [{name: ap-south-1a, nodes: 1}]}
)";
const std::vector<std::string> kMembers = {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1",
                                           "ap-south-1"};
const std::vector<std::string> kOutsideEu = {"us-east-1", "us-west-1", "ap-south-1"};
constexpr int kWorkloadsPerClient = 8;
// The controller managers' defaults (federation-controller-manager --help).
constexpr milliseconds kLeaseDuration{4000};

// An EU-resident workload ("eu-N": residency eu, spread over both EU regions) or a global
// one ("gl-N": three continents).
json Workload(const std::string& name, int replicas) {
  const bool eu = name.rfind("eu-", 0) == 0;
  json placement =
      eu ? json{{"residency", {{"jurisdictions", {"eu"}}}},
                {"distribution", {{"weights", {{"eu-west", 1}, {"eu-central", 1}}}}}}
         : json{{"distribution", {{"weights", {{"us-east", 2}, {"eu-west", 2}, {"ap-south", 1}}}}}};
  json container = {{"name", "app"},
                    {"image", "example/" + name + ":1"},
                    {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}};
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "FederatedWorkload"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec",
           {{"template",
             {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", name}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", name}}}}},
                  {"spec", {{"containers", {container}}}}}}}}}},
            {"placement", placement}}}};
}

// What a client knows of one workload after its last answered call.
struct Known {
  bool exists = false;
  int replicas = 0;
};

// An acknowledged write: the workload and the resourceVersion the API answered with.
struct Acked {
  std::string name;
  int64_t rv = 0;
};

int64_t RvOf(const json& object) {
  const std::string rv =
      object.value("metadata", json::object()).value("resourceVersion", std::string());
  return rv.empty() ? 0 : std::stoll(rv);
}

// What a watch of the workloads saw, as client-go's reflector would use it: events applied to
// the last relist; every gap it had to accept (a 410, then a relist at a newer revision).
struct WatchRecord {
  std::map<std::string, int64_t> state;            // name -> resourceVersion
  std::set<std::pair<std::string, int64_t>> seen;  // (name, resourceVersion) of each event
  std::vector<std::pair<int64_t, int64_t>> gaps;   // (last revision seen, relist revision]
  std::vector<std::string> violations;
  int events = 0, relists = 0, rewatches = 0;
};

// Watches the workloads of namespace shop through `server` from `from` until `stop` is set
// and an event arrives: a stream that ends is watched again from the last revision seen; a
// 410 is followed by a relist (recorded as a gap). Checks the order and the kind of each
// event against the state it applies to.
void WatchWorkloads(const std::string& server, int64_t from, std::map<std::string, int64_t> state,
                    const std::atomic<bool>* stop, WatchRecord* out) {
  const cli::KindInfo& fw = *cli::ResolveType("fw");
  cli::ClientOptions o;
  o.server = server;
  o.timeout = milliseconds(8000);
  std::unique_ptr<cli::HttpClient> client = std::move(cli::HttpClient::Create(o)).value();
  out->state = std::move(state);
  int64_t last = from;
  bool stopped = false;
  while (!stopped) {
    auto r = client->Watch(fw, "shop", "", std::to_string(last), [&](const cli::WatchEvent& e) {
      const std::string name = e.object.value("metadata", json::object()).value("name", "");
      const int64_t rv = RvOf(e.object);
      ++out->events;
      if (rv <= last) {
        out->violations.push_back(e.type + " " + name + " at " + std::to_string(rv) + " after " +
                                  std::to_string(last) + ": out of revision order");
      }
      last = std::max(last, rv);
      out->seen.insert({name, rv});
      const bool present = out->state.count(name) != 0;
      if (e.type == "ADDED" && present) {
        out->violations.push_back("ADDED " + name + " at " + std::to_string(rv) +
                                  " while it exists: a duplicate");
      } else if (e.type != "ADDED" && !present) {
        out->violations.push_back(e.type + " " + name + " at " + std::to_string(rv) +
                                  " of an object the watch does not hold");
      }
      if (e.type == "DELETED") {
        out->state.erase(name);
      } else {
        out->state[name] = rv;
      }
      if (stop->load()) stopped = true;
      return !stopped;
    });
    if (stopped) break;
    if (r.ok()) {  // the stream ended: watch again from the last revision seen
      ++out->rewatches;
      continue;
    }
    if (r.error().code != 410) {  // the replica did not answer: again, a little later
      ++out->rewatches;
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    // 410: relist, as a reflector does; what happened in between is a gap it may not see.
    auto list = client->List(fw, "shop", "");
    if (!list.ok()) {
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    ++out->relists;
    const int64_t list_rv = RvOf(*list);
    out->gaps.push_back({last, list_rv});
    out->state.clear();
    for (const json& item : (*list)["items"]) {
      out->state[item["metadata"].value("name", "")] = RvOf(item);
    }
    last = list_rv;
  }
}

class HaChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("meridian-ha-chaos-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& cm : cms_) cm.Stop();
    for (auto& api : apis_) api.Stop();
    sim_.Stop();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void StartApi(int i) {
    std::string error;
    ASSERT_TRUE(
        apis_[i].Start({test_env::BinDir() + "/federation-apiserver", "--listen",
                        "127.0.0.1:" + std::to_string(api_ports_[i]), "--storage", storage_,
                        "--controllers", i == 0 ? "member-schemas" : "none", "--log-level", "warn"},
                       &error, (dir_ / ("api-" + std::to_string(i) + ".err")).string()))
        << error;
    ASSERT_FALSE(
        apis_[i]
            .WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error)
            .empty())
        << error;
    apis_[i].CopyOutputTo((dir_ / ("api-" + std::to_string(i) + ".log")).string());
  }
  // Restarts every controller manager that exited by itself, until `stop`; each exit is
  // printed and kept in self_exits_. The test's own kills (under cms_mu_) are not exits by
  // themselves: Kill reaps the process, so it is not running when this looks.
  void SuperviseManagers(const std::atomic<bool>* stop, steady_clock::time_point start) {
    while (!stop->load()) {
      {
        std::lock_guard lock(cms_mu_);
        for (int i = 0; i < 2; ++i) {
          std::optional<int> status = cms_[i].ExitedByItself();
          if (!status) continue;
          const auto at = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
          std::string what = "cm-" + std::to_string(i) + " exited by itself (" +
                             (WIFEXITED(*status) ? "status " + std::to_string(WEXITSTATUS(*status))
                                                 : "signal " + std::to_string(WTERMSIG(*status))) +
                             ") at +" + std::to_string(at.count()) + " ms; restarted";
          std::cout << what << " (its log: " << (dir_ / ("cm-" + std::to_string(i) + ".log")) << ")"
                    << std::endl;
          self_exits_.push_back(std::move(what));
          StartManager(i);
        }
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  void StartManager(int i) {
    std::string error;
    ASSERT_TRUE(
        cms_[i].Start({test_env::BinDir() + "/federation-controller-manager", "--storage", storage_,
                       "--leader-elect-identity", "cm-" + std::to_string(i), "--log-level", "info"},
                      &error, (dir_ / ("cm-" + std::to_string(i) + ".err")).string()))
        << error;
    ASSERT_FALSE(cms_[i]
                     .WaitForLine("federation-controller-manager running as ",
                                  std::chrono::seconds(30), &error)
                     .empty())
        << error;
    cms_[i].CopyOutputTo((dir_ / ("cm-" + std::to_string(i) + ".log")).string());
  }
  std::string ApiUrl(int i) const { return "http://127.0.0.1:" + std::to_string(api_ports_[i]); }

  // The Lease holder, read through whichever replica answers.
  std::string Holder() {
    for (int i = 0; i < 2; ++i) {
      json lease = test_env::GetJson(ApiUrl(i) +
                                     "/apis/coordination.k8s.io/v1/namespaces/meridian-system/"
                                     "leases/federation-controller-manager");
      if (lease.is_object() && lease.contains("spec")) {
        return lease["spec"].value("holderIdentity", "");
      }
    }
    return "";
  }

  // Deployment names in namespace shop of `member`; nullopt when membersim did not answer.
  std::optional<std::map<std::string, int64_t>> MemberDeployments(const std::string& member) {
    json list = test_env::GetJson(sim_url_ + "/clusters/" + member +
                                  "/apis/apps/v1/namespaces/shop/deployments");
    if (!list.is_object() || !list.contains("items")) return std::nullopt;
    std::map<std::string, int64_t> out;
    for (const json& d : list["items"]) {
      out[d["metadata"].value("name", "")] = d.value("spec", json::object()).value("replicas", 0);
    }
    return out;
  }

  // One client: creates, scales and deletes its workloads through replica `home`, moving to
  // the other replica when its home does not answer. Every call that got no answer (or a
  // 5xx/504: it may have been applied) is followed by reading the object back, so `known`
  // is exactly what the API holds after each step.
  void Client(int id, int home, std::map<std::string, Known>* known, std::atomic<bool>* stop,
              std::atomic<int>* acknowledged, std::atomic<int>* ambiguous,
              std::vector<Acked>* acked) {
    std::mt19937 rng(1234 + id);
    const cli::KindInfo& fw = *cli::ResolveType("fw");
    std::vector<std::string> names;
    for (int n = 0; n < kWorkloadsPerClient; ++n) {
      names.push_back((n % 2 ? "eu-" : "gl-") + std::to_string(id) + "-" + std::to_string(n));
    }
    auto client_for = [&](int replica) {
      cli::ClientOptions o;
      o.server = ApiUrl(replica);
      o.timeout = milliseconds(8000);
      return std::move(cli::HttpClient::Create(o)).value();
    };
    std::unique_ptr<cli::HttpClient> clients[2] = {client_for(0), client_for(1)};
    int use = home;
    // Runs `call` on the replica in use, switching once to the other on a transport error.
    auto on_some_replica = [&](const auto& call) {
      auto r = call(*clients[use]);
      if (!r.ok() && cli::IsTransportError(r.error())) {
        use = 1 - use;
        r = call(*clients[use]);
      }
      return r;
    };
    auto uncertain = [](const cli::ApiError& e) { return e.code == 0 || e.code >= 500; };
    // Reads `name` back until an answer says what it is. Being deleted (a finalizer holds it
    // until the members are clean) counts as deleted: nothing brings it back.
    auto learn = [&](const std::string& name) {
      for (int attempt = 0; attempt < 100; ++attempt) {
        auto got = on_some_replica([&](cli::HttpClient& c) { return c.Get(fw, "shop", name); });
        if (got.ok()) {
          const bool deleting =
              got->value("metadata", json::object()).contains("deletionTimestamp");
          (*known)[name] = {!deleting,
                            deleting ? 0 : (*got)["spec"]["template"]["spec"].value("replicas", 0)};
          return;
        }
        if (got.error().code == 404) {
          (*known)[name] = {false, 0};
          return;
        }
        std::this_thread::sleep_for(milliseconds(200));
      }
      ADD_FAILURE() << "client " << id << " never learnt what " << name << " is";
    };
    while (!stop->load()) {
      const std::string& name = names[rng() % names.size()];
      const int replicas = 1 + static_cast<int>(rng() % 6);
      if (!(*known)[name].exists) {
        auto r = on_some_replica(
            [&](cli::HttpClient& c) { return c.Create(fw, "shop", Workload(name, replicas)); });
        if (r.ok()) {
          (*known)[name] = {true, replicas};
          ++*acknowledged;
          acked->push_back({name, RvOf(*r)});
        } else if (uncertain(r.error())) {
          ++*ambiguous;
          learn(name);
        } else if (r.error().code == 409) {
          learn(name);  // still being deleted, or an earlier unanswered create went through
        } else {
          ADD_FAILURE() << "create " << name << ": " << r.error().message;
        }
      } else if (rng() % 4 == 0) {
        auto r = on_some_replica([&](cli::HttpClient& c) { return c.Delete(fw, "shop", name); });
        if (r.ok()) {
          ++*acknowledged;
          // Answered with the object being deleted (its finalizer holds it): that write too.
          if (r->value("kind", "") == "FederatedWorkload" && RvOf(*r) != 0) {
            acked->push_back({name, RvOf(*r)});
          }
        }
        if (!r.ok() && uncertain(r.error())) ++*ambiguous;
        learn(name);  // deleted now, or being deleted, or (no answer) still there
      } else {
        auto got = on_some_replica([&](cli::HttpClient& c) { return c.Get(fw, "shop", name); });
        if (!got.ok()) {
          if (!uncertain(got.error())) learn(name);
          continue;
        }
        if (got->value("metadata", json::object()).contains("deletionTimestamp")) {
          learn(name);
          continue;
        }
        json body = *got;
        body["spec"]["template"]["spec"]["replicas"] = replicas;
        auto r =
            on_some_replica([&](cli::HttpClient& c) { return c.Update(fw, "shop", name, body); });
        if (r.ok()) {
          (*known)[name] = {true, replicas};
          ++*acknowledged;
          acked->push_back({name, RvOf(*r)});
        } else if (uncertain(r.error())) {
          ++*ambiguous;
          learn(name);
        } else if (r.error().code == 409 || r.error().code == 404) {
          learn(name);
        } else {
          ADD_FAILURE() << "update " << name << ": " << r.error().message;
        }
      }
      std::this_thread::sleep_for(milliseconds(30));
    }
  }

  std::filesystem::path dir_;
  test_env::EtcdCluster etcd_;
  std::string storage_;
  test_env::ChildProcess sim_;
  test_env::ChildProcess apis_[2];
  std::mutex cms_mu_;  // guards cms_ and self_exits_ while the supervisor runs
  test_env::ChildProcess cms_[2];
  std::vector<std::string> self_exits_;  // SuperviseManagers' restarts
  int api_ports_[2] = {0, 0};
  std::string sim_url_;
};

TEST_F(HaChaosTest, KillingAManagerAnApiReplicaAndAnEtcdMemberLosesNothing) {
  std::string error;
  ASSERT_TRUE(etcd_.Start(3, &error)) << error;
  storage_ = "etcd:";
  for (const std::string& url : etcd_.ClientUrls()) {
    storage_ += (storage_.size() > 5 ? "," : "") + url;
  }
  test_env::WriteFile(dir_ / "membersim.yaml", kMembersim);
  ASSERT_TRUE(
      sim_.Start({test_env::BinDir() + "/membersim", "--config", (dir_ / "membersim.yaml").string(),
                  "--listen", "127.0.0.1:" + std::to_string(test_env::FreeLoopbackPort())},
                 &error, (dir_ / "membersim.log").string()))
      << error;
  sim_url_ = sim_.WaitForLine("membersim listening on ", std::chrono::seconds(20), &error);
  ASSERT_FALSE(sim_url_.empty()) << error;
  sim_.CopyOutputTo((dir_ / "membersim.out").string());
  for (int i = 0; i < 2; ++i) api_ports_[i] = test_env::FreeLoopbackPort();
  ASSERT_NO_FATAL_FAILURE(StartApi(0));
  ASSERT_NO_FATAL_FAILURE(StartApi(1));
  test_env::WriteFile(dir_ / "federation.yaml",
                      test_env::MemberClustersYaml(sim_url_, {{"us-east-1", "us-east", "us"},
                                                              {"us-west-1", "us-west", "us"},
                                                              {"eu-west-1", "eu-west", "eu"},
                                                              {"eu-central-1", "eu-central", "eu"},
                                                              {"ap-south-1", "ap-south", "in"}}) +
                          "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  test_env::CommandResult applied =
      test_env::RunCommand(test_env::BinDir() + "/fedctl --server " + ApiUrl(0) + " apply -f " +
                           (dir_ / "federation.yaml").string());
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  ASSERT_NO_FATAL_FAILURE(StartManager(0));
  ASSERT_NO_FATAL_FAILURE(StartManager(1));
  std::atomic<bool> stop_supervising{false};
  std::thread supervisor(
      [&, start = steady_clock::now()] { SuperviseManagers(&stop_supervising, start); });
  // Joined on every way out (an ASSERT below returns early).
  struct JoinSupervisor {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinSupervisor() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_supervisor{stop_supervising, supervisor};
  std::string holder;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(15000), milliseconds(50), [&] {
    holder = Holder();
    return !holder.empty();
  })) << "no manager took the lease";

  // The sampler: any Deployment of an EU-resident workload outside the EU, ever.
  std::atomic<bool> stop_sampling{false};
  std::mutex violations_mu;
  std::vector<std::string> violations;
  std::atomic<int> samples{0};
  std::thread sampler([&] {
    while (!stop_sampling.load()) {
      for (const std::string& member : kOutsideEu) {
        auto deployments = MemberDeployments(member);
        if (!deployments) continue;
        ++samples;
        for (const auto& [name, replicas] : *deployments) {
          if (name.rfind("eu-", 0) == 0) {
            std::lock_guard lock(violations_mu);
            violations.push_back(name + " in " + member);
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  });

  // The watches, one on each replica (replica 0 is killed: its watch is resumed on the
  // restarted replica, or relisted after a 410), from a LIST taken before the storm.
  json before = test_env::GetJson(ApiUrl(1) +
                                  "/apis/federation.meridian.io/v1alpha1/"
                                  "namespaces/shop/federatedworkloads");
  ASSERT_TRUE(before.is_object() && before.contains("items")) << before.dump();
  std::map<std::string, int64_t> listed;
  for (const json& item : before["items"]) listed[item["metadata"].value("name", "")] = RvOf(item);
  std::atomic<bool> stop_watching{false};
  WatchRecord watched[2];
  std::thread watchers[2];
  for (int i = 0; i < 2; ++i) {
    watchers[i] = std::thread(
        [&, i] { WatchWorkloads(ApiUrl(i), RvOf(before), listed, &stop_watching, &watched[i]); });
  }

  std::map<std::string, Known> known[2];
  std::vector<Acked> acked[2];
  std::atomic<bool> stop_clients{false};
  std::atomic<int> acknowledged{0}, ambiguous{0};
  std::thread clients[2];
  for (int c = 0; c < 2; ++c) {
    clients[c] = std::thread(
        [&, c] { Client(c, c, &known[c], &stop_clients, &acknowledged, &ambiguous, &acked[c]); });
  }

  // 1. kill -9 the leading manager; the standby must take the lease within 2x its duration.
  std::this_thread::sleep_for(milliseconds(2000));
  const int lead = Holder() == "cm-1" ? 1 : 0;
  const auto killed = steady_clock::now();
  {
    std::lock_guard lock(cms_mu_);
    cms_[lead].Kill(SIGKILL);
  }
  const std::string standby = "cm-" + std::to_string(1 - lead);
  EXPECT_TRUE(test_env::PollUntil(2 * kLeaseDuration + milliseconds(2000), milliseconds(50),
                                  [&] { return Holder() == standby; }))
      << "holder " << Holder();
  const auto takeover = std::chrono::duration_cast<milliseconds>(steady_clock::now() - killed);
  EXPECT_LT(takeover, 2 * kLeaseDuration) << "the standby took over too late";
  {
    std::lock_guard lock(cms_mu_);
    // Unless the supervisor got there first (it exited by itself before the kill).
    if (!cms_[lead].running()) ASSERT_NO_FATAL_FAILURE(StartManager(lead));
  }

  // 2. kill -9 one API replica; its clients move to the other; it comes back on its port.
  std::this_thread::sleep_for(milliseconds(2000));
  apis_[0].Kill(SIGKILL);
  std::this_thread::sleep_for(milliseconds(2500));
  ASSERT_NO_FATAL_FAILURE(StartApi(0));

  // 3. kill -9 one etcd member (quorum stays); it comes back on its ports and data.
  std::this_thread::sleep_for(milliseconds(1500));
  etcd_.Kill(2);
  std::this_thread::sleep_for(milliseconds(2500));
  ASSERT_TRUE(etcd_.Restart(2, &error)) << error;
  std::this_thread::sleep_for(milliseconds(2000));

  stop_clients = true;
  for (auto& t : clients) t.join();

  // Convergence: the API holds what the clients were told; the members run the placement.
  std::map<std::string, Known> want;
  for (const auto& k : known) want.insert(k.begin(), k.end());
  std::string last_mismatch;
  const bool converged = test_env::PollUntil(milliseconds(45000), milliseconds(500), [&] {
    std::map<std::string, std::map<std::string, int64_t>> members;
    for (const std::string& m : kMembers) {
      auto d = MemberDeployments(m);
      if (!d) {
        last_mismatch = "membersim did not answer for " + m;
        return false;
      }
      members[m] = *d;
    }
    for (const auto& [name, k] : want) {
      json w = test_env::GetJson(ApiUrl(1) + test_env::WorkloadPath("shop", name));
      const bool in_api = w.is_object() && w.value("kind", "") == "FederatedWorkload";
      if (in_api != k.exists) {
        last_mismatch = name + ": API " + (in_api ? "has it" : "has not") +
                        ", the client was told " + (k.exists ? "it exists" : "it is deleted");
        if (in_api) {
          last_mismatch += "; its metadata: " + w["metadata"].dump() + "; its conditions: " +
                           w.value("status", json::object()).value("conditions", json()).dump();
        }
        return false;
      }
      if (!k.exists) {
        for (const auto& [m, deployments] : members) {
          if (deployments.count(name)) {
            last_mismatch = name + " deleted but still in " + m;
            return false;
          }
        }
        continue;
      }
      if (w["spec"]["template"]["spec"].value("replicas", 0) != k.replicas) {
        last_mismatch = name + ": API replicas " +
                        w["spec"]["template"]["spec"]["replicas"].dump() + ", acknowledged " +
                        std::to_string(k.replicas);
        return false;
      }
      std::map<std::string, int64_t> placed = test_env::Placement(w);
      int64_t total = 0;
      for (const auto& [m, n] : placed) total += n;
      if (total != k.replicas) {
        last_mismatch =
            name + ": placed " + json(placed).dump() + " of " + std::to_string(k.replicas);
        return false;
      }
      for (const std::string& m : kMembers) {
        const auto it = members[m].find(name);
        const int64_t running = it == members[m].end() ? 0 : it->second;
        const int64_t should = placed.count(m) ? placed[m] : 0;
        if (running != should) {
          last_mismatch = name + " in " + m + ": " + std::to_string(running) + ", placed " +
                          std::to_string(should);
          return false;
        }
      }
    }
    // Nothing in any member that is not one of the clients' workloads.
    for (const auto& [m, deployments] : members) {
      for (const auto& [name, replicas] : deployments) {
        if (!want.count(name)) {
          last_mismatch = "unknown " + name + " in " + m;
          return false;
        }
      }
    }
    return true;
  });
  stop_sampling = true;
  sampler.join();
  stop_supervising = true;
  supervisor.join();
  EXPECT_TRUE(converged) << last_mismatch;

  // LIST through each replica: every workload the clients were told exists, exactly once,
  // with the acknowledged replicas; nothing else.
  json final_list;
  for (int i = 0; i < 2; ++i) {
    json list = test_env::GetJson(ApiUrl(i) +
                                  "/apis/federation.meridian.io/v1alpha1/"
                                  "namespaces/shop/federatedworkloads");
    ASSERT_TRUE(list.is_object() && list.contains("items")) << "replica " << i << ": " << list;
    std::map<std::string, int> times;
    for (const json& item : list["items"]) {
      const std::string name = item["metadata"].value("name", "");
      ++times[name];
      const auto k = want.find(name);
      EXPECT_TRUE(k != want.end() && k->second.exists)
          << "replica " << i << " lists " << name << ", which the clients were told is gone";
      if (k != want.end() && k->second.exists) {
        EXPECT_EQ(item["spec"]["template"]["spec"].value("replicas", 0), k->second.replicas)
            << "replica " << i << ": " << name;
      }
    }
    for (const auto& [name, k] : want) {
      if (k.exists) {
        EXPECT_EQ(times[name], 1) << "replica " << i << " lists " << name << " " << times[name]
                                  << " times";
      }
    }
    if (i == 1) final_list = list;
  }

  // The watch: stopped at its next event (one more write, then the final state again).
  stop_watching = true;
  std::string marker;
  {
    auto client = std::move(cli::HttpClient::Create({.server = ApiUrl(1)})).value();
    const cli::KindInfo& fw = *cli::ResolveType("fw");
    // An annotation on a workload that exists (or, if none does, a new one).
    for (const auto& [name, k] : want) {
      if (k.exists && marker.empty()) marker = name;
    }
    bool marked = false;
    for (int attempt = 0; attempt < 20 && !marked; ++attempt) {
      if (marker.empty()) {
        marker = "gl-end";
        marked = client->Create(fw, "shop", Workload(marker, 1)).ok();
        continue;
      }
      auto got = client->Get(fw, "shop", marker);
      if (!got.ok()) continue;
      json w = *got;
      w["metadata"]["annotations"]["meridian.io/ha-chaos-end"] = std::to_string(attempt);
      marked = client->Update(fw, "shop", marker, w).ok();
    }
    ASSERT_TRUE(marked) << "no write to end the watch with";
  }
  for (auto& t : watchers) t.join();
  std::map<std::string, int64_t> final_names;
  for (const json& item : final_list["items"]) {
    final_names[item["metadata"].value("name", "")] = RvOf(item);
  }
  int acked_writes = 0, covered_by_relist[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const WatchRecord& w = watched[i];
    EXPECT_TRUE(w.violations.empty()) << "watch on replica " << i << ": " << w.violations.size()
                                      << " violations, first: " << w.violations[0];
    acked_writes = 0;
    for (const auto& writes : acked) {
      for (const Acked& a : writes) {
        ++acked_writes;
        if (w.seen.count({a.name, a.rv})) continue;
        bool in_gap = false;
        for (const auto& [after, upto] : w.gaps) in_gap |= a.rv > after && a.rv <= upto;
        covered_by_relist[i] += in_gap;
        EXPECT_TRUE(in_gap) << "the watch on replica " << i << " never saw " << a.name << " at "
                            << a.rv << " (acknowledged), and no relist covers it";
      }
    }
    // What the watch ends with is what the final LIST holds (plus the marker write above).
    std::set<std::string> watch_names, list_names;
    for (const auto& [name, rv] : w.state) watch_names.insert(name);
    for (const auto& [name, rv] : final_names) list_names.insert(name);
    list_names.insert(marker);
    EXPECT_EQ(watch_names, list_names)
        << "the state of the watch on replica " << i << " is not the final LIST";
    for (const auto& [name, rv] : final_names) {
      const auto at = w.state.find(name);
      if (at != w.state.end()) {
        EXPECT_GE(at->second, rv) << name << ": the watch on replica " << i
                                  << " is behind the final LIST";
      }
    }
  }
  EXPECT_TRUE(violations.empty()) << violations.size() << " sightings, first: " << violations[0];
  EXPECT_GT(samples.load(), 50) << "the sampler barely ran";
  EXPECT_GT(acknowledged.load(), 40) << "the clients barely wrote";
  int existing = 0;
  for (const auto& [name, k] : want) existing += k.exists;
  std::cout << "acknowledged writes " << acknowledged << ", calls re-read after no or a 5xx answer "
            << ambiguous << ", workloads at the end " << existing << " of " << want.size()
            << ", member samples outside the EU " << samples << ", manager takeover "
            << takeover.count() << " ms, managers that exited by themselves and were restarted "
            << self_exits_.size() << std::endl;
  for (int i = 0; i < 2; ++i) {
    std::cout << "watch on replica " << i << ": " << watched[i].events << " events, "
              << watched[i].rewatches << " re-watches, " << watched[i].relists
              << " relists (410); of " << acked_writes
              << " acknowledged writes with a resourceVersion, " << covered_by_relist[i]
              << " covered by a relist instead of an event" << std::endl;
  }
}

}  // namespace
}  // namespace meridian
