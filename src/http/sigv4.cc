#include "http/sigv4.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "base/encoding.h"

namespace nimbus::http {
namespace {

using SysClock = std::chrono::system_clock;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
// SHA-256 of the empty string: the fifth line of every chunk's string to sign.
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Headers SignRequest() leaves out: hop-by-hop headers and others that proxies and
// HTTP clients add or rewrite after signing (the list the AWS SDK for JavaScript v3
// keeps), and the Authorization header that carries the signature.
constexpr std::array<std::string_view, 15> kUnsignableHeaders = {
    "authorization", "cache-control",     "connection", "expect",     "from",
    "keep-alive",    "max-forwards",      "pragma",     "referer",    "te",
    "trailer",       "transfer-encoding", "upgrade",    "user-agent", "x-amzn-trace-id"};

// S3 and its variants sign object keys, not normalized paths, and answer in S3's words.
bool IsS3(std::string_view service) {
  return service == "s3" || service == "s3-object-lambda" || service == "s3-outposts";
}

// ---------------------------------------------------------------------------
// Time

std::string FormatAmzDate(SysClock::time_point t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(secs - day);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

// "2013-05-24T00:00:00Z": how S3 writes times in its error bodies.
std::string FormatIso8601(SysClock::time_point t) {
  const std::string b = FormatAmzDate(t);
  return fmt::format("{}-{}-{}T{}:{}:{}Z", b.substr(0, 4), b.substr(4, 2), b.substr(6, 2),
                     b.substr(9, 2), b.substr(11, 2), b.substr(13, 2));
}

std::optional<int> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<SysClock::time_point> FromCivil(int y, int mo, int d, int h, int mi, int s) {
  const std::chrono::year_month_day ymd{std::chrono::year{y},
                                        std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  // SysClock counts nanoseconds in 64 bits: only about 1678..2262 fits, and a
  // year outside it ("00260101T000000Z") overflowed (undefined behaviour).
  // Years 1970..9999 parse; those past 2200 are refused as malformed too.
  if (y < 1970 || y > 2200) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(s);
}

// ISO 8601 basic format, as X-Amz-Date carries it: "20150830T123600Z".
std::optional<SysClock::time_point> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto y = ParseDigits(s.substr(0, 4)), mo = ParseDigits(s.substr(4, 2)),
       d = ParseDigits(s.substr(6, 2)), h = ParseDigits(s.substr(9, 2)),
       mi = ParseDigits(s.substr(11, 2)), sec = ParseDigits(s.substr(13, 2));
  if (!y || !mo || !d || !h || !mi || !sec) return std::nullopt;
  return FromCivil(*y, *mo, *d, *h, *mi, *sec);
}

// The Date header's IMF-fixdate (RFC 7231): "Fri, 24 May 2013 00:00:00 GMT".
std::optional<SysClock::time_point> ParseHttpDate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const size_t comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  s = s.substr(comma + 2);
  if (s.size() != 24 || s[2] != ' ' || s[6] != ' ' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s.substr(20) != " GMT") {
    return std::nullopt;
  }
  const auto month = std::find(kMonths.begin(), kMonths.end(), s.substr(3, 3));
  if (month == kMonths.end()) return std::nullopt;
  auto d = ParseDigits(s.substr(0, 2)), y = ParseDigits(s.substr(7, 4)),
       h = ParseDigits(s.substr(12, 2)), mi = ParseDigits(s.substr(15, 2)),
       sec = ParseDigits(s.substr(18, 2));
  if (!d || !y || !h || !mi || !sec) return std::nullopt;
  return FromCivil(*y, static_cast<int>(month - kMonths.begin()) + 1, *d, *h, *mi, *sec);
}

// "15 min" or "90 sec", as AWS words a duration in "Signature expired" messages.
std::string DurationText(std::chrono::seconds d) {
  if (d.count() % 60 == 0) return fmt::format("{} min", d.count() / 60);
  return fmt::format("{} sec", d.count());
}

// ---------------------------------------------------------------------------
// Strings

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), IsHexDigit);
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

