#include "common/open_file_limit.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(OpenFileLimitTest, RaisesTheSoftLimitToTheHardOneAndLeavesItThereNextTime) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max < 64) GTEST_SKIP() << "hard limit too low to lower the soft one";
  rlimit lowered = original;
  lowered.rlim_cur = 32;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);

  const OpenFileLimit raised = RaiseOpenFileLimit();
  EXPECT_TRUE(raised.ok);
  EXPECT_EQ(raised.before, 32u);
  EXPECT_EQ(raised.after, original.rlim_max);
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, original.rlim_max);

  const OpenFileLimit again = RaiseOpenFileLimit();  // already at the hard limit
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.before, again.after);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &original), 0);
}

}  // namespace
}  // namespace meridian
