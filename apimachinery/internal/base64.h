// Base64url (RFC 4648 §5, no padding) for opaque tokens such as list continue keys, and
// standard padded base64 (RFC 4648 §4) for Secret data.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace meridian::apimachinery::internal {

std::string Base64UrlEncode(std::string_view data);
// Standard alphabet, padded: what Kubernetes stores in a Secret's `data`.
std::string Base64StdEncode(std::string_view data);
// Accepts padded or unpadded input in either the url or the standard alphabet.
// Returns false on any other character or an impossible length.
bool Base64UrlDecode(std::string_view text, std::string* out);

}  // namespace meridian::apimachinery::internal
