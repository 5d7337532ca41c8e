#include "invoke/runtime_catalog.h"

#include <gtest/gtest.h>

#include <fstream>

#include "storage/testing/temp_dir.h"

namespace nimbus::invoke {
namespace {

using storage::testing::TempDir;

void WriteFile(const std::filesystem::path& p, int mode) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << "#!/bin/sh\n";
  std::filesystem::permissions(p, static_cast<std::filesystem::perms>(mode));
}

control::FunctionVersion Provided(const TempDir& dir, int layers) {
  control::FunctionVersion f;
  f.config.name = "custom";
  f.config.runtime = "provided.al2023";
  f.code_dir = dir.path() / "task";
  std::filesystem::create_directories(f.code_dir);
  for (int i = 0; i < layers; ++i) {
    std::string name = "layer" + std::to_string(i);
    f.layer_dirs.push_back(dir.path() / name);
    std::filesystem::create_directories(f.layer_dirs.back());
    f.config.layers.push_back(control::FunctionLayer{name, 1, 1, name});
  }
  return f;
}

std::vector<std::string> Argv(const Result<RuntimeResolution>& r) {
  EXPECT_TRUE(r.has_value());
  if (!r.has_value() || !r->launch) return {};
  return r->launch->argv;
}

TEST(RuntimeCatalogTest, CustomRuntimeBootstrapComesFromTheTaskRootFirst) {
  TempDir dir;
  control::FunctionVersion f = Provided(dir, 1);
  WriteFile(f.code_dir / "bootstrap", 0755);
  WriteFile(f.layer_dirs[0] / "bootstrap", 0755);
  EXPECT_EQ(Argv(ResolveRuntime(f)), std::vector<std::string>{"/var/task/bootstrap"});
}

TEST(RuntimeCatalogTest, CustomRuntimeBootstrapFromALayerIsOptBootstrap) {
  TempDir dir;
  control::FunctionVersion f = Provided(dir, 2);
  WriteFile(f.layer_dirs[0] / "bootstrap", 0755);
  EXPECT_EQ(Argv(ResolveRuntime(f)), std::vector<std::string>{"/opt/bootstrap"});
}

TEST(RuntimeCatalogTest, TheTopMostLayersBootstrapDecides) {
  TempDir dir;
  control::FunctionVersion f = Provided(dir, 2);
  WriteFile(f.layer_dirs[0] / "bootstrap", 0755);
  WriteFile(f.layer_dirs[1] / "bootstrap", 0644);  // shadows the executable one
  auto r = ResolveRuntime(f);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->launch.has_value());
  EXPECT_EQ(r->error_type, "Runtime.InvalidEntrypoint");
}

TEST(RuntimeCatalogTest, NoBootstrapAnywhereIsInvalidEntrypoint) {
  TempDir dir;
  control::FunctionVersion f = Provided(dir, 1);
  auto r = ResolveRuntime(f);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->launch.has_value());
  EXPECT_EQ(r->error_type, "Runtime.InvalidEntrypoint");
  EXPECT_EQ(r->error_message,
            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]");
}

}  // namespace
}  // namespace nimbus::invoke
