// Builds a function's deployment package: a zip of a directory, in memory, as
// `nimbus deploy DIR` uploads it. Preserves permission bits (so `bootstrap` stays
// executable) and stores symlinks as symlinks (as `zip -y` does), which is how
// Lambda packages carry shared-library links. Pure function of the directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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
// With `content_only`, every entry gets the mtime kZipEpoch instead of its
// file's, so the zip depends only on names, modes and contents (and touching a
// file does not make `nimbus deploy` of a template upload it again).
Result<std::string> ZipDirectory(const std::filesystem::path& dir,
                                 const std::function<void(const ZipProgress&)>& on_progress = {},
                                 bool content_only = false);

// 1980-01-01T00:00:00Z, the earliest time a zip entry's DOS timestamp holds.
inline constexpr int64_t kZipEpoch = 315532800;

// A zip of regular files given as (name, content), in the order given, each with
// mode 0644 and the mtime kZipEpoch, so the same files always give the same
// bytes (inline code in a SAM template). Errors: kInternal from libarchive.
Result<std::string> ZipFiles(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace nimbus::cli
