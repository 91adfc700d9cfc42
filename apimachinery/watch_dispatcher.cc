#include "apimachinery/watch_dispatcher.h"

namespace meridian::apimachinery {

WatchDispatcher::WatchDispatcher() : thread_([this] { Run(); }) {}

WatchDispatcher::~WatchDispatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<WatchDispatcher> WatchDispatcher::Shared() {
  static auto* shared = new std::shared_ptr<WatchDispatcher>(std::make_shared<WatchDispatcher>());
  return *shared;
}

void WatchDispatcher::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(task));
    ++posted_;
  }
  cv_.notify_one();
}

void WatchDispatcher::Drain() {
  std::unique_lock lock(mu_);
  const uint64_t target = posted_;
  done_cv_.wait(lock, [&] { return done_ >= target; });
}

void WatchDispatcher::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and nothing left
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // release captures outside the lock, before counting the task done
    lock.lock();
    ++done_;
    done_cv_.notify_all();
  }
}

}  // namespace meridian::apimachinery
