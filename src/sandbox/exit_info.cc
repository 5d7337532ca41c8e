#include <signal.h>

#include <fmt/format.h>

#include "sandbox/sandbox.h"

namespace nimbus::sandbox {
namespace {

// Go's syscall signal names (zsignal_linux_amd64.go), which Lambda's
// "Runtime.ExitError" messages quote.
const char* GoSignalName(int sig) {
  switch (sig) {
    case SIGHUP: return "hangup";
    case SIGINT: return "interrupt";
    case SIGQUIT: return "quit";
    case SIGILL: return "illegal instruction";
    case SIGTRAP: return "trace/breakpoint trap";
    case SIGABRT: return "aborted";
    case SIGBUS: return "bus error";
    case SIGFPE: return "floating point exception";
    case SIGKILL: return "killed";
    case SIGUSR1: return "user defined signal 1";
    case SIGSEGV: return "segmentation fault";
    case SIGUSR2: return "user defined signal 2";
    case SIGPIPE: return "broken pipe";
    case SIGALRM: return "alarm clock";
    case SIGTERM: return "terminated";
    case SIGSTKFLT: return "stack fault";
    case SIGCHLD: return "child exited";
    case SIGCONT: return "continued";
    case SIGSTOP: return "stopped (signal)";
    case SIGTSTP: return "stopped";
    case SIGTTIN: return "stopped (tty input)";
    case SIGTTOU: return "stopped (tty output)";
    case SIGURG: return "urgent I/O condition";
    case SIGXCPU: return "CPU time limit exceeded";
    case SIGXFSZ: return "file size limit exceeded";
    case SIGVTALRM: return "virtual timer expired";
    case SIGPROF: return "profiling timer expired";
    case SIGWINCH: return "window changed";
    case SIGIO: return "I/O possible";
    case SIGPWR: return "power failure";
    case SIGSYS: return "bad system call";
    default: return nullptr;
  }
}

}  // namespace

std::string ExitInfo::Describe() const {
  if (exited) return fmt::format("exit status {}", status);
  const char* name = GoSignalName(signal);
  if (name == nullptr) return fmt::format("signal: signal {}", signal);
  return fmt::format("signal: {}", name);
}

}  // namespace nimbus::sandbox
