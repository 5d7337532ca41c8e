#include "metrics/cbor.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

json::value Decode(const std::string& data) {
  auto v = CborToJson(data);
  EXPECT_TRUE(v.has_value()) << v.error().ToString();
  return v.has_value() ? *v : json::value();
}

TEST(CborTest, DecodesTheItemsOfAnRpcV2Request) {
  // {"Period": 60, "StartTime": 1(1700000000.5), "Stats": ["Sum"], "Neg": -2, "On": true, "None": null}
  std::string data = Bytes({0xa6,                                                // map(6)
                            0x66, 'P', 'e', 'r', 'i', 'o', 'd', 0x18, 0x3c,  // "Period": 60
                            0x69, 'S', 't', 'a', 'r', 't', 'T', 'i', 'm', 'e',  // "StartTime":
                            0xc1, 0xfb, 0x41, 0xd9, 0x54, 0xfc, 0x40, 0x20, 0x00, 0x00,  // 1(1700000000.5)
                            0x65, 'S', 't', 'a', 't', 's', 0x81, 0x63, 'S', 'u', 'm',  // "Stats": ["Sum"]
                            0x63, 'N', 'e', 'g', 0x21,                                 // "Neg": -2
                            0x62, 'O', 'n', 0xf5,                                      // "On": true
                            0x64, 'N', 'o', 'n', 'e', 0xf6});                          // "None": null
  json::value v = Decode(data);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.at("Period").as_int64(), 60);
  EXPECT_DOUBLE_EQ(v.at("StartTime").as_double(), 1700000000.5);
  EXPECT_EQ(v.at("Stats"), json::parse(R"(["Sum"])"));
  EXPECT_EQ(v.at("Neg").as_int64(), -2);
  EXPECT_TRUE(v.at("On").as_bool());
  EXPECT_TRUE(v.at("None").is_null());
}

TEST(CborTest, DecodesIndefiniteLengthsHalfFloatsAndByteStrings) {
  // {_ "a": [_ 1, 2], "s": (_ "ab", "c"), "h": 1.5 (half), "b": h'0102'}
  std::string data = Bytes({0xbf, 0x61, 'a', 0x9f, 0x01, 0x02, 0xff,       //
                            0x61, 's', 0x7f, 0x62, 'a', 'b', 0x61, 'c', 0xff,  //
                            0x61, 'h', 0xf9, 0x3e, 0x00,                      //
                            0x61, 'b', 0x42, 0x01, 0x02, 0xff});
  json::value v = Decode(data);
  EXPECT_EQ(v.at("a"), json::parse("[1,2]"));
  EXPECT_EQ(v.at("s").as_string(), "abc");
  EXPECT_DOUBLE_EQ(v.at("h").as_double(), 1.5);
  EXPECT_EQ(v.at("b").as_string(), "AQI=");
}

TEST(CborTest, RejectsMalformedTruncatedAndHostileInput) {
  EXPECT_FALSE(CborToJson(Bytes({0xa1, 0x61, 'a'})).has_value());        // a key without its value
  EXPECT_FALSE(CborToJson(Bytes({0x62, 'a'})).has_value());              // a string shorter than declared
  EXPECT_FALSE(CborToJson(Bytes({0x01, 0x02})).has_value());             // two items
  EXPECT_FALSE(CborToJson(Bytes({0xa1, 0x01, 0x02})).has_value());       // a key that is not text
  EXPECT_FALSE(CborToJson(Bytes({0xff})).has_value());                   // a stray break
  EXPECT_FALSE(CborToJson(Bytes({0x7f, 0x01, 0xff})).has_value());       // an integer inside a string
  EXPECT_FALSE(CborToJson(Bytes({0x1c})).has_value());                   // reserved additional information
  EXPECT_FALSE(CborToJson("").has_value());
  // An array claiming 2^60 items in nine bytes: refused, not allocated.
  EXPECT_FALSE(CborToJson(Bytes({0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0})).has_value());
  // Ten thousand nested arrays.
  EXPECT_FALSE(CborToJson(std::string(10000, static_cast<char>(0x81)) + Bytes({0x01})).has_value());
  // But 64 levels are fine.
  EXPECT_TRUE(CborToJson(std::string(64, static_cast<char>(0x81)) + Bytes({0x01})).has_value());
}

TEST(CborTest, EncodesTimestampsAsTagOneOverADouble) {
  json::object o{{"Timestamps", json::array{1700000000, 1700000060}}, {"Values", json::array{1.5}}, {"Id", "a"}};
  std::string cbor = JsonToCbor(o, {"Timestamps"});
  std::string expected = Bytes({0xa3,                                                        // map(3)
                                0x6a, 'T', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p', 's', 0x82,  // "Timestamps": [
                                0xc1, 0xfb, 0x41, 0xd9, 0x54, 0xfc, 0x40, 0x00, 0x00, 0x00,    // 1(1700000000.0)
                                0xc1, 0xfb, 0x41, 0xd9, 0x54, 0xfc, 0x4f, 0x00, 0x00, 0x00,    // 1(1700000060.0)
                                0x66, 'V', 'a', 'l', 'u', 'e', 's', 0x81,                      // "Values": [
                                0xfb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,          // 1.5
                                0x62, 'I', 'd', 0x61, 'a'});
  EXPECT_EQ(cbor, expected);
}

TEST(CborTest, RoundTripsJson) {
  json::value v = json::parse(R"({"a":[1,-1,-9000000000,18446744073709551615,2.25,"x",true,false,null,{}],"b":{"c":[]}})");
  auto back = CborToJson(JsonToCbor(v));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, v);
}

}  // namespace
}  // namespace nimbus::metrics
