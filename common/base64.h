// Base64url (RFC 4648 §5, no padding) for opaque tokens such as list continue keys, and
// standard padded base64 (RFC 4648 §4) for Secret data.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace meridian {

std::string Base64UrlEncode(std::string_view data);
// Standard alphabet, padded: what Kubernetes stores in a Secret's `data`.
std::string Base64StdEncode(std::string_view data);
// Accepts padded or unpadded input in either the url or the standard alphabet.
// Returns false on any other character or an impossible length.
bool Base64UrlDecode(std::string_view text, std::string* out);
// Strict standard (RFC 4648 §4) base64 with padding, as in Secrets and kubeconfigs;
// whitespace is ignored. nullopt on bad input.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace meridian
