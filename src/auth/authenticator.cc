#include "auth/authenticator.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <chrono>

#include "base/encoding.h"

namespace nimbus::auth {

// The key store's keys, then this run's function credentials.
class Authenticator::Lookup final : public http::CredentialLookup {
 public:
  Lookup(const KeyStore& keys, const http::AwsCredentials& function, const http::AwsCredentials& presign)
      : keys_(keys), function_(function), presign_(presign) {}
  std::optional<http::AwsCredentials> Find(std::string_view access_key_id) const override {
    if (access_key_id == function_.access_key_id) return function_;
    if (access_key_id == presign_.access_key_id) return presign_;
    return keys_.Find(access_key_id);
  }

 private:
  const KeyStore& keys_;
  const http::AwsCredentials& function_;
  const http::AwsCredentials& presign_;
};

Result<std::unique_ptr<Authenticator>> Authenticator::Open(const std::filesystem::path& key_file,
                                                           const Clock& clock, AuthenticatorOptions options) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
  NIMBUS_ASSIGN_OR_RETURN(std::unique_ptr<KeyStore> keys, KeyStore::Open(key_file, now_ms));
  NIMBUS_ASSIGN_OR_RETURN(AccessKey session, GenerateAccessKey("ASIA", Policy::kAdmin, now_ms));
  NIMBUS_ASSIGN_OR_RETURN(std::string token, RandomBase64(96));
  http::AwsCredentials function{session.id, session.secret, std::move(token)};
  NIMBUS_ASSIGN_OR_RETURN(AccessKey presign, GenerateAccessKey("AKIA", Policy::kAdmin, now_ms));
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(keys), clock, std::move(options),
                                                          std::move(function), {presign.id, presign.secret, ""}));
}

Authenticator::Authenticator(std::unique_ptr<KeyStore> keys, const Clock& clock, AuthenticatorOptions options,
                             http::AwsCredentials function_credentials, http::AwsCredentials presign_credentials)
    : keys_(std::move(keys)),
      clock_(clock),
      options_(std::move(options)),
      function_credentials_(std::move(function_credentials)),
      presign_credentials_(std::move(presign_credentials)),
      lookup_(std::make_unique<Lookup>(*keys_, function_credentials_, presign_credentials_)) {}

Result<std::string> Authenticator::PresignGet(std::string_view host, std::string_view target,
                                              std::chrono::seconds expires) const {
  http::Request get;
  get.method = "GET";
  get.target = std::string(target);
  get.headers.Set("Host", std::string(host));
  http::SigningParams params;
  params.credentials = presign_credentials_;
  params.region = options_.region;
  params.service = "lambda";
  params.time = clock_.Now();
  NIMBUS_ASSIGN_OR_RETURN(std::string signed_target, http::PresignTarget(get, params, expires));
  return fmt::format("http://{}{}", host, signed_target);
}

Authenticator::~Authenticator() = default;

namespace {

Refusal FromSignatureError(http::SignatureError e) {
  return Refusal{e.http_status, std::move(e.code), std::move(e.message), std::move(e.details)};
}

// Turns a verified aws-chunked upload with signed chunks into a plain one.
std::optional<Refusal> UnwrapSignedChunks(http::Request& request, const http::VerifiedSignature& verified) {
  auto decoded = http::DecodeSignedAwsChunked(verified, request.body);
  if (!decoded.has_value()) return FromSignatureError(decoded.error());
  if (auto declared = request.headers.Get("x-amz-decoded-content-length")) {
    if (std::to_string(decoded->body.size()) != *declared) {
      return Refusal{400, "IncompleteBody",
                     "You did not provide the number of bytes specified by the x-amz-decoded-content-length "
                     "HTTP header",
                     {}};
    }
  }
  request.body = std::move(decoded->body);
  for (auto& [name, value] : decoded->trailers) request.headers.Set(name, value);
  std::string encodings;
  for (std::string_view rest = request.headers.Get("Content-Encoding").value_or(""); !rest.empty();) {
    const size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.empty() || AsciiLower(part) == "aws-chunked") continue;
    encodings += (encodings.empty() ? "" : ",") + std::string(part);
  }
  if (encodings.empty()) {
    request.headers.Remove("Content-Encoding");
  } else {
    request.headers.Set("Content-Encoding", encodings);
  }
  request.headers.Set("x-amz-content-sha256", std::string(http::kUnsignedPayload));
  return std::nullopt;
}

}  // namespace

