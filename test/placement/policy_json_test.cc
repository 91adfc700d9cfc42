#include "placement/policy_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meridian::placement {
namespace {

using nlohmann::json;
using ::testing::UnorderedElementsAreArray;

TEST(PolicyJson, DecodesTheDesignExample) {
  json j = json::parse(R"({
    "clusterSelector": {"matchLabels": {"tier": "prod"}},
    "residency": {"jurisdictions": ["eu"]},
    "latency": {"demand": "shoppers", "maxRTTMs": 80},
    "distribution": {
      "weights": {"us-east": 5, "eu-west": 3, "ap-south": 2},
      "minPerCluster": 1,
      "clusters": {"eu-west-1": {"max": 10}}
    },
    "spread": {"minRegions": 2, "minZones": 3},
    "failover": {"overflow": "nearest", "recoveryDelaySeconds": 60}
  })");
  FieldErrors errors;
  PlacementPolicy p = DecodePlacementPolicy(j, &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  ASSERT_TRUE(p.cluster_selector.has_value());
  EXPECT_EQ(p.cluster_selector->match_labels.at("tier"), "prod");
  EXPECT_EQ(p.residency->jurisdictions, std::vector<std::string>{"eu"});
  EXPECT_EQ(p.latency->demand, "shoppers");
  EXPECT_EQ(p.latency->max_rtt_ms, 80);
  EXPECT_EQ(p.distribution.weights.at("us-east"), 5);
  EXPECT_EQ(p.distribution.min_per_cluster, 1);
  EXPECT_EQ(p.distribution.clusters.at("eu-west-1").max, 10);
  EXPECT_FALSE(p.distribution.clusters.at("eu-west-1").min.has_value());
  EXPECT_EQ(p.spread.min_regions, 2);
  EXPECT_EQ(p.spread.min_zones, 3);
  EXPECT_EQ(p.failover.overflow, OverflowMode::kNearest);
  EXPECT_EQ(p.failover.recovery_delay_seconds, 60);
  // Round trip.
  FieldErrors again;
  EXPECT_EQ(DecodePlacementPolicy(EncodePlacementPolicy(p), &again), p);
  EXPECT_TRUE(again.empty());
}

struct ErrorCase {
  const char* name;
  const char* json_text;
  std::vector<std::string> want;  // every error, as "path: message"
};

TEST(PolicyJson, CollectsEveryProblem) {
  const std::vector<ErrorCase> cases = {
      {"negative weight",
       R"({"distribution": {"weights": {"eu-west": -1}}})",
       {"distribution.weights.eu-west: must be >= 0"}},
      {"bad overflow",
       R"({"failover": {"overflow": "sideways"}})",
       {"failover.overflow: must be one of nearest, ordered, none"}},
      {"wrong type",
       R"({"spread": {"minRegions": "two"}})",
       {"spread.minRegions: must be an integer"}},
      {"float is not an integer",
       R"({"spread": {"minZones": 1.5}})",
       {"spread.minZones: must be an integer"}},
      {"typo is an unknown field",
       R"({"distribution": {"wieghts": {"a": 1}}})",
       {"distribution.wieghts: unknown field"}},
      {"unknown top-level field", R"({"placement": {}})", {"placement: unknown field"}},
      {"several at once",
       R"({"residency": {"jurisdictions": []}, "latency": {"maxRTTMs": 0},
           "distribution": {"minPerCluster": -2, "clusters": {"a": {"min": 5, "max": 2, "mx": 1}}},
           "failover": {"overflow": "ordered", "recoveryDelaySeconds": -1}})",
       {"residency.jurisdictions: must not be empty", "latency.demand: is required",
        "latency.maxRTTMs: must be >= 1", "distribution.minPerCluster: must be >= 0",
        "distribution.clusters.a.mx: unknown field",
        "distribution.clusters.a.min: must be <= max (2)",
        "failover.order: must list clusters or regions when overflow is ordered",
        "failover.recoveryDelaySeconds: must be >= 0"}},
      {"weights and fromDemand",
       R"({"distribution": {"weights": {"a": 1}, "fromDemand": true}})",
       {"distribution.fromDemand: must not be set together with weights"}},
      {"selector errors are prefixed",
       R"({"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}})",
       {}},  // checked below: path starts with clusterSelector.
      {"not an object", R"([1, 2])", {": must be an object"}},
      {"duplicate order entries",
       R"({"failover": {"overflow": "ordered", "order": ["a", "a"]}})",
       {"failover.order[1]: duplicate value \"a\""}},
      {"recovery step zero",
       R"({"failover": {"recoveryMaxReplicasPerStep": 0}})",
       {"failover.recoveryMaxReplicasPerStep: must be >= 1"}},
      {"recovery step percent out of range",
       R"({"failover": {"recoveryMaxReplicasPerStep": "150%"}})",
       {"failover.recoveryMaxReplicasPerStep: must be a replica count >= 1 or a percentage like "
        "\"25%\" (1% to 100%), got \"150%\""}},
      {"recovery step not a number",
       R"({"failover": {"recoveryMaxReplicasPerStep": "fast"}})",
       {"failover.recoveryMaxReplicasPerStep: must be a replica count >= 1 or a percentage like "
        "\"25%\" (1% to 100%), got \"fast\""}},
      {"recoveryStepSeconds is gone and says what replaced it",
       R"({"failover": {"recoveryStepSeconds": 30}})",
       {"failover.recoveryStepSeconds: is no longer supported: a recovery step now lasts until "
        "its returned replicas are ready (set the step size with recoveryMaxReplicasPerStep, "
        "e.g. 3 or \"25%\")"}},
      {"huge integer",
       R"({"spread": {"minRegions": 99999999999}})",
       {"spread.minRegions: must be <= 2147483647"}},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    FieldErrors errors;
    DecodePlacementPolicy(json::parse(c.json_text), &errors);
    std::vector<std::string> got;
    for (const FieldError& e : errors) got.push_back(e.path + ": " + e.message);
    if (std::string(c.name) == "selector errors are prefixed") {
      ASSERT_FALSE(got.empty());
      for (const std::string& g : got) EXPECT_EQ(g.rfind("clusterSelector.", 0), 0u) << g;
      continue;
    }
    EXPECT_THAT(got, UnorderedElementsAreArray(c.want));
  }
}

