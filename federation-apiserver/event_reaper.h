// EventReaper: deletes core v1 Events once they have not been written for --event-ttl (1 h by
// default), as kube-apiserver does by storing each Event under an etcd lease of that length
// that every write renews. Without it Events pile up for as long as the federation runs: a
// 30-minute soak stored ~9,000 (member failures and heals, drills, placement changes), every
// one kept in the store, its history and the watch cache.
//
// An Event's last write is its lastTimestamp (EventRecorder bumps it with the count on each
// repeat), else its eventTime, else metadata.creationTimestamp; an Event with none of these is
// left alone. Each deletion is conditional on the resourceVersion that was judged, so an Event
// written again meanwhile stays. Time comes from the injectable Clock: Tick() is the whole
// sweep, the timer only calls it.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "apimachinery/store.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/periodic_task.h"

namespace meridian::apiserver {

// When `event` was last written, for its TTL; nullopt when it carries no usable timestamp.
std::optional<Timestamp> EventLastWritten(const nlohmann::json& event);

class EventReaper {
 public:
  // Sweeps `store` (which outlives this object) every `interval` once started.
  EventReaper(apimachinery::Store& store, const Clock& clock, std::chrono::seconds ttl,
              std::chrono::milliseconds interval = std::chrono::minutes(1));
  ~EventReaper();

  void Start();
  void Stop();

  // One sweep: deletes every Event last written more than `ttl` before now. Returns how many
  // it deleted; a failed list is the error, a failed deletion is logged and skipped.
  StatusOr<int> Tick();

 private:
  apimachinery::Store& store_;
  const Clock& clock_;
  const std::chrono::seconds ttl_;
  std::mutex tick_mu_;
  PeriodicTask timer_;  // last: stopped before the members its ticks use go
};

}  // namespace meridian::apiserver
