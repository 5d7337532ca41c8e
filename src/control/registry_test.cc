#include "control/registry.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

#include "base/encoding.h"
#include "control/testing/registry_fixture.h"
#include "storage/testing/zip_builder.h"
#include "storage/zip_unpacker.h"

namespace nimbus::control {
namespace {

using storage::testing::ZipBuilder;
using testing::kRole;
using testing::ReadFile;


std::string HelloZip(std::string_view body = "def handler(e, c):\n  return 'hi'\n") {
  return ZipBuilder().File("app.py", body).Build();
}

CreateFunctionRequest Create(std::string name, std::string zip = HelloZip()) {
  CreateFunctionRequest r;
  r.function_name = std::move(name);
  r.runtime = "python3.12";
  r.handler = "app.handler";
  r.role = kRole;
  r.zip_file = std::move(zip);
  return r;
}

using RegistryTest = testing::RegistryFixture;

TEST_F(RegistryTest, CreatesAnActiveFunctionWithLambdaDefaults) {
  std::string zip = HelloZip();
  auto f = registry().CreateFunction(Create("hello", zip));
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  const FunctionConfig& c = f->latest->config;
  EXPECT_EQ(c.name, "hello");
  EXPECT_EQ(f->latest->arn, "arn:aws:lambda:us-east-1:000000000000:function:hello");
  EXPECT_EQ(c.version, "$LATEST");
  EXPECT_EQ(c.timeout_seconds, 3);
  EXPECT_EQ(c.memory_mb, 128);
  EXPECT_EQ(c.ephemeral_storage_mb, 512);
  EXPECT_EQ(c.code_sha256, Base64Encode(Sha256(zip)));
  EXPECT_EQ(c.code_size, static_cast<int64_t>(zip.size()));
  EXPECT_EQ(c.last_modified, "2024-05-01T12:00:00.000+0000");
  EXPECT_EQ(c.revision_id.size(), 36u);
  EXPECT_EQ(c.state, "Active");
  EXPECT_EQ(c.last_update_status, "Successful");
  EXPECT_EQ(c.log_group, "/aws/lambda/hello");
  EXPECT_EQ(f->latest->code_hex, HexEncode(Sha256(zip)));
  EXPECT_EQ(f->latest->code_dir, dir_.path() / "code" / f->latest->code_hex);
  EXPECT_EQ(ReadFile(f->latest->code_dir / "app.py"), "def handler(e, c):\n  return 'hi'\n");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_.path() / "blobs" / "sha256" / f->latest->code_hex));
}

TEST_F(RegistryTest, AcceptsAnArnAsTheNameOnCreate) {
  auto f = registry().CreateFunction(
      Create("arn:aws:lambda:us-east-1:123456789012:function:by-arn"));
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  EXPECT_EQ(f->latest->config.name, "by-arn");
}

TEST_F(RegistryTest, RefusesADuplicateCreate) {
  ASSERT_TRUE(registry().CreateFunction(Create("dup")).has_value());
  auto again = registry().CreateFunction(Create("dup"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), Conflict("Function already exist: dup"));
}

TEST_F(RegistryTest, ValidatesEveryFieldOnCreate) {
  struct Case {
    std::function<void(CreateFunctionRequest&)> mutate;
    std::string message_prefix;
  };
  std::vector<Case> cases = {
      {[](auto& r) { r.runtime = ""; },
       "Runtime and Handler are mandatory parameters for functions created with deployment "
       "packages."},
      {[](auto& r) { r.handler = ""; }, "Runtime and Handler are mandatory parameters"},
      {[](auto& r) { r.runtime = "cobol"; }, "Value cobol at 'runtime' failed to satisfy"},
      {[](auto& r) { r.role = "nope"; }, "1 validation error detected: Value 'nope' at 'role'"},
      {[](auto& r) { r.memory_mb = 64; }, "1 validation error detected: Value '64' at 'memorySize'"},
      {[](auto& r) { r.timeout_seconds = 901; }, "1 validation error detected: Value '901' at 'timeout'"},
      {[](auto& r) { r.ephemeral_storage_mb = 100; }, "1 validation error detected: Value '100' at 'ephemeralStorage.size'"},
      {[](auto& r) { r.environment = {{"AWS_REGION", "x"}}; },
       "Lambda was unable to configure your environment variables because the environment "
       "variables you have provided contains reserved keys"},
      {[](auto& r) { r.function_name = "bad name"; }, "1 validation error detected: Value 'bad name' at 'functionName'"},
      {[](auto& r) { r.function_name = "f:1"; }, "1 validation error detected: Value 'f:1' at 'functionName' failed to satisfy constraint: Member must not include a qualifier"},
      {[](auto& r) { r.zip_file = "not a zip"; }, std::string(storage::kNotAZipMessage)},
      {[](auto& r) { r.package_type = "Image"; }, "PackageType Image is not supported"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    CreateFunctionRequest r = Create("f" + std::to_string(i));
    cases[i].mutate(r);
    auto f = registry().CreateFunction(r);
    ASSERT_FALSE(f.has_value()) << i;
    // Model constraints are ValidationException; service rules InvalidParameterValue.
    // Model constraints are ValidationException; service rules (incl. Lambda's
    // 900 s timeout quota, above the model's range) InvalidParameterValue.
    bool model = cases[i].message_prefix.starts_with("1 validation error detected") &&
                 cases[i].message_prefix.find("'timeout'") == std::string::npos;
    EXPECT_EQ(f.error().code(), model ? Code::kValidationFailed : Code::kInvalidArgument) << i;
    EXPECT_TRUE(f.error().message().starts_with(cases[i].message_prefix))
        << i << ": " << f.error().message();
  }
  EXPECT_EQ(registry().GetAccountUsage().function_count, 0);
  // A rejected package leaves no blob behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "blobs" / "sha256"));
}

TEST_F(RegistryTest, RejectsAPackageThatUnzipsTooLarge) {
  std::string bomb = ZipBuilder().ZeroFile("big", 262144001).Build();
  auto f = registry().CreateFunction(Create("bomb", bomb));
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error(), InvalidArgument("Unzipped size must be smaller than 262144000 bytes"));
}

