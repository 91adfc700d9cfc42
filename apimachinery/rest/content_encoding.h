// Response compression for the REST layer, as kube-apiserver's APIResponseCompression does
// it: a response body of at least a threshold (kube-apiserver: 128 KiB) is sent gzip-encoded
// (zlib level 1, the fastest) when the request's Accept-Encoding allows gzip, with
// `Content-Encoding: gzip` and `Vary: Accept-Encoding`. client-go and kubectl ask for gzip by
// default; cpprestsdk (fedctl, the controller manager, membersim's clients) does not unless
// configured to, and then decodes it. Watch streams are never compressed here.
//
// Pure functions over bytes; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meridian::apimachinery::rest {

// Whether an Accept-Encoding header value allows gzip: "gzip", "x-gzip" or "*" listed without
// "q=0" (RFC 9110 12.5.3; "gzip;q=0" refuses it, as does an explicit "*;q=0" without gzip).
bool AcceptsGzip(std::string_view accept_encoding);

// gzip (RFC 1952) of `data` at zlib `level` (1 fastest .. 9 smallest). kInternal only when zlib
// itself fails (out of memory).
StatusOr<std::string> Gzip(std::string_view data, int level = 1);

// The bytes a gzip stream decodes to; kInvalidArgument for a stream that is not gzip or is
// truncated or corrupt, kResourceExhausted past `max_bytes` decoded (a small stream can decode
// to gigabytes). For clients and tests.
StatusOr<std::string> Gunzip(std::string_view data, size_t max_bytes = size_t{1} << 30);

}  // namespace meridian::apimachinery::rest
