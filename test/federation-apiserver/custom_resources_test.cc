// CustomResourceDefinitions (federation-apiserver/crd/): the structural-schema check, the
// schema validator and pruner (tables), CRD validation through a real FederationApiServer
// (each bad CRD refused with its field, nothing stored), and the registrar serving, pruning,
// validating and cleaning up custom objects in process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "federation-apiserver/crd/definition.h"
#include "federation-apiserver/crd/structural_schema.h"
#include "apimachinery/memory_store.h"
#include "federation-apiserver/server.h"

namespace meridian::apiserver::crd {
namespace {

using nlohmann::json;

std::string Joined(const FieldErrors& errors) {
  std::string out;
  for (const FieldError& e : errors) out += e.ToString() + "\n";
  return out;
}

// `want` "": no error; else a substring of one of them.
void ExpectErrors(const FieldErrors& errors, const char* name, const char* want) {
  if (std::string(want).empty()) {
    EXPECT_TRUE(errors.empty()) << name << ":\n" << Joined(errors);
  } else {
    EXPECT_NE(Joined(errors).find(want), std::string::npos)
        << name << ": want " << want << "\ngot:\n"
        << Joined(errors);
  }
}

// ---- structural schemas ----------------------------------------------------------------

struct StructuralCase {
  const char* name;
  const char* schema;
  const char* want;  // a substring of one error; "" = valid
};

TEST(StructuralSchemaTest, RefusesWhatKubernetesRefuses) {
  const std::vector<StructuralCase> cases = {
      {"valid",
       R"({"type":"object","properties":{"spec":{"type":"object","properties":{"replicas":{"type":"integer","minimum":1}}}}})",
       ""},
      {"preserve without type",
       R"({"type":"object","properties":{"spec":{"x-kubernetes-preserve-unknown-fields":true}}})",
       ""},
      {"int-or-string",
       R"({"type":"object","properties":{"port":{"x-kubernetes-int-or-string":true}}})", ""},
      {"missing type",
       R"({"type":"object","properties":{"spec":{"properties":{"a":{"type":"string"}}}}})",
       "x.properties[spec].type: Required value: must not be empty for specified object fields"},
      {"nested missing type",
       R"({"type":"object","properties":{"spec":{"type":"object","properties":{"a":{}}}}})",
       "x.properties[spec].properties[a].type: Required value"},
      {"root not object", R"({"type":"string"})",
       "x.type: Invalid value: \"string\": must be object at the root"},
      {"unknown type", R"({"type":"object","properties":{"a":{"type":"float"}}})",
       "x.properties[a].type: Unsupported value: \"float\""},
      {"$ref", R"({"type":"object","properties":{"a":{"$ref":"#/x"}}})",
       "x.properties[a].$ref: Forbidden: $ref is not supported"},
      {"unknown keyword", R"({"type":"object","foo":1})",
       "x.foo: Forbidden: unknown field \"foo\""},
      {"array without items", R"({"type":"object","properties":{"a":{"type":"array"}}})",
       "x.properties[a].items: Required value"},
      {"items as list",
       R"({"type":"object","properties":{"a":{"type":"array","items":[{"type":"string"}]}}})",
       "x.properties[a].items: Forbidden: items must be a schema object and not an array"},
      {"additionalProperties false",
       R"({"type":"object","properties":{"a":{"type":"object","additionalProperties":false}}})",
       "additionalProperties cannot be set to false"},
      {"properties and additionalProperties",
       R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":{"type":"string"}}}})",
       "mutual exclusive"},
      {"bad pattern", R"({"type":"object","properties":{"a":{"type":"string","pattern":"("}}})",
       "x.properties[a].pattern: Invalid value: \"(\": must be a valid regular expression"},
      {"int-or-string with type",
       R"({"type":"object","properties":{"a":{"type":"string","x-kubernetes-int-or-string":true}}})",
       "x.properties[a].type: Forbidden: must be empty if x-kubernetes-int-or-string is true"},
      {"metadata beyond name",
       R"({"type":"object","properties":{"metadata":{"type":"object","properties":{"labels":{"type":"object"}}}}})",
       "x.properties[metadata]: Forbidden: must not specify anything other than name and "
       "generateName"},
      {"uniqueItems",
       R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"uniqueItems":true}}})",
       "uniqueItems cannot be set to true"},
      {"negative maxLength",
       R"({"type":"object","properties":{"a":{"type":"string","maxLength":-1}}})",
       "x.properties[a].maxLength: Invalid value: -1: must be a non-negative integer"},
      {"CEL not yet", R"({"type":"object","x-kubernetes-validations":[{"rule":"true"}]})",
       "x.x-kubernetes-validations: Forbidden: x-kubernetes-validations is not supported by this "
       "server yet"},
  };
  for (const StructuralCase& c : cases) {
    FieldErrors errors;
    ValidateStructuralSchema(json::parse(c.schema), "x", &errors);
    ExpectErrors(errors, c.name, c.want);
  }
}

