#include "rollout/revisions.h"

#include <algorithm>
#include <set>

#include "rollout/stage_machine.h"

namespace meridian::rollout {

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
  std::set<int64_t> in_use;
  if (status->rollout) {
    in_use.insert(status->rollout->revision);
    in_use.insert(status->rollout->stable_revision);
    for (const api::MemberRevision& m : status->rollout->members) in_use.insert(m.revision);
  }
  for (const api::ClusterSyncStatus& c : status->clusters) in_use.insert(c.revision);
  const size_t limit = static_cast<size_t>(std::max(1, workload.spec.revision_history_limit));
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
