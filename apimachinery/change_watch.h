// Level-triggered controllers need one thing from a watch: "something of these kinds changed,
// look again". WatchForChanges starts those watches in one call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apimachinery/object_service.h"
#include "common/status.h"

namespace meridian::apimachinery {

struct WatchedKind {
  std::string group, version, plural;
  std::string label_selector;  // "" for every object of the kind
};

// Starts one cluster-wide watch per kind, from `resource_version` (so nothing written after
// the caller read that revision is missed), each calling `on_change` for every event. All or
// nothing: on an error the watches already started are stopped, and the error (Unavailable,
// or Internal for a kind the registry does not have) names `who` and the kind.
StatusOr<std::vector<std::unique_ptr<Watch>>> WatchForChanges(
    ObjectService& objects, const std::vector<WatchedKind>& kinds,
    const std::string& resource_version, const std::function<void()>& on_change,
    const std::string& who);

}  // namespace meridian::apimachinery
