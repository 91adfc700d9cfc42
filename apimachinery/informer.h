// Shared informers: one LIST and one watch per kind per process, a local indexed cache of the
// kind's objects decoded once per change, and event handlers, for every in-process controller
// that reads the kind (the placement, drill and DNS controllers share them).
//
// Two layers:
//   - InformerCache<T> (pure core, no I/O): the objects by (namespace, name), each held as a
//     shared_ptr<const T> that readers share read-only; indexes by namespace, by label and by
//     named custom indexers ("workloads on member X"); Apply (one watch event: stale,
//     duplicate and reordered events are recognised by resourceVersion and dropped), Replace
//     (a relist: handlers see the diff against the cache: added, updated, deleted), Resync
//     (every object again as an update), handlers that enqueue keys.
//   - SharedInformer<T> (thin shell): LISTs once through the ObjectService, decodes, Replaces,
//     then watches from the list's resourceVersion; a watch that cannot start with 410 Gone
//     (history compacted) relists. SharedInformerFactory hands every caller in a process the
//     same informer per (kind, label selector).
//
// Thread-safety: every method of both classes may be called from any thread. Writers (watch
// events, relists, Assume) are serialised; handlers run on the writer's thread, in change
// order, after the change is visible to readers, and must not write to the same informer.
#pragma once

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "apimachinery/object_service.h"
#include "common/field_error.h"
#include "common/status.h"

namespace meridian::apimachinery {

// Names an object in an informer. Ordered by (namespace, name), like the store's lists.
struct InformerKey {
  std::string ns;  // empty for cluster-scoped kinds
  std::string name;

  std::string ToString() const { return ns.empty() ? name : ns + "/" + name; }
  friend bool operator==(const InformerKey&, const InformerKey&) = default;
  friend auto operator<=>(const InformerKey&, const InformerKey&) = default;
};

// One object as the shell hands it to the core.
template <typename T>
struct InformerItem {
  InformerKey key;
  int64_t resource_version = 0;  // metadata.resourceVersion (the revision of its last write)
  std::map<std::string, std::string> labels;
  std::shared_ptr<const T> object;
};

// What a watch event or a relist did to the cache.
template <typename T>
struct InformerHandlers {
  std::function<void(const std::shared_ptr<const T>& now)> on_add;
  // Also called by Resync with old == now.
  std::function<void(const std::shared_ptr<const T>& old, const std::shared_ptr<const T>& now)>
      on_update;
  std::function<void(const std::shared_ptr<const T>& last)> on_delete;
  // Called after any of the three with the object's key (to enqueue it in a work queue).
  std::function<void(const InformerKey& key)> on_key;
};

// The metadata every kind has, from an object's JSON: key, resourceVersion and labels.
// Errors (InvalidArgument) name the missing or malformed field.
StatusOr<InformerKey> InformerKeyOf(const nlohmann::json& object);
int64_t InformerResourceVersionOf(const nlohmann::json& object);  // 0 when absent or malformed
std::map<std::string, std::string> InformerLabelsOf(const nlohmann::json& object);

// ---- Pure core ----

template <typename T>
class InformerCache {
 public:
  using Ptr = std::shared_ptr<const T>;
  // The values an object has in a custom index (e.g. the members a workload is placed on).
  using Indexer = std::function<std::vector<std::string>(const T&)>;
  static constexpr char kNamespaceIndex[] = "namespace";
  static constexpr char kLabelIndex[] = "label";  // values "key=value"

