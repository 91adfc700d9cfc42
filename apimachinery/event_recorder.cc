#include "apimachinery/event_recorder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "common/log_fields.h"

namespace meridian::apimachinery {

ResourceInfo EventResourceInfo() {
  ResourceInfo info;
  info.version = "v1";
  info.kind = "Event";
  info.plural = "events";
  info.singular = "event";
  info.short_names = {"ev"};
  info.namespaced = true;
  // kube-apiserver's event field labels (pkg/registry/core/event/strategy.go).
  info.field_labels = {"involvedObject.kind",
                       "involvedObject.namespace",
                       "involvedObject.name",
                       "involvedObject.uid",
                       "involvedObject.apiVersion",
                       "involvedObject.resourceVersion",
                       "involvedObject.fieldPath",
                       "reason",
                       "reportingComponent",
                       "source",
                       "type"};
  // kubectl's `get events` columns.
  info.printer_columns = {
      {"Last Seen", "date", ".lastTimestamp", "When the event last happened", "", 0},
      {"Type", "string", ".type", "Normal or Warning", "", 0},
      {"Reason", "string", ".reason", "Why, in one word", "", 0},
      {"Object", "string", ".involvedObject.name", "The object it is about", "", 0},
      {"Count", "integer", ".count", "How many times it happened", "", 1},
      {"Message", "string", ".message", "What happened", "", 0},
  };
  return info;
}

ObjectReference ReferenceTo(const nlohmann::json& object) {
  ObjectReference ref;
  auto str = [](const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!object.is_object()) return ref;
  ref.api_version = str(object, "apiVersion");
  ref.kind = str(object, "kind");
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object()) {
    ref.ns = str(*meta, "namespace");
    ref.name = str(*meta, "name");
    ref.uid = str(*meta, "uid");
    ref.resource_version = str(*meta, "resourceVersion");
  }
  return ref;
}

const char* EventTypeName(EventType type) {
  return type == EventType::kWarning ? "Warning" : "Normal";
}

namespace {

// Cuts at `max` bytes without splitting a UTF-8 sequence.
std::string Truncate(const std::string& message, size_t max) {
  if (message.size() <= max) return message;
  size_t cut = max >= 3 ? max - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut) + "...";
}

std::string InvolvedKey(const ObjectReference& o) {
  return o.kind + "\x1f" + o.ns + "\x1f" + o.name + "\x1f" + o.uid;
}

// <object name>.<hex>, like client-go (name + "." + UnixNano in hex), kept within 253 bytes.
std::string EventName(const std::string& object_name, uint64_t unique) {
  char hex[24];
  std::snprintf(hex, sizeof hex, ".%llx", static_cast<unsigned long long>(unique));
  std::string base = object_name.empty() ? "unnamed" : object_name;
  size_t room = 253 - std::string(hex).size();
  if (base.size() > room) base.resize(room);
  while (!base.empty() && (base.back() == '.' || base.back() == '-')) base.pop_back();
  return base + hex;
}

}  // namespace

EventRecorder::EventRecorder(ObjectService& objects, const Clock& clock,
                             EventRecorderOptions options)
    : objects_(objects),
      clock_(clock),
      options_(std::move(options)),
      events_(objects.registry().Find("", "v1", "events")),
      thread_([this] { Run(); }) {}

std::unique_ptr<EventRecorder> EventRecorder::IfServed(ObjectService& objects, const Clock& clock,
                                                       EventRecorderOptions options) {
  if (objects.registry().Find("", "v1", "events") == nullptr) return nullptr;
  return std::make_unique<EventRecorder>(objects, clock, std::move(options));
}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void EventRecorder::Record(const ObjectReference& object, EventType type, const std::string& reason,
                           const std::string& message) {
  Timestamp now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity ||
        !AllowedBySpamFilter(InvolvedKey(object), now)) {
      ++dropped_;
      return;
    }
    queue_.push_back({object, type, reason, Truncate(message, options_.max_message_bytes), now});
  }
  wake_.notify_one();
  // Every Event is also a log line at the default level (a Warning at warn), with its fields:
  // placement decisions, failovers and drills reach the log with their reason, even where
  // nobody reads the Events.
  const std::string key = object.ns.empty() ? object.name : object.ns + "/" + object.name;
  spdlog::log(type == EventType::kWarning ? spdlog::level::warn : spdlog::level::info,
              LogFields(message, {{"controller", options_.component},
                                  {"kind", object.kind},
                                  {"object", key},
                                  {"reason", reason}}));
}

