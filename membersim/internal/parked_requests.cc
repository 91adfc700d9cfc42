#include "membersim/internal/parked_requests.h"

#include <pplx/pplxtasks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <vector>

namespace meridian::membersim::internal {

ParkedRequests::ParkedRequests() : work_(boost::asio::make_work_guard(io_)) {
  thread_ = std::thread([this] { io_.run(); });
}

ParkedRequests::~ParkedRequests() { Stop(); }

void ParkedRequests::RunOnPool(Continuation then, Wake wake) {
  pplx::create_task([then = std::move(then), wake] {
    try {
      then(wake);
    } catch (const std::exception& e) {
      spdlog::error("membersim: serving a parked request: {}", e.what());
    }
  });
}

void ParkedRequests::Park(const std::string& group, Duration delay, Continuation then) {
  std::unique_lock lock(post_mu_);
  if (stopping_) {
    lock.unlock();
    then(Wake::kStopped);
    return;
  }
  boost::asio::post(io_, [this, group, delay, then = std::move(then)]() mutable {
    if (stopped_) {
      then(Wake::kStopped);
      return;
    }
    const uint64_t id = next_id_++;
    Entry& e = parked_[id];
    e.group = group;
    e.then = std::move(then);
    e.timer = std::make_unique<boost::asio::steady_timer>(io_, delay);
    e.timer->async_wait([this, id](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: Release() or Stop() took it
      auto it = parked_.find(id);
      if (it == parked_.end()) return;
      Continuation c = std::move(it->second.then);
      parked_.erase(it);
      RunOnPool(std::move(c), Wake::kTimer);
    });
  });
}

void ParkedRequests::Release(const std::string& group) {
  // Posted after any earlier Park(): the io_context runs handlers in order.
  std::lock_guard lock(post_mu_);
  if (stopping_) return;  // Stop() woke everything
  boost::asio::post(io_, [this, group] {
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->second.group != group) {
        ++it;
        continue;
      }
      it->second.timer->cancel();
      RunOnPool(std::move(it->second.then), Wake::kReleased);
      it = parked_.erase(it);
    }
  });
}

void ParkedRequests::Stop() {
  {
    std::lock_guard lock(post_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  boost::asio::post(io_, [this] {
    stopped_ = true;
    for (auto& [id, e] : parked_) {
      e.timer->cancel();
      e.then(Wake::kStopped);
    }
    parked_.clear();
  });
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

}  // namespace meridian::membersim::internal
