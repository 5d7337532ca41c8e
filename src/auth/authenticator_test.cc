// Authenticator: who sent a request (SigV4 against the key store, this run's
// function credentials and the presigning key), what an invoke-only key may do,
// and the unwrapping of S3 aws-chunked uploads with signed chunks.
#include "auth/authenticator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "base/testing/fake_clock.h"

namespace nimbus::auth {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("authn-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto a = Authenticator::Open(dir_ / "credentials.json", clock_, AuthenticatorOptions{});
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    authn_ = std::move(*a);
    auto keys = authn_->keys().List();
    ASSERT_EQ(keys.size(), 1u);
    admin_ = {keys[0].id, keys[0].secret, ""};
    auto invoke = authn_->keys().Create(Policy::kInvoke, 0);
    ASSERT_TRUE(invoke.has_value()) << invoke.error().ToString();
    invoker_ = {invoke->id, invoke->secret, ""};
  }
  void TearDown() override { fs::remove_all(dir_); }

  http::SigningParams Params(const http::AwsCredentials& creds, std::string service) const {
    http::SigningParams p;
    p.credentials = creds;
    p.region = "us-east-1";
    p.service = std::move(service);
    p.time = clock_.Now();
    return p;
  }

  static http::Request Make(std::string method, std::string target, std::string body = "") {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.Set("Host", "127.0.0.1:8777");
    r.body = std::move(body);
    return r;
  }

  http::Request Signed(std::string method, std::string target, const http::AwsCredentials& creds,
                       std::string service, std::string body = "") const {
    http::Request r = Make(std::move(method), std::move(target), std::move(body));
    EXPECT_TRUE(http::SignRequest(r, Params(creds, std::move(service))).ok());
    return r;
  }

  fs::path dir_;
  FakeClock clock_;
  std::unique_ptr<Authenticator> authn_;
  http::AwsCredentials admin_, invoker_;
};

http::Request Post(std::string target) {
  http::Request r;
  r.method = "POST";
  r.target = std::move(target);
  return r;
}

TEST(AuthenticatorIsInvoke, IsTrueOnlyForThePostsThatInvokeAFunction) {
  EXPECT_TRUE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/invocations")));
  EXPECT_TRUE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/invocations/")));
  EXPECT_TRUE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f%3A1/invocations?Qualifier=2")));
  EXPECT_TRUE(Authenticator::IsInvoke(
      Post("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/"
           "invocations")));
  EXPECT_TRUE(Authenticator::IsInvoke(Post("/2014-11-13/functions/f/invoke-async/")));
  EXPECT_TRUE(Authenticator::IsInvoke(Post("/2014-11-13/functions/f/invoke-async")));
  EXPECT_TRUE(
      Authenticator::IsInvoke(Post("/2021-11-15/functions/f/response-streaming-invocations")));

  http::Request get = Post("/2015-03-31/functions/f/invocations");
  get.method = "GET";
  EXPECT_FALSE(Authenticator::IsInvoke(get));
  // Each operation only under its own API version.
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/invoke-async")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2014-11-13/functions/f/invocations")));
  EXPECT_FALSE(
      Authenticator::IsInvoke(Post("/2015-03-31/functions/f/response-streaming-invocations")));
  // Other function operations, a missing name, extra segments.
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions//invocations")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/configuration")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/policy")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/invocations/x")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/2015-03-31/functions/f/url")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/bucket/2015-03-31/functions/f/invocations")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("2015-03-31/functions/f/invocations")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("/")));
  EXPECT_FALSE(Authenticator::IsInvoke(Post("")));
}

TEST(AuthenticatorIsLoopbackHost, AcceptsOnlyLoopbackAddressesAndLocalhost) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("127.255.255.255"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));

  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("192.168.1.1"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("126.255.255.255"));
  EXPECT_FALSE(IsLoopbackHost("::2"));
  EXPECT_FALSE(IsLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.example.com"));
  EXPECT_FALSE(IsLoopbackHost(""));
}

TEST_F(AuthenticatorTest, AnAdminKeyMayDoAnything) {
  Principal admin{admin_.access_key_id, Policy::kAdmin, false};
  EXPECT_FALSE(authn_->Authorize(admin, Make("GET", "/2015-03-31/functions/"), "lambda"));
  EXPECT_FALSE(authn_->Authorize(admin, Make("DELETE", "/2015-03-31/functions/f"), "lambda"));
  EXPECT_FALSE(authn_->Authorize(admin, Make("GET", "/"), "s3"));
  EXPECT_FALSE(authn_->Authorize(admin, Make("POST", "/"), "sqs"));
  EXPECT_FALSE(
      authn_->Authorize(admin, Make("POST", "/2015-03-31/functions/f/invocations"), "lambda"));
}

