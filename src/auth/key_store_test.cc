#include "auth/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>

namespace nimbus::auth {
namespace {

namespace fs = std::filesystem;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("keys-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ / "credentials.json";
  }
  fs::path dir_, file_;
};

TEST_F(KeyStoreTest, FirstOpenCreatesOneAdminKeyInAPrivateFile) {
  auto s = KeyStore::Open(file_, 1000);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_TRUE((*s)->created());
  auto keys = (*s)->List();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_TRUE(std::regex_match(keys[0].id, std::regex("AKIA[A-Z2-7]{16}"))) << keys[0].id;
  EXPECT_EQ(keys[0].secret.size(), 40u);
  EXPECT_EQ(keys[0].policy, Policy::kAdmin);
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto found = (*s)->Find(keys[0].id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->secret_access_key, keys[0].secret);
  EXPECT_FALSE((*s)->Find("AKIANOSUCHKEY0000000").has_value());
}

TEST_F(KeyStoreTest, KeysSurviveReopeningAndAreNotRecreated) {
  auto first = KeyStore::Open(file_, 1000);
  ASSERT_TRUE(first.has_value());
  auto invoke = (*first)->Create(Policy::kInvoke, 2000);
  ASSERT_TRUE(invoke.has_value());
  auto again = KeyStore::Open(file_, 3000);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE((*again)->created());
  EXPECT_EQ((*again)->List().size(), 2u);
  EXPECT_EQ((*again)->PolicyOf(invoke->id), Policy::kInvoke);
  EXPECT_EQ((*again)->Find(invoke->id)->secret_access_key, invoke->secret);
}

TEST_F(KeyStoreTest, EveryKeyIsDifferent) {
  auto s = KeyStore::Open(file_, 0);
  ASSERT_TRUE(s.has_value());
  std::set<std::string> ids, secrets;
  for (int i = 0; i < 50; ++i) {
    auto k = (*s)->Create(Policy::kInvoke, i);
    ASSERT_TRUE(k.has_value());
    ids.insert(k->id);
    secrets.insert(k->secret);
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(secrets.size(), 50u);
}

TEST_F(KeyStoreTest, TheLastAdminKeyCannotBeDeleted) {
  auto s = KeyStore::Open(file_, 0);
  ASSERT_TRUE(s.has_value());
  const std::string admin = (*s)->List()[0].id;
  EXPECT_EQ((*s)->Delete(admin).code(), Code::kFailedPrecondition);
  auto second = (*s)->Create(Policy::kAdmin, 1);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE((*s)->Delete(admin).ok());
  EXPECT_FALSE((*s)->Find(admin).has_value());
  EXPECT_EQ((*s)->Delete(admin).code(), Code::kNotFound);
  auto reopened = KeyStore::Open(file_, 2);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_FALSE((*reopened)->Find(admin).has_value());
}

TEST_F(KeyStoreTest, AFileThatIsNotAKeyListIsRefusedAndLeftAlone) {
  for (const char* text : {"not json", R"({"Keys":[]})", R"({"AccessKeys":[{"AccessKeyId":"A"}]})",
                           R"({"AccessKeys":[{"AccessKeyId":"A","SecretAccessKey":"s","Policy":"root"}]})"}) {
    std::ofstream(file_, std::ios::trunc) << text;
    auto s = KeyStore::Open(file_, 0);
    ASSERT_FALSE(s.has_value()) << text;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    EXPECT_NE(s.error().message().find(file_.string()), std::string::npos);
    std::ifstream in(file_);
    std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(back, text);
  }
}

TEST_F(KeyStoreTest, VerifiesASignatureMadeWithAStoredKey) {
  auto s = KeyStore::Open(file_, 0);
  ASSERT_TRUE(s.has_value());
  auto k = (*s)->Create(Policy::kInvoke, 0);
  ASSERT_TRUE(k.has_value());
  http::Request r;
  r.method = "POST";
  r.target = "/2015-03-31/functions/f/invocations";
  r.body = "{}";
  r.headers.Set("Host", "127.0.0.1:8777");
  http::SigningParams p;
  p.credentials = {k->id, k->secret, ""};
  p.region = "us-east-1";
  p.service = "lambda";
  p.time = std::chrono::system_clock::now();
  ASSERT_TRUE(http::SignRequest(r, p).ok());
  auto v = http::VerifySignature(r, **s, std::chrono::system_clock::now());
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->access_key_id, k->id);
  EXPECT_EQ((*s)->PolicyOf(v->access_key_id), Policy::kInvoke);
}

}  // namespace
}  // namespace nimbus::auth
