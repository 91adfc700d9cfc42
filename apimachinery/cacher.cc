#include "apimachinery/cacher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "apimachinery/label_index.h"
#include "apimachinery/watch_dispatcher.h"
#include "common/base64.h"

namespace meridian::apimachinery {
namespace {

using json = nlohmann::json;
using Key = std::pair<std::string, std::string>;  // (namespace, name)

// One object as the cache keeps it: its compact JSON and its labels, shared read-only, and
// its decoded tree only while something else still holds that (a watch event being
// delivered, a list or GET being served, a caller's copy). The trees are several times larger
// than the encodings (a FederatedWorkload placed on 100 members is ~19 KB of JSON), and what
// the cache serves most, LISTs and GETs and watch events to REST clients, is the bytes: a tree
// is decoded again from them only when an in-process reader needs one (Get, a field selector,
// a replay). The price: a decode where a copy was (an 18.6 KB workload at -O2: parse 149 us,
// copy 54 us), paid by each write's read of the object it replaces when no one holds its tree.
struct Entry {
  std::weak_ptr<const json> object;
  std::shared_ptr<const std::string> encoded;  // null: absent (a deletion in a snapshot, the
                                               // state before a creation)
  std::shared_ptr<const Labels> labels;
  int64_t rv = 0;

  bool Present() const { return encoded != nullptr; }
  SharedObject Shared() const { return SharedObject{object.lock(), encoded}; }
};

int64_t RvOf(const json& object) {
  StatusOr<int64_t> rv = ResourceVersionOf(object);
  return rv.ok() ? *rv : 0;
}

Entry MakeEntry(const std::shared_ptr<const json>& object, int64_t rv) {
  Entry e;
  std::string encoded = object->dump(-1, ' ', false, json::error_handler_t::replace);
  // dump() appends as it goes: the string's capacity ends up to twice its length, and the
  // cache keeps every object's encoding for as long as the object lives (~25 % of the
  // encodings' memory at 10,000 workloads; docs/performance.md).
  encoded.shrink_to_fit();
  e.encoded = std::make_shared<const std::string>(std::move(encoded));
  e.labels = std::make_shared<const Labels>(LabelsOf(*object));
  e.object = object;
  e.rv = rv;
  return e;
}

// How much the events queued for delivery may hold of decoded trees, counted in their
// encodings' bytes (CacherOptions::delivery_tree_budget_bytes). Shared with the queued
// deliveries, which release what they hold once delivered.
class DeliveryBudget {
 public:
  explicit DeliveryBudget(size_t limit) : limit_(limit) {}
  // Whether an event of `bytes` may hold its tree (then counted until Release).
  bool TryHold(size_t bytes) {
    size_t now = held_.load(std::memory_order_relaxed);
    do {
      if (now + bytes > limit_) return false;
    } while (!held_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    return true;
  }
  void Release(size_t bytes) { held_.fetch_sub(bytes, std::memory_order_relaxed); }
  size_t held() const { return held_.load(std::memory_order_relaxed); }

 private:
  const size_t limit_;
  std::atomic<size_t> held_{0};
};

// One event as watchers get it: `object`'s decoded tree (held for the delivery), its entry,
// and the entry it replaced (absent for creations), whose labels decide selector transitions.
struct Event {
  WatchEventType type;
  Key key;
  std::shared_ptr<const json> tree;
  Entry object;  // after the write (for deletions: the last state at the deletion's revision)
  Entry prev;
  int64_t rv = 0;
  size_t held = 0;  // bytes counted against the delivery budget for `tree` (queued events)
};

// The window: the last events, each as its entries (their encodings; trees only while held,
// as in the current map: a soak once grew the heap by ~3 MiB a minute while every resource's
// window filled with trees).
struct WindowEvent {
  WatchEventType type;
  Key key;
  Entry object;
  Entry prev;
  int64_t rv = 0;
  Timestamp arrived;  // for CacherOptions::window_max_age
};

// A window event to deliver again (a replay): its tree decoded from its bytes if need be.
Event Recalled(const WindowEvent& w) {
  return Event{w.type, w.key, DecodedObject(w.object.Shared()), w.object, w.prev, w.rv};
}

struct Watcher {
  ResourceType type;
  std::string ns;
  LabelSelector selector;
  int64_t from = 0;
  WatchCallback callback;
  std::mutex mu;  // held while the callback runs; guards cancelled
  bool cancelled = false;
  // Latest per object (Store::WatchLatestFrom): the events not yet delivered, merged per
  // object, the objects in the order they first changed, and whether a delivery of them is
  // queued on the delivery thread. Guarded by pending_mu (taken under the core's lock).
  bool latest_per_object = false;
  std::mutex pending_mu;
  std::map<Key, std::vector<Event>> pending;
  std::vector<Key> pending_order;
  bool delivery_queued = false;
};

const Labels& LabelsOfEntry(const Entry& e) { return *e.labels; }

bool Selected(const LabelSelector& selector, const Entry& e) {
  if (selector.Empty()) return true;
  return e.Present() && selector.Matches(*e.labels);
}

// Delivers one event to one watcher, with Kubernetes' label-selector transitions (an object
// that stops matching is DELETED for that watcher, one that starts matching ADDED), as the
// memory store does.
void Deliver(Watcher& w, const Event& e) {
  std::lock_guard lock(w.mu);
  if (w.cancelled || e.rv <= w.from) return;
  if (!w.ns.empty() && e.key.first != w.ns) return;
  WatchEvent ev{e.type, ObjectKey{w.type, e.key.first, e.key.second}, e.tree, e.rv,
                e.object.encoded};
  const bool now = Selected(w.selector, e.object);
  if (e.type == WatchEventType::kModified && !w.selector.Empty()) {
    const bool before = Selected(w.selector, e.prev);
    if (!before && !now) return;
    if (before && !now) ev.type = WatchEventType::kDeleted;
    if (!before && now) ev.type = WatchEventType::kAdded;
  } else if (e.type == WatchEventType::kDeleted) {
    // A merged deletion (WatchLatestFrom) may end a state that matched while its last one
    // does not: the watcher was told of the object, so it is told it went.
    if (!now && !Selected(w.selector, e.prev)) return;
  } else if (!now) {
    return;
  }
  w.callback(ev);
}

// Merges `e` into the events of one object not yet delivered to a latest-per-object watcher
// (Store::WatchLatestFrom): a deletion followed by a new state stays two events; otherwise
// the last one becomes `e`'s state, as a transition from the state before it (created then
// changed is still a creation).
void MergeInto(std::vector<Event>& pending, Event e, DeliveryBudget& budget) {
  if (pending.empty() || (pending.back().type == WatchEventType::kDeleted &&
                          e.type != WatchEventType::kDeleted)) {
    pending.push_back(std::move(e));
    return;
  }
  Event& last = pending.back();
  if (!(last.type == WatchEventType::kAdded && e.type == WatchEventType::kModified)) {
    last.type = e.type;
  }
  budget.Release(last.held);
  last.held = e.held;
  last.tree = std::move(e.tree);
  last.object = std::move(e.object);
  last.rv = e.rv;
}

// `e` as a queued event holds it: its tree while the budget allows, else only its bytes.
Event Queued(const Event& e, DeliveryBudget& budget) {
  Event queued = e;
  const size_t bytes = e.object.encoded ? e.object.encoded->size() : 0;
  if (queued.tree && budget.TryHold(bytes)) {
    queued.held = bytes;
  } else {
    queued.tree.reset();
  }
  return queued;
}

// Delivers an event taken off the queue (decoding its bytes if it did not keep its tree),
// then lets its tree go.
void DeliverQueued(Watcher& w, Event& e, DeliveryBudget& budget) {
  if (!e.tree) e.tree = DecodedObject(e.object.Shared());
  Deliver(w, e);
  e.tree.reset();
  budget.Release(e.held);
  e.held = 0;
}

using Objects = std::map<Key, Entry>;

// A write made through the cacher, kept until its event arrives (null object: a deletion).
// Not encoded: Get is the only reader, and most are never read before the event replaces them.
struct RecentWrite {
  std::shared_ptr<const json> object;
  int64_t rv = 0;
};

// A consistent read parked until a round numbered at least `want` returns.
struct ParkedRead {
  uint64_t want = 0;
  Cacher::ProofCallback done;
};

struct TypeCache {
  ResourceType type;
  Objects objects;
  LabelIndex<Objects> by_label;  // of `objects`
  size_t object_bytes = 0;  // the encodings' sizes of `objects`
  std::deque<WindowEvent> window;
  size_t window_bytes = 0;  // the encodings' sizes of the events in `window`
  int64_t floor = 0;        // every event after this revision is in `window`
  int64_t rv = 0;           // the newest revision this resource's watch delivered (or the list's)
  std::vector<std::shared_ptr<Watcher>> watchers;         // every event, in order
  std::vector<std::shared_ptr<Watcher>> latest_watchers;  // latest per object (merged)
  // Writes made through the cacher whose events have not arrived yet: the objects (Get's
  // read-your-writes) and their revisions (what single_writer completeness waits for).
  std::map<Key, RecentWrite> recent_writes;
  std::multiset<int64_t> pending;
  std::unique_ptr<Watch> store_watch;
  // Consistent reads with several writers (cacher.h): the store's last write of this resource
  // is read by rounds numbered in the order they are sent, at most
  // CacherOptions::consistent_read_rounds_in_flight at a time; a round answers every reader
  // that arrived before it was sent.
  size_t rounds_in_flight = 0;
  uint64_t rounds_sent = 0;    // the number of the newest round sent
  uint64_t rounds_done = 0;    // how many have returned (any order)
  uint64_t round_readers = 0;  // readers answered by rounds (readers per round, a metric)
  uint64_t parked_reads = 0;   // of which parked ones (WhenConsistent)
  uint64_t newest_round = 0;   // the number of the newest round returned (not older ones)
  Status round_status;         // its status
  int64_t round_revision = 0;  // and its answer
  size_t readers_waiting = 0;  // readers waiting for a round (or making one), parked too
  uint64_t store_reads = 0;    // reads the cache could not answer (FallThroughReads)
  // Events posted to the delivery thread, not yet delivered (read without the lock: Stats).
  std::shared_ptr<std::atomic<size_t>> undelivered = std::make_shared<std::atomic<size_t>>(0);
  // Parked reads (WhenConsistent), in arrival order, so `want` never decreases along it;
  // `pumping` while a WhenConsistent caller sends rounds for them (at most one at a time).
  std::deque<ParkedRead> parked;
  bool pumping = false;
  // While the sender holds the next round (CacherOptions::consistent_read_hold): the parked
  // reads it waits for (0: not holding), and what wakes it once that many are parked.
  size_t hold_until_parked = 0;
  std::condition_variable hold_done;
  uint64_t held_rounds = 0;
};

// The parked reads a round answered, and what it proved, to be called with the lock released.
struct AnsweredReads {
  std::vector<ParkedRead> reads;
  ConsistentReadProof proof;
};

thread_local const ConsistentReadProof* current_proof = nullptr;

// The cacher's continue token: base64url of {"cache":1,"rv":R,"ns":..,"name":..}.
std::string EncodeToken(int64_t rv, const Key& after) {
  json t = {{"cache", 1}, {"rv", rv}, {"ns", after.first}, {"name", after.second}};
  return Base64UrlEncode(t.dump());
}

// False when `token` is not one of the cacher's (then it is the store's).
bool DecodeToken(const std::string& token, int64_t* rv, Key* after) {
  std::string raw;
  if (!Base64UrlDecode(token, &raw)) return false;
  json t = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!t.is_object() || !t.contains("cache") || !t.contains("rv") || !t["rv"].is_number_integer() ||
      !t.contains("ns") || !t["ns"].is_string() || !t.contains("name") || !t["name"].is_string()) {
    return false;
  }
  *rv = t["rv"].get<int64_t>();
  *after = {t["ns"].get<std::string>(), t["name"].get<std::string>()};
  return true;
}

// State shared with the watches handed out (which may outlive a call, not the cacher).
struct Core {
  std::mutex mu;  // guards everything below
  std::condition_variable progressed;
  std::map<ResourceType, std::unique_ptr<TypeCache>> types;
  int64_t fall_through = 0;
};

class CacherWatch : public Watch {
 public:
  CacherWatch(std::shared_ptr<Core> core, std::shared_ptr<Watcher> w)
      : core_(std::move(core)), w_(std::move(w)) {}
  ~CacherWatch() override { Cancel(); }
  void Cancel() override {
    {
      std::lock_guard lock(w_->mu);  // waits for a delivery in progress
      if (w_->cancelled) return;
      w_->cancelled = true;
    }
    std::lock_guard lock(core_->mu);
    auto t = core_->types.find(w_->type);
    if (t != core_->types.end()) {
      std::erase(t->second->watchers, w_);
      std::erase(t->second->latest_watchers, w_);
    }
  }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Watcher> w_;
};

class CacherImpl : public Cacher {
 public:
  CacherImpl(std::unique_ptr<Store> inner, CacherOptions options)
      : inner_(std::move(inner)), options_(options) {
    options_.consistent_read_rounds_in_flight =
        std::max<size_t>(1, options_.consistent_read_rounds_in_flight);
  }

