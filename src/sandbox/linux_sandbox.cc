// LinuxSandbox: namespaces + cgroups + pivot_root + seccomp. See sandbox.h for
// the contract and sandbox_init.h for what runs inside.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "base/errno_status.h"
#include "base/log.h"
#include "sandbox/cgroup.h"
#include "sandbox/fd_passing_message.h"
#include "sandbox/sandbox.h"
#include "base/thread_annotations.h"
#include "sandbox/sandbox_init.h"
#include "sandbox/seccomp_policy.h"
#include "sandbox/zygote_protocol.h"

namespace nimbus::sandbox {
namespace {

namespace fs = std::filesystem;

// How long Launch waits for init to report the Runtime API listener. Setup takes
// milliseconds; the margin is for a host under heavy load.
constexpr int kSetupTimeoutMs = 10'000;
// The init's stack: it runs a few small frames (no recursion, no large buffers).
constexpr size_t kInitStackSize = 64 * 1024;
constexpr const char* kHostname = "localhost";
// Lambda's sandbox user name; the uid/gid come from LinuxSandboxOptions.
constexpr const char* kSandboxUserName = "sbx_user1051";

// Host files a program commonly needs from /etc. Everything else in the host's
// /etc (shadow, ssh keys, machine-id, the daemon's configuration) stays hidden.
// passwd, group and hosts are generated instead of copied.
constexpr const char* kEtcEntries[] = {
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d",   // the dynamic loader
    "nsswitch.conf", "localtime", "timezone",      // libc lookups and time
    "ssl", "ca-certificates", "ca-certificates.conf", "pki",  // TLS trust
    "mime.types",                                   // Python's mimetypes
    "alternatives",  // Debian: /usr/bin/* -> /etc/alternatives/* -> /usr/...
    // Debian's JDK 17: conf/security/java.security and friends are symlinks into it;
    // the JVM throws "Error loading java.security file" without them (java17 runtime).
    "java-17-openjdk",
};
// Top-level directories of the host's root that are exposed read-only. On
// merged-/usr hosts (Debian 12) all but usr are symlinks and are recreated as such.
constexpr const char* kRootEntries[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"};
constexpr const char* kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

// Mount flags the kernel locks on a bind mount in a user namespace: a remount
// must repeat them or fail with EPERM.
unsigned long LockedFlags(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// A host path probed once by the factory.
struct HostEntry {
  enum class Type { kDir, kFile, kSymlink } type;
  std::string name;         // path inside the sandbox, e.g. "/etc/ssl"
  std::string source;       // host path, e.g. "/etc/ssl"
  std::string link_target;  // for kSymlink
  unsigned long locked_flags = 0;
};

std::optional<HostEntry> ProbeHostEntry(const std::string& host_path) {
  struct stat st;
  if (::lstat(host_path.c_str(), &st) != 0) return std::nullopt;
  HostEntry e;
  e.name = host_path;
  e.source = host_path;
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path target = fs::read_symlink(host_path, ec);
    if (ec) return std::nullopt;
    e.type = HostEntry::Type::kSymlink;
    e.link_target = target.string();
    return e;
  }
  if (S_ISDIR(st.st_mode)) {
    e.type = HostEntry::Type::kDir;
  } else if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) {
    e.type = HostEntry::Type::kFile;
  } else {
    return std::nullopt;
  }
  e.locked_flags = LockedFlags(host_path);
  return e;
}

// The part of the root that is the same for every sandbox on this host.
struct HostRoot {
  std::vector<HostEntry> root;  // /usr, /bin -> usr/bin, ...
  std::vector<HostEntry> etc;
  std::vector<HostEntry> dev;
};

HostRoot ProbeHostRoot() {
  HostRoot host;
  for (const char* name : kRootEntries) {
    if (auto e = ProbeHostEntry(fmt::format("/{}", name))) host.root.push_back(std::move(*e));
  }
  for (const char* name : kEtcEntries) {
    if (auto e = ProbeHostEntry(fmt::format("/etc/{}", name))) host.etc.push_back(std::move(*e));
  }
  for (const char* name : kDevNodes) {
    auto e = ProbeHostEntry(fmt::format("/dev/{}", name));
    if (e && e->type == HostEntry::Type::kFile) host.dev.push_back(std::move(*e));
  }
  return host;
}

// Everything the child needs, laid out before clone(). Owns the strings that
// the InitPlan's C pointers refer to; must outlive the clone() call (the child
// reads its own copy of this memory).
class LaunchPlan {
 public:
  InitPlan init = {};

  const char* Keep(std::string s) {
    strings_.push_back(std::move(s));  // a deque: earlier c_str()s stay valid
    return strings_.back().c_str();
  }
  void Mkdir(const std::string& target, mode_t mode = 0755) {
    Add({MountOp::Kind::kMkdir, nullptr, Keep(target), nullptr, 0, nullptr, 0, mode});
  }
  void File(const std::string& target, std::string contents, mode_t mode = 0644) {
    const char* data = Keep(std::move(contents));
    Add({MountOp::Kind::kFile, nullptr, Keep(target), nullptr, 0, data, std::strlen(data), mode});
  }
  void Symlink(const std::string& link_target, const std::string& target) {
    Add({MountOp::Kind::kSymlink, Keep(link_target), Keep(target), nullptr, 0, nullptr, 0, 0});
  }
  // Binds the host path `source` (seen through the old root) on `target`.
  void Bind(const std::string& source, const std::string& target, unsigned long flags) {
    Add({MountOp::Kind::kBind, Keep(std::string(kOldRoot) + source), Keep(target), nullptr, flags,
         nullptr, 0, 0});
  }
  void Mount(const char* fstype, const std::string& target, unsigned long flags,
             const std::string& data) {
    Add({MountOp::Kind::kMount, fstype, Keep(target), fstype, flags, Keep(data), 0, 0});
  }
  void Remount(const std::string& target, unsigned long flags) {
    Add({MountOp::Kind::kRemount, nullptr, Keep(target), nullptr, flags, nullptr, 0, 0});
  }
  // Creates the mount point for `e` and binds it read-only (or recreates a symlink).
  void Expose(const HostEntry& e) {
    switch (e.type) {
      case HostEntry::Type::kSymlink: Symlink(e.link_target, e.name); return;
      case HostEntry::Type::kDir: Mkdir(e.name); break;
      case HostEntry::Type::kFile: File(e.name, ""); break;
    }
    Bind(e.source, e.name, MS_RDONLY | MS_NOSUID | MS_NODEV | e.locked_flags);
  }

