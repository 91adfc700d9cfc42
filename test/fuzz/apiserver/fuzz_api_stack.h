// The federation-apiserver's request path in process, for the REST and invariant fuzzers:
// Meridian's six kinds and core v1 Namespaces registered as FederationApiServer registers
// them, core and Meridian admission (the same InstallFederationAdmission), an in-memory store
// and a RestHandler with no filters (anonymous, AlwaysAllow). No sockets, no threads of its
// own; "default" exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"

namespace meridian::fuzz {

class ApiStack {
 public:
  ApiStack();
  ~ApiStack();

  // Serves one request. A watch response's stream is started on a sink that takes a few
  // events and then reports the client gone, so it ends by itself; the handler's watches are
  // stopped before returning.
  apimachinery::rest::RestResponse Handle(apimachinery::rest::RestRequest request);

  apimachinery::ObjectService& objects() { return *objects_; }
  const apimachinery::ResourceRegistry& registry() const { return registry_; }
  // The registered Meridian kinds (group federation.meridian.io), in ServedKinds() order.
  const std::vector<const apimachinery::ResourceInfo*>& meridian_kinds() const { return kinds_; }

 private:
  FakeClock clock_;
  apimachinery::ResourceRegistry registry_;
  std::unique_ptr<apimachinery::MemoryStore> store_;
  std::unique_ptr<apimachinery::ObjectService> objects_;
  std::unique_ptr<apimachinery::rest::RestHandler> handler_;
  std::vector<const apimachinery::ResourceInfo*> kinds_;
};

// "METHOD PATH[?QUERY]\n(name: value\n)*\nBODY" -> a RestRequest (query split on & and =,
// header names lower-cased). Anything malformed still yields some request.
apimachinery::rest::RestRequest ParseRequestText(const std::string& text);

}  // namespace meridian::fuzz
