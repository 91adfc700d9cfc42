#include "sync/member_client.h"

namespace meridian::sync {

const char* MemberEventTypeName(MemberEventType t) {
  switch (t) {
    case MemberEventType::kAdded:
      return "ADDED";
    case MemberEventType::kModified:
      return "MODIFIED";
    case MemberEventType::kDeleted:
      return "DELETED";
  }
  return "UNKNOWN";
}

const DiscoveredResource* DiscoveryInfo::Find(const GroupVersionResource& gvr) const {
  for (const DiscoveredResource& r : resources) {
    if (r.gvr == gvr) return &r;
  }
  return nullptr;
}

const DiscoveredResource* DiscoveryInfo::FindKind(const std::string& group,
                                                  const std::string& kind) const {
  for (const DiscoveredResource& r : resources) {
    if (r.gvr.group == group && r.kind == kind) return &r;
  }
  return nullptr;
}

}  // namespace meridian::sync
