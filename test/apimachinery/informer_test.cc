// Shared informers: the pure cache (indexes, stale and duplicate events, the diff of a relist,
// HasSynced, handlers, resync), a property test (random streams with duplicates, drops that
// force relists and reorders converge to the store), and the shell over a real ObjectService
// (one LIST per kind, a watch, 410 Gone answered with a relist, the factory sharing).
#include "apimachinery/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "apimachinery/memory_store.h"
#include "common/clock.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

struct Thing {
  std::string ns, name;
  std::string member;  // the custom index: "things on member X"
  int value = 0;
};

Thing DecodeThing(const json& object, FieldErrors* errors) {
  Thing t;
  t.ns = object["metadata"].value("namespace", "");
  t.name = object["metadata"].value("name", "");
  const json& data = object.contains("data") ? object["data"] : json::object();
  t.member = data.value("member", "");
  if (data.contains("value") && !data["value"].is_string()) {
    errors->push_back(FieldError{"data.value", "must be a string"});
    return t;
  }
  t.value = std::atoi(data.value("value", "0").c_str());
  return t;
}

InformerItem<Thing> Item(const std::string& ns, const std::string& name, int64_t rv,
                         const std::string& member = "", int value = 0,
                         std::map<std::string, std::string> labels = {}) {
  return {{ns, name},
          rv,
          std::move(labels),
          std::make_shared<const Thing>(Thing{ns, name, member, value})};
}

std::vector<std::string> Names(const std::vector<std::shared_ptr<const Thing>>& things) {
  std::vector<std::string> out;
  for (const auto& t : things) out.push_back(t->ns + "/" + t->name);
  return out;
}

// What the handlers said, as one log line per call.
struct Recorder {
  std::vector<std::string> log;
  InformerHandlers<Thing> Handlers() {
    return {.on_add = [this](const auto& now) { log.push_back("add " + now->name); },
            .on_update =
                [this](const auto& old, const auto& now) {
                  log.push_back("update " + now->name + " " + std::to_string(old->value) + "->" +
                                std::to_string(now->value));
                },
            .on_delete = [this](const auto& last) { log.push_back("delete " + last->name); },
            .on_key = nullptr};
  }
};

TEST(InformerCacheTest, IndexesByNamespaceLabelAndCustomIndexer) {
  InformerCache<Thing> cache;
  ASSERT_TRUE(cache
                  .AddIndexer("member",
                              [](const Thing& t) {
                                return t.member.empty() ? std::vector<std::string>{}
                                                        : std::vector<std::string>{t.member};
                              })
                  .ok());
  cache.Replace({Item("a", "w1", 1, "m1", 0, {{"app", "web"}}),
                 Item("b", "w2", 2, "m1", 0, {{"app", "db"}}), Item("a", "w3", 3, "m2")},
                3);
  EXPECT_EQ(Names(cache.ByNamespace("a")), (std::vector<std::string>{"a/w1", "a/w3"}));
  EXPECT_EQ(Names(cache.ByLabel("app", "web")), (std::vector<std::string>{"a/w1"}));
  EXPECT_EQ(Names(cache.ByIndex("member", "m1")), (std::vector<std::string>{"a/w1", "b/w2"}));
  // A change moves the object between index values; a delete leaves every index.
  cache.Apply(false, Item("b", "w2", 4, "m2", 0, {{"app", "web"}}));
  EXPECT_EQ(Names(cache.ByIndex("member", "m1")), (std::vector<std::string>{"a/w1"}));
  EXPECT_EQ(Names(cache.ByIndex("member", "m2")), (std::vector<std::string>{"a/w3", "b/w2"}));
  EXPECT_EQ(Names(cache.ByLabel("app", "web")), (std::vector<std::string>{"a/w1", "b/w2"}));
  cache.Apply(true, Item("a", "w1", 5));
  EXPECT_TRUE(cache.ByIndex("member", "m1").empty());
  EXPECT_TRUE(cache.ByIndex("unknown", "x").empty());
  // An indexer added late covers what is cached; names are unique.
  ASSERT_TRUE(cache
                  .AddIndexer("odd",
                              [](const Thing& t) {
                                return std::vector<std::string>{t.name.back() % 2 ? "yes" : "no"};
                              })
                  .ok());
  EXPECT_EQ(Names(cache.ByIndex("odd", "yes")), (std::vector<std::string>{"a/w3"}));
  Status dup = cache.AddIndexer("member", [](const Thing&) { return std::vector<std::string>{}; });
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("\"member\""), std::string::npos);
  EXPECT_FALSE(
      cache.AddIndexer("label", [](const Thing&) { return std::vector<std::string>{}; }).ok());
}