  ~CacherImpl() override {
    // No more events from the store, then every delivery already queued runs.
    std::vector<std::unique_ptr<Watch>> watches;
    {
      std::lock_guard lock(core_->mu);
      for (auto& [type, tc] : core_->types) watches.push_back(std::move(tc->store_watch));
    }
    watches.clear();
    delivery_->Drain();
  }

  bool ParksConsistentReads() const override {
    return !options_.single_writer && options_.consistent_reads_from_cache;
  }

  using Cacher::WhenConsistent;
  bool WhenConsistent(const ResourceType& type, ProofCallback done,
                      const RoundRunner& send_rounds) override {
    if (!ParksConsistentReads() || last_write_untracked_.load()) return false;
    StatusOr<TypeCache*> started = Ensure(type);
    if (!started.ok()) return false;  // the blocking path meets (and answers) the same error
    TypeCache& tc = **started;
    std::unique_lock lock(core_->mu);
    // Answered by the first round sent after now, as a blocking reader (LastWriteLocked).
    tc.parked.push_back(ParkedRead{tc.rounds_sent + 1, std::move(done)});
    ++tc.readers_waiting;
    if (tc.pumping) {  // the sender in its loop sends a round for this one too
      if (tc.hold_until_parked != 0 && tc.parked.size() >= tc.hold_until_parked) {
        tc.hold_done.notify_one();  // the last reader it held the round for is back
      }
      return true;
    }
    // This thread sends rounds while a parked read waits for one not yet sent: reads that
    // arrive meanwhile park behind the round in flight and are answered by the next, so one
    // round answers every read that arrived during the one before. A blocking reader's round
    // may hold the only slot: wait for it (it answers what it covers when it returns).
    tc.pumping = true;
    if (send_rounds) {
      lock.unlock();
      TypeCache* cache = &tc;  // kept in core_->types as long as the cacher lives
      send_rounds([this, cache] {
        std::unique_lock pump_lock(core_->mu);
        SendRoundsLocked(pump_lock, *cache);
      });
      return true;
    }
    SendRoundsLocked(lock, tc);
    return true;
  }

