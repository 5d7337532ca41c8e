// Wraps errno-returning syscalls into Status once, so no caller tests -1 by hand.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nimbus {

// Status for a failed syscall: "<what>: <strerror(err)>". ENOSPC/EDQUOT map to
// kResourceExhausted, ENOENT to kNotFound, EACCES/EPERM to kPermissionDenied,
// everything else to kInternal.
Status ErrnoStatus(std::string_view what, int err = errno);

}  // namespace nimbus
