// The watch cache (apimachinery/cacher.h): the Store conformance suite through it, then what
// it adds: reads from memory, selectors and paging on snapshots, resourceVersion semantics
// (Any, MostRecent, NotOlderThan, Exact, 410 Gone outside the window), consistent reads that
// see another client's write, and read-your-writes while the store's events are held back.
#include "apimachinery/cacher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/watch_dispatcher.h"
#include "common/clock.h"
#include "test/apimachinery/store_conformance.h"

namespace meridian::apimachinery::testing {
namespace {

using json = nlohmann::json;

const ResourceType kPods{"", "pods"};

// Forwards to a store it does not own and counts the reads that reach it: several cachers (or
// a cacher and a direct client) can share one store, as API replicas share etcd.
class SharedStore : public Store {
 public:
  explicit SharedStore(Store& inner) : inner_(inner) {}
  StatusOr<json> Get(const ObjectKey& key) override {
    ++gets;
    return inner_.Get(key);
  }
  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    ++lists;
    return inner_.List(type, options);
  }
  StatusOr<json> Create(const ObjectKey& key, json object) override {
    return inner_.Create(key, std::move(object));
  }
  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    return inner_.Update(key, std::move(object), expected);
  }
  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    return inner_.Delete(key, expected);
  }
  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    ++watches;
    return inner_.WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return inner_.CurrentResourceVersion(); }
  // The inner store's answer, read before the gate: a round held at the gate was answered
  // then, as an etcd read whose reply is still on its way.
  StatusOr<int64_t> LastWriteRevision(const ResourceType& type) override {
    ++last_write_reads;
    if (untracked) return UnimplementedError("not tracked here");
    StatusOr<int64_t> answer =
        failing ? StatusOr<int64_t>(DeadlineExceededError("etcd: no answer within 5000 ms"))
                : inner_.LastWriteRevision(type);
    std::unique_lock lock(gate_mu);
    if (gate_closed) {
      const int ticket = held++;
      gate_cv.notify_all();
      gate_cv.wait(lock, [&] { return !gate_closed || ticket < released; });
    }
    return answer;
  }
  // Lets the oldest round still held at the closed gate return.
  void ReleaseOldest() {
    std::lock_guard lock(gate_mu);
    ++released;
    gate_cv.notify_all();
  }
  void CloseGate() {
    std::lock_guard lock(gate_mu);
    gate_closed = true;
  }
  // False when fewer than n rounds reached the gate within 10 s.
  bool HeldWithin10s(int n) {
    std::unique_lock lock(gate_mu);
    return gate_cv.wait_for(lock, std::chrono::seconds(10), [&] { return held >= n; });
  }
  void OpenGate() {
    std::lock_guard lock(gate_mu);
    gate_closed = false;
    gate_cv.notify_all();
  }

  std::atomic<int> gets{0}, lists{0}, watches{0}, last_write_reads{0};
  std::atomic<bool> untracked{false};
  std::atomic<bool> failing{false};  // rounds fail as an etcd that does not answer

 private:
  Store& inner_;
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_closed = false;
  int held = 0;      // rounds that reached the closed gate (their tickets: 0, 1, ...)
  int released = 0;  // tickets below this return though the gate is closed
};

json Pod(const std::string& ns, const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"labels", {{"app", app}}}}}};
}

ObjectKey Key(const std::string& ns, const std::string& name) { return {kPods, ns, name}; }

int64_t Rv(const json& o) { return ResourceVersionOf(o).value(); }

std::vector<std::string> Names(const ListResult& r) {
  std::vector<std::string> out;
  for (const json& o : r.items) out.push_back(o["metadata"]["name"]);
  return out;
}

// Collects watch events; waits for a count without sleeping on a timer.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchEvent> got;
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lock(mu);
      got.push_back(e);
      cv.notify_all();
    };
  }
  std::vector<WatchEvent> WaitFor(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() >= n; });
    return got;
  }
};

struct Fixture {
  explicit Fixture(CacherOptions options = {}) {
    options.single_writer = true;
    auto shared = std::make_unique<SharedStore>(store);
    counting = shared.get();
    cacher = NewCacher(std::move(shared), options);
  }
  MemoryStore store;
  SharedStore* counting = nullptr;
  std::unique_ptr<Cacher> cacher;

  // Waits until the cache of pods has caught up with the store.
  void Settle() {
    const int64_t rv = store.CurrentResourceVersion();
    for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         cacher->CachedRevision(kPods) < rv && std::chrono::steady_clock::now() < end;) {
      std::this_thread::yield();
    }
  }
};

ResourceCacheStats StatsOfPods(Cacher& cacher) {
  for (const ResourceCacheStats& s : cacher.Stats()) {
    if (s.type == kPods) return s;
  }
  ADD_FAILURE() << "no stats for pods";
  return {};
}

TEST(CacherTest, ReadsAfterStartDoNotReachTheStore) {
  Fixture f;
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(
        f.store.Create(Key("a", "p" + std::to_string(i)), Pod("a", "p" + std::to_string(i), "web"))
            .ok());
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  EXPECT_EQ(f.counting->lists.load(), 1);
  EXPECT_EQ(f.counting->watches.load(), 1);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(f.cacher->Get(Key("a", "p3")).ok());
    ListOptions any;
    any.match = ResourceVersionMatch::kAny;
    ASSERT_EQ(f.cacher->List(kPods, any)->items.size(), 20u);
  }
  EXPECT_EQ(f.cacher->Get(Key("a", "nope")).status().code(), StatusCode::kNotFound);
  // The only writer: consistent reads are answered from memory.
  ASSERT_TRUE(f.cacher->Create(Key("a", "q"), Pod("a", "q", "db")).ok());
  ASSERT_EQ(f.cacher->List(kPods, {})->items.size(), 21u);
  EXPECT_EQ(f.counting->lists.load(), 1);
  EXPECT_EQ(f.counting->gets.load(), 0);
  EXPECT_EQ(f.counting->watches.load(), 1);
}

// The cache keeps each object's bytes, not its decoded tree (several times larger): a shared
// list or GET carries the encoding the cache holds (the same for every reader, never copied)
// and a tree only while someone else still holds one (here a watcher's event); Get and List
// decode the bytes again, equal to what was stored.
TEST(CacherTest, KeepsBytesAndATreeOnlyWhileSomeoneHoldsIt) {
  Fixture f;
  json stored = *f.cacher->Create(Key("a", "x"), Pod("a", "x", "web"));
  f.Settle();
  ListOptions any;
  any.match = ResourceVersionMatch::kAny;
  // The store's own event may still hold the tree for a moment after the cache took it.
  StatusOr<SharedListResult> first = f.cacher->ListShared(kPods, any);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (first->items.at(0).object && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    first = f.cacher->ListShared(kPods, any);
  }
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_FALSE(first->items[0].object) << "the cache holds a decoded tree nobody else does";
  ASSERT_TRUE(first->items[0].encoded);
  EXPECT_EQ(json::parse(*first->items[0].encoded), stored);
  StatusOr<SharedListResult> second = f.cacher->ListShared(kPods, any);
  EXPECT_EQ(first->items[0].encoded.get(), second->items[0].encoded.get());  // shared
  StatusOr<SharedObject> got = f.cacher->GetShared(Key("a", "x"), /*any=*/false);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->encoded.get(), first->items[0].encoded.get());
  EXPECT_EQ(*f.cacher->Get(Key("a", "x")), stored);
  EXPECT_EQ(f.cacher->List(kPods, any)->items.at(0), stored);
  EXPECT_EQ(f.counting->gets.load(), 0);

  // A tree a watcher still holds is the one a list shares (no second decode).
  Events ev;
  auto w = f.cacher->WatchFrom(kPods, "", LabelSelector{}, 0, ev.Callback());
  ASSERT_TRUE(w.ok());
  json updated = stored;
  updated["metadata"]["labels"]["tier"] = "front";
  updated = *f.cacher->Update(Key("a", "x"), updated, 0);
  std::vector<WatchEvent> delivered = ev.WaitFor(1);
  ASSERT_EQ(delivered.size(), 1u);
  StatusOr<SharedListResult> held = f.cacher->ListShared(kPods, any);
  EXPECT_EQ(held->items.at(0).object.get(), delivered[0].object.get());
  EXPECT_EQ(*held->items[0].object, updated);
  (*w)->Cancel();
}

