// PeriodicTask: runs one function every interval on its own thread until stopped: the timer
// shell of the server's housekeeping (storage compaction, the Event TTL), whose work is a
// Tick() tests call directly (with a FakeClock where time matters) instead of waiting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace meridian::apiserver {

class PeriodicTask {
 public:
  // `tick` runs every `interval` (first after one interval); its error is logged as
  // "`name`: message" and the next tick runs as usual.
  PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<Status()> tick);
  ~PeriodicTask();  // stops

  void Start();  // idempotent
  void Stop();   // waits for a running tick; idempotent

 private:
  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<Status()> tick_;
  std::mutex mu_;  // guards stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace meridian::apiserver
