// Authenticator: who sent an API request, and whether they may (issue #8).
//
// Every request to an API on the Nimbus port is verified with SigV4
// (http::VerifySignature) against the access keys of the KeyStore
// (<data>/credentials.json) and the session credentials handed to functions:
// the header form, presigned URLs, and the chunk signatures of S3's aws-chunked
// uploads (decoded here, so the S3 front end sees a plain body). Then the key's
// policy decides: an admin key may do anything, an invoke-only key only invoke
// functions (Invoke, InvokeAsync, InvokeWithResponseStream, and function URLs
// with AuthType AWS_IAM).
//
// Mode kAnyCredentials (`nimbus serve --auth=dev`, loopback only) accepts every
// request as an admin without looking at its signature: for local development
// with clients configured with made-up credentials.
//
// The web console signs in instead (auth::ConsoleSessions): POST
// /console/session with a key's id and secret sets the cookie
// nimbus_session=<token> (HttpOnly, SameSite=Strict), and an unsigned request
// carrying that cookie and the header X-Nimbus-Console: 1 is the key's. The
// custom header is the defence against cross-site requests (a form, an image
// or a script on another origin cannot send it without a CORS preflight, which
// Nimbus never grants), together with SameSite=Strict.
//
// Functions get session credentials (ASIA…, a secret and a session token) made
// for this run of the server: their SDKs sign with them, and so reach the APIs as
// an admin (execution roles' policies are not evaluated).
//
// Thread-safe: Authenticate/Authorize are const and run on the reactor (a few
// HMACs, no I/O); the KeyStore is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/console_sessions.h"
#include "auth/key_store.h"
#include "base/clock.h"
#include "base/status.h"
#include "http/message.h"
#include "http/sigv4.h"

namespace nimbus::auth {

enum class Mode {
  kVerify,          // every API request must carry a valid signature
  kAnyCredentials,  // dev mode: nothing is verified
};

// Who made a request.
struct Principal {
  std::string access_key_id;  // empty when nothing was verified (dev mode)
  Policy policy = Policy::kAdmin;
  bool function = false;  // a function's session credentials
};

// Why a request is refused: what the front end answers, in its protocol.
struct Refusal {
  int status = 403;
  std::string code;     // "InvalidSignatureException", "SignatureDoesNotMatch", "AccessDeniedException", ...
  std::string message;  // AWS's text
  // Extra elements of S3's XML error (CanonicalRequest, StringToSign, ...).
  std::vector<std::pair<std::string, std::string>> details;
};

// Either who it is, or the refusal.
struct AuthOutcome {
  std::optional<Principal> principal;
  Refusal refusal;  // when !principal
  bool ok() const { return principal.has_value(); }
};

struct AuthenticatorOptions {
  Mode mode = Mode::kVerify;
  std::string account_id = "000000000000";
  std::string region = "us-east-1";
};

class Authenticator {
 public:
  // Opens (or creates, with one admin key) the key file and makes this run's
  // function credentials.
  static Result<std::unique_ptr<Authenticator>> Open(const std::filesystem::path& key_file, const Clock& clock,
                                                     AuthenticatorOptions options);
  ~Authenticator();

  // Verifies `request` as signed for `service` (a SigV4 signing name: "lambda",
  // "s3", ...). A verified S3 aws-chunked upload with signed chunks is decoded in
  // place: `request.body` becomes the payload, its trailers become headers,
  // "aws-chunked" leaves Content-Encoding and X-Amz-Content-Sha256 becomes
  // UNSIGNED-PAYLOAD (every chunk was checked here).
  AuthOutcome Authenticate(http::Request& request, std::string_view service) const;

  // Whether `principal` may make `request` of `service`: nullopt when it may,
  // else AccessDenied (invoke-only keys outside invoking functions).
  std::optional<Refusal> Authorize(const Principal& principal, const http::Request& request,
                                   std::string_view service) const;

  // A presigned URL ("http://<host><target>&X-Amz-...") for GET `target`, valid
  // for `expires`, signed with a key only this process knows (what AWS hands out
  // as a function's Code.Location).
  Result<std::string> PresignGet(std::string_view host, std::string_view target,
                                 std::chrono::seconds expires) const;

  // The credentials put into every function's environment.
  const http::AwsCredentials& function_credentials() const { return function_credentials_; }

  Mode mode() const { return options_.mode; }
  KeyStore& keys() { return *keys_; }
  const KeyStore& keys() const { return *keys_; }

  // The console's sign-in, /console/session (public: no signature needed):
  //   POST   {"AccessKeyId","SecretAccessKey"} -> 200 {"AccessKeyId","Policy"}
  //          and Set-Cookie nimbus_session; 403 for a wrong key or secret, 429
  //          after 10 failures from the address in a minute
  //   GET    -> 200 {"AccessKeyId","Policy","Mode":"verify"} for the cookie's
  //          session, {"Mode":"dev"} in dev mode; 401 when not signed in
  //   DELETE -> 204, the session ended and the cookie cleared
  // POST and DELETE need X-Nimbus-Console: 1. Errors are {"__type","message"}.
  static bool IsConsoleSessionRequest(const http::Request& request);
  http::Response HandleConsoleSession(const http::Request& request) const;

  // The console's session cookie and header.
  static constexpr std::string_view kSessionCookie = "nimbus_session";
  static constexpr std::string_view kConsoleHeader = "X-Nimbus-Console";

  // Whether `request` (POST) invokes a function through the Lambda API:
  // .../functions/<name>/invocations, invoke-async or response-streaming-invocations.
  static bool IsInvoke(const http::Request& request);

 private:
  class Lookup;
  AuthOutcome AuthenticateConsole(const http::Request& request, std::string_view service) const;
  // The Principal of key `access_key_id`, or nullopt once it is deleted.
  std::optional<Principal> PrincipalOf(const std::string& access_key_id) const;
  Authenticator(std::unique_ptr<KeyStore> keys, const Clock& clock, AuthenticatorOptions options,
                http::AwsCredentials function_credentials, http::AwsCredentials presign_credentials);

  std::unique_ptr<KeyStore> keys_;
  const Clock& clock_;
  const AuthenticatorOptions options_;
  const http::AwsCredentials function_credentials_;
  const http::AwsCredentials presign_credentials_;  // never leaves the process
  std::unique_ptr<Lookup> lookup_;
  std::unique_ptr<ConsoleSessions> sessions_;  // thread-safe; uses *keys_
};

// Whether `host` (a --listen host) is a loopback address: 127.0.0.0/8, ::1 or
// "localhost". Only such servers may run with Mode::kAnyCredentials.
bool IsLoopbackHost(std::string_view host);

}  // namespace nimbus::auth
