// Every kind the federation-apiserver serves, in one list that the server (its resource
// registry) and fedctl (what a user or manifest may name, URLs, table columns) both read:
// Meridian's seven kinds (FederationResources) first, then core v1 namespaces, secrets and
// events, then rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding,
// then coordination.k8s.io/v1 Lease.
// Pure data; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "api/resources.h"

namespace meridian::api {

struct ServedKind {
  std::string group;     // "" for core v1
  std::string version;   // "v1alpha1" | "v1"
  std::string kind;      // "FederatedWorkload"
  std::string plural;    // "federatedworkloads"
  std::string singular;  // "federatedworkload"
  std::vector<std::string> short_names;
  bool namespaced = false;
  bool has_status = false;  // a /status subresource
  // fedctl's table columns after NAME. Types: string | integer | date (rendered as an age) |
  // count (number of entries of an object or array, e.g. a Secret's DATA). For Meridian's
  // kinds these are the server's printer columns too; the core kinds keep Kubernetes' own
  // columns on the server (what kubectl shows).
  std::vector<PrinterColumn> columns;
};

// Meridian's kinds, then Namespace, Secret and Event (v1), then the four RBAC kinds, then Lease.
const std::vector<ServedKind>& ServedKinds();

}  // namespace meridian::api