  // One watch event (ADDED and MODIFIED both upsert). Dropped (false) when it is not newer
  // than what the cache knows: resourceVersion <= the object's cached one, <= a deletion
  // already seen for the key, or <= the last relist's. Otherwise the handlers see the change.
  bool Apply(bool deleted, InformerItem<T> item) {
    std::lock_guard writer(write_mu_);
    const InformerKey key = item.key;
    Ptr old, now;
    {
      std::unique_lock lock(mu_);
      if (item.resource_version <= floor_) return false;
      if (item.resource_version > newest_) newest_ = item.resource_version;
      auto it = entries_.find(item.key);
      if (it != entries_.end() && item.resource_version <= it->second.resource_version) {
        return false;
      }
      auto tomb = tombstones_.find(item.key);
      if (tomb != tombstones_.end() && item.resource_version <= tomb->second) return false;
      if (deleted) {
        tombstones_[item.key] = item.resource_version;
        PruneTombstones();
        if (it == entries_.end()) return false;
        old = it->second.object;
        Unindex(it->first, it->second);
        entries_.erase(it);
      } else {
        if (tomb != tombstones_.end()) tombstones_.erase(tomb);
        if (it != entries_.end()) {
          old = it->second.object;
          Unindex(it->first, it->second);
        }
        now = item.object;
        Insert(std::move(item));
      }
    }
    Notify(key, old, now);
    return true;
  }

  // A full list taken at `resource_version`: afterwards the cache holds exactly `items`,
  // except objects the cache already knows at a newer revision (written after the list).
  // Handlers see the difference: added, updated (resourceVersion changed), deleted. Marks the
  // cache synced.
  void Replace(std::vector<InformerItem<T>> items, int64_t resource_version) {
    std::lock_guard writer(write_mu_);
    struct Change {
      InformerKey key;
      Ptr old, now;
    };
    std::vector<Change> changes;
    {
      std::unique_lock lock(mu_);
      std::set<InformerKey> listed;
      for (InformerItem<T>& item : items) {
        listed.insert(item.key);
        auto it = entries_.find(item.key);
        if (it != entries_.end() && it->second.resource_version >= item.resource_version) continue;
        auto tomb = tombstones_.find(item.key);
        if (tomb != tombstones_.end() && tomb->second >= item.resource_version) continue;
        Ptr old;
        if (it != entries_.end()) {
          old = it->second.object;
          Unindex(it->first, it->second);
        }
        changes.push_back({item.key, old, item.object});
        Insert(std::move(item));
      }
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (listed.count(it->first) || it->second.resource_version > resource_version) {
          ++it;
          continue;
        }
        changes.push_back({it->first, it->second.object, nullptr});
        Unindex(it->first, it->second);
        it = entries_.erase(it);
      }
      for (auto it = tombstones_.begin(); it != tombstones_.end();) {
        it = it->second <= resource_version ? tombstones_.erase(it) : std::next(it);
      }
      floor_ = std::max(floor_, resource_version);
      newest_ = std::max(newest_, resource_version);
      synced_ = true;
    }
    for (const Change& c : changes) Notify(c.key, c.old, c.now);
  }

  // Every cached object to the handlers again, as an update with old == now (a periodic
  // resync repairs whatever a controller lost, e.g. a write that failed).
  void Resync() {
    std::lock_guard writer(write_mu_);
    std::vector<std::pair<InformerKey, Ptr>> all;
    {
      std::shared_lock lock(mu_);
      for (const auto& [key, e] : entries_) all.emplace_back(key, e.object);
    }
    for (const auto& [key, object] : all) Notify(key, object, object);
  }

  // True once a full list has been applied (Replace).
  bool HasSynced() const {
    std::shared_lock lock(mu_);
    return synced_;
  }
  // The newest revision the cache has seen (an event's or a list's).
  int64_t resource_version() const {
    std::shared_lock lock(mu_);
    return newest_;
  }
  size_t size() const {
    std::shared_lock lock(mu_);
    return entries_.size();
  }

