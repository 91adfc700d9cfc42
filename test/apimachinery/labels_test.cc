#include "apimachinery/labels.h"

#include <gtest/gtest.h>

namespace meridian::apimachinery {
namespace {

TEST(LabelSelectorTest, StringFormMatchesLikeKubernetes) {
  struct Case {
    std::string selector;
    Labels labels;
    bool matches;
  };
  const Labels prod_eu = {{"tier", "prod"}, {"region", "eu-west"}};
  for (const Case& c : std::vector<Case>{
           {"", prod_eu, true},
           {"tier=prod", prod_eu, true},
           {"tier==prod", prod_eu, true},
           {"tier=dev", prod_eu, false},
           {"tier!=dev", prod_eu, true},
           {"canary!=true", prod_eu, true},  // absent key satisfies !=
           {"region in (eu-west,eu-central)", prod_eu, true},
           {"region notin (eu-west)", prod_eu, false},
           {"region notin (us-east)", {}, true},
           {"tier", prod_eu, true},
           {"!tier", prod_eu, false},
           {"!canary", prod_eu, true},
           {"tier=prod, region in (us-east, eu-west), !canary", prod_eu, true},
           {"tier=prod,region in (us-east)", prod_eu, false},
       }) {
    StatusOr<LabelSelector> s = ParseLabelSelector(c.selector);
    ASSERT_TRUE(s.ok()) << c.selector << ": " << s.status();
    EXPECT_EQ(s->Matches(c.labels), c.matches) << c.selector;
    StatusOr<LabelSelector> again = ParseLabelSelector(s->ToString());
    ASSERT_TRUE(again.ok()) << s->ToString();
    EXPECT_EQ(*again, *s) << c.selector;
  }
}

// Found by fuzz_selectors: "tier!=" (NotIn {""}) printed as "tier notin ()", which does not
// parse. Every selector's ToString parses back to the same selector, empty values included.
TEST(LabelSelectorTest, EmptyValuesSurviveToString) {
  for (const char* text :
       {"tier!=", "tier=", "tier==", "tier in (a,)", "tier notin (,a)", "app=web,tier!="}) {
    StatusOr<LabelSelector> s = ParseLabelSelector(text);
    ASSERT_TRUE(s.ok()) << text << ": " << s.status();
    StatusOr<LabelSelector> again = ParseLabelSelector(s->ToString());
    ASSERT_TRUE(again.ok()) << text << " printed as " << s->ToString() << ": " << again.status();
    EXPECT_EQ(*again, *s) << text;
  }
  StatusOr<LabelSelector> s = ParseLabelSelector("tier notin (a,)");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Matches({{"tier", ""}}));
  EXPECT_TRUE(s->Matches({{"tier", "b"}}));
  LabelSelector with_empty;
  with_empty.match_expressions.push_back({"tier", LabelRequirement::Operator::kIn, {""}});
  StatusOr<LabelSelector> printed = ParseLabelSelector(with_empty.ToString());
  ASSERT_TRUE(printed.ok()) << with_empty.ToString();
  EXPECT_EQ(*printed, with_empty);
}

TEST(LabelSelectorTest, MalformedStringsAreRejectedWithTheRequirement) {
  for (const char* bad : {"a in (", "a in ()", "a foo (x)", "=x", "a=b,,c", "a=b)", "-bad=x",
                          "a=has space"}) {
    StatusOr<LabelSelector> s = ParseLabelSelector(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LabelSelectorTest, ObjectFormRoundTripsAndReportsEveryProblem) {
  nlohmann::json good = nlohmann::json::parse(R"({
    "matchLabels": {"tier": "prod"},
    "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west"]},
                         {"key": "canary", "operator": "DoesNotExist"}]})");
  FieldErrors errors;
  LabelSelector s = DecodeLabelSelector(good, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(EncodeLabelSelector(s), good);
  EXPECT_TRUE(s.Matches({{"tier", "prod"}, {"region", "eu-west"}}));

  nlohmann::json bad = nlohmann::json::parse(R"({
    "matchLabels": {"tier": 3},
    "matchExpressions": [{"key": "region", "operator": "Near"},
                         {"key": "x", "operator": "In"}],
    "matchLabel": {}})");
  errors.clear();
  DecodeLabelSelector(bad, &errors);
  std::vector<std::string> got;
  for (const FieldError& e : errors) got.push_back(e.ToString());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist",
                     "matchExpressions[1].values: must be non-empty for In and NotIn",
                     "matchLabel: unknown field",
                     "matchLabels.tier: must be a string",
                 }));
}

}  // namespace
}  // namespace meridian::apimachinery