// A watcher that holds the delivery thread until released; records what it is given.
struct HeldWatcher {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::vector<WatchEvent> seen;
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::unique_lock lock(mu);
      seen.push_back(e);
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
    };
  }
  void Open() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
  // What it was given, once it has at least `n` events (or 10 s passed).
  std::vector<WatchEvent> WaitFor(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() >= n; });
    return seen;
  }
};

// Events not yet delivered to every watcher are counted per resource: each holds its decoded
// object, so a backlog of slow watchers is memory the cache's byte figures do not show.
TEST(CacherTest, CountsEventsNotYetDeliveredToEveryWatcher) {
  Fixture f;
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  HeldWatcher held;
  auto w = f.cacher->WatchFrom(kPods, "", LabelSelector{}, 0, held.Callback());
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 3; ++i) {
    const std::string name = "p" + std::to_string(i);
    ASSERT_TRUE(f.cacher->Create(Key("a", name), Pod("a", name, "web")).ok());
  }
  f.Settle();
  auto backlog = [&] { return StatsOfPods(*f.cacher).delivery_backlog; };
  EXPECT_EQ(backlog(), 3u);  // one in the callback, two queued behind it
  held.Open();
  for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       backlog() != 0 && std::chrono::steady_clock::now() < end;) {
    std::this_thread::yield();
  }
  EXPECT_EQ(backlog(), 0u);
  (*w)->Cancel();
  EXPECT_EQ(held.WaitFor(3).size(), 3u);
}

// Behind a slow watcher the queued events hold their decoded trees only within
// CacherOptions::delivery_tree_budget_bytes; past it they hold the bytes the cache keeps
// anyway and are decoded again when delivered, equal to what was stored.
TEST(CacherTest, EventsQueuedPastTheTreeBudgetHoldOnlyTheirBytes) {
  // The budget: one pod event's encoding and a half (all three pods encode to the same size).
  size_t one = 0;
  {
    MemoryStore sizing;
    one = sizing.Create(Key("a", "p0"), Pod("a", "p0", "web"))->dump().size();
  }
  CacherOptions options;
  options.delivery_tree_budget_bytes = one + one / 2;
  Fixture f(options);
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  HeldWatcher held;  // the first event holds the delivery thread
  auto w = f.cacher->WatchFrom(kPods, "", LabelSelector{}, 0, held.Callback());
  ASSERT_TRUE(w.ok());
  std::vector<json> stored;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "p" + std::to_string(i);
    stored.push_back(*f.cacher->Create(Key("a", name), Pod("a", name, "web")));
    ASSERT_EQ(stored.back().dump().size(), one);
  }
  f.Settle();
  ListOptions any;
  any.match = ResourceVersionMatch::kAny;
  // Which items' trees are alive, once the store's own events have let go of theirs.
  auto alive = [&] {
    std::vector<bool> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      out.clear();
      for (const SharedObject& o : f.cacher->ListShared(kPods, any)->items) {
        out.push_back(o.object != nullptr);
      }
      if (out.size() == 3 && !out[1] && !out[2]) break;
      std::this_thread::yield();
    }
    return out;
  };
  // p0 is in the callback (its tree held by the delivery), p1 and p2 are queued past the
  // budget the delivery of p0 still holds.
  EXPECT_EQ(alive(), (std::vector<bool>{true, false, false}));
  held.Open();
  std::vector<WatchEvent> seen = held.WaitFor(3);
  (*w)->Cancel();
  ASSERT_EQ(seen.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(seen[i].object) << i;
    EXPECT_EQ(*seen[i].object, stored[i]) << i;
    EXPECT_EQ(seen[i].type, WatchEventType::kAdded);
  }
}

std::string Describe(const WatchEvent& e) {
  std::string out = std::string(WatchEventTypeName(e.type)) + " " + e.key.name;
  if (e.object && e.object->contains("data")) out += " " + (*e.object)["data"].dump();
  return out;
}

// Behind a burst of writes, a latest-per-object watcher (WatchLatestFrom: in-process
// informers) is handed each object's newest state once, as a transition from what it was last
// told, objects in the order they first changed; a watcher of every event gets every step.
TEST(CacherTest, ALatestPerObjectWatcherBehindIsHandedEachObjectsNewestState) {
  Fixture f;
  auto with = [](json pod, const std::string& v) {
    pod["data"] = {{"v", v}};
    return pod;
  };
  ASSERT_TRUE(f.cacher->Create(Key("a", "old"), Pod("a", "old", "web")).ok());
  ASSERT_TRUE(f.cacher->Create(Key("a", "again"), Pod("a", "again", "web")).ok());
  f.Settle();
  HeldWatcher latest;
  Events every;
  auto lw = f.cacher->WatchLatestFrom(kPods, "", LabelSelector{}, 0, latest.Callback());
  auto ew = f.cacher->WatchFrom(kPods, "", LabelSelector{}, 0, every.Callback());
  ASSERT_TRUE(lw.ok() && ew.ok());
  // The first event holds the latest watcher's delivery; everything after it queues.
  ASSERT_TRUE(f.cacher->Create(Key("a", "first"), Pod("a", "first", "web")).ok());
  ASSERT_EQ(latest.WaitFor(1).size(), 1u);
  json made = *f.cacher->Create(Key("a", "made"), with(Pod("a", "made", "web"), "1"));
  for (const char* v : {"2", "3"}) {
    made = *f.cacher->Update(Key("a", "made"), with(made, v), 0);
  }
  json old = *f.cacher->Update(Key("a", "old"), with(*f.cacher->Get(Key("a", "old")), "x"), 0);
  ASSERT_TRUE(f.cacher->Delete(Key("a", "old"), 0).ok());
  ASSERT_TRUE(f.cacher->Create(Key("a", "brief"), Pod("a", "brief", "web")).ok());
  ASSERT_TRUE(f.cacher->Delete(Key("a", "brief"), 0).ok());
  ASSERT_TRUE(f.cacher->Delete(Key("a", "again"), 0).ok());
  ASSERT_TRUE(f.cacher->Create(Key("a", "again"), with(Pod("a", "again", "web"), "new")).ok());
  made = *f.cacher->Update(Key("a", "made"), with(made, "4"), 0);
  f.Settle();
  // The latest watcher's backlog is the objects with changes not yet delivered: "first" (in
  // its callback) and four; the other watcher waits behind it with ten events of its own.
  EXPECT_EQ(StatsOfPods(*f.cacher).delivery_backlog, 1u + 4u + 10u);
  latest.Open();
  std::vector<WatchEvent> got = latest.WaitFor(6);
  std::vector<std::string> described;
  for (const WatchEvent& e : got) described.push_back(Describe(e));
  EXPECT_EQ(described, (std::vector<std::string>{
                           "ADDED first",
                           "ADDED made {\"v\":\"4\"}",   // created, changed 3 times
                           "DELETED old {\"v\":\"x\"}",  // changed, then deleted
                           "DELETED brief",               // created, then deleted
                           "DELETED again",               // deleted, then created again
                           "ADDED again {\"v\":\"new\"}",
                       }));
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[1].resource_version, Rv(made));
  EXPECT_EQ(*got[1].object, made);
  EXPECT_EQ(every.WaitFor(11).size(), 11u);  // every step
  (*lw)->Cancel();
  (*ew)->Cancel();
}

