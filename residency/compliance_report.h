// The residency compliance report (issue 14): for a period, where each residency-bound
// workload ran (member, jurisdiction, from .. to, replicas), the audit's coverage (the share of
// the period in which every member was verified, and the gaps), the violations and the policy
// changes, built from the evidence ledger's entries (residency/ledger.h) once their chain has
// been verified; and its three renderings (text, JSON, one self-contained HTML file).
//
// Shared by `fedctl residency report` (cli/cmd_residency.cc, which reads and verifies the ledger
// itself) and the federation-apiserver's ComplianceReview (federation-apiserver/
// compliance_review.h, which the console downloads): the same entries and period give the same
// bytes from both. Pure; thread-compatible.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "residency/ledger.h"

namespace meridian::residency {

struct ReportOptions {
  Timestamp from, to;  // the period
  std::string ns;      // "" = every namespace
  // How long after an AuditScan entry its outcome still counts when the next one is late:
  // its heartbeatSeconds plus this (a scan interval and the scan itself).
  std::chrono::seconds heartbeat_grace{10};
};

struct RanInterval {
  std::string member, jurisdiction;
  Timestamp from, to;
  bool ongoing = false;  // still running at the end of the period
  int64_t max_replicas = 0;
};

struct ViolationRecord {
  std::string key, member, jurisdiction, kind, ns, name, workload, message;
  Timestamp opened;
  std::optional<Timestamp> resolved;
};

struct CoverageGap {
  Timestamp from, to;
  std::string reason;  // "no audit evidence" | "unverified: ap-south-1 (connection refused)"
};

struct PolicyChangeRecord {
  Timestamp time;
  std::string policy, change, user;
  std::vector<std::string> jurisdictions, namespaces;
};

struct WorkloadReport {
  std::string workload;  // "ns/name"
  std::string allowed;   // what residency allowed (latest)
  std::vector<RanInterval> ran;
  std::vector<ViolationRecord> violations;  // of this workload's managed objects
};

struct ComplianceReport {
  Timestamp from, to;
  std::string ns;
  ChainSummary chain;
  // Compacted chains: the part of the period before the first stored entry that only the
  // anchoring signed checkpoint covers (no detail: coverage counts it as not verified).
  std::optional<CoverageGap> checkpoint_only;
  double coverage = 0;  // share of the period in which every member was verified, 0..1
  std::vector<CoverageGap> gaps;
  std::vector<WorkloadReport> workloads;    // by name
  std::vector<ViolationRecord> violations;  // every violation overlapping the period
  std::vector<PolicyChangeRecord> policy_changes;
};

// Builds the report from the ledger's entries fed one at a time in chain order, so a reader
// that pages through the ledger holds only the report's own state (open intervals and
// violations, the workloads' intervals, policy changes), never the entries. Entries after
// `options.to` are ignored; entries of unknown shape are skipped (the chain was verified; a
// later version may record more). Data of a known type with a field of the wrong JSON type
// throws nlohmann::json::exception (the caller names the entry).
class ComplianceReportBuilder {
 public:
  explicit ComplianceReportBuilder(ReportOptions options);
  void Add(const EvidenceEntry& entry);
  // The report once every entry was added; `chain` is the verified chain's summary.
  ComplianceReport Finish(const ChainSummary& chain) &&;

 private:
  struct Scan {
    Timestamp time;
    int64_t heartbeat_seconds = 0;
    std::vector<std::string> unverified;  // "member (reason)"
  };
  void ApplyPlacement(const nlohmann::json& data, Timestamp time);
  // Coverage, one AuditScan at a time: `scan` vouches from its time until `next` (the next
  // scan's time, if any), at most heartbeat + grace.
  void Cover(const Scan& scan, std::optional<Timestamp> next);
  void Gap(Timestamp from, Timestamp to, const std::string& reason);

  const ReportOptions o_;
  ComplianceReport r_;
  bool past_period_ = false;
  std::optional<Timestamp> first_entry_time_;
  std::map<std::string, WorkloadReport> workloads_;
  std::map<std::string, std::map<std::string, RanInterval>> running_;  // workload -> member
  std::map<std::string, ViolationRecord> open_;
  std::vector<ViolationRecord> closed_;
  std::optional<Scan> last_scan_;  // waits for the next scan's time
  bool coverage_done_ = false;     // a scan at or after the period's end was reached
  Timestamp cursor_;               // coverage: everything before it is accounted for
  Timestamp::duration covered_{};
};

// The report for `options` from the ledger's entries (in chain order): the builder above.
ComplianceReport BuildComplianceReport(const std::vector<EvidenceEntry>& entries,
                                       const ChainSummary& chain, const ReportOptions& options);

void PrintReportText(const ComplianceReport& report, std::ostream& out);
nlohmann::json ReportJson(const ComplianceReport& report);
// One self-contained HTML file (inline CSS, no scripts, no external references); every
// value is escaped.
void PrintReportHtml(const ComplianceReport& report, std::ostream& out);

enum class ReportFormat { kText, kJson, kHtml };

// "text", "json" or "html"; nullopt otherwise.
std::optional<ReportFormat> ParseReportFormat(std::string_view name);

// The whole file in `format`, exactly as `fedctl residency report -o FORMAT` prints it (JSON:
// ReportJson indented by 2, then a newline).
std::string RenderComplianceReport(const ComplianceReport& report, ReportFormat format);

// "text/plain; charset=utf-8", "application/json", "text/html; charset=utf-8".
const char* ReportContentType(ReportFormat format);
// "txt", "json", "html".
const char* ReportFileExtension(ReportFormat format);

// "&<>\"'" escaped for HTML text and attribute values.
std::string HtmlEscape(const std::string& text);

// "3d4h", "2h5m", "4m10s": how the report writes a length of time.
std::string FormatReportDuration(Timestamp::duration d);

}  // namespace meridian::residency
