#include "api/native_kinds.h"

#include "api/types.h"

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
                    age},
                   {"spec", "template"},
                   true});
  kinds.push_back(
      {"apps",
       "v1",
       "StatefulSet",
       "statefulsets",
       {"sts"},
       true,
       true,
       false,
       {{"READY", "integer", ".status.readyReplicas", "Ready replicas in all members"}, age},
       {"spec", "template"},
       true});
  // No replicas to divide: one copy per selected member (see NativeKind::pod_template); its
  // counts are per member. kubectl's NODE SELECTOR column is left out (a map, not a path).
  kinds.push_back({"apps",
                   "v1",
                   "DaemonSet",
                   "daemonsets",
                   {"ds"},
                   true,
                   false,
                   false,
                   {{"DESIRED", "integer", ".status.desiredNumberScheduled", "Pods desired"},
                    {"CURRENT", "integer", ".status.currentNumberScheduled", "Pods scheduled"},
                    {"READY", "integer", ".status.numberReady", "Ready pods"},
                    {"UP-TO-DATE", "integer", ".status.updatedNumberScheduled", "Updated pods"},
                    {"AVAILABLE", "integer", ".status.numberAvailable", "Available pods"},
                    age},
                   {"spec", "template"},
                   true});
  // Copied whole to each selected member: spec.parallelism and spec.completions are each
  // member's, not divided between them (a Job placed on three members completes three times).
  kinds.push_back(
      {"batch",
       "v1",
       "Job",
       "jobs",
       {},
       true,
       false,
       false,
       {{"COMPLETIONS", "integer", ".status.succeeded", "Succeeded/desired completions"}, age},
       {"spec", "template"},
       true});
  kinds.push_back({"batch",
                   "v1",
                   "CronJob",
                   "cronjobs",
                   {"cj"},
                   true,
                   false,
                   false,
                   {{"SCHEDULE", "string", ".spec.schedule", "Cron schedule"},
                    {"TIMEZONE", "string", ".spec.timeZone", "Time zone of the schedule"},
                    {"SUSPEND", "boolean", ".spec.suspend", "Whether scheduling is suspended"},
                    {"ACTIVE", "count", ".status.active", "Running jobs"},
                    {"LAST SCHEDULE", "date", ".status.lastScheduleTime", "Last scheduled"},
                    age},
                   {"spec", "jobTemplate", "spec", "template"},
                   true});
  kinds.push_back({"",
                   "v1",
                   "Service",
                   "services",
                   {"svc"},
                   true,
                   false,
                   false,
                   {{"TYPE", "string", ".spec.type", "Service type"}, age},
                   {},
                   true});
  kinds.push_back({"",
                   "v1",
                   "ConfigMap",
                   "configmaps",
                   {"cm"},
                   false,
                   false,
                   true,
                   {{"DATA", "count", ".data", "Number of data entries"}, age},
                   {},
                   false});
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
                    age},
                   {},
                   false});
  kinds.push_back({"",
                   "v1",
                   "ServiceAccount",
                   "serviceaccounts",
                   {"sa"},
                   false,
                   false,
                   true,
                   {age},
                   {},
                   false});
  kinds.push_back({"",
                   "v1",
                   "PersistentVolumeClaim",
                   "persistentvolumeclaims",
                   {"pvc"},
                   true,
                   false,
                   true,
                   {{"STATUS", "string", ".status.phase", "Phase"}, age},
                   {},
                   false});
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
                    age},
                   {},
                   true});
  // kubectl's HOSTS, ADDRESS and PORTS are computed from lists; CLASS is a path.
  kinds.push_back({"networking.k8s.io",
                   "v1",
                   "Ingress",
                   "ingresses",
                   {"ing"},
                   true,
                   false,
                   false,
                   {{"CLASS", "string", ".spec.ingressClassName", "Ingress class"}, age},
                   {},
                   false});
  kinds.push_back(
      {"policy",
       "v1",
       "PodDisruptionBudget",
       "poddisruptionbudgets",
       {"pdb"},
       true,
       false,
       false,
       {{"MIN AVAILABLE", "string", ".spec.minAvailable", "Pods that must stay available"},
        {"MAX UNAVAILABLE", "string", ".spec.maxUnavailable", "Pods that may be unavailable"},
        {"ALLOWED DISRUPTIONS", "integer", ".status.disruptionsAllowed", "Disruptions allowed"},
        age},
       {},
       false});
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

std::string GroupOfApiVersion(const std::string& api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

bool BuiltInGroup(const std::string& group) {
  if (group.empty() || group == GroupOfApiVersion(kApiVersion)) return true;
  for (const NativeKind& k : NativeKinds()) {
    if (k.group == group) return true;
  }
  return false;
}

}  // namespace meridian::api
