#include "federation-apiserver/what_if_review.h"

#include <string>

#include "api/codec.h"
#include "federation-apiserver/review_route.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;
using apimachinery::ApiError;

template <typename T>
Status ListInto(apimachinery::ObjectService& objects, const char* plural,
                T (*decode)(const json&, FieldErrors*), std::vector<T>* out) {
  const apimachinery::ResourceInfo* info =
      objects.registry().Find(api::kGroup, api::kVersion, plural);
  if (info == nullptr) return InternalError(std::string(plural) + " is not served");
  apimachinery::ApiResult<apimachinery::SharedList> list = objects.ListShared(*info, "", {});
  if (!list.ok()) {
    return UnavailableError(std::string("listing ") + plural + ": " + list.error().message);
  }
  for (const apimachinery::SharedObject& item : list.value().items) {
    FieldErrors errors;
    const std::shared_ptr<const json> object = apimachinery::DecodedObject(item);
    T decoded = decode(*object, &errors);
    if (!errors.empty()) {
      const json& meta = object->contains("metadata") ? (*object)["metadata"] : json();
      return InternalError(std::string(plural) + " " +
                           (meta.is_object() ? meta.value("name", "") : std::string()) +
                           " does not decode: " + errors.front().ToString());
    }
    out->push_back(std::move(decoded));
  }
  return Status::Ok();
}

json Zones(const std::map<std::string, int64_t>& zones) {
  json out = json::object();
  for (const auto& [zone, n] : zones) out[zone] = n;
  return out;
}

rest::RestResponse Review(apimachinery::ObjectService& objects, const Clock& clock,
                          const rest::RestRequest& request) {
  json body;
  if (auto bad = ParseReviewBody(request, kWhatIfReviewKind, &body)) return *bad;
  auto invalid = [](const FieldErrors& errors) {
    return rest::RestResponse::Error(ApiError::Invalid(api::kGroup, kWhatIfReviewKind, "", errors));
  };
  FieldErrors errors;
  std::vector<api::DrillTarget> failures = ParseWhatIfReviewSpec(body, &errors);
  if (!errors.empty()) return invalid(errors);
  StatusOr<scheduling::PlacementInputs> inputs = ListPlacementInputs(objects);
  if (!inputs.ok()) return rest::RestResponse::Error(ApiError::FromStatus(inputs.status()));
  errors = UnmatchedFailures(*inputs, failures);
  if (!errors.empty()) return invalid(errors);
  StatusOr<scheduling::WhatIfAnswer> answer = scheduling::WhatIf(*inputs, failures, clock.Now());
  if (!answer.ok()) return rest::RestResponse::Error(ApiError::FromStatus(answer.status()));
  json out = {{"apiVersion", std::string(api::kGroup) + "/" + api::kVersion},
              {"kind", kWhatIfReviewKind},
              {"metadata", {{"creationTimestamp", nullptr}}},
              {"spec", body["spec"]},
              {"status", WhatIfReviewStatus(*answer)}};
  return rest::RestResponse::Json(201, out);
}

}  // namespace

std::vector<api::DrillTarget> ParseWhatIfReviewSpec(const json& body, FieldErrors* errors) {
  std::vector<api::DrillTarget> failures;
  if (!body.is_object()) {
    errors->push_back({"", "a WhatIfReview must be a JSON object"});
    return failures;
  }
  if (body.contains("kind") && body["kind"] != kWhatIfReviewKind) {
    errors->push_back({"kind", "must be WhatIfReview, not " + body["kind"].dump()});
  }
  const json* list = nullptr;
  if (body.contains("spec") && body["spec"].is_object() && body["spec"].contains("failures")) {
    list = &body["spec"]["failures"];
  }
  if (list == nullptr || !list->is_array() || list->empty()) {
    errors->push_back(
        {"spec.failures", "Required value: at least one failure, {zone|region|cluster: NAME}"});
    return failures;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = "spec.failures[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    if (!item.is_object() || item.size() != 1) {
      errors->push_back({path, "set exactly one of zone, region, cluster"});
      continue;
    }
    const std::string kind = item.begin().key();
    const json& name = item.begin().value();
    api::DrillTarget t;
    std::string* field = kind == "zone"      ? &t.zone
                         : kind == "region"  ? &t.region
                         : kind == "cluster" ? &t.cluster
                                             : nullptr;
    if (field == nullptr) {
      errors->push_back(
          {path, "unknown target kind \"" + kind + "\" (expected zone, region or cluster)"});
      continue;
    }
    if (!name.is_string() || name.get<std::string>().empty()) {
      errors->push_back({path + "." + kind, "Required value: a non-empty name"});
      continue;
    }
    *field = name.get<std::string>();
    failures.push_back(std::move(t));
  }
  return failures;
}

FieldErrors UnmatchedFailures(const scheduling::PlacementInputs& inputs,
                              const std::vector<api::DrillTarget>& failures) {
  FieldErrors errors;
  const std::vector<placement::ClusterState> clusters = scheduling::ClusterStatesFor(inputs);
  for (size_t i = 0; i < failures.size(); ++i) {
    std::vector<placement::ClusterState> copy = clusters;
    std::vector<std::string> unmatched;
    scheduling::ApplyFailures({&failures[i], 1}, copy, &unmatched);
    if (unmatched.empty()) continue;
    const api::DrillTarget& t = failures[i];
    const char* kind = !t.zone.empty() ? "zone" : !t.region.empty() ? "region" : "cluster";
    errors.push_back({"spec.failures[" + std::to_string(i) + "]." + kind, unmatched.front()});
  }
  return errors;
}

json WhatIfReviewStatus(const scheduling::WhatIfAnswer& answer) {
  json affected = json::array();
  for (const scheduling::WhatIfWorkload& w : answer.affected) {
    json clusters = json::array();
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      clusters.push_back({{"cluster", c.cluster},
                          {"region", c.region},
                          {"before", c.before},
                          {"after", c.after},
                          {"onTarget", c.on_target},
                          {"reasonAfter", c.reason_after},
                          {"zonesBefore", Zones(c.zones_before)},
                          {"zonesAfter", Zones(c.zones_after)}});
    }
    affected.push_back({{"namespace", w.ns},
                        {"name", w.name},
                        {"desired", w.desired},
                        {"onTarget", w.on_target},
                        {"unplacedBefore", w.unplaced_before},
                        {"unplacedAfter", w.unplaced_after},
                        {"blockedBy", w.blocked_by},
                        {"clusters", std::move(clusters)}});
  }
  return {{"affected", std::move(affected)}, {"unaffected", answer.unaffected}};
}

StatusOr<scheduling::PlacementInputs> ListPlacementInputs(apimachinery::ObjectService& objects) {
  scheduling::PlacementInputs in;
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(objects, "memberclusters", api::DecodeMemberCluster, &in.members));
  MERIDIAN_RETURN_IF_ERROR(ListInto(objects, "topologies", api::DecodeTopology, &in.topologies));
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(objects, "residencypolicies", api::DecodeResidencyPolicy, &in.policies));
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(objects, "federatedworkloads", api::DecodeFederatedWorkload, &in.workloads));
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(objects, "failoverdrills", api::DecodeFailoverDrill, &in.drills));
  return in;
}

void InstallWhatIfReview(rest::RestHandler& handler, apimachinery::ObjectService& objects,
                         const Clock& clock) {
  InstallReviewRoute(handler, kWhatIfReviewPlural, "whatifreview", kWhatIfReviewKind,
                     [&objects, &clock](const rest::RestRequest& request) {
                       return Review(objects, clock, request);
                     });
}

}  // namespace meridian::apiserver
