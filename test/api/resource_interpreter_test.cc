// api/resource_interpreter.h: the ResourceInterpreter's decoder (bad input refused with the
// field named), which interpreter applies, the binding annotation's round trip, and how a
// custom object is divided (tables).
#include "api/resource_interpreter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/placement_policy.h"

namespace meridian::api {
namespace {

using nlohmann::json;

json Interpreter(json spec, const std::string& name = "flink") {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "ResourceInterpreter"},
          {"metadata", {{"name", name}}},
          {"spec", std::move(spec)}};
}

json Flink() {
  return {{"target", {{"apiVersion", "flink.apache.org/v1beta1"}, {"kind", "FlinkDeployment"}}},
          {"replicasPath", ".spec.taskManager.replicas"},
          {"readyCondition", "Ready"},
          {"readyReplicasPath", ".status.taskManager.readyReplicas"},
          {"statusAggregation", {".status.jobCount", "$.status['records.in']"}}};
}

TEST(ResourceInterpreterTest, DecodesEveryField) {
  FieldErrors errors;
  ResourceInterpreterObject o = DecodeResourceInterpreter(Interpreter(Flink()), &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  EXPECT_EQ(o.rule.name, "flink");
  EXPECT_EQ(o.rule.target_api_version, "flink.apache.org/v1beta1");
  EXPECT_EQ(o.rule.target_kind, "FlinkDeployment");
  EXPECT_EQ(o.rule.replicas_path->ToString(), ".spec.taskManager.replicas");
  EXPECT_EQ(o.rule.ready_condition, "Ready");
  EXPECT_EQ(o.rule.ready_replicas_path->ToString(), ".status.taskManager.readyReplicas");
  ASSERT_EQ(o.rule.status_aggregation.size(), 2u);
  EXPECT_EQ(o.rule.status_aggregation[1].ToString(), ".status['records.in']");
  // The generic validation the server's admission runs (api/resources.h) is this decoder.
  EXPECT_TRUE(ValidateObject(Interpreter(Flink())).empty());
}

TEST(ResourceInterpreterTest, BadInputIsRefusedWithTheFieldNamed) {
  auto with = [](const char* field, json value) {
    json spec = Flink();
    if (value.is_null()) {
      spec.erase(field);
    } else {
      spec[field] = std::move(value);
    }
    return spec;
  };
  struct Case {
    json spec;
    std::string error;  // the first error, whole or its start
  };
  const json target = Flink()["target"];
  for (const Case& c : std::vector<Case>{
           {with("replicasPath", ".spec.*"),
            "spec.replicasPath: at position 6: '*' is not supported"},
           {with("replicasPath", "spec.replicas"),
            "spec.replicasPath: at position 0: unexpected 's'"},
           {with("replicasPath", ".status.replicas"), "spec.replicasPath: must point into .spec"},
           {with("replicasPath", ".spec"), "spec.replicasPath: must point into .spec"},
           {with("replicasPath", 3), "spec.replicasPath: must be a string"},
           {with("readyReplicasPath", ".spec.ready"),
            "spec.readyReplicasPath: must point into .status"},
           {with("readyReplicasPath", ".status.items[x]"),
            "spec.readyReplicasPath: at position 14: unexpected 'x' inside '['"},
           {with("statusAggregation", {".status.ok", ".status..all"}),
            "spec.statusAggregation[1]: at position 7: '..' is not supported"},
           {with("statusAggregation", ".status.jobs"), "spec.statusAggregation: must be a list"},
           {with("readyCondition", ""), "spec.readyCondition: "},
           {with("target", json()), "spec.target: required"},
           {with("target", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}}),
            "spec.target.apiVersion: group apps is served by the federation itself"},
           {with("target", {{"apiVersion", "v1"}, {"kind", "Pod"}}),
            "spec.target.apiVersion: must be group/version"},
           {with("target", {{"apiVersion", "example.com/v1"}}), "spec.target.kind: required"},
           {with("target", {{"apiVersion", "example.com/v1"}, {"kind", "W"}, {"x", 1}}),
            "spec.target.x: unknown field"},
           {{{"target", target}}, "spec: an interpreter needs at least one of"},
           {with("replicaPath", ".spec.replicas"), "spec.replicaPath: unknown field"},
       }) {
    FieldErrors errors;
    DecodeResourceInterpreter(Interpreter(c.spec), &errors);
    ASSERT_FALSE(errors.empty()) << c.spec.dump();
    EXPECT_EQ(errors[0].ToString().rfind(c.error, 0), 0u)
        << c.spec.dump() << "\n  got: " << errors[0].ToString();
  }
  json namespaced = Interpreter(Flink());
  namespaced["metadata"]["namespace"] = "shop";
  FieldErrors errors;
  DecodeResourceInterpreter(namespaced, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "metadata.namespace");
}

