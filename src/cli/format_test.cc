#include "cli/format.h"

#include <gtest/gtest.h>

namespace nimbus::cli {
namespace {

TEST(ParseEnvAssignments, SplitsAtTheFirstEqualsSignAndAllowsEmptyValues) {
  auto env = ParseEnvAssignments({"A=1", "URL=http://x/?a=b", "EMPTY="});
  ASSERT_TRUE(env.has_value()) << env.status().ToString();
  EXPECT_EQ(*env, (std::map<std::string, std::string>{
                      {"A", "1"}, {"URL", "http://x/?a=b"}, {"EMPTY", ""}}));
}

TEST(ParseEnvAssignments, RejectsMissingEqualsBadNamesAndRepeats) {
  EXPECT_EQ(ParseEnvAssignments({"NOVALUE"}).error(),
            InvalidArgument("--env NOVALUE: expected KEY=VALUE"));
  EXPECT_EQ(ParseEnvAssignments({"1X=2"}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseEnvAssignments({"=2"}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseEnvAssignments({"A-B=2"}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseEnvAssignments({"A=1", "A=2"}).error(),
            InvalidArgument("--env: A is given more than once"));
}

TEST(ParseSince, UnderstandsUnitsAndBareSeconds) {
  EXPECT_EQ(*ParseSince("90s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseSince("10m"), std::chrono::minutes(10));
  EXPECT_EQ(*ParseSince("2h"), std::chrono::hours(2));
  EXPECT_EQ(*ParseSince("1d"), std::chrono::hours(24));
  EXPECT_EQ(*ParseSince("45"), std::chrono::seconds(45));
  for (auto bad : {"", "m", "10x", "-5m", "1.5h", "99999999999999d"}) {
    EXPECT_FALSE(ParseSince(bad).has_value()) << bad;
  }
}

TEST(FormatLogLine, PrintsIsoTimeStreamAndMessageWithoutItsTrailingNewline) {
  EXPECT_EQ(FormatLogLine(1714564800123, "2024/05/01/[$LATEST]abc", "hello\n"),
            "2024-05-01T12:00:00.123Z 2024/05/01/[$LATEST]abc hello\n");
  EXPECT_EQ(FormatIsoMillis(0), "1970-01-01T00:00:00.000Z");
}

TEST(FormatFunctionTable, AlignsColumnsUnderAHeader) {
  std::string table = FormatFunctionTable({{"hello", "python3.12", 128, "2024-05-01T12:00:00.000+0000"},
                                           {"a-much-longer-name", "nodejs20.x", 1024, "x"}});
  EXPECT_EQ(table,
            "NAME                RUNTIME      MEMORY  LAST MODIFIED\n"
            "hello               python3.12   128 MB  2024-05-01T12:00:00.000+0000\n"
            "a-much-longer-name  nodejs20.x  1024 MB  x\n");
  EXPECT_EQ(FormatFunctionTable({}), "NAME  RUNTIME  MEMORY  LAST MODIFIED\n");
}

TEST(DescribeAwsError, ReadsLambdaAndJsonProtocolErrors) {
  http::Response lambda;
  lambda.status = 404;
  lambda.headers.Set("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/x");
  lambda.body = R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"})";
  EXPECT_EQ(DescribeAwsError(lambda),
            "ResourceNotFoundException: Function not found: "
            "arn:aws:lambda:us-east-1:000000000000:function:f");
  http::Response logs;
  logs.status = 400;
  logs.body = R"({"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log group does not exist."})";
  EXPECT_EQ(DescribeAwsError(logs),
            "ResourceNotFoundException: The specified log group does not exist.");
  http::Response plain;
  plain.status = 502;
  plain.body = "bad gateway\n";
  EXPECT_EQ(DescribeAwsError(plain), "HTTP 502: bad gateway");
  plain.body = "";
  EXPECT_EQ(DescribeAwsError(plain), "HTTP 502");
}

TEST(PercentEncode, EncodesEverythingButUnreservedCharacters) {
  EXPECT_EQ(PercentEncode("f:$LATEST"), "f%3A%24LATEST");
  EXPECT_EQ(PercentEncode("a-b_c.d~e"), "a-b_c.d~e");
}

}  // namespace
}  // namespace nimbus::cli
