// Affinity groups of the fleet's workloads (placement/affinity.h does the placing): which
// FederatedWorkloads form a group, the order to place them in, and the condition that tells
// each member how its group was placed. Pure: no I/O, no clock reads.
//
// A workload joins a group with the label federation.meridian.io/affinity-group: <name> —
// on a FederatedWorkload, or on a native object (a Deployment, a Service, ...), whose binding
// carries its labels. A group is the workloads of one namespace with the same name. Not in
// any group: a dependency's binding (it follows the workloads that need it already) and a
// workload being deleted. A group name must be a valid label value and not empty
// (FederatedWorkload admission refuses "" with the field named; a native object's binding
// then reads NOT PLACED with that message).
//
// Order: workloads are placed oldest first (PriorityOrder: capacity is shared first come,
// first served); a group is placed at the turn of its first member in that order, all its
// members one after another, the leader first (so the followers can follow it; the leader is
// the member with the most replicas, placement/affinity.h).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/placement_policy.h"
#include "api/types.h"
#include "common/clock.h"
#include "placement/affinity.h"
#include "placement/engine.h"

namespace meridian::scheduling {

using api::kAffinityGroupLabel;  // api/placement_policy.h
// The condition on every member's status: how its group was placed, or why it could not be.
inline constexpr char kAffinityGroupCondition[] = "AffinityGroup";

// The group `workload` belongs to ("" for none; see the file comment).
std::string AffinityGroupOf(const api::FederatedWorkload& workload);

// The groups of one pass.
class FleetAffinityGroups {
 public:
  // `order`: PriorityOrder(workloads). What each member allows comes from its policy and
  // the ResidencyPolicies that match it (`policies`), over `engine`'s World. Keeps no
  // reference to its arguments.
  FleetAffinityGroups(const std::vector<const api::FederatedWorkload*>& workloads,
                      std::span<const size_t> order,
                      const std::vector<api::ResidencyPolicy>& policies, placement::Engine& engine);
  // The same over values (fedctl what-if's and drills' inputs).
  FleetAffinityGroups(const std::vector<api::FederatedWorkload>& workloads,
                      std::span<const size_t> order,
                      const std::vector<api::ResidencyPolicy>& policies, placement::Engine& engine);

  // `order` with each group's members moved to its first member's turn, the leader first.
  const std::vector<size_t>& PlacementOrder() const { return order_; }
  // The restriction to place workload `i` with (none outside a group). Call in
  // PlacementOrder, after Placed() for the group's leader.
  std::optional<placement::AffinityRestriction> RestrictionFor(size_t i) const;
  // Workload `i` was placed on `clusters` (the engine's answer: where it holds replicas).
  // When it leads its group, the rest of the group follows it there.
  void Placed(size_t i, std::vector<std::string> clusters);
  // Sets (or, outside a group, removes) condition AffinityGroup on `status`, the status just
  // computed for workload `i` placed on `clusters`.
  void SetCondition(size_t i, const std::vector<std::string>& clusters,
                    api::FederatedWorkloadStatus* status, int64_t generation, Timestamp now) const;

 private:
  struct Group {
    placement::AffinityGroupPlan plan;
    std::vector<size_t> members;  // workload indexes, in priority order (plan's positions)
  };
  std::vector<Group> groups_;
  std::map<size_t, std::pair<size_t, size_t>> where_;  // workload -> (group, position)
  std::vector<std::string> keys_;                      // per workload, "ns/name"
  std::vector<size_t> order_;
};

}  // namespace meridian::scheduling
