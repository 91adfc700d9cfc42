// ResourceRegistry: which resources an API server serves, and everything the generic layer
// needs to know about each (names for URLs and discovery, scope, the /status subresource,
// kubectl table columns). The embedder fills it at startup; the ObjectService and the REST
// shell read it.
//
// Two kinds of entries: built-in ones, added at startup with Add() (before any request is
// served, then never changed), and dynamic ones that an owner (a CustomResourceDefinition,
// federation-apiserver/crd/) sets and removes while requests are served (SetDynamic,
// RemoveDynamic).
//
// Thread-safety: Add() and EnableFallback() are for startup only. Every other method is
// thread-safe. A pointer the registry returns stays valid for the registry's lifetime, even
// to a dynamic entry that has since been replaced or removed (such entries are retired, not
// freed: one per change of a CustomResourceDefinition's served names, columns or
// subresources, a few hundred bytes each).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apimachinery/store.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::apimachinery {

// One `kubectl get` column: a CRD additionalPrinterColumn. `json_path` is a simple JSONPath
// (".spec.replicas", ".status.conditions[0].status",
// ".status.conditions[?(@.type==\"Ready\")].status"). Type "date" renders as an age ("5m").
struct PrinterColumn {
  std::string name;         // "Ready"
  std::string type = "string";  // string | integer | number | boolean | date
  std::string json_path;
  std::string description;
  std::string format;       // "name" for the name column, else usually empty
  int32_t priority = 0;     // > 0: shown only with -o wide
};

// How metadata.name is validated.
enum class NameValidation {
  kDnsSubdomain,  // RFC 1123 subdomain, <= 253 chars (most resources)
  kDnsLabel,      // RFC 1123 label, <= 63 chars (namespaces)
  kDns1035Label,  // RFC 1035 label: a label that starts with a letter (services)
  kPathSegment,   // anything but "", ".", "..", and no '/' or '%'
};

// A /scale subresource (autoscaling/v1 Scale, what `kubectl scale` uses), backed by dotted
// paths in the object. The selector may be a string or a LabelSelector object.
struct ScaleSubresource {
  std::string spec_replicas_path = "spec.replicas";
  std::string status_replicas_path = "status.replicas";
  std::string label_selector_path = "spec.selector";
};

struct ResourceInfo {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string kind;     // "Deployment"
  std::string plural;   // "deployments" (the URL segment and the storage resource)
  std::string singular;  // "deployment"
  std::vector<std::string> short_names;  // {"deploy"}
  std::vector<std::string> categories;   // {"all"}
  bool namespaced = true;
  bool has_status = false;  // a /status subresource splitting spec from status writes
  std::optional<ScaleSubresource> scale;  // a /scale subresource when set
  NameValidation name_validation = NameValidation::kDnsSubdomain;
  // Whether PATCH accepts application/strategic-merge-patch+json. Kubernetes serves it for
  // built-in kinds only: custom resources (CRDs, Meridian's own kinds, the generic fallback)
  // answer 415 UnsupportedMediaType, so clients fall back to a merge patch.
  bool strategic_merge_patch = true;
  // Field selector labels (?fieldSelector=) beyond metadata.name and metadata.namespace,
  // which every kind supports; any other label answers 400 "field label not supported: X",
  // as kube-apiserver does ("status.phase" for pods, "involvedObject.name" for events, ...).
  std::vector<std::string> field_labels;
  // Columns after NAME (and NAMESPACE, which kubectl adds itself); empty means just AGE.
  std::vector<PrinterColumn> printer_columns;
  // Served by the fallback, not registered (not in discovery).
  bool generic = false;
  // Optional per-resource row printer, like kube-apiserver's Go printers (a JSONPath cannot
  // say "3/3" or "Ready"/"NotReady"): returns the cells after NAME for `object`, one per
  // printer column (which then only name and type the columns; json_path is unused).
  // `now` is for ages. Must be pure and thread-safe. A missing cell renders as null, an
  // extra one is dropped.
  std::function<nlohmann::json(const nlohmann::json& object, Timestamp now)> row_cells;

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string ListKind() const { return kind + "List"; }
  // "deployments.apps", "pods".
  std::string GroupResource() const { return group.empty() ? plural : plural + "." + group; }
  ResourceType StorageType() const { return ResourceType{group, plural}; }
};

