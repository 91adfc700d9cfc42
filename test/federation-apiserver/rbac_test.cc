// RBAC: the pure evaluator (rbac/policy.h), request attributes and the 403 text, and the
// Authorizer over a FederationApiServer on an in-memory path (bootstrap roles, escalation
// prevention, validation, SelfSubjectAccessReview), driven through the RestHandler.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <tuple>

#include "common/clock.h"
#include "federation-apiserver/rbac/authorizer.h"
#include "federation-apiserver/rbac/policy.h"
#include "federation-apiserver/rbac/reconcile.h"
#include "federation-apiserver/server.h"
#include "test/federation-apiserver/rbac_server_fixture.h"

namespace meridian::apiserver::rbac {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

json Role(const std::string& ns, const std::string& name, json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", ns.empty() ? "ClusterRole" : "Role"},
          {"metadata", ns.empty() ? json{{"name", name}} : json{{"name", name}, {"namespace", ns}}},
          {"rules", rules}};
}

json Bind(const std::string& ns, const std::string& name, const std::string& role_kind,
          const std::string& role, json subjects) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
          {"metadata", ns.empty() ? json{{"name", name}} : json{{"name", name}, {"namespace", ns}}},
          {"roleRef", {{"apiGroup", kRbacGroup}, {"kind", role_kind}, {"name", role}}},
          {"subjects", subjects}};
}

json User(const std::string& name) { return {{"kind", "User"}, {"name", name}}; }
json Group(const std::string& name) { return {{"kind", "Group"}, {"name", name}}; }

Attributes Ask(const std::string& user, const std::string& verb, const std::string& group,
               const std::string& resource, const std::string& ns, const std::string& name = "",
               const std::string& sub = "") {
  Attributes a;
  a.user = user;
  a.groups = {"system:authenticated"};
  a.verb = verb;
  a.api_group = group;
  a.resource = resource;
  a.ns = ns;
  a.name = name;
  a.subresource = sub;
  return a;
}

TEST(RbacPolicyTest, DecisionTable) {
  json fw_rules = json::array({{{"verbs", {"get", "list", "watch"}},
                                {"apiGroups", {"federation.meridian.io"}},
                                {"resources", {"federatedworkloads"}}}});
  auto policy = RbacPolicy::Build(
      {Role("shop", "reader", fw_rules), Role("shop", "one-secret",
                                              json::array({{{"verbs", {"get"}},
                                                            {"apiGroups", {""}},
                                                            {"resources", {"secrets"}},
                                                            {"resourceNames", {"db"}}}}))},
      {Role("", "status-writer",
            json::array(
                {{{"verbs", {"update"}}, {"apiGroups", {"*"}}, {"resources", {"*/status"}}}})),
       Role("", "fw-all",
            json::array({{{"verbs", {"*"}},
                          {"apiGroups", {"federation.meridian.io"}},
                          {"resources", {"federatedworkloads"}}}})),
       Role("", "urls", json::array({{{"verbs", {"get"}}, {"nonResourceURLs", {"/apis/*"}}}}))},
      {Bind("shop", "r", "Role", "reader", json::array({User("alice"), Group("devs")})),
       Bind("shop", "s", "Role", "one-secret", json::array({User("alice")})),
       Bind("shop", "cr", "ClusterRole", "fw-all", json::array({User("bob")})),
       Bind("shop", "dangling", "Role", "absent", json::array({User("carol")})),
       Bind("shop", "sa", "ClusterRole", "fw-all",
            json::array({{{"kind", "ServiceAccount"}, {"name", "deployer"}}}))},
      {Bind("", "sw", "ClusterRole", "status-writer", json::array({User("ctl")})),
       Bind("", "u", "ClusterRole", "urls", json::array({Group("system:authenticated")}))});

  Attributes url;
  url.user = "anyone";
  url.groups = {"system:authenticated"};
  url.verb = "get";
  url.resource_request = false;
  url.path = "/apis/federation.meridian.io";
  Attributes masters = Ask("root", "delete", "", "namespaces", "", "meridian-system");
  masters.groups = {"system:masters"};
  Attributes dev = Ask("dave", "list", "federation.meridian.io", "federatedworkloads", "shop");
  dev.groups = {"devs"};

  struct Case {
    const char* what;
    Attributes attrs;
    bool allowed;
  };
  const std::string G = "federation.meridian.io";
  std::vector<Case> cases = {
      {"role in its namespace", Ask("alice", "list", G, "federatedworkloads", "shop"), true},
      {"role not in another namespace", Ask("alice", "list", G, "federatedworkloads", "payments"),
       false},
      {"role not cluster-wide", Ask("alice", "list", G, "federatedworkloads", ""), false},
      {"verb not granted", Ask("alice", "create", G, "federatedworkloads", "shop"), false},
      {"subresource needs its own rule",
       Ask("alice", "get", G, "federatedworkloads", "shop", "w", "status"), false},
      {"by group", dev, true},
      {"resourceNames: named", Ask("alice", "get", "", "secrets", "shop", "db"), true},
      {"resourceNames: other name", Ask("alice", "get", "", "secrets", "shop", "api"), false},
      {"clusterrole via rolebinding: in ns", Ask("bob", "create", G, "federatedworkloads", "shop"),
       true},
      {"clusterrole via rolebinding: not elsewhere",
       Ask("bob", "create", G, "federatedworkloads", "payments"), false},
      {"*/status", Ask("ctl", "update", G, "memberclusters", "", "eu", "status"), true},
      {"*/status is not the main resource", Ask("ctl", "update", G, "memberclusters", "", "eu"),
       false},
      {"dangling binding grants nothing", Ask("carol", "get", G, "federatedworkloads", "shop"),
       false},
      {"service account",
       Ask("system:serviceaccount:shop:deployer", "create", G, "federatedworkloads", "shop"), true},
      {"non-resource prefix", url, true},
      {"system:masters", masters, true},
      {"nobody", Ask("eve", "get", G, "federatedworkloads", "shop"), false},
  };
  for (const Case& c : cases) EXPECT_EQ(policy->Allows(c.attrs), c.allowed) << c.what;
  EXPECT_EQ(policy->binding_count(), 6u);  // the dangling one is not counted
}

