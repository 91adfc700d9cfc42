#include "sync/internal/shared_strings.h"

#include <gtest/gtest.h>

namespace meridian::sync::internal {
namespace {

TEST(SharedStringsTest, OneCopyPerContentWhileHeldForgottenOnceNobodyHoldsIt) {
  SharedStrings strings(/*sweep_every=*/3);
  auto a = strings.Intern("{\"kind\":\"ConfigMap\"}");
  auto b = strings.Intern(std::string("{\"kind\":\"ConfigMap\"}"));
  EXPECT_EQ(a.get(), b.get());  // the same copy
  EXPECT_EQ(*a, "{\"kind\":\"ConfigMap\"}");
  auto other = strings.Intern("{\"kind\":\"Secret\"}");
  EXPECT_NE(other.get(), a.get());
  EXPECT_EQ(strings.size(), 2u);

  // Nobody holds the Secret's copy: the table does not keep it alive, and a sweep forgets it.
  std::weak_ptr<const std::string> gone = other;
  other.reset();
  EXPECT_TRUE(gone.expired());
  auto again = strings.Intern("{\"kind\":\"Secret\"}");  // made anew (third Intern: a sweep)
  EXPECT_EQ(*again, "{\"kind\":\"Secret\"}");
  again.reset();
  a.reset();
  b.reset();
  strings.Intern("x");
  strings.Intern("y");
  strings.Intern("z");  // a sweep ran among these three: what nobody held is forgotten
  EXPECT_LE(strings.size(), 2u);
}

}  // namespace
}  // namespace meridian::sync::internal
