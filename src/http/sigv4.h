// AWS Signature Version 4 (SigV4): signing requests as the AWS SDKs do, and
// verifying what the SDKs and the CLI send — the Authorization-header form, the
// presigned (query-string) form, and the per-chunk signatures of `aws-chunked`
// streaming uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).
//
// Users: the server verifies every API request with VerifySignature() (issue #8);
// S3 decodes signed uploads with DecodeSignedAwsChunked(); the `nimbus` CLI and the
// console sign with SignRequest() and PresignTarget().
//
// Two sets of rules, chosen by the service the request is signed for, as on AWS:
//   S3 ("s3")   the canonical URI is the path URI-encoded once and never
//               normalized ("a//b/../c" is an object key, not a path); the
//               payload hash travels as X-Amz-Content-Sha256; errors carry S3's
//               codes (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied).
//   the others  the path is normalized (empty, "." and ".." segments removed) and
//               the path as sent is URI-encoded once more ("double encoding":
//               "/functions/f%3A1" signs as "/functions/f%253A1"); errors carry
//               the codes of the JSON APIs (InvalidSignatureException,
//               UnrecognizedClientException, MissingAuthenticationToken).
//
// Pure functions over values; thread-safe. Nothing here reads the clock: callers
// pass the time in.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "http/message.h"
#include "http/sigv4_scope.h"

namespace nimbus::http {

// Payload hashes that are not the SHA-256 of the body: the last line of the
// canonical request and the value of X-Amz-Content-Sha256.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayloadTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer =
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

// The longest validity of a presigned URL: 7 days (604800 s), AWS's limit.
inline constexpr std::chrono::seconds kMaxPresignedExpiry{7 * 24 * 60 * 60};

struct AwsCredentials {
  std::string access_key_id;      // "AKIDEXAMPLE"
  std::string secret_access_key;  // never leaves the process
  std::string session_token;      // empty for long-term keys
};

// ---------------------------------------------------------------------------
// Signing

struct SigningParams {
  AwsCredentials credentials;
  std::string region;   // "us-east-1"
  std::string service;  // the signing name: "lambda", "s3", "sqs", "logs", ...
  // The signing time (its sub-second part is dropped).
  std::chrono::system_clock::time_point time;
  // The payload hash to sign. Unset: the hex SHA-256 of the body — except in a
  // presigned S3 URL, which signs UNSIGNED-PAYLOAD as the SDKs do. Set
  // kUnsignedPayload or a STREAMING-* value for such uploads (the body is then
  // not hashed).
  std::optional<std::string> payload_hash;
  // Whether SignRequest() sends the payload hash as X-Amz-Content-Sha256 (and
  // signs it). Unset: for S3 only, which requires it; the SDKs send it nowhere else.
  std::optional<bool> add_content_sha256;
};

// Signs `request` in the Authorization-header form exactly as the AWS SDKs do:
// sets X-Amz-Date, X-Amz-Security-Token (when the credentials have a session
// token), X-Amz-Content-Sha256 (see SigningParams) and Authorization, replacing
// earlier values, and signs every header the request then has except the ones
// that proxies and HTTP clients add or change (User-Agent, Expect, Connection,
// Transfer-Encoding, X-Amzn-Trace-Id, ...). `request.target` is signed as it will
// be sent (percent-encoded). REQUIRES: the Host header the request will carry.
// Errors: kInvalidArgument when there is no Host header.
Status SignRequest(Request& request, const SigningParams& params);

// The request target ("/path?query") of a presigned URL for `request`: its path and
// query followed by X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Security-Token (with a session token) and
// X-Amz-Signature, in that order. Host and the request's other headers are signed
// (whoever uses the URL must send them as they are). Prefix "http://host" to get
// the URL. Errors: kInvalidArgument when there is no Host header or `expires` is
// not within 1 s..kMaxPresignedExpiry.
Result<std::string> PresignTarget(const Request& request, const SigningParams& params,
                                  std::chrono::seconds expires);

// ---------------------------------------------------------------------------
// Verifying

// Where VerifySignature() finds the secret of an access key id (the server's key
// store). Implementations must be safe to call from the verifying threads.
class CredentialLookup {
 public:
  virtual ~CredentialLookup() = default;
  // The credentials of `access_key_id`, or nullopt when there is no such key.
  virtual std::optional<AwsCredentials> Find(std::string_view access_key_id) const = 0;
  // The signing key of `credentials` for a scope: SigV4SigningKey(), four HMACs.
  // It changes once a day per key, region and service, so a lookup may cache it.
  virtual std::string SigningKey(const AwsCredentials& credentials, std::string_view date,
                                 std::string_view region, std::string_view service) const;
};

struct VerifyOptions {
  // The difference tolerated between a signature's time and `now`, both ways; also
  // how far in the future a presigned URL may start. AWS allows 15 minutes.
  std::chrono::seconds max_skew{15 * 60};
  // When set, the one region a credential scope may name (the server's own).
  // Unset (default): any region, so clients configured for any region work.
  std::optional<std::string> region;
  // When set, the service this endpoint serves: the scope must name it, and its
  // rules (S3 or not) apply even to requests with no usable signature. Unset
  // (default): the service the scope names.
  std::optional<std::string> service;
};

// What the signature says about the body.
enum class PayloadKind {
  kSha256,    // a SHA-256 of the body that VerifySignature() checked
  kUnsigned,  // UNSIGNED-PAYLOAD: the body is not covered by the signature
  // aws-chunked bodies (S3 only): decode with DecodeSignedAwsChunked().
  kStreamingSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: each chunk signed
  kStreamingSignedTrailer,    // ...-PAYLOAD-TRAILER: chunks and trailing headers signed
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER: nothing signed
};

// A request whose signature checked out.
struct VerifiedSignature {
  std::string access_key_id;
  CredentialScope scope;  // the date, region and service signed for
  std::string amz_date;   // the signed request time: "20130524T000000Z"
  std::string signature;  // hex; the seed signature of a streaming upload
  // The scope's HMAC key, derived from the secret: what chunk signatures are
  // checked with. Secret material: keep it in memory, never log it.
  std::string signing_key;
  PayloadKind payload = PayloadKind::kSha256;
  bool presigned = false;

