// Affinity groups: workloads that must share member clusters (an app and its cache, a
// service and the job that feeds it) are placed and failed over as one unit. Pure, like the
// engine it drives: values in, values out.
//
// Which workloads form a group is the caller's business (scheduling/affinity_groups.h reads
// the label federation.meridian.io/affinity-group within a namespace). A group is placed so:
//   1. Eligible: the clusters every member's own filters allow (clusterSelector, residency
//      with its ResidencyPolicies, latency) — the intersection. An EU-resident member keeps
//      the whole group in the EU. When the intersection is empty the group conflicts:
//      nothing of it is placed (never a silent split) and conflict() says what each member
//      allows.
//   2. The leader — the member with the most replicas to divide (the application the others
//      serve: a web tier over its cache), ties broken by the caller's priority order (oldest
//      first) — is placed on the eligible clusters like any workload. Not the oldest alone:
//      members applied together are "created" in the same second and would be ordered by
//      name. Scaling a follower past its leader hands the lead over (the group then goes
//      where the new leader's policy puts it).
//   3. Every other member follows: placed with the same filter, and holding replicas only
//      where the leader holds some now (elsewhere its share overflows as from a failed
//      cluster, by its own failover.overflow, among the leader's clusters). So no member
//      runs where the leader does not, and when a failure moves the leader the followers
//      go to the same clusters in the same pass.
// A member with fewer replicas than the leader has clusters can only be on some of them; a
// copied member (nothing to divide: a Service, a ConfigMap) is on each of them. A group
// without a divided member has no leader: each member is copied to every eligible cluster,
// the same set for all.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "placement/engine.h"

namespace meridian::placement {

// One member as the plan sees it.
struct GroupMember {
  const Workload* workload = nullptr;  // its engine input (affinity unset); must outlive Make
  bool divided = false;                // replicas to divide (false: copied to each cluster)
};

// The plan of one group for one pass over a World. Copyable value.
class AffinityGroupPlan {
 public:
  // `members` in the caller's priority order (oldest first). Computes the eligible
  // intersection with `engine` (its World) and picks the leader (the most replicas to divide,
  // then the first).
  static AffinityGroupPlan Make(Engine& engine, std::string group,
                                std::span<const GroupMember> members);

  const std::string& group() const { return group_; }
  // The leader's position in `members`; none when no member divides replicas.
  std::optional<size_t> leader() const { return leader_; }
  // The order to place the members in: the leader first, then the others as given.
  std::vector<size_t> PlacementOrder() const;
  // Cluster names every member allows, in World order.
  const std::vector<std::string>& eligible() const { return eligible_; }
  // Why the members cannot share a cluster ("affinity group shop: no member cluster is
  // allowed by every member: shop/web allows eu-west-1, eu-central-1; shop/cache allows
  // us-east-1"); "" when they can.
  const std::string& conflict() const { return conflict_; }
  // Where the leader holds replicas, once LeaderPlaced was called.
  const std::optional<std::vector<std::string>>& runs_on() const { return runs_on_; }

  // The restriction to place member `i` with. For a follower, call after LeaderPlaced.
  AffinityRestriction RestrictionFor(size_t i) const;
  // Records the leader's answer (ClustersHolding of its Result, or of what it runs).
  void LeaderPlaced(std::vector<std::string> clusters);

 private:
  std::string group_;
  std::vector<std::string> keys_;  // members' workload keys
  std::optional<size_t> leader_;
  std::vector<std::string> eligible_;
  std::string conflict_;
  std::optional<std::vector<std::string>> runs_on_;
};

// The clusters holding replicas in `r`, by name, sorted.
std::vector<std::string> ClustersHolding(const World& world, const Result& r);

}  // namespace meridian::placement
