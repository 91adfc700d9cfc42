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

// The fraction is kept (it was once read and dropped, so a 1 s gate measured from a parsed
// time could pass up to a second early).
TEST(ClockTest, Rfc3339KeepsFractionalSeconds) {
  Timestamp whole;
  ASSERT_TRUE(ParseRfc3339("2026-11-21T11:09:34Z", &whole));
  const struct {
    const char* text;
    int64_t nanos;
  } cases[] = {
      {"2026-11-21T11:09:34.250Z", 250'000'000},
      {"2026-11-21T11:09:34.5Z", 500'000'000},
      {"2026-11-21T11:09:34.000001Z", 1'000},
      {"2026-11-21T11:09:34.123456789Z", 123'456'789},
      {"2026-11-21T11:09:34.1234567891234Z", 123'456'789},  // beyond nanoseconds: dropped
      {"2026-11-21T11:09:34.999999999Z", 999'999'999},
      {"2026-11-21T11:09:34.0Z", 0},
  };
  for (const auto& c : cases) {
    Timestamp t;
    ASSERT_TRUE(ParseRfc3339(c.text, &t)) << c.text;
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::nanoseconds>(t - whole).count(), c.nanos)
        << c.text;
  }
  Timestamp before_epoch, second;
  ASSERT_TRUE(ParseRfc3339("1969-12-31T23:59:59.750Z", &before_epoch));
  ASSERT_TRUE(ParseRfc3339("1969-12-31T23:59:59Z", &second));
  EXPECT_EQ(before_epoch - second, std::chrono::milliseconds(750));
}

TEST(ClockTest, Rfc3339RejectsMalformedInput) {
  Timestamp t;
  for (const char* bad :
       {"", "2026-11-21", "2026-13-01T00:00:00Z", "2026-11-21T11:09:34", "2026-11-21T11:09:34Zjunk",
        "yesterday", "2026-11-21T11:09:34.Z", "2026-11-21T11:09:34.", "2026-11-21T11:09:34.25",
        "2026-11-21T11:09:34,25Z", "2026-11-21T11:09:34.2a5Z", "2026-11-21T11:09:34.25+01:00",
        "2026-11-21T11:09:34..25Z", "2026-11-21T11:09:34.-25Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
}

// Found by fuzz_decode (a ResidencyEvidence spec.time of year 1013): years a nanosecond
// Timestamp cannot hold overflowed in the conversion (UB); they are refused, the edges kept.
TEST(ClockTest, Rfc3339RefusesYearsATimestampCannotHold) {
  Timestamp t;
  for (const char* bad : {"1013-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                          "2262-01-01T00:00:00Z", "1677-12-31T00:00:00Z", "-001-01-01T00:00:00Z",
                          "2026-01-01T-1:00:00Z", "2026-01-01T00:-1:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
  ASSERT_TRUE(ParseRfc3339("1678-01-01T00:00:00Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "1678-01-01T00:00:00Z");
  ASSERT_TRUE(ParseRfc3339("2261-12-31T23:59:59Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2261-12-31T23:59:59Z");
}

}  // namespace
}  // namespace meridian
