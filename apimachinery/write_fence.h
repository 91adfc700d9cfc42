// Fencing a leader's writes: a leader elected on a Lease (apimachinery/leader_election.h) that
// is paused (a stopped process, a long GC-like stall, a partition) past its lease can wake up
// after another candidate took over and still send the writes it had in hand. Timing alone
// (renew deadline < lease duration) cannot stop those; the store can.
//
// After winning the election and before starting its controllers, the leader raises the
// fence: it writes a key that only new leaders write and remembers that write's revision.
// From then on every write through this store also requires that the fence key is still at
// that revision, in the same transaction as the write's own compare-and-swap. When the next
// leader raises the fence, every later write of the old one is refused (kFailedPrecondition)
// and changes nothing. Writes of the old leader that landed before the new fence are ordered
// before everything the new leader's controllers do (they start after raising it).
//
// Only stores whose writes are transactions on shared storage can do this (EtcdStore); the
// embedded stores belong to one process, where there is no other leader to fence out.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace meridian::apimachinery {

class WriteFencedStore {
 public:
  virtual ~WriteFencedStore() = default;
  // Writes the fence `name` (e.g. the Lease's namespace/name) as `holder` and makes every
  // later write through this store conditional on it. Returns the fence's revision.
  // Thread-safe; raising it again (a later term of the same process) moves it.
  virtual StatusOr<int64_t> RaiseFence(const std::string& name, const std::string& holder) = 0;
};

}  // namespace meridian::apimachinery