// A merged deletion of an object whose last state no longer matched the watcher's selector
// still tells the watcher, which was told of the object while it matched, that it went.
TEST(CacherTest, AMergedDeletionReachesASelectorThatMatchedAnEarlierState) {
  Fixture f;
  json pod = *f.cacher->Create(Key("a", "p"), Pod("a", "p", "web"));
  ASSERT_TRUE(f.cacher->Create(Key("a", "hold"), Pod("a", "hold", "web")).ok());
  f.Settle();
  HeldWatcher latest;
  auto lw = f.cacher->WatchLatestFrom(kPods, "", ParseLabelSelector("app=web").value(), 0,
                                      latest.Callback());
  ASSERT_TRUE(lw.ok());
  json hold = *f.cacher->Get(Key("a", "hold"));
  hold["data"] = {{"v", "1"}};
  ASSERT_TRUE(f.cacher->Update(Key("a", "hold"), hold, 0).ok());
  ASSERT_EQ(latest.WaitFor(1).size(), 1u);
  pod["metadata"]["labels"]["app"] = "db";  // stops matching
  ASSERT_TRUE(f.cacher->Update(Key("a", "p"), pod, 0).ok());
  ASSERT_TRUE(f.cacher->Delete(Key("a", "p"), 0).ok());
  f.Settle();
  latest.Open();
  std::vector<WatchEvent> got = latest.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].type, WatchEventType::kDeleted);
  EXPECT_EQ(got[1].key.name, "p");
  (*lw)->Cancel();
}

TEST(CacherTest, SelectorsNamespacesAndPagesOfOneSnapshot) {
  Fixture f;
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  for (int i = 0; i < 10; ++i) {
    const std::string name = "p" + std::to_string(i);
    ASSERT_TRUE(f.cacher
                    ->Create(Key(i < 6 ? "a" : "b", name),
                             Pod(i < 6 ? "a" : "b", name, i % 2 ? "web" : "db"))
                    .ok());
  }
  f.Settle();
  ListOptions web;
  web.selector = ParseLabelSelector("app=web").value();
  EXPECT_EQ(Names(*f.cacher->List(kPods, web)),
            (std::vector<std::string>{"p1", "p3", "p5", "p7", "p9"}));
  web.ns = "a";
  EXPECT_EQ(Names(*f.cacher->List(kPods, web)), (std::vector<std::string>{"p1", "p3", "p5"}));

  ListOptions page;
  page.ns = "a";
  page.limit = 4;
  StatusOr<ListResult> p1 = f.cacher->List(kPods, page);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(Names(*p1), (std::vector<std::string>{"p0", "p1", "p2", "p3"}));
  EXPECT_EQ(p1->remaining_item_count, 2);
  ASSERT_FALSE(p1->continue_token.empty());
  // Changes after the first page are not in the second: it is the same snapshot.
  ASSERT_TRUE(f.cacher->Delete(Key("a", "p4"), 0).ok());
  ASSERT_TRUE(f.cacher->Create(Key("a", "p45"), Pod("a", "p45", "db")).ok());
  f.Settle();
  page.continue_token = p1->continue_token;
  StatusOr<ListResult> p2 = f.cacher->List(kPods, page);
  ASSERT_TRUE(p2.ok()) << p2.status().message();
  EXPECT_EQ(Names(*p2), (std::vector<std::string>{"p4", "p5"}));
  EXPECT_EQ(p2->resource_version, p1->resource_version);
  EXPECT_TRUE(p2->continue_token.empty());
  // A token that is not the cacher's is the store's business (here: malformed).
  page.continue_token = "bm90LWEtdG9rZW4";
  EXPECT_EQ(f.cacher->List(kPods, page).status().code(), StatusCode::kInvalidArgument);
}

TEST(CacherTest, ResourceVersionSemantics) {
  CacherOptions options;
  options.window_events = 5;
  options.too_new_wait = std::chrono::milliseconds(20);
  Fixture f(options);
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  ASSERT_TRUE(f.cacher->Create({{"", "configmaps"}, "a", "c"}, Pod("a", "c", "")).ok());
  int64_t rv1 = Rv(*f.cacher->Create(Key("a", "x"), Pod("a", "x", "v1")));
  json x = *f.cacher->Get(Key("a", "x"));
  x["metadata"]["labels"]["app"] = "v2";
  int64_t rv2 = Rv(*f.cacher->Update(Key("a", "x"), x, 0));
  f.Settle();

  ListOptions exact;
  exact.match = ResourceVersionMatch::kExact;
  exact.resource_version = rv1;
  StatusOr<ListResult> at1 = f.cacher->List(kPods, exact);
  ASSERT_TRUE(at1.ok()) << at1.status().message();
  ASSERT_EQ(at1->items.size(), 1u);
  EXPECT_EQ(at1->items[0]["metadata"]["labels"]["app"], "v1");
  EXPECT_EQ(at1->resource_version, rv1);
  exact.resource_version = rv1 - 1;  // before the create
  EXPECT_TRUE(f.cacher->List(kPods, exact)->items.empty());

  ListOptions newer;
  newer.match = ResourceVersionMatch::kNotOlderThan;
  newer.resource_version = rv2;
  EXPECT_EQ(f.cacher->List(kPods, newer)->items[0]["metadata"]["labels"]["app"], "v2");
  newer.resource_version = rv2 + 100;  // the store has not reached it: 504
  EXPECT_EQ(f.cacher->List(kPods, newer).status().code(), StatusCode::kDeadlineExceeded);

  // Push rv1 out of the 5-event window: Exact and watches from it are 410 Gone.
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(f.cacher->Create(Key("b", "y" + std::to_string(i)), Pod("b", "y", "z")).ok());
  f.Settle();
  exact.resource_version = rv1;
  EXPECT_EQ(f.cacher->List(kPods, exact).status().code(), StatusCode::kOutOfRange);
  Events ev;
  EXPECT_EQ(f.cacher->WatchFrom(kPods, "", {}, rv1, ev.Callback()).status().code(),
            StatusCode::kOutOfRange);
}

