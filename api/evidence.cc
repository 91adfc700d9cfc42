#include "api/evidence.h"

#include <cstdio>
#include <vector>

#include "api/codec.h"
#include "common/clock.h"
#include "common/json_decoder.h"

namespace meridian::api {
namespace {

using nlohmann::json;

bool IsHexSha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Fractions do not survive a JSON round trip byte for byte, so the canonical form (and the
// hash over it) would not either: refused where they are, with the path. Iterative, as data
// may be deep.
bool HasFraction(const json& data) {
  std::vector<const json*> todo = {&data};
  while (!todo.empty()) {
    const json* j = todo.back();
    todo.pop_back();
    if (j->is_number_float()) return true;
    if (j->is_structured()) {
      for (const json& child : *j) todo.push_back(&child);
    }
  }
  return false;
}

void CheckEvidenceData(const json& data, JsonDecoder& d) {
  // Verify reads every entry: find out cheaply first, build paths only for an error.
  if (!HasFraction(data)) return;
  std::vector<std::pair<const json*, std::string>> todo = {{&data, "spec.data"}};
  while (!todo.empty()) {
    auto [j, path] = todo.back();
    todo.pop_back();
    if (j->is_number_float()) {
      d.Error(path, "must not be a fraction (evidence holds integers only)");
    } else if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it)
        todo.push_back({&*it, path + "." + it.key()});
    } else if (j->is_array()) {
      for (size_t i = 0; i < j->size(); ++i) {
        todo.push_back({&(*j)[i], path + "[" + std::to_string(i) + "]"});
      }
    }
  }
}

}  // namespace

bool IsEvidenceType(const std::string& type) {
  for (const char* t : {"Placement", "AuditScan", "PolicyChange", "ViolationOpened",
                        "ViolationResolved", "Enforcement", "Checkpoint"}) {
    if (type == t) return true;
  }
  return false;
}

std::string EvidenceName(uint64_t sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(sequence));
  return buf;
}

