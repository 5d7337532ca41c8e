#include "sandbox/sandbox_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/fd_passing_message.h"
#include "sandbox/sandbox.h"

// Everything in this file runs after clone(): async-signal-safe calls only.

namespace nimbus::sandbox {
namespace {

constexpr uint16_t kRuntimeApiPort = 9001;
constexpr int kListenBacklog = 128;

// A fixed-size message builder: no allocation.
class Text {
 public:
  Text& Add(const char* s) {
    while (s != nullptr && *s != '\0' && len_ + 1 < sizeof buf_) buf_[len_++] = *s++;
    buf_[len_] = '\0';
    return *this;
  }
  Text& AddErrno(int err) {
    const char* desc = strerrordesc_np(err);
    if (desc != nullptr) return Add(desc);
    char digits[16];
    int n = 0;
    unsigned v = static_cast<unsigned>(err);
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0 && n < 15);
    Add("errno ");
    while (n > 0) {
      char one[2] = {digits[--n], '\0'};
      Add(one);
    }
    return *this;
  }
  const char* c_str() const { return buf_; }
  size_t size() const { return len_; }

 private:
  char buf_[sizeof(InitMessage::text)] = {};
  size_t len_ = 0;
};

void WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
}

void Send(int fd, const InitMessage& m) {
  while (::send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

// Reports a failed setup step of init to the daemon and exits, which tears
// down the whole namespace. "<step> <object>: <errno text>".
[[noreturn]] void Fail(const InitPlan& plan, const char* step, const char* object, int err) {
  InitMessage m{};
  m.kind = InitMessage::kSetupError;
  m.value = err;
  Text t;
  t.Add(step);
  if (object != nullptr) t.Add(" ").Add(object);
  t.Add(": ").AddErrno(err);
  std::memcpy(m.text, t.c_str(), t.size() + 1);
  Send(plan.control_fd, m);
  ::_exit(1);
}

// Runtime setup failures go to the function's own output, like exec errors.
[[noreturn]] void RuntimeFail(const char* step, const char* object, int err) {
  Text t;
  t.Add("nimbus: ").Add(step);
  if (object != nullptr) t.Add(" ").Add(object);
  t.Add(": ").AddErrno(err).Add("\n");
  WriteAll(STDERR_FILENO, t.c_str(), t.size());
  ::_exit(127);
}

int CloseRange(unsigned first, unsigned last) {
  return static_cast<int>(::syscall(SYS_close_range, first, last, 0u));
}

// Closes every descriptor except the `n` given (n <= 10; negative ones are ignored).
void CloseAllExcept(const int* keep, int n) {
  int sorted[10];
  int m = 0;
  for (int k = 0; k < n && m < 10; ++k) {
    if (keep[k] < 0) continue;
    int j = m++;
    for (; j > 0 && sorted[j - 1] > keep[k]; --j) sorted[j] = sorted[j - 1];
    sorted[j] = keep[k];
  }
  unsigned next = 0;
  for (int i = 0; i < m; ++i) {
    unsigned fd = static_cast<unsigned>(sorted[i]);
    if (fd > next) CloseRange(next, fd - 1);
    if (fd + 1 > next) next = fd + 1;
  }
  CloseRange(next, ~0u);
}

// The daemon's handlers and ignored signals must not leak into the sandbox
// (exec keeps SIG_IGN). SIGKILL/SIGSTOP and glibc's internal signals fail
// harmlessly.
void ResetSignalDispositions() {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
}

// Attaches a detached mount (open_tree/fsmount, from the daemon) at `target`.
int MoveMount(int fd, const char* target) {
  return static_cast<int>(
      ::syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH));
}

void RunMountOp(const InitPlan& plan, const MountOp& op) {
  switch (op.kind) {
    case MountOp::Kind::kMkdir:
      if (::mkdir(op.target, op.mode) != 0 && errno != EEXIST) Fail(plan, "mkdir", op.target, errno);
      return;
    case MountOp::Kind::kFile: {
      int fd = ::open(op.target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, op.mode);
      if (fd < 0) Fail(plan, "create", op.target, errno);
      WriteAll(fd, op.data, op.data_len);
      ::close(fd);
      return;
    }
    case MountOp::Kind::kSymlink:
      if (::symlink(op.source, op.target) != 0) Fail(plan, "symlink", op.target, errno);
      return;
    case MountOp::Kind::kBind:
      if (::mount(op.source, op.target, nullptr, MS_BIND, nullptr) != 0) {
        Fail(plan, "bind mount", op.source, errno);
      }
      // Bind mounts ignore flags on creation; read-only etc. need a remount.
      if (op.flags != 0 &&
          ::mount(nullptr, op.target, nullptr, MS_BIND | MS_REMOUNT | op.flags, nullptr) != 0) {
        Fail(plan, "remount", op.target, errno);
      }
      return;
    case MountOp::Kind::kMount:
      if (::mount(op.source, op.target, op.fstype, op.flags, op.data) != 0) {
        Fail(plan, "mount", op.target, errno);
      }
      return;
    case MountOp::Kind::kRemount:
      if (::mount(nullptr, op.target, nullptr, MS_REMOUNT | op.flags, op.data) != 0) {
        Fail(plan, "remount", op.target, errno);
      }
      return;
    case MountOp::Kind::kMoveMount:
      if (MoveMount(op.fd, op.target) != 0) {
        Fail(plan, "move mount", op.target, errno);
      }
      return;
  }
}

// Makes the sandbox's mount namespace a private copy of the current one and
// adds this sandbox's own mounts to it.
void CopyMountNamespace(const InitPlan& plan) {
  if (::unshare(CLONE_NEWNS) != 0) Fail(plan, "copy", "mount namespace", errno);
  if (::chdir("/") != 0) Fail(plan, "chdir", "/", errno);
  for (size_t i = 0; i < plan.mount_count; ++i) RunMountOp(plan, plan.mounts[i]);
  for (size_t i = 0; i < plan.mount_fd_count; ++i) ::close(plan.mount_fds[i]);
}

// Enters a private copy of the template mount namespace (its root becomes ours)
// and adds this sandbox's own mounts to it.
void EnterTemplateCopy(const InitPlan& plan) {
  if (::setns(plan.template_mnt_fd, CLONE_NEWNS) != 0) {
    Fail(plan, "enter", "template mount namespace", errno);
  }
  ::close(plan.template_mnt_fd);
  CopyMountNamespace(plan);
}

// Builds the sandbox's root on a tmpfs and makes it "/".
void BuildRoot(const InitPlan& plan) {
  // Must come first: with shared propagation our mounts would appear on the host
  // and pivot_root would fail with EINVAL.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    Fail(plan, "make mounts private", "/", errno);
  }
  if (::mount("tmpfs", kStagingDir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) {
    Fail(plan, "mount root tmpfs on", kStagingDir, errno);
  }
  if (::mkdir(kStagingOldRoot, 0700) != 0) Fail(plan, "mkdir", kStagingOldRoot, errno);
  // The host's root moves to /.oldroot; bind sources are read from there.
  if (::syscall(SYS_pivot_root, kStagingDir, kStagingOldRoot) != 0) {
    Fail(plan, "pivot_root to", kStagingDir, errno);
  }
  if (::chdir("/") != 0) Fail(plan, "chdir", "/", errno);
  // The steps include mounting /proc, which in a user namespace the kernel only
  // allows while a full procfs is visible: they must precede detaching the host.
  for (size_t i = 0; i < plan.mount_count; ++i) RunMountOp(plan, plan.mounts[i]);
  if (::umount2(kOldRoot, MNT_DETACH) != 0) Fail(plan, "detach old root", kOldRoot, errno);
  if (::rmdir(kOldRoot) != 0) Fail(plan, "rmdir", kOldRoot, errno);
  // Last: every directory and file of the root exists now.
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    Fail(plan, "remount read-only", "/", errno);
  }
}