// The figures the metrics export (meridian_watch_cache_*): objects and their bytes follow
// creates, updates and deletes; the window never holds more than its bounds.
TEST(CacherTest, StatsCountObjectsAndTheWindowWithinItsBounds) {
  CacherOptions options;
  options.window_events = 4;
  Fixture f(options);
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  auto pods = [&] {
    for (const ResourceCacheStats& s : f.cacher->Stats()) {
      if (s.type == kPods) return s;
    }
    ADD_FAILURE() << "no stats for pods";
    return ResourceCacheStats{};
  };
  EXPECT_EQ(pods().objects, 0u);
  EXPECT_EQ(pods().object_bytes, 0u);
  EXPECT_EQ(pods().window_events, 0u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.cacher->Create(Key("a", "p" + std::to_string(i)), Pod("a", "p", "web")).ok());
  }
  f.Settle();
  ResourceCacheStats three = pods();
  EXPECT_EQ(three.objects, 3u);
  EXPECT_GT(three.object_bytes, 0u);
  EXPECT_EQ(three.window_events, 3u);
  EXPECT_EQ(three.window_bytes, three.object_bytes) << "each event holds its object's encoding";

  json p0 = *f.cacher->Get(Key("a", "p0"));
  p0["metadata"]["labels"]["app"] = "a-much-longer-label-value-than-before";
  ASSERT_TRUE(f.cacher->Update(Key("a", "p0"), p0, 0).ok());
  ASSERT_TRUE(f.cacher->Delete(Key("a", "p1"), 0).ok());
  f.Settle();
  ResourceCacheStats after = pods();
  EXPECT_EQ(after.objects, 2u);
  size_t encoded = 0;
  for (const char* name : {"p0", "p2"}) encoded += f.cacher->Get(Key("a", name))->dump().size();
  EXPECT_EQ(after.object_bytes, encoded) << "an update replaces, a delete removes its bytes";
  EXPECT_EQ(after.window_events, 4u) << "5 events into a window of 4";
}

// The window keeps only events younger than window_max_age (checked as events arrive): a
// resource written slowly no longer fills it for hours; a watch from before the dropped
// events is 410 Gone (the client relists), one from the newest revision still resumes.
TEST(CacherTest, TheWindowDropsEventsOlderThanItsMaxAge) {
  FakeClock clock;
  CacherOptions options;
  options.window_max_age = std::chrono::minutes(5);
  options.clock = &clock;
  Fixture f(options);
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  auto window = [&] {
    for (const ResourceCacheStats& s : f.cacher->Stats()) {
      if (s.type == kPods) return s.window_events;
    }
    return size_t{0};
  };
  const int64_t rv1 = Rv(*f.cacher->Create(Key("a", "p1"), Pod("a", "p1", "web")));
  const int64_t rv2 = Rv(*f.cacher->Create(Key("a", "p2"), Pod("a", "p2", "web")));
  f.Settle();
  EXPECT_EQ(window(), 2u);

  clock.Advance(std::chrono::minutes(5));  // exactly the max age: kept
  const int64_t rv3 = Rv(*f.cacher->Create(Key("a", "p3"), Pod("a", "p3", "web")));
  f.Settle();
  EXPECT_EQ(window(), 3u);

  clock.Advance(std::chrono::seconds(1));  // p1 and p2 are now older than 5 minutes
  const int64_t rv4 = Rv(*f.cacher->Create(Key("a", "p4"), Pod("a", "p4", "web")));
  f.Settle();
  EXPECT_EQ(window(), 2u) << "p3 (1 s old) and p4 are kept";

  Events from1, from2, from3;
  EXPECT_EQ(f.cacher->WatchFrom(kPods, "", {}, rv1, from1.Callback()).status().code(),
            StatusCode::kOutOfRange)
      << "p2's event, after rv1, is gone";
  auto resumed = f.cacher->WatchFrom(kPods, "", {}, rv2, from2.Callback());
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  std::vector<WatchEvent> replayed = from2.WaitFor(2);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].resource_version, rv3);
  EXPECT_EQ(replayed[1].resource_version, rv4);
  EXPECT_EQ(f.cacher->List(kPods, {})->items.size(), 4u) << "the objects themselves stay";
}

TEST(CacherTest, WatchReplaysTheWindowThenLiveWithSelectorTransitions) {
  Fixture f;
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  ASSERT_TRUE(f.cacher->Create({{"", "configmaps"}, "a", "c"}, Pod("a", "c", "")).ok());
  int64_t rv0 = Rv(*f.cacher->Create(Key("a", "x"), Pod("a", "x", "web")));
  ASSERT_TRUE(f.cacher->Create(Key("b", "y"), Pod("b", "y", "web")).ok());
  f.Settle();
  Events ev;
  auto w = f.cacher->WatchFrom(kPods, "a", ParseLabelSelector("app=web").value(), rv0 - 1,
                               ev.Callback());
  ASSERT_TRUE(w.ok());
  json x = *f.cacher->Get(Key("a", "x"));
  x["metadata"]["labels"]["app"] = "db";  // stops matching: DELETED for this watcher
  ASSERT_TRUE(f.cacher->Update(Key("a", "x"), x, 0).ok());
  std::vector<WatchEvent> got = ev.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, WatchEventType::kAdded);
  EXPECT_EQ(got[0].resource_version, rv0);
  ASSERT_TRUE(got[0].encoded);
  EXPECT_EQ(got[1].type, WatchEventType::kDeleted);
  (*w)->Cancel();
}

// The window keeps superseded states as bytes: once the current map no longer holds an
// object's decoded tree, nothing does (a soak showed the heap growing by the windows' trees),
// and a replay or a list rolled back to that revision decodes it again, equal to what it was.
TEST(CacherTest, SupersededStatesAreKeptAsBytesAndDecodedAgainWhenReplayed) {
  Fixture f;
  ASSERT_TRUE(f.cacher->Prime({kPods}).ok());
  ASSERT_TRUE(f.cacher->Create(Key("b", "y"), Pod("b", "y", "web")).ok());  // rv 0 means "now"
  std::weak_ptr<const json> first_tree;  // the tree the first state was delivered as
  json first;
  {
    Events creation;
    auto watch = f.cacher->WatchFrom(kPods, "a", LabelSelector{}, 0, creation.Callback());
    ASSERT_TRUE(watch.ok());
    first = *f.cacher->Create(Key("a", "x"), Pod("a", "x", "web"));
    std::vector<WatchEvent> got = creation.WaitFor(1);
    ASSERT_EQ(got.size(), 1u);
    first_tree = got[0].object;
    (*watch)->Cancel();
  }
  f.Settle();
  ListOptions any;
  any.match = ResourceVersionMatch::kAny;
  json second = first;
  second["metadata"]["labels"]["tier"] = "front";
  second = *f.cacher->Update(Key("a", "x"), second, 0);
  json third = second;
  third["metadata"]["labels"]["tier"] = "back";
  third = *f.cacher->Update(Key("a", "x"), third, 0);
  f.Settle();
  // The last deliveries may still hold it for a moment.
  for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !first_tree.expired() && std::chrono::steady_clock::now() < end;) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(first_tree.expired()) << "the window still holds a superseded decoded object";

  Events ev;
  auto w = f.cacher->WatchFrom(kPods, "a", LabelSelector{}, Rv(first) - 1, ev.Callback());
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> got = ev.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].type, WatchEventType::kAdded);
  EXPECT_EQ(*got[0].object, first);
  EXPECT_EQ(*got[1].object, second);
  EXPECT_EQ(*got[2].object, third);
  (*w)->Cancel();

  ListOptions exact;
  exact.match = ResourceVersionMatch::kExact;
  exact.resource_version = Rv(second);
  exact.ns = "a";
  auto rolled = f.cacher->List(kPods, exact);
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  ASSERT_EQ(rolled->items.size(), 1u);
  EXPECT_EQ(rolled->items[0], second);
}

