// Log lines: the text and JSON formatters (fields from LogFields, escaping, reserved keys),
// the flags' values, every server refusing a bad one by name, and --log-format json end to
// end: the federation-apiserver (every line one JSON object; a placement decision logged with
// its reason and object), membersim and meridian-dns (JSON lines on stderr with their fields,
// stdout kept for the lines scripts read).
#include "observability/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
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

// Every server takes the same flags (observability/flags.h) and refuses a bad value at
// startup, naming the flag, before it serves anything.
TEST(LoggingTest, EveryServerRefusesABadLogFlagNamingIt) {
  const std::string bin = test_env::BinDir();
  struct Case {
    std::string binary;
    std::string required;  // what the binary needs besides the log flags
  };
  const std::vector<Case> servers = {
      {"federation-apiserver", "--listen 127.0.0.1:0 --storage sqlite:/nonexistent/db"},
      {"federation-controller-manager", "--storage etcd:http://127.0.0.1:1"},
      {"membersim", "--config /nonexistent/membersim.yaml"},
      {"meridian-dns", "--config /nonexistent/zones.yaml --listen 127.0.0.1:0"},
  };
  for (const Case& c : servers) {
    // The whole reason, so that "unknown option --log-format" cannot pass for it.
    for (const auto& [flags, named] : std::vector<std::pair<std::string, std::string>>{
             {"--log-format xml", "--log-format: \"xml\" is not a log format"},
             {"--log-level loud", "--log-level: \"loud\" is not a level"},
             {"-v 11", "--v: Value 11 not in range"}}) {
      test_env::CommandResult r =
          test_env::RunCommand(bin + "/" + c.binary + " " + c.required + " " + flags);
      EXPECT_NE(r.exit_code, 0) << c.binary << " " << flags << ": " << r.output;
      EXPECT_THAT(r.output, HasSubstr(named)) << c.binary << " " << flags;
      EXPECT_THAT(r.output, ::testing::Not(HasSubstr("listening on"))) << c.binary << " " << flags;
    }
  }
}

// Reads `path` until a JSON line with every field of `want` appears (or 15 s pass).
json WaitForJsonLine(const std::filesystem::path& path, const json& want) {
  json found;
  test_env::PollUntil(std::chrono::seconds(15), std::chrono::milliseconds(50), [&] {
    std::istringstream lines(test_env::ReadFile(path));
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      bool all = true;
      for (const auto& [k, v] : want.items()) all = all && j.contains(k) && j[k] == v;
      if (all) {
        found = j;
        return true;
      }
    }
    return false;
  });
  return found;
}

// Every line of `path` is one JSON object from `component`; returns how many there are.
int ExpectAllJsonLines(const std::filesystem::path& path, const std::string& component) {
  std::istringstream lines(test_env::ReadFile(path));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    json j = json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("ts") && j["component"] == component)
        << "not a JSON log line of " << component << ": " << line;
  }
  return n;
}

TEST(LoggingTest, MembersimAndTheDnsServerLogJsonLinesToStderr) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("meridian-logging-sim-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string bin = test_env::BinDir();
  std::string error;

  test_env::WriteFile(dir / "membersim.yaml",
                      "clusters:\n"
                      "  - {name: eu-west-1, region: eu-west, zones: [{name: eu-west-1a, nodes: "
                      "1}]}\n");
  test_env::ChildProcess sim;
  ASSERT_TRUE(sim.Start({bin + "/membersim", "--config", (dir / "membersim.yaml").string(),
                         "--listen", "127.0.0.1:0", "--log-format", "json", "-v", "2"},
                        &error, (dir / "membersim.err").string()))
      << error;
  const std::string sim_url =
      sim.WaitForLine("membersim listening on ", std::chrono::seconds(30), &error);
  ASSERT_FALSE(sim_url.empty()) << error << test_env::ReadFile(dir / "membersim.err");
  json serving =
      WaitForJsonLine(dir / "membersim.err", {{"msg", "serving cluster"}, {"member", "eu-west-1"}});
  ASSERT_TRUE(serving.is_object()) << test_env::ReadFile(dir / "membersim.err");
  EXPECT_EQ(serving.value("region", ""), "eu-west");
  EXPECT_EQ(serving.value("url", ""), sim_url + "/clusters/eu-west-1");
  test_env::CommandResult ctl =
      test_env::RunCommand(bin + "/membersim ctl --server " + sim_url + " fail-region eu-west");
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  json injection = WaitForJsonLine(dir / "membersim.err", {{"msg", "injection"}});
  ASSERT_TRUE(injection.is_object()) << test_env::ReadFile(dir / "membersim.err");
  EXPECT_EQ(injection.value("target", ""), "eu-west");
  sim.Stop();
  EXPECT_GE(ExpectAllJsonLines(dir / "membersim.err", "membersim"), 3);

  test_env::ChildProcess dns;
  ASSERT_TRUE(dns.Start({bin + "/meridian-dns", "--config",
                         test_env::SourceDir() + "/examples/dns/three-continents.yaml", "--listen",
                         "127.0.0.1:0", "--log-format", "json"},
                        &error, (dir / "dns.err").string()))
      << error;
  ASSERT_FALSE(
      dns.WaitForLine("meridian-dns listening on ", std::chrono::seconds(30), &error).empty())
      << error << test_env::ReadFile(dir / "dns.err");
  kill(dns.pid(), SIGHUP);
  const std::string reloaded =
      dns.WaitForLine("meridian-dns reloaded generation ", std::chrono::seconds(15), &error);
  EXPECT_EQ(reloaded, "2") << "stdout keeps the line scripts read: " << error;
  json logged = WaitForJsonLine(dir / "dns.err", {{"msg", "reloaded"}, {"generation", "2"}});
  ASSERT_TRUE(logged.is_object()) << test_env::ReadFile(dir / "dns.err");
  EXPECT_THAT(logged.value("config", ""), HasSubstr("three-continents.yaml"));
  dns.Stop();
  json stopped = WaitForJsonLine(dir / "dns.err", {{"msg", "stopped"}});
  ASSERT_TRUE(stopped.is_object()) << test_env::ReadFile(dir / "dns.err");
  EXPECT_TRUE(stopped.contains("udp") && stopped.contains("rrl_dropped")) << stopped.dump();
  EXPECT_EQ(ExpectAllJsonLines(dir / "dns.err", "meridian-dns"), 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::observability
