// Kubernetes resource quantities in their canonical form, as kube-apiserver stores them.
//
// A quantity ("0.5", "500m", "1.0", "1024Mi", "129e6", 2 as a JSON number) is parsed as
// k8s.io/apimachinery/pkg/api/resource.ParseQuantity does: an optional sign, a decimal number,
// then a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m "" k M G T P E) or a
// decimal exponent (e3, E-2). The value is kept exactly (no floating point), rounded up to
// nano units as the Go code does. The suffix picks the format the canonical text is written
// in (Quantity.String()):
//   - decimal SI ("0.5", "1.0", "2000", "1500m"): the value as an integer mantissa with the
//     largest SI suffix that keeps it whole: "500m", "1", "2k", "1500m";
//   - binary SI ("1024Mi", "1.5Gi"): the largest binary suffix that keeps it whole ("1Gi",
//     "1536Mi"); values below 1024 or not whole switch to decimal SI ("0.5Ki" -> "512");
//   - decimal exponent ("129e6", "1E3"): mantissa and an exponent that is a multiple of 3
//     ("129e6", "1e3").
// So `cpu: 0.5` and `cpu: 500m` both store as "500m", and Meridian compares in this form.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meridian {

// The canonical text of the quantity `text`. Errors: kInvalidArgument naming the text when it
// is not a quantity or its magnitude exceeds what Kubernetes can hold (about 9.2e18).
StatusOr<std::string> CanonicalQuantity(std::string_view text);

// The quantity in thousandths of a unit, rounded up in magnitude as Quantity.MilliValue()
// does ("0.5" -> 500, "100m" -> 100, "1Ki" -> 1024000). Errors as CanonicalQuantity, and
// kInvalidArgument when the result does not fit an int64.
StatusOr<int64_t> QuantityMilliValue(std::string_view text);

// The quantity in whole units, rounded up in magnitude as Quantity.Value() does ("1Gi" ->
// 1073741824, "1500m" -> 2). Errors as CanonicalQuantity.
StatusOr<int64_t> QuantityValue(std::string_view text);

}  // namespace meridian
