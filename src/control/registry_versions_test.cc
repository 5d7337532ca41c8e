// Registry: versions, aliases (with weighted routing on a scripted random
// source), reserved and provisioned concurrency, tags, the resource policy,
// persistence of all of them, and the migration of a version-1 database.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>

#include "base/encoding.h"
#include "base/testing/fake_clock.h"
#include "control/function_codec.h"
#include "control/registry.h"
#include "control/testing/registry_fixture.h"
#include "storage/blob_store.h"
#include "storage/store.h"
#include "storage/testing/temp_dir.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::control {
namespace {

using storage::testing::TempDir;
using storage::testing::ZipBuilder;
using testing::kRole;

constexpr char kArn[] = "arn:aws:lambda:us-east-1:000000000000:function:";

std::string CodeZip(std::string_view version) {
  return ZipBuilder().File("app.py", fmt::format("V = '{}'\n", version)).Build();
}

// Returns the numbers it was given, in order; fails the test when it runs out.
class ScriptedRandom final : public RandomSource {
 public:
  double NextUnit() override {
    if (values.empty()) {
      ADD_FAILURE() << "ScriptedRandom: no value left";
      return 0;
    }
    double v = values.front();
    values.pop_front();
    return v;
  }
  std::deque<double> values;
};

class RegistryVersionsTest : public testing::RegistryFixture {
 protected:
  // Reopens with the given account concurrency limit (1000 unless a test says otherwise).
  void Reopen(int account_limit = 1000) {
    account_limit_ = account_limit;
    RegistryFixture::Reopen();
  }
  RegistryOptions Options() override {
    RegistryOptions options = RegistryFixture::Options();
    options.account_concurrency_limit = account_limit_;
    options.random = &random_;
    return options;
  }

  void MustCreate(const std::string& name, bool publish = false) {
    CreateFunctionRequest r;
    r.function_name = name;
    r.runtime = "python3.12";
    r.handler = "app.handler";
    r.role = kRole;
    r.zip_file = CodeZip("v1");
    r.publish = publish;
    auto f = registry().CreateFunction(std::move(r));
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
  }
  void MustUpdateCode(const std::string& name, std::string_view version) {
    UpdateFunctionCodeRequest u;
    u.function_name = name;
    u.zip_file = CodeZip(version);
    ASSERT_TRUE(registry().UpdateFunctionCode(std::move(u)).has_value());
  }
  std::string MustPublish(const std::string& name) {
    auto v = registry().PublishVersion(PublishVersionRequest{name, {}, {}, {}});
    EXPECT_TRUE(v.has_value()) << v.error().ToString();
    return v.has_value() ? (*v)->config.version : "";
  }
  Alias MustAlias(const std::string& fn, const std::string& alias, const std::string& version,
                  std::map<std::string, double> weights = {}) {
    auto a = registry().CreateAlias(CreateAliasRequest{fn, alias, version, "", weights});
    EXPECT_TRUE(a.has_value()) << a.error().ToString();
    return a.has_value() ? *a : Alias{};
  }

  // The registry borrows random_, a member of this class, so it must go first.
  void TearDown() override { registry_.reset(); }

