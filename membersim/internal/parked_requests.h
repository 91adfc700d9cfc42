// ParkedRequests: requests that wait (a partition "hang", injected latency) without holding
// a thread. Each parked request is a steady_timer on one small io_context thread; when it
// wakes, its continuation runs on cpprestsdk's thread pool (which serves the request then).
// So a thousand hung requests to one cluster cost a thousand timers, not a thousand pool
// threads, and every other cluster keeps its threads.
//
// State lives on the io_context thread only (Park/Release post to it); Stop() wakes whatever
// is left with kStopped (on the timer thread, before Stop returns), so every request gets an answer
// before the HTTP listener closes.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"

namespace meridian::membersim::internal {

class ParkedRequests {
 public:
  enum class Wake {
    kTimer,     // its delay passed
    kReleased,  // Release() of its group
    kStopped,   // Stop(): answer now, the server is going away
  };
  using Continuation = std::function<void(Wake)>;

  ParkedRequests();   // starts the timer thread
  ~ParkedRequests();  // Stop()s
  ParkedRequests(const ParkedRequests&) = delete;
  ParkedRequests& operator=(const ParkedRequests&) = delete;

  // Parks a request under `group` ("" for none) until `delay` passes or the group is
  // released; `then` runs exactly once: on the thread pool, or with kStopped on the timer
  // thread during Stop() (inline when called after Stop()).
  void Park(const std::string& group, Duration delay, Continuation then);
  // Wakes every request parked under `group` (kReleased). Requests whose Park() was called
  // before Release() are woken, even if the timer thread has not seen them yet.
  void Release(const std::string& group);
  // Wakes everything left with kStopped and ends the timer thread; returns after both.
  // Idempotent; later Park() calls run `then(kStopped)` at once.
  void Stop();

 private:
  struct Entry {
    std::string group;
    std::unique_ptr<boost::asio::steady_timer> timer;
    Continuation then;
  };
  static void RunOnPool(Continuation then, Wake wake);

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::map<uint64_t, Entry> parked_;  // io_ thread only
  uint64_t next_id_ = 0;              // io_ thread only
  bool stopped_ = false;              // io_ thread only (then the caller of Stop, after join)
  // Orders posts against Stop(): nothing is posted after the stop handler.
  std::mutex post_mu_;
  bool stopping_ = false;  // guarded by post_mu_
  std::thread thread_;
};

}  // namespace meridian::membersim::internal
