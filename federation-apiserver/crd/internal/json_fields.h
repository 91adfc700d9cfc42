// Reading fields of objects that may lack them (a CRD being validated, a stored one): absent
// or mistyped fields read as "" or null rather than throwing or inserting. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/json_fields.h"

namespace meridian::apiserver::crd::internal {

// o[key] when it is a string, else "".
inline std::string Str(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

// o[key], or null when `o` is not an object or has no such key.
using ::meridian::json_fields::Child;

}  // namespace meridian::apiserver::crd::internal
