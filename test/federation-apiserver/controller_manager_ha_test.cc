// federation-controller-manager with the real binaries: one etcd member, one
// federation-apiserver without controllers (member-schemas only, the HA layout), two
// controller managers with short lease flags, and membersim with two members. One manager
// leads (the Lease says which; the other runs no controllers); the test places a workload,
// kills the leader with SIGKILL, and checks from membersim's side that the other manager takes
// over within the lease duration plus two retry periods and that placement and propagation
// keep working (a scale and a new workload reach the members). A leader whose etcd hangs
// exits (status 1) within the renew deadline, and the standby takes over once etcd is back.
// Also: the binary's clear startup errors (SQLite storage, inconsistent lease flags).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/controller_manager_e2e.h"
#include "test/common/e2e_federation.h"
#include "test/common/etcd_cluster.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test_env::RunCommand;

class ControllerManagerHaTest : public test_env::ControllerManagerE2eTest {
 protected:
  // etcd, membersim and one apiserver without the leader-elected controllers.
  void StartFederation() {
    std::string error;
    ASSERT_TRUE(etcd_.Start(1, &error)) << error;
    storage_ = "etcd:" + etcd_.ClientUrl(0);
    ASSERT_NO_FATAL_FAILURE(StartMembersim());
    ASSERT_NO_FATAL_FAILURE(
        StartApiserver({"--storage", storage_, "--controllers", "member-schemas",
                        "--storage-compaction-interval", "0"}));
  }

  // Starts controller manager `i` on the etcd store (and `extra`).
  void StartManager(int i, const std::vector<std::string>& extra = {}) {
    ASSERT_NO_FATAL_FAILURE(
        ControllerManagerE2eTest::StartManager(i, {"--storage", storage_}, extra));
  }

  // The federation and managers cm-0 and cm-1; `lead` is the index of the one that took the
  // lease.
  void StartPairAndWaitForLeader(int* lead, const std::vector<std::string>& extra = {}) {
    ASSERT_NO_FATAL_FAILURE(StartFederation());
    ASSERT_NO_FATAL_FAILURE(StartManager(0, extra));
    ASSERT_NO_FATAL_FAILURE(StartManager(1, extra));
    std::string holder;
    ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50), [&] {
      holder = Holder();
      return !holder.empty();
    })) << "no manager took the lease";
    ASSERT_TRUE(holder == "cm-0" || holder == "cm-1") << holder;
    *lead = holder == "cm-0" ? 0 : 1;
  }

  // Write requests (POST, PUT, PATCH, DELETE) both members have received through their API,
  // as membersim's audit counters say; -1 when membersim does not answer.
  int64_t MemberApiWrites() {
    json status = test_env::GetJson(sim_url_ + "/admin/status");
    if (!status.is_object() || !status.contains("clusters")) return -1;
    int64_t total = 0;
    for (const json& c : status["clusters"]) total += c["apiWrites"].value("total", int64_t{0});
    return total;
  }

  test_env::EtcdCluster etcd_;
  std::string storage_;
};

