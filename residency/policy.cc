#include "residency/policy.h"

#include <algorithm>
#include <map>
#include <set>

#include "api/codec.h"
#include "apimachinery/labels.h"

namespace meridian::residency {

std::vector<placement::ResidencyRule> ResidencyRulesForObject(
    const std::string& ns, const std::map<std::string, std::string>& labels,
    const std::vector<api::ResidencyPolicy>& policies) {
  // (Called for every workload on each refresh of the audit's view: no copy of the labels.)
  std::vector<placement::ResidencyRule> rules;
  for (const api::ResidencyPolicy& p : policies) {
    const auto& names = p.spec.namespaces;
    if (!names.empty() && std::find(names.begin(), names.end(), ns) == names.end()) continue;
    if (!p.spec.workload_selector.Matches(labels)) continue;
    rules.push_back({p.metadata.name, p.spec.jurisdictions});
  }
  return rules;
}

std::vector<placement::ResidencyRule> ResidencyRulesFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies) {
  return ResidencyRulesForObject(workload.metadata.ns, workload.metadata.labels, policies);
}

namespace {

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

bool SelectorAdmits(const placement::PlacementPolicy& p, const placement::World& world,
                    uint32_t i) {
  return !p.cluster_selector || p.cluster_selector->Matches(world.cluster(i).labels);
}

// Desired replicas, or the copies the workload runs now when it is copied (no spec.replicas).
int64_t DesiredReplicas(const api::FederatedWorkload& w) {
  if (std::optional<int64_t> r = api::TemplateReplicas(w.spec)) return *r;
  int64_t copies = 0;
  for (const api::ClusterPlacement& p : w.status.placement) copies += p.replicas;
  return copies;
}

// The jurisdictions of the clusters a region or cluster name stands for (a cluster name wins,
// as in distribution.weights); empty when the name is unknown.
std::set<std::string> JurisdictionsNamed(const placement::World& world, const std::string& name,
                                         std::vector<uint32_t>* clusters) {
  std::set<std::string> out;
  if (std::optional<uint32_t> i = world.FindCluster(name)) {
    clusters->push_back(*i);
    out.insert(world.jurisdiction_of(*i));
    return out;
  }
  if (std::optional<uint32_t> r = world.FindRegion(name)) {
    for (uint32_t i = world.region_begin(*r); i < world.region_end(*r); ++i) {
      clusters->push_back(i);
      out.insert(world.jurisdiction_of(i));
    }
    if (!clusters->empty()) return out;
  }
  for (const placement::RegionSpec& region : world.topology().regions) {
    if (region.name == name) out.insert(region.jurisdiction);
  }
  return out;
}

}  // namespace

placement::AllowedJurisdictions AllowedJurisdictionsFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies) {
  return placement::AllowedJurisdictionsFor(workload.spec.placement,
                                            ResidencyRulesFor(workload, policies));
}

std::vector<ResidencyImpact> ResidencyPolicyImpact(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::ResidencyPolicy>& before, const std::vector<api::ResidencyPolicy>& after,
    const placement::World& world) {
  std::vector<ResidencyImpact> out;
  for (const api::FederatedWorkload& w : workloads) {
    if (!w.metadata.deletion_timestamp.empty()) continue;
    const std::vector<placement::ResidencyRule> rules_after = ResidencyRulesFor(w, after);
    const placement::AllowedJurisdictions was = AllowedJurisdictionsFor(w, before);
    const placement::AllowedJurisdictions will =
        placement::AllowedJurisdictionsFor(w.spec.placement, rules_after);
    if (was == will || !will.bound) continue;  // loosening never removes anything
    ResidencyImpact impact;
    impact.ns = w.metadata.ns;
    impact.name = w.metadata.name;
    impact.replicas = DesiredReplicas(w);
    bool any_before = false, any_after = false;
    for (uint32_t i = 0; i < world.size(); ++i) {
      if (!SelectorAdmits(w.spec.placement, world, i)) continue;
      any_before = any_before || placement::ClusterAllowed(world, i, was);
      any_after = any_after || placement::ClusterAllowed(world, i, will);
    }
    impact.no_allowed_cluster = any_before && !any_after && impact.replicas > 0;
    for (const api::ClusterPlacement& p : w.status.placement) {
      std::optional<uint32_t> i = world.FindCluster(p.cluster);
      if (!i || p.replicas <= 0) continue;
      if (placement::ClusterAllowed(world, *i, was) &&
          !placement::ClusterAllowed(world, *i, will)) {
        impact.replicas_removed += p.replicas;
        const std::string& j = world.jurisdiction_of(*i);
        impact.clusters_losing.push_back(p.cluster + " (" + (j.empty() ? "no jurisdiction" : j) +
                                         ")");
      }
    }
    if (!impact.no_allowed_cluster && impact.replicas_removed == 0) continue;
    impact.allowed_after = placement::DescribeAllowed(w.spec.placement, rules_after);
    out.push_back(std::move(impact));
  }
  return out;
}

