#include "residency/internal/string_pool.h"

#include <cstdlib>

namespace meridian::residency::internal {

StringPool::Id StringPool::Acquire(std::string_view text) {
  if (auto it = index_.find(text); it != index_.end()) {
    ++entries_[it->second].uses;
    return it->second;
  }
  Id id;
  if (free_.empty()) {
    id = static_cast<Id>(entries_.size());
    entries_.emplace_back();
  } else {
    id = free_.back();
    free_.pop_back();
  }
  Entry& e = entries_[id];
  e.text.assign(text);
  e.uses = 1;
  index_.emplace(e.text, id);
  return id;
}

std::optional<StringPool::Id> StringPool::Find(std::string_view text) const {
  auto it = index_.find(text);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void StringPool::Release(Id id) {
  if (id >= entries_.size() || entries_[id].uses == 0) std::abort();  // a use never counted
  Entry& e = entries_[id];
  if (--e.uses > 0) return;
  index_.erase(e.text);
  e.text = std::string();  // frees its buffer
  free_.push_back(id);
}

}  // namespace meridian::residency::internal
