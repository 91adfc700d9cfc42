#include "sync/internal/shared_strings.h"


namespace meridian::sync::internal {

std::shared_ptr<const std::string> SharedStrings::Intern(std::string_view content) {
  std::lock_guard lock(mu_);
  if (++since_sweep_ >= sweep_every_) {
    since_sweep_ = 0;
    std::erase_if(table_, [](const auto& entry) { return entry.second.expired(); });
  }
  auto it = table_.find(content);
  if (it != table_.end()) {
    if (std::shared_ptr<const std::string> held = it->second.lock()) return held;
  } else {
    it = table_.emplace(std::string(content), std::weak_ptr<const std::string>()).first;
  }
  auto fresh = std::make_shared<const std::string>(content);
  it->second = fresh;
  return fresh;
}

size_t SharedStrings::size() const {
  std::lock_guard lock(mu_);
  return table_.size();
}

}  // namespace meridian::sync::internal
