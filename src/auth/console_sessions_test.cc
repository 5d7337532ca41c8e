// ConsoleSessions: the console's sign-ins, and how the Authenticator accepts
// them (the cookie with X-Nimbus-Console: 1) and serves /console/session.
#include "auth/console_sessions.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <regex>

#include "auth/authenticator.h"
#include "base/testing/fake_clock.h"

namespace nimbus::auth {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path TestDir(std::string_view kind) {
  fs::path dir = fs::path(::testing::TempDir()) /
                 (std::string(kind) + "-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

class ConsoleSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = KeyStore::Open(TestDir("sessions") / "credentials.json", 0);
    ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
    keys_ = std::move(*keys);
    admin_ = keys_->List().front();
  }

  std::unique_ptr<KeyStore> keys_;
  AccessKey admin_;
  const ConsoleSessions::TimePoint t0_{std::chrono::hours(1000)};
};

TEST_F(ConsoleSessionsTest, TheRightSecretGivesARandomUrlSafeTokenForTheKey) {
  ConsoleSessions sessions(*keys_);
  auto token = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  EXPECT_TRUE(std::regex_match(*token, std::regex("[A-Za-z0-9_-]{43}"))) << *token;  // 32 bytes, base64url
  EXPECT_EQ(sessions.Find(*token, t0_ + 1s), admin_.id);
  auto again = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(*again, *token);
  EXPECT_EQ(sessions.size(), 2u);
}

TEST_F(ConsoleSessionsTest, AWrongSecretOrUnknownKeyIsRefusedAlike) {
  ConsoleSessions sessions(*keys_);
  std::string wrong = admin_.secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (auto [id, secret] : {std::pair<std::string, std::string>{admin_.id, wrong},
                            {admin_.id, admin_.secret.substr(1)},
                            {admin_.id, ""},
                            {"AKIANOSUCHKEY0000000", admin_.secret}}) {
    auto token = sessions.SignIn(id, secret, "127.0.0.1", t0_);
    ASSERT_FALSE(token.has_value()) << id << " " << secret;
    EXPECT_EQ(token.error().code(), Code::kPermissionDenied);
    EXPECT_EQ(token.error().message(), "the access key ID or secret is wrong");
  }
  EXPECT_EQ(sessions.size(), 0u);
}

TEST_F(ConsoleSessionsTest, ASessionLastsTwelveHours) {
  ConsoleSessions sessions(*keys_);
  auto token = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(sessions.Find(*token, t0_ + 12h - 1s), admin_.id);
  EXPECT_EQ(sessions.Find(*token, t0_ + 12h), std::nullopt);
  EXPECT_EQ(sessions.size(), 0u) << "an expired session is forgotten";
}

TEST_F(ConsoleSessionsTest, SigningOutEndsTheSessionOnly) {
  ConsoleSessions sessions(*keys_);
  auto a = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  auto b = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  ASSERT_TRUE(a.has_value() && b.has_value());
  sessions.SignOut(*a);
  sessions.SignOut("not-a-token");
  EXPECT_EQ(sessions.Find(*a, t0_), std::nullopt);
  EXPECT_EQ(sessions.Find(*b, t0_), admin_.id);
}

TEST_F(ConsoleSessionsTest, UnknownTokensAreNotFound) {
  ConsoleSessions sessions(*keys_);
  EXPECT_EQ(sessions.Find("", t0_), std::nullopt);
  EXPECT_EQ(sessions.Find("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", t0_), std::nullopt);
}

TEST_F(ConsoleSessionsTest, DeletingTheKeyEndsItsSessions) {
  auto invoke = keys_->Create(Policy::kInvoke, 0);
  ASSERT_TRUE(invoke.has_value());
  ConsoleSessions sessions(*keys_);
  auto token = sessions.SignIn(invoke->id, invoke->secret, "127.0.0.1", t0_);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(sessions.Find(*token, t0_), invoke->id);
  ASSERT_TRUE(keys_->Delete(invoke->id).ok());
  EXPECT_EQ(sessions.Find(*token, t0_), std::nullopt);
  EXPECT_EQ(sessions.size(), 0u);
}

TEST_F(ConsoleSessionsTest, TheTableIsBoundedAndEvictsTheOldest) {
  ConsoleSessionsOptions options;
  options.max_sessions = 3;
  ConsoleSessions sessions(*keys_, options);
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    auto token = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_ + i * 1s);
    ASSERT_TRUE(token.has_value());
    tokens.push_back(*token);
    EXPECT_LE(sessions.size(), 3u);
  }
  EXPECT_EQ(sessions.Find(tokens[0], t0_ + 10s), std::nullopt);
  EXPECT_EQ(sessions.Find(tokens[1], t0_ + 10s), std::nullopt);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(sessions.Find(tokens[i], t0_ + 10s), admin_.id) << i;
}

