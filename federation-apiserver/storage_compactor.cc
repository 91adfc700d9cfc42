#include "federation-apiserver/storage_compactor.h"

#include <spdlog/spdlog.h>

namespace meridian::apiserver {

StorageCompactor::StorageCompactor(apimachinery::CompactableStore& target,
                                   apimachinery::Store& store, std::chrono::milliseconds interval)
    : target_(target), store_(store), interval_(interval) {}

StorageCompactor::~StorageCompactor() { Stop(); }

void StorageCompactor::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return stopping_; })) {
      lock.unlock();
      Status st = Tick();
      if (!st.ok()) spdlog::warn("storage compaction: {}", st.message());
      lock.lock();
    }
  });
}

void StorageCompactor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status StorageCompactor::Tick() {
  std::lock_guard lock(tick_mu_);
  const int64_t compact_to = previous_revision_;
  previous_revision_ = store_.CurrentResourceVersion();
  if (compact_to <= 0) return Status::Ok();
  return target_.CompactBefore(compact_to);
}

}  // namespace meridian::apiserver
