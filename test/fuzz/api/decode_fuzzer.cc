// libFuzzer target: the strict decoder of every Meridian kind (api/codec.h, api/evidence.h)
// on any JSON.
// The input's first byte picks the kind; the rest is parsed with ParseJson (the API's own
// bounded parser). Checks, beyond "no crash / no sanitizer report":
//   - an error always names a field path and a message;
//   - what decodes cleanly encodes to a document that decodes cleanly again, and encoding
//     is canonical (encode(decode(encode(x))) == encode(x)).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <type_traits>

#include "api/codec.h"
#include "api/evidence.h"
#include "common/json_parse.h"

namespace {

using meridian::FieldErrors;
using nlohmann::json;

template <typename T>
void RoundTrip(const json& j, T (*decode)(const json&, FieldErrors*)) {
  FieldErrors errors;
  T decoded = decode(j, &errors);
  for (const meridian::FieldError& e : errors) {
    if (e.ToString().empty()) abort();
    (void)json(e.ToString()).dump();  // throws (and so fails) on invalid UTF-8
  }
  if (!errors.empty()) return;
  json encoded = meridian::api::Encode(decoded);
  FieldErrors again;
  T redecoded = decode(encoded, &again);
  if (!again.empty()) {
    fprintf(stderr, "re-decoding our own encoding fails: %s\n%s\n",
            again.front().ToString().c_str(), encoded.dump().c_str());
    abort();
  }
  if (meridian::api::Encode(redecoded) != encoded) {
    fprintf(stderr, "encoding is not canonical:\n%s\n%s\n", encoded.dump().c_str(),
            meridian::api::Encode(redecoded).dump().c_str());
    abort();
  }
  // ValidateObject dispatches on kind and must agree with the typed decoder.
  if constexpr (!std::is_same_v<T, meridian::api::ResidencyEvidence>) {
    if (!meridian::api::ValidateObject(encoded).empty()) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  json j = meridian::ParseJson(text);
  if (j.is_discarded()) return 0;
  switch (data[0] % 7) {
    case 0:
      RoundTrip(j, meridian::api::DecodeMemberCluster);
      break;
    case 1:
      RoundTrip(j, meridian::api::DecodeFederatedWorkload);
      break;
    case 2:
      RoundTrip(j, meridian::api::DecodeTopology);
      break;
    case 3:
      RoundTrip(j, meridian::api::DecodeResidencyPolicy);
      break;
    case 4:
      RoundTrip(j, meridian::api::DecodeFailoverDrill);
      break;
    case 5:
      RoundTrip(j, meridian::api::DecodeDnsRecordSet);
      break;
    case 6:
      RoundTrip(j, meridian::api::DecodeResidencyEvidence);
      break;
  }
  (void)meridian::api::ValidateObject(j);
  return 0;
}
