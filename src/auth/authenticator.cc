#include "auth/authenticator.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <boost/json.hpp>

#include <chrono>
#include <mutex>
#include <unordered_map>

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

  // Derived once per key, secret, day, region and service: four HMACs saved on
  // every request after the first of the day.
  std::string SigningKey(const http::AwsCredentials& credentials, std::string_view date, std::string_view region,
                         std::string_view service) const override {
    std::string id = fmt::format("{}\n{}\n{}\n{}\n{}", credentials.access_key_id, credentials.secret_access_key,
                                 date, region, service);
    {
      std::lock_guard l(mu_);
      if (auto it = signing_keys_.find(id); it != signing_keys_.end()) return it->second;
    }
    std::string key = http::SigV4SigningKey(credentials.secret_access_key, date, region, service);
    std::lock_guard l(mu_);
    // Bounded: a few keys × services × days; cleared whole when it fills (old days, deleted keys).
    if (signing_keys_.size() >= kMaxSigningKeys) signing_keys_.clear();
    signing_keys_.emplace(std::move(id), key);
    return key;
  }

 private:
  static constexpr size_t kMaxSigningKeys = 4096;
  const KeyStore& keys_;
  const http::AwsCredentials& function_;
  const http::AwsCredentials& presign_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::string> signing_keys_;  // GUARDED_BY(mu_)
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
      lookup_(std::make_unique<Lookup>(*keys_, function_credentials_, presign_credentials_)),
      sessions_(std::make_unique<ConsoleSessions>(*keys_)) {}

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

