// The DNS flags (and the health controller's timer flags) without their controller:
// federation-apiserver refuses to start (a DNS server the user asked for must not be silently
// missing) and names the flags.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "federation-apiserver/controller_manager.h"
#include "test/common/child_process.h"
#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

// The hook the dns controller uses, on a controller of this test binary's own.
int checks = 0;
const ControllerRegistration kPicky({
    .name = "picky",
    .description = "refuses to be left out",
    .start = [](ControllerContext&) -> StatusOr<std::unique_ptr<RunningController>> {
      return UnimplementedError("never started here");
    },
    .check_not_selected =
        [] {
          ++checks;
          return InvalidArgumentError("--picky-flag given without the picky controller");
        },
});

TEST(CheckNotSelectedTest, RunsOnlyForControllersLeftOutAndFailsTheSelection) {
  checks = 0;
  auto selected = SelectControllers("picky");
  ASSERT_TRUE(selected.ok()) << selected.status();
  EXPECT_EQ(checks, 0);
  for (const std::string flag : {"none", "", "*,-picky"}) {
    auto left_out = SelectControllers(flag);
    ASSERT_FALSE(left_out.ok()) << flag;
    EXPECT_EQ(left_out.status().message(), "--controllers " +
                                               (flag.empty() ? std::string("\"\"") : flag) +
                                               ": --picky-flag given without the picky controller");
  }
  EXPECT_EQ(checks, 3);
  // An unknown name is still reported as such, before any check.
  EXPECT_NE(SelectControllers("nope").status().message().find("unknown controller \"nope\""),
            std::string::npos);
}

class DnsFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = test_env::BinDir() + "/federation-apiserver";
    ASSERT_TRUE(std::filesystem::exists(bin_)) << bin_ << " is not built";
    dir_ =
        std::filesystem::temp_directory_path() / ("meridian-dns-flags-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The command line up to the flags under test: a free port, a private database.
  std::string Base() const {
    return bin_ + " --listen 127.0.0.1:0 --log-level warn --storage sqlite:" +
           (dir_ / "federation.db").string();
  }

  std::string bin_;
  std::filesystem::path dir_;
};

TEST_F(DnsFlagsTest, DnsListenWithoutTheDnsControllerFailsNamingBothFlags) {
  for (const std::string controllers : {"placement,propagation", "none", "*,-dns"}) {
    test_env::CommandResult r = test_env::RunCommand(Base() + " --controllers " + controllers +
                                                     " --dns-listen 127.0.0.1:0 < /dev/null");
    EXPECT_EQ(r.exit_code, 1) << controllers << ": " << r.output;
    EXPECT_NE(r.output.find("--controllers " + controllers +
                            ": --dns-listen 127.0.0.1:0 given, "
                            "but the dns controller is not selected"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("add dns to --controllers"), std::string::npos) << r.output;
    // It stopped before serving anything.
    EXPECT_EQ(r.output.find("listening on"), std::string::npos) << r.output;
  }
}

TEST_F(DnsFlagsTest, EveryDnsFlagGivenIsNamed) {
  test_env::CommandResult r = test_env::RunCommand(
      Base() +
      " --controllers placement --dns-zone global.example.com --dns-client-regions "
      "regions.yaml < /dev/null");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--dns-zone, --dns-client-regions given, but the dns controller is not "
                          "selected, so they would be ignored"),
            std::string::npos)
      << r.output;
}

// The health controller's timer flags follow the same rule.
TEST_F(DnsFlagsTest, HealthTimerFlagsWithoutTheHealthControllerFail) {
  test_env::CommandResult r = test_env::RunCommand(
      Base() + " --controllers placement --health-probe-timeout-ms 3000 < /dev/null");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--health-probe-timeout-ms given, but the health controller is not "
                          "selected"),
            std::string::npos)
      << r.output;
  // Out of range: CLI11 names the flag and the range.
  r = test_env::RunCommand(Base() + " --health-failure-threshold 0 < /dev/null");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--health-failure-threshold"), std::string::npos) << r.output;
}

TEST_F(DnsFlagsTest, WithoutDnsFlagsOtherSelectionsStillStart) {
  test_env::ChildProcess process;
  std::string error;
  ASSERT_TRUE(process.Start(
      {bin_, "--listen", "127.0.0.1:0", "--log-level", "warn", "--storage",
       "sqlite:" + (dir_ / "federation.db").string(), "--controllers", "placement,propagation"},
      &error, (dir_ / "stderr.log").string()))
      << error;
  EXPECT_NE(
      process.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error),
      "")
      << error;
  process.Stop();
}

}  // namespace
}  // namespace meridian::apiserver