TEST(RbacPolicyTest, AggregationByLabel) {
  json view = Role("", "view", json::array());
  view["aggregationRule"] = {
      {"clusterRoleSelectors", json::array({{{"matchLabels", {{"agg-view", "true"}}}}})}};
  json part = Role("", "fw-view",
                   json::array({{{"verbs", {"get"}},
                                 {"apiGroups", {"federation.meridian.io"}},
                                 {"resources", {"federatedworkloads"}}}}));
  part["metadata"]["labels"] = {{"agg-view", "true"}};
  json other =
      Role("", "secrets",
           json::array({{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"secrets"}}}}));
  auto policy =
      RbacPolicy::Build({}, {view, part, other},
                        {Bind("shop", "v", "ClusterRole", "view", json::array({User("v")}))}, {});
  EXPECT_TRUE(
      policy->Allows(Ask("v", "get", "federation.meridian.io", "federatedworkloads", "shop", "w")));
  EXPECT_FALSE(policy->Allows(Ask("v", "get", "", "secrets", "shop", "s")));
}

TEST(RbacPolicyTest, Covers) {
  std::vector<PolicyRule> owner = {
      {{"get", "list"}, {""}, {"secrets"}, {}, {}},
      {{"*"}, {"federation.meridian.io"}, {"federatedworkloads"}, {}, {}}};
  std::vector<PolicyRule> uncovered;
  EXPECT_TRUE(Covers(owner, {{{"get"}, {""}, {"secrets"}, {"db"}, {}}}, nullptr));
  EXPECT_TRUE(Covers(
      owner, {{{"create", "delete"}, {"federation.meridian.io"}, {"federatedworkloads"}, {}, {}}},
      nullptr));
  // A requested "*" is covered only by an owner "*".
  EXPECT_FALSE(Covers(owner, {{{"*"}, {""}, {"secrets"}, {}, {}}}, &uncovered));
  ASSERT_EQ(uncovered.size(), 1u);
  EXPECT_EQ(DescribeRules(uncovered), "{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"*\"]}");
  // Owner rules limited to names do not cover the whole resource.
  EXPECT_FALSE(Covers({{{"get"}, {""}, {"secrets"}, {"db"}, {}}},
                      {{{"get"}, {""}, {"secrets"}, {}, {}}}, nullptr));
}

