// fieldValidation for membersim's writes, as kube-apiserver >= 1.25 answers it on create,
// update and patch (?fieldValidation=Strict|Warn|Ignore):
//   Strict  400 BadRequest, "<Kind> in version \"<v>\" cannot be handled as a <Kind>: strict
//           decoding error: unknown field \"spec.replicaz\", duplicate field \"spec.replicas\""
//           and nothing is written;
//   Warn    (kube's default when absent) the write succeeds, with one warning per field in the
//           Warning header (`299 - "unknown field \"spec.replicaz\""`, comma-joined as
//           RFC 7234 allows, which client-go and kubectl split);
//   Ignore  the write succeeds silently.
// Unknown fields are judged against membersim's schemas (api/template_schema.h, the document
// it serves at /openapi/v2); a kind without one (the generic fallback) has duplicates checked
// only. Patches: a merge or strategic merge patch body is judged as the partial object it is;
// a JSON patch for duplicates only (its values are not located in the object). Unlike
// kube-apiserver, Warn and Ignore store unknown fields as sent (membersim has no typed decode
// that would drop them). Thread-safe (pure functions over static data).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace meridian::membersim {

enum class FieldValidation { kIgnore, kWarn, kStrict };

// "" (absent) is kWarn; other values than Strict, Warn and Ignore are kInvalidArgument with
// kube's wording.
StatusOr<FieldValidation> ParseFieldValidation(const std::string& value);

// The unknown and duplicate fields of a write's `body` to an object of (apiVersion, kind), in
// kube's wording and order of appearance: `unknown field "spec.replicaz"`,
// `duplicate field "spec.replicas"`. `json_patch`: the body is an RFC 6902 patch. A body that
// is not JSON yields nothing (the handler refuses it).
std::vector<std::string> FieldProblems(const std::string& body, const std::string& api_version,
                                       const std::string& kind, bool json_patch);

// The Strict refusal for `problems` (kInvalidArgument, answered as 400 BadRequest).
Status StrictDecodingError(const std::string& kind, const std::string& version,
                           const std::vector<std::string>& problems);

// The Warning header value for `problems` (`299 - "..."`, comma-joined).
std::string WarningHeader(const std::vector<std::string>& problems);

}  // namespace meridian::membersim
