// Fencing tokens (apimachinery/fencing_token.h): the header's format, and the pure check of a
// token against the Lease as stored, table-driven.
#include "apimachinery/fencing_token.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

json Lease(const std::string& holder, int64_t transitions) {
  json spec = {{"leaseDurationSeconds", 4}, {"leaseTransitions", transitions}};
  if (!holder.empty()) spec["holderIdentity"] = holder;
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata",
           {{"name", "federation-controller-manager"},
            {"namespace", "meridian-system"},
            {"resourceVersion", "12"}}},
          {"spec", spec}};
}

TEST(FencingTokenTest, FormatAndParseAreInverses) {
  const FencingToken token{"meridian-system", "federation-controller-manager", "host-a_1f; x=y", 7};
  const std::string value = FormatFencingToken(token);
  EXPECT_EQ(value,
            "lease=meridian-system/federation-controller-manager; transitions=7; "
            "holder=host-a_1f; x=y");
  StatusOr<FencingToken> parsed = ParseFencingToken(value);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(*parsed, token);
}

TEST(FencingTokenTest, MalformedHeadersAreClearErrors) {
  struct Case {
    std::string value;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "does not start with lease="},
      {"holder=a; lease=ns/l; transitions=1", "does not start with lease="},
      {"lease=ns/l; holder=a; transitions=1", "in that order"},
      {"lease=ns/l; transitions=1", "in that order"},
      {"lease=l; transitions=1; holder=a", "is not NAMESPACE/NAME"},
      {"lease=/l; transitions=1; holder=a", "is not NAMESPACE/NAME"},
      {"lease=ns/l/x; transitions=1; holder=a", "is not NAMESPACE/NAME"},
      {"lease=ns/l; transitions=-1; holder=a", "is not a non-negative integer"},
      {"lease=ns/l; transitions=1x; holder=a", "is not a non-negative integer"},
      {"lease=ns/l; transitions=; holder=a", "is not a non-negative integer"},
      {"lease=ns/l; transitions=99999999999999999999; holder=a", "non-negative integer"},
      {"lease=ns/l; transitions=1; holder=", "holder is empty"},
      {"lease=ns/l; transitions=1; holder=a\nb", "not printable ASCII"},
  };
  for (const Case& c : cases) {
    StatusOr<FencingToken> parsed = ParseFencingToken(c.value);
    ASSERT_FALSE(parsed.ok()) << c.value;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << c.value;
    EXPECT_NE(parsed.status().message().find(c.says), std::string::npos)
        << c.value << ": " << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("Meridian-Fencing-Token"), std::string::npos);
  }
}

TEST(FencingTokenTest, TheTokenOfALeaseIsItsHolderAndTransitions) {
  StatusOr<FencingToken> token = FencingTokenOf(Lease("cm-1", 3));
  ASSERT_TRUE(token.ok()) << token.status().message();
  EXPECT_EQ(*token, (FencingToken{"meridian-system", "federation-controller-manager", "cm-1", 3}));
  json never_moved = Lease("cm-1", 0);
  never_moved["spec"].erase("leaseTransitions");  // absent: 0, as kube reads it
  EXPECT_EQ(FencingTokenOf(never_moved)->transitions, 0);
  StatusOr<FencingToken> released = FencingTokenOf(Lease("", 3));
  EXPECT_EQ(released.status().code(), StatusCode::kFailedPrecondition);
}

// The server's decision: the token's term against the Lease now.
TEST(FencingTokenTest, OnlyTheCurrentTermMayWrite) {
  const FencingToken mine{"meridian-system", "federation-controller-manager", "cm-1", 3};
  struct Case {
    std::string what;
    bool lease_exists;
    json lease;
    bool ok;
    std::string says;  // in the refusal
  };
  const std::vector<Case> cases = {
      {"same holder and term (renewals change neither)", true, Lease("cm-1", 3), true, ""},
      {"another candidate took over", true, Lease("cm-2", 4), false,
       "the lease is held by holder \"cm-2\", leaseTransitions 4"},
      {"this candidate lost and won again: a later term", true, Lease("cm-1", 5), false,
       "held by holder \"cm-1\", leaseTransitions 5"},
      {"same count, other holder", true, Lease("cm-2", 3), false, "held by holder \"cm-2\""},
      {"released", true, Lease("", 3), false, "has no holder now"},
      {"deleted", false, json(), false, "does not exist"},
  };
  for (const Case& c : cases) {
    Status st = CheckFencingToken(mine, c.lease_exists ? &c.lease : nullptr);
    if (c.ok) {
      EXPECT_TRUE(st.ok()) << c.what << ": " << st.message();
      continue;
    }
    EXPECT_EQ(st.code(), StatusCode::kAborted) << c.what;  // 409 Conflict
    EXPECT_NE(st.message().find(c.says), std::string::npos) << c.what << ": " << st.message();
    EXPECT_NE(st.message().find("fencing token for lease meridian-system/"
                                "federation-controller-manager (holder \"cm-1\", "
                                "leaseTransitions 3) is stale"),
              std::string::npos)
        << st.message();
  }
}

}  // namespace
}  // namespace meridian::apimachinery
