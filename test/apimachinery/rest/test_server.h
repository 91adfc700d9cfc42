// A small Kubernetes-like API server for the REST tests: MemoryStore + registry (namespaces,
// configmaps, apps/v1 deployments with /status and printer columns) + ObjectService +
// RestHandler, optionally behind a real HttpServer on a free loopback port.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/http_server.h"
#include "apimachinery/rest/rest_handler.h"

namespace meridian::apimachinery::rest::testing {

inline ResourceInfo DeploymentsInfo() {
  ResourceInfo r;
  r.group = "apps";
  r.version = "v1";
  r.kind = "Deployment";
  r.plural = "deployments";
  r.short_names = {"deploy"};
  r.categories = {"all"};
  r.has_status = true;
  r.scale = ScaleSubresource{};
  r.printer_columns = {
      {"Ready", "string", ".status.readyReplicas", "", "", 0},
      {"Replicas", "integer", ".spec.replicas", "", "", 0},
      {"Age", "date", ".metadata.creationTimestamp", "", "", 0},
      {"Images", "string", ".spec.template.spec.containers[*].image", "", "", 1},
  };
  return r;
}

inline ResourceInfo ConfigMapsInfo() {
  ResourceInfo r;
  r.version = "v1";
  r.kind = "ConfigMap";
  r.plural = "configmaps";
  r.short_names = {"cm"};
  return r;
}

inline ResourceInfo CoreInfo(const std::string& kind, const std::string& plural,
                             std::vector<std::string> short_names, bool has_status) {
  ResourceInfo r;
  r.version = "v1";
  r.kind = kind;
  r.plural = plural;
  r.short_names = std::move(short_names);
  r.has_status = has_status;
  return r;
}

// A request as the transport would hand it to RestHandler::Handle.
inline RestRequest Req(const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr,
                       std::map<std::string, std::string> query = {},
                       std::map<std::string, std::string> headers = {}) {
  RestRequest r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  r.headers = std::move(headers);
  if (!body.is_null()) r.body = body.dump();
  return r;
}

struct TestServer {
  explicit TestServer(const Clock& clock, RestOptions options = {},
                      std::shared_ptr<WatchDispatcher> dispatcher = nullptr)
      : store(MemoryStoreOptions{.dispatcher = dispatcher}) {
    (void)registry.Add(NamespaceResourceInfo());
    (void)registry.Add(ConfigMapsInfo());
    (void)registry.Add(DeploymentsInfo());
    (void)registry.Add(CoreInfo("Pod", "pods", {"po"}, true));
    (void)registry.Add(CoreInfo("Service", "services", {"svc"}, true));
    (void)registry.Add(CoreInfo("Secret", "secrets", {}, false));
    service = std::make_unique<ObjectService>(store, clock, registry);
    for (const char* ns : {"default", "kube-system"}) {
      (void)service->Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", ns}}}});
    }
    handler = std::make_unique<RestHandler>(*service, clock, std::move(options));
  }

  MemoryStore store;
  ResourceRegistry registry;
  std::unique_ptr<ObjectService> service;
  std::unique_ptr<RestHandler> handler;
};

}  // namespace meridian::apimachinery::rest::testing
