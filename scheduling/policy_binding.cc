#include "scheduling/policy_binding.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <tuple>

namespace meridian::scheduling {
namespace {

using nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const json& Child(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string StringAt(const json& j, const char* key) {
  const json& v = Child(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

const char* LevelName(int level) {
  switch (level) {
    case 3:
      return "by name";
    case 2:
      return "by label";
    default:
      return "by kind";
  }
}

void AddRef(std::set<DependencyRef>* out, const char* kind, const json& name) {
  if (name.is_string() && !name.get<std::string>().empty()) {
    out->insert({kind, name.get<std::string>()});
  }
}

void ContainerRefs(const json& containers, std::set<DependencyRef>* out) {
  if (!containers.is_array()) return;
  for (const json& c : containers) {
    const json& env_from = Child(c, "envFrom");
    if (env_from.is_array()) {
      for (const json& e : env_from) {
        AddRef(out, "ConfigMap", Child(Child(e, "configMapRef"), "name"));
        AddRef(out, "Secret", Child(Child(e, "secretRef"), "name"));
      }
    }
    const json& env = Child(c, "env");
    if (env.is_array()) {
      for (const json& e : env) {
        const json& from = Child(e, "valueFrom");
        AddRef(out, "ConfigMap", Child(Child(from, "configMapKeyRef"), "name"));
        AddRef(out, "Secret", Child(Child(from, "secretKeyRef"), "name"));
      }
    }
  }
}

// Conditions by type, replacing `c` (lastTransitionTime kept while the status is unchanged).
void SetCondition(json* conditions, json c) {
  if (!conditions->is_array()) *conditions = json::array();
  for (json& old : *conditions) {
    if (old.value("type", "") != c.value("type", "")) continue;
    // Unchanged: kept whole, so that an unchanged status is written once, not every pass.
    if (old.value("status", "") == c.value("status", "") &&
        old.value("reason", "") == c.value("reason", "") &&
        old.value("message", "") == c.value("message", "")) {
      return;
    }
    if (old.value("status", "") == c.value("status", "")) {
      c["lastTransitionTime"] = old.value("lastTransitionTime", c["lastTransitionTime"]);
    }
    old = std::move(c);
    return;
  }
  conditions->push_back(std::move(c));
}

}  // namespace

int SelectorMatch(const api::ResourceSelector& selector, const api::NativeKind& kind,
                  const json& object, const apimachinery::Labels& namespace_labels) {
  if (selector.api_version != kind.ApiVersion() || selector.kind != kind.kind) return 0;
  const json& meta = Child(object, "metadata");
  if (!selector.name.empty() && selector.name != StringAt(meta, "name")) return 0;
  if (selector.label_selector &&
      !selector.label_selector->Matches(apimachinery::LabelsOf(object))) {
    return 0;
  }
  if (selector.namespace_selector && !selector.namespace_selector->Matches(namespace_labels)) {
    return 0;
  }
  if (!selector.name.empty()) return 3;
  if (selector.label_selector) return 2;
  return 1;
}

bool PolicyPrecedes(const PolicyMatch& a, const PolicyMatch& b) {
  // Larger first for level, namespaced, priority; smaller first for age and name.
  auto key = [](const PolicyMatch& m) {
    return std::make_tuple(-m.level, m.policy->cluster_scoped, -int64_t{m.policy->priority},
                           m.policy->metadata.creation_timestamp, m.policy->Display());
  };
  return key(a) < key(b);
}

std::vector<PolicyMatch> MatchingPolicies(const json& object, const api::NativeKind& kind,
                                          const apimachinery::Labels& namespace_labels,
                                          const std::vector<api::PlacementPolicyObject>& policies) {
  const std::string ns = StringAt(Child(object, "metadata"), "namespace");
  std::vector<PolicyMatch> out;
  for (const api::PlacementPolicyObject& p : policies) {
    if (!p.cluster_scoped && p.metadata.ns != ns) continue;
    if (!p.metadata.deletion_timestamp.empty()) continue;
    int best = 0;
    for (const api::ResourceSelector& s : p.resource_selectors) {
      best = std::max(best, SelectorMatch(s, kind, object, namespace_labels));
    }
    if (best > 0) out.push_back({&p, best});
  }
  std::sort(out.begin(), out.end(), PolicyPrecedes);
  return out;
}

std::string ExplainMatches(const std::vector<PolicyMatch>& matches) {
  if (matches.empty()) {
    return "not placed: no PlacementPolicy or ClusterPlacementPolicy selects it";
  }
  auto line = [](const PolicyMatch& m) {
    return m.policy->Display() + " (" + LevelName(m.level) + ", priority " +
           std::to_string(m.policy->priority) + ")";
  };
  std::string out = "placed by " + line(matches[0]);
  for (size_t i = 1; i < matches.size(); ++i) {
    const PolicyMatch& w = matches[0];
    const PolicyMatch& m = matches[i];
    std::string why;
    if (m.level != w.level) {
      why = "less specific";
    } else if (m.policy->cluster_scoped != w.policy->cluster_scoped) {
      why = "cluster-wide, the namespace's own policy wins";
    } else if (m.policy->priority != w.policy->priority) {
      why = "lower priority";
    } else if (m.policy->metadata.creation_timestamp != w.policy->metadata.creation_timestamp) {
      why = "newer";
    } else {
      why = "same age, later name";
    }
    out += (i == 1 ? "; also matched: " : ", ") + line(m) + ": " + why;
  }
  return out;
}

std::string BindingName(const api::NativeKind& kind, const std::string& name) {
  return Lower(kind.kind) + (kind.custom ? "." + kind.group : "") + "-" + name;
}

std::string BoundObject(const api::NativeKind& kind, const std::string& name) {
  return kind.ApiVersion() + "/" + kind.kind + "/" + name;
}

json TemplateOf(const api::NativeKind& kind, const json& object) {
  json t = object;
  t.erase("status");
  const json& meta = Child(object, "metadata");
  json m = {{"name", StringAt(meta, "name")}};
  if (Child(meta, "labels").is_object() && !meta["labels"].empty()) m["labels"] = meta["labels"];
  json annotations = Child(meta, "annotations");
  if (annotations.is_object()) {
    annotations.erase("kubectl.kubernetes.io/last-applied-configuration");
    annotations.erase(kPlacementAnnotation);
    annotations.erase(kMemberStatusAnnotation);  // what members report is not the template
    annotations.erase(kRevisionsAnnotation);
    // How the object's rollout is steered, not what it is: a change must not be a revision.
    annotations.erase(api::kRolloutApprovedAnnotation);
    annotations.erase(api::kRolloutPausedAnnotation);
    if (!annotations.empty()) m["annotations"] = annotations;
  }
  t["metadata"] = std::move(m);
  t["apiVersion"] = kind.ApiVersion();
  t["kind"] = kind.kind;
  if (kind.workload) {
    json& spec = t["spec"];
    if (!spec.is_object()) spec = json::object();
    if (!spec.contains("replicas") || spec["replicas"].is_null()) spec["replicas"] = 1;
  }
  return t;
}

namespace {

// The object's rollout annotation `key` ("" when absent).
std::string RolloutAnnotation(const json& object, const char* key) {
  return StringAt(Child(Child(object, "metadata"), "annotations"), key);
}

// Sets `rollout` (a spec.rollout; null: none) and `history` on binding `b` of `object`: paused
// when the object says so, its approval copied (docs: api::kRolloutPausedAnnotation).
void AddRollout(const json& object, json rollout, std::optional<int32_t> history, json* b) {
  if (!rollout.is_object()) return;
  if (RolloutAnnotation(object, api::kRolloutPausedAnnotation) == "true") rollout["paused"] = true;
  (*b)["spec"]["rollout"] = std::move(rollout);
  if (history) (*b)["spec"]["revisionHistoryLimit"] = *history;
  const std::string approval = RolloutAnnotation(object, api::kRolloutApprovedAnnotation);
  if (!approval.empty())
    (*b)["metadata"]["annotations"][api::kRolloutApprovedAnnotation] = approval;
}

json BindingEnvelope(const api::NativeKind& kind, const json& object, const char* binding_kind) {
  const json& meta = Child(object, "metadata");
  const std::string name = StringAt(meta, "name");
  json labels = Child(meta, "labels").is_object() ? meta["labels"] : json::object();
  labels[kBindingLabel] = binding_kind;
  const json& generation = Child(meta, "generation");
  return {{"apiVersion", api::kApiVersion},
          {"kind", "FederatedWorkload"},
          {"metadata",
           {{"name", BindingName(kind, name)},
            {"namespace", StringAt(meta, "namespace")},
            {"labels", labels},
            {"annotations",
             {{kBoundObjectAnnotation, BoundObject(kind, name)},
              {kBoundGenerationAnnotation,
               std::to_string(generation.is_number_integer() ? generation.get<int64_t>() : 0)}}}}},
          {"spec", {{"template", TemplateOf(kind, object)}}}};
}

}  // namespace

json PolicyBinding(const api::NativeKind& kind, const json& object,
                   const api::PlacementPolicyObject& policy) {
  json b = BindingEnvelope(kind, object, "policy");
  if (policy.placement_json.is_object() && !policy.placement_json.empty()) {
    b["spec"]["placement"] = policy.placement_json;
  }
  if (policy.overrides.is_array() && !policy.overrides.empty()) {
    b["spec"]["overrides"] = policy.overrides;
  }
  b["metadata"]["annotations"][kPlacementAnnotation] = "placed by " + policy.Display();
  AddRollout(object, policy.rollout_json, policy.revision_history_limit, &b);
  return b;
}

json DependencyBinding(const api::NativeKind& kind, const json& object,
                       const std::set<std::string>& clusters,
                       const std::set<std::string>& dependents, const json& rollout,
                       std::optional<int32_t> history) {
  json b = BindingEnvelope(kind, object, "dependency");
  AddRollout(object, rollout, history, &b);
  std::string names;
  for (const std::string& d : dependents) names += (names.empty() ? "" : ", ") + d;
  b["metadata"]["annotations"][kDependentsAnnotation] = names;
  b["spec"]["placement"] = {
      {"clusterSelector",
       {{"matchExpressions",
         json::array(
             {{{"key", kClusterNameLabel},
               {"operator", "In"},
               {"values", json(std::vector<std::string>(clusters.begin(), clusters.end()))}}})}}}};
  return b;
}

std::set<DependencyRef> DependenciesOf(const json& workload,
                                       const std::vector<std::string>& pod_template) {
  const json* at = &workload;
  for (const std::string& key : pod_template) at = &Child(*at, key.c_str());
  return DependenciesOfPodTemplate(*at);
}

std::set<DependencyRef> DependenciesOfInterpreted(const api::InterpreterRule& rule,
                                                  const json& object) {
  std::set<DependencyRef> out;
  for (const api::JsonPath& path : rule.pod_template_paths) {
    if (const json* t = path.Find(object)) out.merge(DependenciesOfPodTemplate(*t));
  }
  return out;
}

std::set<DependencyRef> DependenciesOfPodTemplate(const json& pod_template) {
  std::set<DependencyRef> out;
  if (!pod_template.is_object()) return out;
  const json& pod = Child(pod_template, "spec");
  if (!pod.is_object()) return out;
  const json& volumes = Child(pod, "volumes");
  if (volumes.is_array()) {
    for (const json& v : volumes) {
      AddRef(&out, "ConfigMap", Child(Child(v, "configMap"), "name"));
      AddRef(&out, "Secret", Child(Child(v, "secret"), "secretName"));
      AddRef(&out, "PersistentVolumeClaim", Child(Child(v, "persistentVolumeClaim"), "claimName"));
      const json& sources = Child(Child(v, "projected"), "sources");
      if (sources.is_array()) {
        for (const json& s : sources) {
          AddRef(&out, "ConfigMap", Child(Child(s, "configMap"), "name"));
          AddRef(&out, "Secret", Child(Child(s, "secret"), "name"));
        }
      }
    }
  }
  ContainerRefs(Child(pod, "containers"), &out);
  ContainerRefs(Child(pod, "initContainers"), &out);
  const json& pull = Child(pod, "imagePullSecrets");
  if (pull.is_array()) {
    for (const json& p : pull) AddRef(&out, "Secret", Child(p, "name"));
  }
  const json& sa = Child(pod, "serviceAccountName");
  if (sa.is_string() && sa.get<std::string>() != "default") AddRef(&out, "ServiceAccount", sa);
  return out;
}

std::string MemberApplyStatus(const api::FederatedWorkload& binding) {
  std::map<std::string, std::string> by_member;
  for (const api::ClusterSyncStatus& c : binding.status.clusters) {
    by_member[c.cluster] = c.synced               ? "applied"
                           : c.last_error.empty() ? "pending"
                                                  : "error: " + c.last_error;
  }
  std::string out;
  for (const auto& [member, what] : by_member) {
    out += (out.empty() ? "" : "; ") + member + ": " + what;
  }
  return out;
}

std::string RevisionSummary(const api::FederatedWorkload& binding) {
  std::set<std::string> placed = MembersOf(binding);
  std::map<int64_t, std::string, std::greater<>> runs;  // newest first
  for (const api::ClusterSyncStatus& c : binding.status.clusters) {
    if (c.revision == 0 || placed.count(c.cluster) == 0) continue;
    std::string& line = runs[c.revision];
    line += (line.empty() ? "" : ", ") + c.cluster + (c.revision_ready ? "" : " (not ready)");
  }
  std::string out;
  for (const auto& [revision, members] : runs) {
    out += (out.empty() ? "" : "; ") + ("revision " + std::to_string(revision) + " on " + members);
  }
  if (const std::optional<api::RolloutStatus>& r = binding.status.rollout; r && r->revision != 0) {
    out += (out.empty() ? "" : "; ") +
           ("rollout of revision " + std::to_string(r->revision) + ": " + r->phase);
    if (!r->stage_name.empty() && r->phase != "Complete") out += ", stage " + r->stage_name;
  }
  return out;
}

std::set<std::string> MembersOf(const api::FederatedWorkload& binding) {
  std::set<std::string> out;
  for (const api::ClusterPlacement& p : binding.status.placement) {
    if (p.replicas > 0) out.insert(p.cluster);
  }
  for (const api::ClusterPlacement& p : binding.status.retained) {
    if (p.replicas > 0) out.insert(p.cluster);
  }
  return out;
}

json AggregatedStatus(const json& object, const api::FederatedWorkload* binding,
                      const std::string& placement, const std::string& now_rfc3339) {
  json status = Child(object, "status").is_object() ? object["status"] : json::object();
  const json& meta = Child(object, "metadata");
  const int64_t generation =
      Child(meta, "generation").is_number_integer() ? meta["generation"].get<int64_t>() : 0;
  const json& spec_replicas = Child(Child(object, "spec"), "replicas");
  const int64_t desired = spec_replicas.is_number_integer() ? spec_replicas.get<int64_t>() : 1;
  int64_t placed = 0, ready = 0, updated = 0;
  bool current = binding != nullptr;
  // The revision a member runs when it runs the binding's template (sync::TemplateForMember):
  // the newest, once the rollout controller recorded the template as one; 0 before that
  // (a member rendering a recorded older revision reports its number). -1: no revisions at
  // all (no rollout controller): synced is all there is to judge by.
  int64_t newest = -1;
  if (binding != nullptr && !binding->status.revisions.empty()) {
    const api::WorkloadRevision& last = binding->status.revisions.back();
    newest = last.template_ == binding->spec.template_ ? last.revision : 0;
  }
  if (binding != nullptr) {
    for (const api::ClusterPlacement& p : binding->status.placement) placed += p.replicas;
    std::set<std::string> placed_on;
    for (const api::ClusterPlacement& p : binding->status.placement) {
      if (p.replicas > 0) placed_on.insert(p.cluster);
    }
    for (const api::ClusterSyncStatus& c : binding->status.clusters) {
      if (placed_on.count(c.cluster) == 0) continue;
      placed_on.erase(c.cluster);
      ready += c.ready_replicas;
      // A synced member holds the template assigned to it: its ready replicas run the current
      // one (as far as status.clusters says; it carries no per-member updated count yet) when
      // that is the newest revision, which a staged rollout gives members in their turn.
      if (c.synced && (newest < 0 || c.revision == newest)) updated += c.ready_replicas;
      current = current && c.synced;
    }
    const auto gen = binding->metadata.annotations.find(kBoundGenerationAnnotation);
    // The propagation controller's Synced condition for this very generation: before it,
    // status.clusters still says what the members held for the previous template.
    bool synced_now = false;
    for (const api::Condition& c : binding->status.conditions) {
      if (c.type == "Synced") {
        synced_now = c.status == "True" && c.observed_generation >= binding->metadata.generation;
      }
    }
    current = current && synced_now && placed_on.empty() &&
              gen != binding->metadata.annotations.end() &&
              gen->second == std::to_string(generation) &&
              binding->status.observed_generation >= binding->metadata.generation;
  }
  status["replicas"] = placed;
  status["readyReplicas"] = ready;
  // Ready pods are available (minReadySeconds is not carried to the aggregate).
  const int64_t available = ready;
  status["availableReplicas"] = available;
  status["updatedReplicas"] = updated;
  if (current) status["observedGeneration"] = generation;
  json& conditions = status["conditions"];
  SetCondition(&conditions, {{"type", "Placed"},
                             {"status", binding != nullptr ? "True" : "False"},
                             {"reason", binding != nullptr ? "PlacedByPolicy" : "NoPolicy"},
                             {"message", placement},
                             {"lastUpdateTime", now_rfc3339},
                             {"lastTransitionTime", now_rfc3339}});
  const bool is_available = binding != nullptr && available >= desired;
  SetCondition(
      &conditions,
      {{"type", "Available"},
       {"status", is_available ? "True" : "False"},
       {"reason", is_available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"},
       {"message", is_available ? "Deployment has minimum availability."
                                : "Deployment does not have minimum availability."},
       {"lastUpdateTime", now_rfc3339},
       {"lastTransitionTime", now_rfc3339}});
  const bool complete = current && updated >= desired && available >= desired;
  SetCondition(&conditions,
               {{"type", "Progressing"},
                {"status", "True"},
                {"reason", complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated"},
                {"message", complete ? "the members run the current template, all available"
                                     : "the members are rolling out the current template"},
                {"lastUpdateTime", now_rfc3339},
                {"lastTransitionTime", now_rfc3339}});
  return status;
}

}  // namespace meridian::scheduling
