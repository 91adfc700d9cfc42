#include "apimachinery/change_loop.h"

#include <utility>

namespace meridian::apimachinery {

ChangeLoop::ChangeLoop(Pass pass) : pass_(std::move(pass)) {}

ChangeLoop::~ChangeLoop() { Stop(); }

void ChangeLoop::Start(bool pass_at_once) {
  {
    std::lock_guard lock(mu_);
    dirty_ = dirty_ || pass_at_once;  // a change marked before Start is not lost
  }
  worker_ = std::thread([this] { Run(); });
}

void ChangeLoop::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void ChangeLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ChangeLoop::Run() {
  using SteadyClock = std::chrono::steady_clock;
  constexpr SteadyClock::time_point kNever = SteadyClock::time_point::max();
  SteadyClock::time_point again_at = kNever;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto ready = [&] { return stopping_ || dirty_; };
    if (again_at != kNever) {
      cv_.wait_until(lock, again_at, ready);
    } else {
      cv_.wait(lock, ready);
    }
    if (stopping_) return;
    dirty_ = false;
    lock.unlock();
    std::optional<std::chrono::milliseconds> again = pass_();
    lock.lock();
    again_at = again ? SteadyClock::now() + *again : kNever;
  }
}

}  // namespace meridian::apimachinery
