// Residency torture test with real processes (issue 14): the seeded sequences of
// test/residency/torture_test.cc, for a subset, against the real binaries — membersim (four
// members: US, two EU, India) and federation-apiserver with every controller, on free loopback
// ports — sampling what the members hold through membersim's own API, not Meridian's status.
// Steps: partitions (refused connections) and heals, ResidencyPolicy edits (payments allowed
// in eu, or in eu and us; acknowledged, so admission lets them through), workload scaling,
// and Deployments made by hand in namespace payments of any member ("rogue-N").
// At every sampled instant (every 250 ms while a step settles):
//   1. no member holds an object Meridian manages for a payments workload unless its
//      jurisdiction has been allowed at some point of the sequence (India never is; the US
//      only after an edit allowed it: what an acknowledged tightening leaves is being removed);
//   2. a member partitioned for longer than the grace (watch error + a pass) makes the policy's
//      Compliant condition anything but True: unverified, never compliant from stale data;
// and after each step:
//   3. every rogue Deployment in a reachable member the policy forbids is reported (a
//      ResidencyViolation Event naming member and object) within 5 s, and no Event ever names
//      an EU member (always allowed).
// Seeded and replayable like the in-process one; a failure prints its seed and steps:
//   MERIDIAN_TORTURE_PROCESS_SEQUENCES  sequences (default 1, CI), each with fresh processes
//   MERIDIAN_TORTURE_SEED               first seed (default 20261205); sequence i uses seed + i
//   MERIDIAN_TORTURE_PROCESS_STEPS      steps per sequence (default 3)
//   MERIDIAN_TORTURE_VERBOSE=1          prints every sequence's steps
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kManagedSelector[] = "federation.meridian.io%2Fmanaged-by%3Dmeridian";

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

struct Member {
  std::string name, region, jurisdiction;
};

const std::vector<Member>& Members() {
  static const std::vector<Member> kMembers = {{"us-east-1", "us-east", "us"},
                                               {"eu-west-1", "eu-west", "eu"},
                                               {"eu-central-1", "eu-central", "eu"},
                                               {"ap-south-1", "ap-south", "in"}};
  return kMembers;
}

std::string MembersimConfig() {
  std::string out =
      "defaults:\n  podReadyDelay: 1s\n  node: {cpu: \"8\", memory: 16Gi, pods: 110}\nclusters:\n";
  for (const Member& m : Members()) {
    out += "  - {name: " + m.name + ", region: " + m.region + ", jurisdiction: " + m.jurisdiction +
           ", zones: [{name: " + m.region + "-a, nodes: 1}]}\n";
  }
  return out;
}

