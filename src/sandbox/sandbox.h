// sandbox: execution environments' isolation. A Sandbox is one running,
// isolated process tree (the runtime and whatever it starts) with its own pid,
// mount, ipc, uts and network namespaces, a cgroup, a read-only root, and a
// Runtime API listening socket at 127.0.0.1:9001 inside its network namespace.
//
// Used by invoke/ only. Launch() is blocking (clone, mounts, cgroup writes) and
// runs on the BlockingPool; the returned Sandbox is then owned by one
// invoke::Environment, which watches its fds on the reactor.
//
// Lifecycle of a Sandbox (host side):
//
//   Launch() ──► running ──(runtime exits / Kill())──► exited ──Destroy()──► gone
//
// Processes inside: PID 1 is Nimbus' own tiny init (reaps zombies, reports the
// runtime's wait status, exits when the runtime exits, which kills the namespace);
// the runtime is its child, running as an unprivileged uid with no capabilities,
// no_new_privs and a seccomp filter.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"

namespace nimbus::sandbox {

// What to run and with which limits. A value type.
struct SandboxSpec {
  // Identifies the environment in cgroup names and logs: 32 lowercase hex chars.
  std::string id;
  // Host directory bind-mounted read-only at /var/task (the unpacked code).
  std::filesystem::path code_dir;
  // Host directory bind-mounted read-only at /var/runtime (our runtime clients).
  std::filesystem::path runtime_dir;
  // Host directories unpacked from layers, bind-mounted in order at /opt (later
  // ones overlay earlier ones).
  std::vector<std::filesystem::path> layer_dirs;
  // argv[0] is an absolute path inside the sandbox, e.g. "/var/runtime/python/bootstrap".
  std::vector<std::string> argv;
  // "KEY=VALUE" entries; the whole environment of the runtime process.
  std::vector<std::string> env;
  // Working directory inside the sandbox.
  std::string cwd = "/var/task";
  // Memory limit (MemorySize). CPU share is proportional: 1769 MB = 1 vCPU.
  uint64_t memory_mb = 128;
  // Size of the /tmp tmpfs (EphemeralStorage).
  uint64_t ephemeral_storage_mb = 512;
  // Max processes+threads in the sandbox (pids cgroup) and RLIMIT_NOFILE.
  uint64_t max_pids = 1024;
  uint64_t max_open_files = 1024;
  // When false the network namespace has only loopback (the Runtime API).
  // LinuxSandbox does not implement outbound access yet: Launch() refuses
  // `network = true` with kInvalidArgument.
  bool network = false;
  // When not 0, init also listens on 127.0.0.1:api_port inside the network
  // namespace (TakeApiListener()): the daemon serves its AWS APIs there, the one
  // endpoint a function reaches (AWS_ENDPOINT_URL).
  uint16_t api_port = 0;
  // When true the CPU quota (memory_mb / 1769 vCPU) is applied only when
  // Sandbox::ApplyCpuLimit() is called, so the init phase can burst (only the
  // proportional weight applies until then), as Lambda lets init burst.
  bool unthrottled_init = false;
  // A stem cell (pre-started environment, issue #4): started before it is known
  // which function it will run, so code_dir and layer_dirs must be empty (/var/task
  // and /opt are empty directories) and `env` holds only what the runtime needs to
  // start. The runtime finds the read end of a pipe at fd kSpecializationFd, which
  // carries the function's environment once Sandbox::Specialize() is called, then EOF.
  bool stem_cell = false;
  // The lowest CPU weight (v1 cpu.shares 2, v2 cpu.weight 1) instead of one
  // proportional to memory: a stem cell loads on CPU nobody else wants, and
  // Specialize() gives it the function's weight.
  bool background = false;
  // Stem cells only: fork the runtime from a zygote instead of starting the
  // program (ADR 0008). A zygote is one process of `argv` with `env`, started
  // once by the factory and kept: it has loaded the runtime and, per Launch(),
  // forks itself into the new sandbox, where the copy becomes init and forks the
  // runtime, which drops its privileges like an exec'd one. Only for programs
  // that speak the zygote protocol (kZygoteSocketFd; our Python client). When
  // no zygote can be had, Launch() starts the program as usual.
  bool zygote = false;
};

// The runtime's descriptor that carries a stem cell's specialization payload.
inline constexpr int kSpecializationFd = 3;
// A stem cell's runtime closes this descriptor once it has loaded and is about
// to wait on kSpecializationFd (Sandbox::ready_fd() then reads EOF).
inline constexpr int kStemCellReadyFd = 4;
// A zygote finds its end of the SOCK_SEQPACKET socket to the factory here, and
// a descriptor of its own pid namespace at kZygotePidNsFd (see zygote.h).
inline constexpr int kZygoteSocketFd = 3;
inline constexpr int kZygotePidNsFd = 4;

// What turns a stem cell into one function's environment.
struct Specialization {
  // Mounted read-only at /var/task, like SandboxSpec::code_dir.
  std::filesystem::path code_dir;
  // Stacked read-only at /opt, like SandboxSpec::layer_dirs.
  std::vector<std::filesystem::path> layer_dirs;
  uint64_t memory_mb = 128;
  uint64_t ephemeral_storage_mb = 512;
  // Written to the runtime's fd kSpecializationFd, which is then closed.
  std::string payload;
};

struct ResourceUsage {
  uint64_t max_memory_bytes = 0;  // cgroup peak usage since launch
  bool oom_killed = false;        // the cgroup's OOM killer has fired
};

// How the runtime process ended.
struct ExitInfo {
  bool exited = false;  // true: normal exit with `status`; false: killed by `signal`
  int status = 0;
  int signal = 0;
  // "exit status 1", "signal: killed", "signal: segmentation fault" (Go's wording,
  // which Lambda's Runtime.ExitError messages use).
  std::string Describe() const;
};

// A running environment. Not thread-safe: owned by one invoke::Environment.
class Sandbox {
 public:
  virtual ~Sandbox() = default;

