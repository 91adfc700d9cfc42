#include "api/served_kinds.h"

#include <algorithm>
#include <cctype>

#include "api/native_kinds.h"
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
  // Kubernetes RBAC (federation-apiserver/rbac/): who may do what, evaluated on every request.
  const std::string rbac = "rbac.authorization.k8s.io";
  const PrinterColumn age = {"AGE", "date", ".metadata.creationTimestamp", "Age"};
  const PrinterColumn role = {"ROLE", "string", ".roleRef.name", "The role granted"};
  kinds.push_back({rbac, "v1", "Role", "roles", "role", {}, true, false, {age}});
  kinds.push_back(
      {rbac, "v1", "ClusterRole", "clusterroles", "clusterrole", {}, false, false, {age}});
  kinds.push_back(
      {rbac, "v1", "RoleBinding", "rolebindings", "rolebinding", {}, true, false, {role, age}});
  kinds.push_back({rbac,
                   "v1",
                   "ClusterRoleBinding",
                   "clusterrolebindings",
                   "clusterrolebinding",
                   {},
                   false,
                   false,
                   {role, age}});
  // Leader election of federation-controller-manager (apimachinery/leader_election.h).
  kinds.push_back({"coordination.k8s.io",
                   "v1",
                   "Lease",
                   "leases",
                   "lease",
                   {},
                   true,
                   false,
                   {{"HOLDER", "string", ".spec.holderIdentity", "Who holds the lease"}, age}});
  // Kubernetes kinds stored as templates for PlacementPolicies (api/native_kinds.h); Secret
  // is served above already.
  for (const NativeKind& n : NativeKinds()) {
    if (n.group.empty() && n.kind == "Secret") continue;
    std::string singular = n.kind;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    kinds.push_back({n.group, n.version, n.kind, n.plural, singular, n.short_names, true,
                     n.has_status, n.columns});
  }
  return kinds;
}

}  // namespace

const std::vector<ServedKind>& ServedKinds() {
  static const std::vector<ServedKind> kKinds = BuildServedKinds();
  return kKinds;
}

}  // namespace meridian::api
