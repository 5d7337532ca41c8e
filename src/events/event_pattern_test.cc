#include "events/event_pattern.h"

#include <gtest/gtest.h>

namespace nimbus::events {
namespace {

namespace json = boost::json;

bool M(const char* pattern, const char* event) {
  EXPECT_TRUE(ValidatePattern(pattern).ok()) << pattern;
  return Matches(json::parse(pattern), json::parse(event));
}

TEST(EventPatternTest, MatchesValuesArraysAndContentFilters) {
  const char* event = R"({"source":"shop","detail-type":"OrderPlaced","detail":{"total":42,"tags":["a","b"],)"
                      R"("customer":{"tier":"Gold","email":"x@example.com"},"note":null}})";
  EXPECT_TRUE(M(R"({"source":["shop"]})", event));
  EXPECT_FALSE(M(R"({"source":["bank"]})", event));
  EXPECT_TRUE(M(R"({"source":["bank","shop"],"detail":{"tags":["b"]}})", event)) << "an array value intersects";
  EXPECT_TRUE(M(R"({"detail":{"total":[{"numeric":[">",40,"<=",42]}]}})", event));
  EXPECT_FALSE(M(R"({"detail":{"total":[{"numeric":["<",10]}]}})", event));
  EXPECT_TRUE(M(R"({"detail-type":[{"prefix":"Order"}]})", event));
  EXPECT_TRUE(M(R"({"detail":{"customer":{"email":[{"suffix":"@example.com"}]}}})", event));
  EXPECT_TRUE(M(R"({"detail":{"customer":{"tier":[{"equals-ignore-case":"gold"}]}}})", event));
  EXPECT_TRUE(M(R"({"detail":{"customer":{"tier":[{"anything-but":["Silver"]}]}}})", event));
  EXPECT_FALSE(M(R"({"detail":{"customer":{"tier":[{"anything-but":"Gold"}]}}})", event));
  EXPECT_TRUE(M(R"({"detail":{"missing":[{"exists":false}],"total":[{"exists":true}]}})", event));
  EXPECT_TRUE(M(R"({"detail":{"customer":{"email":[{"wildcard":"*@*.com"}]}}})", event));
  EXPECT_TRUE(M(R"({"detail":{"note":[null]}})", event));
  EXPECT_FALSE(M(R"({"detail":{"customer":{"missing":["x"]}}})", event));
}

TEST(EventPatternTest, RefusesWhatPutRuleRefuses) {
  EXPECT_FALSE(ValidatePattern("not json").ok());
  EXPECT_FALSE(ValidatePattern("{}").ok());
  EXPECT_FALSE(ValidatePattern(R"({"source":"shop"})").ok()) << "leaves are arrays";
  EXPECT_FALSE(ValidatePattern(R"({"source":[{"regex":"x"}]})").ok());
}

TEST(ScheduleTest, RatesAndCronsFireOnTheirMinutes) {
  auto five = ParseSchedule("rate(5 minutes)");
  ASSERT_TRUE(five.has_value());
  EXPECT_FALSE(FiresAt(*five, 100, 100)) << "not at creation";
  EXPECT_TRUE(FiresAt(*five, 105, 100));
  EXPECT_FALSE(FiresAt(*five, 106, 100));
  EXPECT_FALSE(ParseSchedule("rate(5 minute)").has_value()) << "plural as EventBridge insists";
  EXPECT_FALSE(ParseSchedule("rate(1 minutes)").has_value());
  EXPECT_TRUE(ParseSchedule("rate(1 hour)").has_value());
  // 2024-05-01 (a Wednesday) 12:00 UTC = minute 28576800.
  const int64_t noon = 1714564800 / 60;
  auto daily = ParseSchedule("cron(0 12 * * ? *)");
  ASSERT_TRUE(daily.has_value());
  EXPECT_TRUE(FiresAt(*daily, noon, 0));
  EXPECT_FALSE(FiresAt(*daily, noon + 1, 0));
  auto weekdays = ParseSchedule("cron(*/15 9-17 ? * MON-FRI *)");
  ASSERT_TRUE(weekdays.has_value());
  EXPECT_TRUE(FiresAt(*weekdays, noon + 15, 0));
  EXPECT_FALSE(FiresAt(*weekdays, noon + 16, 0));
  EXPECT_FALSE(FiresAt(*weekdays, noon + 3 * 1440, 0)) << "Saturday";
  EXPECT_FALSE(ParseSchedule("cron(0 12 * * * *)").has_value()) << "one of day fields must be ?";
  EXPECT_FALSE(ParseSchedule("cron(61 12 * * ? *)").has_value());
  EXPECT_FALSE(ParseSchedule("every 5 minutes").has_value());
}

// rate(2000000 days) overflowed an int (UBSan in fuzz/event_schedule_fuzz), and
// numbers were read with atoi: wrapped or with trailing junk, they were accepted.
TEST(ScheduleTest, NumbersOutOfRangeOrWithJunkAreInvalid) {
  EXPECT_FALSE(ParseSchedule("rate(2000000 days)").has_value());
  EXPECT_FALSE(ParseSchedule("rate(99999999999 minutes)").has_value());
  EXPECT_FALSE(ParseSchedule("rate(+5 minutes)").has_value());
  EXPECT_FALSE(ParseSchedule("cron(4294967296 12 * * ? *)").has_value());
  EXPECT_FALSE(ParseSchedule("cron(0 12 4294967297 * ? *)").has_value());
  EXPECT_FALSE(ParseSchedule("cron(0 12 * * ? 2024abc)").has_value());
  EXPECT_FALSE(ParseSchedule("cron(0 12 * * ? 2024-99999999999)").has_value());
  auto big = ParseSchedule("rate(1491308 days)");  // the most days whose minutes fit an int
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->rate_minutes, 1491308 * 1440);
  auto years = ParseSchedule("cron(0 12 * * ? 2024-2030)");
  ASSERT_TRUE(years.has_value());
  EXPECT_EQ(years->year_min, 2024);
  EXPECT_EQ(years->year_max, 2030);
}

}  // namespace
}  // namespace nimbus::events
