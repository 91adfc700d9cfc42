#include "residency/ledger_writer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "api/types.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

// A writer that just won holds a current head and is quicker to the next sequence than the
// loser, which must re-read, so a loser can lose many times in a row while others append in
// a burst (several API replicas, a controller manager, a loaded machine that keeps the loser
// off the CPU). Every loss is another writer's entry written, so retrying makes progress;
// giving up loses evidence. An append therefore retries lost races until kAppendDeadline has
// passed on the writer's clock (a fixed 32 tries lost appends under load), with
// kMaxAppendAttempts only as a backstop against a store that keeps refusing a sequence its
// reads do not show (never expected; a clear error beats a spin).
constexpr auto kAppendDeadline = std::chrono::seconds(30);
constexpr int kMaxAppendAttempts = 2000;
// Moving the head is best effort (the next append, or verify, deals with a head behind).
constexpr int kAttempts = 32;

// After a lost race: up to min(attempt + 1, 8) ms, at random, so two writers fall out of step.
void LoseRace(int attempt) {
  thread_local std::minstd_rand random(std::random_device{}());
  std::uniform_int_distribution<int> micros(0, 1000 * std::min(attempt + 1, 8));
  std::this_thread::sleep_for(std::chrono::microseconds(micros(random)));
}

}  // namespace

EvidenceLedger::EvidenceLedger(apimachinery::ObjectService& objects,
                               const apimachinery::ResourceInfo& info, const Clock& clock)
    : objects_(objects), info_(info), clock_(clock) {}

std::shared_ptr<EvidenceLedger> EvidenceLedger::For(apimachinery::ObjectService& objects,
                                                    const Clock& clock) {
  const apimachinery::ResourceInfo* info =
      objects.registry().Find(api::kGroup, api::kVersion, "residencyevidences");
  if (info == nullptr) return nullptr;
  static std::mutex mu;  // guards writers
  static std::map<apimachinery::ObjectService*, std::weak_ptr<EvidenceLedger>> writers;
  std::lock_guard lock(mu);
  std::weak_ptr<EvidenceLedger>& slot = writers[&objects];
  std::shared_ptr<EvidenceLedger> ledger = slot.lock();
  if (!ledger) {
    ledger = std::make_shared<EvidenceLedger>(objects, *info, clock);
    slot = ledger;
  }
  return ledger;
}

Status EvidenceLedger::LoadHead() {
  auto got = objects_.Get(info_, "", api::kEvidenceHeadName);
  if (got.ok()) {
    MERIDIAN_ASSIGN_OR_RETURN(head_, HeadFromObject(got.value()));
    head_resource_version_ = got.value()["metadata"].value("resourceVersion", "");
    head_object_sequence_ = head_.sequence;
  } else if (got.error().code == 404) {
    head_ = EvidenceHead{};
    head_resource_version_.clear();
    head_object_sequence_ = 0;
  } else {
    return got.error().ToStatus();
  }
  // Entries after the head: appends whose head move did not land. Adopt them if they chain.
  while (true) {
    auto next = objects_.Get(info_, "", api::EvidenceName(head_.sequence + 1));
    if (!next.ok()) {
      if (next.error().code == 404) break;
      return next.error().ToStatus();
    }
    MERIDIAN_ASSIGN_OR_RETURN(EvidenceEntry entry, EntryFromObject(next.value()));
    if (entry.previous_hash != head_.hash) {
      return Status(StatusCode::kDataLoss,
                    "residency evidence: entry " + std::to_string(entry.sequence) +
                        " does not chain to the head; run `fedctl residency verify`");
    }
    head_ = {entry.sequence, entry.hash, head_.checkpoint};
    if (entry.type == kCheckpointType) head_.checkpoint = entry.sequence;
  }
  loaded_ = true;
  // Best effort: the entries are durable; a head left behind is moved by the next append
  // (and verify reports those entries as pending meanwhile). Failing the append for it would
  // lose the evidence it was to record.
  if (head_.sequence != head_object_sequence_) (void)MoveHead();
  return Status::Ok();
}