// Compares a signature the caller sent with the one we computed without revealing,
// through timing, how long a prefix matched. Lengths are not secret.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// SigV4's Trimall: leading and trailing white space removed, inner runs (folded
// lines included) collapsed to one space.
std::string TrimAll(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// Every value of `name`, trimmed, joined by commas in the order received.
std::string CanonicalHeaderValue(const Headers& headers, std::string_view name) {
  std::string out;
  bool first = true;
  for (const auto& [k, v] : headers.entries()) {
    if (!EqualsIgnoreCase(k, name)) continue;
    if (!first) out.push_back(',');
    out += TrimAll(v);
    first = false;
  }
  return out;
}

// The sorted, unique, lowercase names of the headers SignRequest() signs.
std::string SignableHeaderList(const Headers& headers) {
  std::vector<std::string> names;
  for (const auto& [k, v] : headers.entries()) {
    std::string name = AsciiLower(k);
    if (std::find(kUnsignableHeaders.begin(), kUnsignableHeaders.end(), name) !=
        kUnsignableHeaders.end()) {
      continue;
    }
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return Join(names, ";");
}

std::string ScopeString(std::string_view date, std::string_view region, std::string_view service) {
  return fmt::format("{}/{}/{}/{}", date, region, service, kTerminator);
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, scope, Sha256Hex(canonical_request));
}

std::string CanonicalRequestOf(std::string_view method, std::string_view path,
                               std::string_view query, const Headers& headers,
                               std::string_view service, std::string_view signed_headers,
                               std::string_view payload_hash) {
  std::string out;
  out.reserve(256 + path.size() + query.size());
  out.append(method).push_back('\n');
  out.append(SigV4CanonicalUri(path, service)).push_back('\n');
  out.append(SigV4CanonicalQuery(query)).push_back('\n');
  if (!signed_headers.empty()) {
    for (std::string_view name : Split(signed_headers, ';')) {
      out.append(name).push_back(':');
      out.append(CanonicalHeaderValue(headers, name)).push_back('\n');
    }
  }
  out.push_back('\n');
  out.append(signed_headers).push_back('\n');
  out.append(payload_hash);
  return out;
}

// A query's parameters in order, percent-decoded. '+' stays '+': the SDKs send a
// space as %20 and a plus as %2B, and session tokens are full of '+'.
std::vector<std::pair<std::string, std::string>> QueryParams(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view part : Split(query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    out.emplace_back(PercentDecode(name).value_or(std::string(name)),
                     PercentDecode(value).value_or(std::string(value)));
  }
  return out;
}

const std::string* FindParam(const std::vector<std::pair<std::string, std::string>>& params,
                             std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Verification

SignatureError MakeError(SignatureErrorKind kind, int http_status, std::string code,
                         std::string message,
                         std::vector<std::pair<std::string, std::string>> details = {}) {
  SignatureError e;
  e.kind = kind;
  e.http_status = http_status;
  e.code = std::move(code);
  e.message = std::move(message);
  e.details = std::move(details);
  return e;
}

// The AWS messages these errors quote.
constexpr std::string_view kJsonMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kS3Mismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "key and signing method.";
constexpr std::string_view kS3CredentialMalformed =
    "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
constexpr std::string_view kS3UnsupportedMechanism =
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
constexpr std::string_view kS3QueryParametersRequired =
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
constexpr std::string_view kInvalidToken = "The security token included in the request is invalid.";

// The signature's parts, from the Authorization header or from the query.
struct SignatureParts {
  bool presigned = false;
  std::string credential;      // "AKID/20150830/us-east-1/service/aws4_request"
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;
  std::string amz_date;  // ISO 8601 basic, as signed
  SysClock::time_point time;
  std::chrono::seconds expires{0};  // presigned only
  std::optional<std::string> session_token;
};

// One verification: the request, the rules that apply to it (S3's or the JSON
// APIs') and the steps, in the order AWS takes them. Lives for one call.
class Verifier {
 public:
  Verifier(const Request& request, const CredentialLookup& credentials, SysClock::time_point now,
           const VerifyOptions& options)
      : request_(request), credentials_(credentials), now_(now), options_(options) {
    std::string service;
    if (options.service) {
      service = *options.service;
    } else if (auto scope = ParseCredentialScope(request)) {
      service = scope->service;
    }
    s3_ = IsS3(service);
  }

  SignatureResult<VerifiedSignature> Run() {
    const auto auth = request_.headers.Get("Authorization");
    const auto params = QueryParams(request_.query());
    const bool query_form = FindParam(params, "X-Amz-Algorithm") ||
                            FindParam(params, "X-Amz-Credential") ||
                            FindParam(params, "X-Amz-Signature");
    if (auth && query_form) {
      constexpr std::string_view kOneMechanism =
          "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
          "query string parameter or the Authorization header should be specified";
      return s3_ ? MakeError(SignatureErrorKind::kConflictingAuthentication, 400, "InvalidArgument",
                             std::string(kOneMechanism))
                 : MakeError(SignatureErrorKind::kConflictingAuthentication, 403,
                             "IncompleteSignature", std::string(kOneMechanism));
    }
    if (!auth && !query_form) {
      if (FindParam(params, "AWSAccessKeyId") && FindParam(params, "Signature")) {
        return Unsupported("AWS SigV2 query string");  // a SigV2 presigned URL
      }
      return s3_ ? MakeError(SignatureErrorKind::kMissingAuthentication, 403, "AccessDenied",
                             "Access Denied")
                 : MakeError(SignatureErrorKind::kMissingAuthentication, 403,
                             "MissingAuthenticationToken", "Missing Authentication Token");
    }

    SignatureParts parts;
    if (auto error = auth ? ParseHeader(*auth, parts) : ParseQuery(params, parts)) return *error;

    const std::vector<std::string_view> credential = Split(parts.credential, '/');
    if (credential.size() != 5 || std::any_of(credential.begin(), credential.end(),
                                              [](std::string_view p) { return p.empty(); })) {
      return Malformed(fmt::format("Credential must have exactly 5 slash-delimited elements, e.g. "
                                   "keyid/date/region/service/term, got '{}'",
                                   parts.credential),
                       std::string(kS3CredentialMalformed), parts);
    }
    CredentialScope scope{std::string(credential[0]), std::string(credential[1]),
                          std::string(credential[2]), std::string(credential[3])};

    PayloadKind payload = PayloadKind::kSha256;
    std::string payload_hash;
    bool body_hash_from_header = false;
    if (auto error = PayloadHash(parts, payload, payload_hash, body_hash_from_header)) {
      return *error;
    }
    if (auto error = CheckTime(parts)) return *error;
    if (auto error = CheckScope(parts, scope, credential[4])) return *error;
    if (auto error = CheckSignedHeaders(parts)) return *error;

    const std::optional<AwsCredentials> found = credentials_.Find(scope.access_key_id);
    if (!found) {
      return s3_ ? MakeError(SignatureErrorKind::kUnknownAccessKey, 403, "InvalidAccessKeyId",
                             "The AWS Access Key Id you provided does not exist in our records.",
                             {{"AWSAccessKeyId", scope.access_key_id}})
                 : MakeError(SignatureErrorKind::kUnknownAccessKey, 403,
                             "UnrecognizedClientException", std::string(kInvalidToken));
    }
    const bool token_ok = found->session_token.empty()
                              ? !parts.session_token.has_value()
                              : parts.session_token.has_value() &&
                                    ConstantTimeEquals(*parts.session_token, found->session_token);
    if (!token_ok) {
      return s3_ ? MakeError(SignatureErrorKind::kInvalidSessionToken, 400, "InvalidToken",
                             "The provided token is malformed or otherwise invalid.")
                 : MakeError(SignatureErrorKind::kInvalidSessionToken, 403,
                             "UnrecognizedClientException", std::string(kInvalidToken));
    }

    const std::string signing_key = credentials_.SigningKey(*found, scope.date, scope.region, scope.service);
    const std::string canonical_request =
        CanonicalRequestOf(request_.method, request_.path(), request_.query(), request_.headers,
                           scope.service, parts.signed_headers, payload_hash);
    const std::string string_to_sign = StringToSign(
        parts.amz_date, parts.credential.substr(parts.credential.find('/') + 1), canonical_request);
    const std::string expected = HexEncode(HmacSha256(signing_key, string_to_sign));
    if (!ConstantTimeEquals(parts.signature, expected)) {
      std::vector<std::pair<std::string, std::string>> details = {
          {"AWSAccessKeyId", scope.access_key_id},
          {"StringToSign", string_to_sign},
          {"SignatureProvided", parts.signature},
          {"CanonicalRequest", canonical_request}};
      if (s3_) {
        return MakeError(SignatureErrorKind::kSignatureMismatch, 403, "SignatureDoesNotMatch",
                         std::string(kS3Mismatch), std::move(details));
      }
      // The JSON APIs spell out what they computed, which is what makes a
      // mismatch debuggable from the client side.
      return MakeError(SignatureErrorKind::kSignatureMismatch, 403, "InvalidSignatureException",
                       fmt::format("{}\n\nThe Canonical String for this request should have been\n"
                                   "'{}'\n\nThe String-to-Sign should have been\n'{}'\n",
                                   kJsonMismatch, canonical_request, string_to_sign),
                       std::move(details));
    }

    if (body_hash_from_header) {
      const std::string computed = Sha256Hex(request_.body);
      if (AsciiLower(payload_hash) != computed) {
        constexpr std::string_view kMismatch =
            "The provided 'x-amz-content-sha256' header does not match what was computed.";
        return s3_ ? MakeError(SignatureErrorKind::kContentSha256Mismatch, 400,
                               "XAmzContentSHA256Mismatch", std::string(kMismatch),
                               {{"ClientComputedContentSHA256", payload_hash},
                                {"S3ComputedContentSHA256", computed}})
                   : MakeError(SignatureErrorKind::kContentSha256Mismatch, 403,
                               "InvalidSignatureException", std::string(kMismatch));
      }
    }

    VerifiedSignature v;
    v.access_key_id = scope.access_key_id;
    v.scope = std::move(scope);
    v.amz_date = parts.amz_date;
    v.signature = parts.signature;
    v.signing_key = signing_key;
    v.payload = payload;
    v.presigned = parts.presigned;
    return v;
  }

 private:
  SignatureError Unsupported(std::string_view algorithm) const {
    if (s3_) {
      return MakeError(SignatureErrorKind::kUnsupportedAlgorithm, 400, "InvalidRequest",
                       std::string(kS3UnsupportedMechanism));
    }
    return MakeError(
        SignatureErrorKind::kUnsupportedAlgorithm, 403, "IncompleteSignature",
        fmt::format("Unsupported AWS 'algorithm': '{}' (only AWS4-HMAC-SHA256 for now).",
                    algorithm));
  }

  // A malformed signature: `json` in the JSON APIs' words; `s3` after S3's prefix
  // for the form in use.
  SignatureError Malformed(std::string json, std::string s3, const SignatureParts& parts) const {
    if (!s3_) {
      return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "IncompleteSignature",
                       std::move(json));
    }
    if (parts.presigned) {
      return MakeError(SignatureErrorKind::kIncompleteSignature, 400,
                       "AuthorizationQueryParametersError",
                       "Error parsing the X-Amz-Credential parameter; " + s3);
    }
    return MakeError(SignatureErrorKind::kIncompleteSignature, 400, "AuthorizationHeaderMalformed",
                     "The authorization header is malformed; " + s3);
  }

  std::optional<SignatureError> ParseHeader(std::string_view value, SignatureParts& parts) const {
    const size_t space = value.find(' ');
    const std::string_view algorithm = value.substr(0, space);
    const std::string_view rest =
        space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
    if (algorithm != kAlgorithm && (s3_ || algorithm.starts_with("AWS4-") || algorithm == "AWS")) {
      return Unsupported(algorithm);
    }
    bool has_credential = false, has_signed_headers = false, has_signature = false;
    if (algorithm == kAlgorithm) {
      // "Credential=..., SignedHeaders=..., Signature=...": commas, spaces or both.
      for (std::string_view token : Split(rest, ',')) {
        for (std::string_view item : Split(token, ' ')) {
          const size_t eq = item.find('=');
          if (eq == std::string_view::npos) continue;
          const std::string_view key = item.substr(0, eq), v = item.substr(eq + 1);
          if (key == "Credential") {
            parts.credential = std::string(v);
            has_credential = true;
          } else if (key == "SignedHeaders") {
            parts.signed_headers = std::string(v);
            has_signed_headers = true;
          } else if (key == "Signature") {
            parts.signature = std::string(v);
            has_signature = true;
          }
        }
      }
    }
    const auto amz_date = request_.headers.Get("X-Amz-Date");
    const auto date = request_.headers.Get("Date");
    if (!has_credential || !has_signed_headers || !has_signature || (!amz_date && !date)) {
      if (s3_ && has_credential && has_signed_headers && has_signature) {
        return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "AccessDenied",
                         "AWS authentication requires a valid Date or x-amz-date header");
      }
      if (s3_) {
        return MakeError(SignatureErrorKind::kIncompleteSignature, 400,
                         "AuthorizationHeaderMalformed",
                         "The authorization header is malformed; the authorization header "
                         "requires three components: Credential, SignedHeaders, and Signature.");
      }
      std::vector<std::string> missing;
      if (!has_credential)
        missing.emplace_back("Authorization header requires 'Credential' parameter.");
      if (!has_signature)
        missing.emplace_back("Authorization header requires 'Signature' parameter.");
      if (!has_signed_headers) {
        missing.emplace_back("Authorization header requires 'SignedHeaders' parameter.");
      }
      if (!amz_date && !date) {
        missing.emplace_back(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
      }
      return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "IncompleteSignature",
                       fmt::format("{} Authorization={}", Join(missing, " "), value));
    }

    std::optional<SysClock::time_point> time =
        amz_date ? ParseAmzDate(*amz_date) : ParseHttpDate(*date);
    if (!time) {
      if (s3_) {
        return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "AccessDenied",
                         "AWS authentication requires a valid Date or x-amz-date header");
      }
      return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "IncompleteSignature",
                       fmt::format("Date must be in ISO-8601 'basic format'. Got '{}'. See "
                                   "http://en.wikipedia.org/wiki/ISO_8601",
                                   amz_date ? *amz_date : *date));
    }
    parts.time = *time;
    parts.amz_date = amz_date ? std::string(*amz_date) : FormatAmzDate(*time);
    if (auto token = request_.headers.Get("X-Amz-Security-Token"))
      parts.session_token = std::string(*token);
    return std::nullopt;
  }

  std::optional<SignatureError> ParseQuery(
      const std::vector<std::pair<std::string, std::string>>& params, SignatureParts& parts) const {
    parts.presigned = true;
    const std::string* algorithm = FindParam(params, "X-Amz-Algorithm");
    if (algorithm && *algorithm != kAlgorithm) {
      if (s3_) {
        return MakeError(SignatureErrorKind::kUnsupportedAlgorithm, 400,
                         "AuthorizationQueryParametersError",
                         "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
      }
      return Unsupported(*algorithm);
    }
    std::vector<std::string> missing;
    for (std::string_view name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                                  "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"}) {
      if (!FindParam(params, name)) {
        missing.push_back(fmt::format("AWS query-string parameters must include '{}'.", name));
      }
    }
    if (!missing.empty()) {
      if (s3_) {
        return MakeError(SignatureErrorKind::kIncompleteSignature, 400,
                         "AuthorizationQueryParametersError",
                         std::string(kS3QueryParametersRequired));
      }
      return MakeError(SignatureErrorKind::kIncompleteSignature, 403, "IncompleteSignature",
                       Join(missing, " ") + " Re-examine the query-string parameters.");
    }
    parts.credential = *FindParam(params, "X-Amz-Credential");
    parts.signed_headers = *FindParam(params, "X-Amz-SignedHeaders");
    parts.signature = *FindParam(params, "X-Amz-Signature");
    parts.amz_date = *FindParam(params, "X-Amz-Date");

    auto query_error = [&](std::string message) {
      return s3_ ? MakeError(SignatureErrorKind::kIncompleteSignature, 400,
                             "AuthorizationQueryParametersError", std::move(message))
                 : MakeError(SignatureErrorKind::kIncompleteSignature, 403, "IncompleteSignature",
                             std::move(message));
    };
    const std::optional<SysClock::time_point> time = ParseAmzDate(parts.amz_date);
    if (!time) {
      return query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    }
    parts.time = *time;

    const std::string& expires = *FindParam(params, "X-Amz-Expires");
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const std::string_view digits =
        std::string_view(expires).substr(expires.starts_with('-') ? 1 : 0);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) {
      return query_error("X-Amz-Expires should be a number");
    }
    if (expires.starts_with('-')) return query_error("X-Amz-Expires must be non-negative");
    // Saturates just above the limit, so any number of digits is safe.
    int64_t value = 0;
    for (char c : digits)
      value = std::min<int64_t>(value * 10 + (c - '0'), kMaxPresignedExpiry.count() + 1);
    if (value > kMaxPresignedExpiry.count()) {
      return query_error(
          fmt::format("X-Amz-Expires must be less than a week (in seconds) that is {}",
                      kMaxPresignedExpiry.count()));
    }
    parts.expires = std::chrono::seconds(value);
    if (parts.expires.count() < 1) return query_error("X-Amz-Expires must be at least 1 second");

    if (const std::string* token = FindParam(params, "X-Amz-Security-Token")) {
      parts.session_token = *token;
    } else if (auto header = request_.headers.Get("X-Amz-Security-Token")) {
      parts.session_token = std::string(*header);
    }
    return std::nullopt;
  }

  // What the canonical request's last line is, what it tells about the body, and
  // whether the body must still be checked against it.
  std::optional<SignatureError> PayloadHash(const SignatureParts& parts, PayloadKind& kind,
                                            std::string& hash, bool& check_body) const {
    const auto header = request_.headers.Get("X-Amz-Content-Sha256");
    if (!header) {
      if (s3_ && !parts.presigned) {
        return MakeError(SignatureErrorKind::kMissingContentSha256, 400, "InvalidRequest",
                         "Missing required header for this request: x-amz-content-sha256");
      }
      if (s3_) {
        kind = PayloadKind::kUnsigned;
        hash = std::string(kUnsignedPayload);
      } else {
        kind = PayloadKind::kSha256;
        hash = Sha256Hex(request_.body);
      }
      return std::nullopt;
    }
    hash = std::string(*header);
    const bool streaming_allowed = s3_ && !parts.presigned;
    if (*header == kUnsignedPayload) {
      kind = PayloadKind::kUnsigned;
    } else if (IsSha256Hex(*header)) {
      kind = PayloadKind::kSha256;
      check_body = true;
    } else if (streaming_allowed && *header == kStreamingSignedPayload) {
      kind = PayloadKind::kStreamingSigned;
    } else if (streaming_allowed && *header == kStreamingSignedPayloadTrailer) {
      kind = PayloadKind::kStreamingSignedTrailer;
    } else if (streaming_allowed && *header == kStreamingUnsignedPayloadTrailer) {
      kind = PayloadKind::kStreamingUnsignedTrailer;
    } else if (s3_) {
      return MakeError(SignatureErrorKind::kInvalidContentSha256, 400, "InvalidArgument",
                       "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                       "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                       {{"ArgumentName", "x-amz-content-sha256"}, {"ArgumentValue", hash}});
    } else {
      return MakeError(SignatureErrorKind::kInvalidContentSha256, 403, "InvalidSignatureException",
                       "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.");
    }
    return std::nullopt;
  }

  std::optional<SignatureError> CheckTime(const SignatureParts& parts) const {
    const auto now = std::chrono::floor<std::chrono::seconds>(now_);
    const std::chrono::seconds skew = options_.max_skew;
    const std::string now_text = FormatAmzDate(now);
    if (parts.time > now + skew) {
      if (s3_ && parts.presigned) {
        return MakeError(SignatureErrorKind::kNotYetValid, 403, "AccessDenied",
                         "Request is not valid yet");
      }
      const auto kind = parts.presigned ? SignatureErrorKind::kNotYetValid
                                        : SignatureErrorKind::kRequestTimeSkewed;
      if (!s3_) {
        return MakeError(
            kind, 403, "InvalidSignatureException",
            fmt::format("Signature not yet current: {} is still later than {} ({} + {}.)",
                        parts.amz_date, FormatAmzDate(now + skew), now_text, DurationText(skew)));
      }
      return TooSkewed(parts);
    }
    if (parts.presigned) {
      if (now > parts.time + parts.expires) {
        if (s3_) {
          return MakeError(SignatureErrorKind::kExpired, 403, "AccessDenied", "Request has expired",
                           {{"X-Amz-Expires", std::to_string(parts.expires.count())},
                            {"Expires", FormatIso8601(parts.time + parts.expires)},
                            {"ServerTime", FormatIso8601(now)}});
        }
        return MakeError(
            SignatureErrorKind::kExpired, 403, "InvalidSignatureException",
            fmt::format("Signature expired: {} is now earlier than {} ({} - {}.)", parts.amz_date,
                        FormatAmzDate(now - parts.expires), now_text, DurationText(parts.expires)));
      }
      return std::nullopt;
    }
    if (parts.time < now - skew) {
      if (s3_) return TooSkewed(parts);
      return MakeError(
          SignatureErrorKind::kRequestTimeSkewed, 403, "InvalidSignatureException",
          fmt::format("Signature expired: {} is now earlier than {} ({} - {}.)", parts.amz_date,
                      FormatAmzDate(now - skew), now_text, DurationText(skew)));
    }
    return std::nullopt;
  }

  SignatureError TooSkewed(const SignatureParts& parts) const {
    return MakeError(SignatureErrorKind::kRequestTimeSkewed, 403, "RequestTimeTooSkewed",
                     "The difference between the request time and the current time is too large.",
                     {{"RequestTime", parts.amz_date},
                      {"ServerTime", FormatIso8601(now_)},
                      {"MaxAllowedSkewMilliseconds",
                       std::to_string(std::chrono::milliseconds(options_.max_skew).count())}});
  }

  std::optional<SignatureError> CheckScope(const SignatureParts& parts,
                                           const CredentialScope& scope,
                                           std::string_view terminator) const {
    auto wrong = [&](std::string json, std::string s3) {
      if (!s3_) {
        return MakeError(SignatureErrorKind::kInvalidScope, 403, "InvalidSignatureException",
                         std::move(json));
      }
      SignatureError e = Malformed("", std::move(s3), parts);
      e.kind = SignatureErrorKind::kInvalidScope;
      return e;
    };
    if (terminator != kTerminator) {
      return wrong(fmt::format("Credential should be scoped with a valid terminator: "
                               "'aws4_request', not '{}'.",
                               terminator),
                   std::string(kS3CredentialMalformed));
    }
    if (scope.date != std::string_view(parts.amz_date).substr(0, 8)) {
      SignatureError e =
          wrong(fmt::format("Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                            "version of date from HTTP: '{}' != '{}', from '{}'.",
                            scope.date, parts.amz_date.substr(0, 8), parts.amz_date),
                "Invalid credential date. Date is not the same as X-Amz-Date.");
      if (s3_ && parts.presigned)
        e.message = "Invalid credential date. Date is not the same as X-Amz-Date.";
      return e;
    }
    if (options_.region && scope.region != *options_.region) {
      SignatureError e = wrong(
          "Credential should be scoped to a valid region.",
          fmt::format("the region '{}' is wrong; expecting '{}'", scope.region, *options_.region));
      if (s3_) e.details.emplace_back("Region", *options_.region);
      return e;
    }
    if (options_.service && scope.service != *options_.service) {
      return wrong(
          fmt::format("Credential should be scoped to correct service: '{}'.", *options_.service),
          fmt::format("incorrect service \"{}\". This endpoint belongs to \"{}\".", scope.service,
                      *options_.service));
    }
    return std::nullopt;
  }

  std::optional<SignatureError> CheckSignedHeaders(const SignatureParts& parts) const {
    std::vector<std::string> signed_names;
    for (std::string_view name : Split(parts.signed_headers, ';')) {
      signed_names.push_back(AsciiLower(name));
    }
    auto is_signed = [&](std::string_view lower) {
      return std::find(signed_names.begin(), signed_names.end(), lower) != signed_names.end();
    };
    if (!is_signed("host")) {
      return MakeError(SignatureErrorKind::kHostNotSigned, 403,
                       s3_ ? "SignatureDoesNotMatch" : "InvalidSignatureException",
                       "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }
    // An x-amz-* header changes what a request does (x-amz-copy-source,
    // x-amz-invocation-type): one the signature does not cover could have been
    // added by anyone on the way. These three are covered otherwise: the date by the
    // string to sign, the content hash by the canonical request's last line, the
    // token by the key's own check.
    std::vector<std::string> unsigned_names;
    for (const auto& [k, v] : request_.headers.entries()) {
      const std::string name = AsciiLower(k);
      if (!name.starts_with("x-amz-") || name == "x-amz-date" || name == "x-amz-content-sha256" ||
          name == "x-amz-security-token" || is_signed(name)) {
        continue;
      }
      if (std::find(unsigned_names.begin(), unsigned_names.end(), name) == unsigned_names.end()) {
        unsigned_names.push_back(name);
      }
    }
    if (unsigned_names.empty()) return std::nullopt;
    constexpr std::string_view kNotSigned =
        "There were headers present in the request which were not signed";
    if (s3_) {
      return MakeError(SignatureErrorKind::kHeadersNotSigned, 403, "AccessDenied",
                       std::string(kNotSigned), {{"HeadersNotSigned", Join(unsigned_names, ", ")}});
    }
    return MakeError(SignatureErrorKind::kHeadersNotSigned, 403, "InvalidSignatureException",
                     fmt::format("{}: {}", kNotSigned, Join(unsigned_names, ", ")));
  }

  const Request& request_;
  const CredentialLookup& credentials_;
  const SysClock::time_point now_;
  const VerifyOptions& options_;
  bool s3_ = false;
};

// ---------------------------------------------------------------------------
// aws-chunked

SignatureError MalformedBody(std::string what) {
  return MakeError(SignatureErrorKind::kMalformedBody, 400, "InvalidRequest",
                   "aws-chunked body: " + what);
}

SignatureError ChunkMismatch(std::string string_to_sign, std::string provided) {
  return MakeError(
      SignatureErrorKind::kSignatureMismatch, 403, "SignatureDoesNotMatch",
      std::string(kS3Mismatch),
      {{"StringToSign", std::move(string_to_sign)}, {"SignatureProvided", std::move(provided)}});
}

std::string ChunkStringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view previous, std::string_view data) {
  return fmt::format("AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}", amz_date, scope, previous,
                     kEmptySha256, Sha256Hex(data));
}

