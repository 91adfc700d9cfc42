// WatchDispatcher: the thread on which in-memory stores deliver watch callbacks.
//
// A store must not run callbacks under its own lock (a callback may read the store), and
// membersim hosts ~1,000 stores in one process, so stores share one dispatcher instead of
// owning a thread each. Tasks run one at a time in the order they were posted; a store that
// posts its events in revision order (while holding its lock) therefore gets per-watch
// in-order delivery for free.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace meridian::apimachinery {

class WatchDispatcher {
 public:
  // Starts the dispatcher thread.
  WatchDispatcher();
  // Runs every task already posted, then joins the thread. When the last reference is
  // dropped by a task running on the dispatcher thread itself (a store's watcher released
  // inside a delivery), the thread is detached instead and finishes the queue on its own:
  // the loop owns its state through a shared_ptr, so nothing it touches is freed under it.
  ~WatchDispatcher();
  WatchDispatcher(const WatchDispatcher&) = delete;
  WatchDispatcher& operator=(const WatchDispatcher&) = delete;

  // The process-wide dispatcher used by stores that are not given one. Created on first use
  // and intentionally never destroyed (stores may outlive static destruction order).
  // Thread-safe.
  static std::shared_ptr<WatchDispatcher> Shared();

  // Queues `task` to run on the dispatcher thread after every task posted before it.
  // Never blocks on running tasks. Thread-safe; may be called from a task.
  void Post(std::function<void()> task);

  // True when called from the dispatcher thread (i.e. from inside a task). Thread-safe.
  bool OnDispatcherThread() const { return std::this_thread::get_id() == state_->thread_id; }

  // Blocks until every task posted before this call has run. Must not be called from the
  // dispatcher thread. Thread-safe; meant for tests and orderly shutdown.
  void Drain();

 private:
  // Everything the dispatcher thread touches, shared with it so it may outlive the object.
  struct State {
    std::mutex mu;  // guards queue, stopping, posted, done
    std::condition_variable cv;
    std::condition_variable done_cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    uint64_t posted = 0;  // tasks ever posted
    uint64_t done = 0;    // tasks ever finished
    std::thread::id thread_id;
  };
  static void Run(std::shared_ptr<State> state);

  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;  // last member: started after the state exists
};

}  // namespace meridian::apimachinery