TEST_F(AuthenticatorTest, AnInvokeOnlyKeyMayOnlyInvoke) {
  Principal who{invoker_.access_key_id, Policy::kInvoke, false};
  EXPECT_FALSE(
      authn_->Authorize(who, Make("POST", "/2015-03-31/functions/f/invocations"), "lambda"));
  EXPECT_FALSE(
      authn_->Authorize(who, Make("POST", "/2014-11-13/functions/f/invoke-async/"), "lambda"));
  EXPECT_FALSE(authn_->Authorize(
      who, Make("POST", "/2021-11-15/functions/f/response-streaming-invocations"), "lambda"));

  auto list = authn_->Authorize(who, Make("GET", "/2015-03-31/functions/"), "lambda");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 403);
  EXPECT_EQ(list->code, "AccessDeniedException");
  EXPECT_NE(list->message.find("arn:aws:iam::000000000000:user/" + invoker_.access_key_id),
            std::string::npos)
      << list->message;
  EXPECT_NE(list->message.find("invoke-only"), std::string::npos) << list->message;

  auto get = authn_->Authorize(who, Make("GET", "/2015-03-31/functions/f"), "lambda");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->code, "AccessDeniedException");
  // The invoke path is only an invoke for the Lambda API.
  auto s3 = authn_->Authorize(who, Make("POST", "/2015-03-31/functions/f/invocations"), "s3");
  ASSERT_TRUE(s3);
  EXPECT_EQ(s3->code, "AccessDenied");
  auto sqs = authn_->Authorize(who, Make("POST", "/"), "sqs");
  ASSERT_TRUE(sqs);
  EXPECT_EQ(sqs->code, "AccessDenied");
  auto logs = authn_->Authorize(who, Make("POST", "/"), "logs");
  ASSERT_TRUE(logs);
  EXPECT_EQ(logs->code, "AccessDeniedException");
  auto dynamodb = authn_->Authorize(who, Make("POST", "/"), "dynamodb");
  ASSERT_TRUE(dynamodb);
  EXPECT_EQ(dynamodb->code, "AccessDeniedException");
}

TEST_F(AuthenticatorTest, NamesTheSignerAndItsPolicy) {
  http::Request r = Signed("GET", "/2015-03-31/functions/", admin_, "lambda");
  AuthOutcome who = authn_->Authenticate(r, "lambda");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_EQ(who.principal->access_key_id, admin_.access_key_id);
  EXPECT_EQ(who.principal->policy, Policy::kAdmin);
  EXPECT_FALSE(who.principal->function);

  r = Signed("POST", "/2015-03-31/functions/f/invocations", invoker_, "lambda", "{}");
  who = authn_->Authenticate(r, "lambda");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_EQ(who.principal->access_key_id, invoker_.access_key_id);
  EXPECT_EQ(who.principal->policy, Policy::kInvoke);
}

TEST_F(AuthenticatorTest, RefusesUnsignedUnknownAndWronglySignedRequestsInEachServicesWords) {
  http::Request unsigned_lambda = Make("GET", "/2015-03-31/functions/");
  AuthOutcome who = authn_->Authenticate(unsigned_lambda, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.status, 403);
  EXPECT_EQ(who.refusal.code, "MissingAuthenticationToken");
  http::Request unsigned_s3 = Make("GET", "/");
  who = authn_->Authenticate(unsigned_s3, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "AccessDenied");

  http::AwsCredentials unknown{"AKIANOSUCHKEY0000000", admin_.secret_access_key, ""};
  http::Request r = Signed("GET", "/2015-03-31/functions/", unknown, "lambda");
  who = authn_->Authenticate(r, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "UnrecognizedClientException");
  r = Signed("GET", "/", unknown, "s3");
  who = authn_->Authenticate(r, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "InvalidAccessKeyId");

  http::AwsCredentials wrong{admin_.access_key_id, std::string(40, 'x'), ""};
  r = Signed("GET", "/2015-03-31/functions/", wrong, "lambda");
  who = authn_->Authenticate(r, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "InvalidSignatureException");
  r = Signed("GET", "/", wrong, "s3");
  who = authn_->Authenticate(r, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "SignatureDoesNotMatch");
  // S3's error shows what was signed (never the secret).
  bool has_string_to_sign = false;
  for (const auto& [name, value] : who.refusal.details) {
    if (name == "StringToSign") has_string_to_sign = true;
    EXPECT_EQ(value.find(admin_.secret_access_key), std::string::npos) << name;
  }
  EXPECT_TRUE(has_string_to_sign);
}

