// Layers: PublishLayerVersion, Get/List/Delete, a function's Layers, their
// persistence, and the schema migration that introduced them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/encoding.h"
#include "control/registry.h"
#include "control/testing/registry_fixture.h"
#include "storage/store.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::control {
namespace {

using storage::testing::TempDir;
using storage::testing::ZipBuilder;
using testing::kRole;
using testing::ReadFile;

constexpr char kLayerArn[] = "arn:aws:lambda:us-east-1:000000000000:layer:";

std::string LibZip(std::string_view body = "VALUE = 1\n") {
  return ZipBuilder().File("python/lib.py", body).Build();
}

PublishLayerVersionRequest Publish(std::string name, std::string zip = LibZip()) {
  PublishLayerVersionRequest r;
  r.layer_name = std::move(name);
  r.zip_file = std::move(zip);
  return r;
}

CreateFunctionRequest Create(std::string name, std::vector<std::string> layers = {}) {
  CreateFunctionRequest r;
  r.function_name = std::move(name);
  r.runtime = "python3.12";
  r.handler = "app.handler";
  r.role = kRole;
  r.zip_file = ZipBuilder().File("app.py", "def handler(e, c):\n  return 1\n").Build();
  r.layers = std::move(layers);
  return r;
}

class LayersTest : public testing::RegistryFixture {
 protected:
  LayerVersion MustPublish(PublishLayerVersionRequest r) {
    auto v = registry().PublishLayerVersion(std::move(r));
    EXPECT_TRUE(v.has_value()) << v.error().ToString();
    return v.has_value() ? *v : LayerVersion{};
  }
};

TEST_F(LayersTest, PublishNumbersVersionsAndStoresTheUnpackedContent) {
  std::string zip = LibZip();
  PublishLayerVersionRequest r = Publish("my-lib", zip);
  r.description = "a library";
  r.compatible_runtimes = {"python3.12", "python3.11"};
  r.compatible_architectures = {"x86_64"};
  r.license_info = "MIT";
  LayerVersion v1 = MustPublish(r);
  EXPECT_EQ(v1.name, "my-lib");
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.description, "a library");
  EXPECT_EQ(v1.compatible_runtimes, (std::vector<std::string>{"python3.12", "python3.11"}));
  EXPECT_EQ(v1.license_info, "MIT");
  EXPECT_EQ(v1.code_sha256, Base64Encode(Sha256(zip)));
  EXPECT_EQ(v1.code_size, static_cast<int64_t>(zip.size()));
  EXPECT_EQ(v1.unzipped_size, 10);
  EXPECT_EQ(v1.created_date, "2024-05-01T12:00:00.000+0000");
  EXPECT_EQ(ReadFile(dir_.path() / "code" / v1.code_hex / "python" / "lib.py"), "VALUE = 1\n");
  EXPECT_EQ(MustPublish(Publish("my-lib", LibZip("VALUE = 2\n"))).version, 2);
  // A layer ARN names the layer as well as its bare name.
  EXPECT_EQ(MustPublish(Publish(std::string(kLayerArn) + "my-lib")).version, 3);
}

