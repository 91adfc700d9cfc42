#include "apimachinery/watch_dispatcher.h"

namespace meridian::apimachinery {

WatchDispatcher::WatchDispatcher() : thread_([state = state_] { Run(state); }) {
  // Written before the constructor returns, so before any task can be posted or any caller
  // can ask OnDispatcherThread(); the thread itself never reads it.
  state_->thread_id = thread_.get_id();
}

WatchDispatcher::~WatchDispatcher() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (std::this_thread::get_id() == state_->thread_id) {
    thread_.detach();  // we are inside a task; the loop exits on its own after it
  } else {
    thread_.join();
  }
}

std::shared_ptr<WatchDispatcher> WatchDispatcher::Shared() {
  static auto* shared = new std::shared_ptr<WatchDispatcher>(std::make_shared<WatchDispatcher>());
  return *shared;
}

void WatchDispatcher::Post(std::function<void()> task) {
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(std::move(task));
    ++state_->posted;
  }
  state_->cv.notify_one();
}

void WatchDispatcher::Drain() {
  std::unique_lock lock(state_->mu);
  const uint64_t target = state_->posted;
  state_->done_cv.wait(lock, [&] { return state_->done >= target; });
}

void WatchDispatcher::Run(std::shared_ptr<State> state) {
  std::unique_lock lock(state->mu);
  for (;;) {
    state->cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
    if (state->queue.empty()) return;  // stopping and nothing left
    std::function<void()> task = std::move(state->queue.front());
    state->queue.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // release captures outside the lock (this may destroy the dispatcher)
    lock.lock();
    ++state->done;
    state->done_cv.notify_all();
  }
}

}  // namespace meridian::apimachinery