TEST(StructuralSchemaTest, RefusesSchemasNestedPastTheLimit) {
  json schema = {{"type", "string"}};
  for (int i = 0; i < 200; ++i) schema = {{"type", "object"}, {"properties", {{"a", schema}}}};
  FieldErrors errors;
  ValidateStructuralSchema(schema, "s", &errors);
  EXPECT_NE(Joined(errors).find("Forbidden: nested deeper than 128 schema levels"),
            std::string::npos)
      << Joined(errors).substr(0, 500);
}

// ---- custom objects against a schema ------------------------------------------------------

const char* kWidgetSchema = R"({
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "required": ["size"],
      "properties": {
        "size": {"type": "string", "enum": ["small", "large"]},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
        "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "port": {"x-kubernetes-int-or-string": true},
        "note": {"type": "string", "nullable": true},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        "open": {"type": "object", "additionalProperties": true},
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                     "properties": {"spec": {"type": "object", "properties": {"x": {"type": "integer"}}}}}
      }
    },
    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
  }
})";

struct ObjectCase {
  const char* name;
  const char* spec;  // the object's spec
  const char* want;  // a substring of one error; "" = valid
};

TEST(CustomResourceSchemaTest, ValidatesInKubernetesWording) {
  auto schema = CustomResourceSchema::Compile(json::parse(kWidgetSchema));
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  const std::vector<ObjectCase> cases = {
      {"valid",
       R"({"size":"small","replicas":3,"ratio":0.5,"name":"abc","tags":["a"],"port":"http","note":null})",
       ""},
      {"int-or-string as int", R"({"size":"small","port":8080})", ""},
      {"integer given as 3.0", R"({"size":"small","replicas":3.0})", ""},
      {"type", R"({"size":"small","replicas":"three"})",
       "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: "
       "\"string\""},
      {"fractional integer", R"({"size":"small","replicas":2.5})",
       "spec.replicas in body must be of type integer: \"number\""},
      {"required", R"({"replicas":3})", "spec.size: Required value"},
      {"enum", R"({"size":"huge"})",
       "spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\""},
      {"minimum", R"({"size":"small","replicas":0})",
       "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to "
       "1"},
      {"maximum", R"({"size":"small","replicas":11})",
       "spec.replicas in body should be less than or equal to 10"},
      {"exclusive minimum", R"({"size":"small","ratio":0})",
       "spec.ratio in body should be greater than 0"},
      {"exclusive maximum", R"({"size":"small","ratio":1})",
       "spec.ratio in body should be less than 1"},
      {"minLength", R"({"size":"small","name":"a"})",
       "spec.name in body should be at least 2 chars long"},
      {"maxLength", R"({"size":"small","name":"abcdef"})",
       "spec.name: Too long: may not be longer than 5"},
      {"pattern", R"({"size":"small","name":"AB"})", "spec.name in body should match '^[a-z]+$'"},
      {"minItems", R"({"size":"small","tags":[]})",
       "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"},
      {"maxItems", R"({"size":"small","tags":["a","b","c"]})",
       "spec.tags: Too many: 3: must have at most 2 items"},
      {"items type", R"({"size":"small","tags":[1]})", "spec.tags[0]: Invalid value: \"integer\""},
      {"int-or-string refused", R"({"size":"small","port":true})",
       "spec.port in body must be of type integer-or-string"},
      {"nullable false", R"({"size":null})",
       "spec.size: Invalid value: \"null\": spec.size in body must be of type string"},
      {"additionalProperties", R"({"size":"small","env":{"A":1}})",
       "spec.env.A: Invalid value: \"integer\""},
      {"nested array of objects", R"({"size":"small","items":[{"id":1},{"id":"x"}]})",
       "spec.items[1].id: Invalid value: \"string\""},
      {"embedded resource",
       R"({"size":"small","template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":"y"}}})",
       "spec.template.spec.x: Invalid value: \"string\""},
      {"object expected", R"("nope")",
       "spec: Invalid value: \"string\": spec in body must be of type object"},
  };
  for (const ObjectCase& c : cases) {
    json object = {{"apiVersion", "example.com/v1"},
                   {"kind", "Widget"},
                   {"metadata", {{"name", "w"}}},
                   {"spec", json::parse(c.spec)}};
    FieldErrors errors = (*schema)->Validate(object);
    ExpectErrors(errors, c.name, c.want);
  }
}

