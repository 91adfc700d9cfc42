// SharedStrings: one immutable copy of each distinct string, shared by everyone who asks for
// the same content while any of them holds it (interning). The propagation controller's member
// cache keeps the last-applied record of each object it wrote through it: the 100 members a
// workload is placed on hold the same record (one per distinct rendered object), so a fleet of
// 1,000,000 member objects keeps ~10,000 records instead of 1,000,000 (~300 bytes each).
//
// A record nobody holds any more is forgotten at the next sweep (every `sweep_every` Interns):
// the table never keeps a string alive. Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace meridian::sync::internal {

class SharedStrings {
 public:
  explicit SharedStrings(size_t sweep_every = 4096) : sweep_every_(sweep_every) {}

  // The shared copy of `content` (made now if nobody holds one).
  std::shared_ptr<const std::string> Intern(std::string_view content);

  // Distinct strings in the table (held or not yet swept).
  size_t size() const;

 private:
  const size_t sweep_every_;
  mutable std::mutex mu_;
  struct Hash {
    using is_transparent = void;  // find by string_view: no key copy for a string already held
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::weak_ptr<const std::string>, Hash, std::equal_to<>> table_;
  size_t since_sweep_ = 0;
};

}  // namespace meridian::sync::internal
