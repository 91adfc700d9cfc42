// ComplianceReview: the residency compliance report (residency/compliance_report.h) asked of the
// server and answered in the response, never stored (the create-only idiom of WhatIfReview,
// what_if_review.h), so the console (and any client) can download it:
//
//   POST /apis/federation.meridian.io/v1alpha1/compliancereviews
//   {"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ComplianceReview",
//    "spec": {"since": "720h", "until": "2026-12-06T09:30:00Z", "namespace": "payments",
//             "format": "html"}}
//   -> 201 with the same object and `status`: {from, to, format, contentType, filename,
//      content}; `content` is the whole file, byte for byte what `fedctl residency report
//      --since S --until U [--namespace N] -o F` prints over the same ledger.
//
// spec (every field optional): since, a whole number of seconds, minutes or hours ("90s",
// "30m", "720h"; omitted: the whole ledger, from its first entry); until, RFC 3339 UTC, not in
// the future (omitted: now, to the second); namespace (omitted: every namespace); format, text |
// json | html (omitted: json). Bad input is 422 naming the field: an unknown field, a malformed
// value, and a `since` that reaches back before the ledger's first entry (the error says how
// far back it goes), or any `since` when the ledger is empty.
//
// The server reads the ledger as fedctl does: page by page (kEvidencePageSize objects), checking
// the whole hash chain (residency::ChainVerifier) while feeding the entries to a
// residency::ComplianceReportBuilder, so it holds one page and the report's state, never the
// ledger. A chain that does not verify gives no report (500 naming the first broken entry). A
// compacted chain is verified with the ledger's public key when the server has one
// (--evidence-public-key-file: the anchoring checkpoint's signature vouches for the removed
// entries); without it, 422 saying so (`fedctl residency report --public-key` does it too).
//
// Authorization: the report shows what the ledger holds, so it is decided as reading the
// ledger: the requesting user must be allowed to `list residencyevidences` (cluster scope), or
// the answer is 403 with Kubernetes' message for that. Creating the review itself is granted to
// every authenticated user (system:basic-user, like SelfSubjectAccessReview). Every other method
// on the path is 405; discovery lists it with verbs [create].
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apimachinery/object_service.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "common/field_error.h"
#include "federation-apiserver/rbac/authorizer.h"
#include "residency/compliance_report.h"
#include "residency/ledger_signing.h"

namespace meridian::apiserver {

inline constexpr char kComplianceReviewKind[] = "ComplianceReview";
inline constexpr char kComplianceReviewPlural[] = "compliancereviews";
// Ledger objects read per page.
inline constexpr int64_t kEvidencePageSize = 1000;

// A ComplianceReview's spec, parsed.
struct ComplianceReviewSpec {
  std::optional<std::chrono::seconds> since;  // nullopt: the whole ledger
  std::string since_text;                     // as given, for errors
  std::optional<Timestamp> until;             // nullopt: now
  std::string ns;
  residency::ReportFormat format = residency::ReportFormat::kJson;
};

// The body's spec. Problems go to `errors` with their field path ("spec.since: Invalid value:
// \"12x\": ..."); the result is only meaningful when `errors` stayed empty. Pure.
ComplianceReviewSpec ParseComplianceReviewSpec(const nlohmann::json& body, FieldErrors* errors);

// The report's period for `spec` at `now` over a ledger whose first entry (or, compacted, whose
// first checkpoint-sealed entry) is at `ledger_first` (nullopt: the ledger is empty): to =
// until, or now truncated to the second; from = to - since, or, without since, to minus the
// whole seconds since ledger_first. Problems go to `errors`: spec.until in the future,
// spec.since reaching before ledger_first (naming both times and the longest since that fits),
// an empty ledger. Pure.
residency::ReportOptions ComplianceReportPeriod(const ComplianceReviewSpec& spec,
                                                std::optional<Timestamp> ledger_first,
                                                Timestamp now, FieldErrors* errors);

// `report` rendered as the review's status (see the file comment). Pure.
nlohmann::json ComplianceReviewStatus(const residency::ComplianceReport& report,
                                      residency::ReportFormat format);

// Registers the route (POST answers, any other method 405) on `handler`, after its filters
// (authentication, RBAC), and its discovery entry. `objects`, `authorizer` and `clock` (the
// review's "now") must outlive `handler`. `key` verifies the ledger's signed checkpoints
// (none: a compacted ledger gets no report).
void InstallComplianceReview(apimachinery::rest::RestHandler& handler,
                             apimachinery::ObjectService& objects,
                             const rbac::Authorizer& authorizer, const Clock& clock,
                             std::optional<residency::EvidenceVerifyKey> key = std::nullopt);

}  // namespace meridian::apiserver