  // Attaches the detached mount `fd` at `target` (kept open until after clone).
  void MoveMount(UniqueFd fd, const std::string& target) {
    MountOp op{MountOp::Kind::kMoveMount, nullptr, Keep(target), nullptr, 0, nullptr, 0, 0};
    op.fd = fd.get();
    mount_fds_.push_back(fd.get());
    owned_fds_.push_back(std::move(fd));
    Add(op);
  }

  // Points `init` at the arrays; call once everything has been added.
  void Finish() {
    init.mount_fds = mount_fds_.data();
    init.mount_fd_count = mount_fds_.size();
    argv_.push_back(nullptr);
    envp_.push_back(nullptr);
    init.mounts = mounts_.data();
    init.mount_count = mounts_.size();
    init.argv = argv_.data();
    init.envp = envp_.data();
  }

  std::vector<const char*> argv_;
  std::vector<const char*> envp_;

 private:
  void Add(MountOp op) { mounts_.push_back(op); }

  std::deque<std::string> strings_;
  std::vector<MountOp> mounts_;
  std::vector<UniqueFd> owned_fds_;  // the kMoveMount descriptors
  std::vector<int> mount_fds_;
};

Status ValidateSpec(const SandboxSpec& spec) {
  if (spec.id.empty() || spec.id.size() > 64) {
    return InvalidArgument("sandbox: id must be 1 to 64 characters");
  }
  for (char c : spec.id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return InvalidArgument(fmt::format("sandbox {}: id may only hold [A-Za-z0-9_-]", spec.id));
    }
  }
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return InvalidArgument(fmt::format("sandbox {}: argv[0] must be an absolute path", spec.id));
  }
  if (spec.cwd.empty() || spec.cwd[0] != '/') {
    return InvalidArgument(fmt::format("sandbox {}: cwd must be an absolute path", spec.id));
  }
  if (spec.network) {
    // TODO(#sandbox-egress): a veth pair or slirp for functions with outbound access.
    return InvalidArgument(
        fmt::format("sandbox {}: outbound network access is not supported yet", spec.id));
  }
  if (spec.zygote && !spec.stem_cell) {
    return InvalidArgument(fmt::format("sandbox {}: only stem cells are forked from zygotes", spec.id));
  }
  if (spec.stem_cell && (!spec.code_dir.empty() || !spec.layer_dirs.empty())) {
    return InvalidArgument(
        fmt::format("sandbox {}: a stem cell has no code or layers until Specialize()", spec.id));
  }
  if (spec.memory_mb == 0 || spec.ephemeral_storage_mb == 0 || spec.max_pids == 0 ||
      spec.max_open_files == 0) {
    return InvalidArgument(fmt::format("sandbox {}: limits must be positive", spec.id));
  }
  return Status::Ok();
}

// A host directory to bind, resolved to a path without symlinks: after
// pivot_root an absolute symlink would resolve inside the new root, not the host.
Result<std::string> ResolveHostDir(const fs::path& dir, const char* what) {
  std::error_code ec;
  fs::path canonical = fs::canonical(dir, ec);
  if (ec) return NotFound(fmt::format("{} {}: {}", what, dir.string(), ec.message()));
  if (!fs::is_directory(canonical)) {
    return InvalidArgument(fmt::format("{} {}: not a directory", what, dir.string()));
  }
  return canonical.string();
}

// Writes all of `data` to the blocking descriptor `fd`.
Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

constexpr uint64_t kReadOnlyAttrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

// A detached read-only bind mount of the host directory `dir` (already resolved).
Result<UniqueFd> DetachedReadOnlyBind(const std::string& dir) {
  UniqueFd tree(static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!tree) return ErrnoStatus(fmt::format("open_tree {}", dir));
  struct mount_attr attr = {};
  attr.attr_set = kReadOnlyAttrs;
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    return ErrnoStatus(fmt::format("mount_setattr {}", dir));
  }
  return tree;
}

// The layer directories, resolved. overlayfs' lowerdir cannot hold ':' or ','.
Result<std::vector<std::string>> ResolveLayers(const std::vector<fs::path>& layer_dirs) {
  std::vector<std::string> layers;
  for (const auto& layer : layer_dirs) {
    NIMBUS_ASSIGN_OR_RETURN(std::string dir, ResolveHostDir(layer, "layer"));
    if (dir.find_first_of(":,") != std::string::npos) {
      return InvalidArgument(fmt::format("layer {}: ':' and ',' are not allowed", dir));
    }
    layers.push_back(std::move(dir));
  }
  return layers;
}

// overlayfs' lowerdir for `layers`, each under `prefix`: the first lowerdir is on
// top, and later layers overlay earlier ones.
std::string LowerDirs(const std::vector<std::string>& layers, std::string_view prefix) {
  std::string lower;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    if (!lower.empty()) lower += ':';
    lower += prefix;
    lower += *it;
  }
  return lower;
}