ResidencyEvidence DecodeResidencyEvidence(const json& j, FieldErrors* errors) {
  JsonDecoder d(errors);
  ResidencyEvidence o;
  if (!j.is_object()) {
    d.Error("", "must be a JSON object");
    return o;
  }
  d.RejectUnknown(j, "", {"apiVersion", "kind", "metadata", "spec"});
  if (j.value("apiVersion", json()) != kApiVersion) {
    d.Error("apiVersion", std::string("must be ") + kApiVersion);
  }
  if (j.value("kind", json()) != "ResidencyEvidence") d.Error("kind", "must be ResidencyEvidence");
  if (const json* m = JsonDecoder::Member(j, "metadata")) {
    o.metadata = DecodeObjectMeta(*m, "metadata", errors);
  } else {
    d.Error("metadata", "required");
  }
  if (!o.metadata.ns.empty()) {
    d.Error("metadata.namespace", "ResidencyEvidence is cluster-scoped and takes no namespace");
  }
  const json* s = JsonDecoder::Member(j, "spec");
  if (s == nullptr) {
    d.Error("spec", "required");
    return o;
  }
  if (!d.ExpectObject(*s, "spec")) return o;
  const bool head = o.metadata.name == kEvidenceHeadName;
  if (head) {
    d.RejectUnknown(*s, "spec", {"sequence", "time", "type", "hash", "checkpoint", "previousHash", "data"});
  } else {
    d.RejectUnknown(*s, "spec", {"sequence", "time", "type", "previousHash", "hash", "data"});
  }
  if (const json* v = JsonDecoder::Member(*s, "checkpoint"); v != nullptr && head) {
    if (auto n = d.Int(*v, "spec.checkpoint", 0)) o.spec.checkpoint = *n;
  }
  if (const json* v = JsonDecoder::Member(*s, "sequence")) {
    if (auto n = d.Int(*v, "spec.sequence", head ? 0 : 1)) o.spec.sequence = *n;
  } else {
    d.Error("spec.sequence", "required");
  }
  if (!head && !o.metadata.name.empty() && o.spec.sequence > 0 &&
      o.metadata.name != EvidenceName(o.spec.sequence)) {
    d.Error("metadata.name", "must be \"" + EvidenceName(o.spec.sequence) +
                                 "\" (the sequence, 20 digits) or \"head\"");
  }
  if (const json* v = JsonDecoder::Member(*s, "time")) {
    Timestamp t;
    if (auto text = d.String(*v, "spec.time", true)) {
      o.spec.time = *text;
      if (!ParseRfc3339(*text, &t)) d.Error("spec.time", "must be an RFC 3339 time");
    }
  } else {
    d.Error("spec.time", "required");
  }
  if (const json* v = JsonDecoder::Member(*s, "type")) {
    if (auto text = d.String(*v, "spec.type", true)) {
      o.spec.type = *text;
      if (head && *text != kEvidenceHeadType) {
        d.Error("spec.type", "must be Head (the object named head is the chain's head)");
      } else if (!head && !IsEvidenceType(*text)) {
        d.Error("spec.type",
                "must be one of Placement, AuditScan, PolicyChange, ViolationOpened, "
                "ViolationResolved, Enforcement, Checkpoint");
      }
    }
  } else {
    d.Error("spec.type", "required");
  }
  auto hash_field = [&](const char* name, std::string* out, bool required) {
    const std::string path = std::string("spec.") + name;
    const json* v = JsonDecoder::Member(*s, name);
    if (v == nullptr) {
      if (required) d.Error(path, "required");
      return;
    }
    if (auto text = d.String(*v, path, false)) {
      *out = *text;
      if (!IsHexSha256(*text)) d.Error(path, "must be 64 lowercase hex digits (a SHA-256)");
    }
  };
  hash_field("previousHash", &o.spec.previous_hash, !head);
  hash_field("hash", &o.spec.hash, !head || o.spec.sequence > 0);
  if (head && JsonDecoder::Member(*s, "previousHash")) {
    d.Error("spec.previousHash", "the head has no previousHash");
  }
  if (const json* v = JsonDecoder::Member(*s, "data")) {
    if (!v->is_object()) {
      d.Error("spec.data", "must be an object");
    } else {
      o.spec.data = *v;
      CheckEvidenceData(*v, d);
    }
  } else if (!head) {
    d.Error("spec.data", "required");
  }
  return o;
}

ResidencyEvidence DecodeResidencyEvidence(json&& j, FieldErrors* errors) {
  json* data = nullptr;
  if (j.is_object()) {
    auto spec = j.find("spec");
    if (spec != j.end() && spec->is_object()) {
      auto d = spec->find("data");
      if (d != spec->end() && d->is_object()) data = &*d;
    }
  }
  if (data == nullptr) return DecodeResidencyEvidence(static_cast<const json&>(j), errors);
  json moved = std::move(*data);
  *data = json::object();  // still "an object": the rest is decoded as usual
  ResidencyEvidence o = DecodeResidencyEvidence(static_cast<const json&>(j), errors);
  if (o.metadata.name != kEvidenceHeadName) {
    JsonDecoder d(errors);
    CheckEvidenceData(moved, d);
    o.spec.data = std::move(moved);
  }
  return o;
}

json Encode(const ResidencyEvidence& o) {
  json spec = {{"sequence", o.spec.sequence}, {"time", o.spec.time}, {"type", o.spec.type}};
  if (!o.spec.previous_hash.empty()) spec["previousHash"] = o.spec.previous_hash;
  if (!o.spec.hash.empty()) spec["hash"] = o.spec.hash;
  if (o.metadata.name != kEvidenceHeadName) spec["data"] = o.spec.data;
  if (o.spec.checkpoint > 0) spec["checkpoint"] = o.spec.checkpoint;
  return {{"apiVersion", kApiVersion},
          {"kind", "ResidencyEvidence"},
          {"metadata", EncodeObjectMeta(o.metadata)},
          {"spec", std::move(spec)}};
}

}  // namespace meridian::api
