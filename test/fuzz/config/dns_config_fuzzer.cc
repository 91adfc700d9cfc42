// libFuzzer target: meridian-dns's static zone file (dns/static_zone.h ParseStaticZone) and the
// client-regions file (ParseClientRegions, federation-apiserver --dns-client-regions); the
// input's first byte picks the parser. Checks, beyond "no crash / no sanitizer report": errors
// name the file; a parsed table has a region for every CIDR.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dns/static_zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  meridian::Status status;
  if (data[0] % 2 == 0) {
    auto zone = meridian::dns::ParseStaticZone(text, "zone.yaml");
    if (zone.ok() && *zone == nullptr) abort();
    status = zone.status();
  } else {
    auto table = meridian::dns::ParseClientRegions(text, "regions.yaml");
    if (table.ok()) {
      for (const auto& entry : table->client_regions) {
        if (entry.region.empty()) abort();
      }
    }
    status = table.status();
  }
  if (!status.ok() && status.message().find(".yaml") == std::string::npos) {
    fprintf(stderr, "error without its file: %s\n", status.message().c_str());
    abort();
  }
  return 0;
}
