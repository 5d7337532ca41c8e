// The credential scope of an AWS Signature Version 4 request: which access key
// signed it, for which date, region and service. The AWS SDKs and CLI sign every
// request, so the scope's service ("lambda", "logs", "s3", "sqs", ...) is how one
// port tells the APIs apart (issue #5). Only parsing: verifying the signature is
// another step (issue #8).
//
// Both forms are read: the Authorization header
//   AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=..., Signature=...
// (and SigV4a's AWS4-ECDSA-P256-SHA256, whose scope has no region), and a
// presigned URL's X-Amz-Credential query parameter (percent-encoded).
#pragma once

#include <optional>
#include <string>

#include "http/message.h"

namespace nimbus::http {

struct CredentialScope {
  std::string access_key_id;
  std::string date;     // "20240101"
  std::string region;   // "us-east-1"; empty for SigV4a
  std::string service;  // "lambda", "logs", "s3", ...
};

// The scope of `request`'s signature, or nullopt when it is not signed with
// SigV4/SigV4a or the scope is malformed.
std::optional<CredentialScope> ParseCredentialScope(const Request& request);

}  // namespace nimbus::http
