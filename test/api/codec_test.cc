#include "api/codec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "api/resources.h"
#include "api/yaml.h"
#include "test/common/test_env.h"

namespace meridian::api {
namespace {

using nlohmann::json;

std::vector<std::string> Messages(const FieldErrors& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

json Workload() {
  return json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                 "ownerReferences": [{"kind": "X", "name": "y"}]},
    "spec": {
      "template": {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web"},
                   "spec": {"replicas": 30, "x-unknown": {"deep": [1, 2.5, "three", null]}}},
      "placement": {
        "clusterSelector": {"matchLabels": {"tier": "prod"}},
        "residency": {"jurisdictions": ["eu"]},
        "distribution": {"weights": {"eu-west": 3, "eu-central": 1}, "minPerCluster": 1},
        "spread": {"minRegions": 2},
        "failover": {"overflow": "nearest", "recoveryDelaySeconds": 60}},
      "overrides": [{"clusterSelector": {"matchLabels": {"region": "eu-central"}},
                     "patches": [{"op": "replace", "path": "/spec/replicas", "value": 1}]}],
      "dns": {"name": "web.global.example.com", "strategy": "geo", "ttl": 30, "port": 80}},
    "status": {"observedGeneration": 2,
               "placement": [{"cluster": "eu-west-1", "replicas": 9, "reasons": ["weight 3/4"]}],
               "clusters": [{"cluster": "eu-west-1", "readyReplicas": 9, "synced": true}],
               "conditions": [{"type": "Ready", "status": "True", "reason": "AllReady"}]}})");
}

TEST(CodecTest, WorkloadRoundTripsLosslessly) {
  json in = Workload();
  in["spec"]["retainedPaths"] = {"/spec/replicas", "/spec/ports/*/nodePort"};
  FieldErrors errors;
  FederatedWorkload w = DecodeFederatedWorkload(in, &errors);
  EXPECT_EQ(w.spec.retained_paths.size(), 2u);
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(Messages(errors));
  EXPECT_EQ(TemplateReplicas(w.spec), 30);
  EXPECT_EQ(w.spec.template_["spec"]["x-unknown"], in["spec"]["template"]["spec"]["x-unknown"]);
  json out = Encode(w);
  // The canonical form may spell defaults out; decoding it again must give the same value.
  FederatedWorkload again = DecodeFederatedWorkload(out, &errors);
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(Messages(errors));
  EXPECT_EQ(again, w);
  EXPECT_EQ(out["spec"]["template"], in["spec"]["template"]) << "template kept as written";
  EXPECT_EQ(out["metadata"]["ownerReferences"], in["metadata"]["ownerReferences"]);
  EXPECT_EQ(out["status"], in["status"]);
}

TEST(CodecTest, EveryProblemIsReportedWithItsFieldPath) {
  struct Case {
    std::string name;
    std::function<void(json&)> mutate;
    std::string expected;  // one of the reported errors
  };
  std::vector<Case> cases = {
      {"negative weight",
       [](json& j) { j["spec"]["placement"]["distribution"]["weights"]["eu-west"] = -1; },
       "spec.placement.distribution.weights.eu-west: must be >= 0"},
      {"negative replicas", [](json& j) { j["spec"]["template"]["spec"]["replicas"] = -3; },
       "spec.template.spec.replicas: must be >= 0"},
      {"replicas wrong type", [](json& j) { j["spec"]["template"]["spec"]["replicas"] = "thirty"; },
       "spec.template.spec.replicas: must be an integer"},
      {"missing name", [](json& j) { j["metadata"].erase("name"); }, "metadata.name: required"},
      {"bad name", [](json& j) { j["metadata"]["name"] = "Web_1"; },
       "metadata.name: must be a lowercase RFC 1123 subdomain: lower case alphanumerics, '-' and "
       "'.', starting and ending with an alphanumeric character"},
      {"unknown spec field", [](json& j) { j["spec"]["placment"] = json::object(); },
       "spec.placment: unknown field"},
      {"bad overflow", [](json& j) { j["spec"]["placement"]["failover"]["overflow"] = "anywhere"; },
       "spec.placement.failover.overflow: must be one of nearest, ordered, none"},
      {"template without kind", [](json& j) { j["spec"]["template"].erase("kind"); },
       "spec.template.kind: required"},
      {"bad patch op", [](json& j) { j["spec"]["overrides"][0]["patches"][0]["op"] = "frob"; },
       "spec.overrides[0].patches[0].op: must be one of add, remove, replace, move, copy, test"},
      {"dns strategy", [](json& j) { j["spec"]["dns"]["strategy"] = "random"; },
       "spec.dns.strategy: must be one of geo, weighted, failover"},
      {"wrong apiVersion", [](json& j) { j["apiVersion"] = "v1"; },
       "apiVersion: must be federation.meridian.io/v1alpha1"},
      {"retained path not a pointer",
       [](json& j) {
         j["spec"]["retainedPaths"] = {"/spec/replicas", "spec/x"};
       },
       "spec.retainedPaths[1]: \"spec/x\": must be a JSON pointer starting with \"/\""},
      {"retained path bad escape", [](json& j) { j["spec"]["retainedPaths"] = {"/a~2b"}; },
       "spec.retainedPaths[0]: \"/a~2b\": has \"~\" not followed by 0 or 1 (write \"~0\" for "
       "\"~\", \"~1\" for \"/\")"},
      {"retained Meridian's label",
       [](json& j) {
         j["spec"]["retainedPaths"] = {"/metadata/labels/federation.meridian.io~1workload"};
       },
       "spec.retainedPaths[0]: \"/metadata/labels/federation.meridian.io~1workload\": cannot "
       "retain Meridian's own labels (federation.meridian.io/workload)"},
      {"retained metadata name", [](json& j) { j["spec"]["retainedPaths"] = {"/metadata/name"}; },
       "spec.retainedPaths[0]: \"/metadata/name\": only metadata labels and annotations can be "
       "retained"},
      {"retained paths duplicate",
       [](json& j) {
         j["spec"]["retainedPaths"] = {"/spec/replicas", "/spec/replicas"};
       },
       "spec.retainedPaths[1]: duplicate value \"/spec/replicas\""},
  };
  for (const Case& c : cases) {
    json j = Workload();
    c.mutate(j);
    std::vector<std::string> got = Messages(ValidateObject(j));
    EXPECT_NE(std::find(got.begin(), got.end(), c.expected), got.end())
        << c.name << ": got " << ::testing::PrintToString(got);
  }
  // Several problems at once are all reported.
  json j = Workload();
  j["spec"]["placement"]["distribution"]["weights"]["eu-west"] = -1;
  j["spec"]["template"]["spec"]["replicas"] = -3;
  j["metadata"].erase("name");
  EXPECT_EQ(ValidateObject(j).size(), 3u);
}

