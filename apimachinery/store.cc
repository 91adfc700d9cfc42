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

std::shared_ptr<const nlohmann::json> DecodedObject(const SharedObject& o) {
  if (o.object || !o.encoded) return o.object;
  return std::make_shared<const nlohmann::json>(nlohmann::json::parse(*o.encoded));
}

StatusOr<SharedObject> Store::GetShared(const ObjectKey& key, bool any) {
  StatusOr<nlohmann::json> got = any ? GetAny(key) : Get(key);
  if (!got.ok()) return got.status();
  return SharedObject{std::make_shared<const nlohmann::json>(std::move(got).value()), nullptr};
}

StatusOr<SharedListResult> Store::ListShared(const ResourceType& type, const ListOptions& options) {
  StatusOr<ListResult> listed = List(type, options);
  if (!listed.ok()) return listed.status();
  SharedListResult out;
  out.items.reserve(listed->items.size());
  for (nlohmann::json& item : listed->items) {
    out.items.push_back(
        SharedObject{std::make_shared<const nlohmann::json>(std::move(item)), nullptr});
  }
  out.resource_version = listed->resource_version;
  out.continue_token = std::move(listed->continue_token);
  out.remaining_item_count = listed->remaining_item_count;
  return out;
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