TEST(RbacValidationTest, FieldErrorsNameTheField) {
  struct Case {
    const char* what;
    std::string kind;
    json object;
    std::string path;  // "" = valid
  };
  std::vector<Case> cases = {
      {"valid role", "Role",
       Role("shop", "r",
            json::array({{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"pods"}}}})),
       ""},
      {"unknown verb", "Role",
       Role("shop", "r",
            json::array(
                {{{"verbs", {"get", "raed"}}, {"apiGroups", {""}}, {"resources", {"pods"}}}})),
       "rules[0].verbs[1]"},
      {"no verbs", "ClusterRole",
       Role("", "r", json::array({{{"apiGroups", {""}}, {"resources", {"pods"}}}})),
       "rules[0].verbs"},
      {"no apiGroups", "ClusterRole",
       Role("", "r", json::array({{{"verbs", {"get"}}, {"resources", {"pods"}}}})),
       "rules[0].apiGroups"},
      {"typo in a rule key", "ClusterRole",
       Role("", "r",
            json::array({{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resource", {"pods"}}}})),
       "rules[0].resource"},
      {"urls in a Role", "Role",
       Role("shop", "r", json::array({{{"verbs", {"get"}}, {"nonResourceURLs", {"/x"}}}})),
       "rules[0].nonResourceURLs"},
      {"valid binding", "RoleBinding",
       Bind("shop", "b", "ClusterRole", "edit", json::array({User("u")})), ""},
      {"roleRef kind", "ClusterRoleBinding",
       Bind("", "b", "Role", "edit", json::array({User("u")})), "roleRef.kind"},
      {"roleRef group", "RoleBinding",
       [] {
         json b = Bind("shop", "b", "Role", "x", json::array());
         b["roleRef"]["apiGroup"] = "rbac";
         return b;
       }(),
       "roleRef.apiGroup"},
      {"roleRef name", "RoleBinding", Bind("shop", "b", "Role", "", json::array()), "roleRef.name"},
      {"no roleRef", "RoleBinding",
       [] {
         json b = Bind("shop", "b", "Role", "x", json::array());
         b.erase("roleRef");
         return b;
       }(),
       "roleRef"},
      {"subject kind", "RoleBinding",
       Bind("shop", "b", "Role", "x", json::array({{{"kind", "Usr"}, {"name", "u"}}})),
       "subjects[0].kind"},
      {"SA namespace in a CRB", "ClusterRoleBinding",
       Bind("", "b", "ClusterRole", "x",
            json::array({{{"kind", "ServiceAccount"}, {"name", "d"}}})),
       "subjects[0].namespace"},
  };
  for (const Case& c : cases) {
    FieldErrors errors = ValidateRbacObject(c.kind, c.object, nullptr);
    if (c.path.empty()) {
      EXPECT_TRUE(errors.empty()) << c.what << ": " << (errors.empty() ? "" : errors[0].ToString());
    } else {
      ASSERT_FALSE(errors.empty()) << c.what;
      EXPECT_EQ(errors[0].path, c.path) << c.what << ": " << errors[0].ToString();
    }
  }
  json old = Bind("shop", "b", "ClusterRole", "view", json::array());
  FieldErrors changed = ValidateRbacObject(
      "RoleBinding", Bind("shop", "b", "ClusterRole", "edit", json::array()), &old);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].ToString(), "roleRef: Invalid value: cannot change roleRef");
}

TEST(RbacAttributesTest, FromRequests) {
  struct Case {
    std::string method, path, watch;
    std::string verb, group, resource, sub, ns, name;
    bool resource_request;
  };
  const std::string G = "federation.meridian.io";
  std::vector<Case> cases = {
      {"GET", "/apis/" + G + "/v1alpha1/namespaces/shop/federatedworkloads", "", "list", G,
       "federatedworkloads", "", "shop", "", true},
      {"GET", "/apis/" + G + "/v1alpha1/namespaces/shop/federatedworkloads", "true", "watch", G,
       "federatedworkloads", "", "shop", "", true},
      {"GET", "/apis/" + G + "/v1alpha1/watch/federatedworkloads", "", "watch", G,
       "federatedworkloads", "", "", "", true},
      {"GET", "/apis/" + G + "/v1alpha1/namespaces/shop/federatedworkloads/web", "", "get", G,
       "federatedworkloads", "", "shop", "web", true},
      {"PUT", "/apis/" + G + "/v1alpha1/namespaces/shop/federatedworkloads/web/status", "",
       "update", G, "federatedworkloads", "status", "shop", "web", true},
      {"POST", "/apis/" + G + "/v1alpha1/namespaces/shop/federatedworkloads", "", "create", G,
       "federatedworkloads", "", "shop", "", true},
      {"PATCH", "/apis/" + G + "/v1alpha1/memberclusters/eu", "", "patch", G, "memberclusters", "",
       "", "eu", true},
      {"DELETE", "/api/v1/namespaces/shop/secrets", "", "deletecollection", "", "secrets", "",
       "shop", "", true},
      {"DELETE", "/api/v1/namespaces/shop", "", "delete", "", "namespaces", "", "shop", "shop",
       true},
      {"PUT", "/api/v1/namespaces/shop/finalize", "", "update", "", "namespaces", "finalize",
       "shop", "shop", true},
      {"GET", "/apis/" + G + "/v1alpha1", "", "get", "", "", "", "", "", false},
      {"HEAD", "/healthz", "", "get", "", "", "", "", "", false},
  };
  for (const Case& c : cases) {
    rest::RestRequest r;
    r.method = c.method;
    r.path = c.path;
    if (!c.watch.empty()) r.query["watch"] = c.watch;
    Attributes a = AttributesFor(r);
    EXPECT_EQ(a.verb, c.verb) << c.method << " " << c.path;
    EXPECT_EQ(a.resource_request, c.resource_request) << c.path;
    EXPECT_EQ(a.api_group, c.group) << c.path;
    EXPECT_EQ(a.resource, c.resource) << c.path;
    EXPECT_EQ(a.subresource, c.sub) << c.path;
    EXPECT_EQ(a.ns, c.ns) << c.path;
    EXPECT_EQ(a.name, c.name) << c.path;
  }
}

