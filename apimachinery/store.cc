#include "apimachinery/store.h"

#include <charconv>

namespace meridian::apimachinery {

const char* WatchEventTypeName(WatchEventType t) {
  switch (t) {
    case WatchEventType::kAdded: return "ADDED";
    case WatchEventType::kModified: return "MODIFIED";
    case WatchEventType::kDeleted: return "DELETED";
  }
  return "MODIFIED";
}

StatusOr<int64_t> ResourceVersionOf(const nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return int64_t{0};
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || rv->is_null()) return int64_t{0};
  if (!rv->is_string()) {
    return InvalidArgumentError("metadata.resourceVersion: must be a string");
  }
  const std::string& s = rv->get_ref<const std::string&>();
  if (s.empty()) return int64_t{0};
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value < 0) {
    return InvalidArgumentError("metadata.resourceVersion: \"" + s + "\" is not a valid resource version");
  }
  return value;
}

}  // namespace meridian::apimachinery