  int account_limit_ = 1000;
  ScriptedRandom random_;
};

TEST_F(RegistryVersionsTest, PublishingSnapshotsLatestAndRepublishingWithoutChangesIsANoOp) {
  MustCreate("f");
  clock_.Advance(std::chrono::seconds(1));
  auto v1 = registry().PublishVersion(PublishVersionRequest{"f", {}, std::string("first"), {}});
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  EXPECT_EQ((*v1)->config.version, "1");
  EXPECT_EQ((*v1)->config.description, "first");
  EXPECT_EQ((*v1)->config.last_modified, "2024-05-01T12:00:01.000+0000");
  EXPECT_EQ(MustPublish("f"), "1");
  EXPECT_EQ(registry().PublishVersion(PublishVersionRequest{"f", {}, {}, {}}).value(), *v1);
  MustUpdateCode("f", "v2");
  EXPECT_EQ(MustPublish("f"), "2");
  UpdateFunctionConfigurationRequest u;
  u.function_name = "f";
  u.environment = std::map<std::string, std::string>{{"K1", "x"}};
  ASSERT_TRUE(registry().UpdateFunctionConfiguration(u).has_value());
  EXPECT_EQ(MustPublish("f"), "3");
  // Each version keeps its own code.
  EXPECT_EQ(registry().Resolve("f", "1").value()->config.code_sha256,
            Base64Encode(Sha256(CodeZip("v1"))));
  EXPECT_EQ(registry().Resolve("f:2").value()->config.code_sha256,
            Base64Encode(Sha256(CodeZip("v2"))));
  EXPECT_TRUE(registry().Resolve("f", "2").value()->config.environment.empty());
  EXPECT_EQ(registry().Resolve(std::string(kArn) + "f:3").value()->config.environment.at("K1"),
            "x");
}

TEST_F(RegistryVersionsTest, PublishChecksCodeSha256AndRevisionIdPreconditions) {
  MustCreate("f");
  auto latest = registry().Resolve("f").value();
  EXPECT_EQ(registry().PublishVersion({"f", std::string("abc="), {}, {}}).error(),
            InvalidArgument(fmt::format("CodeSHA256 (abc=) is different from current CodeSHA256 "
                                        "in $LATEST ({}). Please try again with the CodeSHA256 "
                                        "in $LATEST.",
                                        latest->config.code_sha256)));
  EXPECT_EQ(registry().PublishVersion({"f", {}, {}, std::string("nope")}).error().code(),
            Code::kFailedPrecondition);
  auto ok = registry().PublishVersion(
      {"f", latest->config.code_sha256, {}, latest->config.revision_id});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(registry().PublishVersion({"ghost", {}, {}, {}}).error().code(), Code::kNotFound);
}

TEST_F(RegistryVersionsTest, VersionNumbersAreNeverReusedAfterDeletion) {
  MustCreate("f", /*publish=*/true);
  MustUpdateCode("f", "v2");
  EXPECT_EQ(MustPublish("f"), "2");
  auto deleted = registry().DeleteFunction("f", "2");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->version, "2");
  EXPECT_EQ(registry().Resolve("f", "2").error(),
            NotFound(std::string("Function not found: ") + kArn + "f:2"));
  MustUpdateCode("f", "v3");
  EXPECT_EQ(MustPublish("f"), "3");
  Reopen();
  MustUpdateCode("f", "v4");
  EXPECT_EQ(MustPublish("f"), "4");
  auto page = registry().ListVersionsByFunction("f", "", 50).value();
  std::vector<std::string> versions;
  for (const auto& v : page.versions) versions.push_back(v->config.version);
  EXPECT_EQ(versions, (std::vector<std::string>{"$LATEST", "1", "3", "4"}));
}

TEST_F(RegistryVersionsTest, ListsVersionsInPagesWithAMarker) {
  MustCreate("f", true);
  for (const char* v : {"b", "c"}) {
    MustUpdateCode("f", v);
    MustPublish("f");
  }
  auto p1 = registry().ListVersionsByFunction("f", "", 2).value();
  ASSERT_EQ(p1.versions.size(), 2u);
  EXPECT_EQ(p1.versions[0]->config.version, "$LATEST");
  EXPECT_EQ(p1.next_marker, "1");
  auto p2 = registry().ListVersionsByFunction("f", *p1.next_marker, 2).value();
  ASSERT_EQ(p2.versions.size(), 2u);
  EXPECT_EQ(p2.versions[1]->config.version, "3");
  EXPECT_FALSE(p2.next_marker.has_value());
}

TEST_F(RegistryVersionsTest, DeletingAVersionAnAliasRoutesToIsAConflict) {
  MustCreate("f", true);
  MustUpdateCode("f", "v2");
  MustPublish("f");
  MustAlias("f", "live", "2");
  MustAlias("f", "canary", "2", {{"1", 0.1}});
  EXPECT_EQ(registry().DeleteFunction("f", "1").error(),
            Conflict("Unable to delete version because the following aliases reference it: "
                     "[canary]"));
  EXPECT_EQ(registry().DeleteFunction("f:2").error().code(), Code::kConflict);
  EXPECT_EQ(registry().DeleteFunction("f", "live").error(),
            InvalidArgument("Deletion of aliases is not currently supported."));
}