TEST(RbacAttributesTest, ForbiddenMessageIsKubernetes) {
  EXPECT_EQ(
      ForbiddenMessage(Ask("x", "create", "federation.meridian.io", "federatedworkloads", "shop")),
      "federatedworkloads.federation.meridian.io is forbidden: User \"x\" cannot create "
      "resource \"federatedworkloads\" in API group \"federation.meridian.io\" in the "
      "namespace \"shop\"");
  EXPECT_EQ(ForbiddenMessage(Ask("x", "get", "", "secrets", "meridian-system", "eu-1")),
            "secrets \"eu-1\" is forbidden: User \"x\" cannot get resource \"secrets\" in API "
            "group \"\" in the namespace \"meridian-system\"");
  EXPECT_EQ(ForbiddenMessage(
                Ask("x", "update", "federation.meridian.io", "memberclusters", "", "eu", "status")),
            "memberclusters.federation.meridian.io \"eu\" is forbidden: User \"x\" cannot update "
            "resource \"memberclusters/status\" in API group \"federation.meridian.io\" at the "
            "cluster scope");
  Attributes url;
  url.user = "x";
  url.verb = "get";
  url.resource_request = false;
  url.path = "/apis";
  EXPECT_EQ(ForbiddenMessage(url), "forbidden: User \"x\" cannot get path \"/apis\"");
}

// The Authorizer inside a real FederationApiServer (SQLite in a temp dir), via its handler.
class RbacServerTest : public RbacServerFixture {
 protected:
  void SetUp() override {
    StartServer("meridian-rbac",
                "admin-token,admin,1,system:masters\nalice-token,alice,2\nbob-token,bob,3\n");
  }
};

const char kRbacPath[] = "/apis/rbac.authorization.k8s.io/v1";

TEST_F(RbacServerTest, BootstrapRolesExistAndAdminsMayDoEverything) {
  for (const char* name : {"cluster-admin", "admin", "edit", "view", "meridian:residency-admin",
                           "meridian:drill-operator", "meridian:fleet-admin"}) {
    EXPECT_EQ(Call("admin-token", "GET", std::string(kRbacPath) + "/clusterroles/" + name).code,
              200)
        << name;
  }
  EXPECT_EQ(Call("admin-token", "DELETE", "/api/v1/namespaces/meridian-system/secrets").code, 200);
  rest::RestResponse denied =
      Call("alice-token", "GET", "/api/v1/namespaces/meridian-system/secrets");
  EXPECT_EQ(denied.code, 403);
  EXPECT_EQ(json::parse(denied.Body())["message"],
            "secrets is forbidden: User \"alice\" cannot list resource \"secrets\" in API group "
            "\"\" in the namespace \"meridian-system\"");
  // Discovery is open to every authenticated user; anonymous requests are refused by
  // authentication before authorization.
  EXPECT_EQ(Call("alice-token", "GET", "/apis").code, 200);
  EXPECT_EQ(Call("nobody", "GET", "/apis").code, 401);
  // system:basic-user, as kube's: any user may ask who it is (kubectl auth whoami).
  rest::RestResponse whoami =
      Call("alice-token", "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", json::object());
  EXPECT_EQ(whoami.code, 201) << whoami.Body();
}

