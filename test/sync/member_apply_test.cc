// sync/member_apply.h: what a member stores, the semantic comparison, the differing fields
// and the three-way merge patch that leaves others' fields alone.
#include "sync/member_apply.h"

#include <gtest/gtest.h>

namespace meridian::sync {
namespace {

using nlohmann::json;

// The issue's template: non-canonical quantities (one a YAML number), an empty list.
json Template() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {
      "containers": [{"name": "web", "image": "web:1", "args": [], "env": null,
                      "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"},
                                    "limits": {"cpu": "1.0"}}}],
      "volumes": [{"name": "scratch", "emptyDir": {}, "sizeHint": null}]}}}})");
}

// What a real kube-apiserver answers for Template(): canonical quantities, args dropped,
// defaults and the Deployment controller's revision annotation added.
json Stored() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "1"},
                 "resourceVersion": "7", "generation": 1, "uid": "u-1"},
    "spec": {"replicas": 2, "progressDeadlineSeconds": 600,
      "template": {"metadata": {"creationTimestamp": null}, "spec": {
      "containers": [{"name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent",
                      "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                    "limits": {"cpu": "1"}}}],
      "restartPolicy": "Always",
      "volumes": [{"name": "scratch", "emptyDir": {}}]}}},
    "status": {"replicas": 2}})");
}

