// fedctl residency violations: open residency violations found in the members by the
// residency-audit controller, and members it could not audit (cli/residency_violations.h).
// fedctl residency verify: checks the whole evidence ledger's hash chain and names the first
// broken entry (with --public-key also the signed checkpoints, and a compacted chain from its
// checkpoint); fedctl residency report: the compliance report from the ledger it verified
// (residency/compliance_report.h, the same the server's ComplianceReview answers).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/residency_evidence.h"
#include "cli/residency_violations.h"
#include "residency/compliance_report.h"

namespace meridian::cli {
namespace {

constexpr int64_t kPageSize = 1000;

// The page function over the server's ResidencyEvidence list, or null after saying why. The
// pages stay text so each entry can be hashed over its bytes as served (cli/raw_list.h).
EvidenceTextPageFn EvidencePages(HttpClient& client) {
  const KindInfo* kind = ResolveType("residencyevidences");
  if (kind == nullptr) {
    std::cerr << "error: this fedctl does not know ResidencyEvidence\n";
    return nullptr;
  }
  return [&client, kind](const std::string& token) {
    return client.ListPageText(*kind, "", kPageSize, token);
  };
}

// --verbose: how the entries were read (whether verify's fast path applied), on stderr.
void PrintReadStats(const EvidenceReadStats& s) {
  std::cerr << "residency verify: " << s.objects << " objects in " << s.pages << " page(s); "
            << s.hashed_from_stored << " entries hashed from their served bytes, "
            << (s.objects - s.hashed_from_stored) << " objects parsed in full";
  if (s.pages_parsed_whole > 0) std::cerr << " (" << s.pages_parsed_whole << " page(s) whole)";
  std::cerr << "\n";
}

int Violations(const GlobalFlags& g) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  const KindInfo* events = ResolveType("events");
  if (events == nullptr) {
    std::cerr << "error: this fedctl does not know core v1 events\n";
    return 1;
  }
  auto list = client->List(*events, "default", "");
  if (!list.ok()) {
    std::cerr << "error: " << list.error().message << "\n";
    return 1;
  }
  return PrintResidencyViolations(OpenResidencyViolations(list.value()), std::cout);
}

// The --public-key file, or nullopt (none given); false after saying why it is unusable.
bool LoadPublicKey(const std::string& file, std::optional<residency::EvidenceVerifyKey>* key) {
  if (file.empty()) return true;
  StatusOr<residency::EvidenceVerifyKey> k = residency::EvidenceVerifyKey::FromFile(file);
  if (!k.ok()) {
    std::cerr << "error: --public-key: " << k.status().message() << "\n";
    return false;
  }
  *key = std::move(*k);
  return true;
}

int Verify(const GlobalFlags& g, const std::string& public_key, bool verbose) {
  std::optional<residency::EvidenceVerifyKey> key;
  if (!LoadPublicKey(public_key, &key)) return 2;
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  EvidenceTextPageFn pages = EvidencePages(*client);
  if (!pages) return 1;
  EvidenceReadStats stats;
  StatusOr<residency::ChainSummary> summary = ReadVerifiedEvidenceText(pages, nullptr, key, &stats);
  if (verbose) PrintReadStats(stats);
  if (!summary.ok()) {
    // A compacted chain without the public key is not broken, only unproven here.
    std::cerr << (summary.status().code() == StatusCode::kFailedPrecondition
                      ? "error: residency evidence cannot be verified: "
                      : "error: residency evidence is broken: ")
              << summary.status().message() << "\n";
    return 1;
  }
  std::cout << DescribeVerified(*summary) << "\n";
  return 0;
}

struct ReportFlags {
  std::string since = "720h";
  std::string until;  // "" = now
  std::string ns;
  std::string output = "text";
  std::string public_key;
};

int Report(const GlobalFlags& g, const ReportFlags& f) {
  std::chrono::milliseconds since{};
  if (!ParseTimeout(f.since, &since) || since.count() <= 0) {
    std::cerr << "error: --since: \"" << f.since << "\" is not a duration such as 720h or 30m\n";
    return 2;
  }
  residency::ReportOptions options;
  options.to = std::chrono::time_point_cast<Timestamp::duration>(std::chrono::system_clock::now());
  if (!f.until.empty() && !ParseRfc3339(f.until, &options.to)) {
    std::cerr << "error: --until: \"" << f.until
              << "\" is not an RFC 3339 UTC time such as 2026-12-06T09:30:00Z\n";
    return 2;
  }
  const std::optional<residency::ReportFormat> format = residency::ParseReportFormat(f.output);
  if (!format) {
    std::cerr << "error: -o: \"" << f.output << "\" is not one of text, json, html\n";
    return 2;
  }
  std::optional<residency::EvidenceVerifyKey> key;
  if (!LoadPublicKey(f.public_key, &key)) return 2;
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  EvidenceTextPageFn pages = EvidencePages(*client);
  if (!pages) return 1;
  options.from = options.to - since;
  options.ns = f.ns;
  // Fed while the ledger is read, so only the report's state is held, never the entries; used
  // only once the whole chain has verified.
  residency::ComplianceReportBuilder builder(options);
  StatusOr<residency::ChainSummary> summary = ReadVerifiedEvidenceText(
      pages, [&builder](const residency::EvidenceEntry& e) { builder.Add(e); }, key);
  if (!summary.ok()) {
    // A report over evidence that does not verify would prove nothing.
    std::cerr << "error: residency evidence is broken, no report: " << summary.status().message()
              << "\n";
    return 1;
  }
  std::cout << residency::RenderComplianceReport(std::move(builder).Finish(*summary), *format);
  return 0;
}

const CommandRegistration kResidency({
    .name = "residency",
    .description = "residency evidence: `violations` lists what the member audit found, "
                   "`verify` checks the evidence ledger, `report` is the compliance report",
    .define = [](CLI::App& app) -> CommandRun {
      CLI::App* violations = app.add_subcommand(
          "violations", "objects in members of disallowed jurisdictions, not yet resolved");
      CLI::App* verify = app.add_subcommand(
          "verify", "check the whole residency evidence ledger; names the first broken entry");
      CLI::App* report = app.add_subcommand(
          "report",
          "compliance report from the evidence ledger: where each residency-bound "
          "workload ran, audit coverage, violations, policy changes");
      auto flags = std::make_shared<ReportFlags>();
      report->add_option("--since", flags->since, "the period: this long until now (720h)");
      report->add_option("--until", flags->until,
                         "the period's end, RFC 3339 UTC (2026-12-06T09:30:00Z; default now)");
      report->add_option("--namespace", flags->ns, "only workloads and violations of namespace");
      report->add_option("-o,--output", flags->output, "text, json or html (one file)");
      auto verify_key = std::make_shared<std::string>();
      const char* key_help =
          "the evidence signing public key (PEM; fedctl admin init writes "
          "evidence-signing.pub): checks checkpoint signatures, needed once the ledger is "
          "compacted";
      verify->add_option("--public-key", *verify_key, key_help);
      auto verbose = std::make_shared<bool>(false);
      verify->add_flag("--verbose", *verbose,
                       "also say on stderr how many entries were hashed from their served "
                       "bytes and how many were parsed in full");
      report->add_option("--public-key", flags->public_key, key_help);
      app.require_subcommand(1);
      return [violations, verify, report, flags, verify_key, verbose](const GlobalFlags& g) {
        if (violations->parsed()) return Violations(g);
        if (verify->parsed()) return Verify(g, *verify_key, *verbose);
        if (report->parsed()) return Report(g, *flags);
        return 2;
      };
    },
});

}  // namespace
}  // namespace meridian::cli