TEST_F(RbacServerTest, EscalationIsRefusedAndBindingsTakeEffect) {
  ASSERT_EQ(
      Call("admin-token", "POST", "/api/v1/namespaces", {{"metadata", {{"name", "shop"}}}}).code,
      201);
  // alice administers shop.
  ASSERT_EQ(Call("admin-token", "POST", std::string(kRbacPath) + "/namespaces/shop/rolebindings",
                 Bind("shop", "alice-admin", "ClusterRole", "admin", json::array({User("alice")})))
                .code,
            201);
  AwaitAllowed("alice-token", {{"verb", "create"},
                               {"resource", "rolebindings"},
                               {"group", kRbacGroup},
                               {"namespace", "shop"}});

  // She may grant edit in shop (she holds it), not cluster-admin, not cluster-wide.
  EXPECT_EQ(Call("alice-token", "POST", std::string(kRbacPath) + "/namespaces/shop/rolebindings",
                 Bind("shop", "bob-edit", "ClusterRole", "edit", json::array({User("bob")})))
                .code,
            201);
  rest::RestResponse up = Call(
      "alice-token", "POST", std::string(kRbacPath) + "/namespaces/shop/rolebindings",
      Bind("shop", "alice-root", "ClusterRole", "cluster-admin", json::array({User("alice")})));
  EXPECT_EQ(up.code, 403) << up.Body();
  EXPECT_NE(json::parse(up.Body())["message"].get<std::string>().find(
                "attempting to grant RBAC permissions not currently held"),
            std::string::npos);
  EXPECT_EQ(Call("alice-token", "POST", std::string(kRbacPath) + "/clusterrolebindings",
                 Bind("", "x", "ClusterRole", "edit", json::array({User("alice")})))
                .code,
            403);
  // A Role with what she holds is fine; one with residencypolicies is an escalation.
  EXPECT_EQ(Call("alice-token", "POST", std::string(kRbacPath) + "/namespaces/shop/roles",
                 Role("shop", "fw",
                      json::array({{{"verbs", {"get"}},
                                    {"apiGroups", {"federation.meridian.io"}},
                                    {"resources", {"federatedworkloads"}}}})))
                .code,
            201);
  EXPECT_EQ(Call("alice-token", "POST", std::string(kRbacPath) + "/namespaces/shop/roles",
                 Role("shop", "rp",
                      json::array({{{"verbs", {"create"}},
                                    {"apiGroups", {"federation.meridian.io"}},
                                    {"resources", {"residencypolicies"}}}})))
                .code,
            403);
  // A malformed object is 422 naming the field, for admins too.
  rest::RestResponse bad = Call(
      "admin-token", "POST", std::string(kRbacPath) + "/clusterroles",
      Role("", "typo",
           json::array({{{"verbs", {"gett"}}, {"apiGroups", {""}}, {"resources", {"pods"}}}})));
  EXPECT_EQ(bad.code, 422);
  EXPECT_NE(bad.Body().find("rules[0].verbs[0]"), std::string::npos) << bad.Body();

  // bob, bound to edit by alice, can create workloads in shop once the binding is seen.
  AwaitAllowed("bob-token", {{"verb", "create"},
                             {"resource", "federatedworkloads"},
                             {"group", "federation.meridian.io"},
                             {"namespace", "shop"}});
  AwaitAllowed("bob-token",
               {{"verb", "create"},
                {"resource", "federatedworkloads"},
                {"group", "federation.meridian.io"},
                {"namespace", "payments"}},
               false);
  AwaitAllowed(
      "bob-token",
      {{"verb", "create"}, {"resource", "residencypolicies"}, {"group", "federation.meridian.io"}},
      false);
  // Zero-change adoption: edit applies plain manifests and PlacementPolicies in shop, but
  // neither a cluster-wide policy nor the aggregate status (the binding controller's).
  for (const auto& [group, resource, allowed] :
       std::vector<std::tuple<std::string, std::string, bool>>{
           {"apps", "deployments", true},
           {"", "configmaps", true},
           {"autoscaling", "horizontalpodautoscalers", true},
           {"federation.meridian.io", "placementpolicies", true},
           {"federation.meridian.io", "clusterplacementpolicies", false},
           {"apps", "deployments/status", false}}) {
    const size_t slash = resource.find('/');
    json attributes = {{"verb", "create"},
                       {"resource", resource.substr(0, slash)},
                       {"group", group},
                       {"namespace", "shop"}};
    if (slash != std::string::npos) attributes["subresource"] = resource.substr(slash + 1);
    AwaitAllowed("bob-token", attributes, allowed);
  }
  // Deleting the binding revokes it.
  EXPECT_EQ(Call("admin-token", "DELETE",
                 std::string(kRbacPath) + "/namespaces/shop/rolebindings/bob-edit")
                .code,
            200);
  AwaitAllowed("bob-token",
               {{"verb", "create"},
                {"resource", "federatedworkloads"},
                {"group", "federation.meridian.io"},
                {"namespace", "shop"}},
               false);
}