TEST_F(RegistryVersionsTest, AWeightedAliasPicksTheExtraVersionWhenTheDrawFallsUnderItsWeight) {
  MustCreate("f", true);
  MustUpdateCode("f", "v2");
  MustPublish("f");
  MustAlias("f", "canary", "1", {{"2", 0.2}});
  random_.values = {0.19, 0.2, 0.95, 0.0};
  EXPECT_EQ(registry().ResolveForInvoke("f", "canary").value()->config.version, "2");
  EXPECT_EQ(registry().ResolveForInvoke("f:canary").value()->config.version, "1");
  EXPECT_EQ(registry().ResolveForInvoke("f", "canary").value()->config.version, "1");
  EXPECT_EQ(registry().ResolveForInvoke("f", "canary").value()->config.version, "2");
  // Resolve (GetFunction) ignores the weights and draws nothing.
  EXPECT_EQ(registry().Resolve("f", "canary").value()->config.version, "1");
  EXPECT_TRUE(random_.values.empty());
}

TEST_F(RegistryVersionsTest, AnAliasOfLatestFollowsLatest) {
  MustCreate("f");
  MustAlias("f", "edge", "$LATEST");
  MustUpdateCode("f", "v2");
  EXPECT_EQ(registry().ResolveForInvoke("f", "edge").value(), registry().Resolve("f").value());
}

TEST_F(RegistryVersionsTest, RefusesBadAliasesWithLambdasErrors) {
  MustCreate("f", true);
  MustAlias("f", "live", "1");
  auto create = [&](std::string name, std::string version, std::map<std::string, double> w = {}) {
    return registry().CreateAlias({"f", name, version, "", w}).error();
  };
  EXPECT_EQ(create("live", "1"), Conflict(std::string("Alias already exists: ") + kArn + "f:live"));
  EXPECT_EQ(create("123", "1").code(), Code::kValidationFailed);
  EXPECT_EQ(create("x", "latest").code(), Code::kValidationFailed);
  EXPECT_EQ(create("x", "4"), NotFound(std::string("Function not found: ") + kArn + "f:4"));
  EXPECT_EQ(create("x", "$LATEST", {{"1", 0.5}}),
            InvalidArgument("$LATEST is not supported for an alias pointing to more than 1 version"));
  EXPECT_EQ(create("x", "1", {{"1", 0.5}}),
            InvalidArgument("Invalid function version 1. Function version 1 is already included "
                            "in routing configuration."));
  EXPECT_EQ(create("x", "1", {{"2", 1.5}}).code(), Code::kValidationFailed);
  EXPECT_EQ(create("x", "1", {{"2", 0.5}}).code(), Code::kNotFound);
  EXPECT_EQ(registry().GetAlias("f", "nope").error(),
            NotFound(std::string("Alias not found: ") + kArn + "f:nope"));
  Alias live = registry().GetAlias("f", "live").value();
  UpdateAliasRequest u{"f", "live", std::string("$LATEST"), {}, {}, std::string("wrong")};
  EXPECT_EQ(registry().UpdateAlias(u).error().code(), Code::kFailedPrecondition);
  u.revision_id = live.revision_id;
  auto updated = registry().UpdateAlias(u);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->alias.function_version, "$LATEST");
  EXPECT_NE(updated->alias.revision_id, live.revision_id);
}

TEST_F(RegistryVersionsTest, ListsAliasesFilteredByVersionAndPaged) {
  MustCreate("f", true);
  MustAlias("f", "a", "1");
  MustAlias("f", "b", "$LATEST");
  MustAlias("f", "c", "1");
  auto only1 = registry().ListAliases("f", "1", "", 50).value();
  ASSERT_EQ(only1.aliases.size(), 2u);
  EXPECT_EQ(only1.aliases[1].name, "c");
  auto p1 = registry().ListAliases("f", "", "", 2).value();
  EXPECT_EQ(p1.next_marker, "b");
  auto p2 = registry().ListAliases("f", "", "b", 2).value();
  ASSERT_EQ(p2.aliases.size(), 1u);
  EXPECT_FALSE(p2.next_marker.has_value());
}

