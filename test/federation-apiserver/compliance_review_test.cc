// ComplianceReview (federation-apiserver/compliance_review.h): the period's rules (pure), and
// the review inside a real FederationApiServer (SQLite in a temp dir, token authentication,
// RBAC), driven through its RestHandler over a ledger its EvidenceLedger wrote (FakeClock): the
// content is the report residency/compliance_report.h builds from the same entries, byte for
// byte, in each format; RBAC decides as for reading the ledger; nothing is stored; bad input is
// 422 naming the field.
#include "federation-apiserver/compliance_review.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "federation-apiserver/server.h"
#include "residency/ledger_checkpoint.h"
#include "residency/ledger_writer.h"
#include "test/federation-apiserver/rbac_server_fixture.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;
using residency::ReportFormat;

constexpr char kReviews[] = "/apis/federation.meridian.io/v1alpha1/compliancereviews";
constexpr char kEvidence[] = "/apis/federation.meridian.io/v1alpha1/residencyevidences";

const Timestamp kFirst = Timestamp(std::chrono::seconds(1'800'000'000));

json Review(json spec) {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "ComplianceReview"},
          {"spec", std::move(spec)}};
}

// ---- The period (pure) ----

TEST(ComplianceReportPeriodTest, DefaultsAndLimits) {
  const Timestamp now = kFirst + std::chrono::milliseconds(3'600'750);  // 1 h 0.75 s after
  FieldErrors errors;
  // Nothing given: now to the second, back to the ledger's first entry in whole seconds.
  residency::ReportOptions o = ComplianceReportPeriod({}, kFirst, now, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(o.to, kFirst + std::chrono::seconds(3600));
  EXPECT_EQ(o.from, kFirst);
  // A since inside the ledger, an until in the past, a namespace.
  ComplianceReviewSpec spec;
  spec.since = std::chrono::seconds(600);
  spec.until = kFirst + std::chrono::seconds(1800);
  spec.ns = "payments";
  o = ComplianceReportPeriod(spec, kFirst, now, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(o.from, kFirst + std::chrono::seconds(1200));
  EXPECT_EQ(o.to, kFirst + std::chrono::seconds(1800));
  EXPECT_EQ(o.ns, "payments");
  // Exactly the ledger's span is fine; one second more is not.
  spec.since = std::chrono::seconds(1800);
  ComplianceReportPeriod(spec, kFirst, now, &errors);
  EXPECT_TRUE(errors.empty());
  spec.since = std::chrono::seconds(1801);
  spec.since_text = "1801s";
  ComplianceReportPeriod(spec, kFirst, now, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.since");
  EXPECT_NE(errors[0].message.find("\"1801s\": reaches back to 2027-01-15T07:59:59Z, before the "
                                   "evidence ledger's first entry (2027-01-15T08:00:00Z)"),
            std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("at most 1800s (30m0s) before 2027-01-15T08:30:00Z"),
            std::string::npos)
      << errors[0].message;
}

TEST(ComplianceReportPeriodTest, RefusesTheFutureAndAnEmptyLedger) {
  const Timestamp now = kFirst + std::chrono::hours(1);
  FieldErrors errors;
  ComplianceReviewSpec spec;
  spec.until = now + std::chrono::seconds(1);
  ComplianceReportPeriod(spec, kFirst, now, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.until");
  EXPECT_NE(errors[0].message.find("in the future"), std::string::npos);
  errors.clear();
  spec.until = kFirst - std::chrono::seconds(1);
  ComplianceReportPeriod(spec, kFirst, now, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.until");
  EXPECT_NE(errors[0].message.find("before the evidence ledger's first entry"), std::string::npos);
  errors.clear();
  ComplianceReportPeriod({}, std::nullopt, now, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.since");
  EXPECT_NE(errors[0].message.find("ledger is empty"), std::string::npos);
}

// ---- Through the server ----

class ComplianceReviewTest : public RbacServerFixture {
 protected:
  void SetUp() override {
    clock_.Set(kFirst);
    StartServer("meridian-compliance",
                "admin-token,admin,1,system:masters\nresidency-token,officer,2\n"
                "viewer-token,viewer,3\n");
    if (HasFatalFailure()) return;
    for (const auto& [user, role] :
         {std::pair{"officer", "meridian:residency-admin"}, std::pair{"viewer", "view"}}) {
      BindClusterRole(user, role);
      if (HasFatalFailure()) return;
    }
    AwaitAllowed("residency-token", Attrs("list", "residencyevidences"));
    AwaitAllowed("viewer-token", Attrs("list", "failoverdrills"));
  }

  // A small ledger over 300 s: a policy, scans (one with a member unverified), placements and
  // a violation opened and resolved. Then the clock moves on 60 s.
  void WriteLedger() {
    const apimachinery::ResourceInfo* info = server_->objects().registry().Find(
        "federation.meridian.io", "v1alpha1", "residencyevidences");
    ASSERT_NE(info, nullptr);
    residency::EvidenceLedger ledger(server_->objects(), *info, clock_);
    const json violation = {{"key", "us-east-1/apps/deployments/payments/rogue"},
                            {"member", "us-east-1"},
                            {"jurisdiction", "us"},
                            {"kind", "Deployment"},
                            {"namespace", "payments"},
                            {"name", "rogue"},
                            {"message", "member us-east-1 (us) holds Deployment payments/rogue"}};
    auto scan = [](json unverified) {
      return json{{"membersVerified", {"eu-west-1"}},
                  {"membersUnverified", std::move(unverified)},
                  {"objectsSeen", 4},
                  {"violations", 0},
                  {"openViolations", json::array()},
                  {"heartbeatSeconds", 60}};
    };
    const std::vector<std::tuple<int, std::string, json>> facts = {
        {0,
         "PolicyChange",
         {{"policy", "payments-eu-only"},
          {"change", "Created"},
          {"user", "alice"},
          {"jurisdictions", {"eu"}},
          {"namespaces", {"payments"}},
          {"generation", 1}}},
        {0, "AuditScan", scan(json::array())},
        {10,
         "Placement",
         {{"workload", "payments/ledger"},
          {"clusters", {{{"cluster", "eu-west-1"}, {"jurisdiction", "eu"}, {"replicas", 3}}}},
          {"retained", json::array()},
          {"unplaced", 0},
          {"allowed", "allowed by payments-eu-only: eu"}}},
        {60, "AuditScan", scan({{{"member", "ap-south-1"}, {"reason", "connection refused"}}})},
        {100, "ViolationOpened", violation},
        {200, "ViolationResolved", violation},
        {200, "AuditScan", scan(json::array())},
    };
    int at = 0;
    for (const auto& [t, type, data] : facts) {
      clock_.Advance(std::chrono::seconds(t - at));
      at = t;
      StatusOr<residency::EvidenceEntry> e = ledger.Append(type, data);
      ASSERT_TRUE(e.ok()) << e.status();
      entries_.push_back(*e);
    }
    clock_.Advance(std::chrono::seconds(360 - at));
  }

  // The report residency/compliance_report.h builds from the entries written, for `options`,
  // over the chain as the server stores it.
  std::string Expected(const residency::ReportOptions& options, ReportFormat format) {
    rest::RestResponse list = Call("admin-token", "GET", kEvidence);
    EXPECT_EQ(list.code, 200) << list.Body();
    residency::ChainVerifier verifier;
    const json items = json::parse(list.Body())["items"];
    EXPECT_EQ(items.size(), entries_.size() + 1) << "the entries and the head";
    for (const json& item : items) {
      EXPECT_TRUE(verifier.Add(item).ok());
    }
    StatusOr<residency::ChainSummary> chain = verifier.Finish();
    EXPECT_TRUE(chain.ok()) << chain.status();
    return residency::RenderComplianceReport(
        residency::BuildComplianceReport(entries_, *chain, options), format);
  }

  std::vector<residency::EvidenceEntry> entries_;
};

TEST_F(ComplianceReviewTest, AnswersTheReportOfTheLedgerInEachFormatAndStoresNothing) {
  WriteLedger();
  ASSERT_FALSE(HasFatalFailure());
  const std::string before = Call("admin-token", "GET", kEvidence).Body();
  struct Case {
    json spec;
    ReportFormat format;
    Timestamp from;
    std::string ns;
  };
  const Timestamp now = kFirst + std::chrono::seconds(360);
  const std::vector<Case> cases = {
      // Nothing given: the whole ledger up to now, as JSON.
      {json::object(), ReportFormat::kJson, kFirst, ""},
      {{{"since", "5m"}, {"format", "text"}},
       ReportFormat::kText,
       now - std::chrono::minutes(5),
       ""},
      {{{"since", "300s"}, {"format", "html"}, {"namespace", "payments"}},
       ReportFormat::kHtml,
       now - std::chrono::seconds(300),
       "payments"},
      {{{"since", "6m"}, {"format", "text"}, {"namespace", "billing"}},
       ReportFormat::kText,
       kFirst,
       "billing"},
  };
  for (const Case& c : cases) {
    const json& spec = c.spec;
    rest::RestResponse r = Call("residency-token", "POST", kReviews, Review(spec));
    ASSERT_EQ(r.code, 201) << spec.dump() << ": " << r.Body();
    const json answer = json::parse(r.Body());
    EXPECT_EQ(answer["kind"], "ComplianceReview");
    EXPECT_EQ(answer["spec"], spec);
    const json& status = answer["status"];
    residency::ReportOptions o;
    o.from = c.from;
    o.to = now;
    o.ns = c.ns;
    EXPECT_EQ(status["content"].get<std::string>(), Expected(o, c.format)) << spec.dump();
    EXPECT_EQ(status["from"], FormatRfc3339(o.from));
    EXPECT_EQ(status["to"], FormatRfc3339(now));
    EXPECT_EQ(status["contentType"], residency::ReportContentType(c.format));
    EXPECT_EQ(status["filename"].get<std::string>(),
              std::string("compliance-report") + (c.ns.empty() ? "" : "-" + c.ns) +
                  "-20270115T080600Z." + residency::ReportFileExtension(c.format));
  }
  // The JSON report reads back as the report's JSON, and the text names what happened.
  rest::RestResponse r = Call("residency-token", "POST", kReviews, Review({{"format", "text"}}));
  ASSERT_EQ(r.code, 201) << r.Body();
  const std::string text = json::parse(r.Body())["status"]["content"];
  EXPECT_NE(text.find("Workload payments/ledger  (allowed: allowed by payments-eu-only: eu)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("unverified: ap-south-1 (connection refused)"), std::string::npos) << text;
  EXPECT_NE(text.find("Violations (1)"), std::string::npos) << text;
  // Nothing stored: the ledger is as before, and there is nothing to get or list.
  EXPECT_EQ(Call("admin-token", "GET", kEvidence).Body(), before);
  EXPECT_EQ(Call("admin-token", "GET", kReviews).code, 405);
  EXPECT_EQ(Call("admin-token", "GET", std::string(kReviews) + "/x").code, 405);
}

// A compacted ledger (entries sealed by a signed checkpoint, then deleted): the server reports
// on it only with the ledger's public key (--evidence-public-key-file), the report saying what
// the checkpoint vouches for; without the key it says how to get one. A key file that is not a
// key is a startup error naming the flag.
TEST_F(ComplianceReviewTest, ACompactedLedgerIsReportedWithThePublicKeyOnly) {
  WriteLedger();
  ASSERT_FALSE(HasFatalFailure());
  StatusOr<residency::EvidenceSigningKey> key = residency::EvidenceSigningKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  const std::filesystem::path pub = dir_ / "evidence.pub";
  std::ofstream(pub) << key->public_key().Pem();
  {
    residency::EvidenceCheckpointer checkpointer(server_->objects(), clock_, *key, {});
    StatusOr<uint64_t> sealed = checkpointer.CheckpointNow();
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    clock_.Advance(std::chrono::seconds(60));
    StatusOr<uint64_t> removed = checkpointer.CompactBefore(clock_.Now());
    ASSERT_TRUE(removed.ok()) << removed.status();
    ASSERT_GT(*removed, 0u);
  }
  rest::RestResponse refused =
      Call("residency-token", "POST", kReviews, Review({{"format", "text"}}));
  EXPECT_NE(refused.code, 201) << refused.Body();
  EXPECT_NE(refused.Body().find("--evidence-public-key-file"), std::string::npos) << refused.Body();

  configure_server_ = [&](ServerOptions& o) { o.evidence_public_key_file = pub.string(); };
  RestartServer();
  AwaitAllowed("residency-token", Attrs("list", "residencyevidences"));
  rest::RestResponse r = Call("residency-token", "POST", kReviews, Review({{"format", "text"}}));
  ASSERT_EQ(r.code, 201) << r.Body();
  const std::string text = json::parse(r.Body())["status"]["content"];
  EXPECT_NE(text.find("compacted into signed checkpoint"), std::string::npos) << text;
  EXPECT_NE(text.find("Workload payments/ledger"), std::string::npos) << text;

  server_.reset();
  std::ofstream(dir_ / "not-a-key.pem") << "hello";
  ServerOptions bad;
  bad.storage = "sqlite:" + (dir_ / "db").string();
  bad.evidence_public_key_file = (dir_ / "not-a-key.pem").string();
  auto refused_start = FederationApiServer::Create(bad, clock_);
  ASSERT_FALSE(refused_start.ok());
  EXPECT_NE(refused_start.status().message().find("--evidence-public-key-file"), std::string::npos)
      << refused_start.status();
}

// The RBAC: a user who may list the ledger gets the report; one who may not (Kubernetes' `view`
// does not include residencyevidences) gets 403 saying so, though creating reviews is open to
// every authenticated user.
TEST_F(ComplianceReviewTest, RbacDecidesAsForReadingTheLedger) {
  WriteLedger();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(Call("viewer-token", "GET", kEvidence).code, 403);
  rest::RestResponse denied = Call("viewer-token", "POST", kReviews, Review(json::object()));
  EXPECT_EQ(denied.code, 403) << denied.Body();
  EXPECT_NE(json::parse(denied.Body())["message"].get<std::string>().find(
                "User \"viewer\" cannot list resource \"residencyevidences\" in API group "
                "\"federation.meridian.io\""),
            std::string::npos)
      << denied.Body();
  // Refused before the body is read: a malformed one is still 403, not 422.
  EXPECT_EQ(Call("viewer-token", "POST", kReviews, Review({{"since", "x"}})).code, 403);
  EXPECT_EQ(Call("residency-token", "POST", kReviews, Review(json::object())).code, 201);
  EXPECT_EQ(Call("admin-token", "POST", kReviews, Review(json::object())).code, 201);
  // Anonymous requests are refused before authorization (401).
  apimachinery::rest::RestRequest anonymous;
  anonymous.method = "POST";
  anonymous.path = kReviews;
  anonymous.body = Review(json::object()).dump();
  EXPECT_EQ(server_->handler().Handle(anonymous).code, 401);
  // Granting list on the ledger is all the viewer needs.
  json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "ClusterRole"},
               {"metadata", {{"name", "ledger-reader"}}},
               {"rules",
                {{{"verbs", {"list"}},
                  {"apiGroups", {"federation.meridian.io"}},
                  {"resources", {"residencyevidences"}}}}}};
  ASSERT_EQ(
      Call("admin-token", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", role).code,
      201);
  json binding = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", "ClusterRoleBinding"},
                  {"metadata", {{"name", "viewer-ledger"}}},
                  {"roleRef",
                   {{"apiGroup", "rbac.authorization.k8s.io"},
                    {"kind", "ClusterRole"},
                    {"name", "ledger-reader"}}},
                  {"subjects", json::array({{{"kind", "User"}, {"name", "viewer"}}})}};
  ASSERT_EQ(
      Call("admin-token", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
          .code,
      201);
  AwaitAllowed("viewer-token", Attrs("list", "residencyevidences"));
  EXPECT_EQ(Call("viewer-token", "POST", kReviews, Review(json::object())).code, 201);
}

TEST_F(ComplianceReviewTest, BadInputIs422NamingTheField) {
  // An empty ledger: no period to report on.
  rest::RestResponse empty = Call("residency-token", "POST", kReviews, Review(json::object()));
  ASSERT_EQ(empty.code, 422) << empty.Body();
  EXPECT_EQ(json::parse(empty.Body())["details"]["causes"][0]["field"], "spec.since");
  WriteLedger();
  ASSERT_FALSE(HasFatalFailure());
  struct Case {
    json body;
    std::string field;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Review({{"since", "12x"}}), "spec.since", "\"12x\": a whole number of seconds"},
      {Review({{"since", "0h"}}), "spec.since", "a whole number"},
      {Review({{"since", "-5m"}}), "spec.since", "a whole number"},
      {Review({{"since", 300}}), "spec.since", "must be a string"},
      {Review({{"since", "720h"}}), "spec.since",
       "\"720h\": reaches back to 2026-12-16T08:06:00Z, before the evidence ledger's first entry "
       "(2027-01-15T08:00:00Z); the ledger holds at most 360s (6m0s)"},
      {Review({{"until", "yesterday"}}), "spec.until", "an RFC 3339 UTC time"},
      {Review({{"until", "2027-01-15T08:06:01Z"}}), "spec.until", "is in the future"},
      {Review({{"until", "2027-01-15T07:59:59Z"}}), "spec.until", "before the evidence ledger"},
      {Review({{"format", "yaml"}}), "spec.format", "one of text, json, html"},
      {Review({{"period", "1h"}}), "spec.period", "Unknown field"},
      {{{"kind", "ComplianceReview"}, {"spec", "all"}}, "spec", "must be an object"},
      {{{"kind", "WhatIfReview"}, {"spec", json::object()}}, "kind", "must be ComplianceReview"},
  };
  for (const Case& c : cases) {
    rest::RestResponse r = Call("residency-token", "POST", kReviews, c.body);
    ASSERT_EQ(r.code, 422) << c.body.dump() << ": " << r.Body();
    const json status = json::parse(r.Body());
    ASSERT_FALSE(status["details"]["causes"].empty()) << r.Body();
    const json& cause = status["details"]["causes"][0];
    EXPECT_EQ(cause["field"], c.field) << r.Body();
    EXPECT_NE(cause["message"].get<std::string>().find(c.message), std::string::npos) << r.Body();
  }
  EXPECT_EQ(Call("residency-token", "POST", kReviews).code, 400);
  // With until at the ledger's last minute, a since of 5m fits again.
  EXPECT_EQ(Call("residency-token", "POST", kReviews,
                 Review({{"since", "5m"}, {"until", "2027-01-15T08:05:00Z"}}))
                .code,
            201);
}

}  // namespace
}  // namespace meridian::apiserver
