// Residency enforcement, pure core: what `enforcement: remove` on a ResidencyPolicy does to an
// object the audit found in a member of a jurisdiction the policy does not allow
// (residency/audit.h ResidencyViolation).
//
// The rule: stop what runs, keep what stores.
//   - Deployments, StatefulSets, ReplicaSets: `spec.replicas: 0` (a JSON merge patch);
//   - Jobs: `spec.suspend: true` (the Job controller ends its Pods; the Job stays);
//   - bare Pods (no owner): deleted (there is nothing to scale);
//   - PersistentVolumeClaims, ConfigMaps, Secrets: never touched (data; a human decides);
//   - DaemonSets: not enforced (no replica count; zeroing one means rewriting its Pod template),
//     reported as such.
// It does not fight: an object already at zero (or a suspended Job) is left alone, so a
// member that already complies sees no write. Writes carry the resourceVersion the audit saw
// (compare-and-swap): an object changed since is judged again in the next scan, not
// overwritten blind.
// An object is enforced when any ResidencyPolicy that governs it (ResidencyViolation::policies)
// says `remove`; a violation only the workload's own residency causes is left to propagation
// (Meridian removes its own objects from members placement no longer selects). Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/types.h"
#include "residency/audit.h"

namespace meridian::residency {

enum class EnforcementAction {
  kNone,           // report only: no governing policy says remove, or already at zero
  kScaleToZero,    // merge patch spec.replicas: 0
  kSuspend,        // merge patch spec.suspend: true
  kDelete,         // delete (a bare Pod), with the uid as precondition
  kNotEnforceable  // a policy says remove, but this kind is never removed (data, DaemonSet)
};

// "ScaledToZero", "Suspended", "Deleted", "NotEnforceable", "None".
const char* EnforcementActionName(EnforcementAction action);

struct EnforcementPlan {
  EnforcementAction action = EnforcementAction::kNone;
  std::string policy;  // the governing policy whose `enforcement: remove` asks for it
  std::string why;     // for kNone / kNotEnforceable: "already at 0 replicas", "data volume ..."
  // For kScaleToZero / kSuspend: the RFC 7386 merge patch (with metadata.resourceVersion for
  // compare-and-swap when the audit saw one).
  nlohmann::json patch;
};

// What to do about `violation` under `policies` (the whole set; those it names govern it).
EnforcementPlan PlanEnforcement(const ResidencyViolation& violation,
                                const std::vector<api::ResidencyPolicy>& policies);

// Whether `object` is held at zero: a scalable kind at 0 replicas, or a suspended Job. What a
// policy's status counts as `enforced`.
bool HeldAtZero(const MemberObject& object);

// "scaled Deployment payments/rogue in member us-east-1 (us) from 2 to 0 replicas
// (payments-eu-only: enforcement: remove)" and the like, for Events and the ledger.
std::string DescribeEnforcement(const ResidencyViolation& violation, const EnforcementPlan& plan);

}  // namespace meridian::residency
