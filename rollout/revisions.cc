#include "rollout/revisions.h"

#include <algorithm>
#include <set>

#include "rollout/stage_machine.h"

namespace meridian::rollout {

namespace {

// The revisions something refers to: the rollout's (new, stable, each member's) and what the
// members report they run.
std::set<int64_t> RevisionsInUse(const api::FederatedWorkloadStatus& status) {
  std::set<int64_t> in_use;
  if (status.rollout) {
    in_use.insert(status.rollout->revision);
    in_use.insert(status.rollout->stable_revision);
    for (const api::MemberRevision& m : status.rollout->members) in_use.insert(m.revision);
  }
  for (const api::ClusterSyncStatus& c : status.clusters) in_use.insert(c.revision);
  return in_use;
}

size_t HistoryLimit(const api::FederatedWorkload& workload) {
  return static_cast<size_t>(std::max(1, workload.spec.revision_history_limit));
}

}  // namespace

bool RevisionsCurrent(const api::FederatedWorkload& workload) {
  const std::vector<api::WorkloadRevision>& revisions = workload.status.revisions;
  if (revisions.empty() || revisions.back().template_ != workload.spec.template_) return false;
  if (revisions.size() <= HistoryLimit(workload)) return true;
  // Over the limit, RecordRevision drops every revision but the newest that nothing uses.
  const std::set<int64_t> in_use = RevisionsInUse(workload.status);
  for (size_t i = 0; i + 1 < revisions.size(); ++i) {
    if (!in_use.count(revisions[i].revision)) return false;
  }
  return true;
}

bool RecordRevision(const api::FederatedWorkload& workload, Timestamp now,
                    api::FederatedWorkloadStatus* status) {
  std::vector<api::WorkloadRevision>& revisions = status->revisions;
  bool changed = false;
  if (revisions.empty() || revisions.back().template_ != workload.spec.template_) {
    api::WorkloadRevision r;
    r.revision = revisions.empty() ? 1 : revisions.back().revision + 1;
    r.template_hash = api::TemplateHash(workload.spec.template_);
    r.template_ = workload.spec.template_;
    r.created = FormatMillis(now);
    revisions.push_back(std::move(r));
    changed = true;
  }
  const std::set<int64_t> in_use = RevisionsInUse(*status);
  const size_t limit = HistoryLimit(workload);
  // Oldest first; the newest is always kept.
  for (size_t i = 0; revisions.size() > limit && i + 1 < revisions.size();) {
    if (in_use.count(revisions[i].revision)) {
      ++i;
      continue;
    }
    revisions.erase(revisions.begin() + static_cast<std::ptrdiff_t>(i));
    changed = true;
  }
  return changed;
}

const api::WorkloadRevision* FindRevision(const api::FederatedWorkloadStatus& status,
                                          int64_t number) {
  for (const api::WorkloadRevision& r : status.revisions) {
    if (r.revision == number) return &r;
  }
  return nullptr;
}

}  // namespace meridian::rollout