TEST(CustomResourceSchemaTest, RefusesOverlongStringsForPatterns) {
  auto schema = CustomResourceSchema::Compile(json::parse(
      R"({"type":"object","properties":{"a":{"type":"string","pattern":"^(a|b)*$"}}})"));
  ASSERT_TRUE(schema.ok());
  json object = {{"a", std::string(kMaxPatternInput + 1, 'a')}};
  EXPECT_NE(Joined((*schema)->Validate(object)).find("too long to match against '^(a|b)*$'"),
            std::string::npos);
  object["a"] = std::string(kMaxPatternInput, 'a');
  EXPECT_TRUE((*schema)->Validate(object).empty());
}

// A pattern of 30 nested groups against the longest string matched: libstdc++'s std::regex
// recursed per character and group and overflowed the stack (the server crashed); RE2 matches
// it in linear time.
TEST(CustomResourceSchemaTest, DeeplyNestedPatternsMatchLongStringsWithoutCrashing) {
  std::string pattern = "^";
  for (int i = 0; i < 30; ++i) pattern += "(?:";
  pattern += "a";
  for (int i = 0; i < 30; ++i) pattern += "|b)";
  pattern += "*$";
  json schema = json::parse(R"({"type":"object","properties":{"a":{"type":"string"}}})");
  schema["properties"]["a"]["pattern"] = pattern;
  auto compiled = CustomResourceSchema::Compile(schema);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  json object = {{"a", std::string(kMaxPatternInput, 'a')}};
  EXPECT_TRUE((*compiled)->Validate(object).empty());
  object["a"] = std::string(kMaxPatternInput - 1, 'a') + "c";
  EXPECT_NE(Joined((*compiled)->Validate(object)).find("should match"), std::string::npos);
}

struct PruneCase {
  const char* name;
  const char* object;
  const char* pruned;                // the object after pruning
  std::vector<std::string> dropped;  // what Strict refuses
};

