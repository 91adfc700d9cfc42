// Null-safe reads of parsed JSON (objects from members, which may lack any field or carry it
// with another type): a missing key or a wrong type reads as null / empty, never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meridian::json_fields {

// j[key] when j is an object that has it; else a null value.
inline const nlohmann::json& Child(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// The string, or "" for anything else.
inline std::string Str(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : std::string();
}

}  // namespace meridian::json_fields