// Kubernetes' reconciliation of the bootstrap objects, case by case (pure).
TEST(BootstrapReconcileTest, AddsWhatIsMissingKeepsWhatWasAddedAndRespectsAutoupdateFalse) {
  using Action = BootstrapReconciliation::Action;
  const json get_pods = {{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"pods"}}};
  const json list_pods = {{"verbs", {"list"}}, {"apiGroups", {""}}, {"resources", {"pods"}}};
  const json all_pods = {{"verbs", {"*"}}, {"apiGroups", {""}}, {"resources", {"pods"}}};
  json expected_role = Role("", "r", json::array({get_pods, list_pods}));
  expected_role["metadata"]["labels"] = {{"kubernetes.io/bootstrapping", "rbac-defaults"}};
  expected_role["metadata"]["annotations"] = {{kAutoupdateAnnotation, "true"}};
  auto stored_role = [&](json rules, json annotations = {{kAutoupdateAnnotation, "true"}}) {
    json r = Role("", "r", std::move(rules));
    r["metadata"]["labels"] = {{"kubernetes.io/bootstrapping", "rbac-defaults"}, {"x", "y"}};
    r["metadata"]["annotations"] = std::move(annotations);
    r["metadata"]["resourceVersion"] = "7";
    return r;
  };
  json expected_binding = Bind("", "b", "ClusterRole", "r", json::array({User("u")}));
  expected_binding["metadata"]["annotations"] = {{kAutoupdateAnnotation, "true"}};
  auto stored_binding = [&](const std::string& role, json subjects) {
    json b = Bind("", "b", "ClusterRole", role, std::move(subjects));
    b["metadata"]["annotations"] = {{kAutoupdateAnnotation, "true"}};
    b["metadata"]["resourceVersion"] = "9";
    b["metadata"]["uid"] = "u-1";
    return b;
  };

  struct Case {
    std::string name, plural;
    json expected;
    std::optional<json> stored;
    Action action;
    json want;  // the object to write (kCreate / kUpdate / kRecreate)
  };
  json with_list = stored_role(json::array({get_pods}));
  with_list["rules"].push_back(list_pods);
  json rebound = stored_binding("r", json::array({User("other"), User("u")}));
  rebound["metadata"].erase("resourceVersion");
  rebound["metadata"].erase("uid");
  std::vector<Case> cases = {
      {"absent is created", "clusterroles", expected_role, std::nullopt, Action::kCreate,
       expected_role},
      {"as expected is left alone", "clusterroles", expected_role,
       stored_role(json::array({get_pods, list_pods})), Action::kNone, nullptr},
      {"a wider rule covers", "clusterroles", expected_role, stored_role(json::array({all_pods})),
       Action::kNone, nullptr},
      {"a missing rule is appended, the operator's label stays", "clusterroles", expected_role,
       stored_role(json::array({get_pods})), Action::kUpdate, with_list},
      {"autoupdate false is not touched", "clusterroles", expected_role,
       stored_role(json::array({get_pods}), {{kAutoupdateAnnotation, "false"}}), Action::kProtected,
       nullptr},
      {"a missing subject is added", "clusterrolebindings", expected_binding,
       stored_binding("r", json::array({User("other")})), Action::kUpdate,
       stored_binding("r", json::array({User("other"), User("u")}))},
      {"another roleRef is recreated", "clusterrolebindings", expected_binding,
       stored_binding("cluster-admin", json::array({User("other")})), Action::kRecreate, rebound},
  };
  for (const Case& c : cases) {
    BootstrapReconciliation r =
        ReconcileBootstrapObject(c.plural, c.expected, c.stored ? &*c.stored : nullptr);
    EXPECT_EQ(r.action, c.action) << c.name << ": " << r.changes;
    if (c.action == Action::kCreate || c.action == Action::kUpdate ||
        c.action == Action::kRecreate) {
      EXPECT_EQ(r.object, c.want) << c.name << "\n" << r.object.dump();
    }
    if (c.action != Action::kNone) EXPECT_FALSE(r.changes.empty()) << c.name;
  }
  // What a protected role would have got is said (for the log).
  EXPECT_NE(ReconcileBootstrapObject("clusterroles", expected_role, &cases[4].stored.value())
                .changes.find("\"list\""),
            std::string::npos);
}

