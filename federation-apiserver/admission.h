// Admission for Meridian's resources: what the federation-apiserver checks before an object
// is stored, beyond the generic Kubernetes rules of the ObjectService.
//
//   1. Schema: every problem of the typed decoding (api/codec.h), with field paths; and a
//      FederatedWorkload's spec.template against its kind's built-in schema
//      (api/template_schema.h: unknown fields, wrong types, missing required fields).
//   2. References: a FederatedWorkload's weights, per-cluster bounds and latency demand
//      profile must name regions / clusters / profiles that exist (a typo would otherwise
//      silently place nothing there).
//   3. Residency guardrails: a workload selected by a ResidencyPolicy may not ask for a
//      jurisdiction the policy does not allow. Workload authors cannot loosen it; placement
//      still intersects both at run time.
// Thread-safe: reads go through the Store, which is.
#pragma once

#include "apimachinery/object_service.h"
#include "apimachinery/store.h"

namespace meridian::apiserver {

// Registers Meridian's validating admission on `service`; `store` is where Topology,
// MemberCluster and ResidencyPolicy objects are read from (the same store the service uses).
void InstallFederationAdmission(apimachinery::ObjectService& service, apimachinery::Store& store);

}  // namespace meridian::apiserver
