#include "residency/ledger.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>

#include "residency/internal/stored_data.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

// How many entries may follow the head and still count as pending appends.
constexpr size_t kPendingWindow = 16;

std::string Label(uint64_t sequence) {
  return "entry " + std::to_string(sequence) + " (" + api::EvidenceName(sequence) + ")";
}

std::string Short(const std::string& hash) { return hash.substr(0, 16) + "…"; }

std::string StringField(const json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest is the one-shot form of the EVP API (SHA256() is deprecated in OpenSSL 3).
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(length * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string CanonicalForm(const EvidenceEntry& e) { return CanonicalForm(e, e.data.dump()); }

std::string CanonicalForm(const EvidenceEntry& e, std::string_view data) {
  // The bytes of json{{"data", …}, {"previousHash", …}, {"sequence", …}, {"time", …},
  // {"type", …}}.dump() (nlohmann's object is a std::map: keys come out sorted, at every
  // level), written out so that data is not deep-copied into a temporary object: verify
  // hashes every entry of the chain.
  std::string out;
  out.reserve(data.size() + 200);
  out += "{\"data\":";
  out += data;
  out += ",\"previousHash\":";
  out += json(e.previous_hash).dump();
  out += ",\"sequence\":";
  out += std::to_string(e.sequence);
  out += ",\"time\":";
  out += json(e.time).dump();
  out += ",\"type\":";
  out += json(e.type).dump();
  out += '}';
  return out;
}

std::string EntryHash(const EvidenceEntry& entry) { return Sha256Hex(CanonicalForm(entry)); }

std::string FormatEvidenceTime(Timestamp t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const Timestamp whole{std::chrono::duration_cast<Timestamp::duration>(
      std::chrono::floor<std::chrono::seconds>(ms))};
  std::string s = FormatRfc3339(whole);  // "...:34Z"
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(((ms.count() % 1000) + 1000) % 1000));
  s.insert(s.size() - 1, frac);
  return s;
}

EvidenceEntry NextEntry(const EvidenceHead& head, Timestamp time, std::string type, json data) {
  EvidenceEntry e;
  e.sequence = head.sequence + 1;
  e.time = FormatEvidenceTime(time);
  e.type = std::move(type);
  e.previous_hash = head.hash;
  e.data = std::move(data);
  e.hash = EntryHash(e);
  return e;
}

std::string CheckpointSigningInput(const EvidenceEntry& checkpoint) {
  EvidenceEntry unsigned_entry = checkpoint;
  if (unsigned_entry.data.is_object()) unsigned_entry.data.erase("signature");
  return CanonicalForm(unsigned_entry);
}

EvidenceEntry NextCheckpoint(const EvidenceHead& head, Timestamp time,
                             const std::string& sealed_time, json data,
                             const EvidenceSigningKey& key) {
  EvidenceEntry e;
  e.sequence = head.sequence + 1;
  e.time = FormatEvidenceTime(time);
  e.type = kCheckpointType;
  e.previous_hash = head.hash;
  e.data = std::move(data);
  e.data["sealedSequence"] = head.sequence;
  e.data["sealedHash"] = head.hash;
  e.data["lastTime"] = sealed_time;
  e.data["algorithm"] = kSignatureAlgorithm;
  e.data["keyId"] = key.key_id();
  e.data.erase("signature");
  e.data["signature"] = key.Sign(CheckpointSigningInput(e));
  e.hash = EntryHash(e);
  return e;
}

Status CheckCheckpoint(const EvidenceEntry& e, const EvidenceVerifyKey* key) {
  const std::string label = Label(e.sequence) + ": checkpoint: ";
  const json& d = e.data;
  auto str = [&d](const char* k) { return StringField(d, k); };
  auto it = d.find("sealedSequence");
  if (it == d.end() || !it->is_number_unsigned() || it->get<uint64_t>() != e.sequence - 1) {
    return Status(StatusCode::kDataLoss,
                  label + "data.sealedSequence must be " + std::to_string(e.sequence - 1));
  }
  if (str("sealedHash") != e.previous_hash) {
    return Status(StatusCode::kDataLoss, label + "data.sealedHash must be its previousHash");
  }
  if (str("algorithm") != kSignatureAlgorithm) {
    return Status(StatusCode::kDataLoss, label + "data.algorithm must be Ed25519");
  }
  if (str("signature").size() != 128) {
    return Status(StatusCode::kDataLoss, label + "data.signature must be 128 hex digits");
  }
  if (key != nullptr && !key->Verify(CheckpointSigningInput(e), str("signature"))) {
    return Status(StatusCode::kDataLoss,
                  label + "its signature does not verify with the public key (key id " +
                      key->key_id() + "; it names key id " + str("keyId") +
                      "): forged, changed, or signed by another key");
  }
  return Status::Ok();
}

json EvidenceObject(const EvidenceEntry& entry) {
  api::ResidencyEvidence o;
  o.metadata.name = api::EvidenceName(entry.sequence);
  o.spec = entry;
  return api::Encode(o);
}

json HeadObject(const EvidenceHead& head, Timestamp time) {
  api::ResidencyEvidence o;
  o.metadata.name = api::kEvidenceHeadName;
  o.spec.sequence = head.sequence;
  o.spec.time = FormatEvidenceTime(time);
  o.spec.type = api::kEvidenceHeadType;
  if (head.sequence > 0) o.spec.hash = head.hash;
  o.spec.checkpoint = head.checkpoint;
  return api::Encode(o);
}

namespace {

// "entry 42 (000…42)" from the object as far as it can be read, for a malformed one.
std::string LabelOf(const api::ResidencyEvidence& decoded) {
  if (decoded.spec.sequence > 0) return Label(decoded.spec.sequence);
  return "entry " + (decoded.metadata.name.empty() ? "?" : decoded.metadata.name);
}

std::string Joined(const FieldErrors& errors) {
  std::string out;
  for (const FieldError& e : errors) out += (out.empty() ? "" : "; ") + e.ToString();
  return out;
}

}  // namespace

StatusOr<EvidenceEntry> EntryFromObject(const json& object) {
  FieldErrors errors;
  api::ResidencyEvidence decoded = api::DecodeResidencyEvidence(object, &errors);
  if (!errors.empty()) {
    return Status(StatusCode::kDataLoss, LabelOf(decoded) + ": malformed: " + Joined(errors));
  }
  if (decoded.metadata.name == api::kEvidenceHeadName) {
    return Status(StatusCode::kDataLoss, "the head is not an entry");
  }
  const std::string computed = EntryHash(decoded.spec);
  if (computed != decoded.spec.hash) {
    return Status(StatusCode::kDataLoss, Label(decoded.spec.sequence) +
                                             ": changed: its content no longer matches its "
                                             "hash (stored " +
                                             Short(decoded.spec.hash) + ", computed " +
                                             Short(computed) + ")");
  }
  return std::move(decoded.spec);
}

StatusOr<EvidenceHead> HeadFromObject(const json& object) {
  FieldErrors errors;
  api::ResidencyEvidence decoded = api::DecodeResidencyEvidence(object, &errors);
  if (decoded.metadata.name != api::kEvidenceHeadName) {
    errors.push_back({"metadata.name", "must be head"});
  }
  if (!errors.empty()) {
    return Status(StatusCode::kDataLoss, "the head: malformed: " + Joined(errors));
  }
  EvidenceHead head;
  head.sequence = decoded.spec.sequence;
  if (head.sequence > 0) head.hash = decoded.spec.hash;
  head.checkpoint = decoded.spec.checkpoint;
  return head;
}

Status ChainVerifier::Fail(Status s) {
  first_error_ = s;
  return s;
}

namespace {

bool IsHeadObject(const json& object) {
  if (!object.is_object()) return false;
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return false;
  auto name = m->find("name");
  return name != m->end() && name->is_string() &&
         name->get_ref<const std::string&>() == api::kEvidenceHeadName;
}

}  // namespace

Status ChainVerifier::Add(const json& object) {
  if (!first_error_.ok()) return first_error_;
  if (IsHeadObject(object)) return Add(json(object));
  FieldErrors errors;
  api::ResidencyEvidence decoded = api::DecodeResidencyEvidence(object, &errors);
  if (!errors.empty()) {
    return Fail(Status(StatusCode::kDataLoss, LabelOf(decoded) + ": malformed: " + Joined(errors)));
  }
  return AddEntry(decoded.spec);  // checks its hash once
}

Status ChainVerifier::Add(json&& object) {
  if (!first_error_.ok()) return first_error_;
  if (IsHeadObject(object)) {
    StatusOr<EvidenceHead> head = HeadFromObject(object);
    if (!head.ok()) return Fail(head.status());
    head_ = *head;
    return Status::Ok();
  }
  FieldErrors errors;
  api::ResidencyEvidence decoded = api::DecodeResidencyEvidence(std::move(object), &errors);
  if (!errors.empty()) {
    return Fail(Status(StatusCode::kDataLoss, LabelOf(decoded) + ": malformed: " + Joined(errors)));
  }
  return AddEntry(decoded.spec);  // checks its hash once
}

Status ChainVerifier::AddStored(std::string_view text) {
  if (!first_error_.ok()) return first_error_;
  if (std::optional<internal::DataSpan> span = internal::FindCanonicalData(text)) {
    // Everything but data is parsed and decoded as usual (data stands in as {}), so the same
    // checks apply to it; data itself was checked by FindCanonicalData, and a canonical object
    // of integers has no problem the decoder would report.
    std::string rest;
    rest.reserve(text.size() - (span->end - span->begin) + 2);
    rest.append(text.substr(0, span->begin)).append("{}").append(text.substr(span->end));
    const json object = json::parse(rest, nullptr, /*allow_exceptions=*/false);
    if (!object.is_discarded() && !IsHeadObject(object)) {
      FieldErrors errors;
      api::ResidencyEvidence decoded = api::DecodeResidencyEvidence(object, &errors);
      if (errors.empty() && decoded.spec.type != kCheckpointType) {
        const std::string_view data = text.substr(span->begin, span->end - span->begin);
        ++hashed_from_stored_;
        return Link(decoded.spec, Sha256Hex(CanonicalForm(decoded.spec, data)));
      }
    }
  }
  // The rest (the head, a checkpoint, a malformed or non-canonical object) the full way, so
  // what is found and said is the same.
  json object;
  try {
    object = json::parse(text);
  } catch (const json::parse_error& e) {
    return Fail(Status(
        StatusCode::kDataLoss,
        "the object after " +
            (last_.sequence == 0 ? std::string("the start of the chain") : Label(last_.sequence)) +
            " is not JSON: " + e.what()));
  }
  return Add(std::move(object));
}

Status ChainVerifier::AddEntry(const EvidenceEntry& e) {
  if (!first_error_.ok()) return first_error_;
  return Link(e, EntryHash(e));
}

Status ChainVerifier::Link(const EvidenceEntry& e, const std::string& computed) {
  if (computed != e.hash) {
    return Fail(Status(StatusCode::kDataLoss, Label(e.sequence) +
                                                  ": changed: its content no longer matches its "
                                                  "hash (stored " +
                                                  Short(e.hash) + ", computed " + Short(computed) +
                                                  ")"));
  }
  const uint64_t expected = last_.sequence + 1;
  // A compacted chain starts after entry 1: its first link cannot be checked here; a checkpoint
  // further on must vouch for it (Finish fails otherwise).
  const bool compacted_start = summary_.entries == 0 && e.sequence > 1;
  if (compacted_start) {
    summary_.first_sequence = e.sequence;
  } else if (e.sequence != expected) {
    if (e.sequence < expected) {
      return Fail(Status(StatusCode::kDataLoss, Label(e.sequence) + ": out of order (after " +
                                                    Label(last_.sequence) + ")"));
    }
    return Fail(Status(StatusCode::kDataLoss,
                       Label(expected) + " is missing: " +
                           (last_.sequence == 0
                                ? "the chain starts at " + Label(e.sequence)
                                : Label(last_.sequence) + " is followed by " + Label(e.sequence))));
  }
  if (!compacted_start && e.previous_hash != last_.hash) {
    if (last_.sequence == 0) {
      return Fail(Status(StatusCode::kDataLoss,
                         Label(e.sequence) + ": changed: the first entry's previousHash must be " +
                             "64 zeros, not " + Short(e.previous_hash)));
    }
    // The previous entry is self-consistent but not what this one chained to: it was
    // rewritten with a recomputed hash (or this entry's link was).
    return Fail(Status(StatusCode::kDataLoss, Label(last_.sequence) + ": changed: its hash " +
                                                  Short(last_.hash) + " is not the previousHash " +
                                                  Short(e.previous_hash) + " that " +
                                                  Label(e.sequence) +
                                                  " recorded (the entry was rewritten, or the "
                                                  "link of the next one was)"));
  }
  if (e.type == kCheckpointType) {
    if (Status st = CheckCheckpoint(e, key_ ? &*key_ : nullptr); !st.ok()) return Fail(st);
    ++summary_.checkpoints;
    if (!key_) {
      ++summary_.checkpoints_unchecked;
    } else if (summary_.first_sequence > 1 && summary_.anchor_checkpoint == 0) {
      summary_.anchor_checkpoint = e.sequence;
      summary_.sealed_sequence = e.sequence - 1;
      summary_.sealed_first_time = StringField(e.data, "firstTime");
      summary_.sealed_last_time = StringField(e.data, "lastTime");
      summary_.key_id = key_->key_id();
    }
  }
  if (summary_.entries == 0) {
    summary_.first_time = e.time;
    if (summary_.first_sequence == 0) summary_.first_sequence = e.sequence;
  }
  summary_.last_time = e.time;
  ++summary_.entries;
  last_ = {e.sequence, e.hash};
  recent_.push_back(last_);
  if (recent_.size() > kPendingWindow + 1) recent_.pop_front();
  return Status::Ok();
}

StatusOr<ChainSummary> ChainVerifier::Finish() {
  if (!first_error_.ok()) return first_error_;
  if (summary_.first_sequence > 1 && summary_.anchor_checkpoint == 0) {
    const std::string missing =
        Label(1) + " is missing: the chain starts at " + Label(summary_.first_sequence);
    if (!key_ && summary_.checkpoints > 0) {
      return Fail(Status(StatusCode::kFailedPrecondition,
                         missing + " (compacted); the checkpoint that seals the entries before "
                                   "it cannot be checked without the evidence public key "
                                   "(--public-key)"));
    }
    return Fail(Status(StatusCode::kDataLoss,
                       missing + " and no signed checkpoint seals the entries before it "
                                 "(removed without a checkpoint, or the checkpoint was removed "
                                 "too)"));
  }
  if (!head_) {
    if (summary_.entries == 0) return summary_;  // nothing was ever recorded
    return Fail(Status(StatusCode::kDataLoss,
                       "the head is missing (" + std::to_string(summary_.entries) +
                           " entries found): the end of the chain cannot be checked"));
  }
  summary_.head_sequence = head_->sequence;
  if (head_->sequence > last_.sequence) {
    return Fail(Status(StatusCode::kDataLoss,
                       "the chain is truncated: the head records " + Label(head_->sequence) +
                           " as the last entry, the last found is " +
                           (last_.sequence == 0 ? std::string("none") : Label(last_.sequence)) +
                           " (" + std::to_string(head_->sequence - last_.sequence) +
                           " entries missing)"));
  }
  if (head_->sequence == 0) {
    if (summary_.entries > kPendingWindow) {
      return Fail(Status(
          StatusCode::kDataLoss,
          "the head records no entry but " + std::to_string(summary_.entries) + " were found"));
    }
    summary_.pending = summary_.entries;
    return summary_;
  }
  for (const EvidenceHead& r : recent_) {
    if (r.sequence != head_->sequence) continue;
    if (r.hash != head_->hash) {
      return Fail(Status(StatusCode::kDataLoss,
                         Label(r.sequence) + ": changed: its hash " + Short(r.hash) +
                             " is not the one the head recorded (" + Short(head_->hash) + ")"));
    }
    summary_.pending = last_.sequence - head_->sequence;
    return summary_;
  }
  return Fail(Status(StatusCode::kDataLoss,
                     "the head records " + Label(head_->sequence) + " but " +
                         std::to_string(last_.sequence - head_->sequence) +
                         " entries follow it (more than pending appends can explain)"));
}

}  // namespace meridian::residency
