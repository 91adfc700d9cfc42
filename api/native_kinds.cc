#include "api/native_kinds.h"

namespace meridian::api {
namespace {

std::vector<NativeKind> BuildNativeKinds() {
  const PrinterColumn age = {"AGE", "date", ".metadata.creationTimestamp", "Age"};
  std::vector<NativeKind> kinds;
  kinds.push_back({"apps",
                   "v1",
                   "Deployment",
                   "deployments",
                   {"deploy"},
                   true,
                   true,
                   false,
                   {{"READY", "integer", ".status.readyReplicas", "Ready replicas in all members"},
                    {"UP-TO-DATE", "integer", ".status.updatedReplicas", "Updated replicas"},
                    {"AVAILABLE", "integer", ".status.availableReplicas", "Available replicas"},
                    age}});
  kinds.push_back(
      {"apps",
       "v1",
       "StatefulSet",
       "statefulsets",
       {"sts"},
       true,
       true,
       false,
       {{"READY", "integer", ".status.readyReplicas", "Ready replicas in all members"}, age}});
  kinds.push_back({"",
                   "v1",
                   "Service",
                   "services",
                   {"svc"},
                   true,
                   false,
                   false,
                   {{"TYPE", "string", ".spec.type", "Service type"}, age}});
  kinds.push_back({"",
                   "v1",
                   "ConfigMap",
                   "configmaps",
                   {"cm"},
                   false,
                   false,
                   true,
                   {{"DATA", "count", ".data", "Number of data entries"}, age}});
  kinds.push_back({"",
                   "v1",
                   "Secret",
                   "secrets",
                   {},
                   false,
                   false,
                   true,
                   {{"TYPE", "string", ".type", "Secret type"},
                    {"DATA", "count", ".data", "Number of data entries"},
                    age}});
  kinds.push_back(
      {"", "v1", "ServiceAccount", "serviceaccounts", {"sa"}, false, false, true, {age}});
  kinds.push_back({"",
                   "v1",
                   "PersistentVolumeClaim",
                   "persistentvolumeclaims",
                   {"pvc"},
                   true,
                   false,
                   true,
                   {{"STATUS", "string", ".status.phase", "Phase"}, age}});
  kinds.push_back({"autoscaling",
                   "v2",
                   "HorizontalPodAutoscaler",
                   "horizontalpodautoscalers",
                   {"hpa"},
                   true,
                   false,
                   false,
                   {{"MINPODS", "integer", ".spec.minReplicas", "Minimum replicas"},
                    {"MAXPODS", "integer", ".spec.maxReplicas", "Maximum replicas"},
                    age}});
  return kinds;
}

}  // namespace

const std::vector<NativeKind>& NativeKinds() {
  static const std::vector<NativeKind> kKinds = BuildNativeKinds();
  return kKinds;
}

const NativeKind* FindNativeKind(const std::string& api_version, const std::string& kind) {
  for (const NativeKind& k : NativeKinds()) {
    if (k.ApiVersion() == api_version && k.kind == kind) return &k;
  }
  return nullptr;
}

std::string NativeKindsList() {
  std::string out;
  for (const NativeKind& k : NativeKinds()) {
    if (!out.empty()) out += ", ";
    out += k.ApiVersion() + " " + k.kind;
  }
  return out;
}

}  // namespace meridian::api
