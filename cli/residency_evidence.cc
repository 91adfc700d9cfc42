#include "cli/residency_evidence.h"

#include "cli/raw_list.h"
#include "common/field_error.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using residency::EvidenceEntry;

// A page that could not be split into item texts, parsed whole: every item added as an object
// (the verifier's own wording for whatever is wrong with it). Returns the next page's token.
StatusOr<std::string> AddParsedPage(json& list, residency::ChainVerifier& verifier,
                                    const std::function<void(const EvidenceEntry&)>& each,
                                    EvidenceReadStats& stats) {
  for (json& item : list["items"]) {
    ++stats.objects;
    const bool entry = item["metadata"].value("name", "") != api::kEvidenceHeadName;
    if (!each) {
      // Verify only: the page is not needed afterwards, so its items are taken apart.
      MERIDIAN_RETURN_IF_ERROR(verifier.Add(std::move(item)));
      continue;
    }
    MERIDIAN_RETURN_IF_ERROR(verifier.Add(item));
    if (entry) {
      // Checked just now: the decode cannot fail.
      StatusOr<EvidenceEntry> e = residency::EntryFromObject(item);
      if (e.ok()) each(*e);
    }
  }
  return list["metadata"].value("continue", "");
}

}  // namespace

StatusOr<residency::ChainSummary> ReadVerifiedEvidenceText(
    const EvidenceTextPageFn& page, const std::function<void(const EvidenceEntry&)>& each,
    std::optional<residency::EvidenceVerifyKey> key, EvidenceReadStats* stats_out) {
  residency::ChainVerifier verifier(std::move(key));
  EvidenceReadStats stats;
  auto read = [&]() -> StatusOr<residency::ChainSummary> {
    std::string token;
    do {
      apimachinery::ApiResult<std::string> text = page(token);
      if (!text.ok()) {
        return UnavailableError("listing residencyevidences: " + text.error().message);
      }
      ++stats.pages;
      std::optional<RawList> raw = SplitListItems(text.value());
      if (!raw) {
        ++stats.pages_parsed_whole;
        json list = json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
        if (list.is_discarded()) {
          return UnavailableError("listing residencyevidences: the answer is not JSON");
        }
        MERIDIAN_ASSIGN_OR_RETURN(token, AddParsedPage(list, verifier, each, stats));
        continue;
      }
      for (std::string_view item : raw->items) {
        ++stats.objects;
        Status added = verifier.AddStored(item);
        stats.hashed_from_stored = verifier.hashed_from_stored();
        MERIDIAN_RETURN_IF_ERROR(added);
        if (!each) continue;
        // The report needs each entry's data: parsed and decoded here, but not hashed again
        // (AddStored just checked it, fast or not).
        const json object = json::parse(item, nullptr, /*allow_exceptions=*/false);
        if (object.is_discarded() || !object.is_object() ||
            object["metadata"].value("name", "") == api::kEvidenceHeadName) {
          continue;
        }
        FieldErrors errors;
        api::ResidencyEvidence e = api::DecodeResidencyEvidence(object, &errors);
        if (errors.empty()) each(e.spec);
      }
      token = raw->metadata.value("continue", "");
    } while (!token.empty());
    return verifier.Finish();
  };
  StatusOr<residency::ChainSummary> out = read();
  if (stats_out != nullptr) *stats_out = stats;
  return out;
}

StatusOr<residency::ChainSummary> ReadVerifiedEvidence(
    const EvidencePageFn& page, const std::function<void(const EvidenceEntry&)>& each,
    std::optional<residency::EvidenceVerifyKey> key) {
  auto text = [&page](const std::string& token) -> apimachinery::ApiResult<std::string> {
    apimachinery::ApiResult<json> list = page(token);
    if (!list.ok()) return list.error();
    return list.value().dump();
  };
  return ReadVerifiedEvidenceText(text, each, std::move(key));
}

std::string DescribeVerified(const residency::ChainSummary& s) {
  if (s.entries == 0) return "Residency evidence: no entries yet (nothing to verify).";
  std::string out = "Residency evidence verified: " + std::to_string(s.entries) +
                    (s.entries == 1 ? " entry (" : " entries (") + s.first_time + " .. " +
                    s.last_time + "), head at entry " + std::to_string(s.head_sequence);
  if (s.pending > 0) {
    out += " (" + std::to_string(s.pending) + " after it: appends whose head move is pending)";
  }
  if (s.anchor_checkpoint > 0) {
    const uint64_t last = s.first_sequence + s.entries - 1;
    out += "; entries " + std::to_string(s.first_sequence) + ".." + std::to_string(last) +
           " are stored, entries 1.." + std::to_string(s.first_sequence - 1) +
           " were compacted: signed checkpoint " + std::to_string(s.anchor_checkpoint) +
           " seals entries 1.." + std::to_string(s.sealed_sequence) + " (" + s.sealed_first_time +
           " .. " + s.sealed_last_time + ", Ed25519 key id " + s.key_id + ")";
  }
  if (s.checkpoints > s.checkpoints_unchecked) {
    out += "; " + std::to_string(s.checkpoints - s.checkpoints_unchecked) +
           " checkpoint signature(s) verified";
  }
  if (s.checkpoints_unchecked > 0) {
    out += "; " + std::to_string(s.checkpoints_unchecked) +
           " checkpoint signature(s) not checked (no --public-key)";
  }
  return out + ".";
}

}  // namespace meridian::cli
