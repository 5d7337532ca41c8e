// Unpacks a function's deployment package (a zip archive) into a directory the
// sandbox can read. Used by control/ once per distinct package.
//
// Safety: the archive is hostile input. Entries whose path is absolute or has a
// ".." component, symlinks that resolve (lexically or through other symlinks)
// outside the tree or to an absolute path, hard links, device/fifo entries, and
// paths that pass through a symlink are rejected; nothing is ever written outside
// the destination. The size limit counts the bytes actually decompressed, never
// the sizes the headers declare.
//
// Modes: Unix mode bits and symlinks come from the zip external attributes.
// Set-id and sticky bits and group/other write bits are dropped; every file gains
// o+r (and o+x when any x bit is set) and every directory 0755, because the
// sandbox reads the tree as another uid.
//
// Thread-safe (no shared state). Blocking: call it on a BlockingPool thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "base/status.h"

namespace nimbus::storage {

// AWS's messages (InvalidParameterValueException) for the two ways a package
// can be refused.
inline constexpr std::string_view kNotAZipMessage =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";
inline constexpr std::string_view kUnzippedTooLargeMessage =
    "Unzipped size must be smaller than 262144000 bytes";

struct UnpackLimits {
  // Lambda's CodeSizeUnzipped quota: 250 MiB = 262144000 bytes, counting file
  // contents and symlink targets.
  uint64_t max_unzipped_bytes = 262144000;
  // Entries (files, directories, symlinks). Bounds the inode and metadata work a
  // package of empty entries can cause; well above any real function.
  uint64_t max_entries = 100000;
};

struct UnpackStats {
  uint64_t unzipped_bytes = 0;
  uint64_t entries = 0;
};

// Unpacks `zip` into `dest`. The tree is built in a temporary sibling directory,
// synced to disk and renamed to `dest`, so `dest` either does not exist or is
// complete. If `dest` already exists when the rename happens (another thread
// unpacked the same package), the existing tree is kept and OK is returned.
// Errors: kInvalidArgument with kNotAZipMessage (not a zip, corrupt or encrypted
// data), kUnzippedTooLargeMessage, or a message naming the unsafe entry; host
// failures (ENOSPC, ...) as the errno Status.
Result<UnpackStats> UnpackZip(std::string_view zip, const std::filesystem::path& dest,
                              const UnpackLimits& limits = {});

}  // namespace nimbus::storage
