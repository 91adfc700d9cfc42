// Residency of FederatedWorkloads against the fleet: which ResidencyPolicies govern a workload,
// what a ResidencyPolicy change would do to the workloads that run now, and which parts of a
// workload's own placement name places residency forbids. Pure: values in, values out.
//
// Every answer comes from placement::AllowedJurisdictionsFor (placement/residency.h), the
// function the engine's residency filter uses, and from the World's jurisdiction of each
// cluster (its own, else its region's), so admission and placement can never disagree.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "api/types.h"
#include "placement/residency.h"
#include "placement/world.h"

namespace meridian::residency {

// The annotation that lets a ResidencyPolicy change through although it removes running
// replicas or leaves a workload with no allowed cluster (residency is hard: they go).
inline constexpr char kAcknowledgeDisruptionAnnotation[] =
    "federation.meridian.io/acknowledge-disruption";

// The ResidencyPolicies that govern an object of namespace `ns` with `labels`: the policy lists
// the namespace (or none) and its workloadSelector matches the labels. The one matching rule
// for FederatedWorkloads (placement, admission) and for objects found in members (the audit).
std::vector<placement::ResidencyRule> ResidencyRulesForObject(
    const std::string& ns, const std::map<std::string, std::string>& labels,
    const std::vector<api::ResidencyPolicy>& policies);
// ResidencyRulesForObject for the workload's namespace and labels.
std::vector<placement::ResidencyRule> ResidencyRulesFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies);

// The jurisdictions `workload` may run in under `policies` and its own spec.placement.residency.
placement::AllowedJurisdictions AllowedJurisdictionsFor(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies);

// Set by the federation-apiserver's admission on every ResidencyPolicy create and update to
// the requesting user (when authenticated), so the evidence ledger can say who changed it.
inline constexpr char kChangedByAnnotation[] = "federation.meridian.io/changed-by";

// What a change of the ResidencyPolicy set does to one workload.
struct ResidencyImpact {
  std::string ns, name;
  int64_t replicas = 0;  // the workload's desired replicas (or the copies it runs, when copied)
  // No cluster of the fleet is allowed any more (while one was before).
  bool no_allowed_cluster = false;
  // Running replicas (status.placement) on clusters allowed before and not after.
  int64_t replicas_removed = 0;
  std::vector<std::string> clusters_losing;  // "us-east-1 (us)", in status order
  std::string allowed_after;                 // placement::DescribeAllowed under the new set
  friend bool operator==(const ResidencyImpact&, const ResidencyImpact&) = default;
};

// The workloads that replacing `before` by `after` (the whole ResidencyPolicy set, as it is and
// as it would be) would leave with no allowed cluster, or whose running replicas it would
// force off their clusters, judged on `world` (the fleet as placement sees it). A workload
// that already had the problem before the change is not reported (the change did not cause it).
std::vector<ResidencyImpact> ResidencyPolicyImpact(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::ResidencyPolicy>& before, const std::vector<api::ResidencyPolicy>& after,
    const placement::World& world);

// "ResidencyPolicy \"payments-us-only\" would leave 12 replicas of payments/ledger with no
// allowed cluster (allowed by payments-eu-only: eu; by payments-us-only: us; intersection: none)"
std::string DescribeImpact(const std::string& policy_name, const ResidencyImpact& impact);

// A part of a workload's own placement that names a place residency forbids.
struct ResidencyConflict {
  std::string field;    // "spec.placement.distribution.weights.us-east"
  std::string message;  // "region us-east (us) is outside the allowed jurisdictions (...)"
  friend bool operator==(const ResidencyConflict&, const ResidencyConflict&) = default;
};

// The parts of `workload`'s placement that ask for clusters outside its allowed jurisdictions:
// a positive weight on a region or cluster, a per-cluster bound with min or max above 0, an
// entry of failover.order, an override whose clusterSelector selects only such clusters. A
// region is outside when none of its clusters (or, with none in the fleet, its Topology
// jurisdiction) is allowed. Names `world` does not know are left to the reference check.
// Empty when the workload is not residency-bound.
std::vector<ResidencyConflict> PlacementResidencyConflicts(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies,
    const placement::World& world);

}  // namespace meridian::residency