TEST_F(RegistryTest, ResolvesNamesArnsAndLatestButNoOtherQualifier) {
  ASSERT_TRUE(registry().CreateFunction(Create("r")).has_value());
  EXPECT_TRUE(registry().Resolve("r").has_value());
  EXPECT_TRUE(registry().Resolve("r", "$LATEST").has_value());
  EXPECT_TRUE(registry().Resolve("r:$LATEST").has_value());
  EXPECT_TRUE(registry().Resolve("arn:aws:lambda:us-east-1:000000000000:function:r").has_value());
  EXPECT_TRUE(registry().Resolve("000000000000:function:r").has_value());
  EXPECT_EQ(registry().Resolve("r", "7").error(),
            NotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:r:7"));
  EXPECT_EQ(registry().Resolve("r:live").error(),
            NotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:r:live"));
  EXPECT_EQ(registry().Resolve("nope").error(),
            NotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"));
  EXPECT_EQ(registry().Resolve("r:live", "7").error().code(), Code::kInvalidArgument);
}

TEST_F(RegistryTest, KeepsEverythingAcrossAReopen) {
  CreateFunctionRequest r = Create("persist");
  r.environment = {{"GREETING", "hello"}};
  r.tags = {{"team", "a"}};
  r.memory_mb = 256;
  r.description = "kept";
  auto created = registry().CreateFunction(r);
  ASSERT_TRUE(created.has_value());
  Reopen();
  auto f = registry().Resolve("persist");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ((*f)->config.environment, r.environment);
  EXPECT_EQ((*f)->config.tags, r.tags);
  EXPECT_EQ((*f)->config.memory_mb, 256);
  EXPECT_EQ((*f)->config.description, "kept");
  EXPECT_EQ((*f)->config.revision_id, created->latest->config.revision_id);
  EXPECT_EQ((*f)->config.code_sha256, created->latest->config.code_sha256);
  EXPECT_EQ((*f)->code_dir, created->latest->code_dir);
  EXPECT_EQ(registry().ReadCodePackage((*f)->code_hex).value(), r.zip_file);
}

TEST_F(RegistryTest, RestoresAMissingCodeDirectoryFromItsBlobOnOpen) {
  auto f = registry().CreateFunction(Create("restore"));
  ASSERT_TRUE(f.has_value());
  registry_.reset();
  std::filesystem::remove_all(f->latest->code_dir);
  Reopen();
  auto again = registry().Resolve("restore");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->config.state, "Active");
  EXPECT_TRUE(std::filesystem::is_regular_file((*again)->code_dir / "app.py"));
}

TEST_F(RegistryTest, MarksAFunctionFailedWhenItsPackageIsGoneEntirely) {
  auto f = registry().CreateFunction(Create("lost"));
  ASSERT_TRUE(f.has_value());
  registry_.reset();
  std::filesystem::remove_all(f->latest->code_dir);
  std::filesystem::remove(dir_.path() / "blobs" / "sha256" / f->latest->code_hex);
  Reopen();
  auto again = registry().Resolve("lost");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->config.state, "Failed");
}

TEST_F(RegistryTest, UnpacksIdenticalPackagesOnce) {
  auto a = registry().CreateFunction(Create("a"));
  auto b = registry().CreateFunction(Create("b"));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->latest->code_dir, b->latest->code_dir);
  size_t dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "code")) {
    (void)e;
    ++dirs;
  }
  EXPECT_EQ(dirs, 1u);
}

