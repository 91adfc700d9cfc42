// PATCH bodies as a Kubernetes API server understands them. Pure functions; thread-safe.
//
// - JSON merge patch (RFC 7386, application/merge-patch+json): nlohmann::json::merge_patch.
// - JSON patch (RFC 6902, application/json-patch+json): our own, so that failures read as
//   kube-apiserver's (its json-patch library's words under a 422 "the server rejected our
//   request due to an error in our request"); at most 10,000 operations (413), copies may add
//   at most 256 Ki JSON values, and no value may land past the JSON depth limit (400).
// - Strategic merge patch (application/strategic-merge-patch+json, what kubectl sends for
//   built-in kinds): an approximation without Go struct tags. It is a merge patch, except:
//     * lists of objects under well-known fields merge by key instead of being replaced:
//       containers/initContainers/ephemeralContainers/volumes/env/imagePullSecrets/
//       volumeDevices/resourceClaims by `name`, volumeMounts by `mountPath`, conditions by
//       `type`, ownerReferences by `uid`, hostAliases by `ip`, ports by `containerPort` when
//       the items have one (container ports) else by `port` (service ports);
//     * `finalizers` merges as a set of strings;
//     * directives: `$patch: replace|delete|merge` on maps and list items,
//       `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (honoured for keyed
//       lists), `$retainKeys` (keys not listed are dropped).
//   Everything else (other lists) is replaced, as in a merge patch. For custom resources
//   (ResourceInfo::strategic_merge_patch false) ObjectService::Patch answers 415, as a real
//   server does.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "apimachinery/api_error.h"

namespace meridian::apimachinery {

enum class PatchType { kJsonPatch, kMergePatch, kStrategicMergePatch, kApplyPatch };

// Maps a Content-Type ("application/merge-patch+json; charset=utf-8") to a PatchType.
// kApplyPatch is server-side apply, which ApplyPatch() rejects as 415.
// Returns false for unknown types.
bool ParsePatchType(const std::string& content_type, PatchType* out);

// Applies `patch` (the raw request body) to `original`. Errors: 400 BadRequest for a body
// that is not valid JSON of the right shape, 422 Invalid when a JSON patch operation cannot
// be applied (missing path, failed test), 415 for server-side apply.
ApiResult<nlohmann::json> ApplyPatch(const nlohmann::json& original, PatchType type,
                                     const std::string& patch);

// The strategic merge described above, exposed for tests and embedders.
nlohmann::json StrategicMerge(const nlohmann::json& original, const nlohmann::json& patch);

}  // namespace meridian::apimachinery