TEST_F(LayersTest, GetListAndDeleteLayerVersions) {
  MustPublish(Publish("lib"));
  PublishLayerVersionRequest py = Publish("lib", LibZip("x = 2\n"));
  py.compatible_runtimes = {"python3.12"};
  MustPublish(py);
  MustPublish(Publish("lib", LibZip("x = 3\n")));
  MustPublish(Publish("another"));

  auto got = registry().GetLayerVersion("lib", 2);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->compatible_runtimes, std::vector<std::string>{"python3.12"});
  auto by_arn = registry().GetLayerVersionByArn(std::string(kLayerArn) + "lib:2");
  ASSERT_TRUE(by_arn.has_value()) << by_arn.error().ToString();
  EXPECT_EQ(*by_arn, *got);
  EXPECT_EQ(registry().GetLayerVersion("lib", 9).error().code(), Code::kNotFound);
  EXPECT_EQ(registry().GetLayerVersion("nope", 1).error().message(),
            "The resource you requested does not exist.");
  EXPECT_EQ(registry().GetLayerVersionByArn("arn:aws:lambda:us-east-1:1:layer:x").error().code(),
            Code::kValidationFailed);

  // Newest first, paged.
  auto page = registry().ListLayerVersions("lib", "", "", "", 2);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->versions.size(), 2u);
  EXPECT_EQ(page->versions[0].version, 3);
  EXPECT_EQ(page->versions[1].version, 2);
  ASSERT_TRUE(page->next_marker.has_value());
  auto rest = registry().ListLayerVersions("lib", "", "", *page->next_marker, 2);
  ASSERT_TRUE(rest.has_value());
  ASSERT_EQ(rest->versions.size(), 1u);
  EXPECT_EQ(rest->versions[0].version, 1);
  EXPECT_FALSE(rest->next_marker.has_value());
  auto compatible = registry().ListLayerVersions("lib", "python3.12", "", "", 50);
  ASSERT_TRUE(compatible.has_value());
  ASSERT_EQ(compatible->versions.size(), 1u);
  EXPECT_EQ(compatible->versions[0].version, 2);
  EXPECT_TRUE(registry().ListLayerVersions("unknown", "", "", "", 50)->versions.empty());
  EXPECT_EQ(registry().ListLayerVersions("lib", "", "", "", 51).error().code(),
            Code::kValidationFailed);
  EXPECT_EQ(registry().ListLayerVersions("lib", "", "", "", 0).error().code(),
            Code::kValidationFailed);

  auto layers = registry().ListLayers("", "", "", 50);
  ASSERT_TRUE(layers.has_value());
  ASSERT_EQ(layers->layers.size(), 2u);
  EXPECT_EQ(layers->layers[0].name, "another");
  EXPECT_EQ(layers->layers[1].name, "lib");
  EXPECT_EQ(layers->layers[1].latest_matching.version, 3);
  auto matching = registry().ListLayers("python3.12", "", "", 50);
  ASSERT_EQ(matching->layers.size(), 1u);
  EXPECT_EQ(matching->layers[0].latest_matching.version, 2);
  auto first = registry().ListLayers("", "", "", 1);
  ASSERT_EQ(first->layers.size(), 1u);
  EXPECT_EQ(first->next_marker, "another");
  EXPECT_EQ(registry().ListLayers("", "", "another", 1)->layers[0].name, "lib");

  ASSERT_TRUE(registry().DeleteLayerVersion("lib", 3).ok());
  EXPECT_EQ(registry().GetLayerVersion("lib", 3).error().code(), Code::kNotFound);
  EXPECT_TRUE(registry().DeleteLayerVersion("lib", 3).ok()) << "deleting twice is not an error";
  EXPECT_EQ(registry().ListLayers("", "", "", 50)->layers[1].latest_matching.version, 2);
  // Numbers are never reused, also across a restart.
  Reopen();
  EXPECT_EQ(MustPublish(Publish("lib")).version, 4);
  EXPECT_EQ(registry().GetLayerVersion("lib", 3).error().code(), Code::kNotFound);
  EXPECT_TRUE(registry().GetLayerVersion("lib", 2).has_value());
}

