// The Kubernetes kinds the federation-apiserver stores as templates (issue 18, "zero-change
// adoption"): a team applies its unchanged manifests to the federation endpoint and a
// PlacementPolicy (api/placement_policy.h) selects them. Nothing runs in the federation: the
// objects are templates that the binding controller (scheduling/binding_controller.h) turns
// into placement units; their status is the members' aggregate.
//
// One list, read by the server's registry (federation-apiserver/native_resources.h), by fedctl
// (through api::ServedKinds) and by PlacementPolicy validation (a selector naming a kind not
// here is refused). Pure data; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "api/resources.h"

namespace meridian::api {

struct NativeKind {
  std::string group;  // "" for core v1
  std::string version;
  std::string kind;
  std::string plural;
  std::vector<std::string> short_names;
  bool has_status = false;  // a /status subresource (the aggregate of the members')
  // A workload: has spec.replicas divided between members and a pod template whose
  // ConfigMaps, Secrets, ServiceAccounts and PVCs follow it (dependencies).
  bool workload = false;
  // A dependency kind: placed where the workloads that reference it run.
  bool dependency = false;
  std::vector<PrinterColumn> columns;  // fedctl's and the server's columns after NAME
  // Where the pod template is ({"spec", "template"}; a CronJob's is under spec.jobTemplate):
  // its ConfigMaps, Secrets, ServiceAccounts and PVCs follow the object (dependencies). Empty:
  // the kind has none. Every workload has one; a DaemonSet, Job or CronJob has one too but no
  // spec.replicas to divide: it is copied whole to each selected member (one DaemonSet per
  // member; a Job's parallelism and completions are per member, not split).
  std::vector<std::string> pod_template;
  // Listed by `kubectl get all` (kube's "all" category).
  bool in_all_category = false;
  // A kind a CustomResourceDefinition serves (not in NativeKinds(): built by the binding
  // controller from the registry). Copied whole to each selected member, after its CRD (see
  // kCustomResourceDefinitionAnnotation); no health model: reported "applied" only.
  bool custom = false;

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// apps/v1 Deployment, StatefulSet, DaemonSet; batch/v1 Job, CronJob; v1 Service, ConfigMap,
// Secret, ServiceAccount, PersistentVolumeClaim; autoscaling/v2 HorizontalPodAutoscaler;
// networking.k8s.io/v1 Ingress; policy/v1 PodDisruptionBudget. (v1 Secret is also in
// ServedKinds as a core kind: it keeps its existing server definition.)
const std::vector<NativeKind>& NativeKinds();

// The native kind for apiVersion ("apps/v1") and kind, or null.
const NativeKind* FindNativeKind(const std::string& api_version, const std::string& kind);

// "apps/v1 Deployment, apps/v1 StatefulSet, ...": for error messages.
std::string NativeKindsList();

// The group of an apiVersion ("apps/v1" -> "apps", "v1" -> "").
std::string GroupOfApiVersion(const std::string& api_version);
// Whether `group` is one the federation serves itself (the native kinds' groups, the core
// group and Meridian's own): a selector of an unknown kind there is a typo. Any other group
// can only be a custom resource's (served once a CustomResourceDefinition registers it).
bool BuiltInGroup(const std::string& group);

// On a binding FederatedWorkload placing a custom object: the name of the
// CustomResourceDefinition serving its kind ("widgets.example.com"). The propagation
// controller makes sure each member has that CRD, Established, before writing the object.
inline constexpr char kCustomResourceDefinitionAnnotation[] =
    "federation.meridian.io/custom-resource-definition";

}  // namespace meridian::api
