// What the federation-controller-manager end-to-end tests share (on etcd,
// test/federation-apiserver/controller_manager_ha_test.cc; through the API,
// test/federation-controller-manager/controller_manager_rest_test.cc): membersim with two
// members in two regions, the federation that joins them, a workload spread 1:1 over both,
// the replicas the members hold, read from membersim's side, and the fixture that runs them
// with one federation-apiserver and two managers.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian::test_env {

inline constexpr char kTwoMemberSimConfig[] = R"(defaults:
  podReadyDelay: 200ms
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
)";

// The MemberClusters of kTwoMemberSimConfig and namespace shop.
inline std::string TwoMemberFederation(const std::string& sim_url) {
  return MemberClustersYaml(sim_url,
                            {{"us-east-1", "us-east", "us"}, {"eu-west-1", "eu-west", "eu"}}) +
         "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
}

// FederatedWorkload shop/`name` with weights 1:1 over both regions.
inline std::string SpreadWorkload(const std::string& name, int replicas) {
  return WorkloadYaml({.name = name,
                       .replicas = replicas,
                       .placement = "    distribution:\n      weights: {us-east: 1, eu-west: 1}",
                       .image = "example/" + name + ":1",
                       .cpu = "10m",
                       .memory = "16Mi"});
}

// Replicas of Deployment shop/`name` per member, read from membersim (members without it
// left out).
inline std::map<std::string, int64_t> MemberReplicas(const std::string& sim_url,
                                                     const std::string& name) {
  std::map<std::string, int64_t> out;
  for (const std::string member : {"us-east-1", "eu-west-1"}) {
    nlohmann::json d = GetJson(sim_url + "/clusters/" + member +
                               "/apis/apps/v1/namespaces/shop/deployments/" + name);
    if (d.is_object() && d.contains("spec")) out[member] = d["spec"].value("replicas", 0);
  }
  return out;
}

// Whether the members hold `total` replicas of shop/`name`, in both (weights 1:1).
inline bool MembersRun(const std::string& sim_url, const std::string& name, int64_t total) {
  std::map<std::string, int64_t> per = MemberReplicas(sim_url, name);
  int64_t sum = 0;
  for (const auto& [member, n] : per) sum += n;
  return sum == total && per.size() == 2;
}