TEST(CustomResourceSchemaTest, PrunesUnknownFieldsAsKubernetes) {
  auto schema = CustomResourceSchema::Compile(json::parse(kWidgetSchema));
  ASSERT_TRUE(schema.ok());
  const std::vector<PruneCase> cases = {
      {"nothing unknown",
       R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","labels":{"a":"b"}},"spec":{"size":"small"}})",
       R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","labels":{"a":"b"}},"spec":{"size":"small"}})",
       {}},
      {"top level and nested",
       R"({"apiVersion":"v","kind":"Widget","metadata":{},"extra":1,"spec":{"size":"small","replicaz":4}})",
       R"({"apiVersion":"v","kind":"Widget","metadata":{},"spec":{"size":"small"}})",
       {"extra", "spec.replicaz"}},
      {"preserved subtree kept",
       R"({"spec":{"free":{"anything":{"goes":[1,2]}}}})",
       R"({"spec":{"free":{"anything":{"goes":[1,2]}}}})",
       {}},
      {"map values kept, their unknowns not",
       R"({"spec":{"env":{"A":"1","B":"2"},"open":{"x":{"y":1}}}})",
       R"({"spec":{"env":{"A":"1","B":"2"},"open":{"x":{"y":1}}}})",
       {}},
      {"inside arrays",
       R"({"spec":{"items":[{"id":1,"junk":true},{"id":2}]}})",
       R"({"spec":{"items":[{"id":1},{"id":2}]}})",
       {"spec.items[0].junk"}},
      {"embedded resource keeps its metadata",
       R"({"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1,"y":2},"bogus":0}}})",
       R"({"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1}}}})",
       {"spec.template.spec.y", "spec.template.bogus"}},
      {"status pruned too",
       R"({"status":{"ready":true,"phase":"x"}})",
       R"({"status":{"ready":true}})",
       {"status.phase"}},
  };
  for (const PruneCase& c : cases) {
    json object = json::parse(c.object);
    json strict = object;
    std::vector<std::string> dropped = (*schema)->PruneUnknownFields(&object, false);
    EXPECT_EQ(object, json::parse(c.pruned)) << c.name;
    std::vector<std::string> refused = (*schema)->PruneUnknownFields(&strict, true);
    EXPECT_EQ(strict, json::parse(c.object)) << c.name << ": strict changes nothing";
    std::sort(dropped.begin(), dropped.end());
    std::sort(refused.begin(), refused.end());
    std::vector<std::string> want = c.dropped;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(dropped, want) << c.name;
    EXPECT_EQ(refused, want) << c.name;
  }
}

TEST(DefinitionTest, VersionPriorityIsKubernetes) {
  std::vector<std::string> versions = {"v1alpha1", "foo", "v1",      "v2beta1",
                                       "v1beta2",  "v2",  "v1beta1", "bar"};
  std::sort(versions.begin(), versions.end(), [](const std::string& a, const std::string& b) {
    return CompareVersionPriority(a, b) < 0;
  });
  EXPECT_EQ(versions, (std::vector<std::string>{"v2", "v1", "v2beta1", "v1beta2", "v1beta1",
                                                "v1alpha1", "bar", "foo"}));
}

// ---- the registry's dynamic part -----------------------------------------------------------

apimachinery::ResourceInfo Entry(const std::string& group, const std::string& version,
                                 const std::string& plural, const std::string& kind) {
  apimachinery::ResourceInfo info;
  info.group = group;
  info.version = version;
  info.plural = plural;
  info.kind = kind;
  return info;
}

