// Deployment packages read from the local filesystem for `nimbus deploy`: a
// directory zipped in memory (ZipDirectory: modes and symlinks kept), or a .zip
// file taken as it is. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "cli/progress.h"

namespace nimbus::cli {

// The zip of `path` (a directory or a .zip file). While zipping a directory whose
// files hold at least `progress_threshold` bytes, `progress` shows
// "zipping <label>: <files>/<total> files, <MB> of <MB>". `content_only`: see
// ZipDirectory. Errors: kInvalidArgument for a path that is neither, errors of
// ZipDirectory and of reading the file.
Result<std::string> LoadPackage(const std::string& path, std::string_view label, Progress& progress,
                                uint64_t progress_threshold, bool content_only = false);

// Lambda's CodeSha256 of a package: base64 of the SHA-256 of the zip's bytes.
std::string CodeSha256(std::string_view zip);

}  // namespace nimbus::cli
