// CustomResourceDefinitions end to end: the real federation-apiserver binary (RBAC on, static
// tokens) driven over HTTP as kubectl would: register a CRD, wait for Established, discovery,
// OpenAPI v3 and the Table of its kind, create/get/list with a label selector/watch/merge
// patch/status/delete of custom objects, schema validation (422), Strict field validation
// (400) and pruning, RBAC (edit does not cover custom resources until a ClusterRole labelled
// aggregate-to-edit adds them), a restart serving the CRD from its first request, and
// deleting the CRD deleting its objects. (kubectl_test.cc runs kubectl itself, when installed,
// on the same path.)
// gtest must come before cpprest (cpprest defines a U() macro).
// clang-format off
#include <gtest/gtest.h>
#include <cpprest/http_client.h>
// clang-format on

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace http = web::http;

constexpr char kCrds[] = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
constexpr char kWidgets[] = "/apis/example.com/v1/namespaces/default/widgets";

struct Outcome {
  int code = 0;
  json body;
  std::string text;
};

json Crd() {
  return json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
      "group": "example.com", "scope": "Namespaced",
      "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
      "versions": [{
        "name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [
          {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
          {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
        "schema": {"openAPIV3Schema": {
          "type": "object",
          "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
              "size": {"type": "string", "enum": ["small", "large"]},
              "replicas": {"type": "integer", "minimum": 1}}},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}
      }]
    }
  })");
}

json Widget(const std::string& name, const json& spec, const json& labels = json::object()) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", spec}};
}

class CustomResourcesIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(server_.dir() / "tokens.csv") << "admin-token,admin,1,system:masters\n"
                                                   "edit-token,editor,2\n";
    ASSERT_EQ(Start(), "");
  }

  std::string Start() {
    std::string error = server_.Start({"--token-auth-file", (server_.dir() / "tokens.csv").string(),
                                       "--authorization-mode", "RBAC"});
    client_ = std::make_unique<http::client::http_client>(server_.url());
    return error;
  }

  Outcome Send(const http::method& method, const std::string& path, const json& body = nullptr,
               const std::string& content_type = "application/json",
               const std::string& token = "admin-token", const std::string& accept = "") {
    http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Authorization", "Bearer " + token);
    if (!accept.empty()) req.headers().add("Accept", accept);
    if (!body.is_null()) req.set_body(body.dump(), content_type);
    http::http_response resp = client_->request(req).get();
    Outcome o;
    o.code = resp.status_code();
    o.text = resp.extract_utf8string(true).get();
    o.body = json::parse(o.text, nullptr, false);
    return o;
  }

  // Waits (bounded) for `done`: the CRD's establishing and deletion happen on the server's
  // loop, after the write that asked for them is answered, as in Kubernetes.
  template <typename F>
  bool Eventually(F done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  bool Established() {
    Outcome crd = Send(http::methods::GET, std::string(kCrds) + "/widgets.example.com");
    const json& status = crd.body["status"];
    if (!status.is_object()) return false;  // not written yet
    for (const json& c : status.value("conditions", json::array())) {
      if (c["type"] == "Established" && c["status"] == "True") return true;
    }
    return false;
  }

  testing::ApiserverProcess server_;
  std::unique_ptr<http::client::http_client> client_;
};

