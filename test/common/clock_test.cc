#include "common/clock.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenAdvanced) {
  FakeClock clock;
  Timestamp t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(std::chrono::seconds(5));
  EXPECT_EQ(clock.Now() - t0, std::chrono::seconds(5));
}

TEST(ClockTest, Rfc3339RoundTrips) {
  Timestamp t;
  ASSERT_TRUE(ParseRfc3339("2026-11-21T11:09:34Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T11:09:34Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-21T11:09:34.123456Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T11:09:34Z");
}

TEST(ClockTest, Rfc3339RejectsMalformedInput) {
  Timestamp t;
  for (const char* bad : {"", "2026-11-21", "2026-13-01T00:00:00Z", "2026-11-21T11:09:34",
                          "2026-11-21T11:09:34Zjunk", "yesterday"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
}

}  // namespace
}  // namespace meridian
