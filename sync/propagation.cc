#include "sync/propagation.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/resource_interpreter.h"
#include "sync/member_apply.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

}  // namespace

std::string WorkloadLabelValue(const api::FederatedWorkload& workload) {
  return workload.metadata.ns + "." + workload.metadata.name;
}

StatusOr<json> RenderMemberObject(const api::FederatedWorkload& workload,
                                  const std::string& cluster_name,
                                  const apimachinery::Labels& cluster_labels, int64_t replicas) {
  const json& tmpl = workload.spec.template_;
  if (!tmpl.is_object() || !tmpl.contains("apiVersion") || !tmpl.contains("kind") ||
      !tmpl["apiVersion"].is_string() || !tmpl["kind"].is_string()) {
    return InvalidArgumentError("spec.template: must be an object with apiVersion and kind");
  }
  json out = tmpl;
  out.erase("status");
  if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = json::object();
  json& meta = out["metadata"];
  meta["namespace"] = workload.metadata.ns;
  if (!meta.contains("name") || !meta["name"].is_string() ||
      meta["name"].get<std::string>().empty()) {
    meta["name"] = workload.metadata.name;
  }
  if (out.contains("spec") && out["spec"].is_object() && out["spec"].contains("replicas")) {
    out["spec"]["replicas"] = replicas;
  }
  // A custom kind's ResourceInterpreter may keep its replicas elsewhere: the share goes there
  // (before the overrides, which may patch it like any field).
  StatusOr<std::optional<api::InterpreterRule>> rule = api::InterpreterRuleOf(workload);
  if (!rule.ok()) return rule.status();
  if (*rule) MERIDIAN_RETURN_IF_ERROR(api::PlaceReplicas(**rule, &out));
  for (size_t i = 0; i < workload.spec.overrides.size(); ++i) {
    const api::Override& o = workload.spec.overrides[i];
    if (!o.cluster_selector.Matches(cluster_labels)) continue;
    try {
      out = out.patch(o.patches);
    } catch (const std::exception& e) {
      return InvalidArgumentError("spec.overrides[" + std::to_string(i) + "] for cluster " +
                                  cluster_name + ": patch failed: " + e.what());
    }
    if (!out.is_object() || !out.contains("metadata") || !out["metadata"].is_object()) {
      return InvalidArgumentError("spec.overrides[" + std::to_string(i) + "] for cluster " +
                                  cluster_name + ": the patched object has no metadata");
    }
  }
  // Overrides may not move the object out of the workload's namespace.
  out["metadata"]["namespace"] = workload.metadata.ns;
  json& m = out["metadata"];
  if (!m.contains("labels") || !m["labels"].is_object()) m["labels"] = json::object();
  m["labels"][kManagedByLabel] = kManagedByValue;
  m["labels"][kWorkloadLabel] = WorkloadLabelValue(workload);
  for (const char* server_field :
       {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"}) {
    m.erase(server_field);
  }
  if (!m.contains("annotations") || !m["annotations"].is_object()) {
    m["annotations"] = json::object();
  }
  // In the form the member stores it (canonical quantities, no empty lists), so what Meridian
  // sends, records and compares is what the member answers with.
  out = NormalizeForMember(out);
  out["metadata"]["annotations"][kRenderedHashAnnotation] = RenderedHash(out);
  return out;
}

std::string RenderedHash(const json& object) {
  json copy = object;
  copy.erase("status");
  if (copy.contains("metadata") && copy["metadata"].is_object()) {
    json& m = copy["metadata"];
    for (const char* server_field : {"resourceVersion", "uid", "creationTimestamp", "generation",
                                     "managedFields", "selfLink"}) {
      m.erase(server_field);
    }
    if (m.contains("annotations") && m["annotations"].is_object()) {
      m["annotations"].erase(kRenderedHashAnnotation);
      if (m["annotations"].empty()) m.erase("annotations");
    }
  }
  // nlohmann::json keeps object keys sorted: dump() is canonical.
  const std::string text = copy.dump();
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, h);
  return buf;
}

