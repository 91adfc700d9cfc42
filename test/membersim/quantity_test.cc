#include "membersim/quantity.h"

#include <gtest/gtest.h>

namespace meridian::membersim {
namespace {

TEST(QuantityTest, ParsesMilli) {
  struct Case {
    const char* text;
    int64_t milli;
  };
  const Case cases[] = {
      {"500m", 500},        {"2", 2000},          {"1.5", 1500},         {"0.1", 100},
      {"100u", 1},          {"1Ki", 1024000},     {"2k", 2000000},       {"1e3", 1000000},
      {"1E-3", 1},          {"+3", 3000},         {"0", 0},              {"250m", 250},
      {"1n", 1},            {"1.0001", 1001},     {"4", 4000},
  };
  for (const Case& c : cases) {
    auto v = ParseQuantityMilli(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status();
    EXPECT_EQ(*v, c.milli) << c.text;
  }
}

TEST(QuantityTest, ParsesUnits) {
  struct Case {
    const char* text;
    int64_t value;
  };
  const Case cases[] = {
      {"2Gi", int64_t{2} << 30}, {"512Mi", int64_t{512} << 20}, {"128974848", 128974848},
      {"129e6", 129000000},      {"123M", 123000000},            {"1500m", 2},
      {"1Ti", int64_t{1} << 40}, {"64Ki", 65536},
  };
  for (const Case& c : cases) {
    auto v = ParseQuantity(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status();
    EXPECT_EQ(*v, c.value) << c.text;
  }
}

TEST(QuantityTest, RejectsMalformed) {
  for (const char* text : {"", "2x", "abc", "-1", "1.2.3", "Gi", "1e", "1eX", "2 Gi", "9999999999999999999Ei"}) {
    auto v = ParseQuantityMilli(text);
    EXPECT_FALSE(v.ok()) << text;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

TEST(QuantityTest, Formats) {
  EXPECT_EQ(FormatMilli(1500), "1500m");
  EXPECT_EQ(FormatMilli(4000), "4");
  EXPECT_EQ(FormatBytes(int64_t{16} << 30), "16Gi");
  EXPECT_EQ(FormatBytes(1536), "1536");  // not a whole Ki multiple of a larger suffix: 1536 = 1.5Ki
  EXPECT_EQ(FormatBytes(2048), "2Ki");
  EXPECT_EQ(FormatBytes(1000), "1000");
}

}  // namespace
}  // namespace meridian::membersim
