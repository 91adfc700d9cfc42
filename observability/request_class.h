// A request reduced to what the API request metrics label it with (request_metrics.h), as small
// indices instead of strings, decided once per request: the in-flight filter classifies it and
// the observer counts it under the same class (kube-apiserver's RequestInfo, for the metrics).
//
//   ClassifyRequest  method, path (relative to the handler's base path), the `watch` query
//                    parameter and the Content-Type -> RequestClass. Pure, no allocation.
//   CodeSlot         an HTTP status code -> its slot among the codes whose series are
//                    resolved ahead (kCodeSlots when it has none). Pure.
//
// Thread-safety: pure functions over a registry that is not being changed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apimachinery/resource_registry.h"

namespace meridian::observability {

// kube-apiserver's verbs, in the order of kVerbLabels.
enum class RequestVerb : uint8_t {
  kGet,
  kList,
  kWatch,
  kPost,
  kPut,
  kPatch,
  kApply,
  kDelete,
  kOther
};
inline constexpr std::array<const char*, 9> kVerbLabels = {
    "GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "APPLY", "DELETE", "OTHER"};
inline constexpr std::array<const char*, 3> kSubresourceLabels = {"", "status", "scale"};
inline constexpr std::array<const char*, 4> kScopeLabels = {"", "resource", "namespace", "cluster"};

struct RequestClass {
  RequestVerb verb = RequestVerb::kOther;
  int32_t resource = -1;    // index into registry.All(); -1: non-resource path or unknown
  uint8_t subresource = 0;  // index into kSubresourceLabels
  uint8_t scope = 0;        // index into kScopeLabels
  // A GET asking for a watch (`?watch=true|1` or a /watch/ path), known resource or not: a
  // long-running request, left out of the in-flight figures as --max-requests-inflight does.
  bool long_running = false;
  bool mutating = false;  // POST, PUT, PATCH, DELETE: request_kind="mutating"

  // The series this class is counted in, as one number (the HTTP code is not part of it).
  uint64_t SeriesKey() const {
    return (uint64_t{static_cast<uint8_t>(verb)} << 40) |
           (uint64_t{static_cast<uint32_t>(resource + 1)} << 8) | (uint64_t{subresource} << 4) |
           scope;
  }
};

// The class of a request to `path` (relative to the handler's base path; "/api/v1/pods").
// `watch_param` is the `watch` query parameter ("" when absent); `content_type` matters only
// for PATCH (server-side apply is verb APPLY). Unknown resources get resource -1, so a client
// cannot grow the label set.
RequestClass ClassifyRequest(const apimachinery::ResourceRegistry& registry,
                             std::string_view method, std::string_view path,
                             std::string_view watch_param, std::string_view content_type);

// The codes whose series a RequestMetrics keeps in a fixed slot (what an API server answers
// routinely); any other code is looked up by value.
inline constexpr std::array<int, 20> kSlottedCodes = {200, 201, 202, 204, 304, 400, 401,
                                                      403, 404, 405, 406, 409, 410, 413,
                                                      415, 422, 429, 500, 503, 504};
inline constexpr size_t kCodeSlots = kSlottedCodes.size();

// `code`'s index in kSlottedCodes, or kCodeSlots when it has none.
size_t CodeSlot(int code);

}  // namespace meridian::observability