bool IsManaged(const json& live) {
  const json* labels = nullptr;
  if (live.contains("metadata") && live["metadata"].contains("labels")) {
    labels = &live["metadata"]["labels"];
  }
  if (labels == nullptr || !labels->is_object()) return false;
  auto it = labels->find(kManagedByLabel);
  return it != labels->end() && *it == kManagedByValue;
}

bool NeedsUpdate(const json& live, const json& rendered) {
  auto hash_of = [](const json& o) -> std::string {
    const json* a = nullptr;
    if (o.contains("metadata") && o["metadata"].is_object() &&
        o["metadata"].contains("annotations") && o["metadata"]["annotations"].is_object()) {
      a = &o["metadata"]["annotations"];
    }
    if (a == nullptr) return "";
    auto it = a->find(kRenderedHashAnnotation);
    return it != a->end() && it->is_string() ? it->get<std::string>() : "";
  };
  const std::string want = hash_of(rendered);
  if (want.empty() || hash_of(live) != want) return true;
  return !SemanticallyContains(rendered, live);
}

std::optional<GroupVersionResource> FallbackResource(const std::string& api_version,
                                                     const std::string& kind) {
  static const std::map<std::pair<std::string, std::string>, GroupVersionResource> kTable = {
      {{"apps/v1", "Deployment"}, {"apps", "v1", "deployments"}},
      {{"apps/v1", "StatefulSet"}, {"apps", "v1", "statefulsets"}},
      {{"apps/v1", "DaemonSet"}, {"apps", "v1", "daemonsets"}},
      {{"apps/v1", "ReplicaSet"}, {"apps", "v1", "replicasets"}},
      {{"v1", "Service"}, {"", "v1", "services"}},
      {{"v1", "ConfigMap"}, {"", "v1", "configmaps"}},
      {{"v1", "Secret"}, {"", "v1", "secrets"}},
      {{"v1", "ServiceAccount"}, {"", "v1", "serviceaccounts"}},
      {{"v1", "PersistentVolumeClaim"}, {"", "v1", "persistentvolumeclaims"}},
      {{"batch/v1", "Job"}, {"batch", "v1", "jobs"}},
      {{"batch/v1", "CronJob"}, {"batch", "v1", "cronjobs"}},
      {{"networking.k8s.io/v1", "Ingress"}, {"networking.k8s.io", "v1", "ingresses"}},
      {{"policy/v1", "PodDisruptionBudget"}, {"policy", "v1", "poddisruptionbudgets"}},
  };
  auto it = kTable.find({api_version, kind});
  if (it == kTable.end()) return std::nullopt;
  return it->second;
}

StatusOr<GroupVersionResource> ResolveResource(const std::string& api_version,
                                               const std::string& kind,
                                               const DiscoveryInfo* discovery) {
  if (discovery != nullptr) {
    const size_t slash = api_version.find('/');
    const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    const std::string version =
        slash == std::string::npos ? api_version : api_version.substr(slash + 1);
    for (const DiscoveredResource& r : discovery->resources) {
      if (r.kind == kind && r.gvr.group == group && r.gvr.version == version &&
          r.gvr.resource.find('/') == std::string::npos) {
        return r.gvr;
      }
    }
  }
  if (std::optional<GroupVersionResource> gvr = FallbackResource(api_version, kind)) return *gvr;
  return NotFoundError("no resource serves " + api_version + " " + kind);
}

int64_t ReplicasForMember(const api::FederatedWorkload& workload, const std::string& member) {
  int64_t n = 0;
  for (const api::ClusterPlacement& p : workload.status.placement) {
    if (p.cluster == member) n = std::max(n, p.replicas);
  }
  for (const api::ClusterPlacement& p : workload.status.retained) {
    if (p.cluster == member) n = std::max(n, p.replicas);
  }
  return n;
}

