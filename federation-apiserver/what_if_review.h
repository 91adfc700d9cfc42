// WhatIfReview: "what would placement do if these zones / regions / clusters failed?", asked
// of the server and answered in the response, never stored (Kubernetes' SubjectAccessReview /
// TokenReview idiom: a create-only kind).
//
//   POST /apis/federation.meridian.io/v1alpha1/whatifreviews
//   {"apiVersion": "federation.meridian.io/v1alpha1", "kind": "WhatIfReview",
//    "spec": {"failures": [{"region": "eu-west"}, {"zone": "us-east-1a"}]}}
//   -> 201 with the same object and `status` filled: per affected workload the replicas
//      before and after per cluster (with the engine's reason, zone hints and what lands on
//      the failed targets) and what blocks full placement; the count of unaffected workloads.
//
// The answer is the pure scheduling::WhatIf (scheduling/placement_inputs.h) over the
// federation's current objects (MemberClusters, Topologies, ResidencyPolicies,
// FederatedWorkloads, FailoverDrills, listed through the ObjectService): the same engine and
// inputs as `fedctl what-if` and the placement controller. Every other method on the path
// is 405; there is nothing to GET or LIST. Discovery lists it with verbs [create] (as
// SubjectAccessReview), so `kubectl create -f review.yaml -o yaml` works. Authorization is the ordinary request filter's:
// `create whatifreviews` in group federation.meridian.io (bootstrap role
// meridian:drill-operator and cluster-admin hold it). Bad input is 422 naming the field:
// no or empty spec.failures, a target that is not exactly one of zone/region/cluster, or one
// that matches no member cluster (as `fedctl what-if` refuses it).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/types.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "common/field_error.h"
#include "scheduling/placement_inputs.h"

namespace meridian::apiserver {

inline constexpr char kWhatIfReviewKind[] = "WhatIfReview";
inline constexpr char kWhatIfReviewPlural[] = "whatifreviews";

// spec.failures of a WhatIfReview body as failure targets. Problems go to `errors` with
// their field path ("spec.failures[1]: unknown target kind \"planet\" ..."); the targets
// are only meaningful when `errors` stayed empty. Pure.
std::vector<api::DrillTarget> ParseWhatIfReviewSpec(const nlohmann::json& body,
                                                    FieldErrors* errors);

// The failures among `failures` that match no member of `inputs` (the placement engine's own
// matching, scheduling::ApplyFailures), as 422 causes at spec.failures[i].<kind>. Pure.
FieldErrors UnmatchedFailures(const scheduling::PlacementInputs& inputs,
                              const std::vector<api::DrillTarget>& failures);

// `answer` as the review's status (see the file comment; camelCase as the API's). Pure.
nlohmann::json WhatIfReviewStatus(const scheduling::WhatIfAnswer& answer);

// Lists and decodes everything placement reads. Errors: a list failed (kUnavailable naming
// the resource) or a stored object does not decode (kInternal naming it and the field).
StatusOr<scheduling::PlacementInputs> ListPlacementInputs(apimachinery::ObjectService& objects);

// Registers the route (POST answers, any other method 405) on `handler`, after its filters
// (authentication, RBAC), and its discovery entry. `objects` and `clock` (the review's "now") must outlive `handler`.
void InstallWhatIfReview(apimachinery::rest::RestHandler& handler,
                         apimachinery::ObjectService& objects, const Clock& clock);

}  // namespace meridian::apiserver