  // The object, or null.
  Ptr Get(const InformerKey& key) const {
    std::shared_lock lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.object;
  }
  // Every object, ordered by (namespace, name).
  std::vector<Ptr> List() const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    out.reserve(entries_.size());
    for (const auto& [key, e] : entries_) out.push_back(e.object);
    return out;
  }
  // Copies of every object, ordered by (namespace, name): for callers that take values.
  std::vector<T> Values() const {
    std::vector<T> out;
    for (const Ptr& p : List()) out.push_back(*p);
    return out;
  }
  std::vector<Ptr> ByNamespace(const std::string& ns) const { return ByIndex(kNamespaceIndex, ns); }
  std::vector<Ptr> ByLabel(const std::string& key, const std::string& value) const {
    return ByIndex(kLabelIndex, key + "=" + value);
  }
  // The objects whose index `name` has `value`, ordered by (namespace, name); empty for an
  // unknown index.
  std::vector<Ptr> ByIndex(const std::string& name, const std::string& value) const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    auto index = indexes_.find(name);
    if (index == indexes_.end()) return out;
    auto keys = index->second.find(value);
    if (keys == index->second.end()) return out;
    for (const InformerKey& key : keys->second) out.push_back(entries_.at(key).object);
    return out;
  }

  // Adds a named index over the cached objects (and every later change). InvalidArgument
  // when the name is taken (the built-in "namespace" and "label" included).
  Status AddIndexer(const std::string& name, Indexer indexer) {
    std::lock_guard writer(write_mu_);
    std::unique_lock lock(mu_);
    if (name == kNamespaceIndex || name == kLabelIndex || custom_.count(name)) {
      return InvalidArgumentError("informer index \"" + name + "\" already exists");
    }
    custom_[name] = std::move(indexer);
    for (auto& [key, e] : entries_) {
      for (const std::string& v : custom_[name](*e.object)) {
        e.values.emplace_back(name, v);
        indexes_[name][v].insert(key);
      }
    }
    return Status::Ok();
  }

  // Registers handlers and returns their id. Every object already cached is delivered to
  // them as added first (on this thread), so a late handler misses nothing.
  int AddHandlers(InformerHandlers<T> handlers) {
    std::lock_guard writer(write_mu_);
    const int id = next_id_++;
    handlers_.emplace_back(id, std::move(handlers));
    std::vector<std::pair<InformerKey, Ptr>> all;
    {
      std::shared_lock lock(mu_);
      for (const auto& [key, e] : entries_) all.emplace_back(key, e.object);
    }
    const InformerHandlers<T>& h = handlers_.back().second;
    for (const auto& [key, object] : all) {
      if (h.on_add) h.on_add(object);
      if (h.on_key) h.on_key(key);
    }
    return id;
  }
  // After this returns the handlers are not running and are not called again.
  void RemoveHandlers(int id) {
    std::lock_guard writer(write_mu_);
    std::erase_if(handlers_, [id](const auto& h) { return h.first == id; });
  }

 private:
  struct Entry {
    Ptr object;
    int64_t resource_version = 0;
    std::vector<std::pair<std::string, std::string>> values;  // (index, value) it is under
  };

  void Insert(InformerItem<T> item) {
    Entry e{std::move(item.object), item.resource_version, {}};
    e.values.emplace_back(kNamespaceIndex, item.key.ns);
    for (const auto& [k, v] : item.labels) e.values.emplace_back(kLabelIndex, k + "=" + v);
    for (const auto& [name, indexer] : custom_) {
      for (std::string& v : indexer(*e.object)) e.values.emplace_back(name, std::move(v));
    }
    for (const auto& [name, v] : e.values) indexes_[name][v].insert(item.key);
    entries_[item.key] = std::move(e);
  }
  void Unindex(const InformerKey& key, const Entry& e) {
    for (const auto& [name, v] : e.values) {
      auto index = indexes_.find(name);
      auto keys = index->second.find(v);
      keys->second.erase(key);
      if (keys->second.empty()) index->second.erase(keys);
    }
  }
  // Deletions are remembered so that a reordered older event cannot bring an object back;
  // beyond a bound the oldest are forgotten and the floor rises past them (watches deliver
  // in revision order, so nothing that old arrives after a newer event in practice).
  void PruneTombstones() {
    constexpr size_t kMaxTombstones = 8192;
    if (tombstones_.size() <= kMaxTombstones) return;
    std::vector<int64_t> rvs;
    for (const auto& [key, rv] : tombstones_) rvs.push_back(rv);
    std::nth_element(rvs.begin(), rvs.begin() + rvs.size() / 2, rvs.end());
    const int64_t cut = rvs[rvs.size() / 2];
    std::erase_if(tombstones_, [cut](const auto& t) { return t.second <= cut; });
    floor_ = std::max(floor_, cut);
  }
  // Runs the handlers for one change (old null: added; now null: deleted).
  void Notify(const InformerKey& key, const Ptr& old, const Ptr& now) {
    for (const auto& [id, h] : handlers_) {
      if (!old) {
        if (h.on_add) h.on_add(now);
      } else if (!now) {
        if (h.on_delete) h.on_delete(old);
      } else if (h.on_update) {
        h.on_update(old, now);
      }
      if (h.on_key) h.on_key(key);
    }
  }

  std::mutex write_mu_;  // serialises writers and handler calls; guards handlers_, next_id_
  std::vector<std::pair<int, InformerHandlers<T>>> handlers_;
  int next_id_ = 1;

  mutable std::shared_mutex mu_;  // guards everything below
  std::map<InformerKey, Entry> entries_;
  std::map<InformerKey, int64_t> tombstones_;  // key -> revision of its deletion
  std::map<std::string, std::map<std::string, std::set<InformerKey>>> indexes_;
  std::map<std::string, Indexer> custom_;
  int64_t floor_ = 0;   // events at or below it are already reflected (last relist)
  int64_t newest_ = 0;  // the newest revision seen
  bool synced_ = false;
};