TEST(ResourceInterpreterTest, TheFirstByNameOfItsTargetApplies) {
  std::vector<ResourceInterpreterObject> all;
  for (const char* name : {"zeta", "alpha", "other"}) {
    json spec = Flink();
    if (std::string(name) == "other") spec["target"]["kind"] = "FlinkSessionJob";
    FieldErrors errors;
    all.push_back(DecodeResourceInterpreter(Interpreter(spec, name), &errors));
    ASSERT_TRUE(errors.empty());
  }
  const ResourceInterpreterObject* got =
      InterpreterFor(all, "flink.apache.org/v1beta1", "FlinkDeployment");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->metadata.name, "alpha");
  all[1].metadata.deletion_timestamp = "2026-12-06T12:00:00Z";  // alpha is going
  EXPECT_EQ(InterpreterFor(all, "flink.apache.org/v1beta1", "FlinkDeployment")->metadata.name,
            "zeta");
  EXPECT_EQ(InterpreterFor(all, "flink.apache.org/v1", "FlinkDeployment"), nullptr);
  EXPECT_EQ(InterpreterFor(all, "flink.apache.org/v1beta1", "FlinkSessionJob")->metadata.name,
            "other");
}

TEST(ResourceInterpreterTest, TheBindingAnnotationRoundTripsAndRefusesNonsense) {
  FieldErrors errors;
  const InterpreterRule rule = DecodeResourceInterpreter(Interpreter(Flink()), &errors).rule;
  StatusOr<InterpreterRule> back = DecodeInterpreterRule(EncodeInterpreterRule(rule));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, rule);
  EXPECT_FALSE(DecodeInterpreterRule("not json").ok());
  StatusOr<InterpreterRule> bad = DecodeInterpreterRule(
      R"({"name":"x","target":{"apiVersion":"a.io/v1","kind":"A"},"replicasPath":".spec[*]"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.replicasPath: at position 6"), std::string::npos)
      << bad.status().message();
  // An annotation edited by hand into a deeply nested document is refused, not parsed
  // recursively (it used to be: a stack overflow in the controller).
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  StatusOr<InterpreterRule> nested = DecodeInterpreterRule(deep);
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("not a JSON object"), std::string::npos);
}

TEST(ResourceInterpreterTest, ABindingsRuleIsReadFromItsAnnotation) {
  FederatedWorkload binding;
  StatusOr<std::optional<InterpreterRule>> none = InterpreterRuleOf(binding);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  FieldErrors errors;
  const InterpreterRule rule = DecodeResourceInterpreter(Interpreter(Flink()), &errors).rule;
  binding.metadata.annotations[kResourceInterpreterAnnotation] = EncodeInterpreterRule(rule);
  StatusOr<std::optional<InterpreterRule>> got = InterpreterRuleOf(binding);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, rule);
  binding.metadata.annotations[kResourceInterpreterAnnotation] = "{";
  EXPECT_FALSE(InterpreterRuleOf(binding).ok());
}

