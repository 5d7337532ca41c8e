#include "sandbox/cgroup.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

namespace nimbus::sandbox {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A fake cgroup2 tree in a temporary directory: plain files stand in for the
// kernel's, so this checks what detection writes, not what the kernel does.
class FakeCgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nimbus-cgroup-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    root_ = dir;
    own_ = root_ / "unified" / "system.slice" / "nimbus.service";
    fs::create_directories(own_ / "nimbus");
    std::ofstream(own_ / "cgroup.subtree_control");
    std::ofstream(own_ / "nimbus" / "cgroup.subtree_control");
  }
  void TearDown() override { fs::remove_all(root_); }

  CgroupHostView View() const {
    CgroupHostView view;
    view.proc_self_cgroup = "0::/system.slice/nimbus.service\n";
    view.mountinfo = fmt::format(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "41 31 0:38 / {} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n",
        (root_ / "unified").string());
    view.root = true;
    return view;
  }

  fs::path root_;
  fs::path own_;
};

TEST_F(FakeCgroupTree, UsesDelegatedV2ControllersAndEnablesThemForEnvironments) {
  std::ofstream(own_ / "cgroup.controllers") << "cpuset cpu io memory pids\n";
  CgroupLayout layout = DetectCgroupLayout(View(), "nimbus");
  EXPECT_TRUE(layout.all_usable());
  EXPECT_TRUE(layout.warnings.empty());
  for (auto c : {Controller::kMemory, Controller::kCpu, Controller::kPids}) {
    EXPECT_EQ(layout.at(c).version, 2);
    EXPECT_EQ(layout.at(c).parent_dir, (own_ / "nimbus").string());
  }
  EXPECT_EQ(Slurp(own_ / "cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(Slurp(own_ / "nimbus" / "cgroup.subtree_control"), "+memory +cpu +pids");
}

TEST_F(FakeCgroupTree, WarnsAboutEachControllerThatIsNotDelegated) {
  std::ofstream(own_ / "cgroup.controllers") << "cpu memory\n";
  CgroupLayout layout = DetectCgroupLayout(View(), "nimbus");
  EXPECT_FALSE(layout.all_usable());
  EXPECT_TRUE(layout.at(Controller::kMemory).usable);
  EXPECT_FALSE(layout.at(Controller::kPids).usable);
  ASSERT_EQ(layout.warnings.size(), 1u);
  EXPECT_EQ(layout.warnings[0].rfind("pids limit not enforced: ", 0), 0u) << layout.warnings[0];
}

TEST(CgroupLimits, GiveCpuInProportionToMemoryAtOneVcpuPer1769Mb) {
  SandboxSpec spec;
  spec.memory_mb = 1769;
  EXPECT_EQ(LimitsFor(spec).cpu_quota_us, 20'000u);
  EXPECT_EQ(LimitsFor(spec).cpu_period_us, 20'000u);
  spec.memory_mb = 3538;
  EXPECT_EQ(LimitsFor(spec).cpu_quota_us, 40'000u);
  spec.memory_mb = 128;
  EXPECT_EQ(LimitsFor(spec).cpu_quota_us, 1'447u);
  EXPECT_EQ(LimitsFor(spec).memory_bytes, 128u << 20);
}

TEST(CgroupLimits, ABackgroundSandboxGetsTheLowestCpuWeight) {
  SandboxSpec spec;
  spec.memory_mb = 1769;
  EXPECT_EQ(LimitsFor(spec).cpu_shares, 1024u);
  EXPECT_EQ(LimitsFor(spec).cpu_weight, 100u);
  spec.background = true;
  EXPECT_EQ(LimitsFor(spec).cpu_shares, 2u);
  EXPECT_EQ(LimitsFor(spec).cpu_weight, 1u);
  EXPECT_EQ(LimitsFor(spec).memory_bytes, 1769u << 20);
}

TEST(CgroupLimits, NeverGoBelowTheKernelsMinimumQuota) {
  SandboxSpec spec;
  spec.memory_mb = 64;
  EXPECT_EQ(LimitsFor(spec).cpu_quota_us, 1'000u);
}

TEST(CgroupLimits, CountTheSandboxInitWithinTheEnvironmentsProcessLimit) {
  SandboxSpec spec;
  spec.max_pids = 1024;
  EXPECT_EQ(LimitsFor(spec).max_pids, 1024u);
}

TEST(CgroupLayoutOfThisHost, PlacesEachControllerWhereTheKernelHasIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  auto view = ReadCgroupHostView();
  ASSERT_TRUE(view) << view.error().ToString();
  CgroupLayout layout = DetectCgroupLayout(*view, "nimbus-cgroup-test");
  if (!layout.all_usable()) GTEST_SKIP() << "cgroups not usable here: " << layout.warnings[0];
  SandboxSpec spec;
  spec.memory_mb = 256;
  spec.max_pids = 10;
  std::string id = fmt::format("cgtest{}", ::getpid());
  auto cg = EnvironmentCgroup::Create(layout, id, LimitsFor(spec));
  ASSERT_TRUE(cg) << cg.error().ToString();
  const auto& mem = layout.at(Controller::kMemory);
  fs::path dir = fs::path(mem.parent_dir) / id;
  ASSERT_TRUE(fs::is_directory(dir));
  if (mem.version == 1) {
    EXPECT_EQ(Slurp(dir / "memory.limit_in_bytes"), "268435456\n");
  } else {
    EXPECT_EQ(Slurp(dir / "memory.max"), "268435456\n");
  }
  EXPECT_EQ((*cg)->ReadUsage().oom_killed, false);
  EXPECT_TRUE((*cg)->Destroy().ok());
  EXPECT_FALSE(fs::exists(dir));
  for (const auto& d : (*cg)->dirs()) EXPECT_FALSE(fs::exists(d));
}

}  // namespace
}  // namespace nimbus::sandbox

namespace nimbus::sandbox {
namespace {

TEST(SweepStaleCgroups, RemovesOnlyOldEmptyEnvironmentCgroups) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  auto view = ReadCgroupHostView();
  ASSERT_TRUE(view) << view.error().ToString();
  CgroupLayout layout = DetectCgroupLayout(*view, "nimbus-sweep-test");
  if (!layout.all_usable()) GTEST_SKIP() << "cgroups not usable here: " << layout.warnings[0];
  SandboxSpec spec;
  auto fresh = EnvironmentCgroup::Create(layout, fmt::format("fresh{}", ::getpid()), LimitsFor(spec));
  ASSERT_TRUE(fresh) << fresh.error().ToString();
  // Younger than the minimum age: kept.
  EXPECT_EQ(SweepStaleCgroups(layout, std::chrono::seconds(60)), 0);
  for (const auto& dir : (*fresh)->dirs()) EXPECT_TRUE(std::filesystem::is_directory(dir));
  // Any empty cgroup qualifies with a zero minimum age; one holding a process never does.
  auto busy = EnvironmentCgroup::Create(layout, fmt::format("busy{}", ::getpid()), LimitsFor(spec));
  ASSERT_TRUE(busy) << busy.error().ToString();
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE((*busy)->AddProcess(child).ok());
  EXPECT_GE(SweepStaleCgroups(layout, std::chrono::seconds(0)), 1);
  for (const auto& dir : (*fresh)->dirs()) EXPECT_FALSE(std::filesystem::exists(dir));
  for (const auto& dir : (*busy)->dirs()) EXPECT_TRUE(std::filesystem::is_directory(dir));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE((*busy)->Destroy().ok());
  EXPECT_TRUE((*fresh)->Destroy().ok()) << "a swept cgroup is already gone, which is fine";
}

}  // namespace
}  // namespace nimbus::sandbox
