// Tests of LinuxSandbox against the real kernel. They need root (or user
// namespaces) and skip, saying why, where the host cannot run them. Programs
// run inside are the host's /bin/sh and /usr/bin/python3 (visible via /usr).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sandbox/sandbox.h"

namespace nimbus::sandbox {
namespace {

constexpr const char* kCgroupParent = "nimbus-sandbox-test";

std::string RandomId() {
  static std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The daemon's own cgroup in the v1 memory hierarchy, or "" if there is none.
std::string OwnV1MemoryCgroupDir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    std::string controllers = line.substr(first + 1, second - first - 1);
    if (controllers == "memory") {
      std::string path = line.substr(second + 1);
      if (path == "/") path.clear();
      return "/sys/fs/cgroup/memory" + path;
    }
  }
  return "";
}

struct Finished {
  std::string output;
  ExitInfo exit;
  ResourceUsage usage;
};

class LinuxSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LinuxSandboxOptions options;
    options.cgroup_parent = kCgroupParent;
    auto factory = NewLinuxSandboxFactory(options);
    if (!factory && factory.error().code() == Code::kUnavailable) {
      GTEST_SKIP() << "no sandboxes on this host: " << factory.error().ToString();
    }
    ASSERT_TRUE(factory) << factory.error().ToString();
    factory_ = std::move(factory).value();
    char dir[] = "/tmp/nimbus-sandbox-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    code_dir_ = dir;
    ::chmod(dir, 0755);
    std::ofstream(code_dir_ + "/handler.txt") << "code\n";
  }
  void TearDown() override {
    if (!code_dir_.empty()) std::filesystem::remove_all(code_dir_);
  }

  SandboxSpec Spec(std::vector<std::string> argv) {
    SandboxSpec spec;
    spec.id = RandomId();
    spec.code_dir = code_dir_;
    spec.runtime_dir = code_dir_;
    spec.argv = std::move(argv);
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
    return spec;
  }
  SandboxSpec Python(const std::string& code) { return Spec({"/usr/bin/python3", "-c", code}); }
  SandboxSpec Shell(const std::string& code) { return Spec({"/bin/sh", "-c", code}); }

  // Waits (bounded, 5 s) until the runtime has exited and its output reached EOF.
  static Finished WaitForExit(Sandbox& sandbox, UniqueFd output) {
    Finished f;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::optional<ExitInfo> exit;
    while (std::chrono::steady_clock::now() < deadline && (!exit || output)) {
      struct pollfd fds[2] = {{sandbox.exit_fd(), POLLIN, 0}, {output.get(), POLLIN, 0}};
      ::poll(fds, output ? 2 : 1, 100);
      if (!exit) exit = sandbox.ReadExit();
      if (output) {
        char buf[4096];
        ssize_t n;
        while ((n = ::read(output.get(), buf, sizeof buf)) > 0) f.output.append(buf, n);
        if (n == 0) output.Reset();
      }
    }
    EXPECT_TRUE(exit.has_value()) << "the runtime did not exit within 5 s";
    if (exit) f.exit = *exit;
    f.usage = sandbox.ReadUsage();
    return f;
  }

  Finished Run(const SandboxSpec& spec) {
    auto sandbox = factory_->Launch(spec);
    if (!sandbox) {
      ADD_FAILURE() << sandbox.error().ToString();
      return {};
    }
    Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
    EXPECT_TRUE((*sandbox)->Destroy().ok());
    return f;
  }

  bool cgroups() const { return factory_->capabilities().cgroups; }

  std::unique_ptr<SandboxFactory> factory_;
  std::string code_dir_;
};

