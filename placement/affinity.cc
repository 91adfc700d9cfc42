#include "placement/affinity.h"

#include <algorithm>

namespace meridian::placement {
namespace {

// "eu-west-1, eu-central-1", at most five named.
std::string Names(const World& world, const std::vector<uint32_t>& clusters) {
  if (clusters.empty()) return "no cluster";
  std::string out;
  const size_t shown = std::min<size_t>(clusters.size(), 5);
  for (size_t j = 0; j < shown; ++j) {
    if (j) out += ", ";
    out += world.cluster(clusters[j]).name;
  }
  if (clusters.size() > shown) out += " and " + std::to_string(clusters.size() - shown) + " more";
  return out;
}

}  // namespace

AffinityGroupPlan AffinityGroupPlan::Make(Engine& engine, std::string group,
                                          std::span<const GroupMember> members) {
  AffinityGroupPlan plan;
  plan.group_ = std::move(group);
  const World& world = engine.world();
  std::vector<std::vector<uint32_t>> own;
  own.reserve(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    plan.keys_.push_back(members[i].workload->key);
    own.push_back(engine.OwnEligible(*members[i].workload));
    // The most replicas leads (the application its helpers serve); ties: the first given.
    if (members[i].divided && (!plan.leader_ || members[i].workload->replicas >
                                                    members[*plan.leader_].workload->replicas)) {
      plan.leader_ = i;
    }
  }
  std::vector<uint32_t> common = own.empty() ? std::vector<uint32_t>{} : own[0];
  for (size_t i = 1; i < own.size(); ++i) {
    std::vector<uint32_t> next;
    std::set_intersection(common.begin(), common.end(), own[i].begin(), own[i].end(),
                          std::back_inserter(next));
    common = std::move(next);
  }
  for (uint32_t c : common) plan.eligible_.push_back(world.cluster(c).name);
  std::sort(plan.eligible_.begin(), plan.eligible_.end());
  if (common.empty() && members.size() > 1) {
    plan.conflict_ = "affinity group " + plan.group_ +
                     ": no member cluster is allowed by every member (so none of them is "
                     "placed):";
    for (size_t i = 0; i < members.size(); ++i) {
      plan.conflict_ += (i ? "; " : " ") + plan.keys_[i] + " allows " + Names(world, own[i]);
    }
  }
  return plan;
}

std::vector<size_t> AffinityGroupPlan::PlacementOrder() const {
  std::vector<size_t> order;
  if (leader_) order.push_back(*leader_);
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (!leader_ || i != *leader_) order.push_back(i);
  }
  return order;
}

AffinityRestriction AffinityGroupPlan::RestrictionFor(size_t i) const {
  AffinityRestriction r;
  r.group = group_;
  if (leader_) r.leader = keys_[*leader_];
  r.eligible = eligible_;
  // A follower placed before its leader (a caller's mistake) follows nothing: it is placed
  // nowhere rather than where the group may not run.
  if (leader_ && i != *leader_) r.runs_on = runs_on_.value_or(std::vector<std::string>{});
  return r;
}

void AffinityGroupPlan::LeaderPlaced(std::vector<std::string> clusters) {
  std::sort(clusters.begin(), clusters.end());
  runs_on_ = std::move(clusters);
}

std::vector<std::string> ClustersHolding(const World& world, const Result& r) {
  std::vector<std::string> out;
  for (const ClusterPlacement& p : r.clusters) {
    if (p.replicas > 0) out.push_back(world.cluster(p.cluster).name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace meridian::placement
