// Code collection: which blobs and code directories CollectGarbage removes, when,
// and what it must never remove (code still used by a version, a layer or a
// mutation in progress).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "control/registry.h"
#include "control/testing/registry_fixture.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::control {
namespace {

using std::chrono::minutes;
using storage::testing::ZipBuilder;
using testing::kRole;
using testing::ReadFile;

constexpr char kLayerArn[] = "arn:aws:lambda:us-east-1:000000000000:layer:";

std::string CodeZip(std::string_view body) {
  return ZipBuilder()
      .File("app.py", std::string("def handler(e, c):\n  return '") + std::string(body) + "'\n")
      .Build();
}

std::string HexOf(std::string_view zip) { return HexEncode(Sha256(zip)); }

CreateFunctionRequest Create(std::string name, std::string zip,
                             std::vector<std::string> layers = {}) {
  CreateFunctionRequest r;
  r.function_name = std::move(name);
  r.runtime = "python3.12";
  r.handler = "app.handler";
  r.role = kRole;
  r.zip_file = std::move(zip);
  r.layers = std::move(layers);
  return r;
}

UpdateFunctionCodeRequest UpdateCode(std::string name, std::string zip) {
  UpdateFunctionCodeRequest r;
  r.function_name = std::move(name);
  r.zip_file = std::move(zip);
  return r;
}

class CodeCollectionTest : public testing::RegistryFixture {
 protected:
  bool HasBlob(const std::string& hex) {
    return std::filesystem::is_regular_file(dir_.path() / "blobs" / "sha256" / hex);
  }
  bool HasCodeDir(const std::string& hex) {
    return std::filesystem::is_directory(dir_.path() / "code" / hex);
  }
  // Every entry of `sub` (blobs/sha256 or code), temporary ones included.
  std::set<std::string> Entries(const std::string& sub) {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() / sub)) {
      out.insert(e.path().filename().string());
    }
    return out;
  }
  void MustCreate(CreateFunctionRequest r) {
    auto f = registry().CreateFunction(std::move(r));
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
  }
  void MustDelete(std::string_view name, std::string_view qualifier = {}) {
    auto d = registry().DeleteFunction(name, qualifier);
    ASSERT_TRUE(d.has_value()) << d.error().ToString();
  }
  // Moves past the default 20-minute grace and collects.
  CodeCollection CollectAfterTheGrace() {
    clock_.Advance(minutes(21));
    return registry().CollectGarbage();
  }
};

TEST_F(CodeCollectionTest, DeletingAFunctionRemovesItsBlobAtOnceAndItsCodeDirAfterTheGrace) {
  const std::string zip = CodeZip("a");
  const std::string hex = HexOf(zip);
  MustCreate(Create("f", zip));
  MustDelete("f");
  EXPECT_FALSE(HasBlob(hex));
  // An environment retired by the delete may still be running from it.
  EXPECT_TRUE(HasCodeDir(hex));
  EXPECT_EQ(ReadFile(dir_.path() / "code" / hex / "app.py"), "def handler(e, c):\n  return 'a'\n");
  clock_.Advance(minutes(19));
  CodeCollection early = registry().CollectGarbage();
  EXPECT_EQ(early.code_dirs_removed, 0);
  EXPECT_EQ(early.code_dirs_waiting, 1);
  EXPECT_TRUE(HasCodeDir(hex));
  clock_.Advance(minutes(1));
  CodeCollection late = registry().CollectGarbage();
  EXPECT_EQ(late.code_dirs_removed, 1);
  EXPECT_EQ(late.code_dirs_waiting, 0);
  // Nothing left behind, not even the renamed tree.
  EXPECT_TRUE(Entries("code").empty());
  EXPECT_TRUE(Entries("blobs/sha256").empty());
}

TEST_F(CodeCollectionTest, TheGraceIsARegistryOption) {
  registry_.reset();
  RegistryOptions options = Options();
  options.code_dir_grace = std::chrono::seconds(30);
  auto r = Registry::Open(options, clock_);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  registry_ = std::move(r).value();
  const std::string zip = CodeZip("short");
  MustCreate(Create("f", zip));
  MustDelete("f");
  clock_.Advance(std::chrono::seconds(29));
  EXPECT_EQ(registry().CollectGarbage().code_dirs_removed, 0);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(registry().CollectGarbage().code_dirs_removed, 1);
  EXPECT_FALSE(HasCodeDir(HexOf(zip)));
}