TEST_F(RegistryTest, UpdatesCodeWithANewRevisionAndTimestamp) {
  auto f = registry().CreateFunction(Create("u"));
  ASSERT_TRUE(f.has_value());
  clock_.Advance(std::chrono::milliseconds(1500));
  UpdateFunctionCodeRequest u;
  u.function_name = "u";
  u.zip_file = HelloZip("def handler(e, c):\n  return 'v2'\n");
  u.revision_id = f->latest->config.revision_id;
  auto updated = registry().UpdateFunctionCode(u);
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  EXPECT_NE(updated->latest->config.revision_id, f->latest->config.revision_id);
  EXPECT_EQ(updated->latest->config.last_modified, "2024-05-01T12:00:01.500+0000");
  EXPECT_EQ(updated->latest->config.code_sha256, Base64Encode(Sha256(u.zip_file)));
  EXPECT_EQ(ReadFile(updated->latest->code_dir / "app.py"), "def handler(e, c):\n  return 'v2'\n");
  // The old snapshot is untouched: holders of it keep a consistent view.
  EXPECT_EQ(ReadFile(f->latest->code_dir / "app.py"), "def handler(e, c):\n  return 'hi'\n");
  EXPECT_EQ(registry().Resolve("u").value(), updated->latest);
}

TEST_F(RegistryTest, RefusesUpdatesWithAStaleRevisionId) {
  auto f = registry().CreateFunction(Create("rev"));
  ASSERT_TRUE(f.has_value());
  UpdateFunctionConfigurationRequest u;
  u.function_name = "rev";
  u.description = "one";
  u.revision_id = f->latest->config.revision_id;
  ASSERT_TRUE(registry().UpdateFunctionConfiguration(u).has_value());
  u.description = "two";  // same, now stale, revision id
  Status expected(Code::kFailedPrecondition,
                  "The Revision Id provided does not match the latest Revision Id. Call the "
                  "GetFunction/GetAlias API to retrieve the latest Revision Id");
  EXPECT_EQ(registry().UpdateFunctionConfiguration(u).error(), expected);
  UpdateFunctionCodeRequest c;
  c.function_name = "rev";
  c.zip_file = HelloZip();
  c.revision_id = f->latest->config.revision_id;
  EXPECT_EQ(registry().UpdateFunctionCode(c).error(), expected);
  EXPECT_EQ(registry().Resolve("rev").value()->config.description, "one");
}

TEST_F(RegistryTest, UpdateConfigurationReplacesTheWholeEnvironmentAndValidates) {
  CreateFunctionRequest r = Create("cfg");
  r.environment = {{"A1", "1"}, {"B1", "2"}};
  ASSERT_TRUE(registry().CreateFunction(r).has_value());
  UpdateFunctionConfigurationRequest u;
  u.function_name = "cfg";
  u.environment = std::map<std::string, std::string>{{"C1", "3"}};
  u.timeout_seconds = 30;
  u.memory_mb = 1024;
  u.handler = "other.handler";
  auto f = registry().UpdateFunctionConfiguration(u);
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  EXPECT_EQ(f->latest->config.environment, (std::map<std::string, std::string>{{"C1", "3"}}));
  EXPECT_EQ(f->latest->config.timeout_seconds, 30);
  EXPECT_EQ(f->latest->config.memory_mb, 1024);
  EXPECT_EQ(f->latest->config.handler, "other.handler");
  EXPECT_EQ(f->latest->config.runtime, "python3.12");

  UpdateFunctionConfigurationRequest bad;
  bad.function_name = "cfg";
  bad.runtime = "python2.7";
  EXPECT_EQ(registry().UpdateFunctionConfiguration(bad).error().code(), Code::kInvalidArgument);
  bad.runtime.reset();
  bad.memory_mb = 1 << 30;
  EXPECT_EQ(registry().UpdateFunctionConfiguration(bad).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry().Resolve("cfg").value(), f->latest);
}

TEST_F(RegistryTest, DryRunCodeUpdateChangesNothing) {
  auto f = registry().CreateFunction(Create("dry"));
  ASSERT_TRUE(f.has_value());
  UpdateFunctionCodeRequest u;
  u.function_name = "dry";
  u.zip_file = HelloZip("# v2\n");
  u.dry_run = true;
  auto preview = registry().UpdateFunctionCode(u);
  ASSERT_TRUE(preview.has_value());
  EXPECT_EQ(preview->latest->config.code_sha256, Base64Encode(Sha256(u.zip_file)));
  EXPECT_EQ(registry().Resolve("dry").value(), f->latest);
}