TEST(ResourceRegistryDynamicTest, OwnersSetReplaceAndRemoveWithoutClashes) {
  apimachinery::ResourceRegistry registry;
  ASSERT_TRUE(registry.Add(Entry("apps", "v1", "deployments", "Deployment")).ok());
  Status builtin = registry.SetDynamic("x", {Entry("apps", "v1", "deployments", "Deployment")});
  EXPECT_EQ(builtin.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(builtin.message().find("a built-in resource"), std::string::npos) << builtin.message();
  ASSERT_TRUE(
      registry
          .SetDynamic("widgets.example.com", {Entry("example.com", "v1", "widgets", "Widget"),
                                              Entry("example.com", "v1beta1", "widgets", "Widget")})
          .ok());
  Status other = registry.SetDynamic("w2", {Entry("example.com", "v1", "widgets", "Widget")});
  EXPECT_EQ(other.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(other.message().find("widgets.example.com"), std::string::npos) << other.message();
  EXPECT_EQ(
      registry.SetDynamic("w3", {Entry("a.b", "v1", "xs", "X"), Entry("a.b", "v1", "xs", "X")})
          .code(),
      StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.Find("a.b", "v1", "xs"), nullptr) << "all or nothing";

  const apimachinery::ResourceInfo* v1 = registry.Find("example.com", "v1", "widgets");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->singular, "widget");
  EXPECT_EQ(registry.DynamicOwner("example.com", "v1", "widgets"), "widgets.example.com");
  EXPECT_EQ(registry.Groups(), (std::vector<std::string>{"apps", "example.com"}));
  EXPECT_EQ(registry.Versions("example.com"), (std::vector<std::string>{"v1", "v1beta1"}));
  EXPECT_EQ(registry.FindKind("example.com", "Widget"), v1);
  EXPECT_EQ(registry.ResourcesOf("example.com", "v1beta1").size(), 1u);
  EXPECT_EQ(registry.Dynamic().size(), 2u);
  EXPECT_EQ(registry.All().size(), 1u);

  // Replaced: the old entry is no longer found but stays readable to whoever holds it.
  ASSERT_TRUE(
      registry.SetDynamic("widgets.example.com", {Entry("example.com", "v1", "widgets", "Gadget")})
          .ok());
  EXPECT_EQ(registry.Find("example.com", "v1", "widgets")->kind, "Gadget");
  EXPECT_EQ(v1->kind, "Widget");
  EXPECT_EQ(registry.Find("example.com", "v1beta1", "widgets"), nullptr);
  registry.RemoveDynamic("widgets.example.com");
  EXPECT_EQ(registry.Find("example.com", "v1", "widgets"), nullptr);
  EXPECT_EQ(registry.Groups(), (std::vector<std::string>{"apps"}));
  EXPECT_TRUE(registry.SetDynamic("w2", {Entry("example.com", "v1", "widgets", "Widget")}).ok());
}

// ---- through a real server, in process ----------------------------------------------------

json Crd(const std::string& group = "example.com", const std::string& plural = "widgets",
         const std::string& kind = "Widget", const std::string& scope = "Namespaced") {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", plural + "." + group}}},
          {"spec",
           {{"group", group},
            {"scope", scope},
            {"names", {{"plural", plural}, {"kind", kind}, {"shortNames", {"wd"}}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"subresources", {{"status", json::object()}}},
               {"additionalPrinterColumns",
                {{{"name", "Size"}, {"type", "string"}, {"jsonPath", ".spec.size"}}}},
               {"schema", {{"openAPIV3Schema", json::parse(kWidgetSchema)}}}}}}}}};
}

class CustomResourceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-crd-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ServerOptions options;
    options.storage = "sqlite:" + (dir_ / "fed.db").string();
    server_ = FederationApiServer::Create(options, clock_).value();
    crds_ = server_->registry().Find(kGroup, "v1", kPlural);
    ASSERT_NE(crds_, nullptr);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  size_t StoredCrds() { return server_->objects().List(*crds_, "", {}).value()["items"].size(); }
  static std::string Causes(const apimachinery::ApiResult<json>& r) {
    std::string out;
    if (r.ok()) return out;
    out = r.error().message + "\n";
    for (const auto& c : r.error().causes) out += c.field + ": " + c.message + "\n";
    return out;
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<FederationApiServer> server_;
  const apimachinery::ResourceInfo* crds_ = nullptr;
};

struct BadCrdCase {
  const char* name;
  std::function<void(json&)> edit;
  const char* want;  // "field: message" substring
};

