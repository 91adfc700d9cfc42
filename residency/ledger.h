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
// Signed checkpoints and compaction. A Checkpoint entry is an ordinary entry of the chain
// (type Checkpoint) that also seals it: its data holds
//   sealedSequence  the last entry it seals (its own sequence - 1)
//   sealedHash      that entry's hash (= its previousHash)
//   firstTime       the time of entry 1 (carried from checkpoint to checkpoint, so it stays
//                   known once entry 1 is compacted away), lastTime: of the sealed entry
//   state           what was in force at the sealed entry, so a report over a compacted chain
//                   still knows it: placements (the last Placement data of each workload still
//                   bound, with its "time") and openViolations (ViolationOpened data with
//                   "time")
//   algorithm       "Ed25519"; keyId: residency/ledger_signing.h key_id()
//   signature       Ed25519 over CheckpointSigningInput (the canonical form without
//                   data.signature), 128 hex digits
// Compaction deletes entries before a checkpoint (lowest first, so an interrupted compaction
// leaves a contiguous run). Verify then starts at the first stored entry: it cannot check that
// entry's link backwards, so the run must reach a checkpoint whose signature verifies with the
// public key, which vouches (through the hash links) for every stored entry before it and
// for the removed ones by count, head hash and time. Without the public key a compacted chain
// does not verify; an uncompacted one does (its checkpoints are counted as unchecked).
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
#include "residency/ledger_signing.h"

namespace meridian::residency {

// The previousHash of the first entry.
inline constexpr char kGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

using EvidenceEntry = api::ResidencyEvidenceSpec;

inline constexpr char kCheckpointType[] = "Checkpoint";

// Where the chain ends: the last entry's sequence and hash (0 and kGenesisHash when empty),
// and the newest checkpoint's sequence (0: none), which admission reads to allow compaction.
struct EvidenceHead {
  uint64_t sequence = 0;
  std::string hash = kGenesisHash;
  uint64_t checkpoint = 0;
  friend bool operator==(const EvidenceHead&, const EvidenceHead&) = default;
};

// Lowercase hex SHA-256 (OpenSSL) of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The bytes an entry's hash is taken over (see the file comment). `hash` is not part of it.
std::string CanonicalForm(const EvidenceEntry& entry);

// The same with data given as its canonical bytes (`data` == entry.data.dump()): verify hashes
// a stored entry over its data's stored bytes when they already are canonical.
std::string CanonicalForm(const EvidenceEntry& entry, std::string_view data);

// Sha256Hex(CanonicalForm(entry)).
std::string EntryHash(const EvidenceEntry& entry);

// RFC 3339 UTC with milliseconds ("2026-12-05T00:30:00.123Z"): evidence times.
std::string FormatEvidenceTime(Timestamp t);

// The entry that follows `head`: sequence + 1, previousHash = head.hash, its own hash set.
// `data` must be an object (see api/evidence.h for what it may hold).
EvidenceEntry NextEntry(const EvidenceHead& head, Timestamp time, std::string type,
                        nlohmann::json data);

// The bytes a checkpoint's signature covers: CanonicalForm of the entry with data.signature
// removed (sequence, time, previousHash and every other data field are signed).
std::string CheckpointSigningInput(const EvidenceEntry& checkpoint);

// The Checkpoint entry that follows `head` and seals it: `data` holds firstTime and state (see
// the file comment); sealedSequence, sealedHash, lastTime (`sealed_time`), algorithm, keyId and
// signature are set here, then the entry's hash.
EvidenceEntry NextCheckpoint(const EvidenceHead& head, Timestamp time, const std::string& sealed_time,
                             nlohmann::json data, const EvidenceSigningKey& key);

// Checks a checkpoint entry's own fields (it seals exactly the entry before it) and, with
// `key`, its signature. Errors (kDataLoss): "entry 9 (…): checkpoint: data.sealedSequence
// must be 8"; "entry 9 (…): checkpoint: its signature does not verify with the public key
// (key id …; it names key id …): forged, changed, or signed by another key".
Status CheckCheckpoint(const EvidenceEntry& checkpoint, const EvidenceVerifyKey* key);

// The ResidencyEvidence API object of an entry (name = api::EvidenceName(sequence)).
nlohmann::json EvidenceObject(const EvidenceEntry& entry);
// The ResidencyEvidence object named "head" for `head` (its checkpoint too), moved at `time`.
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
  std::string first_time, last_time;  // of the stored entries
  uint64_t first_sequence = 0;        // the first stored entry (> 1 once compacted)
  uint64_t checkpoints = 0;           // Checkpoint entries found
  uint64_t checkpoints_unchecked = 0;  // ... whose signature was not checked (no public key)
  // Compacted (first_sequence > 1): the checkpoint whose signature vouches for the removed
  // entries 1..first_sequence-1, what it seals, from when (firstTime of the chain) to when.
  uint64_t anchor_checkpoint = 0, sealed_sequence = 0;
  std::string sealed_first_time, sealed_last_time, key_id;
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
//   - no head while there are entries, or a malformed head;
//   - checkpoints: one whose fields do not seal the entry before it or whose signature does not
//     verify with `key` (forged, changed with its hash recomputed, or another key's); a chain
//     that does not start at entry 1 and reaches no checkpoint that verifies (entries removed
//     without a checkpoint, the checkpoint removed too, or no `key` to check it with:
//     kFailedPrecondition).
class ChainVerifier {
 public:
  // `key`: the evidence signing public key; without it checkpoints are not checked and a
  // compacted chain does not verify.
  explicit ChainVerifier(std::optional<EvidenceVerifyKey> key = std::nullopt)
      : key_(std::move(key)) {}
  Status Add(const nlohmann::json& object);
  // The same, taking the object apart instead of copying its data (a parsed page's items).
  Status Add(nlohmann::json&& object);
  // The same from an object's stored JSON text (what the store and the API return), finding
  // exactly what Add(nlohmann::json::parse(text)) finds. When the text's data is already in
  // canonical form (nearly always: the writer stores dump()'s bytes) the entry is hashed over
  // those bytes and data's JSON tree is never built (residency/internal/stored_data.h);
  // otherwise, and for the head and checkpoints, it is parsed and added whole. Text that is
  // not JSON: kDataLoss "the object after entry 41 (…) is not JSON: …".
  Status AddStored(std::string_view text);
  // How many entries AddStored hashed over their stored data bytes (the fast path above),
  // so a caller can tell that it applied (fedctl residency verify --verbose says so).
  uint64_t hashed_from_stored() const { return hashed_from_stored_; }
  // Also for an already decoded entry (its hash is checked here too); `entry` must be well
  // formed (api::DecodeResidencyEvidence found nothing).
  Status AddEntry(const EvidenceEntry& entry);
  StatusOr<ChainSummary> Finish();

 private:
  Status Fail(Status s);
  // AddEntry after the hash: `computed` is the entry's hash over its content.
  Status Link(const EvidenceEntry& entry, const std::string& computed);

  std::optional<EvidenceVerifyKey> key_;
  Status first_error_;
  std::optional<EvidenceHead> head_;
  EvidenceHead last_;  // the last entry checked
  ChainSummary summary_;
  // The newest entries (sequence, hash): the head is compared with one of them at Finish.
  // Only a few entries may follow the head (pending appends), so a short window suffices.
  std::deque<EvidenceHead> recent_;
  uint64_t hashed_from_stored_ = 0;
};

}  // namespace meridian::residency
