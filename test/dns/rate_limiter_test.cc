#include "dns/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::dns {
namespace {

using Action = ResponseRateLimiter::Action;

TEST(RateLimiterTest, TokenBucketPerSubnetWithSlip) {
  struct Step {
    int advance_ms;
    std::string client;
    Action expected;
  };
  struct Case {
    std::string what;
    RateLimitConfig config;
    std::vector<Step> steps;
  };
  const Action S = Action::kSend, D = Action::kDrop, T = Action::kSlip;
  const std::vector<Case> cases = {
      {"disabled never limits",
       {.responses_per_second = 0},
       {{0, "10.0.0.1", S}, {0, "10.0.0.1", S}, {0, "10.0.0.1", S}}},
      {"burst then slip every second limited response",
       {.responses_per_second = 2, .burst = 2, .slip = 2},
       {{0, "10.0.0.1", S},
        {0, "10.0.0.1", S},
        {0, "10.0.0.1", D},
        {0, "10.0.0.1", T},
        {0, "10.0.0.1", D},
        {0, "10.0.0.1", T}}},
      {"same /24 shares a bucket, another /24 does not",
       {.responses_per_second = 1, .slip = 0},
       {{0, "10.0.0.1", S}, {0, "10.0.0.200", D}, {0, "10.0.1.1", S}, {0, "10.0.1.2", D}}},
      {"tokens refill with time",
       {.responses_per_second = 2, .burst = 1, .slip = 0},
       {{0, "10.0.0.1", S},
        {0, "10.0.0.1", D},
        {499, "10.0.0.1", D},
        {1, "10.0.0.1", S},
        {0, "10.0.0.1", D},
        {10000, "10.0.0.1", S},
        {0, "10.0.0.1", D}}},
      {"slip 1 truncates every limited response",
       {.responses_per_second = 1, .slip = 1},
       {{0, "192.0.2.1", S}, {0, "192.0.2.1", T}, {0, "192.0.2.1", T}}},
      {"IPv6 keyed by /56",
       {.responses_per_second = 1, .slip = 0},
       {{0, "2001:db8:0:100::1", S}, {0, "2001:db8:0:1ff::2", D}, {0, "2001:db8:0:200::1", S}}},
      {"an exempt client is never limited; its /24 neighbours are",
       {.responses_per_second = 1, .slip = 0, .exempt_clients = {*IpAddress::Parse("127.0.53.1")}},
       {{0, "127.0.53.1", S},
        {0, "127.0.53.1", S},
        {0, "127.0.53.1", S},
        {0, "127.0.53.2", S},
        {0, "127.0.53.2", D},
        {0, "127.0.53.1", S}}},
      {"IPv4 and IPv6 never share a bucket",
       {.responses_per_second = 1, .slip = 0},
       {{0, "0.0.0.0", S}, {0, "::", S}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeClock clock;
    ResponseRateLimiter limiter(c.config, clock);
    for (size_t i = 0; i < c.steps.size(); ++i) {
      clock.Advance(std::chrono::milliseconds(c.steps[i].advance_ms));
      EXPECT_EQ(limiter.Check(*IpAddress::Parse(c.steps[i].client)), c.steps[i].expected)
          << "step " << i;
    }
  }
}

TEST(RateLimiterTest, TableStaysBounded) {
  FakeClock clock;
  ResponseRateLimiter limiter({.responses_per_second = 10, .max_tracked_subnets = 100}, clock);
  for (int i = 0; i < 1000; ++i) {
    (void)limiter.Check(
        IpAddress::V4(10, static_cast<uint8_t>(i / 256), static_cast<uint8_t>(i % 256), 1));
    EXPECT_LE(limiter.tracked_subnets(), 100u);
  }
  // Idle subnets are forgotten once their bucket is full again.
  clock.Advance(std::chrono::seconds(2));
  (void)limiter.Check(IpAddress::V4(11, 0, 0, 1));
  EXPECT_LE(limiter.tracked_subnets(), 100u);
}

}  // namespace
}  // namespace meridian::dns