TEST(CodecTest, OtherKindsValidate) {
  json mc = json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
    "metadata": {"name": "eu-west-1", "namespace": "x"},
    "spec": {"server": "ftp://x", "region": "eu-west", "zones": ["a", "a"]}})");
  EXPECT_EQ(Messages(ValidateObject(mc)),
            (std::vector<std::string>{
                "metadata.namespace: MemberCluster is cluster-scoped and takes no namespace",
                "spec.server: must be an http:// or https:// URL",
                "spec.zones[1]: duplicate value \"a\"",
                "spec.jurisdiction: required"}));
  json drill = json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FailoverDrill",
    "metadata": {"name": "d"}, "spec": {"target": {"zone": "a", "region": "b"}, "mode": "live"}})");
  EXPECT_EQ(Messages(ValidateObject(drill)),
            (std::vector<std::string>{"spec.target: exactly one of zone, region or cluster must be set"}));
  json unknown = {{"apiVersion", "federation.meridian.io/v1alpha1"}, {"kind", "Widget"}};
  EXPECT_EQ(Messages(ValidateObject(unknown)),
            (std::vector<std::string>{
                "kind: unknown kind \"Widget\" in group federation.meridian.io"}));
}

TEST(CodecTest, ShippedExamplesAreValid) {
  const std::string src = test_env::SourceDir();
  for (const char* file : {"examples/three-continents/topology.yaml", "examples/three-continents/members.yaml",
                           "examples/three-continents/workload.yaml"}) {
    std::ifstream in(src + "/" + file);
    ASSERT_TRUE(in) << file;
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = ParseYamlDocuments(ss.str(), file);
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const YamlDocument& d : *docs) {
      if (d.value.value("apiVersion", "") != kApiVersion) continue;
      EXPECT_TRUE(ValidateObject(d.value).empty())
          << file << ":" << d.line << ": " << ::testing::PrintToString(Messages(ValidateObject(d.value)));
    }
  }
}

TEST(ResourcesTest, NamesResolveAndSchemasCarryTheirKind) {
  ASSERT_NE(FindResource("fw"), nullptr);
  EXPECT_EQ(FindResource("fw")->kind, "FederatedWorkload");
  EXPECT_EQ(FindResource("FederatedWorkloads")->kind, "FederatedWorkload");
  EXPECT_EQ(FindResource("mc")->plural, "memberclusters");
  EXPECT_EQ(FindResource("pods"), nullptr);
  json schema = OpenApiSchemaFor(*FindResource("fw"));
  EXPECT_EQ(schema["x-kubernetes-group-version-kind"][0]["kind"], "FederatedWorkload");
  EXPECT_TRUE(schema["properties"]["spec"]["properties"]["placement"]["properties"].contains("residency"));
}

}  // namespace
}  // namespace meridian::api