TEST(NormalizeForMemberTest, CanonicalQuantitiesNoNullsNoEmptyLists) {
  const json n = NormalizeForMember(Template());
  const json& c = n["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(c["resources"]["requests"]["memory"], "1Gi");
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1");
  EXPECT_FALSE(c.contains("args"));
  EXPECT_FALSE(c.contains("env"));
  const json& v = n["spec"]["template"]["spec"]["volumes"][0];
  EXPECT_EQ(v["emptyDir"], json::object());  // meaningful: kept
  EXPECT_FALSE(v.contains("sizeHint"));
  EXPECT_EQ(n["spec"]["replicas"], 2);

  // Not a quantity position, or not a built-in kind: left exactly as written.
  json other = Template();
  other["metadata"]["labels"]["version"] = "1.0";
  EXPECT_EQ(NormalizeForMember(other)["metadata"]["labels"]["version"], "1.0");
  json crd = {{"apiVersion", "example.com/v1"},
              {"kind", "Thing"},
              {"spec", {{"requests", {{"cpu", "1.0"}}}}}};
  EXPECT_EQ(NormalizeForMember(crd)["spec"]["requests"]["cpu"], "1.0");
  // Not a quantity at all: the server will say so; we do not guess.
  json bad = Template();
  bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots";
  EXPECT_EQ(NormalizeForMember(
                bad)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "lots");
}

TEST(SemanticallyContainsTest, Table) {
  const json stored = Stored();
  struct Case {
    std::string name;
    json want;
    json have;
    bool contains;
  };
  auto with = [](json o, const json::json_pointer& p, json v) {
    o[p] = std::move(v);
    return o;
  };
  const json::json_pointer cpu("/spec/template/spec/containers/0/resources/requests/cpu");
  const json::json_pointer image("/spec/template/spec/containers/0/image");
  const std::vector<Case> cases = {
      {"the issue's template vs what the server stored", Template(), stored, true},
      {"normalised template vs stored", NormalizeForMember(Template()), stored, true},
      {"quantity stored non-canonically (old membersim)", NormalizeForMember(Template()),
       with(stored, cpu, "0.5"), true},
      {"quantity really changed", NormalizeForMember(Template()), with(stored, cpu, "600m"), false},
      {"image changed by hand", Template(), with(stored, image, "web:2"), false},
      {"image tags are not quantities", with(Template(), image, "web:1.0"),
       with(stored, image, "web:1"), false},
      {"scaled by hand", Template(), with(stored, json::json_pointer("/spec/replicas"), 5), false},
      {"1 == 1.0 as numbers", with(Template(), json::json_pointer("/spec/replicas"), 2.0), stored,
       true},
      {"empty map vs absent",
       with(Template(), json::json_pointer("/metadata/annotations"), json::object()),
       with(stored, json::json_pointer("/metadata/annotations"), nullptr), true},
      {"a container added by someone", Template(),
       with(stored, json::json_pointer("/spec/template/spec/containers/1"),
            json{{"name", "sidecar"}}),
       false},
      {"CRD quantities compare exactly",
       json{{"apiVersion", "x.io/v1"}, {"spec", {{"limits", {{"cpu", "1.0"}}}}}},
       json{{"apiVersion", "x.io/v1"}, {"spec", {{"limits", {{"cpu", "1"}}}}}}, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SemanticallyContains(c.want, c.have), c.contains) << c.name;
    EXPECT_EQ(DifferingFields(c.want, c.have).empty(), c.contains) << c.name;
  }
}

TEST(DifferingFieldsTest, NamesThePaths) {
  json live = Stored();
  live["spec"]["replicas"] = 5;
  live["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
  live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "2";
  EXPECT_EQ(DifferingFields(Template(), live),
            (std::vector<std::string>{"spec.replicas", "spec.template.spec.containers[0].image",
                                      "spec.template.spec.containers[0].resources.limits.cpu"}));
  EXPECT_EQ(DifferingFields(Template(), live, 1), std::vector<std::string>{"spec.replicas"});
}

TEST(ThreeWayMergePatchTest, Table) {
  const json desired = WithLastApplied(NormalizeForMember(Template()));
  const json last = LastApplied(desired).value();
  json stored = Stored();
  stored["metadata"]["annotations"][kLastAppliedAnnotation] =
      desired["metadata"]["annotations"][kLastAppliedAnnotation];

  struct Case {
    std::string name;
    json last_applied;
    json desired;
    json live;
    json want_patch;
  };
  json scaled = stored;
  scaled["spec"]["replicas"] = 7;
  json others = stored;  // fields and annotations that others own
  others["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4";
  others["metadata"]["labels"]["team"] = "payments";
  others["spec"]["paused"] = false;
  json fewer = desired;  // Meridian stops setting the app label
  fewer["metadata"]["labels"].erase("app");
  const std::vector<Case> cases = {
      {"converged: nothing", last, desired, stored, json::object()},
      {"hand scale: only replicas", last, desired, scaled, {{"spec", {{"replicas", 2}}}}},
      {"others' fields and annotations are not touched", last, desired, others, json::object()},
      {"a label Meridian set before and no longer sets goes",
       last,
       fewer,
       stored,
       {{"metadata", {{"labels", {{"app", nullptr}}}}}}},
      {"a label someone else set is never removed", json::object(), fewer, stored, json::object()},
  };
  for (const Case& c : cases) {
    json patch = ThreeWayMergePatch(c.last_applied, c.desired, c.live);
    if (c.name == "a label Meridian set before and no longer sets goes") {
      // The record changes too (it is part of what is applied): check the label part only.
      EXPECT_EQ(patch["metadata"]["labels"], c.want_patch["metadata"]["labels"]) << c.name;
      continue;
    }
    EXPECT_EQ(patch, c.want_patch) << c.name << ": " << patch.dump();
  }

  // Image change: the containers list is replaced whole (merge patch semantics); applied,
  // the member's object holds what Meridian wants and keeps the revision annotation.
  json image = WithLastApplied(NormalizeForMember(Template()));
  image["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
  image = WithLastApplied(image);
  json patch = ThreeWayMergePatch(last, image, others);
  ASSERT_TRUE(patch["spec"]["template"]["spec"].contains("containers")) << patch.dump();
  EXPECT_FALSE(patch["spec"].contains("replicas"));
  EXPECT_FALSE(patch.contains("status"));
  json after = others;
  after.merge_patch(patch);
  EXPECT_TRUE(SemanticallyContains(image, after)) << after.dump();
  EXPECT_EQ(after["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4");
  EXPECT_EQ(after["metadata"]["labels"]["team"], "payments");
  EXPECT_TRUE(ThreeWayMergePatch(LastApplied(image).value(), image, after).empty());
}

TEST(LastAppliedTest, RoundTripAndAbsent) {
  const json desired = WithLastApplied(NormalizeForMember(Template()));
  std::optional<json> last = LastApplied(desired);
  ASSERT_TRUE(last.has_value());
  EXPECT_FALSE(last->at("metadata").contains("annotations") &&
               last->at("metadata")["annotations"].contains(kLastAppliedAnnotation));
  EXPECT_EQ(WithLastApplied(desired), desired);  // idempotent
  EXPECT_FALSE(LastApplied(Stored()).has_value());
  json garbage = Stored();
  garbage["metadata"]["annotations"][kLastAppliedAnnotation] = "{not json";
  EXPECT_FALSE(LastApplied(garbage).has_value());
}

}  // namespace
}  // namespace meridian::sync

namespace meridian::sync {
namespace {

using nlohmann::json;

// spec.retainedPaths: the member's value wins, and a path the member lacks is not written.
TEST(RetainMemberValuesTest, WorkloadPathsKeepTheMembersValue) {
  const json desired = json::parse(R"({"spec": {"replicas": 3, "template": {"metadata":
      {"annotations": {"a/b": "t0", "keep": "x"}}}}})");
  const json live = json::parse(R"({"spec": {"replicas": 7, "paused": false, "template":
      {"metadata": {"annotations": {"a/b": "t1", "keep": "y"}}}}})");
  const json want = RetainMemberValues(
      desired, live, {"/spec/replicas", "/spec/template/metadata/annotations/a~1b"});
  EXPECT_EQ(want["spec"]["replicas"], 7);
  EXPECT_EQ(want["spec"]["template"]["metadata"]["annotations"]["a/b"], "t1");
  EXPECT_EQ(want["spec"]["template"]["metadata"]["annotations"]["keep"], "x") << "not retained";
  EXPECT_FALSE(want["spec"].contains("paused"));
  // Only the unretained difference is patched.
  EXPECT_EQ(ThreeWayMergePatch(json::object(), want, live),
            json::parse(R"({"spec": {"template": {"metadata": {"annotations": {"keep": "x"}}}}})"));

  // The member has none: not written (removed from what is wanted), nor removed there.
  const json bare = json::parse(R"({"spec": {"template": {"metadata": {}}}})");
  const json want2 = RetainMemberValues(
      desired, bare, {"/spec/replicas", "/spec/template/metadata/annotations/a~1b"});
  EXPECT_FALSE(want2["spec"].contains("replicas"));
  EXPECT_FALSE(want2["spec"]["template"]["metadata"]["annotations"].contains("a/b"));
  EXPECT_TRUE(ThreeWayMergePatch(desired, want2, bare)["spec"].is_object());
  EXPECT_FALSE(ThreeWayMergePatch(desired, want2, bare)["spec"].contains("replicas"));

  // "*": every list element; a path that does not parse is skipped.
  const json d3 = json::parse(R"({"spec": {"containers": [{"name": "a", "image": "x:1"},
      {"name": "b", "image": "y:1"}]}})");
  const json l3 = json::parse(R"({"spec": {"containers": [{"name": "a", "image": "x:9"},
      {"name": "b", "image": "y:9"}]}})");
  const json w3 = RetainMemberValues(d3, l3, {"/spec/containers/*/image", "spec/bad"});
  EXPECT_EQ(w3["spec"]["containers"][0]["image"], "x:9");
  EXPECT_EQ(w3["spec"]["containers"][1]["image"], "y:9");
  EXPECT_TRUE(ThreeWayMergePatch(json::object(), w3, l3).empty());
}

