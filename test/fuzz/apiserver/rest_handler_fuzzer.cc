// libFuzzer target: the REST handler end to end in process (request bytes -> response) over
// Meridian's kinds, admission and an in-memory store; no sockets. An input is up to 8 requests
// separated by a line "---", each "METHOD PATH[?QUERY]", header lines, a blank line, the body
// (see ParseRequestText), so a create can be followed by patches, updates, lists and watches.
// Checks, beyond "no crash / no sanitizer report": every response is readable (a JSON body
// parses, errors are Status bodies with the response's code), and nothing the API stored is
// refused by its own strict decoder.
#include <cstddef>
#include <cstdint>
#include <string>

#include "test/fuzz/apiserver/fuzz_api_checks.h"
#include "test/fuzz/apiserver/fuzz_api_stack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  meridian::fuzz::ApiStack stack;
  size_t pos = 0;
  for (int i = 0; i < 8 && pos <= text.size(); ++i) {
    size_t sep = text.find("\n---\n", pos);
    std::string one = text.substr(pos, sep == std::string::npos ? std::string::npos : sep - pos);
    meridian::fuzz::CheckResponse(stack.Handle(meridian::fuzz::ParseRequestText(one)));
    if (sep == std::string::npos) break;
    pos = sep + 5;
  }
  meridian::fuzz::CheckStoredObjectsDecode(stack);
  return 0;
}
