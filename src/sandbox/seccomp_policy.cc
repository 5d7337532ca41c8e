#include "sandbox/seccomp_policy.h"

#include <linux/sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "base/errno_status.h"

namespace nimbus::sandbox {
namespace {

// Administering the host or leaving the sandbox. The runtime has no capabilities,
// so most of these would fail anyway; the filter makes that independent of
// capability bugs and closes the ones open to unprivileged users (unshare of a
// user namespace, ptrace of a sibling, bpf, userfaultfd, perf, keyrings).
constexpr const char* kDenied[] = {
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "syslog",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "keyctl", "add_key", "request_key",
    "unshare", "setns",
    "open_by_handle_at", "name_to_handle_at",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "fanotify_init", "uselib", "nfsservctl",
};

// Namespace-creating clone flags. CLONE_NEWTIME (0x80) is left out: for clone()
// that bit is part of the exit-signal field, and unshare()/clone3 are denied.
constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// personality() bits that change nothing dangerous: PER_LINUX32 (0x8) and
// UNAME26 (0x20000), so PER_LINUX and the combinations Docker's default profile
// allows still work. Any other bit (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...)
// is refused. libseccomp cannot put two comparisons on one argument in a rule,
// so this is one rule per forbidden bit; as a consequence the 0xffffffff
// "query" form is refused too (glibc does not use it).
constexpr uint64_t kAllowedPersonalityBits = 0x8 | 0x20000;

Status SeccompError(const char* what, int rc) {
  return Internal(fmt::format("seccomp: {}: {}", what, std::strerror(-rc)));
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

Result<std::vector<sock_filter>> BuildSeccompProgram() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Internal("seccomp: seccomp_init failed");
  scmp_filter_ctx c = ctx.get();
  // Other ABIs (i386 via int 0x80, x32) kill: their numbers mean other syscalls.
  // libseccomp's x86_64 filter also sends x32 numbers (bit 30) to this action.
  int rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return SeccompError("set bad-arch action", rc);

  const uint32_t kEperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    // A syscall this libseccomp does not know is one the kernel may not have either.
    if (nr == __NR_SCMP_ERROR) continue;
    rc = seccomp_rule_add(c, kEperm, nr, 0);
    if (rc < 0) return SeccompError(name, rc);
  }
  for (uint64_t flag : kNamespaceFlags) {
    rc = seccomp_rule_add(c, kEperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc < 0) return SeccompError("clone", rc);
  }
  rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc < 0) return SeccompError("clone3", rc);
  // Device nodes; FIFOs and sockets stay allowed.
  for (uint64_t type : {uint64_t{S_IFCHR}, uint64_t{S_IFBLK}}) {
    rc = seccomp_rule_add(c, kEperm, SCMP_SYS(mknod), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, type));
    if (rc < 0) return SeccompError("mknod", rc);
    rc = seccomp_rule_add(c, kEperm, SCMP_SYS(mknodat), 1,
                          SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, type));
    if (rc < 0) return SeccompError("mknodat", rc);
  }
  for (int bit = 0; bit < 32; ++bit) {
    uint64_t mask = uint64_t{1} << bit;
    if (mask & kAllowedPersonalityBits) continue;
    rc = seccomp_rule_add(c, kEperm, SCMP_SYS(personality), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, mask, mask));
    if (rc < 0) return SeccompError("personality", rc);
  }

  int fd = ::memfd_create("nimbus-seccomp", MFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus("seccomp: memfd_create");
  rc = seccomp_export_bpf(c, fd);
  if (rc < 0) {
    ::close(fd);
    return SeccompError("export", rc);
  }
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    ::close(fd);
    return Internal(fmt::format("seccomp: exported program has odd size {}", size));
  }
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t n = ::pread(fd, program.data(), static_cast<size_t>(size), 0);
  int err = errno;
  ::close(fd);
  if (n != size) return ErrnoStatus("seccomp: read exported program", n < 0 ? err : EIO);
  return program;
}

}  // namespace nimbus::sandbox
