// Kubernetes' validation rules in the shared REST / ObjectService path (issue 22): what
// kube-apiserver refuses, Meridian refuses with the same code, and the Status names the field
// (details.causes[].field) or carries kube-apiserver's message. One table, one loop.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apimachinery/rest/rest_handler.h"
#include "test/apimachinery/rest/test_server.h"

namespace meridian::apimachinery::rest::testing {
namespace {

using nlohmann::json;

// A custom resource as Kubernetes sees one: no strategic merge patch, only metadata field
// labels.
ResourceInfo WidgetsInfo() {
  ResourceInfo r;
  r.group = "example.com";
  r.version = "v1";
  r.kind = "Widget";
  r.plural = "widgets";
  r.strategic_merge_patch = false;
  return r;
}

json ConfigMap(const std::string& name, json meta_extra = json::object()) {
  json meta = {{"name", name}};
  meta.update(meta_extra);
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", meta}, {"data", {{"k", "v"}}}};
}

struct Case {
  std::string what;
  std::string method;
  std::string path;
  std::string body;
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> query;
  int code;
  std::string message;  // a substring of Status.message ("" = not checked)
  std::string field;    // a details.causes[].field that must be present ("" = not checked)
  std::string cause;    // a substring of that cause's message ("" = not checked)
};

class KubernetesValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.registry.Add(WidgetsInfo()).ok());
    // Fixtures the PATCH/PUT cases work on.
    RestRequest cm;
    cm.method = "POST";
    cm.path = kConfigMaps;
    cm.body = ConfigMap("base").dump();
    ASSERT_EQ(server_.handler->Handle(cm).code, 201);
    RestRequest w;
    w.method = "POST";
    w.path = kWidgets;
    w.body = R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},)"
             R"("spec":{"replicas":1,"list":[1,2]}})";
    ASSERT_EQ(server_.handler->Handle(w).code, 201);
  }

  void Run(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      RestRequest r;
      r.method = c.method;
      r.path = c.path;
      r.body = c.body;
      r.headers = c.headers;
      r.query = c.query;
      RestResponse resp = server_.handler->Handle(std::move(r));
      ASSERT_EQ(resp.code, c.code) << c.what << ": " << resp.Body().substr(0, 600);
      if (c.message.empty() && c.field.empty()) continue;
      json status = json::parse(resp.Body());
      EXPECT_EQ(status["kind"], "Status") << c.what;
      const std::string message = status.value("message", "");
      EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": message is " << message;
      if (c.field.empty()) continue;
      bool found = false;
      for (const json& cause : status["details"].value("causes", json::array())) {
        if (cause.value("field", "") == c.field &&
            cause.value("message", "").find(c.cause) != std::string::npos) {
          found = true;
        }
      }
      EXPECT_TRUE(found) << c.what << ": no cause for " << c.field << " with \"" << c.cause
                         << "\" in " << status.dump();
    }
  }

  static constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";
  static constexpr const char* kWidgets = "/apis/example.com/v1/namespaces/default/widgets";
  FakeClock clock_;
  TestServer server_{clock_};
};

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};
std::map<std::string, std::string> Type(const std::string& t) { return {{"content-type", t}}; }

