#include "common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace meridian {
namespace {

TEST(ForEachInParallelTest, RunsEveryIndexExactlyOnce) {
  for (size_t n : {0u, 1u, 2u, 15u, 16u, 17u, 1000u}) {
    std::vector<std::atomic<int>> runs(n);
    ForEachInParallel(n, 16, [&](size_t i) { ++runs[i]; });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i], 1) << "n=" << n << " i=" << i;
  }
}

TEST(ForEachInParallelTest, UsesAtMostMaxThreadsTheCallersIncluded) {
  std::mutex mu;
  std::set<std::thread::id> threads;
  ForEachInParallel(200, 4, [&](size_t) {
    std::lock_guard lock(mu);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_LE(threads.size(), 4u);
  // One index, or one thread allowed: the caller's thread alone, no other started.
  for (auto [n, max] : {std::pair<size_t, size_t>{1, 16}, {50, 1}, {50, 0}}) {
    threads.clear();
    ForEachInParallel(n, max, [&](size_t) {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
  }
}

TEST(ForEachInParallelTest, IndicesInFlightTogetherUpToTheLimit) {
  // Four calls that each wait (up to 10 s) for the others to arrive all see them only if four
  // run at once.
  std::atomic<int> arrived{0}, saw_all{0};
  ForEachInParallel(4, 4, [&](size_t) {
    ++arrived;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    if (arrived == 4) ++saw_all;
  });
  EXPECT_EQ(saw_all, 4);
}

}  // namespace
}  // namespace meridian
