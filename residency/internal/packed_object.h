// A member object as the residency audit keeps it between scans: the fields MemberObject
// (residency/audit.h) has, packed. At issue 14's scale (100 members x 10,000 objects) the
// audit holds 1,000,000 of them; as MemberObjects with a string key each (twice: once per
// watch that held it) they took ~1,050 bytes of heap apiece, most of it the same few strings
// over and over. Packed (~440 bytes; bench/residency/audit_memory.cc):
//   - the key (group/resource/namespace/name) is a resource index, a namespace id and the
//     name, and the object holds no copy of it;
//   - the resource (GroupVersionResource) is an index into a table the packer grows (a
//     member's watches cover a handful of resources);
//   - the kind, the namespace and the label keys are StringPool ids (label values stay
//     strings: they are as often unique, `app: web-1234`, as shared);
//   - a uid in the canonical UUID form (what every API server writes) is 16 bytes.
// Unpack gives back exactly the MemberObject packed (round trip), so judging a packed object
// is judging the listed one.
// Thread-compatible: the owner (MemberAuditCache) locks the packer with the objects.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "residency/audit.h"
#include "residency/internal/string_pool.h"

namespace meridian::residency::internal {

// Which object: the same for every version of its resource (as AuditObjectKey).
struct PackedKey {
  uint32_t resource = 0;  // the packer's first resource of this group and resource name
  StringPool::Id ns = 0;
  std::string name;
  friend auto operator<=>(const PackedKey&, const PackedKey&) = default;
  friend bool operator==(const PackedKey&, const PackedKey&) = default;
};

// The rest of a MemberObject. Holds uses of the packer's strings: give it back with Release.
struct PackedObject {
  std::string resource_version;
  std::vector<std::pair<StringPool::Id, std::string>> labels;  // key id, value
  std::array<uint8_t, 16> uuid{};                              // the uid, when uid_form == kUuid
  int64_t replicas = 0;                                        // when has_replicas
  uint32_t resource = 0;  // the packer's resource (the version it was listed as)
  StringPool::Id kind = 0;
  StringPool::Id uid_text = 0;  // the uid, when uid_form == kText
  enum class UidForm : uint8_t { kNone, kUuid, kText };
  UidForm uid_form = UidForm::kNone;
  bool has_replicas = false;
  bool suspended = false;
  bool owned = false;
};

class ObjectPacker {
 public:
  ObjectPacker() = default;
  ObjectPacker(const ObjectPacker&) = delete;
  ObjectPacker& operator=(const ObjectPacker&) = delete;

  // The key of `o`, counting a use of its namespace: give it back with ReleaseKey.
  PackedKey AcquireKey(const MemberObject& o);
  void ReleaseKey(const PackedKey& key);
  // The key of `o`, or of the object AuditObjectKey names `key`, when the packer holds its
  // parts (nullopt: no object held has that key). Counts no use.
  std::optional<PackedKey> FindKey(const MemberObject& o) const;
  std::optional<PackedKey> FindKey(std::string_view key) const;
  // AuditObjectKey of `key`.
  std::string KeyText(const PackedKey& key) const;

  // `o` without its key, counting uses of its strings: give it back with Release.
  PackedObject Pack(const MemberObject& o);
  void Release(const PackedObject& p);
  // The MemberObject that was packed into `key` and `p`.
  MemberObject Unpack(const PackedKey& key, const PackedObject& p) const;

  // Strings shared (for tests and for sizing).
  size_t strings() const { return strings_.size(); }

 private:
  uint32_t ResourceIndex(const sync::GroupVersionResource& gvr);  // adds it when new
  uint32_t GroupResourceIndex(const sync::GroupVersionResource& gvr);
  std::optional<PackedKey> FindKey(std::string_view group, std::string_view resource,
                                   std::string_view ns, std::string_view name) const;

  StringPool strings_;
  std::vector<sync::GroupVersionResource> resources_;  // never shrinks: a member's few kinds
};

}  // namespace meridian::residency::internal
