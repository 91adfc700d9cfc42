#include "federation-apiserver/admission.h"

#include <algorithm>
#include <set>

#include "api/codec.h"
#include "api/evidence.h"
#include "api/native_kinds.h"
#include "api/placement_policy.h"
#include "api/resources.h"
#include "api/template_schema.h"
#include "common/json_decoder.h"
#include "failover/drill_admission.h"
#include "federation-apiserver/member_schemas.h"
#include "placement/world.h"
#include "residency/policy.h"
#include "rollout/revisions.h"
#include "rollout/stage_machine.h"
#include "scheduling/placement_inputs.h"
#include "scheduling/policy_binding.h"
#include "sync/propagation.h"  // kCleanupFinalizer

namespace meridian::apiserver {
namespace {

using apimachinery::AdmissionAttributes;
using apimachinery::ListOptions;
using apimachinery::ResourceType;
using apimachinery::Store;
using nlohmann::json;

ResourceType TypeOf(const char* plural) { return ResourceType{api::kGroup, plural}; }

std::vector<json> ListAll(Store& store, const char* plural) {
  StatusOr<apimachinery::ListResult> list = store.List(TypeOf(plural), ListOptions{});
  return list.ok() ? std::move(list->items) : std::vector<json>{};
}

// Compaction: entry `name` may be deleted only when the head names a checkpoint after it that
// is stored (residency/ledger.h). A deleting caller still needs RBAC delete on the resource.
void CheckEvidenceCompaction(const std::string& name, Store& store, FieldErrors* errors) {
  auto get = [&store](const std::string& n) {
    return store.Get(apimachinery::ObjectKey{TypeOf("residencyevidences"), "", n});
  };
  uint64_t checkpoint = 0;
  if (StatusOr<json> head = get(api::kEvidenceHeadName); head.ok()) {
    FieldErrors ignored;
    checkpoint = api::DecodeResidencyEvidence(*head, &ignored).spec.checkpoint;
  }
  bool sealed = false;
  if (checkpoint > 0 && name < api::EvidenceName(checkpoint)) {
    StatusOr<json> cp = get(api::EvidenceName(checkpoint));
    FieldErrors ignored;
    sealed = cp.ok() && api::DecodeResidencyEvidence(*cp, &ignored).spec.type == "Checkpoint";
  }
  if (!sealed) {
    errors->push_back(
        {"metadata.name",
         "residency evidence is append-only: entry " + name +
             " can be deleted only once a checkpoint seals it (compaction); " +
             (checkpoint == 0 ? std::string("there is no checkpoint")
                              : "the newest checkpoint is entry " + std::to_string(checkpoint))});
    return;
  }
  // Lowest first, so what is left is always one run the checkpoint vouches for (a hole in the
  // middle would make the chain fail verification).
  ListOptions first;
  first.limit = 1;
  StatusOr<apimachinery::ListResult> oldest = store.List(TypeOf("residencyevidences"), first);
  if (oldest.ok() && !oldest->items.empty()) {
    const std::string lowest = oldest->items[0]["metadata"].value("name", "");
    if (lowest != name && lowest != api::kEvidenceHeadName) {
      errors->push_back({"metadata.name", "compaction deletes the oldest entry first: entry " +
                                              name + " is not the oldest stored (" + lowest +
                                              " is)"});
    }
  }
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none defined" : out;
}

// Names a workload may refer to, read from the store at admission time.
struct KnownNames {
  std::set<std::string> regions;
  std::set<std::string> clusters;
  std::set<std::string> demand_profiles;
};

KnownNames LoadKnownNames(Store& store) {
  KnownNames known;
  for (const json& t : ListAll(store, "topologies")) {
    FieldErrors ignored;
    api::Topology topo = api::DecodeTopology(t, &ignored);
    for (const auto& r : topo.spec.regions) known.regions.insert(r.name);
    for (const auto& p : topo.spec.demand_profiles) known.demand_profiles.insert(p.name);
  }
  for (const json& m : ListAll(store, "memberclusters")) {
    FieldErrors ignored;
    api::MemberCluster mc = api::DecodeMemberCluster(m, &ignored);
    known.clusters.insert(mc.metadata.name);
    if (!mc.spec.region.empty()) known.regions.insert(mc.spec.region);
  }
  return known;
}

void CheckReferences(const api::FederatedWorkload& w, Store& store, FieldErrors* errors) {
  const placement::PlacementPolicy& p = w.spec.placement;
  bool needs_names = !p.distribution.weights.empty() || !p.distribution.clusters.empty() ||
                     p.latency.has_value() || !p.failover.order.empty();
  if (!needs_names) return;
  KnownNames known = LoadKnownNames(store);
  std::set<std::string> both = known.regions;
  both.insert(known.clusters.begin(), known.clusters.end());
  for (const auto& [name, weight] : p.distribution.weights) {
    if (!both.count(name)) {
      errors->push_back({"spec.placement.distribution.weights." + name,
                         "unknown region or cluster \"" + name + "\" (known regions: " +
                             Join(known.regions) + "; clusters: " + Join(known.clusters) + ")"});
    }
  }
  for (const auto& [name, bounds] : p.distribution.clusters) {
    if (!known.clusters.count(name)) {
      errors->push_back({"spec.placement.distribution.clusters." + name,
                         "unknown member cluster \"" + name + "\" (known: " +
                             Join(known.clusters) + ")"});
    }
  }
  for (size_t i = 0; i < p.failover.order.size(); ++i) {
    if (!both.count(p.failover.order[i])) {
      errors->push_back({"spec.placement.failover.order[" + std::to_string(i) + "]",
                         "unknown region or cluster \"" + p.failover.order[i] + "\""});
    }
  }
  if (p.latency && !known.demand_profiles.count(p.latency->demand)) {
    errors->push_back({"spec.placement.latency.demand",
                       "unknown demand profile \"" + p.latency->demand + "\" (known: " +
                           Join(known.demand_profiles) + ")"});
  }
}

template <typename T>
std::vector<T> DecodeAll(Store& store, const char* plural, T (*decode)(const json&, FieldErrors*)) {
  std::vector<T> out;
  for (const json& raw : ListAll(store, plural)) {
    FieldErrors ignored;
    out.push_back(decode(raw, &ignored));
  }
  return out;
}

// The fleet as placement sees it now (running live drills included), from the store.
StatusOr<std::shared_ptr<const placement::World>> FleetWorld(Store& store) {
  scheduling::PlacementInputs inputs;
  inputs.members = DecodeAll(store, "memberclusters", &api::DecodeMemberCluster);
  inputs.topologies = DecodeAll(store, "topologies", &api::DecodeTopology);
  inputs.drills = DecodeAll(store, "failoverdrills", &api::DecodeFailoverDrill);
  return placement::World::Build(scheduling::ClusterStatesFor(inputs),
                                 scheduling::MergedTopology(inputs.topologies));
}

void CheckResidencyGuardrails(const api::FederatedWorkload& w, Store& store, FieldErrors* errors) {
  const std::vector<api::ResidencyPolicy> policies =
      DecodeAll(store, "residencypolicies", &api::DecodeResidencyPolicy);
  if (w.spec.placement.residency) {
    for (const placement::ResidencyRule& rule : residency::ResidencyRulesFor(w, policies)) {
      std::set<std::string> allowed(rule.jurisdictions.begin(), rule.jurisdictions.end());
      const auto& asked = w.spec.placement.residency->jurisdictions;
      for (size_t i = 0; i < asked.size(); ++i) {
        if (!allowed.count(asked[i])) {
          errors->push_back({"spec.placement.residency.jurisdictions[" + std::to_string(i) + "]",
                             "\"" + asked[i] + "\" is not allowed by ResidencyPolicy " + rule.name +
                                 " (allowed: " + Join(allowed) + ")"});
        }
      }
    }
  }
  // The workload's own placement may not ask for places residency forbids (placement would
  // silently drop them).
  const placement::PlacementPolicy& p = w.spec.placement;
  if (p.distribution.weights.empty() && p.distribution.clusters.empty() &&
      p.failover.order.empty() && w.spec.overrides.empty()) {
    return;
  }
  if (!residency::AllowedJurisdictionsFor(w, policies).bound) return;
  StatusOr<std::shared_ptr<const placement::World>> world = FleetWorld(store);
  if (!world.ok()) return;  // a broken fleet is the placement controller's to report
  for (residency::ResidencyConflict& c : residency::PlacementResidencyConflicts(w, policies, **world)) {
    errors->push_back({std::move(c.field), std::move(c.message)});
  }
}

// The jurisdictions the fleet knows: every Topology region's and every member's.
std::set<std::string> KnownJurisdictions(Store& store) {
  std::set<std::string> known;
  for (const api::Topology& t : DecodeAll(store, "topologies", &api::DecodeTopology)) {
    for (const auto& r : t.spec.regions) {
      if (!r.jurisdiction.empty()) known.insert(r.jurisdiction);
    }
  }
  for (const api::MemberCluster& m :
       DecodeAll(store, "memberclusters", &api::DecodeMemberCluster)) {
    if (!m.spec.jurisdiction.empty()) known.insert(m.spec.jurisdiction);
  }
  return known;
}

// A ResidencyPolicy create, update or delete (`object` is the stored object on delete): its
// jurisdictions must be known and it must select something; and the change may not leave a
// workload with no allowed cluster or force running replicas off their clusters unless the
// object carries the acknowledgement annotation.
void CheckResidencyPolicy(const AdmissionAttributes& attrs, const json& object, Store& store,
                          FieldErrors* errors) {
  FieldErrors ignored;
  const api::ResidencyPolicy rp = api::DecodeResidencyPolicy(object, &ignored);
  const bool deleting = attrs.operation == apimachinery::Operation::kDelete;
  if (!deleting) {
    if (rp.spec.namespaces.empty() && rp.spec.workload_selector.Empty()) {
      errors->push_back({"spec.workloadSelector",
                         "Required value: an empty selector with no spec.namespaces would govern "
                         "every workload of the federation; list spec.namespaces or set "
                         "spec.workloadSelector"});
    }
    const std::set<std::string> known = KnownJurisdictions(store);
    for (size_t i = 0; i < rp.spec.jurisdictions.size(); ++i) {
      if (!known.count(rp.spec.jurisdictions[i])) {
        errors->push_back(
            {"spec.jurisdictions[" + std::to_string(i) + "]",
             "unknown jurisdiction \"" + rp.spec.jurisdictions[i] +
                 "\" (known from Topology regions and MemberClusters: " + Join(known) + ")"});
      }
    }
    if (!errors->empty()) return;
  }
  const std::vector<api::ResidencyPolicy> before =
      DecodeAll(store, "residencypolicies", &api::DecodeResidencyPolicy);
  std::vector<api::ResidencyPolicy> after;
  for (const api::ResidencyPolicy& p : before) {
    if (p.metadata.name != attrs.name) after.push_back(p);
  }
  if (!deleting) after.push_back(rp);
  StatusOr<std::shared_ptr<const placement::World>> world = FleetWorld(store);
  if (!world.ok()) return;  // no fleet to judge against: nothing runs that could be removed
  const std::vector<api::FederatedWorkload> workloads =
      DecodeAll(store, "federatedworkloads", &api::DecodeFederatedWorkload);
  const std::vector<residency::ResidencyImpact> impacts =
      residency::ResidencyPolicyImpact(workloads, before, after, **world);
  if (impacts.empty()) return;
  auto ack = rp.metadata.annotations.find(residency::kAcknowledgeDisruptionAnnotation);
  if (ack != rp.metadata.annotations.end() && ack->second == "true") return;
  const std::string field = deleting ? "metadata.name" : "spec";
  for (const residency::ResidencyImpact& impact : impacts) {
    errors->push_back({field, residency::DescribeImpact(rp.metadata.name, impact)});
  }
  errors->push_back(
      {std::string("metadata.annotations[") + residency::kAcknowledgeDisruptionAnnotation + "]",
       "Required value: set it to \"true\" to apply this change anyway (the "
       "replicas above are removed: residency is hard)"});
}

// Everything a drill's admission reads, as stored now (objects that do not decode are taken
// as far as they do: admission judges the new drill, not the fleet).
failover::Fleet LoadFleet(Store& store) {
  failover::Fleet fleet;
  FieldErrors ignored;
  for (const json& j : ListAll(store, "memberclusters")) {
    fleet.members.push_back(api::DecodeMemberCluster(j, &ignored));
  }
  for (const json& j : ListAll(store, "topologies")) {
    fleet.topologies.push_back(api::DecodeTopology(j, &ignored));
  }
  for (const json& j : ListAll(store, "residencypolicies")) {
    fleet.policies.push_back(api::DecodeResidencyPolicy(j, &ignored));
  }
  for (const json& j : ListAll(store, "federatedworkloads")) {
    fleet.workloads.push_back(api::DecodeFederatedWorkload(j, &ignored));
  }
  for (const json& j : ListAll(store, "failoverdrills")) {
    fleet.drills.push_back(api::DecodeFailoverDrill(j, &ignored));
  }
  fleet.topology = scheduling::MergedTopology(fleet.topologies);
  return fleet;
}

// A rollout strategy's groups (at `path`) may not share a member of the federation as it is
// now (rollout::GroupOverlaps). Members that do not decode are taken as far as they do.
void CheckRolloutGroups(const api::RolloutStrategySpec& strategy, const std::string& path,
                        Store& store, FieldErrors* errors) {
  const bool grouped = std::any_of(strategy.stages.begin(), strategy.stages.end(),
                                   [](const api::RolloutStage& s) { return !s.groups.empty(); });
  if (!grouped) return;  // nothing to read the members for
  std::vector<rollout::MemberObservation> members;
  FieldErrors ignored;
  for (const json& j : ListAll(store, "memberclusters")) {
    const api::MemberCluster c = api::DecodeMemberCluster(j, &ignored);
    rollout::MemberObservation m;
    m.name = c.metadata.name;
    m.region = c.spec.region;
    m.labels = apimachinery::Labels(c.metadata.labels.begin(), c.metadata.labels.end());
    members.push_back(std::move(m));
  }
  FieldErrors found = rollout::GroupOverlaps(strategy, members, path);
  errors->insert(errors->end(), found.begin(), found.end());
}

// A member may belong to one group of a stage (rollout::GroupOverlaps). A strategy is judged
// against the fleet when it is written; a member judged against the strategies when it joins,
// is relabelled or moves region: a MemberCluster write that would put it in two groups of one
// stage of any strategy — a RolloutStrategy, or one inline on a FederatedWorkload or a
// (Cluster)PlacementPolicy (bindings carry their policy's, judged there) — is refused at
// metadata.labels (spec.region when only the region changed), naming the strategy, the stage
// and both groups. Refused rather than left to halt a rollout later: the one changing the
// member learns it at once, nothing half-done is left in a running rollout, and only they know
// which group they meant (fix the labels or the strategy, then write again).
void CheckMemberInOneGroup(const apimachinery::AdmissionAttributes& attrs, const json& object,
                           Store& store, FieldErrors* errors) {
  FieldErrors ignored;
  const api::MemberCluster changed = api::DecodeMemberCluster(object, &ignored);
  std::string field = "metadata.labels";
  if (attrs.old_object != nullptr) {
    const api::MemberCluster before = api::DecodeMemberCluster(*attrs.old_object, &ignored);
    const bool relabelled = before.metadata.labels != changed.metadata.labels;
    if (!relabelled && before.spec.region == changed.spec.region) return;
    if (!relabelled) field = "spec.region";
  }
  struct Named {
    std::string who;
    api::RolloutStrategySpec spec;
  };
  std::vector<Named> strategies;
  auto add = [&](std::string who, const api::RolloutStrategySpec& spec) {
    if (std::any_of(spec.stages.begin(), spec.stages.end(),
                    [](const api::RolloutStage& st) { return !st.groups.empty(); })) {
      strategies.push_back({std::move(who), spec});
    }
  };
  for (const json& j : ListAll(store, "rolloutstrategies")) {
    const api::RolloutStrategy s = api::DecodeRolloutStrategy(j, &ignored);
    add("RolloutStrategy " + s.metadata.name, s.spec);
  }
  for (const json& j : ListAll(store, "federatedworkloads")) {
    const api::FederatedWorkload w = api::DecodeFederatedWorkload(j, &ignored);
    if (w.metadata.labels.count(scheduling::kBindingLabel) != 0) continue;
    if (w.spec.rollout && w.spec.rollout->strategy) {
      add("FederatedWorkload " + w.metadata.ns + "/" + w.metadata.name + " (spec.rollout.strategy)",
          *w.spec.rollout->strategy);
    }
  }
  for (const json& j : ListAll(store, "placementpolicies")) {
    const api::PlacementPolicyObject p = api::DecodeNamespacedPlacementPolicy(j, &ignored);
    if (p.rollout && p.rollout->strategy) {
      add(p.Display() + " (spec.rollout.strategy)", *p.rollout->strategy);
    }
  }
  for (const json& j : ListAll(store, "clusterplacementpolicies")) {
    const api::PlacementPolicyObject p = api::DecodeClusterPlacementPolicy(j, &ignored);
    if (p.rollout && p.rollout->strategy) {
      add(p.Display() + " (spec.rollout.strategy)", *p.rollout->strategy);
    }
  }
  if (strategies.empty()) return;
  // The fleet as the write would leave it.
  std::vector<rollout::MemberObservation> members;
  for (const json& j : ListAll(store, "memberclusters")) {
    const api::MemberCluster c = api::DecodeMemberCluster(j, &ignored);
    if (c.metadata.name == changed.metadata.name) continue;
    members.push_back(
        {.name = c.metadata.name,
         .region = c.spec.region,
         .labels = apimachinery::Labels(c.metadata.labels.begin(), c.metadata.labels.end())});
  }
  members.push_back({.name = changed.metadata.name,
                     .region = changed.spec.region,
                     .labels = apimachinery::Labels(changed.metadata.labels.begin(),
                                                    changed.metadata.labels.end())});
  for (const Named& s : strategies) {
    for (const rollout::GroupOverlap& o : rollout::FindGroupOverlaps(s.spec, members)) {
      if (o.member != changed.metadata.name) continue;  // not this write's doing
      const api::RolloutStage& stage = s.spec.stages[o.stage];
      errors->push_back(
          {field, "would put member " + o.member + " in two groups of stage " + stage.name +
                      " of " + s.who + ": groups[" + std::to_string(o.first) + "] (" +
                      stage.groups[o.first].name + ") and groups[" + std::to_string(o.second) +
                      "] (" + stage.groups[o.second].name +
                      ") both take it; a member belongs to one group (change its labels or "
                      "region, or the strategy's group selectors)"});
    }
  }
}

// The template against the schema its kind has in the members (federation-apiserver/
// member_schemas.h), or the built-in one (api/template_schema.h) while no member has been
// reached. Kubernetes' validation beyond its OpenAPI (a container's image is required by the
// API server's validation, not by the schema) comes from the built-in table either way. A path
// the typed decoding already reported (spec.template.spec.replicas: must be >= 0) is not
// reported twice.
// `tmpl` (a template, at `path`) against the members' schemas, or the built-in ones.
void CheckTemplateAt(const json& tmpl, const std::string& path, const MemberSchemas* schemas,
                     FieldErrors* errors) {
  FieldErrors found;
  const MemberSchemas::Verdict verdict = schemas == nullptr
                                             ? MemberSchemas::Verdict::kNoMemberReached
                                             : schemas->ValidateTemplate(tmpl, path, &found);
  if (verdict == MemberSchemas::Verdict::kNoMemberReached) {
    api::ValidateTemplate(tmpl, path, &found);
  } else if (verdict == MemberSchemas::Verdict::kChecked) {
    FieldErrors builtin;
    api::ValidateTemplate(tmpl, path, &builtin);
    for (FieldError& e : builtin) {
      if (e.message.rfind("required", 0) == 0) found.push_back(std::move(e));
    }
  }
  for (FieldError& e : found) {
    bool seen = std::any_of(errors->begin(), errors->end(),
                            [&](const FieldError& x) { return x.path == e.path; });
    if (!seen) errors->push_back(std::move(e));
  }
}

// Whether `object` (a FederatedWorkload) places a custom object whose CRD the federation
// serves and names (api::kCustomResourceDefinitionAnnotation, set on a policy's binding): its
// kind need not be on any member yet — the propagation controller puts the CRD there first —
// and the object was judged by that CRD's schema when it was stored.
bool TemplateOfNamedDefinition(const json& object, const json& tmpl,
                               const apimachinery::ResourceRegistry& registry) {
  const json& annotations =
      object.value("metadata", json::object()).value("annotations", json::object());
  if (!annotations.is_object()) return false;
  const std::string crd = annotations.value(api::kCustomResourceDefinitionAnnotation, "");
  if (crd.empty() || !tmpl.is_object()) return false;
  const std::string api_version = tmpl.value("apiVersion", "");
  const std::string kind = tmpl.value("kind", "");
  for (const apimachinery::ResourceInfo* d : registry.Dynamic()) {
    if (d->GroupVersion() == api_version && d->kind == kind &&
        registry.DynamicOwner(d->group, d->version, d->plural) == crd) {
      return true;
    }
  }
  return false;
}

void CheckTemplate(const json& object, const MemberSchemas* schemas,
                   const apimachinery::ResourceRegistry& registry, FieldErrors* errors) {
  const json* spec = JsonDecoder::Member(object, "spec");
  const json* tmpl = spec ? JsonDecoder::Member(*spec, "template") : nullptr;
  if (tmpl == nullptr || TemplateOfNamedDefinition(object, *tmpl, registry)) return;
  CheckTemplateAt(*tmpl, "spec.template", schemas, errors);
}

}  // namespace

void InstallFederationAdmission(apimachinery::ObjectService& service, Store& store,
                                const Clock& clock, const MemberSchemas* schemas,
                                bool finalizer_at_create) {
  // A new FederatedWorkload is stored with its first revision (rollout/revisions.h) and, when
  // this process runs the propagation controller, its cleanup finalizer (as kube-apiserver's
  // PVC protection admission adds its finalizer at creation): each was one more write of every
  // new workload by a controller, and each write one more event for every controller and every
  // watcher (issue 19: 2 of the 5 writes of a new workload while syncing 1,000 of them). The
  // controllers still add either when missing (workloads stored before, a finalizer this
  // process does not add, a revision a later mutation made stale).
  service.AddMutatingAdmission([&clock, finalizer_at_create](const AdmissionAttributes& attrs,
                                                             json* object) {
    if (attrs.operation != apimachinery::Operation::kCreate ||
        attrs.resource->group != api::kGroup || attrs.resource->plural != "federatedworkloads" ||
        !attrs.subresource.empty() || !object->is_object()) {
      return Status::Ok();
    }
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(*object, &errors);
    if (!errors.empty()) return Status::Ok();  // refused by validation, which names the fields
    if (finalizer_at_create) {
      json& finalizers = (*object)["metadata"]["finalizers"];
      if (!finalizers.is_array()) finalizers = json::array();
      if (std::find(finalizers.begin(), finalizers.end(), json(sync::kCleanupFinalizer)) ==
          finalizers.end()) {
        finalizers.push_back(sync::kCleanupFinalizer);
      }
    }
    if (rollout::RecordRevision(w, clock.Now(), &w.status)) {
      json& status = (*object)["status"];
      if (!status.is_object()) status = json::object();
      status["revisions"] = api::EncodeRevisions(w.status.revisions);
    }
    return Status::Ok();
  });
  // Who changed a ResidencyPolicy, for the evidence ledger's PolicyChange entries (the audit
  // controller records them from the objects and has no request to ask).
  service.AddMutatingAdmission([](const AdmissionAttributes& attrs, json* object) {
    if (attrs.resource->group != api::kGroup || attrs.resource->plural != "residencypolicies" ||
        !attrs.subresource.empty() || !object->is_object()) {
      return Status::Ok();
    }
    json& meta = (*object)["metadata"];
    if (!meta.is_object()) return Status::Ok();  // the schema check names it
    json& annotations = meta["annotations"];
    if (attrs.user->name.empty()) {
      // Nobody authenticated: no one may claim to be someone.
      if (annotations.is_object()) annotations.erase(residency::kChangedByAnnotation);
      if (annotations.is_null() || annotations.empty()) meta.erase("annotations");
      return Status::Ok();
    }
    if (!annotations.is_object()) annotations = json::object();
    annotations[residency::kChangedByAnnotation] = attrs.user->name;
    return Status::Ok();
  });
  // Native kinds stored as templates (api/native_kinds.h): judged as a FederatedWorkload's
  // template would be, so a typo is refused at `kubectl apply`, not when a policy selects it.
  // What the server and controllers own (metadata beyond name and labels, status) is not
  // the user's template. Secrets keep the generic rules they always had.
  service.AddValidatingAdmission(
      [schemas](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (!attrs.subresource.empty() || attrs.operation == apimachinery::Operation::kDelete ||
            !object.is_object() ||
            (attrs.resource->group.empty() && attrs.resource->kind == "Secret")) {
          return Status::Ok();
        }
        if (api::FindNativeKind(attrs.resource->GroupVersion(), attrs.resource->kind) == nullptr) {
          return Status::Ok();
        }
        json tmpl = object;
        tmpl.erase("status");
        const json& meta = object.value("metadata", json::object());
        json user_meta = json::object();
        for (const char* field : {"name", "namespace", "labels", "annotations"}) {
          if (meta.is_object() && meta.contains(field)) user_meta[field] = meta[field];
        }
        tmpl["metadata"] = std::move(user_meta);
        CheckTemplateAt(tmpl, "", schemas, errors);
        api::CheckAffinityGroupLabel(meta, errors);
        return Status::Ok();
      });
  service.AddValidatingAdmission(
      [&service, &store, &clock, schemas](const AdmissionAttributes& attrs, const json& object,
                                          FieldErrors* errors) {
        if (attrs.resource->group != api::kGroup) return Status::Ok();
        if (attrs.resource->plural == "residencypolicies" && attrs.subresource.empty()) {
          // Deletes too: the same check judges every change of the policy set.
          if (attrs.operation != apimachinery::Operation::kDelete) {
            const api::ResourceDescriptor* d = api::FindResource(attrs.resource->plural);
            if (d != nullptr && d->validate != nullptr) {
              FieldErrors schema = d->validate(object);
              errors->insert(errors->end(), schema.begin(), schema.end());
              if (!schema.empty()) return Status::Ok();
            }
          }
          CheckResidencyPolicy(attrs, object, store, errors);
          return Status::Ok();
        }
        if (attrs.resource->plural == "residencyevidences" &&
            attrs.operation != apimachinery::Operation::kCreate) {
          // The ledger is append-only (residency/ledger_writer.h): only its head moves, and
          // compaction deletes entries a checkpoint seals (residency/ledger_checkpoint.h).
          const bool head = attrs.name == api::kEvidenceHeadName;
          if (!head && attrs.operation == apimachinery::Operation::kDelete) {
            CheckEvidenceCompaction(attrs.name, store, errors);
            return Status::Ok();
          }
          if (!head || attrs.operation == apimachinery::Operation::kDelete) {
            errors->push_back({"metadata.name", "residency evidence is append-only: " +
                                                    std::string(head ? "its head" : "an entry") +
                                                    " cannot be " +
                                                    (head ? "deleted" : "changed or deleted")});
            return Status::Ok();
          }
        }
        if (attrs.operation == apimachinery::Operation::kDelete) return Status::Ok();
        const api::ResourceDescriptor* d = api::FindResource(attrs.resource->plural);
        if (d == nullptr || d->validate == nullptr) return Status::Ok();
        FieldErrors schema = d->validate(object);
        errors->insert(errors->end(), schema.begin(), schema.end());
        // Reference and guardrail checks apply to what users write, not to status updates
        // (a controller must always be able to report, even after a region was renamed).
        // They run on the best-effort decoding even when the schema has problems, so the user
        // sees every problem in one answer.
        if (attrs.subresource == "status") return Status::Ok();
        if (d->kind == "FailoverDrill") {
          // At create only: a running drill's spec is not judged again (its target may have
          // failed for real meanwhile, which is what it rehearses).
          if (attrs.operation != apimachinery::Operation::kCreate || !errors->empty()) {
            return Status::Ok();
          }
          FieldErrors ignored;
          api::FailoverDrill drill = api::DecodeFailoverDrill(object, &ignored);
          FieldErrors found = failover::AdmitDrill(drill, LoadFleet(store), clock.Now());
          errors->insert(errors->end(), found.begin(), found.end());
          return Status::Ok();
        }
        if (d->kind == "RolloutStrategy") {
          FieldErrors ignored;
          CheckRolloutGroups(api::DecodeRolloutStrategy(object, &ignored).spec, "spec", store,
                             errors);
          return Status::Ok();
        }
        if (d->kind == "MemberCluster") {
          CheckMemberInOneGroup(attrs, object, store, errors);
          return Status::Ok();
        }
        if (d->kind == "PlacementPolicy" || d->kind == "ClusterPlacementPolicy") {
          // Its rollout block is each placed object's: the same look at the fleet.
          FieldErrors ignored;
          api::PlacementPolicyObject p =
              d->kind == "PlacementPolicy" ? api::DecodeNamespacedPlacementPolicy(object, &ignored)
                                           : api::DecodeClusterPlacementPolicy(object, &ignored);
          if (p.rollout && p.rollout->strategy) {
            CheckRolloutGroups(*p.rollout->strategy, "spec.rollout.strategy", store, errors);
          }
          return Status::Ok();
        }
        if (d->kind != "FederatedWorkload") return Status::Ok();
        FieldErrors ignored;
        api::FederatedWorkload w = api::DecodeFederatedWorkload(object, &ignored);
        if (w.spec.rollout && w.spec.rollout->strategy) {
          CheckRolloutGroups(*w.spec.rollout->strategy, "spec.rollout.strategy", store, errors);
        }
        CheckTemplate(object, schemas, service.registry(), errors);
        api::CheckAffinityGroupLabel(object.value("metadata", json::object()), errors);
        CheckReferences(w, store, errors);
        CheckResidencyGuardrails(w, store, errors);
        return Status::Ok();
      });
}

}  // namespace meridian::apiserver
