#include "http/message.h"

#include <gtest/gtest.h>

namespace nimbus::http {
namespace {

TEST(PercentDecode, DecodesEscapesAndRejectsBrokenOnes) {
  EXPECT_EQ(PercentDecode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
  EXPECT_EQ(PercentDecode("%24LATEST"), "$LATEST");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_FALSE(PercentDecode("%3").has_value());
  EXPECT_FALSE(PercentDecode("%zz").has_value());
}

TEST(DecodedPathSegments, SplitsThenDecodesEachSegment) {
  auto s = DecodedPathSegments("/2015-03-31/functions/f%3A1%2Fx/invocations");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, (std::vector<std::string>{"2015-03-31", "functions", "f:1/x", "invocations"}));
  EXPECT_EQ(*DecodedPathSegments("/"), std::vector<std::string>{});
  EXPECT_EQ(*DecodedPathSegments("/a/"), std::vector<std::string>{"a"});
}

TEST(ParseQuery, KeepsOrderAndDuplicatesAndDecodes) {
  auto q = ParseQuery("Marker=a%2Bb&MaxItems=2&tagKeys=x&tagKeys=y+z&flag");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(QueryParam(q, "Marker"), "a+b");
  EXPECT_EQ(q[3].second, "y z");
  EXPECT_EQ(QueryParam(q, "flag"), "");
  EXPECT_FALSE(QueryParam(q, "nope").has_value());
}

TEST(Headers, LookupIgnoresCaseAndSetReplaces) {
  Headers h;
  h.Add("X-Amz-Log-Type", "Tail");
  h.Add("x-amz-log-type", "None");
  EXPECT_EQ(h.Get("x-AMZ-log-type"), "Tail");
  h.Set("X-Amz-Log-Type", "None");
  EXPECT_EQ(h.entries().size(), 1u);
  EXPECT_EQ(h.Get("x-amz-log-type"), "None");
}

TEST(Request, SplitsTargetIntoPathAndQuery) {
  Request r;
  r.target = "/a/b?x=1";
  EXPECT_EQ(r.path(), "/a/b");
  EXPECT_EQ(r.query(), "x=1");
  r.target = "/a";
  EXPECT_EQ(r.query(), "");
}

}  // namespace
}  // namespace nimbus::http