TEST_F(LayersTest, RefusesBadNamesListsAndPackages) {
  EXPECT_EQ(registry().PublishLayerVersion(Publish("bad name")).error().code(),
            Code::kValidationFailed);
  EXPECT_EQ(registry().PublishLayerVersion(Publish("")).error().code(), Code::kValidationFailed);
  EXPECT_EQ(registry().PublishLayerVersion(Publish(std::string(141, 'a'))).error().code(),
            Code::kValidationFailed);
  auto not_zip = registry().PublishLayerVersion(Publish("lib", "not a zip"));
  ASSERT_FALSE(not_zip.has_value());
  EXPECT_EQ(not_zip.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(not_zip.error().message(),
            "Could not unzip uploaded file. Please check your file, then try to upload again.");
  auto too_big = registry().PublishLayerVersion(Publish("lib", std::string(52428801, 'x')));
  EXPECT_EQ(too_big.error().code(), Code::kTooLarge);
  PublishLayerVersionRequest bad_runtime = Publish("lib");
  bad_runtime.compatible_runtimes = {"python9"};
  EXPECT_EQ(registry().PublishLayerVersion(bad_runtime).error().code(), Code::kValidationFailed);
  PublishLayerVersionRequest bad_arch = Publish("lib");
  bad_arch.compatible_architectures = {"sparc"};
  EXPECT_EQ(registry().PublishLayerVersion(bad_arch).error().code(), Code::kValidationFailed);
  // None of the failures used a version number.
  EXPECT_EQ(MustPublish(Publish("lib")).version, 1);
}

TEST_F(LayersTest, FunctionsReferenceExistingLayerVersionsInOrder) {
  LayerVersion a = MustPublish(Publish("a"));
  LayerVersion b = MustPublish(Publish("b", LibZip("B = 1\n")));
  std::string arn_a = std::string(kLayerArn) + "a:1";
  std::string arn_b = std::string(kLayerArn) + "b:1";
  auto f = registry().CreateFunction(Create("fn", {arn_b, arn_a}));
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  const FunctionVersion& v = *f->latest;
  ASSERT_EQ(v.config.layers.size(), 2u);
  EXPECT_EQ(v.config.layers[0].arn, arn_b);
  EXPECT_EQ(v.config.layers[0].code_size, b.code_size);
  EXPECT_EQ(v.config.layers[1].arn, arn_a);
  EXPECT_EQ(v.layer_dirs, (std::vector<std::filesystem::path>{
                              dir_.path() / "code" / b.code_hex, dir_.path() / "code" / a.code_hex}));

  auto unknown = registry().CreateFunction(Create("fn2", {std::string(kLayerArn) + "a:7"}));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(unknown.error().message(),
            "Layer version arn:aws:lambda:us-east-1:000000000000:layer:a:7 does not exist.");
  auto other_account =
      registry().CreateFunction(Create("fn2", {"arn:aws:lambda:us-east-1:123456789012:layer:a:1"}));
  EXPECT_EQ(other_account.error().code(), Code::kInvalidArgument);
  auto malformed = registry().CreateFunction(Create("fn2", {"arn:aws:lambda:layer:a"}));
  EXPECT_EQ(malformed.error().code(), Code::kValidationFailed);

  MustPublish(Publish("a", LibZip("A = 2\n")));
  auto duplicate =
      registry().CreateFunction(Create("fn2", {arn_a, std::string(kLayerArn) + "a:2"}));
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().code(), Code::kInvalidArgument);
  EXPECT_NE(duplicate.error().message().find("Two different versions of the same layer"),
            std::string::npos);

  std::vector<std::string> six;
  for (int i = 0; i < 6; ++i) {
    six.push_back(std::string(kLayerArn) + MustPublish(Publish("l" + std::to_string(i))).name +
                  ":1");
  }
  auto too_many = registry().CreateFunction(Create("fn2", six));
  ASSERT_FALSE(too_many.has_value());
  EXPECT_EQ(too_many.error().message(), "Cannot reference more than 5 layers.");
  six.pop_back();
  EXPECT_TRUE(registry().CreateFunction(Create("fn2", six)).has_value());
  EXPECT_FALSE(registry().Resolve("fn3").has_value()) << "no function was created on failure";
}