TEST_F(RegistryTest, UpdatesOfAMissingFunctionAreNotFound) {
  UpdateFunctionCodeRequest c;
  c.function_name = "ghost";
  c.zip_file = HelloZip();
  EXPECT_EQ(registry().UpdateFunctionCode(c).error(),
            NotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:ghost"));
  UpdateFunctionConfigurationRequest u;
  u.function_name = "ghost";
  EXPECT_EQ(registry().UpdateFunctionConfiguration(u).error().code(), Code::kNotFound);
}

TEST_F(RegistryTest, DeletesFunctionsDurably) {
  ASSERT_TRUE(registry().CreateFunction(Create("d")).has_value());
  EXPECT_EQ(registry().DeleteFunction("d", "$LATEST").error(),
            InvalidArgument("$LATEST version cannot be deleted without deleting the function."));
  EXPECT_EQ(registry().DeleteFunction("d", "3").error().code(), Code::kNotFound);
  EXPECT_TRUE(registry().DeleteFunction("d").has_value());
  EXPECT_EQ(registry().DeleteFunction("d").error().code(), Code::kNotFound);
  EXPECT_EQ(registry().Resolve("d").error().code(), Code::kNotFound);
  Reopen();
  EXPECT_EQ(registry().Resolve("d").error().code(), Code::kNotFound);
  // The name is free again.
  EXPECT_TRUE(registry().CreateFunction(Create("d")).has_value());
}

TEST_F(RegistryTest, ListsFunctionsSortedByNameInPages) {
  for (const char* n : {"delta", "alpha", "charlie", "bravo", "echo"}) {
    ASSERT_TRUE(registry().CreateFunction(Create(n)).has_value());
  }
  std::vector<std::string> seen;
  std::string marker;
  int pages = 0;
  for (;;) {
    auto page = registry().ListFunctions(marker, 2);
    ASSERT_TRUE(page.has_value());
    ++pages;
    for (const auto& f : page->functions) seen.push_back(f->config.name);
    if (!page->next_marker) break;
    marker = *page->next_marker;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"alpha", "bravo", "charlie", "delta", "echo"}));
  EXPECT_EQ(pages, 3);
  auto all = registry().ListFunctions("", 10000);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->functions.size(), 5u);
  EXPECT_FALSE(all->next_marker.has_value());
  EXPECT_EQ(registry().ListFunctions("", 0).error().code(), Code::kValidationFailed);
  EXPECT_EQ(registry().ListFunctions("", 10001).error().code(), Code::kValidationFailed);
}

TEST_F(RegistryTest, CapsAListPageAtFiftyFunctions) {
  for (int i = 0; i < 51; ++i) {
    ASSERT_TRUE(registry().CreateFunction(Create(fmt::format("f{:02}", i))).has_value());
  }
  auto page = registry().ListFunctions("", 100);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->functions.size(), 50u);
  EXPECT_EQ(page->next_marker, "f49");
  auto rest = registry().ListFunctions("f49", 100);
  ASSERT_TRUE(rest.has_value());
  ASSERT_EQ(rest->functions.size(), 1u);
  EXPECT_FALSE(rest->next_marker.has_value());
}

TEST_F(RegistryTest, ReportsAccountUsage) {
  std::string zip = HelloZip();
  ASSERT_TRUE(registry().CreateFunction(Create("a", zip)).has_value());
  ASSERT_TRUE(registry().CreateFunction(Create("b", zip)).has_value());
  AccountUsage usage = registry().GetAccountUsage();
  EXPECT_EQ(usage.function_count, 2);
  EXPECT_EQ(usage.total_code_size, 2 * static_cast<int64_t>(zip.size()));
}

TEST_F(RegistryTest, LetsOnlyOneOfManyConcurrentCreatesOfANameSucceed) {
  std::atomic<int> ok{0}, conflict{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto f = registry().CreateFunction(Create("race"));
      if (f.has_value()) {
        ++ok;
      } else if (f.error() == Conflict("Function already exist: race")) {
        ++conflict;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), 7);
}

TEST(FormatLastModified, PrintsMillisecondsAndAZeroOffset) {
  using namespace std::chrono;
  EXPECT_EQ(FormatLastModified(system_clock::time_point(milliseconds(1586545592563))),
            "2020-04-10T19:06:32.563+0000");
}

}  // namespace
}  // namespace nimbus::control