TEST_F(CustomResourcesIntegrationTest, ServesCustomObjectsAcrossARestartAndCleansUp) {
  Outcome created = Send(http::methods::POST, kCrds, Crd());
  ASSERT_EQ(created.code, 201) << created.text;
  ASSERT_TRUE(Eventually([&] { return Established(); }));
  Outcome crd = Send(http::methods::GET, std::string(kCrds) + "/widgets.example.com");
  EXPECT_EQ(crd.body["status"]["storedVersions"], json::array({"v1"}));

  // Discovery, as kubectl's RESTMapper reads it.
  Outcome groups = Send(http::methods::GET, "/apis");
  EXPECT_NE(groups.text.find("\"example.com\""), std::string::npos);
  Outcome group = Send(http::methods::GET, "/apis/example.com");
  ASSERT_EQ(group.code, 200);
  EXPECT_EQ(group.body["preferredVersion"]["groupVersion"], "example.com/v1");
  Outcome resources = Send(http::methods::GET, "/apis/example.com/v1");
  ASSERT_EQ(resources.code, 200) << resources.text;
  std::set<std::string> names;
  for (const json& r : resources.body["resources"]) names.insert(r["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"widgets", "widgets/status"}));
  EXPECT_EQ(resources.body["resources"][0]["shortNames"], json::array({"wd"}));

  // OpenAPI v3: the group-version is listed, with the fieldValidation kubectl looks for.
  Outcome index = Send(http::methods::GET, "/openapi/v3");
  ASSERT_TRUE(index.body["paths"].contains("apis/example.com/v1")) << index.text;
  Outcome doc = Send(http::methods::GET, "/openapi/v3/apis/example.com/v1");
  ASSERT_EQ(doc.code, 200);
  EXPECT_NE(doc.text.find("fieldValidation"), std::string::npos);
  EXPECT_TRUE(doc.body["components"]["schemas"].contains("com.example.v1.Widget")) << doc.text;

  // Writes: created, pruned, validated, refused under Strict.
  ASSERT_EQ(Send(http::methods::POST, kWidgets,
                 Widget("small-one", {{"size", "small"}, {"replicas", 1}}, {{"tier", "a"}}))
                .code,
            201);
  Outcome pruned =
      Send(http::methods::POST, kWidgets,
           Widget("large-one", {{"size", "large"}, {"colour", "red"}}, {{"tier", "b"}}));
  ASSERT_EQ(pruned.code, 201) << pruned.text;
  EXPECT_FALSE(pruned.body["spec"].contains("colour"));
  Outcome strict = Send(http::methods::POST, std::string(kWidgets) + "?fieldValidation=Strict",
                        Widget("strict-one", {{"size", "large"}, {"colour", "red"}}));
  EXPECT_EQ(strict.code, 400);
  EXPECT_NE(strict.text.find("unknown field \\\"spec.colour\\\""), std::string::npos)
      << strict.text;
  Outcome invalid =
      Send(http::methods::POST, kWidgets, Widget("bad", {{"size", "medium"}, {"replicas", "two"}}));
  EXPECT_EQ(invalid.code, 422);
  EXPECT_NE(invalid.text.find("spec.replicas: Invalid value: \\\"string\\\": spec.replicas in body "
                              "must be of type integer"),
            std::string::npos)
      << invalid.text;
  EXPECT_NE(invalid.text.find("spec.size: Unsupported value: \\\"medium\\\""), std::string::npos);

  // Reads: get, list with a label selector, kubectl's Table.
  Outcome got = Send(http::methods::GET, std::string(kWidgets) + "/small-one");
  ASSERT_EQ(got.code, 200);
  EXPECT_EQ(got.body["spec"]["replicas"], 1);
  Outcome listed = Send(http::methods::GET, std::string(kWidgets) + "?labelSelector=tier%3Db");
  ASSERT_EQ(listed.code, 200);
  ASSERT_EQ(listed.body["items"].size(), 1u);
  EXPECT_EQ(listed.body["kind"], "WidgetList");
  EXPECT_EQ(listed.body["items"][0]["metadata"]["name"], "large-one");
  Outcome table = Send(http::methods::GET, kWidgets, nullptr, "", "admin-token",
                       "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(table.code, 200) << table.text;
  ASSERT_EQ(table.body["kind"], "Table");
  std::vector<std::string> columns;
  for (const json& c : table.body["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "Size", "Replicas"}));
  ASSERT_EQ(table.body["rows"].size(), 2u);

  // Merge patch (kubectl apply's for custom resources); strategic merge is refused as by kube.
  const std::string rv = got.body["metadata"]["resourceVersion"];
  Outcome patched = Send(http::methods::PATCH, std::string(kWidgets) + "/small-one",
                         {{"spec", {{"replicas", 3}}}}, "application/merge-patch+json");
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.body["spec"]["replicas"], 3);
  EXPECT_EQ(Send(http::methods::PATCH, std::string(kWidgets) + "/small-one",
                 {{"spec", {{"replicas", 4}}}}, "application/strategic-merge-patch+json")
                .code,
            415);
  Outcome bad_patch = Send(http::methods::PATCH, std::string(kWidgets) + "/small-one",
                           {{"spec", {{"replicas", 0}}}}, "application/merge-patch+json");
  EXPECT_EQ(bad_patch.code, 422) << bad_patch.text;

  // The status subresource: a main write keeps status, a status write keeps spec.
  json with_status = patched.body;
  with_status["status"] = {{"ready", true}};
  with_status["spec"]["replicas"] = 9;
  Outcome status =
      Send(http::methods::PUT, std::string(kWidgets) + "/small-one/status", with_status);
  ASSERT_EQ(status.code, 200) << status.text;
  EXPECT_EQ(status.body["status"]["ready"], true);
  EXPECT_EQ(status.body["spec"]["replicas"], 3);

  // Watch from before the patch: the MODIFIED events come back.
  Outcome watched =
      Send(http::methods::GET,
           std::string(kWidgets) + "?watch=true&timeoutSeconds=1&resourceVersion=" + rv);
  ASSERT_EQ(watched.code, 200);
  EXPECT_NE(watched.text.find("\"type\":\"MODIFIED\""), std::string::npos) << watched.text;

  // A PlacementPolicy may select a kind a CRD serves; one no CRD serves is refused with the
  // field named, nothing stored.
  const std::string policies =
      "/apis/federation.meridian.io/v1alpha1/namespaces/default/placementpolicies";
  auto policy_for = [](const std::string& kind) {
    return json{{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "PlacementPolicy"},
                {"metadata", {{"name", "widgets"}, {"namespace", "default"}}},
                {"spec",
                 {{"resourceSelectors", {{{"apiVersion", "example.com/v1"}, {"kind", kind}}}},
                  {"placement", json::object()}}}};
  };
  Outcome policy = Send(http::methods::POST, policies, policy_for("Gadget"));
  EXPECT_EQ(policy.code, 422);
  EXPECT_NE(policy.text.find("spec.resourceSelectors[0].kind"), std::string::npos) << policy.text;
  EXPECT_NE(policy.text.find("no CustomResourceDefinition of this server serves it"),
            std::string::npos)
      << policy.text;
  EXPECT_TRUE(Send(http::methods::GET, policies).body["items"].empty());
  EXPECT_EQ(Send(http::methods::POST, policies, policy_for("Widget")).code, 201);
  EXPECT_EQ(Send(http::methods::DEL, policies + "/widgets").code, 200);
  EXPECT_TRUE(Send(http::methods::GET, policies).body["items"].empty());

  // RBAC: edit does not cover custom resources; a ClusterRole aggregated to edit does.
  ASSERT_EQ(
      Send(
          http::methods::POST, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
          {{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "RoleBinding"},
           {"metadata", {{"name", "editor"}, {"namespace", "default"}}},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "edit"}}},
           {"subjects",
            {{{"kind", "User"}, {"name", "editor"}, {"apiGroup", "rbac.authorization.k8s.io"}}}}})
          .code,
      201);
  ASSERT_TRUE(Eventually([&] {
    return Send(http::methods::GET, "/api/v1/namespaces/default/secrets", nullptr, "", "edit-token")
               .code == 200;
  }));
  Outcome forbidden = Send(http::methods::GET, kWidgets, nullptr, "", "edit-token");
  EXPECT_EQ(forbidden.code, 403);
  EXPECT_NE(forbidden.text.find("widgets.example.com is forbidden"), std::string::npos)
      << forbidden.text;
  ASSERT_EQ(Send(http::methods::POST, "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                 {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", "ClusterRole"},
                  {"metadata",
                   {{"name", "widgets-edit"},
                    {"labels", {{"rbac.authorization.k8s.io/aggregate-to-edit", "true"}}}}},
                  {"rules",
                   {{{"apiGroups", {"example.com"}},
                     {"resources", {"widgets"}},
                     {"verbs", {"get", "list", "watch", "create", "update", "patch", "delete"}}}}}})
                .code,
            201);
  EXPECT_TRUE(Eventually(
      [&] { return Send(http::methods::GET, kWidgets, nullptr, "", "edit-token").code == 200; }));
  EXPECT_EQ(Send(http::methods::GET, kCrds, nullptr, "", "edit-token").code, 403);

  // A restart serves the CRD from its first request (registered before listening).
  server_.process().Stop();
  ASSERT_EQ(Start(), "");
  Outcome again = Send(http::methods::GET, std::string(kWidgets) + "/small-one");
  ASSERT_EQ(again.code, 200) << again.text;
  EXPECT_EQ(again.body["spec"]["replicas"], 3);
  EXPECT_EQ(again.body["status"]["ready"], true);
  EXPECT_EQ(Send(http::methods::GET, "/apis/example.com/v1").code, 200);
  Outcome invalid_again = Send(http::methods::POST, kWidgets, Widget("bad", {{"replicas", 2}}));
  EXPECT_EQ(invalid_again.code, 422);
  EXPECT_NE(invalid_again.text.find("spec.size: Required value"), std::string::npos)
      << invalid_again.text;

  // Deleting the CRD deletes its objects, then itself, and the URLs go.
  Outcome deleted = Send(http::methods::DEL, std::string(kCrds) + "/widgets.example.com");
  ASSERT_EQ(deleted.code, 200) << deleted.text;
  ASSERT_TRUE(Eventually([&] {
    return Send(http::methods::GET, std::string(kCrds) + "/widgets.example.com").code == 404;
  }));
  EXPECT_TRUE(Eventually([&] { return Send(http::methods::GET, kWidgets).code == 404; }));
  EXPECT_EQ(Send(http::methods::GET, "/apis/example.com/v1").code, 404);
  EXPECT_EQ(Send(http::methods::GET, "/apis").text.find("\"example.com\""), std::string::npos);
  // Registered again, it holds nothing of before.
  ASSERT_EQ(Send(http::methods::POST, kCrds, Crd()).code, 201);
  ASSERT_TRUE(Eventually([&] { return Established(); }));
  Outcome empty = Send(http::methods::GET, kWidgets);
  ASSERT_EQ(empty.code, 200) << empty.text;
  EXPECT_TRUE(empty.body["items"].empty()) << empty.text;
}

}  // namespace
}  // namespace meridian::apiserver
