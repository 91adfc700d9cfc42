// Structured log lines: a message plus key=value fields, for spdlog. The fields travel inside
// the formatted payload behind a separator no message contains (0x1f, the ASCII unit
// separator), and the process's formatter (observability/logging.h) renders them as
// `msg key=value key="two words"` (text) or as members of the line's JSON object (json).
//
//   spdlog::info(LogFields("placement changed", {{"workload", key}, {"reason", why}}));
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace meridian {

inline constexpr char kLogFieldSeparator = '\x1f';

// `message` followed by each field as separator, key, '=', value. Keys should be plain
// identifiers; values may hold anything (the formatter quotes or escapes them).
inline std::string LogFields(
    std::string_view message,
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out(message);
  for (const auto& [key, value] : fields) {
    out += kLogFieldSeparator;
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

}  // namespace meridian