TEST_F(KubernetesValidationTest, ContentTypes) {
  const std::string cm = ConfigMap("typed").dump();
  const std::string item = std::string(kConfigMaps) + "/base";
  Run({
      {"POST text/plain",
       "POST",
       kConfigMaps,
       cm,
       Type("text/plain"),
       {},
       415,
       "the body of the request was in an unknown format - accepted media types include: "
       "application/json, application/vnd.kubernetes.protobuf",
       "Content-Type",
       "got text/plain"},
      {"POST application/x-www-form-urlencoded",
       "POST",
       kConfigMaps,
       cm,
       Type("application/x-www-form-urlencoded"),
       {},
       415,
       "unknown format",
       "Content-Type",
       ""},
      {"PUT text/plain",
       "PUT",
       item,
       ConfigMap("base").dump(),
       Type("text/plain; charset=utf-8"),
       {},
       415,
       "accepted media types include",
       "Content-Type",
       "got text/plain"},
      {"POST a patch type",
       "POST",
       kConfigMaps,
       cm,
       Type("application/merge-patch+json"),
       {},
       415,
       "unknown format",
       "",
       ""},
      // kube-apiserver decodes a body without Content-Type as JSON (NegotiateInputSerializer).
      {"POST without Content-Type", "POST", kConfigMaps, cm, {}, {}, 201, "", "", ""},
      {"POST JSON with charset",
       "POST",
       kConfigMaps,
       ConfigMap("charset").dump(),
       Type("Application/JSON; charset=utf-8"),
       {},
       201,
       "",
       "",
       ""},
      {"PATCH without Content-Type",
       "PATCH",
       item,
       R"({"data":{"k":"w"}})",
       {},
       {},
       415,
       "accepted media types include: application/json-patch+json, "
       "application/merge-patch+json, application/strategic-merge-patch+json",
       "Content-Type",
       "no Content-Type"},
      {"PATCH text/plain",
       "PATCH",
       item,
       R"({"data":{"k":"w"}})",
       Type("text/plain"),
       {},
       415,
       "unknown format",
       "Content-Type",
       "got text/plain"},
      {"strategic merge on a built-in kind",
       "PATCH",
       item,
       R"({"data":{"k":"w"}})",
       Type("application/strategic-merge-patch+json"),
       {},
       200,
       "",
       "",
       ""},
      {"strategic merge on a custom kind",
       "PATCH",
       std::string(kWidgets) + "/w",
       R"({"spec":{"replicas":2}})",
       Type("application/strategic-merge-patch+json"),
       {},
       415,
       "accepted media types include: application/json-patch+json, "
       "application/merge-patch+json, application/apply-patch+yaml",
       "Content-Type",
       "got application/strategic-merge-patch+json"},
      {"unknown patch type on a custom kind",
       "PATCH",
       std::string(kWidgets) + "/w",
       "{}",
       Type("text/plain"),
       {},
       415,
       "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
       "",
       ""},
      {"merge patch on a custom kind",
       "PATCH",
       std::string(kWidgets) + "/w",
       R"({"spec":{"replicas":2}})",
       Type("application/merge-patch+json"),
       {},
       200,
       "",
       "",
       ""},
  });
}