TEST(ResourceInterpreterTest, DividesByTheReplicasPath) {
  auto rule_with = [](const char* replicas_path) {
    json spec = Flink();
    spec["replicasPath"] = replicas_path;
    FieldErrors errors;
    return DecodeResourceInterpreter(Interpreter(spec), &errors).rule;
  };
  const json nested = {{"apiVersion", "flink.apache.org/v1beta1"},
                       {"kind", "FlinkDeployment"},
                       {"spec", {{"taskManager", {{"replicas", 10}, {"cpu", 2}}}}}};
  // The template carries the count in spec.replicas (what placement divides)...
  const InterpreterRule tm = rule_with(".spec.taskManager.replicas");
  StatusOr<json> t = InterpretedTemplate(tm, nested);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)["spec"]["replicas"], 10);
  // ...and a member's copy has its share at the path, and no spec.replicas.
  json rendered = *t;
  rendered["spec"]["replicas"] = 4;
  ASSERT_TRUE(PlaceReplicas(tm, &rendered).ok());
  EXPECT_EQ(rendered["spec"], json({{"taskManager", {{"replicas", 4}, {"cpu", 2}}}}));

  // At spec.replicas itself nothing moves.
  const InterpreterRule plain = rule_with(".spec.replicas");
  const json widget = {{"spec", {{"replicas", 10}}}};
  EXPECT_EQ(InterpretedTemplate(plain, widget).value(), widget);
  json copy = widget;
  ASSERT_TRUE(PlaceReplicas(plain, &copy).ok());
  EXPECT_EQ(copy, widget);

  // Not divisible: said, not guessed.
  struct Bad {
    json object;
    std::string error;
  };
  for (const Bad& b : std::vector<Bad>{
           {{{"spec", json::object()}},
            ".spec.taskManager.replicas must be an integer >= 0 to "
            "divide the object (absent)"},
           {{{"spec", {{"taskManager", {{"replicas", "3"}}}}}}, "must be an integer >= 0"},
           {{{"spec", {{"taskManager", {{"replicas", -1}}}}}}, "must be an integer >= 0"},
           {{{"spec", {{"replicas", 2}, {"taskManager", {{"replicas", 3}}}}}},
            "the object also has spec.replicas"},
       }) {
    StatusOr<json> got = InterpretedTemplate(tm, b.object);
    ASSERT_FALSE(got.ok()) << b.object.dump();
    EXPECT_NE(got.status().message().find(b.error), std::string::npos) << got.status().message();
    EXPECT_EQ(got.status().message().rfind("ResourceInterpreter flink", 0), 0u);
  }
  // A share that cannot be put where the rule says: the member's error names the path.
  json scalar = {{"spec", {{"replicas", 2}, {"taskManager", "big"}}}};
  Status placed = PlaceReplicas(tm, &scalar);
  EXPECT_EQ(placed.message(),
            "ResourceInterpreter flink: replicasPath .spec.taskManager.replicas: "
            ".spec.taskManager is not an object");
}

}  // namespace
}  // namespace meridian::api

namespace meridian::api {
namespace {

// Issue 18, "a declarative rule on the policy": spec.interpreter of a PlacementPolicy /
// ClusterPlacementPolicy, judged by the interpreter's own decoder under its path, and
// preferred over a ResourceInterpreter of the kind.
json PolicyWith(json interpreter, const std::string& api_version = "flink.apache.org/v1beta1",
                const std::string& kind = "FlinkDeployment") {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "PlacementPolicy"},
          {"metadata", {{"name", "flink"}, {"namespace", "stream"}}},
          {"spec",
           {{"resourceSelectors", {{{"apiVersion", api_version}, {"kind", kind}}}},
            {"interpreter", std::move(interpreter)}}}};
}

