// Request bodies as current AWS SDKs send them to S3: `aws-chunked` content
// encoding (signed or unsigned chunks, checksum trailers) and the flexible
// checksums (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace nimbus::s3 {

struct ChunkedPayload {
  std::string body;
  // Trailing headers after the last chunk (names lowercase), e.g. x-amz-checksum-crc32;
  // x-amz-trailer-signature is dropped.
  std::vector<std::pair<std::string, std::string>> trailers;
};

// Decodes an aws-chunked body: `<hex size>[;chunk-signature=...]\r\n<data>\r\n`
// repeated, a zero-size chunk, then optional trailers and a blank line.
// kInvalidArgument naming what is malformed. Chunk signatures are not verified.
Result<ChunkedPayload> DecodeAwsChunked(std::string_view raw);

// The flexible checksum `algorithm` ("CRC32", "CRC32C", "CRC64NVME", "SHA1",
// "SHA256"; any case) of `data`, base64 as S3 sends it; nullopt for another name.
std::optional<std::string> FlexibleChecksum(std::string_view algorithm, std::string_view data);

// The algorithm named by a header such as "x-amz-checksum-crc32" ("CRC32"), or
// nullopt when `header` is not a checksum header.
std::optional<std::string> ChecksumAlgorithmOfHeader(std::string_view header);

}  // namespace nimbus::s3
