// libFuzzer target: the static token file (federation-apiserver --token-auth-file, CSV
// token,user,uid[,"g1,g2"]; request_filters.h ParseTokenFile). Checks, beyond "no crash / no
// sanitizer report": errors name the source and line; every token read is non-empty and
// belongs to a named user.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "federation-apiserver/request_filters.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tokens = meridian::apiserver::ParseTokenFile(text, "tokens.csv");
  if (!tokens.ok()) {
    if (tokens.status().message().find("tokens.csv") == std::string::npos) {
      fprintf(stderr, "error without its source: %s\n", tokens.status().message().c_str());
      abort();
    }
    return 0;
  }
  for (const auto& [token, user] : *tokens) {
    if (token.empty() || user.name.empty()) abort();
  }
  return 0;
}