AuthOutcome Authenticator::Authenticate(http::Request& request, std::string_view service) const {
  if (options_.mode == Mode::kAnyCredentials) return AuthOutcome{Principal{}, {}};
  http::VerifyOptions verify;
  verify.service = std::string(service);
  auto verified = http::VerifySignature(request, *lookup_, clock_.Now(), verify);
  if (!verified.has_value()) return AuthOutcome{std::nullopt, FromSignatureError(verified.error())};
  if (verified->payload == http::PayloadKind::kStreamingSigned ||
      verified->payload == http::PayloadKind::kStreamingSignedTrailer) {
    if (auto refusal = UnwrapSignedChunks(request, *verified)) return AuthOutcome{std::nullopt, std::move(*refusal)};
  }
  Principal who;
  who.access_key_id = verified->access_key_id;
  if (who.access_key_id == function_credentials_.access_key_id) {
    who.function = true;
  } else if (who.access_key_id == presign_credentials_.access_key_id) {
    // A URL this process presigned (a code package's Code.Location).
  } else {
    // A key deleted between the lookup and here is refused as unknown.
    auto policy = keys_->PolicyOf(who.access_key_id);
    if (!policy) {
      return AuthOutcome{std::nullopt,
                         Refusal{403, service == "s3" ? "InvalidAccessKeyId" : "UnrecognizedClientException",
                                 "The security token included in the request is invalid.",
                                 {}}};
    }
    who.policy = *policy;
  }
  return AuthOutcome{std::move(who), {}};
}

bool Authenticator::IsInvoke(const http::Request& request) {
  if (request.method != "POST") return false;
  // /<api version>/functions/<name>/<operation>[/]
  std::string_view path = request.path();
  if (!path.starts_with("/")) return false;
  path.remove_prefix(1);
  const size_t version_end = path.find('/');
  if (version_end == std::string_view::npos) return false;
  const std::string_view version = path.substr(0, version_end);
  path.remove_prefix(version_end + 1);
  if (!path.starts_with("functions/")) return false;
  path.remove_prefix(std::string_view("functions/").size());
  const size_t name_end = path.find('/');
  if (name_end == 0 || name_end == std::string_view::npos) return false;
  std::string_view operation = path.substr(name_end + 1);
  if (operation.ends_with("/")) operation.remove_suffix(1);
  return (version == "2015-03-31" && operation == "invocations") ||
         (version == "2014-11-13" && operation == "invoke-async") ||
         (version == "2021-11-15" && operation == "response-streaming-invocations");
}

std::optional<Refusal> Authenticator::Authorize(const Principal& principal, const http::Request& request,
                                                std::string_view service) const {
  if (principal.policy == Policy::kAdmin) return std::nullopt;
  if (service == "lambda" && IsInvoke(request)) return std::nullopt;
  const std::string user = fmt::format("arn:aws:iam::{}:user/{}", options_.account_id, principal.access_key_id);
  std::string message = fmt::format(
      "User: {} is not authorized to perform {} {}: the access key is invoke-only (it may invoke functions "
      "and nothing else)",
      user, request.method, std::string(request.path()));
  if (service == "s3") return Refusal{403, "AccessDenied", std::move(message), {}};
  if (service == "sqs") return Refusal{403, "AccessDenied", std::move(message), {}};
  if (service == "monitoring") return Refusal{403, "AccessDenied", std::move(message), {}};
  return Refusal{403, "AccessDeniedException", std::move(message), {}};
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace nimbus::auth
