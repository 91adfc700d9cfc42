#include "scheduling/member_summary.h"

#include <algorithm>

namespace meridian::scheduling {

std::map<std::string, api::MemberWorkloadSummary> MemberWorkloadSummaries(
    const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads) {
  std::map<std::string, api::MemberWorkloadSummary> out;
  for (const auto& w : workloads) {
    for (const api::ClusterPlacement& p : w->status.placement) {
      if (p.replicas <= 0) continue;
      api::MemberWorkloadSummary& s = out[p.cluster];
      ++s.workloads;
      s.desired_replicas += p.replicas;
    }
    for (const api::ClusterSyncStatus& c : w->status.clusters) {
      if (c.ready_replicas > 0) out[c.cluster].ready_replicas += c.ready_replicas;
    }
  }
  return out;
}

SummaryPlan PlanSummaryWrites(const std::vector<std::shared_ptr<const api::MemberCluster>>& members,
                              const std::map<std::string, api::MemberWorkloadSummary>& summaries,
                              size_t budget, const std::string& after) {
  std::vector<SummaryWrite> outdated;
  for (const auto& m : members) {
    auto it = summaries.find(m->metadata.name);
    const api::MemberWorkloadSummary want =
        it == summaries.end() ? api::MemberWorkloadSummary{} : it->second;
    if (m->status.workload_summary != want) outdated.push_back({m->metadata.name, want});
  }
  std::sort(outdated.begin(), outdated.end(),
            [](const SummaryWrite& a, const SummaryWrite& b) { return a.member < b.member; });
  SummaryPlan plan;
  plan.outdated = outdated.size();
  // Those after `after` first, then from the start: a round robin over the backlog.
  auto first = std::upper_bound(
      outdated.begin(), outdated.end(), after,
      [](const std::string& name, const SummaryWrite& w) { return name < w.member; });
  std::rotate(outdated.begin(), first, outdated.end());
  if (outdated.size() > budget) outdated.resize(budget);
  plan.writes = std::move(outdated);
  return plan;
}

}  // namespace meridian::scheduling
