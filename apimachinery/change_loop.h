// The worker of a level-triggered controller: one thread that runs a full pass whenever
// something changed since the last pass began (MarkDirty, usually from informer events), or
// when the last pass asked to be run again after a while (a recovery hold ending, a drill's
// next sample, a retry after an error). Changes that arrive during a pass coalesce into one
// more pass; a pass never runs concurrently with itself.
//
// The placement controller, the DNS controller and publisher and the drill controller each
// had this loop written out (mutex, condition variable, dirty and stopping flags, Stop);
// this is the one copy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace meridian::apimachinery {

class ChangeLoop {
 public:
  // What a pass returns: when to run again even if nothing changes; nullopt: only on a change.
  using Pass = std::function<std::optional<std::chrono::milliseconds>()>;

  explicit ChangeLoop(Pass pass);
  ~ChangeLoop();  // Stop()s
  ChangeLoop(const ChangeLoop&) = delete;
  ChangeLoop& operator=(const ChangeLoop&) = delete;

  // Starts the thread; the first pass runs at once, unless the caller has just done one
  // itself (`pass_at_once` false: the first pass waits for a change). Call once.
  void Start(bool pass_at_once = true);
  // Asks for a pass (now, or right after the one running). Cheap; any thread.
  void MarkDirty();
  // Waits for a running pass to end, then stops the thread. Idempotent; not from a pass.
  void Stop();

 private:
  void Run();

  Pass pass_;
  std::mutex mu_;  // guards dirty_, stopping_
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace meridian::apimachinery
