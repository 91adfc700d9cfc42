#include "apimachinery/memory_store.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <utility>

#include "apimachinery/write_precondition.h"
#include "common/base64.h"

namespace meridian::apimachinery {

using nlohmann::json;

// How far the store's posted deliveries have run, shared by the store, the tasks it posts and
// its watches (either may outlive the other). The store's writes, and the tasks it posts for
// them, are in revision order, and the dispatcher runs tasks in order: once every posted task
// has run, every write so far has been delivered to whichever watch selects it; while some are
// pending, every write at or below the newest finished one has.
struct MemoryStore::DeliveryProgress {
  std::mutex mu;  // guards everything below (a leaf lock: nothing is called under it)
  int64_t revision = 0;   // the store's newest write
  int64_t posted = 0;     // the revision of the newest write posted to the dispatcher
  int64_t delivered = 0;  // the revision of the newest posted write whose task has run

  int64_t DeliveredThrough() {
    std::lock_guard lock(mu);
    return delivered == posted ? revision : delivered;
  }
};

struct MemoryStore::Watcher {
  ResourceType type;
  std::string ns;
  LabelSelector selector;
  std::shared_ptr<WatchDispatcher> dispatcher;
  std::shared_ptr<DeliveryProgress> progress;
  int64_t from = 0;                 // the revision it started after
  std::atomic<bool> replayed{true};  // false until its replay of history has run

  std::atomic<bool> cancelled{false};
  std::mutex mu;  // held while `callback` runs, so Cancel can wait for it to return
  WatchCallback callback;

  bool Wants(const ObjectKey& key) const {
    return key.type == type && (ns.empty() || key.ns == ns);
  }

  void Deliver(const WatchEvent& ev) {
    if (cancelled.load()) return;
    std::lock_guard lock(mu);
    if (cancelled.load() || !callback) return;
    callback(ev);
  }
};

namespace {

class MemoryWatch final : public Watch {
 public:
  explicit MemoryWatch(std::shared_ptr<MemoryStore::Watcher> w) : w_(std::move(w)) {}
  ~MemoryWatch() override { Cancel(); }

  int64_t DeliveredThrough() const override {
    // Until its replay has run this watch has been given nothing after where it started.
    if (!w_->replayed.load()) return w_->from;
    return std::max(w_->from, w_->progress->DeliveredThrough());
  }

  void Cancel() override {
    w_->cancelled.store(true);
    // Callbacks run only on the single dispatcher thread, so from that thread no callback of
    // this watch can be running except (at most) the caller itself: nothing to wait for.
    if (w_->dispatcher->OnDispatcherThread()) return;
    std::lock_guard lock(w_->mu);  // waits for an in-flight callback
    w_->callback = nullptr;         // drops the callback's captures now
  }

