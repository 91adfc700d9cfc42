// WhatIfReview (federation-apiserver/what_if_review.h) inside a real FederationApiServer
// (SQLite in a temp dir, RBAC), driven through its RestHandler: the answer is
// scheduling::WhatIf's for the same fleet, nothing is stored, RBAC decides who may ask, and
// bad input is 422 naming the field.
#include "federation-apiserver/what_if_review.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "api/codec.h"
#include "federation-apiserver/server.h"
#include "test/federation-apiserver/rbac_server_fixture.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

constexpr char kGroupPath[] = "/apis/federation.meridian.io/v1alpha1";
constexpr char kReviews[] = "/apis/federation.meridian.io/v1alpha1/whatifreviews";

json Topology() {
  return json::parse(R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "Topology",
    "metadata": {"name": "default"},
    "spec": {"regions": [{"name": "eu-west", "jurisdiction": "eu", "zones": ["eu-west-1a", "eu-west-1b"]},
                         {"name": "us-east", "jurisdiction": "us", "zones": ["us-east-1a"]}]}})");
}

json Member(const std::string& name, const std::string& region, const std::string& zone) {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "MemberCluster"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"server", "http://127.0.0.1:1/clusters/" + name},
            {"region", region},
            {"zones", {zone}},
            {"jurisdiction", region == "eu-west" ? "eu" : "us"},
            {"capacity", {{"replicas", 20}}}}}};
}

json Workload(const std::string& name, int replicas) {
  return {
      {"apiVersion", "federation.meridian.io/v1alpha1"},
      {"kind", "FederatedWorkload"},
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"spec",
       {{"template",
         {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", replicas}}}}},
        {"placement", {{"distribution", {{"weights", {{"eu-west", 1}, {"us-east", 1}}}}}}}}}};
}

api::DrillTarget Target(const char* text) { return scheduling::ParseFailureTarget(text).value(); }

json Review(json failures) {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "WhatIfReview"},
          {"spec", {{"failures", std::move(failures)}}}};
}

class WhatIfReviewTest : public RbacServerFixture {
 protected:
  void SetUp() override {
    StartServer("meridian-whatif",
                "admin-token,admin,1,system:masters\nop-token,operator,2\nviewer-token,viewer,3\n");
    if (HasFatalFailure()) return;

    fleet_ = {{"topologies", Topology()},
              {"memberclusters", Member("eu-west-1", "eu-west", "eu-west-1a")},
              {"memberclusters", Member("eu-west-2", "eu-west", "eu-west-1b")},
              {"memberclusters", Member("us-east-1", "us-east", "us-east-1a")},
              // In the order the store lists them (namespace, name): WhatIf keeps input order.
              {"namespaces/default/federatedworkloads", Workload("api", 4)},
              {"namespaces/default/federatedworkloads", Workload("web", 6)}};
    for (const auto& [plural, object] : fleet_) {
      rest::RestResponse r =
          Call("admin-token", "POST", std::string(kGroupPath) + "/" + plural, object);
      ASSERT_EQ(r.code, 201) << plural << ": " << r.Body();
    }
    for (const auto& [user, role] :
         {std::pair{"operator", "meridian:drill-operator"}, std::pair{"viewer", "view"}}) {
      BindClusterRole(user, role);
      if (HasFatalFailure()) return;
    }
    AwaitAllowed("viewer-token", Attrs("list", "failoverdrills"));
    AwaitAllowed("op-token", Attrs("create", "whatifreviews"));
  }

  // The fleet decoded directly from what the test created (not read back through the server).
  scheduling::PlacementInputs FleetInputs() const {
    scheduling::PlacementInputs in;
    FieldErrors ignored;
    for (const auto& [plural, object] : fleet_) {
      if (plural == "topologies") in.topologies.push_back(api::DecodeTopology(object, &ignored));
      if (plural == "memberclusters")
        in.members.push_back(api::DecodeMemberCluster(object, &ignored));
      if (plural.ends_with("federatedworkloads")) {
        in.workloads.push_back(api::DecodeFederatedWorkload(object, &ignored));
      }
    }
    EXPECT_TRUE(ignored.empty());
    return in;
  }

  std::vector<std::pair<std::string, json>> fleet_;
};

TEST_F(WhatIfReviewTest, AnswersWhatSchedulingWhatIfGivesAndStoresNothing) {
  const std::string drills_path = std::string(kGroupPath) + "/failoverdrills";
  rest::RestResponse before = Call("admin-token", "GET", drills_path);
  ASSERT_EQ(before.code, 200) << before.Body();

  struct Case {
    json failures;
    std::vector<api::DrillTarget> targets;
  };
  const std::vector<Case> cases = {
      {json::array({{{"region", "eu-west"}}}), {Target("region=eu-west")}},
      {json::array({{{"cluster", "us-east-1"}}}), {Target("cluster=us-east-1")}},
      {json::array({{{"zone", "eu-west-1a"}}, {{"cluster", "us-east-1"}}}),
       {Target("zone=eu-west-1a"), Target("cluster=us-east-1")}},
  };
  for (const Case& c : cases) {
    rest::RestResponse r = Call("op-token", "POST", kReviews, Review(c.failures));
    ASSERT_EQ(r.code, 201) << c.failures.dump() << ": " << r.Body();
    const json answer = json::parse(r.Body());
    EXPECT_EQ(answer["kind"], "WhatIfReview");
    EXPECT_EQ(answer["spec"]["failures"], c.failures);
    StatusOr<scheduling::WhatIfAnswer> want =
        scheduling::WhatIf(FleetInputs(), c.targets, clock_.Now());
    ASSERT_TRUE(want.ok()) << want.status().message();
    EXPECT_FALSE(want->affected.empty()) << "the case must move something: " << c.failures.dump();
    EXPECT_EQ(answer["status"], WhatIfReviewStatus(*want)) << c.failures.dump();
  }

  // Nothing stored: the drills list is unchanged, and there is no review to read back.
  rest::RestResponse after = Call("admin-token", "GET", drills_path);
  ASSERT_EQ(after.code, 200) << after.Body();
  EXPECT_EQ(json::parse(after.Body())["items"], json::parse(before.Body())["items"]);
  EXPECT_TRUE(json::parse(after.Body())["items"].empty());
  EXPECT_EQ(Call("admin-token", "GET", kReviews).code, 405);
  EXPECT_EQ(Call("admin-token", "GET", std::string(kReviews) + "/anything").code, 405);
  EXPECT_EQ(Call("admin-token", "DELETE", kReviews).code, 405);
}

