#include "base/errno_status.h"

#include <fmt/format.h>

#include <cstring>

namespace nimbus {

Status ErrnoStatus(std::string_view what, int err) {
  Code code = Code::kInternal;
  switch (err) {
    case ENOSPC:
    case EDQUOT: code = Code::kResourceExhausted; break;
    case ENOENT: code = Code::kNotFound; break;
    case EACCES:
    case EPERM: code = Code::kPermissionDenied; break;
    default: break;
  }
  return Status(code, fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace nimbus
