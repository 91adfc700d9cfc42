#include "cli/rollout.h"

#include <map>
#include <sstream>

#include "api/codec.h"
#include "api/rollout.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

const json* At(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end() || it->is_null()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string Name(const json& w) {
  const json* ns = At(w, {"metadata", "namespace"});
  const json* n = At(w, {"metadata", "name"});
  return (ns && ns->is_string() ? ns->get<std::string>() + "/" : "") +
         (n && n->is_string() ? n->get<std::string>() : "");
}

std::optional<api::RolloutStatus> RolloutOf(const json& w) {
  const json* r = At(w, {"status", "rollout"});
  if (!r) return std::nullopt;
  FieldErrors errors;
  api::RolloutStatus s = api::DecodeRolloutStatus(*r, "status.rollout", &errors);
  if (!errors.empty()) return std::nullopt;
  return s;
}

}  // namespace

StatusOr<json> WithRolloutApproved(const json& workload) {
  if (!At(workload, {"spec", "rollout"})) {
    return FailedPreconditionError(Name(workload) + " has no spec.rollout");
  }
  std::optional<api::RolloutStatus> r = RolloutOf(workload);
  if (!r || r->phase != "WaitingForApproval") {
    return FailedPreconditionError(
        "nothing of " + Name(workload) + " waits for approval" +
        (r ? " (phase " + r->phase + ", stage " + r->stage_name + ")" : " (no rollout yet)"));
  }
  json out = workload;
  out["metadata"]["annotations"][api::kRolloutApprovedAnnotation] =
      api::RolloutApproval(r->revision, r->stage_name, r->approval_point);
  return out;
}

std::string RolloutApprovalText(const json& workload) {
  std::optional<api::RolloutStatus> r = RolloutOf(workload);
  if (!r || r->phase != "WaitingForApproval") return "";
  // A status written before approvalPoint existed waited before its stage.
  return "approval " + std::string(r->approval_point == "after" ? "after" : "before") + " stage " +
         r->stage_name + " of revision " + std::to_string(r->revision);
}

StatusOr<json> WithRolloutPaused(const json& workload, bool paused) {
  const json* spec = At(workload, {"spec", "rollout"});
  if (!spec) return FailedPreconditionError(Name(workload) + " has no spec.rollout");
  const bool now = spec->value("paused", false);
  if (now == paused) {
    return FailedPreconditionError("the rollout of " + Name(workload) + " is already " +
                                   (paused ? "paused" : "not paused"));
  }
  json out = workload;
  if (paused) {
    out["spec"]["rollout"]["paused"] = true;
  } else {
    out["spec"]["rollout"].erase("paused");
  }
  return out;
}

StatusOr<json> WithRolloutUndone(const json& workload, std::optional<int64_t> to_revision) {
  std::vector<api::WorkloadRevision> revisions;
  if (const json* r = At(workload, {"status", "revisions"})) {
    FieldErrors errors;
    revisions = api::DecodeRevisions(*r, "status.revisions", &errors);
  }
  std::string kept;
  for (const auto& r : revisions) kept += (kept.empty() ? "" : ", ") + std::to_string(r.revision);
  int64_t target = 0;
  if (to_revision) {
    target = *to_revision;
  } else {
    std::optional<api::RolloutStatus> rollout = RolloutOf(workload);
    if (rollout && rollout->phase != "Complete" && rollout->stable_revision != 0 &&
        !revisions.empty() && rollout->stable_revision != revisions.back().revision) {
      target = rollout->stable_revision;
    } else if (revisions.size() >= 2) {
      target = revisions[revisions.size() - 2].revision;
    } else {
      return FailedPreconditionError(
          Name(workload) +
          " has no earlier revision to go back to (kept: " + (kept.empty() ? "none" : kept) + ")");
    }
  }
  for (const api::WorkloadRevision& r : revisions) {
    if (r.revision != target) continue;
    json out = workload;
    out["spec"]["template"] = r.template_;
    return out;
  }
  return NotFoundError("--to-revision " + std::to_string(target) + ": revision " +
                       std::to_string(target) + " of " + Name(workload) +
                       " is not kept in status.revisions (kept: " + (kept.empty() ? "none" : kept) +
                       ")");
}

bool RolloutFinished(const json& workload) {
  std::optional<api::RolloutStatus> r = RolloutOf(workload);
  return !At(workload, {"spec", "rollout"}) ||
         (r && (r->phase == "Complete" || r->phase == "Halted" || r->phase == "RolledBack"));
}

std::string RolloutStatusText(const json& workload) {
  std::ostringstream out;
  std::optional<api::RolloutStatus> r = RolloutOf(workload);
  if (!At(workload, {"spec", "rollout"})) {
    out << Name(workload) << ": no spec.rollout (every member gets a new template at once)\n";
  }
  if (!r) {
    if (At(workload, {"spec", "rollout"})) out << Name(workload) << ": no rollout state yet\n";
    return out.str();
  }
  out << Name(workload) << ": revision " << r->revision;
  if (r->stable_revision && r->stable_revision != r->revision) {
    out << " (from " << r->stable_revision << ")";
  }
  out << ", phase " << r->phase;
  if (!r->stage_name.empty()) out << ", stage " << r->stage_name;
  if (std::string waits = RolloutApprovalText(workload); !waits.empty()) {
    out << " (waits for " << waits << ")";
  }
  out << "\n";
  if (!r->message.empty()) out << "  " << r->message << "\n";
  std::map<std::string, std::pair<int64_t, bool>> runs;
  if (const json* cl = At(workload, {"status", "clusters"}); cl && cl->is_array()) {
    for (const json& c : *cl) {
      runs[c.value("cluster", "")] = {c.value("revision", int64_t{0}),
                                      c.value("revisionReady", false)};
    }
  }
  for (const api::MemberRevision& m : r->members) {
    out << "  " << m.cluster << ": meant to run " << m.revision;
    if (auto it = runs.find(m.cluster); it != runs.end() && it->second.first != 0) {
      out << ", runs " << it->second.first << (it->second.second ? " (ready)" : " (not ready)");
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace meridian::cli