TEST_F(ConsoleSessionsTest, SigningOutAndInAgainDoesNotGrowTheTable) {
  ConsoleSessions sessions(*keys_);
  auto kept = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
  ASSERT_TRUE(kept.has_value());
  for (int i = 0; i < 100; ++i) {
    auto token = sessions.SignIn(admin_.id, admin_.secret, "127.0.0.1", t0_);
    ASSERT_TRUE(token.has_value());
    sessions.SignOut(*token);
  }
  EXPECT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions.Find(*kept, t0_), admin_.id);
}

TEST_F(ConsoleSessionsTest, TenFailuresAMinuteFromOneAddressAreThrottled) {
  ConsoleSessions sessions(*keys_);
  for (int i = 0; i < 10; ++i) {
    auto failed = sessions.SignIn(admin_.id, "wrong", "10.0.0.1", t0_ + i * 1s);
    ASSERT_EQ(failed.error().code(), Code::kPermissionDenied) << i;
  }
  // Even the right secret is refused from that address for the rest of the minute...
  auto throttled = sessions.SignIn(admin_.id, admin_.secret, "10.0.0.1", t0_ + 30s);
  ASSERT_FALSE(throttled.has_value());
  EXPECT_EQ(throttled.error().code(), Code::kThrottled);
  // ...not from another one,
  EXPECT_TRUE(sessions.SignIn(admin_.id, admin_.secret, "10.0.0.2", t0_ + 30s).has_value());
  // and once the minute is over it may try again.
  EXPECT_TRUE(sessions.SignIn(admin_.id, admin_.secret, "10.0.0.1", t0_ + 61s).has_value());
}

TEST_F(ConsoleSessionsTest, TheFailureCountsAreBounded) {
  ConsoleSessionsOptions options;
  options.max_failing_addresses = 4;
  ConsoleSessions sessions(*keys_, options);
  for (int i = 0; i < 100; ++i) {
    (void)sessions.SignIn(admin_.id, "wrong", "10.0.0." + std::to_string(i), t0_);
  }
  // Nothing to observe but that it still works and memory stayed small; the
  // latest address still counts.
  for (int i = 0; i < 9; ++i) (void)sessions.SignIn(admin_.id, "wrong", "10.0.0.99", t0_);
  EXPECT_EQ(sessions.SignIn(admin_.id, admin_.secret, "10.0.0.99", t0_).error().code(), Code::kThrottled);
}

// ---- through the Authenticator ----

class ConsoleSignInTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = Authenticator::Open(TestDir("console-signin") / "credentials.json", clock_, AuthenticatorOptions{});
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    authn_ = std::move(*a);
    admin_ = authn_->keys().List().front();
  }

  static http::Request Session(std::string method, std::string body = "", bool console_header = true) {
    http::Request r;
    r.method = std::move(method);
    r.target = "/console/session";
    r.body = std::move(body);
    r.remote_address = "127.0.0.1";
    if (console_header) r.headers.Set("X-Nimbus-Console", "1");
    return r;
  }

  static std::string SignInBody(std::string_view id, std::string_view secret) {
    return boost::json::serialize(boost::json::object{{"AccessKeyId", id}, {"SecretAccessKey", secret}});
  }

  // The token of a Set-Cookie header, checking its attributes.
  static std::string TokenOf(const http::Response& r) {
    const std::string cookie(r.headers.Get("Set-Cookie").value_or(""));
    std::smatch m;
    EXPECT_TRUE(std::regex_match(cookie, m, std::regex("nimbus_session=([A-Za-z0-9_-]+); Path=/; HttpOnly; SameSite=Strict")))
        << cookie;
    return m.size() > 1 ? m[1].str() : "";
  }

  static http::Request ListFunctions(std::string_view token, bool console_header = true) {
    http::Request r;
    r.method = "GET";
    r.target = "/2015-03-31/functions/";
    if (!token.empty()) r.headers.Set("Cookie", "theme=dark; nimbus_session=" + std::string(token) + "; x=y");
    if (console_header) r.headers.Set("X-Nimbus-Console", "1");
    return r;
  }

  FakeClock clock_;
  std::unique_ptr<Authenticator> authn_;
  AccessKey admin_;
};

TEST_F(ConsoleSignInTest, SigningInSetsAStrictHttpOnlyCookieThatAuthenticatesConsoleRequests) {
  http::Response r = authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret)));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(boost::json::parse(r.body), (boost::json::object{{"AccessKeyId", admin_.id}, {"Policy", "admin"}}));
  const std::string token = TokenOf(r);
  ASSERT_FALSE(token.empty());

  http::Request list = ListFunctions(token);
  AuthOutcome who = authn_->Authenticate(list, "lambda");
  ASSERT_TRUE(who.ok()) << who.refusal.message;
  EXPECT_EQ(who.principal->access_key_id, admin_.id);
  EXPECT_EQ(who.principal->policy, Policy::kAdmin);
  EXPECT_FALSE(who.principal->function);

  http::Request get = Session("GET", "", false);
  get.headers.Set("Cookie", "nimbus_session=" + token);
  http::Response status = authn_->HandleConsoleSession(get);
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(boost::json::parse(status.body),
            (boost::json::object{{"AccessKeyId", admin_.id}, {"Policy", "admin"}, {"Mode", "verify"}}));
}

TEST_F(ConsoleSignInTest, AnInvokeOnlyKeySignsInWithItsPolicy) {
  auto invoke = authn_->keys().Create(Policy::kInvoke, 0);
  ASSERT_TRUE(invoke.has_value());
  http::Response r = authn_->HandleConsoleSession(Session("POST", SignInBody(invoke->id, invoke->secret)));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(boost::json::parse(r.body).at("Policy"), "invoke");
  http::Request list = ListFunctions(TokenOf(r));
  AuthOutcome who = authn_->Authenticate(list, "lambda");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who.principal->policy, Policy::kInvoke);
  EXPECT_TRUE(authn_->Authorize(*who.principal, list, "lambda").has_value()) << "listing is not invoking";
}

TEST_F(ConsoleSignInTest, AWrongSecretIsA403WithoutACookie) {
  http::Response r = authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, "nope")));
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.headers.Has("Set-Cookie"));
  EXPECT_NE(r.body.find("The access key ID or secret is wrong"), std::string::npos) << r.body;
  http::Response unknown = authn_->HandleConsoleSession(Session("POST", SignInBody("AKIANOSUCHKEY0000000", "x")));
  EXPECT_EQ(unknown.status, 403);
  EXPECT_EQ(boost::json::parse(unknown.body).at("message"), boost::json::parse(r.body).at("message"));
}

TEST_F(ConsoleSignInTest, ABodyThatIsNotTheKeyPairIsA400) {
  for (const char* body : {"", "{", "[]", R"({"AccessKeyId":"a"})", R"({"AccessKeyId":1,"SecretAccessKey":"b"})"}) {
    EXPECT_EQ(authn_->HandleConsoleSession(Session("POST", body)).status, 400) << body;
  }
}

TEST_F(ConsoleSignInTest, TooManyFailuresAre429) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, "nope"))).status, 403);
  }
  http::Response r = authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret)));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.Get("Retry-After"), "60");
  clock_.Advance(61s);
  EXPECT_EQ(authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret))).status, 200);
}

