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

// Max in flight: each step acquires (or releases) one request's slot against small caps.
TEST(InFlightLimiterTest, CapsTotalsAndUsersAndExemptsWatchesAndMasters) {
  using apimachinery::rest::RestRequest;
  auto limiter = std::make_shared<InFlightLimiter>(
      InFlightLimits{.max_requests = 3, .max_mutating_requests = 1, .max_requests_per_user = 2});
  auto filter = InFlightFilter(limiter);
  auto req = [](std::string method, std::string user, std::string path = "/api/v1/namespaces",
                std::map<std::string, std::string> query = {},
                std::vector<std::string> groups = {}) {
    RestRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = std::move(query);
    r.user.name = std::move(user);
    r.user.groups = std::move(groups);
    return r;
  };
  struct Step {
    std::string what;
    RestRequest request;
    std::string error;  // "" = admitted (and held until the end of the test)
  };
  std::vector<RestRequest> held;
  for (Step& s : std::vector<Step>{
           {"alice 1", req("GET", "alice"), ""},
           {"alice 2", req("GET", "alice"), ""},
           {"alice 3 is over her share", req("GET", "alice"),
            "Too many requests, please try again later: user alice has 2 requests in flight"},
           {"bob still gets in", req("GET", "bob"), ""},
           {"the total is reached", req("GET", "carol"),
            "Too many requests, please try again later: 3 requests in flight"},
           {"a mutating request has its own budget", req("POST", "carol"), ""},
           {"and it is 1", req("DELETE", "dave"),
            "Too many requests, please try again later: 1 mutating requests in flight"},
           {"watches are long-running", req("GET", "alice", "/api/v1/pods", {{"watch", "true"}}),
            ""},
           {"so are /watch/ paths", req("GET", "alice", "/api/v1/watch/pods"), ""},
           {"system:masters is exempt", req("GET", "root", "/api", {}, {"system:masters"}), ""},
           {"the mutating cap applies to anonymous callers too", req("PUT", ""),
            "Too many requests, please try again later: 1 mutating requests in flight"},
       }) {
    Status st = filter(s.request);
    if (s.error.empty()) {
      EXPECT_TRUE(st.ok()) << s.what << ": " << st;
      held.push_back(std::move(s.request));
    } else {
      EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << s.what;
      EXPECT_EQ(st.message(), s.error) << s.what;
      apimachinery::ApiError e = apimachinery::ApiError::FromStatus(st);
      EXPECT_EQ(e.code, 429) << s.what;
      EXPECT_EQ(e.reason, "TooManyRequests") << s.what;
      EXPECT_EQ(e.retry_after_seconds, 1) << s.what;
    }
  }
  EXPECT_EQ(limiter->InFlight().requests, 3);
  EXPECT_EQ(limiter->InFlight().mutating_requests, 1);
  EXPECT_EQ(limiter->InFlightFor("alice"), 2);
  held.erase(held.begin());  // alice's first request is answered
  EXPECT_EQ(limiter->InFlightFor("alice"), 1);
  RestRequest again = req("GET", "alice");
  EXPECT_TRUE(filter(again).ok());
  held.clear();
  again = RestRequest();
  EXPECT_EQ(limiter->InFlight().requests, 0);
  EXPECT_EQ(limiter->InFlight().mutating_requests, 0);
  EXPECT_EQ(limiter->InFlightFor("alice"), 0);
}

}  // namespace
}  // namespace meridian::apiserver
