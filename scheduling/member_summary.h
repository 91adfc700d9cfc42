// What the FederatedWorkloads have on each member (MemberCluster status.workloadSummary), and
// which members' summaries to write next. Pure: values in, values out; the member-summary
// controller (scheduling/member_summary_controller.h) reads the informers and writes.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/types.h"

namespace meridian::scheduling {

// Member name -> its summary over `workloads`: `workloads` counts those with replicas in
// status.placement on the member, `desiredReplicas` sums those replicas, `readyReplicas` sums
// status.clusters[].readyReplicas reported from it (retained replicas still serving count as
// ready there, as they serve). Members no workload mentions are absent (their summary is zero).
std::map<std::string, api::MemberWorkloadSummary> MemberWorkloadSummaries(
    const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads);

struct SummaryWrite {
  std::string member;
  api::MemberWorkloadSummary summary;
  friend bool operator==(const SummaryWrite&, const SummaryWrite&) = default;
};

struct SummaryPlan {
  std::vector<SummaryWrite> writes;  // at most the budget, in member-name order from `after`
  size_t outdated = 0;               // members whose status differs, written or not
};

// The members of `members` whose status.workloadSummary differs from `summaries` (absent:
// zero), at most `budget` of them, taken in name order starting after `after` and wrapping
// around, so that a budget smaller than the backlog reaches every member in turn (the caller
// passes the last member it wrote). A member with no summary yet and no workloads gets a zero
// summary, so that "nothing here" reads apart from "not summarised yet".
SummaryPlan PlanSummaryWrites(const std::vector<std::shared_ptr<const api::MemberCluster>>& members,
                              const std::map<std::string, api::MemberWorkloadSummary>& summaries,
                              size_t budget, const std::string& after);

}  // namespace meridian::scheduling
