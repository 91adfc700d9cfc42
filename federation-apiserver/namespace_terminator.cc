#include "federation-apiserver/namespace_terminator.h"

#include <spdlog/spdlog.h>

namespace meridian::apiserver {

using nlohmann::json;

NamespaceTerminator::NamespaceTerminator(apimachinery::ObjectService& objects,
                                         std::chrono::milliseconds interval)
    : objects_(objects),
      timer_("namespace termination", interval, [this] { return Tick().status(); }) {}

NamespaceTerminator::~NamespaceTerminator() { Stop(); }

void NamespaceTerminator::Start() { timer_.Start(); }

void NamespaceTerminator::Stop() { timer_.Stop(); }

StatusOr<int> NamespaceTerminator::Tick() {
  std::lock_guard lock(tick_mu_);
  const apimachinery::ResourceType namespaces{"", "namespaces"};
  MERIDIAN_ASSIGN_OR_RETURN(apimachinery::ListResult listed, objects_.store().List(namespaces, {}));
  int removed = 0;
  for (const json& ns : listed.items) {
    const json& meta = ns["metadata"];
    if (meta.value("deletionTimestamp", "").empty()) continue;
    const std::string name = meta.value("name", "");
    StatusOr<bool> gone = objects_.ResumeNamespaceDeletion(name);
    if (!gone.ok()) {
      spdlog::warn("namespace termination: {}: {}", name, gone.status().message());
    } else if (*gone) {
      ++removed;
    }
  }
  if (removed > 0) spdlog::info("namespace termination: removed {} namespaces", removed);
  return removed;
}

}  // namespace meridian::apiserver