// Signing keys are cached per key, secret, day, region and service: what was
// derived for one must never verify another.
TEST_F(AuthenticatorTest, CachedSigningKeysNeverVerifyAnotherSecretDayOrService) {
  for (int i = 0; i < 3; ++i) {
    http::Request r = Signed("GET", "/2015-03-31/functions/", admin_, "lambda");
    ASSERT_TRUE(authn_->Authenticate(r, "lambda").ok()) << i;
  }
  http::AwsCredentials wrong{admin_.access_key_id, std::string(40, 'x'), ""};
  http::Request bad = Signed("GET", "/2015-03-31/functions/", wrong, "lambda");
  EXPECT_EQ(authn_->Authenticate(bad, "lambda").refusal.code, "InvalidSignatureException");
  // Signed for sqs but checked as lambda: the scope is refused, whatever is cached.
  http::Request other = Signed("GET", "/2015-03-31/functions/", admin_, "sqs");
  EXPECT_FALSE(authn_->Authenticate(other, "lambda").ok());
  // The next day derives a new key, and it verifies.
  clock_.Advance(std::chrono::hours(24));
  http::Request tomorrow = Signed("GET", "/2015-03-31/functions/", admin_, "lambda");
  EXPECT_TRUE(authn_->Authenticate(tomorrow, "lambda").ok());
  // A deleted key is refused though its signing key is cached.
  http::Request as_invoker = Signed("GET", "/2015-03-31/functions/", invoker_, "lambda");
  ASSERT_TRUE(authn_->Authenticate(as_invoker, "lambda").ok());
  ASSERT_TRUE(authn_->keys().Delete(invoker_.access_key_id).ok());
  http::Request after = Signed("GET", "/2015-03-31/functions/", invoker_, "lambda");
  EXPECT_EQ(authn_->Authenticate(after, "lambda").refusal.code, "UnrecognizedClientException");
}

TEST_F(AuthenticatorTest, ASignatureMayBeUpToFifteenMinutesOff) {
  http::Request ten = Make("GET", "/2015-03-31/functions/");
  auto p = Params(admin_, "lambda");
  p.time = clock_.Now() - 10min;
  ASSERT_TRUE(http::SignRequest(ten, p).ok());
  EXPECT_TRUE(authn_->Authenticate(ten, "lambda").ok());

  http::Request twenty = Make("GET", "/2015-03-31/functions/");
  p.time = clock_.Now() - 20min;
  ASSERT_TRUE(http::SignRequest(twenty, p).ok());
  AuthOutcome who = authn_->Authenticate(twenty, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "InvalidSignatureException");
  EXPECT_NE(who.refusal.message.find("Signature expired"), std::string::npos)
      << who.refusal.message;
}

TEST_F(AuthenticatorTest, APresignedCodeLocationVerifiesUntilItExpires) {
  auto url = authn_->PresignGet("127.0.0.1:8777", "/nimbus/code/abc.zip", 600s);
  ASSERT_TRUE(url.has_value()) << url.error().ToString();
  const std::string prefix =
      "http://127.0.0.1:8777/nimbus/code/abc.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&";
  ASSERT_EQ(url->substr(0, prefix.size()), prefix) << *url;
  EXPECT_NE(url->find("X-Amz-Expires=600"), std::string::npos) << *url;
  // Signed with a key of its own, not one of the store's.
  EXPECT_EQ(url->find(admin_.access_key_id), std::string::npos) << *url;
  const std::string target = url->substr(std::string("http://127.0.0.1:8777").size());

  http::Request get = Make("GET", target);
  AuthOutcome who = authn_->Authenticate(get, "lambda");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_FALSE(who.principal->function);

  // Another host, method or path is not what was signed.
  http::Request other_host = get;
  other_host.headers.Set("Host", "evil.example:8777");
  EXPECT_FALSE(authn_->Authenticate(other_host, "lambda").ok());
  http::Request other_path =
      Make("GET", std::regex_replace(target, std::regex("abc\\.zip"), "abd.zip"));
  EXPECT_FALSE(authn_->Authenticate(other_path, "lambda").ok());
  http::Request other_method = get;
  other_method.method = "DELETE";
  EXPECT_FALSE(authn_->Authenticate(other_method, "lambda").ok());
  // A signature with one character changed.
  std::string tampered = target;
  const size_t sig = tampered.find("X-Amz-Signature=") + std::string("X-Amz-Signature=").size();
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  http::Request bad = Make("GET", tampered);
  AuthOutcome refused = authn_->Authenticate(bad, "lambda");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal.code, "InvalidSignatureException");

  clock_.Advance(601s);
  http::Request late = Make("GET", target);
  refused = authn_->Authenticate(late, "lambda");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal.status, 403);
  EXPECT_NE(refused.refusal.message.find("expired"), std::string::npos) << refused.refusal.message;
}

