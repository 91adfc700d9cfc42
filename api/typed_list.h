// Meridian's own resources as the in-process controllers read them: the registry entry of one
// of our kinds, and a LIST decoded into typed objects. The placement, DNS and drill
// controllers each had a copy of these.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/object_service.h"
#include "common/field_error.h"
#include "common/status.h"

namespace meridian::api {

// The registry entry of federation.meridian.io/v1alpha1 `plural`. The federation-apiserver
// always registers Meridian's kinds, so a missing one is a wiring bug: logged as `who`'s and
// aborted.
inline const apimachinery::ResourceInfo& MeridianResource(apimachinery::ObjectService& objects,
                                                          const char* plural, const char* who) {
  const apimachinery::ResourceInfo* info = objects.registry().Find(kGroup, kVersion, plural);
  if (info == nullptr) {
    spdlog::critical("{}: resource {} is not registered", who, plural);
    std::abort();
  }
  return *info;
}

// Every `plural` object (cluster-wide), decoded with `decode`. Admission rejects invalid
// objects; one that is invalid anyway (an older schema) is skipped with a warning naming
// `who`, rather than stopping every other object's reconcile. Errors: the LIST failed
// (Unavailable, naming the kind).
template <typename T>
StatusOr<std::vector<T>> ListDecoded(apimachinery::ObjectService& objects, const char* plural,
                                     T (*decode)(const nlohmann::json&, FieldErrors*),
                                     const char* who, const std::string& label_selector = "") {
  apimachinery::ListRequest request;
  request.label_selector = label_selector;
  auto list = objects.List(MeridianResource(objects, plural, who), "", request);
  if (!list.ok()) {
    return UnavailableError(std::string("listing ") + plural + ": " + list.error().message);
  }
  std::vector<T> out;
  for (const nlohmann::json& item : list.value()["items"]) {
    FieldErrors errors;
    T decoded = decode(item, &errors);
    if (errors.empty()) {
      out.push_back(std::move(decoded));
    } else {
      spdlog::warn("{}: skipping invalid {} {}: {}", who, plural,
                   item["metadata"].value("name", ""), errors.front().ToString());
    }
  }
  return out;
}

}  // namespace meridian::api