void BringUpLoopback(const InitPlan& plan) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) Fail(plan, "socket for", "lo", errno);
  struct ifreq ifr = {};
  std::memcpy(ifr.ifr_name, "lo", 3);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) Fail(plan, "SIOCGIFFLAGS", "lo", errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) Fail(plan, "SIOCSIFFLAGS", "lo", errno);
  ::close(s);
}

// A listening TCP socket at 127.0.0.1:port; `what` names it in a failure.
int ListenOnLoopback(const InitPlan& plan, uint16_t port, const char* what) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) Fail(plan, "socket for", what, errno);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Fail(plan, "bind", what, errno);
  if (::listen(l, kListenBacklog) != 0) Fail(plan, "listen", what, errno);
  return l;
}

// Creates the Runtime API listener at 127.0.0.1:9001 (and the API listener at
// 127.0.0.1:api_port) and hands them to the daemon.
void SendRuntimeApiListener(const InitPlan& plan) {
  int fds[2] = {ListenOnLoopback(plan, kRuntimeApiPort, "127.0.0.1:9001 (runtime api)"), -1};
  if (plan.api_port != 0) fds[1] = ListenOnLoopback(plan, plan.api_port, "127.0.0.1 (api endpoint)");
  InitMessage m{};
  m.kind = InitMessage::kListener;
  // Inline on this stack, no allocation: safe after clone().
  FdPassingMessage msg(&m, sizeof m);
  msg.AttachFds(fds, plan.api_port != 0 ? 2 : 1);
  ssize_t n;
  do {
    n = ::sendmsg(plan.control_fd, msg.msg(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) Fail(plan, "send", "runtime api listener", errno);
  // The daemon has its own references now; the runtime must not inherit them.
  ::close(fds[0]);
  if (fds[1] >= 0) ::close(fds[1]);
}

// The runtime process, up to exec: its descriptors, limits and signal mask,
// then privileges dropped in order, the seccomp filter last.
void EnterRuntime(const InitPlan& plan) {
  // First, so that every later failure is reported in the function's output.
  // Not O_CLOEXEC: init closed fds 0-2, so this is usually fd 0 already, where
  // dup2() is a no-op that would leave the flag set and exec would close stdin.
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull < 0 || ::dup2(devnull, STDIN_FILENO) < 0 ||
      ::dup2(plan.output_fd, STDOUT_FILENO) < 0 || ::dup2(plan.output_fd, STDERR_FILENO) < 0) {
    ::_exit(127);
  }
  unsigned first_closed = 3;
  if (plan.specialize_fd >= 0 && plan.ready_fd >= 0) {
    // Copies above the target numbers first, so neither dup2() overwrites the
    // other's source; dup2() clears FD_CLOEXEC on the new descriptor.
    int spec = ::fcntl(plan.specialize_fd, F_DUPFD_CLOEXEC, 10);
    int ready = ::fcntl(plan.ready_fd, F_DUPFD_CLOEXEC, 10);
    if (spec < 0 || ready < 0 || ::dup2(spec, kSpecializationFd) < 0 ||
        ::dup2(ready, kStemCellReadyFd) < 0) {
      ::_exit(127);
    }
    first_closed = kStemCellReadyFd + 1;
  }
  CloseRange(first_closed, ~0u);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();

  struct rlimit nofile = {plan.max_open_files, plan.max_open_files};
  if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) RuntimeFail("setrlimit", "RLIMIT_NOFILE", errno);
  struct rlimit nocore = {0, 0};
  if (::setrlimit(RLIMIT_CORE, &nocore) != 0) RuntimeFail("setrlimit", "RLIMIT_CORE", errno);

  // Dropping the bounding set needs CAP_SETPCAP: must precede the uid change.
  for (int cap = 0; cap <= plan.last_cap; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      RuntimeFail("drop bounding capability", nullptr, errno);
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    RuntimeFail("clear ambient capabilities", nullptr, errno);
  }
  // Raw syscalls: glibc's wrappers would try to change the credentials of the
  // daemon's other threads, which are not in this process. In a user namespace
  // setgroups is denied ("deny" was written to /proc/<pid>/setgroups).
  if (!plan.user_namespace && ::syscall(SYS_setgroups, 0, nullptr) != 0) {
    RuntimeFail("setgroups", nullptr, errno);
  }
  if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) {
    RuntimeFail("setresgid", nullptr, errno);
  }
  if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
    RuntimeFail("setresuid", nullptr, errno);
  }
  // Leaving uid 0 cleared the permitted and effective sets; this also clears the
  // inheritable set, and is what drops everything in a user namespace, where the
  // uid does not change.
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) RuntimeFail("capset", nullptr, errno);
  // Changing uid made the process non-dumpable: its /proc/self files (environ,
  // fd/, maps) would belong to root. Exec resets that; a zygote's runtime, which
  // is not exec'd, gets what an exec'd one has.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) RuntimeFail("set dumpable", nullptr, errno);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) RuntimeFail("no_new_privs", nullptr, errno);
  // After the credential change, which clears the parent-death signal.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) RuntimeFail("pdeathsig", nullptr, errno);
  if (::getppid() != 1) ::_exit(127);  // init died before pdeathsig was armed
  if (::chdir(plan.cwd) != 0) RuntimeFail("chdir", plan.cwd, errno);
  // Last before exec: the filter applies to every later syscall of this process.
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &plan.seccomp) != 0) {
    RuntimeFail("install seccomp filter", nullptr, errno);
  }
}

