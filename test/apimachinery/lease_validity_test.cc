// LeaseValidity (apimachinery/lease_validity.h): the local fence of a leader's member writes.
// Time is passed in (made-up steady_clock points), so a "pause" is a jump of the time given.
#include "apimachinery/lease_validity.h"

#include <gtest/gtest.h>

#include <vector>

namespace meridian::apimachinery {
namespace {

using std::chrono::milliseconds;
using TimePoint = LeaseValidity::TimePoint;

const TimePoint kStart = TimePoint(std::chrono::hours(1000));

TEST(LeaseValidityTest, NothingIsPermittedBeforeTheFirstRenewal) {
  LeaseValidity validity(milliseconds(1500));
  Status st = validity.Check(kStart);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("does not hold the lease"), std::string::npos) << st.message();
}

// The table: one renewal at kStart, a check `after` later.
TEST(LeaseValidityTest, ValidUntilTheRenewDeadlineAfterTheRenewalStarted) {
  struct Case {
    milliseconds after;
    bool valid;
  };
  const std::vector<Case> cases = {
      {milliseconds(0), true},     {milliseconds(1499), true},  {milliseconds(1500), false},
      {milliseconds(1501), false}, {milliseconds(5000), false},  // a 5 s pause (SIGSTOP)
  };
  for (const Case& c : cases) {
    LeaseValidity validity(milliseconds(1500));
    validity.Renewed(kStart);
    Status st = validity.Check(kStart + c.after);
    EXPECT_EQ(st.ok(), c.valid) << c.after.count() << " ms: " << st.message();
    if (!c.valid) {
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
      EXPECT_NE(st.message().find("renew deadline (1500 ms)"), std::string::npos) << st.message();
    }
  }
}

TEST(LeaseValidityTest, EachRenewalExtendsItAndAStaleOneDoesNotShortenIt) {
  LeaseValidity validity(milliseconds(1500));
  validity.Renewed(kStart);
  validity.Renewed(kStart + milliseconds(1000));
  EXPECT_TRUE(validity.Check(kStart + milliseconds(2400)).ok());
  // A slow renewal that started earlier but answered last.
  validity.Renewed(kStart + milliseconds(500));
  EXPECT_TRUE(validity.Check(kStart + milliseconds(2400)).ok());
  EXPECT_FALSE(validity.Check(kStart + milliseconds(2500)).ok());
}

TEST(LeaseValidityTest, LostRefusesAtOnceUntilTheNextRenewal) {
  LeaseValidity validity(milliseconds(1500));
  validity.Renewed(kStart);
  validity.Lost();
  EXPECT_FALSE(validity.Check(kStart + milliseconds(1)).ok());
  // A new term (won again later) starts from its own renewal, not the old one.
  validity.Renewed(kStart + milliseconds(10'000));
  EXPECT_TRUE(validity.Check(kStart + milliseconds(11'000)).ok());
  EXPECT_FALSE(validity.Check(kStart + milliseconds(11'500)).ok());
}

}  // namespace
}  // namespace meridian::apimachinery
