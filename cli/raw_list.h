// A list response taken apart without parsing its items: each item's exact bytes as the server
// sent them, so `fedctl residency verify` can hash evidence entries over those bytes
// (residency::ChainVerifier::AddStored) instead of parsing every page into a JSON tree first.
//
// The federation-apiserver serves a list as nlohmann::json::dump() of the items it read back
// from the store (apimachinery/object_service.cc List, rest_handler.cc): each item's text is
// dump() of the stored object, which is byte-identical to the stored text wherever that text
// already is dump()'s canonical form (the evidence writer stores exactly that).
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace meridian::cli {

struct RawList {
  std::vector<std::string_view> items;  // each element of "items", exactly as sent (no padding)
  nlohmann::json metadata = nlohmann::json::object();  // the list's metadata, parsed
};

// Splits `body` (a JSON object with an "items" array) into its items' texts, which point into
// `body`. Only the structure is followed here (strings, nesting); the items themselves are not
// validated (their consumer parses them). nullopt when `body` is not an object this can follow
// (not JSON, "items" missing or not an array, a key written twice, nesting deeper than 512,
// metadata not an object): the caller then parses the whole body and says what is wrong.
std::optional<RawList> SplitListItems(std::string_view body);

}  // namespace meridian::cli
