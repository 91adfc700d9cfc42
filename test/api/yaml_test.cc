#include "api/yaml.h"

#include <gtest/gtest.h>

namespace meridian::api {
namespace {

using nlohmann::json;

TEST(YamlTest, ScalarsFollowTheCoreSchemaAndQuotesMeanStrings) {
  auto docs = ParseYamlDocuments(R"(
a: 1
b: "1"
c: true
d: 'true'
e: ~
f: 2.5
g: hello
h: 0x1F
i: [1, two]
j: {}
)", "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].value, json::parse(R"({"a":1,"b":"1","c":true,"d":"true","e":null,
      "f":2.5,"g":"hello","h":31,"i":[1,"two"],"j":{}})"));
}

TEST(YamlTest, MultiDocumentStreamsKeepTheirLineNumbers) {
  auto docs = ParseYamlDocuments("a: 1\n---\n\n---\nb: 2\nc: 3\n", "m.yaml");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].line, 1);
  EXPECT_EQ((*docs)[1].line, 5);
}

TEST(YamlTest, MalformedYamlNamesFileLineAndColumn) {
  auto docs = ParseYamlDocuments("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(docs.status().message().rfind("bad.yaml:", 0), 0u) << docs.status();
  auto dup = ParseYamlDocuments("a: 1\na: 2\n", "dup.yaml");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("dup.yaml:2:1: duplicate key \"a\""), std::string::npos)
      << dup.status();
}

// Found by fuzz_yaml: a scalar with invalid UTF-8 became a JSON string that nlohmann's dump()
// throws on (fedctl apply would die sending it). Refused with file, line and column instead;
// valid multi-byte text still passes.
TEST(YamlTest, InvalidUtf8IsRefusedWithFileLineAndColumn) {
  for (const std::string& text :
       {std::string("a: x\xff\n"), std::string("a:\n  - ok\n  - \xc0\xaf\n"),
        std::string("\xed\xa0\x80: 1\n"), std::string("a: \"\xf4\x90\x80\x80\"\n"),
        std::string("a: \xe2\x82\n")}) {
    auto docs = ParseYamlDocuments(text, "bad.yaml");
    ASSERT_FALSE(docs.ok()) << text;
    EXPECT_EQ(docs.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(docs.status().message().rfind("bad.yaml:", 0), 0u) << docs.status();
    EXPECT_NE(docs.status().message().find("invalid UTF-8"), std::string::npos) << docs.status();
  }
  auto first = ParseYamlDocuments("a: ok\nb: x\xff\n", "bad.yaml");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message().rfind("bad.yaml:2:4: invalid UTF-8", 0), 0u) << first.status();
  auto good = ParseYamlDocuments("name: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80\n", "good.yaml");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[0].value["name"], "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80");
}

// Found by fuzz_yaml (out of memory, ~1 KB inputs): numbers were recognised with std::regex,
// which recurses per character. A scalar of 200,000 digits is now answered at once, and the
// core schema's numbers still read as before; .inf and .nan are refused (they read as 0).
TEST(YamlTest, LongScalarsAndNumbersWithoutRegex) {
  auto big = ParseYamlDocuments(
      "a: " + std::string(200'000, '7') + "\nb: x" + std::string(200'000, '.') + "\n", "long.yaml");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("long.yaml:1:4: integer out of range"), std::string::npos)
      << big.status().message().substr(0, 200);
  auto docs = ParseYamlDocuments(
      "i: -12\nh: 0x1F\no: 0o17\nz: 0\nf: 1.5e3\ng: .5\nd: 3.\nl: 012\ns: 1e\nt: 0x\nu: +.inf1\n"
      "v: 1_000\n",
      "n.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  const json& v = (*docs)[0].value;
  EXPECT_EQ(v["i"], -12);
  EXPECT_EQ(v["h"], 31);
  EXPECT_EQ(v["o"], 15);
  EXPECT_EQ(v["z"], 0);
  EXPECT_EQ(v["f"], 1500.0);
  EXPECT_EQ(v["g"], 0.5);
  EXPECT_EQ(v["d"], 3.0);
  EXPECT_EQ(v["l"], 12.0);  // the core schema's float pattern allows leading zeros
  for (const char* text : {"s", "t", "u", "v"}) EXPECT_TRUE(v[text].is_string()) << text;
  for (const char* inf : {"x: .inf\n", "x: -.Inf\n", "x: .NaN\n"}) {
    EXPECT_FALSE(ParseYamlDocuments(inf, "inf.yaml").ok()) << inf;
  }
}