  // "20130524/us-east-1/s3/aws4_request".
  std::string CredentialScopeString() const;
};

// Why a request was refused.
enum class SignatureErrorKind {
  kMissingAuthentication,      // neither an Authorization header nor X-Amz-Algorithm
  kConflictingAuthentication,  // both forms at once
  kUnsupportedAlgorithm,       // not AWS4-HMAC-SHA256 (SigV2, SigV4a, Basic, ...)
  kIncompleteSignature,        // a component, the date or the credential is missing or malformed
  kInvalidScope,               // the scope's date, region, service or terminator is wrong
  kHostNotSigned,              // Host is not among the signed headers
  kHeadersNotSigned,           // x-amz-* headers sent but not signed
  kRequestTimeSkewed,          // a header signature's time is more than max_skew from now
  kExpired,                    // a presigned URL's time plus X-Amz-Expires has passed
  kNotYetValid,                // a presigned URL starts more than max_skew from now
  kUnknownAccessKey,           // CredentialLookup does not know the access key
  kInvalidSessionToken,        // the session token is missing, unexpected or wrong
  kSignatureMismatch,          // the signature (of the request, a chunk or the trailer) is wrong
  kMissingContentSha256,       // S3 without X-Amz-Content-Sha256
  kInvalidContentSha256,       // X-Amz-Content-Sha256 is not a value this service takes
  kContentSha256Mismatch,      // X-Amz-Content-Sha256 is not the SHA-256 of the body
  kMalformedBody,              // an aws-chunked body that cannot be decoded
};

// An AWS-shaped refusal: what the S3 or JSON front end answers with.
struct SignatureError {
  SignatureErrorKind kind = SignatureErrorKind::kSignatureMismatch;
  int http_status = 403;  // AWS's: 403, or 400 for malformed S3 requests
  std::string code;       // "InvalidSignatureException", "SignatureDoesNotMatch", ...
  std::string message;    // AWS's text: "Signature expired: 20260101T000000Z is now earlier ..."
  // The extra elements S3 puts in its XML error body, in order: CanonicalRequest,
  // StringToSign, SignatureProvided, AWSAccessKeyId, RequestTime, ServerTime,
  // MaxAllowedSkewMilliseconds, X-Amz-Expires, Expires, HeadersNotSigned, ...
  // Never secret (what AWS shows the caller).
  std::vector<std::pair<std::string, std::string>> details;

