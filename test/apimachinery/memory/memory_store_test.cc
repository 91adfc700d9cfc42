#include "apimachinery/memory_store.h"
#include "apimachinery/watch_dispatcher.h"

#include "test/apimachinery/store_conformance.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <vector>

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

const ResourceType kPods{"", "pods"};
const ResourceType kDeploys{"apps", "deployments"};

json Obj(const std::string& ns, const std::string& name, json labels = json::object()) {
  json o = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}};
  if (!ns.empty()) o["metadata"]["namespace"] = ns;
  if (!labels.empty()) o["metadata"]["labels"] = labels;
  return o;
}

ObjectKey Key(const ResourceType& t, const std::string& ns, const std::string& name) {
  return ObjectKey{t, ns, name};
}

std::string Rv(const json& o) { return o["metadata"]["resourceVersion"].get<std::string>(); }

// Collects events; the test drains the dispatcher before looking.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;  // "ADDED ns/name@rv"
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(std::string(WatchEventTypeName(e.type)) + " " + e.key.ns + "/" +
                       e.key.name + "@" + std::to_string(e.resource_version));
    };
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu);
    return std::exchange(events, {});
  }
};

class MemoryStoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<WatchDispatcher> dispatcher_ = std::make_shared<WatchDispatcher>();
  MemoryStore store_{MemoryStoreOptions{.history_limit = 100, .dispatcher = dispatcher_}};
};

TEST_F(MemoryStoreTest, WritesBumpOneRevisionAndCompareAndSwap) {
  struct Step {
    std::string op;  // create | update | delete | get
    std::string name;
    int64_t expected_rv;
    StatusCode code;
    std::string rv_after;  // resourceVersion of the returned object when OK
  };
  const std::vector<Step> steps = {
      {"create", "a", 0, StatusCode::kOk, "1"},
      {"create", "b", 0, StatusCode::kOk, "2"},
      {"create", "a", 0, StatusCode::kAlreadyExists, ""},
      {"get", "a", 0, StatusCode::kOk, "1"},
      {"update", "a", 1, StatusCode::kOk, "3"},
      {"update", "a", 1, StatusCode::kAborted, ""},   // stale
      {"update", "a", 0, StatusCode::kOk, "4"},       // unconditional
      {"update", "zz", 0, StatusCode::kNotFound, ""},
      {"delete", "a", 3, StatusCode::kAborted, ""},
      {"delete", "a", 4, StatusCode::kOk, "5"},       // the deletion's revision
      {"get", "a", 0, StatusCode::kNotFound, ""},
      {"delete", "a", 0, StatusCode::kNotFound, ""},
      {"get", "b", 0, StatusCode::kOk, "2"},
  };
  for (const Step& s : steps) {
    ObjectKey key = Key(kPods, "ns", s.name);
    StatusOr<json> r = InternalError("unset");
    if (s.op == "create") r = store_.Create(key, Obj("ns", s.name));
    if (s.op == "update") r = store_.Update(key, Obj("ns", s.name), s.expected_rv);
    if (s.op == "delete") r = store_.Delete(key, s.expected_rv);
    if (s.op == "get") r = store_.Get(key);
    ASSERT_EQ(r.status().code(), s.code) << s.op << " " << s.name << ": " << r.status();
    if (r.ok()) {
      EXPECT_EQ(Rv(*r), s.rv_after) << s.op << " " << s.name;
    }
  }
  EXPECT_EQ(store_.CurrentResourceVersion(), 5);
  EXPECT_EQ(store_.ObjectCount(), 1u);
}

TEST_F(MemoryStoreTest, ListFiltersByNamespaceAndSelectorInKeyOrder) {
  for (auto [ns, name, tier] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"b", "x", "prod"}, {"a", "y", "dev"}, {"a", "x", "prod"}, {"c", "z", "prod"}}) {
    ASSERT_TRUE(store_.Create(Key(kPods, ns, name), Obj(ns, name, {{"tier", tier}})).ok());
  }
  ASSERT_TRUE(store_.Create(Key(kDeploys, "a", "other"), Obj("a", "other")).ok());
  struct Case {
    std::string ns;
    std::string selector;
    std::vector<std::string> want;
  };
  for (const Case& c : std::vector<Case>{
           {"", "", {"a/x", "a/y", "b/x", "c/z"}},
           {"a", "", {"a/x", "a/y"}},
           {"b", "", {"b/x"}},
           {"nope", "", {}},
           {"", "tier=prod", {"a/x", "b/x", "c/z"}},
           {"a", "tier!=prod", {"a/y"}},
       }) {
    ListOptions opts;
    opts.ns = c.ns;
    opts.selector = *ParseLabelSelector(c.selector);
    StatusOr<ListResult> r = store_.List(kPods, opts);
    ASSERT_TRUE(r.ok()) << r.status();
    std::vector<std::string> got;
    for (const json& o : r->items) {
      got.push_back(o["metadata"]["namespace"].get<std::string>() + "/" +
                    o["metadata"]["name"].get<std::string>());
    }
    EXPECT_EQ(got, c.want) << c.ns << " " << c.selector;
    EXPECT_EQ(r->resource_version, 5);
    EXPECT_TRUE(r->continue_token.empty());
  }
}