StatusOr<MemberTemplate> TemplateForMember(const api::FederatedWorkload& workload,
                                           const std::string& member) {
  const std::vector<api::WorkloadRevision>& revisions = workload.status.revisions;
  MemberTemplate spec{0, &workload.spec.template_};
  if (!revisions.empty() && revisions.back().template_ == workload.spec.template_) {
    spec.revision = revisions.back().revision;
  }
  if (!workload.spec.rollout || !workload.status.rollout) return spec;
  const api::RolloutStatus& rollout = *workload.status.rollout;
  int64_t wanted = rollout.stable_revision;
  for (const api::MemberRevision& m : rollout.members) {
    if (m.cluster == member) wanted = m.revision;
  }
  if (wanted == 0 || wanted == spec.revision) return spec;
  for (const api::WorkloadRevision& r : revisions) {
    if (r.revision == wanted) return MemberTemplate{r.revision, &r.template_};
  }
  return FailedPreconditionError("revision " + std::to_string(wanted) +
                                 " assigned to this member is no longer in status.revisions");
}

bool RevisionReady(const nlohmann::json& live, const nlohmann::json& rendered, int64_t placed) {
  const bool counted = rendered.contains("spec") && rendered["spec"].is_object() &&
                       rendered["spec"].contains("replicas");
  if (!counted) return true;
  const nlohmann::json& meta = live.value("metadata", nlohmann::json::object());
  const nlohmann::json& st = live.value("status", nlohmann::json::object());
  auto num = [](const nlohmann::json& o, const char* k) -> int64_t {
    auto it = o.find(k);
    return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  if (num(st, "observedGeneration") < num(meta, "generation")) return false;
  const int64_t want = placed;
  const bool has_available =
      st.contains("availableReplicas") || rendered.value("kind", "") == "Deployment";
  const int64_t available = has_available ? num(st, "availableReplicas") : num(st, "readyReplicas");
  // The member's controller reports replicas of old revisions too while it replaces them.
  return num(st, "updatedReplicas") >= want && num(st, "readyReplicas") >= want &&
         available >= want && num(st, "replicas") <= want;
}

namespace {

const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::vector<std::string> Images(const nlohmann::json& pod_spec) {
  std::vector<std::string> out;
  const nlohmann::json& containers = Field(pod_spec, "containers");
  if (!containers.is_array()) return out;
  for (const nlohmann::json& c : containers) {
    const nlohmann::json& image = Field(c, "image");
    out.push_back(image.is_string() ? image.get<std::string>() : "");
  }
  return out;
}

}  // namespace

std::string PodSelector(const nlohmann::json& rendered) {
  const nlohmann::json& labels = Field(Field(Field(rendered, "spec"), "selector"), "matchLabels");
  std::string out;
  if (!labels.is_object()) return out;
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) return "";
    out += (out.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  }
  return out;
}

int64_t RevisionRestarts(const std::vector<nlohmann::json>& pods, const nlohmann::json& rendered) {
  const std::vector<std::string> want =
      Images(Field(Field(Field(rendered, "spec"), "template"), "spec"));
  int64_t restarts = 0;
  for (const nlohmann::json& pod : pods) {
    if (want.empty() || Images(Field(pod, "spec")) != want) continue;
    const nlohmann::json& statuses = Field(Field(pod, "status"), "containerStatuses");
    if (!statuses.is_array()) continue;
    for (const nlohmann::json& cs : statuses) {
      const nlohmann::json& n = Field(cs, "restartCount");
      if (n.is_number_integer()) restarts += std::max<int64_t>(0, n.get<int64_t>());
    }
  }
  return restarts;
}