bool EventRecorder::AllowedBySpamFilter(const std::string& object_key, Timestamp now) {
  if (options_.spam_burst <= 0) return true;
  // Bounded like the aggregation cache: when full, forget every bucket (they refill anyway).
  if (buckets_.size() >= options_.cache_size && !buckets_.count(object_key)) buckets_.clear();
  auto [it, inserted] = buckets_.try_emplace(object_key);
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = options_.spam_burst;
  } else if (options_.spam_refill_every.count() > 0 && now > b.last) {
    double refill = std::chrono::duration<double>(now - b.last) /
                    std::chrono::duration<double>(options_.spam_refill_every);
    b.tokens = std::min<double>(options_.spam_burst, b.tokens + refill);
  }
  b.last = std::max(b.last, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void EventRecorder::Flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

uint64_t EventRecorder::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

uint64_t EventRecorder::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void EventRecorder::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    Pending event = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Write(event);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

void EventRecorder::Remember(const std::string& key, Written written) {
  auto existing = written_.find(key);
  if (existing != written_.end()) {
    lru_.erase(existing->second.lru);
    written_.erase(existing);
  }
  lru_.push_front(key);
  written.lru = lru_.begin();
  written_.emplace(key, std::move(written));
  while (written_.size() > options_.cache_size && !lru_.empty()) {
    written_.erase(lru_.back());
    lru_.pop_back();
  }
}

void EventRecorder::Write(const Pending& e) {
  auto fail = [this] {
    std::lock_guard lock(mu_);
    ++failed_;
  };
  if (events_ == nullptr) return fail();

  const std::string ns = e.object.ns.empty() ? "default" : e.object.ns;
  const std::string key = InvolvedKey(e.object) + "\x1f" + EventTypeName(e.type) + "\x1f" +
                          e.reason + "\x1f" + e.message + "\x1f" + options_.component;
  const std::string now = FormatRfc3339(e.at);

  // A repeat: bump count and lastTimestamp of the Event already written.
  if (auto it = written_.find(key); it != written_.end()) {
    Written w = it->second;
    nlohmann::json patch = {{"count", w.count + 1}, {"lastTimestamp", now}};
    auto patched = objects_.Patch(*events_, w.ns, w.name, PatchType::kMergePatch, patch.dump());
    if (patched.ok()) {
      w.count += 1;
      Remember(key, std::move(w));
      return;
    }
    if (patched.error().code != 404) return fail();
    // Someone deleted it (TTL, a user): start a new one below.
  }

  nlohmann::json involved = {{"kind", e.object.kind}, {"name", e.object.name}};
  if (!e.object.api_version.empty()) involved["apiVersion"] = e.object.api_version;
  if (!e.object.ns.empty()) involved["namespace"] = e.object.ns;
  if (!e.object.uid.empty()) involved["uid"] = e.object.uid;
  if (!e.object.resource_version.empty()) {
    involved["resourceVersion"] = e.object.resource_version;
  }
  nlohmann::json source = {{"component", options_.component}};
  if (!options_.host.empty()) source["host"] = options_.host;

  const uint64_t nanos = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(e.at.time_since_epoch()).count());
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint64_t seq;
    {
      std::lock_guard lock(mu_);
      seq = sequence_++;
    }
    std::string name = EventName(e.object.name, nanos + seq);
    nlohmann::json body = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"name", name}, {"namespace", ns}}},
        {"involvedObject", involved},
        {"reason", e.reason},
        {"message", e.message},
        {"type", EventTypeName(e.type)},
        {"source", source},
        {"reportingComponent", options_.component},
        {"reportingInstance", options_.host},
        {"firstTimestamp", now},
        {"lastTimestamp", now},
        {"count", 1},
    };
    auto created = objects_.Create(*events_, ns, std::move(body));
    if (created.ok()) {
      Remember(key, Written{ns, name, 1, now, {}});
      return;
    }
    if (created.error().code != 409) return fail();
  }
  fail();
}

}  // namespace meridian::apimachinery