std::string Policy(bool with_us) {
  return std::string(R"(apiVersion: federation.meridian.io/v1alpha1
kind: ResidencyPolicy
metadata:
  name: payments-eu-only
  annotations: {federation.meridian.io/acknowledge-disruption: "true"}
spec: {namespaces: [payments], jurisdictions: [)") +
         (with_us ? "eu, us" : "eu") + "]}\n";
}

std::string Workloads(int replicas) {
  return R"(apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: ledger, namespace: payments}
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {labels: {app: ledger}}
    spec:
      replicas: )" +
         std::to_string(replicas) + R"(
      selector: {matchLabels: {app: ledger}}
      template:
        metadata: {labels: {app: ledger}}
        spec: {containers: [{name: c, image: "ledger:1"}]}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: ledger-config, namespace: payments}
spec:
  template: {apiVersion: v1, kind: ConfigMap, data: {replicas: ")" +
         std::to_string(replicas) + "\"}}\n";
}

std::string Federation(int sim_port) {
  std::string out =
      "apiVersion: federation.meridian.io/v1alpha1\nkind: Topology\nmetadata: {name: default}\n"
      "spec:\n  regions:\n";
  for (const Member& m : Members()) {
    out += "    - {name: " + m.region + ", jurisdiction: " + m.jurisdiction + ", zones: [" +
           m.region + "-a]}\n";
  }
  for (const Member& m : Members()) {
    out +=
        "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\nmetadata: "
        "{name: " +
        m.name + "}\nspec:\n  server: http://127.0.0.1:" + std::to_string(sim_port) + "/clusters/" +
        m.name + "\n  region: " + m.region + "\n  zones: [" + m.region +
        "-a]\n  jurisdiction: " + m.jurisdiction + "\n";
  }
  out += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n---\n";
  return out + Policy(false);
}

bool Curl(const std::string& args) {
  return test_env::RunCommand("curl -fsS --max-time 5 " + args + " >/dev/null").exit_code == 0;
}

json Get(const std::string& url) {
  test_env::CommandResult r = test_env::RunCommand("curl -fsS --max-time 5 '" + url + "'");
  if (r.exit_code != 0) return nullptr;
  return json::parse(r.output, nullptr, false);
}

class ProcessSequence {
 public:
  ProcessSequence(uint64_t seed, std::filesystem::path dir) : rng_(seed), dir_(std::move(dir)) {}

  // Runs the sequence; "" or what broke, with the steps taken.
  std::string Run(int steps) {
    Setup();
    for (int i = 0; i < steps && failure_.empty(); ++i) {
      Step();
      Settle();
    }
    fed_.Stop();
    return failure_.empty() ? "" : failure_ + "\nsteps:\n" + log_;
  }

  const std::string& log() const { return log_; }
  int samples() const { return samples_; }

 private:
  void Fail(const std::string& what) {
    if (failure_.empty()) failure_ = what;
  }
  void Note(const std::string& what) { log_ += "  " + what + "\n"; }
  template <typename T>
  const T& Pick(const std::vector<T>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)];
  }
  std::string Member(const std::string& name) const { return fed_.sim_url() + "/clusters/" + name; }

  bool Apply(const std::string& file, const std::string& yaml) {
    test_env::WriteFile(dir_ / file, yaml);
    test_env::CommandResult r = fed_.Fedctl("apply -f " + (dir_ / file).string());
    if (r.exit_code != 0) Fail("fedctl apply " + file + ": " + r.output);
    return r.exit_code == 0;
  }

  void Setup() {
    std::filesystem::create_directories(dir_);
    test_env::WriteFile(dir_ / "membersim.yaml", MembersimConfig());
    std::string error;
    if (!fed_.Start({.bin_dir = test_env::BinDir(),
                     .dir = dir_,
                     .membersim_config = (dir_ / "membersim.yaml").string()},
                    &error)) {
      return Fail(error);
    }
    for (const auto& m : Members()) {
      Curl(
          "-X POST -H 'Content-Type: application/json' -d "
          "'{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"payments\"}}' "
          "'" +
          Member(m.name) + "/api/v1/namespaces'");  // may exist: what matters comes later
    }
    if (!Apply("federation.yaml", Federation(fed_.sim_port()))) return;
    if (!Apply("workloads.yaml", Workloads(4))) return;
    allowed_ = {"eu"};
    ever_allowed_ = {"eu"};
    Note("setup: payments allowed in eu; ledger 4 replicas");
    // Placed and synced into the EU before the steps start.
    if (!test_env::PollUntil(milliseconds(15000), milliseconds(200), [&] {
          json d =
              Get(Member("eu-west-1") + "/apis/apps/v1/namespaces/payments/deployments/ledger");
          return d.is_object();
        })) {
      Fail("the ledger never reached eu-west-1");
    }
  }

  void Step() {
    switch (std::uniform_int_distribution<int>(0, 5)(rng_)) {
      case 0:
      case 1: {
        const auto& m = Pick(Members());
        if (partitioned_.count(m.name)) {
          Heal(m.name);
          break;
        }
        test_env::CommandResult r = fed_.MembersimCtl("partition " + m.name + " --mode refuse");
        if (r.exit_code != 0) return Fail("partition: " + r.output);
        partitioned_[m.name] = std::chrono::steady_clock::now();
        Note("partition from " + m.name);
        break;
      }
      case 2: {
        const bool with_us = !allowed_.count("us");
        if (!Apply("policy.yaml", Policy(with_us))) return;
        allowed_ = with_us ? std::set<std::string>{"eu", "us"} : std::set<std::string>{"eu"};
        ever_allowed_.insert(allowed_.begin(), allowed_.end());
        Note(std::string("payments allowed in ") + (with_us ? "eu, us" : "eu") + " (acknowledged)");
        break;
      }
      case 3: {
        const int n = std::uniform_int_distribution<int>(1, 8)(rng_);
        if (!Apply("workloads.yaml", Workloads(n))) return;
        Note("ledger scaled to " + std::to_string(n));
        break;
      }
      default: {
        if (!rogues_.empty() && std::uniform_int_distribution<int>(0, 2)(rng_) == 0) {
          auto it = rogues_.begin();
          std::advance(it, std::uniform_int_distribution<size_t>(0, rogues_.size() - 1)(rng_));
          if (partitioned_.count(it->second)) break;  // cannot reach it; try another time
          Curl("-X DELETE '" + Member(it->second) +
               "/apis/apps/v1/namespaces/payments/deployments/" + it->first + "'");
          Note("rogue " + it->first + " deleted from " + it->second);
          rogues_.erase(it);
          break;
        }
        const auto& m = Pick(Members());
        if (partitioned_.count(m.name)) break;
        const std::string name = "rogue-" + std::to_string(++rogue_count_);
        json d = {{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"metadata", {{"name", name}, {"namespace", "payments"}}},
                  {"spec",
                   {{"replicas", 1},
                    {"selector", {{"matchLabels", {{"app", name}}}}},
                    {"template",
                     {{"metadata", {{"labels", {{"app", name}}}}},
                      {"spec", {{"containers", {{{"name", "c"}, {"image", "x:1"}}}}}}}}}}};
        if (!Curl("-X POST -H 'Content-Type: application/json' -d '" + d.dump() + "' '" +
                  Member(m.name) + "/apis/apps/v1/namespaces/payments/deployments'")) {
          return Fail("creating " + name + " in " + m.name);
        }
        rogues_[name] = m.name;
        Note("rogue " + name + " made by hand in " + m.name);
        break;
      }
    }
  }

  void Heal(const std::string& member) {
    test_env::CommandResult r = fed_.MembersimCtl("heal " + member);
    if (r.exit_code != 0) return Fail("heal: " + r.output);
    partitioned_.erase(member);
    Note("heal " + member);
  }

  // Samples for a while (invariants 1 and 2), then checks the audit (3).
  void Settle() {
    const auto until = std::chrono::steady_clock::now() + milliseconds(1500);
    while (failure_.empty() && std::chrono::steady_clock::now() < until) {
      Sample();
      std::this_thread::sleep_for(milliseconds(250));
    }
    CheckAudit();
  }

  void Sample() {
    ++samples_;
    for (const auto& m : Members()) {
      if (partitioned_.count(m.name) || ever_allowed_.count(m.jurisdiction)) continue;
      for (const char* collection : {"/apis/apps/v1/namespaces/payments/deployments",
                                     "/api/v1/namespaces/payments/configmaps"}) {
        json list = Get(Member(m.name) + collection + "?labelSelector=" + kManagedSelector);
        if (!list.is_object()) continue;  // a sampling miss, not a finding
        for (const json& o : list.value("items", json::array())) {
          Fail("member " + m.name + " (" + m.jurisdiction + ") holds " + o.value("kind", "") + " " +
               o["metadata"].value("name", "") + " of a payments workload; never allowed there");
        }
      }
    }
    // A member partitioned beyond the grace: the policy cannot be Compliant.
    const auto grace = milliseconds(8000);  // watch error + relist refused + a pass, under load
    for (const auto& [member, since] : partitioned_) {
      if (std::chrono::steady_clock::now() - since < grace) continue;
      json p = fed_.Api("/apis/federation.meridian.io/v1alpha1/residencypolicies/payments-eu-only");
      if (!p.is_object()) continue;
      for (const json& c : p.value("status", json::object()).value("conditions", json::array())) {
        if (c.value("type", "") == "Compliant" && c.value("status", "") == "True") {
          Fail("payments-eu-only is Compliant while " + member + " is partitioned: " + c.dump());
        }
      }
    }
  }

  std::vector<std::string> Violations() {
    json events =
        fed_.Api("/api/v1/namespaces/default/events?fieldSelector=reason%3DResidencyViolation");
    std::vector<std::string> out;
    if (!events.is_object()) return out;
    for (const json& e : events.value("items", json::array()))
      out.push_back(e.value("message", ""));
    return out;
  }

  void CheckAudit() {
    std::vector<std::string> seen;
    for (const auto& [name, where] : rogues_) {
      const std::string& member = where;  // clang 14 cannot capture a structured binding
      const auto& m = *std::find_if(Members().begin(), Members().end(),
                                    [&](const auto& x) { return x.name == member; });
      if (partitioned_.count(member) || allowed_.count(m.jurisdiction)) continue;
      const std::string want =
          "member " + member + " (" + m.jurisdiction + ") holds Deployment payments/" + name + " ";
      const bool reported = test_env::PollUntil(milliseconds(5000), milliseconds(200), [&] {
        seen = Violations();
        for (const std::string& v : seen) {
          if (v.rfind(want, 0) == 0) return true;
        }
        return false;
      });
      if (!reported) {
        return Fail("not reported within 5 s: " + want +
                    "; reported: " + ::testing::PrintToString(seen));
      }
    }
    for (const std::string& v : Violations()) {
      if (v.find("(eu) holds") != std::string::npos) Fail("an EU member is allowed: " + v);
    }
  }

  std::mt19937_64 rng_;
  std::filesystem::path dir_;
  test_env::E2EFederation fed_;
  std::set<std::string> allowed_, ever_allowed_;
  std::map<std::string, std::chrono::steady_clock::time_point> partitioned_;
  std::map<std::string, std::string> rogues_;  // name -> member
  int rogue_count_ = 0;
  std::string failure_, log_;
  int samples_ = 0;
};

