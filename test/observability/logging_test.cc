// Log lines: the text and JSON formatters (fields from LogFields, escaping, reserved keys),
// the flags' values, and the federation-apiserver's --log-format json end to end (every line
// one JSON object; a placement decision logged with its reason and object).
#include "observability/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/log_fields.h"
#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian::observability {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string Format(LogFormat format, spdlog::level::level_enum level, const std::string& payload) {
  spdlog::details::log_msg msg(spdlog::source_loc{}, "", level, payload);
  spdlog::memory_buf_t buf;
  MakeLogFormatter(format, "federation-apiserver")->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

TEST(LoggingTest, JsonLinesCarryTheFieldsAsMembers) {
  const std::string line = Format(LogFormat::kJson, spdlog::level::warn,
                                  LogFields("3 of 3 unplaced: \"quoted\"\nnext line",
                                            {{"controller", "placement-controller"},
                                             {"object", "shop/web"},
                                             {"member", "eu-west-1"},
                                             {"msg", "a field may not replace the message"}}));
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per entry";
  json j = json::parse(line);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["component"], "federation-apiserver");
  EXPECT_EQ(j["msg"], "3 of 3 unplaced: \"quoted\"\nnext line");
  EXPECT_EQ(j["controller"], "placement-controller");
  EXPECT_EQ(j["object"], "shop/web");
  EXPECT_EQ(j["member"], "eu-west-1");
  EXPECT_THAT(j["ts"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
  EXPECT_EQ(line.rfind("{\"ts\":", 0), 0u) << "ts first: " << line;
  // A plain message has no fields.
  EXPECT_EQ(json::parse(Format(LogFormat::kJson, spdlog::level::info, "plain")).size(), 4u);
}

TEST(LoggingTest, TextLinesQuoteValuesThatNeedIt) {
  const std::string line = Format(
      LogFormat::kText, spdlog::level::info,
      LogFields("moved",
                {{"object", "shop/web"}, {"reason", "zone eu-west-1a failed"}, {"empty", ""}}));
  EXPECT_THAT(line, HasSubstr("] [info] federation-apiserver: moved object=shop/web "
                              "reason=\"zone eu-west-1a failed\" empty=\"\"\n"));
  EXPECT_EQ(line.find('\x1f'), std::string::npos);
}

TEST(LoggingTest, FlagsAreCheckedAndVerbosityMapsLikeKubernetes) {
  EXPECT_FALSE(ParseLogFormat("xml", "--log-format").ok());
  EXPECT_THAT(ParseLogFormat("xml", "--log-format").status().message(), HasSubstr("--log-format"));
  EXPECT_EQ(*ParseLogFormat("json", "--log-format"), LogFormat::kJson);
  EXPECT_EQ(*LogLevel("warn", -1), spdlog::level::warn);
  EXPECT_FALSE(LogLevel("loud", -1).ok());
  EXPECT_EQ(*LogLevel("error", 2), spdlog::level::info) << "-v overrides --log-level";
  EXPECT_EQ(*LogLevel("info", 4), spdlog::level::debug);
  EXPECT_EQ(*LogLevel("info", 6), spdlog::level::trace);
}

TEST(LoggingTest, TheApiServersJsonLogIsOneObjectPerLineWithPlacementDecisions) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("meridian-logging-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  test_env::ChildProcess api;
  std::string error;
  ASSERT_TRUE(api.Start({test_env::BinDir() + "/federation-apiserver", "--listen", "127.0.0.1:0",
                         "--storage", "sqlite:" + (dir / "db.sqlite").string(), "--log-format",
                         "json", "--controllers", "placement"},
                        &error, (dir / "stderr").string()))
      << error;
  const std::string url =
      api.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error);
  ASSERT_FALSE(url.empty()) << error;
  api.CopyOutputTo((dir / "log").string());
  test_env::WriteFile(dir / "web.yaml",
                      "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n" +
                          test_env::WorkloadYaml({.name = "web", .replicas = 3}));
  test_env::CommandResult applied = test_env::RunCommand(
      test_env::BinDir() + "/fedctl --server " + url + " apply -f " + (dir / "web.yaml").string());
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  json decision;
  EXPECT_TRUE(test_env::PollUntil(std::chrono::seconds(15), std::chrono::milliseconds(100), [&] {
    std::istringstream lines(test_env::ReadFile(dir / "log"));
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("reason", "") == "FailedPlacement") decision = j;
    }
    return decision.is_object();
  })) << test_env::ReadFile(dir / "log");
  EXPECT_EQ(decision.value("object", ""), "shop/web");
  EXPECT_EQ(decision.value("kind", ""), "FederatedWorkload");
  EXPECT_EQ(decision.value("controller", ""), "placement-controller");
  EXPECT_THAT(decision.value("msg", ""), HasSubstr("unplaced"));
  api.Stop();
  std::istringstream lines(test_env::ReadFile(dir / "log"));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    json j = json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("ts") && j["component"] == "federation-apiserver")
        << "not a JSON log line: " << line;
  }
  EXPECT_GE(n, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::observability