Status EvidenceLedger::MoveHead() {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto written = [&] {
      json body = HeadObject(head_, clock_.Now());
      if (head_resource_version_.empty()) return objects_.Create(info_, "", std::move(body));
      body["metadata"]["resourceVersion"] = head_resource_version_;  // compare-and-swap
      return objects_.Update(info_, "", api::kEvidenceHeadName, std::move(body));
    }();
    if (written.ok()) {
      head_resource_version_ = written.value()["metadata"].value("resourceVersion", "");
      head_object_sequence_ = head_.sequence;
      return Status::Ok();
    }
    if (written.error().code != 409) return written.error().ToStatus();
    // Another writer moved (or created) it: never move it backwards.
    auto got = objects_.Get(info_, "", api::kEvidenceHeadName);
    if (!got.ok()) return got.error().ToStatus();
    MERIDIAN_ASSIGN_OR_RETURN(EvidenceHead theirs, HeadFromObject(got.value()));
    head_resource_version_ = got.value()["metadata"].value("resourceVersion", "");
    head_object_sequence_ = theirs.sequence;
    if (theirs.sequence >= head_.sequence) return Status::Ok();
  }
  return AbortedError("residency evidence: the head kept moving under this writer");
}

StatusOr<EvidenceEntry> EvidenceLedger::Append(const std::string& type, json data) {
  std::lock_guard lock(mu_);
  return AppendLocked([&](const EvidenceHead& head) -> StatusOr<EvidenceEntry> {
    return NextEntry(head, clock_.Now(), type, data);
  });
}

StatusOr<std::optional<EvidenceEntry>> EvidenceLedger::AppendCheckpoint(
    const EvidenceSigningKey& key,
    const std::function<StatusOr<CheckpointContent>(const EvidenceHead& head)>& content) {
  std::lock_guard lock(mu_);
  bool nothing = false;
  StatusOr<EvidenceEntry> e = AppendLocked([&](const EvidenceHead& head) -> StatusOr<EvidenceEntry> {
    if (head.sequence == 0 || head.checkpoint == head.sequence) {
      nothing = true;
      return FailedPreconditionError("nothing to seal");
    }
    MERIDIAN_ASSIGN_OR_RETURN(CheckpointContent c, content(head));
    return NextCheckpoint(head, clock_.Now(), c.sealed_time, std::move(c.data), key);
  });
  if (nothing) return std::optional<EvidenceEntry>();
  if (!e.ok()) return e.status();
  return std::optional<EvidenceEntry>(std::move(*e));
}

StatusOr<EvidenceEntry> EvidenceLedger::AppendLocked(
    const std::function<StatusOr<EvidenceEntry>(const EvidenceHead& head)>& make) {
  const Timestamp deadline = clock_.Now() + kAppendDeadline;
  int attempt = 0;
  for (; attempt < kMaxAppendAttempts && (attempt == 0 || clock_.Now() < deadline); ++attempt) {
    if (!loaded_) MERIDIAN_RETURN_IF_ERROR(LoadHead());
    MERIDIAN_ASSIGN_OR_RETURN(EvidenceEntry entry, make(head_));
    auto created = objects_.Create(info_, "", EvidenceObject(entry));
    if (created.ok()) {
      head_ = {entry.sequence, entry.hash,
               entry.type == kCheckpointType ? entry.sequence : head_.checkpoint};
      // The entry is durable now; a failed head move is repaired by the next append.
      if (Status moved = MoveHead(); !moved.ok()) loaded_ = false;
      return entry;
    }
    if (created.error().code != 409) return created.error().ToStatus();
    loaded_ = false;  // another writer took this sequence: re-read the end of the chain
    LoseRace(attempt);
  }
  return AbortedError("residency evidence: other writers won every one of " +
                      std::to_string(attempt) + " attempts in " +
                      std::to_string(kAppendDeadline.count()) +
                      "s; nothing was written (the caller keeps the entry to retry)");
}

}  // namespace meridian::residency
