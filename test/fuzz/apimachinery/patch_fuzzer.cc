// libFuzzer target: JSON Patch, JSON merge patch and strategic merge patch
// (apimachinery/patch.h ApplyPatch), as PATCH requests run them on a stored object. The input's
// first byte picks the type; the rest is "ORIGINAL\n---\nPATCH" (ORIGINAL parsed with ParseJson;
// not an object: a fixed Deployment-like object is used). Checks, beyond "no crash / no
// sanitizer report":
//   - errors are 400, 415 or 422 with a message, never an exception;
//   - a result is an object that dumps (valid UTF-8) and stays within the depth limit;
//   - a merge patch is idempotent (RFC 7386): applying it again changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "apimachinery/patch.h"
#include "common/json_parse.h"

namespace {

using meridian::apimachinery::PatchType;
using nlohmann::json;

const json& DefaultOriginal() {
  static const json kObject = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [
      {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
       "env": [{"name": "A", "value": "1"}]}]}}}})");
  return kObject;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const PatchType kTypes[] = {PatchType::kJsonPatch, PatchType::kMergePatch,
                                     PatchType::kStrategicMergePatch, PatchType::kApplyPatch};
  const PatchType type = kTypes[data[0] % 4];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t sep = rest.find("\n---\n");
  json original = sep == std::string::npos ? json() : meridian::ParseJson(rest.substr(0, sep));
  if (!original.is_object()) original = DefaultOriginal();
  const std::string patch = sep == std::string::npos ? rest : rest.substr(sep + 5);

  auto result = meridian::apimachinery::ApplyPatch(original, type, patch);
  if (!result.ok()) {
    const int code = result.error().code;
    if ((code != 400 && code != 415 && code != 422) || result.error().message.empty()) {
      fprintf(stderr, "unexpected error %d: %s\n", code, result.error().message.c_str());
      abort();
    }
    (void)json(result.error().message).dump();  // throws (and so fails) on invalid UTF-8
    return 0;
  }
  const json& patched = result.value();
  (void)patched.dump();
  if (!meridian::CheckJsonDepth(patched, meridian::kMaxJsonDepth)) {
    fprintf(stderr, "patched object past the depth limit\n");
    abort();
  }
  if (type == PatchType::kMergePatch) {
    auto again = meridian::apimachinery::ApplyPatch(patched, type, patch);
    if (!again.ok() || again.value() != patched) {
      fprintf(stderr, "merge patch is not idempotent\n");
      abort();
    }
  }
  return 0;
}
