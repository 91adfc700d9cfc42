#include "residency/ledger_checkpoint.h"

#include <spdlog/spdlog.h>

#include "api/evidence.h"
#include "api/types.h"
#include "residency/internal/evidence_fields.h"

namespace meridian::residency {
namespace {

using internal::EntryTime;
using internal::StringField;
using nlohmann::json;

constexpr int64_t kPageSize = 1000;

const apimachinery::ResourceInfo* EvidenceInfo(apimachinery::ObjectService& objects) {
  return objects.registry().Find(api::kGroup, api::kVersion, "residencyevidences");
}

bool Flag(const json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_boolean() && it->get<bool>();
}

// The fold of one entry into the state a checkpoint carries.
void Fold(const EvidenceEntry& e, EvidenceState* st) {
  const json& d = e.data;
  if (e.type == "Placement") {
    const std::string w = StringField(d, "workload");
    if (w.empty()) return;
    if (Flag(d, "unbound") || Flag(d, "deleted")) {
      st->placements.erase(w);
    } else {
      json with_time = d;
      with_time["time"] = e.time;
      st->placements[w] = std::move(with_time);
    }
  } else if (e.type == "ViolationOpened") {
    json with_time = d;
    with_time["time"] = e.time;
    st->open_violations[StringField(d, "key")] = std::move(with_time);
  } else if (e.type == "ViolationResolved") {
    st->open_violations.erase(StringField(d, "key"));
  } else if (e.type == kCheckpointType) {
    // Signed and checked: what it says was in force replaces what the (possibly compacted)
    // entries before it added up to.
    auto state = d.find("state");
    if (state == d.end() || !state->is_object()) return;
    st->placements.clear();
    st->open_violations.clear();
    for (const char* field : {"placements", "openViolations"}) {
      auto list = state->find(field);
      if (list == state->end() || !list->is_array()) continue;
      for (const json& item : *list) {
        if (!item.is_object()) continue;
        if (std::string(field) == "placements") {
          st->placements[StringField(item, "workload")] = item;
        } else {
          st->open_violations[StringField(item, "key")] = item;
        }
      }
    }
  }
}

// The stored entry `sequence`, checked (well formed, its hash matches).
StatusOr<EvidenceEntry> GetEntry(apimachinery::ObjectService& objects,
                                 const apimachinery::ResourceInfo& info, uint64_t sequence) {
  auto got = objects.Get(info, "", api::EvidenceName(sequence));
  if (!got.ok()) return got.error().ToStatus();
  return EntryFromObject(got.value());
}

}  // namespace

json EvidenceState::StateJson() const {
  json p = json::array(), v = json::array();
  for (const auto& [w, d] : placements) p.push_back(d);
  for (const auto& [k, d] : open_violations) v.push_back(d);
  return {{"placements", std::move(p)}, {"openViolations", std::move(v)}};
}

StatusOr<EvidenceState> ReadEvidenceState(apimachinery::ObjectService& objects,
                                          const EvidenceVerifyKey& key) {
  const apimachinery::ResourceInfo* info = EvidenceInfo(objects);
  if (info == nullptr) return FailedPreconditionError("ResidencyEvidence is not served");
  EvidenceState st;
  ChainVerifier verifier(key);
  std::string token;
  do {
    apimachinery::ListRequest request;
    request.limit = kPageSize;
    request.continue_token = token;
    auto list = objects.List(*info, "", request);
    if (!list.ok()) return list.error().ToStatus();
    for (const json& item : list.value()["items"]) {
      if (item["metadata"].value("name", "") == api::kEvidenceHeadName) {
        MERIDIAN_RETURN_IF_ERROR(verifier.Add(item));
        continue;
      }
      StatusOr<EvidenceEntry> e = EntryFromObject(item);
      if (!e.ok()) return verifier.Add(item);  // the verifier's wording, with the field
      MERIDIAN_RETURN_IF_ERROR(verifier.AddEntry(*e));
      Fold(*e, &st);
    }
    token = list.value()["metadata"].value("continue", "");
  } while (!token.empty());
  MERIDIAN_ASSIGN_OR_RETURN(st.summary, verifier.Finish());
  st.first_time =
      st.summary.first_sequence > 1 ? st.summary.sealed_first_time : st.summary.first_time;
  return st;
}

EvidenceCheckpointer::EvidenceCheckpointer(apimachinery::ObjectService& objects,
                                           const Clock& clock, EvidenceSigningKey key,
                                           EvidenceCheckpointOptions options)
    : objects_(objects),
      clock_(clock),
      key_(std::move(key)),
      options_(options),
      info_(EvidenceInfo(objects)),
      ledger_(EvidenceLedger::For(objects, clock)),
      loop_([this]() -> std::optional<std::chrono::milliseconds> {
        StatusOr<Outcome> r = RunOnce();
        if (!r.ok()) {
          spdlog::warn("evidence checkpoint: {}", r.status().ToString());
        } else if (r->checkpoint > 0 || r->compacted > 0) {
          spdlog::info("evidence checkpoint: sealed at entry {}, {} entries compacted",
                       r->checkpoint, r->compacted);
        }
        return options_.poll;
      }) {}

EvidenceCheckpointer::~EvidenceCheckpointer() { Stop(); }

Status EvidenceCheckpointer::Start() {
  if (info_ == nullptr || !ledger_) {
    return FailedPreconditionError("evidence checkpoint: ResidencyEvidence is not served");
  }
  loop_.Start();
  return Status::Ok();
}

void EvidenceCheckpointer::Stop() { loop_.Stop(); }

StatusOr<EvidenceCheckpointer::Outcome> EvidenceCheckpointer::RunOnce() {
  Outcome out;
  if (info_ == nullptr || !ledger_) return out;
  const Timestamp now = clock_.Now();
  auto got = objects_.Get(*info_, "", api::kEvidenceHeadName);
  if (!got.ok()) {
    if (got.error().code == 404) return out;  // nothing recorded yet
    return got.error().ToStatus();
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvidenceHead head, HeadFromObject(got.value()));
  if (head.sequence > head.checkpoint) {
    // When the chain was last sealed, or (never sealed) when it began.
    std::optional<Timestamp> since;
    if (head.checkpoint > 0) {
      MERIDIAN_ASSIGN_OR_RETURN(EvidenceEntry cp, GetEntry(objects_, *info_, head.checkpoint));
      since = EntryTime(cp);
    } else {
      apimachinery::ListRequest first;
      first.limit = 1;
      auto list = objects_.List(*info_, "", first);
      if (!list.ok()) return list.error().ToStatus();
      for (const json& item : list.value()["items"]) {
        if (item["metadata"].value("name", "") == api::kEvidenceHeadName) continue;
        MERIDIAN_ASSIGN_OR_RETURN(EvidenceEntry e, EntryFromObject(item));
        since = EntryTime(e);
      }
    }
    if (since && now - *since >= options_.interval) {
      MERIDIAN_ASSIGN_OR_RETURN(out.checkpoint, CheckpointNow());
    }
  }
  if (options_.retention.count() > 0) {
    MERIDIAN_ASSIGN_OR_RETURN(out.compacted, CompactBefore(now - options_.retention));
  }
  return out;
}

StatusOr<uint64_t> EvidenceCheckpointer::CheckpointNow() {
  if (!ledger_) return FailedPreconditionError("ResidencyEvidence is not served");
  StatusOr<std::optional<EvidenceEntry>> e = ledger_->AppendCheckpoint(
      key_, [this](const EvidenceHead& head) -> StatusOr<EvidenceLedger::CheckpointContent> {
        MERIDIAN_ASSIGN_OR_RETURN(EvidenceState st, ReadEvidenceState(objects_, key_.public_key()));
        const uint64_t last =
            st.summary.entries == 0 ? 0 : st.summary.first_sequence + st.summary.entries - 1;
        if (last != head.sequence) {
          return AbortedError("residency evidence: the chain moved while it was read (" +
                              std::to_string(last) + " read, head at " +
                              std::to_string(head.sequence) + "); sealed on the next pass");
        }
        EvidenceLedger::CheckpointContent c;
        c.sealed_time = st.summary.last_time;
        c.data = {{"firstTime", st.first_time},
                  {"previousCheckpoint", head.checkpoint},
                  {"state", st.StateJson()}};
        return c;
      });
  if (!e.ok()) return e.status();
  return e->has_value() ? (*e)->sequence : 0;
}

StatusOr<uint64_t> EvidenceCheckpointer::CompactBefore(Timestamp cutoff) {
  if (info_ == nullptr) return FailedPreconditionError("ResidencyEvidence is not served");
  auto got = objects_.Get(*info_, "", api::kEvidenceHeadName);
  if (!got.ok()) {
    if (got.error().code == 404) return 0;
    return got.error().ToStatus();
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvidenceHead head, HeadFromObject(got.value()));
  // The newest checkpoint at or before the cutoff: walk back along previousCheckpoint.
  uint64_t target = 0;
  for (uint64_t c = head.checkpoint; c > 0;) {
    StatusOr<EvidenceEntry> got_cp = GetEntry(objects_, *info_, c);
    // An older checkpoint compacted away: nothing before it is stored either.
    if (!got_cp.ok() && got_cp.status().code() == StatusCode::kNotFound) break;
    MERIDIAN_ASSIGN_OR_RETURN(EvidenceEntry cp, std::move(got_cp));
    if (cp.type != kCheckpointType) {
      return Status(StatusCode::kDataLoss, "residency evidence: entry " + std::to_string(c) +
                                               " is not the checkpoint the head names");
    }
    // Never delete on the word of a checkpoint this key did not sign.
    MERIDIAN_RETURN_IF_ERROR(CheckCheckpoint(cp, &key_.public_key()));
    if (EntryTime(cp) <= cutoff) {
      target = c;
      break;
    }
    auto prev = cp.data.find("previousCheckpoint");
    c = prev != cp.data.end() && prev->is_number_unsigned() ? prev->get<uint64_t>() : 0;
  }
  if (target == 0) return 0;
  uint64_t deleted = 0;
  while (true) {
    apimachinery::ListRequest page;
    page.limit = 500;
    auto list = objects_.List(*info_, "", page);
    if (!list.ok()) return list.error().ToStatus();
    bool more = false;
    // Lowest first, so an interrupted compaction leaves a contiguous run up to the checkpoint.
    for (const json& item : list.value()["items"]) {
      const std::string name = item["metadata"].value("name", "");
      if (name == api::kEvidenceHeadName || name >= api::EvidenceName(target)) break;
      auto gone = objects_.Delete(*info_, "", name);
      if (!gone.ok() && gone.error().code != 404) return gone.error().ToStatus();
      ++deleted;
      more = true;
    }
    if (!more) break;
  }
  return deleted;
}

}  // namespace meridian::residency
