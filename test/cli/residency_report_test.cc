// fedctl residency verify / report over a synthetic ledger: reading pages, refusing a broken
// chain, and the report's intervals, coverage (gaps where a member was unverified or nobody
// looked), violations, policy changes, namespace and period filters, and escaped HTML; reading
// the pages as text (each item's bytes, cli/raw_list.h) finds the same.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/raw_list.h"
#include "cli/residency_evidence.h"
#include "residency/compliance_report.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using residency::EvidenceEntry;
using residency::EvidenceHead;
// The report itself is residency/compliance_report.h (shared with the server's
// ComplianceReview); fedctl reads and verifies the ledger, then builds it.
using residency::BuildComplianceReport;
using residency::ComplianceReport;
using residency::HtmlEscape;
using residency::PrintReportHtml;
using residency::PrintReportText;
using residency::ReportJson;
using residency::ReportOptions;
using residency::WorkloadReport;

const Timestamp kT0 = Timestamp{} + std::chrono::seconds(1'796'000'000);
Timestamp At(int seconds) { return kT0 + std::chrono::seconds(seconds); }

json Scan(std::vector<std::string> unverified = {}, std::vector<std::string> open = {}) {
  json u = json::array();
  for (const std::string& m : unverified)
    u.push_back({{"member", m}, {"reason", "connection refused"}});
  return {{"membersVerified", {"eu-west-1", "eu-central-1", "us-east-1"}},
          {"membersUnverified", u},
          {"objectsSeen", 40},
          {"violations", static_cast<int64_t>(open.size())},
          {"openViolations", open},
          {"heartbeatSeconds", 60}};
}

json Placement(std::map<std::string, int64_t> clusters) {
  json lines = json::array();
  for (const auto& [c, n] : clusters) {
    lines.push_back({{"cluster", c}, {"jurisdiction", "eu"}, {"replicas", n}});
  }
  return {{"workload", "payments/ledger"},
          {"clusters", lines},
          {"retained", json::array()},
          {"unplaced", 0},
          {"allowed", "allowed by payments-eu-only: eu; intersection: eu"}};
}

const json kViolation = {
    {"key", "us-east-1/apps/deployments/payments/rogue"},
    {"member", "us-east-1"},
    {"jurisdiction", "us"},
    {"kind", "Deployment"},
    {"namespace", "payments"},
    {"name", "rogue<script>"},
    {"message", "member us-east-1 (us) holds Deployment payments/rogue<script>"}};

// The ledger of a 600 s period: see each line.
std::vector<EvidenceEntry> Ledger() {
  std::vector<std::pair<int, std::pair<const char*, json>>> facts = {
      {0,
       {"PolicyChange",
        {{"policy", "payments-eu-only"},
         {"change", "Observed"},
         {"user", "alice"},
         {"jurisdictions", {"eu"}},
         {"namespaces", {"payments"}},
         {"generation", 1}}}},
      {0, {"AuditScan", Scan()}},
      {10, {"Placement", Placement({{"eu-west-1", 8}, {"eu-central-1", 4}})}},
      {60, {"AuditScan", Scan()}},  // heartbeat
      {100, {"ViolationOpened", kViolation}},
      {100, {"AuditScan", Scan({}, {kViolation["key"]})}},
      {130, {"AuditScan", Scan({"ap-south-1"}, {kViolation["key"]})}},
      {160, {"AuditScan", Scan({}, {kViolation["key"]})}},
      {200, {"ViolationResolved", kViolation}},
      {200, {"AuditScan", Scan()}},
      {200, {"Placement", Placement({{"eu-west-1", 12}})}},
      // then nothing: nobody looked after 200 + 60 + 10 s
  };
  std::vector<EvidenceEntry> out;
  EvidenceHead head;
  for (auto& [t, fact] : facts) {
    out.push_back(residency::NextEntry(head, At(t), fact.first, fact.second));
    head = {out.back().sequence, out.back().hash};
  }
  return out;
}

ComplianceReport Report(const std::string& ns = "", int from = 0) {
  residency::ChainSummary chain;
  chain.entries = chain.head_sequence = 11;
  ReportOptions o;
  o.from = At(from);
  o.to = At(600);
  o.ns = ns;
  return BuildComplianceReport(Ledger(), chain, o);
}

TEST(ResidencyReportTest, WhereItRanCoverageViolationsAndPolicyChanges) {
  ComplianceReport r = Report();
  ASSERT_EQ(r.workloads.size(), 1u);
  const WorkloadReport& w = r.workloads[0];
  EXPECT_EQ(w.workload, "payments/ledger");
  ASSERT_EQ(w.ran.size(), 2u);
  EXPECT_EQ(w.ran[0].member, "eu-central-1");
  EXPECT_EQ(w.ran[0].from, At(10));
  EXPECT_EQ(w.ran[0].to, At(200));
  EXPECT_FALSE(w.ran[0].ongoing);
  EXPECT_EQ(w.ran[0].max_replicas, 4);
  EXPECT_EQ(w.ran[1].member, "eu-west-1");
  EXPECT_EQ(w.ran[1].to, At(600));
  EXPECT_TRUE(w.ran[1].ongoing);
  EXPECT_EQ(w.ran[1].max_replicas, 12);

  // Covered: 0-130 and 160-270 (the last scan vouches for its heartbeat + 10 s) = 240 of 600.
  EXPECT_DOUBLE_EQ(r.coverage, 0.4);
  ASSERT_EQ(r.gaps.size(), 2u);
  EXPECT_EQ(r.gaps[0].from, At(130));
  EXPECT_EQ(r.gaps[0].to, At(160));
  EXPECT_EQ(r.gaps[0].reason, "unverified: ap-south-1 (connection refused)");
  EXPECT_EQ(r.gaps[1].from, At(270));
  EXPECT_EQ(r.gaps[1].to, At(600));
  EXPECT_EQ(r.gaps[1].reason, "no audit evidence");

  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].opened, At(100));
  ASSERT_TRUE(r.violations[0].resolved.has_value());
  EXPECT_EQ(*r.violations[0].resolved, At(200));
  EXPECT_EQ(r.violations[0].member, "us-east-1");

  ASSERT_EQ(r.policy_changes.size(), 1u);
  EXPECT_EQ(r.policy_changes[0].user, "alice");
  EXPECT_EQ(r.policy_changes[0].change, "Observed");
}