TEST_F(LinuxSandboxTest, RuntimeReachesTheRuntimeApiListenerAt127001Port9001) {
  auto sandbox = factory_->Launch(Python(
      "import socket\n"
      "s = socket.create_connection(('127.0.0.1', 9001))\n"
      "s.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\n\\r\\n')\n"
      "print(s.recv(100).decode())\n"));
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  UniqueFd listener = (*sandbox)->TakeRuntimeApiListener();
  ASSERT_TRUE(listener);
  struct pollfd pfd = {listener.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "no connection from the runtime";
  UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  std::string request;
  char buf[256];
  while (request.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(conn.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    request.append(buf, n);
  }
  EXPECT_EQ(request.substr(0, request.find("\r\n")),
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1");
  ASSERT_EQ(::write(conn.get(), "HTTP/1.1 200 OK", 15), 15);
  Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
  EXPECT_EQ(f.output, "HTTP/1.1 200 OK\n");
  EXPECT_EQ(f.exit.Describe(), "exit status 0");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(LinuxSandboxTest, OutputPipeCapturesStdoutAndStderrInWriteOrder) {
  Finished f = Run(Shell("echo one; echo two >&2; echo three"));
  EXPECT_EQ(f.output, "one\ntwo\nthree\n");
  EXPECT_EQ(f.exit.Describe(), "exit status 0");
}

TEST_F(LinuxSandboxTest, RuntimeRunsAsTheSandboxUserWithNoCapabilitiesNoNewPrivsAndSeccomp) {
  Finished f = Run(Python(
      "import os\n"
      "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
      "for l in open('/proc/self/status'):\n"
      "  if l.split(':')[0] in ('CapInh','CapPrm','CapEff','CapBnd','CapAmb','NoNewPrivs',"
      "'Seccomp'):\n"
      "    print(l.split()[0], l.split()[1])\n"
      "print(os.getpid(), os.getppid())\n"
      "import pwd; print(pwd.getpwuid(os.getuid()).pw_name)\n"));
  EXPECT_EQ(f.output,
            "993 993 993 []\n"
            "CapInh: 0000000000000000\n"
            "CapPrm: 0000000000000000\n"
            "CapEff: 0000000000000000\n"
            "CapBnd: 0000000000000000\n"
            "CapAmb: 0000000000000000\n"
            "NoNewPrivs: 1\n"
            "Seccomp: 2\n"
            "2 1\n"
            "sbx_user1051\n");
}

TEST_F(LinuxSandboxTest, RootAndVarTaskAreReadOnlyWhileTmpIsWritableUpToItsSize) {
  SandboxSpec spec = Python(
      "import errno\n"
      "def attempt(path, size):\n"
      "  try:\n"
      "    with open(path, 'wb') as f: f.write(b'x' * size)\n"
      "    return 'ok'\n"
      "  except OSError as e: return errno.errorcode[e.errno]\n"
      "print(attempt('/newfile', 1), attempt('/etc/passwd', 1), attempt('/usr/x', 1))\n"
      "print(attempt('/var/task/x', 1), attempt('/var/task/handler.txt', 1))\n"
      "print(open('/var/task/handler.txt').read().strip())\n"
      "print(attempt('/tmp/small', 1 << 20), attempt('/tmp/big', 8 << 20))\n");
  spec.ephemeral_storage_mb = 4;
  Finished f = Run(spec);
  EXPECT_EQ(f.output,
            "EROFS EROFS EROFS\n"
            "EROFS EROFS\n"
            "code\n"
            "ok ENOSPC\n");
}

TEST_F(LinuxSandboxTest, HostFilesOutsideTheExposedMountsAreNotVisible) {
  Finished f = Run(Python(
      "import os\n"
      "print(sorted(os.listdir('/')))\n"
      "print(sorted(os.listdir('/etc')))\n"
      "print([os.path.exists(p) for p in ('/root', '/work', '/home', '/etc/shadow', '/sys')])\n"
      "print(sorted(os.listdir('/proc/self/fd')), len([p for p in os.listdir('/proc') if "
      "p.isdigit()]))\n"));
  std::string lines = f.output;
  EXPECT_NE(lines.find("['bin', 'dev', 'etc', 'lib', "), std::string::npos) << lines;
  EXPECT_NE(lines.find("'opt', 'proc', 'sbin', 'tmp', 'usr', 'var']"), std::string::npos) << lines;
  EXPECT_NE(lines.find("[False, False, False, False, False]\n"), std::string::npos) << lines;
  // Only stdio and the directory being listed; only the runtime in /proc (the
  // sandbox's init runs as root and /proc is mounted hidepid=invisible, so its
  // command line - the daemon's - is not readable).
  EXPECT_NE(lines.find("['0', '1', '2', '3'] 1\n"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("shadow"), std::string::npos) << lines;
}

TEST_F(LinuxSandboxTest, OnlyLoopbackExistsSoOutboundConnectionsFail) {
  Finished f = Run(Python(
      "import socket, errno\n"
      "print(sorted(n for _, n in socket.if_nameindex()))\n"
      "try:\n"
      "  socket.create_connection(('1.1.1.1', 80), timeout=1)\n"
      "  print('connected')\n"
      "except OSError as e: print(errno.errorcode[e.errno])\n"
      "print(socket.gethostname())\n"));
  EXPECT_EQ(f.output, "['lo']\nENETUNREACH\nlocalhost\n");
}

TEST_F(LinuxSandboxTest, SeccompDeniesMountUnshareSetnsPtraceAndNamespaceClones) {
  Finished f = Run(Python(
      "import ctypes, errno, os, sys\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "def err(rc):\n"
      "  return errno.errorcode[ctypes.get_errno()] if rc == -1 else 'allowed'\n"
      "print('unshare', err(libc.unshare(0x10000000)))\n"  // CLONE_NEWUSER
      "print('mount', err(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)))\n"
      "print('ptrace', err(libc.ptrace(0, 0, None, None)))\n"  // PTRACE_TRACEME
      "print('clone3', err(libc.syscall(435, None, 0)))\n"
      "print('clone', err(libc.syscall(56, 0x10000000 | 17, None, None, None, None)))\n"
      "print('personality', err(libc.personality(0x0400000)))\n"  // READ_IMPLIES_EXEC
      "sys.stdout.flush()\n"
      "pid = os.fork()\n"
      "if pid == 0: os._exit(0)\n"
      "print('fork', 'allowed' if os.waitpid(pid, 0)[0] == pid else 'failed')\n"));
  EXPECT_EQ(f.output,
            "unshare EPERM\n"
            "mount EPERM\n"
            "ptrace EPERM\n"
            "clone3 ENOSYS\n"
            "clone EPERM\n"
            "personality EPERM\n"
            "fork allowed\n");
}

TEST_F(LinuxSandboxTest, ASyscallOfTheX32AbiKillsTheProcess) {
  // 0x40000000 | 39: getpid in the x32 numbering, which the filter cannot vet.
  Finished f = Run(Python(
      "import ctypes, sys\n"
      "print('before'); sys.stdout.flush()\n"
      "ctypes.CDLL(None).syscall(0x40000000 | 39)\n"
      "print('after')\n"));
  EXPECT_EQ(f.output, "before\n");
  EXPECT_EQ(f.exit.Describe(), "signal: bad system call");
}

TEST_F(LinuxSandboxTest, PidsLimitContainsAForkBomb) {
  if (!cgroups()) GTEST_SKIP() << "cgroups not enforced on this host";
  SandboxSpec spec = Python(
      "import os, errno, time\n"
      "n = 0\n"
      "try:\n"
      "  for _ in range(200):\n"
      "    if os.fork() == 0:\n"
      "      time.sleep(30); os._exit(0)\n"
      "    n += 1\n"
      "except OSError as e: print(errno.errorcode[e.errno], n)\n");
  spec.max_pids = 16;
  Finished f = Run(spec);
  // 16 processes: the sandbox's init, the runtime and 14 children.
  EXPECT_EQ(f.output, "EAGAIN 14\n");
}

TEST_F(LinuxSandboxTest, MemoryLimitOomKillsTheRuntime) {
  if (!cgroups()) GTEST_SKIP() << "cgroups not enforced on this host";
  SandboxSpec spec = Python("x = b'x' * (256 << 20)\nprint('survived')\n");
  spec.memory_mb = 64;
  Finished f = Run(spec);
  EXPECT_EQ(f.output, "");
  EXPECT_EQ(f.exit.Describe(), "signal: killed");
  EXPECT_TRUE(f.usage.oom_killed);
  EXPECT_GT(f.usage.max_memory_bytes, 32u << 20);
  EXPECT_LE(f.usage.max_memory_bytes, 64u << 20);
}

TEST_F(LinuxSandboxTest, ReportsPeakMemoryWithoutOomForAFunctionWithinItsLimit) {
  if (!cgroups()) GTEST_SKIP() << "cgroups not enforced on this host";
  SandboxSpec spec = Python("x = b'x' * (40 << 20)\nprint('ok')\n");
  spec.memory_mb = 128;
  Finished f = Run(spec);
  EXPECT_EQ(f.output, "ok\n");
  EXPECT_FALSE(f.usage.oom_killed);
  EXPECT_GT(f.usage.max_memory_bytes, 40u << 20);
}

TEST_F(LinuxSandboxTest, ReportsTheRuntimesExitStatus) {
  EXPECT_EQ(Run(Shell("exit 3")).exit.Describe(), "exit status 3");
}

TEST_F(LinuxSandboxTest, ReportsTheSignalThatKilledTheRuntime) {
  EXPECT_EQ(Run(Shell("kill -SEGV $$")).exit.Describe(), "signal: segmentation fault");
  EXPECT_EQ(Run(Shell("kill -ABRT $$")).exit.Describe(), "signal: aborted");
}

TEST_F(LinuxSandboxTest, ReportsAFailedExecInTheOutputWithExitStatus127) {
  Finished f = Run(Spec({"/var/task/bootstrap"}));
  EXPECT_EQ(f.output, "nimbus: exec /var/task/bootstrap: No such file or directory\n");
  EXPECT_EQ(f.exit.Describe(), "exit status 127");
}

TEST_F(LinuxSandboxTest, KillEndsTheRuntimeWhichIsReportedAsKilled) {
  auto sandbox = factory_->Launch(Shell("sleep 30"));
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  EXPECT_FALSE((*sandbox)->ReadExit().has_value());
  (*sandbox)->Kill();
  Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
  EXPECT_EQ(f.exit.Describe(), "signal: killed");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(LinuxSandboxTest, DestroyLeavesNoProcessAndNoCgroupDirectory) {
  // A runtime with a background child, still running when Destroy() is called.
  SandboxSpec spec = Shell("sleep 30 & sleep 30");
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  pid_t init = (*sandbox)->init_pid();
  ASSERT_EQ(::kill(init, 0), 0);
  std::string memory_dir = OwnV1MemoryCgroupDir() + "/" + kCgroupParent + "/" + spec.id;
  std::string pids_dir = std::string("/sys/fs/cgroup/pids/") + kCgroupParent + "/" + spec.id;
  bool v1 = cgroups() && std::filesystem::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (v1) {
    EXPECT_TRUE(std::filesystem::exists(memory_dir));
    EXPECT_TRUE(std::filesystem::exists(pids_dir));
  }
  ASSERT_TRUE((*sandbox)->Destroy().ok());
  EXPECT_EQ(::kill(init, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(std::filesystem::exists(memory_dir));
  EXPECT_FALSE(std::filesystem::exists(pids_dir));
  EXPECT_TRUE((*sandbox)->Destroy().ok()) << "Destroy() is idempotent";
}

TEST_F(LinuxSandboxTest, AnUnthrottledInitGetsItsCpuQuotaOnlyWhenAsked) {
  if (!cgroups() || !std::filesystem::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {
    GTEST_SKIP() << "checks the cgroup v1 cpu files of this (hybrid) host; cgroups v1 not usable";
  }
  SandboxSpec spec = Shell("sleep 30");
  spec.memory_mb = 1769 / 2 + 1;
  spec.unthrottled_init = true;
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  std::string cpu_dir = std::string("/sys/fs/cgroup/cpu/") + kCgroupParent + "/" + spec.id;
  EXPECT_EQ(ReadWholeFile(cpu_dir + "/cpu.cfs_quota_us"), "-1\n");
  EXPECT_EQ(ReadWholeFile(cpu_dir + "/cpu.shares"), "512\n");
  ASSERT_TRUE((*sandbox)->ApplyCpuLimit().ok());
  EXPECT_EQ(ReadWholeFile(cpu_dir + "/cpu.cfs_quota_us"), "10005\n");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(LinuxSandboxTest, CgroupLimitsReadBackFromTheKernel) {
  if (!cgroups() || !std::filesystem::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
    GTEST_SKIP() << "checks the cgroup v1 files of this (hybrid) host; cgroups v1 not usable";
  }
  SandboxSpec spec = Shell("sleep 30");
  spec.memory_mb = 1769 / 2 + 1;  // 885 MB: half a vCPU
  spec.max_pids = 100;
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  std::string memory_dir = OwnV1MemoryCgroupDir() + "/" + kCgroupParent + "/" + spec.id;
  std::string cpu_dir = std::string("/sys/fs/cgroup/cpu/") + kCgroupParent + "/" + spec.id;
  std::string pids_dir = std::string("/sys/fs/cgroup/pids/") + kCgroupParent + "/" + spec.id;
  EXPECT_EQ(ReadWholeFile(memory_dir + "/memory.limit_in_bytes"), "927989760\n");
  if (std::filesystem::exists(memory_dir + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(ReadWholeFile(memory_dir + "/memory.memsw.limit_in_bytes"), "927989760\n");
  }
  EXPECT_EQ(ReadWholeFile(cpu_dir + "/cpu.cfs_period_us"), "20000\n");
  EXPECT_EQ(ReadWholeFile(cpu_dir + "/cpu.cfs_quota_us"), "10005\n");
  EXPECT_EQ(ReadWholeFile(pids_dir + "/pids.max"), "100\n");
  // Init and the runtime are in the cgroup.
  EXPECT_NE(ReadWholeFile(pids_dir + "/cgroup.procs").find(std::to_string((*sandbox)->init_pid())),
            std::string::npos);
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(LinuxSandboxTest, LaunchRefusesOutboundNetworkAccessWhichIsNotImplemented) {
  SandboxSpec spec = Shell("true");
  spec.network = true;
  auto sandbox = factory_->Launch(spec);
  ASSERT_FALSE(sandbox);
  EXPECT_EQ(sandbox.error().code(), Code::kInvalidArgument);
}

TEST_F(LinuxSandboxTest, LaunchReportsAMissingCodeDirectory) {
  SandboxSpec spec = Shell("true");
  spec.code_dir = code_dir_ + "/missing";
  auto sandbox = factory_->Launch(spec);
  ASSERT_FALSE(sandbox);
  EXPECT_EQ(sandbox.error().code(), Code::kNotFound);
  EXPECT_NE(sandbox.error().message().find("code_dir"), std::string::npos);
}

TEST_F(LinuxSandboxTest, EnvironmentAndWorkingDirectoryAreExactlyTheSpecs) {
  SandboxSpec spec = Python("import os\nprint(os.getcwd(), sorted(os.environ.items()))\n");
  // LANG: with the C locale Python would add LC_CTYPE to its environment (PEP 538).
  spec.env = {"A=1", "LAMBDA_TASK_ROOT=/var/task", "LANG=C.UTF-8"};
  spec.cwd = "/tmp";
  Finished f = Run(spec);
  EXPECT_EQ(f.output, "/tmp [('A', '1'), ('LAMBDA_TASK_ROOT', '/var/task'), ('LANG', 'C.UTF-8')]\n");
}

TEST_F(LinuxSandboxTest, AsRootEverySandboxCopiesOneReadOnlyTemplateRootInsteadOfPivoting) {
  if (::geteuid() != 0) GTEST_SKIP() << "the template mount namespace is built only as root";
  // Two sandboxes' roots are the same (read-only) tmpfs: a copy of the template
  // namespace, not a tmpfs and pivot_root each (whose unmount of the old root
  // serialised launches on an RCU grace period).
  const std::string program =
      "import os\n"
      "print(os.stat('/').st_dev, os.stat('/var/task/handler.txt').st_ino != 0)\n";
  Finished a = Run(Python(program));
  Finished b = Run(Python(program));
  ASSERT_FALSE(a.output.empty());
  EXPECT_EQ(a.output, b.output);
  EXPECT_NE(a.output.find(" True"), std::string::npos) << a.output;
}

// Accepts one connection on `listener` (waiting up to 5 s), reads what the
// runtime sent and answers "pong".
std::string AcceptAndAnswer(int listener) {
  struct pollfd pfd = {listener, POLLIN, 0};
  if (::poll(&pfd, 1, 5000) != 1) return "no connection";
  int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return "accept failed";
  char buf[64];
  ssize_t n = ::read(c, buf, sizeof buf);
  std::string got = n > 0 ? std::string(buf, n) : "";
  (void)!::write(c, "pong", 4);
  ::close(c);
  return got;
}

constexpr const char* kApiClient =
    "import socket\n"
    "s = socket.create_connection(('127.0.0.1', 4566))\n"
    "s.sendall(b'ping'); print(s.recv(16).decode(), flush=True)\n";

TEST_F(LinuxSandboxTest, TheApiEndpointInsideTheSandboxIsAListenerTheDaemonServes) {
  SandboxSpec spec = Python(kApiClient);
  spec.api_port = 4566;
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  UniqueFd api = (*sandbox)->TakeApiListener();
  ASSERT_TRUE(api);
  EXPECT_EQ(AcceptAndAnswer(api.get()), "ping");
  Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
  EXPECT_EQ(f.output, "pong\n");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
  // Without api_port there is none.
  auto plain = factory_->Launch(Python("pass"));
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_FALSE((*plain)->TakeApiListener());
  EXPECT_TRUE((*plain)->Destroy().ok());
}

// A stem cell: the runtime starts with empty /var/task and /opt and waits on fd 3.
class StemCellTest : public LinuxSandboxTest {
 protected:
  void SetUp() override {
    LinuxSandboxTest::SetUp();
    if (IsSkipped()) return;
    if (!factory_->capabilities().stem_cells) GTEST_SKIP() << "stem cells need root";
    for (const char* name : {"layer1", "layer2"}) {
      std::filesystem::create_directories(code_dir_ + "/" + name);
      ::chmod((code_dir_ + "/" + name).c_str(), 0755);
    }
    std::ofstream(code_dir_ + "/layer1/both.txt") << "layer1\n";
    std::ofstream(code_dir_ + "/layer1/only1.txt") << "only1\n";
    std::ofstream(code_dir_ + "/layer2/both.txt") << "layer2\n";
  }

  // What the runtime wrote up to its first newline (waits up to 5 s).
  static std::string ReadFirstLine(int output) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      struct pollfd pfd = {output, POLLIN, 0};
      ::poll(&pfd, 1, 100);
      char buf[256];
      ssize_t n = ::read(output, buf, sizeof buf);
      if (n > 0) line.append(buf, n);
    }
    return line;
  }

  SandboxSpec Cell(const std::string& code) {
    SandboxSpec spec = Python(code);
    spec.code_dir.clear();
    spec.stem_cell = true;
    spec.memory_mb = 1024;
    spec.unthrottled_init = true;
    return spec;
  }
};

constexpr const char* kCellProgram =
    "import os, errno\n"
    "print('before', sorted(os.listdir('/var/task')), sorted(os.listdir('/opt')), flush=True)\n"
    "data = b''\n"
    "while True:\n"
    "  chunk = os.read(3, 65536)\n"
    "  if not chunk: break\n"
    "  data += chunk\n"
    "print('payload', data.decode())\n"
    "os.chdir('/var/task')\n"
    "print('code', open('handler.txt').read().strip(), sorted(os.listdir('.')))\n"
    "try:\n"
    "  open('/var/task/x', 'w')\n"
    "except OSError as e: print('write', errno.errorcode[e.errno])\n"
    "print('opt', sorted(os.listdir('/opt')))\n"
    "print('both', open('/opt/both.txt').read().strip())\n"
    "st = os.statvfs('/tmp'); print('tmp', st.f_blocks * st.f_frsize >> 20)\n"
    "st = os.statvfs('/dev/shm'); print('shm', st.f_blocks * st.f_frsize >> 20)\n";

TEST_F(StemCellTest, SpecializeMountsCodeAndLayersResizesTmpAndDeliversThePayload) {
  auto sandbox = factory_->Launch(Cell(kCellProgram));
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  UniqueFd output = (*sandbox)->TakeOutput();
  // What the cell sees before it is specialized.
  EXPECT_EQ(ReadFirstLine(output.get()), "before [] []\n");
  Specialization s;
  s.code_dir = code_dir_;
  s.layer_dirs = {code_dir_ + "/layer1", code_dir_ + "/layer2"};
  s.memory_mb = 256;
  s.ephemeral_storage_mb = 600;
  s.payload = "{\"env\":{\"A\":\"1\"}}";
  Status st = (*sandbox)->Specialize(s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Finished f = WaitForExit(**sandbox, std::move(output));
  EXPECT_EQ(f.output,
            "payload {\"env\":{\"A\":\"1\"}}\n"
            "code code ['handler.txt', 'layer1', 'layer2']\n"
            "write EROFS\n"
            "opt ['both.txt', 'only1.txt']\n"
            "both layer2\n"
            "tmp 600\n"
            "shm 256\n");
  EXPECT_EQ(f.exit.Describe(), "exit status 0");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(StemCellTest, SpecializeSetsTheFunctionsMemoryLimit) {
  if (!cgroups()) GTEST_SKIP() << "cgroups are not enforced on this host";
  // Allocates 200 MB after specialization: fine in the cell's 1,024 MB, fatal in 128 MB.
  auto sandbox = factory_->Launch(Cell(
      "import os\n"
      "while os.read(3, 4096): pass\n"
      "x = bytearray(200 << 20)\n"
      "print('allocated', flush=True)\n"));
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  UniqueFd output = (*sandbox)->TakeOutput();
  Specialization s;
  s.code_dir = code_dir_;
  s.memory_mb = 128;
  ASSERT_TRUE((*sandbox)->Specialize(s).ok());
  Finished f = WaitForExit(**sandbox, std::move(output));
  EXPECT_EQ(f.output.find("allocated"), std::string::npos) << f.output;
  EXPECT_TRUE(f.usage.oom_killed);
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(StemCellTest, OneLayerIsABindAndNoLayersLeaveOptEmpty) {
  for (bool one_layer : {true, false}) {
    auto sandbox = factory_->Launch(Cell(
        "import os\n"
        "while os.read(3, 4096): pass\n"
        "print(sorted(os.listdir('/opt')))\n"));
    ASSERT_TRUE(sandbox) << sandbox.error().ToString();
    UniqueFd output = (*sandbox)->TakeOutput();
    Specialization s;
    s.code_dir = code_dir_;
    if (one_layer) s.layer_dirs = {code_dir_ + "/layer1"};
    ASSERT_TRUE((*sandbox)->Specialize(s).ok());
    Finished f = WaitForExit(**sandbox, std::move(output));
    EXPECT_EQ(f.output, one_layer ? "['both.txt', 'only1.txt']\n" : "[]\n");
    EXPECT_TRUE((*sandbox)->Destroy().ok());
  }
}

TEST_F(StemCellTest, SpecializeIsRefusedTwiceAndForOrdinarySandboxes) {
  auto cell = factory_->Launch(Cell("import os\nwhile os.read(3, 4096): pass\n"));
  ASSERT_TRUE(cell) << cell.error().ToString();
  Specialization s;
  s.code_dir = code_dir_;
  ASSERT_TRUE((*cell)->Specialize(s).ok());
  EXPECT_FALSE((*cell)->Specialize(s).ok());
  EXPECT_TRUE((*cell)->Destroy().ok());

  auto plain = factory_->Launch(Shell("sleep 5"));
  ASSERT_TRUE(plain) << plain.error().ToString();
  Status st = (*plain)->Specialize(s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not an unspecialized stem cell"), std::string::npos);
  EXPECT_TRUE((*plain)->Destroy().ok());
}

TEST_F(StemCellTest, ReadyFdReadsEofOnceTheRuntimeClosesItsDescriptor4) {
  auto cell = factory_->Launch(Cell(
      "import os, sys\n"
      "sys.stdin.read()\n"  // /dev/null: returns at once
      "os.read(3, 1)\n"       // blocks until Specialize
      "os.close(4)\n"
      "while os.read(3, 4096): pass\n"));
  ASSERT_TRUE(cell) << cell.error().ToString();
  ASSERT_GE((*cell)->ready_fd(), 0);
  struct pollfd pfd = {(*cell)->ready_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 300), 0) << "ready before the runtime closed fd 4";
  Specialization s;
  s.code_dir = code_dir_;
  s.payload = "x";
  ASSERT_TRUE((*cell)->Specialize(s).ok());
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1);
  char byte;
  EXPECT_EQ(::read((*cell)->ready_fd(), &byte, 1), 0);
  EXPECT_TRUE((*cell)->Destroy().ok());
}

TEST_F(StemCellTest, LaunchRefusesAStemCellWithCode) {
  SandboxSpec spec = Cell("pass");
  spec.code_dir = code_dir_;
  auto sandbox = factory_->Launch(spec);
  ASSERT_FALSE(sandbox);
  EXPECT_EQ(sandbox.error().code(), Code::kInvalidArgument);
}

TEST_F(StemCellTest, SpecializeReportsAMissingCodeDirectory) {
  auto cell = factory_->Launch(Cell("import os\nwhile os.read(3, 4096): pass\n"));
  ASSERT_TRUE(cell) << cell.error().ToString();
  Specialization s;
  s.code_dir = code_dir_ + "/missing";
  Status st = (*cell)->Specialize(s);
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_TRUE((*cell)->Destroy().ok());
}

// Cells forked from a zygote (ADR 0008): the runtimes/python zygote, driven
// with a test program that serves as a zygote and then runs the cell's code.
class ZygoteTest : public StemCellTest {
 protected:
  void SetUp() override {
    StemCellTest::SetUp();
    if (IsSkipped()) return;
    if (!factory_->capabilities().zygotes) GTEST_SKIP() << "zygotes need root and the template";
    if (!std::filesystem::exists(std::string(NIMBUS_RUNTIMES_DIR) + "/python/libnimbus_zygote.so")) {
      GTEST_SKIP() << "build the nimbus_runtimes target first (no libnimbus_zygote.so)";
    }
  }

  SandboxSpec ZygoteCell(const std::string& code) {
    SandboxSpec spec = Cell(
        "import os, sys\n"
        "sys.path.insert(0, '/var/runtime/python')\n"
        "if '_NIMBUS_ZYGOTE_FD' in os.environ:\n"
        "  import nimbus_zygote\n"
        "  nimbus_zygote.serve()\n" +
        code);
    spec.runtime_dir = NIMBUS_RUNTIMES_DIR;
    spec.zygote = true;
    return spec;
  }

  // The pid namespace etc. of `pid`, as "type:[inode]".
  static std::string Namespace(pid_t pid, const char* type) {
    std::error_code ec;
    return std::filesystem::read_symlink(fmt::format("/proc/{}/ns/{}", pid, type), ec).string();
  }
  static pid_t ParentOf(pid_t pid) {
    std::string stat = ReadWholeFile(fmt::format("/proc/{}/stat", pid));
    size_t close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    return static_cast<pid_t>(std::atoi(stat.c_str() + close + 4));  // ") S <ppid>"
  }
};

TEST_F(ZygoteTest, AForkedCellIsSpecializedLikeAStartedOne) {
  const uint64_t forks = factory_->zygote_forks();
  auto sandbox = factory_->Launch(ZygoteCell(kCellProgram));
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  EXPECT_EQ(factory_->zygote_forks(), forks + 1);
  // Init is a copy of the zygote (python), not of this process.
  std::error_code ec;
  EXPECT_NE(std::filesystem::read_symlink(fmt::format("/proc/{}/exe", (*sandbox)->init_pid()), ec)
                .string()
                .find("python"),
            std::string::npos);
  UniqueFd output = (*sandbox)->TakeOutput();
  EXPECT_EQ(ReadFirstLine(output.get()), "before [] []\n");
  Specialization s;
  s.code_dir = code_dir_;
  s.layer_dirs = {code_dir_ + "/layer1", code_dir_ + "/layer2"};
  s.memory_mb = 256;
  s.ephemeral_storage_mb = 600;
  s.payload = "{\"env\":{\"A\":\"1\"}}";
  Status st = (*sandbox)->Specialize(s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Finished f = WaitForExit(**sandbox, std::move(output));
  EXPECT_EQ(f.output,
            "payload {\"env\":{\"A\":\"1\"}}\n"
            "code code ['handler.txt', 'layer1', 'layer2']\n"
            "write EROFS\n"
            "opt ['both.txt', 'only1.txt']\n"
            "both layer2\n"
            "tmp 600\n"
            "shm 256\n");
  EXPECT_EQ(f.exit.Describe(), "exit status 0");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(ZygoteTest, AForkedRuntimeIsUnprivilegedAndHasNamespacesOfItsOwn) {
  const char* program =
      "import os, signal, socket\n"
      "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
      "for l in open('/proc/self/status'):\n"
      "  if l.split(':')[0] in ('CapPrm','CapEff','CapBnd','NoNewPrivs','Seccomp'):\n"
      "    print(l.split()[0], l.split()[1])\n"
      "print(os.getpid(), os.getppid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
      "print(socket.gethostname(), sorted(os.listdir('/sys/class/net')) if os.path.isdir("
      "'/sys/class/net') else '-')\n"
      "print(signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,"
      " signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)\n"
      "print(sorted(k for k in os.environ if k.startswith('_NIMBUS_ZYGOTE')))\n"
      "print(len(open('/proc/self/environ', 'rb').read()) > 0, len(os.listdir('/proc/self/fd')))\n"
      "open('/tmp/mine', 'w').write('x')\n"
      "print(os.listdir('/tmp'))\n"
      "while os.read(3, 4096): pass\n";
  auto a = factory_->Launch(ZygoteCell(program));
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = factory_->Launch(ZygoteCell(program));
  ASSERT_TRUE(b) << b.error().ToString();
  // Both from one zygote, each with namespaces of its own.
  pid_t zygote = ParentOf((*a)->init_pid());
  EXPECT_EQ(ParentOf((*b)->init_pid()), zygote);
  EXPECT_NE(zygote, ::getpid());
  for (const char* type : {"pid_for_children", "mnt", "net", "uts", "ipc", "cgroup"}) {
    std::string ns_a = Namespace((*a)->init_pid(), type);
    EXPECT_NE(ns_a, Namespace((*b)->init_pid(), type)) << type;
    EXPECT_NE(ns_a, Namespace(zygote, type)) << type;
  }
  EXPECT_EQ(Namespace((*a)->init_pid(), "pid_for_children"), Namespace((*a)->init_pid(), "pid"));
  for (auto* sandbox : {&*a, &*b}) {
    Specialization s;
    s.code_dir = code_dir_;
    s.payload = "x";
    ASSERT_TRUE((*sandbox)->Specialize(s).ok());
    Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
    EXPECT_EQ(f.output,
              "993 993 993 []\n"
              "CapPrm: 0000000000000000\n"
              "CapEff: 0000000000000000\n"
              "CapBnd: 0000000000000000\n"
              "NoNewPrivs: 1\n"
              "Seccomp: 2\n"
              "2 1 ['2']\n"
              "localhost -\n"
              "True True\n"
              "[]\n"
              "True 6\n"
              "['mine']\n");
    EXPECT_EQ(f.exit.Describe(), "exit status 0");
    EXPECT_TRUE((*sandbox)->Destroy().ok());
  }
}

TEST_F(ZygoteTest, DestroyLeavesNoProcessOfAForkedSandbox) {
  SandboxSpec spec = ZygoteCell("import os, subprocess\nsubprocess.Popen(['sleep', '30'])\n"
                                "os.close(4)\nwhile os.read(3, 4096): pass\n");
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  pid_t init = (*sandbox)->init_pid();
  struct pollfd pfd = {(*sandbox)->ready_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "the runtime did not start";
  ASSERT_TRUE((*sandbox)->Destroy().ok());
  // The zygote reaps its children: the pid is gone, or a zombie for a moment.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (::kill(init, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    ::usleep(10'000);
  }
  EXPECT_EQ(::kill(init, 0), -1);
  EXPECT_TRUE((*sandbox)->Destroy().ok()) << "Destroy() is idempotent";
}

TEST_F(ZygoteTest, AZygoteThatDiedIsReplacedAndItsCellsStartTheProgramMeanwhile) {
  const char* program = "import os\nwhile os.read(3, 4096): pass\n";
  auto first = factory_->Launch(ZygoteCell(program));
  ASSERT_TRUE(first) << first.error().ToString();
  pid_t zygote = ParentOf((*first)->init_pid());
  ASSERT_GT(zygote, 1);
  ASSERT_EQ(::kill(zygote, SIGKILL), 0);
  // Its children live on: they answer to the daemon, not to the zygote.
  ::usleep(100'000);
  EXPECT_EQ(::kill((*first)->init_pid(), 0), 0);
  const uint64_t forks = factory_->zygote_forks();
  // The dead zygote is found out by this launch, which starts the program.
  auto second = factory_->Launch(ZygoteCell(program));
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(factory_->zygote_forks(), forks);
  // The next one starts a new zygote and is forked by it.
  auto third = factory_->Launch(ZygoteCell(program));
  ASSERT_TRUE(third) << third.error().ToString();
  EXPECT_EQ(factory_->zygote_forks(), forks + 1);
  EXPECT_NE(ParentOf((*third)->init_pid()), zygote);
  // The orphan was reparented to us (a subreaper) and Destroy() reaps it: no
  // zombie is left to a host init that might never reap it.
  pid_t orphan = (*first)->init_pid();
  EXPECT_EQ(ParentOf(orphan), ::getpid());
  for (auto* sandbox : {&*first, &*second, &*third}) EXPECT_TRUE((*sandbox)->Destroy().ok());
  EXPECT_EQ(::kill(orphan, 0), -1) << "left a zombie";
}

TEST_F(ZygoteTest, ACellThatWaitsInThePoolMakesTheZygotesPagesItsOwnFirst) {
  // Shared_Dirty: pages still shared (copy-on-write) with the zygote.
  const char* program =
      "import os\n"
      "for l in open('/proc/self/smaps_rollup'):\n"
      "  if l.startswith('Shared_Dirty:'): print(int(l.split()[1]), flush=True)\n"
      "while os.read(3, 4096): pass\n";
  auto shared_dirty_kb = [&](bool background) -> long {
    SandboxSpec spec = ZygoteCell(program);
    spec.background = background;
    auto sandbox = factory_->Launch(spec);
    if (!sandbox) {
      ADD_FAILURE() << sandbox.error().ToString();
      return -1;
    }
    UniqueFd output = (*sandbox)->TakeOutput();
    std::string line = ReadFirstLine(output.get());
    EXPECT_TRUE((*sandbox)->Destroy().ok());
    return std::atol(line.c_str());
  };
  long pooled = shared_dirty_kb(true);
  long forked_for_a_cold_start = shared_dirty_kb(false);
  EXPECT_LT(pooled, 256) << "kB still shared with the zygote";
  EXPECT_GT(forked_for_a_cold_start, 1024) << "kB shared with the zygote (faulted in lazily)";
}

TEST_F(ZygoteTest, AForkedSandboxHasTheApiEndpointToo) {
  SandboxSpec spec = ZygoteCell(std::string("import os\nos.read(3, 1)\n") + kApiClient);
  spec.api_port = 4566;
  auto sandbox = factory_->Launch(spec);
  ASSERT_TRUE(sandbox) << sandbox.error().ToString();
  UniqueFd api = (*sandbox)->TakeApiListener();
  ASSERT_TRUE(api);
  Specialization s;
  s.code_dir = code_dir_;
  s.payload = "x";
  ASSERT_TRUE((*sandbox)->Specialize(s).ok());
  EXPECT_EQ(AcceptAndAnswer(api.get()), "ping");
  Finished f = WaitForExit(**sandbox, (*sandbox)->TakeOutput());
  EXPECT_EQ(f.output, "pong\n");
  EXPECT_TRUE((*sandbox)->Destroy().ok());
}

TEST_F(ZygoteTest, OnlyStemCellsAreForked) {
  SandboxSpec spec = Python("pass");
  spec.zygote = true;
  auto sandbox = factory_->Launch(spec);
  ASSERT_FALSE(sandbox);
  EXPECT_EQ(sandbox.error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace nimbus::sandbox