TEST_F(CustomResourceServerTest, BadDefinitionsAreRefusedWithTheFieldAndNothingStored) {
  const std::vector<BadCrdCase> cases = {
      {"name not plural.group", [](json& c) { c["metadata"]["name"] = "widget.example.com"; },
       "metadata.name: Invalid value: \"widget.example.com\": must be "
       "spec.names.plural+\".\"+spec.group"},
      {"group without a dot", [](json& c) { c = Crd("example"); },
       "spec.group: Invalid value: \"example\": should be a domain with at least one dot"},
      {"built-in group", [](json& c) { c = Crd("federation.meridian.io"); },
       "spec.group: Invalid value: \"federation.meridian.io\": is an API group this server serves "
       "itself"},
      {"protected group", [](json& c) { c = Crd("widgets.k8s.io"); },
       "metadata.annotations[api-approved.kubernetes.io]: Required value"},
      {"plural not a label", [](json& c) { c["spec"]["names"]["plural"] = "Widgets"; },
       "spec.names.plural: Invalid value: \"Widgets\""},
      {"kind missing", [](json& c) { c["spec"]["names"].erase("kind"); },
       "spec.names.kind: Required value"},
      {"kind not a name", [](json& c) { c["spec"]["names"]["kind"] = "Wid get"; },
       "spec.names.kind: Invalid value: \"Wid get\": may have mixed case"},
      {"short name", [](json& c) { c["spec"]["names"]["shortNames"] = {"W!"}; },
       "spec.names.shortNames[0]: Invalid value: \"W!\""},
      {"scope", [](json& c) { c["spec"]["scope"] = "Global"; },
       "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\""},
      {"no versions", [](json& c) { c["spec"]["versions"] = json::array(); },
       "spec.versions: Required value"},
      {"two storage versions",
       [](json& c) {
         json v2 = c["spec"]["versions"][0];
         v2["name"] = "v2";
         c["spec"]["versions"].push_back(v2);
       },
       "spec.versions: Invalid value: 2: must have exactly one version marked as storage version"},
      {"no storage version", [](json& c) { c["spec"]["versions"][0]["storage"] = false; },
       "spec.versions: Invalid value: 0: must have exactly one version marked as storage version"},
      {"served missing", [](json& c) { c["spec"]["versions"][0].erase("served"); },
       "spec.versions[0].served: Required value"},
      {"schema missing", [](json& c) { c["spec"]["versions"][0].erase("schema"); },
       "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"},
      {"schema not structural",
       [](json& c) {
         c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
          ["size"]
              .erase("type");
       },
       "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required "
       "value"},
      {"printer column type",
       [](json& c) { c["spec"]["versions"][0]["additionalPrinterColumns"][0]["type"] = "text"; },
       "spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: \"text\""},
      {"webhook conversion",
       [](json& c) {
         c["spec"]["conversion"] = {{"strategy", "Webhook"}};
       },
       "spec.conversion.strategy: Unsupported value: \"Webhook\""},
  };
  for (const BadCrdCase& c : cases) {
    json crd = Crd();
    c.edit(crd);
    auto created = server_->objects().Create(*crds_, "", crd);
    ASSERT_FALSE(created.ok()) << c.name;
    EXPECT_EQ(created.error().code, 422) << c.name;
    EXPECT_NE(Causes(created).find(c.want), std::string::npos)
        << c.name << ": want " << c.want << "\ngot:\n"
        << Causes(created);
  }
  EXPECT_EQ(StoredCrds(), 0u);
}

TEST_F(CustomResourceServerTest, NamesHeldByAnotherDefinitionOfTheGroupAreRefused) {
  ASSERT_TRUE(server_->objects().Create(*crds_, "", Crd()).ok());
  json gadget = Crd("example.com", "gadgets", "Gadget");  // short name "wd" again
  auto clash = server_->objects().Create(*crds_, "", gadget);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(Causes(clash).find(
                "spec.names.shortNames[0]: Invalid value: \"wd\": \"wd\" is already in use"),
            std::string::npos)
      << Causes(clash);
  json same_kind = Crd("example.com", "gizmos", "Widget");
  same_kind["spec"]["names"]["shortNames"] = json::array();
  auto kind_clash = server_->objects().Create(*crds_, "", same_kind);
  ASSERT_FALSE(kind_clash.ok());
  EXPECT_NE(Causes(kind_clash).find("spec.names.kind: Invalid value: \"Widget\""),
            std::string::npos);
  // Another group may reuse every name.
  EXPECT_TRUE(server_->objects().Create(*crds_, "", Crd("other.example.org")).ok());
  EXPECT_EQ(StoredCrds(), 2u);
}