TEST_F(LayersTest, UpdateConfigurationReplacesLayersAndPublishSnapshotsThem) {
  MustPublish(Publish("a"));
  MustPublish(Publish("b", LibZip("B\n")));
  std::string arn_a = std::string(kLayerArn) + "a:1";
  std::string arn_b = std::string(kLayerArn) + "b:1";
  ASSERT_TRUE(registry().CreateFunction(Create("fn", {arn_a})).has_value());
  PublishVersionRequest p;
  p.function_name = "fn";
  auto v1 = registry().PublishVersion(p);
  ASSERT_TRUE(v1.has_value());

  UpdateFunctionConfigurationRequest u;
  u.function_name = "fn";
  u.layers = std::vector<std::string>{arn_b};
  auto updated = registry().UpdateFunctionConfiguration(u);
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  ASSERT_EQ(updated->latest->config.layers.size(), 1u);
  EXPECT_EQ(updated->latest->config.layers[0].arn, arn_b);
  // A changed layer list is something to publish.
  auto v2 = registry().PublishVersion(p);
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ((*v2)->config.version, "2");
  EXPECT_EQ(registry().Resolve("fn", "1").value()->config.layers[0].arn, arn_a);
  EXPECT_EQ(registry().Resolve("fn", "2").value()->config.layers[0].arn, arn_b);

  // Other configuration updates keep the layers; an empty list removes them.
  UpdateFunctionConfigurationRequest timeout;
  timeout.function_name = "fn";
  timeout.timeout_seconds = 10;
  EXPECT_EQ(registry().UpdateFunctionConfiguration(timeout)->latest->config.layers.size(), 1u);
  u.layers = std::vector<std::string>{};
  auto cleared = registry().UpdateFunctionConfiguration(u);
  EXPECT_TRUE(cleared->latest->config.layers.empty());
  EXPECT_TRUE(cleared->latest->layer_dirs.empty());
  u.layers = std::vector<std::string>{std::string(kLayerArn) + "zzz:1"};
  EXPECT_EQ(registry().UpdateFunctionConfiguration(u).error().code(), Code::kInvalidArgument);
}

TEST_F(LayersTest, ADeletedLayerVersionKeepsWorkingForItsFunctionsAcrossRestarts) {
  LayerVersion a = MustPublish(Publish("a"));
  std::string arn_a = std::string(kLayerArn) + "a:1";
  ASSERT_TRUE(registry().CreateFunction(Create("fn", {arn_a})).has_value());
  ASSERT_TRUE(registry().DeleteLayerVersion("a", 1).ok());
  EXPECT_EQ(registry().Resolve("fn").value()->config.layers[0].arn, arn_a);
  // New references to it are refused.
  EXPECT_EQ(registry().CreateFunction(Create("fn2", {arn_a})).error().code(),
            Code::kInvalidArgument);
  // After a restart, even with the unpacked directory gone, the function's
  // layer is restored from its blob.
  Reopen();
  std::filesystem::remove_all(dir_.path() / "code" / a.code_hex);
  Reopen();
  auto fn = registry().Resolve("fn");
  ASSERT_TRUE(fn.has_value());
  EXPECT_EQ((*fn)->config.state, "Active");
  ASSERT_EQ((*fn)->layer_dirs.size(), 1u);
  EXPECT_EQ(ReadFile((*fn)->layer_dirs[0] / "python" / "lib.py"), "VALUE = 1\n");
  EXPECT_EQ((*fn)->config.layers[0].code_size, a.code_size);
}

TEST_F(LayersTest, FunctionPlusLayersMustFitTheUnzippedLimit) {
  // Each package is under 250 MB unzipped; together they are not.
  LayerVersion big = MustPublish(
      Publish("big", ZipBuilder().ZeroFile("data/a.bin", 133000000).Build()));
  MustPublish(Publish("big2", ZipBuilder().ZeroFile("data/b.bin", 130000000).Build()));
  std::string arn_big = std::string(kLayerArn) + "big:1";
  std::string arn_big2 = std::string(kLayerArn) + "big2:1";
  ASSERT_TRUE(registry().CreateFunction(Create("fn", {arn_big})).has_value());
  CreateFunctionRequest both = Create("fn2", {arn_big, arn_big2});
  const int64_t function_bytes = 30;  // "def handler(e, c):\n  return 1\n"
  auto refused = registry().CreateFunction(both);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(refused.error().message(),
            fmt::format("Function code combined with layers exceeds the maximum allowed size of "
                        "262144000 bytes. The actual size is {} bytes.",
                        263000000 + function_bytes));
  UpdateFunctionConfigurationRequest u;
  u.function_name = "fn";
  u.layers = std::vector<std::string>{arn_big, arn_big2};
  EXPECT_EQ(registry().UpdateFunctionConfiguration(u).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry().Resolve("fn").value()->config.layers.size(), 1u);
  EXPECT_EQ(big.unzipped_size, 133000000);
}