TEST_F(ControllerManagerHaTest, TheStandbyTakesOverAfterTheLeaderIsKilledAndPlacementGoesOn) {
  int lead = -1;
  ASSERT_NO_FATAL_FAILURE(StartPairAndWaitForLeader(&lead));
  const std::string leader = "cm-" + std::to_string(lead);

  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 4)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(100),
                                  [&] { return MembersRun("web", 4); }))
      << "web never reached the members: " << json(MemberReplicas("web")).dump();
  // Only the leader runs controllers.
  EXPECT_NE(test_env::ReadFile(Log(lead)).find("leading as " + leader), std::string::npos);
  EXPECT_EQ(test_env::ReadFile(Log(1 - lead)).find("leading as"), std::string::npos);
  EXPECT_EQ(Holder(), leader);

  milliseconds took_over{};
  ASSERT_NO_FATAL_FAILURE(KillLeaderAndAwaitTakeover(lead, &took_over));
  const std::string standby = "cm-" + std::to_string(1 - lead);
  // Bound: lease duration (2 s) after the standby last saw a renewal, which it sees up to one
  // retry period late and acts on at its next tick (2 × 250 ms), plus scheduling slack on a
  // loaded 2-core machine.
  EXPECT_LT(took_over, milliseconds(2000 + 2 * 250 + 1000));
  std::cout << "takeover after kill -9: " << took_over.count() << " ms" << std::endl;
  ASSERT_NO_FATAL_FAILURE(ExpectTheLeaderPlaces(milliseconds(20000)));

  // The killed manager comes back as the standby; a SIGTERM to the leader releases the
  // lease, so the standby takes it at its next retry instead of after the lease duration.
  ASSERT_NO_FATAL_FAILURE(StartManager(lead));  // its elector runs once it says "running"
  const std::string restarted = "cm-" + std::to_string(lead);
  EXPECT_EQ(Holder(), standby);
  const auto terminated = steady_clock::now();
  cms_[1 - lead].Stop();  // returns once it exited (seen up to 100 ms late)
  const auto exited = steady_clock::now();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(20),
                                  [&] { return Holder() == restarted; }))
      << "holder " << Holder();
  const auto handed_over = steady_clock::now() - terminated;
  std::cout << "handover after SIGTERM: "
            << std::chrono::duration_cast<milliseconds>(handed_over).count() << " ms" << std::endl;
  // A released lease, not an expired one. Counted from the exit, not from the SIGTERM: the
  // shutdown before the release (controllers stopping) is slow on a loaded machine, and the
  // leader renews until then, so an unreleased lease would expire 2 s after its last renewal,
  // at least 1.65 s after the exit was seen; a released one is taken at the next retry (250 ms).
  EXPECT_LT(steady_clock::now() - exited, milliseconds(1500));
}

TEST_F(ControllerManagerHaTest, ALeaderThatCannotRenewExitsBeforeItsLeaseRunsOut) {
  int lead = -1;
  ASSERT_NO_FATAL_FAILURE(StartPairAndWaitForLeader(&lead));
  const pid_t pid = cms_[lead].pid();

  // etcd hangs (SIGSTOP): renewals block in the store for its 5 s call timeout, longer than
  // the 1.5 s renew deadline; the watchdog must end the leadership anyway.
  etcd_.Suspend(0);
  const auto suspended = steady_clock::now();
  const bool exited = test_env::PollUntil(milliseconds(8000), milliseconds(20),
                                          [&] { return test_env::ProcessExited(pid); });
  const auto after = steady_clock::now() - suspended;
  etcd_.Resume(0);
  ASSERT_TRUE(exited) << "the leader kept running with etcd hung";
  std::cout << "leader exited " << std::chrono::duration_cast<milliseconds>(after).count()
            << " ms after etcd hung" << std::endl;
  // Renew deadline (1.5 s) after its last renewal (<= 250 ms before the hang), a watchdog poll
  // (150 ms), scheduling slack: well before the 2 s lease could be taken over plus slack.
  EXPECT_LT(after, milliseconds(1500 + 150 + 1000));
  const int status = cms_[lead].Kill(SIGKILL);  // reaps the zombie
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(test_env::ReadFile(Log(lead)).find("leader election lost"), std::string::npos);

  // etcd back: the standby takes the lease once it has seen no renewal for 2 s.
  const std::string standby = "cm-" + std::to_string(1 - lead);
  EXPECT_TRUE(test_env::PollUntil(milliseconds(15000), milliseconds(50),
                                  [&] { return Holder() == standby; }))
      << "holder " << Holder();
}

