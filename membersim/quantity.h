// Kubernetes resource quantities ("500m", "2", "1.5", "2Gi", "128974848", "129e6", "123Mi")
// as they appear in node allocatable and container requests.
//
// Follows k8s.io/apimachinery/pkg/api/resource: a signed decimal number followed by a binary
// suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent
// (e3, E-2). Values are converted exactly (no floating point) and rounded up, as
// Quantity.MilliValue()/Value() do.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meridian::membersim {

// The quantity in thousandths of a unit ("500m" -> 500, "2" -> 2000, "1Ki" -> 1024000).
// Errors: kInvalidArgument for malformed text, negative values or values that do not fit.
StatusOr<int64_t> ParseQuantityMilli(std::string_view text);

// The quantity in whole units, rounded up ("2Gi" -> 2147483648, "1500m" -> 2).
StatusOr<int64_t> ParseQuantity(std::string_view text);

// Canonical-ish text for a millicore count: "1500m", "2" (whole units print without suffix).
std::string FormatMilli(int64_t milli);

// Memory text for a byte count: exact binary suffix when divisible ("2Gi", "512Mi"), else bytes.
std::string FormatBytes(int64_t bytes);

}  // namespace meridian::membersim
