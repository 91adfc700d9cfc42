// Admission for Meridian's resources: what the federation-apiserver checks before an object
// is stored, beyond the generic Kubernetes rules of the ObjectService.
//
//   1. Schema: every problem of the typed decoding (api/codec.h), with field paths; and a
//      FederatedWorkload's spec.template against its kind's schema as the members serve it
//      (federation-apiserver/member_schemas.h), or the built-in one while no member has been
//      reached (api/template_schema.h): unknown fields, wrong types, missing required fields.
//   2. References: a FederatedWorkload's weights, per-cluster bounds and latency demand
//      profile must name regions / clusters / profiles that exist (a typo would otherwise
//      silently place nothing there).
//   3. Residency guardrails: a workload selected by a ResidencyPolicy may not ask for a
//      jurisdiction the policy does not allow, nor name in its placement (weights, per-cluster
//      bounds, failover.order, overrides' clusterSelectors) places outside its allowed
//      jurisdictions (residency/policy.h PlacementResidencyConflicts). Workload authors cannot
//      loosen it; placement still intersects both at run time.
//   4. ResidencyPolicy changes (create, update, delete): known jurisdictions only, a non-empty
//      selection (spec.namespaces or spec.workloadSelector), and no change that would leave a
//      workload with no allowed cluster or force running replicas off their clusters
//      (residency/policy.h ResidencyPolicyImpact, judged with the engine's residency rule)
//      unless the policy carries federation.meridian.io/acknowledge-disruption: "true" (on a
//      delete: the stored policy). ?dryRun=All answers the same, as admission runs first.
//   5. FailoverDrills at create: the target must exist and be held by a member, a live drill
//      may not overlap a live drill that has not ended, nor leave a residency-bound workload
//      with nowhere to run unless acknowledged (failover/drill_admission.h).
//   0. Mutations first: a new FederatedWorkload is stored with its first revision and (when
//      asked: the process runs the propagation controller) the cleanup finalizer; a
//      ResidencyPolicy write is stamped with who made it.
//   6. Rollout groups: a RolloutStrategy's (or a workload's inline strategy's) groups within a
//      stage may not share a member of the federation as it is now (rollout::GroupOverlaps),
//      named at the later group's selector.
// Thread-safe: reads go through the Store, which is.
#pragma once

#include "apimachinery/object_service.h"
#include "apimachinery/store.h"
#include "common/clock.h"

namespace meridian::apiserver {

class MemberSchemas;

// Registers Meridian's admission on `service`; `store` is where Topology,
// MemberCluster and ResidencyPolicy objects are read from (the same store the service uses).
// `clock` (placement's recovery hold in the drill residency check, a new workload's first
// revision) must outlive `service`; so must `schemas` (the members' template schemas; null:
// the built-in set only). Mutations: a new FederatedWorkload gets its first revision
// (status.revisions, rollout/revisions.h) and, with `finalizer_at_create`, the propagation
// controller's cleanup finalizer; a ResidencyPolicy gets the changed-by annotation.
void InstallFederationAdmission(apimachinery::ObjectService& service, apimachinery::Store& store,
                                const Clock& clock, const MemberSchemas* schemas = nullptr,
                                bool finalizer_at_create = false);

}  // namespace meridian::apiserver
