// A small JSONPath subset, enough to point into a custom resource (a ResourceInterpreter's
// replicasPath, readyReplicasPath, statusAggregation: api/resource_interpreter.h):
//
//   .spec.replicas            dot-separated keys (letters, digits, '_', '-')
//   .spec.containers[0].name  [n]: a list element, n >= 0
//   .metadata['app.kubernetes.io/name'] or ["..."]: a key with any other characters
//   $.spec.replicas           an optional leading '$' (the document root)
//
// Everything else of JSONPath (wildcards, recursive descent '..', filters, slices, unions,
// negative indices, kubectl's {...} template braces) is refused with the position of the
// first character that is not understood, so a path either means exactly one place or is
// refused at admission. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meridian::api {

class JsonPath {
 public:
  // One step: a key of an object, or (index set) an element of a list.
  struct Step {
    std::string key;
    std::optional<size_t> index;
    friend bool operator==(const Step&, const Step&) = default;
  };

  // Errors (kInvalidArgument): "at position 6: '*' is not supported (...)" — positions count
  // from 0 in `text`; an empty path, or one of only '$', is refused too (it names no field).
  static StatusOr<JsonPath> Parse(std::string_view text);

  // The value at this path in `document`, or null when a step is missing (an absent key, an
  // index past the end, a key of a non-object). Never throws.
  const nlohmann::json* Find(const nlohmann::json& document) const;

  // Sets the value at this path, creating the missing objects on the way. Errors
  // (kInvalidArgument, naming the step): a step crosses a value that is not an object (for a
  // key) or not a list (for an index), or an index past the end of a list (lists are never
  // grown: there is nothing to fill the gap with).
  Status Set(nlohmann::json* document, nlohmann::json value) const;

  const std::vector<Step>& steps() const { return steps_; }
  // Canonical text: ".spec.replicas", ".metadata['a.b']", ".items[2]".
  std::string ToString() const;

  friend bool operator==(const JsonPath&, const JsonPath&) = default;

 private:
  std::vector<Step> steps_;
};

}  // namespace meridian::api
