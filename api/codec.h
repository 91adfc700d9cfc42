// JSON codecs and validation for Meridian's resources (api/types.h).
//
// Decode* are strict and exhaustive: every problem is appended to `errors` with its full path
// from the object root ("spec.placement.distribution.weights.eu-west: must be >= 0",
// "metadata.name: must be a DNS-1123 subdomain"), unknown fields are errors, and decoding goes
// on after a problem. The returned struct is meaningful only when nothing was appended.
// Encode* write the canonical form (apiVersion and kind set, defaults omitted).
// Pure functions; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/types.h"
#include "common/field_error.h"
#include "common/status.h"

namespace meridian::api {

MemberCluster DecodeMemberCluster(const nlohmann::json& j, FieldErrors* errors);
FederatedWorkload DecodeFederatedWorkload(const nlohmann::json& j, FieldErrors* errors);
Topology DecodeTopology(const nlohmann::json& j, FieldErrors* errors);
ResidencyPolicy DecodeResidencyPolicy(const nlohmann::json& j, FieldErrors* errors);
FailoverDrill DecodeFailoverDrill(const nlohmann::json& j, FieldErrors* errors);
DnsRecordSet DecodeDnsRecordSet(const nlohmann::json& j, FieldErrors* errors);
RolloutStrategy DecodeRolloutStrategy(const nlohmann::json& j, FieldErrors* errors);

nlohmann::json Encode(const MemberCluster& o);
nlohmann::json Encode(const FederatedWorkload& o);
nlohmann::json Encode(const Topology& o);
nlohmann::json Encode(const ResidencyPolicy& o);
nlohmann::json Encode(const FailoverDrill& o);
nlohmann::json Encode(const DnsRecordSet& o);
nlohmann::json Encode(const RolloutStrategy& o);

ObjectMeta DecodeObjectMeta(const nlohmann::json& j, const std::string& path, FieldErrors* errors);
nlohmann::json EncodeObjectMeta(const ObjectMeta& m);

// Validates a Meridian object of any of the six kinds (by its `kind`), returning every
// problem. An unknown kind is one error at "kind".
FieldErrors ValidateObject(const nlohmann::json& j);

// Convenience: the typed object or InvalidArgument listing every problem ("a: x; b: y").
template <typename T>
StatusOr<T> DecodeOrError(const nlohmann::json& j, T (*decode)(const nlohmann::json&, FieldErrors*)) {
  FieldErrors errors;
  T out = decode(j, &errors);
  if (errors.empty()) return out;
  std::string msg;
  for (const FieldError& e : errors) msg += (msg.empty() ? "" : "; ") + e.ToString();
  return InvalidArgumentError(msg);
}

// The number of replicas a workload's template asks for: spec.replicas when the template has
// one (divided across clusters), std::nullopt when it has none (copied to every cluster).
std::optional<int64_t> TemplateReplicas(const FederatedWorkloadSpec& spec);

// DNS-1123 checks; an empty string means valid.
std::string ValidateDns1123Subdomain(const std::string& name);  // object names
std::string ValidateDns1123Label(const std::string& name);      // namespaces, zones

}  // namespace meridian::api
