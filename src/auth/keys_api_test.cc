#include "auth/keys_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>

#include "auth/authenticator.h"
#include "base/testing/fake_clock.h"

namespace nimbus::auth {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class KeysApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("keys-api-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto a = Authenticator::Open(dir_ / "credentials.json", clock_, {});
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    auth_ = std::move(*a);
    admin_ = auth_->keys().List().at(0);
    api_ = std::make_unique<KeysApi>(auth_->keys(), pool_, clock_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  http::Response Call(std::string method, std::string target, std::string body = "") {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    EXPECT_TRUE(KeysApi::Matches(r)) << r.target;
    std::promise<http::Response> answer;
    api_->Handle(r, [&](http::Response resp) { answer.set_value(std::move(resp)); });
    auto f = answer.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return f.get();
  }

  // A request signed for "lambda" with `key`, as the CLI signs.
  http::Request Signed(const AccessKey& key, std::string method, std::string target) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.Set("Host", "127.0.0.1:8777");
    http::SigningParams p;
    p.credentials = {key.id, key.secret, ""};
    p.region = "us-east-1";
    p.service = "lambda";
    p.time = clock_.Now();
    EXPECT_TRUE(http::SignRequest(r, p).ok());
    return r;
  }

  static json::object Body(const http::Response& r) { return json::parse(r.body).as_object(); }

  FakeClock clock_;  // 1714564800000
  fs::path dir_;
  BlockingPool pool_{"keys-test", 1};
  std::unique_ptr<Authenticator> auth_;
  AccessKey admin_;
  std::unique_ptr<KeysApi> api_;
};

TEST_F(KeysApiTest, MatchesTheKeysPathAndThePathsBelowIt) {
  http::Request r;
  for (const char* yes :
       {"/nimbus/keys", "/nimbus/keys/", "/nimbus/keys/AKIA1", "/nimbus/keys?x=1"}) {
    r.target = yes;
    EXPECT_TRUE(KeysApi::Matches(r)) << yes;
  }
  for (const char* no : {"/nimbus/keysx", "/nimbus/usage", "/nimbus", "/2015-03-31/functions"}) {
    r.target = no;
    EXPECT_FALSE(KeysApi::Matches(r)) << no;
  }
}

TEST_F(KeysApiTest, ListShowsEveryKeyWithItsPolicyAndCreationTimeButNeverItsSecret) {
  auto invoke = auth_->keys().Create(Policy::kInvoke, 1714564801000);
  ASSERT_TRUE(invoke.has_value());
  http::Response r = Call("GET", "/nimbus/keys");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
  EXPECT_TRUE(r.headers.Has("x-amzn-RequestId"));
  json::array expected;
  for (const AccessKey& k : auth_->keys().List()) {
    expected.push_back(json::object{
        {"AccessKeyId", k.id}, {"Policy", PolicyName(k.policy)}, {"Created", k.created_ms}});
  }
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_EQ(r.body, json::serialize(json::object{{"AccessKeys", expected}}));
  EXPECT_EQ(r.body.find(admin_.secret), std::string::npos);
  EXPECT_EQ(r.body.find(invoke->secret), std::string::npos);
  EXPECT_NE(r.body.find(R"("Created":1714564801000)"), std::string::npos);
}

TEST_F(KeysApiTest, CreateReturnsTheNewKeyWithItsSecretAndDefaultsToAdmin) {
  clock_.Advance(std::chrono::seconds(5));
  for (const char* body : {"", "{}", R"({"Policy":"admin"})"}) {
    http::Response r = Call("POST", "/nimbus/keys", body);
    ASSERT_EQ(r.status, 201) << r.body;
    json::object o = Body(r);
    const std::string id(o.at("AccessKeyId").as_string());
    EXPECT_EQ(o.at("Policy"), "admin") << body;
    EXPECT_EQ(o.at("Created").as_int64(), 1714564805000);
    EXPECT_EQ(o.at("SecretAccessKey").as_string().size(), 40u);
    auto stored = auth_->keys().Find(id);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->secret_access_key, o.at("SecretAccessKey").as_string());
    EXPECT_EQ(auth_->keys().PolicyOf(id), Policy::kAdmin);
  }
  EXPECT_EQ(auth_->keys().List().size(), 4u);
}

TEST_F(KeysApiTest, CreateMakesAnInvokeOnlyKeyThatSurvivesARestart) {
  http::Response r = Call("POST", "/nimbus/keys", R"({"Policy":"invoke"})");
  ASSERT_EQ(r.status, 201) << r.body;
  json::object o = Body(r);
  EXPECT_EQ(o.at("Policy"), "invoke");
  auto reopened = KeyStore::Open(dir_ / "credentials.json", 0);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)->PolicyOf(o.at("AccessKeyId").as_string()), Policy::kInvoke);
}

