// The containment checks the two zip targets make after storage::UnpackZip:
// the tree is built inside a "jail" directory nested a few levels below the
// run's scratch directory, so that a path escaping the destination lands
// somewhere these checks look.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "base/status.h"
#include "fuzz_input.h"
#include "storage/zip_unpacker.h"

namespace nimbus::fuzz {

namespace fs = std::filesystem;

// True when `p` (absolute, normalized) is `root` or below it.
inline bool IsWithin(const fs::path& p, const fs::path& root) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// Every entry of the unpacked tree `dest` is a directory (0755), a regular file
// (one link, no set-id/sticky bit, no group/other write, other-readable) or a
// symlink whose target, resolved through the tree as the kernel would, stays in
// `dest`.
inline void CheckTree(const fs::path& dest) {
  std::error_code ec;
  const fs::path root = fs::canonical(dest, ec);
  NIMBUS_FUZZ_CHECK(!ec, "the destination exists after a successful unpack");
  for (auto it = fs::recursive_directory_iterator(dest, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    NIMBUS_FUZZ_CHECK(::lstat(it->path().c_str(), &st) == 0, "lstat of an unpacked entry");
    if (S_ISDIR(st.st_mode)) {
      NIMBUS_FUZZ_CHECK((st.st_mode & 07777) == 0755, "directories are 0755");
    } else if (S_ISREG(st.st_mode)) {
      NIMBUS_FUZZ_CHECK(st.st_nlink == 1, "no hard links");
      NIMBUS_FUZZ_CHECK((st.st_mode & 07000) == 0, "no set-id or sticky bits");
      NIMBUS_FUZZ_CHECK((st.st_mode & 022) == 0, "no group/other write");
      NIMBUS_FUZZ_CHECK((st.st_mode & S_IROTH) != 0, "files are other-readable");
    } else if (S_ISLNK(st.st_mode)) {
      fs::path target = fs::read_symlink(it->path(), ec);
      NIMBUS_FUZZ_CHECK(!ec, "readlink of an unpacked symlink");
      NIMBUS_FUZZ_CHECK(!target.is_absolute(), "no symlink to an absolute path");
      // weakly_canonical follows every symlink that exists and resolves the
      // dangling rest lexically.
      fs::path resolved = fs::weakly_canonical(it->path().parent_path() / target, ec);
      if (ec) continue;  // ELOOP and the like: the link resolves to nothing at all
      NIMBUS_FUZZ_CHECK(IsWithin(resolved, root), "every symlink resolves inside the package");
    } else {
      NIMBUS_FUZZ_CHECK(false, "only directories, files and symlinks are unpacked");
    }
  }
  NIMBUS_FUZZ_CHECK(!ec, "walking the unpacked tree");
}

// Unpacks `zip` into a fresh directory and checks containment; removes
// everything it made. `scratch` is the target's own scratch directory.
inline void UnpackAndCheck(std::string_view zip, const fs::path& scratch,
                           const storage::UnpackLimits& limits) {
  std::error_code ec;
  const fs::path jail = scratch / "run" / "a" / "b" / "c" / "jail";
  fs::create_directories(jail, ec);
  NIMBUS_FUZZ_CHECK(!ec, "creating the jail");
  const fs::path dest = jail / "dest";
  auto unpacked = storage::UnpackZip(zip, dest, limits);
  if (unpacked.has_value()) {
    NIMBUS_FUZZ_CHECK(unpacked->entries <= limits.max_entries, "entry limit");
    NIMBUS_FUZZ_CHECK(unpacked->unzipped_bytes <= limits.max_unzipped_bytes, "size limit");
    CheckTree(dest);
  } else {
    // Hostile input is refused as invalid, never answered with a platform error.
    NIMBUS_FUZZ_CHECK(unpacked.error().code() == Code::kInvalidArgument,
                      unpacked.error().ToString().c_str());
    NIMBUS_FUZZ_CHECK(!fs::exists(fs::symlink_status(dest, ec)),
                      "a refused package leaves no destination");
  }
  // Nothing but `dest` was created anywhere below the scratch directory.
  for (auto it = fs::recursive_directory_iterator(scratch, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (IsWithin(p, dest)) {
      it.disable_recursion_pending();
      continue;
    }
    NIMBUS_FUZZ_CHECK(IsWithin(jail, p),
                      std::string("created outside the destination: " + p.string()).c_str());
  }
  NIMBUS_FUZZ_CHECK(!ec, "walking the scratch directory");
  // Unpacked directories are 0755 and owned by us: remove_all manages them.
  fs::remove_all(scratch / "run", ec);
  NIMBUS_FUZZ_CHECK(!ec, "cleaning up");
}

// The target's scratch directory, made once per process under $TMPDIR (fuzz/run.sh
// points that at /dev/shm: UnpackZip calls syncfs, which is free on tmpfs).
inline const fs::path& Scratch() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "nimbus-zip-fuzz-XXXXXX").string();
    NIMBUS_FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    // Removed when the process exits normally; a crash leaves it for inspection.
    static const std::string path = tmpl;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(path, ec);
    });
    return fs::path(tmpl);
  }();
  return dir;
}

}  // namespace nimbus::fuzz
