#include "federation-apiserver/storage_compactor.h"

namespace meridian::apiserver {

StorageCompactor::StorageCompactor(apimachinery::CompactableStore& target,
                                   apimachinery::Store& store, std::chrono::milliseconds interval)
    : target_(target),
      store_(store),
      timer_("storage compaction", interval, [this] { return Tick(); }) {}

StorageCompactor::~StorageCompactor() { Stop(); }

void StorageCompactor::Start() { timer_.Start(); }

void StorageCompactor::Stop() { timer_.Stop(); }

Status StorageCompactor::Tick() {
  std::lock_guard lock(tick_mu_);
  const int64_t compact_to = previous_revision_;
  previous_revision_ = store_.CurrentResourceVersion();
  if (compact_to <= 0) return Status::Ok();
  return target_.CompactBefore(compact_to);
}

}  // namespace meridian::apiserver