// Handlers registered on an informer's cache, removed when the registration goes (or on
// Reset): a controller's handlers must not outlive it when the informer is shared.
class InformerRegistration {
 public:
  InformerRegistration() = default;
  template <typename T>
  InformerRegistration(InformerCache<T>& cache, InformerHandlers<T> handlers)
      : remove_(
            [&cache, id = cache.AddHandlers(std::move(handlers))] { cache.RemoveHandlers(id); }) {}
  ~InformerRegistration() { Reset(); }
  InformerRegistration(InformerRegistration&& other) noexcept
      : remove_(std::exchange(other.remove_, nullptr)) {}
  InformerRegistration& operator=(InformerRegistration&& other) noexcept {
    Reset();
    remove_ = std::exchange(other.remove_, nullptr);
    return *this;
  }
  // After this returns the handlers are not running and are not called again.
  void Reset() {
    if (auto remove = std::exchange(remove_, nullptr)) remove();
  }

 private:
  std::function<void()> remove_;
};

// ---- Shell ----

// Type-erased part of a SharedInformer (what the factory starts and stops).
class InformerBase {
 public:
  virtual ~InformerBase() = default;
  // Lists and starts watching; idempotent (a started informer answers OK at once).
  virtual Status Start() = 0;
  // Lists again and replaces the cache (diff events); the watch goes on.
  virtual Status Relist() = 0;
  virtual void Stop() = 0;
  virtual bool HasSynced() const = 0;
  // Calls `on_change` after every change to the cache (and once per object already cached),
  // until the registration goes: what a level-triggered controller needs ("look again").
  virtual InformerRegistration OnChange(std::function<void()> on_change) = 0;
};

template <typename T>
class SharedInformer : public InformerBase {
 public:
  using Decode = T (*)(const nlohmann::json&, FieldErrors*);

  // `objects` must outlive the informer. `resource` names the kind; `decode` turns one
  // object into T (an object it rejects is left out of the cache with a warning naming the
  // kind, as a LIST decoder skips it). `label_selector` restricts the objects ("" for all).
  SharedInformer(ObjectService& objects, ResourceInfo resource, Decode decode,
                 std::string label_selector = "")
      : objects_(objects),
        resource_(std::move(resource)),
        decode_(decode),
        selector_(std::move(label_selector)) {}
  ~SharedInformer() override { Stop(); }

  InformerCache<T>& cache() { return cache_; }
  const InformerCache<T>& cache() const { return cache_; }
  bool HasSynced() const override { return cache_.HasSynced(); }
  InformerRegistration OnChange(std::function<void()> on_change) override {
    return InformerRegistration(
        cache_, InformerHandlers<T>{.on_key = [on_change = std::move(on_change)](
                                                  const InformerKey&) { on_change(); }});
  }

