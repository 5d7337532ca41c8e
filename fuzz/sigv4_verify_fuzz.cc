// SigV4 verification (http/sigv4.h) on requests built from the input:
// http::VerifySignature, as the server runs it on every API request, with a
// fixed key store at a fixed time (2026-01-01T00:00:00Z); on a request it
// accepts with a streaming payload, DecodeSignedAwsChunked of the body; and
// DecodeSignedAwsChunked of the body under a VerifiedSignature made from the
// input directly (an arbitrary request almost never verifies, so the chunk
// decoder would otherwise see little).
//
// Checked: a verified request names a key of the store and the scope of the
// service and region asked for; a request SignRequest signed (or PresignTarget
// presigned) verifies, unless it carried signing parameters of its own; a
// decoded aws-chunked body is no longer than the encoded one.
//
// Input: one mode byte, then up to three parts separated by "\n%%\n":
//   the request line "<METHOD> <target>", the headers ("Name: value" lines),
//   the body.
// Mode bits:
//   0-1  the service: 0 lambda, 1 s3, 2 sqs, 3 lambda with VerifyOptions.service
//        unset (any service the scope names)
//   2    VerifyOptions.region = "us-east-1" (else any region)
//   3    sign the request first (SignRequest, or PresignTarget with bit 4) with
//        key AKIANIMBUSEXAMPLE01 at the verification time, with the payload
//        hash its X-Amz-Content-Sha256 announces if it has one, then verify it
//   4    presign (60 s) rather than sign the header form
//   5    sign with the key that has a session token (AKIANIMBUSSESSION01)
//   6-7  the payload kind of the direct DecodeSignedAwsChunked: 0 streaming
//        signed, 1 streaming signed with trailer, 2 streaming unsigned with
//        trailer, 3 unsigned
// The direct decode uses scope 20260101/us-east-1/<service>, the signing key of
// AKIANIMBUSEXAMPLE01's secret, and the seed signature "0" x 64 (seeds carry
// chunk signatures computed from it).
// Headers and the request line are kept to what the server's HTTP parser
// passes on (token names and methods; no control characters; values without
// surrounding whitespace); an input that breaks that is skipped.
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.h"
#include "http/message.h"
#include "http/sigv4.h"

namespace {

namespace http = nimbus::http;

constexpr std::string_view kKey = "AKIANIMBUSEXAMPLE01";
constexpr std::string_view kSessionKey = "AKIANIMBUSSESSION01";
constexpr std::string_view kSecret = "nimbus/secret/example/0123456789abcdefghij";
constexpr std::string_view kSessionToken = "session-token+/=";
const std::chrono::system_clock::time_point kNow =
    std::chrono::sys_days(std::chrono::year{2026} / 1 / 1);

class KeyStore final : public http::CredentialLookup {
 public:
  std::optional<http::AwsCredentials> Find(std::string_view access_key_id) const override {
    if (access_key_id == kKey)
      return http::AwsCredentials{std::string(kKey), std::string(kSecret), ""};
    if (access_key_id == kSessionKey) {
      return http::AwsCredentials{std::string(kSessionKey), std::string(kSecret),
                                  std::string(kSessionToken)};
    }
    return std::nullopt;
  }
};

bool IsToken(std::string_view s) {
  constexpr std::string_view kPunctuation = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && kPunctuation.find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Visible characters, spaces and tabs inside, none at either end; obs-text
// (0x80 and up) allowed, as Beast does.
bool IsFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return s.empty() ||
         (s.front() != ' ' && s.front() != '\t' && s.back() != ' ' && s.back() != '\t');
}

bool HasSigningParameters(const http::Request& r) {
  for (const auto& [name, value] : r.headers.entries()) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "authorization" || lower.starts_with("x-amz-")) return true;
  }
  std::string query;
  for (char c : r.query()) query += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return query.find("x-amz-") != std::string::npos;
}