TEST(InformerCacheTest, OrderedLikeTheStoreByNamespaceThenName) {
  InformerCache<Thing> cache;
  cache.Replace({Item("a-x", "b", 1), Item("a", "b", 2), Item("", "z", 3)}, 3);
  EXPECT_EQ(Names(cache.List()), (std::vector<std::string>{"/z", "a/b", "a-x/b"}));
}

TEST(InformerCacheTest, StaleDuplicateAndReorderedEventsAreDropped) {
  InformerCache<Thing> cache;
  Recorder r;
  cache.AddHandlers(r.Handlers());
  EXPECT_TRUE(cache.Apply(false, Item("n", "a", 5, "", 1)));
  EXPECT_FALSE(cache.Apply(false, Item("n", "a", 5, "", 1)));  // duplicate
  EXPECT_FALSE(cache.Apply(false, Item("n", "a", 4, "", 0)));  // older
  EXPECT_TRUE(cache.Apply(true, Item("n", "a", 7)));
  EXPECT_FALSE(cache.Apply(false, Item("n", "a", 6, "", 2)));  // older than the delete
  EXPECT_FALSE(cache.Apply(true, Item("n", "a", 7)));          // duplicate delete
  EXPECT_TRUE(cache.Apply(false, Item("n", "a", 8, "", 3)));   // re-created
  EXPECT_EQ(r.log, (std::vector<std::string>{"add a", "delete a", "add a"}));
  EXPECT_EQ(cache.Get({"n", "a"})->value, 3);
  EXPECT_EQ(cache.resource_version(), 8);
}

TEST(InformerCacheTest, RelistEmitsTheDiffAgainstTheCache) {
  InformerCache<Thing> cache;
  EXPECT_FALSE(cache.HasSynced());
  cache.Replace(
      {Item("n", "keep", 1, "", 1), Item("n", "change", 2, "", 1), Item("n", "gone", 3, "", 1)}, 3);
  EXPECT_TRUE(cache.HasSynced());
  Recorder r;
  cache.AddHandlers(r.Handlers());
  EXPECT_EQ(r.log.size(), 3u);  // a late handler first sees what is cached, as added
  r.log.clear();
  // Events were lost (the watch expired); the relist at 9 says what is true now.
  cache.Replace({Item("n", "keep", 1, "", 1), Item("n", "change", 6, "", 2), Item("n", "new", 7)},
                9);
  EXPECT_EQ(r.log, (std::vector<std::string>{"update change 1->2", "add new", "delete gone"}));
  EXPECT_EQ(Names(cache.List()), (std::vector<std::string>{"n/change", "n/keep", "n/new"}));
  // Anything at or below the relist's revision is already reflected.
  EXPECT_FALSE(cache.Apply(false, Item("n", "gone", 8)));
  EXPECT_TRUE(cache.Apply(false, Item("n", "gone", 10)));
}

TEST(InformerCacheTest, RelistKeepsWhatTheCacheKnowsNewer) {
  InformerCache<Thing> cache;
  cache.Replace({}, 1);
  cache.Apply(false, Item("n", "late", 12, "", 1));  // written after the list below
  cache.Apply(false, Item("n", "a", 11, "", 5));
  cache.Replace({Item("n", "a", 4, "", 4)}, 10);
  EXPECT_EQ(cache.Get({"n", "a"})->value, 5);
  EXPECT_NE(cache.Get({"n", "late"}), nullptr);
}

TEST(InformerCacheTest, HandlersEnqueueKeysResyncAndRemove) {
  InformerCache<Thing> cache;
  std::vector<std::string> keys;
  Recorder r;
  const int id =
      cache.AddHandlers({.on_key = [&](const InformerKey& k) { keys.push_back(k.ToString()); }});
  cache.AddHandlers(r.Handlers());
  cache.Apply(false, Item("n", "a", 1));
  cache.Apply(false, Item("", "cluster-scoped", 2));
  cache.Resync();
  EXPECT_EQ(keys, (std::vector<std::string>{"n/a", "cluster-scoped", "cluster-scoped", "n/a"}));
  EXPECT_EQ(r.log.back(), "update a 0->0");
  cache.RemoveHandlers(id);
  cache.Apply(true, Item("n", "a", 3));
  EXPECT_EQ(keys.size(), 4u);
  EXPECT_EQ(r.log.back(), "delete a");
}