  // What a controller that reads only part of each object is woken by: `matters(old, now)`
  // (old null for an add, now null for a delete) says whether the change can alter what the
  // controller computes. A resync (the same object as old and now) always calls `on_change`:
  // it exists to re-drive a level-triggered controller. Why: a status field written for
  // people (a member's workload summary, its probe time) changes many times a second on a
  // busy fleet, and a whole pass per such write was most of what some controllers did.
  using ChangeMatters = std::function<bool(const T* old, const T* now)>;
  InformerRegistration OnChangeThatMatters(std::function<void()> on_change, ChangeMatters matters) {
    auto wake = [on_change = std::move(on_change), matters = std::move(matters)](
                    const std::shared_ptr<const T>& old, const std::shared_ptr<const T>& now) {
      if (old == now || matters(old.get(), now.get())) on_change();
    };
    return InformerRegistration(
        cache_, InformerHandlers<T>{
                    .on_add = [wake](const std::shared_ptr<const T>& now) { wake(nullptr, now); },
                    .on_update = wake,
                    .on_delete = [wake](const std::shared_ptr<const T>& last) { wake(last, nullptr); }});
  }

  // One LIST, then a watch from its resourceVersion. When the watch cannot start because
  // that revision is already compacted (410 Gone), lists again (up to 5 times). Errors:
  // Unavailable naming the kind (the LIST or the watch failed otherwise).
  Status Start() override {
    std::lock_guard lock(start_mu_);
    if (watch_) return Status::Ok();
    for (int attempt = 0; attempt < 5; ++attempt) {
      StatusOr<int64_t> listed = ListInto();
      if (!listed.ok()) return listed.status();
      ListRequest request;
      request.label_selector = selector_;
      request.resource_version = std::to_string(*listed);
      // The cache keeps each object's last state: a change it has not been told of yet is
      // merged with the next one instead of decoded on its own (behind a burst of writes the
      // informer catches up by objects, not by writes).
      request.latest_per_object = true;
      auto watch =
          objects_.StartWatch(resource_, "", request, [this](const ObjectEvent& e) { OnEvent(e); });
      if (watch.ok()) {
        watch_ = std::move(watch).value();
        return Status::Ok();
      }
      if (watch.error().code != 410) {
        return UnavailableError("informer for " + resource_.plural +
                                ": watching: " + watch.error().message);
      }
    }
    return UnavailableError("informer for " + resource_.plural +
                            ": the watch expired (410 Gone) after 5 relists");
  }

  Status Relist() override {
    std::lock_guard lock(start_mu_);
    return ListInto().status();
  }

  void Stop() override {
    std::unique_ptr<Watch> watch;
    {
      std::lock_guard lock(start_mu_);
      watch = std::move(watch_);
    }
    watch.reset();  // after this no event is delivered
  }

  // Applies the answer to this process's own write of an object (an Update's or Create's
  // result) at once, before its watch event arrives (which is then a duplicate and dropped),
  // so the next read sees what was written.
  // A write that empties the finalizers of an object being deleted removes it: taken as a
  // delete.
  void Assume(const nlohmann::json& written) {
    const nlohmann::json* metadata = written.contains("metadata") ? &written["metadata"] : nullptr;
    const bool removed = metadata && metadata->contains("deletionTimestamp") &&
                         (!metadata->contains("finalizers") || (*metadata)["finalizers"].empty());
    ApplyJson(removed, written);
  }
  // The same for this process's own delete (`last`: the Delete's answer, carrying the
  // deletion's resourceVersion).
  void AssumeDeleted(const nlohmann::json& last) { ApplyJson(true, last); }

