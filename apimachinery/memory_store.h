// MemoryStore: an in-memory Store (see apimachinery/store.h) for membersim's simulated member
// clusters and for tests.
//
// Built to be light, because membersim runs ~1,000 of them in one process:
//   - objects are kept serialized (compact JSON text) and parsed on read;
//   - watch callbacks run on a shared WatchDispatcher (no thread per store);
//   - history for watches is a bounded window of the last `history_limit` writes; a watch
//     from a revision older than the window answers kOutOfRange (410 Gone / "Expired").
// List continue tokens encode the last key returned and the revision of the first page.
// Pages after the first read the current state after that key (no MVCC snapshot), but
// report the first page's revision so a watch started from it sees every later change;
// a token whose revision fell out of the history window answers kOutOfRange, as etcd does.
//
// Thread-safety: all methods are thread-safe (one mutex per store). Watch callbacks run on
// the dispatcher thread, never under the store's lock; see store.h for Cancel semantics.
// Cancel() may also be called from inside the watch's own callback (it then only stops
// further deliveries).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "apimachinery/store.h"
#include "apimachinery/watch_dispatcher.h"

namespace meridian::apimachinery {

struct MemoryStoreOptions {
  // Writes kept for watch replay. Older history answers kOutOfRange.
  size_t history_limit = 10'000;
  // Where callbacks run; null means WatchDispatcher::Shared().
  std::shared_ptr<WatchDispatcher> dispatcher;
};

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(MemoryStoreOptions options = {});
  // Outstanding watches stop receiving events; their Watch objects stay safe to destroy.
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  StatusOr<nlohmann::json> Get(const ObjectKey& key) override;
  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override;
  StatusOr<nlohmann::json> Create(const ObjectKey& key, nlohmann::json object) override;
  StatusOr<nlohmann::json> Update(const ObjectKey& key, nlohmann::json object,
                                  int64_t expected_resource_version) override;
  StatusOr<nlohmann::json> Delete(const ObjectKey& key,
                                  int64_t expected_resource_version) override;
  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector,
                                             int64_t from_resource_version,
                                             WatchCallback callback) override;
  int64_t CurrentResourceVersion() override;
  StatusOr<int64_t> LastWriteRevision(const ResourceType& type) override;

  // Number of stored objects (all types). Thread-safe.
  size_t ObjectCount();
  // Approximate bytes held by stored objects and history (serialized sizes). Thread-safe.
  size_t ApproximateBytes();
  // The oldest revision a watch may start from (history before it was dropped). Thread-safe.
  int64_t CompactedResourceVersion();

  struct Watcher;  // internal; public so the implementation file can name it
  struct DeliveryProgress;  // internal, as Watcher

 private:
  using Blob = std::shared_ptr<const std::string>;  // serialized object, shared with history
  struct Record {
    Blob data;
    int64_t resource_version = 0;
  };
  using NameKey = std::pair<std::string, std::string>;  // (namespace, name)
  struct HistoryEntry {
    WatchEventType type;
    ObjectKey key;
    Blob object;  // after the write (kDeleted: last state at the deletion's revision)
    Blob prev;    // before the write (null for kAdded)
    int64_t resource_version;
  };

  // Records a write at revision_ (already bumped) and posts it to live watchers. Requires mu_.
  void RecordLocked(WatchEventType type, const ObjectKey& key, Blob object, Blob prev);
  void DropCancelledWatchersLocked();

  const MemoryStoreOptions options_;
  std::shared_ptr<WatchDispatcher> dispatcher_;
  const std::shared_ptr<DeliveryProgress> progress_;

  std::mutex mu_;  // guards everything below
  int64_t revision_ = 0;
  int64_t compacted_ = 0;  // events with revision <= compacted_ were dropped from history_
  std::map<ResourceType, std::map<NameKey, Record>> objects_;
  std::map<ResourceType, int64_t> last_write_;  // the revision of each type's newest write
  std::deque<HistoryEntry> history_;
  size_t history_bytes_ = 0;
  std::vector<std::shared_ptr<Watcher>> watchers_;
};

}  // namespace meridian::apimachinery
