// Signed checkpoints and compaction of the residency evidence ledger (residency/ledger.h has
// the checkpoint's shape and how verify uses it). Runs in the federation-apiserver that holds
// the signing key (controller `evidence-checkpoint`, --evidence-signing-key-file): every
// `interval` it seals the chain with a Checkpoint entry, after checking the whole stored chain
// (a signature must never vouch for a broken one), and with a `retention` it deletes the
// entries before the newest checkpoint that is older than the retention, lowest first.
//
// Why a checkpoint entry in the chain rather than a signature beside it: it is stored, ordered
// and replicated like every other entry, its own hash links it, and a verifier that starts
// after compaction finds the seal in the same stream.
//
// Thread-safety: RunOnce, CheckpointNow and CompactBefore are not to be called concurrently
// with each other (the loop calls RunOnce; tests call them directly). Appends go through the
// process's one writer (EvidenceLedger::For), so they queue with the controllers' appends.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "apimachinery/change_loop.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "residency/ledger.h"
#include "residency/ledger_signing.h"
#include "residency/ledger_writer.h"

namespace meridian::residency {

struct EvidenceCheckpointOptions {
  // A checkpoint when the newest one (or, before the first, the first entry) is this old and
  // entries followed it.
  std::chrono::milliseconds interval = std::chrono::hours(1);
  // Entries sealed by a checkpoint at least this old are deleted; 0: never (the default).
  std::chrono::milliseconds retention{0};
  // How often the loop looks (reads the head and one entry; the chain only when sealing).
  std::chrono::milliseconds poll = std::chrono::seconds(10);
};

// What one chain read found: verified, with the state to carry into a checkpoint.
struct EvidenceState {
  ChainSummary summary;
  std::string first_time;  // of entry 1 (from the anchoring checkpoint once compacted)
  // Placement data (with "time") of each workload still bound; open violations (with "time").
  std::map<std::string, nlohmann::json> placements, open_violations;
  // {"placements": [...], "openViolations": [...]} in key order.
  nlohmann::json StateJson() const;
};

// Reads every ResidencyEvidence object through `objects` page by page, verifies the chain with
// `key` (ChainVerifier) and folds the state. Errors: the store's, or the chain's first problem.
StatusOr<EvidenceState> ReadEvidenceState(apimachinery::ObjectService& objects,
                                          const EvidenceVerifyKey& key);

class EvidenceCheckpointer {
 public:
  // `objects` and `clock` must outlive this. Errors at Start: the API does not serve
  // ResidencyEvidence.
  EvidenceCheckpointer(apimachinery::ObjectService& objects, const Clock& clock,
                       EvidenceSigningKey key, EvidenceCheckpointOptions options);
  ~EvidenceCheckpointer();

  Status Start();
  void Stop();

  struct Outcome {
    uint64_t checkpoint = 0;  // the checkpoint appended (0: none was due)
    uint64_t compacted = 0;   // entries deleted
  };
  // One pass: a checkpoint if due, then compaction if a retention is set.
  StatusOr<Outcome> RunOnce();
  // Seals the chain now, whatever the interval. Returns the checkpoint's sequence; 0 when
  // there is nothing to seal (no entries, or the chain ends with a checkpoint).
  StatusOr<uint64_t> CheckpointNow();
  // Deletes the entries before the newest checkpoint made at or before `cutoff` (none: no-op).
  // Returns how many were deleted.
  StatusOr<uint64_t> CompactBefore(Timestamp cutoff);

 private:
  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  EvidenceSigningKey key_;
  EvidenceCheckpointOptions options_;
  const apimachinery::ResourceInfo* info_;
  std::shared_ptr<EvidenceLedger> ledger_;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::residency