void CheckDecoded(const http::SignatureResult<http::AwsChunkedBody>& decoded,
                  std::string_view raw) {
#ifdef NIMBUS_FUZZ_DEBUG_PRINT
  std::fprintf(stderr, "DECODE %s\n",
               decoded.has_value() ? decoded->body.c_str() : decoded.error().message.c_str());
#endif
  if (decoded.has_value()) {
    NIMBUS_FUZZ_CHECK(decoded->body.size() <= raw.size(),
                      "the decoded body is no longer than the encoded one");
  } else {
    NIMBUS_FUZZ_CHECK(!decoded.error().code.empty(), "a refusal names its error code");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  static constexpr std::string_view kServices[] = {"lambda", "s3", "sqs", "lambda"};
  const std::string service(kServices[mode & 3]);
  auto parts = nimbus::fuzz::SplitParts(data + 1, size - 1, 3);

  http::Request request;
  const size_t space = parts[0].find(' ');
  if (space == std::string_view::npos) return 0;
  request.method = std::string(parts[0].substr(0, space));
  request.target = std::string(parts[0].substr(space + 1));
  if (!IsToken(request.method) || request.target.empty()) return 0;
  for (unsigned char c : request.target) {
    if (c <= 0x20 || c == 0x7f) return 0;
  }
  std::string_view headers = parts[1];
  while (!headers.empty()) {
    const size_t eol = headers.find('\n');
    std::string_view line = headers.substr(0, eol);
    headers.remove_prefix(eol == std::string_view::npos ? headers.size() : eol + 1);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return 0;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (!IsToken(name) || !IsFieldValue(value)) return 0;
    request.headers.Add(std::string(name), std::string(value));
  }
  request.body = std::string(parts[2]);

  http::VerifyOptions options;
  if ((mode & 3) != 3) options.service = service;
  if ((mode & 4) != 0) options.region = "us-east-1";

  const KeyStore keys;
  bool must_verify = false;
  if ((mode & 8) != 0) {
    must_verify = !HasSigningParameters(request);
    http::SigningParams params;
    const bool session = (mode & 32) != 0;
    params.credentials = {std::string(session ? kSessionKey : kKey), std::string(kSecret),
                          session ? std::string(kSessionToken) : ""};
    params.region = "us-east-1";
    params.service = service;
    params.time = kNow;
    // As an SDK streaming an upload does: the payload hash it announces.
    if (auto announced = request.headers.Get("X-Amz-Content-Sha256")) {
      params.payload_hash = std::string(*announced);
    }
    if ((mode & 16) != 0) {
      auto target = http::PresignTarget(request, params, std::chrono::seconds(60));
      if (target.has_value()) {
        request.target = *target;
      } else {
        must_verify = false;
      }
    } else if (!http::SignRequest(request, params).ok()) {
      must_verify = false;
    }
  }

  auto verified = http::VerifySignature(request, keys, kNow, options);
#ifdef NIMBUS_FUZZ_DEBUG_PRINT
  std::fprintf(stderr, "VERIFY %s\n",
               verified.has_value() ? "ok" : verified.error().message.c_str());
#endif
  if (must_verify) {
    NIMBUS_FUZZ_CHECK(verified.has_value(),
                      ("a request SignRequest/PresignTarget signed verifies: " +
                       (verified.has_value() ? std::string() : verified.error().message))
                          .c_str());
  }
  if (verified.has_value()) {
    NIMBUS_FUZZ_CHECK(verified->access_key_id == kKey || verified->access_key_id == kSessionKey,
                      "the signer is a key of the store");
    if (options.service) {
      NIMBUS_FUZZ_CHECK(verified->scope.service == *options.service, "the scope's service");
    }
    if (options.region) {
      NIMBUS_FUZZ_CHECK(verified->scope.region == *options.region, "the scope's region");
    }
    if (verified->payload != http::PayloadKind::kSha256 &&
        verified->payload != http::PayloadKind::kUnsigned) {
      CheckDecoded(http::DecodeSignedAwsChunked(*verified, request.body), request.body);
    }
  }

  static constexpr http::PayloadKind kKinds[] = {
      http::PayloadKind::kStreamingSigned, http::PayloadKind::kStreamingSignedTrailer,
      http::PayloadKind::kStreamingUnsignedTrailer, http::PayloadKind::kUnsigned};
  http::VerifiedSignature direct;
  direct.access_key_id = std::string(kKey);
  direct.scope = {std::string(kKey), "20260101", "us-east-1", service};
  direct.amz_date = "20260101T000000Z";
  direct.signature = std::string(64, '0');
  direct.signing_key = http::SigV4SigningKey(kSecret, "20260101", "us-east-1", service);
  direct.payload = kKinds[mode >> 6];
  CheckDecoded(http::DecodeSignedAwsChunked(direct, request.body), request.body);
  return 0;
}
