#include "s3/payload.h"

#include <gtest/gtest.h>

namespace nimbus::s3 {
namespace {

TEST(AwsChunkedTest, DecodesUnsignedChunksAndTrailers) {
  auto p = DecodeAwsChunked(
      "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->body, "hello world");
  ASSERT_EQ(p->trailers.size(), 1u);
  EXPECT_EQ(p->trailers[0].first, "x-amz-checksum-crc32");
  EXPECT_EQ(p->trailers[0].second, "DUoRhQ==");
}

TEST(AwsChunkedTest, DecodesSignedChunksAndDropsTheTrailerSignature) {
  auto p = DecodeAwsChunked(
      "3;chunk-signature=abc\r\nabc\r\n0;chunk-signature=def\r\n"
      "X-Amz-Checksum-Sha256:x\r\nx-amz-trailer-signature:zzz\r\n\r\n");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->body, "abc");
  ASSERT_EQ(p->trailers.size(), 1u);
  EXPECT_EQ(p->trailers[0].first, "x-amz-checksum-sha256");
}

TEST(AwsChunkedTest, RejectsShortChunksAndBadSizes) {
  EXPECT_FALSE(DecodeAwsChunked("5\r\nhel\r\n0\r\n\r\n").has_value());
  EXPECT_FALSE(DecodeAwsChunked("zz\r\nhello\r\n0\r\n\r\n").has_value());
  EXPECT_FALSE(DecodeAwsChunked("5\r\nhello").has_value());
  EXPECT_FALSE(DecodeAwsChunked("").has_value());
}

// A size just below 2^64 made the length check wrap: the "chunk" took the rest
// of the body and the next header was read again from the same place, so each
// such line appended the whole remainder once more (quadratic memory).
TEST(AwsChunkedTest, RejectsAChunkSizeThatWouldWrapTheLengthCheck) {
  std::string raw;
  for (int i = 0; i < 3; ++i) raw += "FFFFFFFFFFFFFFFE\r\n";
  raw += "0\r\n\r\n";
  EXPECT_FALSE(DecodeAwsChunked(raw).has_value());
  EXPECT_FALSE(DecodeAwsChunked("FFFFFFFFFFFFFFFF\r\nab\r\n0\r\n\r\n").has_value());
  EXPECT_FALSE(DecodeAwsChunked("1\r\na").has_value());
}

TEST(FlexibleChecksumTest, MatchesS3sValuesForKnownInputs) {
  // Values S3 documents/returns for "hello world".
  EXPECT_EQ(FlexibleChecksum("CRC32", "hello world"), "DUoRhQ==");
  EXPECT_EQ(FlexibleChecksum("crc32c", "hello world"), "yZRlqg==");
  EXPECT_EQ(FlexibleChecksum("SHA1", "hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
  EXPECT_EQ(FlexibleChecksum("SHA256", "hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=");
  // CRC-64/NVME check value (the CRC catalogue): 0xAE8B14860A799888 for "123456789".
  EXPECT_EQ(FlexibleChecksum("CRC64NVME", "123456789"), "rosUhgp5mIg=");
  EXPECT_EQ(FlexibleChecksum("MD4", "x"), std::nullopt);
}

TEST(FlexibleChecksumTest, NamesTheAlgorithmOfAChecksumHeader) {
  EXPECT_EQ(ChecksumAlgorithmOfHeader("X-Amz-Checksum-Crc32c"), "CRC32C");
  EXPECT_EQ(ChecksumAlgorithmOfHeader("x-amz-checksum-mode"), std::nullopt);
  EXPECT_EQ(ChecksumAlgorithmOfHeader("content-md5"), std::nullopt);
}

}  // namespace
}  // namespace nimbus::s3
