#include "api/openapi_schema.h"

#include <gtest/gtest.h>

#include "api/template_schema.h"

namespace meridian::api {
namespace {

using nlohmann::json;

// A member's document as kube-apiserver 1.20 publishes a CRD (structural schema; the
// descriptions and list extensions that compiling drops), plus a built-in kind.
json Document() {
  return json::parse(R"({
    "swagger": "2.0",
    "definitions": {
      "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
        "description": "lots of text",
        "type": "object",
        "properties": {"name": {"type": "string"}, "labels": {"type": "object",
                       "additionalProperties": {"type": "string"}}}},
      "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
      "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string",
                                                          "format": "int-or-string"},
      "com.example.v1.Widget": {
        "type": "object",
        "required": ["spec"],
        "properties": {
          "apiVersion": {"type": "string"}, "kind": {"type": "string"},
          "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
          "spec": {"type": "object", "required": ["size"],
                   "properties": {
                     "size": {"type": "integer", "minimum": 1},
                     "color": {"type": "string", "enum": ["red", "blue"]},
                     "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
                     "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
                     "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                     "parts": {"type": "array", "items": {"type": "object",
                               "properties": {"name": {"type": "string"}}}}}}},
        "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1",
                                             "kind": "Widget"}]},
      "com.example.v1.WidgetList": {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1",
                                             "kind": "WidgetList"}]},
      "io.k8s.apimachinery.pkg.apis.meta.v1.Status": {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]},
      "unreferenced.Thing": {"type": "object"}
    }})");
}

std::vector<std::string> Problems(const OpenApiSchemas& s, const std::string& tmpl) {
  FieldErrors errors;
  EXPECT_TRUE(s.Validate(json::parse(tmpl), "spec.template", &errors));
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

TEST(OpenApiSchemas, KeepsKindsAndWhatTheyReach) {
  auto s = OpenApiSchemas::FromDocument(Document());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Kinds(), std::vector<std::string>{"example.com/v1 Widget"});
  EXPECT_TRUE((*s)->Has("example.com/v1", "Widget"));
  EXPECT_FALSE((*s)->Has("example.com/v1", "WidgetList"));
  EXPECT_FALSE((*s)->Has("v1", "Status"));
  EXPECT_EQ((*s)->definition_count(), 4u);  // Widget, ObjectMeta, Quantity, IntOrString
  // The same document compiles to the same digest; descriptions do not count.
  json other = Document();
  other["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["description"] = "x";
  EXPECT_EQ((*s)->digest(), (*OpenApiSchemas::FromDocument(other))->digest());
}

TEST(OpenApiSchemas, RefusesDocumentsWithoutDefinitions) {
  for (const char* bad : {"[]", "{}", R"({"definitions": []})"}) {
    auto s = OpenApiSchemas::FromDocument(json::parse(bad));
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OpenApiSchemas, ValidatesStrictlyWithPaths) {
  auto s = *OpenApiSchemas::FromDocument(Document());
  struct Case {
    std::string tmpl;
    std::vector<std::string> want;
  };
  const std::string head = R"("apiVersion": "example.com/v1", "kind": "Widget", )";
  const std::vector<Case> cases = {
      {"{" + head + R"("metadata": {"name": "w", "labels": {"a": "b"}},
          "spec": {"size": 2, "color": "red", "memory": "128Mi", "port": "http",
                   "extra": {"anything": [1]}, "parts": [{"name": "p"}]}})",
       {}},
      {"{" + head + R"("spec": {"size": 2, "memory": 2, "port": 80}})", {}},
      {"{" + head + R"("spec": {"sizez": 2}})",
       {"spec.template.spec.sizez: unknown field \"sizez\"", "spec.template.spec.size: required"}},
      {"{" + head + R"("spec": {"size": "2"}})",
       {"spec.template.spec.size: must be an integer, not a string"}},
      {"{" + head + R"("spec": {"size": 0, "color": "green"}})",
       {"spec.template.spec.color: unsupported value \"green\" (must be one of red, blue)",
        "spec.template.spec.size: must be >= 1"}},
      {"{" + head + R"("spec": {"size": 1, "memory": "lots", "port": true}})",
       {"spec.template.spec.memory: \"lots\" is not a quantity (such as 100m, 128Mi or 2)",
        "spec.template.spec.port: must be an integer or a string, not a boolean"}},
      {"{" + head + R"("metadata": {"nmae": "w"}, "spec": {"size": 1, "parts": [{"nam": 1}]}})",
       {"spec.template.metadata.nmae: unknown field \"nmae\"",
        "spec.template.spec.parts[0].nam: unknown field \"nam\""}},
      {"{" + head + R"("spec": null})", {"spec.template.spec: required"}},
  };
  for (const Case& c : cases) EXPECT_EQ(Problems(*s, c.tmpl), c.want) << c.tmpl;
  FieldErrors none;
  EXPECT_FALSE(s->Validate(json::parse(R"({"apiVersion": "v1", "kind": "Pod"})"), "", &none));
  EXPECT_TRUE(none.empty());
}

// membersim serves the built-in table as its /openapi/v2: compiled, it judges a template as
// the table does.
TEST(OpenApiSchemas, TheBuiltinDocumentAgreesWithTheBuiltinTable) {
  auto s = OpenApiSchemas::FromDocument(BuiltinOpenApiV2Document());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Kinds(), KindsWithBuiltinSchema());
  const json tmpl = json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web"},
      "spec": {"replicaz": 40, "replicas": "3", "template": {"spec": {"containers": [
        {"name": "web", "image": "nginx", "resources": {"requests": {"cpu": 0.5}}}]}}}})");
  FieldErrors from_doc, from_table;
  ASSERT_TRUE((*s)->Validate(tmpl, "spec.template", &from_doc));
  ValidateTemplate(tmpl, "spec.template", &from_table);
  auto sorted = [](FieldErrors e) {
    std::sort(e.begin(), e.end(),
              [](const FieldError& a, const FieldError& b) { return a.path < b.path; });
    return e;
  };
  EXPECT_EQ(sorted(from_doc), sorted(from_table));
  EXPECT_EQ(from_doc.size(), 2u);
}

}  // namespace
}  // namespace meridian::api
