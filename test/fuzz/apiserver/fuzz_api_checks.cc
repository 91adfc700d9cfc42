#include "test/fuzz/apiserver/fuzz_api_checks.h"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/evidence.h"
#include "common/json_parse.h"

namespace meridian::fuzz {

void CheckResponse(const apimachinery::rest::RestResponse& response) {
  if (response.code < 100 || response.code > 599) abort();
  if (response.start_stream) return;  // the body is the stream
  if (response.content_type.rfind("application/json", 0) != 0) return;
  JsonParseError error;
  nlohmann::json body = ParseJson(response.Body(), &error);
  if (body.is_discarded()) {
    fprintf(stderr, "response %d is not JSON: %s\n", response.code, error.ToString().c_str());
    abort();
  }
  if (response.code >= 400) {
    if (!body.is_object() || body.value("kind", "") != "Status" ||
        body.value("code", 0) != response.code) {
      fprintf(stderr, "error response %d is not a Status: %s\n", response.code,
              response.Body().c_str());
      abort();
    }
  }
}

void CheckStoredObjectsDecode(ApiStack& stack) {
  for (const apimachinery::ResourceInfo* kind : stack.meridian_kinds()) {
    auto list = stack.objects().List(*kind, "", {});
    if (!list.ok()) abort();
    for (const nlohmann::json& item : list.value()["items"]) {
      // List items may lack apiVersion/kind (as in Kubernetes); the decoder wants them.
      nlohmann::json object = item;
      object["apiVersion"] = kind->group + "/" + kind->version;
      object["kind"] = kind->kind;
      // ValidateObject knows the six user-written kinds; ResidencyEvidence has its own decoder.
      FieldErrors errors;
      if (kind->kind == "ResidencyEvidence") {
        (void)api::DecodeResidencyEvidence(object, &errors);
      } else {
        errors = api::ValidateObject(object);
      }
      if (!errors.empty()) {
        fprintf(stderr, "stored %s refused by its decoder: %s\n%s\n", kind->kind.c_str(),
                errors.front().ToString().c_str(), object.dump(2).c_str());
        abort();
      }
    }
  }
}

}  // namespace meridian::fuzz
