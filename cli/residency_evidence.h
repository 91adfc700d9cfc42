// `fedctl residency verify` and `fedctl residency report`: reading the residency evidence
// ledger (residency/ledger.h) from the API page by page and checking its whole chain (the
// report built from the verified entries is residency/compliance_report.h, which the
// federation-apiserver's ComplianceReview shares). Pure apart from the page function the caller
// supplies.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/api_error.h"
#include "common/clock.h"
#include "common/status.h"
#include "residency/ledger.h"

namespace meridian::cli {

// One page of the ResidencyEvidence list after `continue_token` ("" first): a List object
// whose metadata.continue is "" on the last page.
using EvidencePageFn =
    std::function<apimachinery::ApiResult<nlohmann::json>(const std::string& continue_token)>;

// One page as the server's response text (HttpClient::ListPageText), unparsed.
using EvidenceTextPageFn =
    std::function<apimachinery::ApiResult<std::string>(const std::string& continue_token)>;

// What reading the ledger found beyond the summary (fedctl residency verify --verbose).
struct EvidenceReadStats {
  uint64_t objects = 0;  // entries and the head, as listed
  // Entries hashed over their data's bytes as served (ChainVerifier::AddStored's fast path);
  // the rest were parsed in full (the head, checkpoints, data not in canonical form).
  uint64_t hashed_from_stored = 0;
  uint64_t pages = 0;
  uint64_t pages_parsed_whole = 0;  // pages SplitListItems could not follow (cli/raw_list.h)
};

// Reads the whole ledger from pages of text and checks its chain: each item's exact bytes go
// to ChainVerifier::AddStored, so entries whose data is served in canonical form (every entry
// the writer stored, as the server serves dump() of the stored object) are hashed over those
// bytes without building their JSON tree. Finds exactly what the parsed-page version below
// finds; `each`, `key` and the errors are as there. `stats`, when given, is filled in (also
// when the chain is broken).
StatusOr<residency::ChainSummary> ReadVerifiedEvidenceText(
    const EvidenceTextPageFn& page,
    const std::function<void(const residency::EvidenceEntry&)>& each = nullptr,
    std::optional<residency::EvidenceVerifyKey> key = std::nullopt,
    EvidenceReadStats* stats = nullptr);

// Reads the whole ledger and checks its chain (residency::ChainVerifier) and, with `key`, its
// checkpoints' signatures. Each page is serialised back to text and read as above. `each`, when
// given, gets every entry (not the head; checkpoints too) in order once it has been checked.
// Errors: the API failed (its message), or the chain is broken: kDataLoss naming the first broken
// entry; a compacted chain without `key`: kFailedPrecondition.
StatusOr<residency::ChainSummary> ReadVerifiedEvidence(
    const EvidencePageFn& page,
    const std::function<void(const residency::EvidenceEntry&)>& each = nullptr,
    std::optional<residency::EvidenceVerifyKey> key = std::nullopt);

// "Residency evidence verified: 1234 entries (2026-… .. 2026-…), head at entry 1234." plus
// what the checkpoints vouch for (compacted entries, the key id) or that they went unchecked.
std::string DescribeVerified(const residency::ChainSummary& summary);

}  // namespace meridian::cli