TEST_F(AuthenticatorTest, FunctionCredentialsAreSessionCredentialsThatNeedTheirToken) {
  const http::AwsCredentials& fn = authn_->function_credentials();
  EXPECT_TRUE(std::regex_match(fn.access_key_id, std::regex("ASIA[A-Z2-7]{16}")))
      << fn.access_key_id;
  EXPECT_EQ(fn.secret_access_key.size(), 40u);
  EXPECT_FALSE(fn.session_token.empty());
  EXPECT_FALSE(authn_->keys().Find(fn.access_key_id).has_value()) << "not in the key file";

  http::Request r = Signed("GET", "/2015-03-31/functions/", fn, "lambda");
  EXPECT_TRUE(r.headers.Has("X-Amz-Security-Token"));
  AuthOutcome who = authn_->Authenticate(r, "lambda");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_TRUE(who.principal->function);
  EXPECT_EQ(who.principal->policy, Policy::kAdmin);
  EXPECT_EQ(who.principal->access_key_id, fn.access_key_id);
  r = Signed("GET", "/", fn, "s3");
  EXPECT_TRUE(authn_->Authenticate(r, "s3").ok());

  http::AwsCredentials no_token{fn.access_key_id, fn.secret_access_key, ""};
  r = Signed("GET", "/2015-03-31/functions/", no_token, "lambda");
  who = authn_->Authenticate(r, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "UnrecognizedClientException");
  http::AwsCredentials wrong_token{fn.access_key_id, fn.secret_access_key, "bm90IHRoZSB0b2tlbg=="};
  r = Signed("GET", "/2015-03-31/functions/", wrong_token, "lambda");
  EXPECT_FALSE(authn_->Authenticate(r, "lambda").ok());
  http::AwsCredentials wrong_secret{fn.access_key_id, std::string(40, 'y'), fn.session_token};
  r = Signed("GET", "/2015-03-31/functions/", wrong_secret, "lambda");
  who = authn_->Authenticate(r, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "InvalidSignatureException");
  // A long-term key does not become valid with a token.
  http::AwsCredentials admin_with_token{admin_.access_key_id, admin_.secret_access_key,
                                        fn.session_token};
  r = Signed("GET", "/2015-03-31/functions/", admin_with_token, "lambda");
  EXPECT_FALSE(authn_->Authenticate(r, "lambda").ok());
}

TEST(AuthenticatorFunctionCredentials, AreNewForEveryRunOfTheServer) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("authn-runs-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  FakeClock clock;
  auto first = Authenticator::Open(dir / "credentials.json", clock, {});
  auto second = Authenticator::Open(dir / "credentials.json", clock, {});
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_NE((*first)->function_credentials().access_key_id,
            (*second)->function_credentials().access_key_id);
  EXPECT_NE((*first)->function_credentials().session_token,
            (*second)->function_credentials().session_token);
  // ... and the earlier run's are not accepted by the next.
  http::Request r;
  r.method = "GET";
  r.target = "/2015-03-31/functions/";
  r.headers.Set("Host", "127.0.0.1");
  http::SigningParams p;
  p.credentials = (*first)->function_credentials();
  p.region = "us-east-1";
  p.service = "lambda";
  p.time = clock.Now();
  ASSERT_TRUE(http::SignRequest(r, p).ok());
  EXPECT_TRUE((*first)->Authenticate(r, "lambda").ok());
  EXPECT_FALSE((*second)->Authenticate(r, "lambda").ok());
  fs::remove_all(dir);
}