TEST_F(MemoryStoreTest, PagesWithLimitAndContinue) {
  struct Case {
    std::string selector;
    int64_t limit;
    std::vector<size_t> page_sizes;
    std::vector<int64_t> remaining;
  };
  for (const Case& c : std::vector<Case>{
           {"", 3, {3, 3, 1}, {4, 1, -1}},
           {"", 7, {7}, {-1}},
           {"even=y", 2, {2, 2}, {-1, -1}},
           {"even=y", 4, {4}, {-1}},
       }) {
    MemoryStore store(MemoryStoreOptions{.history_limit = 100, .dispatcher = dispatcher_});
    for (int i = 0; i < 7; ++i) {
      std::string name = "p" + std::to_string(i);
      ASSERT_TRUE(store.Create(Key(kPods, "ns", name), Obj("ns", name, {{"even", i % 2 == 0 ? "y" : "n"}})).ok());
    }
    ListOptions opts;
    opts.ns = "ns";
    opts.limit = c.limit;
    opts.selector = *ParseLabelSelector(c.selector);
    std::vector<size_t> sizes;
    std::vector<int64_t> remaining;
    for (int page = 0; page < 10; ++page) {
      StatusOr<ListResult> r = store.List(kPods, opts);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->resource_version, 7);  // every page reports the first page's revision
      sizes.push_back(r->items.size());
      remaining.push_back(r->remaining_item_count);
      if (r->continue_token.empty()) break;
      opts.continue_token = r->continue_token;
      ASSERT_TRUE(store.Update(Key(kPods, "ns", "p0"), Obj("ns", "p0", {{"even", "y"}}), 0).ok());
    }
    EXPECT_EQ(sizes, c.page_sizes) << c.selector << " limit " << c.limit;
    EXPECT_EQ(remaining, c.remaining) << c.selector << " limit " << c.limit;
  }
}