std::string TrailerStringToSign(std::string_view amz_date, std::string_view scope,
                                std::string_view previous, std::string_view canonical_trailers) {
  return fmt::format("AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}", amz_date, scope, previous,
                     Sha256Hex(canonical_trailers));
}

}  // namespace

// ---------------------------------------------------------------------------

std::string VerifiedSignature::CredentialScopeString() const {
  return ScopeString(scope.date, scope.region, scope.service);
}

Status SignatureError::ToStatus() const {
  return Status(http_status == 400 ? Code::kInvalidArgument : Code::kPermissionDenied, message)
      .WithDetail(code);
}

std::string SigV4UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string SigV4CanonicalUri(std::string_view path, std::string_view service) {
  if (IsS3(service)) {
    // The key as S3 sees it, encoded once; a path that does not decode is signed as sent.
    const std::optional<std::string> decoded = PercentDecode(path);
    std::string out = decoded ? SigV4UriEncode(*decoded, false) : std::string(path);
    return out.empty() ? "/" : out;
  }
  // RFC 3986 "remove dot segments", and empty segments too, as the SDKs do; then
  // the path as sent is encoded once more.
  std::vector<std::string_view> segments;
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string normalized = path.starts_with('/') ? "/" : "";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized.push_back('/');
    normalized.append(segments[i]);
  }
  if (!segments.empty() && path.ends_with('/')) normalized.push_back('/');
  if (normalized.empty()) normalized = "/";
  return SigV4UriEncode(normalized, false);
}

