#include "federation-apiserver/member_schemas.h"

#include <gtest/gtest.h>

#include "api/template_schema.h"
#include "common/clock.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;

// A member of `version` serving `kinds` ("apps/v1 Deployment" style) of a document where a
// Deployment's spec knows `fields`.
std::shared_ptr<const api::OpenApiSchemas> Schemas(const std::vector<std::string>& fields) {
  json props = {{"replicas", {{"type", "integer"}}}};
  for (const std::string& f : fields) props[f] = {{"type", "string"}};
  json doc = {{"definitions",
               {{"io.k8s.api.apps.v1.Deployment",
                 {{"type", "object"},
                  {"properties",
                   {{"apiVersion", {{"type", "string"}}},
                    {"kind", {{"type", "string"}}},
                    {"spec", {{"type", "object"}, {"properties", props}}}}},
                  {"x-kubernetes-group-version-kind",
                   {{{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}}}}}}}};
  return *api::OpenApiSchemas::FromDocument(doc);
}

MemberSchemas::Entry Entry(std::shared_ptr<const api::OpenApiSchemas> s, bool any_kind = false) {
  MemberSchemas::Entry e;
  e.version = "v1.20.15";
  e.schemas = std::move(s);
  e.any_kind = any_kind;
  return e;
}

std::vector<std::string> Strings(const FieldErrors& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

const json kDeployment = json::parse(
    R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2, "newField": "x"}})");

TEST(MemberSchemas, NoMemberReachedLeavesItToTheBuiltinSet) {
  MemberSchemas schemas;
  FieldErrors errors;
  EXPECT_EQ(schemas.ValidateTemplate(kDeployment, "spec.template", &errors),
            MemberSchemas::Verdict::kNoMemberReached);
  EXPECT_TRUE(errors.empty());
}

TEST(MemberSchemas, ChecksAgainstEveryDistinctSchemaAndNamesThePartialOnes) {
  MemberSchemas schemas;
  schemas.Set("new-1", Entry(Schemas({"newField"})));
  schemas.Set("new-2", Entry(Schemas({"newField"})));
  schemas.Set("old-1", Entry(Schemas({})));
  // Equal documents share one compiled copy.
  EXPECT_EQ(schemas.Get("new-1")->schemas, schemas.Get("new-2")->schemas);
  FieldErrors errors;
  EXPECT_EQ(schemas.ValidateTemplate(kDeployment, "spec.template", &errors),
            MemberSchemas::Verdict::kChecked);
  EXPECT_EQ(Strings(errors),
            std::vector<std::string>{"spec.template.spec.newField: unknown field \"newField\" (in "
                                     "the schema of old-1)"});
  errors.clear();
  json typo = kDeployment;
  typo["spec"]["replicaz"] = 40;
  schemas.Retain({"new-1", "new-2"});  // old-1 left
  EXPECT_EQ(schemas.Get("old-1"), nullptr);
  schemas.ValidateTemplate(typo, "spec.template", &errors);
  EXPECT_EQ(Strings(errors),
            std::vector<std::string>{"spec.template.spec.replicaz: unknown field \"replicaz\""});
}

TEST(MemberSchemas, AKindNoMemberServesIsRefusedAndARefreshRequested) {
  MemberSchemas schemas;
  int refreshes = 0;
  schemas.SetRefreshRequester([&] { ++refreshes; });
  schemas.Set("eu-1", Entry(Schemas({})));
  FieldErrors errors;
  json widget = {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}};
  EXPECT_EQ(schemas.ValidateTemplate(widget, "spec.template", &errors),
            MemberSchemas::Verdict::kUnknownKind);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.template.kind");
  EXPECT_NE(errors[0].message.find("no member serves example.com/v1 Widget (members reached: "
                                   "eu-1"),
            std::string::npos)
      << errors[0].message;
  EXPECT_EQ(refreshes, 1);
  // A member that stores any kind (membersim) makes it accepted, unchecked.
  schemas.Set("sim-1", Entry(Schemas({}), /*any_kind=*/true));
  errors.clear();
  EXPECT_EQ(schemas.ValidateTemplate(widget, "spec.template", &errors),
            MemberSchemas::Verdict::kUnchecked);
  EXPECT_TRUE(errors.empty());
}

TEST(SchemaFetchDue, Table) {
  FakeClock clock;
  const Timestamp t0 = clock.Now();
  MemberSchemas::Entry held = Entry(Schemas({}));
  held.fetched = t0;
  const SchemaFetchTimes times;  // 10 min, 10 s, 30 s
  struct Case {
    const char* name;
    const MemberSchemas::Entry* entry;
    std::string version;
    Duration after;
    bool forced;
    Duration failed_before;  // zero: no failure
    bool want;
  };
  const std::vector<Case> cases = {
      {"join: nothing held", nullptr, "", seconds(0), false, seconds(0), true},
      {"held, same version, soon", &held, "v1.20.15", minutes(9), false, seconds(0), false},
      {"version changed", &held, "v1.21.0", seconds(1), false, seconds(0), true},
      {"version unknown", &held, "", minutes(9), false, seconds(0), false},
      {"refresh period", &held, "v1.20.15", minutes(10), false, seconds(0), true},
      {"forced, right after a fetch", &held, "v1.20.15", seconds(5), true, seconds(0), false},
      {"forced", &held, "v1.20.15", seconds(10), true, seconds(0), true},
      {"join, failed 10 s ago", nullptr, "", minutes(1), false, seconds(10), false},
      {"join, failed 30 s ago", nullptr, "", minutes(1), false, seconds(30), true},
  };
  for (const Case& c : cases) {
    FakeClock at;
    at.Set(t0);
    at.Advance(c.after);
    const Timestamp now = at.Now();
    const Timestamp failed = c.failed_before.count() == 0 ? Timestamp{} : now - c.failed_before;
    EXPECT_EQ(SchemaFetchDue(c.entry, c.version, now, times, c.forced, failed), c.want) << c.name;
  }
}

}  // namespace
}  // namespace meridian::apiserver
