// Polls a condition until it holds or a limit passes, for integration tests whose other side is
// a real process or another thread (a member, a controller's worker). Time-based logic itself is
// tested with the injectable FakeClock, not with this. A passing check returns as soon as it
// holds, so the limit only bounds how long a failing test waits.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace meridian::test_env {

inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(30),
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

}  // namespace meridian::test_env
