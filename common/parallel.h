// ForEachInParallel: runs fn(0) .. fn(n-1) on up to `max_threads` threads (the caller's one of
// them) and returns when all have run. For a controller's independent writes: each write waits
// for the store's commit (an fsync), and writes in flight together share one commit (the SQLite
// store's group commit, etcd's raft batching), so issuing a pass's status writes one after the
// other made the pass as slow as the disk times the number of writes.
//
// `fn` must be safe to call concurrently for different indices; exceptions are not caught
// (controllers do not throw). Indices are handed out in order, so with one thread it is a loop.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace meridian {

template <typename Fn>
void ForEachInParallel(size_t n, size_t max_threads, const Fn& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  const size_t helpers = std::min(n, std::max<size_t>(max_threads, 1)) - (n > 0 ? 1 : 0);
  std::vector<std::thread> threads;
  threads.reserve(helpers);
  for (size_t t = 0; t < helpers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
}

}  // namespace meridian
