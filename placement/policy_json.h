// JSON conversion for the placement policy language (placement/policy.h).
//
// Decoders are strict and exhaustive: every problem is appended to `errors` as a FieldError
// whose path is relative to the decoded object's root ("distribution.weights.eu-west: must be
// >= 0", "spread.minRegions: must be an integer", "distribution.wieghts: unknown field"), so an
// enclosing decoder can prefix them (AppendWithPrefix("spec.placement", ...)). The decoders
// never throw and never stop at the first problem; they return a best-effort value, which is
// only meaningful when no error was appended. Encoders write the canonical form (defaults
// omitted), and Decode(Encode(x)) == x for every value a decoder accepts.
// All functions are pure and thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "common/field_error.h"
#include "common/status.h"
#include "placement/policy.h"

namespace meridian::placement {

// `spec.placement` of a FederatedWorkload. A null or absent placement is the empty object.
PlacementPolicy DecodePlacementPolicy(const nlohmann::json& j, FieldErrors* errors);
nlohmann::json EncodePlacementPolicy(const PlacementPolicy& policy);

// The `spec` of a Topology.
TopologySpec DecodeTopologySpec(const nlohmann::json& j, FieldErrors* errors);
nlohmann::json EncodeTopologySpec(const TopologySpec& topology);

// Convenience wrappers: InvalidArgument listing every FieldError ("a: x; b: y") on failure.
StatusOr<PlacementPolicy> ParsePlacementPolicy(const nlohmann::json& j);
StatusOr<TopologySpec> ParseTopologySpec(const nlohmann::json& j);

// "nearest" / "ordered" / "none".
const char* OverflowModeName(OverflowMode mode);

}  // namespace meridian::placement