TEST_F(CustomResourceServerTest, ServesValidatesAndCleansUp) {
  auto created = server_->objects().Create(*crds_, "", Crd());
  ASSERT_TRUE(created.ok()) << Causes(created);
  EXPECT_EQ((*created)["spec"]["names"]["listKind"], "WidgetList");
  EXPECT_EQ((*created)["metadata"]["finalizers"], json::array({kCleanupFinalizer}));
  ASSERT_TRUE(server_->custom_resources().SyncNow());

  auto crd = server_->objects().Get(*crds_, "", "widgets.example.com");
  ASSERT_TRUE(crd.ok());
  const json& status = (*crd)["status"];
  EXPECT_EQ(status["storedVersions"], json::array({"v1"}));
  EXPECT_EQ(status["acceptedNames"]["kind"], "Widget");
  std::map<std::string, std::string> conditions;
  for (const json& c : status["conditions"]) conditions[c["type"]] = c["status"];
  EXPECT_EQ(conditions["NamesAccepted"], "True");
  EXPECT_EQ(conditions["Established"], "True");

  const apimachinery::ResourceInfo* widgets =
      server_->registry().Find("example.com", "v1", "widgets");
  ASSERT_NE(widgets, nullptr);
  EXPECT_TRUE(widgets->has_status);
  EXPECT_EQ(widgets->short_names, std::vector<std::string>{"wd"});

  json widget = {{"apiVersion", "example.com/v1"},
                 {"kind", "Widget"},
                 {"metadata", {{"name", "w1"}, {"namespace", "default"}}},
                 {"spec", {{"size", "small"}, {"replicaz", 3}}}};
  // Strict: the unknown field is refused; default: pruned.
  apimachinery::RequestContext strict;
  strict.strict_fields = true;
  auto refused = server_->objects().Create(*widgets, "default", widget, strict);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 400);
  EXPECT_NE(refused.error().message.find("strict decoding error: unknown field \"spec.replicaz\""),
            std::string::npos)
      << refused.error().message;
  auto stored = server_->objects().Create(*widgets, "default", widget);
  ASSERT_TRUE(stored.ok()) << Causes(stored);
  EXPECT_FALSE((*stored)["spec"].contains("replicaz"));

  json bad = widget;
  bad["metadata"]["name"] = "w2";
  bad["spec"] = {{"size", "huge"}, {"replicas", "three"}};
  auto invalid = server_->objects().Create(*widgets, "default", bad);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, 422);
  EXPECT_NE(Causes(invalid).find("spec.replicas: Invalid value: \"string\": spec.replicas in body "
                                 "must be of type integer: \"string\""),
            std::string::npos)
      << Causes(invalid);
  EXPECT_NE(Causes(invalid).find("spec.size: Unsupported value: \"huge\""), std::string::npos);

  // Deleting the CRD deletes its objects, then the CRD, and unregisters it.
  ASSERT_TRUE(server_->objects().Delete(*crds_, "", "widgets.example.com").ok());
  for (int i = 0; i < 3 && !server_->custom_resources().SyncNow(); ++i) {
  }
  ASSERT_TRUE(server_->custom_resources().SyncNow());
  EXPECT_EQ(StoredCrds(), 0u);
  EXPECT_EQ(server_->registry().Find("example.com", "v1", "widgets"), nullptr);
  EXPECT_TRUE(server_->objects().List(*widgets, "", {}).value()["items"].empty());
}