// The paused leader (a long GC or VM stall, here SIGSTOP): its lease runs out while it cannot
// run, the standby takes over and changes the members, and then the old leader resumes with
// its controllers mid-pass and a stale view. It must send nothing more: its store writes meet
// the new leader's etcd fence, its member writes its own lease check (LeaderElector::
// WritePermit), and it exits. A 250 ms propagation resync puts a member pass of the old leader
// due at the moment it resumes. Membersim's audit counters see every member write; the new
// leader is idle by then (the members hold what it wants), so any write is the old leader's.
TEST_F(ControllerManagerHaTest, ALeaderPausedPastItsLeaseWritesNothingWhenItResumes) {
  int lead = -1;
  ASSERT_NO_FATAL_FAILURE(StartPairAndWaitForLeader(&lead, {"--propagation-resync-ms", "250"}));
  const std::string leader = "cm-" + std::to_string(lead);
  const std::string standby = "cm-" + std::to_string(1 - lead);
  const pid_t pid = cms_[lead].pid();

  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 4)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(100),
                                  [&] { return MembersRun("web", 4); }))
      << "web never reached the members: " << json(MemberReplicas("web")).dump();

  // Paused for longer than the lease (2 s): the standby takes over meanwhile.
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const auto paused = steady_clock::now();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(15000), milliseconds(20),
                                  [&] { return Holder() == standby; }))
      << "the standby never took the lease from the paused leader; holder " << Holder();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(50), [&] {
    return test_env::ReadFile(Log(1 - lead)).find("leading as " + standby) != std::string::npos;
  }));
  // The new leader acts on a change the paused one never saw: 4 -> 6 replicas on the members.
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 6)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(20000), milliseconds(100),
                                  [&] { return MembersRun("web", 6); }))
      << "the new leader did not scale web: " << json(MemberReplicas("web")).dump();
  // Idle: no member write for a second (several of its 250 ms resyncs).
  int64_t before = -2;  // never equal to a count (or to -1, membersim not answering)
  ASSERT_TRUE(test_env::PollUntil(milliseconds(15000), milliseconds(1000), [&] {
    const int64_t now = MemberApiWrites();
    const bool idle = now >= 0 && now == before;
    before = now;
    return idle;
  })) << "the new leader kept writing to the members";
  EXPECT_GT(steady_clock::now() - paused, milliseconds(2000));

  ASSERT_EQ(kill(pid, SIGCONT), 0);
  const auto resumed = steady_clock::now();
  const bool exited = test_env::PollUntil(milliseconds(10000), milliseconds(20),
                                          [&] { return test_env::ProcessExited(pid); });
  ASSERT_TRUE(exited) << "the resumed old leader kept running";
  std::cout << "old leader exited "
            << std::chrono::duration_cast<milliseconds>(steady_clock::now() - resumed).count()
            << " ms after it resumed" << std::endl;
  const int status = cms_[lead].Kill(SIGKILL);  // reaps the zombie
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(test_env::ReadFile(Log(lead)).find("leader election lost"), std::string::npos);
  // A second more for writes in flight to land: none comes.
  EXPECT_FALSE(test_env::PollUntil(milliseconds(1000), milliseconds(50),
                                   [&] { return MemberApiWrites() != before; }));
  EXPECT_EQ(MemberApiWrites(), before) << "member writes after the old leader resumed";
  EXPECT_TRUE(MembersRun("web", 6)) << json(MemberReplicas("web")).dump();
  EXPECT_EQ(Holder(), standby);
}

TEST_F(ControllerManagerHaTest, BadStorageAndLeaseFlagsAreClearStartupErrors) {
  const std::string bin = test_env::BinDir() + "/federation-controller-manager";
  test_env::CommandResult sqlite =
      RunCommand("timeout 30 " + bin + " --storage sqlite:" + (dir_ / "fed.db").string());
  EXPECT_EQ(sqlite.exit_code, 1) << sqlite.output;
  EXPECT_NE(sqlite.output.find("needs the etcd store"), std::string::npos) << sqlite.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "fed.db"));

  const std::string etcd = "etcd:http://127.0.0.1:" + std::to_string(test_env::FreeLoopbackPort());
  test_env::CommandResult deadline =
      RunCommand("timeout 30 " + bin + " --storage " + etcd +
                 " --leader-elect-lease-duration 10s --leader-elect-renew-deadline 10s");
  EXPECT_EQ(deadline.exit_code, 1) << deadline.output;
  EXPECT_NE(deadline.output.find("--leader-elect-lease-duration must be greater than "
                                 "--leader-elect-renew-deadline"),
            std::string::npos)
      << deadline.output;

  test_env::CommandResult duration =
      RunCommand("timeout 30 " + bin + " --storage " + etcd + " --leader-elect-retry-period 2x");
  EXPECT_EQ(duration.exit_code, 1) << duration.output;
  EXPECT_NE(duration.output.find("--leader-elect-retry-period: \"2x\" is not a duration"),
            std::string::npos)
      << duration.output;

  test_env::CommandResult controllers =
      RunCommand("timeout 30 " + bin + " --storage " + etcd + " --controllers nosuch");
  EXPECT_EQ(controllers.exit_code, 1) << controllers.output;
  EXPECT_NE(controllers.output.find("unknown controller \"nosuch\""), std::string::npos)
      << controllers.output;
}

}  // namespace
}  // namespace meridian::apiserver
