// libFuzzer target: membersim's config file (membersim/config.h ParseConfig). Checks, beyond
// "no crash / no sanitizer report": errors name the source; a parsed config names every
// cluster, and Find() finds each by its name.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "membersim/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = meridian::membersim::ParseConfig(text, "sim.yaml");
  if (!config.ok()) {
    if (config.status().message().find("sim.yaml") == std::string::npos) {
      fprintf(stderr, "error without its source: %s\n", config.status().message().c_str());
      abort();
    }
    return 0;
  }
  for (const auto& cluster : config->clusters) {
    if (cluster.name.empty() || config->Find(cluster.name) == nullptr) abort();
  }
  return 0;
}
