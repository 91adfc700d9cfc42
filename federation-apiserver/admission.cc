#include "federation-apiserver/admission.h"

#include <algorithm>
#include <set>

#include "api/codec.h"
#include "api/resources.h"
#include "api/template_schema.h"
#include "common/json_decoder.h"

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

void CheckResidencyGuardrails(const api::FederatedWorkload& w, Store& store, FieldErrors* errors) {
  if (!w.spec.placement.residency) return;
  for (const json& raw : ListAll(store, "residencypolicies")) {
    FieldErrors ignored;
    api::ResidencyPolicy rp = api::DecodeResidencyPolicy(raw, &ignored);
    const auto& ns = rp.spec.namespaces;
    if (!ns.empty() && std::find(ns.begin(), ns.end(), w.metadata.ns) == ns.end()) continue;
    if (!rp.spec.workload_selector.Matches(w.metadata.labels)) continue;
    std::set<std::string> allowed(rp.spec.jurisdictions.begin(), rp.spec.jurisdictions.end());
    const auto& asked = w.spec.placement.residency->jurisdictions;
    for (size_t i = 0; i < asked.size(); ++i) {
      if (!allowed.count(asked[i])) {
        errors->push_back({"spec.placement.residency.jurisdictions[" + std::to_string(i) + "]",
                           "\"" + asked[i] + "\" is not allowed by ResidencyPolicy " +
                               rp.metadata.name + " (allowed: " + Join(allowed) + ")"});
      }
    }
  }
}

// The template against its kind's built-in schema (api/template_schema.h). A path the typed
// decoding already reported (spec.template.spec.replicas: must be >= 0) is not reported twice.
void CheckTemplate(const json& object, FieldErrors* errors) {
  const json* spec = JsonDecoder::Member(object, "spec");
  const json* tmpl = spec ? JsonDecoder::Member(*spec, "template") : nullptr;
  if (tmpl == nullptr) return;
  FieldErrors found;
  api::ValidateTemplate(*tmpl, "spec.template", &found);
  for (FieldError& e : found) {
    bool seen = std::any_of(errors->begin(), errors->end(),
                            [&](const FieldError& x) { return x.path == e.path; });
    if (!seen) errors->push_back(std::move(e));
  }
}

}  // namespace

void InstallFederationAdmission(apimachinery::ObjectService& service, Store& store) {
  service.AddValidatingAdmission(
      [&store](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (attrs.operation == apimachinery::Operation::kDelete) return Status::Ok();
        if (attrs.resource->group != api::kGroup) return Status::Ok();
        const api::ResourceDescriptor* d = api::FindResource(attrs.resource->plural);
        if (d == nullptr || d->validate == nullptr) return Status::Ok();
        FieldErrors schema = d->validate(object);
        errors->insert(errors->end(), schema.begin(), schema.end());
        // Reference and guardrail checks apply to what users write, not to status updates
        // (a controller must always be able to report, even after a region was renamed).
        // They run on the best-effort decoding even when the schema has problems, so the user
        // sees every problem in one answer.
        if (attrs.subresource == "status" || d->kind != "FederatedWorkload") {
          return Status::Ok();
        }
        FieldErrors ignored;
        api::FederatedWorkload w = api::DecodeFederatedWorkload(object, &ignored);
        CheckTemplate(object, errors);
        CheckReferences(w, store, errors);
        CheckResidencyGuardrails(w, store, errors);
        return Status::Ok();
      });
}

}  // namespace meridian::apiserver
