#include "cli/rollout.h"

#include <map>
#include <sstream>

#include "api/codec.h"
#include "api/rollout.h"
#include "cli/kinds.h"
#include "scheduling/policy_binding.h"

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

std::string RolloutStatusText(const json& workload, const std::string& display) {
  std::ostringstream out;
  std::optional<api::RolloutStatus> r = RolloutOf(workload);
  const std::string name = display.empty() ? Name(workload) : display;
  if (!At(workload, {"spec", "rollout"})) {
    out << name
        << (display.empty() ? ": no spec.rollout (every member gets a new template at once)\n"
                            : ": no staged rollout: the PlacementPolicy placing it has no "
                              "spec.rollout (every member gets a change at once)\n");
  }
  if (!r) {
    if (At(workload, {"spec", "rollout"})) out << name << ": no rollout state yet\n";
    return out.str();
  }
  out << name << ": revision " << r->revision;
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

StatusOr<RolloutTarget> ResolveRolloutTarget(const std::vector<std::string>& args) {
  std::string type, name;
  if (args.size() == 1) {
    const size_t slash = args[0].find('/');
    if (slash == std::string::npos) {
      name = args[0];
    } else {
      type = args[0].substr(0, slash);
      name = args[0].substr(slash + 1);
    }
  } else if (args.size() == 2) {
    type = args[0];
    name = args[1];
  } else {
    return InvalidArgumentError("expected NAME, TYPE/NAME or TYPE NAME");
  }
  if (name.empty() || name.find('/') != std::string::npos) {
    return InvalidArgumentError("NAME: \"" + name + "\" is not a name");
  }
  RolloutTarget t;
  t.name = name;
  if (type.empty()) {
    t.workload = name;
    t.display = "federatedworkload/" + name;
    return t;
  }
  const KindInfo* kind = ResolveType(type);
  if (kind != nullptr && kind->kind == "FederatedWorkload") {
    t.workload = name;
    t.display = "federatedworkload/" + name;
    return t;
  }
  const api::NativeKind* native =
      kind == nullptr ? nullptr : api::FindNativeKind(kind->ApiVersion(), kind->kind);
  if (native == nullptr) {
    return InvalidArgumentError(
        "TYPE: \"" + type +
        "\" has no rollouts; name a FederatedWorkload (fw/NAME) or an object a PlacementPolicy "
        "places (" +
        api::NativeKindsList() + ")");
  }
  t.native = native;
  t.workload = scheduling::BindingName(*native, name);
  t.display = kind->singular + "/" + name;
  return t;
}

namespace {

// The binding's staged rollout, or why there is none for the user.
Status HasStagedRollout(const json& binding, const std::string& display) {
  if (!At(binding, {"spec", "rollout"})) {
    return FailedPreconditionError(display +
                                   " has no staged rollout: the PlacementPolicy placing it has "
                                   "no spec.rollout");
  }
  return Status::Ok();
}

std::string ObjectAnnotation(const json& object, const char* key) {
  const json* v = At(object, {"metadata", "annotations", key});
  return v && v->is_string() ? v->get<std::string>() : "";
}

// `binding`'s error messages name the binding ("shop/deployment-web"): the user named the
// object.
Status Renamed(const Status& s, const json& binding, const std::string& display) {
  std::string message = s.message();
  const std::string from = Name(binding);
  for (size_t at = message.find(from); !from.empty() && at != std::string::npos;
       at = message.find(from, at + display.size())) {
    message.replace(at, from.size(), display);
  }
  return Status(s.code(), message);
}

}  // namespace

StatusOr<json> WithNativeRolloutPaused(const json& object, const json& binding, bool paused,
                                       const std::string& display) {
  MERIDIAN_RETURN_IF_ERROR(HasStagedRollout(binding, display));
  const bool annotated = ObjectAnnotation(object, api::kRolloutPausedAnnotation) == "true";
  const json* by_policy = At(binding, {"spec", "rollout", "paused"});
  // The binding says paused without the object's annotation: the policy pauses it.
  if (!paused && !annotated && by_policy && by_policy->is_boolean() && by_policy->get<bool>()) {
    return FailedPreconditionError("the rollout of " + display +
                                   " is paused by its PlacementPolicy's spec.rollout.paused");
  }
  if (annotated == paused) {
    return FailedPreconditionError("the rollout of " + display + " is already " +
                                   (paused ? "paused" : "not paused"));
  }
  json out = object;
  if (paused) {
    out["metadata"]["annotations"][api::kRolloutPausedAnnotation] = "true";
  } else {
    out["metadata"]["annotations"].erase(api::kRolloutPausedAnnotation);
  }
  return out;
}

StatusOr<json> WithNativeRolloutApproved(const json& object, const json& binding,
                                         const std::string& display) {
  MERIDIAN_RETURN_IF_ERROR(HasStagedRollout(binding, display));
  StatusOr<json> approved = WithRolloutApproved(binding);
  if (!approved.ok()) return Renamed(approved.status(), binding, display);
  json out = object;
  out["metadata"]["annotations"][api::kRolloutApprovedAnnotation] =
      (*approved)["metadata"]["annotations"][api::kRolloutApprovedAnnotation];
  return out;
}

StatusOr<json> WithNativeRolloutUndone(const json& object, const json& binding,
                                       std::optional<int64_t> to_revision,
                                       const std::string& display) {
  MERIDIAN_RETURN_IF_ERROR(HasStagedRollout(binding, display));
  StatusOr<json> undone = WithRolloutUndone(binding, to_revision);
  if (!undone.ok()) return Renamed(undone.status(), binding, display);
  const json* spec = At(*undone, {"spec", "template", "spec"});
  json out = object;
  if (spec) {
    out["spec"] = *spec;
  } else {
    out.erase("spec");
  }
  return out;
}

}  // namespace meridian::cli