// The controller manager's built-in role: what its controllers use, not more.
TEST(BootstrapRolesTest, ControllerManagerRoleGrantsWhatItsControllersUseAndNothingElse) {
  std::vector<json> roles, bindings;
  for (auto& [plural, object] : BootstrapObjects()) {
    (plural == "clusterroles" ? roles : bindings).push_back(object);
  }
  auto policy = RbacPolicy::Build({}, roles, {}, bindings);
  auto may = [&](const std::string& verb, const std::string& group, const std::string& resource,
                 const std::string& ns = "", const std::string& name = "",
                 const std::string& subresource = "") {
    Attributes a = Ask(kControllerManagerUser, verb, group, resource, ns, name, subresource);
    return policy->Allows(a);
  };
  const std::string m = "federation.meridian.io";
  EXPECT_TRUE(may("get", "coordination.k8s.io", "leases", "meridian-system",
                  "federation-controller-manager"));
  EXPECT_TRUE(may("update", "coordination.k8s.io", "leases", "meridian-system",
                  "federation-controller-manager"));
  EXPECT_TRUE(may("create", "coordination.k8s.io", "leases", "meridian-system"));
  EXPECT_TRUE(may("watch", m, "memberclusters"));
  EXPECT_TRUE(may("update", m, "memberclusters", "", "eu", "status"));
  EXPECT_TRUE(may("update", m, "federatedworkloads", "shop", "web", "status"));
  EXPECT_TRUE(may("delete", m, "dnsrecordsets", "shop", "web"));
  EXPECT_TRUE(may("create", "", "events", "shop"));
  EXPECT_TRUE(may("get", "", "secrets", "meridian-system", "eu-credentials"));
  EXPECT_TRUE(may("update", "apps", "deployments", "shop", "web", "status"));
  // Its registry follows the CRDs; custom objects only once an operator's ClusterRole
  // labelled aggregate-to-controller-manager grants them (nothing of a custom group here).
  EXPECT_TRUE(may("watch", "apiextensions.k8s.io", "customresourcedefinitions"));
  EXPECT_FALSE(may("update", "apiextensions.k8s.io", "customresourcedefinitions", "", "x"));
  EXPECT_FALSE(may("list", "example.com", "widgets", "shop"));
  // Not the manager's: another component's lease, creating a MemberCluster, RBAC,
  // residency decisions, patch and deletecollection, pods (not a kind it reads here).
  EXPECT_FALSE(may("update", "coordination.k8s.io", "leases", "meridian-system", "other"));
  EXPECT_FALSE(may("create", kRbacGroup, "clusterrolebindings"));
  EXPECT_FALSE(may("create", m, "residencypolicies"));
  EXPECT_FALSE(may("create", m, "memberclusters"));
  EXPECT_FALSE(may("delete", m, "memberclusters", "", "eu"));
  // Status only: the spec of a MemberCluster or ResidencyPolicy is the operator's.
  EXPECT_TRUE(may("update", m, "residencypolicies", "", "eu-only", "status"));
  EXPECT_FALSE(may("update", m, "memberclusters", "", "eu"));
  EXPECT_FALSE(may("update", m, "residencypolicies", "", "eu-only"));
  EXPECT_FALSE(may("patch", m, "federatedworkloads", "shop", "web"));
  EXPECT_FALSE(may("deletecollection", m, "federatedworkloads", "shop"));
  EXPECT_FALSE(may("delete", "", "secrets", "meridian-system", "eu-credentials"));
  EXPECT_FALSE(may("get", "", "pods", "shop", "x"));
  // Only that user: a group of the same name gets nothing.
  Attributes as_group = Ask("someone", "get", m, "memberclusters", "");
  as_group.groups = {kControllerManagerUser};
  EXPECT_FALSE(policy->Allows(as_group));

  // An operator's ClusterRole labelled aggregate-to-controller-manager: its rules are the
  // manager's (through meridian:controller-manager:custom-resources), and only its rules.
  roles.push_back({{"apiVersion", "rbac.authorization.k8s.io/v1"},
                   {"kind", "ClusterRole"},
                   {"metadata",
                    {{"name", "widgets-for-the-manager"},
                     {"labels", {{"federation.meridian.io/aggregate-to-controller-manager", "true"}}}}},
                   {"rules",
                    {{{"apiGroups", {"example.com"}},
                      {"resources", {"widgets"}},
                      {"verbs", {"get", "list", "watch", "update"}}}}}});
  policy = RbacPolicy::Build({}, roles, {}, bindings);
  EXPECT_TRUE(may("list", "example.com", "widgets", "shop"));
  EXPECT_TRUE(may("update", "example.com", "widgets", "shop", "w"));
  EXPECT_FALSE(may("delete", "example.com", "widgets", "shop", "w"));
  EXPECT_FALSE(may("list", "example.com", "gadgets", "shop"));
}