// The layout before layers (schema version 2), as released: a database of
// that version opens, gains the layer tables and keeps its functions.
TEST_F(LayersTest, OpensADatabaseWrittenBeforeLayers) {
  registry_.reset();
  TempDir old;
  std::string zip = ZipBuilder().File("app.py", "def handler(e, c):\n  return 1\n").Build();
  std::string hex = HexEncode(Sha256(zip));
  {
    std::vector<storage::Migration> v2 = {
        {1,
         "CREATE TABLE functions (name TEXT PRIMARY KEY NOT NULL, config TEXT NOT NULL,"
         "  code_hex TEXT NOT NULL)"},
        {2,
         "ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER;"
         "CREATE TABLE versions (function TEXT NOT NULL REFERENCES functions(name) ON DELETE "
         "CASCADE, version INTEGER NOT NULL, config TEXT NOT NULL, code_hex TEXT NOT NULL,"
         "  fingerprint TEXT NOT NULL, PRIMARY KEY (function, version));"
         "CREATE TABLE aliases (function TEXT NOT NULL REFERENCES functions(name) ON DELETE "
         "CASCADE, name TEXT NOT NULL, config TEXT NOT NULL, PRIMARY KEY (function, name));"
         "CREATE TABLE provisioned_concurrency (function TEXT NOT NULL REFERENCES "
         "functions(name) ON DELETE CASCADE, qualifier TEXT NOT NULL, requested INTEGER NOT "
         "NULL, last_modified TEXT NOT NULL, PRIMARY KEY (function, qualifier));"
         "CREATE TABLE policies (function TEXT NOT NULL REFERENCES functions(name) ON DELETE "
         "CASCADE, qualifier TEXT NOT NULL, statements TEXT NOT NULL, revision_id TEXT NOT "
         "NULL, PRIMARY KEY (function, qualifier));"},
    };
    auto store = storage::Store::Open(old.path() / "nimbus.db", v2);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    // A function record as written before layers: no layers, no unzipped size.
    std::string config =
        R"({"name":"old","version":"$LATEST","runtime":"python3.12","handler":"app.handler",)"
        R"("role":"arn:aws:iam::123456789012:role/r","log_group":"/aws/lambda/old",)"
        R"("code_sha256":")" +
        Base64Encode(Sha256(zip)) + R"(","code_size":)" + std::to_string(zip.size()) +
        R"(,"revision_id":"r1","state":"Active"})";
    auto st = (*store)->Prepare("INSERT INTO functions (name, config, code_hex) VALUES (?, ?, ?)");
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(st->BindText(1, "old").ok());
    ASSERT_TRUE(st->BindText(2, config).ok());
    ASSERT_TRUE(st->BindText(3, hex).ok());
    ASSERT_TRUE(st->Run().ok());
    auto blobs = storage::BlobStore::Open(old.path() / "blobs");
    ASSERT_TRUE(blobs.has_value());
    ASSERT_TRUE((*blobs)->Put(zip).has_value());
  }
  auto r = Registry::Open(RegistryOptions{old.path(), Region{}}, clock_);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  auto fn = (*r)->Resolve("old");
  ASSERT_TRUE(fn.has_value());
  EXPECT_TRUE((*fn)->config.layers.empty());
  EXPECT_EQ((*fn)->config.state, "Active");
  auto layer = (*r)->PublishLayerVersion(Publish("lib"));
  ASSERT_TRUE(layer.has_value()) << layer.error().ToString();
  // The old record has no unpacked size: the limit check measures the tree.
  UpdateFunctionConfigurationRequest u;
  u.function_name = "old";
  u.layers = std::vector<std::string>{std::string(kLayerArn) + "lib:1"};
  auto updated = (*r)->UpdateFunctionConfiguration(u);
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  EXPECT_EQ(updated->latest->config.layers.size(), 1u);
  r->reset();
  auto store = storage::Store::Open(old.path() / "nimbus.db", {});
  EXPECT_FALSE(store.has_value()) << "schema version 3 is newer than no migrations";
}

}  // namespace
}  // namespace nimbus::control
