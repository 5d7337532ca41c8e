#include "base/status.h"

#include <gtest/gtest.h>

namespace nimbus {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd number " + std::to_string(x));
  return x / 2;
}

Status UseHalf(int x, int* out) {
  NIMBUS_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(Status, DefaultIsOk) { EXPECT_TRUE(Status().ok()); }

TEST(Status, ContextIsPrefixedToTheMessage) {
  Status s = NotFound("version 7 not found").WithContext("function f");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "function f: version 7 not found");
  EXPECT_EQ(s.ToString(), "NotFound: function f: version 7 not found");
}

TEST(Result, AssignOrReturnPropagatesTheError) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  Status s = UseHalf(3, &out);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd number 3");
}

TEST(ResultDeathTest, ValueOnErrorStopsTheProcess) {
  Result<int> r = Internal("boom");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on error");
}

}  // namespace
}  // namespace nimbus
