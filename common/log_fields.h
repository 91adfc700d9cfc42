// Structured log lines: a message plus key=value fields, for spdlog. Each field travels inside
// the formatted payload behind " \x1f" (a space, then the ASCII unit separator no message
// contains): the process's formatter (observability/logging.h) renders them as
// `msg key=value key="two words"` (text) or as members of the line's JSON object (json), and
// a logger without that formatter (tests, tools) still prints a readable `msg key=value`.
//
//   spdlog::info(LogFields("placement changed", {{"workload", key}, {"reason", why}}));
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace meridian {

inline constexpr char kLogFieldSeparator = '\x1f';

// `message` followed by each field as " \x1f", key, '=', value. Keys should be plain
// identifiers; values may hold anything (the formatter quotes or escapes them).
inline std::string LogFields(
    std::string_view message,
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out(message);
  for (const auto& [key, value] : fields) {
    out += ' ';
    out += kLogFieldSeparator;
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

}  // namespace meridian