// Two API replicas on one store (several writers, as on etcd): a write through one (or any
// other client of the store) is seen by the next consistent read on the other, from memory
// (the store is asked only for the resource's last write).
TEST(CacherTest, ConsistentReadSeesAnotherClientsWrite) {
  {
    MemoryStore store;
    CacherOptions options;
    options.consistent_read_wait = std::chrono::seconds(30);  // a bound, not a wait
    auto shared_a = std::make_unique<SharedStore>(store);
    auto shared_b = std::make_unique<SharedStore>(store);
    SharedStore* counting_a = shared_a.get();
    SharedStore* counting_b = shared_b.get();
    auto a = NewCacher(std::move(shared_a), options);
    auto b = NewCacher(std::move(shared_b), options);
    ASSERT_TRUE(a->Prime({kPods}).ok());
    ASSERT_TRUE(b->Prime({kPods}).ok());
    for (int i = 0; i < 20; ++i) {
      const std::string name = "p" + std::to_string(i);
      Cacher& writer = i % 2 ? *a : *b;
      Cacher& reader = i % 2 ? *b : *a;
      if (i % 5 == 4) {
        ASSERT_TRUE(store.Create(Key("a", name), Pod("a", name, "web")).ok());  // direct client
      } else {
        ASSERT_TRUE(writer.Create(Key("a", name), Pod("a", name, "web")).ok());
      }
      ASSERT_TRUE(reader.Get(Key("a", name)).ok()) << name;
      StatusOr<ListResult> seen = reader.List(kPods, {});
      ASSERT_TRUE(seen.ok());
      ASSERT_EQ(seen->items.size(), static_cast<size_t>(i + 1));
      EXPECT_GE(seen->resource_version, store.CurrentResourceVersion() - 0);
    }
    EXPECT_EQ(counting_a->gets + counting_b->gets, 0);
    EXPECT_EQ(counting_a->lists + counting_b->lists, 2);  // each cache's first list
    EXPECT_EQ(a->FallThroughReads() + b->FallThroughReads(), 0);
    EXPECT_EQ(counting_a->last_write_reads + counting_b->last_write_reads, 40);
  }
}

size_t ReadersWaiting(Cacher& cacher, const ResourceType& type);

// True once `n` readers wait for a consistent-read round of `type`; false after 10 s (a test
// fails rather than hangs when the cacher never queues them).
bool ReadersWaitWithin10s(Cacher& cacher, const ResourceType& type, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ReadersWaiting(cacher, type) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Runs `f` when it goes out of scope: lets held readers go before their futures are waited
// for, whichever assertion ends a test.
struct AtScopeExit {
  std::function<void()> f;
  ~AtScopeExit() { f(); }
};

size_t ReadersWaiting(Cacher& cacher, const ResourceType& type) {
  for (const ResourceCacheStats& s : cacher.Stats()) {
    if (s.type == type) return s.readers_waiting;
  }
  return 0;
}

ResourceCacheStats StatsOf(Cacher& cacher, const ResourceType& type) {
  for (const ResourceCacheStats& s : cacher.Stats()) {
    if (s.type == type) return s;
  }
  ADD_FAILURE() << "no stats for " << type.ToString();
  return ResourceCacheStats{};
}

// Concurrent consistent reads share one read of the store's last write; one that arrives
// while a round is in flight waits for the next, because the round in flight may have been
// answered before a write the reader must see (here: the update, acknowledged after the held
// round read the store and before the ten readers began).
TEST(CacherTest, ConsistentReadsShareARoundAndLateReadersWaitForTheNext) {
  MemoryStore store;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_rounds_in_flight = 1;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  StatusOr<json> v1 = store.Create(Key("a", "x"), Pod("a", "x", "v1"));
  ASSERT_TRUE(v1.ok());
  ASSERT_EQ((*cacher->Get(Key("a", "x")))["metadata"]["labels"]["app"], "v1");
  const int rounds_before = gated->last_write_reads;
  const ResourceCacheStats stats_before = StatsOf(*cacher, kPods);

  std::future<StatusOr<json>> first;
  std::vector<std::future<StatusOr<json>>> late;
  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  first = std::async(std::launch::async, [&] { return cacher->Get(Key("a", "x")); });
  ASSERT_TRUE(gated->HeldWithin10s(1));  // its round has read the store: last write = v1
  ASSERT_TRUE(store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0).ok());
  for (int i = 0; i < 10; ++i) {
    late.push_back(std::async(std::launch::async, [&] { return cacher->Get(Key("a", "x")); }));
  }
  ASSERT_TRUE(ReadersWaitWithin10s(*cacher, kPods, 11));
  gated->OpenGate();

  StatusOr<json> got_first = first.get();
  ASSERT_TRUE(got_first.ok());  // v1 or v2: it began before the update was acknowledged
  for (auto& f : late) {
    StatusOr<json> got = f.get();
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ((*got)["metadata"]["labels"]["app"], "v2");
  }
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);  // the held round and one after it
  EXPECT_EQ(gated->gets, 0);
  // The metrics: 2 rounds answered 11 reads (meridian_watch_cache_consistent_reads_total /
  // ..._rounds_total = readers per round), and nobody is left waiting.
  const ResourceCacheStats stats_after = StatsOf(*cacher, kPods);
  EXPECT_EQ(stats_after.consistent_read_rounds - stats_before.consistent_read_rounds, 2u);
  EXPECT_EQ(stats_after.consistent_reads - stats_before.consistent_reads, 11u);
  EXPECT_EQ(stats_after.parked_reads - stats_before.parked_reads, 0u);  // all blocking
  EXPECT_EQ(stats_after.readers_waiting, 0u);
}

// Two rounds in flight at once (--watch-cache-consistent-read-rounds 2): a late reader starts
// its own round without waiting for the one in flight, and is never answered by that older
// round, even when it
// returns first (here it is released alone, with the stale answer, while the late readers
// wait). The cache's watch is held back meanwhile, so a reader answered by the old round
// would read v1. Rounds may return out of order; only one sent after a reader arrived
// answers it.
TEST(CacherTest, PipelinedRoundsNeverAnswerAReaderWithARoundSentBeforeIt) {
  auto dispatcher = std::make_shared<WatchDispatcher>();
  MemoryStore store(MemoryStoreOptions{.dispatcher = dispatcher});
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_rounds_in_flight = 2;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  ASSERT_EQ((*cacher->Get(Key("a", "x")))["metadata"]["labels"]["app"], "v1");
  const int rounds_before = gated->last_write_reads;
  std::promise<void> release_watch;
  std::shared_future<void> watch_released = release_watch.get_future().share();
  dispatcher->Post([watch_released] { watch_released.wait(); });  // the cache stays at v1

  std::future<StatusOr<json>> first;
  std::vector<std::future<StatusOr<json>>> late;
  // Whatever fails below, the readers are let go before their futures are waited for.
  bool watch_set = false;
  auto let_go = [&] {
    gated->OpenGate();
    if (!watch_set) release_watch.set_value();
    watch_set = true;
  };
  AtScopeExit finally{let_go};

  gated->CloseGate();
  first = std::async(std::launch::async, [&] { return cacher->Get(Key("a", "x")); });
  ASSERT_TRUE(gated->HeldWithin10s(1));  // round 1 read the store (v1) and is held
  ASSERT_TRUE(store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0).ok());
  for (int i = 0; i < 10; ++i) {
    late.push_back(std::async(std::launch::async, [&] { return cacher->Get(Key("a", "x")); }));
  }
  // The first late reader sent round 2 at once (held too, having read v2); the rest arrived
  // after it was sent, and wait for round 3 (no slot free).
  ASSERT_TRUE(gated->HeldWithin10s(2)) << "a late reader waited for the round in flight";
  ASSERT_TRUE(ReadersWaitWithin10s(*cacher, kPods, 11));
  gated->ReleaseOldest();  // round 1 returns first, with v1's revision, which the cache has
  StatusOr<json> got_first = first.get();
  ASSERT_TRUE(got_first.ok());
  EXPECT_EQ((*got_first)["metadata"]["labels"]["app"], "v1");  // it began before the update
  ASSERT_TRUE(gated->HeldWithin10s(3));  // its slot went to round 3, for those after round 2
  let_go();  // the late readers wait for the cache to reach v2's revision
  for (auto& f : late) {
    StatusOr<json> got = f.get();
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ((*got)["metadata"]["labels"]["app"], "v2");
  }
  EXPECT_EQ(gated->last_write_reads - rounds_before, 3);
  EXPECT_EQ(gated->gets, 0);
  dispatcher->Drain();
}

