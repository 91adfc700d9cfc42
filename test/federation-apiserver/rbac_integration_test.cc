// RBAC end to end: the real federation-apiserver binary with --token-auth-file and
// --authorization-mode RBAC, driven over HTTP by an admin (system:masters), a `view` user and
// an `edit` user bound in namespace shop. (kubectl does not send bearer tokens over plain
// HTTP, so `kubectl auth can-i` is exercised once TLS serving exists; the
// SelfSubjectAccessReview it posts is what AwaitAllowed uses.)
// clang-format off: gtest must come before cpprest (cpprest defines a U() macro).
#include <gtest/gtest.h>
#include <cpprest/http_client.h>
// clang-format on

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace http = web::http;

constexpr char kRbac[] = "/apis/rbac.authorization.k8s.io/v1";
constexpr char kFed[] = "/apis/federation.meridian.io/v1alpha1";

struct Outcome {
  int code = 0;
  json body;
};

class RbacIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(server_.dir() / "tokens.csv") << "admin-token,admin,1,system:masters\n"
                                                   "view-token,viewer,2,readers\n"
                                                   "edit-token,editor,3\n";
    ASSERT_EQ(server_.Start({"--token-auth-file", (server_.dir() / "tokens.csv").string(),
                             "--authorization-mode", "RBAC", "--audit-log-path",
                             (server_.dir() / "audit.log").string()}),
              "");
    client_ = std::make_unique<http::client::http_client>(server_.url());
  }

  Outcome Send(const std::string& token, const http::method& method, const std::string& path,
               const json& body = nullptr) {
    http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Authorization", "Bearer " + token);
    if (!body.is_null()) req.set_body(body.dump(), "application/json");
    http::http_response resp = client_->request(req).get();
    ++requests_;
    return {resp.status_code(), json::parse(resp.extract_utf8string(true).get(), nullptr, false)};
  }

  // Waits (bounded) for the authorizer to see the bindings just written: RBAC takes effect
  // when its watch delivers them, as in Kubernetes.
  void AwaitAllowed(const std::string& token, const json& attrs) {
    for (int i = 0; i < 1000; ++i) {
      Outcome r =
          Send(token, http::methods::POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
               {{"apiVersion", "authorization.k8s.io/v1"},
                {"kind", "SelfSubjectAccessReview"},
                {"spec", {{"resourceAttributes", attrs}}}});
      ASSERT_EQ(r.code, 201) << r.body.dump();
      if (r.body["status"]["allowed"] == true) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "never allowed: " << attrs.dump();
  }

  static json Workload(const std::string& ns, const std::string& name) {
    return {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "FederatedWorkload"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec",
             {{"template",
               {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", 2}}}}}}}};
  }
  static json Binding(const std::string& ns, const std::string& name, const std::string& role,
                      const json& subject) {
    json b = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
        {"metadata", {{"name", name}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
        {"subjects", json::array({subject})}};
    if (!ns.empty()) b["metadata"]["namespace"] = ns;
    return b;
  }

  int requests_ = 0;  // answered requests: each must leave one audit event
  testing::ApiserverProcess server_;
  std::unique_ptr<http::client::http_client> client_;
};

TEST_F(RbacIntegrationTest, ViewEditAndEscalation) {
  for (const char* ns : {"shop", "payments"}) {
    ASSERT_EQ(Send("admin-token", http::methods::POST, "/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
                  .code,
              201);
  }
  ASSERT_EQ(
      Send("admin-token", http::methods::POST, std::string(kRbac) + "/namespaces/shop/rolebindings",
           Binding("shop", "readers-view", "view", {{"kind", "Group"}, {"name", "readers"}}))
          .code,
      201);
  ASSERT_EQ(
      Send("admin-token", http::methods::POST, std::string(kRbac) + "/namespaces/shop/rolebindings",
           Binding("shop", "editor-edit", "edit", {{"kind", "User"}, {"name", "editor"}}))
          .code,
      201);
  AwaitAllowed("view-token", {{"verb", "list"},
                              {"group", "federation.meridian.io"},
                              {"resource", "federatedworkloads"},
                              {"namespace", "shop"}});
  AwaitAllowed("edit-token", {{"verb", "create"},
                              {"group", "federation.meridian.io"},
                              {"resource", "federatedworkloads"},
                              {"namespace", "shop"}});

  const std::string shop_fw = std::string(kFed) + "/namespaces/shop/federatedworkloads";
  // view: list and watch yes, create no, with Kubernetes' message.
  EXPECT_EQ(Send("view-token", http::methods::GET, shop_fw).code, 200);
  EXPECT_EQ(Send("view-token", http::methods::GET, shop_fw + "?watch=true&timeoutSeconds=1").code,
            200);
  Outcome denied = Send("view-token", http::methods::POST, shop_fw, Workload("shop", "web"));
  EXPECT_EQ(denied.code, 403);
  EXPECT_EQ(denied.body["reason"], "Forbidden");
  EXPECT_EQ(denied.body["message"],
            "federatedworkloads.federation.meridian.io is forbidden: User \"viewer\" cannot create "
            "resource \"federatedworkloads\" in API group \"federation.meridian.io\" in the "
            "namespace \"shop\"");
  EXPECT_EQ(Send("view-token", http::methods::GET,
                 std::string(kFed) + "/namespaces/payments/federatedworkloads")
                .code,
            403);

  // edit in shop: create there, not in payments; no ResidencyPolicies; no meridian-system
  // Secrets; cannot update status (the controllers' job); cannot make itself cluster-admin.
  EXPECT_EQ(Send("edit-token", http::methods::POST, shop_fw, Workload("shop", "web")).code, 201);
  EXPECT_EQ(Send("edit-token", http::methods::POST,
                 std::string(kFed) + "/namespaces/payments/federatedworkloads",
                 Workload("payments", "web"))
                .code,
            403);
  Outcome rp = Send("edit-token", http::methods::POST, std::string(kFed) + "/residencypolicies",
                    {{"apiVersion", "federation.meridian.io/v1alpha1"},
                     {"kind", "ResidencyPolicy"},
                     {"metadata", {{"name", "loose"}}},
                     {"spec", {{"jurisdictions", {"us"}}}}});
  EXPECT_EQ(rp.code, 403);
  EXPECT_EQ(rp.body["message"],
            "residencypolicies.federation.meridian.io is forbidden: User \"editor\" cannot create "
            "resource \"residencypolicies\" in API group \"federation.meridian.io\" at the cluster "
            "scope");
  Outcome secrets =
      Send("edit-token", http::methods::GET, "/api/v1/namespaces/meridian-system/secrets/eu-1");
  EXPECT_EQ(secrets.code, 403);
  EXPECT_EQ(secrets.body["message"],
            "secrets \"eu-1\" is forbidden: User \"editor\" cannot get resource \"secrets\" in API "
            "group \"\" in the namespace \"meridian-system\"");
  EXPECT_EQ(
      Send("edit-token", http::methods::PUT, shop_fw + "/web/status", Workload("shop", "web")).code,
      403);
  json self = {{"kind", "User"}, {"name", "editor"}};
  EXPECT_EQ(Send("edit-token", http::methods::POST, std::string(kRbac) + "/clusterrolebindings",
                 Binding("", "editor-root", "cluster-admin", self))
                .code,
            403);
  EXPECT_EQ(
      Send("edit-token", http::methods::POST, std::string(kRbac) + "/namespaces/shop/rolebindings",
           Binding("shop", "editor-root", "cluster-admin", self))
          .code,
      403);
  // The admin can: an RBAC object with an unknown verb is 422 naming the field.
  Outcome bad = Send(
      "admin-token", http::methods::POST, std::string(kRbac) + "/clusterroles",
      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
       {"kind", "ClusterRole"},
       {"metadata", {{"name", "typo"}}},
       {"rules",
        json::array({{{"verbs", {"lsit"}}, {"apiGroups", {""}}, {"resources", {"secrets"}}}})}});
  EXPECT_EQ(bad.code, 422);
  EXPECT_EQ(bad.body["details"]["causes"][0]["field"], "rules[0].verbs[0]") << bad.body.dump();

  // A member credential, created and deleted by the admin.
  ASSERT_EQ(Send("admin-token", http::methods::POST, "/api/v1/namespaces/meridian-system/secrets",
                 {{"apiVersion", "v1"},
                  {"kind", "Secret"},
                  {"metadata", {{"name", "eu-1"}}},
                  {"stringData", {{"token", "m3mb3r-cr3d"}}}})
                .code,
            201);
  ASSERT_EQ(
      Send("admin-token", http::methods::DEL, "/api/v1/namespaces/meridian-system/secrets/eu-1")
          .code,
      200);

  // The audit log: one line per request (the watch: RequestReceived and ResponseComplete),
  // the right user, verb, object and code, and nothing of the Secret's data.
  std::vector<json> events;
  std::string raw;
  for (int i = 0; i < 500; ++i) {  // the watch's last line is written as its stream ends
    std::ifstream in(server_.dir() / "audit.log");
    std::stringstream ss;
    ss << in.rdbuf();
    raw = ss.str();
    events.clear();
    std::istringstream lines(raw);
    for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
    if (static_cast<int>(events.size()) >= requests_ + 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(static_cast<int>(events.size()), requests_ + 1);
  int denied_create = 0, created = 0, completes = 0;
  for (const json& e : events) {
    if (e["stage"] == "ResponseComplete") ++completes;
    if (e["user"]["username"] == "viewer" && e["verb"] == "create" &&
        e["objectRef"] == json({{"resource", "federatedworkloads"},
                                {"apiGroup", "federation.meridian.io"},
                                {"namespace", "shop"}})) {
      EXPECT_EQ(e["responseStatus"]["code"], 403);
      EXPECT_EQ(e["user"]["groups"], json({"readers", "system:authenticated"}));
      ++denied_create;
    }
    if (e["user"]["username"] == "editor" && e["verb"] == "create" &&
        e["objectRef"].value("namespace", "") == "shop" && e["responseStatus"]["code"] == 201) {
      ++created;
    }
  }
  EXPECT_EQ(completes, requests_);
  EXPECT_EQ(denied_create, 1);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(raw.find("m3mb3r-cr3d"), std::string::npos);
  EXPECT_EQ(raw.find("bTNtYjNyLWNyM2Q="), std::string::npos);  // its base64
}

}  // namespace
}  // namespace meridian::apiserver
