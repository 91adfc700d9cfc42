// The residency evidence ledger, pure core: an append-only, hash-chained log of residency
// facts (placement decisions of residency-bound workloads, audit scans, policy changes,
// violations opened and resolved, enforcement). Each entry holds its sequence number, time,
// type, data, the SHA-256 of the previous entry and its own SHA-256, both over the canonical
// form below, so changing any byte of any entry, removing one, or reordering them is found
// by Verify. A separate head (the object named "head") holds the last entry's sequence and
// hash, so a chain cut short at its end (truncation) is found too.
//
// Canonical form of an entry (what is hashed): the JSON object
//   {"data":…,"previousHash":"…","sequence":N,"time":"…","type":"…"}
// with object keys sorted bytewise at every level, no insignificant whitespace, strings
// escaped minimally as RFC 8259 requires (UTF-8 kept as is), integers only (data with
// fractions is refused at the API: they do not read back byte for byte). This is
// nlohmann::json::dump() of the object, which sorts keys; it is written out here because a
// verifier in another language must produce the same bytes.
//
// Storage (the objects, one per entry, kind ResidencyEvidence: api/evidence.h) and the writer
// that appends through the API are residency/ledger_writer.h. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/evidence.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::residency {

// The previousHash of the first entry.
inline constexpr char kGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

using EvidenceEntry = api::ResidencyEvidenceSpec;

// Where the chain ends: the last entry's sequence and hash (0 and kGenesisHash when empty).
struct EvidenceHead {
  uint64_t sequence = 0;
  std::string hash = kGenesisHash;
  friend bool operator==(const EvidenceHead&, const EvidenceHead&) = default;
};

// Lowercase hex SHA-256 (OpenSSL) of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The bytes an entry's hash is taken over (see the file comment). `hash` is not part of it.
std::string CanonicalForm(const EvidenceEntry& entry);

// Sha256Hex(CanonicalForm(entry)).
std::string EntryHash(const EvidenceEntry& entry);

// RFC 3339 UTC with milliseconds ("2026-12-05T00:30:00.123Z"): evidence times.
std::string FormatEvidenceTime(Timestamp t);

// The entry that follows `head`: sequence + 1, previousHash = head.hash, its own hash set.
// `data` must be an object (see api/evidence.h for what it may hold).
EvidenceEntry NextEntry(const EvidenceHead& head, Timestamp time, std::string type,
                        nlohmann::json data);

// The ResidencyEvidence API object of an entry (name = api::EvidenceName(sequence)).
nlohmann::json EvidenceObject(const EvidenceEntry& entry);
// The ResidencyEvidence object named "head" for `head`, moved at `time`.
nlohmann::json HeadObject(const EvidenceHead& head, Timestamp time);

// An entry read back from a ResidencyEvidence object, checked: well formed (every problem with
// its field, api::DecodeResidencyEvidence) and its hash matches its content.
// Errors (kDataLoss): "entry 42 (00000000000000000042): malformed: spec.time: must be an
// RFC 3339 time"; "entry 42: changed: ...". Not for the head.
StatusOr<EvidenceEntry> EntryFromObject(const nlohmann::json& object);

// The head read back from its object. Errors (kDataLoss): malformed, with the field.
StatusOr<EvidenceHead> HeadFromObject(const nlohmann::json& object);

// What a verified chain holds.
struct ChainSummary {
  uint64_t entries = 0;
  uint64_t head_sequence = 0;
  // Entries after the head that chain correctly: an append whose head move did not land (the
  // writer's next append adopts them). Not an error.
  uint64_t pending = 0;
  std::string first_time, last_time;
};

// Checks a whole chain, one object at a time, in memory independent of its length.
// Feed every ResidencyEvidence object (entries in sequence order, i.e. name order; the head
// anywhere), then Finish. The first problem found is kept and named; later calls return it.
// Problems (all kDataLoss, message starting with the entry it names):
//   - malformed entry: the entry and the field ("entry 7 (000…07): malformed: spec.type: ...");
//   - a changed entry: its hash no longer matches its content ("entry 7: changed: ...");
//   - a rewritten entry whose hash was recomputed: it no longer matches the next entry's
//     previousHash (or the head's hash, for the last entry);
//   - a missing entry: a gap in the sequence ("entry 8 is missing: entry 7 is followed by
//     entry 10"), or a chain that does not start at 1;
//   - truncation: the head records more entries than were found;
//   - no head while there are entries, or a malformed head.
class ChainVerifier {
 public:
  Status Add(const nlohmann::json& object);
  // Also for an already decoded entry (its hash is checked here too); `entry` must be well
  // formed (api::DecodeResidencyEvidence found nothing).
  Status AddEntry(const EvidenceEntry& entry);
  StatusOr<ChainSummary> Finish();

 private:
  Status Fail(Status s);

  Status first_error_;
  std::optional<EvidenceHead> head_;
  EvidenceHead last_;  // the last entry checked
  ChainSummary summary_;
  // The newest entries (sequence, hash): the head is compared with one of them at Finish.
  // Only a few entries may follow the head (pending appends), so a short window suffices.
  std::deque<EvidenceHead> recent_;
};

}  // namespace meridian::residency
