// The prometheus gates' evaluations off the rollout controller's worker: a query in flight
// blocks nobody who asks, answers are handed over once, and one key asks one query at a time.
// The query function is held by the test (a latch), so nothing depends on timing.
#include "rollout/prometheus_evaluator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace meridian::rollout {
namespace {

using namespace std::chrono_literals;

// A query function the test releases one answer at a time, and a record of what was asked
// and of each on_done.
class HeldPrometheus {
 public:
  PrometheusQuery Query() {
    return [this](const std::string& q) -> StatusOr<double> {
      std::unique_lock lock(mu_);
      asked_.push_back(q);
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_ > answered_; });
      ++answered_;
      if (q == "broken") return InvalidArgumentError("bad_data: parse error");
      return static_cast<double>(q.size());
    };
  }
  std::function<void()> OnDone() {
    return [this] {
      std::lock_guard lock(mu_);
      ++done_;
      cv_.notify_all();
    };
  }
  void Release() {
    std::lock_guard lock(mu_);
    ++released_;
    cv_.notify_all();
  }
  // Waits (bounded) until `n` queries were asked / `n` answers stored.
  bool WaitAsked(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return asked_.size() >= n; });
  }
  bool WaitDone(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return done_ >= n; });
  }
  std::vector<std::string> Asked() {
    std::lock_guard lock(mu_);
    return asked_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> asked_;
  int released_ = 0, answered_ = 0, done_ = 0;
};

TEST(PrometheusEvaluator, AnAnswerIsHandedOverOnceStampedWithTheTimeItWasAskedFor) {
  HeldPrometheus prom;
  FakeClock clock;
  const Timestamp asked_at = clock.Now();
  PrometheusEvaluator evaluator(prom.Query(), clock, prom.OnDone());
  EXPECT_FALSE(evaluator.Take("shop/web", "up"));
  evaluator.Request("shop/web", "up");
  ASSERT_TRUE(prom.WaitAsked(1));
  // In flight: the asker is not held, and asking again does not ask twice.
  EXPECT_FALSE(evaluator.Take("shop/web", "up"));
  evaluator.Request("shop/web", "up");
  clock.Advance(30s);
  prom.Release();
  ASSERT_TRUE(prom.WaitDone(1));
  std::optional<PrometheusSample> sample = evaluator.Take("shop/web", "up");
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->query, "up");
  EXPECT_EQ(sample->value, 2.0);
  EXPECT_EQ(sample->error, "");
  EXPECT_EQ(sample->at, asked_at);  // not when it was answered
  EXPECT_FALSE(evaluator.Take("shop/web", "up"));  // once
  EXPECT_EQ(prom.Asked(), std::vector<std::string>{"up"});
}

TEST(PrometheusEvaluator, AFailedQueryIsASampleWithTheError) {
  HeldPrometheus prom;
  FakeClock clock;
  PrometheusEvaluator evaluator(prom.Query(), clock, prom.OnDone());
  evaluator.Request("shop/web", "broken");
  prom.Release();
  ASSERT_TRUE(prom.WaitDone(1));
  std::optional<PrometheusSample> sample = evaluator.Take("shop/web", "broken");
  ASSERT_TRUE(sample);
  EXPECT_FALSE(sample->value);
  EXPECT_NE(sample->error.find("bad_data"), std::string::npos) << sample->error;
}

TEST(PrometheusEvaluator, OneQueryAtATimeAQueuedOneTakesTheNewestGateAndStaleAnswersAreDropped) {
  HeldPrometheus prom;
  FakeClock clock;
  PrometheusEvaluator evaluator(prom.Query(), clock, prom.OnDone());
  evaluator.Request("shop/a", "first");
  ASSERT_TRUE(prom.WaitAsked(1));
  // While "first" runs: b is queued, then its gate changes before it is asked.
  evaluator.Request("shop/b", "old_query");
  evaluator.Request("shop/b", "new_query");
  prom.Release();
  ASSERT_TRUE(prom.WaitDone(1));
  ASSERT_TRUE(prom.WaitAsked(2));
  prom.Release();
  ASSERT_TRUE(prom.WaitDone(2));
  EXPECT_EQ(prom.Asked(), (std::vector<std::string>{"first", "new_query"}));
  // a's gate changed meanwhile: its answer to "first" is not an answer to "second".
  EXPECT_FALSE(evaluator.Take("shop/a", "second"));
  EXPECT_FALSE(evaluator.Take("shop/a", "first"));  // dropped by the mismatched Take
  ASSERT_TRUE(evaluator.Take("shop/b", "new_query"));
}

TEST(PrometheusEvaluator, RetainDropsDeletedWorkloadsAnswersAndQueuedRequests) {
  HeldPrometheus prom;
  FakeClock clock;
  PrometheusEvaluator evaluator(prom.Query(), clock, prom.OnDone());
  evaluator.Request("shop/kept", "k");
  ASSERT_TRUE(prom.WaitAsked(1));
  evaluator.Request("shop/gone", "g");  // queued behind "k"
  evaluator.Retain({"shop/kept"});
  prom.Release();
  ASSERT_TRUE(prom.WaitDone(1));
  evaluator.Retain({});
  EXPECT_FALSE(evaluator.Take("shop/kept", "k"));
  EXPECT_EQ(prom.Asked(), std::vector<std::string>{"k"});
}

TEST(PrometheusEvaluator, DestroyingItWithAQueryRunningAndOneQueuedReturns) {
  HeldPrometheus prom;
  FakeClock clock;
  {
    PrometheusEvaluator evaluator(prom.Query(), clock, prom.OnDone());
    evaluator.Request("shop/a", "a");
    ASSERT_TRUE(prom.WaitAsked(1));
    evaluator.Request("shop/b", "b");
    // Enough answers for both: whether "b" starts before the destructor stops the thread is
    // the thread's race to win; either way the destructor returns and asks nothing more.
    prom.Release();
    prom.Release();
  }
  const std::vector<std::string> asked = prom.Asked();
  ASSERT_GE(asked.size(), 1u);
  EXPECT_EQ(asked[0], "a");
  EXPECT_LE(asked.size(), 2u);
}

}  // namespace
}  // namespace meridian::rollout
