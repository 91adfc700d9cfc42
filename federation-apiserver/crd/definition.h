// apiextensions.k8s.io/v1 CustomResourceDefinition, as kube-apiserver's apiextensions-apiserver
// judges and serves it: the registry entry of the CRD kind itself, defaulting, validation with
// Kubernetes' field paths, the names other CRDs of the group already hold, the registry
// entries of a CRD's served versions, and its status (NamesAccepted, Established, Terminating,
// acceptedNames, storedVersions). Pure: registrar.h is the shell that applies them.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/resource_registry.h"
#include "common/clock.h"
#include "common/field_error.h"

namespace meridian::apiserver::crd {

inline constexpr char kGroup[] = "apiextensions.k8s.io";
inline constexpr char kPlural[] = "customresourcedefinitions";
// Kubernetes' finalizer: deleting a CRD first deletes every object of it.
inline constexpr char kCleanupFinalizer[] = "customresourcecleanup.apiextensions.k8s.io";

// The CRD kind: cluster-scoped, /status, short names crd and crds, kubectl's CREATED AT.
apimachinery::ResourceInfo DefinitionResourceInfo();

// Kubernetes' defaults: names.singular (the lower-cased kind), names.listKind (kind + "List"),
// conversion.strategy None; on create the cleanup finalizer.
void DefaultDefinition(nlohmann::json* crd, bool create);

// Every problem of `crd` (after defaulting) with its field path, as kube-apiserver words
// them ("metadata.name: Invalid value: \"w.example.com\": must be
// spec.names.plural+\".\"+spec.group", "spec.versions: Invalid value: ...: must have exactly one
// version marked as storage version",
// "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: ...").
// `old` (an update) adds the immutable fields and storedVersions. `builtin_groups`: API groups
// this server serves itself (a CRD may not add to them).
FieldErrors ValidateDefinition(const nlohmann::json& crd, const nlohmann::json* old,
                               const std::vector<std::string>& builtin_groups);

// The names of `crd` that another CRD of its group already holds (plural, singular, kind,
// listKind, short names), each as a FieldError on the field ("spec.names.plural: Invalid
// value: \"widgets\": \"widgets\" is already in use"). `others`: the stored CRDs (`crd`
// itself, by name, is skipped). Kubernetes reports these as condition NamesAccepted=False;
// this server refuses them at admission and keeps the condition for writes that race.
FieldErrors NameConflicts(const nlohmann::json& crd, const std::vector<nlohmann::json>& others);

// The registry entries of the served versions, highest version priority first (Kubernetes'
// order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other names), which is also discovery's
// preferred version first. Empty when nothing is served.
std::vector<apimachinery::ResourceInfo> ServedResources(const nlohmann::json& crd);

// Kubernetes' version priority: negative when `a` sorts before (is preferred to) `b`.
int CompareVersionPriority(const std::string& a, const std::string& b);

// The version whose `storage` is true ("" when none).
std::string StorageVersion(const nlohmann::json& crd);

// The status the CRD should carry: acceptedNames, storedVersions (the stored ones plus the
// storage version), and the conditions NamesAccepted (False with `conflict` as message when
// set), Established (once names are accepted) and Terminating (while being deleted; with
// `terminating_message`). A condition keeps its lastTransitionTime unless its status changes.
nlohmann::json DesiredStatus(const nlohmann::json& crd, const std::optional<std::string>& conflict,
                             const std::string& terminating_message, Timestamp now);

}  // namespace meridian::apiserver::crd
