// The request a LinuxSandboxFactory sends a zygote (ADR 0008) to have it fork a
// new sandbox: the InitPlan of the sandbox's init, flattened, plus five
// descriptors in a fixed order. Private to sandbox/: encoded by linux_sandbox.cc,
// decoded by the zygote's child (zygote_lib.cc) right after its fork.
//
// Layout (native byte order: both ends run on one host): a ZygoteRequestHeader,
// `mount_count` ZygoteMountRecords, then strings (each a uint32 length, or
// kNullString, followed by that many bytes and a NUL): per mount op its source,
// target, fstype and data, then the hostname and the cwd; last, seccomp_len
// sock_filter instructions.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "sandbox/sandbox_init.h"

namespace nimbus::sandbox {

// The descriptors that come with a request (SCM_RIGHTS), in this order; they
// become the plan's sync_fd, control_fd, output_fd, specialize_fd and ready_fd.
inline constexpr int kZygoteRequestFds = 5;

inline constexpr uint32_t kZygoteRequestMagic = 0x4e5a5947;  // "NZYG"
inline constexpr uint32_t kZygoteRequestVersion = 2;
inline constexpr uint32_t kNullString = 0xffffffff;
// Bounds the decoder enforces (a request is a few kB).
inline constexpr uint32_t kMaxZygoteMounts = 32;
inline constexpr uint32_t kMaxZygoteSeccompLen = 4096;

struct ZygoteRequestHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t uid;
  uint32_t gid;
  int32_t last_cap;
  uint32_t mount_count;
  uint64_t max_open_files;
  uint32_t seccomp_len;
  uint32_t flags;  // ZygoteRequestFlags
  uint32_t api_port;  // InitPlan::api_port
  uint32_t reserved;
};

enum ZygoteRequestFlags : uint32_t {
  // The runtime makes every private writable page its own (MADV_POPULATE_WRITE)
  // before it runs on: for a cell that waits, so that the cold start that takes
  // it does not pay the copy-on-write faults (~500 of them, ~3 ms, for Python).
  kZygotePrefault = 1,
};

struct ZygoteMountRecord {
  uint8_t kind;  // MountOp::Kind; kMoveMount is not allowed (no descriptors)
  uint8_t reserved[3];
  uint32_t mode;
  uint64_t flags;
};

// Flattens `plan` (its mounts, identity, limits, hostname, cwd and seccomp
// filter; not its descriptors, argv or envp). Fails on a kMoveMount step.
Result<std::string> EncodeZygoteRequest(const InitPlan& plan, uint32_t flags);

// The decoded plan: an InitPlan whose pointers refer into `data` (which must
// outlive it) and into this object. Not copyable: the plan points into it.
struct DecodedZygoteRequest {
  InitPlan plan = {};
  uint32_t flags = 0;  // ZygoteRequestFlags
  MountOp mounts[kMaxZygoteMounts] = {};
  sock_filter seccomp[kMaxZygoteSeccompLen] = {};

  DecodedZygoteRequest() = default;
  DecodedZygoteRequest(const DecodedZygoteRequest&) = delete;
  DecodedZygoteRequest& operator=(const DecodedZygoteRequest&) = delete;
};

// Decodes a request and its kZygoteRequestFds descriptors into `out`. Returns
// nullptr on success, else what is wrong with the request. No allocation.
const char* DecodeZygoteRequest(const char* data, size_t len, const int* fds, int nfds,
                                DecodedZygoteRequest& out);

}  // namespace nimbus::sandbox