  // The listening TCP socket bound to 127.0.0.1:9001 inside the sandbox's network
  // namespace. Ownership passes to the caller (the Runtime API server). Called once.
  // LinuxSandbox: blocking and O_CLOEXEC; set O_NONBLOCK if the reactor needs it.
  virtual UniqueFd TakeRuntimeApiListener() = 0;
  // The listener at 127.0.0.1:SandboxSpec::api_port inside the sandbox, or an
  // empty fd when api_port was 0. Ownership passes to the caller. Called once.
  virtual UniqueFd TakeApiListener() { return UniqueFd(); }
  // Read end (non-blocking) of the pipe that carries the runtime's stdout and
  // stderr, merged in write order. Called once.
  virtual UniqueFd TakeOutput() = 0;
  // Becomes readable when the runtime has exited (its wait status is then
  // available from ReadExit()). Borrowed; valid until Destroy().
  // LinuxSandbox: a unix socket; it also becomes readable (EOF) when the
  // sandbox's init dies without reporting, e.g. after Kill(), which ReadExit()
  // reports as "signal: killed". Do not read from it; call ReadExit().
  virtual int exit_fd() const = 0;
  // Non-blocking: the runtime's exit, once known.
  virtual std::optional<ExitInfo> ReadExit() = 0;

  // Peak memory and OOM state from the cgroup. Cheap (a few small reads).
  virtual ResourceUsage ReadUsage() = 0;

  // Applies the CPU quota deferred by SandboxSpec::unthrottled_init. Blocking
  // (a cgroupfs write); may be called from a BlockingPool thread while the
  // owner uses the sandbox, but not concurrently with Destroy().
  virtual Status ApplyCpuLimit() = 0;

  // Stem cells: becomes readable (EOF) once the runtime has loaded and waits to
  // be specialized, or has died; -1 for other sandboxes. Borrowed; do not read.
  virtual int ready_fd() const = 0;

