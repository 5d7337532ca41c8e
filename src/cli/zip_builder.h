// Builds a function's deployment package: a zip of a directory, in memory, as
// `nimbus deploy DIR` uploads it. Preserves permission bits (so `bootstrap` stays
// executable) and stores symlinks as symlinks (as `zip -y` does), which is how
// Lambda packages carry shared-library links. Pure function of the directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "base/status.h"

namespace nimbus::cli {

struct ZipProgress {
  uint64_t files = 0;        // entries written so far
  uint64_t total_files = 0;  // entries to write
  uint64_t bytes = 0;        // file content bytes read so far
  uint64_t total_bytes = 0;  // file content bytes to read
};

// Zips the tree under `dir` (entries named relative to it, sorted, directories
// with a trailing '/'). Symlinks are stored, not followed; other special files
// (sockets, FIFOs, devices) are an error. `on_progress` (optional) is called
// after each entry. Errors: kNotFound/kInvalidArgument for a bad `dir`,
// kInternal from libarchive, errno statuses from reading files.
Result<std::string> ZipDirectory(const std::filesystem::path& dir,
                                 const std::function<void(const ZipProgress&)>& on_progress = {});

}  // namespace nimbus::cli