TEST(InformerCacheTest, SharedObjectsAreNotCopied) {
  InformerCache<Thing> cache;
  auto item = Item("n", "a", 1);
  const Thing* address = item.object.get();
  cache.Apply(false, std::move(item));
  EXPECT_EQ(cache.Get({"n", "a"}).get(), address);
  EXPECT_EQ(cache.List().front().get(), address);
}

// Property: whatever the watch does (duplicates, reorders within a window, drops that the
// shell answers with a relist once it notices), the cache ends equal to the store, and the
// handlers' events replayed on an empty map give the same content (the diffs are right).
TEST(InformerCachePropertyTest, ConvergesUnderDuplicatesDropsAndReorders) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
    std::map<InformerKey, std::pair<int64_t, int>> store;  // key -> (rv, value)
    int64_t rv = 0;
    struct Event {
      bool deleted;
      InformerItem<Thing> item;
    };
    std::vector<Event> in_flight;
    InformerCache<Thing> cache;
    std::map<InformerKey, int> replayed;  // from the handlers alone
    cache.AddHandlers({.on_add =
                           [&](const auto& t) {
                             replayed[{t->ns, t->name}] = t->value;
                           },
                       .on_update =
                           [&](const auto&, const auto& t) {
                             replayed[{t->ns, t->name}] = t->value;
                           },
                       .on_delete =
                           [&](const auto& t) {
                             replayed.erase({t->ns, t->name});
                           }});
    auto relist = [&] {
      std::vector<InformerItem<Thing>> items;
      for (const auto& [key, state] : store) {
        items.push_back(Item(key.ns, key.name, state.first, "", state.second));
      }
      cache.Replace(std::move(items), rv);
    };
    relist();
    bool dropped = false;
    const int steps = 50 + static_cast<int>(rng() % 150);
    for (int step = 0; step < steps; ++step) {
      // A write to the store.
      InformerKey key{rng() % 2 ? "a" : "b", "o" + std::to_string(rng() % 8)};
      ++rv;
      const bool exists = store.count(key) > 0;
      if (exists && chance(30)) {
        store.erase(key);
        in_flight.push_back({true, Item(key.ns, key.name, rv)});
      } else {
        const int value = static_cast<int>(rng() % 1000);
        store[key] = {rv, value};
        in_flight.push_back({false, Item(key.ns, key.name, rv, "", value)});
      }
      if (chance(10)) in_flight.push_back(in_flight[rng() % in_flight.size()]);  // duplicate
      // Deliver some of what is in flight, in any order among the last few.
      while (!in_flight.empty() && chance(60)) {
        const size_t window = std::min<size_t>(in_flight.size(), 4);
        const size_t i = in_flight.size() - 1 - rng() % window;
        Event e = in_flight[i];
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(i));
        if (chance(5)) {
          dropped = true;  // lost: the watch expires, noticed later
          continue;
        }
        cache.Apply(e.deleted, std::move(e.item));
      }
      if (dropped && chance(20)) {
        relist();
        dropped = false;
      }
    }
    // The stream ends: whatever is still in flight arrives (shuffled), and a drop not yet
    // answered is answered with a relist.
    std::shuffle(in_flight.begin(), in_flight.end(), rng);
    for (Event& e : in_flight) cache.Apply(e.deleted, std::move(e.item));
    if (dropped) relist();

    std::map<InformerKey, int> cached;
    for (const auto& t : cache.List()) cached[{t->ns, t->name}] = t->value;
    std::map<InformerKey, int> expected;
    for (const auto& [key, state] : store) expected[key] = state.second;
    ASSERT_EQ(cached, expected);
    ASSERT_EQ(replayed, expected);
    ASSERT_EQ(cache.ByNamespace("a").size() + cache.ByNamespace("b").size(), expected.size());
  }
}

// ---- The shell over a real ObjectService ----