TEST_F(ConsoleSignInTest, ChangesNeedTheConsoleHeader) {
  http::Response r = authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret), false));
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.headers.Has("Set-Cookie"));
  EXPECT_NE(r.body.find("X-Nimbus-Console: 1"), std::string::npos) << r.body;
  EXPECT_EQ(authn_->HandleConsoleSession(Session("DELETE", "", false)).status, 403);
  EXPECT_EQ(authn_->HandleConsoleSession(Session("PUT")).status, 405);
}

TEST_F(ConsoleSignInTest, TheCookieWithoutTheConsoleHeaderIsNotEnough) {
  const std::string token =
      TokenOf(authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret))));
  http::Request list = ListFunctions(token, /*console_header=*/false);
  AuthOutcome who = authn_->Authenticate(list, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.code, "MissingAuthenticationToken");
}

TEST_F(ConsoleSignInTest, ABadOrExpiredSessionIsRefusedAskingToSignInAgain) {
  const std::string token =
      TokenOf(authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret))));
  for (std::string_view bad : {std::string_view(), std::string_view("forged")}) {
    http::Request list = ListFunctions(bad);
    AuthOutcome who = authn_->Authenticate(list, "lambda");
    ASSERT_FALSE(who.ok());
    EXPECT_EQ(who.refusal.status, 403);
    EXPECT_EQ(who.refusal.code, "ExpiredTokenException");
    EXPECT_EQ(who.refusal.message, "The console session has expired or is not valid; sign in again");
  }
  clock_.Advance(12h);
  http::Request list = ListFunctions(token);
  EXPECT_FALSE(authn_->Authenticate(list, "lambda").ok());
  http::Request s3 = ListFunctions(token);
  EXPECT_EQ(authn_->Authenticate(s3, "s3").refusal.code, "ExpiredToken");
  http::Request get = Session("GET");
  get.headers.Set("Cookie", "nimbus_session=" + token);
  EXPECT_EQ(authn_->HandleConsoleSession(get).status, 401);
}

TEST_F(ConsoleSignInTest, SigningOutEndsTheSessionAndClearsTheCookie) {
  const std::string token =
      TokenOf(authn_->HandleConsoleSession(Session("POST", SignInBody(admin_.id, admin_.secret))));
  http::Request out = Session("DELETE");
  out.headers.Set("Cookie", "nimbus_session=" + token);
  http::Response r = authn_->HandleConsoleSession(out);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers.Get("Set-Cookie"), "nimbus_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  http::Request list = ListFunctions(token);
  EXPECT_FALSE(authn_->Authenticate(list, "lambda").ok());
}

TEST_F(ConsoleSignInTest, NotSignedInIs401AndDevModeSaysSo) {
  EXPECT_EQ(authn_->HandleConsoleSession(Session("GET")).status, 401);
  FakeClock clock;
  AuthenticatorOptions dev;
  dev.mode = Mode::kAnyCredentials;
  auto a = Authenticator::Open(TestDir("console-dev") / "credentials.json", clock, dev);
  ASSERT_TRUE(a.has_value());
  http::Response r = (*a)->HandleConsoleSession(Session("GET"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(boost::json::parse(r.body), (boost::json::object{{"Mode", "dev"}}));
}

TEST_F(ConsoleSignInTest, OnlyItsPathIsTheSessionEndpoint) {
  http::Request r = Session("GET");
  EXPECT_TRUE(Authenticator::IsConsoleSessionRequest(r));
  r.target = "/console/session?x=1";
  EXPECT_TRUE(Authenticator::IsConsoleSessionRequest(r));
  r.target = "/console/sessions";
  EXPECT_FALSE(Authenticator::IsConsoleSessionRequest(r));
  r.target = "/console/";
  EXPECT_FALSE(Authenticator::IsConsoleSessionRequest(r));
}

}  // namespace
}  // namespace nimbus::auth