 private:
  // Lists, decodes and Replaces; returns the list's resourceVersion.
  StatusOr<int64_t> ListInto() {
    ListRequest request;
    request.label_selector = selector_;
    auto list = objects_.List(resource_, "", request);
    if (!list.ok()) {
      return UnavailableError("informer for " + resource_.plural +
                              ": listing: " + list.error().message);
    }
    const nlohmann::json& l = list.value();
    int64_t rv = 0;
    if (l.contains("metadata")) rv = InformerResourceVersionOf(l);
    std::vector<InformerItem<T>> items;
    for (const nlohmann::json& object : l["items"]) {
      std::optional<InformerItem<T>> item = ItemOf(object);
      if (item) items.push_back(std::move(*item));
    }
    cache_.Replace(std::move(items), rv);
    return rv;
  }
  std::optional<InformerItem<T>> ItemOf(const nlohmann::json& object) {
    StatusOr<InformerKey> key = InformerKeyOf(object);
    if (!key.ok()) {
      WarnSkipped("?", key.status().message());
      return std::nullopt;
    }
    FieldErrors errors;
    T decoded = decode_(object, &errors);
    if (!errors.empty()) {
      WarnSkipped(key->ToString(), errors.front().ToString());
      return std::nullopt;
    }
    return InformerItem<T>{std::move(*key), InformerResourceVersionOf(object),
                           InformerLabelsOf(object), std::make_shared<const T>(std::move(decoded))};
  }
  void ApplyJson(bool deleted, const nlohmann::json& object) {
    std::optional<InformerItem<T>> item = ItemOf(object);
    if (!item) {
      // Invalid now: out of the cache, as a LIST decoder would skip it.
      StatusOr<InformerKey> key = InformerKeyOf(object);
      if (!key.ok()) return;
      item = InformerItem<T>{std::move(*key), InformerResourceVersionOf(object), {}, nullptr};
      deleted = true;
    }
    cache_.Apply(deleted, std::move(*item));
  }
  void OnEvent(const ObjectEvent& e) {
    if (e.object) ApplyJson(e.type == "DELETED", *e.object);
  }
  void WarnSkipped(const std::string& name, const std::string& why);

  ObjectService& objects_;
  const ResourceInfo resource_;
  const Decode decode_;
  const std::string selector_;
  InformerCache<T> cache_;
  std::mutex start_mu_;  // guards watch_; serialises Start, Relist, Stop
  std::unique_ptr<Watch> watch_;
};

// Logs that an object was left out of an informer's cache (out of line: no spdlog here).
void WarnInformerSkipped(const std::string& plural, const std::string& name,
                         const std::string& why);

template <typename T>
void SharedInformer<T>::WarnSkipped(const std::string& name, const std::string& why) {
  WarnInformerSkipped(resource_.plural, name, why);
}

// For a level-triggered controller, instead of one watch per kind of its own: registers
// `on_change` on every one of `informers`, then starts them (each LISTs once unless already
// started by another controller of the process). All or nothing: on an error the
// registrations are dropped. Errors: Unavailable naming `who` and the informer that failed.
// Keep the registrations while the controller runs; drop them before it stops.
StatusOr<std::vector<InformerRegistration>> StartInformers(
    const std::vector<InformerBase*>& informers, const std::function<void()>& on_change,
    const std::string& who);

// An informer whose changes pass a filter before they wake a controller
// (SharedInformer::OnChangeThatMatters), for the StartInformers below.
struct FilteredInformer {
  InformerBase* informer;
  std::function<InformerRegistration(std::function<void()>)> register_on_change;
};
template <typename T>
FilteredInformer OnlyChangesThatMatter(SharedInformer<T>& informer,
                                       typename SharedInformer<T>::ChangeMatters matters) {
  return FilteredInformer{&informer, [&informer, matters](std::function<void()> on_change) {
                            return informer.OnChangeThatMatters(std::move(on_change), matters);
                          }};
}
// StartInformers with some informers filtered: `on_change` is registered on every one of
// `informers` and, through its filter, on every one of `filtered`; then all are started.
StatusOr<std::vector<InformerRegistration>> StartInformers(
    const std::vector<InformerBase*>& informers, const std::vector<FilteredInformer>& filtered,
    const std::function<void()>& on_change, const std::string& who);

