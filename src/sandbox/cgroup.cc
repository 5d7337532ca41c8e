#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "base/errno_status.h"

namespace nimbus::sandbox {
namespace {

// CFS period. Not the kernel's 100 ms default: a throttled environment waits out
// the rest of its period, so a 128 MB function (7.2 % of a CPU) that used its
// quota early stalled up to ~93 ms (bench/ p99 65 ms). With 20 ms periods the
// same allotment stalls at most ~18.5 ms. 20 ms keeps every quota from 128 MB
// up (1.45 ms) above the kernel's 1 ms minimum.
constexpr uint64_t kCpuPeriodUs = 20'000;
constexpr uint64_t kMinCpuQuotaUs = 1'000;  // the kernel rejects quotas below 1 ms
constexpr uint64_t kMbPerVcpu = 1'769;      // AWS Lambda: 1,769 MB = 1 vCPU

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(fmt::format("open {}", path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus(fmt::format("read {}", path), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status WriteFile(const std::string& path, std::string_view value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(fmt::format("open {}", path));
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoStatus(fmt::format("write '{}' to {}", value, path), err);
  return Status::Ok();
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Creates `path` if needed and checks that we may create groups in it (it may
// exist already, made by another user).
Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(fmt::format("mkdir {}", path));
  }
  if (::access(path.c_str(), W_OK) != 0) return ErrnoStatus(fmt::format("access {}", path));
  return Status::Ok();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Value of the "<key> N" line in a flat-keyed cgroup file such as memory.events.
uint64_t KeyedValue(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l(line);
    if (l.size() > key.size() && l.substr(0, key.size()) == key && l[key.size()] == ' ') {
      return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return 0;
}

struct Mount {
  std::string root;        // the part of the hierarchy mounted here
  std::string mountpoint;
  std::string fstype;
  std::string super_options;
};

std::vector<Mount> ParseMountinfo(const std::string& text) {
  std::vector<Mount> mounts;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno;
    Mount m;
    head >> id >> parent >> devno >> m.root >> m.mountpoint;
    std::istringstream tail(line.substr(dash + 3));
    std::string source;
    tail >> m.fstype >> source >> m.super_options;
    mounts.push_back(std::move(m));
  }
  return mounts;
}

// The directory of `own_path` (a path from /proc/self/cgroup) under `mount`.
std::string OwnDir(const Mount& mount, std::string own_path) {
  if (mount.root != "/" && own_path.rfind(mount.root, 0) == 0) {
    own_path = own_path.substr(mount.root.size());
  }
  if (own_path == "/") own_path.clear();
  return mount.mountpoint + own_path;
}

// Enables the controllers for the children of `dir` (v2). The kernel refuses
// with EBUSY while `dir` holds processes; in the daemon's own cgroup we then move
// them into a leaf sibling first (what systemd's Delegate= expects of us).
Status EnableSubtree(const std::string& dir, const std::string& controllers,
                     const std::string& daemon_leaf) {
  Status st = WriteFile(dir + "/cgroup.subtree_control", controllers);
  if (st.ok() || daemon_leaf.empty() || st.message().find("busy") == std::string::npos) return st;
  NIMBUS_RETURN_IF_ERROR(MakeDir(daemon_leaf));
  NIMBUS_ASSIGN_OR_RETURN(std::string procs, ReadFile(dir + "/cgroup.procs"));
  std::istringstream in(procs);
  std::string pid;
  while (in >> pid) {
    Status moved = WriteFile(daemon_leaf + "/cgroup.procs", pid);
    // ESRCH: the process exited meanwhile.
    if (!moved.ok() && moved.message().find("No such process") == std::string::npos) return moved;
  }
  return WriteFile(dir + "/cgroup.subtree_control", controllers);
}

}  // namespace

const char* ControllerName(Controller c) {
  switch (c) {
    case Controller::kMemory: return "memory";
    case Controller::kCpu: return "cpu";
    case Controller::kPids: return "pids";
  }
  return "?";
}

CgroupLimits LimitsFor(const SandboxSpec& spec) {
  CgroupLimits l;
  l.memory_bytes = spec.memory_mb << 20;
  l.cpu_period_us = kCpuPeriodUs;
  l.cpu_quota_us = std::max(kMinCpuQuotaUs, kCpuPeriodUs * spec.memory_mb / kMbPerVcpu);
  // Kernel ranges: cpu.shares >= 2, cpu.weight 1..10000.
  l.cpu_shares = spec.background ? 2 : std::max<uint64_t>(2, 1024 * spec.memory_mb / kMbPerVcpu);
  l.cpu_weight =
      spec.background ? 1 : std::clamp<uint64_t>(100 * spec.memory_mb / kMbPerVcpu, 1, 10000);
  l.defer_cpu_quota = spec.unthrottled_init;
  // Lambda's 1,024 processes+threads is a limit on the whole environment, so it
  // includes the sandbox's own init.
  l.max_pids = spec.max_pids;
  return l;
}

bool CgroupLayout::all_usable() const {
  for (const auto& p : controllers) {
    if (!p.usable) return false;
  }
  return true;
}

Result<CgroupHostView> ReadCgroupHostView() {
  CgroupHostView view;
  NIMBUS_ASSIGN_OR_RETURN(view.proc_self_cgroup, ReadFile("/proc/self/cgroup"));
  NIMBUS_ASSIGN_OR_RETURN(view.mountinfo, ReadFile("/proc/self/mountinfo"));
  view.root = ::geteuid() == 0;
  return view;
}

CgroupLayout DetectCgroupLayout(const CgroupHostView& host, const std::string& cgroup_parent) {
  CgroupLayout layout;
  std::vector<Mount> mounts = ParseMountinfo(host.mountinfo);

  // /proc/self/cgroup: "4:memory:/process_api/c96b..." (v1), "0::/user.slice/..." (v2).
  std::string v2_own;
  bool have_v2 = false;
  std::vector<std::pair<std::vector<std::string>, std::string>> v1_own;  // controllers, path
  std::istringstream in(host.proc_self_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    auto parts = Split(line, ':');
    if (parts.size() < 3) continue;
    std::string path(line.substr(parts[0].size() + parts[1].size() + 2));
    if (parts[0] == "0" && parts[1].empty()) {
      have_v2 = true;
      v2_own = path;
    } else {
      std::vector<std::string> names;
      for (auto n : Split(parts[1], ',')) names.emplace_back(n);
      v1_own.emplace_back(std::move(names), path);
    }
  }

  const Mount* v2_mount = nullptr;
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup2") v2_mount = &m;
  }
  std::string v2_controllers_available;
  std::string v2_own_dir;
  if (have_v2 && v2_mount != nullptr) {
    v2_own_dir = OwnDir(*v2_mount, v2_own);
    auto text = ReadFile(v2_own_dir + "/cgroup.controllers");
    if (text) v2_controllers_available = " " + *text + " ";
    std::replace(v2_controllers_available.begin(), v2_controllers_available.end(), '\n', ' ');
  }

  std::string v2_enable;
  for (int i = 0; i < kControllerCount; ++i) {
    auto c = static_cast<Controller>(i);
    std::string name = ControllerName(c);
    auto& placement = layout.controllers[i];

    // A controller is bound to at most one hierarchy; v1 first (hybrid hosts).
    const Mount* v1_mount = nullptr;
    for (const auto& m : mounts) {
      if (m.fstype != "cgroup") continue;
      for (auto opt : Split(m.super_options, ',')) {
        if (opt == name) v1_mount = &m;
      }
    }
    if (v1_mount != nullptr) {
      std::string own;
      for (const auto& [names, path] : v1_own) {
        if (std::find(names.begin(), names.end(), name) != names.end()) own = path;
      }
      std::string parent = OwnDir(*v1_mount, own) + "/" + cgroup_parent;
      Status st = MakeDir(parent);
      if (!st.ok()) {
        layout.warnings.push_back(
            fmt::format("{} limit not enforced: cgroup v1 {}", name, st.message()));
        continue;
      }
      placement = {true, 1, parent};
      continue;
    }
    if (!v2_own_dir.empty() && v2_controllers_available.find(" " + name + " ") != std::string::npos) {
      placement = {true, 2, v2_own_dir + "/" + cgroup_parent};
      v2_enable += (v2_enable.empty() ? "+" : " +") + name;
      continue;
    }
    layout.warnings.push_back(fmt::format(
        "{} limit not enforced: no cgroup v1 hierarchy has the {} controller and it is not "
        "delegated to the cgroup v2 group {}",
        name, name, v2_own_dir.empty() ? "(no cgroup2 mount)" : v2_own_dir));
  }

  if (!v2_enable.empty()) {
    std::string parent = v2_own_dir + "/" + cgroup_parent;
    Status st = MakeDir(parent);
    if (st.ok()) st = EnableSubtree(v2_own_dir, v2_enable, parent + "-daemon");
    if (st.ok()) st = EnableSubtree(parent, v2_enable, "");
    if (!st.ok()) {
      for (int i = 0; i < kControllerCount; ++i) {
        auto& placement = layout.controllers[i];
        if (placement.version != 2) continue;
        placement = {};
        layout.warnings.push_back(fmt::format("{} limit not enforced: cgroup v2 {}",
                                              ControllerName(static_cast<Controller>(i)),
                                              st.message()));
      }
    }
  }
  return layout;
}

int SweepStaleCgroups(const CgroupLayout& layout, std::chrono::seconds min_age) {
  int removed = 0;
  std::set<std::string> parents;
  for (const auto& p : layout.controllers) {
    if (p.usable) parents.insert(p.parent_dir);
  }
  const auto now = std::chrono::system_clock::now();
  for (const std::string& parent : parents) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
      if (!entry.is_directory(ec)) continue;
      const std::string dir = entry.path().string();
      auto procs = ReadFile(dir + "/cgroup.procs");
      if (!procs || !procs->empty()) continue;
      struct stat st{};
      if (::stat(dir.c_str(), &st) != 0) continue;
      auto created = std::chrono::system_clock::from_time_t(st.st_ctim.tv_sec);
      if (now - created < min_age) continue;
      if (::rmdir(dir.c_str()) == 0) ++removed;
    }
  }
  return removed;
}

Result<std::unique_ptr<EnvironmentCgroup>> EnvironmentCgroup::Create(const CgroupLayout& layout,
                                                                    const std::string& id,
                                                                    const CgroupLimits& limits) {
  std::unique_ptr<EnvironmentCgroup> cg(new EnvironmentCgroup());
  for (int i = 0; i < kControllerCount; ++i) {
    const auto& placement = layout.controllers[i];
    if (!placement.usable) continue;
    std::string dir = placement.parent_dir + "/" + id;
    if (std::find(cg->dirs_.begin(), cg->dirs_.end(), dir) == cg->dirs_.end()) {
      if (::mkdir(dir.c_str(), 0755) != 0) {
        Status st = ErrnoStatus(fmt::format("mkdir {}", dir));
        (void)cg->Destroy();  // best effort; the creation error is the one to report
        return st;
      }
      cg->dirs_.push_back(dir);
    }
    cg->dir_[i] = dir;
    cg->version_[i] = placement.version;
  }

  // A new cgroup starts unlimited: its limits shrink.
  Status st = cg->WriteLimits(limits, /*memory_grows=*/false);
  cg->limits_ = limits;
  if (st.ok() && !limits.defer_cpu_quota) st = cg->ApplyCpuQuota();
  if (st.ok() && cg->version_[static_cast<int>(Controller::kPids)] != 0) {
    st = WriteFile(cg->DirFor(Controller::kPids) + "/pids.max", std::to_string(limits.max_pids));
  }
  if (!st.ok()) {
    (void)cg->Destroy();  // best effort; the write error is the one to report
    return st;
  }
  return cg;
}

EnvironmentCgroup::~EnvironmentCgroup() { (void)Destroy(); }

Status EnvironmentCgroup::WriteLimits(const CgroupLimits& limits, bool memory_grows) const {
  auto write = [&](Controller c, const char* file, const std::string& value) -> Status {
    return WriteFile(DirFor(c) + "/" + file, value);
  };
  const std::string bytes = std::to_string(limits.memory_bytes);
  Status st;
  if (version_[static_cast<int>(Controller::kMemory)] == 1) {
    // Without a memory+swap limit the environment could page out past its limit.
    // The kernel requires memsw >= memory at every step: memsw goes first when
    // the limit grows, last when it shrinks.
    const bool memsw = Exists(DirFor(Controller::kMemory) + "/memory.memsw.limit_in_bytes");
    if (memsw && memory_grows) st = write(Controller::kMemory, "memory.memsw.limit_in_bytes", bytes);
    if (st.ok()) st = write(Controller::kMemory, "memory.limit_in_bytes", bytes);
    if (st.ok() && memsw && !memory_grows) {
      st = write(Controller::kMemory, "memory.memsw.limit_in_bytes", bytes);
    }
  } else if (version_[static_cast<int>(Controller::kMemory)] == 2) {
    st = write(Controller::kMemory, "memory.max", bytes);
    if (st.ok() && Exists(DirFor(Controller::kMemory) + "/memory.swap.max")) {
      st = write(Controller::kMemory, "memory.swap.max", "0");
    }
  }
  if (st.ok() && version_[static_cast<int>(Controller::kCpu)] == 1) {
    st = write(Controller::kCpu, "cpu.shares", std::to_string(limits.cpu_shares));
  } else if (st.ok() && version_[static_cast<int>(Controller::kCpu)] == 2) {
    st = write(Controller::kCpu, "cpu.weight", std::to_string(limits.cpu_weight));
  }
  return st;
}

Status EnvironmentCgroup::UpdateLimits(const CgroupLimits& limits) {
  // A limit below the current usage makes the kernel reclaim first (v1 fails
  // with EBUSY when it cannot); a stem cell's idle runtime uses a few MB.
  NIMBUS_RETURN_IF_ERROR(WriteLimits(limits, limits.memory_bytes > limits_.memory_bytes));
  const bool quota_written = !limits_.defer_cpu_quota;
  limits_.memory_bytes = limits.memory_bytes;
  limits_.cpu_shares = limits.cpu_shares;
  limits_.cpu_weight = limits.cpu_weight;
  limits_.cpu_quota_us = limits.cpu_quota_us;
  limits_.cpu_period_us = limits.cpu_period_us;
  // A quota already in force follows the new size at once; a deferred one is
  // written later by ApplyCpuQuota() with the new figures.
  if (quota_written) return ApplyCpuQuota();
  return Status::Ok();
}

Status EnvironmentCgroup::ApplyCpuQuota() const {
  int cpu = static_cast<int>(Controller::kCpu);
  const std::string& dir = dir_[cpu];
  if (dir.empty()) return Status::Ok();
  if (version_[cpu] == 1) {
    NIMBUS_RETURN_IF_ERROR(
        WriteFile(dir + "/cpu.cfs_period_us", std::to_string(limits_.cpu_period_us)));
    return WriteFile(dir + "/cpu.cfs_quota_us", std::to_string(limits_.cpu_quota_us));
  }
  return WriteFile(dir + "/cpu.max",
                   fmt::format("{} {}", limits_.cpu_quota_us, limits_.cpu_period_us));
}

std::string EnvironmentCgroup::DirFor(Controller c) const { return dir_[static_cast<int>(c)]; }

Status EnvironmentCgroup::AddProcess(pid_t pid) {
  std::string value = std::to_string(pid);
  for (const auto& dir : dirs_) {
    NIMBUS_RETURN_IF_ERROR(WriteFile(dir + "/cgroup.procs", value));
  }
  return Status::Ok();
}

namespace {

// The whole of a small cgroupfs file through an open descriptor: reading at
// offset 0 makes the kernel produce the current contents again.
std::optional<std::string> ReadAgain(int fd) {
  if (fd < 0) return std::nullopt;
  char buf[4096];
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

ResourceUsage EnvironmentCgroup::ReadUsage() const {
  ResourceUsage usage;
  int mem = static_cast<int>(Controller::kMemory);
  if (version_[mem] == 0) return usage;
  // Read after every invocation (REPORT's Max Memory Used): the files stay open.
  if (!usage_fds_opened_) {
    usage_fds_opened_ = true;
    const std::string& dir = dir_[mem];
    auto open = [](const std::string& path) {
      return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    };
    if (version_[mem] == 1) {
      peak_fd_ = open(dir + "/memory.max_usage_in_bytes");
      events_fd_ = open(dir + "/memory.oom_control");
    } else {
      // memory.peak appeared in Linux 5.19; older kernels only have the current usage.
      peak_fd_ = Exists(dir + "/memory.peak") ? open(dir + "/memory.peak")
                                               : open(dir + "/memory.current");
      events_fd_ = open(dir + "/memory.events");
    }
  }
  if (auto text = ReadAgain(peak_fd_.get())) {
    usage.max_memory_bytes = std::strtoull(text->c_str(), nullptr, 10);
  }
  if (auto text = ReadAgain(events_fd_.get())) usage.oom_killed = KeyedValue(*text, "oom_kill") > 0;
  return usage;
}

Status EnvironmentCgroup::Destroy() {
  peak_fd_.Reset();
  events_fd_.Reset();
  // The kernel removes a dying task from the cgroup slightly after it has been
  // reaped, so rmdir may see EBUSY for a short while: retry for up to 2 s.
  constexpr auto kRetryFor = std::chrono::seconds(2);
  constexpr auto kRetryEvery = std::chrono::microseconds(500);
  auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  Status result;
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    for (;;) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) {
        if (result.ok()) result = ErrnoStatus(fmt::format("rmdir {}", *it));
        break;
      }
      std::this_thread::sleep_for(kRetryEvery);
    }
  }
  if (result.ok()) {
    dirs_.clear();
    for (auto& d : dir_) d.clear();
    for (auto& v : version_) v = 0;
  }
  return result;
}

}  // namespace nimbus::sandbox
