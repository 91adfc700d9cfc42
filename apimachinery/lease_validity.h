// Whether this process's lease is still valid by its own monotonic clock: the local half of
// fencing a paused leader (apimachinery/write_fence.h is the store's half).
//
// The etcd fence refuses a stale leader's store writes, but a controller also writes where
// no fence token can follow it (member clusters' APIs). A leader stopped by SIGSTOP or a
// long stall resumes with every thread at once; a controller mid-pass can send its next
// member write before the elector's next tick or watchdog notices the lease is gone. So each
// such write first asks LeaseValidity: the lease counts as held only while
//   start of the last successful renewal + renew_deadline > now
// on std::chrono::steady_clock, which keeps counting while the process is stopped (and does
// not jump with the wall clock). That is the instant the old leader itself gives up, and
// renew_deadline < lease_duration puts it before any standby may take over (the standby
// counts lease_duration from when it saw that renewal, which is no earlier than its start).
//
// What remains: a write checked just before a pause and sent just after it; member APIs
// take no fencing token, so only a store write (etcd fence) is closed against that.
#pragma once

#include <chrono>
#include <mutex>

#include "common/status.h"

namespace meridian::apimachinery {

// Pure: time is passed in, so tests drive it with made-up time points. Thread-safe.
class LeaseValidity {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LeaseValidity(std::chrono::milliseconds renew_deadline)
      : renew_deadline_(renew_deadline) {}

  // A renewal (or acquisition) that started at `attempt_started` succeeded. The start, not
  // the answer's arrival: the lease was granted no earlier than that.
  void Renewed(TimePoint attempt_started);
  // Leadership ended (deadline passed, lease taken, released): every later Check fails until
  // the next Renewed.
  void Lost();
  // OK while the lease is valid at `now`; kFailedPrecondition saying since when it is not (or
  // that it was never held / was lost).
  Status Check(TimePoint now) const;

 private:
  const std::chrono::milliseconds renew_deadline_;
  mutable std::mutex mu_;  // guards the two below
  bool held_ = false;
  TimePoint last_renew_started_{};
};

}  // namespace meridian::apimachinery
