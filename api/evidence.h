// ResidencyEvidence (cluster-scoped, group federation.meridian.io/v1alpha1): one entry of the
// residency evidence ledger, or its head. The ledger itself (hashing, chaining, verification,
// the writer) is residency/ledger.h; this file is only the API shape, so the server can refuse
// a malformed entry with the field named before it is stored.
//
//   metadata.name  the sequence number, 20 digits zero-padded ("00000000000000000042"), so
//                  names sort like sequence numbers; the head is named "head"
//   spec.sequence  1, 2, 3, ... (the head: the sequence of the last entry, 0 when empty)
//   spec.time      RFC 3339 UTC with milliseconds (the head: when it last moved)
//   spec.type      Placement | AuditScan | PolicyChange | ViolationOpened |
//                  ViolationResolved | Enforcement | Checkpoint (the head: Head)
//   spec.previousHash  lowercase hex SHA-256 of the previous entry (64 zeros for the first;
//                  the head: none)
//   spec.hash      lowercase hex SHA-256 of this entry's canonical form (the head: the last
//                  entry's hash)
//   spec.checkpoint  the head only: the sequence of the newest Checkpoint entry (absent: none);
//                  admission lets an entry before it be deleted (compaction), no other
//   spec.data      the fact, a JSON object of strings, integers, booleans, arrays and
//                  objects (no fractions: the canonical form must read back byte for byte)
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "api/types.h"
#include "common/field_error.h"

namespace meridian::api {

inline constexpr char kEvidenceHeadName[] = "head";
inline constexpr char kEvidenceHeadType[] = "Head";

struct ResidencyEvidenceSpec {
  uint64_t sequence = 0;
  std::string time;
  std::string type;
  std::string previous_hash;
  std::string hash;
  nlohmann::json data = nlohmann::json::object();
  uint64_t checkpoint = 0;  // the head only
  friend bool operator==(const ResidencyEvidenceSpec&, const ResidencyEvidenceSpec&) = default;
};

struct ResidencyEvidence {
  ObjectMeta metadata;
  ResidencyEvidenceSpec spec;
  friend bool operator==(const ResidencyEvidence&, const ResidencyEvidence&) = default;
};

// The entry types (not the head).
bool IsEvidenceType(const std::string& type);

// The object name of entry `sequence`: 20 digits, zero-padded.
std::string EvidenceName(uint64_t sequence);

// Strict decoding; every problem appended to `errors` with its field path (a name that is not
// the sequence's, an unknown type, a hash that is not 64 lowercase hex digits, a time that is
// not RFC 3339, fractions in data, unknown fields).
ResidencyEvidence DecodeResidencyEvidence(const nlohmann::json& j, FieldErrors* errors);
// The same, moving spec.data out of `j` instead of copying it (verify decodes every entry of
// the chain; data is most of an entry). Problems in data come after the others.
ResidencyEvidence DecodeResidencyEvidence(nlohmann::json&& j, FieldErrors* errors);
nlohmann::json Encode(const ResidencyEvidence& o);

}  // namespace meridian::api
