#include "dynamodb/value.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <boost/json.hpp>

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

std::string Canonical(std::string_view text) {
  auto n = Number::Parse(text);
  EXPECT_TRUE(n.has_value()) << text << ": " << n.error().message();
  return n.has_value() ? n->ToString() : "";
}

std::string ParseError(std::string_view text) {
  auto n = Number::Parse(text);
  return n.has_value() ? "parsed as " + n->ToString() : n.error().message();
}

TEST(NumberTest, IsWrittenInPlainNotationWithoutSuperfluousZeros) {
  EXPECT_EQ(Canonical("0"), "0");
  EXPECT_EQ(Canonical("-0.000"), "0");
  EXPECT_EQ(Canonical("007"), "7");
  EXPECT_EQ(Canonical("1.50"), "1.5");
  EXPECT_EQ(Canonical("+12.0"), "12");
  EXPECT_EQ(Canonical(".5"), "0.5");
  EXPECT_EQ(Canonical("5."), "5");
  EXPECT_EQ(Canonical("1e3"), "1000");
  EXPECT_EQ(Canonical("1.5E-3"), "0.0015");
  EXPECT_EQ(Canonical("-123.456e2"), "-12345.6");
  EXPECT_EQ(Canonical("0.00012300"), "0.000123");
  EXPECT_EQ(Canonical("12345678901234567890123456789012345678"), "12345678901234567890123456789012345678");
  EXPECT_EQ(Canonical("1E125"), "1" + std::string(125, '0'));
  EXPECT_EQ(Canonical("1E-130"), "0." + std::string(129, '0') + "1");
}

TEST(NumberTest, RefusesWhatDynamoDbRefuses) {
  for (const char* bad : {"", "-", "abc", "1e", "1.2.3", "1e+", "0x10", " 1", "1 ", "NaN", "Infinity"}) {
    EXPECT_EQ(ParseError(bad), "A value provided cannot be converted into a number") << bad;
  }
  EXPECT_EQ(ParseError("123456789012345678901234567890123456789"),
            "Attempting to store more than 38 significant digits in a Number");
  // Trailing zeros are not significant.
  EXPECT_EQ(Canonical("1" + std::string(60, '0')), "1" + std::string(60, '0'));
  EXPECT_EQ(ParseError("1E126"), "Number overflow. Attempting to store a number with magnitude larger than supported range");
  EXPECT_EQ(ParseError("-1E126"), "Number overflow. Attempting to store a number with magnitude larger than supported range");
  EXPECT_EQ(ParseError("1E-131"), "Number underflow. Attempting to store a number with magnitude smaller than supported range");
  EXPECT_EQ(Canonical("9.9999999999999999999999999999999999999E125").size(), 126u);
}

TEST(NumberTest, AddsExactlyWithThirtyEightDigits) {
  auto sum = [](std::string_view a, std::string_view b) {
    auto r = Number::Add(*Number::Parse(a), *Number::Parse(b));
    return r.has_value() ? r->ToString() : r.error().message();
  };
  EXPECT_EQ(sum("0.1", "0.2"), "0.3");
  EXPECT_EQ(sum("1", "-1"), "0");
  EXPECT_EQ(sum("-5", "3"), "-2");
  EXPECT_EQ(sum("3", "-5"), "-2");
  EXPECT_EQ(sum("999", "1"), "1000");
  EXPECT_EQ(sum("1E20", "1E-10"), "100000000000000000000.0000000001");
  EXPECT_EQ(sum("99999999999999999999999999999999999999", "1"), "100000000000000000000000000000000000000");
  EXPECT_EQ(sum("1E37", "0.1"), "Attempting to store more than 38 significant digits in a Number");
  EXPECT_EQ(sum("-2.5", "-2.5"), "-5");
}

TEST(NumberTest, OrdersNumericallyAndSortKeysOrderTheSame) {
  std::vector<std::string> texts = {"-1E125", "-100", "-10", "-9.99", "-1.01", "-1", "-0.5", "-0.123", "-0.12",
                                    "-1E-130", "0", "1E-130", "0.12", "0.123", "0.5", "1", "1.01", "9.99", "10",
                                    "100", "1E125"};
  for (size_t i = 0; i < texts.size(); ++i) {
    for (size_t j = 0; j < texts.size(); ++j) {
      Number a = *Number::Parse(texts[i]), b = *Number::Parse(texts[j]);
      EXPECT_EQ(a <=> b, i <=> j) << texts[i] << " vs " << texts[j];
      int bytes = a.SortKey().compare(b.SortKey());
      EXPECT_EQ(bytes < 0, i < j) << texts[i] << " vs " << texts[j];
      EXPECT_EQ(bytes == 0, i == j) << texts[i] << " vs " << texts[j];
    }
  }
  EXPECT_EQ(*Number::Parse("1.0") <=> *Number::Parse("1"), std::strong_ordering::equal);
}