// Parked consistent reads (Cacher::WhenConsistent), as the federation-apiserver's HTTP
// server parks a GET: each callback serves its read under the round's proof, as ParkedReads
// does on the server's pool.
struct ParkedReaders {
  Cacher& cacher;
  ObjectKey key;
  std::mutex mu;
  std::vector<StatusOr<json>> got;  // in the order they were answered
  std::vector<int64_t> proven;      // the proofs' last_write

  Cacher::ProofCallback Callback() {
    return [this](const ConsistentReadProof& proof) {
      ProvenConsistentRead scope(proof);
      StatusOr<json> read = cacher.Get(key);
      std::lock_guard lock(mu);
      got.push_back(std::move(read));
      proven.push_back(proof.last_write);
    };
  }
  size_t Answered() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

// One round answers every read parked while the round before it was in flight, and a read
// that arrives while a round is in flight is answered only by the next (which sees the
// update acknowledged before it arrived); the reads are served from the cache under the
// proof, without a round of their own, and nothing stays parked.
TEST(CacherTest, ParkedReadsShareARoundAndLateArrivalsWaitForTheNext) {
  MemoryStore store;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);  // a bound, not a wait
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(cacher->ParksConsistentReads());
  StatusOr<json> v1 = store.Create(Key("a", "x"), Pod("a", "x", "v1"));
  ASSERT_TRUE(v1.ok());
  const int rounds_before = gated->last_write_reads;
  const ResourceCacheStats stats_before = StatsOf(*cacher, kPods);
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  // The first read finds no round in flight: its thread sends one (and then any needed).
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(gated->HeldWithin10s(1));  // round 1 has read the store: last write = v1
  StatusOr<json> v2 = store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0);
  ASSERT_TRUE(v2.ok());
  // Ten reads arrive during round 1: parked at once, this thread is not held.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  EXPECT_EQ(readers.Answered(), 0u);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 11u);
  gated->OpenGate();
  ASSERT_TRUE(sender.get());  // returns once no parked read needs a round

  ASSERT_EQ(readers.Answered(), 11u);
  EXPECT_EQ(readers.proven[0], Rv(*v1));
  ASSERT_TRUE(readers.got[0].ok());
  for (size_t i = 1; i < 11; ++i) {
    EXPECT_EQ(readers.proven[i], Rv(*v2)) << i;  // round 2, sent after they arrived
    ASSERT_TRUE(readers.got[i].ok()) << readers.got[i].status().message();
    EXPECT_EQ((*readers.got[i])["metadata"]["labels"]["app"], "v2") << i;
  }
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);  // no read sent a round of its own
  EXPECT_EQ(gated->gets, 0);
  EXPECT_EQ(cacher->FallThroughReads(), 0);
  const ResourceCacheStats stats_after = StatsOf(*cacher, kPods);
  EXPECT_EQ(stats_after.consistent_read_rounds - stats_before.consistent_read_rounds, 2u);
  EXPECT_EQ(stats_after.consistent_reads - stats_before.consistent_reads, 11u);
  EXPECT_EQ(stats_after.parked_reads - stats_before.parked_reads, 11u);
  EXPECT_EQ(stats_after.readers_waiting, 0u);
}

// A round that fails (etcd does not answer within its deadline) answers every read it covers
// with the store's error, which the read returns as a blocking read would (the API: 504 with
// the message); nothing stays parked, and the next reads succeed once the store answers.
TEST(CacherTest, AFailedRoundFailsItsParkedReadsWithTheStoresError) {
  MemoryStore store;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->failing = true;
  gated->CloseGate();
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(gated->HeldWithin10s(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  gated->OpenGate();
  ASSERT_TRUE(sender.get());
  ASSERT_EQ(readers.Answered(), 6u);
  for (const StatusOr<json>& got : readers.got) {
    EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded);
    EXPECT_EQ(got.status().message(), "etcd: no answer within 5000 ms");
  }
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
  EXPECT_EQ(gated->gets, 0);  // a failed round is not a reason to ask the store again

  gated->failing = false;
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));  // sends and is answered
  ASSERT_EQ(readers.Answered(), 7u);
  ASSERT_TRUE(readers.got[6].ok()) << readers.got[6].status().message();
  EXPECT_EQ((*readers.got[6])["metadata"]["labels"]["app"], "v1");
}

// Parked and blocking readers share rounds: a blocking reader's round holds the only slot,
// the parked reads that arrive meanwhile wait (their sender for the slot) and are answered by
// the next round, which sees the update acknowledged before they arrived.
TEST(CacherTest, ParkedReadsWaitBehindABlockingReadersRound) {
  MemoryStore store;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_rounds_in_flight = 1;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  const int rounds_before = gated->last_write_reads;
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  std::future<StatusOr<json>> blocking =
      std::async(std::launch::async, [&] { return cacher->Get(Key("a", "x")); });
  ASSERT_TRUE(gated->HeldWithin10s(1));  // the blocking reader's round: last write = v1
  ASSERT_TRUE(store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0).ok());
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(ReadersWaitWithin10s(*cacher, kPods, 2));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  EXPECT_EQ(gated->last_write_reads - rounds_before, 1);  // the slot is taken: none sent yet
  gated->OpenGate();
  ASSERT_TRUE(blocking.get().ok());
  ASSERT_TRUE(sender.get());
  ASSERT_EQ(readers.Answered(), 5u);
  for (const StatusOr<json>& got : readers.got) {
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ((*got)["metadata"]["labels"]["app"], "v2");
  }
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
}