  // Turns a stem cell (SandboxSpec::stem_cell) into a function's environment:
  // mounts the code at /var/task and the layers at /opt (read-only), resizes /tmp
  // and /dev/shm, sets the cgroup's memory limit and CPU weight for memory_mb (a
  // deferred CPU quota stays deferred, now computed for memory_mb), then writes the
  // payload to the runtime and closes its pipe. Blocking (~1 ms); at most once.
  // On failure the sandbox must be destroyed.
  virtual Status Specialize(const Specialization& s) = 0;

  // SIGKILLs every process in the sandbox. Idempotent, non-blocking.
  // LinuxSandbox: the runtime's exit then reads as "signal: killed".
  virtual void Kill() = 0;
  // Kills if needed, reaps, removes the cgroup and any host-side state. Blocking;
  // leaves no process, mount or cgroup behind. Idempotent.
  virtual Status Destroy() = 0;

  // SandboxSpec::id: names the environment's cgroup directories.
  virtual const std::string& id() const = 0;

  // Host pid of the sandbox's init (for tests and diagnostics).
  virtual pid_t init_pid() const = 0;
};

// Limits the host could not enforce, found when the factory was built; printed
// once by `nimbus serve` at start (e.g. "memory limit: cgroup v2 memory controller
// not delegated to /sys/fs/cgroup/user.slice/...").
struct Capabilities {
  bool cgroups = false;        // memory/cpu/pids limits enforced
  bool user_namespace = false; // running unprivileged via a user namespace
  bool stem_cells = false;     // Launch() accepts SandboxSpec::stem_cell (needs root)
  bool zygotes = false;        // and forks SandboxSpec::zygote cells from zygotes
  std::vector<std::string> warnings;
};

class SandboxFactory {
 public:
  virtual ~SandboxFactory() = default;
  // Creates and starts a sandbox. Blocking. Thread-safe.
  virtual Result<std::unique_ptr<Sandbox>> Launch(const SandboxSpec& spec) = 0;
  virtual const Capabilities& capabilities() const = 0;
  // Launches that a zygote forked (SandboxSpec::zygote). Thread-safe.
  virtual uint64_t zygote_forks() const { return 0; }
};

struct LinuxSandboxOptions {
  // Unprivileged uid/gid the runtime runs as (when Nimbus runs as root).
  uid_t sandbox_uid = 993;
  gid_t sandbox_gid = 993;
  // Name of the cgroup directory created under the daemon's own cgroup in each
  // hierarchy, holding one child per environment: <own>/<cgroup_parent>/<id>.
  std::string cgroup_parent = "nimbus";
};

// Namespaces + cgroups (v1 or v2, detected) + pivot_root + seccomp. Works as root,
// or as an ordinary user via a user namespace (then cgroups only if delegated).
// Fails with kUnavailable when neither root nor user namespaces are available.
// The sandbox's init is a child of the daemon and is reaped by Destroy(): code
// elsewhere in the daemon must not waitpid(-1).
//
// The root inside: read-only tmpfs with read-only binds of the host's /usr (and
// /bin, /sbin, /lib* as on the host: symlinks on merged-/usr hosts), /var/task
// (code_dir), /var/runtime (runtime_dir), /opt (layers; empty otherwise), /tmp
// (tmpfs of ephemeral_storage_mb, charged to the memory limit), /proc (the
// sandbox's own), /dev (null zero full random urandom tty, shm, fd links) and
// /etc holding generated passwd/group/hosts (sandbox user "sbx_user1051") plus
// the host's ld.so.*, nsswitch.conf, localtime, timezone, ssl/, ca-certificates*,
// pki/, mime.types and alternatives/ where present. Hostname "localhost".
Result<std::unique_ptr<SandboxFactory>> NewLinuxSandboxFactory(const LinuxSandboxOptions& options);

}  // namespace nimbus::sandbox
