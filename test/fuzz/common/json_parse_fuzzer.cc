// ParseJson (common/json_parse.h), differentially against nlohmann's own parser: it never
// crashes, accepts exactly what nlohmann accepts within the depth limit (with the same
// value), never returns a document past the limit, and its messages are always valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nlohmann::json;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A small limit so the fuzzer reaches it with short inputs.
  constexpr int kDepth = 8;
  meridian::JsonParseError error;
  json ours = meridian::ParseJson(text, &error, kDepth);
  json theirs = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!ours.is_discarded()) {
    if (!meridian::CheckJsonDepth(ours, kDepth)) abort();
    if (theirs.is_discarded() || ours != theirs) abort();
    // What we accept round-trips through dump.
    if (meridian::ParseJson(ours.dump(), nullptr, kDepth) != ours) abort();
  } else {
    // Refused: either nlohmann refuses too, or the document is past the limit.
    if (!theirs.is_discarded() && meridian::CheckJsonDepth(theirs, kDepth)) abort();
    if (error.message.empty() || error.offset > size) abort();
    (void)json(error.ToString()).dump();  // throws (and so fails) on invalid UTF-8
  }
  return 0;
}
