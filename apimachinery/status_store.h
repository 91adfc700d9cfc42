// StatusSubresourceStore: an optional second interface a Store may implement when it can
// write an object's status alone (a Store over a Kubernetes API, where status has its own
// /status subresource and its own RBAC resource, "<plural>/status").
//
// ObjectService sends a status write (Update with subresource "status") through it when the
// Store has it, and through Store::Update otherwise. A Store over a key-value backend has no
// use for it: it stores the whole object either way. A Store over an API does: without it a
// status write arrives as a whole object, which it can only send as a PUT of the object and
// then of its /status, so the caller needs `update` on the main resource for a status write
// (what kube's controllers, which write status through /status only, never need).
//
// Asked for with dynamic_cast on the Store (Go's optional-interface pattern, like
// http.Flusher), so the Store interface and its many implementations stay as they are.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "apimachinery/store.h"
#include "common/status.h"

namespace meridian::apimachinery {

class StatusSubresourceStore {
 public:
  virtual ~StatusSubresourceStore() = default;
  // Writes `object`'s status (the rest of `object` is the stored object's, as ObjectService
  // builds it) as a compare-and-swap on `expected` (> 0): kAborted when the object changed
  // since, kNotFound when it is gone. Returns the stored object.
  virtual StatusOr<nlohmann::json> UpdateStatus(const ObjectKey& key, nlohmann::json object,
                                                int64_t expected) = 0;
};

}  // namespace meridian::apimachinery