TEST_F(RegistryVersionsTest, ReservedConcurrencyMustLeaveOneHundredUnreserved) {
  MustCreate("a");
  MustCreate("b");
  EXPECT_TRUE(registry().PutFunctionConcurrency("a", 600).ok());
  EXPECT_EQ(registry().UnreservedConcurrency(), 400);
  EXPECT_EQ(registry().PutFunctionConcurrency("b", 301),
            InvalidArgument("Specified ReservedConcurrentExecutions for function decreases "
                            "account's UnreservedConcurrentExecution below its minimum value of "
                            "[100]."));
  EXPECT_TRUE(registry().PutFunctionConcurrency("b", 300).ok());
  // Replacing a's own reservation does not count it twice.
  EXPECT_TRUE(registry().PutFunctionConcurrency("a", 600).ok());
  EXPECT_EQ(registry().PutFunctionConcurrency("a", -1).code(), Code::kValidationFailed);
  EXPECT_EQ(registry().PutFunctionConcurrency("ghost", 1).code(), Code::kNotFound);
  Reopen();
  EXPECT_EQ(registry().GetFunctionConcurrency("a").value(), 600);
  EXPECT_TRUE(registry().DeleteFunctionConcurrency("a").ok());
  EXPECT_EQ(registry().GetFunctionConcurrency("a").value(), std::nullopt);
  EXPECT_EQ(registry().UnreservedConcurrency(), 700);
  EXPECT_EQ(registry().ListConcurrencySettings().reserved, (std::map<std::string, int>{{"b", 300}}));
}

TEST_F(RegistryVersionsTest, TheAccountLimitComesFromTheOptions) {
  Reopen(/*account_limit=*/200);
  MustCreate("a");
  EXPECT_EQ(registry().PutFunctionConcurrency("a", 101).code(), Code::kInvalidArgument);
  EXPECT_TRUE(registry().PutFunctionConcurrency("a", 100).ok());
  EXPECT_EQ(registry().account_concurrency_limit(), 200);
}

TEST_F(RegistryVersionsTest, ProvisionedConcurrencyGoesOnAPublishedVersionOrAliasOnly) {
  MustCreate("f", true);
  MustAlias("f", "live", "1");
  MustAlias("f", "edge", "$LATEST");
  Status unpublished = InvalidArgument(
      "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "$LATEST", 1).error(), unpublished);
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "edge", 1).error(), unpublished);
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "live", 0).error().code(),
            Code::kValidationFailed);
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "9", 1).error().code(), Code::kNotFound);
  auto set = registry().PutProvisionedConcurrency("f", "live", 3);
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  EXPECT_EQ(set->version, registry().Resolve("f", "1").value());
  EXPECT_EQ(set->qualifier, "live");
  EXPECT_EQ(set->count, 3);
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "1", 1).error().code(), Code::kConflict);
  EXPECT_EQ(registry().GetProvisionedConcurrency("f", "1").value(), std::nullopt);
  Reopen();
  auto got = registry().GetProvisionedConcurrency("f", "live").value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (ProvisionedConcurrencyConfig{"live", 3, "2024-05-01T12:00:00.000+0000"}));
  ConcurrencySettings all = registry().ListConcurrencySettings();
  ASSERT_EQ(all.provisioned.size(), 1u);
  EXPECT_EQ(all.provisioned[0].version->config.version, "1");
  EXPECT_EQ(all.provisioned[0].count, 3);
  // Reserved concurrency caps provisioned concurrency, and the other way round.
  EXPECT_EQ(registry().PutFunctionConcurrency("f", 2).code(), Code::kInvalidArgument);
  EXPECT_TRUE(registry().PutFunctionConcurrency("f", 3).ok());
  EXPECT_EQ(registry().PutProvisionedConcurrency("f", "live", 4).error().code(),
            Code::kInvalidArgument);
  auto removed = registry().DeleteProvisionedConcurrency("f", "live").value();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->count, 0);
  EXPECT_EQ(registry().DeleteProvisionedConcurrency("f", "live").value(), std::nullopt);
}