TEST(YamlTest, JsonRoundTripsThroughYaml) {
  json value = json::parse(R"({"s":"true","n":"123","e":"","x":"plain","i":-4,"f":0.5,
      "b":false,"z":null,"l":[1,{"k":"v"}],"o":{"nested":{"deep":"yes"}},"m":"two\nlines"})");
  std::string yaml = JsonToYaml(value);
  auto back = ParseYamlDocuments(yaml, "roundtrip");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  EXPECT_EQ((*back)[0].value, value) << yaml;
}

}  // namespace
// "Billion laughs": nine levels of ten aliases would be a billion values as JSON.
TEST(YamlTest, AliasBombIsRefusedWithFileAndLine) {
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ",*" : "*") + prev;
    bomb += "]\n";
    prev = name;
  }
  auto docs = ParseYamlDocuments(bomb, "bomb.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(docs.status().message().find("bomb.yaml:"), std::string::npos) << docs.status();
  EXPECT_NE(docs.status().message().find("billion laughs"), std::string::npos) << docs.status();
  // A few aliases are fine.
  auto ok = ParseYamlDocuments("base: &b {x: 1}\none: *b\ntwo: *b\n", "ok.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].value["two"]["x"], 1);
}

// Found by fuzz_yaml (test/fuzz/corpus/yaml/regression-loadall-stuck-comma): on a token no
// node starts with, yaml-cpp 0.7's LoadAll appended empty documents for ever (> 2 GB of RSS
// from 12 bytes). Refused at once with file, line and column.
TEST(YamlTest, StreamThatStallsTheParserIsRefusedWithFileLineAndColumn) {
  for (const std::string& text :
       {std::string(",\0\x0f\0\0\0\0%\0e ,", 12), std::string("kind: A\n---\n,\n")}) {
    auto docs = ParseYamlDocuments(text, "stuck.yaml");
    ASSERT_FALSE(docs.ok());
    EXPECT_EQ(docs.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(docs.status().message().rfind("stuck.yaml:", 0), 0u) << docs.status();
    EXPECT_NE(docs.status().message().find("cannot continue here"), std::string::npos)
        << docs.status();
  }
  auto line = ParseYamlDocuments("kind: A\n---\n,\n", "stuck.yaml");
  EXPECT_EQ(line.status().message().rfind("stuck.yaml:3:1:", 0), 0u) << line.status();
}

// Found by fuzz_yaml (test/fuzz/corpus/yaml/regression-carriage-return): a string holding a
// carriage return was rendered raw, and a YAML reader takes it for a line break ("\r" read
// back as an empty document).
TEST(YamlTest, CarriageReturnsRoundTrip) {
  for (const std::string& s : {std::string("\r"), std::string("a\rb"), std::string("a\r\n"),
                               std::string("line\r\nnext\n")}) {
    const json value = {{"k", s}};
    const std::string yaml = JsonToYaml(value);
    auto back = ParseYamlDocuments(yaml, "r.yaml");
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 1u) << yaml;
    EXPECT_EQ((*back)[0].value, value) << yaml;
  }
}

// Multi-line strings a literal block cannot carry as they are go double-quoted (found by
// fuzz_yaml: "\n" as a block read back as "").
TEST(YamlTest, MultiLineStringsRoundTrip) {
  for (const std::string& s : {std::string("\n"), std::string("\n\n"), std::string(" x\n"),
                               std::string("\tx\ny\n"), std::string("\n  x\n"),
                               std::string("a\n  b\n"), std::string("line\n"),
                               std::string("(\x04\n"), std::string("a\x7f\n"),
                               std::string("a\xc2\x85" "b\n"), std::string("\xef\xbb\xbf" "a\n")}) {
    for (const json& value : {json(s), json{{"k", s}}}) {
      const std::string yaml = JsonToYaml(value);
      auto back = ParseYamlDocuments(yaml, "ml.yaml");
      ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
      ASSERT_EQ(back->size(), 1u) << yaml;
      EXPECT_EQ((*back)[0].value, value) << yaml;
    }
  }
  EXPECT_EQ(JsonToYaml(json{{"k", "line\n"}}), "k: |\n  line\n");  // still a block
}

// Keys longer than YAML's 1,024-character bound on implicit keys (after escaping) are written
// as explicit keys ("? key"), which a reader takes at any length (found by fuzz_yaml).
std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(YamlTest, LongKeysRoundTrip) {
  for (const std::string& key :
       {std::string(2000, 'k'), std::string(600, '\x03'), std::string(255, '\x03') + "x",
        Repeat("\xC2\x85", 340), Repeat("\xC2\xA0", 340), Repeat("\xEF\xBB\xBF", 200),
        Repeat("\xF0\x9F\x98\x80", 300)}) {
    const json value = {{key, "v"}, {"short", {{key, 1}}}};
    const std::string yaml = JsonToYaml(value);
    auto back = ParseYamlDocuments(yaml, "long.yaml");
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ((*back)[0].value, value);
  }
  EXPECT_EQ(JsonToYaml(json{{"metadata", 1}}), "metadata: 1\n");  // short keys as ever
  // The longest Kubernetes annotation key (253-character prefix, "/", 63-character name)
  // stays an implicit key.
  const std::string annotation = std::string(253, 'p') + "/" + std::string(63, 'n');
  EXPECT_EQ(JsonToYaml(json{{annotation, 1}}), annotation + ": 1\n");
}

// A string that begins like a document marker is quoted: plain, "--- x" as the whole document
// (or as a key) starts a new document and reads back as "x" (found by fuzz_yaml).
TEST(YamlTest, StringsThatLookLikeDocumentMarkersRoundTrip) {
  for (const std::string& s : {std::string("---"), std::string("--- x"), std::string("...\tend"),
                               std::string("..."), std::string("--- apiVersion in the")}) {
    for (const json& value : {json(s), json{{"k", s}}, json{{s, 1}}, json::array({s})}) {
      const std::string yaml = JsonToYaml(value);
      auto back = ParseYamlDocuments(yaml, "m.yaml");
      ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
      ASSERT_EQ(back->size(), 1u) << yaml;
      EXPECT_EQ((*back)[0].value, value) << yaml;
    }
  }
  // Not markers: written as they were.
  EXPECT_EQ(JsonToYaml(json("---x")), "---x\n");
  EXPECT_EQ(JsonToYaml(json("-- x")), "-- x\n");
}

}  // namespace meridian::api
