// A zygote's side of ADR 0008, loaded into the zygote's process (our Python
// client loads it with ctypes as runtimes/python/libnimbus_zygote.so): decodes a
// request and turns the zygote's freshly forked child into a sandbox. Also part
// of nimbus_sandbox, for tests. Uses libc only: no allocation, no other library.
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sandbox/sandbox_init.h"
#include "sandbox/zygote_protocol.h"

namespace nimbus::sandbox {
namespace {

// Reads forward through a request, bounds-checked.
class Reader {
 public:
  Reader(const char* data, size_t len) : p_(data), end_(data + len) {}

  bool Raw(void* out, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  // A NUL-terminated string inside the request, or nullptr for kNullString;
  // `len` gets its length. False when the request ends early or lacks the NUL.
  bool String(const char** out, size_t* len = nullptr) {
    uint32_t n;
    if (!Raw(&n, sizeof n)) return false;
    if (n == kNullString) {
      *out = nullptr;
      if (len != nullptr) *len = 0;
      return true;
    }
    if (static_cast<size_t>(end_ - p_) < static_cast<size_t>(n) + 1 || p_[n] != '\0') return false;
    *out = p_;
    if (len != nullptr) *len = n;
    p_ += static_cast<size_t>(n) + 1;
    return true;
  }
  bool AtEnd() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

// MADV_POPULATE_WRITE (Linux 5.14), which glibc 2.36's headers lack.
constexpr int kMadvPopulateWrite = 23;

// Breaks copy-on-write sharing with the zygote of every private writable
// mapping now, in the kernel, rather than one fault at a time later.
void PrefaultWritableMappings() {
  static char maps[1 << 17];
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // only a slower first invocation
  size_t len = 0;
  ssize_t n;
  while (len < sizeof maps - 1 && (n = ::read(fd, maps + len, sizeof maps - 1 - len)) > 0) {
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  maps[len] = '\0';
  // "start-end perms offset dev inode path": private writable is "rw?p".
  for (char* line = maps; *line != '\0';) {
    char* end = std::strchr(line, '\n');
    if (end == nullptr) break;
    *end = '\0';
    char* dash = std::strchr(line, '-');
    char* space = dash != nullptr ? std::strchr(dash, ' ') : nullptr;
    if (space != nullptr && space[1] == 'r' && space[2] == 'w' && space[4] == 'p') {
      unsigned long start = std::strtoul(line, nullptr, 16);
      unsigned long stop = std::strtoul(dash + 1, nullptr, 16);
      if (stop > start) {
        ::madvise(reinterpret_cast<void*>(start), stop - start, kMadvPopulateWrite);
      }
    }
    line = end + 1;
  }
}

void SendMessage(int fd, int32_t kind, int32_t value, const char* text) {
  InitMessage m{};
  m.kind = kind;
  m.value = value;
  if (text != nullptr) std::strncpy(m.text, text, sizeof m.text - 1);
  while (::send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

}  // namespace

const char* DecodeZygoteRequest(const char* data, size_t len, const int* fds, int nfds,
                                DecodedZygoteRequest& out) {
  if (nfds != kZygoteRequestFds) return "wrong number of descriptors";
  Reader in(data, len);
  ZygoteRequestHeader h;
  if (!in.Raw(&h, sizeof h)) return "truncated header";
  if (h.magic != kZygoteRequestMagic || h.version != kZygoteRequestVersion) {
    return "not a zygote request of this version";
  }
  if (h.mount_count > kMaxZygoteMounts) return "too many mounts";
  if (h.seccomp_len == 0 || h.seccomp_len > kMaxZygoteSeccompLen) return "bad seccomp filter length";
  InitPlan& plan = out.plan;
  plan = InitPlan{};
  for (uint32_t i = 0; i < h.mount_count; ++i) {
    ZygoteMountRecord r;
    if (!in.Raw(&r, sizeof r)) return "truncated mount records";
    if (r.kind > static_cast<uint8_t>(MountOp::Kind::kRemount)) return "bad mount kind";
    MountOp& op = out.mounts[i];
    op = MountOp{};
    op.kind = static_cast<MountOp::Kind>(r.kind);
    op.mode = r.mode;
    op.flags = static_cast<unsigned long>(r.flags);
  }
  for (uint32_t i = 0; i < h.mount_count; ++i) {
    MountOp& op = out.mounts[i];
    if (!in.String(&op.source) || !in.String(&op.target) || !in.String(&op.fstype) ||
        !in.String(&op.data, &op.data_len)) {
      return "truncated mount strings";
    }
    if (op.target == nullptr) return "mount without a target";
  }
  if (!in.String(&plan.hostname, &plan.hostname_len) || !in.String(&plan.cwd)) {
    return "truncated hostname or cwd";
  }
  if (plan.hostname == nullptr || plan.cwd == nullptr) return "missing hostname or cwd";
  if (!in.Raw(out.seccomp, sizeof(sock_filter) * h.seccomp_len)) return "truncated seccomp filter";
  if (!in.AtEnd()) return "trailing bytes";

  plan.sync_fd = fds[0];
  plan.control_fd = fds[1];
  plan.output_fd = fds[2];
  plan.specialize_fd = fds[3];
  plan.ready_fd = fds[4];
  plan.template_mnt_fd = -1;
  plan.copy_mount_ns = true;
  plan.mount_fds = nullptr;
  plan.mount_fd_count = 0;
  plan.mounts = out.mounts;
  plan.mount_count = h.mount_count;
  plan.user_namespace = false;
  if (h.api_port > 0xffff) return "bad api port";
  plan.api_port = static_cast<uint16_t>(h.api_port);
  plan.uid = h.uid;
  plan.gid = h.gid;
  plan.last_cap = h.last_cap;
  plan.max_open_files = h.max_open_files;
  plan.argv = nullptr;
  plan.envp = nullptr;
  plan.seccomp.len = static_cast<unsigned short>(h.seccomp_len);
  plan.seccomp.filter = out.seccomp;
  out.flags = h.flags;
  return nullptr;
}

}  // namespace nimbus::sandbox

// The zygote's entry points (C ABI, for ctypes). Each returns 0 or -errno.
extern "C" {

// The zygote is loaded and waits for requests on `sock`.
__attribute__((visibility("default"))) int nimbus_zygote_ready(int sock) {
  nimbus::sandbox::SendMessage(sock, nimbus::sandbox::InitMessage::kZygoteReady, 0, nullptr);
  return 0;
}

// Before each fork: the next child is PID 1 of a new pid namespace.
__attribute__((visibility("default"))) int nimbus_zygote_new_pid_namespace(void) {
  return ::unshare(CLONE_NEWPID) == 0 ? 0 : -errno;
}

// After each fork, in the zygote: puts the zygote's own pid namespace back for
// its next child and tells the daemon, on the request's control socket, the
// child's pid (or, when `pid` is -errno, that the fork failed).
__attribute__((visibility("default"))) int nimbus_zygote_forked(int pid_ns_fd, int control_fd,
                                                                int pid) {
  int rc = ::setns(pid_ns_fd, CLONE_NEWPID) == 0 ? 0 : -errno;
  if (pid > 0) {
    nimbus::sandbox::SendMessage(control_fd, nimbus::sandbox::InitMessage::kForked, pid, nullptr);
  } else {
    const char* desc = strerrordesc_np(-pid);
    char text[128] = "zygote: fork: ";
    std::strncat(text, desc != nullptr ? desc : "error", sizeof text - std::strlen(text) - 1);
    nimbus::sandbox::SendMessage(control_fd, nimbus::sandbox::InitMessage::kSetupError, -pid, text);
  }
  return rc;
}

// In the zygote's child, right after the fork: becomes the sandbox that the
// request describes. Returns 0 in its runtime only (see ZygoteChildMain).
__attribute__((visibility("default"))) int nimbus_zygote_become_sandbox(const char* data,
                                                                        size_t len,
                                                                        const int* fds, int nfds) {
  // Static: init never returns, and the runtime keeps nothing of it.
  static nimbus::sandbox::DecodedZygoteRequest request;
  if (const char* error = nimbus::sandbox::DecodeZygoteRequest(data, len, fds, nfds, request)) {
    if (nfds > 1) {
      char text[200] = "zygote request: ";
      std::strncat(text, error, sizeof text - std::strlen(text) - 1);
      nimbus::sandbox::SendMessage(fds[1], nimbus::sandbox::InitMessage::kSetupError, EINVAL, text);
    }
    ::_exit(1);
  }
  int rc = nimbus::sandbox::ZygoteChildMain(request.plan);  // in the runtime
  if ((request.flags & nimbus::sandbox::kZygotePrefault) != 0) {
    nimbus::sandbox::PrefaultWritableMappings();
  }
  return rc;
}

}  // extern "C"