TEST_F(RegistryVersionsTest, MovingAProvisionedAliasMovesItsEnvironments) {
  MustCreate("f", true);
  MustUpdateCode("f", "v2");
  MustPublish("f");
  MustAlias("f", "live", "1");
  ASSERT_TRUE(registry().PutProvisionedConcurrency("f", "live", 2).has_value());
  auto moved = registry().UpdateAlias({"f", "live", std::string("2"), {}, {}, {}});
  ASSERT_TRUE(moved.has_value());
  ASSERT_EQ(moved->provisioning.settings.size(), 2u);
  EXPECT_EQ(moved->provisioning.settings[0].version->config.version, "1");
  EXPECT_EQ(moved->provisioning.settings[0].count, 0);
  EXPECT_EQ(moved->provisioning.settings[1].version->config.version, "2");
  EXPECT_EQ(moved->provisioning.settings[1].count, 2);
  auto gone = registry().DeleteAlias("f", "live").value();
  ASSERT_EQ(gone.settings.size(), 1u);
  EXPECT_EQ(gone.settings[0].count, 0);
  EXPECT_TRUE(registry().ListConcurrencySettings().provisioned.empty());
}

TEST_F(RegistryVersionsTest, DeletingAFunctionReportsWhatTheInvokerMustDrop) {
  MustCreate("f", true);
  MustAlias("f", "live", "1");
  ASSERT_TRUE(registry().PutFunctionConcurrency("f", 10).ok());
  ASSERT_TRUE(registry().PutProvisionedConcurrency("f", "live", 2).has_value());
  auto deleted = registry().DeleteFunction("f");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->version, "");
  EXPECT_TRUE(deleted->had_reserved_concurrency);
  ASSERT_EQ(deleted->provisioning.settings.size(), 1u);
  EXPECT_EQ(deleted->provisioning.settings[0].count, 0);
  // Re-creating the name starts from nothing (ON DELETE CASCADE).
  Reopen();
  MustCreate("f");
  EXPECT_EQ(registry().ListVersionsByFunction("f", "", 50).value().versions.size(), 1u);
  EXPECT_EQ(registry().GetAlias("f", "live").error().code(), Code::kNotFound);
  EXPECT_EQ(registry().GetFunctionConcurrency("f").value(), std::nullopt);
  EXPECT_EQ(MustPublish("f"), "1");
}

TEST_F(RegistryVersionsTest, TagsAreMergedRemovedAndKept) {
  MustCreate("f");
  std::string arn = std::string(kArn) + "f";
  ASSERT_TRUE(registry().TagResource(arn, {{"a", "1"}, {"b", "2"}}).ok());
  ASSERT_TRUE(registry().TagResource(arn, {{"b", "3"}}).ok());
  ASSERT_TRUE(registry().UntagResource(arn, {"a", "zz"}).ok());
  Reopen();
  EXPECT_EQ(registry().ListTags(arn).value(), (std::map<std::string, std::string>{{"b", "3"}}));
  EXPECT_EQ(registry().ListTags(arn + ":1").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry().ListTags(std::string(kArn) + "ghost").error().code(), Code::kNotFound);
  EXPECT_EQ(registry().TagResource(arn, {{"aws:x", "1"}}).code(), Code::kInvalidArgument);
}