[[noreturn]] void RunRuntime(const InitPlan& plan) {
  EnterRuntime(plan);
  ::execve(plan.argv[0], const_cast<char* const*>(plan.argv), const_cast<char* const*>(plan.envp));
  RuntimeFail("exec", plan.argv[0], errno);
}

// Appends the decimal digits of `v` to `t`.
void AddNumber(Text& t, uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 23);
  char one[2] = {0, 0};
  while (n > 0) {
    one[0] = digits[--n];
    t.Add(one);
  }
}

// Resizes the tmpfs at `target` to `mb` MiB.
int ResizeTmpfs(const char* target, uint64_t mb) {
  Text data;
  data.Add("size=");
  AddNumber(data, mb);
  data.Add("m");
  return ::mount(nullptr, target, nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV, data.c_str());
}

// Reads one message from the daemon. For a SpecializeMessage: puts the code and
// layers in place, resizes /tmp and /dev/shm, and replies kSpecialized or
// kSpecializeError. Returns false when the daemon let go (EOF, hang-up or an
// unexpected message): init then exits.
bool ReceiveSpecialization(const InitPlan& plan) {
  SpecializeMessage req{};
  FdPassingMessage msg(&req, sizeof req);
  ssize_t n;
  do {
    n = ::recvmsg(plan.control_fd, msg.msg(), MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return true;  // spurious wake-up
  int fds[FdPassingMessage::kMaxFds] = {-1, -1, -1, -1, -1};
  int count = n > 0 ? msg.ReceivedFds(fds, FdPassingMessage::kMaxFds) : 0;
  if (n != static_cast<ssize_t>(sizeof req) || req.kind != SpecializeMessage::kSpecialize) {
    for (int i = 0; i < count; ++i) ::close(fds[i]);
    return false;
  }
  InitMessage reply{};
  reply.kind = InitMessage::kSpecialized;
  Text t;
  // The first failed step is the one reported; later steps are skipped.
  auto ok = [&] { return reply.kind == InitMessage::kSpecialized; };
  auto fail = [&](const char* step, const char* target, int err) {
    reply.kind = InitMessage::kSpecializeError;
    reply.value = err;
    t.Add(step).Add(target).Add(": ");
    if (err != 0) {
      t.AddErrno(err);
    } else {
      t.Add("no mount descriptor received");
    }
  };
  int next = 0;
  auto attach = [&](uint32_t flag, const char* target) {
    if ((req.flags & flag) == 0 || !ok()) return;
    if (next >= count) {
      fail("move mount ", target, 0);
    } else if (MoveMount(fds[next++], target) != 0) {
      fail("move mount ", target, errno);
    }
  };
  attach(SpecializeMessage::kHasCode, "/var/task");
  attach(SpecializeMessage::kHasOpt, "/opt");
  for (int i = 0; i < count; ++i) ::close(fds[i]);
  for (auto [target, mb] : {std::pair{"/tmp", req.tmp_mb}, std::pair{"/dev/shm", req.shm_mb}}) {
    if (ok() && ResizeTmpfs(target, mb) != 0) fail("resize ", target, errno);
  }
  std::memcpy(reply.text, t.c_str(), t.size() + 1);
  Send(plan.control_fd, reply);
  return true;
}

// PID 1 of the sandbox: reaps orphans, reports the runtime's exit, and exits
// when the runtime does or when the daemon closes the control socket. Its exit
// makes the kernel SIGKILL every other process of the pid namespace.
[[noreturn]] void Supervise(const InitPlan& plan, pid_t runtime, int signal_fd) {
  ::close(plan.output_fd);  // the output pipe must reach EOF when the runtime's tree is gone
  if (plan.specialize_fd >= 0) ::close(plan.specialize_fd);
  if (plan.ready_fd >= 0) ::close(plan.ready_fd);
  const int keep[] = {plan.control_fd, signal_fd};
  CloseAllExcept(keep, 2);
  for (;;) {
    struct pollfd fds[2] = {{signal_fd, POLLIN, 0}, {plan.control_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    // The daemon writes to init only to specialize a stem cell; anything else
    // (EOF, an error, a hang-up) means it let go.
    if (fds[1].revents != 0 && !ReceiveSpecialization(plan)) ::_exit(0);
    if (fds[0].revents == 0) continue;
    struct signalfd_siginfo info[8];
    while (::read(signal_fd, info, sizeof info) > 0) {
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != runtime) continue;
      InitMessage m{};
      m.kind = InitMessage::kRuntimeExited;
      m.value = status;
      Send(plan.control_fd, m);
      ::_exit(0);
    }
  }
}

// Keeps only the plan's descriptors: everything else the daemon (or zygote) had
// open (other sandboxes' pipes and listeners being launched concurrently, client
// sockets) must not be held open here. Then waits until the daemon has moved
// this process into the cgroup (and written the id maps).
void CloseAllButPlanAndWaitForRelease(const InitPlan& plan) {
  int keep[10] = {plan.sync_fd,         plan.control_fd, plan.output_fd, plan.specialize_fd,
                  plan.ready_fd,        plan.template_mnt_fd, -1, -1, -1, -1};
  for (size_t i = 0; i < plan.mount_fd_count && i < 4; ++i) keep[6 + i] = plan.mount_fds[i];
  CloseAllExcept(keep, 10);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(plan.sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(1);  // the daemon gave up on this sandbox
  ::close(plan.sync_fd);
}

// Init's setup once released: cgroup namespace, hostname, root, loopback and the
// Runtime API listener. Returns the signalfd on which init learns of its children.
int SetUpSandbox(const InitPlan& plan) {
  ::umask(0);
  // After joining the cgroup: the namespace's root is the environment's cgroup.
  if (::unshare(CLONE_NEWCGROUP) != 0) Fail(plan, "unshare", "cgroup namespace", errno);
  if (::sethostname(plan.hostname, plan.hostname_len) != 0) Fail(plan, "sethostname", nullptr, errno);
  if (plan.template_mnt_fd >= 0) {
    EnterTemplateCopy(plan);
  } else if (plan.copy_mount_ns) {
    CopyMountNamespace(plan);
  } else {
    BuildRoot(plan);
  }
  BringUpLoopback(plan);
  SendRuntimeApiListener(plan);

  // Blocked before the fork so that no SIGCHLD is lost; the runtime unblocks it.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int signal_fd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) Fail(plan, "signalfd", nullptr, errno);
  return signal_fd;
}

}  // namespace

int SandboxInitMain(void* arg) {
  const InitPlan& plan = *static_cast<const InitPlan*>(arg);
  CloseAllButPlanAndWaitForRelease(plan);
  ResetSignalDispositions();
  int signal_fd = SetUpSandbox(plan);
  // A raw fork: glibc's fork() runs atfork handlers that take the daemon's locks.
  pid_t runtime = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (runtime < 0) Fail(plan, "fork", "runtime", errno);
  if (runtime == 0) RunRuntime(plan);
  Supervise(plan, runtime, signal_fd);
}

int ZygoteChildMain(const InitPlan& plan) {
  CloseAllButPlanAndWaitForRelease(plan);
  // The pid namespace is new already (the zygote unshared it for this fork).
  if (::unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
    Fail(plan, "unshare", "network, ipc and uts namespaces", errno);
  }
  // The zygote's other dispositions are its program's own at start (Python
  // ignores SIGPIPE and SIGXFSZ): an exec'd runtime has them too. But the zygote
  // ignores SIGCHLD to have its children reaped, which init must not.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, nullptr);
  int signal_fd = SetUpSandbox(plan);
  // glibc's fork(): this process is a single-threaded copy of the zygote, and
  // the runtime goes on running its code, which needs glibc's state (the
  // cached thread id) to be its own.
  pid_t runtime = ::fork();
  if (runtime < 0) Fail(plan, "fork", "runtime", errno);
  if (runtime == 0) {
    ::close(signal_fd);
    EnterRuntime(plan);
    return 0;
  }
  Supervise(plan, runtime, signal_fd);
}

namespace {

// Moves `fd` to `target` (which may be taken); the result is not close-on-exec.
int MoveFdTo(int fd, int target) {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0) == 0 ? 0 : -1;
  return ::dup2(fd, target) < 0 ? -1 : 0;
}

}  // namespace

int ZygoteMain(void* arg) {
  InitPlan plan = *static_cast<const InitPlan*>(arg);
  int keep[8] = {plan.control_fd, plan.template_mnt_fd, STDERR_FILENO, -1, -1, -1, -1, -1};
  for (size_t i = 0; i < plan.mount_fd_count && i < 4; ++i) keep[3 + i] = plan.mount_fds[i];
  CloseAllExcept(keep, 8);
  // Opened while the host's /proc is visible: the zygote resets the pid
  // namespace of its next child to its own through it after each fork.
  int pid_ns = ::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (pid_ns < 0) Fail(plan, "open", "/proc/self/ns/pid", errno);
  ResetSignalDispositions();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::sethostname(plan.hostname, plan.hostname_len) != 0) Fail(plan, "sethostname", nullptr, errno);
  EnterTemplateCopy(plan);
  // Above every target number first, so that no dup2() overwrites a later source.
  int sock = ::fcntl(plan.control_fd, F_DUPFD_CLOEXEC, 10);
  int ns = ::fcntl(pid_ns, F_DUPFD_CLOEXEC, 10);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (sock < 0 || ns < 0 || devnull < 0) Fail(plan, "set up", "zygote descriptors", errno);
  plan.control_fd = sock;
  // 0: /dev/null; 1 and 2: the daemon's stderr, for the zygote's own errors.
  if (MoveFdTo(devnull, STDIN_FILENO) != 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0 ||
      MoveFdTo(sock, kZygoteSocketFd) != 0 || MoveFdTo(ns, kZygotePidNsFd) != 0) {
    Fail(plan, "set up", "zygote descriptors", errno);
  }
  plan.control_fd = kZygoteSocketFd;
  CloseRange(kZygotePidNsFd + 1, ~0u);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Fail(plan, "pdeathsig", nullptr, errno);
  ::setsid();
  if (::chdir("/") != 0) Fail(plan, "chdir", "/", errno);
  ::execve(plan.argv[0], const_cast<char* const*>(plan.argv), const_cast<char* const*>(plan.envp));
  Fail(plan, "exec", plan.argv[0], errno);
}

int TemplateMain(void* arg) {
  const InitPlan& plan = *static_cast<const InitPlan*>(arg);
  const int keep[] = {plan.sync_fd, plan.control_fd};
  CloseAllExcept(keep, 2);
  ::umask(0);
  BuildRoot(plan);
  InitMessage m{};
  m.kind = InitMessage::kTemplateReady;
  Send(plan.control_fd, m);
  // The namespace lives on through the daemon's descriptor once we exit.
  char byte;
  for (;;) {
    ssize_t n = ::read(plan.sync_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) break;
  }
  ::_exit(0);
}

}  // namespace nimbus::sandbox
