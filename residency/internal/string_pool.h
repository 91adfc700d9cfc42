// One copy of each string that many records repeat (kinds, namespaces, label keys), shared by
// id and counted by use, so that a string goes with its last user: the residency audit holds
// every audited object of every member (1,000,000 at issue 14's scale), and a kind or a
// namespace spelled out in each of them was most of its memory.
//
// An id is valid from the Acquire that returned it until the matching Release; a released id
// is reused for the next new string. Not thread-safe: the owner (MemberAuditCache) locks.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace meridian::residency::internal {

class StringPool {
 public:
  using Id = uint32_t;

  StringPool() = default;
  StringPool(const StringPool&) = delete;  // index_ views entries_' own text
  StringPool& operator=(const StringPool&) = delete;

  // The id of `text`, counting one more use of it (adding it when new).
  Id Acquire(std::string_view text);
  // The id of `text` when held, without counting a use.
  std::optional<Id> Find(std::string_view text) const;
  // One use of `id` fewer; after its last one the string is forgotten and the id reused.
  // Releasing an id that is not held is a broken invariant: it aborts.
  void Release(Id id);
  // The string of a held id.
  const std::string& Get(Id id) const { return entries_[id].text; }
  // Distinct strings held.
  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    std::string text;
    uint32_t uses = 0;  // 0: free, listed in free_
  };
  std::deque<Entry> entries_;  // by id; a deque, so that a string never moves (index_ views it)
  std::vector<Id> free_;
  std::unordered_map<std::string_view, Id> index_;
};

}  // namespace meridian::residency::internal