TEST(PolicyJson, RecoveryStepCountOrPercentRoundTrips) {
  for (const char* text : {R"({"failover": {"recoveryMaxReplicasPerStep": 3}})",
                           R"({"failover": {"recoveryMaxReplicasPerStep": "100%"}})",
                           R"({"failover": {"recoveryMaxReplicasPerStep": "1%"}})"}) {
    SCOPED_TRACE(text);
    FieldErrors errors;
    PlacementPolicy p = DecodePlacementPolicy(json::parse(text), &errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(EncodePlacementPolicy(p), json::parse(text));
  }
  // The default (25%) is not written out.
  FieldErrors errors;
  PlacementPolicy p =
      DecodePlacementPolicy(json::parse(R"({"failover": {"recoveryMaxReplicasPerStep": "25%"}})"), &errors);
  EXPECT_EQ(p, PlacementPolicy{});
  EXPECT_EQ((ReplicasOrPercent{25, true}.For(30)), 8);
  EXPECT_EQ((ReplicasOrPercent{25, true}.For(1)), 1);
  EXPECT_EQ((ReplicasOrPercent{100, true}.For(7)), 7);
  EXPECT_EQ((ReplicasOrPercent{3, false}.For(100)), 3);
  EXPECT_EQ((ReplicasOrPercent{25, true}.For(0)), 1);
}

TEST(PolicyJson, NullAndEmptyAreDefaults) {
  FieldErrors errors;
  EXPECT_EQ(DecodePlacementPolicy(json(), &errors), PlacementPolicy{});
  EXPECT_EQ(DecodePlacementPolicy(json::object(), &errors), PlacementPolicy{});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(EncodePlacementPolicy(PlacementPolicy{}), json::object());
}

TEST(PolicyJson, ParseWrapsErrors) {
  auto p = ParsePlacementPolicy(json::parse(R"({"spread": {"minRegions": -1}})"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(), "spread.minRegions: must be >= 0");
}

TEST(TopologyJson, RoundTripAndErrors) {
  json j = json::parse(R"({
    "regions": [
      {"name": "eu-west", "jurisdiction": "eu", "zones": ["eu-west-1a"], "rttMs": {"us-east": 80}},
      {"name": "us-east", "jurisdiction": "us"}
    ],
    "demandProfiles": [
      {"name": "shoppers", "sources": [{"name": "paris", "weight": 40, "rttMs": {"eu-west": 10}}]}
    ]
  })");
  auto t = ParseTopologySpec(j);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->regions.size(), 2u);
  EXPECT_EQ(t->demand_profiles[0].sources[0].rtt_ms.at("eu-west"), 10);
  EXPECT_EQ(EncodeTopologySpec(*t), j);

  FieldErrors errors;
  DecodeTopologySpec(json::parse(R"({
    "regions": [{"name": "a"}, {"name": "a", "rttMs": {"b": -3}}, {"zones": "x"}],
    "demandProfiles": [{"name": "p", "sources": [{"name": "s", "weight": "heavy", "rtt": {}}]}],
    "extra": 1
  })"),
                     &errors);
  std::vector<std::string> got;
  for (const FieldError& e : errors) got.push_back(e.ToString());
  EXPECT_THAT(got, UnorderedElementsAreArray(std::vector<std::string>{
                       "regions[1].name: duplicate region \"a\"",
                       "regions[1].rttMs.b: must be >= 0",
                       "regions[2].name: is required",
                       "regions[2].zones: must be a list of strings",
                       "demandProfiles[0].sources[0].weight: must be an integer",
                       "demandProfiles[0].sources[0].rtt: unknown field",
                       "extra: unknown field",
                   }));
}

}  // namespace
}  // namespace meridian::placement