// /opt for `layers` as a detached mount: one layer is a read-only bind; several
// are a read-only overlayfs with the last layer on top (as in BuildPlan).
Result<UniqueFd> DetachedLayers(const std::vector<fs::path>& layer_dirs) {
  NIMBUS_ASSIGN_OR_RETURN(std::vector<std::string> layers, ResolveLayers(layer_dirs));
  if (layers.size() == 1) return DetachedReadOnlyBind(layers[0]);
  const std::string lower = LowerDirs(layers, "");
  UniqueFd fsfd(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (!fsfd) return ErrnoStatus("fsopen overlay");
  if (::syscall(SYS_fsconfig, fsfd.get(), FSCONFIG_SET_STRING, "lowerdir", lower.c_str(), 0) != 0) {
    return ErrnoStatus(fmt::format("overlay lowerdir={}", lower));
  }
  if (::syscall(SYS_fsconfig, fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return ErrnoStatus("create overlay");
  }
  UniqueFd mnt(static_cast<int>(
      ::syscall(SYS_fsmount, fsfd.get(), FSMOUNT_CLOEXEC, kReadOnlyAttrs)));
  if (!mnt) return ErrnoStatus("fsmount overlay");
  return mnt;
}

// clone()s `fn(arg)` with `flags` on a stack of its own (the child runs on its
// copy of the mapping: no CLONE_VM).
Result<pid_t> CloneOnOwnStack(int (*fn)(void*), int flags, void* arg) {
  void* stack = ::mmap(nullptr, kInitStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return ErrnoStatus("mmap init stack");
  pid_t pid = ::clone(fn, static_cast<char*>(stack) + kInitStackSize, flags, arg);
  int err = errno;
  ::munmap(stack, kInitStackSize);
  if (pid < 0) return ErrnoStatus("clone", err);
  return pid;
}

// Waits until init (or the template builder) has written to `fd`, for up to
// kSetupTimeoutMs; `what` names the awaited message in the timeout error.
Status WaitForInit(int fd, std::string_view what) {
  struct pollfd pfd = {fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&pfd, 1, kSetupTimeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ErrnoStatus("poll control socket");
  if (r == 0) {
    return Status(Code::kDeadlineExceeded, fmt::format("no {} after {} ms", what, kSetupTimeoutMs));
  }
  return Status::Ok();
}

// A zygote (ADR 0008): one process of a program that has loaded and forks
// itself into new sandboxes on request. Shared by the Launch() calls using it:
// they write to its socket concurrently (SOCK_SEQPACKET sends are atomic) and
// each gets its reply on its own sandbox's control socket.
struct Zygote {
  pid_t pid = -1;
  UniqueFd socket;
  // It stopped answering: the next Launch() replaces it.
  std::atomic<bool> failed{false};

  Zygote() = default;
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;
  ~Zygote() {
    socket.Reset();  // it exits at EOF; the kill is for one that hangs
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
};

// The zygote for `spec`: one per program and start-up environment.
std::string ZygoteKey(const SandboxSpec& spec) {
  std::string key;
  for (const auto& a : spec.argv) key.append(a).push_back('\0');
  key.push_back('\0');
  for (const auto& e : spec.env) key.append(e).push_back('\0');
  return key;
}

// waitid()'s P_PIDFD (Linux 5.4), which glibc 2.36's headers may lack.
constexpr int kIdTypePidfd = 3;

// After a zygote failed to start, its cells start the program for this long.
constexpr std::chrono::seconds kZygoteRetryAfter{30};

class LinuxSandbox final : public Sandbox {
 public:
  explicit LinuxSandbox(std::string id) : id_(std::move(id)) {}
  ~LinuxSandbox() override {
    Status st = Destroy();
    if (!st.ok()) log::Error("sandbox {}: destroy: {}", id_, st.message());
  }
  LinuxSandbox(const LinuxSandbox&) = delete;
  LinuxSandbox& operator=(const LinuxSandbox&) = delete;

  UniqueFd TakeRuntimeApiListener() override { return std::move(listener_); }
  UniqueFd TakeApiListener() override { return std::move(api_listener_); }
  UniqueFd TakeOutput() override { return std::move(output_); }
  int exit_fd() const override { return control_.get(); }

  std::optional<ExitInfo> ReadExit() override {
    if (exit_ || !control_) return exit_;
    InitMessage m{};
    ssize_t n;
    do {
      n = ::recv(control_.get(), &m, sizeof m, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return std::nullopt;  // EAGAIN: still running
    ExitInfo info;
    if (n == static_cast<ssize_t>(sizeof m) && m.kind == InitMessage::kRuntimeExited) {
      info.exited = WIFEXITED(m.value);
      info.status = info.exited ? WEXITSTATUS(m.value) : 0;
      info.signal = WIFSIGNALED(m.value) ? WTERMSIG(m.value) : 0;
    } else {
      // Init died without a report: it was killed (Kill(), or the OOM killer).
      if (n == static_cast<ssize_t>(sizeof m) && m.kind == InitMessage::kSetupError) {
        m.text[sizeof m.text - 1] = '\0';
        log::Error("sandbox {}: init: {}", id_, m.text);
      }
      info.signal = SIGKILL;
    }
    exit_ = info;
    return exit_;
  }

  ResourceUsage ReadUsage() override { return cgroup_ ? cgroup_->ReadUsage() : ResourceUsage{}; }

  Status Specialize(const Specialization& s) override {
    if (!specialize_write_) {
      return Internal(fmt::format("sandbox {}: not an unspecialized stem cell", id_));
    }
    auto step = [this](const char* name, Status st) {
      return st.WithContext(fmt::format("sandbox {}: specialize: {}", id_, name));
    };
    // 1. The mounts, detached: init attaches them inside its mount namespace.
    UniqueFd code, opt;
    if (!s.code_dir.empty()) {
      NIMBUS_ASSIGN_OR_RETURN(std::string dir, ResolveHostDir(s.code_dir, "code_dir"));
      auto tree = DetachedReadOnlyBind(dir);
      if (!tree.has_value()) return step("code", tree.error());
      code = std::move(*tree);
    }
    if (!s.layer_dirs.empty()) {
      auto tree = DetachedLayers(s.layer_dirs);
      if (!tree.has_value()) return step("layers", tree.error());
      opt = std::move(*tree);
    }
    // 2. Limits for the function's memory size, before its code runs.
    {
      MutexLock l(cgroup_mu_);
      if (cgroup_) {
        SandboxSpec sized;
        sized.memory_mb = s.memory_mb;
        sized.unthrottled_init = true;
        sized.max_pids = cgroup_limits_.max_pids;
        NIMBUS_RETURN_IF_ERROR(step("cgroup limits", cgroup_->UpdateLimits(LimitsFor(sized))));
      }
    }
    // 3. Init attaches the mounts and resizes the tmpfses.
    SpecializeMessage req{};
    req.kind = SpecializeMessage::kSpecialize;
    req.tmp_mb = s.ephemeral_storage_mb;
    req.shm_mb = s.memory_mb;
    int fds[2];
    int n = 0;
    if (code) {
      req.flags |= SpecializeMessage::kHasCode;
      fds[n++] = code.get();
    }
    if (opt) {
      req.flags |= SpecializeMessage::kHasOpt;
      fds[n++] = opt.get();
    }
    NIMBUS_RETURN_IF_ERROR(step("init", ExchangeWithInit(req, fds, n)));
    // 4. The runtime reads its environment, then EOF.
    NIMBUS_RETURN_IF_ERROR(step("write payload", WriteAll(specialize_write_.get(), s.payload)));
    specialize_write_.Reset();
    return Status::Ok();
  }
  Status ApplyCpuLimit() override {
    MutexLock l(cgroup_mu_);
    return cgroup_ ? cgroup_->ApplyCpuQuota() : Status::Ok();
  }

  void Kill() override {
    // Killing PID 1 of the namespace kills every process in it. The pid cannot
    // have been reused: init is our child and is only reaped in Destroy(), or a
    // zygote's, which we hold by a pidfd.
    if (init_pid_ <= 0 || reaped_) return;
    if (pidfd_) {
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    } else {
      ::kill(init_pid_, SIGKILL);
    }
  }

  Status Destroy() override {
    Kill();
    if (pidfd_ && !reaped_) {
      // The zygote reaps its children; the pidfd reads as readable once init
      // has exited, which it does only after every process of its namespace.
      struct pollfd pfd = {pidfd_.get(), POLLIN, 0};
      while (::poll(&pfd, 1, -1) < 0 && errno == EINTR) {
      }
      // If the zygote died first, init became our child (we are a subreaper):
      // reap it. Otherwise the zygote did, and this fails with ECHILD.
      siginfo_t info;
      while (::waitid(static_cast<idtype_t>(kIdTypePidfd), static_cast<id_t>(pidfd_.get()), &info,
                      WEXITED | WNOHANG) < 0 &&
             errno == EINTR) {
      }
      reaped_ = true;
    }
    if (init_pid_ > 0 && !reaped_) {
      int status;
      pid_t r;
      do {
        r = ::waitpid(init_pid_, &status, 0);
      } while (r < 0 && errno == EINTR);
      // ECHILD only if someone else reaped it (a waitpid(-1) elsewhere in the daemon).
      reaped_ = true;
    }
    if (!exit_ && control_) (void)ReadExit();
    control_.Reset();
    MutexLock l(cgroup_mu_);
    if (cgroup_) {
      NIMBUS_RETURN_IF_ERROR(cgroup_->Destroy().WithContext(fmt::format("sandbox {}", id_)));
      cgroup_.reset();
    }
    return Status::Ok();
  }

  pid_t init_pid() const override { return init_pid_; }
  const std::string& id() const override { return id_; }
  int ready_fd() const override { return ready_read_ ? ready_read_.get() : -1; }

 private:
  friend class LinuxSandboxFactory;

  const std::string id_;
  pid_t init_pid_ = -1;
  bool reaped_ = false;
  UniqueFd pidfd_;     // init forked by a zygote (not our child): kill and wait through it
  UniqueFd control_;   // daemon's end of the SOCK_SEQPACKET control socket
  UniqueFd listener_;  // until TakeRuntimeApiListener()
  UniqueFd api_listener_;  // until TakeApiListener(); SandboxSpec::api_port
  bool wants_api_listener_ = false;  // SandboxSpec::api_port != 0
  UniqueFd output_;    // until TakeOutput()
  UniqueFd specialize_write_;  // stem cells, until Specialize()
  UniqueFd ready_read_;        // stem cells: EOF once the runtime has loaded
  // Set at launch; the mutex orders ApplyCpuLimit() (a blocking thread) with
  // Destroy() (another blocking thread).
  Mutex cgroup_mu_;
  std::unique_ptr<EnvironmentCgroup> cgroup_;
  CgroupLimits cgroup_limits_;  // as created
  std::optional<ExitInfo> exit_;

  // Sends `req` with `fds` to init and waits for its reply.
  Status ExchangeWithInit(const SpecializeMessage& req, const int* fds, int n) {
    SpecializeMessage copy = req;
    FdPassingMessage out(&copy, sizeof copy);
    out.AttachFds(fds, n);
    ssize_t sent;
    do {
      sent = ::sendmsg(control_.get(), out.msg(), MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return ErrnoStatus("send to init");
    NIMBUS_RETURN_IF_ERROR(WaitForInit(control_.get(), "reply from init"));
    InitMessage m{};
    ssize_t got;
    do {
      got = ::recv(control_.get(), &m, sizeof m, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoStatus("recv from init");
    if (got != static_cast<ssize_t>(sizeof m)) return Internal("init exited while specializing");
    m.text[sizeof m.text - 1] = '\0';
    if (m.kind == InitMessage::kSpecializeError) return Internal(m.text);
    if (m.kind != InitMessage::kSpecialized) {
      // The runtime exited meanwhile: keep the report for ReadExit().
      return Internal(fmt::format("unexpected message {} from init", m.kind));
    }
    return Status::Ok();
  }
};

// Descriptors shared between the daemon and the child; the child's ends are
// closed in the daemon right after clone().
struct Channels {
  UniqueFd sync_read, sync_write;   // releases the child once it is set up
  UniqueFd control_daemon, control_init;
  UniqueFd output_read, output_write;
  UniqueFd specialize_read, specialize_write;  // stem cells only
  UniqueFd ready_read, ready_write;            // stem cells only
};

class LinuxSandboxFactory final : public SandboxFactory {
 public:
  LinuxSandboxFactory(const LinuxSandboxOptions& options, bool root, CgroupLayout layout,
                      std::vector<sock_filter> seccomp, HostRoot host, int last_cap)
      : options_(options),
        root_(root),
        layout_(std::move(layout)),
        seccomp_(std::move(seccomp)),
        host_(std::move(host)),
        last_cap_(last_cap) {
    capabilities_.cgroups = layout_.all_usable();
    capabilities_.user_namespace = !root_;
    // Attaching a detached mount made by the daemon needs CAP_SYS_ADMIN in the
    // daemon's own mount namespace.
    capabilities_.stem_cells = root_;
    capabilities_.warnings = layout_.warnings;
    if (!root_) {
      capabilities_.warnings.push_back(fmt::format(
          "running unprivileged: sandboxes use a user namespace in which uid {} is host uid {}",
          options_.sandbox_uid, ::geteuid()));
    }
  }

  const Capabilities& capabilities() const override { return capabilities_; }

  // Builds the template mount namespace that sandboxes copy (root only; see
  // TemplateMain). Blocking, once, before the first Launch().
  Status CreateTemplate() {
    // Copies of the template and stem cells get their code as detached mounts.
    // Without them (e.g. under valgrind, which lacks open_tree) neither works.
    UniqueFd probe(static_cast<int>(
        ::syscall(SYS_open_tree, AT_FDCWD, "/usr", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
    if (!probe) {
      capabilities_.stem_cells = false;
      return ErrnoStatus("template: open_tree (detached mounts)");
    }
    LaunchPlan plan;
    AddSharedRoot(plan);
    plan.init.specialize_fd = -1;
    plan.init.ready_fd = -1;
    plan.init.template_mnt_fd = -1;
    plan.init.copy_mount_ns = false;
    plan.Finish();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("template: sync pipe");
    UniqueFd sync_read(fds[0]), sync_write(fds[1]);
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoStatus("template: control socketpair");
    }
    UniqueFd control(fds[0]), control_child(fds[1]);
    plan.init.sync_fd = sync_read.get();
    plan.init.control_fd = control_child.get();
    auto cloned = CloneOnOwnStack(TemplateMain, CLONE_NEWNS | SIGCHLD, &plan.init);
    if (!cloned.has_value()) return cloned.error().WithContext("template");
    const pid_t pid = *cloned;
    sync_read.Reset();
    control_child.Reset();
    Status st = [&]() -> Status {
      NIMBUS_RETURN_IF_ERROR(
          WaitForInit(control.get(), "report from the builder").WithContext("template"));
      InitMessage m{};
      ssize_t n = ::recv(control.get(), &m, sizeof m, 0);
      if (n != static_cast<ssize_t>(sizeof m)) return Internal("template: builder exited");
      m.text[sizeof m.text - 1] = '\0';
      if (m.kind != InitMessage::kTemplateReady) return Internal(fmt::format("template: {}", m.text));
      template_mnt_.Reset(::open(fmt::format("/proc/{}/ns/mnt", pid).c_str(), O_RDONLY | O_CLOEXEC));
      if (!template_mnt_) return ErrnoStatus("template: open mount namespace");
      return Status::Ok();
    }();
    sync_write.Reset();  // the builder exits; its namespace lives on through template_mnt_
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // Zygotes live in copies of the template, and fork stem cells only. When
    // one dies, its children (inits) must not become zombies of a host init
    // that may never reap them: they are reparented to us, and Destroy() reaps.
    capabilities_.zygotes = st.ok() && capabilities_.stem_cells &&
                            ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
    return st;
  }

  // The privileged steps, in order. Each returns a Status that names it.
  Result<std::unique_ptr<Sandbox>> Launch(const SandboxSpec& spec) override {
    NIMBUS_RETURN_IF_ERROR(ValidateSpec(spec));
    if (spec.stem_cell && !capabilities_.stem_cells) {
      return Unavailable(fmt::format("sandbox {}: stem cells need root", spec.id));
    }
    if (spec.zygote && capabilities_.zygotes) {
      if (std::shared_ptr<Zygote> zygote = GetZygote(spec)) {
        auto forked = LaunchFromZygote(spec, *zygote);
        if (forked.has_value()) {
          zygote_forks_.fetch_add(1, std::memory_order_relaxed);
          return forked;
        }
        log::Warn("{}; starting the program instead", forked.error().ToString());
      }
    }
    auto step = [&spec](const char* name, Status st) {
      return st.WithContext(fmt::format("sandbox {}: {}", spec.id, name));
    };
    auto sandbox = std::make_unique<LinuxSandbox>(spec.id);
    sandbox->wants_api_listener_ = spec.api_port != 0;
    LaunchPlan plan;
    Channels ch;
    // 1. Everything the child needs, computed here: after clone() it may not allocate.
    NIMBUS_RETURN_IF_ERROR(step("plan", BuildPlan(spec, plan, /*for_zygote=*/false)));
    // 2. Before clone, so that a failure costs no process.
    NIMBUS_RETURN_IF_ERROR(step("create cgroup", CreateCgroup(spec, *sandbox)));
    NIMBUS_RETURN_IF_ERROR(step("open channels", OpenChannels(ch, plan, spec.stem_cell)));
    // 3. From here on `sandbox`'s destructor kills and reaps on failure.
    NIMBUS_RETURN_IF_ERROR(step("clone", CloneInit(plan, ch, *sandbox)));
    // 4. Must precede releasing the child: the runtime inherits init's cgroup when
    //    init forks it, and init's own setup is charged to the environment.
    if (sandbox->cgroup_) {
      NIMBUS_RETURN_IF_ERROR(step("join cgroup", sandbox->cgroup_->AddProcess(sandbox->init_pid_)));
    }
    // 5. Must precede releasing the child: until mapped it has no uid to act as.
    if (!root_) NIMBUS_RETURN_IF_ERROR(step("write id maps", WriteIdMaps(sandbox->init_pid_)));
    // 6. Init now builds the root, brings up lo and creates the listener.
    NIMBUS_RETURN_IF_ERROR(step("release init", Release(ch)));
    NIMBUS_RETURN_IF_ERROR(step("init", ReceiveListener(*sandbox)));
    return std::unique_ptr<Sandbox>(std::move(sandbox));
  }

  uint64_t zygote_forks() const override { return zygote_forks_.load(std::memory_order_relaxed); }

 private:
  // The running zygote for `spec`, started if there is none; null while another
  // Launch() starts it or for kZygoteRetryAfter after it failed to start.
  std::shared_ptr<Zygote> GetZygote(const SandboxSpec& spec) {
    const std::string key = ZygoteKey(spec);
    std::shared_ptr<Zygote> replaced;  // destroyed (killed, reaped) outside the lock
    {
      MutexLock l(zygotes_mu_);
      auto it = zygotes_.find(key);
      if (it != zygotes_.end()) {
        if (!it->second->failed.load()) return it->second;
        replaced = std::move(it->second);
        zygotes_.erase(it);
      }
      if (zygotes_starting_.count(key) != 0) return nullptr;
      auto retry = zygote_retry_.find(key);
      if (retry != zygote_retry_.end() && std::chrono::steady_clock::now() < retry->second) {
        return nullptr;
      }
      zygotes_starting_.insert(key);
    }
    replaced.reset();
    auto started = StartZygote(spec);
    MutexLock l(zygotes_mu_);
    zygotes_starting_.erase(key);
    if (!started.has_value()) {
      log::Warn("sandbox: zygote of {}: {}; its cells start the program instead for {} s",
                spec.argv[0], started.error().ToString(), kZygoteRetryAfter.count());
      zygote_retry_[key] = std::chrono::steady_clock::now() + kZygoteRetryAfter;
      return nullptr;
    }
    zygote_retry_.erase(key);
    std::shared_ptr<Zygote> zygote = std::move(started.value());
    zygotes_[key] = zygote;
    return zygote;
  }

  // Starts `spec`'s program as a zygote in a copy of the template with
  // /var/runtime attached, and waits until it has loaded. Blocking.
  Result<std::unique_ptr<Zygote>> StartZygote(const SandboxSpec& spec) const {
    LaunchPlan plan;
    if (!spec.runtime_dir.empty()) {
      NIMBUS_ASSIGN_OR_RETURN(std::string dir, ResolveHostDir(spec.runtime_dir, "runtime_dir"));
      NIMBUS_ASSIGN_OR_RETURN(UniqueFd fd, DetachedReadOnlyBind(dir));
      plan.MoveMount(std::move(fd), "/var/runtime");
    }
    for (const auto& a : spec.argv) plan.argv_.push_back(plan.Keep(a));
    for (const auto& e : spec.env) plan.envp_.push_back(plan.Keep(e));
    plan.envp_.push_back(plan.Keep(fmt::format("_NIMBUS_ZYGOTE_FD={}", kZygoteSocketFd)));
    plan.envp_.push_back(plan.Keep(fmt::format("_NIMBUS_ZYGOTE_PID_NS_FD={}", kZygotePidNsFd)));
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoStatus("zygote socketpair");
    }
    UniqueFd ours(fds[0]), theirs(fds[1]);
    plan.init.sync_fd = -1;
    plan.init.control_fd = theirs.get();
    plan.init.output_fd = -1;
    plan.init.specialize_fd = -1;
    plan.init.ready_fd = -1;
    plan.init.template_mnt_fd = template_mnt_.get();
    plan.init.hostname = kHostname;
    plan.init.hostname_len = std::strlen(kHostname);
    plan.init.cwd = "/";
    plan.Finish();
    auto zygote = std::make_unique<Zygote>();
    NIMBUS_ASSIGN_OR_RETURN(
        zygote->pid,
        CloneOnOwnStack(ZygoteMain, CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, &plan.init));
    theirs.Reset();
    zygote->socket = std::move(ours);
    NIMBUS_RETURN_IF_ERROR(WaitForInit(zygote->socket.get(), "ready message from the zygote"));
    InitMessage m{};
    ssize_t n;
    do {
      n = ::recv(zygote->socket.get(), &m, sizeof m, 0);
    } while (n < 0 && errno == EINTR);
    m.text[sizeof m.text - 1] = '\0';
    if (n != static_cast<ssize_t>(sizeof m)) {
      return Internal("the zygote exited while loading (its errors are on the daemon's stderr)");
    }
    if (m.kind == InitMessage::kSetupError) return Internal(m.text);
    if (m.kind != InitMessage::kZygoteReady) {
      return Internal(fmt::format("unexpected message {} from the zygote", m.kind));
    }
    return zygote;
  }

  // Launch() of a stem cell through `zygote`: the same steps, but the zygote
  // forks the child that becomes init.
  Result<std::unique_ptr<Sandbox>> LaunchFromZygote(const SandboxSpec& spec, Zygote& zygote) {
    auto step = [&spec](const char* name, Status st) {
      return st.WithContext(fmt::format("sandbox {}: zygote: {}", spec.id, name));
    };
    auto sandbox = std::make_unique<LinuxSandbox>(spec.id);
    sandbox->wants_api_listener_ = spec.api_port != 0;
    LaunchPlan plan;
    Channels ch;
    NIMBUS_RETURN_IF_ERROR(step("plan", BuildPlan(spec, plan, /*for_zygote=*/true)));
    // A cell that waits in the pool (background) makes its memory its own meanwhile.
    auto request = EncodeZygoteRequest(plan.init, spec.background ? uint32_t{kZygotePrefault} : 0u);
    if (!request.has_value()) return step("encode", request.error());
    NIMBUS_RETURN_IF_ERROR(step("create cgroup", CreateCgroup(spec, *sandbox)));
    NIMBUS_RETURN_IF_ERROR(step("open channels", OpenChannels(ch, plan, spec.stem_cell)));
    NIMBUS_RETURN_IF_ERROR(step("fork", ForkFromZygote(zygote, *request, ch, *sandbox)));
    if (sandbox->cgroup_) {
      NIMBUS_RETURN_IF_ERROR(step("join cgroup", sandbox->cgroup_->AddProcess(sandbox->init_pid_)));
    }
    NIMBUS_RETURN_IF_ERROR(step("release init", Release(ch)));
    NIMBUS_RETURN_IF_ERROR(step("init", ReceiveListener(*sandbox)));
    return std::unique_ptr<Sandbox>(std::move(sandbox));
  }

  // Sends the request with the child's channel ends and waits for the pid of
  // the child, which then waits to be released. Marks the zygote failed when it
  // does not answer.
  static Status ForkFromZygote(Zygote& zygote, std::string& request, Channels& ch,
                               LinuxSandbox& sandbox) {
    const int fds[kZygoteRequestFds] = {ch.sync_read.get(), ch.control_init.get(),
                                        ch.output_write.get(), ch.specialize_read.get(),
                                        ch.ready_write.get()};
    FdPassingMessage out(request.data(), request.size());
    out.AttachFds(fds, kZygoteRequestFds);
    ssize_t sent;
    do {
      sent = ::sendmsg(zygote.socket.get(), out.msg(), MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      zygote.failed = true;
      return ErrnoStatus("send request");
    }
    // The zygote holds its own copies of the child's ends now.
    HandOver(ch, sandbox);
    Status waited = WaitForInit(sandbox.control_.get(), "pid from the zygote");
    if (!waited.ok()) {
      zygote.failed = true;
      return waited;
    }
    InitMessage m{};
    ssize_t n;
    do {
      n = ::recv(sandbox.control_.get(), &m, sizeof m, 0);
    } while (n < 0 && errno == EINTR);
    m.text[sizeof m.text - 1] = '\0';
    if (n != static_cast<ssize_t>(sizeof m)) {
      // It closed the request's descriptors without forking: it died.
      zygote.failed = true;
      return Unavailable("the zygote exited");
    }
    if (m.kind == InitMessage::kSetupError) return Internal(m.text);
    if (m.kind != InitMessage::kForked || m.value <= 0) {
      return Internal(fmt::format("unexpected message {} from the zygote", m.kind));
    }
    // The child waits for the sync byte, so the pid is still its own.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, m.value, 0)));
    if (!pidfd) return ErrnoStatus(fmt::format("pidfd_open {}", m.value));
    sandbox.init_pid_ = m.value;
    sandbox.pidfd_ = std::move(pidfd);
    return Status::Ok();
  }

  // The part of the root that is the same for every sandbox: host directories,
  // /etc, /dev and the empty mount points. Run by the template builder, or by
  // each init when there is no template (rootless).
  void AddSharedRoot(LaunchPlan& plan) const {
    for (const auto& e : host_.root) plan.Expose(e);

    plan.Mkdir("/etc");
    plan.File("/etc/passwd",
              fmt::format("root:x:0:0:root:/root:/sbin/nologin\n"
                          "{0}:x:{1}:{2}::/tmp:/sbin/nologin\n"
                          "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
                          kSandboxUserName, options_.sandbox_uid, options_.sandbox_gid));
    plan.File("/etc/group", fmt::format("root:x:0:\n{0}:x:{1}:\nnogroup:x:65534:\n",
                                        kSandboxUserName, options_.sandbox_gid));
    plan.File("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (const auto& e : host_.etc) plan.Expose(e);

    plan.Mkdir("/var");
    plan.Mkdir("/var/task");
    plan.Mkdir("/var/runtime");
    // The SDK the nodejs runtime provides, on every module's resolution path.
    plan.Symlink("/var/runtime/nodejs/node_modules", "/node_modules");
    // No layers: an empty directory of the read-only root.
    plan.Mkdir("/opt");
    plan.Mkdir("/tmp");
    plan.Mkdir("/proc");

    plan.Mkdir("/dev");
    plan.Mount("tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
    for (const auto& e : host_.dev) {
      plan.File(e.name, "", 0666);
      plan.Bind(e.source, e.name, MS_NOSUID | MS_NOEXEC | (e.locked_flags & ~MS_NODEV));
    }
    plan.Mkdir("/dev/shm", 01777);
    plan.Symlink("/proc/self/fd", "/dev/fd");
    plan.Symlink("/proc/self/fd/0", "/dev/stdin");
    plan.Symlink("/proc/self/fd/1", "/dev/stdout");
    plan.Symlink("/proc/self/fd/2", "/dev/stderr");
    plan.Remount("/dev", MS_RDONLY | MS_NOSUID | MS_NOEXEC);
  }

  // `for_zygote`: the plan of a zygote's child, whose mount namespace is a copy
  // of the zygote's (with /var/runtime; a cell has no code or layers).
  Status BuildPlan(const SandboxSpec& spec, LaunchPlan& plan, bool for_zygote) const {
    std::string code_dir, runtime_dir;
    if (!spec.code_dir.empty()) {
      NIMBUS_ASSIGN_OR_RETURN(code_dir, ResolveHostDir(spec.code_dir, "code_dir"));
    }
    if (!spec.runtime_dir.empty()) {
      NIMBUS_ASSIGN_OR_RETURN(runtime_dir, ResolveHostDir(spec.runtime_dir, "runtime_dir"));
    }
    constexpr unsigned long kReadOnly = MS_RDONLY | MS_NOSUID | MS_NODEV;
    if (for_zygote) {
      // Nothing to attach: the zygote's namespace has /var/runtime.
    } else if (template_mnt_) {
      // A copy of the template: this sandbox's code, runtime and layers arrive
      // as detached mounts made here (the host's paths are not visible there).
      if (!code_dir.empty()) {
        NIMBUS_ASSIGN_OR_RETURN(UniqueFd fd, DetachedReadOnlyBind(code_dir));
        plan.MoveMount(std::move(fd), "/var/task");
      }
      if (!runtime_dir.empty()) {
        NIMBUS_ASSIGN_OR_RETURN(UniqueFd fd, DetachedReadOnlyBind(runtime_dir));
        plan.MoveMount(std::move(fd), "/var/runtime");
      }
      if (!spec.layer_dirs.empty()) {
        NIMBUS_ASSIGN_OR_RETURN(UniqueFd fd, DetachedLayers(spec.layer_dirs));
        plan.MoveMount(std::move(fd), "/opt");
      }
    } else {
      NIMBUS_ASSIGN_OR_RETURN(std::vector<std::string> layers, ResolveLayers(spec.layer_dirs));
      AddSharedRoot(plan);
      if (!code_dir.empty()) plan.Bind(code_dir, "/var/task", kReadOnly | LockedFlags(code_dir));
      if (!runtime_dir.empty()) {
        plan.Bind(runtime_dir, "/var/runtime", kReadOnly | LockedFlags(runtime_dir));
      }
      if (layers.size() == 1) {
        plan.Bind(layers[0], "/opt", kReadOnly | LockedFlags(layers[0]));
      } else if (layers.size() > 1) {
        // overlayfs with only lower layers is read-only.
        plan.Mount("overlay", "/opt", kReadOnly, "lowerdir=" + LowerDirs(layers, kOldRoot));
      }
    }

    plan.Mount("tmpfs", "/tmp", MS_NOSUID | MS_NODEV,
               fmt::format("mode=1777,size={}m", spec.ephemeral_storage_mb));
    // hidepid=invisible: the runtime sees only its own processes, not the init
    // (PID 1, root), whose command line is the daemon's.
    plan.Mount("proc", "/proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, "hidepid=invisible");
    // shm pages are charged to the environment's memory cgroup; the size caps one
    // environment's /dev/shm at its memory limit when no cgroup is enforced.
    plan.Mount("tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV,
               fmt::format("mode=1777,size={}m", spec.memory_mb));

    for (const auto& a : spec.argv) plan.argv_.push_back(plan.Keep(a));
    for (const auto& e : spec.env) plan.envp_.push_back(plan.Keep(e));
    plan.init.cwd = plan.Keep(spec.cwd);
    plan.init.hostname = kHostname;
    plan.init.hostname_len = std::strlen(kHostname);
    plan.init.user_namespace = !root_;
    plan.init.api_port = spec.api_port;
    plan.init.uid = options_.sandbox_uid;
    plan.init.gid = options_.sandbox_gid;
    plan.init.last_cap = last_cap_;
    plan.init.max_open_files = spec.max_open_files;
    plan.init.seccomp.len = static_cast<unsigned short>(seccomp_.size());
    plan.init.seccomp.filter = const_cast<sock_filter*>(seccomp_.data());
    plan.init.template_mnt_fd = template_mnt_ && !for_zygote ? template_mnt_.get() : -1;
    plan.init.copy_mount_ns = for_zygote;
    plan.Finish();
    return Status::Ok();
  }

  Status CreateCgroup(const SandboxSpec& spec, LinuxSandbox& sandbox) const {
    sandbox.cgroup_limits_ = LimitsFor(spec);
    NIMBUS_ASSIGN_OR_RETURN(sandbox.cgroup_,
                            EnvironmentCgroup::Create(layout_, spec.id, sandbox.cgroup_limits_));
    return Status::Ok();
  }

  static Status OpenChannels(Channels& ch, LaunchPlan& plan, bool stem_cell) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("sync pipe");
    ch.sync_read.Reset(fds[0]);
    ch.sync_write.Reset(fds[1]);
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoStatus("control socketpair");
    }
    ch.control_daemon.Reset(fds[0]);
    ch.control_init.Reset(fds[1]);
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("output pipe");
    ch.output_read.Reset(fds[0]);
    ch.output_write.Reset(fds[1]);
    if (::fcntl(ch.output_read.get(), F_SETFL, O_NONBLOCK) != 0) {
      return ErrnoStatus("output pipe: O_NONBLOCK");
    }
    plan.init.specialize_fd = -1;
    plan.init.ready_fd = -1;
    if (stem_cell) {
      if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("specialization pipe");
      ch.specialize_read.Reset(fds[0]);
      ch.specialize_write.Reset(fds[1]);
      plan.init.specialize_fd = ch.specialize_read.get();
      if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus("readiness pipe");
      ch.ready_read.Reset(fds[0]);
      ch.ready_write.Reset(fds[1]);
      plan.init.ready_fd = ch.ready_write.get();
    }
    plan.init.sync_fd = ch.sync_read.get();
    plan.init.control_fd = ch.control_init.get();
    plan.init.output_fd = ch.output_write.get();
    return Status::Ok();
  }

  Status CloneInit(LaunchPlan& plan, Channels& ch, LinuxSandbox& sandbox) const {
    // With a template, init makes its mount namespace itself (a copy of the template).
    int flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    if (!template_mnt_) flags |= CLONE_NEWNS;
    if (!root_) flags |= CLONE_NEWUSER;
    NIMBUS_ASSIGN_OR_RETURN(sandbox.init_pid_, CloneOnOwnStack(SandboxInitMain, flags, &plan.init));
    // The child's ends: init holds its own copies now.
    HandOver(ch, sandbox);
    return Status::Ok();
  }

  // Once the child (cloned init, or the zygote's fork) holds its own copies of
  // its channel ends: closes ours and gives the daemon's ends to `sandbox`.
  static void HandOver(Channels& ch, LinuxSandbox& sandbox) {
    ch.sync_read.Reset();
    ch.control_init.Reset();
    ch.output_write.Reset();
    ch.specialize_read.Reset();
    ch.ready_write.Reset();
    sandbox.specialize_write_ = std::move(ch.specialize_write);
    sandbox.ready_read_ = std::move(ch.ready_read);
    sandbox.control_ = std::move(ch.control_daemon);
    sandbox.output_ = std::move(ch.output_read);
  }

  Status WriteIdMaps(pid_t pid) const {
    auto write = [pid](const char* file, const std::string& value) -> Status {
      std::string path = fmt::format("/proc/{}/{}", pid, file);
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(fmt::format("open {}", path));
      ssize_t n = ::write(fd, value.data(), value.size());
      int err = errno;
      ::close(fd);
      if (n != static_cast<ssize_t>(value.size())) return ErrnoStatus(fmt::format("write {}", path), err);
      return Status::Ok();
    };
    // An unprivileged process may map only its own ids, and only after denying setgroups.
    NIMBUS_RETURN_IF_ERROR(write("setgroups", "deny"));
    NIMBUS_RETURN_IF_ERROR(write("uid_map", fmt::format("{} {} 1\n", options_.sandbox_uid, ::geteuid())));
    NIMBUS_RETURN_IF_ERROR(write("gid_map", fmt::format("{} {} 1\n", options_.sandbox_gid, ::getegid())));
    return Status::Ok();
  }

  static Status Release(Channels& ch) {
    char go = 1;
    if (::write(ch.sync_write.get(), &go, 1) != 1) return ErrnoStatus("write sync pipe");
    ch.sync_write.Reset();
    return Status::Ok();
  }

  static Status ReceiveListener(LinuxSandbox& sandbox) {
    NIMBUS_RETURN_IF_ERROR(WaitForInit(sandbox.control_.get(), "runtime api listener"));
    InitMessage m{};
    FdPassingMessage msg(&m, sizeof m);
    ssize_t n;
    do {
      n = ::recvmsg(sandbox.control_.get(), msg.msg(), MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoStatus("recvmsg control socket");
    int fds[2] = {-1, -1};
    const int count = msg.ReceivedFds(fds, 2);
    UniqueFd listener(fds[0]);
    UniqueFd api_listener(fds[1]);
    if (n == 0) return Internal("init exited during setup without a report");
    if (n != static_cast<ssize_t>(sizeof m)) return Internal("short message from init");
    if (m.kind == InitMessage::kSetupError) {
      m.text[sizeof m.text - 1] = '\0';
      return Status(Code::kInternal, m.text);
    }
    if (m.kind != InitMessage::kListener || !listener) {
      return Internal(fmt::format("unexpected message {} from init", m.kind));
    }
    if ((count == 2) != sandbox.wants_api_listener_) {
      return Internal(fmt::format("init sent {} listeners", count));
    }
    sandbox.listener_ = std::move(listener);
    sandbox.api_listener_ = std::move(api_listener);
    return Status::Ok();
  }

  const LinuxSandboxOptions options_;
  const bool root_;
  const CgroupLayout layout_;
  const std::vector<sock_filter> seccomp_;
  const HostRoot host_;
  const int last_cap_;
  Capabilities capabilities_;
  // The template mount namespace sandboxes copy; empty: each init builds its
  // root with pivot_root (rootless, or the template could not be built).
  UniqueFd template_mnt_;

  // Zygotes by ZygoteKey(). Starting one happens outside the lock, as do the
  // requests to it.
  Mutex zygotes_mu_;
  std::map<std::string, std::shared_ptr<Zygote>> zygotes_ NIMBUS_GUARDED_BY(zygotes_mu_);
  std::set<std::string> zygotes_starting_ NIMBUS_GUARDED_BY(zygotes_mu_);
  std::map<std::string, std::chrono::steady_clock::time_point> zygote_retry_
      NIMBUS_GUARDED_BY(zygotes_mu_);
  std::atomic<uint64_t> zygote_forks_{0};
};

// Whether this process may create a user namespace (probed in a child).
bool UserNamespacesWork() {
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (pid < 0) return false;
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

Result<std::unique_ptr<SandboxFactory>> NewLinuxSandboxFactory(const LinuxSandboxOptions& options) {
  bool root = ::geteuid() == 0;
  if (!root && !UserNamespacesWork()) {
    return Unavailable(
        "sandbox: need root or unprivileged user namespaces (kernel.unprivileged_userns_clone, "
        "user.max_user_namespaces)");
  }
  NIMBUS_ASSIGN_OR_RETURN(CgroupHostView view, ReadCgroupHostView());
  CgroupLayout layout = DetectCgroupLayout(view, options.cgroup_parent);
  // A daemon killed with SIGKILL cannot remove its environments' cgroups; the
  // next one to start does.
  if (int swept = SweepStaleCgroups(layout, std::chrono::seconds(60)); swept > 0) {
    log::Info("sandbox: removed {} cgroups left behind by a previous daemon", swept);
  }
  NIMBUS_ASSIGN_OR_RETURN(std::vector<sock_filter> seccomp, BuildSeccompProgram());
  // The warnings reach the operator through capabilities(); `nimbus serve` prints them.
  auto factory = std::make_unique<LinuxSandboxFactory>(
      options, root, std::move(layout), std::move(seccomp), ProbeHostRoot(), cap_max_bits() - 1);
  if (root) {
    Status st = factory->CreateTemplate();
    if (!st.ok()) {
      log::Warn("sandbox: {}; each sandbox builds its root with pivot_root instead (slower "
                "launches under load)",
                st.ToString());
    }
  }
  return std::unique_ptr<SandboxFactory>(std::move(factory));
}

}  // namespace nimbus::sandbox