TEST_F(MemoryStoreTest, MalformedOrExpiredContinueTokens) {
  MemoryStore small(MemoryStoreOptions{.history_limit = 2, .dispatcher = dispatcher_});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(small.Create(Key(kPods, "", "p" + std::to_string(i)), Obj("", "p" + std::to_string(i))).ok());
  }
  ListOptions opts;
  opts.limit = 1;
  StatusOr<ListResult> first = small.List(kPods, opts);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->continue_token.empty());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(small.Update(Key(kPods, "", "p1"), Obj("", "p1"), 0).ok());
  opts.continue_token = first->continue_token;
  EXPECT_EQ(small.List(kPods, opts).status().code(), StatusCode::kOutOfRange);
  for (const std::string bad : {"!!!", "e30", "eyJydiI6ImEifQ"}) {
    opts.continue_token = bad;
    EXPECT_EQ(small.List(kPods, opts).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(MemoryStoreTest, WatchReplaysHistoryThenStreamsLiveEvents) {
  ASSERT_TRUE(store_.Create(Key(kPods, "a", "x"), Obj("a", "x")).ok());       // 1
  ASSERT_TRUE(store_.Create(Key(kPods, "b", "y"), Obj("b", "y")).ok());       // 2
  ASSERT_TRUE(store_.Update(Key(kPods, "a", "x"), Obj("a", "x"), 0).ok());    // 3
  ASSERT_TRUE(store_.Create(Key(kDeploys, "a", "d"), Obj("a", "d")).ok());    // 4
  struct Case {
    std::string ns;
    int64_t from;
    std::vector<std::string> want;
  };
  for (const Case& c : std::vector<Case>{
           {"", 0, {"DELETED a/x@6"}},
           {"", 1, {"ADDED b/y@2", "MODIFIED a/x@3", "DELETED a/x@6"}},
           {"a", 1, {"MODIFIED a/x@3", "DELETED a/x@6"}},
           {"b", 4, {}},
           {"", 3, {"DELETED a/x@6"}},
       }) {
    MemoryStore s(MemoryStoreOptions{.history_limit = 100, .dispatcher = dispatcher_});
    ASSERT_TRUE(s.Create(Key(kPods, "a", "x"), Obj("a", "x")).ok());
    ASSERT_TRUE(s.Create(Key(kPods, "b", "y"), Obj("b", "y")).ok());
    ASSERT_TRUE(s.Update(Key(kPods, "a", "x"), Obj("a", "x"), 0).ok());
    ASSERT_TRUE(s.Create(Key(kDeploys, "a", "d"), Obj("a", "d")).ok());
    Recorder rec;
    auto w = s.WatchFrom(kPods, c.ns, {}, c.from, rec.Callback());
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE(s.Create(Key(kDeploys, "b", "e"), Obj("b", "e")).ok());  // 5, other type
    ASSERT_TRUE(s.Delete(Key(kPods, "a", "x"), 0).ok());                 // 6
    dispatcher_->Drain();
    EXPECT_EQ(rec.Take(), c.want) << "ns=" << c.ns << " from=" << c.from;
  }
}

// What a bookmark may carry: nothing past the watch's start until its replay has run, then
// the newest write whose delivery has run (a write of another kind counts once nothing before
// it is pending), never a write still queued.
TEST_F(MemoryStoreTest, DeliveredThroughCountsOnlyWhatTheDispatcherHasRun) {
  for (const char* n : {"x", "y", "z"}) {
    ASSERT_TRUE(store_.Create(Key(kPods, "a", n), Obj("a", n)).ok());  // 1..3
  }
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  dispatcher_->Post([released] { released.wait(); });  // deliveries queue behind this

  Recorder rec;
  auto w = store_.WatchFrom(kPods, "", {}, 1, rec.Callback());  // replays 2, 3
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->DeliveredThrough(), 1);
  ASSERT_TRUE(store_.Create(Key(kDeploys, "a", "d"), Obj("a", "d")).ok());  // 4: not its kind
  ASSERT_TRUE(store_.Create(Key(kPods, "a", "w"), Obj("a", "w")).ok());     // 5: queued
  EXPECT_EQ((*w)->DeliveredThrough(), 1);

  release.set_value();
  dispatcher_->Drain();
  EXPECT_EQ(rec.Take(), (std::vector<std::string>{"ADDED a/y@2", "ADDED a/z@3", "ADDED a/w@5"}));
  EXPECT_EQ((*w)->DeliveredThrough(), 5);
  ASSERT_TRUE(store_.Create(Key(kDeploys, "a", "e"), Obj("a", "e")).ok());  // 6: nothing queued
  EXPECT_EQ((*w)->DeliveredThrough(), 6);
}

TEST_F(MemoryStoreTest, WatchTranslatesSelectorTransitions) {
  Recorder rec;
  auto w = store_.WatchFrom(kPods, "", *ParseLabelSelector("app=web"), 0, rec.Callback());
  ASSERT_TRUE(w.ok());
  ObjectKey k = Key(kPods, "ns", "p");
  ASSERT_TRUE(store_.Create(k, Obj("ns", "p", {{"app", "db"}})).ok());   // 1: not matching
  ASSERT_TRUE(store_.Update(k, Obj("ns", "p", {{"app", "web"}}), 0).ok());  // 2: starts matching
  ASSERT_TRUE(store_.Update(k, Obj("ns", "p", {{"app", "web"}, {"v", "2"}}), 0).ok());  // 3
  ASSERT_TRUE(store_.Update(k, Obj("ns", "p", {{"app", "db"}}), 0).ok());   // 4: stops matching
  ASSERT_TRUE(store_.Delete(k, 0).ok());                                    // 5: not matching
  dispatcher_->Drain();
  EXPECT_EQ(rec.Take(), (std::vector<std::string>{"ADDED ns/p@2", "MODIFIED ns/p@3",
                                                  "DELETED ns/p@4"}));
  // Replay applies the same translation.
  Recorder replay;
  auto w2 = store_.WatchFrom(kPods, "", *ParseLabelSelector("app=web"), 1, replay.Callback());
  ASSERT_TRUE(w2.ok());
  dispatcher_->Drain();
  EXPECT_EQ(replay.Take(), (std::vector<std::string>{"ADDED ns/p@2", "MODIFIED ns/p@3",
                                                     "DELETED ns/p@4"}));
}

TEST_F(MemoryStoreTest, WatchFromCompactedRevisionIsOutOfRange) {
  MemoryStore small(MemoryStoreOptions{.history_limit = 3, .dispatcher = dispatcher_});
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(small.Create(Key(kPods, "", "p" + std::to_string(i)), Obj("", "p" + std::to_string(i))).ok());
  }
  EXPECT_EQ(small.CompactedResourceVersion(), 2);
  struct Case {
    int64_t from;
    StatusCode code;
    size_t events;
  };
  for (const Case& c : std::vector<Case>{{1, StatusCode::kOutOfRange, 0},
                                         {2, StatusCode::kOk, 3},
                                         {4, StatusCode::kOk, 1},
                                         {5, StatusCode::kOk, 0},
                                         {0, StatusCode::kOk, 0}}) {
    Recorder rec;
    auto w = small.WatchFrom(kPods, "", {}, c.from, rec.Callback());
    ASSERT_EQ(w.status().code(), c.code) << c.from;
    dispatcher_->Drain();
    EXPECT_EQ(rec.Take().size(), c.events) << c.from;
  }
  Recorder rec;
  auto w = small.WatchFrom(kPods, "", {}, 1, rec.Callback());
  EXPECT_EQ(w.status().message(), "too old resource version: 1 (3)");
}

