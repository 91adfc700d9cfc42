// FieldError: one validation problem, located by its field path, so that a user sees
// "spec.placement.distribution.weights.eu-west: must be >= 0" rather than "invalid object".
// Validators collect every problem (not just the first) into a FieldErrors list.
#pragma once

#include <string>
#include <vector>

namespace meridian {

struct FieldError {
  std::string path;     // dotted path from the object root: "spec.placement.spread.minRegions"
  std::string message;  // what is wrong, lower-case, no trailing period: "must be >= 0"

  std::string ToString() const { return path.empty() ? message : path + ": " + message; }
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

using FieldErrors = std::vector<FieldError>;

// Joins a parent path and a child ("spec" + "replicas" -> "spec.replicas"; "" + "x" -> "x").
inline std::string JoinPath(const std::string& parent, const std::string& child) {
  if (parent.empty()) return child;
  if (child.empty()) return parent;
  if (child[0] == '[') return parent + child;
  return parent + "." + child;
}

// Prefixes every error's path with `prefix` (used when a sub-decoder's errors are embedded in
// a larger object: placement's "spread.minRegions" becomes "spec.placement.spread.minRegions").
inline void AppendWithPrefix(const std::string& prefix, const FieldErrors& from, FieldErrors* to) {
  for (const FieldError& e : from) to->push_back({JoinPath(prefix, e.path), e.message});
}

}  // namespace meridian
