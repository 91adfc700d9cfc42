// Lenient reads of a report the API returned (a FailoverDrill's status.report and the like), for
// fedctl's renderers: a missing field or one of another type reads as null / "" / the default,
// never an exception, so a report written by an older or newer server still renders.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace meridian::cli::report_json {

// j[key], or null when j is not an object or has no such key.
inline const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// j[key] as a string, "" otherwise.
inline std::string Str(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// j[key] as an integer, `def` otherwise.
inline int64_t Int(const nlohmann::json& j, const char* key, int64_t def = 0) {
  const nlohmann::json& v = Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}

}  // namespace meridian::cli::report_json
