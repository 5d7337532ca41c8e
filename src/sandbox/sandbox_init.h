// The code that runs inside a new sandbox: Nimbus' tiny init (PID 1 of the
// sandbox's pid namespace) and the runtime process it starts. Private to sandbox/.
//
// Everything here runs in a child created by clone() from the multithreaded
// daemon: only async-signal-safe calls (raw syscalls and their thin libc
// wrappers), no allocation, no locks, no libseccomp, no glibc set*id() (which
// would try to signal the daemon's other threads, which do not exist here). The
// parent therefore precomputes an InitPlan of plain data: C strings and arrays
// that live in the parent's memory and are valid in the child's copy of it.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace nimbus::sandbox {

// One step of building the new root. Paths are inside the new root (which is
// "/" while the steps run); bind sources are under kOldRoot.
struct MountOp {
  enum class Kind : uint8_t {
    kMkdir,    // mkdir(target, mode); an existing directory is fine
    kFile,     // create target with mode and contents data[0, data_len)
    kSymlink,  // symlink(source, target)
    kBind,     // bind source on target (non-recursive), then remount with `flags`
    kMount,    // mount(source, target, fstype, flags, data)
    kRemount,  // mount(NULL, target, NULL, MS_REMOUNT | flags, data)
    kMoveMount,  // attach the detached mount `fd` (open_tree/fsmount) at target
  };
  Kind kind;
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
  size_t data_len;
  mode_t mode;
  int fd = -1;  // kMoveMount: inherited descriptor of the detached mount
};

// Where the host's root is reachable while the new root is built, and the
// tmpfs the new root is built on. Chosen like bubblewrap: every host has /tmp,
// and after pivot_root the host's /tmp is visible again under the old root, so
// sources under /tmp still work.
inline constexpr const char* kStagingDir = "/tmp";
inline constexpr const char* kStagingOldRoot = "/tmp/.oldroot";
inline constexpr const char* kOldRoot = "/.oldroot";

// Messages from init to the daemon over the control socket (SOCK_SEQPACKET).
struct InitMessage {
  enum Kind : int32_t {
    kListener = 1,      // carries the Runtime API listener, then the API listener if any (SCM_RIGHTS)
    kSetupError = 2,    // `text` names the failed step and errno; init then exits
    kRuntimeExited = 3, // `value` is the runtime's raw wait status; init then exits
    kSpecialized = 4,   // the SpecializeMessage's mounts are in place
    kSpecializeError = 5,  // `text` names the failed step and errno; init keeps running
    kTemplateReady = 6,    // TemplateMain: the template root is built
    kForked = 7,        // a zygote forked this sandbox's init; `value` is its pid
    kZygoteReady = 8,   // a zygote has loaded and waits for requests
  };
  int32_t kind;
  int32_t value;
  char text[248];
};

// The one message from the daemon to init (a stem cell's specialization), with the
// mounts as detached mount fds (open_tree/fsmount): the code first, then /opt.
struct SpecializeMessage {
  enum Kind : int32_t { kSpecialize = 10 };
  enum Flags : uint32_t { kHasCode = 1, kHasOpt = 2 };
  int32_t kind;
  uint32_t flags;
  uint64_t tmp_mb;  // new size of the /tmp tmpfs
  uint64_t shm_mb;  // new size of the /dev/shm tmpfs
};

struct InitPlan {
  // Inherited descriptors (the child's copies).
  int sync_fd;     // read end; the parent writes one byte once cgroups/id maps are set
  int control_fd;  // init's end of the SOCK_SEQPACKET control socket
  int output_fd;   // write end of the output pipe, becomes the runtime's fds 1 and 2
  // Stem cells: read end of the specialization pipe, becomes the runtime's fd 3
  // (kSpecializationFd); -1 otherwise.
  int specialize_fd;
  // Stem cells: write end of the readiness pipe, becomes the runtime's fd 4
  // (kStemCellReadyFd), which it closes once loaded; -1 otherwise.
  int ready_fd;
  // The template mount namespace (see TemplateMain), or -1. When set, init
  // enters a copy of it instead of building a root with pivot_root, and
  // `mounts` are only this sandbox's own steps, run on that copy.
  int template_mnt_fd;
  // A zygote's child: the sandbox's mount namespace is a copy of the current one
  // (the zygote's, itself a copy of the template with /var/runtime attached),
  // and `mounts` run on that copy. Ignored when template_mnt_fd is set.
  bool copy_mount_ns;
  // kMoveMount descriptors to keep open until the mounts are done.
  const int* mount_fds;
  size_t mount_fd_count;

  const MountOp* mounts;
  size_t mount_count;
  const char* hostname;
  size_t hostname_len;

  bool user_namespace;  // running in a new user namespace (daemon not root)
  // Also listen on 127.0.0.1:api_port and send it with the Runtime API listener
  // (0: only the Runtime API).
  uint16_t api_port;
  uid_t uid;
  gid_t gid;
  int last_cap;  // highest capability number the kernel knows
  uint64_t max_open_files;

  const char* const* argv;  // NULL-terminated
  const char* const* envp;  // NULL-terminated
  const char* cwd;
  sock_fprog seccomp;
};

// clone() entry point; `arg` is an InitPlan*. Never returns.
int SandboxInitMain(void* arg);

// clone(CLONE_NEWNS) entry point of the template builder; `arg` is an InitPlan*
// whose `mounts` build the part of the root every sandbox shares (host /usr,
// /etc files, /dev, empty mount points). Builds it with pivot_root, detaches
// the host's root, makes it read-only, sends kTemplateReady on control_fd and
// waits until sync_fd reaches EOF. The daemon keeps the namespace by an fd
// (/proc/PID/ns/mnt): sandboxes then copy it (setns + unshare), which costs no
// unmount; each pivot_root launch paid for one (its old root), and every
// unmount waits for an RCU grace period under a global lock, which serialised
// bursts of launches (~13 ms each).
int TemplateMain(void* arg);

// clone() entry point of a zygote (SandboxSpec::zygote); `arg` is an InitPlan*
// whose `mounts` attach /var/runtime to a copy of the template mount namespace.
// Enters it with its own uts, ipc and network namespaces but the daemon's pid
// namespace (its forks' pids are the daemon's to put in cgroups), keeps root,
// and execs argv with kZygoteSocketFd (control_fd) and kZygotePidNsFd. Dies
// with the daemon (PR_SET_PDEATHSIG). Never returns.
int ZygoteMain(void* arg);

// Run by a zygote's child right after its fork (a single-threaded copy of the
// zygote, PID 1 of a new pid namespace), with a plan decoded from the daemon's
// request: becomes the sandbox's init as SandboxInitMain does, then forks the
// runtime. Returns 0 only in the runtime, which has dropped its privileges as
// RunRuntime does before exec and goes on as the zygote's program would; init
// never returns (setup failures are reported to the daemon, then init exits).
int ZygoteChildMain(const InitPlan& plan);

}  // namespace nimbus::sandbox
