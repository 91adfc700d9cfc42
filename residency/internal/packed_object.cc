#include "residency/internal/packed_object.h"

#include "residency/internal/member_audit_cache.h"

namespace meridian::residency::internal {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: it would not print back the same
}

bool IsUuidDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

// `text` as 16 bytes when it is a UUID in the canonical form (36 characters, lower-case hex
// in groups 8-4-4-4-12), which prints back exactly as `text`.
std::optional<std::array<uint8_t, 16>> ParseUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::array<uint8_t, 16> out{};
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    if (IsUuidDash(i)) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[n++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

std::string PrintUuid(const std::array<uint8_t, 16>& uuid) {
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[uuid[i] >> 4];
    s += kHex[uuid[i] & 0xf];
  }
  return s;
}

}  // namespace

uint32_t ObjectPacker::ResourceIndex(const sync::GroupVersionResource& gvr) {
  for (uint32_t i = 0; i < resources_.size(); ++i) {
    if (resources_[i] == gvr) return i;
  }
  resources_.push_back(gvr);
  return static_cast<uint32_t>(resources_.size() - 1);
}

uint32_t ObjectPacker::GroupResourceIndex(const sync::GroupVersionResource& gvr) {
  for (uint32_t i = 0; i < resources_.size(); ++i) {
    if (resources_[i].group == gvr.group && resources_[i].resource == gvr.resource) return i;
  }
  return ResourceIndex(gvr);
}

PackedKey ObjectPacker::AcquireKey(const MemberObject& o) {
  return {GroupResourceIndex(o.resource), strings_.Acquire(o.ns), o.name};
}

void ObjectPacker::ReleaseKey(const PackedKey& key) { strings_.Release(key.ns); }

std::optional<PackedKey> ObjectPacker::FindKey(std::string_view key) const {
  // "group/resource/namespace/name": none of the first three holds a '/'.
  size_t cut[3];
  size_t from = 0;
  for (size_t& c : cut) {
    c = key.find('/', from);
    if (c == std::string_view::npos) return std::nullopt;
    from = c + 1;
  }
  return FindKey(key.substr(0, cut[0]), key.substr(cut[0] + 1, cut[1] - cut[0] - 1),
                 key.substr(cut[1] + 1, cut[2] - cut[1] - 1), key.substr(cut[2] + 1));
}

std::optional<PackedKey> ObjectPacker::FindKey(const MemberObject& o) const {
  return FindKey(o.resource.group, o.resource.resource, o.ns, o.name);
}

std::optional<PackedKey> ObjectPacker::FindKey(std::string_view group, std::string_view resource,
                                               std::string_view ns, std::string_view name) const {
  const std::optional<StringPool::Id> ns_id = strings_.Find(ns);
  if (!ns_id) return std::nullopt;
  for (uint32_t i = 0; i < resources_.size(); ++i) {
    if (resources_[i].group == group && resources_[i].resource == resource) {
      return PackedKey{i, *ns_id, std::string(name)};
    }
  }
  return std::nullopt;
}

std::string ObjectPacker::KeyText(const PackedKey& key) const {
  return AuditObjectKey(resources_[key.resource], strings_.Get(key.ns), key.name);
}

PackedObject ObjectPacker::Pack(const MemberObject& o) {
  PackedObject p;
  p.resource_version = o.resource_version;
  p.labels.reserve(o.labels.size());
  for (const auto& [k, v] : o.labels) p.labels.emplace_back(strings_.Acquire(k), v);
  if (auto uuid = ParseUuid(o.uid)) {
    p.uuid = *uuid;
    p.uid_form = PackedObject::UidForm::kUuid;
  } else if (!o.uid.empty()) {
    p.uid_text = strings_.Acquire(o.uid);
    p.uid_form = PackedObject::UidForm::kText;
  }
  p.has_replicas = o.replicas.has_value();
  p.replicas = o.replicas.value_or(0);
  p.resource = ResourceIndex(o.resource);
  p.kind = strings_.Acquire(o.kind);
  p.suspended = o.suspended;
  p.owned = o.owned;
  return p;
}

void ObjectPacker::Release(const PackedObject& p) {
  for (const auto& label : p.labels) strings_.Release(label.first);
  if (p.uid_form == PackedObject::UidForm::kText) strings_.Release(p.uid_text);
  strings_.Release(p.kind);
}

MemberObject ObjectPacker::Unpack(const PackedKey& key, const PackedObject& p) const {
  MemberObject o;
  o.resource = resources_[p.resource];
  o.kind = strings_.Get(p.kind);
  o.ns = strings_.Get(key.ns);
  o.name = key.name;
  for (const auto& [k, v] : p.labels) o.labels.emplace(strings_.Get(k), v);
  o.owned = p.owned;
  if (p.has_replicas) o.replicas = p.replicas;
  o.suspended = p.suspended;
  switch (p.uid_form) {
    case PackedObject::UidForm::kNone:
      break;
    case PackedObject::UidForm::kUuid:
      o.uid = PrintUuid(p.uuid);
      break;
    case PackedObject::UidForm::kText:
      o.uid = strings_.Get(p.uid_text);
      break;
  }
  o.resource_version = p.resource_version;
  return o;
}

}  // namespace meridian::residency::internal