// Rules per kind fill what the member allocated where the template has nothing, so a ports
// list replaced whole keeps its nodePorts, and clusterIP is never patched away.
TEST(RetainMemberValuesTest, BuiltinServiceRulesFillAllocatedFields) {
  const std::vector<std::string> rules = BuiltinRetainedPaths("v1", "Service");
  EXPECT_TRUE(BuiltinRetainedPaths("apps/v1", "Deployment").empty());
  EXPECT_EQ(BuiltinRetainedPaths("v1", "ServiceAccount"), std::vector<std::string>{"/secrets"});
  const json desired =
      json::parse(R"({"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort", "ports": [
      {"name": "http", "port": 80, "targetPort": 8081}, {"name": "x", "port": 90, "nodePort": 30090}]}})");
  const json live = json::parse(
      R"({"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort", "clusterIP": "10.0.0.7",
      "clusterIPs": ["10.0.0.7"], "ports": [{"name": "http", "port": 80, "targetPort": 8080,
      "nodePort": 31234}, {"name": "x", "port": 90, "nodePort": 30091}]}})");
  json want = RetainMemberValues(desired, live, {}, rules);
  RetainServiceNodePorts(want, live);
  EXPECT_EQ(want["spec"]["clusterIP"], "10.0.0.7");
  EXPECT_EQ(want["spec"]["ports"][0]["nodePort"], 31234) << "filled";
  EXPECT_EQ(want["spec"]["ports"][1]["nodePort"], 30090) << "the template's own value stays";
  const json patch = ThreeWayMergePatch(json::object(), want, live);
  ASSERT_TRUE(patch["spec"].contains("ports"));
  EXPECT_EQ(patch["spec"]["ports"][0]["nodePort"], 31234);
  EXPECT_FALSE(patch["spec"].contains("clusterIP"));
}

