// CanonicalQuantity against the canonical forms k8s.io/apimachinery's Quantity.String()
// produces (the values kube-apiserver stores).
#include "common/quantity.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(CanonicalQuantityTest, MatchesKubernetes) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      // decimal SI
      {"0.5", "500m"},
      {"500m", "500m"},
      {"1.0", "1"},
      {"1", "1"},
      {"1000m", "1"},
      {"1500m", "1500m"},
      {"1.5", "1500m"},
      {"0.1", "100m"},
      {"2000", "2k"},
      {"1500", "1500"},
      {"0", "0"},
      {"0.0", "0"},
      {"0m", "0"},
      {"100000m", "100"},
      {"1G", "1G"},
      {"1000M", "1G"},
      {"128974848", "128974848"},
      {"250u", "250u"},
      {"0.000001", "1u"},
      {"1n", "1n"},
      {"0.0000000001", "1n"},  // rounded up to a nano, as Go does
      {"+2", "2"},
      {"-1", "-1"},
      {"-0.5", "-500m"},
      {".5", "500m"},
      {"5.", "5"},
      {"12345k", "12345k"},
      {"1.5k", "1500"},
      {"1E", "1E"},
      // binary SI
      {"1024Mi", "1Gi"},
      {"1Gi", "1Gi"},
      {"1536Mi", "1536Mi"},
      {"1.5Gi", "1536Mi"},
      {"0.5Gi", "512Mi"},
      {"1000Mi", "1000Mi"},
      {"1Ki", "1Ki"},
      {"0.5Ki", "512"},
      {"2048Ki", "2Mi"},
      {"1023Ki", "1023Ki"},
      {"0.1Gi", "107374182400m"},
      {"1024Gi", "1Ti"},
      {"3Ei", "3Ei"},
      // decimal exponent
      {"129e6", "129e6"},
      {"1e3", "1e3"},
      {"1E3", "1e3"},
      {"1000e0", "1e3"},
      {"12e1", "120"},
      {"1e-3", "1e-3"},
      {"5e0", "5"},
  };
  for (const Case& c : cases) {
    StatusOr<std::string> got = CanonicalQuantity(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.in;
  }
}

TEST(CanonicalQuantityTest, RejectsWhatKubernetesRejects) {
  for (const char* bad : {"", "m", "abc", "1x", "1KiB", "1.2.3", "1e", "1e+", "--1", "1 m",
                          "99999999999999999999999999999999Ei", "10E"}) {
    StatusOr<std::string> got = CanonicalQuantity(bad);
    EXPECT_FALSE(got.ok()) << bad << " -> " << (got.ok() ? *got : "");
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find(std::string("\"") + bad + "\""), std::string::npos)
          << got.status();
    }
  }
}

}  // namespace
}  // namespace meridian

namespace meridian {
namespace {

TEST(QuantityValueTest, MilliAndWholeUnitsRoundUpAsKubernetes) {
  const std::vector<std::pair<std::string, int64_t>> milli = {
      {"0.5", 500},     {"500m", 500}, {"1", 1000}, {"1.0", 1000},   {"3500m", 3500},
      {"1Ki", 1024000}, {"0.0001", 1}, {"100n", 1}, {"-250m", -250}, {"2e3", 2000000}};
  for (const auto& [text, want] : milli) {
    StatusOr<int64_t> got = QuantityMilliValue(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status();
    EXPECT_EQ(*got, want) << text;
  }
  const std::vector<std::pair<std::string, int64_t>> units = {
      {"1Gi", 1073741824},  {"1024Mi", 1073741824}, {"1500m", 2}, {"128974848", 128974848},
      {"129e6", 129000000}, {"110", 110},           {"0", 0}};
  for (const auto& [text, want] : units) {
    StatusOr<int64_t> got = QuantityValue(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status();
    EXPECT_EQ(*got, want) << text;
  }
  EXPECT_FALSE(QuantityMilliValue("1x").ok());
  EXPECT_FALSE(QuantityMilliValue("").ok());
  // 9e18 units fit; in thousandths they do not.
  EXPECT_FALSE(QuantityMilliValue("9E").ok());
  EXPECT_TRUE(QuantityValue("9E").ok());
}

}  // namespace
}  // namespace meridian