TEST(AuthenticatorDevMode, AcceptsAnythingAsAnAdmin) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("authn-dev-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  FakeClock clock;
  AuthenticatorOptions o;
  o.mode = Mode::kAnyCredentials;
  auto a = Authenticator::Open(dir / "credentials.json", clock, o);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)->mode(), Mode::kAnyCredentials);
  http::Request r;
  r.method = "DELETE";
  r.target = "/2015-03-31/functions/f";
  r.headers.Set("Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request, "
                "SignedHeaders=host, Signature=abc");
  AuthOutcome who = (*a)->Authenticate(r, "lambda");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who.principal->policy, Policy::kAdmin);
  EXPECT_FALSE((*a)->Authorize(*who.principal, r, "lambda"));
  http::Request bare;
  bare.method = "GET";
  bare.target = "/";
  EXPECT_TRUE((*a)->Authenticate(bare, "s3").ok());
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------
// S3 uploads in aws-chunked encoding with signed chunks.

// A PUT of `chunks` to /bucket/key, signed as the SDKs sign a streaming upload
// (seed signature, then each chunk's signature chained from it; with
// `trailers`, the -TRAILER variant and a signed trailer block).
struct ChunkedUpload {
  http::Request request;
  std::string seed;
};

ChunkedUpload SignedChunked(const http::AwsCredentials& creds,
                            std::chrono::system_clock::time_point now,
                            const std::vector<std::string>& chunks,
                            const std::vector<std::pair<std::string, std::string>>& trailers = {},
                            std::string content_encoding = "aws-chunked") {
  ChunkedUpload u;
  http::Request& r = u.request;
  r.method = "PUT";
  r.target = "/bucket/key";
  r.headers.Set("Host", "127.0.0.1:8777");
  r.headers.Set("Content-Encoding", std::move(content_encoding));
  size_t total = 0;
  for (const auto& c : chunks) total += c.size();
  r.headers.Set("x-amz-decoded-content-length", std::to_string(total));
  if (!trailers.empty()) {
    std::string names;
    for (const auto& [name, value] : trailers) names += (names.empty() ? "" : ",") + name;
    r.headers.Set("x-amz-trailer", names);
  }
  http::SigningParams p;
  p.credentials = creds;
  p.region = "us-east-1";
  p.service = "s3";
  p.time = now;
  p.payload_hash = std::string(trailers.empty() ? http::kStreamingSignedPayload
                                                : http::kStreamingSignedPayloadTrailer);
  EXPECT_TRUE(http::SignRequest(r, p).ok());
  const std::string auth(r.headers.Get("Authorization").value_or(""));
  u.seed = auth.substr(auth.find("Signature=") + 10);
  const std::string amz_date(r.headers.Get("X-Amz-Date").value_or(""));
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/us-east-1/s3/aws4_request";
  const std::string key = http::SigV4SigningKey(creds.secret_access_key, date, "us-east-1", "s3");
  std::string previous = u.seed;
  for (size_t i = 0; i <= chunks.size(); ++i) {
    const std::string data = i < chunks.size() ? chunks[i] : "";
    previous = http::SigV4ChunkSignature(key, amz_date, scope, previous, data);
    r.body += fmt::format("{:x};chunk-signature={}\r\n", data.size(), previous);
    if (!data.empty()) r.body += data + "\r\n";
  }
  if (!trailers.empty()) {
    std::string canonical;
    for (const auto& [name, value] : trailers) {
      r.body += name + ":" + value + "\r\n";
      canonical += name + ":" + value + "\n";
    }
    r.body += "x-amz-trailer-signature:" +
              http::SigV4TrailerSignature(key, amz_date, scope, previous, canonical) + "\r\n";
  }
  r.body += "\r\n";
  return u;
}

TEST_F(AuthenticatorTest, ASignedChunkedUploadBecomesAPlainOne) {
  ChunkedUpload u = SignedChunked(admin_, clock_.Now(), {std::string(8192, 'a'), "tail"});
  AuthOutcome who = authn_->Authenticate(u.request, "s3");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_EQ(who.principal->access_key_id, admin_.access_key_id);
  EXPECT_EQ(u.request.body, std::string(8192, 'a') + "tail");
  EXPECT_FALSE(u.request.headers.Has("Content-Encoding"))
      << "aws-chunked is gone, and nothing else was there";
  EXPECT_EQ(u.request.headers.Get("x-amz-content-sha256").value_or(""), http::kUnsignedPayload);
}