  // The round sender's loop (WhenConsistent; tc.pumping is set).
  void SendRoundsLocked(std::unique_lock<std::mutex>& lock, TypeCache& tc) {
    size_t returning = 0;  // reads the last round this thread sent answered
    while (true) {
      if (returning != 0) HoldNextRoundLocked(lock, tc, returning);
      returning = 0;
      if (tc.parked.empty() || tc.parked.back().want <= tc.rounds_sent) break;
      if (tc.rounds_in_flight >= options_.consistent_read_rounds_in_flight) {
        core_->progressed.wait(lock);  // each store call is bounded by its own deadline
        continue;
      }
      AnsweredReads answered = SendRoundLocked(lock, tc);
      returning = answered.reads.size();
      RunAnsweredLocked(lock, answered);
    }
    tc.pumping = false;
  }

  // Holds the next round (CacherOptions::consistent_read_hold) until the `returning` reads the
  // last round answered are parked again, as many as were already waiting besides, another
  // reader sent a round, or the hold's time on the clock is up. Only delays a round: every
  // parked read is still answered by a round sent after it arrived.
  void HoldNextRoundLocked(std::unique_lock<std::mutex>& lock, TypeCache& tc, size_t returning) {
    if (options_.consistent_read_hold.count() <= 0) return;
    const size_t target = tc.parked.size() + returning;
    const uint64_t sent = tc.rounds_sent;
    const Timestamp until = clock_.Now() + options_.consistent_read_hold;
    ++tc.held_rounds;
    tc.hold_until_parked = target;
    while (tc.parked.size() < target && tc.rounds_sent == sent) {
      const auto left = until - clock_.Now();
      if (left <= Timestamp::duration::zero()) break;
      // Woken by the reader that completes the target; a FakeClock moved past `until` is seen
      // at the latest one hold later.
      tc.hold_done.wait_for(lock, left);
    }
    tc.hold_until_parked = 0;
  }

