// RecordSource: where the DNS server reads the data it serves from.
//
// A source hands out immutable Snapshots (records.h). Publishing a new world is one atomic
// pointer swap, so an update reaches the very next answer, and readers never take a lock:
// server threads keep their own shared_ptr and compare a generation counter (one atomic load
// per query) to notice that a new snapshot was published.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "dns/records.h"

namespace meridian::dns {

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // The snapshot to answer from; never null. Thread-safe.
  virtual std::shared_ptr<const Snapshot> Current() const = 0;
  // Increases every time Current() would return a different snapshot. Thread-safe, lock-free;
  // cheap enough to call per query.
  virtual uint64_t Generation() const = 0;
};

// A RecordSource whose snapshot is replaced with Publish(): what the static zone loader (on
// reload) and the DNS controller (on every change) feed. Thread-safe.
class SwappableRecordSource final : public RecordSource {
 public:
  // Starts with `initial` (must not be null).
  explicit SwappableRecordSource(std::shared_ptr<const Snapshot> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const Snapshot> Current() const override {
    std::lock_guard lock(mu_);
    return current_;
  }
  uint64_t Generation() const override { return generation_.load(std::memory_order_acquire); }

  // Makes `next` (must not be null) what every following query is answered from.
  void Publish(std::shared_ptr<const Snapshot> next) {
    {
      std::lock_guard lock(mu_);
      current_.swap(next);
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
    // The old snapshot (now in `next`) is freed here, or by the last server thread using it.
  }

 private:
  // Guards current_. Taken only by Publish and by a server thread after the generation
  // changed (once per publish per thread), never on the steady-state query path.
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<uint64_t> generation_{1};
};

// A per-thread view of a RecordSource: Get() returns the current snapshot, reloading it only
// when the source's generation moved. Not thread-safe: one per server thread.
class SnapshotCache {
 public:
  explicit SnapshotCache(const RecordSource& source) : source_(source) {}
  const Snapshot& Get() {
    uint64_t g = source_.Generation();
    if (g != generation_ || !snapshot_) {
      // Read the generation before the pointer: at worst we reload once more next time.
      snapshot_ = source_.Current();
      generation_ = g;
    }
    return *snapshot_;
  }

 private:
  const RecordSource& source_;
  uint64_t generation_ = 0;
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace meridian::dns