std::string DescribeImpact(const std::string& policy_name, const ResidencyImpact& impact) {
  const std::string who = "ResidencyPolicy \"" + policy_name + "\" would ";
  const std::string workload = impact.ns + "/" + impact.name;
  if (impact.no_allowed_cluster) {
    return who + "leave " + std::to_string(impact.replicas) + " replicas of " + workload +
           " with no allowed cluster (" + impact.allowed_after + ")";
  }
  std::string clusters;
  for (const std::string& c : impact.clusters_losing)
    clusters += (clusters.empty() ? "" : ", ") + c;
  return who + "remove " + std::to_string(impact.replicas_removed) + " running replicas of " +
         workload + " from " + clusters + " (" + impact.allowed_after + ")";
}

std::vector<ResidencyConflict> PlacementResidencyConflicts(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies,
    const placement::World& world) {
  std::vector<ResidencyConflict> out;
  const placement::PlacementPolicy& p = workload.spec.placement;
  const std::vector<placement::ResidencyRule> rules = ResidencyRulesFor(workload, policies);
  const placement::AllowedJurisdictions allowed = placement::AllowedJurisdictionsFor(p, rules);
  if (!allowed.bound) return out;
  const std::string why =
      "outside the allowed jurisdictions (" + placement::DescribeAllowed(p, rules) + ")";
  // A name is outside when it stands for clusters of which none is allowed.
  auto check = [&](const std::string& field, const std::string& name) {
    std::vector<uint32_t> clusters;
    std::set<std::string> jurisdictions = JurisdictionsNamed(world, name, &clusters);
    if (jurisdictions.empty()) return;  // unknown: the reference check reports it
    for (const std::string& j : jurisdictions) {
      if (allowed.Allows(j)) return;
    }
    const char* what = world.FindCluster(name) ? "cluster " : "region ";
    out.push_back({field, what + name + " (" + Join(jurisdictions) + ") is " + why});
  };
  for (const auto& [name, weight] : p.distribution.weights) {
    if (weight > 0) check("spec.placement.distribution.weights." + name, name);
  }
  for (const auto& [name, bounds] : p.distribution.clusters) {
    if (bounds.min.value_or(0) > 0 || bounds.max.value_or(0) > 0) {
      check("spec.placement.distribution.clusters." + name, name);
    }
  }
  for (size_t i = 0; i < p.failover.order.size(); ++i) {
    check("spec.placement.failover.order[" + std::to_string(i) + "]", p.failover.order[i]);
  }
  for (size_t o = 0; o < workload.spec.overrides.size(); ++o) {
    const apimachinery::LabelSelector& sel = workload.spec.overrides[o].cluster_selector;
    std::set<std::string> selected, jurisdictions;
    bool any_allowed = false;
    for (uint32_t i = 0; i < world.size(); ++i) {
      if (!sel.Matches(world.cluster(i).labels)) continue;
      selected.insert(world.cluster(i).name);
      jurisdictions.insert(world.jurisdiction_of(i));
      any_allowed = any_allowed || placement::ClusterAllowed(world, i, allowed);
    }
    if (selected.empty() || any_allowed) continue;
    out.push_back(
        {"spec.overrides[" + std::to_string(o) + "].clusterSelector",
         "selects only clusters " + Join(selected) + " (" + Join(jurisdictions) + "), " + why});
  }
  return out;
}

}  // namespace meridian::residency