// Nothing to park with a single writer (SQLite, memory: the cache answers at once) or a store
// that cannot tell its last write: WhenConsistent declines and the read is served as before.
TEST(CacherTest, WhenConsistentDeclinesWhereParkingCannotHelp) {
  Fixture single;  // single writer
  ASSERT_TRUE(single.cacher->Prime({kPods}).ok());
  EXPECT_FALSE(single.cacher->ParksConsistentReads());
  bool called = false;
  EXPECT_FALSE(
      single.cacher->WhenConsistent(kPods, [&](const ConsistentReadProof&) { called = true; }));

  MemoryStore store;
  auto shared = std::make_unique<SharedStore>(store);
  shared->untracked = true;
  auto cacher = NewCacher(std::move(shared));
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "web")).ok());
  ASSERT_TRUE(cacher->ParksConsistentReads());
  // The first round learns that the store cannot tell: the proof sends the read to the store.
  ParkedReaders readers{*cacher, Key("a", "x")};
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  ASSERT_EQ(readers.Answered(), 1u);
  EXPECT_TRUE(readers.got[0].ok());
  EXPECT_EQ(cacher->FallThroughReads(), 1);
  EXPECT_FALSE(cacher->WhenConsistent(kPods, [&](const ConsistentReadProof&) { called = true; }));
  EXPECT_FALSE(called);

  // A proof for another resource, or another cacher, is not used: the read sends its own.
  MemoryStore other_store;
  auto counted = std::make_unique<SharedStore>(other_store);
  SharedStore* counting = counted.get();
  auto other = NewCacher(std::move(counted));
  ASSERT_TRUE(other->Prime({kPods}).ok());
  const int before = counting->last_write_reads;
  ConsistentReadProof foreign{cacher.get(), kPods, Status::Ok(), 1 << 30};
  ProvenConsistentRead scope(foreign);
  EXPECT_EQ(other->Get(Key("a", "x")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(counting->last_write_reads - before, 1);
}

// True once `done()` holds; false after 10 s (a test fails rather than hangs).
template <typename Done>
bool Within10s(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A closed-loop reader's next read joins the next round: the round sender holds it until the
// read the last round answered comes back (as many parked as that round answered plus those
// already waiting), so three reads share round 2 instead of two in round 2 and one in round 3
// (without the hold, consistent_read_hold = 0, the store is read three times).
TEST(CacherTest, TheNextRoundWaitsForTheReadsTheLastOneAnsweredToComeBack) {
  MemoryStore store;
  FakeClock clock;  // never reaches the hold's end unless moved: only the reader ends it
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_hold = std::chrono::milliseconds(1);
  options.clock = &clock;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  const int rounds_before = gated->last_write_reads;
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(gated->HeldWithin10s(1));  // round 1 answers the first read
  StatusOr<json> v2 = store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0);
  ASSERT_TRUE(v2.ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  gated->OpenGate();
  // Round 1 answered the first read; the sender now holds round 2 for it (or, without the
  // hold, has sent round 2 and answered the other two).
  ASSERT_TRUE(Within10s(
      [&] { return StatsOf(*cacher, kPods).held_rounds >= 1 || readers.Answered() >= 3; }));
  EXPECT_EQ(readers.Answered(), 1u);
  EXPECT_EQ(gated->last_write_reads - rounds_before, 1);
  // The first reader's next read: round 2 is sent for all three.
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  ASSERT_TRUE(Within10s([&] { return readers.Answered() == 4; }));
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);
  for (size_t i = 1; i < 4; ++i) {
    ASSERT_TRUE(readers.got[i].ok()) << readers.got[i].status().message();
    EXPECT_EQ(readers.proven[i], Rv(*v2)) << i;
    EXPECT_EQ((*readers.got[i])["metadata"]["labels"]["app"], "v2") << i;
  }
  // Nobody comes back after round 2: the hold ends on the clock and the sender returns.
  ASSERT_TRUE(Within10s([&] { return StatsOf(*cacher, kPods).held_rounds >= 2; }));
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(sender.get());
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
}

// The hold is bounded on the clock: when the answered reader does not come back, the reads
// already parked get their round once the hold's time is up, and not before; a failed round
// after a hold still fails its reads with the store's error (503/504 over the API).
TEST(CacherTest, AHeldRoundIsSentWhenTheHoldRunsOutOnTheClock) {
  MemoryStore store;
  FakeClock clock;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_hold = std::chrono::milliseconds(5);
  options.clock = &clock;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  const int rounds_before = gated->last_write_reads;
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(gated->HeldWithin10s(1));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  gated->failing = true;  // round 2 will fail as an etcd that does not answer
  gated->OpenGate();
  ASSERT_TRUE(Within10s([&] { return StatsOf(*cacher, kPods).held_rounds >= 1; }));
  clock.Advance(std::chrono::milliseconds(4));  // not yet: the hold is 5 ms
  ASSERT_TRUE(Within10s([&] { return StatsOf(*cacher, kPods).held_rounds >= 1; }));
  EXPECT_EQ(readers.Answered(), 1u);
  EXPECT_EQ(gated->last_write_reads - rounds_before, 1);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 2u);
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(Within10s([&] { return readers.Answered() == 3; }));
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);
  ASSERT_TRUE(readers.got[0].ok());
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(readers.got[i].status().code(), StatusCode::kDeadlineExceeded) << i;
    EXPECT_EQ(readers.got[i].status().message(), "etcd: no answer within 5000 ms") << i;
  }
  ASSERT_TRUE(Within10s([&] { return StatsOf(*cacher, kPods).held_rounds >= 2; }));
  clock.Advance(std::chrono::milliseconds(5));
  ASSERT_TRUE(sender.get());
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
}

// A blocking reader that sends a round ends a hold at once: that round was sent after the
// held reads arrived, so it answers them (a sender holding never delays another's round).
TEST(CacherTest, ABlockingReadersRoundAnswersTheReadsAHoldKept) {
  MemoryStore store;
  FakeClock clock;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_hold = std::chrono::milliseconds(5);
  options.clock = &clock;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* gated = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  const int rounds_before = gated->last_write_reads;
  ParkedReaders readers{*cacher, Key("a", "x")};

  AtScopeExit open_at_exit{[gated] { gated->OpenGate(); }};
  gated->CloseGate();
  std::future<bool> sender = std::async(
      std::launch::async, [&] { return cacher->WhenConsistent(kPods, readers.Callback()); });
  ASSERT_TRUE(gated->HeldWithin10s(1));
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback()));
  StatusOr<json> v2 = store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0);
  ASSERT_TRUE(v2.ok());
  gated->OpenGate();
  ASSERT_TRUE(Within10s([&] { return StatsOf(*cacher, kPods).held_rounds >= 1; }));
  StatusOr<json> blocking = cacher->Get(Key("a", "x"));  // sends round 2 on this thread
  ASSERT_TRUE(blocking.ok()) << blocking.status().message();
  EXPECT_EQ((*blocking)["metadata"]["labels"]["app"], "v2");
  ASSERT_TRUE(sender.get());  // the hold ended with round 2; nothing left to send
  ASSERT_EQ(readers.Answered(), 2u);
  EXPECT_EQ(readers.proven[1], Rv(*v2));
  EXPECT_EQ(gated->last_write_reads - rounds_before, 2);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
}

// With send_rounds, the thread that parks the first read does not send rounds: the sending is
// handed to the runner once (later reads find it pumping), and runs wherever the runner puts it.
TEST(CacherTest, RoundsForParkedReadsRunWhereTheRunnerPutsThem) {
  MemoryStore store;
  CacherOptions options;
  options.consistent_read_wait = std::chrono::seconds(30);
  options.consistent_read_hold = std::chrono::microseconds(0);
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* counting = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  const int rounds_before = counting->last_write_reads;
  ParkedReaders readers{*cacher, Key("a", "x")};
  std::vector<std::function<void()>> handed;
  const Cacher::RoundRunner runner = [&](std::function<void()> send) {
    handed.push_back(std::move(send));
  };

  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback(), runner));
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback(), runner));
  EXPECT_EQ(handed.size(), 1u);                              // one sender
  EXPECT_EQ(counting->last_write_reads - rounds_before, 0);  // this thread sent nothing
  EXPECT_EQ(readers.Answered(), 0u);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 2u);
  ASSERT_EQ(handed.size(), 1u);
  std::thread sender(handed[0]);
  sender.join();
  ASSERT_EQ(readers.Answered(), 2u);
  for (const StatusOr<json>& got : readers.got) {
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ((*got)["metadata"]["labels"]["app"], "v1");
  }
  EXPECT_EQ(counting->last_write_reads - rounds_before, 1);
  EXPECT_EQ(ReadersWaiting(*cacher, kPods), 0u);
  // The sender returned: the next parked read hands the sending over again.
  ASSERT_TRUE(cacher->WhenConsistent(kPods, readers.Callback(), runner));
  ASSERT_EQ(handed.size(), 2u);
  handed[1]();
  EXPECT_EQ(readers.Answered(), 3u);
}