TEST_F(MemoryStoreTest, CancelStopsDeliveryEvenFromInsideTheCallback) {
  int calls = 0;
  std::unique_ptr<Watch> self;
  auto w = store_.WatchFrom(kPods, "", {}, 0, [&](const WatchEvent&) {
    ++calls;
    self->Cancel();  // allowed for MemoryStore: stops later deliveries
  });
  ASSERT_TRUE(w.ok());
  self = std::move(*w);
  Recorder other;
  auto w2 = store_.WatchFrom(kPods, "", {}, 0, other.Callback());
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE(store_.Create(Key(kPods, "", "a"), Obj("", "a")).ok());
  ASSERT_TRUE(store_.Create(Key(kPods, "", "b"), Obj("", "b")).ok());
  dispatcher_->Drain();
  EXPECT_EQ(calls, 1);
  (*w2)->Cancel();
  ASSERT_TRUE(store_.Create(Key(kPods, "", "c"), Obj("", "c")).ok());
  dispatcher_->Drain();
  EXPECT_EQ(other.Take().size(), 2u);
  self.reset();
}

TEST_F(MemoryStoreTest, ConcurrentWritersKeepRevisionsDenseAndWatchersOrdered) {
  std::mutex mu;
  std::vector<int64_t> seen;
  auto w = store_.WatchFrom(kPods, "", {}, 0, [&](const WatchEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.resource_version);
  });
  ASSERT_TRUE(w.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(store_.Create(Key(kPods, "", name), Obj("", name)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  dispatcher_->Drain();
  ASSERT_EQ(seen.size(), 200u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));
}

TEST_F(MemoryStoreTest, DestroyingTheStoreWithLiveWatchesIsSafe) {
  auto store = std::make_unique<MemoryStore>(MemoryStoreOptions{.dispatcher = dispatcher_});
  Recorder rec;
  auto w = store->WatchFrom(kPods, "", {}, 0, rec.Callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store->Create(Key(kPods, "", "a"), Obj("", "a")).ok());
  store.reset();
  dispatcher_->Drain();
  w->reset();
  SUCCEED();
}

TEST(MemoryStoreFootprintTest, TwoHundredObjectsStayCompact) {
  MemoryStore store(MemoryStoreOptions{.history_limit = 0});
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"spec",
       {{"replicas", 3},
        {"template",
         {{"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1.27"}}}}}}}}}}};
  for (int i = 0; i < 200; ++i) {
    json o = deployment;
    o["metadata"] = {{"name", "web-" + std::to_string(i)}, {"namespace", "default"}};
    ASSERT_TRUE(store.Create(Key(kDeploys, "default", "web-" + std::to_string(i)), o).ok());
  }
  // ~200 bytes serialized each; the in-memory cost is a small multiple of that.
  EXPECT_LT(store.ApproximateBytes(), 200u * 400u);
}

}  // namespace
}  // namespace meridian::apimachinery

namespace meridian::apimachinery::testing {

INSTANTIATE_TEST_SUITE_P(
    Memory, StoreConformanceTest,
    ::testing::Values(StoreFactory{"memory",
                                   [](int64_t history) -> std::unique_ptr<Store> {
                                     return std::make_unique<MemoryStore>(MemoryStoreOptions{
                                         .history_limit = static_cast<size_t>(history)});
                                   }}),
    [](const auto& info) { return info.param.name; });

}  // namespace meridian::apimachinery::testing

// Regression: a store's watcher holds the dispatcher, and a delivery task may release the
// last reference on the dispatcher thread itself. That used to join the thread from itself
// (std::terminate, "Resource deadlock avoided").
TEST(WatchDispatcherTest, LastReferenceDroppedInsideItsOwnTaskIsSafe) {
  std::promise<void> destroyed;
  std::shared_ptr<meridian::apimachinery::WatchDispatcher> dispatcher(
      new meridian::apimachinery::WatchDispatcher(),
      [&destroyed](meridian::apimachinery::WatchDispatcher* d) {
        delete d;
        destroyed.set_value();
      });
  auto* raw = dispatcher.get();
  raw->Post([keep = std::move(dispatcher)]() mutable {});  // the task now holds the last ref
  EXPECT_EQ(destroyed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}
