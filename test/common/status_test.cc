#include "common/status.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Status Quarter(int x, int* out) {
  MERIDIAN_ASSIGN_OR_RETURN(int h, Half(x));
  MERIDIAN_ASSIGN_OR_RETURN(int q, Half(h));
  *out = q;
  return Status::Ok();
}

TEST(StatusTest, CodesMapToKubernetesHttpStatuses) {
  struct Case {
    StatusCode code;
    int http;
  };
  for (const Case& c : std::vector<Case>{{StatusCode::kOk, 200},
                                         {StatusCode::kInvalidArgument, 400},
                                         {StatusCode::kNotFound, 404},
                                         {StatusCode::kAlreadyExists, 409},
                                         {StatusCode::kAborted, 409},
                                         {StatusCode::kOutOfRange, 410},
                                         {StatusCode::kFailedPrecondition, 422},
                                         {StatusCode::kUnauthenticated, 401},
                                         {StatusCode::kInternal, 500}}) {
    EXPECT_EQ(HttpStatusFor(c.code), c.http) << StatusCodeName(c.code);
  }
}

TEST(StatusTest, AssignOrReturnPropagatesTheFirstError) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = Quarter(6, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "odd: 3");
}

TEST(StatusTest, WithContextPrefixesOnlyErrors) {
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
  EXPECT_EQ(NotFoundError("gone").WithContext("loading a").ToString(), "NOT_FOUND: loading a: gone");
}

}  // namespace
}  // namespace meridian
