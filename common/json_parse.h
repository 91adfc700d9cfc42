// ParseJson: the one way bytes from outside a Meridian process become JSON.
//
// nlohmann's parser is iterative, but much of what runs on a parsed document is not: the copy
// constructor, dump(), operator==, merge_patch, patch, the strategic merge, Subset and the
// decoders all recurse once per nesting level. A client that controls the nesting controls
// the stack depth of every thread that touches its object, so a 70,000-level template used to
// overflow the API server's stack. Every parse of client, member or file bytes goes through
// ParseJson, which refuses documents nested deeper than kMaxJsonDepth while parsing (no
// recursion, no second pass), and names the field where a problem is found: the depth limit,
// a number overflow ("1e400"), a bare NaN or invalid UTF-8.
//
// Documents built by code from parsed ones (a patched object) can be deeper than either
// input; CheckJsonDepth checks those, also without recursion.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace meridian {

// The deepest nesting (objects and arrays; `{}` is depth 1) any Meridian process accepts.
// Kubernetes' decoder allows 10,000; we allow 1,000 because the recursive functions that run
// on every object cost up to ≈ 680 B of stack per level (the strategic merge at -O2; nlohmann's
// copy and operator== ≈ 150 B at -O2, ≈ 1 KiB at -O0), so 1,000 levels stay under 1 MiB while
// 10,000 would come close to the 8 MiB thread stacks (cpprestsdk's and gRPC's threads take the
// process default, RLIMIT_STACK). Real objects are a few dozen levels deep. docs/design.md
// ("What bad input gets") states the same number.
inline constexpr int kMaxJsonDepth = 1000;

// Where and why a document was refused.
struct JsonParseError {
  std::string path;     // dotted field path ("spec.template.spec.containers[0]"); "" = the root
  std::string message;  // lower-case, no trailing period: "number overflow parsing '1e400'"
  size_t offset = 0;    // 0-based byte offset in the input of the offending byte

  // "spec.replicas: number overflow parsing '1e400' (at byte 31)"
  std::string ToString() const;
};

// Parses `text` as one JSON document (surrounding whitespace allowed) refusing nesting deeper
// than `max_depth`. On failure fills `*error` (if not null) and returns a discarded value
// (`is_discarded()`), like nlohmann's non-throwing parse. Messages never contain raw bytes of
// the input that are not printable ASCII (they are escaped as \xNN), so they are always safe
// to embed in a JSON error body. Thread-safe; no recursion.
nlohmann::json ParseJson(std::string_view text, JsonParseError* error = nullptr,
                         int max_depth = kMaxJsonDepth);

// The same as a StatusOr: kInvalidArgument with JsonParseError::ToString() as the message.
StatusOr<nlohmann::json> ParseJsonOr(std::string_view text, int max_depth = kMaxJsonDepth);

// True when `value` nests no deeper than `max_depth`; otherwise fills `*path` (if not null)
// with the dotted path of the first container found past the limit. Iterative.
bool CheckJsonDepth(const nlohmann::json& value, int max_depth = kMaxJsonDepth,
                    std::string* path = nullptr);

// A path for messages: paths longer than a few segments keep their first and last segments
// with the count left out between ("spec.template.a.a.a.a ... (994 more) ... .a.a").
std::string AbbreviateJsonPath(const std::string& path);

// The message for a document past the limit: "nesting depth exceeds the limit of 1000 at
// <path>". Shared so every refusal reads the same.
std::string JsonDepthMessage(int max_depth, const std::string& path);

}  // namespace meridian
