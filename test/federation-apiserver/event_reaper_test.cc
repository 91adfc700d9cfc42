// EventReaper: Events not written for the TTL are deleted, by the time of their last write
// (lastTimestamp, eventTime, creationTimestamp), on the injectable clock; an Event written
// again after it was judged stays, and other kinds are never touched.
#include "federation-apiserver/event_reaper.h"

#include <gtest/gtest.h>

#include "apimachinery/memory_store.h"
#include "test/common/counting_store.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ObjectKey;
using apimachinery::ResourceType;
using nlohmann::json;

const ResourceType kEvents{"", "events"};

class EventReaperTest : public ::testing::Test {
 protected:
  // An Event whose timestamps are `ago` before now (`field` names which one it carries).
  void Event(const std::string& ns, const std::string& name, const std::string& field,
             std::chrono::seconds ago) {
    json e = {
        {"apiVersion", "v1"}, {"kind", "Event"}, {"metadata", {{"namespace", ns}, {"name", name}}}};
    const std::string at = FormatRfc3339(clock_.Now() - ago);
    if (field == "creationTimestamp") {
      e["metadata"]["creationTimestamp"] = at;
    } else {
      e[field] = at;
    }
    ASSERT_TRUE(store_.Create(ObjectKey{kEvents, ns, name}, e).ok());
  }
  bool Exists(const std::string& ns, const std::string& name) {
    return store_.Get(ObjectKey{kEvents, ns, name}).ok();
  }

  apimachinery::MemoryStore store_;
  FakeClock clock_;
  EventReaper reaper_{store_, clock_, std::chrono::hours(1)};
};

TEST_F(EventReaperTest, EventsLastWrittenBeforeTheTtlAreDeleted) {
  using std::chrono::minutes;
  // lastTimestamp wins over creationTimestamp: an aggregated Event lives on while it repeats.
  json repeated = {{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata",
                    {{"namespace", "shop"},
                     {"name", "repeating"},
                     {"creationTimestamp", FormatRfc3339(clock_.Now() - minutes(300))}}},
                   {"lastTimestamp", FormatRfc3339(clock_.Now() - minutes(5))}};
  ASSERT_TRUE(store_.Create(ObjectKey{kEvents, "shop", "repeating"}, repeated).ok());
  Event("shop", "old-last", "lastTimestamp", minutes(61));
  Event("default", "old-event-time", "eventTime", minutes(90));
  Event("shop", "old-created", "creationTimestamp", minutes(120));
  Event("shop", "fresh", "lastTimestamp", minutes(59));
  ASSERT_TRUE(
      store_.Create(ObjectKey{kEvents, "shop", "no-time"}, {{"metadata", {{"name", "no-time"}}}})
          .ok());
  const ResourceType widgets{"example.io", "widgets"};
  ASSERT_TRUE(store_
                  .Create(ObjectKey{widgets, "shop", "old"},
                          {{"metadata", {{"name", "old"}}},
                           {"lastTimestamp", FormatRfc3339(clock_.Now() - minutes(600))}})
                  .ok());

  StatusOr<int> deleted = reaper_.Tick();
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(*deleted, 3);
  EXPECT_FALSE(Exists("shop", "old-last"));
  EXPECT_FALSE(Exists("default", "old-event-time"));
  EXPECT_FALSE(Exists("shop", "old-created"));
  EXPECT_TRUE(Exists("shop", "repeating"));
  EXPECT_TRUE(Exists("shop", "fresh"));
  EXPECT_TRUE(Exists("shop", "no-time")) << "no timestamp: left alone";
  EXPECT_TRUE(store_.Get(ObjectKey{widgets, "shop", "old"}).ok()) << "only Events expire";

  // Time passes on the clock, not on a timer: "fresh" expires two minutes later.
  clock_.Advance(minutes(2));
  EXPECT_EQ(*reaper_.Tick(), 1);
  EXPECT_FALSE(Exists("shop", "fresh"));
  EXPECT_EQ(*reaper_.Tick(), 0);
}

// An Event written again between the list and its deletion (its resourceVersion changed) is
// not deleted: the deletion is conditional on the version that was judged.
TEST_F(EventReaperTest, AnEventWrittenAgainSinceItWasListedStays) {
  // Writes the Event again just before each deletion reaches the store.
  struct RewritingStore : test_env::CountingStore {
    explicit RewritingStore(apimachinery::Store& inner) : CountingStore(inner), inner(inner) {}
    StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
      StatusOr<json> now = inner.Get(key);
      if (now.ok()) {
        json again = *now;
        again["count"] = 2;
        EXPECT_TRUE(inner.Update(key, again, 0).ok());
      }
      return CountingStore::Delete(key, expected);
    }
    apimachinery::Store& inner;
  };
  apimachinery::MemoryStore backend;
  RewritingStore store(backend);
  json e = {{"metadata", {{"namespace", "shop"}, {"name", "e"}}},
            {"lastTimestamp", FormatRfc3339(clock_.Now() - std::chrono::hours(2))}};
  ASSERT_TRUE(store.Create(ObjectKey{kEvents, "shop", "e"}, e).ok());
  EventReaper reaper(store, clock_, std::chrono::hours(1));
  StatusOr<int> deleted = reaper.Tick();
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(*deleted, 0);
  EXPECT_TRUE(store.Get(ObjectKey{kEvents, "shop", "e"}).ok());
}

TEST(EventLastWrittenTest, ReadsTheNewestKnownTimestamp) {
  Timestamp t;
  ASSERT_TRUE(ParseRfc3339("2026-12-05T10:00:00Z", &t));
  EXPECT_EQ(EventLastWritten(json::parse(R"({"lastTimestamp": "2026-12-05T10:00:00Z",
      "eventTime": "2026-12-05T09:00:00.000000Z"})")),
            t);
  EXPECT_EQ(EventLastWritten(
                json::parse(R"({"lastTimestamp": null, "eventTime": "2026-12-05T10:00:00Z"})")),
            t);
  EXPECT_EQ(EventLastWritten(
                json::parse(R"({"metadata": {"creationTimestamp": "2026-12-05T10:00:00Z"}})")),
            t);
  EXPECT_EQ(EventLastWritten(json::parse(R"({"lastTimestamp": "yesterday"})")), std::nullopt);
  EXPECT_EQ(EventLastWritten(json::parse(R"([1, 2])")), std::nullopt);
}

}  // namespace
}  // namespace meridian::apiserver
