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
