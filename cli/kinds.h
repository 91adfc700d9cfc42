// The resource types fedctl knows: what the federation-apiserver serves (api::ServedKinds():
// Meridian's six kinds plus the core v1 namespaces, secrets and events). Resolves what a
// user types ("fw", "federatedworkloads", "ns") and what a manifest says (apiVersion + kind)
// to the URL pieces and printer columns fedctl needs. Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "api/served_kinds.h"

namespace meridian::cli {

// A served kind (group, version, kind, plural, singular, short names, scope, fedctl's table
// columns) with the URL pieces fedctl derives from it.
struct KindInfo : api::ServedKind {
  // "federation.meridian.io/v1alpha1" or "v1".
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // The URL prefix: "/apis/federation.meridian.io/v1alpha1" or "/api/v1".
  std::string ApiPrefix() const;
  // "federatedworkloads.federation.meridian.io" or "namespaces" (Kubernetes' group-resource,
  // as in server messages: `federatedworkloads.federation.meridian.io "web" not found`).
  std::string GroupResource() const;
  // "federatedworkload.federation.meridian.io" or "namespace" (kubectl's apply output prefix).
  std::string GroupSingular() const;
};

// Every type fedctl knows, Meridian's first, then namespaces, secrets and events.
const std::vector<KindInfo>& KnownKinds();

// The type a user named on the command line: kind, plural, singular or short name,
// case-insensitive, with an optional ".group" suffix ("fw", "FederatedWorkload",
// "federatedworkloads.federation.meridian.io", "ns", "secret"). nullptr if unknown.
const KindInfo* ResolveType(const std::string& name);

// The type of a manifest document with this apiVersion and kind (exact, case-sensitive as
// Kubernetes is). nullptr if the pair is not served.
const KindInfo* ResolveManifestKind(const std::string& api_version, const std::string& kind);

// "memberclusters (mc), federatedworkloads (fw), ..., namespaces (ns), secrets": for error
// messages that list what is available.
std::string KnownTypesList();

}  // namespace meridian::cli
