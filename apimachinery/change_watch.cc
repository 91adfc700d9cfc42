#include "apimachinery/change_watch.h"

namespace meridian::apimachinery {

StatusOr<std::vector<std::unique_ptr<Watch>>> WatchForChanges(
    ObjectService& objects, const std::vector<WatchedKind>& kinds,
    const std::string& resource_version, const std::function<void()>& on_change,
    const std::string& who) {
  std::vector<std::unique_ptr<Watch>> watches;
  for (const WatchedKind& kind : kinds) {
    const ResourceInfo* info = objects.registry().Find(kind.group, kind.version, kind.plural);
    if (info == nullptr) {
      return InternalError(who + ": resource " + kind.plural + " is not registered");
    }
    ListRequest request;
    request.resource_version = resource_version;
    request.label_selector = kind.label_selector;
    auto watch =
        objects.StartWatch(*info, "", request, [on_change](const ObjectEvent&) { on_change(); });
    if (!watch.ok()) {
      return UnavailableError(who + ": watching " + kind.plural + ": " + watch.error().message);
    }
    watches.push_back(std::move(watch).value());
  }
  return watches;
}

}  // namespace meridian::apimachinery
