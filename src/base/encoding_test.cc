#include "base/encoding.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace nimbus {
namespace {

TEST(Base64, RoundTripsEveryPaddingLength) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.has_value()) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
}

TEST(Base64, RejectsMalformedInput) {
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v!mFy").has_value());
  EXPECT_FALSE(Base64Decode("Z=9v").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zm9v").has_value());
}

TEST(Sha256, MatchesTheKnownDigestOfAbc) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Lambda's CodeSha256 form: base64 of the raw digest.
  EXPECT_EQ(Base64Encode(Sha256("abc")), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

TEST(Uuid, IsVersionFourLowercase) {
  std::string u = NewUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_EQ(u[8], '-');
  for (char c : u) EXPECT_TRUE(c == '-' || isdigit(c) || (c >= 'a' && c <= 'f'));
  EXPECT_NE(NewUuid(), u);
  EXPECT_EQ(RandomHex32().size(), 32u);
}

}  // namespace
}  // namespace nimbus

namespace nimbus {
namespace {

TEST(Uuid, IsUniqueAcrossManyCallsAndThreads) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(seen.insert(NewUuid()).second);
  std::string other;
  std::thread t([&] { other = NewUuid(); });
  t.join();
  EXPECT_FALSE(seen.contains(other));
}

TEST(TextTest, AsciiLowerAndXmlEscape) {
  EXPECT_EQ(AsciiLower("X-Amz-Meta-Colour \xc3\x89"), "x-amz-meta-colour \xc3\x89");
  EXPECT_EQ(XmlEscape("a&b<c>\"d'\r"), "a&amp;b&lt;c&gt;&quot;d&apos;&#13;");
}

TEST(TextTest, IsValidUtf8AcceptsWellFormedTextOnly) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\x89t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(IsValidUtf8("t\xf7humbs"));          // not a lead byte
  EXPECT_FALSE(IsValidUtf8("\xc3"));                // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));            // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));        // overlong, three bytes
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));        // a surrogate (U+D800)
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));    // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82x"));           // a bad continuation byte
}

TEST(TextTest, ToValidUtf8ReplacesEachStrayByteAndKeepsWellFormedText) {
  EXPECT_EQ(ToValidUtf8("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(ToValidUtf8("$\xad\xbe!"), "$\xef\xbf\xbd\xef\xbf\xbd!");
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
  EXPECT_EQ(ToValidUtf8("x\xe2\x82"), "x\xef\xbf\xbd\xef\xbf\xbd");  // truncated
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xff\xfe\xed\xa0\x80\xf4\x90\x80\x80")));
}

TEST(StableHash64Test, NeverChanges) {
  // Pinned: stream lanes and Scan segments are assigned by these values.
  EXPECT_EQ(StableHash64(""), 1469598103934665603ull);
  EXPECT_EQ(StableHash64("a"), 4953267810257967366ull);
  EXPECT_NE(StableHash64("ab"), StableHash64("ba"));
}

}  // namespace
}  // namespace nimbus
