#include "api/served_kinds.h"

#include "api/types.h"

namespace meridian::api {
namespace {

std::vector<ServedKind> BuildServedKinds() {
  std::vector<ServedKind> kinds;
  for (const ResourceDescriptor& r : FederationResources()) {
    kinds.push_back({kGroup, kVersion, r.kind, r.plural, r.singular, r.short_names, r.namespaced,
                     r.has_status, r.columns});
  }
  kinds.push_back({"",
                   "v1",
                   "Namespace",
                   "namespaces",
                   "namespace",
                   {"ns"},
                   false,
                   true,
                   {{"STATUS", "string", ".status.phase", "Phase"},
                    {"AGE", "date", ".metadata.creationTimestamp", "Age"}}});
  kinds.push_back({"",
                   "v1",
                   "Secret",
                   "secrets",
                   "secret",
                   {},
                   true,
                   false,
                   {{"TYPE", "string", ".type", "Secret type"},
                    {"DATA", "count", ".data", "Number of data entries"},
                    {"AGE", "date", ".metadata.creationTimestamp", "Age"}}});
  // What controllers did to an object and why (`fedctl describe` shows an object's last ones).
  kinds.push_back({"",
                   "v1",
                   "Event",
                   "events",
                   "event",
                   {"ev"},
                   true,
                   false,
                   {{"LAST SEEN", "date", ".lastTimestamp", "When it last happened"},
                    {"TYPE", "string", ".type", "Normal or Warning"},
                    {"REASON", "string", ".reason", "Why"},
                    {"OBJECT", "string", ".involvedObject.name", "What it is about"},
                    {"MESSAGE", "string", ".message", "What happened"}}});
  return kinds;
}

}  // namespace

const std::vector<ServedKind>& ServedKinds() {
  static const std::vector<ServedKind> kKinds = BuildServedKinds();
  return kKinds;
}

}  // namespace meridian::api
