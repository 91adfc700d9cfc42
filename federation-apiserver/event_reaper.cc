#include "federation-apiserver/event_reaper.h"

#include <spdlog/spdlog.h>

namespace meridian::apiserver {

using nlohmann::json;

namespace {

const apimachinery::ResourceType kEvents{"", "events"};

std::optional<Timestamp> TimestampAt(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  Timestamp t;
  if (!ParseRfc3339(it->get<std::string>(), &t)) return std::nullopt;
  return t;
}

}  // namespace

std::optional<Timestamp> EventLastWritten(const json& event) {
  if (!event.is_object()) return std::nullopt;
  if (auto t = TimestampAt(event, "lastTimestamp")) return t;
  if (auto t = TimestampAt(event, "eventTime")) return t;
  auto meta = event.find("metadata");
  if (meta == event.end() || !meta->is_object()) return std::nullopt;
  return TimestampAt(*meta, "creationTimestamp");
}

EventReaper::EventReaper(apimachinery::Store& store, const Clock& clock, std::chrono::seconds ttl,
                         std::chrono::milliseconds interval)
    : store_(store),
      clock_(clock),
      ttl_(ttl),
      timer_("event TTL", interval, [this] { return Tick().status(); }) {}

EventReaper::~EventReaper() { Stop(); }

void EventReaper::Start() { timer_.Start(); }

void EventReaper::Stop() { timer_.Stop(); }

StatusOr<int> EventReaper::Tick() {
  std::lock_guard lock(tick_mu_);
  const Timestamp cutoff = clock_.Now() - ttl_;
  MERIDIAN_ASSIGN_OR_RETURN(apimachinery::ListResult events, store_.List(kEvents, {}));
  int deleted = 0;
  for (const json& event : events.items) {
    std::optional<Timestamp> written = EventLastWritten(event);
    if (!written || *written >= cutoff) continue;
    const json& meta = event["metadata"];
    const apimachinery::ObjectKey key{kEvents, meta.value("namespace", ""), meta.value("name", "")};
    StatusOr<int64_t> rv = apimachinery::ResourceVersionOf(event);
    if (!rv.ok()) continue;
    StatusOr<json> gone = store_.Delete(key, *rv);
    if (gone.ok()) {
      ++deleted;
    } else if (gone.status().code() != StatusCode::kNotFound &&
               gone.status().code() != StatusCode::kAborted) {
      spdlog::warn("event TTL: deleting {}: {}", key.ToString(), gone.status().message());
    }
  }
  if (deleted > 0)
    spdlog::debug("event TTL: deleted {} Events older than {}s", deleted, ttl_.count());
  return deleted;
}

}  // namespace meridian::apiserver
