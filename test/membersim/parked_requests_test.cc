// ParkedRequests: every parked request wakes exactly once, for the right reason.
#include "membersim/internal/parked_requests.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

namespace meridian::membersim::internal {
namespace {

using Wake = ParkedRequests::Wake;
constexpr Duration kHour = std::chrono::hours(1);

// Collects wake-ups from any thread; Wait() blocks until `n` arrived (or 20 s).
class Wakes {
 public:
  ParkedRequests::Continuation Record(std::string name) {
    return [this, name](Wake w) {
      std::lock_guard lock(mu_);
      got_.emplace_back(name, w);
      cv_.notify_all();
    };
  }
  std::vector<std::pair<std::string, Wake>> Wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return got_.size() >= n; });
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, Wake>> got_;
};

TEST(ParkedRequestsTest, ReleaseWakesOnlyItsGroup) {
  ParkedRequests parked;
  Wakes wakes;
  parked.Park("hang/a", kHour, wakes.Record("a1"));
  parked.Park("hang/a", kHour, wakes.Record("a2"));
  parked.Park("hang/b", kHour, wakes.Record("b1"));
  // Released right after parking: the io thread may not have seen the parks yet.
  parked.Release("hang/a");
  auto got = wakes.Wait(2);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [name, w] : got) {
    EXPECT_NE(name, "b1");
    EXPECT_EQ(w, Wake::kReleased) << name;
  }
  parked.Release("hang/a");  // nothing left there: no second wake
  parked.Stop();
  got = wakes.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].first, "b1");
  EXPECT_EQ(got[2].second, Wake::kStopped);
}

TEST(ParkedRequestsTest, TimerWakesAndStopAnswersTheRest) {
  ParkedRequests parked;
  Wakes wakes;
  parked.Park("", std::chrono::milliseconds(1), wakes.Record("soon"));
  auto got = wakes.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(std::string("soon"), Wake::kTimer));
  for (int i = 0; i < 100; ++i) parked.Park("", kHour, wakes.Record("late"));
  parked.Stop();  // returns only after all of them were answered
  got = wakes.Wait(101);
  EXPECT_EQ(got.size(), 101u);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_EQ(got[i].second, Wake::kStopped);
  parked.Park("", kHour, wakes.Record("after"));  // after Stop: at once, inline
  got = wakes.Wait(102);
  ASSERT_EQ(got.size(), 102u);
  EXPECT_EQ(got.back(), std::make_pair(std::string("after"), Wake::kStopped));
}

}  // namespace
}  // namespace meridian::membersim::internal
