// gzip for REST responses (apimachinery/rest/content_encoding.h): Accept-Encoding parsing,
// round trips of random bytes, and what Gunzip refuses.
#include "apimachinery/rest/content_encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace meridian::apimachinery::rest {
namespace {

TEST(ContentEncodingTest, AcceptsGzip) {
  struct Case {
    const char* header;
    bool gzip;
  };
  const std::vector<Case> cases = {
      {"", false},
      {"gzip", true},
      {"GZIP", true},
      {"x-gzip", true},
      {"gzip, deflate, br", true},  // browsers
      {"deflate, gzip;q=0.5", true},
      {"identity", false},
      {"deflate", false},
      {"gzip;q=0", false},
      {"gzip; q=0.0", false},
      {"*", true},
      {"*;q=0", false},
      {"gzip;q=0, *", false},  // an explicit gzip element decides over "*"
      {"*;q=0, gzip", true},
      {" gzip ;q=1 ", true},
  };
  for (const Case& c : cases) EXPECT_EQ(AcceptsGzip(c.header), c.gzip) << "\"" << c.header << "\"";
}

TEST(ContentEncodingTest, RoundTripsRandomBytes) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70000}, size_t{600000}}) {
    std::string data(size, '\0');
    // Half random, half repetitive: both branches of deflate.
    for (size_t i = 0; i < size; ++i) data[i] = i % 2 ? static_cast<char>(rng()) : 'x';
    StatusOr<std::string> z = Gzip(data);
    ASSERT_TRUE(z.ok()) << z.status().message();
    ASSERT_GE(z->size(), 18u);  // header and trailer
    EXPECT_EQ(static_cast<unsigned char>((*z)[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>((*z)[1]), 0x8b);
    StatusOr<std::string> back = Gunzip(*z);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, data) << "seed " << seed << " size " << size;
  }
}

TEST(ContentEncodingTest, GunzipRefusesWhatIsNotWholeGzip) {
  const std::string data(10000, 'a');
  const std::string z = Gzip(data).value();
  EXPECT_EQ(Gunzip("not gzip at all").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Gunzip(z.substr(0, z.size() / 2)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Gunzip(z, 100).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Gunzip(z, data.size()).value(), data);
}

}  // namespace
}  // namespace meridian::apimachinery::rest
