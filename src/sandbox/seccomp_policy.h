// The seccomp filter every runtime process runs under. Private to sandbox/.
//
// Policy: allow by default; deny with EPERM the syscalls that administer the
// host or escape the sandbox (mounts, namespaces, modules, kexec, keyrings, bpf,
// ptrace and cross-process memory access, clock setting, swap, reboot, device
// nodes, personality changes); clone3 answers ENOSYS so libc falls back to
// clone, whose flags the filter can inspect. A syscall from another ABI (i386,
// x32) kills the process: the filter only understands x86_64 numbers.
//
// Built with libseccomp in the daemon (once per factory) and exported as raw
// BPF, because the sandbox child may not call into libseccomp after clone().
#pragma once

#include <linux/filter.h>

#include <vector>

#include "base/status.h"

namespace nimbus::sandbox {

// The BPF program for seccomp(SECCOMP_SET_MODE_FILTER). Thread-safe.
Result<std::vector<sock_filter>> BuildSeccompProgram();

}  // namespace nimbus::sandbox
