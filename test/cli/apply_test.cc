#include "cli/apply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/cli/fake_client.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using testing::FakeClient;
using ::testing::HasSubstr;

constexpr const char* kWorkload = R"(# a comment
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata:
  name: web
  namespace: shop
spec:
  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: 3}}
  placement: {distribution: {weights: {eu-west: 1}}}
)";

TEST(ParseManifestsTest, MultiDocumentYamlKeepsStartLines) {
  ManifestSet set;
  ParseManifests(kWorkload, "web.yaml", &set);
  ASSERT_TRUE(set.errors.empty()) << set.errors[0];
  ASSERT_EQ(set.documents.size(), 2u);
  EXPECT_EQ(set.documents[0].Where(), "web.yaml:2");
  EXPECT_EQ(set.documents[1].Where(), "web.yaml:7");
  EXPECT_EQ(set.documents[1].object["spec"]["template"]["spec"]["replicas"], 3);
}

TEST(ParseManifestsTest, MalformedDocumentIsReportedAndTheOthersKept) {
  const std::string text =
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
      "---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n   bad: [\n"
      "---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n";
  ManifestSet set;
  ParseManifests(text, "ns.yaml", &set);
  ASSERT_EQ(set.documents.size(), 2u);
  EXPECT_EQ(set.documents[0].object["metadata"]["name"], "a");
  EXPECT_EQ(set.documents[1].object["metadata"]["name"], "c");
  EXPECT_EQ(set.documents[1].Where(), "ns.yaml:11");
  ASSERT_EQ(set.errors.size(), 1u);
  // The error is located in the file, not in the chunk: line 8 or 9, with a column.
  EXPECT_THAT(set.errors[0], ::testing::MatchesRegex(R"(ns\.yaml:(8|9|10):[0-9]+: .+)"));
}