api::FederatedWorkloadStatus SyncedStatus(const api::FederatedWorkload& workload,
                                          const std::map<std::string, MemberSyncResult>& results,
                                          Timestamp now) {
  api::FederatedWorkloadStatus status = workload.status;
  status.clusters.clear();
  int64_t ready = 0, desired = 0;
  size_t synced = 0;
  std::string first_error;
  std::set<std::string> placed_clusters;
  for (const api::ClusterPlacement& p : workload.status.placement) {
    if (p.replicas <= 0) continue;
    placed_clusters.insert(p.cluster);
    desired += p.replicas;
    api::ClusterSyncStatus s;
    s.cluster = p.cluster;
    auto it = results.find(p.cluster);
    if (it == results.end() || it->second.replicas != ReplicasForMember(workload, p.cluster)) {
      s.last_error = "pending: not yet synced to this cluster";
      if (it != results.end()) s.ready_replicas = it->second.status.ready_replicas;
    } else {
      s = it->second.status;
      s.cluster = p.cluster;
    }
    ready += s.ready_replicas;
    if (s.synced) {
      ++synced;
    } else if (first_error.empty()) {
      first_error = p.cluster + ": " + s.last_error;
    }
    status.clusters.push_back(std::move(s));
  }
  status.ready_replicas = ready;
  // Members no longer placed that still report (their objects could not be removed yet, e.g.
  // the member is unreachable) stay visible: their replicas may still be serving.
  std::set<std::string> retained_clusters;
  for (const api::ClusterPlacement& p : workload.status.retained) {
    if (p.replicas > 0) retained_clusters.insert(p.cluster);
  }
  for (const auto& [cluster, r] : results) {
    if (placed_clusters.count(cluster)) continue;
    if (r.status.synced && !retained_clusters.count(cluster)) continue;
    api::ClusterSyncStatus s = r.status;
    s.cluster = cluster;
    if (!s.synced && first_error.empty()) first_error = cluster + ": " + s.last_error;
    if (s.synced) ++synced;
    status.clusters.push_back(std::move(s));
  }

  const int64_t gen = workload.metadata.generation;
  const bool all = synced == status.clusters.size();
  api::Condition synced_c{"Synced", all ? "True" : "False", all ? "AllClustersSynced" : "SyncPending",
                          std::to_string(synced) + " of " + std::to_string(status.clusters.size()) +
                              " clusters synced" + (first_error.empty() ? "" : "; " + first_error),
                          "", gen};
  if (!all && first_error.find("pending:") == std::string::npos) synced_c.reason = "SyncFailed";
  api::SetCondition(&status.conditions, std::move(synced_c), now);

  const bool is_ready = all && ready >= desired &&
                        (!status.clusters.empty() || api::TemplateReplicas(workload.spec) == 0);
  api::Condition ready_c{"Ready", is_ready ? "True" : "False",
                         is_ready ? "ReplicasReady" : "ReplicasNotReady",
                         std::to_string(ready) + " of " + std::to_string(desired) +
                             " replicas ready",
                         "", gen};
  api::SetCondition(&status.conditions, std::move(ready_c), now);

  std::string loops;
  for (const api::ClusterSyncStatus& c : status.clusters) {
    auto it = results.find(c.cluster);
    if (it == results.end() || it->second.sync_loop.empty()) continue;
    loops += (loops.empty() ? "" : "; ") + c.cluster + ": " + it->second.sync_loop;
  }
  const bool had_loop = std::any_of(status.conditions.begin(), status.conditions.end(),
                                    [](const api::Condition& c) { return c.type == "SyncLoop"; });
  if (!loops.empty()) {
    api::SetCondition(&status.conditions,
                      api::Condition{"SyncLoop", "True", "RewriteLoop", loops, "", gen}, now);
  } else if (had_loop) {
    api::SetCondition(&status.conditions,
                      api::Condition{"SyncLoop", "False", "NoRewriteLoop",
                                     "no member object is being rewritten in a loop", "", gen},
                      now);
  }
  return status;
}

}  // namespace meridian::sync