  // kInvalidArgument for the 400s, kPermissionDenied otherwise; the message, with
  // `code` as the detail.
  Status ToStatus() const;
};

// Either a T or the SignatureError to answer with; the API of Result<T>.
template <typename T>
class [[nodiscard]] SignatureResult {
 public:
  SignatureResult(T value) : v_(std::move(value)) {}               // NOLINT: implicit
  SignatureResult(SignatureError error) : v_(std::move(error)) {}  // NOLINT: implicit

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const& {
    NIMBUS_CHECK(has_value()) << "SignatureResult::value() on error: " << error().message;
    return std::get<0>(v_);
  }
  T&& value() && {
    NIMBUS_CHECK(has_value()) << "SignatureResult::value() on error: " << error().message;
    return std::get<0>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const SignatureError& error() const {
    NIMBUS_CHECK(!has_value()) << "SignatureResult::error() on a value";
    return std::get<1>(v_);
  }

 private:
  std::variant<T, SignatureError> v_;
};

// Verifies `request`'s SigV4 signature, in the Authorization header or in the query
// (a presigned URL), at time `now`. On success returns who signed it and what the
// signature covers; the body is checked when the signature carries its hash
// (X-Amz-Content-Sha256 with a hex value, or none: then the body's own SHA-256 is
// what must have been signed). Checks, in AWS's order: the form and its
// components; the date; S3's X-Amz-Content-Sha256; the time (header form: within
// options.max_skew of `now`; presigned: X-Amz-Expires within 1..604800 s, not
// expired and not starting later than max_skew from now); the scope (its date is
// the request's, aws4_request, options.region/service); Host is signed, and so is
// every x-amz-* header but X-Amz-Date, X-Amz-Content-Sha256 and
// X-Amz-Security-Token; the access key; the session token; the signature
// (constant-time); the body's hash. The first failure is returned as a
// SignatureError of that kind.
// REQUIRES: the whole body was read (a `body_too_large` request is refused first).
SignatureResult<VerifiedSignature> VerifySignature(const Request& request,
                                                   const CredentialLookup& credentials,
                                                   std::chrono::system_clock::time_point now,
                                                   const VerifyOptions& options = {});

// An aws-chunked body, decoded.
struct AwsChunkedBody {
  std::string body;
  // The trailing headers after the last chunk (names lowercase), e.g.
  // ("x-amz-checksum-crc32", "..."); x-amz-trailer-signature is not among them.
  std::vector<std::pair<std::string, std::string>> trailers;
};

// Decodes the aws-chunked body `raw` (`<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`
// repeated, a zero-size chunk, optional trailers, a blank line) of a request that
// VerifySignature() accepted as `verified`. For kStreamingSigned[Trailer] every
// chunk's signature is checked in sequence from the seed signature (string to sign
// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n<SHA-256 of
// ''>\n<SHA-256 of the chunk>"), and for ...-TRAILER also x-amz-trailer-signature
// over the trailers ("AWS4-HMAC-SHA256-TRAILER\n...\n<SHA-256 of 'name:value\n'...>");
// kStreamingSigned allows no trailers. Other kinds decode without signatures (what
// their signature covered, if anything, was checked already).
// Errors: kSignatureMismatch (SignatureDoesNotMatch) for a missing or wrong chunk or
// trailer signature; kMalformedBody (InvalidRequest, 400) naming what is malformed.
SignatureResult<AwsChunkedBody> DecodeSignedAwsChunked(const VerifiedSignature& verified,
                                                       std::string_view raw);

// ---------------------------------------------------------------------------
// Building blocks, for tests and for signing aws-chunked uploads.

// URI-encodes as SigV4 defines it: every byte but A-Z a-z 0-9 - _ . ~ becomes %XX
// (uppercase hex); '/' too when `encode_slash`.
std::string SigV4UriEncode(std::string_view s, bool encode_slash = true);

// The canonical URI of the path `path` as sent on the wire (still percent-encoded)
// under `service`'s rules (see the top of this file).
std::string SigV4CanonicalUri(std::string_view path, std::string_view service);

// The canonical query string of `query` (as sent, without '?'): each name and
// value decoded then URI-encoded, sorted by name then value, X-Amz-Signature left out.
std::string SigV4CanonicalQuery(std::string_view query);

// The canonical request of `request` for `service` with the semicolon-separated
// lowercase `signed_headers` ("host;x-amz-date") and `payload_hash`.
std::string SigV4CanonicalRequest(const Request& request, std::string_view service,
                                  std::string_view signed_headers, std::string_view payload_hash);

// The raw 32-byte signing key: HMAC("AWS4" + secret, date) → region → service →
// "aws4_request".
std::string SigV4SigningKey(std::string_view secret_access_key, std::string_view date,
                            std::string_view region, std::string_view service);

// Raw HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// The hex signature of one aws-chunked chunk (`data` empty for the final one) that
// follows the signature `previous` (the seed signature for the first chunk).
std::string SigV4ChunkSignature(std::string_view signing_key, std::string_view amz_date,
                                std::string_view credential_scope, std::string_view previous,
                                std::string_view data);

// The hex x-amz-trailer-signature after the final chunk's signature `previous`;
// `canonical_trailers` is "name:value\n" per trailer, names lowercase.
std::string SigV4TrailerSignature(std::string_view signing_key, std::string_view amz_date,
                                  std::string_view credential_scope, std::string_view previous,
                                  std::string_view canonical_trailers);

}  // namespace nimbus::http