TEST_F(WhatIfReviewTest, RbacDecidesWhoMayAsk) {
  const json review = Review(json::array({{{"region", "eu-west"}}}));
  rest::RestResponse denied = Call("viewer-token", "POST", kReviews, review);
  EXPECT_EQ(denied.code, 403) << denied.Body();
  EXPECT_NE(json::parse(denied.Body())["message"].get<std::string>().find(
                "cannot create resource \"whatifreviews\""),
            std::string::npos)
      << denied.Body();
  EXPECT_EQ(Call("op-token", "POST", kReviews, review).code, 201);
  EXPECT_EQ(Call("admin-token", "POST", kReviews, review).code, 201);
  // Reading is not a verb anyone holds by default either: the operator may not even list.
  EXPECT_EQ(Call("op-token", "GET", kReviews).code, 403);
}

// kubectl maps a kind to its path through discovery: the review is listed, create-only (as
// kube-apiserver lists SubjectAccessReview), cluster-scoped, and only in its own group/version.
TEST_F(WhatIfReviewTest, DiscoveryListsItCreateOnly) {
  rest::RestResponse r = Call("viewer-token", "GET", kGroupPath);
  ASSERT_EQ(r.code, 200) << r.Body();
  const json list = json::parse(r.Body());
  EXPECT_EQ(list["kind"], "APIResourceList");
  std::vector<json> reviews;
  for (const json& e : list["resources"]) {
    if (e["kind"] == "WhatIfReview") reviews.push_back(e);
  }
  ASSERT_EQ(reviews.size(), 1u) << r.Body();
  EXPECT_EQ(reviews[0]["name"], "whatifreviews");
  EXPECT_EQ(reviews[0]["singularName"], "whatifreview");
  EXPECT_EQ(reviews[0]["namespaced"], false);
  EXPECT_EQ(reviews[0]["verbs"], json::array({"create"}));
  // The registry's resources are still there, and other groups do not get the entry.
  EXPECT_NE(r.Body().find("\"name\":\"federatedworkloads\""), std::string::npos) << r.Body();
  rest::RestResponse core = Call("viewer-token", "GET", "/api/v1");
  ASSERT_EQ(core.code, 200) << core.Body();
  EXPECT_EQ(core.Body().find("whatifreviews"), std::string::npos) << core.Body();
}

TEST_F(WhatIfReviewTest, BadInputIs422NamingTheField) {
  struct Case {
    json body;
    std::string field;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Review(json::array()), "spec.failures", "Required value"},
      {{{"kind", "WhatIfReview"}, {"spec", json::object()}}, "spec.failures", "Required value"},
      {Review(json::array({{{"planet", "mars"}}})), "spec.failures[0]",
       "unknown target kind \"planet\""},
      {Review(json::array({{{"zone", "a"}, {"region", "b"}}})), "spec.failures[0]", "exactly one"},
      {Review(json::array({{{"region", ""}}})), "spec.failures[0].region", "non-empty"},
      {Review(json::array({{{"region", "eu-west"}}, {{"region", "mars-north"}}})),
       "spec.failures[1].region", "region=mars-north matches no member cluster"},
      {Review(json::array({{{"zone", "eu-west-1z"}}})), "spec.failures[0].zone", "eu-west-1z"},
      {Review(json::array({{{"cluster", "nope"}}})), "spec.failures[0].cluster", "cluster=nope"},
      {{{"kind", "FailoverDrill"}, {"spec", {{"failures", {{{"region", "eu-west"}}}}}}},
       "kind",
       "must be WhatIfReview"},
  };
  for (const Case& c : cases) {
    rest::RestResponse r = Call("op-token", "POST", kReviews, c.body);
    ASSERT_EQ(r.code, 422) << c.body.dump() << ": " << r.Body();
    const json status = json::parse(r.Body());
    ASSERT_FALSE(status["details"]["causes"].empty()) << r.Body();
    const json& cause = status["details"]["causes"][0];
    EXPECT_EQ(cause["field"], c.field) << r.Body();
    EXPECT_NE(cause["message"].get<std::string>().find(c.message), std::string::npos) << r.Body();
  }
  rest::RestResponse malformed = Call("op-token", "POST", kReviews);
  EXPECT_EQ(malformed.code, 400) << malformed.Body();
}

}  // namespace
}  // namespace meridian::apiserver