// A Store that counts LISTs and can answer the next watch with 410 Gone.
class CountingStore : public Store {
 public:
  explicit CountingStore(Store& inner) : inner_(inner) {}
  StatusOr<json> Get(const ObjectKey& key) override { return inner_.Get(key); }
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
    if (gone_answers > 0) {
      --gone_answers;
      return Status(StatusCode::kOutOfRange, "too old resource version");
    }
    return inner_.WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return inner_.CurrentResourceVersion(); }

  std::atomic<int> lists{0}, watches{0}, gone_answers{0};

 private:
  Store& inner_;
};

ResourceInfo ThingsInfo() {
  ResourceInfo info;
  info.group = "";
  info.version = "v1";
  info.kind = "ConfigMap";
  info.plural = "configmaps";
  info.singular = "configmap";
  return info;
}

class SharedInformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Add(ThingsInfo()).ok());
    objects_ = std::make_unique<ObjectService>(counting_, clock_, registry_);
  }
  void Put(const std::string& name, const std::string& member, const std::string& value = "1") {
    json body = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", name}, {"labels", {{"member", member}}}}},
                 {"data", {{"member", member}, {"value", value}}}};
    auto got = objects_->Get(info(), "default", name);
    auto result = got.ok() ? objects_->Update(info(), "default", name, body)
                           : objects_->Create(info(), "default", body);
    ASSERT_TRUE(result.ok()) << result.error().message;
  }
  const ResourceInfo& info() { return *registry_.Find("", "v1", "configmaps"); }
  // Waits (bounded) until the dispatcher delivered every event posted so far.
  void Settle() { dispatcher_->Drain(); }

  std::shared_ptr<WatchDispatcher> dispatcher_ = std::make_shared<WatchDispatcher>();
  MemoryStore store_{MemoryStoreOptions{.dispatcher = dispatcher_}};
  CountingStore counting_{store_};
  FakeClock clock_;
  ResourceRegistry registry_;
  std::unique_ptr<ObjectService> objects_;
};

TEST_F(SharedInformerTest, ListsOnceThenFollowsTheWatch) {
  Put("a", "m1");
  Put("b", "m2");
  SharedInformer<Thing> informer(*objects_, info(), &DecodeThing);
  std::atomic<int> keys{0};
  informer.cache().AddHandlers({.on_key = [&](const InformerKey&) { ++keys; }});
  ASSERT_TRUE(informer.Start().ok());
  EXPECT_TRUE(informer.HasSynced());
  EXPECT_EQ(informer.cache().size(), 2u);
  const int lists = counting_.lists;
  for (int i = 0; i < 20; ++i) Put("c" + std::to_string(i), "m1", std::to_string(i));
  Put("a", "m2", "7");
  ASSERT_TRUE(objects_->Delete(info(), "default", "b").ok());
  Settle();
  EXPECT_EQ(counting_.lists, lists);  // no LIST per event
  EXPECT_EQ(informer.cache().size(), 21u);
  EXPECT_EQ(informer.cache().Get({"default", "a"})->value, 7);
  EXPECT_EQ(informer.cache().ByLabel("member", "m2").size(), 1u);
  EXPECT_EQ(keys, 2 + 20 + 1 + 1);
  ASSERT_TRUE(informer.Start().ok());  // idempotent: no second LIST
  EXPECT_EQ(counting_.lists, lists);
}

TEST_F(SharedInformerTest, GoneWatchIsAnsweredWithARelist) {
  Put("a", "m1");
  counting_.gone_answers = 2;
  SharedInformer<Thing> informer(*objects_, info(), &DecodeThing);
  ASSERT_TRUE(informer.Start().ok());
  EXPECT_EQ(counting_.lists, 3);
  EXPECT_EQ(counting_.watches, 3);
  Put("b", "m1");
  Settle();
  EXPECT_EQ(informer.cache().size(), 2u);

  counting_.gone_answers = 100;
  SharedInformer<Thing> never(*objects_, info(), &DecodeThing);
  Status st = never.Start();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("configmaps"), std::string::npos);
  EXPECT_NE(st.message().find("410"), std::string::npos);
}

