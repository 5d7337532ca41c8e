#include "cli/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "base/testing/scoped_env.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

using ::nimbus::testing::ScopedEnv;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("cli-credentials-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& text) { std::ofstream(dir_ / "credentials.json") << text; }

  fs::path dir_;
};

constexpr char kTwoKeys[] =
    R"({"AccessKeys":[{"AccessKeyId":"AKIAINVOKE","SecretAccessKey":"invoke-secret","Policy":"invoke","Created":1},)"
    R"({"AccessKeyId":"AKIAADMIN1","SecretAccessKey":"admin/secret+1","Policy":"admin","Created":2},)"
    R"({"AccessKeyId":"AKIAADMIN2","SecretAccessKey":"admin-secret-2","Policy":"admin","Created":3}]})";

TEST_F(CredentialsTest, TheFirstAdminKeyOfTheServersKeyFileIsUsed) {
  Write(kTwoKeys);
  auto key = AdminKeyFromFile(dir_ / "credentials.json");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->access_key_id, "AKIAADMIN1");
  EXPECT_EQ(key->secret_access_key, "admin/secret+1");
  EXPECT_EQ(key->session_token, "");
}

TEST_F(CredentialsTest, AMissingDamagedOrAdminlessKeyFileGivesNothing) {
  EXPECT_FALSE(AdminKeyFromFile(dir_ / "credentials.json").has_value());
  for (const char* text :
       {"not json", R"({"Keys":[]})", R"({"AccessKeys":[{"AccessKeyId":"A"}]})",
        R"({"AccessKeys":[{"AccessKeyId":"A","SecretAccessKey":"s","Policy":"invoke"}]})"}) {
    Write(text);
    EXPECT_FALSE(AdminKeyFromFile(dir_ / "credentials.json").has_value()) << text;
  }
}

TEST_F(CredentialsTest, AnUnreadableKeyFileGivesNothing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  Write(kTwoKeys);
  fs::permissions(dir_ / "credentials.json", fs::perms::none);
  EXPECT_FALSE(AdminKeyFromFile(dir_ / "credentials.json").has_value());
}

TEST_F(CredentialsTest, TheEnvironmentComesFirst) {
  Write(kTwoKeys);
  ScopedEnv data("NIMBUS_DATA_DIR", dir_.string());
  ScopedEnv id("AWS_ACCESS_KEY_ID", "AKIAFROMENV");
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "env-secret");
  ScopedEnv token("AWS_SESSION_TOKEN", "env-token");
  ClientCredentials c = FindClientCredentials();
  EXPECT_EQ(c.source, ClientCredentials::Source::kEnvironment);
  EXPECT_EQ(c.credentials.access_key_id, "AKIAFROMENV");
  EXPECT_EQ(c.credentials.secret_access_key, "env-secret");
  EXPECT_EQ(c.credentials.session_token, "env-token");
}

TEST_F(CredentialsTest, WithoutTheEnvironmentTheDataDirectorysAdminKeyIsUsed) {
  Write(kTwoKeys);
  ScopedEnv data("NIMBUS_DATA_DIR", dir_.string());
  ScopedEnv id("AWS_ACCESS_KEY_ID", std::nullopt);
  ScopedEnv empty_secret("AWS_SECRET_ACCESS_KEY", "");
  ClientCredentials c = FindClientCredentials();
  EXPECT_EQ(c.source, ClientCredentials::Source::kKeyFile);
  EXPECT_EQ(c.key_file, dir_ / "credentials.json");
  EXPECT_EQ(c.credentials.access_key_id, "AKIAADMIN1");
  EXPECT_EQ(c.credentials.secret_access_key, "admin/secret+1");
  EXPECT_NE(CredentialsHint(c).find("AKIAADMIN1 from " + (dir_ / "credentials.json").string()),
            std::string::npos);
}

TEST_F(CredentialsTest, WithNeitherThePlaceholderIsUsedAndTheHintSaysWhereKeysComeFrom) {
  ScopedEnv data("NIMBUS_DATA_DIR", dir_.string());
  ScopedEnv id("AWS_ACCESS_KEY_ID", "");
  ClientCredentials c = FindClientCredentials();
  EXPECT_EQ(c.source, ClientCredentials::Source::kPlaceholder);
  EXPECT_EQ(c.credentials.access_key_id, "nimbus");
  EXPECT_EQ(c.credentials.secret_access_key, "nimbus");
  EXPECT_EQ(CredentialsHint(c), "hint: no credentials found (AWS_ACCESS_KEY_ID is not set and " +
                                    (dir_ / "credentials.json").string() +
                                    " is not readable), so the request was signed with the "
                                    "placeholder \"nimbus\", which only a server "
                                    "in dev mode accepts; keys come from the AWS_ACCESS_KEY_ID and "
                                    "AWS_SECRET_ACCESS_KEY environment "
                                    "variables, else the first admin key of "
                                    "<data-dir>/credentials.json (data-dir: NIMBUS_DATA_DIR or "
                                    "the server's default), which the server creates on its first "
                                    "start; `nimbus keys create` makes "
                                    "more");
}

TEST_F(CredentialsTest, TheDefaultDataDirectoryIsNimbusDataDirWhenSet) {
  ScopedEnv data("NIMBUS_DATA_DIR", "/srv/nimbus-data");
  EXPECT_EQ(DefaultDataDir(), fs::path("/srv/nimbus-data"));
}

TEST_F(CredentialsTest, AuthenticationErrorsAreToldApartFromDenials) {
  EXPECT_TRUE(IsAuthenticationError("UnrecognizedClientException"));
  EXPECT_TRUE(IsAuthenticationError("InvalidSignatureException"));
  EXPECT_TRUE(IsAuthenticationError("InvalidAccessKeyId"));
  EXPECT_TRUE(IsAuthenticationError("SignatureDoesNotMatch"));
  EXPECT_FALSE(IsAuthenticationError("AccessDeniedException"));
  EXPECT_FALSE(IsAuthenticationError("ResourceNotFoundException"));
}

}  // namespace
}  // namespace nimbus::cli
