#include "common/json_parse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian {
namespace {

using nlohmann::json;

// `{"a":{"a":...{}...}}` with `depth` objects.
std::string NestedObjects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  for (int i = 0; i < depth; ++i) s += "}";
  return s;
}

TEST(ParseJson, RefusesWithFieldAndReason) {
  struct Case {
    std::string name;
    std::string text;
    std::string path;     // expected JsonParseError::path
    std::string message;  // a substring of the message
  };
  const std::vector<Case> cases = {
      {"number overflow", R"({"spec":{"replicas":1e400}})", "spec.replicas",
       "number overflow parsing '1e400'"},
      {"negative overflow", R"({"spec":{"x":[1,-1e999]}})", "spec.x[1]", "number overflow"},
      {"bare NaN", R"({"spec":{"weights":[1,2,NaN]}})", "spec.weights[2]", "invalid literal"},
      {"Infinity", R"({"a":Infinity})", "a", "invalid literal"},
      {"invalid UTF-8", "{\"metadata\":{\"name\":\"ab\xff\"}}", "metadata.name",
       "invalid string: ill-formed UTF-8 byte"},
      {"truncated", R"({"metadata":{"name":"x")", "metadata.name", "unexpected end of input"},
      {"trailing bytes", R"({"a":1} x)", "", "expected end of input"},
      {"empty", "", "", "unexpected end of input"},
      {"depth in array", "{\"items\":[0," + std::string(1000, '[') + std::string(1000, ']') + "]}",
       "items[1]" +
           [] {
             std::string p;
             for (int i = 0; i < 998; ++i) p += "[0]";
             return p;
           }(),
       "nesting depth exceeds the limit of 1000"},
      {"depth in object", NestedObjects(1001),
       [] {
         std::string p = "a";
         for (int i = 1; i < 1000; ++i) p += ".a";
         return p;
       }(),
       "nesting depth exceeds the limit of 1000"},
  };
  // Offsets point at the offending byte.
  JsonParseError e;
  EXPECT_TRUE(ParseJson("{\"a\": 1e400}", &e).is_discarded());
  EXPECT_EQ(e.offset, 10u);
  EXPECT_TRUE(ParseJson("{\"s\":\"{[\\\"\", \"a\":[[1]]}", &e, 2).is_discarded());
  EXPECT_EQ(e.offset, 18u) << e.ToString();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    JsonParseError error;
    json j = ParseJson(c.text, &error);
    EXPECT_TRUE(j.is_discarded());
    EXPECT_EQ(error.path, c.path);
    EXPECT_NE(error.message.find(c.message), std::string::npos) << error.message;
    // The message is always safe to put into a JSON body.
    EXPECT_NO_THROW(json(error.ToString()).dump()) << error.ToString();
  }
}

TEST(ParseJson, AcceptsTheLimitAndOrdinaryDocuments) {
  json j = ParseJson(NestedObjects(kMaxJsonDepth));
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(CheckJsonDepth(j));
  json k = ParseJson(R"( {"a":[1,2.5,"x",null,true,{"b":[]}],"c":{}} )");
  ASSERT_FALSE(k.is_discarded());
  EXPECT_EQ(k, json::parse(R"({"a":[1,2.5,"x",null,true,{"b":[]}],"c":{}})"));
  EXPECT_EQ(ParseJson("7"), json(7));
}

TEST(ParseJson, HugeDepthIsRefusedWithoutRecursion) {
  // 10 million levels would overflow any recursive parser or copy; the refusal happens at
  // the limit, so this costs microseconds and no stack.
  std::string deep(10'000'000, '[');
  JsonParseError error;
  EXPECT_TRUE(ParseJson(deep, &error).is_discarded());
  EXPECT_NE(error.message.find("limit of 1000"), std::string::npos);
  EXPECT_EQ(error.ToString(),
            "[0][0][0][0][0][0] ... (992 more) ... [0][0]: nesting depth exceeds the limit of "
            "1000 (at byte 1000)");
  EXPECT_EQ(error.offset, 1000u);  // the bracket that opens level 1001
}

TEST(ParseJsonOr, IsInvalidArgumentWithThePath) {
  StatusOr<json> r = ParseJsonOr(R"({"spec":{"replicas":1e400}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("spec.replicas: invalid JSON: number overflow"),
            std::string::npos)
      << r.status().message();
}

TEST(CheckJsonDepth, FindsThePathPastTheLimit) {
  json j = {
      {"spec", {{"list", json::array({1, json::array({json::object({{"x", {{"y", 1}}}})})})}}}};
  std::string path;
  EXPECT_TRUE(CheckJsonDepth(j, 6));  // root, spec, list, [1], [0], x
  EXPECT_FALSE(CheckJsonDepth(j, 5, &path));
  EXPECT_EQ(path, "spec.list[1][0].x");
  EXPECT_FALSE(CheckJsonDepth(j, 1, &path));
  EXPECT_EQ(path, "spec");
  EXPECT_TRUE(CheckJsonDepth(json(3), 0));
  // A deep value built in code (as a patch can) is measured without recursion. Built and
  // destroyed iteratively: nlohmann's destructor has been iterative since 3.10.
  json deep = json::array();
  for (int i = 0; i < 100'000; ++i) deep = json::array({std::move(deep)});
  EXPECT_FALSE(CheckJsonDepth(deep, kMaxJsonDepth, &path));
  EXPECT_EQ(path.size(), 3u * kMaxJsonDepth);  // "[0]" per level
}

TEST(AbbreviateJsonPath, KeepsShortPathsAndShortensLongOnes) {
  EXPECT_EQ(AbbreviateJsonPath("spec.template.spec.containers[0].image"),
            "spec.template.spec.containers[0].image");
  EXPECT_EQ(AbbreviateJsonPath("a.b.c.d.e.f.g.h.i.j.k"), "a.b.c.d.e.f ... (3 more) ... .j.k");
}

}  // namespace
}  // namespace meridian