std::string SigV4CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (auto& [name, value] : QueryParams(query)) {
    if (EqualsIgnoreCase(name, "X-Amz-Signature")) continue;
    encoded.emplace_back(SigV4UriEncode(name), SigV4UriEncode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string SigV4CanonicalRequest(const Request& request, std::string_view service,
                                  std::string_view signed_headers, std::string_view payload_hash) {
  return CanonicalRequestOf(request.method, request.path(), request.query(), request.headers,
                            service, signed_headers, payload_hash);
}

namespace {

// One HMAC-SHA256 context per thread, its digest set once: OpenSSL 3's one-shot
// HMAC() fetches the MAC and the digest on every call, which cost more than the
// five HMACs of a verification themselves.
class HmacContext {
 public:
  HmacContext() {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    NIMBUS_CHECK(mac != nullptr) << "OpenSSL has no HMAC";
    ctx_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context holds its own reference
    NIMBUS_CHECK(ctx_ != nullptr);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    NIMBUS_CHECK(EVP_MAC_CTX_set_params(ctx_, params) == 1);
  }
  ~HmacContext() { EVP_MAC_CTX_free(ctx_); }
  HmacContext(const HmacContext&) = delete;
  HmacContext& operator=(const HmacContext&) = delete;

  std::string Mac(std::string_view key, std::string_view data) {
    // Re-keying keeps the digest set above.
    NIMBUS_CHECK(EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr) == 1);
    NIMBUS_CHECK(EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    NIMBUS_CHECK(EVP_MAC_final(ctx_, out, &len, sizeof(out)) == 1);
    return std::string(reinterpret_cast<const char*>(out), len);
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  thread_local HmacContext context;
  return context.Mac(key, data);
}

std::string CredentialLookup::SigningKey(const AwsCredentials& credentials, std::string_view date,
                                         std::string_view region, std::string_view service) const {
  return SigV4SigningKey(credentials.secret_access_key, date, region, service);
}

std::string SigV4SigningKey(std::string_view secret_access_key, std::string_view date,
                            std::string_view region, std::string_view service) {
  std::string key = "AWS4";
  key.append(secret_access_key);
  key = HmacSha256(key, date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  return HmacSha256(key, kTerminator);
}

std::string SigV4ChunkSignature(std::string_view signing_key, std::string_view amz_date,
                                std::string_view credential_scope, std::string_view previous,
                                std::string_view data) {
  return HexEncode(
      HmacSha256(signing_key, ChunkStringToSign(amz_date, credential_scope, previous, data)));
}

std::string SigV4TrailerSignature(std::string_view signing_key, std::string_view amz_date,
                                  std::string_view credential_scope, std::string_view previous,
                                  std::string_view canonical_trailers) {
  return HexEncode(HmacSha256(
      signing_key, TrailerStringToSign(amz_date, credential_scope, previous, canonical_trailers)));
}

Status SignRequest(Request& request, const SigningParams& params) {
  if (!request.headers.Has("Host")) {
    return InvalidArgument("sigv4: cannot sign a request without a Host header");
  }
  const std::string amz_date = FormatAmzDate(params.time);
  const std::string scope = ScopeString(amz_date.substr(0, 8), params.region, params.service);
  request.headers.Remove("Authorization");
  request.headers.Set("X-Amz-Date", amz_date);
  if (!params.credentials.session_token.empty()) {
    request.headers.Set("X-Amz-Security-Token", params.credentials.session_token);
  }
  const std::string payload_hash =
      params.payload_hash ? *params.payload_hash : Sha256Hex(request.body);
  if (params.add_content_sha256.value_or(IsS3(params.service))) {
    request.headers.Set("X-Amz-Content-Sha256", payload_hash);
  }
  const std::string signed_headers = SignableHeaderList(request.headers);
  const std::string canonical_request =
      SigV4CanonicalRequest(request, params.service, signed_headers, payload_hash);
  const std::string key = SigV4SigningKey(params.credentials.secret_access_key,
                                          amz_date.substr(0, 8), params.region, params.service);
  const std::string signature =
      HexEncode(HmacSha256(key, StringToSign(amz_date, scope, canonical_request)));
  request.headers.Set(
      "Authorization",
      fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                  params.credentials.access_key_id, scope, signed_headers, signature));
  return Status::Ok();
}

Result<std::string> PresignTarget(const Request& request, const SigningParams& params,
                                  std::chrono::seconds expires) {
  if (!request.headers.Has("Host")) {
    return InvalidArgument("sigv4: cannot presign a request without a Host header");
  }
  if (expires < std::chrono::seconds(1) || expires > kMaxPresignedExpiry) {
    return InvalidArgument(fmt::format("sigv4: presigned URL expiry {} s is not within 1..{} s",
                                       expires.count(), kMaxPresignedExpiry.count()));
  }
  const std::string amz_date = FormatAmzDate(params.time);
  const std::string scope = ScopeString(amz_date.substr(0, 8), params.region, params.service);
  const std::string signed_headers = SignableHeaderList(request.headers);
  std::string query(request.query());
  auto add = [&](std::string_view name, std::string_view value) {
    if (!query.empty()) query.push_back('&');
    query.append(name).push_back('=');
    query.append(SigV4UriEncode(value));
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", params.credentials.access_key_id + "/" + scope);
  add("X-Amz-Date", amz_date);
  add("X-Amz-Expires", std::to_string(expires.count()));
  add("X-Amz-SignedHeaders", signed_headers);
  if (!params.credentials.session_token.empty()) {
    add("X-Amz-Security-Token", params.credentials.session_token);
  }
  const std::string payload_hash = params.payload_hash    ? *params.payload_hash
                                   : IsS3(params.service) ? std::string(kUnsignedPayload)
                                                          : Sha256Hex(request.body);
  const std::string canonical_request =
      CanonicalRequestOf(request.method, request.path(), query, request.headers, params.service,
                         signed_headers, payload_hash);
  const std::string key = SigV4SigningKey(params.credentials.secret_access_key,
                                          amz_date.substr(0, 8), params.region, params.service);
  add("X-Amz-Signature",
      HexEncode(HmacSha256(key, StringToSign(amz_date, scope, canonical_request))));
  return std::string(request.path()) + "?" + query;
}

SignatureResult<VerifiedSignature> VerifySignature(const Request& request,
                                                   const CredentialLookup& credentials,
                                                   std::chrono::system_clock::time_point now,
                                                   const VerifyOptions& options) {
  return Verifier(request, credentials, now, options).Run();
}

SignatureResult<AwsChunkedBody> DecodeSignedAwsChunked(const VerifiedSignature& verified,
                                                       std::string_view raw) {
  const bool signed_chunks = verified.payload == PayloadKind::kStreamingSigned ||
                             verified.payload == PayloadKind::kStreamingSignedTrailer;
  const std::string scope = verified.CredentialScopeString();
  std::string previous = verified.signature;
  AwsChunkedBody out;
  size_t pos = 0;
  auto line = [&]() -> std::optional<std::string_view> {
    const size_t end = raw.find("\r\n", pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view l = raw.substr(pos, end - pos);
    pos = end + 2;
    return l;
  };

  for (size_t index = 0;; ++index) {
    if (pos == raw.size()) return MalformedBody("the body ends before its final zero-size chunk");
    const auto header = line();
    if (!header) return MalformedBody("a chunk header is not terminated by CRLF");
    const std::vector<std::string_view> fields = Split(*header, ';');
    const std::string_view size_text = Trim(fields[0]);
    if (size_text.empty() || size_text.size() > 16 ||
        !std::all_of(size_text.begin(), size_text.end(), IsHexDigit)) {
      return MalformedBody(fmt::format("bad chunk size \"{}\"", size_text));
    }
    const uint64_t size = std::stoull(std::string(size_text), nullptr, 16);
    std::optional<std::string_view> provided;
    for (size_t i = 1; i < fields.size(); ++i) {
      std::string_view f = Trim(fields[i]);
      if (f.starts_with("chunk-signature=")) provided = f.substr(16);
    }
    // The final chunk has no data and no CRLF of its own: the trailers (or the
    // blank line that ends the body) follow its header directly.
    if (size > 0 && (raw.size() - pos < size || raw.size() - pos - size < 2 ||
                     raw.substr(pos + size, 2) != "\r\n")) {
      return MalformedBody(
          fmt::format("chunk {} is shorter than its declared size {}", index, size));
    }
    const std::string_view data = raw.substr(pos, size);
    if (signed_chunks) {
      const std::string string_to_sign =
          ChunkStringToSign(verified.amz_date, scope, previous, data);
      const std::string expected = HexEncode(HmacSha256(verified.signing_key, string_to_sign));
      if (!provided || !ConstantTimeEquals(*provided, expected)) {
        return ChunkMismatch(string_to_sign, std::string(provided.value_or("")));
      }
      previous = std::string(*provided);
    }
    if (size == 0) break;
    out.body.append(data);
    pos += size + 2;
  }

  // Trailers until a blank line, or the end of the body (some clients leave the
  // blank line out; everything before it is framed, and signed where signing applies).
  std::string canonical_trailers;
  std::optional<std::string> trailer_signature;
  while (pos < raw.size()) {
    const auto l = line();
    if (!l) return MalformedBody("a trailer is not terminated by CRLF");
    if (l->empty()) break;
    const size_t colon = l->find(':');
    if (colon == std::string_view::npos) {
      return MalformedBody(fmt::format("bad trailer \"{}\"", *l));
    }
    std::string name = AsciiLower(Trim(l->substr(0, colon)));
    const std::string_view value = Trim(l->substr(colon + 1));
    if (name == "x-amz-trailer-signature") {
      trailer_signature = std::string(value);
      continue;
    }
    canonical_trailers += fmt::format("{}:{}\n", name, value);
    out.trailers.emplace_back(std::move(name), std::string(value));
  }
  if (pos < raw.size()) return MalformedBody("data after the end of the body");
  if (verified.payload == PayloadKind::kStreamingSigned &&
      (!out.trailers.empty() || trailer_signature)) {
    return MalformedBody(
        "trailers need x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
  }
  if (verified.payload == PayloadKind::kStreamingSignedTrailer) {
    const std::string string_to_sign =
        TrailerStringToSign(verified.amz_date, scope, previous, canonical_trailers);
    const std::string expected = HexEncode(HmacSha256(verified.signing_key, string_to_sign));
    if (!trailer_signature || !ConstantTimeEquals(*trailer_signature, expected)) {
      return ChunkMismatch(string_to_sign, trailer_signature.value_or(""));
    }
  }
  return out;
}

}  // namespace nimbus::http