 private:
  std::shared_ptr<MemoryStore::Watcher> w_;
};

// A parsed view of one history entry, shared by every watcher it is delivered to.
struct ParsedEntry {
  WatchEventType type;
  ObjectKey key;
  std::shared_ptr<const json> object;
  std::shared_ptr<const json> prev;  // parsed only if some watcher has a selector
  int64_t resource_version;
};

bool SelectorMatches(const LabelSelector& selector, const json* object) {
  if (selector.Empty()) return true;
  return object != nullptr && selector.Matches(LabelsOf(*object));
}

// Delivers one entry to one watcher, translating label-selector transitions the way
// Kubernetes does: an object that stops matching is DELETED for that watcher, one that
// starts matching is ADDED.
void DeliverEntry(MemoryStore::Watcher& w, const ParsedEntry& e) {
  WatchEvent ev{e.type, e.key, e.object, e.resource_version};
  const bool now = SelectorMatches(w.selector, e.object.get());
  if (e.type == WatchEventType::kModified && !w.selector.Empty()) {
    const bool before = SelectorMatches(w.selector, e.prev.get());
    if (!before && !now) return;
    if (before && !now) ev.type = WatchEventType::kDeleted;
    if (!before && now) ev.type = WatchEventType::kAdded;
  } else if (!now) {
    return;
  }
  w.Deliver(ev);
}

std::string EncodeContinue(int64_t rv, const std::string& ns, const std::string& name) {
  json token = {{"rv", rv}, {"ns", ns}, {"name", name}};
  return Base64UrlEncode(token.dump());
}

Status DecodeContinue(const std::string& text, int64_t* rv, std::string* ns, std::string* name) {
  std::string raw;
  if (!Base64UrlDecode(text, &raw)) {
    return InvalidArgumentError("continue key is not valid: illegal base64 data");
  }
  json token = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!token.is_object() || !token.contains("rv") || !token["rv"].is_number_integer() ||
      !token.contains("ns") || !token["ns"].is_string() || !token.contains("name") ||
      !token["name"].is_string()) {
    return InvalidArgumentError("continue key is not valid: malformed token");
  }
  *rv = token["rv"].get<int64_t>();
  *ns = token["ns"].get<std::string>();
  *name = token["name"].get<std::string>();
  if (*rv <= 0) return InvalidArgumentError("continue key is not valid: bad resource version");
  return Status::Ok();
}

// Compact JSON; invalid UTF-8 in strings is replaced rather than thrown on.
std::string Serialize(const json& object) {
  return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status SetResourceVersion(json& object, int64_t rv) {
  if (!object.is_object()) return InvalidArgumentError("object must be a JSON object");
  json& meta = object["metadata"];
  if (meta.is_null()) meta = json::object();
  if (!meta.is_object()) return InvalidArgumentError("metadata must be a JSON object");
  meta["resourceVersion"] = std::to_string(rv);
  return Status::Ok();
}

// The write precondition of this thread (write_precondition.h), checked on `objects` (the
// store's map, under its lock): OK when there is none or it holds.
template <typename Objects>
Status CheckPreconditionLocked(const Objects& objects) {
  std::shared_ptr<const WritePrecondition> precondition = WritePreconditionScope::Current();
  if (!precondition) return Status::Ok();
  const std::string* stored = nullptr;
  auto t = objects.find(precondition->key.type);
  if (t != objects.end()) {
    auto it = t->second.find({precondition->key.ns, precondition->key.name});
    if (it != t->second.end()) stored = it->second.data.get();
  }
  return CheckWritePrecondition(*precondition, stored);
}

}  // namespace

MemoryStore::MemoryStore(MemoryStoreOptions options)
    : options_(std::move(options)),
      dispatcher_(options_.dispatcher ? options_.dispatcher : WatchDispatcher::Shared()),
      progress_(std::make_shared<DeliveryProgress>()) {}

MemoryStore::~MemoryStore() {
  std::lock_guard lock(mu_);
  for (auto& w : watchers_) w->cancelled.store(true);
}

StatusOr<json> MemoryStore::Get(const ObjectKey& key) {
  Blob data;
  {
    std::lock_guard lock(mu_);
    auto t = objects_.find(key.type);
    if (t != objects_.end()) {
      auto it = t->second.find(NameKey{key.ns, key.name});
      if (it != t->second.end()) data = it->second.data;
    }
  }
  if (!data) return NotFoundError(key.ToString() + " not found");
  return json::parse(*data);
}

StatusOr<ListResult> MemoryStore::List(const ResourceType& type, const ListOptions& options) {
  int64_t list_rv = 0;
  std::string after_ns, after_name;
  bool has_token = !options.continue_token.empty();
  if (has_token) {
    MERIDIAN_RETURN_IF_ERROR(
        DecodeContinue(options.continue_token, &list_rv, &after_ns, &after_name));
  }
  if (options.limit < 0) return InvalidArgumentError("limit must be >= 0");

  // Take the candidates (shared blobs) under the lock; parse and filter outside it.
  std::vector<std::pair<const NameKey*, Blob>> candidates;
  std::vector<NameKey> keys;
  {
    std::lock_guard lock(mu_);
    if (has_token && list_rv < compacted_) {
      return OutOfRangeError("The provided continue parameter is too old to display a "
                             "consistent list result. You can start a new list without the "
                             "continue parameter.");
    }
    if (!has_token) list_rv = revision_;
    auto t = objects_.find(type);
    if (t != objects_.end()) {
      const auto& m = t->second;
      auto it = has_token ? m.upper_bound(NameKey{after_ns, after_name})
                          : m.lower_bound(NameKey{options.ns, ""});
      keys.reserve(m.size());
      for (; it != m.end(); ++it) {
        if (!options.ns.empty() && it->first.first != options.ns) {
          if (it->first.first > options.ns) break;
          continue;  // a token from before our namespace (malformed use): skip forward
        }
        keys.push_back(it->first);
        candidates.emplace_back(nullptr, it->second.data);
      }
    }
  }
  for (size_t i = 0; i < candidates.size(); ++i) candidates[i].first = &keys[i];

  ListResult result;
  result.resource_version = list_rv;
  size_t i = 0;
  const NameKey* last = nullptr;
  for (; i < candidates.size(); ++i) {
    if (options.limit > 0 && static_cast<int64_t>(result.items.size()) >= options.limit) break;
    json obj = json::parse(*candidates[i].second);
    if (!SelectorMatches(options.selector, &obj)) continue;
    result.items.push_back(std::move(obj));
    last = candidates[i].first;
  }
  if (i < candidates.size() && last != nullptr) {
    // The page is full; is there anything after it?
    bool more = false;
    if (options.selector.Empty()) {
      result.remaining_item_count = static_cast<int64_t>(candidates.size() - i);
      more = true;
    } else {
      for (size_t j = i; j < candidates.size() && !more; ++j) {
        json obj = json::parse(*candidates[j].second);
        more = SelectorMatches(options.selector, &obj);
      }
    }
    if (more) result.continue_token = EncodeContinue(list_rv, last->first, last->second);
  }
  return result;
}

void MemoryStore::RecordLocked(WatchEventType type, const ObjectKey& key, Blob object,
                               Blob prev) {
  last_write_[key.type] = revision_;
  {
    std::lock_guard lock(progress_->mu);
    progress_->revision = revision_;
  }
  history_.push_back(HistoryEntry{type, key, object, prev, revision_});
  history_bytes_ += object->size();
  while (history_.size() > options_.history_limit) {
    compacted_ = history_.front().resource_version;
    history_bytes_ -= history_.front().object->size();
    history_.pop_front();
  }
  if (options_.history_limit == 0) compacted_ = revision_;

  std::vector<std::shared_ptr<Watcher>> targets;
  bool any_selector = false;
  for (const auto& w : watchers_) {
    if (w->cancelled.load() || !w->Wants(key)) continue;
    targets.push_back(w);
    any_selector = any_selector || !w->selector.Empty();
  }
  if (targets.empty()) return;
  {
    std::lock_guard lock(progress_->mu);
    progress_->posted = revision_;
  }
  // Parsing happens on the dispatcher thread, off the writer's path and outside our lock.
  dispatcher_->Post([type, key, object, prev, rv = revision_, any_selector,
                     targets = std::move(targets), progress = progress_] {
    ParsedEntry e{type, key, std::make_shared<const json>(json::parse(*object)), nullptr, rv};
    if (any_selector && prev) e.prev = std::make_shared<const json>(json::parse(*prev));
    for (const auto& w : targets) DeliverEntry(*w, e);
    std::lock_guard lock(progress->mu);
    progress->delivered = rv;
  });
}

void MemoryStore::DropCancelledWatchersLocked() {
  std::erase_if(watchers_, [](const std::shared_ptr<Watcher>& w) { return w->cancelled.load(); });
}

StatusOr<json> MemoryStore::Create(const ObjectKey& key, json object) {
  if (key.name.empty()) return InvalidArgumentError("object name must not be empty");
  std::lock_guard lock(mu_);
  MERIDIAN_RETURN_IF_ERROR(CheckPreconditionLocked(objects_));
  auto& m = objects_[key.type];
  NameKey nk{key.ns, key.name};
  if (m.count(nk) != 0) return AlreadyExistsError(key.ToString() + " already exists");
  MERIDIAN_RETURN_IF_ERROR(SetResourceVersion(object, revision_ + 1));
  auto data = std::make_shared<const std::string>(Serialize(object));
  ++revision_;
  m.emplace(std::move(nk), Record{data, revision_});
  RecordLocked(WatchEventType::kAdded, key, data, nullptr);
  return object;
}

StatusOr<json> MemoryStore::Update(const ObjectKey& key, json object,
                                   int64_t expected_resource_version) {
  std::lock_guard lock(mu_);
  MERIDIAN_RETURN_IF_ERROR(CheckPreconditionLocked(objects_));
  auto t = objects_.find(key.type);
  if (t == objects_.end()) return NotFoundError(key.ToString() + " not found");
  auto it = t->second.find(NameKey{key.ns, key.name});
  if (it == t->second.end()) return NotFoundError(key.ToString() + " not found");
  if (expected_resource_version != 0 &&
      expected_resource_version != it->second.resource_version) {
    return AbortedError(key.ToString() + ": resource version " +
                        std::to_string(expected_resource_version) + " does not match " +
                        std::to_string(it->second.resource_version));
  }
  MERIDIAN_RETURN_IF_ERROR(SetResourceVersion(object, revision_ + 1));
  auto data = std::make_shared<const std::string>(Serialize(object));
  ++revision_;
  Blob prev = std::move(it->second.data);
  it->second = Record{data, revision_};
  RecordLocked(WatchEventType::kModified, key, data, std::move(prev));
  return object;
}

StatusOr<json> MemoryStore::Delete(const ObjectKey& key, int64_t expected_resource_version) {
  std::lock_guard lock(mu_);
  MERIDIAN_RETURN_IF_ERROR(CheckPreconditionLocked(objects_));
  auto t = objects_.find(key.type);
  if (t == objects_.end()) return NotFoundError(key.ToString() + " not found");
  auto it = t->second.find(NameKey{key.ns, key.name});
  if (it == t->second.end()) return NotFoundError(key.ToString() + " not found");
  if (expected_resource_version != 0 &&
      expected_resource_version != it->second.resource_version) {
    return AbortedError(key.ToString() + ": resource version " +
                        std::to_string(expected_resource_version) + " does not match " +
                        std::to_string(it->second.resource_version));
  }
  json last = json::parse(*it->second.data);
  MERIDIAN_RETURN_IF_ERROR(SetResourceVersion(last, revision_ + 1));
  auto data = std::make_shared<const std::string>(Serialize(last));
  ++revision_;
  Blob prev = std::move(it->second.data);
  t->second.erase(it);
  RecordLocked(WatchEventType::kDeleted, key, data, std::move(prev));
  return last;
}

StatusOr<std::unique_ptr<Watch>> MemoryStore::WatchFrom(const ResourceType& type,
                                                        const std::string& ns,
                                                        const LabelSelector& selector,
                                                        int64_t from_resource_version,
                                                        WatchCallback callback) {
  if (from_resource_version < 0) return InvalidArgumentError("resource version must be >= 0");
  auto w = std::make_shared<Watcher>();
  w->type = type;
  w->ns = ns;
  w->selector = selector;
  w->dispatcher = dispatcher_;
  w->progress = progress_;
  w->from = from_resource_version;
  w->callback = std::move(callback);

  std::lock_guard lock(mu_);
  DropCancelledWatchersLocked();
  if (from_resource_version != 0) {
    if (from_resource_version < compacted_) {
      return OutOfRangeError("too old resource version: " +
                             std::to_string(from_resource_version) + " (" +
                             std::to_string(compacted_ + 1) + ")");
    }
    std::vector<HistoryEntry> replay;
    // History is in revision order; skip what the watcher has already seen.
    auto it = std::lower_bound(history_.begin(), history_.end(), from_resource_version + 1,
                               [](const HistoryEntry& e, int64_t rv) {
                                 return e.resource_version < rv;
                               });
    for (; it != history_.end(); ++it) {
      if (w->Wants(it->key)) replay.push_back(*it);
    }
    if (!replay.empty()) {
      w->replayed.store(false);
      dispatcher_->Post([w, replay = std::move(replay)] {
        for (const HistoryEntry& h : replay) {
          if (w->cancelled.load()) break;
          ParsedEntry e{h.type, h.key, std::make_shared<const json>(json::parse(*h.object)),
                        nullptr, h.resource_version};
          if (!w->selector.Empty() && h.prev) {
            e.prev = std::make_shared<const json>(json::parse(*h.prev));
          }
          DeliverEntry(*w, e);
        }
        w->replayed.store(true);
      });
    }
  }
  watchers_.push_back(w);
  return std::unique_ptr<Watch>(std::make_unique<MemoryWatch>(w));
}

int64_t MemoryStore::CurrentResourceVersion() {
  std::lock_guard lock(mu_);
  return revision_;
}

StatusOr<int64_t> MemoryStore::LastWriteRevision(const ResourceType& type) {
  std::lock_guard lock(mu_);
  auto it = last_write_.find(type);
  return it == last_write_.end() ? 0 : it->second;
}

size_t MemoryStore::ObjectCount() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [type, m] : objects_) n += m.size();
  return n;
}

size_t MemoryStore::ApproximateBytes() {
  std::lock_guard lock(mu_);
  size_t n = history_bytes_;
  for (const auto& [type, m] : objects_) {
    for (const auto& [k, r] : m) n += r.data->size() + k.first.size() + k.second.size();
  }
  return n;
}

int64_t MemoryStore::CompactedResourceVersion() {
  std::lock_guard lock(mu_);
  return compacted_;
}

}  // namespace meridian::apimachinery