TEST_F(KeysApiTest, ABodyThatIsNotJsonOrAnUnknownPolicyIsAnInvalidParameterNamingTheValue) {
  const std::pair<const char*, const char*> cases[] = {
      {"not json",
       R"({"Type":"User","message":"the request body is not a JSON object: not json"})"},
      {"[1]", R"({"Type":"User","message":"the request body is not a JSON object: [1]"})"},
      {R"({"Policy":"root"})",
       R"({"Type":"User","message":"Policy \"root\" is not valid: expected \"admin\" or \"invoke\""})"},
      {R"({"Policy":5})",
       R"({"Type":"User","message":"Policy 5 is not valid: expected \"admin\" or \"invoke\""})"},
  };
  for (const auto& [body, expected] : cases) {
    http::Response r = Call("POST", "/nimbus/keys", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), "InvalidParameterValueException");
    EXPECT_EQ(r.body, expected);
  }
  EXPECT_EQ(auth_->keys().List().size(), 1u);
}

TEST_F(KeysApiTest, DeleteRemovesAKeyAndNamesAnUnknownOne) {
  auto invoke = auth_->keys().Create(Policy::kInvoke, 0);
  ASSERT_TRUE(invoke.has_value());
  http::Response r = Call("DELETE", "/nimbus/keys/" + invoke->id);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(auth_->keys().Find(invoke->id).has_value());
  r = Call("DELETE", "/nimbus/keys/" + invoke->id);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(r.body,
            R"({"Type":"User","message":"The access key )" + invoke->id + R"( does not exist"})");
}

TEST_F(KeysApiTest, TheLastAdminKeyIsAConflictWithTheKeyStoresReason) {
  http::Response r = Call("DELETE", "/nimbus/keys/" + admin_.id);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), "ResourceConflictException");
  EXPECT_EQ(r.body, R"({"Type":"User","message":")" + admin_.id +
                        R"( is the last admin key; create another before deleting it"})");
  EXPECT_TRUE(auth_->keys().Find(admin_.id).has_value());
}

TEST_F(KeysApiTest, OtherMethodsAndPathsAreUnknownOperations) {
  for (auto [method, target] :
       {std::pair{"PUT", "/nimbus/keys"}, std::pair{"DELETE", "/nimbus/keys"},
        std::pair{"GET", "/nimbus/keys/AKIA1"}, std::pair{"DELETE", "/nimbus/keys/a/b"}}) {
    http::Response r = Call(method, target);
    EXPECT_EQ(r.status, 404) << method << " " << target;
    EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), "UnknownOperationException");
  }
  EXPECT_EQ(auth_->keys().List().size(), 1u);
}

TEST_F(KeysApiTest, OnlyAdminKeysAreAuthorizedForTheKeysApi) {
  auto invoke = auth_->keys().Create(Policy::kInvoke, 0);
  ASSERT_TRUE(invoke.has_value());
  for (auto [method, target] : {std::pair{"GET", "/nimbus/keys"}, std::pair{"POST", "/nimbus/keys"},
                                std::pair{"DELETE", "/nimbus/keys/AKIA1"}}) {
    http::Request as_invoke = Signed(*invoke, method, target);
    AuthOutcome who = auth_->Authenticate(as_invoke, "lambda");
    ASSERT_TRUE(who.ok()) << who.refusal.message;
    auto denied = auth_->Authorize(*who.principal, as_invoke, "lambda");
    ASSERT_TRUE(denied.has_value()) << method << " " << target;
    EXPECT_EQ(denied->status, 403);
    EXPECT_EQ(denied->code, "AccessDeniedException");

    http::Request as_admin = Signed(admin_, method, target);
    who = auth_->Authenticate(as_admin, "lambda");
    ASSERT_TRUE(who.ok()) << who.refusal.message;
    EXPECT_FALSE(auth_->Authorize(*who.principal, as_admin, "lambda").has_value());
  }
}

TEST_F(KeysApiTest, ADeletedKeyIsRefusedFromItsNextRequestOn) {
  http::Response created = Call("POST", "/nimbus/keys", R"({"Policy":"invoke"})");
  ASSERT_EQ(created.status, 201);
  json::object o = Body(created);
  AccessKey key{std::string(o.at("AccessKeyId").as_string()),
                std::string(o.at("SecretAccessKey").as_string()), Policy::kInvoke, 0};
  http::Request before = Signed(key, "POST", "/2015-03-31/functions/f/invocations");
  ASSERT_TRUE(auth_->Authenticate(before, "lambda").ok());

  ASSERT_EQ(Call("DELETE", "/nimbus/keys/" + key.id).status, 204);
  http::Request after = Signed(key, "POST", "/2015-03-31/functions/f/invocations");
  AuthOutcome who = auth_->Authenticate(after, "lambda");
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.refusal.status, 403);
  EXPECT_EQ(who.refusal.code, "UnrecognizedClientException");
}

}  // namespace
}  // namespace nimbus::auth
