// libFuzzer target: label selectors (string form, apimachinery/labels.h ParseLabelSelector, and
// object form, DecodeLabelSelector) and field selectors (ObjectService::List with
// ?fieldSelector= on an in-memory store). The input is "LABEL SELECTOR\nFIELD SELECTOR\nJSON".
// Checks, beyond "no crash / no sanitizer report":
//   - a parsed string selector prints (ToString) to one that parses to the same selector,
//     and matches the same label sets;
//   - a decoded object selector encodes to one that decodes to the same selector;
//   - a list with any selector is 200 or 400 with a message (never another code).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apimachinery/labels.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"
#include "common/json_parse.h"

namespace {

using namespace meridian::apimachinery;
using nlohmann::json;

struct Fixture {
  Fixture() {
    ResourceInfo pods;
    pods.version = "v1";
    pods.kind = "Pod";
    pods.plural = "pods";
    pods.namespaced = true;
    pods.field_labels = {"status.phase", "spec.nodeName"};
    if (!registry.Add(NamespaceResourceInfo()).ok() || !registry.Add(pods).ok()) abort();
    service = std::make_unique<ObjectService>(store, clock, registry);
    const ResourceInfo* ns = registry.Find("", "v1", "namespaces");
    if (!service
             ->Create(
                 *ns, "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}})
             .ok()) {
      abort();
    }
    pod = registry.Find("", "v1", "pods");
    const char* phases[] = {"Running", "Pending", ""};
    for (int i = 0; i < 3; ++i) {
      json p = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata",
                 {{"name", "p" + std::to_string(i)},
                  {"labels", {{"app", i == 0 ? "web" : "db"}, {"tier", std::to_string(i)}}}}},
                {"spec", {{"nodeName", "n" + std::to_string(i % 2)}}},
                {"status", {{"phase", phases[i]}}}};
      if (!service->Create(*pod, "default", p).ok()) abort();
    }
  }
  meridian::FakeClock clock;
  MemoryStore store;
  ResourceRegistry registry;
  std::unique_ptr<ObjectService> service;
  const ResourceInfo* pod = nullptr;
};

const Labels kSamples[] = {{}, {{"app", "web"}}, {{"app", "db"}, {"tier", "1"}}, {{"tier", "x"}}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();  // read-only after setup
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t nl1 = text.find('\n');
  const std::string label_text = text.substr(0, nl1);
  const size_t nl2 = nl1 == std::string::npos ? std::string::npos : text.find('\n', nl1 + 1);
  const std::string field_text =
      nl1 == std::string::npos
          ? ""
          : text.substr(nl1 + 1, nl2 == std::string::npos ? nl2 : nl2 - nl1 - 1);
  const std::string object_text = nl2 == std::string::npos ? "" : text.substr(nl2 + 1);

  auto parsed = ParseLabelSelector(label_text);
  if (parsed.ok()) {
    const std::string printed = parsed->ToString();
    auto again = ParseLabelSelector(printed);
    if (!again.ok()) {
      fprintf(stderr, "printed selector %s does not parse: %s\n", printed.c_str(),
              again.status().message().c_str());
      abort();
    }
    for (const Labels& l : kSamples) {
      if (again->Matches(l) != parsed->Matches(l)) abort();
    }
  } else if (parsed.status().message().empty()) {
    abort();
  }

  json object = meridian::ParseJson(object_text);
  if (!object.is_discarded()) {
    meridian::FieldErrors errors;
    LabelSelector decoded = DecodeLabelSelector(object, &errors);
    if (errors.empty()) {
      meridian::FieldErrors again_errors;
      LabelSelector again = DecodeLabelSelector(EncodeLabelSelector(decoded), &again_errors);
      if (!again_errors.empty() || !(again == decoded)) {
        fprintf(stderr, "object selector does not round-trip: %s\n",
                EncodeLabelSelector(decoded).dump().c_str());
        abort();
      }
    }
  }

  ListRequest list;
  list.label_selector = label_text;
  list.field_selector = field_text;
  auto listed = fixture->service->List(*fixture->pod, "default", list);
  if (!listed.ok() && (listed.error().code != 400 || listed.error().message.empty())) {
    fprintf(stderr, "list answered %d: %s\n", listed.error().code, listed.error().message.c_str());
    abort();
  }
  return 0;
}
