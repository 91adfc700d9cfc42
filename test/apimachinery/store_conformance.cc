#include "test/apimachinery/store_conformance.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "apimachinery/write_precondition.h"

namespace meridian::apimachinery::testing {
namespace {

using nlohmann::json;

const ResourceType kWidgets{"example.io", "widgets"};
const ResourceType kGadgets{"example.io", "gadgets"};

json Obj(const std::string& ns, const std::string& name, json labels = json::object(),
         int spec = 0) {
  json meta = {{"name", name}, {"labels", labels}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"apiVersion", "example.io/v1"}, {"kind", "Widget"}, {"metadata", meta},
          {"spec", {{"n", spec}}}};
}

int64_t Rv(const json& o) { return ResourceVersionOf(o).value(); }

// Collects watch events; waits for a count with a generous real-time deadline (delivery is
// asynchronous by contract; nothing here asserts how fast it is).
class EventLog {
 public:
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::vector<WatchEvent> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
};

TEST_P(StoreConformanceTest, CreateThenGetReturnsTheObjectWithAResourceVersion) {
  auto store = GetParam().make(1000);
  ObjectKey key{kWidgets, "default", "a"};
  StatusOr<json> created = store->Create(key, Obj("default", "a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(Rv(*created), 0);
  EXPECT_EQ((*created)["metadata"]["resourceVersion"].get<std::string>(),
            std::to_string(Rv(*created)));
  StatusOr<json> got = store->Get(key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *created);
  EXPECT_EQ(store->CurrentResourceVersion(), Rv(*created));
}

TEST_P(StoreConformanceTest, ErrorsUseTheDocumentedCodes) {
  auto store = GetParam().make(1000);
  ObjectKey key{kWidgets, "default", "a"};
  EXPECT_EQ(store->Get(key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Update(key, Obj("default", "a"), 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Delete(key, 0).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->Create(key, Obj("default", "a")).ok());
  EXPECT_EQ(store->Create(key, Obj("default", "a")).status().code(), StatusCode::kAlreadyExists);
}

TEST_P(StoreConformanceTest, UpdateIsCompareAndSwapOnResourceVersion) {
  auto store = GetParam().make(1000);
  ObjectKey key{kWidgets, "default", "a"};
  json v1 = store->Create(key, Obj("default", "a")).value();
  StatusOr<json> v2 = store->Update(key, Obj("default", "a", {}, 2), Rv(v1));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_GT(Rv(*v2), Rv(v1));
  EXPECT_EQ((*v2)["spec"]["n"], 2);
  // A writer still holding v1 loses.
  StatusOr<json> stale = store->Update(key, Obj("default", "a", {}, 3), Rv(v1));
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted);
  EXPECT_EQ(store->Get(key).value()["spec"]["n"], 2) << "a lost CAS must change nothing";
  // 0 is unconditional.
  StatusOr<json> forced = store->Update(key, Obj("default", "a", {}, 4), 0);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(store->Get(key).value()["spec"]["n"], 4);
}

TEST_P(StoreConformanceTest, DeleteReturnsTheLastStateAtTheDeletionRevision) {
  auto store = GetParam().make(1000);
  ObjectKey key{kWidgets, "default", "a"};
  json v1 = store->Create(key, Obj("default", "a", {}, 7)).value();
  EXPECT_EQ(store->Delete(key, Rv(v1) + 100).status().code(), StatusCode::kAborted);
  StatusOr<json> gone = store->Delete(key, Rv(v1));
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ((*gone)["spec"]["n"], 7);
  EXPECT_GT(Rv(*gone), Rv(v1));
  EXPECT_EQ(store->CurrentResourceVersion(), Rv(*gone));
  EXPECT_EQ(store->Get(key).status().code(), StatusCode::kNotFound);
  // The name can be reused.
  EXPECT_TRUE(store->Create(key, Obj("default", "a")).ok());
}

TEST_P(StoreConformanceTest, ListFiltersByTypeNamespaceAndSelectorInKeyOrder) {
  auto store = GetParam().make(1000);
  ASSERT_TRUE(store->Create({kWidgets, "b", "w2"}, Obj("b", "w2", {{"tier", "prod"}})).ok());
  ASSERT_TRUE(store->Create({kWidgets, "a", "w9"}, Obj("a", "w9", {{"tier", "dev"}})).ok());
  ASSERT_TRUE(store->Create({kWidgets, "a", "w1"}, Obj("a", "w1", {{"tier", "prod"}})).ok());
  ASSERT_TRUE(store->Create({kGadgets, "a", "g1"}, Obj("a", "g1", {{"tier", "prod"}})).ok());

  auto names = [](const ListResult& r) {
    std::vector<std::string> out;
    for (const json& o : r.items) {
      out.push_back(o["metadata"]["namespace"].get<std::string>() + "/" +
                    o["metadata"]["name"].get<std::string>());
    }
    return out;
  };
  StatusOr<ListResult> all = store->List(kWidgets, {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(names(*all), (std::vector<std::string>{"a/w1", "a/w9", "b/w2"}));
  EXPECT_EQ(all->resource_version, store->CurrentResourceVersion());
  EXPECT_TRUE(all->continue_token.empty());

  ListOptions in_a;
  in_a.ns = "a";
  EXPECT_EQ(names(store->List(kWidgets, in_a).value()),
            (std::vector<std::string>{"a/w1", "a/w9"}));

  ListOptions prod;
  prod.selector = ParseLabelSelector("tier=prod").value();
  EXPECT_EQ(names(store->List(kWidgets, prod).value()),
            (std::vector<std::string>{"a/w1", "b/w2"}));
}

TEST_P(StoreConformanceTest, PaginationVisitsEveryItemExactlyOnce) {
  auto store = GetParam().make(1000);
  std::set<std::string> want;
  for (int i = 0; i < 23; ++i) {
    std::string name = "w" + std::to_string(i);
    std::string ns = i % 2 ? "odd" : "even";
    ASSERT_TRUE(store->Create({kWidgets, ns, name}, Obj(ns, name)).ok());
    want.insert(ns + "/" + name);
  }
  std::set<std::string> seen;
  ListOptions opts;
  opts.limit = 5;
  int pages = 0;
  do {
    StatusOr<ListResult> page = store->List(kWidgets, opts);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->items.size(), 5u);
    for (const json& o : page->items) {
      auto inserted = seen.insert(o["metadata"]["namespace"].get<std::string>() + "/" +
                                  o["metadata"]["name"].get<std::string>());
      EXPECT_TRUE(inserted.second) << "duplicate across pages";
    }
    opts.continue_token = page->continue_token;
    ASSERT_LT(++pages, 10);
  } while (!opts.continue_token.empty());
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(seen, want);

  ListOptions garbage;
  garbage.continue_token = "not-a-token!";
  StatusCode code = store->List(kWidgets, garbage).status().code();
  EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kOutOfRange);
}

TEST_P(StoreConformanceTest, WatchFromNowStreamsWritesInRevisionOrder) {
  auto store = GetParam().make(1000);
  ASSERT_TRUE(store->Create({kWidgets, "default", "before"}, Obj("default", "before")).ok());
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, 0, log.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();
  ObjectKey key{kWidgets, "default", "a"};
  json v1 = store->Create(key, Obj("default", "a")).value();
  json v2 = store->Update(key, Obj("default", "a", {}, 1), Rv(v1)).value();
  json v3 = store->Delete(key, 0).value();
  ASSERT_TRUE(store->Create({kGadgets, "default", "other-type"}, Obj("default", "g")).ok());

  std::vector<WatchEvent> events = log.WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEventType::kAdded);
  EXPECT_EQ(events[1].type, WatchEventType::kModified);
  EXPECT_EQ(events[2].type, WatchEventType::kDeleted);
  EXPECT_EQ(events[0].resource_version, Rv(v1));
  EXPECT_EQ(events[1].resource_version, Rv(v2));
  EXPECT_EQ(events[2].resource_version, Rv(v3));
  EXPECT_EQ(*events[1].object, v2);
  EXPECT_EQ(Rv(*events[2].object), Rv(v3));
  EXPECT_EQ(events[2].key, key);
}

TEST_P(StoreConformanceTest, WatchResumesFromAResourceVersionAndFilters) {
  auto store = GetParam().make(1000);
  json a = store->Create({kWidgets, "x", "a"}, Obj("x", "a", {{"tier", "prod"}})).value();
  ASSERT_TRUE(store->Create({kWidgets, "y", "b"}, Obj("y", "b", {{"tier", "prod"}})).ok());
  ASSERT_TRUE(store->Create({kWidgets, "x", "c"}, Obj("x", "c", {{"tier", "dev"}})).ok());
  ASSERT_TRUE(store->Create({kWidgets, "x", "d"}, Obj("x", "d", {{"tier", "prod"}})).ok());

  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "x", ParseLabelSelector("tier=prod").value(), Rv(a),
                                log.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::vector<WatchEvent> events = log.WaitFor(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key.name, "d");  // after a, in x, prod only
  EXPECT_EQ(events[0].type, WatchEventType::kAdded);
}

TEST_P(StoreConformanceTest, WatchFromCompactedHistoryIsOutOfRange) {
  auto store = GetParam().make(5);
  json first = store->Create({kWidgets, "x", "w0"}, Obj("x", "w0")).value();
  for (int i = 1; i < 40; ++i) {
    std::string name = "w" + std::to_string(i);
    ASSERT_TRUE(store->Create({kWidgets, "x", name}, Obj("x", name)).ok());
  }
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, Rv(first), log.Callback());
  EXPECT_EQ(watch.status().code(), StatusCode::kOutOfRange);
  // Recent history still replays.
  auto recent = store->WatchFrom(kWidgets, "", {}, store->CurrentResourceVersion() - 2,
                                 log.Callback());
  ASSERT_TRUE(recent.ok()) << recent.status();
  EXPECT_EQ(log.WaitFor(2).size(), 2u);
}

TEST_P(StoreConformanceTest, CancelledWatchReceivesNothingMore) {
  auto store = GetParam().make(1000);
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, 0, log.Callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(store->Create({kWidgets, "x", "a"}, Obj("x", "a")).ok());
  ASSERT_EQ(log.WaitFor(1).size(), 1u);
  (*watch)->Cancel();
  ASSERT_TRUE(store->Create({kWidgets, "x", "b"}, Obj("x", "b")).ok());
  // A second, live watch proves the write was dispatched before we look.
  EventLog probe;
  auto later = store->WatchFrom(kWidgets, "", {}, store->CurrentResourceVersion() - 1,
                                probe.Callback());
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(probe.WaitFor(1).size(), 1u);
  EXPECT_EQ(log.size(), 1u);
}

// A write under a WritePrecondition (write_precondition.h) happens only while the condition
// holds on the object as stored when the write is applied: here "the Lease records holder a",
// as the apiserver's fencing asks. Renewing the Lease (same holder) keeps writes going; once
// it records another holder, create, update and delete are refused with the condition's own
// error, nothing is written, the revision does not move and watchers see nothing.
TEST_P(StoreConformanceTest, WritesUnderAPreconditionHappenOnlyWhileItHolds) {
  if (!GetParam().honours_write_preconditions) {
    GTEST_SKIP() << GetParam().name << " passes writes to a server that applies its own";
  }
  auto store = GetParam().make(1000);
  const ObjectKey lease_key{{"coordination.k8s.io", "leases"}, "system", "leader"};
  auto lease = [](const std::string& holder, int renewals) {
    return json{{"metadata", {{"name", "leader"}, {"namespace", "system"}}},
                {"spec", {{"holderIdentity", holder}, {"renewals", renewals}}}};
  };
  json stored_lease = store->Create(lease_key, lease("a", 0)).value();
  auto held_by_a = std::make_shared<WritePrecondition>();
  held_by_a->key = lease_key;
  held_by_a->check = [](const json* l) -> Status {
    if (l == nullptr) return AbortedError("the lease is gone");
    const std::string holder = (*l)["spec"].value("holderIdentity", "");
    if (holder != "a") return AbortedError("the lease is held by " + holder);
    return Status::Ok();
  };
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, 0, log.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();

  const ObjectKey a{kWidgets, "default", "a"}, b{kWidgets, "default", "b"};
  json written;
  {
    WritePreconditionScope scope(held_by_a);
    StatusOr<json> created = store->Create(a, Obj("default", "a", {}, 1));
    ASSERT_TRUE(created.ok()) << created.status();
    // A renewal (same holder) in between: still held.
    stored_lease = store->Update(lease_key, lease("a", 1), 0).value();
    StatusOr<json> updated = store->Update(a, Obj("default", "a", {}, 2), Rv(*created));
    ASSERT_TRUE(updated.ok()) << updated.status();
    written = *updated;
  }
  // Another holder takes the Lease (outside the scope: the takeover is not conditional).
  ASSERT_TRUE(store->Update(lease_key, lease("b", 0), Rv(stored_lease)).ok());
  const int64_t before = store->CurrentResourceVersion();
  {
    WritePreconditionScope scope(held_by_a);
    StatusOr<json> create = store->Create(b, Obj("default", "b"));
    EXPECT_EQ(create.status().code(), StatusCode::kAborted);
    EXPECT_NE(create.status().message().find("held by b"), std::string::npos) << create.status();
    StatusOr<json> update = store->Update(a, Obj("default", "a", {}, 3), Rv(written));
    EXPECT_EQ(update.status().code(), StatusCode::kAborted);
    EXPECT_NE(update.status().message().find("held by b"), std::string::npos) << update.status();
    StatusOr<json> unconditional = store->Update(a, Obj("default", "a", {}, 4), 0);
    EXPECT_EQ(unconditional.status().code(), StatusCode::kAborted);
    StatusOr<json> del = store->Delete(a, 0);
    EXPECT_EQ(del.status().code(), StatusCode::kAborted);
    EXPECT_NE(del.status().message().find("held by b"), std::string::npos) << del.status();
    // The condition's own error, unchanged, so that ObjectService tells it from a lost CAS.
    for (const Status& st : {create.status(), update.status(), del.status()}) {
      EXPECT_TRUE(WritePreconditionScope::Refused(st)) << st;
    }
  }
  EXPECT_EQ(store->CurrentResourceVersion(), before) << "a refused write must not move it";
  EXPECT_EQ(store->Get(b).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(a).value(), written);
  // A Lease that is gone does not hold either.
  ASSERT_TRUE(store->Delete(lease_key, 0).ok());
  {
    WritePreconditionScope scope(held_by_a);
    StatusOr<json> create = store->Create(b, Obj("default", "b"));
    EXPECT_EQ(create.status().code(), StatusCode::kAborted);
    EXPECT_NE(create.status().message().find("gone"), std::string::npos) << create.status();
  }
  // Once the scope is closed the thread's writes are unconditioned again. Watch events come
  // in revision order, so any event of a refused write would show before this one.
  ObjectKey c{kWidgets, "default", "c"};
  ASSERT_TRUE(store->Create(c, Obj("default", "c")).ok());
  std::vector<WatchEvent> events = log.WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEventType::kAdded);
  EXPECT_EQ(events[0].key.name, "a");
  EXPECT_EQ(events[1].type, WatchEventType::kModified);
  EXPECT_EQ(events[1].resource_version, Rv(written));
  EXPECT_EQ(events[2].type, WatchEventType::kAdded);
  EXPECT_EQ(events[2].key.name, "c");
}

TEST_P(StoreConformanceTest, ConcurrentCasWritersNeverLoseAnIncrement) {
  auto store = GetParam().make(100000);
  ObjectKey key{kWidgets, "x", "counter"};
  ASSERT_TRUE(store->Create(key, Obj("x", "counter")).ok());
  constexpr int kThreads = 4, kIncrements = 50;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements;) {
        json cur = store->Get(key).value();
        int n = cur["spec"]["n"].get<int>();
        StatusOr<json> w = store->Update(key, Obj("x", "counter", {}, n + 1), Rv(cur));
        if (w.ok()) {
          ++i;
        } else {
          ASSERT_EQ(w.status().code(), StatusCode::kAborted);
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store->Get(key).value()["spec"]["n"], kThreads * kIncrements);
}

}  // namespace
}  // namespace meridian::apimachinery::testing