TEST(ResidencyReportTest, APeriodStartingLaterClipsIntervals) {
  ComplianceReport r = Report("", 150);
  ASSERT_EQ(r.workloads.size(), 1u);
  EXPECT_EQ(r.workloads[0].ran[0].from, At(150));
  EXPECT_EQ(r.violations.size(), 1u) << "resolved inside the period";
  EXPECT_TRUE(r.policy_changes.empty());
  // 150-160 unverified, 160-270 covered, 270-600 nobody looked.
  EXPECT_NEAR(r.coverage, 110.0 / 450.0, 1e-9);
  r = Report("", 300);
  EXPECT_TRUE(r.violations.empty()) << "resolved before the period";
  EXPECT_EQ(r.workloads[0].ran.size(), 1u) << "eu-central-1 ended before the period";
  EXPECT_EQ(r.coverage, 0);
}

TEST(ResidencyReportTest, TheNamespaceFilter) {
  ComplianceReport r = Report("billing");
  EXPECT_TRUE(r.workloads.empty());
  EXPECT_TRUE(r.violations.empty());
  EXPECT_TRUE(r.policy_changes.empty());
  EXPECT_EQ(Report("payments").workloads.size(), 1u);
}

TEST(ResidencyReportTest, TextJsonAndEscapedSelfContainedHtml) {
  ComplianceReport r = Report();
  std::ostringstream text;
  PrintReportText(r, text);
  EXPECT_NE(text.str().find("Audit coverage: 40.00% of the period"), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("eu-west-1 (eu)  2026-11-30T00:53:30Z .. (running)  up to 12"),
            std::string::npos)
      << text.str();
  json j = ReportJson(r);
  EXPECT_EQ(j["coverage"], 0.4);
  EXPECT_EQ(j["workloads"][0]["ran"][0]["member"], "eu-central-1");
  EXPECT_EQ(j["violations"][0]["resolved"], "2026-11-30T00:56:40Z");
  std::ostringstream html;
  PrintReportHtml(r, html);
  EXPECT_EQ(html.str().rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.str().find("<script"), std::string::npos) << "escaped";
  EXPECT_NE(html.str().find("rogue&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.str().find("http"), std::string::npos) << "no external references";
  EXPECT_EQ(HtmlEscape("a&b<\"'>"), "a&amp;b&lt;&quot;&#39;&gt;");
  // The whole files as fedctl prints them (and the server's ComplianceReview answers them).
  using residency::RenderComplianceReport;
  using residency::ReportFormat;
  EXPECT_EQ(RenderComplianceReport(r, ReportFormat::kText), text.str());
  EXPECT_EQ(RenderComplianceReport(r, ReportFormat::kJson), j.dump(2) + "\n");
  EXPECT_EQ(RenderComplianceReport(r, ReportFormat::kHtml), html.str());
  EXPECT_EQ(residency::ParseReportFormat("yaml"), std::nullopt);
}

// The ledger as the API pages it: two pages, the head last.
std::vector<json> Pages(const std::vector<EvidenceEntry>& entries) {
  json first = {{"items", json::array()}, {"metadata", {{"continue", "next"}}}};
  json second = {{"items", json::array()}, {"metadata", json::object()}};
  for (size_t i = 0; i < entries.size(); ++i) {
    (i < 5 ? first : second)["items"].push_back(residency::EvidenceObject(entries[i]));
  }
  second["items"].push_back(
      residency::HeadObject({entries.back().sequence, entries.back().hash}, kT0));
  return {first, second};
}

TEST(ResidencyReportTest, ReadVerifiedEvidencePagesAndRefusesABrokenChain) {
  std::vector<json> pages = Pages(Ledger());
  auto page = [&pages](const std::string& token) -> apimachinery::ApiResult<json> {
    return token.empty() ? pages[0] : pages[1];
  };
  std::vector<EvidenceEntry> seen;
  StatusOr<residency::ChainSummary> s =
      ReadVerifiedEvidence(page, [&seen](const EvidenceEntry& e) { seen.push_back(e); });
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(seen.size(), 11u);
  EXPECT_EQ(DescribeVerified(*s).rfind("Residency evidence verified: 11 entries", 0), 0u);
  pages[1]["items"][2]["spec"]["data"]["clusters"][0]["replicas"] = 13;  // entry 8
  s = ReadVerifiedEvidence(page);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind("entry 8 (00000000000000000008): changed", 0), 0u)
      << s.status();
  auto failing = [](const std::string&) -> apimachinery::ApiResult<json> {
    return apimachinery::ApiError::Internal("store down");
  };
  EXPECT_EQ(ReadVerifiedEvidence(failing).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace meridian::cli

namespace meridian::cli {
namespace {

// After compaction: entries 1..11 sealed by checkpoint 12 and removed. The report still knows
// where the workload ran (from the checkpoint's state) and says which part of the period only
// the checkpoint covers.
TEST(ResidencyReportTest, ACompactedLedgerSaysWhatOnlyTheCheckpointCovers) {
  std::vector<EvidenceEntry> full = Ledger();
  const EvidenceHead head{full.back().sequence, full.back().hash};
  json placement = Placement({{"eu-west-1", 12}});
  placement["time"] = residency::FormatEvidenceTime(At(200));
  const residency::EvidenceSigningKey key = *residency::EvidenceSigningKey::Generate();
  EvidenceEntry cp = residency::NextCheckpoint(
      head, At(205), full.back().time,
      {{"firstTime", full.front().time},
       {"previousCheckpoint", 0},
       {"state", {{"placements", json::array({placement})}, {"openViolations", json::array()}}}},
      key);
  EvidenceEntry scan = residency::NextEntry({cp.sequence, cp.hash}, At(300), "AuditScan", Scan());
  residency::ChainVerifier v(key.public_key());
  for (const EvidenceEntry& e : {cp, scan}) ASSERT_TRUE(v.AddEntry(e).ok()) << v.AddEntry(e);
  ASSERT_TRUE(v.Add(residency::HeadObject({scan.sequence, scan.hash, cp.sequence}, At(300))).ok());
  StatusOr<residency::ChainSummary> chain = v.Finish();
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_NE(DescribeVerified(*chain).find("entries 1..11 were compacted: signed checkpoint 12 "
                                          "seals entries 1..11"),
            std::string::npos)
      << DescribeVerified(*chain);

  ReportOptions o;
  o.from = At(0);
  o.to = At(600);
  ComplianceReport r = BuildComplianceReport({cp, scan}, *chain, o);
  ASSERT_EQ(r.workloads.size(), 1u);
  ASSERT_EQ(r.workloads[0].ran.size(), 1u);
  EXPECT_EQ(r.workloads[0].ran[0].member, "eu-west-1");
  EXPECT_EQ(r.workloads[0].ran[0].from, At(200));
  EXPECT_TRUE(r.workloads[0].ran[0].ongoing);
  ASSERT_TRUE(r.checkpoint_only.has_value());
  EXPECT_EQ(r.checkpoint_only->from, At(0));
  EXPECT_EQ(r.checkpoint_only->to, At(205));
  ASSERT_FALSE(r.gaps.empty());
  EXPECT_EQ(r.gaps[0].from, At(0));
  EXPECT_EQ(r.gaps[0].to, At(205));
  EXPECT_EQ(r.gaps[0].reason.rfind("compacted: only signed checkpoint 12 vouches for it", 0), 0u)
      << r.gaps[0].reason;
  // Covered: 300-370 only (the one stored scan).
  EXPECT_NEAR(r.coverage, 70.0 / 600.0, 1e-9);
  std::ostringstream text;
  PrintReportText(r, text);
  EXPECT_NE(text.str().find("only by the checkpoint"), std::string::npos) << text.str();
  const json j = ReportJson(r);
  EXPECT_EQ(j["evidence"]["compacted"]["checkpoint"], 12);
  EXPECT_EQ(j["evidence"]["checkpointOnly"]["to"], FormatRfc3339(At(205)));
}

}  // namespace
}  // namespace meridian::cli

namespace meridian::cli {
namespace {

// What the federation-apiserver sends for a list (rest_handler.cc: dump, UTF-8 kept).
std::string Served(const json& list) {
  return list.dump(-1, ' ', false, json::error_handler_t::replace);
}

TEST(RawListTest, SplitsEachItemsExactBytes) {
  json list = {{"apiVersion", "meridian.io/v1alpha1"},
               {"kind", "ResidencyEvidenceList"},
               {"metadata", {{"continue", "tok\"en"}, {"resourceVersion", "7"}}},
               {"items",
                {{{"a", "]}\"{["}, {"b", {1, 2, {{"c", nullptr}}}}},
                 {{"x", "back\\slash\\\""}, {"y", -3}, {"z", true}},
                 "scalar",
                 12}}};
  std::string body = Served(list);
  std::optional<RawList> raw = SplitListItems(body);
  ASSERT_TRUE(raw.has_value()) << body;
  ASSERT_EQ(raw->items.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(raw->items[i], list["items"][i].dump()) << i;
  EXPECT_EQ(raw->metadata["continue"], "tok\"en");
  // Insignificant whitespace: each item's text as written, still each item.
  body = list.dump(2);
  raw = SplitListItems(body);
  ASSERT_TRUE(raw.has_value());
  ASSERT_EQ(raw->items.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(json::parse(raw->items[i]), list["items"][i]) << i;
  raw = SplitListItems(R"({"items":[],"metadata":{}})");
  ASSERT_TRUE(raw.has_value());
  EXPECT_TRUE(raw->items.empty());
  // What it cannot follow: nullopt (the caller parses the whole body and says what is wrong).
  for (const char* bad :
       {"", "[]", "not json", R"({"metadata":{}})", R"({"items":1})", R"({"items":[{]})",
        R"({"items":[{"a":"unterminated}]})", R"({"items":[1,]})", R"({"items":[]} x)",
        R"({"items":[],"items":[]})", R"({"items":[],"metadata":[]})", R"({"items":[1 2]})"}) {
    EXPECT_FALSE(SplitListItems(bad).has_value()) << bad;
  }
}

// The ledger as the server serves it, as text: two pages, the head last.
std::vector<std::string> TextPages(const std::vector<EvidenceEntry>& entries, int indent = -1) {
  std::vector<std::string> out;
  for (json& page : Pages(entries)) {
    page["apiVersion"] = "meridian.io/v1alpha1";
    page["kind"] = "ResidencyEvidenceList";
    out.push_back(indent < 0 ? Served(page) : page.dump(indent));
  }
  return out;
}

TEST(ResidencyReportTest, ReadVerifiedEvidenceTextHashesServedBytesAndFindsTheSame) {
  const std::vector<EvidenceEntry> ledger = Ledger();
  std::vector<std::string> pages = TextPages(ledger);
  auto page = [&pages](const std::string& token) -> apimachinery::ApiResult<std::string> {
    return token.empty() ? pages[0] : pages[1];
  };
  std::vector<EvidenceEntry> seen;
  EvidenceReadStats stats;
  StatusOr<residency::ChainSummary> s = ReadVerifiedEvidenceText(
      page, [&seen](const EvidenceEntry& e) { seen.push_back(e); }, std::nullopt, &stats);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(stats.objects, 12u);
  EXPECT_EQ(stats.pages, 2u);
  EXPECT_EQ(stats.pages_parsed_whole, 0u);
  EXPECT_EQ(stats.hashed_from_stored, 11u) << "every entry by the fast path, the head in full";
  ASSERT_EQ(seen.size(), ledger.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].hash, ledger[i].hash);
    EXPECT_EQ(seen[i].data, ledger[i].data);
  }
  EXPECT_EQ(DescribeVerified(*s), DescribeVerified(*ReadVerifiedEvidenceText(page)));

  // Pretty-printed pages (not canonical): every entry parsed in full, the same summary.
  std::vector<std::string> pretty = TextPages(ledger, 1);
  auto pretty_page = [&pretty](const std::string& token) -> apimachinery::ApiResult<std::string> {
    return token.empty() ? pretty[0] : pretty[1];
  };
  StatusOr<residency::ChainSummary> p =
      ReadVerifiedEvidenceText(pretty_page, nullptr, std::nullopt, &stats);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(stats.hashed_from_stored, 0u);
  EXPECT_EQ(DescribeVerified(*p), DescribeVerified(*s));

  // One byte of entry 11's served data flipped (12 -> 13 replicas): found by the fast path.
  const size_t at = pages[1].find("\"replicas\":12");
  ASSERT_NE(at, std::string::npos) << pages[1];
  pages[1][at + std::string("\"replicas\":1").size()] = '3';
  s = ReadVerifiedEvidenceText(page, nullptr, std::nullopt, &stats);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind("entry 11 (00000000000000000011): changed", 0), 0u)
      << s.status();
  EXPECT_EQ(stats.hashed_from_stored, 11u);

  // A page that is not JSON: said.
  pages[0] = "<html>";
  EXPECT_EQ(ReadVerifiedEvidenceText(page).status().message(),
            "listing residencyevidences: the answer is not JSON");
}

}  // namespace
}  // namespace meridian::cli