TEST(NumberTest, RandomNumbersSortTheSameByValueAndByKeyBytes) {
  std::mt19937_64 rng(42);
  std::vector<Number> numbers;
  for (int i = 0; i < 2000; ++i) {
    std::string text = (rng() % 2 ? "-" : "") + std::to_string(rng() % 100000) + "." + std::to_string(rng() % 1000) +
                       "e" + std::to_string(static_cast<int>(rng() % 40) - 20);
    numbers.push_back(*Number::Parse(text));
  }
  auto by_value = numbers, by_key = numbers;
  std::sort(by_value.begin(), by_value.end());
  std::sort(by_key.begin(), by_key.end(), [](const Number& a, const Number& b) { return a.SortKey() < b.SortKey(); });
  for (size_t i = 0; i < numbers.size(); ++i) EXPECT_EQ(by_value[i].ToString(), by_key[i].ToString());
}

Result<Value> Parse(std::string_view text) { return ValueFromJson(json::parse(text)); }
std::string Error(std::string_view text) {
  auto v = Parse(text);
  return v.has_value() ? "parsed" : v.error().message();
}

TEST(ValueTest, EveryTypeRoundTripsThroughDynamoDbJson) {
  const std::string item =
      R"({"b":{"B":"AAEC/w=="},"bool":{"BOOL":false},"bs":{"BS":["AQ==","Ag=="]},"l":{"L":[{"S":"x"},{"N":"1"}]},)"
      R"("m":{"M":{"a":{"NULL":true},"z":{"SS":["a","b"]}}},"n":{"N":"-1.5"},"ns":{"NS":["1","2.5"]},"s":{"S":"text"}})";
  auto parsed = ItemFromJson(json::parse(item));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(json::serialize(ItemToJson(*parsed)), item);
  EXPECT_EQ(parsed->at("b").scalar, std::string("\x00\x01\x02\xff", 4));
}

TEST(ValueTest, SetsAreSortedAndNumbersCanonical) {
  auto v = Parse(R"({"NS":["10","9","1.50"]})");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->set, (std::vector<std::string>{"1.5", "9", "10"}));
  EXPECT_EQ(*Parse(R"({"N":"1.0"})"), *Parse(R"({"N":"1"})"));
}

TEST(ValueTest, MalformedValuesGetDynamoDbsMessages) {
  EXPECT_EQ(Error("{}"), "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
  EXPECT_EQ(Error(R"({"S":"a","N":"1"})"),
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes");
  EXPECT_EQ(Error(R"({"SS":[]})"), "One or more parameter values were invalid: An string set  may not be empty");
  EXPECT_EQ(Error(R"({"NS":[]})"), "One or more parameter values were invalid: An number set  may not be empty");
  EXPECT_EQ(Error(R"({"SS":["a","b","a"]})"),
            "One or more parameter values were invalid: Input collection [a, b, a] contains duplicates.");
  EXPECT_EQ(Error(R"({"NS":["1","1.0"]})"),
            "One or more parameter values were invalid: Input collection [1, 1.0] contains duplicates.");
  EXPECT_EQ(Error(R"({"NULL":false})"),
            "One or more parameter values were invalid: Null attribute value types must have the value of true");
  EXPECT_EQ(Error(R"({"N":"x"})"), "A value provided cannot be converted into a number");
  EXPECT_EQ(Error(R"({"M":{"a":{}}})"), "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
}

TEST(ValueTest, SizesFollowDynamoDbsRules) {
  auto item = ItemFromJson(json::parse(
      R"({"name":{"S":"abc"},"n":{"N":"12345"},"flag":{"BOOL":true},"m":{"M":{"k":{"S":"v"}}},"l":{"L":[{"N":"1"}]}})"));
  ASSERT_TRUE(item.has_value());
  // name 4+3; n 1+(5+1)/2+1=4; flag 4+1; m 1+3+(1+1+1); l 1+3+(2+1)
  EXPECT_EQ(ItemSize(*item), 7u + 5u + 5u + 7u + 7u);
}

TEST(ValueTest, MapMembersStaySortedAndUnique) {
  Value m;
  m.type = Type::kM;
  m.SetMember("b", Value::S("1"));
  m.SetMember("a", Value::S("2"));
  m.SetMember("b", Value::S("3"));
  ASSERT_EQ(m.map.size(), 2u);
  EXPECT_EQ(m.map[0].first, "a");
  EXPECT_EQ(m.Member("b")->scalar, "3");
  EXPECT_TRUE(m.RemoveMember("a"));
  EXPECT_FALSE(m.RemoveMember("a"));
  EXPECT_EQ(m.Member("a"), nullptr);
}

TEST(KeyBytesTest, StringsAndBinariesSortByUnsignedBytes) {
  EXPECT_LT(KeyBytes(Value::S("a")), KeyBytes(Value::S("b")));
  EXPECT_LT(KeyBytes(Value::S("Z")), KeyBytes(Value::S("a")));
  EXPECT_LT(KeyBytes(Value::S("a")), KeyBytes(Value::S("é")));  // UTF-8 bytes, not code points of UTF-16
  EXPECT_LT(KeyBytes(Value::B(std::string("\x01", 1))), KeyBytes(Value::B(std::string("\xff", 1))));
  EXPECT_EQ(CompareScalars(Value::S("a"), Value::N(Number::FromInt(1))), std::nullopt);
  EXPECT_EQ(CompareScalars(Value::N(Number::FromInt(10)), Value::N(Number::FromInt(9))), 1);
}

}  // namespace
}  // namespace nimbus::dynamodb
