// sync/member_definitions.h: the member's CRD and the decision for each state of the
// member's copy (absent, Meridian's current or stale or edited, the member's own, same or
// different, Established or not).
#include "sync/member_definitions.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sync/propagation.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

json FederationCrd(const std::string& size_type = "integer") {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata",
           {{"name", "widgets.example.com"},
            {"uid", "federation-uid"},
            {"resourceVersion", "42"},
            {"finalizers", {"customresourcecleanup.apiextensions.k8s.io"}}}},
          {"spec",
           {{"group", "example.com"},
            {"scope", "Namespaced"},
            {"names", {{"plural", "widgets"}, {"kind", "Widget"}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"},
                   {"properties",
                    {{"spec",
                      {{"type", "object"},
                       {"properties", {{"size", {{"type", size_type}}}}}}}}}}}}}}}}}},
          {"status", {{"conditions", {{{"type", "Established"}, {"status", "True"}}}}}}};
}

json Established(json crd, const char* status = "True") {
  crd["status"] = {{"conditions",
                    {{{"type", "NamesAccepted"}, {"status", "True"}},
                     {{"type", "Established"}, {"status", status}}}}};
  crd["metadata"]["resourceVersion"] = "7";
  return crd;
}

TEST(MemberDefinitionTest, IsTheFederationsSpecLabelledAndHashedWithoutServerFields) {
  json d = MemberDefinition(FederationCrd());
  EXPECT_EQ(d["apiVersion"], "apiextensions.k8s.io/v1");
  EXPECT_EQ(d["metadata"]["name"], "widgets.example.com");
  EXPECT_EQ(d["metadata"]["labels"][kManagedByLabel], kManagedByValue);
  EXPECT_EQ(d["spec"], FederationCrd()["spec"]);
  EXPECT_FALSE(d.contains("status"));
  for (const char* field : {"uid", "resourceVersion", "finalizers"}) {
    EXPECT_FALSE(d["metadata"].contains(field)) << field;
  }
  // Stable, and follows the spec.
  const json& hash = d["metadata"]["annotations"][kRenderedHashAnnotation];
  EXPECT_EQ(MemberDefinition(FederationCrd())["metadata"]["annotations"][kRenderedHashAnnotation],
            hash);
  EXPECT_NE(
      MemberDefinition(FederationCrd("string"))["metadata"]["annotations"][kRenderedHashAnnotation],
      hash);
}

TEST(MemberDefinitionTest, DecisionForEachStateOfTheMembersCopy) {
  const json desired = MemberDefinition(FederationCrd());
  json edited = Established(desired);
  edited["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["size"]["type"] = "string";
  json stale = Established(MemberDefinition(FederationCrd("number")));
  json theirs_same = Established(FederationCrd());  // no managed-by label
  json theirs_other = Established(FederationCrd("string"));
  json theirs_unserved = theirs_same;
  theirs_unserved["spec"]["versions"][0]["served"] = false;
  json theirs_other_group = theirs_same;
  theirs_other_group["spec"]["group"] = "example.org";
  json theirs_cluster = theirs_same;
  theirs_cluster["spec"]["scope"] = "Cluster";
  json theirs_plural = theirs_same;
  theirs_plural["spec"]["names"]["plural"] = "widgetz";
  struct Case {
    const char* name;
    json live;
    DefinitionStep::Action want;
    const char* why;  // part of DefinitionStep::why
  };
  const Case cases[] = {
      {"absent", json(), DefinitionStep::kCreate, ""},
      {"ours, just created", desired, DefinitionStep::kWait, ""},
      {"ours, not yet established", Established(desired, "False"), DefinitionStep::kWait, ""},
      {"ours, established", Established(desired), DefinitionStep::kReady, ""},
      {"ours, from an older spec", stale, DefinitionStep::kReplace, ""},
      {"ours, edited in the member", edited, DefinitionStep::kReplace, ""},
      {"theirs, serving the same", theirs_same, DefinitionStep::kReady, ""},
      {"theirs, another schema", theirs_other, DefinitionStep::kRefuse,
       "spec.versions[v1].schema differs"},
      {"theirs, version not served", theirs_unserved, DefinitionStep::kRefuse,
       "spec.versions[v1] is not served"},
      {"theirs, another group", theirs_other_group, DefinitionStep::kRefuse, "spec.group differs"},
      {"theirs, cluster-scoped", theirs_cluster, DefinitionStep::kRefuse, "spec.scope differs"},
      {"theirs, another plural", theirs_plural, DefinitionStep::kRefuse,
       "spec.names.plural differs"},
  };
  for (const Case& c : cases) {
    DefinitionStep step = DecideDefinition(c.live, desired);
    EXPECT_EQ(step.action, c.want) << c.name;
    EXPECT_NE(step.why.find(c.why), std::string::npos) << c.name << ": " << step.why;
    if (c.want == DefinitionStep::kRefuse) {
      EXPECT_NE(step.why.find("widgets.example.com exists there, was not made by Meridian"),
                std::string::npos)
          << step.why;
    }
  }
}

TEST(MemberDefinitionTest, EstablishedReadsTheCondition) {
  EXPECT_TRUE(DefinitionEstablished(Established(FederationCrd())));
  EXPECT_FALSE(DefinitionEstablished(Established(FederationCrd(), "False")));
  EXPECT_FALSE(DefinitionEstablished(json::object()));
  EXPECT_FALSE(DefinitionEstablished(json{{"status", {{"conditions", "Established"}}}}));
}

}  // namespace
}  // namespace meridian::sync
