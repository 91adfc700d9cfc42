// libFuzzer target: YAML -> JSON (api/yaml.h ParseYamlDocuments, what fedctl apply reads) and
// back (JsonToYaml, fedctl get -o yaml). Checks, beyond "no crash / no sanitizer report":
//   - errors carry SOURCE:LINE:COLUMN;
//   - every document read renders to YAML that reads back as the same JSON value, unless it
//     holds a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF): yaml-cpp's emitter
//     writes U+FFFD for those whatever the style (see JsonToYaml in api/yaml.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/yaml.h"

namespace {

// Does this (valid) UTF-8 text hold a Unicode noncharacter?
bool HasNoncharacter(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return true;
    i += len;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = meridian::api::ParseYamlDocuments(text, "fuzz.yaml");
  if (!docs.ok()) {
    if (docs.status().message().rfind("fuzz.yaml:", 0) != 0) {
      fprintf(stderr, "error without its source: %s\n", docs.status().message().c_str());
      abort();
    }
    return 0;
  }
  for (const meridian::api::YamlDocument& doc : *docs) {
    if (doc.line < 1) abort();
    if (doc.value.is_null()) continue;  // an empty document, skipped when read back
    if (HasNoncharacter(doc.value.dump())) continue;
    const std::string yaml = meridian::api::JsonToYaml(doc.value);
    auto back = meridian::api::ParseYamlDocuments(yaml, "rendered.yaml");
    if (!back.ok() || back->size() != 1 || (*back)[0].value != doc.value) {
      fprintf(stderr, "does not round-trip:\n%s\nrendered:\n%s\n%s\n", doc.value.dump().c_str(),
              yaml.c_str(), back.ok() ? "" : back.status().message().c_str());
      abort();
    }
  }
  return 0;
}
