// Verify's fast path over the stored text of a ResidencyEvidence object (residency/ledger.h,
// ChainVerifier::AddStored): finds spec.data in the text and tells whether its bytes already
// are its canonical form (what nlohmann::json::parse(bytes).dump() gives), so the entry can be
// hashed over those bytes without building data's JSON tree and serialising it again.
//
// Conservative by design: anything it is not sure of gives nullopt and the caller takes the
// full path (parse, strict decode, dump), so the fast path can only ever agree with it. It says
// nullopt for: text it cannot follow; "spec" or "data" keys written with escapes or more than
// once; data that is not an object; whitespace anywhere in data; object keys not in strictly
// increasing bytewise order or written with escapes; string escapes other than the ones dump
// writes (\" \\ \b \f \n \r \t, \u00xx lowercase for other control characters); any byte
// >= 0x80 (UTF-8 is not validated here); numbers that are not integers of at most 18 digits in
// their shortest form ("-0", "01", "1.0", "1e3" all fall back); nesting deeper than 256.
// The rest of the text (outside data) is not validated here: the caller parses it.
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace meridian::residency::internal {

// Where spec.data's value lies in the object's text: [begin, end).
struct DataSpan {
  size_t begin = 0;
  size_t end = 0;
};

// The span of spec.data in `object_text` when those bytes are canonical (see above).
std::optional<DataSpan> FindCanonicalData(std::string_view object_text);

}  // namespace meridian::residency::internal
