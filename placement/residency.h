// Residency: the one answer to "which jurisdictions may this workload run in?".
//
// A workload is residency-bound when it sets spec.placement.residency or any ResidencyPolicy
// matches it (residency/policy.h ResidencyRulesFor does the matching). Its allowed
// jurisdictions are the intersection of all of them. Every user of residency calls
// AllowedJurisdictionsFor — the engine's residency filter (placement/engine.cc), the
// ResidencyPolicy admission check (federation-apiserver/admission.cc) and the conflict
// check of a workload's own placement (residency/policy.h) — so they can never disagree.
// Pure values; thread-compatible.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "placement/policy.h"
#include "placement/world.h"

namespace meridian::placement {

// The jurisdictions a workload may run in.
struct AllowedJurisdictions {
  bool bound = false;             // false: residency does not apply, every cluster is allowed
  std::set<std::string> allowed;  // when bound: the intersection (may be empty: nowhere)

  // Whether a cluster of `jurisdiction` may hold the workload. A bound workload never runs
  // on a cluster without a jurisdiction ("").
  bool Allows(std::string_view jurisdiction) const {
    return !bound || (!jurisdiction.empty() && allowed.count(std::string(jurisdiction)) > 0);
  }
  friend bool operator==(const AllowedJurisdictions&, const AllowedJurisdictions&) = default;
};

// The workload's own `residency` (when set) ∩ every rule in `rules` (the ResidencyPolicies
// that match it).
AllowedJurisdictions AllowedJurisdictionsFor(const PlacementPolicy& policy,
                                             const std::vector<ResidencyRule>& rules);

// Whether cluster `i` of `world` may hold the workload (its own jurisdiction, else its
// region's from the Topology, as the World resolves it).
inline bool ClusterAllowed(const World& world, uint32_t i, const AllowedJurisdictions& a) {
  return a.Allows(world.jurisdiction_of(i));
}

// Who allows what, for messages: "allowed by payments-eu-only: eu; by payments-us-only: us;
// intersection: none" (the workload's own residency reads "by the workload: eu").
std::string DescribeAllowed(const PlacementPolicy& policy, const std::vector<ResidencyRule>& rules);

}  // namespace meridian::placement
