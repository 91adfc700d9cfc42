// The residency evidence ledger's writer: appends entries (residency/ledger.h) through the
// API, one ResidencyEvidence object per entry, and moves the head object after each.
//
// One writer per process (For); why it is still safe with several (two API replicas on one
// etcd, or two instances made directly): an entry's object name is its sequence number, and a
// create of a name that exists fails (409 AlreadyExists), so two appends can never both take
// sequence N. The loser re-reads the head and tries again at N + 1. The head is moved with
// compare-and-swap on its resourceVersion and only ever forward. A crash between creating entry N
// and moving the head leaves entry N after the head: the next append (of any writer) adopts it
// after checking it chains to the head, then moves the head; verify meanwhile reports it as
// pending.
//
// Thread-safety: thread-safe (one mutex around an append). Appends write to the API; callers
// are controllers' worker threads, never the API's request threads.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "residency/ledger.h"

namespace meridian::residency {

class EvidenceLedger {
 public:
  // `objects` and `clock` must outlive the ledger. `info` is the residencyevidences resource.
  EvidenceLedger(apimachinery::ObjectService& objects, const apimachinery::ResourceInfo& info,
                 const Clock& clock);

  // The process's one writer over `objects` (shared by every controller of the process, so
  // their appends queue on a mutex instead of racing through the store), or null when
  // `objects` does not serve ResidencyEvidence (a test's private ObjectService, say): callers
  // then record nothing. The first caller's `clock` is the writer's.
  static std::shared_ptr<EvidenceLedger> For(apimachinery::ObjectService& objects,
                                             const Clock& clock);

  // Appends one entry of `type` (api::IsEvidenceType) with `data` (an object) at the clock's
  // now; returns it as stored. Errors: the API refused the entry (kFailedPrecondition with the
  // field, e.g. a fraction in data), the chain's end is broken (kDataLoss: an entry after the
  // head that does not chain to it; run `fedctl residency verify`), other writers won every
  // race for 30 s of the clock (kAborted: lost races are retried, with a random backoff of up
  // to 8 ms, until then), the store failed. Nothing is written on an error: the caller keeps
  // the entry and appends it again (evidence is never dropped silently). Blocks while it
  // retries (appends of this process wait on its mutex).
  StatusOr<EvidenceEntry> Append(const std::string& type, nlohmann::json data);

  // What a checkpoint holds besides its seal: `data` (firstTime, state: residency/ledger.h)
  // and the sealed entry's time.
  struct CheckpointContent {
    std::string sealed_time;
    nlohmann::json data = nlohmann::json::object();
  };
  // Appends a Checkpoint entry sealing the chain up to its current end, signed with `key`.
  // `content` is called with that end (under the writer's lock, so no append of this process
  // slips in between; another process's append makes the create fail and `content` is
  // called again for the new end); it should check the chain up to there, since the signature
  // vouches for it. Returns nullopt when there is nothing to seal (no entries, or the chain
  // already ends with a checkpoint). Errors: as Append, or `content`'s.
  StatusOr<std::optional<EvidenceEntry>> AppendCheckpoint(
      const EvidenceSigningKey& key,
      const std::function<StatusOr<CheckpointContent>(const EvidenceHead& head)>& content);

 private:
  // Reads the head and adopts entries written after it. Caller holds mu_.
  Status LoadHead();
  // Creates `make(head_)` as the next entry, retrying lost races. Caller holds mu_.
  StatusOr<EvidenceEntry> AppendLocked(
      const std::function<StatusOr<EvidenceEntry>(const EvidenceHead& head)>& make);
  // Moves the head object forward to head_ (compare-and-swap). Caller holds mu_.
  Status MoveHead();

  apimachinery::ObjectService& objects_;
  const apimachinery::ResourceInfo& info_;
  const Clock& clock_;
  std::mutex mu_;  // guards everything below: one append at a time in this process
  bool loaded_ = false;
  EvidenceHead head_;                  // the end of the chain as far as this writer knows
  std::string head_resource_version_;  // of the head object; empty: it does not exist yet
  uint64_t head_object_sequence_ = 0;  // what the head object says
};

}  // namespace meridian::residency