// Ports are matched by number and protocol, not position: a template that inserts a port
// before the others must not give the new one the old first port's nodePort.
TEST(RetainMemberValuesTest, NodePortsFollowTheirPortWhenTheTemplateReordersPorts) {
  const json live =
      json::parse(R"({"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort",
      "ports": [{"name": "http", "port": 80, "nodePort": 31080},
                {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 31053}]}})");
  json want = json::parse(R"({"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort",
      "ports": [{"name": "https", "port": 443}, {"name": "dns-tcp", "port": 53},
                {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "http", "port": 80}]}})");
  RetainServiceNodePorts(want, live);
  const json& ports = want["spec"]["ports"];
  EXPECT_FALSE(ports[0].contains("nodePort")) << "a new port gets a new nodePort";
  EXPECT_FALSE(ports[1].contains("nodePort")) << "53/TCP is not 53/UDP";
  EXPECT_EQ(ports[2]["nodePort"], 31053);
  EXPECT_EQ(ports[3]["nodePort"], 31080);
  // Anything but a v1 Service is left alone.
  json deployment = json::parse(
      R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"ports": [{"port": 80}]}})");
  const json before = deployment;
  RetainServiceNodePorts(deployment, live);
  EXPECT_EQ(deployment, before);
}

TEST(ScaledByAutoscalerTest, MatchesKindNameAndGroup) {
  const json deployment = json::parse(
      R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})");
  auto hpa = [](const char* api_version, const char* kind, const char* name) {
    return json{
        {"apiVersion", "autoscaling/v2"},
        {"kind", "HorizontalPodAutoscaler"},
        {"spec",
         {{"scaleTargetRef", {{"apiVersion", api_version}, {"kind", kind}, {"name", name}}}}}};
  };
  EXPECT_TRUE(ScaledByAutoscaler(deployment, {hpa("apps/v1", "Deployment", "web")}));
  EXPECT_TRUE(ScaledByAutoscaler(deployment, {hpa("apps/v1beta2", "Deployment", "web")}))
      << "any version of the group";
  EXPECT_FALSE(ScaledByAutoscaler(deployment, {hpa("apps/v1", "Deployment", "api")}));
  EXPECT_FALSE(ScaledByAutoscaler(deployment, {hpa("apps/v1", "StatefulSet", "web")}));
  EXPECT_FALSE(ScaledByAutoscaler(deployment, {hpa("example.io/v1", "Deployment", "web")}));
  EXPECT_FALSE(ScaledByAutoscaler(deployment, {json::object(), json{{"spec", 3}}}));
  EXPECT_FALSE(ScaledByAutoscaler(deployment, {}));
}

}  // namespace
}  // namespace meridian::sync