TEST_F(AuthenticatorTest, OtherContentEncodingsStayAndTrailersBecomeHeaders) {
  ChunkedUpload u = SignedChunked(admin_, clock_.Now(), {"hello ", "world"},
                                  {{"x-amz-checksum-crc32", "DUoRhQ=="}}, "gzip, aws-chunked");
  AuthOutcome who = authn_->Authenticate(u.request, "s3");
  ASSERT_TRUE(who.ok()) << who.refusal.code << ": " << who.refusal.message;
  EXPECT_EQ(u.request.body, "hello world");
  EXPECT_EQ(u.request.headers.Get("Content-Encoding").value_or("<none>"), "gzip");
  EXPECT_EQ(u.request.headers.Get("x-amz-checksum-crc32").value_or(""), "DUoRhQ==");
  EXPECT_FALSE(u.request.headers.Has("x-amz-trailer-signature"));

  ChunkedUpload first = SignedChunked(admin_, clock_.Now(), {"x"}, {}, "aws-chunked,br");
  ASSERT_TRUE(authn_->Authenticate(first.request, "s3").ok());
  EXPECT_EQ(first.request.headers.Get("Content-Encoding").value_or("<none>"), "br");
}

TEST_F(AuthenticatorTest, AChunkWithAWrongSignatureIsRefusedAndTheBodyKept) {
  ChunkedUpload u = SignedChunked(admin_, clock_.Now(), {"first chunk", "second chunk"});
  const std::string raw = u.request.body;
  // Alter the second chunk's signature.
  const size_t second = raw.find("chunk-signature=", raw.find("chunk-signature=") + 1) + 16;
  std::string altered = raw;
  altered[second] = altered[second] == 'a' ? 'b' : 'a';
  u.request.body = altered;
  AuthOutcome who = authn_->Authenticate(u.request, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.status, 403);
  EXPECT_EQ(who.refusal.code, "SignatureDoesNotMatch");
  EXPECT_EQ(u.request.body, altered) << "nothing decoded";
  EXPECT_EQ(u.request.headers.Get("Content-Encoding").value_or(""), "aws-chunked");

  // Altered data under the right signatures is just as wrong.
  ChunkedUpload v = SignedChunked(admin_, clock_.Now(), {"first chunk"});
  v.request.body.replace(v.request.body.find("first"), 5, "FIRST");
  who = authn_->Authenticate(v.request, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "SignatureDoesNotMatch");
}

TEST_F(AuthenticatorTest, ADecodedLengthOtherThanDeclaredIsRefused) {
  // Five bytes of chunks under a signed x-amz-decoded-content-length of 6.
  ChunkedUpload u = SignedChunked(admin_, clock_.Now(), {"12345"});
  http::Request& r = u.request;
  r.headers.Set("x-amz-decoded-content-length", "6");
  http::SigningParams p;
  p.credentials = admin_;
  p.region = "us-east-1";
  p.service = "s3";
  p.time = clock_.Now();
  p.payload_hash = std::string(http::kStreamingSignedPayload);
  ASSERT_TRUE(http::SignRequest(r, p).ok());
  // Re-sign the body's chunks from the new seed.
  const std::string auth(r.headers.Get("Authorization").value_or(""));
  const std::string seed = auth.substr(auth.find("Signature=") + 10);
  const std::string amz_date(r.headers.Get("X-Amz-Date").value_or(""));
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/us-east-1/s3/aws4_request";
  const std::string key = http::SigV4SigningKey(admin_.secret_access_key, date, "us-east-1", "s3");
  const std::string s1 = http::SigV4ChunkSignature(key, amz_date, scope, seed, "12345");
  const std::string s2 = http::SigV4ChunkSignature(key, amz_date, scope, s1, "");
  r.body = "5;chunk-signature=" + s1 + "\r\n12345\r\n0;chunk-signature=" + s2 + "\r\n\r\n";
  AuthOutcome who = authn_->Authenticate(r, "s3");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.status, 400);
  EXPECT_EQ(who.refusal.code, "IncompleteBody");
}

TEST_F(AuthenticatorTest, AnUnsignedPayloadUploadIsNotDecodedHere) {
  http::Request r = Make("PUT", "/bucket/key", "plain body");
  auto p = Params(admin_, "s3");
  p.payload_hash = std::string(http::kUnsignedPayload);
  ASSERT_TRUE(http::SignRequest(r, p).ok());
  ASSERT_TRUE(authn_->Authenticate(r, "s3").ok());
  EXPECT_EQ(r.body, "plain body");
}

}  // namespace
}  // namespace nimbus::auth
