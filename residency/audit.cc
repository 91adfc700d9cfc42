#include "residency/audit.h"

#include <algorithm>
#include <set>

#include "placement/residency.h"
#include "residency/policy.h"
#include "scheduling/placement_inputs.h"
#include "sync/propagation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

std::string Jurisdiction(const std::string& j) { return j.empty() ? "no jurisdiction" : j; }

}  // namespace

const std::vector<sync::GroupVersionResource>& AuditedResources() {
  static const std::vector<sync::GroupVersionResource> kResources = {
      {"apps", "v1", "deployments"},
      {"apps", "v1", "statefulsets"},
      {"apps", "v1", "replicasets"},
      {"apps", "v1", "daemonsets"},
      {"batch", "v1", "jobs"},
      {"", "v1", "pods"},
      {"", "v1", "persistentvolumeclaims"},
  };
  return kResources;
}

namespace {
// A string field of a member's object, "" when absent or of another type: a member may answer
// with anything, and one odd object must not end the scan (json::value throws on a mismatch).
std::string StringAt(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
}  // namespace

MemberObject MemberObjectFrom(const sync::GroupVersionResource& resource, const json& object) {
  MemberObject o;
  o.resource = resource;
  o.kind = StringAt(object, "kind");
  static const json kNoMeta = json::object();
  const auto meta_it = object.is_object() ? object.find("metadata") : object.end();
  const json& meta = meta_it != object.end() && meta_it->is_object() ? *meta_it : kNoMeta;
  o.ns = StringAt(meta, "namespace");
  o.name = StringAt(meta, "name");
  if (meta.contains("labels") && meta["labels"].is_object()) {
    for (auto it = meta["labels"].begin(); it != meta["labels"].end(); ++it) {
      if (it.value().is_string()) o.labels[it.key()] = it.value().get<std::string>();
    }
  }
  o.owned = meta.contains("ownerReferences") && meta["ownerReferences"].is_array() &&
            !meta["ownerReferences"].empty();
  o.uid = meta.contains("uid") && meta["uid"].is_string() ? meta["uid"].get<std::string>() : "";
  o.resource_version = meta.contains("resourceVersion") && meta["resourceVersion"].is_string()
                           ? meta["resourceVersion"].get<std::string>()
                           : "";
  if (!object.is_object()) return o;
  if (const auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    if (auto r = spec->find("replicas"); r != spec->end() && r->is_number_integer()) {
      o.replicas = r->get<int64_t>();
    }
    if (auto s = spec->find("suspend"); s != spec->end() && s->is_boolean()) {
      o.suspended = s->get<bool>();
    }
  }
  return o;
}

std::string ResidencyViolation::Describe() const {
  std::string what = (object.kind.empty() ? object.resource.resource : object.kind) + " " +
                     object.ns + "/" + object.name;
  if (!workload.empty()) what += " of workload " + workload;
  return "member " + member + " (" + Jurisdiction(jurisdiction) + ") holds " + what + " (" +
         allowed + ")";
}

std::string ResidencyViolation::Key() const {
  return member + "/" + object.resource.group + "/" + object.resource.resource + "/" + object.ns +
         "/" + object.name;
}

std::vector<std::string> AuditedNamespaces(const std::vector<api::ResidencyPolicy>& policies) {
  std::set<std::string> names;
  for (const api::ResidencyPolicy& p : policies)
    names.insert(p.spec.namespaces.begin(), p.spec.namespaces.end());
  return {names.begin(), names.end()};
}

namespace {

// Whether the policies that apply in `ns` select by labels at all: when none does (every one
// has an empty selector, which matches any labels), the rules of every object in `ns` are the
// same and are worked out once per judge.
bool RulesIgnoreLabels(const std::string& ns, const std::vector<api::ResidencyPolicy>& policies) {
  for (const api::ResidencyPolicy& p : policies) {
    const auto& names = p.spec.namespaces;
    if (!names.empty() && std::find(names.begin(), names.end(), ns) == names.end()) continue;
    if (!p.spec.workload_selector.Empty()) return false;
  }
  return true;
}

}  // namespace

ResidencyJudge::ResidencyJudge(const placement::World& world,
                               const std::vector<api::ResidencyPolicy>& policies,
                               const std::vector<api::FederatedWorkload>& workloads)
    : world_(world), policies_(policies) {
  for (const api::FederatedWorkload& w : workloads) by_label_[sync::WorkloadLabelValue(w)] = &w;
}

ResidencyJudge::ResidencyJudge(
    const placement::World& world, const std::vector<api::ResidencyPolicy>& policies,
    const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads)
    : world_(world), policies_(policies) {
  for (const auto& w : workloads) by_label_[sync::WorkloadLabelValue(*w)] = w.get();
}

const ResidencyJudge::Governing& ResidencyJudge::GoverningFor(
    const MemberObject& o, const api::FederatedWorkload* workload) {
  if (workload) {
    auto [it, added] = by_workload_.try_emplace(workload);
    if (added) {
      it->second.rules = ResidencyRulesFor(*workload, policies_);
      it->second.allowed =
          placement::AllowedJurisdictionsFor(workload->spec.placement, it->second.rules);
    }
    return it->second;
  }
  auto it = by_namespace_.find(o.ns);
  if (it == by_namespace_.end()) {
    std::optional<Governing> g;
    if (RulesIgnoreLabels(o.ns, policies_)) {
      g.emplace();
      g->rules = ResidencyRulesForObject(o.ns, {}, policies_);
      g->allowed = placement::AllowedJurisdictionsFor(no_own_, g->rules);
    }
    it = by_namespace_.emplace(o.ns, std::move(g)).first;
  }
  if (it->second) return *it->second;
  per_object_.rules = ResidencyRulesForObject(o.ns, o.labels, policies_);
  per_object_.allowed = placement::AllowedJurisdictionsFor(no_own_, per_object_.rules);
  return per_object_;
}

std::optional<ResidencyViolation> ResidencyJudge::Judge(const std::string& member, uint32_t index,
                                                        const MemberObject& o) {
  // A Pod or ReplicaSet with an owner is its owner's business (the owner is audited, and
  // reported and enforced once).
  if (o.owned && (o.resource.resource == "pods" || o.resource.resource == "replicasets")) {
    return std::nullopt;
  }
  const api::FederatedWorkload* workload = nullptr;
  auto managed = o.labels.find(sync::kManagedByLabel);
  auto label = o.labels.find(sync::kWorkloadLabel);
  if (managed != o.labels.end() && managed->second == sync::kManagedByValue &&
      label != o.labels.end()) {
    auto it = by_label_.find(label->second);
    if (it != by_label_.end()) workload = it->second;
  }
  const Governing& g = GoverningFor(o, workload);
  if (placement::ClusterAllowed(world_, index, g.allowed)) return std::nullopt;
  ResidencyViolation v;
  v.member = member;
  v.jurisdiction = world_.jurisdiction_of(index);
  v.object = o;
  if (workload) v.workload = workload->metadata.ns + "/" + workload->metadata.name;
  for (const placement::ResidencyRule& r : g.rules) v.policies.push_back(r.name);
  v.allowed = placement::DescribeAllowed(workload ? workload->spec.placement : no_own_, g.rules);
  return v;
}

AuditResult AuditResidency(const std::vector<MemberInventory>& inventories,
                           const placement::World& world,
                           const std::vector<api::ResidencyPolicy>& policies,
                           const std::vector<api::FederatedWorkload>& workloads) {
  AuditResult result;
  ResidencyJudge judge(world, policies, workloads);
  for (const MemberInventory& inv : inventories) {
    std::optional<uint32_t> index = world.FindCluster(inv.member);
    if (!inv.verified || !index) {
      result.unverified.push_back(inv.member + ": " +
                                  (index ? inv.error : "not a member the fleet knows"));
      if (!index) continue;
    } else {
      ++result.members_verified;
    }
    for (const MemberObject& o : inv.objects) {
      ++result.objects_seen;
      if (auto v = judge.Judge(inv.member, *index, o)) result.violations.push_back(std::move(*v));
    }
  }
  return result;
}

}  // namespace meridian::residency
