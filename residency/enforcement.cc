#include "residency/enforcement.h"

#include <algorithm>

namespace meridian::residency {
namespace {

bool Scalable(const MemberObject& o) {
  const std::string& r = o.resource.resource;
  return o.resource.group == "apps" &&
         (r == "deployments" || r == "statefulsets" || r == "replicasets");
}

bool IsJob(const MemberObject& o) {
  return o.resource.group == "batch" && o.resource.resource == "jobs";
}

bool IsPod(const MemberObject& o) {
  return o.resource.group.empty() && o.resource.resource == "pods";
}

// Replicas as the member runs them: an absent spec.replicas is the API server's default, 1.
int64_t Replicas(const MemberObject& o) { return o.replicas.value_or(1); }

std::string What(const MemberObject& o) {
  return (o.kind.empty() ? o.resource.resource : o.kind) + " " + o.ns + "/" + o.name;
}

nlohmann::json CasPatch(const MemberObject& o, nlohmann::json spec) {
  nlohmann::json patch = {{"spec", std::move(spec)}};
  if (!o.resource_version.empty()) {
    patch["metadata"] = {{"resourceVersion", o.resource_version}};
  }
  return patch;
}

}  // namespace

const char* EnforcementActionName(EnforcementAction action) {
  switch (action) {
    case EnforcementAction::kScaleToZero:
      return "ScaledToZero";
    case EnforcementAction::kSuspend:
      return "Suspended";
    case EnforcementAction::kDelete:
      return "Deleted";
    case EnforcementAction::kNotEnforceable:
      return "NotEnforceable";
    case EnforcementAction::kNone:
      break;
  }
  return "None";
}

bool HeldAtZero(const MemberObject& object) {
  if (Scalable(object)) return Replicas(object) == 0;
  if (IsJob(object)) return object.suspended;
  return false;
}

EnforcementPlan PlanEnforcement(const ResidencyViolation& violation,
                                const std::vector<api::ResidencyPolicy>& policies) {
  EnforcementPlan plan;
  // The first governing policy (in the violation's order) that says remove asks for it.
  for (const std::string& name : violation.policies) {
    auto it = std::find_if(policies.begin(), policies.end(), [&](const api::ResidencyPolicy& p) {
      return p.metadata.name == name && p.spec.enforcement == "remove";
    });
    if (it != policies.end()) {
      plan.policy = name;
      break;
    }
  }
  if (plan.policy.empty()) {
    plan.why = "report only (no governing policy has enforcement: remove)";
    return plan;
  }
  const MemberObject& o = violation.object;
  if (Scalable(o)) {
    if (Replicas(o) == 0) {
      plan.why = "already at 0 replicas";
      return plan;
    }
    plan.action = EnforcementAction::kScaleToZero;
    plan.patch = CasPatch(o, {{"replicas", 0}});
  } else if (IsJob(o)) {
    if (o.suspended) {
      plan.why = "already suspended";
      return plan;
    }
    plan.action = EnforcementAction::kSuspend;
    plan.patch = CasPatch(o, {{"suspend", true}});
  } else if (IsPod(o)) {
    // Owned Pods never reach here (the audit reports their owner instead).
    plan.action = o.owned ? EnforcementAction::kNotEnforceable : EnforcementAction::kDelete;
    if (o.owned) plan.why = "a Pod with an owner is removed through its owner";
  } else if (o.resource.group == "apps" && o.resource.resource == "daemonsets") {
    plan.action = EnforcementAction::kNotEnforceable;
    plan.why = "a DaemonSet has no replica count to set to 0; remove it by hand";
  } else {
    // PersistentVolumeClaims, ConfigMaps, Secrets: data is never deleted by enforcement.
    plan.action = EnforcementAction::kNotEnforceable;
    plan.why =
        "data (" + o.resource.resource + ") is never deleted by enforcement; remove it by hand";
  }
  return plan;
}

std::string DescribeEnforcement(const ResidencyViolation& violation, const EnforcementPlan& plan) {
  const MemberObject& o = violation.object;
  const std::string where =
      " in member " + violation.member + " (" +
      (violation.jurisdiction.empty() ? "no jurisdiction" : violation.jurisdiction) + ")";
  const std::string by = " (" + plan.policy + ": enforcement: remove)";
  switch (plan.action) {
    case EnforcementAction::kScaleToZero:
      return "scaled " + What(o) + where + " from " + std::to_string(Replicas(o)) +
             " to 0 replicas" + by;
    case EnforcementAction::kSuspend:
      return "suspended Job " + o.ns + "/" + o.name + where + by;
    case EnforcementAction::kDelete:
      return "deleted Pod " + o.ns + "/" + o.name + where + by;
    case EnforcementAction::kNotEnforceable:
      return "not removing " + What(o) + where + ": " + plan.why + by;
    case EnforcementAction::kNone:
      break;
  }
  return "left " + What(o) + where + ": " + plan.why;
}

}  // namespace meridian::residency