TEST_F(RbacServerTest, BootstrapSurvivesRestartWithoutOverwritingEdits) {
  json view = json::parse(
      Call("admin-token", "GET", std::string(kRbacPath) + "/clusterroles/meridian:drill-operator")
          .Body());
  view["metadata"]["labels"]["edited"] = "yes";
  // A rule dropped (the what-if confirmation) and one added: the first comes back.
  const json what_if = {{"verbs", {"create"}},
                        {"apiGroups", {"federation.meridian.io"}},
                        {"resources", {"whatifreviews"}}};
  const json extra = {{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"configmaps"}}};
  json& rules = view["rules"];
  rules.erase(std::remove(rules.begin(), rules.end(), what_if), rules.end());
  rules.push_back(extra);
  ASSERT_EQ(Call("admin-token", "PUT",
                 std::string(kRbacPath) + "/clusterroles/meridian:drill-operator", view)
                .code,
            200);
  // The controller manager's role, opted out of reconciliation and narrowed: stays narrowed.
  const std::string manager_path =
      std::string(kRbacPath) + "/clusterroles/" + kControllerManagerUser;
  json manager = json::parse(Call("admin-token", "GET", manager_path).Body());
  manager["metadata"]["annotations"][kAutoupdateAnnotation] = "false";
  manager["rules"] = json::array({extra});
  ASSERT_EQ(Call("admin-token", "PUT", manager_path, manager).code, 200);
  // A binding to another role (roleRef cannot be updated): recreated with the bootstrap one.
  const std::string binding_path =
      std::string(kRbacPath) + "/clusterrolebindings/" + kControllerManagerUser;
  ASSERT_EQ(Call("admin-token", "DELETE", binding_path).code, 200);
  ASSERT_EQ(
      Call("admin-token", "POST", std::string(kRbacPath) + "/clusterrolebindings",
           Bind("", kControllerManagerUser, "ClusterRole", "view", json::array({User("someone")})))
          .code,
      201);
  ASSERT_EQ(Call("admin-token", "DELETE", std::string(kRbacPath) + "/clusterroles/view").code, 200);
  RestartServer();
  ASSERT_FALSE(HasFatalFailure());
  json again = json::parse(
      Call("admin-token", "GET", std::string(kRbacPath) + "/clusterroles/meridian:drill-operator")
          .Body());
  EXPECT_EQ(again["metadata"]["labels"]["edited"], "yes");
  EXPECT_NE(std::find(again["rules"].begin(), again["rules"].end(), what_if), again["rules"].end())
      << again.dump();
  EXPECT_NE(std::find(again["rules"].begin(), again["rules"].end(), extra), again["rules"].end())
      << again.dump();
  EXPECT_EQ(json::parse(Call("admin-token", "GET", manager_path).Body())["rules"],
            json::array({extra}));
  json binding = json::parse(Call("admin-token", "GET", binding_path).Body());
  EXPECT_EQ(binding["roleRef"]["name"], kControllerManagerUser) << binding.dump();
  EXPECT_EQ(binding["subjects"].size(), 2u) << binding.dump();  // someone's kept, the user added
  EXPECT_EQ(Call("admin-token", "GET", std::string(kRbacPath) + "/clusterroles/view").code, 200);
}

TEST(RbacModeTest, UnknownModeIsAnError) {
  auto mode = ParseAuthorizationMode("Webhook");
  ASSERT_FALSE(mode.ok());
  EXPECT_EQ(mode.status().message(),
            "--authorization-mode: \"Webhook\" is not supported; use AlwaysAllow or RBAC");
}

}  // namespace
}  // namespace meridian::apiserver::rbac
