#include "sandbox/zygote_protocol.h"

#include <cstring>

#include <fmt/format.h>

namespace nimbus::sandbox {
namespace {

void AppendRaw(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}

void AppendString(std::string& out, const char* s, size_t len) {
  uint32_t n = s == nullptr ? kNullString : static_cast<uint32_t>(len);
  AppendRaw(out, &n, sizeof n);
  if (s == nullptr) return;
  out.append(s, len);
  out.push_back('\0');
}

void AppendString(std::string& out, const char* s) {
  AppendString(out, s, s == nullptr ? 0 : std::strlen(s));
}

}  // namespace

Result<std::string> EncodeZygoteRequest(const InitPlan& plan, uint32_t flags) {
  if (plan.mount_count > kMaxZygoteMounts || plan.seccomp.len > kMaxZygoteSeccompLen) {
    return Internal(fmt::format("zygote request: {} mounts, {} seccomp instructions: too many",
                                plan.mount_count, plan.seccomp.len));
  }
  ZygoteRequestHeader h = {};
  h.magic = kZygoteRequestMagic;
  h.version = kZygoteRequestVersion;
  h.uid = plan.uid;
  h.gid = plan.gid;
  h.last_cap = plan.last_cap;
  h.mount_count = static_cast<uint32_t>(plan.mount_count);
  h.max_open_files = plan.max_open_files;
  h.seccomp_len = plan.seccomp.len;
  h.flags = flags;
  h.api_port = plan.api_port;
  std::string out;
  AppendRaw(out, &h, sizeof h);
  for (size_t i = 0; i < plan.mount_count; ++i) {
    const MountOp& op = plan.mounts[i];
    if (op.kind == MountOp::Kind::kMoveMount) {
      return Internal(fmt::format("zygote request: cannot pass the detached mount for {}", op.target));
    }
    ZygoteMountRecord r = {};
    r.kind = static_cast<uint8_t>(op.kind);
    r.mode = op.mode;
    r.flags = op.flags;
    AppendRaw(out, &r, sizeof r);
  }
  for (size_t i = 0; i < plan.mount_count; ++i) {
    const MountOp& op = plan.mounts[i];
    AppendString(out, op.source);
    AppendString(out, op.target);
    AppendString(out, op.fstype);
    // A file's contents have an explicit length; other data is a C string.
    if (op.kind == MountOp::Kind::kFile) {
      AppendString(out, op.data == nullptr ? "" : op.data, op.data_len);
    } else {
      AppendString(out, op.data);
    }
  }
  AppendString(out, plan.hostname, plan.hostname_len);
  AppendString(out, plan.cwd);
  AppendRaw(out, plan.seccomp.filter, sizeof(sock_filter) * plan.seccomp.len);
  return out;
}

}  // namespace nimbus::sandbox