TEST_F(SharedInformerTest, InvalidObjectsAreLeftOutAndOwnWritesAreAssumed) {
  Put("a", "m1");
  Put("bad", "m1", "1");
  SharedInformer<Thing> informer(*objects_, info(), &DecodeThing);
  ASSERT_TRUE(informer.Start().ok());
  EXPECT_EQ(informer.cache().size(), 2u);
  // An update that makes an object invalid takes it out of the cache; valid again, it is back.
  json bad = {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", "bad"}}},
              {"data", {{"value", 5}}}};
  ASSERT_TRUE(objects_->Update(info(), "default", "bad", bad).ok());
  Settle();
  EXPECT_EQ(informer.cache().Get({"default", "bad"}), nullptr);
  Put("bad", "m1", "2");
  Settle();
  ASSERT_NE(informer.cache().Get({"default", "bad"}), nullptr);
  EXPECT_EQ(informer.cache().Get({"default", "bad"})->value, 2);
  // Assume: the answer to our own write is visible at once; its event is then a duplicate.
  auto written = objects_->Update(info(), "default", "a",
                                  {{"apiVersion", "v1"},
                                   {"kind", "ConfigMap"},
                                   {"metadata", {{"name", "a"}}},
                                   {"data", {{"value", "42"}}}});
  ASSERT_TRUE(written.ok());
  informer.Assume(written.value());
  EXPECT_EQ(informer.cache().Get({"default", "a"})->value, 42);
  Settle();
  EXPECT_EQ(informer.cache().Get({"default", "a"})->value, 42);
}

// A controller that reads only part of an object is woken by the changes to that part, by
// every add and delete, and by a resync; not by the rest.
TEST_F(SharedInformerTest, FilteredHandlersWakeOnlyForChangesThatMatter) {
  Put("a", "m1");
  SharedInformer<Thing> informer(*objects_, info(), &DecodeThing);
  std::vector<std::string> asked;  // what the filter saw: "old->new" values, "-" for none
  std::atomic<int> woken{0};
  InformerRegistration registration = informer.OnChangeThatMatters(
      [&] { ++woken; },
      [&](const Thing* old, const Thing* now) {
        asked.push_back((old ? std::to_string(old->value) : "-") + "->" +
                        (now ? std::to_string(now->value) : "-"));
        return old == nullptr || now == nullptr || old->member != now->member;
      });
  ASSERT_TRUE(informer.Start().ok());
  Settle();
  EXPECT_EQ(woken, 1);  // the add of what was there
  Put("a", "m1", "2");  // a field the controller does not read
  Put("a", "m1", "3");
  Settle();
  EXPECT_EQ(woken, 1);
  Put("a", "m2", "3");  // one it reads
  Settle();
  EXPECT_EQ(woken, 2);
  informer.cache().Resync();  // always: resyncs re-drive a level-triggered controller
  EXPECT_EQ(woken, 3);
  ASSERT_TRUE(objects_->Delete(info(), "default", "a").ok());
  Settle();
  EXPECT_EQ(woken, 4);
  EXPECT_EQ(asked, (std::vector<std::string>{"-->1", "1->2", "2->3", "3->3", "3->-"}));
  registration.Reset();
  Put("b", "m1");
  Settle();
  EXPECT_EQ(woken, 4);  // no calls once the registration is gone
}

TEST_F(SharedInformerTest, FactorySharesOneInformerPerKind) {
  Put("a", "m1");
  SharedInformerFactory factory(*objects_);
  auto& first = factory.For<Thing>(info(), &DecodeThing);
  auto& second = factory.For<Thing>(info(), &DecodeThing);
  EXPECT_EQ(&first, &second);
  auto& selected = factory.For<Thing>(info(), &DecodeThing, "member=m2");
  EXPECT_NE(&first, &selected);
  EXPECT_FALSE(factory.HasSynced());
  ASSERT_TRUE(factory.Start().ok());
  ASSERT_TRUE(factory.Start().ok());
  EXPECT_TRUE(factory.HasSynced());
  EXPECT_EQ(counting_.lists, 2);  // one per informer, however often started
  EXPECT_EQ(counting_.watches, 2);
  Put("b", "m2");
  Settle();
  EXPECT_EQ(first.cache().size(), 2u);
  EXPECT_EQ(Names(selected.cache().List()), (std::vector<std::string>{"default/b"}));
  factory.Stop();
  Put("c", "m2");
  Settle();
  EXPECT_EQ(first.cache().size(), 2u);  // stopped: no more events
  ASSERT_TRUE(factory.Relist().ok());   // a relist catches up
  EXPECT_EQ(first.cache().size(), 3u);
}

}  // namespace
}  // namespace meridian::apimachinery
