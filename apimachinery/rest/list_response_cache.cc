#include "apimachinery/rest/list_response_cache.h"

#include <utility>

#include "apimachinery/rest/content_encoding.h"

namespace meridian::apimachinery::rest {
namespace {

// gzip of a body, or null when zlib failed (the caller then sends the body as it is).
std::shared_ptr<const std::string> GzipOrNull(const std::string& body) {
  StatusOr<std::string> z = Gzip(body);
  return z.ok() ? std::make_shared<const std::string>(std::move(z).value()) : nullptr;
}

}  // namespace

bool ListResponseCache::BuiltFrom(const Entry& e, const SharedList& list) {
  if (e.items.size() != list.items.size()) return false;
  for (size_t i = 0; i < e.items.size(); ++i) {
    const std::shared_ptr<const std::string>& now = list.items[i].encoded;
    if (e.items[i].owner_before(now) || now.owner_before(e.items[i])) return false;
  }
  return e.metadata == list.metadata;
}

std::optional<ListBody> ListResponseCache::Find(const std::string& key, const SharedList& list,
                                                bool want_gzip) {
  std::shared_ptr<Entry> e;
  std::shared_ptr<const std::string> gzip;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    e = it->second;
    gzip = e->gzip;
    lru_.splice(lru_.begin(), lru_, e->lru);
  }
  // An entry's items and metadata never change once kept: compared without the lock.
  if (!BuiltFrom(*e, list)) return std::nullopt;
  if (want_gzip && !gzip) {
    gzip = GzipOrNull(*e->identity);  // outside the lock; a concurrent twin may do it too
    std::lock_guard lock(mu_);
    if (gzip && !e->gzip) {
      e->gzip = gzip;
      Charge(*e, gzip->size());
    }
  }
  return ListBody{e->identity, want_gzip ? gzip : nullptr};
}

ListBody ListResponseCache::Put(const std::string& key, const SharedList& list, std::string body,
                                bool want_gzip) {
  auto e = std::make_shared<Entry>();
  e->identity = std::make_shared<const std::string>(std::move(body));
  if (want_gzip) e->gzip = GzipOrNull(*e->identity);
  ListBody out{e->identity, e->gzip};
  for (const SharedObject& o : list.items) {
    if (!o.encoded) return out;  // not the watch cache's: identity cannot be checked
    e->items.push_back(o.encoded);
  }
  e->metadata = list.metadata;
  e->bytes = key.size() + e->identity->size() + (e->gzip ? e->gzip->size() : 0) +
             e->items.size() * sizeof(e->items[0]) + sizeof(Entry);
  if (e->bytes > options_.max_entry_bytes || e->bytes > options_.max_bytes) return out;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    bytes_ -= it->second->bytes;
    it->second->kept = false;
    lru_.erase(it->second->lru);
    entries_.erase(it);
  }
  lru_.push_front(key);
  e->lru = lru_.begin();
  e->kept = true;
  bytes_ += e->bytes;
  entries_.emplace(key, std::move(e));
  EvictLocked();
  return out;
}

void ListResponseCache::Charge(Entry& e, size_t more) {
  e.bytes += more;
  if (!e.kept) return;  // evicted or replaced meanwhile
  bytes_ += more;
  EvictLocked();
}

void ListResponseCache::EvictLocked() {
  while (bytes_ > options_.max_bytes && !lru_.empty()) {
    auto it = entries_.find(lru_.back());
    bytes_ -= it->second->bytes;
    it->second->kept = false;
    entries_.erase(it);
    lru_.pop_back();
  }
}

size_t ListResponseCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t ListResponseCache::entries() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace meridian::apimachinery::rest