// federation-controller-manager --kubeconfig's registry (Mode::kFollow), on a store no
// serving registrar touches (so any write would be the follower's): it registers what a
// serving registrar registers from the same CRDs — a CRD whose kind an older one holds is
// left out — and writes nothing: no status, no finalizer, no custom object deleted; a
// terminating CRD stays served until it is gone.
TEST(CustomResourceFollowerTest, RegistersWhatTheServerWouldAndWritesNothing) {
  FakeClock clock;
  apimachinery::MemoryStore store;
  apimachinery::ResourceRegistry registry;
  ASSERT_TRUE(registry.Add(DefinitionResourceInfo()).ok());
  apimachinery::ObjectService objects(store, clock, registry);  // no admission: as stored
  const apimachinery::ResourceInfo* crds = registry.Find(kGroup, "v1", kPlural);
  ASSERT_NE(crds, nullptr);
  CustomResourceRegistrar follower(objects, registry, clock,
                                   CustomResourceRegistrar::Mode::kFollow);
  auto rv = [&](const std::string& name) {
    return objects.Get(*crds, "", name).value()["metadata"].value("resourceVersion", "");
  };

  json widgets_crd = Crd();
  DefaultDefinition(&widgets_crd, /*create=*/true);
  ASSERT_TRUE(objects.Create(*crds, "", widgets_crd).ok());
  clock.Advance(std::chrono::seconds(5));
  // Another CRD of the group asking for the kind Widget: the older one keeps it.
  json clash = Crd("example.com", "gizmos", "Widget");
  clash["metadata"]["name"] = "gizmos.example.com";
  DefaultDefinition(&clash, /*create=*/true);
  ASSERT_TRUE(objects.Create(*crds, "", clash).ok());
  const std::string widgets_rv = rv("widgets.example.com"), clash_rv = rv("gizmos.example.com");

  ASSERT_TRUE(follower.SyncNow());
  const apimachinery::ResourceInfo* followed = registry.Find("example.com", "v1", "widgets");
  ASSERT_NE(followed, nullptr);
  EXPECT_TRUE(followed->has_status);
  EXPECT_EQ(followed->kind, "Widget");
  EXPECT_EQ(registry.DynamicOwner("example.com", "v1", "widgets"), "widgets.example.com");
  EXPECT_EQ(registry.Find("example.com", "v1", "gizmos"), nullptr);
  EXPECT_EQ(rv("widgets.example.com"), widgets_rv) << "the follower wrote the CRD";
  EXPECT_EQ(rv("gizmos.example.com"), clash_rv) << "the follower wrote the CRD";
  EXPECT_FALSE(objects.Get(*crds, "", "widgets.example.com").value().contains("status"));

  json widget = {{"apiVersion", "example.com/v1"},
                 {"kind", "Widget"},
                 {"metadata", {{"name", "w1"}, {"namespace", "default"}}},
                 {"spec", {{"size", "small"}}}};
  ASSERT_TRUE(objects.Create(*followed, "default", widget).ok());

  // Deleted (marked: the cleanup finalizer): the follower neither deletes the Widget nor
  // drops the finalizer, and keeps the kind while the CRD terminates, as the server does.
  ASSERT_TRUE(objects.Delete(*crds, "", "widgets.example.com").ok());
  const std::string marked_rv = rv("widgets.example.com");
  ASSERT_TRUE(follower.SyncNow());
  EXPECT_EQ(rv("widgets.example.com"), marked_rv);
  EXPECT_EQ(objects.List(*followed, "", {}).value()["items"].size(), 1u);
  EXPECT_NE(registry.Find("example.com", "v1", "widgets"), nullptr);

  // The API finishes the deletion (here: by hand); the follower unregisters the kind, and
  // the kind Widget is free for the other CRD, which is registered now.
  ASSERT_TRUE(objects.Delete(*followed, "default", "w1").ok());
  json gone = objects.Get(*crds, "", "widgets.example.com").value();
  gone["metadata"]["finalizers"] = json::array();
  ASSERT_TRUE(objects.Update(*crds, "", "widgets.example.com", gone).ok());
  ASSERT_TRUE(follower.SyncNow());
  EXPECT_EQ(registry.Find("example.com", "v1", "widgets"), nullptr);
  EXPECT_NE(registry.Find("example.com", "v1", "gizmos"), nullptr);
  EXPECT_EQ(rv("gizmos.example.com"), clash_rv);
}

}  // namespace
}  // namespace meridian::apiserver::crd