TEST(ParseManifestsTest, JsonObjectListsAndErrors) {
  ManifestSet set;
  ParseManifests(R"({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}]})",
                 "list.json", &set);
  ASSERT_TRUE(set.errors.empty());
  ASSERT_EQ(set.documents.size(), 2u);
  EXPECT_EQ(set.documents[1].object["metadata"]["name"], "b");

  ManifestSet bad;
  ParseManifests("{\n  \"apiVersion\": \"v1\",\n  \"kind\": }\n", "bad.json", &bad);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_THAT(bad.errors[0], HasSubstr("bad.json:3:"));
  EXPECT_TRUE(bad.documents.empty());

  // Nesting past the shared limit is refused at the bracket that crosses it, with the path.
  ManifestSet deep;
  ParseManifests(std::string(100'000, '[') + std::string(100'000, ']'), "deep.json", &deep);
  ASSERT_EQ(deep.errors.size(), 1u);
  EXPECT_THAT(deep.errors[0],
              HasSubstr("deep.json:1:1001: invalid JSON: [0][0][0][0][0][0] ... (992 more) ... "
                        "[0][0]: nesting depth exceeds the limit of 1000"));
  EXPECT_TRUE(deep.documents.empty());
}

TEST(ParseManifestsTest, EmptyDocumentsAreSkipped) {
  ManifestSet set;
  ParseManifests("---\n---\n# nothing\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
                 "x.yaml", &set);
  EXPECT_TRUE(set.errors.empty());
  ASSERT_EQ(set.documents.size(), 1u);
  EXPECT_EQ(set.documents[0].line, 5);
}

TEST(FieldLineTest, FindsTheLineAFieldIsWrittenOn) {
  ManifestSet set;
  ParseManifests(kWorkload, "web.yaml", &set);
  ASSERT_EQ(set.documents.size(), 2u);
  const ManifestDocument& ns = set.documents[0];
  const ManifestDocument& fw = set.documents[1];
  struct Case {
    const ManifestDocument* doc;
    std::string path;
    int line;
  };
  for (const Case& c : std::vector<Case>{
           {&fw, "spec.placement.distribution.weights.eu-west", 14},
           {&fw, "spec.template.spec.replicas", 13},
           {&fw, "spec.template", 13},
           {&fw, "metadata.name", 10},
           {&fw, "metadata.namespace", 11},
           {&fw, "spec.placement.residency", 0},  // not written: no guess
           {&fw, "", 0},
           {&ns, "metadata.name", 5},
           {&ns, "spec.template", 0},  // stops at the document's end
       }) {
    EXPECT_EQ(FieldLine(*c.doc, c.path), c.line) << c.path;
  }
  // Block style: a key outside its parent's block is not taken for the field.
  ManifestSet block;
  ParseManifests(
      "apiVersion: x/v1\nkind: K\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n"
      "      containers:\n      - name: web\n        image: a\n      - name: side\n"
      "        image: b\n  placement:\n    replicas: 3\nstatus:\n  image: c\n",
      "b.yaml", &block);
  ASSERT_EQ(block.documents.size(), 1u);
  EXPECT_EQ(FieldLine(block.documents[0], "spec.template.spec.containers[0].image"), 10);
  EXPECT_EQ(FieldLine(block.documents[0], "spec.template.spec.containers[0].name"), 9);
  EXPECT_EQ(FieldLine(block.documents[0], "spec.template.spec.replicas"), 0);
  EXPECT_EQ(FieldLine(block.documents[0], "spec.placement.replicas"), 14);
  EXPECT_EQ(FieldLine(block.documents[0], "spec.image"), 0);
  ManifestSet k8s;  // lists at the parent's column, as kubectl writes them
  ParseManifests("spec:\n  containers:\n  - name: web\n    ports:\n    - containerPort: 80\n",
                 "k.yaml", &k8s);
  EXPECT_EQ(FieldLine(k8s.documents[0], "spec.containers[0].ports[0].containerPort"), 5);
  ManifestSet js;
  ParseManifests(
      "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\n"
      "    \"name\": \"s\"\n  },\n  \"data\": {\"token\": \"!!\"}\n}\n",
      "s.json", &js);
  ASSERT_EQ(js.documents.size(), 1u);
  EXPECT_EQ(FieldLine(js.documents[0], "data.token"), 7);
  EXPECT_EQ(FieldLine(js.documents[0], "metadata.name"), 5);
  ManifestSet list;
  ParseManifests(
      "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: "
      "a}}\n",
      "l.yaml", &list);
  ASSERT_EQ(list.documents.size(), 1u);
  EXPECT_EQ(FieldLine(list.documents[0], "metadata.name"), 0);
}

TEST(LoadManifestsTest, DirectoriesInSortedOrderStdinAndMissingPaths) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("fedctl-load-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "b.yaml") << "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
  std::ofstream(dir / "a.yml") << "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
  std::ofstream(dir / "c.json")
      << R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}})";
  std::ofstream(dir / "notes.txt") << "not a manifest";
  std::istringstream in("apiVersion: v1\nkind: Namespace\nmetadata: {name: s}\n");
  ManifestSet set;
  LoadManifests({dir.string(), "-", (dir / "missing.yaml").string()}, in, &set);
  std::vector<std::string> names;
  for (const auto& d : set.documents) names.push_back(d.object["metadata"]["name"]);
  EXPECT_THAT(names, ElementsAre("a", "b", "c", "s"));
  EXPECT_EQ(set.documents[3].source, "<stdin>");
  ASSERT_EQ(set.errors.size(), 1u);
  EXPECT_THAT(set.errors[0], HasSubstr("missing.yaml: no such file"));
  fs::remove_all(dir);
}

TEST(PlanApplyTest, LocalChecksNameFileAndLine) {
  struct Case {
    std::string yaml;
    std::string error;  // substring; "" = accepted
  };
  const std::vector<Case> cases = {
      {"apiVersion: federation.meridian.io/v1alpha1\nkind: Gadget\nmetadata: {name: g}\n",
       "x.yaml:1: no matches for kind \"Gadget\" in version \"federation.meridian.io/v1alpha1\""},
      {"apiVersion: apps/v1\nkind: FederatedWorkload\nmetadata: {name: g}\n",
       "kind FederatedWorkload is served as apiVersion federation.meridian.io/v1alpha1"},
      {"kind: Namespace\nmetadata: {name: g}\n", "x.yaml:1: apiVersion: Required value"},
      {"apiVersion: v1\nmetadata: {name: g}\n", "x.yaml:1: kind: Required value"},
      {"apiVersion: v1\nkind: 7\nmetadata: {name: g}\n", "kind: must be a string"},
      {"apiVersion: v1\nkind: Namespace\nmetadata: {labels: {a: b}}\n",
       "x.yaml:1: Namespace: metadata.name: Required value"},
      {"apiVersion: v1\nkind: Namespace\n", "metadata.name: Required value"},
      {"apiVersion: v1\nkind: Namespace\nmetadata: {name: 5}\n", "metadata.name: must be a string"},
      {"apiVersion: v1\nkind: Namespace\nmetadata: [a]\n", "metadata: must be a mapping"},
      {"- a\n- b\n", "x.yaml:1: a manifest document must be a mapping"},
      {"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: other}\n",
       "the namespace from the manifest (\"other\") does not match --namespace \"shop\""},
      {"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\n", ""},
      {"apiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: m}\n",
       ""},
  };
  for (const Case& c : cases) {
    ManifestSet set;
    ParseManifests(c.yaml, "x.yaml", &set);
    ASSERT_TRUE(set.errors.empty()) << c.yaml;
    ApplyPlan plan = PlanApply(set.documents, "shop", /*namespace_explicit=*/true);
    if (c.error.empty()) {
      EXPECT_TRUE(plan.errors.empty()) << c.yaml << plan.errors[0];
      EXPECT_EQ(plan.objects.size(), 1u);
    } else {
      ASSERT_EQ(plan.errors.size(), 1u) << c.yaml;
      EXPECT_THAT(plan.errors[0], HasSubstr(c.error)) << c.yaml;
      EXPECT_THAT(plan.errors[0], ::testing::StartsWith("error: x.yaml:1: "));
      EXPECT_TRUE(plan.objects.empty());
    }
  }
}