  Status Prime(const std::vector<ResourceType>& types) override {
    for (const ResourceType& t : types) {
      StatusOr<TypeCache*> tc = Ensure(t);
      if (!tc.ok()) return tc.status();
    }
    return Status::Ok();
  }

  int64_t CachedRevision(const ResourceType& type) override {
    std::lock_guard lock(core_->mu);
    auto t = core_->types.find(type);
    return t == core_->types.end() ? 0 : CompleteLocked(*t->second);
  }

  int64_t FallThroughReads() override {
    std::lock_guard lock(core_->mu);
    return core_->fall_through;
  }

  std::vector<ResourceCacheStats> Stats() override {
    std::lock_guard lock(core_->mu);
    std::vector<ResourceCacheStats> out;
    out.reserve(core_->types.size());
    for (const auto& [type, tc] : core_->types) {
      out.push_back({type, tc->objects.size(), tc->object_bytes, tc->window.size(),
                     tc->window_bytes, tc->rounds_done, tc->round_readers, tc->parked_reads,
                     tc->held_rounds, tc->readers_waiting, tc->store_reads,
                     tc->undelivered->load()});
    }
    return out;
  }

  StatusOr<SharedObject> GetShared(const ObjectKey& key, bool any) override {
    std::optional<StatusOr<SharedObject>> cached = FromCache(key, any);
    if (cached) return std::move(*cached);
    return inner_->GetShared(key, false);
  }

  StatusOr<json> Get(const ObjectKey& key) override {
    std::optional<StatusOr<SharedObject>> cached = FromCache(key, false);
    if (!cached) return inner_->Get(key);
    if (!cached->ok()) return cached->status();
    return Copied(**cached);
  }

  StatusOr<json> GetAny(const ObjectKey& key) override {
    std::optional<StatusOr<SharedObject>> cached = FromCache(key, true);
    if (!cached->ok()) return cached->status();
    return Copied(**cached);
  }

  // A GET as the cache answers it (the object, kNotFound, or the store's error when the
  // resource's cache cannot start or a round failed), or nullopt when the store must answer
  // it (a consistent read the cache cannot prove). `any`: GetAny, the cache as it is.
  std::optional<StatusOr<SharedObject>> FromCache(const ObjectKey& key, bool any) {
    StatusOr<TypeCache*> started = Ensure(key.type);
    if (!started.ok()) return StatusOr<SharedObject>(started.status());
    TypeCache* tc = *started;
    std::unique_lock lock(core_->mu);
    if (any) return FoundLocked(*tc, key);
    // A GET is a consistent read (Kubernetes: resourceVersion ""). A single writer's cache
    // has every write but its own in flight, which recent_writes holds; with other writers
    // the cache answers once it is proven to hold the resource's newest write, else the store.
    if (!options_.single_writer) {
      bool fresh = false;  // off: one store read rather than two (the revision, then the key)
      if (options_.consistent_reads_from_cache) {
        StatusOr<bool> proven = FreshLocked(lock, *tc);
        if (!proven.ok()) return StatusOr<SharedObject>(proven.status());
        fresh = *proven;
      }
      if (!fresh) {
        ++core_->fall_through;
        ++tc->store_reads;
        return std::nullopt;
      }
    }
    return FoundLocked(*tc, key);
  }

  // The object as the cache of `tc` holds it (or this cacher's own newer write of it). The
  // caller decodes it, if it must, after letting go of the lock.
  StatusOr<SharedObject> FoundLocked(const TypeCache& tc, const ObjectKey& key) {
    const Key k{key.ns, key.name};
    auto it = tc.objects.find(k);
    auto w = tc.recent_writes.find(k);
    if (w != tc.recent_writes.end() && (it == tc.objects.end() || w->second.rv > it->second.rv)) {
      if (!w->second.object) return NotFoundError(key.ToString() + " not found");
      return SharedObject{w->second.object, nullptr};
    }
    if (it == tc.objects.end()) return NotFoundError(key.ToString() + " not found");
    return it->second.Shared();
  }

  // A copy the caller may change: of the tree when someone still holds one, else decoded.
  static json Copied(const SharedObject& o) {
    if (o.object) return *o.object;
    return json::parse(*o.encoded);
  }

  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    MERIDIAN_ASSIGN_OR_RETURN(SharedListResult shared, ListShared(type, options));
    ListResult out;
    out.items.reserve(shared.items.size());
    for (const SharedObject& o : shared.items) out.items.push_back(Copied(o));
    out.resource_version = shared.resource_version;
    out.continue_token = std::move(shared.continue_token);
    out.remaining_item_count = shared.remaining_item_count;
    return out;
  }