TEST_F(RegistryVersionsTest, PermissionsBuildAwsStatementsAndPersist) {
  MustCreate("f");
  AddPermissionRequest r;
  r.function_name = "f";
  r.statement_id = "s3";
  r.action = "lambda:InvokeFunction";
  r.principal = "s3.amazonaws.com";
  r.source_arn = "arn:aws:s3:::b";
  r.source_account = "123456789012";
  auto statement = registry().AddPermission(r);
  ASSERT_TRUE(statement.has_value()) << statement.error().ToString();
  EXPECT_EQ(*statement,
            std::string(R"({"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},)") +
                R"("Action":"lambda:InvokeFunction","Resource":")" + kArn +
                R"(f","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},)" +
                R"("ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}}})");
  EXPECT_EQ(registry().AddPermission(r).error(),
            Conflict("The statement id (sid) provided already exists. Please choose a new "
                     "statement id, or remove the existing statement."));
  Reopen();
  Policy p = registry().GetPolicy("f", "").value();
  EXPECT_EQ(p.document,
            R"({"Version":"2012-10-17","Id":"default","Statement":[)" + *statement + "]}");
  EXPECT_EQ(registry().RemovePermission("f", "", "s3", std::string("stale")).code(),
            Code::kFailedPrecondition);
  EXPECT_TRUE(registry().RemovePermission("f", "", "s3", p.revision_id).ok());
  EXPECT_EQ(registry().GetPolicy("f", "").error(),
            NotFound("The resource you requested does not exist."));
  EXPECT_EQ(registry().RemovePermission("f", "", "s3", {}),
            NotFound("No policy is associated with the given resource."));
}

// Storage format (STYLE §10): a database written by the version-1 schema (only
// the `functions` table) opens, migrates to version 2 and keeps its function.
TEST(RegistryMigration, OpensAVersionOneDatabaseAndMigratesIt) {
  TempDir dir;
  FakeClock clock;
  std::string zip = CodeZip("old");
  {
    auto blobs = storage::BlobStore::Open(dir.path() / "blobs");
    ASSERT_TRUE(blobs.has_value());
    std::string hex = (*blobs)->Put(zip).value();
    std::vector<storage::Migration> v1 = {
        {1,
         "CREATE TABLE functions ("
         "  name TEXT PRIMARY KEY NOT NULL,"
         "  config TEXT NOT NULL,"
         "  code_hex TEXT NOT NULL)"}};
    auto store = storage::Store::Open(dir.path() / "nimbus.db", v1);
    ASSERT_TRUE(store.has_value());
    // A row as the version-1 binary wrote it (no dead_letter_target_arn key).
    std::string config = fmt::format(
        R"({{"name":"old","version":"$LATEST","runtime":"python3.12","handler":"app.handler",)"
        R"("role":"{}","description":"","timeout_seconds":3,"memory_mb":128,)"
        R"("ephemeral_storage_mb":512,"environment":{{}},"architecture":"x86_64",)"
        R"("package_type":"Zip","tracing_mode":"PassThrough","log_format":"Text",)"
        R"("log_group":"/aws/lambda/old","application_log_level":"","system_log_level":"",)"
        R"("code_sha256":"{}","code_size":{},"last_modified":"2024-01-01T00:00:00.000+0000",)"
        R"("revision_id":"11111111-1111-1111-1111-111111111111","state":"Active",)"
        R"("state_reason":"","state_reason_code":"","last_update_status":"Successful",)"
        R"("last_update_status_reason":"","last_update_status_reason_code":"","tags":{{}}}})",
        kRole, Base64Encode(Sha256(zip)), zip.size());
    auto st = (*store)->Prepare("INSERT INTO functions (name, config, code_hex) VALUES (?, ?, ?)");
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(st->BindText(1, "old").ok());
    ASSERT_TRUE(st->BindText(2, config).ok());
    ASSERT_TRUE(st->BindText(3, hex).ok());
    ASSERT_TRUE(st->Run().ok());
    EXPECT_EQ((*store)->SchemaVersion().value(), 1);
  }
  RegistryOptions options{dir.path(), Region{}};
  auto registry = Registry::Open(options, clock);
  ASSERT_TRUE(registry.has_value()) << registry.error().ToString();
  auto old = (*registry)->Resolve("old");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ((*old)->config.revision_id, "11111111-1111-1111-1111-111111111111");
  EXPECT_EQ((*old)->config.state, "Active");
  auto v1 = (*registry)->PublishVersion({"old", {}, {}, {}});
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  EXPECT_EQ((*v1)->config.version, "1");
  ASSERT_TRUE((*registry)->PutFunctionConcurrency("old", 5).ok());
  registry->reset();
  auto store = storage::Store::Open(dir.path() / "nimbus.db", {});
  // Opening with fewer migrations than applied is refused: the schema moved on.
  EXPECT_FALSE(store.has_value());
}

}  // namespace
}  // namespace nimbus::control
