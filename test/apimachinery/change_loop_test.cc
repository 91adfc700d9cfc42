// ChangeLoop: passes on changes (coalesced), passes asked for by the last pass, a clean Stop.
// No sleeps decide anything: the tests wait (with generous bounds) for what must happen.
#include "apimachinery/change_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace meridian::apimachinery {
namespace {

using std::chrono::milliseconds;

// Counts passes; a pass can be held open until Release().
class Passes {
 public:
  std::optional<milliseconds> Run() {
    std::unique_lock lock(mu_);
    ++count_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    return again_;
  }
  bool WaitFor(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard lock(mu_);
    return count_;
  }
  void Hold(bool hold) {
    {
      std::lock_guard lock(mu_);
      hold_ = hold;
    }
    cv_.notify_all();
  }
  void Again(std::optional<milliseconds> again) {
    std::lock_guard lock(mu_);
    again_ = again;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
  bool hold_ = false;
  std::optional<milliseconds> again_;
};

TEST(ChangeLoopTest, FirstPassAtOnceThenOnlyOnChanges) {
  Passes passes;
  ChangeLoop loop([&] { return passes.Run(); });
  loop.Start();
  ASSERT_TRUE(passes.WaitFor(1));
  loop.MarkDirty();
  ASSERT_TRUE(passes.WaitFor(2));
  loop.Stop();
  EXPECT_EQ(passes.count(), 2);
}

TEST(ChangeLoopTest, ChangesDuringAPassCoalesceIntoOneMorePass) {
  Passes passes;
  passes.Hold(true);
  ChangeLoop loop([&] { return passes.Run(); });
  loop.Start();
  ASSERT_TRUE(passes.WaitFor(1));  // the first pass is running, held open
  for (int i = 0; i < 50; ++i) loop.MarkDirty();
  passes.Hold(false);
  ASSERT_TRUE(passes.WaitFor(2));
  loop.Stop();
  EXPECT_EQ(passes.count(), 2) << "50 changes during one pass are one more pass";
}

TEST(ChangeLoopTest, APassCanAskToRunAgainWithoutAChange) {
  Passes passes;
  passes.Again(milliseconds(1));
  ChangeLoop loop([&] { return passes.Run(); });
  loop.Start();
  ASSERT_TRUE(passes.WaitFor(5));  // no MarkDirty at all
  loop.Stop();
}

TEST(ChangeLoopTest, StopWaitsForTheRunningPassAndIsIdempotent) {
  Passes passes;
  passes.Hold(true);
  std::atomic<bool> stopped{false};
  std::atomic<bool> stopped_before_the_pass_ended{false};
  ChangeLoop loop([&] {
    auto again = passes.Run();
    stopped_before_the_pass_ended = stopped.load();
    return again;
  });
  loop.Start();
  ASSERT_TRUE(passes.WaitFor(1));
  std::thread stopper([&] {
    loop.Stop();
    stopped = true;
  });
  // While the pass is held, Stop must not return. Give a wrong Stop the chance to (a bounded
  // wait for something that must not happen: it cannot make a correct Stop fail).
  for (int i = 0; i < 40 && !stopped; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(stopped) << "Stop returned while a pass was running";
  passes.Hold(false);
  stopper.join();
  // Stop returned only after the pass it found running had ended.
  EXPECT_FALSE(stopped_before_the_pass_ended);
  loop.Stop();
  loop.MarkDirty();  // after Stop: harmless
  EXPECT_EQ(passes.count(), 1);
}

TEST(ChangeLoopTest, WithoutAFirstPassItWaitsForAChangeAndKeepsOneMarkedBeforeStart) {
  Passes passes;
  {
    ChangeLoop loop([&] { return passes.Run(); });
    loop.Start(/*pass_at_once=*/false);
    loop.MarkDirty();
    ASSERT_TRUE(passes.WaitFor(1));
    loop.Stop();
    EXPECT_EQ(passes.count(), 1);
  }
  {
    ChangeLoop loop([&] { return passes.Run(); });
    loop.MarkDirty();  // e.g. a watch event between the caller's own pass and Start
    loop.Start(/*pass_at_once=*/false);
    ASSERT_TRUE(passes.WaitFor(2));
    loop.Stop();
  }
}

TEST(ChangeLoopTest, StopWithoutStartIsFine) {
  ChangeLoop loop([] { return std::optional<milliseconds>(); });
  loop.Stop();
}

}  // namespace
}  // namespace meridian::apimachinery
