#include "scheduling/affinity_groups.h"

#include <algorithm>

#include "api/codec.h"
#include "api/conditions.h"
#include "scheduling/placement_inputs.h"
#include "scheduling/policy_binding.h"

namespace meridian::scheduling {
namespace {

// "a, b, c", at most five named.
std::string List(const std::vector<std::string>& names) {
  if (names.empty()) return "no cluster";
  std::string out;
  const size_t shown = std::min<size_t>(names.size(), 5);
  for (size_t j = 0; j < shown; ++j) out += (j ? ", " : "") + names[j];
  if (names.size() > shown) out += " and " + std::to_string(names.size() - shown) + " more";
  return out;
}

}  // namespace

std::string AffinityGroupOf(const api::FederatedWorkload& workload) {
  const auto& labels = workload.metadata.labels;
  auto group = labels.find(kAffinityGroupLabel);
  if (group == labels.end() || group->second.empty()) return "";
  auto binding = labels.find(kBindingLabel);
  if (binding != labels.end() && binding->second == "dependency") return "";
  if (!workload.metadata.deletion_timestamp.empty()) return "";
  return group->second;
}

namespace {

std::vector<const api::FederatedWorkload*> Pointers(
    const std::vector<api::FederatedWorkload>& workloads) {
  std::vector<const api::FederatedWorkload*> out;
  out.reserve(workloads.size());
  for (const api::FederatedWorkload& w : workloads) out.push_back(&w);
  return out;
}

}  // namespace

FleetAffinityGroups::FleetAffinityGroups(const std::vector<api::FederatedWorkload>& workloads,
                                         std::span<const size_t> order,
                                         const std::vector<api::ResidencyPolicy>& policies,
                                         placement::Engine& engine)
    : FleetAffinityGroups(Pointers(workloads), order, policies, engine) {}

FleetAffinityGroups::FleetAffinityGroups(const std::vector<const api::FederatedWorkload*>& workloads,
                                         std::span<const size_t> order,
                                         const std::vector<api::ResidencyPolicy>& policies,
                                         placement::Engine& engine) {
  keys_.reserve(workloads.size());
  for (const api::FederatedWorkload* w : workloads) {
    keys_.push_back(w->metadata.ns + "/" + w->metadata.name);
  }
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_group;  // (ns, name)
  std::vector<std::pair<std::string, std::string>> first_seen;
  for (size_t i : order) {
    std::string name = AffinityGroupOf(*workloads[i]);
    if (name.empty()) continue;
    auto key = std::make_pair(workloads[i]->metadata.ns, std::move(name));
    auto& members = by_group[key];
    if (members.empty()) first_seen.push_back(key);
    members.push_back(i);
  }
  std::map<size_t, size_t> group_at;  // first member's workload index -> group
  for (const auto& key : first_seen) {
    const std::vector<size_t>& members = by_group[key];
    std::vector<placement::Workload> inputs;
    inputs.reserve(members.size());
    for (size_t i : members)
      inputs.push_back(EngineWorkload(*workloads[i], policies, engine.world()));
    std::vector<placement::GroupMember> in;
    for (size_t pos = 0; pos < members.size(); ++pos) {
      in.push_back({&inputs[pos], api::TemplateReplicas(workloads[members[pos]]->spec).has_value()});
    }
    const size_t g = groups_.size();
    groups_.push_back({placement::AffinityGroupPlan::Make(engine, key.second, in), members});
    for (size_t pos = 0; pos < members.size(); ++pos) where_[members[pos]] = {g, pos};
    group_at[members.front()] = g;
  }
  for (size_t i : order) {
    auto w = where_.find(i);
    if (w == where_.end()) {
      order_.push_back(i);
      continue;
    }
    auto g = group_at.find(i);
    if (g == group_at.end()) continue;  // placed at its group's first member's turn
    const Group& group = groups_[g->second];
    for (size_t pos : group.plan.PlacementOrder()) order_.push_back(group.members[pos]);
  }
}

std::optional<placement::AffinityRestriction> FleetAffinityGroups::RestrictionFor(size_t i) const {
  auto w = where_.find(i);
  if (w == where_.end()) return std::nullopt;
  return groups_[w->second.first].plan.RestrictionFor(w->second.second);
}

void FleetAffinityGroups::Placed(size_t i, std::vector<std::string> clusters) {
  auto w = where_.find(i);
  if (w == where_.end()) return;
  Group& group = groups_[w->second.first];
  if (group.plan.leader() == w->second.second) group.plan.LeaderPlaced(std::move(clusters));
}

void FleetAffinityGroups::SetCondition(size_t i, const std::vector<std::string>& clusters,
                                       api::FederatedWorkloadStatus* status, int64_t generation,
                                       Timestamp now) const {
  auto w = where_.find(i);
  if (w == where_.end()) {
    std::erase_if(status->conditions,
                  [](const api::Condition& c) { return c.type == kAffinityGroupCondition; });
    return;
  }
  const Group& group = groups_[w->second.first];
  const placement::AffinityGroupPlan& plan = group.plan;
  const size_t pos = w->second.second;
  std::vector<std::string> names;
  for (size_t m : group.members) names.push_back(keys_[m]);
  const std::string members = std::to_string(names.size()) +
                              (names.size() == 1 ? " workload: " : " workloads: ") + List(names);
  api::Condition c{kAffinityGroupCondition, "True", "", "", "", generation};
  const std::string name = "affinity group " + plan.group();
  if (!plan.conflict().empty()) {
    c.status = "False";
    c.reason = "ConstraintsConflict";
    c.message = plan.conflict();
  } else if (!plan.leader()) {
    c.reason = "Copied";
    c.message = name + " (" + members + "; none has replicas to divide): each is copied to " +
                List(plan.eligible());
  } else if (*plan.leader() == pos) {
    c.status = clusters.empty() ? "False" : "True";
    c.reason = clusters.empty() ? "LeaderUnplaced" : "Leader";
    c.message = clusters.empty()
                    ? "leads " + name + " (" + members + ") but is placed nowhere: so is the group"
                    : "leads " + name + " (" + members + "): the group runs on " + List(clusters);
  } else {
    const std::string& leader = keys_[group.members[*plan.leader()]];
    const std::vector<std::string> runs_on = plan.runs_on().value_or(std::vector<std::string>{});
    if (runs_on.empty()) {
      c.status = "False";
      c.reason = "LeaderUnplaced";
      c.message = name + " (" + members + "): its leader " + leader +
                  " is placed nowhere, so this workload is not placed either";
    } else if (clusters == runs_on) {
      c.reason = "WithGroup";
      c.message = "with " + name + " (" + members + ") on " + List(runs_on) +
                  ", where its leader " + leader + " runs";
    } else {
      c.status = "False";
      c.reason = "NotOnEveryGroupCluster";
      c.message = name + " (" + members + ") runs on " + List(runs_on) + " (its leader " + leader +
                  "); this workload only on " + List(clusters) +
                  " (fewer replicas than the group has clusters, or no room there)";
    }
  }
  api::SetCondition(&status->conditions, std::move(c), now);
}

}  // namespace meridian::scheduling