TEST(PolicyInterpreterTest, APolicyCarriesTheRuleAndNamesItselfAsItsSource) {
  FieldErrors errors;
  PlacementPolicyObject p = DecodeNamespacedPlacementPolicy(
      PolicyWith({{"replicasPath", ".spec.taskManager.replicas"}, {"readyCondition", "Ready"}}),
      &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  ASSERT_TRUE(p.interpreter.has_value());
  EXPECT_EQ(p.interpreter->replicas_path->ToString(), ".spec.taskManager.replicas");
  EXPECT_EQ(p.interpreter->ready_condition, "Ready");
  EXPECT_EQ(p.interpreter->Source(), "PlacementPolicy stream/flink's interpreter");
  // Without the field: none.
  json plain = PolicyWith(json::object());
  plain["spec"].erase("interpreter");
  EXPECT_FALSE(DecodeNamespacedPlacementPolicy(plain, &errors).interpreter.has_value());
  EXPECT_TRUE(errors.empty());
}

TEST(PolicyInterpreterTest, BadRulesAreRefusedWithTheFieldNamed) {
  struct Case {
    json policy;
    std::string error;  // the first error's start
  };
  const std::vector<Case> cases = {
      {PolicyWith({{"replicasPath", ".spec.taskManager[*].replicas"}}),
       "spec.interpreter.replicasPath: at position 18: '*' is not supported"},
      {PolicyWith({{"readyReplicasPath", ".spec.ready"}}),
       "spec.interpreter.readyReplicasPath: must point into .status"},
      {PolicyWith({{"statusAggregation", {".status.a", "..b"}}}),
       "spec.interpreter.statusAggregation[1]: "},
      {PolicyWith(json::object()),
       "spec.interpreter: an interpreter needs at least one of replicasPath"},
      {PolicyWith("Ready"), "spec.interpreter: must be an object"},
      {PolicyWith(
           {{"target", {{"apiVersion", "a.io/v1"}, {"kind", "A"}}}, {"readyCondition", "Ready"}}),
       "spec.interpreter.target: "},
      {PolicyWith({{"readyCondition", "Ready"}}, "apps/v1", "Deployment"),
       "spec.interpreter: is for kinds a CustomResourceDefinition serves; "
       "spec.resourceSelectors[0] selects apps/v1 Deployment, which has built-in rules"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.policy.dump());
    FieldErrors errors;
    DecodeNamespacedPlacementPolicy(c.policy, &errors);
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(errors[0].ToString().rfind(c.error, 0), 0u) << errors[0].ToString();
  }
}

TEST(PolicyInterpreterTest, PodTemplatePathsAreJudgedAndCarriedOnTheBinding) {
  FieldErrors errors;
  PlacementPolicyObject p = DecodeNamespacedPlacementPolicy(
      PolicyWith(
          {{"podTemplatePaths", {".spec.podTemplate", "$.spec['taskManager'].podTemplate"}}}),
      &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  ASSERT_EQ(p.interpreter->pod_template_paths.size(), 2u);
  EXPECT_EQ(p.interpreter->pod_template_paths[1].ToString(), ".spec.taskManager.podTemplate");
  std::string why;
  std::optional<InterpreterRule> rule =
      ApplicableRule(p.interpreter, {}, "flink.apache.org/v1beta1", "FlinkDeployment", &why);
  StatusOr<InterpreterRule> back = DecodeInterpreterRule(EncodeInterpreterRule(*rule));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, *rule);
  for (const auto& [paths, error] : std::vector<std::pair<json, std::string>>{
           {json::array({".status.podTemplate"}),
            "spec.interpreter.podTemplatePaths[0]: must point into .spec"},
           {json::array({".spec.podTemplate", ".spec.x[*]"}),
            "spec.interpreter.podTemplatePaths[1]: at position 8"},
           {".spec.podTemplate", "spec.interpreter.podTemplatePaths: must be a list of paths"}}) {
    FieldErrors bad;
    DecodeNamespacedPlacementPolicy(PolicyWith({{"podTemplatePaths", paths}}), &bad);
    ASSERT_FALSE(bad.empty()) << paths.dump();
    EXPECT_EQ(bad[0].ToString().rfind(error, 0), 0u) << bad[0].ToString();
  }
  // The cluster-scoped interpreter takes the field too.
  json spec = Flink();
  spec["podTemplatePaths"] = {".spec.podTemplate"};
  EXPECT_EQ(DecodeResourceInterpreter(Interpreter(spec), &errors).rule.pod_template_paths.size(),
            1u);
  EXPECT_TRUE(errors.empty());
}

TEST(PolicyInterpreterTest, ThePolicysRuleWinsOverAResourceInterpreterAndSaysSo) {
  FieldErrors errors;
  std::vector<ResourceInterpreterObject> cluster_wide = {
      DecodeResourceInterpreter(Interpreter(Flink()), &errors)};
  PlacementPolicyObject p = DecodeNamespacedPlacementPolicy(
      PolicyWith({{"replicasPath", ".spec.jobManager.replicas"}}), &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].ToString();
  std::string why;
  std::optional<InterpreterRule> rule = ApplicableRule(
      p.interpreter, cluster_wide, "flink.apache.org/v1beta1", "FlinkDeployment", &why);
  ASSERT_TRUE(rule.has_value());
  EXPECT_EQ(rule->replicas_path->ToString(), ".spec.jobManager.replicas");
  EXPECT_EQ(rule->target_kind, "FlinkDeployment");
  EXPECT_EQ(why,
            "interpreted by PlacementPolicy stream/flink's interpreter (over ResourceInterpreter "
            "flink)");
  // Without the policy's rule the cluster-scoped one applies; with neither, none.
  rule = ApplicableRule(std::nullopt, cluster_wide, "flink.apache.org/v1beta1", "FlinkDeployment",
                        &why);
  ASSERT_TRUE(rule.has_value());
  EXPECT_EQ(rule->replicas_path->ToString(), ".spec.taskManager.replicas");
  EXPECT_EQ(why, "interpreted by ResourceInterpreter flink");
  EXPECT_FALSE(ApplicableRule(std::nullopt, cluster_wide, "kafka.strimzi.io/v1beta2", "Kafka", &why)
                   .has_value());
  // The policy's rule on a binding round-trips, source included, and its messages name it.
  rule = ApplicableRule(p.interpreter, {}, "flink.apache.org/v1beta1", "FlinkDeployment", &why);
  EXPECT_EQ(why, "interpreted by PlacementPolicy stream/flink's interpreter");
  StatusOr<InterpreterRule> back = DecodeInterpreterRule(EncodeInterpreterRule(*rule));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, *rule);
  StatusOr<json> t = InterpretedTemplate(*rule, {{"spec", json::object()}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().rfind("PlacementPolicy stream/flink's interpreter: ", 0), 0u)
      << t.status().message();
}

}  // namespace
}  // namespace meridian::api
