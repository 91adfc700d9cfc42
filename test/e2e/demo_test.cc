// Runs scripts/demo.sh (the README's first command, minus the install and build the test
// suite already did) on free loopback ports and checks what it shows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using test_env::FreeLoopbackPort;

TEST(DemoTest, TheReadmeDemoStartsTheFederationAndShowsItWorking) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("meridian-demo-" + std::to_string(getpid()));
  std::string build_dir = std::filesystem::path(test_env::BinDir()).parent_path().string();
  std::string cmd = "cd " + test_env::SourceDir() + " && DEMO_EXIT=1 MERIDIAN_SKIP_BUILD=1" +
                    " MERIDIAN_BUILD_DIR=" + build_dir +
                    " MERIDIAN_PORT=" + std::to_string(FreeLoopbackPort()) +
                    " MEMBERSIM_PORT=" + std::to_string(FreeLoopbackPort()) +
                    " MERIDIAN_DNS_PORT=" + std::to_string(FreeLoopbackPort()) +
                    " MERIDIAN_DEMO_DIR=" + dir.string() + " timeout 180 ./scripts/demo.sh";
  test_env::CommandResult r = test_env::RunCommand(cmd);
  // The demo runs with an audit log and its member credentials encrypted at rest: the log has
  // lines, and no member token (nor its base64) is in the store's files or the log.
  for (const char* file : {"federation.db", "federation.db-wal", "audit.log"}) {
    for (const char* member : {"us-east-1", "eu-west-1", "ap-south-1"}) {
      test_env::CommandResult c = test_env::RunCommand(
          "t=$(cat " + (dir / "tokens" / member).string() + ") && f=" + (dir / file).string() +
          " && if [ -e $f ]; then echo $(grep -c -a \"$t\" $f)" +
          " $(grep -c -a \"$(printf %s \"$t\" | base64 -w0)\" $f); else echo 0 0; fi");
      EXPECT_EQ(c.output, "0 0\n") << file << " " << member;
    }
  }
  test_env::CommandResult audit = test_env::RunCommand("wc -l < " + (dir / "audit.log").string());
  EXPECT_GT(std::atoi(audit.output.c_str()), 50) << audit.output;
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const std::string& expected : std::vector<std::string>{
           // Members are joined (checked with their own token) rather than applied.
           "membercluster.federation.meridian.io/eu-west-1 joined",
           "credentials in secret meridian-system/eu-west-1-credentials-",
           "topology.federation.meridian.io/default created",
           "federatedworkload.federation.meridian.io/web created",
           "eu-central-1   eu-central   eu",  // fedctl get memberclusters
           "shop        web",                 // fedctl get federatedworkloads -A
           "us-east 9/9, ",                   // ... with ready/desired per region
           "eu-west-1c-node-0   zone eu-west-1c",  // the member's nodes, with their zones
           // The placement controller divided 30 replicas 5:3:2 across the continents.
           "us-east-1: 9 = region us-east weight 3/10 of 30",
           "eu-central-1: 3 = region eu-central weight 1/10 of 30",
           "ap-south-1: 6 = region ap-south weight 2/10 of 30",
           // ... the propagation controller made the members run them, all ready.
           "30 of 30 replicas ready",
           "5 of 5 clusters synced",
           "eu-central-1  deployment shop/web: 3 replicas ready",  // as the member reports it
           // One global name: the nearest region's member answers, by client subnet.
           "a client in Paris     (subnet 81.2.3.0/24  ) gets web.global.example.com -> 127.20.3.1",
           "a client in Virginia  (subnet 3.4.5.0/24   ) gets web.global.example.com -> 127.20.1.1",
           "a client in Mumbai    (subnet 103.1.2.0/24 ) gets web.global.example.com -> 127.20.5.1",
           // EU residency: ledger runs in the EU only, and losing eu-west keeps it there.
           "ledger   12      12                   eu-west 8/8, eu-central 4/4",
           "  eu-central-1             eu-central          4     12     +8",
           "Drill demo-eu-west: simulate, target region=eu-west, Completed",
           "Residency violations: 0",
           "payments/ledger: eu-central-1 4->12, eu-west-1 8->0",
           // ... and a short live drill: replicas really move, no availability is lost.
           "Drill demo-eu-west-live: live, target region=eu-west, Completed",
           "Abort condition: did not fire (minimum availability 90%)",
           "The demo federation is running.",
           // TLS with the PKI of `fedctl admin init`, kubectl-ready.
           "  export KUBECONFIG=" + dir.string() + "/pki/admin.kubeconfig",
       }) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  }
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Lowest availability: (\d+) of \1 ready \(100%\))")))
      << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(eu-west +\d+ +0 +-\d+)"))) << r.output;
  // The web console's URL and a token to sign in with (the admin's, from tokens.csv).
  EXPECT_TRUE(
      std::regex_search(r.output, std::regex(R"(console: https://127\.0\.0\.1:\d+/console/)")))
      << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(sign in with the admin token: [A-Za-z0-9_-]{20,}\n)")))
      << r.output;
}

}  // namespace
}  // namespace meridian
