// fedctl's completion and "did you mean" core (cli/completion.h) over a hand-made command tree.
#include "cli/completion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meridian::cli {
namespace {

using ::testing::ElementsAre;
using Globals = std::vector<std::pair<std::string, std::string>>;

CommandSpec Tree() {
  CommandSpec root{.name = "fedctl"};
  root.options = {{.names = {"-s", "--server"}, .takes_value = true},
                  {.names = {"--kubeconfig"}, .takes_value = true, .wants_file = true},
                  {.names = {"-n", "--namespace"}, .takes_value = true},
                  {.names = {"-A", "--all-namespaces"}},
                  {.names = {"-h", "--help"}}};
  CommandSpec get{.name = "get"};
  get.positionals = {"TYPE", "NAME"};
  get.options = {{.names = {"-o", "--output"}, .takes_value = true},
                 {.names = {"-l", "--selector"}, .takes_value = true},
                 {.names = {"-w", "--watch"}}};
  CommandSpec apply{.name = "apply"};
  apply.options = {{.names = {"-f", "--filename"}, .takes_value = true, .wants_file = true}};
  CommandSpec del{.name = "delete"};
  del.positionals = {"ARGS"};
  CommandSpec drill{.name = "drill"};
  drill.subcommands = {CommandSpec{.name = "run"}, CommandSpec{.name = "report"}};
  root.subcommands = {get, apply, del, drill, CommandSpec{.name = "__complete"}};
  return root;
}

struct FakeServer {
  std::vector<std::pair<std::string, Globals>> asked;
  CompletionSources Sources() {
    return {.kinds =
                [] {
                  return std::vector<std::string>{"fw", "federatedworkloads", "mc", "ns"};
                },
            .names =
                [this](const std::string& kind, const Globals& globals) {
                  asked.emplace_back(kind, globals);
                  if (kind == "namespaces") return std::vector<std::string>{"default", "shop"};
                  return std::vector<std::string>{"web", "worker", "api"};
                }};
  }
};

TEST(CompletionTest, SubcommandsWithoutHiddenOnes) {
  FakeServer server;
  EXPECT_THAT(Complete(Tree(), {""}, server.Sources()),
              ElementsAre("apply", "delete", "drill", "get"));
  EXPECT_THAT(Complete(Tree(), {"d"}, server.Sources()), ElementsAre("delete", "drill"));
  EXPECT_THAT(Complete(Tree(), {"drill", "r"}, server.Sources()), ElementsAre("report", "run"));
  // Global options and their values before the command are skipped.
  EXPECT_THAT(Complete(Tree(), {"--server", "http://x", "-A", "g"}, server.Sources()),
              ElementsAre("get"));
}

TEST(CompletionTest, KindsThenObjectNamesFromTheServerTheUserPointsAt) {
  FakeServer server;
  EXPECT_THAT(Complete(Tree(), {"get", "f"}, server.Sources()),
              ElementsAre("fw", "federatedworkloads"));
  EXPECT_TRUE(server.asked.empty());
  EXPECT_THAT(Complete(Tree(), {"-s", "https://fed:6443", "get", "fw", "-n", "shop", "w"},
                       server.Sources()),
              ElementsAre("web", "worker"));
  ASSERT_EQ(server.asked.size(), 1u);
  EXPECT_EQ(server.asked[0].first, "fw");
  EXPECT_EQ(server.asked[0].second,
            (Globals{{"--server", "https://fed:6443"}, {"--namespace", "shop"}}));
  // delete TYPE NAME... (positional ARGS): the first is a kind, the rest names.
  EXPECT_THAT(Complete(Tree(), {"delete", "m"}, server.Sources()), ElementsAre("mc"));
  EXPECT_THAT(Complete(Tree(), {"delete", "fw", "web", "a"}, server.Sources()), ElementsAre("api"));
}

TEST(CompletionTest, OptionsFilesAndNamespaces) {
  FakeServer server;
  EXPECT_THAT(Complete(Tree(), {"get", "fw", "--s"}, server.Sources()),
              ElementsAre("--selector", "--server"));
  EXPECT_THAT(Complete(Tree(), {"apply", "-f", ""}, server.Sources()), ElementsAre(":files"));
  EXPECT_THAT(Complete(Tree(), {"--kubeconfig", ""}, server.Sources()), ElementsAre(":files"));
  EXPECT_THAT(Complete(Tree(), {"get", "fw", "-n", "s"}, server.Sources()), ElementsAre("shop"));
  // A value option without candidates offers nothing (not the subcommands).
  EXPECT_TRUE(Complete(Tree(), {"get", "fw", "-o", ""}, server.Sources()).empty());
  // --opt=value counts as one word.
  EXPECT_THAT(Complete(Tree(), {"--server=http://x", "get", "fw", ""}, server.Sources()),
              ElementsAre("web", "worker", "api"));
  EXPECT_TRUE(Complete(Tree(), {}, server.Sources()).empty());
}

TEST(CompletionTest, SuggestClosestCatchesTyposNotNonsense) {
  const std::vector<std::string> commands = {"get", "apply", "delete", "describe", "drill"};
  EXPECT_EQ(SuggestClosest("gett", commands), "get");
  EXPECT_EQ(SuggestClosest("gte", commands), "get");  // a transposition is one edit
  EXPECT_EQ(SuggestClosest("aply", commands), "apply");
  EXPECT_EQ(SuggestClosest("descr", commands), "describe");  // a prefix
  EXPECT_EQ(SuggestClosest("--selecter", {"--selector", "--server"}), "--selector");
  EXPECT_FALSE(SuggestClosest("x", commands));
  EXPECT_FALSE(SuggestClosest("launch", commands));
  EXPECT_FALSE(SuggestClosest("", commands));
}

TEST(CompletionTest, FirstCommandWordSkipsGlobalOptionsAndTheirValues) {
  EXPECT_EQ(FirstCommandWord(Tree(), {"--server", "http://x", "-A", "gett", "fw"}), "gett");
  EXPECT_EQ(FirstCommandWord(Tree(), {"--server=http://x", "get"}), "get");
  EXPECT_FALSE(FirstCommandWord(Tree(), {"--help"}));
  EXPECT_FALSE(FirstCommandWord(Tree(), {}));
}

TEST(CompletionTest, ScriptsForThreeShells) {
  for (const char* shell : {"bash", "zsh", "fish"}) {
    std::optional<std::string> script = CompletionScript(shell);
    ASSERT_TRUE(script) << shell;
    EXPECT_NE(script->find("__complete"), std::string::npos) << shell;
  }
  EXPECT_FALSE(CompletionScript("powershell"));
}

}  // namespace
}  // namespace meridian::cli