// The standard core/v1 Namespace (cluster-scoped, DNS-label names, status subresource,
// STATUS column, field selector status.phase). Both servers register it: namespaced objects require
// their namespace.
ResourceInfo NamespaceResourceInfo();

class ResourceRegistry {
 public:
  ResourceRegistry() = default;
  // Copies the built-in entries, the fallback and the current dynamic entries (not the
  // retired ones). Not thread-safe against Add() on either side.
  ResourceRegistry(const ResourceRegistry& other) { *this = other; }
  ResourceRegistry& operator=(const ResourceRegistry& other);

  // Registers a built-in resource. kInvalidArgument if a required name (version, kind,
  // plural) is missing; kAlreadyExists if group/version/plural is taken. `singular`
  // defaults to the lower-cased kind.
  Status Add(ResourceInfo info);

  // Replaces the dynamic entries `owner` registered (none at first) with `infos`, all or
  // nothing: kInvalidArgument as Add for a missing name, kAlreadyExists (naming the holder)
  // if a group/version/plural is a built-in's or another owner's, or repeats within `infos`.
  Status SetDynamic(const std::string& owner, std::vector<ResourceInfo> infos);
  // Unregisters what `owner` registered (nothing when it has nothing).
  void RemoveDynamic(const std::string& owner);
  // The owner of a dynamic group/version/plural ("" when it is built-in or unknown).
  std::string DynamicOwner(const std::string& group, const std::string& version,
                           const std::string& plural) const;
  // The dynamic entries, owner by owner in owner order (a snapshot).
  std::vector<const ResourceInfo*> Dynamic() const;

  // Enables the fallback: requests for unregistered group/version/plural under a namespace
  // are served as a generic namespaced resource (kind derived from the plural: "widgets" ->
  // "Widget"; bodies may carry any kind). Without a namespace in the URL the resource is
  // listed/watched across all namespaces, or, when `cluster_scoped_too`, served as a
  // generic cluster-scoped resource.
  // Generic resources have no /status split and do not appear in discovery.
  void EnableFallback(bool cluster_scoped_too = false) {
    fallback_ = true;
    fallback_cluster_scoped_ = cluster_scoped_too;
  }
  bool fallback_enabled() const { return fallback_; }

  // The registered resource, or null.
  const ResourceInfo* Find(const std::string& group, const std::string& version,
                           const std::string& plural) const;
  // Resolves a request path's resource: registered first, else a generic ResourceInfo when
  // the fallback applies (`namespaced` says whether the URL named a namespace). nullopt
  // means 404.
  std::optional<ResourceInfo> Resolve(const std::string& group, const std::string& version,
                                      const std::string& plural, bool namespaced) const;
  // A registered resource by group and kind (any version), or null.
  const ResourceInfo* FindKind(const std::string& group, const std::string& kind) const;

  // Every built-in resource, in registration order (dynamic ones: Dynamic()).
  const std::vector<ResourceInfo>& All() const { return resources_; }
  // Groups in registration order, dynamic ones after the built-in ("" first if present),
  // and versions per group.
  std::vector<std::string> Groups() const;
  std::vector<std::string> Versions(const std::string& group) const;
  // Registered resources of one group/version, built-in first, in registration order.
  std::vector<const ResourceInfo*> ResourcesOf(const std::string& group,
                                               const std::string& version) const;
  // True if core/v1 namespaces is registered (then namespaced writes check the namespace).
  bool HasNamespaces() const { return Find("", "v1", "namespaces") != nullptr; }

 private:
  const ResourceInfo* FindDynamicLocked(const std::string& group, const std::string& version,
                                        const std::string& plural) const;

  std::vector<ResourceInfo> resources_;  // built-in: fixed once requests are served
  mutable std::shared_mutex mu_;          // guards dynamic_ and retired_
  std::map<std::string, std::vector<std::unique_ptr<const ResourceInfo>>> dynamic_;
  std::vector<std::unique_ptr<const ResourceInfo>> retired_;  // see the class comment
  bool fallback_ = false;
  bool fallback_cluster_scoped_ = false;
};

}  // namespace meridian::apimachinery
