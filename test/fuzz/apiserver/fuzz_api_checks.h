// Checks shared by the REST and invariant fuzzers (abort() on a violation, which libFuzzer
// reports as a crash with the input).
#pragma once

#include "apimachinery/rest/rest_handler.h"
#include "test/fuzz/apiserver/fuzz_api_stack.h"

namespace meridian::fuzz {

// A response a client can read: a known status code; a JSON body that parses (within the depth
// limit) and, for an error, is a Kubernetes Status whose code is the response's.
void CheckResponse(const apimachinery::rest::RestResponse& response);

// The invariant: every Meridian object the store holds is one its own strict decoder
// (api::ValidateObject) accepts. On a violation prints the object and the errors, then aborts.
void CheckStoredObjectsDecode(ApiStack& stack);

}  // namespace meridian::fuzz