TEST(ResidencyTortureE2E, RealProcessesHoldTheResidencyInvariant) {
  const int64_t sequences = EnvInt("MERIDIAN_TORTURE_PROCESS_SEQUENCES", 1);
  const int64_t seed = EnvInt("MERIDIAN_TORTURE_SEED", 20261205);
  const int steps = static_cast<int>(EnvInt("MERIDIAN_TORTURE_PROCESS_STEPS", 3));
  const auto start = std::chrono::steady_clock::now();
  int64_t samples = 0;
  for (int64_t i = 0; i < sequences; ++i) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("meridian-residency-torture-e2e-" + std::to_string(getpid()) + "-" + std::to_string(i));
    std::filesystem::remove_all(dir);
    ProcessSequence s(static_cast<uint64_t>(seed + i), dir);
    const std::string failure = s.Run(steps);
    samples += s.samples();
    if (EnvInt("MERIDIAN_TORTURE_VERBOSE", 0) != 0) {
      std::printf("seed %lld:\n%s", static_cast<long long>(seed + i), s.log().c_str());
    }
    ASSERT_EQ(failure, "") << "seed " << seed + i << " (replay: MERIDIAN_TORTURE_SEED=" << seed + i
                           << " MERIDIAN_TORTURE_PROCESS_SEQUENCES=1); logs in " << dir;
    std::filesystem::remove_all(dir);
  }
  std::printf(
      "%lld sequences x %d steps from seed %lld with real processes: %lld sampled "
      "instants, %lld ms\n",
      static_cast<long long>(sequences), steps, static_cast<long long>(seed),
      static_cast<long long>(samples),
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start)
              .count()));
}

}  // namespace
}  // namespace meridian