// The cached objects of `informer`. A controller driven by hand (without Start: no watch
// keeps the cache current) passes watching=false and the informer LISTs first. Errors: that
// LIST failed (Unavailable, naming the kind).
template <typename T>
StatusOr<std::vector<T>> InformerValues(SharedInformer<T>& informer, bool watching) {
  if (!watching) {
    if (Status st = informer.Relist(); !st.ok()) return st;
  }
  return informer.cache().Values();
}
// The same, shared read-only rather than copied: for a pass over a whole kind on every
// change, where copying each object (a workload's template and status) costs more than the
// pass's own work.
template <typename T>
StatusOr<std::vector<std::shared_ptr<const T>>> InformerList(SharedInformer<T>& informer,
                                                             bool watching) {
  if (!watching) {
    if (Status st = informer.Relist(); !st.ok()) return st;
  }
  return informer.cache().List();
}

// The informers of one process: the same informer for every caller asking for a kind (and
// label selector), so N controllers cost one LIST and one watch per kind.
class SharedInformerFactory {
 public:
  // `objects` must outlive the factory.
  explicit SharedInformerFactory(ObjectService& objects) : objects_(objects) {}
  ~SharedInformerFactory() { Stop(); }
  SharedInformerFactory(const SharedInformerFactory&) = delete;
  SharedInformerFactory& operator=(const SharedInformerFactory&) = delete;

  ObjectService& objects() { return objects_; }

  // The informer for `resource` (and `label_selector`), created on first use (not started:
  // Start it, or the factory). Every caller gets the same one; the first caller's `decode`
  // is used (a later caller asking for another T is a wiring bug: aborts).
  template <typename T>
  SharedInformer<T>& For(const ResourceInfo& resource, typename SharedInformer<T>::Decode decode,
                         const std::string& label_selector = "") {
    std::lock_guard lock(mu_);
    const std::string key = resource.group + "/" + resource.plural + "?" + label_selector;
    auto it = informers_.find(key);
    if (it == informers_.end()) {
      auto informer =
          std::make_shared<SharedInformer<T>>(objects_, resource, decode, label_selector);
      it = informers_.emplace(key, Slot{std::type_index(typeid(T)), informer}).first;
    } else if (it->second.type != std::type_index(typeid(T))) {
      AbortWrongType(key);
    }
    return static_cast<SharedInformer<T>&>(*it->second.informer);
  }

  // Starts every informer not started yet (each LISTs once, then watches). Errors: the first
  // informer that failed to start.
  Status Start();
  // Relists every informer (for callers without watches, e.g. tests driving passes by hand).
  Status Relist();
  // True when every informer has listed once.
  bool HasSynced() const;
  // Stops every watch. Idempotent.
  void Stop();

 private:
  struct Slot {
    std::type_index type;
    std::shared_ptr<InformerBase> informer;
  };
  [[noreturn]] static void AbortWrongType(const std::string& key);
  std::vector<std::shared_ptr<InformerBase>> All() const;

  ObjectService& objects_;
  mutable std::mutex mu_;  // guards informers_
  std::map<std::string, Slot> informers_;
};

// A controller's informer factory: the process's shared one when given, else one of its own
// over `objects` (a controller run alone, e.g. in a test). Not thread-safe to construct;
// the factory it refers to is.
class ControllerInformers {
 public:
  // `objects` and `shared` (when not null) must outlive this.
  ControllerInformers(ObjectService& objects, SharedInformerFactory* shared)
      : own_(shared ? nullptr : std::make_unique<SharedInformerFactory>(objects)),
        factory_(shared ? *shared : *own_) {}
  SharedInformerFactory& factory() { return factory_; }
  // Stops the watches when the factory is the controller's own (a shared one is the
  // process's: other controllers still read it).
  void StopOwn() {
    if (own_) own_->Stop();
  }

 private:
  std::unique_ptr<SharedInformerFactory> own_;
  SharedInformerFactory& factory_;
};

}  // namespace meridian::apimachinery