// Whether process `pid` has exited (a zombie nobody reaped yet, or gone).
inline bool ProcessExited(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || (paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

// A fresh directory per test (kept when the test fails), membersim with kTwoMemberSimConfig, a
// federation-apiserver and managers cm-0 and cm-1, all stopped at the end. The suite says
// how the apiserver runs and how the managers reach it; `admin_token_` (when set) is the
// bearer token of the test's own reads and applies.
class ControllerManagerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-" + std::string(test->test_suite_name()) + "-" + std::to_string(getpid()) +
            "-" + test->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& cm : cms_) cm.Stop();
    api_.Stop();
    sim_.Stop();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // membersim on a free port; sets sim_url_.
  void StartMembersim() {
    std::string error;
    WriteFile(dir_ / "membersim.yaml", kTwoMemberSimConfig);
    ASSERT_TRUE(sim_.Start({BinDir() + "/membersim", "--config", (dir_ / "membersim.yaml").string(),
                            "--listen", "127.0.0.1:" + std::to_string(FreeLoopbackPort())},
                           &error, (dir_ / "membersim.log").string()))
        << error;
    sim_url_ = sim_.WaitForLine("membersim listening on ", std::chrono::seconds(20), &error);
    ASSERT_FALSE(sim_url_.empty()) << error;
  }

  // federation-apiserver on a free port with `flags`; sets api_url_.
  void StartApiserver(const std::vector<std::string>& flags) {
    std::string error;
    std::vector<std::string> argv = {BinDir() + "/federation-apiserver", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ASSERT_TRUE(api_.Start(argv, &error, (dir_ / "apiserver.err").string())) << error;
    api_url_ =
        api_.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error);
    ASSERT_FALSE(api_url_.empty()) << error;
    api_.CopyOutputTo((dir_ / "apiserver.log").string());
  }

  // Starts manager `i` (identity cm-<i>) with `backend` (--kubeconfig F or --storage S),
  // short lease flags (2 s / 1.5 s / 250 ms) and `extra`.
  void StartManager(int i, const std::vector<std::string>& backend,
                    const std::vector<std::string>& extra = {}) {
    std::string error;
    std::vector<std::string> argv = {BinDir() + "/federation-controller-manager"};
    argv.insert(argv.end(), backend.begin(), backend.end());
    const std::vector<std::string> lease = {"--leader-elect-identity",
                                            "cm-" + std::to_string(i),
                                            "--leader-elect-lease-duration",
                                            "2s",
                                            "--leader-elect-renew-deadline",
                                            "1500ms",
                                            "--leader-elect-retry-period",
                                            "250ms",
                                            "--log-level",
                                            "info"};
    argv.insert(argv.end(), lease.begin(), lease.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_TRUE(cms_[i].Start(argv, &error, Log(i) + ".err")) << error;
    ASSERT_FALSE(cms_[i]
                     .WaitForLine("federation-controller-manager running as ",
                                  std::chrono::seconds(30), &error)
                     .empty())
        << error << "\n"
        << ReadFile(Log(i) + ".err");
    cms_[i].CopyOutputTo(Log(i));
  }
  std::string Log(int i) const { return (dir_ / ("cm-" + std::to_string(i) + ".log")).string(); }

  // GET `path` of the apiserver with `token` ("" = none): the body, or null on any failure.
  nlohmann::json Get(const std::string& token, const std::string& path) {
    const std::string auth = token.empty() ? "" : " -H 'Authorization: Bearer " + token + "'";
    CommandResult r = RunCommand("curl -fsS --max-time 5" + auth + " '" + api_url_ + path + "'");
    if (r.exit_code != 0) return nullptr;
    return nlohmann::json::parse(r.output, nullptr, false);
  }
  // The manager holding the default Lease ("" when none or unreadable).
  std::string Holder() {
    nlohmann::json lease = Get(admin_token_,
                               "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases/"
                               "federation-controller-manager");
    if (!lease.is_object() || !lease.contains("spec")) return "";
    return lease["spec"].value("holderIdentity", "");
  }
  // fedctl apply of `yaml`, written to `file` in the test's directory.
  void Apply(const std::string& file, const std::string& yaml) {
    WriteFile(dir_ / file, yaml);
    const std::string token = admin_token_.empty() ? "" : " --token " + admin_token_;
    CommandResult r = RunCommand(BinDir() + "/fedctl --server " + api_url_ + token + " apply -f " +
                                 (dir_ / file).string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // Kills manager `lead` with SIGKILL, waits until the other holds the Lease (its time from
  // the kill in `took_over`) and says it leads.
  void KillLeaderAndAwaitTakeover(int lead, std::chrono::milliseconds* took_over) {
    const auto killed = std::chrono::steady_clock::now();
    cms_[lead].Kill(SIGKILL);
    const std::string standby = "cm-" + std::to_string(1 - lead);
    ASSERT_TRUE(PollUntil(std::chrono::milliseconds(15000), std::chrono::milliseconds(20),
                          [&] { return Holder() == standby; }))
        << "the standby never took the lease; holder " << Holder();
    *took_over = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - killed);
    ASSERT_TRUE(PollUntil(std::chrono::milliseconds(5000), std::chrono::milliseconds(50), [&] {
      return ReadFile(Log(1 - lead)).find("leading as " + standby) != std::string::npos;
    }));
  }
  // A new leader's controllers place and propagate: web scaled to 6, a new api with 2.
  void ExpectTheLeaderPlaces(std::chrono::milliseconds within) {
    ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", SpreadWorkload("web", 6)));
    ASSERT_NO_FATAL_FAILURE(Apply("api.yaml", SpreadWorkload("api", 2)));
    EXPECT_TRUE(PollUntil(within, std::chrono::milliseconds(100),
                          [&] { return MembersRun("web", 6) && MembersRun("api", 2); }))
        << "web " << nlohmann::json(MemberReplicas("web")).dump() << ", api "
        << nlohmann::json(MemberReplicas("api")).dump();
  }
  std::map<std::string, int64_t> MemberReplicas(const std::string& name) {
    return test_env::MemberReplicas(sim_url_, name);
  }
  bool MembersRun(const std::string& name, int64_t total) {
    return test_env::MembersRun(sim_url_, name, total);
  }

  std::filesystem::path dir_;
  std::string admin_token_;
  ChildProcess sim_, api_;
  ChildProcess cms_[2];
  std::string sim_url_, api_url_;
};

}  // namespace meridian::test_env
