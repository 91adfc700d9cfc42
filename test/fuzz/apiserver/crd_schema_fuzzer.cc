// libFuzzer target: a CustomResourceDefinition version's schema and a custom object
// (federation-apiserver/crd/structural_schema.h), as the server runs them on a CRD write and
// then on every write of its objects. The input is "SCHEMA\n---\nOBJECT", each parsed with
// ParseJson (OBJECT not an object: a fixed Widget is used). Checks, beyond "no crash / no
// sanitizer report":
//   - a schema ValidateStructuralSchema accepts compiles (no pattern is left to fail later);
//   - a strict prune changes nothing, and reports exactly what a prune removes;
//   - pruning is idempotent: a pruned object has nothing left to prune;
//   - every validation error names a message, and the results dump (valid UTF-8).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/json_parse.h"
#include "federation-apiserver/crd/structural_schema.h"

namespace {

using meridian::apiserver::crd::CustomResourceSchema;
using nlohmann::json;

void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\n---\n");
  json schema = meridian::ParseJson(input.substr(0, split));
  if (schema.is_discarded()) return 0;
  json object = split == std::string::npos ? json() : meridian::ParseJson(input.substr(split + 5));
  if (!object.is_object()) {
    object = {{"apiVersion", "example.com/v1"}, {"kind", "Widget"},
              {"metadata", {{"name", "w"}}}, {"spec", {{"size", "small"}, {"replicas", 3}}}};
  }
  meridian::FieldErrors problems;
  meridian::apiserver::crd::ValidateStructuralSchema(schema, "openAPIV3Schema", &problems);
  for (const meridian::FieldError& e : problems) {
    if (e.message.empty()) Fail("structural error without a message", e.path);
  }
  if (!problems.empty()) return 0;
  auto compiled = CustomResourceSchema::Compile(schema);
  if (!compiled.ok()) Fail("a structural schema does not compile", compiled.status().ToString());

  json strict = object;
  const std::vector<std::string> refused = (*compiled)->PruneUnknownFields(&strict, true);
  if (strict != object) Fail("a strict prune changed the object", strict.dump());
  json pruned = object;
  const std::vector<std::string> dropped = (*compiled)->PruneUnknownFields(&pruned, false);
  if (dropped != refused) Fail("strict and pruning disagree", pruned.dump());
  json again = pruned;
  if (!(*compiled)->PruneUnknownFields(&again, false).empty() || again != pruned) {
    Fail("pruning is not idempotent", pruned.dump());
  }
  for (const meridian::FieldError& e : (*compiled)->Validate(pruned)) {
    if (e.message.empty()) Fail("validation error without a message", e.path);
    (void)json(e.ToString()).dump();
  }
  return 0;
}
