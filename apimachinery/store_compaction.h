// Compaction of a store's revision history on demand, as kube-apiserver's compactor calls
// etcd's Compact every --etcd-compaction-interval.
//
// Every store already bounds its history by count (SqliteStoreOptions::history_events,
// EtcdStoreOptions::history_revisions). A count alone can keep a value in the history for a
// very long time on a quiet fleet, and some values must not stay: a Secret written before
// encryption at rest was turned on keeps its plaintext in the revision log after
// `fedctl admin rewrite-secrets` stored it encrypted. A time-based compaction
// (federation-apiserver/storage_compactor.h) bounds how long any old value stays readable.
// A separate interface, because not every Store has history worth compacting (the in-memory
// store's is small and volatile).
#pragma once

#include <cstdint>

#include "common/status.h"

namespace meridian::apimachinery {

class CompactableStore {
 public:
  virtual ~CompactableStore() = default;
  // Drops the history before `revision` (clamped to the current revision, which is kept):
  // a watch from an older revision answers 410 Gone afterwards, and the dropped values are
  // gone from the store's files too (SQLite: zeroed and checkpointed out of the WAL).
  // Compacting to a revision already compacted is a no-op. Thread-safe.
  virtual Status CompactBefore(int64_t revision) = 0;
};

}  // namespace meridian::apimachinery
