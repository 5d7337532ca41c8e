// Cgroups for execution environments: detection of the host's layout (cgroup v1,
// v2 or hybrid, per controller) and one EnvironmentCgroup per sandbox.
//
// Private to sandbox/. CgroupLayout is an immutable value built once by the
// factory (thread-safe to share). EnvironmentCgroup is thread-compatible and owned
// by one LinuxSandbox.
//
// Directory layout, per hierarchy that carries a controller we use:
//
//   <mount>/<daemon's own cgroup>/<cgroup_parent>/<environment id>
//
// v1: one directory per hierarchy (memory, cpu, pids are usually separate
// mounts). v2: one directory in the unified hierarchy; the controllers are
// enabled through cgroup.subtree_control of <own> and <own>/<cgroup_parent>, which
// is only allowed when <own> holds no processes ("no internal processes" rule),
// so the daemon moves itself into <own>/<cgroup_parent>-daemon first if needed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "sandbox/sandbox.h"

namespace nimbus::sandbox {

enum class Controller { kMemory = 0, kCpu = 1, kPids = 2 };
inline constexpr int kControllerCount = 3;
const char* ControllerName(Controller c);

// The limits written into an environment's cgroup.
struct CgroupLimits {
  uint64_t memory_bytes = 0;
  // CFS bandwidth: the environment may run `cpu_quota_us` per `cpu_period_us`.
  uint64_t cpu_quota_us = 0;
  uint64_t cpu_period_us = 0;
  // Relative weight under contention, proportional to memory like the quota:
  // v1 cpu.shares (1024 = one vCPU's worth), v2 cpu.weight (100 = one vCPU's worth).
  uint64_t cpu_shares = 0;
  uint64_t cpu_weight = 0;
  // When set, the quota is not written at creation (the init phase runs with
  // only the proportional weight, as Lambda lets init burst); ApplyCpuQuota()
  // writes it later.
  bool defer_cpu_quota = false;
  uint64_t max_pids = 0;
};

// AWS: 1,769 MB of memory = 1 vCPU, so quota = period × memory_mb / 1769. The
// period is the kernel default (100 ms). The quota never drops below the
// kernel's minimum of 1 ms per period (an 24 MB function would otherwise get
// 1.36 ms; the floor only matters below ~25 MB).
CgroupLimits LimitsFor(const SandboxSpec& spec);

// Where each controller lives on this host. Built by DetectCgroupLayout().
struct CgroupLayout {
  struct Placement {
    bool usable = false;
    int version = 0;         // 1 or 2
    std::string parent_dir;  // <mount>/<own>/<cgroup_parent>, created by Detect
  };
  Placement controllers[kControllerCount];
  // Limits that cannot be enforced, in words for the operator.
  std::vector<std::string> warnings;

  const Placement& at(Controller c) const { return controllers[static_cast<int>(c)]; }
  bool all_usable() const;
};

// Inputs of detection, so tests can point it at a fake tree.
struct CgroupHostView {
  std::string proc_self_cgroup;  // contents of /proc/self/cgroup
  std::string mountinfo;         // contents of /proc/self/mountinfo
  bool root = false;             // euid 0 in the initial user namespace
};

// Reads /proc/self/cgroup and /proc/self/mountinfo.
Result<CgroupHostView> ReadCgroupHostView();

// Finds each controller's hierarchy, creates <own>/<cgroup_parent> in it and (v2)
// enables the controllers for its children. Never fails: controllers that cannot
// be used are left unusable with a warning naming the reason.
CgroupLayout DetectCgroupLayout(const CgroupHostView& host, const std::string& cgroup_parent);

// Removes environment cgroups that a crashed daemon left behind under each
// placement's parent_dir: children holding no process that are older than
// `min_age` (a live daemon's environment cgroup is empty only for the moment
// between its creation and the sandbox's init joining it, or while that daemon
// tears it down, which then finds it gone and is content). Returns how many were
// removed. Best effort: errors are skipped.
int SweepStaleCgroups(const CgroupLayout& layout, std::chrono::seconds min_age);

// The cgroup directories of one environment. Created with limits, joined by the
// sandbox's init before it starts the runtime, removed by Destroy().
class EnvironmentCgroup {
 public:
  // Creates <parent_dir>/<id> for every usable controller and writes `limits`.
  // On failure removes what it created and returns the error.
  static Result<std::unique_ptr<EnvironmentCgroup>> Create(const CgroupLayout& layout,
                                                           const std::string& id,
                                                           const CgroupLimits& limits);
  ~EnvironmentCgroup();
  EnvironmentCgroup(const EnvironmentCgroup&) = delete;
  EnvironmentCgroup& operator=(const EnvironmentCgroup&) = delete;

  // Moves `pid` (and, as it has no threads yet, only it) into every directory.
  Status AddProcess(pid_t pid);

  // Rewrites the memory limit, CPU weight and CPU quota figures (a stem cell
  // taking on a function's memory size). pids.max is kept. Blocking.
  Status UpdateLimits(const CgroupLimits& limits);

  // Writes the CFS quota deferred by CgroupLimits::defer_cpu_quota. Blocking
  // (one small cgroupfs write); safe to call from another thread than the
  // owner's, as it only reads the immutable directory names.
  Status ApplyCpuQuota() const;

  // Peak memory and whether the OOM killer fired. Missing files read as 0.
  ResourceUsage ReadUsage() const;

  // Waits (up to ~2 s) until the directories hold no process, then removes them.
  // REQUIRES: every process in them has been killed. Idempotent.
  Status Destroy();

  // The directories created, one per distinct hierarchy (for tests).
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  EnvironmentCgroup() = default;
  std::string DirFor(Controller c) const;
  // Memory limit(s) and CPU weight. `memory_grows` orders v1's memory and memsw.
  Status WriteLimits(const CgroupLimits& limits, bool memory_grows) const;

  std::string dir_[kControllerCount];  // empty when the controller is not used
  CgroupLimits limits_;
  int version_[kControllerCount] = {0, 0, 0};
  std::vector<std::string> dirs_;      // distinct entries of dir_, in creation order
  // ReadUsage()'s files, opened on its first call (closed before Destroy removes them).
  mutable bool usage_fds_opened_ = false;
  mutable UniqueFd peak_fd_, events_fd_;
};

}  // namespace nimbus::sandbox
