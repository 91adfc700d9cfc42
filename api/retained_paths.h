// FederatedWorkload spec.retainedPaths (issue 17): places in the member object whose value the
// member owns once the object exists. Meridian sets them from the template when it creates the
// object and never writes them afterwards: the member's value is kept, and a difference there
// is no reason to write.
//
// Syntax: a JSON pointer (RFC 6901) into the member object, "/spec/replicas",
// "/metadata/annotations/example.com~1owner" ("~1" is "/", "~0" is "~"), where a "*" token
// stands for every element of a list ("/spec/ports/*/nodePort"). Paths that name the object
// or Meridian's bookkeeping cannot be retained: /apiVersion, /kind, /metadata itself,
// /metadata/name, /metadata/namespace, /status..., and Meridian's own labels and annotations
// (keys starting with "federation.meridian.io/").
//
// Header-only, pure, thread-safe: used by admission (api/codec.cc) and the sync
// (sync/member_apply.h) alike.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::api {

// The most entries spec.retainedPaths may have.
inline constexpr size_t kMaxRetainedPaths = 64;

// Splits `path` into its unescaped tokens. Returns "" on success, else why it is not a valid
// retained path (the caller prefixes the field name), e.g. "must start with \"/\"".
inline std::string ParseRetainedPath(std::string_view path, std::vector<std::string>* tokens) {
  tokens->clear();
  if (path.empty() || path.front() != '/') return "must be a JSON pointer starting with \"/\"";
  size_t start = 1;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string_view raw = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (raw.empty()) return "has an empty segment";
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token.push_back(raw[i]);
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '0') {
        token.push_back('~');
      } else if (i + 1 < raw.size() && raw[i + 1] == '1') {
        token.push_back('/');
      } else {
        return "has \"~\" not followed by 0 or 1 (write \"~0\" for \"~\", \"~1\" for \"/\")";
      }
      ++i;
    }
    tokens->push_back(std::move(token));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const std::vector<std::string>& t = *tokens;
  if (t[0] == "apiVersion" || t[0] == "kind" || t[0] == "status") {
    return "cannot retain /" + t[0] +
           " (Meridian never writes status; apiVersion and kind name "
           "the object)";
  }
  if (t[0] == "metadata") {
    if (t.size() == 1 || (t[1] != "labels" && t[1] != "annotations")) {
      return "only metadata labels and annotations can be retained";
    }
    if (t.size() == 2) return "name one label or annotation, not all of them";
    if (t[2].rfind("federation.meridian.io/", 0) == 0) {
      return "cannot retain Meridian's own " + t[1] + " (" + t[2] + ")";
    }
  }
  return "";
}

}  // namespace meridian::api
