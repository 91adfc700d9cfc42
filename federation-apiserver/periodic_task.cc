#include "federation-apiserver/periodic_task.h"

#include <spdlog/spdlog.h>

namespace meridian::apiserver {

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval,
                           std::function<Status()> tick)
    : name_(std::move(name)), interval_(interval), tick_(std::move(tick)) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return stopping_; })) {
      lock.unlock();
      Status st = tick_();
      if (!st.ok()) spdlog::warn("{}: {}", name_, st.message());
      lock.lock();
    }
  });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace meridian::apiserver
