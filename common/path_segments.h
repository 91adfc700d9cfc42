// Splitting a URL path into its non-empty segments ("/apis/g/v1/x" -> apis, g, v1, x), the
// first step of every router here: the REST handler, the RBAC request-attribute reader and
// membersim's admin API. Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

namespace meridian {

// The segments of `path` between '/' separators; empty segments ("//", a leading or
// trailing '/') are dropped. No percent-decoding: callers route on the raw path.
inline std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace meridian
