// WorkQueue: dedup, processing exclusivity, per-item exponential backoff (capped, reset by
// Forget), the overall token bucket, and due times — all on a FakeClock, no sleeping.
#include "sync/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace meridian::sync {
namespace {

using std::chrono::milliseconds;

RateLimits NoBucket(Duration base, Duration max) { return RateLimits{base, max, 0, 0}; }

TEST(ItemBackoffTest, DoublesUpToTheCapAndResets) {
  ItemBackoff b(NoBucket(Duration(5), Duration(1000)));
  struct Case {
    int failure;
    int64_t want_ms;
  };
  const std::vector<Case> cases = {{1, 5}, {2, 10}, {3, 20}, {4, 40}, {5, 80},
                                   {6, 160}, {7, 320}, {8, 640}, {9, 1000}, {10, 1000}};
  for (const Case& c : cases) {
    EXPECT_EQ(b.Next("a").count(), c.want_ms) << "failure " << c.failure;
  }
  EXPECT_EQ(b.Failures("a"), 10);
  EXPECT_EQ(b.Next("b").count(), 5) << "keys back off independently";
  b.Forget("a");
  EXPECT_EQ(b.Failures("a"), 0);
  EXPECT_EQ(b.Next("a").count(), 5);
  for (int i = 0; i < 200; ++i) b.Next("c");  // no overflow after many failures
  EXPECT_EQ(b.Next("c").count(), 1000);
}

TEST(TokenBucketTest, BurstThenQps) {
  FakeClock clock;
  TokenBucket bucket(10, 3, clock.Now());  // 10/s, burst 3
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 100);  // the 4th waits one token
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 200);
  clock.Advance(milliseconds(1000));  // refills, capped at the burst
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 0);
  EXPECT_EQ(bucket.Reserve(clock.Now()).count(), 100);
}

TEST(WorkQueueTest, DeduplicatesAndNeverHandsOutAKeyTwice) {
  FakeClock clock;
  WorkQueue q(clock, NoBucket(Duration(5), Duration(1000)));
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  auto first = q.TryGet();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "a");
  q.Add("a");  // while processing: queued again only after Done
  auto second = q.TryGet();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "b");
  EXPECT_FALSE(q.TryGet());
  q.Done("a");
  auto again = q.TryGet();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, "a");
  q.Done("a");
  q.Done("b");
  EXPECT_FALSE(q.TryGet());
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, RateLimitedKeysWaitTheirBackoffOnTheClock) {
  FakeClock clock;
  WorkQueue q(clock, NoBucket(Duration(100), Duration(400)));
  q.Add("ok");
  EXPECT_EQ(q.AddRateLimited("bad").count(), 100);
  EXPECT_EQ(*q.TryGet(), "ok");  // due now; "bad" is not
  q.Done("ok");
  EXPECT_FALSE(q.TryGet());
  clock.Advance(milliseconds(99));
  EXPECT_FALSE(q.TryGet());
  clock.Advance(milliseconds(1));
  ASSERT_EQ(*q.TryGet(), "bad");
  // It fails again: 200, then 400, then capped at 400.
  for (int64_t want : {200, 400, 400}) {
    EXPECT_EQ(q.AddRateLimited("bad").count(), want);
    q.Done("bad");
    clock.Advance(milliseconds(want - 1));
    EXPECT_FALSE(q.TryGet()) << want;
    clock.Advance(milliseconds(1));
    ASSERT_TRUE(q.TryGet()) << want;
  }
  EXPECT_EQ(q.NumRequeues("bad"), 4);
  // Success resets the backoff.
  q.Forget("bad");
  q.Done("bad");
  EXPECT_EQ(q.NumRequeues("bad"), 0);
  EXPECT_EQ(q.AddRateLimited("bad").count(), 100);
}

TEST(WorkQueueTest, AnEarlierDueTimeWins) {
  FakeClock clock;
  WorkQueue q(clock, NoBucket(Duration(1000), Duration(1000)));
  q.AddAfter("a", milliseconds(500));
  q.AddAfter("a", milliseconds(2000));  // later: ignored
  clock.Advance(milliseconds(500));
  EXPECT_EQ(*q.TryGet(), "a");
  q.Done("a");
  q.AddRateLimited("b");  // 1 s
  q.Add("b");             // an event arrives: due now after all
  EXPECT_EQ(*q.TryGet(), "b");
}

TEST(WorkQueueTest, OverallBucketSpacesRetriesOfManyKeys) {
  FakeClock clock;
  // Per item 1 ms, but only 10 retries a second overall after a burst of 2.
  WorkQueue q(clock, RateLimits{Duration(1), Duration(1), 10, 2});
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) delays.push_back(q.AddRateLimited("k" + std::to_string(i)).count());
  EXPECT_EQ(delays, (std::vector<int64_t>{1, 1, 100, 200, 300}));
  clock.Advance(milliseconds(1));
  EXPECT_EQ(q.DueNow(), 2u);
  clock.Advance(milliseconds(299));
  EXPECT_EQ(q.DueNow(), 5u);
}

TEST(WorkQueueTest, GetBlocksUntilAddAndEndsOnShutDown) {
  WorkQueue q(RealClock(), RateLimits{});
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    q.Add("x");
  });
  auto got = q.Get();
  producer.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "x");
  q.Done("x");
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    q.ShutDown();
  });
  EXPECT_FALSE(q.Get());
  stopper.join();
  q.Add("y");  // ignored after shutdown
  EXPECT_FALSE(q.TryGet());
}

}  // namespace
}  // namespace meridian::sync
