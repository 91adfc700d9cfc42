// Clock: the one seam through which Meridian reads time, so that probes, grace periods,
// recovery delays, TTLs and backoff are tested by advancing a FakeClock instead of sleeping.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

namespace meridian {

using Timestamp = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock now. Thread-safe.
  virtual Timestamp Now() const = 0;
};

// The real system clock. Thread-safe; a process-wide instance is returned by RealClock().
class SystemClock final : public Clock {
 public:
  Timestamp Now() const override { return std::chrono::system_clock::now(); }
};
Clock& RealClock();

// A clock that moves only when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = Timestamp(std::chrono::seconds(1'700'000'000)))
      : now_(start) {}
  Timestamp Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  void Set(Timestamp t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;  // guards now_
  Timestamp now_;
};

// RFC 3339 in UTC with second precision, as Kubernetes writes timestamps
// ("2026-11-21T11:09:34Z").
std::string FormatRfc3339(Timestamp t);
// Parses RFC 3339 UTC ("...:34Z", "...:34.250Z"; a fraction is kept to the nanosecond). False
// on malformed input: '.' without digits, no trailing Z, a field out of range, year ∉ 1678-2261.
bool ParseRfc3339(const std::string& text, Timestamp* out);

}  // namespace meridian
