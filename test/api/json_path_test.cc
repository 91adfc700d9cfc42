// api/json_path.h: the JSONPath subset a ResourceInterpreter's paths are written in (tables).
#include "api/json_path.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meridian::api {
namespace {

using nlohmann::json;

TEST(JsonPathTest, ParsesDotsIndicesAndQuotedKeysToOneCanonicalForm) {
  struct Case {
    std::string text, canonical;
    size_t steps;
  };
  for (const Case& c : std::vector<Case>{
           {".spec.replicas", ".spec.replicas", 2},
           {"$.spec.replicas", ".spec.replicas", 2},
           {".spec.taskManager.replicas", ".spec.taskManager.replicas", 3},
           {".spec.containers[0].name", ".spec.containers[0].name", 4},
           {".metadata['app.kubernetes.io/name']", ".metadata['app.kubernetes.io/name']", 2},
           {".metadata[\"a b\"]", ".metadata['a b']", 2},
           {"['spec']['replicas']", ".spec.replicas", 2},
           {".status['it\\'s']", ".status['it\\'s']", 2},
           {".a_b-c.d12", ".a_b-c.d12", 2},
           {"[3]", "[3]", 1},
       }) {
    StatusOr<JsonPath> p = JsonPath::Parse(c.text);
    ASSERT_TRUE(p.ok()) << c.text << ": " << p.status().message();
    EXPECT_EQ(p->ToString(), c.canonical) << c.text;
    EXPECT_EQ(p->steps().size(), c.steps) << c.text;
    // The canonical form parses back to the same path.
    EXPECT_EQ(JsonPath::Parse(p->ToString()).value(), *p) << c.text;
  }
}

TEST(JsonPathTest, RefusesEverythingElseWithThePosition) {
  struct Case {
    std::string text, message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "at position 0: the path names no field"},
           {"$", "at position 0: the path names no field"},
           {"spec.replicas", "at position 0: unexpected 's'; a step starts with '.' or '['"},
           {".spec.*", "at position 6: '*' is not supported"},
           {".spec..replicas", "at position 5: '..' is not supported"},
           {".spec.", "at position 6: a field name must follow '.'"},
           {".items[?(@.x==1)]", "at position 7: '?' is not supported"},
           {".items[-1]", "at position 7: negative indices are not supported"},
           {".items[1:3]", "at position 8: slices are not supported"},
           {".items[1,2]", "at position 8: unions are not supported"},
           {".items[1", "at position 8: expected ']' after the index"},
           {".items[", "at position 7: unterminated '['"},
           {".m['a", "at position 2: unterminated quoted key"},
           {".m['a','b']", "at position 6: expected ']' after the quoted key"},
           {"{.spec.replicas}", "at position 0: '{' is not supported"},
           {".spec replicas", "at position 5: unexpected ' '"},
           {".items[12345678901]", "at position 7: index too large"},
       }) {
    StatusOr<JsonPath> p = JsonPath::Parse(c.text);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(p.status().message().rfind(c.message, 0), 0u)
        << c.text << ": " << p.status().message();
  }
}

TEST(JsonPathTest, FindsWhatIsThereAndNullOtherwise) {
  const json doc = {{"spec",
                     {{"replicas", 3},
                      {"taskManager", {{"replicas", 4}}},
                      {"list", {10, 20}},
                      {"dotted.key", "v"}}}};
  struct Case {
    std::string path;
    json want;  // null: not found
  };
  for (const Case& c : std::vector<Case>{
           {".spec.replicas", 3},
           {".spec.taskManager.replicas", 4},
           {".spec.list[1]", 20},
           {".spec['dotted.key']", "v"},
           {".spec.list[2]", json()},
           {".spec.missing", json()},
           {".spec.replicas.deeper", json()},
           {".spec[0]", json()},
           {".spec.list.x", json()},
       }) {
    const json* got = JsonPath::Parse(c.path).value().Find(doc);
    if (c.want.is_null()) {
      EXPECT_EQ(got, nullptr) << c.path;
    } else {
      ASSERT_NE(got, nullptr) << c.path;
      EXPECT_EQ(*got, c.want) << c.path;
    }
  }
}

TEST(JsonPathTest, SetsCreatingObjectsButNeverCrossesAScalarOrGrowsAList) {
  json doc = {{"spec", {{"list", {1, 2}}, {"size", 3}}}};
  ASSERT_TRUE(JsonPath::Parse(".spec.taskManager.replicas").value().Set(&doc, 5).ok());
  EXPECT_EQ(doc["spec"]["taskManager"]["replicas"], 5);
  ASSERT_TRUE(JsonPath::Parse(".spec.list[1]").value().Set(&doc, 9).ok());
  EXPECT_EQ(doc["spec"]["list"], json({1, 9}));
  const json before = doc;
  Status past = JsonPath::Parse(".spec.list[2]").value().Set(&doc, 1);
  EXPECT_EQ(past.message(), ".spec.list has no element 2");
  Status scalar = JsonPath::Parse(".spec.size.x").value().Set(&doc, 1);
  EXPECT_EQ(scalar.message(), ".spec.size is not an object");
  Status not_list = JsonPath::Parse(".spec[0]").value().Set(&doc, 1);
  EXPECT_EQ(not_list.message(), ".spec is not a list");
  // A list under a key that is not there yet: nothing is created on the way.
  Status absent = JsonPath::Parse(".spec.new.items[0]").value().Set(&doc, 1);
  EXPECT_EQ(absent.message(), ".spec.new.items has no element 0");
  EXPECT_EQ(doc, before);  // a refused Set changes nothing
}

}  // namespace
}  // namespace meridian::api
