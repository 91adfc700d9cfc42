// ListResponseCache: the encoded bodies of recent LIST responses, and their gzip encodings, so
// that a LIST repeated while its collection is unchanged is answered without concatenating and
// compressing ~1,000 objects again (kube-apiserver re-encodes every LIST; with gzip, that is
// most of a LIST's CPU once the watch cache answers it).
//
// Exactly correct by construction, not by bookkeeping: the caller still authorizes and lists
// every request, and an entry is used only when that list is the one the entry was built from:
// the same item encodings, by identity, and the same list metadata (resourceVersion, continue,
// remainingItemCount). The watch cache (apimachinery/cacher.h) shares one immutable encoding per
// object state, so a changed, added or removed object is a different encoding. The entry keeps
// weak references to them, compared by owner (control block), which a weak reference keeps
// from being freed and reused: identity without holding the bytes, so a kept body does not pin
// the encodings of states the cache has since replaced (each up to tens of KB: a LIST page of
// 500 workloads placed on 100 members is ~10 MB, as much again in superseded encodings).
// A list with an item without a shared encoding (stores without the watch cache) is never kept.
//
// Bounded: at most `max_bytes` of bodies, gzip encodings and item pointers together, least
// recently used first out; a body over `max_entry_bytes` is not kept. Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "apimachinery/object_service.h"

namespace meridian::apimachinery::rest {

struct ListResponseCacheOptions {
  size_t max_bytes = 64 << 20;        // 0: keep nothing
  size_t max_entry_bytes = 16 << 20;  // larger bodies are answered, not kept
};

// One LIST response body, shared with the cache.
struct ListBody {
  std::shared_ptr<const std::string> identity;
  std::shared_ptr<const std::string> gzip;  // null unless asked for
};

class ListResponseCache {
 public:
  explicit ListResponseCache(ListResponseCacheOptions options = {}) : options_(options) {}
  ListResponseCache(const ListResponseCache&) = delete;
  ListResponseCache& operator=(const ListResponseCache&) = delete;

  // The body kept under `key` when it was built from exactly `list` (see above), with its gzip
  // encoding when `want_gzip` (compressed now, once, if the entry had none); else nullopt.
  std::optional<ListBody> Find(const std::string& key, const SharedList& list, bool want_gzip);

  // Keeps `body`, the encoding of `list`, under `key` (replacing what was there) when `list`
  // can be kept, and returns it (gzip-encoded too when `want_gzip`).
  ListBody Put(const std::string& key, const SharedList& list, std::string body, bool want_gzip);

  // What is kept now (tests, metrics).
  size_t bytes() const;
  size_t entries() const;

 private:
  struct Entry {
    std::vector<std::weak_ptr<const std::string>> items;  // the encodings it was built from
    nlohmann::json metadata;
    std::shared_ptr<const std::string> identity;
    std::shared_ptr<const std::string> gzip;  // guarded by mu_
    size_t bytes = 0;                         // guarded by mu_
    std::list<std::string>::iterator lru;     // guarded by mu_; valid while kept
    bool kept = false;                        // guarded by mu_
  };
  static bool BuiltFrom(const Entry& e, const SharedList& list);
  // Adds the gzip encoding to `e` if it is still kept (lock held).
  void Charge(Entry& e, size_t more);
  void EvictLocked();

  const ListResponseCacheOptions options_;
  mutable std::mutex mu_;  // guards entries_, lru_, bytes_ and each entry's gzip/bytes/lru
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;
  std::list<std::string> lru_;  // most recently used first
  size_t bytes_ = 0;
};

}  // namespace meridian::apimachinery::rest
