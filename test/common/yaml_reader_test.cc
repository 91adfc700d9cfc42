#include "common/yaml_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian {
namespace {

// `depth` flow sequences inside each other around a scalar: the scalar sits at `depth`.
std::string NestedSequences(int depth) {
  return std::string(depth, '[') + "x" + std::string(depth, ']');
}

// "Billion laughs": nine levels of ten aliases, a billion scalars once expanded.
std::string AliasBomb() {
  std::string bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    const std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ",*" : "*") + prev;
    bomb += "]\n";
    prev = name;
  }
  return bomb;
}

struct Refused {
  std::string name;
  std::string text;
  int line;             // 1-based line of the mark
  std::string message;  // a substring of the message
};

// Each is refused by both readers with the mark of the problem, without building nodes for
// it (so in bounded time and memory).
TEST(YamlReader, RefusesWithTheMarkOfTheProblem) {
  const std::vector<Refused> cases = {
      // fuzz_yaml (test/fuzz/corpus/yaml/regression-loadall-stuck-comma): a token no node
      // starts with, at the top level. yaml-cpp 0.7's LoadAll appended an empty document per
      // turn without consuming it: > 2 GB of RSS within seconds from 12 bytes.
      {"stuck on a comma", std::string(",\0\x0f\0\0\0\0%\0e ,", 12), 1, "cannot continue here"},
      {"stuck after a document", "a: 1\n---\n,\n", 3, "cannot continue here"},
      // The same loop from an indentation mistake (falcosecurity/falco#3281).
      {"stuck on a dedented continuation",
       "- macro: m\n  condition:\n    (a in (\n\"x\",\n    \"y\"\n    )  )\n", 4,
       "cannot continue here"},
      {"billion laughs", AliasBomb(), 4, "billion laughs"},
      {"alias cycle", "a: &a [1, *a]\n", 1, "a cycle"},
      {"too deep", NestedSequences(kMaxYamlDepth + 1), 1, "nesting deeper than 200 levels"},
      {"too deep once aliases are expanded",
       "a: &a " + NestedSequences(150) + "\nb: " + std::string(60, '[') + "*a" +
           std::string(60, ']') + "\n",
       2, "(aliases expanded)"},
  };
  for (const Refused& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      LoadYamlStream(c.text);
      ADD_FAILURE() << "LoadYamlStream accepted it";
    } catch (const YAML::ParserException& e) {
      EXPECT_EQ(e.mark.line + 1, c.line) << e.what();
      EXPECT_NE(e.msg.find(c.message), std::string::npos) << e.msg;
    }
    try {
      LoadYamlDocument(c.text);
      ADD_FAILURE() << "LoadYamlDocument accepted it";
    } catch (const YAML::ParserException& e) {
      EXPECT_NE(e.msg.find(c.message), std::string::npos) << e.msg;
    }
  }
}

TEST(YamlReader, ReadsWhatYamlCppReads) {
  // The deepest nesting allowed, a few aliases, and aliases to a scalar used as a key.
  const std::string text = NestedSequences(kMaxYamlDepth);
  EXPECT_TRUE(LoadYamlDocument(text).IsSequence());
  const YAML::Node aliased = LoadYamlDocument("base: &b {x: 1}\none: *b\ntwo: *b\n&k key: *b\n");
  EXPECT_EQ(aliased["two"]["x"].as<int>(), 1);
  EXPECT_EQ(aliased["key"]["x"].as<int>(), 1);
  EXPECT_TRUE(LoadYamlDocument("").IsNull());

  // Empty documents are kept, as YAML::LoadAll keeps them; many in a row are no stall.
  const std::vector<YAML::Node> docs = LoadYamlStream("a: 1\n---\n\n---\nb: 2\n");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[1].IsNull());
  std::string empties;
  for (int i = 0; i < 1000; ++i) empties += "---\n";
  EXPECT_EQ(LoadYamlStream(empties).size(), 1000u);
}

TEST(YamlReader, OneDocumentFilesRefuseContentInALaterDocument) {
  EXPECT_EQ(LoadYamlDocument("---\na: 1\n")["a"].as<int>(), 1);
  EXPECT_EQ(LoadYamlDocument("a: 1\n---\n")["a"].as<int>(), 1);  // a trailing empty document
  for (const std::string& text :
       {std::string("a: 1\n---\nb: 2\n"), std::string("---\n---\nb: 2\n")}) {
    try {
      LoadYamlDocument(text);
      ADD_FAILURE() << text;
    } catch (const YAML::ParserException& e) {
      EXPECT_EQ(e.mark.line + 1, 2) << text;
      EXPECT_NE(e.msg.find("holds one document"), std::string::npos) << e.msg;
    }
  }
}

}  // namespace
}  // namespace meridian