// GetAny (GET ?resourceVersion=0) is the cache as it is: no round, no store read, even when
// the cache is behind another writer's write.
TEST(CacherTest, GetAnyIsTheCacheAsItIsWithoutARound) {
  auto dispatcher = std::make_shared<WatchDispatcher>();
  MemoryStore store(MemoryStoreOptions{.dispatcher = dispatcher});
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* counting = shared.get();
  auto cacher = NewCacher(std::move(shared));
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "v1")).ok());
  dispatcher->Drain();
  const int rounds_before = counting->last_write_reads;
  StatusOr<json> got = cacher->GetAny(Key("a", "x"));
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ((*got)["metadata"]["labels"]["app"], "v1");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  dispatcher->Post([released] { released.wait(); });  // the cache's watch stalls
  ASSERT_TRUE(store.Update(Key("a", "x"), Pod("a", "x", "v2"), 0).ok());  // another writer
  EXPECT_EQ((*cacher->GetAny(Key("a", "x")))["metadata"]["labels"]["app"], "v1");
  EXPECT_EQ(cacher->GetAny(Key("a", "y")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(counting->last_write_reads, rounds_before);
  EXPECT_EQ(counting->gets, 0);
  release.set_value();
  dispatcher->Drain();
}

// A store that cannot tell its last write (kUnimplemented: today's etcd proxies, any store
// without it) gets every consistent read itself, as before, and is asked only once.
TEST(CacherTest, ConsistentReadsGoToAStoreThatCannotTellItsLastWrite) {
  MemoryStore store;
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* counting = shared.get();
  counting->untracked = true;
  auto cacher = NewCacher(std::move(shared));
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "web")).ok());
  EXPECT_TRUE(cacher->Get(Key("a", "x")).ok());
  EXPECT_TRUE(cacher->Get(Key("a", "x")).ok());
  EXPECT_EQ(cacher->List(kPods, {})->items.size(), 1u);
  EXPECT_EQ(counting->gets, 2);
  EXPECT_EQ(counting->lists, 2);  // the cache's first list and the consistent one
  EXPECT_EQ(cacher->FallThroughReads(), 3);
  EXPECT_EQ(counting->last_write_reads, 1);
}

// Several writers, and the cache's watch stalls (a broken etcd watch): a consistent read
// waits consistent_read_wait for the other writer's write to arrive, then the store answers;
// it neither hangs nor answers stale.
TEST(CacherTest, ConsistentReadsFallThroughWhenTheWatchStalls) {
  auto dispatcher = std::make_shared<WatchDispatcher>();
  MemoryStore store(MemoryStoreOptions{.dispatcher = dispatcher});
  CacherOptions options;
  options.consistent_read_wait = std::chrono::milliseconds(10);
  auto shared = std::make_unique<SharedStore>(store);
  SharedStore* counting = shared.get();
  auto cacher = NewCacher(std::move(shared), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  dispatcher->Post([released] { released.wait(); });
  ASSERT_TRUE(store.Create(Key("a", "x"), Pod("a", "x", "web")).ok());  // another writer
  EXPECT_TRUE(cacher->Get(Key("a", "x")).ok());
  EXPECT_EQ(cacher->List(kPods, {})->items.size(), 1u);
  ListOptions any;
  any.match = ResourceVersionMatch::kAny;
  EXPECT_TRUE(cacher->List(kPods, any)->items.empty());  // the cache as it is
  EXPECT_EQ(counting->gets, 1);
  EXPECT_EQ(cacher->FallThroughReads(), 2);
  release.set_value();
  dispatcher->Drain();
}

// The store's events held back: the writer's own Get still sees its write; a consistent
// list falls through to the store rather than answer stale.
TEST(CacherTest, ReadYourWritesWhileEventsAreHeldBack) {
  auto dispatcher = std::make_shared<WatchDispatcher>();
  MemoryStore store(MemoryStoreOptions{.dispatcher = dispatcher});
  CacherOptions options;
  options.single_writer = true;
  options.consistent_read_wait = std::chrono::milliseconds(10);
  auto cacher = NewCacher(std::make_unique<SharedStore>(store), options);
  ASSERT_TRUE(cacher->Prime({kPods}).ok());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  dispatcher->Post([released] { released.wait(); });
  ASSERT_TRUE(cacher->Create(Key("a", "x"), Pod("a", "x", "web")).ok());
  EXPECT_TRUE(cacher->Get(Key("a", "x")).ok());
  ListOptions any;
  any.match = ResourceVersionMatch::kAny;
  EXPECT_TRUE(cacher->List(kPods, any)->items.empty());  // the cache as it is
  EXPECT_EQ(cacher->List(kPods, {})->items.size(), 1u);  // consistent: from the store
  EXPECT_GE(cacher->FallThroughReads(), 1);
  ASSERT_TRUE(cacher->Delete(Key("a", "x"), 0).ok());
  EXPECT_EQ(cacher->Get(Key("a", "x")).status().code(), StatusCode::kNotFound);
  release.set_value();
  dispatcher->Drain();
}

// Replays of a redacted resource (encrypted Secrets) carry data only for the current state.
TEST(CacherTest, ReplayedSupersededEventsAreRedacted) {
  const ResourceType secrets{"", "secrets"};
  CacherOptions options;
  options.redact_replays = {secrets};
  options.redact = [](json& o) { o.erase("data"); };
  Fixture f(options);
  ASSERT_TRUE(f.cacher->Create({kPods, "a", "c"}, Pod("a", "c", "")).ok());
  const int64_t from = f.store.CurrentResourceVersion();
  json s = {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"namespace", "a"}, {"name", "s"}}},
            {"data", {{"k", "djE="}}}};
  ASSERT_TRUE(f.cacher->Create({secrets, "a", "s"}, s).ok());
  s["data"]["k"] = "djI=";
  ASSERT_TRUE(f.cacher->Update({secrets, "a", "s"}, s, 0).ok());
  Events ev;
  auto w = f.cacher->WatchFrom(secrets, "", {}, from, ev.Callback());
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> got = ev.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].object->contains("data"));  // the first version, replaced since
  EXPECT_EQ((*got[1].object)["data"]["k"], "djI=");
  EXPECT_EQ(got[0].encoded->find("djE="), std::string::npos);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Cacher, StoreConformanceTest,
                         ::testing::Values(StoreFactory{
                             "cacher_over_memory",
                             [](int64_t history) -> std::unique_ptr<Store> {
                               CacherOptions options;
                               options.window_events = static_cast<size_t>(history);
                               options.single_writer = true;
                               return NewCacher(std::make_unique<MemoryStore>(MemoryStoreOptions{
                                                    .history_limit = static_cast<size_t>(history)}),
                                                options);
                             }}),
                         [](const auto& info) { return info.param.name; });

}  // namespace meridian::apimachinery::testing