// The value of the cookie `name` in the request's Cookie header, or "".
std::string_view CookieValue(const http::Request& request, std::string_view name) {
  std::string_view rest = request.headers.Get("Cookie").value_or("");
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

// Whether the request is the console's: X-Nimbus-Console: 1.
bool FromConsole(const http::Request& request) {
  return request.headers.Get(Authenticator::kConsoleHeader) == std::optional<std::string_view>("1");
}

// Whether the request carries a SigV4 signature (header or presigned form).
bool HasSignature(const http::Request& request) {
  if (request.headers.Has("Authorization")) return true;
  const std::string_view query = request.query();
  return query.find("X-Amz-Signature=") != std::string_view::npos ||
         query.find("X-Amz-Credential=") != std::string_view::npos ||
         query.find("X-Amz-Algorithm=") != std::string_view::npos;
}

http::Response JsonError(int status, std::string_view type, std::string_view message) {
  http::Response r = http::Response::Json(
      status, boost::json::serialize(boost::json::object{{"__type", type}, {"message", message}}));
  r.headers.Set("x-amzn-ErrorType", std::string(type));
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

}  // namespace

std::optional<Principal> Authenticator::PrincipalOf(const std::string& access_key_id) const {
  auto policy = keys_->PolicyOf(access_key_id);
  if (!policy) return std::nullopt;
  Principal who;
  who.access_key_id = access_key_id;
  who.policy = *policy;
  return who;
}

AuthOutcome Authenticator::AuthenticateConsole(const http::Request& request, std::string_view service) const {
  const std::string_view token = CookieValue(request, kSessionCookie);
  if (!token.empty()) {
    if (auto id = sessions_->Find(token, clock_.MonotonicNow())) {
      if (auto who = PrincipalOf(*id)) return AuthOutcome{std::move(*who), {}};
    }
  }
  // What an AWS SDK hears for expired session credentials.
  return AuthOutcome{std::nullopt,
                     Refusal{403, service == "s3" ? "ExpiredToken" : "ExpiredTokenException",
                             "The console session has expired or is not valid; sign in again",
                             {}}};
}

AuthOutcome Authenticator::Authenticate(http::Request& request, std::string_view service) const {
  if (options_.mode == Mode::kAnyCredentials) return AuthOutcome{Principal{}, {}};
  if (FromConsole(request) && !HasSignature(request)) return AuthenticateConsole(request, service);
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

bool Authenticator::IsConsoleSessionRequest(const http::Request& request) {
  return request.path() == "/console/session";
}

http::Response Authenticator::HandleConsoleSession(const http::Request& request) const {
  const bool dev = options_.mode == Mode::kAnyCredentials;
  const std::string_view mode = dev ? "dev" : "verify";
  const std::string_view token = CookieValue(request, kSessionCookie);
  if (request.method == "GET" || request.method == "HEAD") {
    if (dev) {
      http::Response r = http::Response::Json(200, boost::json::serialize(boost::json::object{{"Mode", mode}}));
      r.headers.Set("Cache-Control", "no-store");
      return r;
    }
    std::optional<Principal> who;
    if (!token.empty()) {
      if (auto id = sessions_->Find(token, clock_.MonotonicNow())) who = PrincipalOf(*id);
    }
    if (!who) return JsonError(401, "MissingAuthenticationToken", "Not signed in to the console");
    http::Response r = http::Response::Json(
        200, boost::json::serialize(boost::json::object{
                 {"AccessKeyId", who->access_key_id}, {"Policy", PolicyName(who->policy)}, {"Mode", mode}}));
    r.headers.Set("Cache-Control", "no-store");
    return r;
  }
  if (request.method != "POST" && request.method != "DELETE") {
    http::Response r = JsonError(405, "MethodNotAllowedException",
                                 fmt::format("{} /console/session is not supported (GET, POST or DELETE)",
                                             request.method));
    r.headers.Set("Allow", "GET, POST, DELETE");
    return r;
  }
  if (!FromConsole(request)) {
    return JsonError(403, "AccessDeniedException",
                     fmt::format("{} /console/session needs the header {}: 1 (sent by the console's pages only)",
                                 request.method, kConsoleHeader));
  }
  if (request.method == "DELETE") {
    if (!token.empty()) sessions_->SignOut(token);
    http::Response r;
    r.status = 204;
    r.headers.Set("Set-Cookie", fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict", kSessionCookie));
    r.headers.Set("Cache-Control", "no-store");
    return r;
  }
  // POST: sign in.
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(request.body, ec);
  const boost::json::object* fields = ec ? nullptr : body.if_object();
  const boost::json::value* id = fields ? fields->if_contains("AccessKeyId") : nullptr;
  const boost::json::value* secret = fields ? fields->if_contains("SecretAccessKey") : nullptr;
  if (!id || !id->is_string() || !secret || !secret->is_string()) {
    return JsonError(400, "ValidationException",
                     R"(The body must be a JSON object {"AccessKeyId": "...", "SecretAccessKey": "..."})");
  }
  const std::string access_key_id(id->as_string());
  auto signed_in = sessions_->SignIn(access_key_id, std::string_view(secret->as_string()), request.remote_address,
                                     clock_.MonotonicNow());
  if (!signed_in.has_value()) {
    switch (signed_in.error().code()) {
      case Code::kThrottled: {
        http::Response r = JsonError(429, "TooManyRequestsException",
                                     "Too many failed sign-ins from this address; wait a minute and try again");
        r.headers.Set("Retry-After", "60");
        return r;
      }
      case Code::kPermissionDenied:
        return JsonError(403, "AccessDeniedException",
                         "The access key ID or secret is wrong (the keys are in <data-dir>/credentials.json on "
                         "the server)");
      default:
        return JsonError(500, "ServiceException", signed_in.error().message());
    }
  }
  auto who = PrincipalOf(access_key_id);
  if (!who) {  // deleted meanwhile
    sessions_->SignOut(*signed_in);
    return JsonError(403, "AccessDeniedException", "The access key ID or secret is wrong");
  }
  http::Response r = http::Response::Json(
      200, boost::json::serialize(boost::json::object{{"AccessKeyId", who->access_key_id},
                                                      {"Policy", PolicyName(who->policy)}}));
  r.headers.Set("Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict", kSessionCookie, *signed_in));
  r.headers.Set("Cache-Control", "no-store");
  return r;
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