  StatusOr<SharedListResult> ListShared(const ResourceType& type,
                                        const ListOptions& options) override {
    if (options.limit < 0) return InvalidArgumentError("limit must be >= 0");
    MERIDIAN_ASSIGN_OR_RETURN(TypeCache * tc, Ensure(type));
    int64_t snapshot = 0;  // 0: the cache as it is
    Key after;
    bool has_after = false;
    if (!options.continue_token.empty()) {
      if (!DecodeToken(options.continue_token, &snapshot, &after))
        return FallThrough(type, options);
      has_after = true;
    } else if (options.match == ResourceVersionMatch::kExact) {
      snapshot = options.resource_version;
    }
    std::unique_lock lock(core_->mu);
    switch (has_after ? ResourceVersionMatch::kExact : options.match) {
      case ResourceVersionMatch::kAny:
        break;
      case ResourceVersionMatch::kMostRecent: {
        MERIDIAN_ASSIGN_OR_RETURN(bool fresh, FreshLocked(lock, *tc));
        if (!fresh) {
          lock.unlock();
          return FallThrough(type, options);
        }
        break;
      }
      case ResourceVersionMatch::kNotOlderThan:
      case ResourceVersionMatch::kExact: {
        const int64_t want = has_after ? snapshot : options.resource_version;
        if (!has_after && options.match == ResourceVersionMatch::kNotOlderThan &&
            !options_.single_writer && CompleteLocked(*tc) < want) {
          // Without ordered progress the cache may never prove `want`; the store can.
          lock.unlock();
          if (inner_->CurrentResourceVersion() >= want) return FallThrough(type, options);
          lock.lock();
        }
        if (!WaitLocked(lock, *tc, want, options_.too_new_wait)) {
          const int64_t complete = CompleteLocked(*tc);
          lock.unlock();
          // The store's newest state is not older than `want` once it has reached it.
          if (!has_after && options.match == ResourceVersionMatch::kNotOlderThan &&
              inner_->CurrentResourceVersion() >= want) {
            return FallThrough(type, options);
          }
          return DeadlineExceededError("Too large resource version: " + std::to_string(want) +
                                       ", current: " + std::to_string(complete));
        }
        break;
      }
    }
    const int64_t complete = CompleteLocked(*tc);
    if (snapshot != 0 && snapshot < tc->floor) {
      if (has_after) {
        return OutOfRangeError(
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter.");
      }
      return OutOfRangeError("too old resource version: " + std::to_string(snapshot) + " (" +
                             std::to_string(tc->floor + 1) + ")");
    }
    // The objects as of `snapshot`: the current map, or a copy rolled back through the window.
    const std::map<Key, Entry>* view = &tc->objects;
    std::map<Key, Entry> rolled;
    if (snapshot != 0 && snapshot < tc->rv) {
      rolled = tc->objects;
      for (auto e = tc->window.rbegin(); e != tc->window.rend() && e->rv > snapshot; ++e) {
        if (e->prev.Present()) {
          rolled[e->key] = e->prev;
        } else {
          rolled.erase(e->key);
        }
      }
      view = &rolled;
    }
    SharedListResult out;
    out.resource_version = snapshot != 0 ? snapshot : complete;
    int64_t remaining = 0;
    Key last;
    auto visit = [&](Objects::const_iterator it) {
      if (!options.ns.empty() && it->first.first != options.ns) return false;
      if (options.limit > 0 && static_cast<int64_t>(out.items.size()) >= options.limit) {
        ++remaining;
        return true;
      }
      out.items.push_back(it->second.Shared());
      last = it->first;
      return true;
    };
    const Key from = has_after ? after : Key{options.ns, ""};
    if (view == &tc->objects) {
      tc->by_label.ForEachMatch(tc->objects, options.selector, from, has_after, LabelsOfEntry,
                                visit);
    } else {  // a rolled-back copy has no index
      auto it = has_after ? view->upper_bound(after) : view->lower_bound(from);
      for (; it != view->end(); ++it) {
        if (Selected(options.selector, it->second) && !visit(it)) break;
      }
    }
    if (remaining > 0) {
      out.continue_token = EncodeToken(out.resource_version, last);
      out.remaining_item_count = remaining;
    }
    return out;
  }

  StatusOr<json> Create(const ObjectKey& key, json object) override {
    MERIDIAN_ASSIGN_OR_RETURN(TypeCache * tc, Ensure(key.type));
    StatusOr<json> out = inner_->Create(key, std::move(object));
    if (out.ok()) Remember(*tc, key, &*out);
    return out;
  }

  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(TypeCache * tc, Ensure(key.type));
    StatusOr<json> out = inner_->Update(key, std::move(object), expected);
    if (out.ok()) Remember(*tc, key, &*out);
    return out;
  }

  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(TypeCache * tc, Ensure(key.type));
    StatusOr<json> out = inner_->Delete(key, expected);
    if (out.ok()) Remember(*tc, key, nullptr, RvOf(*out));
    return out;
  }

  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    return StartWatch(type, ns, selector, from, std::move(callback), /*latest_per_object=*/false);
  }

  StatusOr<std::unique_ptr<Watch>> WatchLatestFrom(const ResourceType& type,
                                                   const std::string& ns,
                                                   const LabelSelector& selector, int64_t from,
                                                   WatchCallback callback) override {
    return StartWatch(type, ns, selector, from, std::move(callback), /*latest_per_object=*/true);
  }

  StatusOr<std::unique_ptr<Watch>> StartWatch(const ResourceType& type, const std::string& ns,
                                              const LabelSelector& selector, int64_t from,
                                              WatchCallback callback, bool latest_per_object) {
    MERIDIAN_ASSIGN_OR_RETURN(TypeCache * tc, Ensure(type));
    // "From now" is the store's now: what it acknowledged before this call is not replayed.
    const int64_t current = inner_->CurrentResourceVersion();
    if (from == 0) from = current;
    auto w = std::make_shared<Watcher>();
    w->type = type;
    w->ns = ns;
    w->selector = selector;
    w->callback = std::move(callback);
    w->latest_per_object = latest_per_object;
    std::unique_lock lock(core_->mu);
    // Catch up first where progress can be proven, so that the window (and 410) is the one
    // of the store's current revision, as a store's own watch would see it.
    if (options_.single_writer) WaitLocked(lock, *tc, current, options_.consistent_read_wait);
    w->from = from;
    if (w->from < tc->floor) {
      return OutOfRangeError("too old resource version: " + std::to_string(w->from) + " (" +
                             std::to_string(tc->floor + 1) + ")");
    }
    // The events to replay, with whether each is redacted (superseded or deleted since: no
    // data; deleted ones were redacted by the store). Decoded on the delivery thread, not
    // under the cache's lock.
    auto replay = std::make_shared<std::vector<std::pair<WindowEvent, bool>>>();
    const bool redact = options_.redact && options_.redact_replays.count(type) > 0;
    for (auto e = tc->window.rbegin(); e != tc->window.rend() && e->rv > w->from; ++e) {
      auto now = tc->objects.find(e->key);
      replay->emplace_back(*e, redact && (now == tc->objects.end() || now->second.rv != e->rv));
    }
    std::reverse(replay->begin(), replay->end());
    (latest_per_object ? tc->latest_watchers : tc->watchers).push_back(w);
    if (!replay->empty()) {
      delivery_->Post([w, replay, redactor = options_.redact] {
        for (const auto& [window_event, redacted] : *replay) {
          Event e = Recalled(window_event);
          if (redacted) {
            auto redacted_tree = std::make_shared<json>(*e.tree);
            redactor(*redacted_tree);
            e.tree = std::move(redacted_tree);
            e.object = MakeEntry(e.tree, e.rv);
          }
          Deliver(*w, e);
        }
      });
    }
    return std::unique_ptr<Watch>(std::make_unique<CacherWatch>(core_, w));
  }

  int64_t CurrentResourceVersion() override { return inner_->CurrentResourceVersion(); }

  bool NeedsRewrite(const ObjectKey& key, const json& stored) override {
    return inner_->NeedsRewrite(key, stored);
  }

 private:
  // The revision up to which the cache of `tc` is known complete. A single writer's cache is
  // complete up to the store's revision but for its own writes still on their way.
  int64_t CompleteLocked(const TypeCache& tc) {
    if (!options_.single_writer) return tc.rv;
    int64_t complete = inner_->CurrentResourceVersion();
    if (!tc.pending.empty()) complete = std::min(complete, *tc.pending.begin() - 1);
    return std::max(complete, tc.rv);
  }

  // Waits (lock held, released while waiting) until the cache of `tc` is complete up to `rv`.
  bool WaitLocked(std::unique_lock<std::mutex>& lock, const TypeCache& tc, int64_t rv,
                  std::chrono::milliseconds wait) {
    return core_->progressed.wait_for(lock, wait, [&] { return CompleteLocked(tc) >= rv; });
  }

  // Whether the cache of `tc` may answer a consistent read (lock held; released while the
  // store is asked and while waiting): once it is complete up to the store's current revision
  // (single writer), or up to the resource's newest write (several writers), within
  // consistent_read_wait. False when it is not, or the store cannot tell: the store answers.
  // The store's error when asking it failed (unreachable, no quorum): the read would too.
  StatusOr<bool> FreshLocked(std::unique_lock<std::mutex>& lock, TypeCache& tc) {
    if (options_.single_writer) {
      lock.unlock();
      const int64_t current = inner_->CurrentResourceVersion();
      lock.lock();
      return WaitLocked(lock, tc, current, options_.consistent_read_wait);
    }
    if (!options_.consistent_reads_from_cache) {
      lock.unlock();
      const int64_t current = inner_->CurrentResourceVersion();
      lock.lock();
      return CompleteLocked(tc) >= current;
    }
    // A parked read served under its round's proof (WhenConsistent): that round was sent
    // after the read arrived, so it proves what a round of its own would.
    if (const ConsistentReadProof* proof = ProvenConsistentRead::Current();
        proof != nullptr && proof->cacher == this && proof->type == tc.type) {
      if (proof->status.code() == StatusCode::kUnimplemented) return false;
      if (!proof->status.ok()) return proof->status;
      return WaitLocked(lock, tc, proof->last_write, options_.consistent_read_wait);
    }
    if (last_write_untracked_.load()) return false;
    StatusOr<int64_t> last = LastWriteLocked(lock, tc);
    if (last.status().code() == StatusCode::kUnimplemented) return false;
    if (!last.ok()) return last.status();
    return WaitLocked(lock, tc, *last, options_.consistent_read_wait);
  }

  // The store's last write of `tc`'s resource, from a round sent after this call began: a
  // round sent earlier may have been answered before a write this reader must see was
  // acknowledged, so a reader that arrives while rounds are in flight waits for one sent after
  // it. The reader that finds no such round sent starts it at once unless
  // consistent_read_rounds_in_flight are out (then the first to find a slot free sends it);
  // every reader that arrived before it shares it. Rounds may return out of order: any round
  // numbered at least `want` proves what this reader must see, so the newest one returned
  // answers. A crowd of readers costs the store one read per round, not one each, and a
  // reader waits about one round trip, not one and a half.
  StatusOr<int64_t> LastWriteLocked(std::unique_lock<std::mutex>& lock, TypeCache& tc) {
    const uint64_t want = tc.rounds_sent + 1;
    ++tc.readers_waiting;
    while (tc.newest_round < want) {
      if (tc.rounds_sent >= want ||
          tc.rounds_in_flight >= options_.consistent_read_rounds_in_flight) {
        core_->progressed.wait(lock);  // each store call is bounded by its own deadline
        continue;
      }
      AnsweredReads answered = SendRoundLocked(lock, tc);
      RunAnsweredLocked(lock, answered);
    }
    --tc.readers_waiting;
    ++tc.round_readers;
    if (!tc.round_status.ok()) return tc.round_status;
    return tc.round_revision;
  }

  // Sends the next round (lock held; released during the store call), records its answer if
  // it is the newest returned, wakes blocking readers, and takes the parked reads it answers.
  AnsweredReads SendRoundLocked(std::unique_lock<std::mutex>& lock, TypeCache& tc) {
    const uint64_t round = ++tc.rounds_sent;
    ++tc.rounds_in_flight;
    tc.hold_done.notify_one();  // a sender holding its next round: this one will do
    lock.unlock();
    StatusOr<int64_t> got = inner_->LastWriteRevision(tc.type);
    lock.lock();
    --tc.rounds_in_flight;
    ++tc.rounds_done;
    if (round > tc.newest_round) {
      tc.newest_round = round;
      tc.round_status = got.ok() ? Status::Ok() : got.status();
      tc.round_revision = got.ok() ? *got : 0;
    }
    if (got.status().code() == StatusCode::kUnimplemented) last_write_untracked_.store(true);
    core_->progressed.notify_all();
    AnsweredReads answered;
    answered.proof = {this, tc.type, tc.round_status, tc.round_revision};
    while (!tc.parked.empty() && tc.parked.front().want <= tc.newest_round) {
      answered.reads.push_back(std::move(tc.parked.front()));
      tc.parked.pop_front();
      --tc.readers_waiting;
      ++tc.round_readers;
      ++tc.parked_reads;
    }
    return answered;
  }

  // Calls the parked reads' callbacks with the lock released (they may read through the
  // cacher, or hand the read to another thread that does).
  void RunAnsweredLocked(std::unique_lock<std::mutex>& lock, AnsweredReads& answered) {
    if (answered.reads.empty()) return;
    lock.unlock();
    for (ParkedRead& p : answered.reads) p.done(answered.proof);
    answered.reads.clear();  // the callbacks' captures go before the lock is taken again
    lock.lock();
  }

  StatusOr<SharedListResult> FallThrough(const ResourceType& type, const ListOptions& options) {
    {
      std::lock_guard lock(core_->mu);
      ++core_->fall_through;
      auto t = core_->types.find(type);
      if (t != core_->types.end()) ++t->second->store_reads;
    }
    return inner_->ListShared(type, options);
  }

  // Keeps what a write through the cacher stored (null: deleted) until its event arrives.
  void Remember(TypeCache& tc, const ObjectKey& key, const json* stored, int64_t rv = 0) {
    RecentWrite e;
    if (stored != nullptr) {
      rv = RvOf(*stored);
      e.object = std::make_shared<const json>(*stored);
    }
    e.rv = rv;
    std::lock_guard lock(core_->mu);
    if (rv > tc.rv) {
      tc.recent_writes[Key{key.ns, key.name}] = std::move(e);
      tc.pending.insert(rv);
    }
  }

  // The cache of `type`, started (listed and watched) on first use.
  StatusOr<TypeCache*> Ensure(const ResourceType& type) {
    {
      std::lock_guard lock(core_->mu);
      auto t = core_->types.find(type);
      if (t != core_->types.end()) return t->second.get();
    }
    std::lock_guard start(start_mu_);  // one start at a time; the store calls are outside mu
    {
      std::lock_guard lock(core_->mu);
      auto t = core_->types.find(type);
      if (t != core_->types.end()) return t->second.get();
    }
    auto tc = std::make_unique<TypeCache>();
    tc->type = type;
    StatusOr<ListResult> listed = inner_->List(type, {});
    if (!listed.ok()) return listed.status();
    for (json& item : listed->items) {
      const int64_t rv = RvOf(item);
      auto meta = item.find("metadata");
      Key k{meta != item.end() ? meta->value("namespace", "") : "",
            meta != item.end() ? meta->value("name", "") : ""};
      auto [it, inserted] = tc->objects.emplace(
          std::move(k), MakeEntry(std::make_shared<const json>(std::move(item)), rv));
      if (inserted) {
        tc->by_label.Add(it, *it->second.labels);
        tc->object_bytes += it->second.encoded->size();
      }
    }
    tc->rv = tc->floor = listed->resource_version;
    TypeCache* raw = tc.get();
    {
      std::lock_guard lock(core_->mu);
      core_->types.emplace(type, std::move(tc));
    }
    StatusOr<std::unique_ptr<Watch>> w = inner_->WatchFrom(
        type, "", {}, raw->rv, [this, raw](const WatchEvent& e) { Ingest(*raw, e); });
    if (!w.ok()) {
      std::lock_guard lock(core_->mu);
      core_->types.erase(type);
      return w.status();
    }
    std::lock_guard lock(core_->mu);
    raw->store_watch = std::move(w).value();
    return raw;
  }

  // Adds `ev` to a latest-per-object watcher's pending events (core lock held), and queues
  // their delivery unless it is queued already.
  void EnqueueLatest(TypeCache& tc, const std::shared_ptr<Watcher>& w, const Event& ev) {
    std::lock_guard lock(w->pending_mu);
    std::vector<Event>& events = w->pending[ev.key];
    if (events.empty()) {
      w->pending_order.push_back(ev.key);
      tc.undelivered->fetch_add(1);
    }
    MergeInto(events, Queued(ev, *delivery_budget_), *delivery_budget_);
    if (w->delivery_queued) return;
    w->delivery_queued = true;
    delivery_->Post([w, budget = delivery_budget_, undelivered = tc.undelivered] {
      std::map<Key, std::vector<Event>> pending;
      std::vector<Key> order;
      {
        std::lock_guard lock(w->pending_mu);
        pending.swap(w->pending);
        order.swap(w->pending_order);
        w->delivery_queued = false;
      }
      for (const Key& key : order) {
        auto it = pending.find(key);
        if (it == pending.end()) continue;
        for (Event& e : it->second) DeliverQueued(*w, e, *budget);
        pending.erase(it);
        undelivered->fetch_sub(1);
      }
    });
  }

  // One event from the store (its delivery thread): applied, windowed, fanned out.
  void Ingest(TypeCache& tc, const WatchEvent& e) {
    if (!e.object) return;
    Entry after = MakeEntry(e.object, e.resource_version);
    std::lock_guard lock(core_->mu);
    if (e.resource_version <= tc.rv) return;  // already listed
    const Key k{e.key.ns, e.key.name};
    Event ev{e.type, k, e.object, after, {}, e.resource_version};
    auto it = tc.objects.find(k);
    if (it != tc.objects.end()) {
      ev.prev = it->second;
      tc.by_label.Remove(it, *it->second.labels);
      tc.object_bytes -= it->second.encoded->size();
    }
    if (e.type == WatchEventType::kDeleted) {
      if (it != tc.objects.end()) tc.objects.erase(it);
    } else {
      it = tc.objects.insert_or_assign(k, after).first;
      tc.by_label.Add(it, *it->second.labels);
      tc.object_bytes += after.encoded->size();
    }
    tc.rv = e.resource_version;
    std::erase_if(tc.recent_writes, [&](const auto& w) { return w.second.rv <= tc.rv; });
    tc.pending.erase(tc.pending.begin(), tc.pending.upper_bound(tc.rv));
    if (!tc.watchers.empty()) {
      tc.undelivered->fetch_add(1);
      // The queued event holds its tree only within the budget: behind a slow watcher, the
      // queue would otherwise hold a tree per event (several times its bytes; thousands of
      // events behind at 10,000 workloads). Past it the event keeps the bytes the cache
      // holds anyway, and the delivery decodes them again unless someone still holds the tree.
      delivery_->Post([watchers = tc.watchers, e = Queued(ev, *delivery_budget_),
                       budget = delivery_budget_, undelivered = tc.undelivered]() mutable {
        if (!e.tree) e.tree = DecodedObject(e.object.Shared());
        for (const auto& w : watchers) Deliver(*w, e);
        e.tree.reset();
        budget->Release(e.held);
        undelivered->fetch_sub(1);
      });
    }
    for (const std::shared_ptr<Watcher>& w : tc.latest_watchers) EnqueueLatest(tc, w, ev);
    const Timestamp now = clock_.Now();
    const bool aged = options_.window_max_age.count() > 0;
    tc.window_bytes += ev.object.encoded->size();
    tc.window.push_back(WindowEvent{ev.type, ev.key, ev.object, ev.prev, ev.rv, now});
    while (!tc.window.empty() &&
           (tc.window.size() > options_.window_events || tc.window_bytes > options_.window_bytes ||
            (aged && now - tc.window.front().arrived > options_.window_max_age))) {
      tc.floor = tc.window.front().rv;
      tc.window_bytes -= tc.window.front().object.encoded->size();
      tc.window.pop_front();
    }
    core_->progressed.notify_all();
  }

  std::unique_ptr<Store> inner_;
  CacherOptions options_;  // const after the constructor
  const Clock& clock_ = options_.clock ? *options_.clock : RealClock();
  std::shared_ptr<Core> core_ = std::make_shared<Core>();
  std::shared_ptr<WatchDispatcher> delivery_ = std::make_shared<WatchDispatcher>();
  std::shared_ptr<DeliveryBudget> delivery_budget_ =
      std::make_shared<DeliveryBudget>(options_.delivery_tree_budget_bytes);
  std::mutex start_mu_;
  // The store answered kUnimplemented to LastWriteRevision: consistent reads go to the store.
  std::atomic<bool> last_write_untracked_{false};
};

}  // namespace

ProvenConsistentRead::ProvenConsistentRead(const ConsistentReadProof& proof)
    : previous_(current_proof) {
  current_proof = &proof;
}

ProvenConsistentRead::~ProvenConsistentRead() { current_proof = previous_; }

const ConsistentReadProof* ProvenConsistentRead::Current() { return current_proof; }

std::unique_ptr<Cacher> NewCacher(std::unique_ptr<Store> inner, CacherOptions options) {
  return std::make_unique<CacherImpl>(std::move(inner), options);
}

}  // namespace meridian::apimachinery
