// S3 request bodies in the aws-chunked content encoding (s3/payload.h), as the
// AWS SDKs stream PutObject and UploadPart, with their checksum trailers.
// Checked: the decoded body is never longer than the encoded one.
//
// Input: the encoded body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "s3/payload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s3 = nimbus::s3;
  auto payload = s3::DecodeAwsChunked(nimbus::fuzz::AsText(data, size));
  if (!payload.has_value()) return 0;
  NIMBUS_FUZZ_CHECK(payload->body.size() <= size,
                    "the decoded body is no longer than the encoded one");
  for (const auto& [name, value] : payload->trailers) {
    NIMBUS_FUZZ_CHECK(name.size() + value.size() <= size, "a trailer is part of the body");
    if (auto algorithm = s3::ChecksumAlgorithmOfHeader(name)) {
      auto checksum = s3::FlexibleChecksum(*algorithm, payload->body);
      NIMBUS_FUZZ_CHECK(checksum.has_value(), "the algorithm of a checksum header is known");
    }
  }
  return 0;
}
