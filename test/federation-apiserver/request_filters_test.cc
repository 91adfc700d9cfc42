#include "federation-apiserver/request_filters.h"

#include <gtest/gtest.h>

namespace meridian::apiserver {
namespace {

TEST(TokenFileTest, ParsesUsersAndGroups) {
  auto tokens = ParseTokenFile(
      "# comment\nsecret1,alice,u1,\"admins,dev\"\nsecret2,bob,u2\n\n", "tokens.csv");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->at("secret1").name, "alice");
  EXPECT_EQ(tokens->at("secret1").groups, (std::vector<std::string>{"admins", "dev"}));
  EXPECT_TRUE(tokens->at("secret2").groups.empty());
}

TEST(TokenFileTest, ErrorsNameFileAndLine) {
  struct Case {
    std::string text, expected;
  };
  for (const Case& c : std::vector<Case>{
           {"a,b\n", "tokens.csv:1: expected token,user,uid[,\"group1,group2\"]"},
           {"ok,u,1\n,u,2\n", "tokens.csv:2: empty token"},
           {"t,u,1\nt,v,2\n", "tokens.csv:2: duplicate token"},
           {"t,\"u,1\n", "tokens.csv:1: unterminated quote"},
       }) {
    auto tokens = ParseTokenFile(c.text, "tokens.csv");
    ASSERT_FALSE(tokens.ok()) << c.text;
    EXPECT_EQ(tokens.status().message(), c.expected);
  }
}

TEST(BearerTokenFilterTest, AuthenticatesOrRefuses) {
  auto filter = BearerTokenFilter({{"s3cret", TokenUser{"alice", "u1", {"admins"}}}});
  struct Case {
    std::string path, header;
    bool ok;
  };
  for (const Case& c : std::vector<Case>{
           {"/apis", "Bearer s3cret", true},
           {"/apis", "Bearer wrong", false},
           {"/apis", "", false},
           {"/apis", "Basic s3cret", false},
           {"/healthz", "", true},
           {"/readyz/ping", "", true},
           {"/version", "", true},
       }) {
    apimachinery::rest::RestRequest req;
    req.path = c.path;
    if (!c.header.empty()) req.headers["authorization"] = c.header;
    Status st = filter(req);
    EXPECT_EQ(st.ok(), c.ok) << c.path << " " << c.header;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
    } else if (!c.header.empty()) {
      EXPECT_EQ(req.user.name, "alice");
    }
  }
}

}  // namespace
}  // namespace meridian::apiserver
