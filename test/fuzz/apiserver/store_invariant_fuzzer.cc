// libFuzzer target, an invariant: the API never stores an object its own decoder refuses.
// The input's first byte picks one of Meridian's kinds and a write (create; create then
// update with the second part; create then merge patch with it), the rest is the JSON body
// (and after a line "---" the update body or patch). Writes go through the REST handler with
// admission; afterwards every stored Meridian object must pass api::ValidateObject.
#include <cstddef>
#include <cstdint>
#include <string>

#include "test/fuzz/apiserver/fuzz_api_checks.h"
#include "test/fuzz/apiserver/fuzz_api_stack.h"

namespace {

using meridian::apimachinery::rest::RestRequest;

std::string CollectionPath(const meridian::apimachinery::ResourceInfo& r) {
  return "/apis/" + r.group + "/" + r.version + (r.namespaced ? "/namespaces/default/" : "/") +
         r.plural;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  meridian::fuzz::ApiStack stack;
  const auto& kinds = stack.meridian_kinds();
  const meridian::apimachinery::ResourceInfo& kind = *kinds[data[0] % kinds.size()];
  const int write = (data[0] / kinds.size()) % 3;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t sep = rest.find("\n---\n");
  const std::string body = rest.substr(0, sep);
  const std::string second = sep == std::string::npos ? "" : rest.substr(sep + 5);

  RestRequest create;
  create.method = "POST";
  create.path = CollectionPath(kind);
  create.headers["content-type"] = "application/json";
  create.body = body;
  auto created = stack.Handle(create);
  meridian::fuzz::CheckResponse(created);
  if (created.code == 201 && write > 0) {
    nlohmann::json stored = nlohmann::json::parse(created.Body());
    RestRequest next;
    next.path = CollectionPath(kind) + "/" + stored["metadata"].value("name", "");
    next.headers["content-type"] = write == 1 ? "application/json" : "application/merge-patch+json";
    next.method = write == 1 ? "PUT" : "PATCH";
    next.body = second;
    meridian::fuzz::CheckResponse(stack.Handle(next));
  }
  meridian::fuzz::CheckStoredObjectsDecode(stack);
  return 0;
}
