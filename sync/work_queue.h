// WorkQueue: a rate-limited queue of string keys for one controller worker, with the
// semantics of client-go's workqueue:
//   - a key is queued at most once (adding it again while it waits is a no-op, except that an
//     earlier due time wins);
//   - a key being processed (between Get and Done) is never handed out twice; adding it
//     meanwhile queues it again once Done is called;
//   - AddRateLimited delays a key by max(per-item exponential backoff, overall token bucket),
//     like DefaultControllerRateLimiter (ItemExponentialFailureRateLimiter + BucketRateLimiter);
//     Forget resets the key's backoff after a success.
// All due times come from the injected Clock, so backoff is tested by advancing a FakeClock
// and calling TryGet (no sleeping).
// With a metrics name it reports client-go's workqueue_* metrics under name=NAME
// (observability/metrics.h): depth, adds, retries (AddRateLimited), queue duration (due time
// to Get) and work duration (Get to Done), measured with the same clock.
//
// Thread-safety: every method is thread-safe. Get blocks; the others do not.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "observability/metrics.h"

namespace meridian::sync {

struct RateLimits {
  // Per item: base_delay * 2^(failures-1), capped at max_delay; reset by Forget.
  Duration base_delay{5};
  Duration max_delay{30'000};
  // Overall token bucket for rate-limited adds (retries) of the whole queue: `qps` tokens a
  // second, at most `burst` saved up. qps <= 0 disables the bucket.
  double qps = 50;
  int burst = 500;
};

// Per-item exponential backoff: a pure counter of failures per key. Not thread-safe.
class ItemBackoff {
 public:
  explicit ItemBackoff(RateLimits limits) : limits_(limits) {}
  // Records a failure of `key` and returns how long to wait before retrying it.
  Duration Next(const std::string& key);
  void Forget(const std::string& key) { failures_.erase(key); }
  int Failures(const std::string& key) const;

 private:
  RateLimits limits_;
  std::map<std::string, int> failures_;
};

// A token bucket (golang.org/x/time/rate semantics: reservations may go negative, so each
// caller is told how long to wait for its token). Not thread-safe.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, Timestamp now)
      : qps_(qps), burst_(burst), tokens_(burst), last_(now) {}
  // Takes a token and returns how long after `now` it is available (0 when one was saved).
  Duration Reserve(Timestamp now);

 private:
  double qps_;
  int burst_;
  double tokens_;
  Timestamp last_;
};

class WorkQueue {
 public:
  // `metrics_name` "": no metrics. Two queues should not share a name (depth is per name).
  WorkQueue(const Clock& clock, RateLimits limits, const std::string& metrics_name = "");
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Due now.
  void Add(const std::string& key);
  // Due after `delay` (an earlier due time already queued wins).
  void AddAfter(const std::string& key, Duration delay);
  // Due after max(the key's next backoff, the bucket's wait). Returns that delay.
  Duration AddRateLimited(const std::string& key);
  // Resets the key's backoff (call after it was processed successfully).
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // The key due earliest if it is due by clock.Now(), marked as processing; nullopt if none
  // is due (or after ShutDown).
  std::optional<std::string> TryGet();
  // Blocks until a key is due (then as TryGet) or ShutDown (nullopt). Waits in real time for
  // the next due time, re-reading the clock at least every `max_wait`.
  std::optional<std::string> Get(Duration max_wait = Duration(1000));
  // Ends the processing of `key` (required after every Get/TryGet that returned it).
  void Done(const std::string& key);
  // Wakes every Get, which then returns nullopt. Idempotent.
  void ShutDown();

  size_t Len() const;        // keys waiting (due or not), not counting those processing
  size_t DueNow() const;     // keys due at clock.Now()

 private:
  void AddLocked(const std::string& key, Timestamp due);  // mu_ held
  std::optional<std::string> PopDueLocked(Timestamp now);  // mu_ held

  const Clock& clock_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  ItemBackoff backoff_;
  TokenBucket bucket_;
  bool bucket_enabled_;
  std::map<std::string, Timestamp> waiting_;          // key -> due time
  std::set<std::pair<Timestamp, std::string>> by_due_;  // the same, ordered by due time
  std::map<std::string, Timestamp> processing_;         // key -> when Get handed it out
  std::map<std::string, Timestamp> readd_;  // added while processing: due time once Done
  bool shut_down_ = false;
  std::optional<observability::WorkQueueMetrics> metrics_;
};

}  // namespace meridian::sync