TEST(PlanApplyTest, NamespacesFirstDefaultsAndClusterScopedNamespaceDropped) {
  ManifestSet set;
  ParseManifests(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n"
      "apiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
      "metadata: {name: m, namespace: junk}\n---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
      "x.yaml", &set);
  ApplyPlan plan = PlanApply(set.documents, "default", false);
  ASSERT_TRUE(plan.errors.empty());
  ASSERT_EQ(plan.objects.size(), 3u);
  EXPECT_EQ(plan.objects[0].Ref(), "namespace/n");
  EXPECT_EQ(plan.objects[1].Ref(), "secret/s");
  EXPECT_EQ(plan.objects[1].ns, "default");
  EXPECT_EQ(plan.objects[1].doc.object["metadata"]["namespace"], "default");
  EXPECT_EQ(plan.objects[2].Ref(), "membercluster.federation.meridian.io/m");
  EXPECT_EQ(plan.objects[2].ns, "");
  EXPECT_FALSE(plan.objects[2].doc.object["metadata"].contains("namespace"));
}

TEST(UpdateBodyTest, ReplacesSpecMergesLabelsKeepsStatusAndServerMetadata) {
  json current = {{"apiVersion", "v1"},
                  {"kind", "X"},
                  {"metadata",
                   {{"name", "a"},
                    {"uid", "u1"},
                    {"resourceVersion", "7"},
                    {"labels", {{"keep", "1"}, {"app", "old"}}},
                    {"finalizers", {"meridian.io/sync"}}}},
                  {"spec", {{"replicas", 1}, {"old", true}}},
                  {"status", {{"ready", 1}}}};
  json desired = {{"apiVersion", "v1"},
                  {"kind", "X"},
                  {"metadata", {{"name", "a"}, {"uid", "bogus"}, {"labels", {{"app", "web"}}}}},
                  {"spec", {{"replicas", 3}}},
                  {"status", {{"ready", 99}}}};
  json body = UpdateBody(current, desired);
  EXPECT_EQ(body["spec"], json({{"replicas", 3}}));
  EXPECT_EQ(body["status"], current["status"]);
  EXPECT_EQ(body["metadata"]["uid"], "u1");
  EXPECT_EQ(body["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(body["metadata"]["labels"], json({{"keep", "1"}, {"app", "web"}}));
  EXPECT_EQ(body["metadata"]["finalizers"], current["metadata"]["finalizers"]);

  desired["metadata"]["resourceVersion"] = "3";
  EXPECT_EQ(UpdateBody(current, desired)["metadata"]["resourceVersion"], "3");
}

class ApplyObjectTest : public ::testing::Test {
 protected:
  PlannedObject Planned(const std::string& yaml) {
    ManifestSet set;
    ParseManifests(yaml, "w.yaml", &set);
    ApplyPlan plan = PlanApply(set.documents, "shop", false);
    EXPECT_EQ(plan.objects.size(), 1u);
    return plan.objects.at(0);
  }
  const std::string yaml_ =
      "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
      "metadata: {name: web}\nspec: {template: {kind: Deployment}}\n";
  FakeClient client_;
};

TEST_F(ApplyObjectTest, CreatedThenUnchangedThenConfigured) {
  PlannedObject p = Planned(yaml_);
  ApiResult<ApplyAction> r = ApplyObject(client_, p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, ApplyAction::kCreated);
  r = ApplyObject(client_, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ApplyAction::kUnchanged);
  p.doc.object["spec"]["template"]["kind"] = "StatefulSet";
  r = ApplyObject(client_, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ApplyAction::kConfigured);
  EXPECT_EQ((*client_.Find(*p.kind, "shop", "web"))["spec"]["template"]["kind"], "StatefulSet");
}

TEST_F(ApplyObjectTest, StatusIsNeverTakenFromTheManifest) {
  PlannedObject p = Planned(yaml_);
  client_.Put(*p.kind, "shop",
              {{"apiVersion", "federation.meridian.io/v1alpha1"},
               {"kind", "FederatedWorkload"},
               {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
               {"spec", {{"template", {{"kind", "Deployment"}}}}},
               {"status", {{"readyReplicas", 5}}}});
  p.doc.object["status"] = {{"readyReplicas", 0}};
  ApiResult<ApplyAction> r = ApplyObject(client_, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ApplyAction::kUnchanged);
  EXPECT_EQ((*client_.Find(*p.kind, "shop", "web"))["status"]["readyReplicas"], 5);
}

TEST_F(ApplyObjectTest, RetriesLostRacesButNotAPinnedResourceVersion) {
  PlannedObject p = Planned(yaml_);
  ASSERT_TRUE(ApplyObject(client_, p).ok());
  p.doc.object["spec"]["template"]["kind"] = "StatefulSet";
  // Another writer changes the object between our GET and PUT, twice.
  client_.FailNext("update", ApiError::Conflict(p.kind->group, p.kind->plural, "web"));
  client_.FailNext("update", ApiError::Conflict(p.kind->group, p.kind->plural, "web"));
  ApiResult<ApplyAction> r = ApplyObject(client_, p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, ApplyAction::kConfigured);
  EXPECT_EQ(client_.calls("update"), 3);  // two lost races, then the write
  // A manifest that pins a stale resourceVersion gets the 409, unretried, and nothing changes.
  json before = *client_.Find(*p.kind, "shop", "web");
  p.doc.object["metadata"]["resourceVersion"] = "1";
  p.doc.object["spec"]["template"]["kind"] = "DaemonSet";
  int updates = client_.calls("update");
  r = ApplyObject(client_, p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 409);
  EXPECT_EQ(client_.calls("update"), updates + 1);
  EXPECT_EQ(*client_.Find(*p.kind, "shop", "web"), before);
}

TEST_F(ApplyObjectTest, GivesUpAfterMaxAttemptsAndReportsCreateRace) {
  PlannedObject p = Planned(yaml_);
  ASSERT_TRUE(ApplyObject(client_, p).ok());
  for (int i = 0; i < 5; ++i) {
    client_.FailNext("update", ApiError::Conflict(p.kind->group, p.kind->plural, "web"));
  }
  p.doc.object["spec"]["template"]["kind"] = "StatefulSet";
  ApiResult<ApplyAction> r = ApplyObject(client_, p, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "Conflict");

  // Created by someone else between our GET (404) and POST: apply updates it instead.
  FakeClient fresh;
  fresh.FailNext("get", ApiError::NotFound(p.kind->group, p.kind->plural, "web"));
  fresh.Put(*p.kind, "shop", p.doc.object);
  r = ApplyObject(fresh, p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, ApplyAction::kUnchanged);
}

TEST(RunApplyTest, AppliesEveryValidDocumentAndReportsEachFailure) {
  const std::string text =
      std::string(kWorkload) +
      "---\napiVersion: federation.meridian.io/v1alpha1\nkind: Gizmo\n"
      "metadata: {name: g}\n---\n"
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\n"
      "---\napiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: shop}\n";
  ManifestSet first;
  ParseManifests(text, "all.yaml", &first);
  // A server that rejects the secret "t" with two causes.
  struct FailT : FakeClient {
    ApiError invalid = ApiError::Invalid(
        "", "Secret", "t", {{"data.x", "must be base64"}, {"type", "Unsupported value"}});
    ApiResult<json> Create(const KindInfo& kind, const std::string& ns, const json& body) override {
      if (body["metadata"]["name"] == "t") return invalid;
      return FakeClient::Create(kind, ns, body);
    }
  } fail_t;
  std::ostringstream out2, err2;
  int rc = RunApply(fail_t, first, "default", false, out2, err2);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out2.str(),
            "namespace/shop created\n"
            "federatedworkload.federation.meridian.io/web created\n"
            "secret/s created\n");
  EXPECT_THAT(err2.str(), HasSubstr("error: all.yaml:16: no matches for kind \"Gizmo\""));
  EXPECT_THAT(err2.str(),
              HasSubstr("Error from server (Invalid): all.yaml:24: secrets \"t\" is invalid: "
                        "data.x: must be base64\n"));
  EXPECT_THAT(err2.str(),
              HasSubstr("Error from server (Invalid): all.yaml:24: secrets \"t\" is invalid: "
                        "type: Unsupported value\n"));
  // A cause whose field is written on another line of the document says which.
  struct FailWeb : FakeClient {
    ApiResult<json> Create(const KindInfo& kind, const std::string& ns, const json& body) override {
      if (body["metadata"]["name"] == "web") {
        return ApiError::Invalid("federation.meridian.io", "FederatedWorkload", "web",
                                 {{"spec.placement.distribution.weights.eu-west", "must be >= 0"},
                                  {"metadata.name", "too long"}});
      }
      return FakeClient::Create(kind, ns, body);
    }
  } fail_web;
  std::ostringstream out4, err4;
  EXPECT_EQ(RunApply(fail_web, first, "default", false, out4, err4), 1);
  EXPECT_THAT(err4.str(), HasSubstr("Error from server (Invalid): all.yaml:7: federatedworkloads "
                                    "\"web\" is invalid: spec.placement.distribution.weights."
                                    "eu-west: must be >= 0 (line 14)\n"));
  EXPECT_THAT(err4.str(), HasSubstr("is invalid: metadata.name: too long (line 10)\n"));
  EXPECT_EQ(fail_t.size(), 3u);

  // Second run: the same objects are unchanged.
  std::ostringstream out3, err3;
  rc = RunApply(fail_t, first, "default", false, out3, err3);
  EXPECT_THAT(out3.str(), HasSubstr("federatedworkload.federation.meridian.io/web unchanged\n"));
}

TEST(RunApplyTest, UnreachableServerStopsAtTheFirstObject) {
  ManifestSet set;
  ParseManifests(kWorkload, "web.yaml", &set);
  FakeClient client;
  ApiError down;
  down.code = 0;
  down.message = "cannot connect to the server at http://127.0.0.1:1: connection refused";
  client.FailNext("get", down);
  std::ostringstream out, err;
  EXPECT_EQ(RunApply(client, set, "default", false, out, err), 1);
  EXPECT_EQ(err.str(),
            "error: web.yaml:2: cannot connect to the server at http://127.0.0.1:1: "
            "connection refused\n");
  EXPECT_EQ(client.calls("get"), 1);
}

TEST(RunApplyTest, NothingToApplyIsAnError) {
  ManifestSet set;
  ParseManifests("# only a comment\n", "empty.yaml", &set);
  FakeClient client;
  std::ostringstream out, err;
  EXPECT_EQ(RunApply(client, set, "default", false, out, err), 1);
  EXPECT_THAT(err.str(), HasSubstr("no objects passed to apply"));
}

TEST(RunDeleteManifestsTest, DeletesNamespacesLastAndReportsNotFound) {
  ManifestSet set;
  ParseManifests(kWorkload, "web.yaml", &set);
  FakeClient client;
  std::ostringstream out, err;
  ASSERT_EQ(RunApply(client, set, "default", false, out, err), 0) << err.str();
  std::ostringstream dout, derr;
  EXPECT_EQ(RunDeleteManifests(client, set, "default", false, false, dout, derr), 0);
  EXPECT_EQ(dout.str(),
            "federatedworkload.federation.meridian.io \"web\" deleted\n"
            "namespace \"shop\" deleted\n");
  EXPECT_EQ(client.size(), 0u);
  std::ostringstream nout, nerr;
  EXPECT_EQ(RunDeleteManifests(client, set, "default", false, false, nout, nerr), 1);
  EXPECT_THAT(nerr.str(), HasSubstr("Error from server (NotFound): web.yaml:7: "
                                    "federatedworkloads.federation.meridian.io \"web\" not found"));
  std::ostringstream iout, ierr;
  EXPECT_EQ(RunDeleteManifests(client, set, "default", false, true, iout, ierr), 0);
  EXPECT_EQ(ierr.str(), "");
}

}  // namespace
}  // namespace meridian::cli