TEST_F(KubernetesValidationTest, NamesLabelsAnnotationsFinalizers) {
  const std::string ns = "/api/v1/namespaces";
  const std::string big(2'500'000, 'x');
  Run({
      {"name not a subdomain",
       "POST",
       kConfigMaps,
       ConfigMap("Bad_Name").dump(),
       kJson,
       {},
       422,
       "ConfigMap \"Bad_Name\" is invalid",
       "metadata.name",
       "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"},
      {"name too long",
       "POST",
       kConfigMaps,
       ConfigMap(std::string(254, 'a')).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.name",
       "must be no more than 253 characters"},
      {"namespace with dots",
       "POST",
       ns,
       R"({"metadata":{"name":"a.b"}})",
       kJson,
       {},
       422,
       "",
       "metadata.name",
       "Invalid value: \"a.b\": must not contain dots"},
      {"namespace uppercase",
       "POST",
       ns,
       R"({"metadata":{"name":"Prod"}})",
       kJson,
       {},
       422,
       "",
       "metadata.name",
       "a lowercase RFC 1123 label must consist of"},
      {"namespace longer than a label",
       "POST",
       ns,
       json{{"metadata", {{"name", std::string(64, 'a')}}}}.dump(),
       kJson,
       {},
       422,
       "",
       "metadata.name",
       "must be no more than 63 characters"},
      {"generateName invalid",
       "POST",
       kConfigMaps,
       R"({"metadata":{"generateName":"Web_"},"data":{}})",
       kJson,
       {},
       422,
       "",
       "metadata.generateName",
       "Invalid value: \"Web_\": a lowercase RFC 1123 subdomain"},
      {"generateName with a trailing dash",
       "POST",
       kConfigMaps,
       R"({"metadata":{"generateName":"web-"},"data":{}})",
       kJson,
       {},
       201,
       "",
       "",
       ""},
      {"neither name nor generateName",
       "POST",
       kConfigMaps,
       R"({"metadata":{},"data":{}})",
       kJson,
       {},
       422,
       "",
       "metadata.name",
       "Required value: name or generateName is required"},
      {"label key with a space",
       "POST",
       kConfigMaps,
       ConfigMap("l1", {{"labels", {{"bad key", "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' "
       "or '.', and must start and end with an alphanumeric character"},
      {"label key prefix not a subdomain",
       "POST",
       kConfigMaps,
       ConfigMap("l2", {{"labels", {{"Example.com/app", "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "prefix part a lowercase RFC 1123 subdomain must consist of"},
      {"label key with two slashes",
       "POST",
       kConfigMaps,
       ConfigMap("l3", {{"labels", {{"a/b/c", "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "a qualified name must consist of"},
      {"label key name too long",
       "POST",
       kConfigMaps,
       ConfigMap("l4", {{"labels", {{std::string(64, 'k'), "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "name part must be no more than 63 characters"},
      {"label value too long",
       "POST",
       kConfigMaps,
       ConfigMap("l5", {{"labels", {{"app", std::string(64, 'v')}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "must be no more than 63 characters"},
      {"label value bad characters",
       "POST",
       kConfigMaps,
       ConfigMap("l6", {{"labels", {{"app", "a b"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "Invalid value: \"a b\": a valid label must be an empty string or consist of"},
      {"label value empty is fine",
       "POST",
       kConfigMaps,
       ConfigMap("l7", {{"labels", {{"example.com/app", ""}}}}).dump(),
       kJson,
       {},
       201,
       "",
       "",
       ""},
      {"annotation key invalid",
       "POST",
       kConfigMaps,
       ConfigMap("a1", {{"annotations", {{"bad key", "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.annotations",
       "Invalid value: \"bad key\": name part must consist of"},
      {"annotation key upper case is fine",
       "POST",
       kConfigMaps,
       ConfigMap("a2", {{"annotations", {{"Example.com/Note", "v"}}}}).dump(),
       kJson,
       {},
       201,
       "",
       "",
       ""},
      {"annotations over 256 KiB",
       "POST",
       kConfigMaps,
       ConfigMap("a3", {{"annotations", {{"note", big}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.annotations",
       "Too long: must have at most 262144 bytes"},
      {"finalizer not a qualified name",
       "POST",
       kConfigMaps,
       ConfigMap("f1", {{"finalizers", {"bad finalizer"}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.finalizers",
       "Invalid value: \"bad finalizer\": name part must consist of"},
      {"finalizer not a string",
       "POST",
       kConfigMaps,
       ConfigMap("f2", {{"finalizers", {1}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.finalizers[0]",
       "must be a string"},
      {"finalizer qualified",
       "POST",
       kConfigMaps,
       ConfigMap("f3", {{"finalizers", {"example.com/cleanup"}}}).dump(),
       kJson,
       {},
       201,
       "",
       "",
       ""},
      {"update checks labels too",
       "PUT",
       std::string(kConfigMaps) + "/base",
       ConfigMap("base", {{"labels", {{"bad key", "v"}}}}).dump(),
       kJson,
       {},
       422,
       "",
       "metadata.labels",
       "name part must consist of"},
      {"patch checks finalizers too",
       "PATCH",
       std::string(kConfigMaps) + "/base",
       R"({"metadata":{"finalizers":["a/b/c"]}})",
       Type("application/merge-patch+json"),
       {},
       422,
       "",
       "metadata.finalizers",
       "a qualified name must consist of"},
  });
  // Nothing refused was stored.
  RestRequest list;
  list.method = "GET";
  list.path = kConfigMaps;
  json items = json::parse(server_.handler->Handle(list).Body())["items"];
  std::vector<std::string> names;
  for (const json& o : items) names.push_back(o["metadata"]["name"]);
  EXPECT_EQ(names.size(), 5u) << json(names).dump();  // base, web-xxxxx, l7, a2, f3
}

TEST_F(KubernetesValidationTest, SelectorsAndResourceVersions) {
  auto q = [](std::string k, std::string v) { return std::map<std::string, std::string>{{k, v}}; };
  Run({
      {"unknown field label on a list",
       "GET",
       kConfigMaps,
       "",
       {},
       q("fieldSelector", "spec.foo=bar"),
       400,
       "field label not supported: spec.foo",
       "",
       ""},
      {"unknown field label on a watch",
       "GET",
       kConfigMaps,
       "",
       {},
       {{"watch", "true"}, {"fieldSelector", "data.k=v"}},
       400,
       "field label not supported: data.k",
       "",
       ""},
      {"unknown field label on a custom kind",
       "GET",
       kWidgets,
       "",
       {},
       q("fieldSelector", "spec.replicas=1"),
       400,
       "field label not supported: spec.replicas",
       "",
       ""},
      {"metadata.name on any kind",
       "GET",
       kWidgets,
       "",
       {},
       q("fieldSelector", "metadata.name=w"),
       200,
       "",
       "",
       ""},
      {"metadata.namespace on any kind",
       "GET",
       kConfigMaps,
       "",
       {},
       q("fieldSelector", "metadata.namespace!=x"),
       200,
       "",
       "",
       ""},
      {"field selector without operator",
       "GET",
       kConfigMaps,
       "",
       {},
       q("fieldSelector", "nonsense"),
       400,
       "invalid field selector",
       "",
       ""},
      {"label selector malformed",
       "GET",
       kConfigMaps,
       "",
       {},
       q("labelSelector", "a in (b"),
       400,
       "unable to parse requirement",
       "",
       ""},
      {"resourceVersion not a number on a list",
       "GET",
       kConfigMaps,
       "",
       {},
       q("resourceVersion", "abc"),
       400,
       "resourceVersion: Invalid value: \"abc\"",
       "",
       ""},
      {"resourceVersion negative on a watch",
       "GET",
       kConfigMaps,
       "",
       {},
       {{"watch", "true"}, {"resourceVersion", "-1"}},
       400,
       "must be a non-negative integer",
       "",
       ""},
  });
}

TEST_F(KubernetesValidationTest, JsonErrorsNameTheField) {
  Run({
      {"number overflow",
       "POST",
       kConfigMaps,
       R"({"metadata":{"name":"n1"},"data":{"k":"v"},"spec":{"replicas":1e400}})",
       kJson,
       {},
       400,
       "spec.replicas: invalid JSON: number overflow parsing '1e400'",
       "",
       ""},
      {"bare NaN",
       "POST",
       kConfigMaps,
       R"({"metadata":{"name":"n2"},"weights":[1,NaN]})",
       kJson,
       {},
       400,
       "weights[1]: ",
       "",
       ""},
      {"invalid UTF-8",
       "POST",
       kConfigMaps,
       "{\"metadata\":{\"name\":\"n\xff\"}}",
       kJson,
       {},
       400,
       "metadata.name: invalid JSON: syntax error while parsing value - invalid string: "
       "ill-formed UTF-8 byte",
       "",
       ""},
      {"merge patch with 1e400",
       "PATCH",
       std::string(kConfigMaps) + "/base",
       R"({"data":{"k":1e400}})",
       Type("application/merge-patch+json"),
       {},
       400,
       "error decoding patch: data.k: invalid JSON: number overflow parsing '1e400'",
       "",
       ""},
  });
}

TEST_F(KubernetesValidationTest, JsonPatchErrorsInKubernetesWording) {
  const std::string w = std::string(kWidgets) + "/w";
  const auto jp = Type("application/json-patch+json");
  const std::string prefix = "the server rejected our request due to an error in our request: ";
  // copy /spec -> /spec/x doubles /spec each time: a billion nodes after 30 operations.
  json bomb = json::array();
  for (int i = 0; i < 40; ++i) {
    bomb.push_back({{"op", "copy"}, {"from", "/spec"}, {"path", "/spec/x" + std::to_string(i)}});
  }
  json too_many = json::array();
  for (int i = 0; i < 10'001; ++i)
    too_many.push_back({{"op", "test"}, {"path", "/kind"}, {"value", "Widget"}});
  // A value 900 deep at a path 200 deep: each within the limit, the result not.
  std::string deep_value(900, '[');
  deep_value += std::string(900, ']');
  std::string deep_path;
  std::string deep_add = "[";
  for (int i = 0; i < 200; ++i) {
    deep_add += R"({"op":"add","path":"/spec)" + deep_path + R"(/d","value":{}},)";
    deep_path += "/d";
  }
  deep_add += R"({"op":"add","path":"/spec)" + deep_path + R"(/v","value":)" + deep_value + "}]";
  Run({
      {"replace a missing key",
       "PATCH",
       w,
       R"([{"op":"replace","path":"/spec/nope","value":1}])",
       jp,
       {},
       422,
       prefix + "replace operation does not apply: doc is missing key: /spec/nope: missing value",
       "spec.nope",
       "doc is missing key"},
      {"remove under a missing parent",
       "PATCH",
       w,
       R"([{"op":"remove","path":"/spec/a/b"}])",
       jp,
       {},
       422,
       prefix +
           "remove operation does not apply: doc is missing path: \"/spec/a/b\": missing value",
       "spec.a.b",
       ""},
      {"remove a missing key",
       "PATCH",
       w,
       R"([{"op":"remove","path":"/spec/gone"}])",
       jp,
       {},
       422,
       prefix + "error in remove for path: '/spec/gone': Unable to remove nonexistent key: gone: "
                "missing value",
       "spec.gone",
       ""},
      {"add past the end of a list",
       "PATCH",
       w,
       R"([{"op":"add","path":"/spec/list/5","value":3}])",
       jp,
       {},
       422,
       prefix + "error in add for path: '/spec/list/5': Unable to access invalid index: 5: "
                "invalid index referenced",
       "spec.list.5",
       ""},
      {"failed test",
       "PATCH",
       w,
       R"([{"op":"test","path":"/spec/replicas","value":7}])",
       jp,
       {},
       422,
       prefix + "testing value /spec/replicas failed: test failed",
       "spec.replicas",
       ""},
      {"unknown op",
       "PATCH",
       w,
       R"([{"op":"frobnicate","path":"/spec"}])",
       jp,
       {},
       422,
       prefix + "Unexpected kind: frobnicate",
       "",
       ""},
      {"move from a missing path",
       "PATCH",
       w,
       R"([{"op":"move","from":"/spec/x","path":"/spec/y"}])",
       jp,
       {},
       422,
       prefix + "move operation does not apply: doc is missing from path: /spec/x: missing value",
       "spec.y",
       ""},
      {"copy bomb",
       "PATCH",
       w,
       bomb.dump(),
       jp,
       {},
       422,
       prefix + "Unable to complete the copy, the accumulated size increase of copy is",
       "",
       ""},
      {"too many operations",
       "PATCH",
       w,
       too_many.dump(),
       jp,
       {},
       413,
       "The allowed maximum operations in a JSON patch is 10000, got 10001",
       "",
       ""},
      {"not a list",
       "PATCH",
       w,
       R"({"op":"add"})",
       jp,
       {},
       400,
       "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
       "",
       ""},
      {"an operation that is not an object",
       "PATCH",
       w,
       R"(["add"])",
       jp,
       {},
       400,
       "json: cannot unmarshal string into Go value of type jsonpatch.Operation",
       "",
       ""},
      {"a deep value at a deep path",
       "PATCH",
       w,
       deep_add,
       jp,
       {},
       400,
       "nesting depth exceeds the limit of 1000",
       "",
       ""},
      {"a good patch still applies",
       "PATCH",
       w,
       R"([{"op":"test","path":"/spec/replicas","value":1},)"
       R"({"op":"copy","from":"/spec/list","path":"/spec/copy"},)"
       R"({"op":"move","from":"/spec/copy","path":"/spec/moved"},)"
       R"({"op":"add","path":"/spec/list/-","value":3},)"
       R"({"op":"add","path":"/spec/list/0","value":0},)"
       R"({"op":"remove","path":"/spec/list/1"},)"
       R"({"op":"replace","path":"/spec/replicas","value":2}])",
       jp,
       {},
       200,
       "",
       "",
       ""},
  });
  RestRequest get;
  get.method = "GET";
  get.path = w;
  json spec = json::parse(server_.handler->Handle(get).Body())["spec"];
  EXPECT_EQ(spec, json::parse(R"({"replicas":2,"list":[0,2,3],"moved":[1,2]})"));
}

TEST(ValidateObjectNameTest, PerKind) {
  struct Case {
    std::string name;
    NameValidation how;
    bool prefix;
    std::vector<std::string> want;  // substrings, one per expected message
  };
  for (const Case& c : std::vector<Case>{
           {"web", NameValidation::kDnsSubdomain, false, {}},
           {"a.b-c", NameValidation::kDnsSubdomain, false, {}},
           {"web-", NameValidation::kDnsSubdomain, true, {}},
           {"web-", NameValidation::kDnsSubdomain, false, {"RFC 1123 subdomain"}},
           {"-", NameValidation::kDnsSubdomain, true, {"RFC 1123 subdomain"}},
           {"a.b", NameValidation::kDnsLabel, false, {"must not contain dots"}},
           {std::string(64, 'a'), NameValidation::kDnsLabel, false, {"no more than 63 characters"}},
           {"1abc", NameValidation::kDnsLabel, false, {}},
           {"1abc", NameValidation::kDns1035Label, false, {"a DNS-1035 label must consist of"}},
           {"abc-1", NameValidation::kDns1035Label, false, {}},
           {"svc-", NameValidation::kDns1035Label, true, {}},
           {"system:masters", NameValidation::kPathSegment, false, {}},
           {"..", NameValidation::kPathSegment, false, {"may not be '..'"}},
           {"a/b", NameValidation::kPathSegment, false, {"may not contain '/'"}},
       }) {
    std::vector<std::string> got = ValidateObjectName(c.name, c.how, c.prefix);
    ASSERT_EQ(got.size(), c.want.size()) << c.name << ": " << json(got).dump();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NE(got[i].find(c.want[i]), std::string::npos) << c.name << ": " << got[i];
    }
  }
}

}  // namespace
}  // namespace meridian::apimachinery::rest::testing