TEST_F(CodeCollectionTest, CodeSharedByTwoFunctionsSurvivesUntilTheLastOneIsDeleted) {
  const std::string zip = CodeZip("shared");
  const std::string hex = HexOf(zip);
  MustCreate(Create("a", zip));
  MustCreate(Create("b", zip));
  MustDelete("a");
  CollectAfterTheGrace();
  EXPECT_TRUE(HasBlob(hex));
  EXPECT_TRUE(HasCodeDir(hex));
  auto b = registry().Resolve("b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ((*b)->config.state, "Active");
  EXPECT_EQ(registry().ReadCodePackage(hex).value(), zip);
  MustDelete("b");
  EXPECT_FALSE(HasBlob(hex));
  EXPECT_TRUE(HasCodeDir(hex));
  CollectAfterTheGrace();
  EXPECT_FALSE(HasCodeDir(hex));
}

TEST_F(CodeCollectionTest, PublishedVersionsKeepTheirCodeAcrossUpdatesOfLatest) {
  const std::string v1 = CodeZip("v1");
  const std::string v2 = CodeZip("v2");
  const std::string v3 = CodeZip("v3");
  MustCreate(Create("f", v1));
  ASSERT_TRUE(registry().PublishVersion({"f", {}, {}, {}}).has_value());
  ASSERT_TRUE(registry().UpdateFunctionCode(UpdateCode("f", v2)).has_value());
  // Version 1 still runs v1.
  CollectAfterTheGrace();
  EXPECT_TRUE(HasBlob(HexOf(v1)));
  EXPECT_TRUE(HasCodeDir(HexOf(v1)));
  // $LATEST's previous code, used by no version, goes with the update.
  ASSERT_TRUE(registry().UpdateFunctionCode(UpdateCode("f", v3)).has_value());
  EXPECT_FALSE(HasBlob(HexOf(v2)));
  EXPECT_TRUE(HasCodeDir(HexOf(v2)));
  MustDelete("f", "1");
  EXPECT_FALSE(HasBlob(HexOf(v1)));
  CollectAfterTheGrace();
  EXPECT_EQ(Entries("blobs/sha256"), std::set<std::string>{HexOf(v3)});
  EXPECT_EQ(Entries("code"), std::set<std::string>{HexOf(v3)});
  EXPECT_EQ(ReadFile(registry().Resolve("f").value()->code_dir / "app.py"),
            "def handler(e, c):\n  return 'v3'\n");
}

TEST_F(CodeCollectionTest, ADryRunStoresNoBlobAndItsDirectoryIsCollectedAfterTheGrace) {
  const std::string zip = CodeZip("a");
  const std::string dry = CodeZip("dry");
  MustCreate(Create("f", zip));
  UpdateFunctionCodeRequest u = UpdateCode("f", dry);
  u.dry_run = true;
  ASSERT_TRUE(registry().UpdateFunctionCode(u).has_value());
  EXPECT_FALSE(HasBlob(HexOf(dry)));
  EXPECT_EQ(registry().CollectGarbage().code_dirs_waiting, 1);
  CollectAfterTheGrace();
  EXPECT_EQ(Entries("code"), std::set<std::string>{HexOf(zip)});
}

TEST_F(CodeCollectionTest, ALayerVersionsContentStaysWhileAFunctionUsesIt) {
  const std::string lib = ZipBuilder().File("python/lib.py", "VALUE = 1\n").Build();
  const std::string unused = ZipBuilder().File("python/lib.py", "VALUE = 2\n").Build();
  PublishLayerVersionRequest p;
  p.layer_name = "lib";
  p.zip_file = lib;
  ASSERT_TRUE(registry().PublishLayerVersion(p).has_value());
  p.zip_file = unused;
  ASSERT_TRUE(registry().PublishLayerVersion(p).has_value());
  const std::string fn_zip = CodeZip("fn");
  MustCreate(Create("fn", fn_zip, {std::string(kLayerArn) + "lib:1"}));

  // Version 2 has no users: its code goes with it.
  ASSERT_TRUE(registry().DeleteLayerVersion("lib", 2).ok());
  EXPECT_FALSE(HasBlob(HexOf(unused)));
  // Version 1 keeps working for the function that uses it (as in Lambda).
  ASSERT_TRUE(registry().DeleteLayerVersion("lib", 1).ok());
  CollectAfterTheGrace();
  EXPECT_TRUE(HasBlob(HexOf(lib)));
  EXPECT_TRUE(HasCodeDir(HexOf(lib)));
  EXPECT_FALSE(HasCodeDir(HexOf(unused)));
  auto fn = registry().Resolve("fn");
  ASSERT_TRUE(fn.has_value());
  EXPECT_EQ(ReadFile((*fn)->layer_dirs.at(0) / "python" / "lib.py"), "VALUE = 1\n");
  // Across a restart too.
  Reopen();
  EXPECT_TRUE(HasBlob(HexOf(lib)));
  EXPECT_EQ(registry().Resolve("fn").value()->config.state, "Active");

  // Once the function drops the layer, its content goes.
  UpdateFunctionConfigurationRequest u;
  u.function_name = "fn";
  u.layers = std::vector<std::string>{};
  ASSERT_TRUE(registry().UpdateFunctionConfiguration(u).has_value());
  EXPECT_FALSE(HasBlob(HexOf(lib)));
  CollectAfterTheGrace();
  EXPECT_EQ(Entries("code"), std::set<std::string>{HexOf(fn_zip)});
  EXPECT_EQ(Entries("blobs/sha256"), std::set<std::string>{HexOf(fn_zip)});
}

TEST_F(CodeCollectionTest, ALiveLayerVersionKeepsItsContentWithoutUsers) {
  const std::string lib = ZipBuilder().File("python/lib.py", "VALUE = 1\n").Build();
  PublishLayerVersionRequest p;
  p.layer_name = "lib";
  p.zip_file = lib;
  ASSERT_TRUE(registry().PublishLayerVersion(p).has_value());
  CollectAfterTheGrace();
  CollectAfterTheGrace();
  EXPECT_TRUE(HasBlob(HexOf(lib)));
  EXPECT_TRUE(HasCodeDir(HexOf(lib)));
}

// A collection that runs between a mutation's unpack and blob write and its
// commit (simulated by the hook) must leave the new code alone, however long
// the directory has looked unreferenced.
TEST_F(CodeCollectionTest, CodeStoredByAMutationInProgressIsNotCollected) {
  std::string in_progress;  // the hex the mutation under way is storing
  int collections = 0;
  registry().SetCodeStoredHookForTest([&] {
    registry().CollectGarbage();
    CollectAfterTheGrace();
    EXPECT_TRUE(HasBlob(in_progress));
    EXPECT_TRUE(HasCodeDir(in_progress));
    ++collections;
  });
  const std::string zip = CodeZip("create");
  in_progress = HexOf(zip);
  MustCreate(Create("f", zip));
  const std::string updated = CodeZip("update");
  in_progress = HexOf(updated);
  ASSERT_TRUE(registry().UpdateFunctionCode(UpdateCode("f", updated)).has_value());
  PublishLayerVersionRequest p;
  p.layer_name = "lib";
  p.zip_file = ZipBuilder().File("python/lib.py", "VALUE = 1\n").Build();
  in_progress = HexOf(p.zip_file);
  ASSERT_TRUE(registry().PublishLayerVersion(p).has_value());
  registry().SetCodeStoredHookForTest({});
  EXPECT_EQ(collections, 3);
  EXPECT_TRUE(HasBlob(HexOf(updated)));
  EXPECT_EQ(ReadFile(registry().Resolve("f").value()->code_dir / "app.py"),
            "def handler(e, c):\n  return 'update'\n");
  EXPECT_TRUE(HasBlob(HexOf(p.zip_file)));
  EXPECT_TRUE(HasCodeDir(HexOf(p.zip_file)));
  // The create's code was collected once the update replaced it: pins end.
  EXPECT_FALSE(HasBlob(HexOf(zip)));
}

// Collections racing creates and deletes of the same package (no grace, so
// every collection tries to remove it): a create always ends with its blob and
// a complete code directory.
TEST_F(CodeCollectionTest, ConcurrentCollectionsNeverTakeCodeFromACreate) {
  registry_.reset();
  RegistryOptions options = Options();
  options.code_dir_grace = std::chrono::seconds(0);
  auto r = Registry::Open(options, clock_);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  registry_ = std::move(r).value();
  const std::string zip = CodeZip("race");
  const std::string hex = HexOf(zip);
  std::atomic<bool> done{false};
  std::thread collector([&] {
    while (!done.load()) registry().CollectGarbage();
  });
  for (int i = 0; i < 30; ++i) {
    auto f = registry().CreateFunction(Create("f", zip));
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
    EXPECT_TRUE(HasBlob(hex)) << i;
    EXPECT_EQ(ReadFile(f->latest->code_dir / "app.py"), "def handler(e, c):\n  return 'race'\n")
        << i;
    ASSERT_TRUE(registry().DeleteFunction("f").has_value());
  }
  done = true;
  collector.join();
  registry().CollectGarbage();
  EXPECT_TRUE(Entries("code").empty());
  EXPECT_TRUE(Entries("blobs/sha256").empty());
}

// A create that reuses an unreferenced directory during its grace restarts the
// grace: an environment of the new function may be running from it.
TEST_F(CodeCollectionTest, ADirectoryUsedAgainStartsANewGracePeriod) {
  const std::string zip = CodeZip("again");
  const std::string hex = HexOf(zip);
  MustCreate(Create("a", zip));
  MustDelete("a");
  clock_.Advance(minutes(15));
  MustCreate(Create("b", zip));
  EXPECT_TRUE(HasBlob(hex));
  clock_.Advance(minutes(1));
  MustDelete("b");
  clock_.Advance(minutes(10));  // 26 minutes after the first delete, 10 after the second
  EXPECT_EQ(registry().CollectGarbage().code_dirs_removed, 0);
  EXPECT_TRUE(HasCodeDir(hex));
  clock_.Advance(minutes(10));
  EXPECT_EQ(registry().CollectGarbage().code_dirs_removed, 1);
  EXPECT_FALSE(HasCodeDir(hex));
}

TEST_F(CodeCollectionTest, OpenRemovesEveryUnreferencedPackageAtOnce) {
  const std::string kept = CodeZip("kept");
  const std::string gone = CodeZip("gone");
  MustCreate(Create("kept", kept));
  MustCreate(Create("gone", gone));
  MustDelete("gone");
  ASSERT_TRUE(HasCodeDir(HexOf(gone)));
  // Leaked by a binary without collection: a blob and a directory nobody names.
  const std::string stray(64, 'a');
  { std::ofstream(dir_.path() / "blobs" / "sha256" / stray) << "zip"; }
  std::filesystem::create_directories(dir_.path() / "code" / stray / "sub");
  { std::ofstream(dir_.path() / "code" / stray / "sub" / "f") << "x"; }
  Reopen();
  EXPECT_EQ(Entries("blobs/sha256"), std::set<std::string>{HexOf(kept)});
  EXPECT_EQ(Entries("code"), std::set<std::string>{HexOf(kept)});
  EXPECT_EQ(ReadFile(registry().Resolve("kept").value()->code_dir / "app.py"),
            "def handler(e, c):\n  return 'kept'\n");
}

TEST_F(CodeCollectionTest, OpenRemovesATreeLeftHalfRemovedByACrash) {
  const std::string zip = CodeZip("a");
  MustCreate(Create("a", zip));
  registry_.reset();
  // A collection renamed a directory away and crashed while removing it.
  const auto trash = dir_.path() / "code" / ".tmp-gc-0123456789abcdef0123456789abcdef";
  std::filesystem::create_directories(trash / "lib");
  { std::ofstream(trash / "lib" / "half") << "x"; }
  Reopen();
  EXPECT_EQ(Entries("code"), std::set<std::string>{HexOf(zip)});
  EXPECT_EQ(registry().Resolve("a").value()->config.state, "Active");
}

}  // namespace
}  // namespace nimbus::control
