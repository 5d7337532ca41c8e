#include "storage/zip_unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/errno_status.h"
#include "base/unique_fd.h"
#include "storage/blob_store.h"

namespace nimbus::storage {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

Status NotAZip() { return InvalidArgument(std::string(kNotAZipMessage)); }
Status TooLarge() { return InvalidArgument(std::string(kUnzippedTooLargeMessage)); }
Status Unsafe(std::string_view path, std::string_view why) {
  return InvalidArgument(
      fmt::format("Could not unzip uploaded file: entry '{}' {}", path, why));
}

// Splits an entry path into components, dropping empty and "." ones. Returns
// false for absolute paths and ".." components.
bool SplitSafe(std::string_view path, std::vector<std::string>& out) {
  if (path.starts_with('/')) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp == "..") return false;
    if (!comp.empty() && comp != ".") out.emplace_back(comp);
    start = end + 1;
  }
  return true;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) s += '/';
    s += comps[i];
  }
  return s;
}

// Final permission bits: no set-id/sticky, no group/other write, o+r always, o+x
// when the owner/group/other could execute. The owner keeps read access.
mode_t FileMode(mode_t m) {
  mode_t mode = (m & 0777 & ~static_cast<mode_t>(022)) | S_IRUSR | S_IROTH;
  if (m & 0111) mode |= S_IXOTH;
  return mode;
}
constexpr mode_t kDirMode = 0755;

// Opens (creating as needed) the directory `comps[0..n)` below root_fd without
// following symlinks. Newly created directories are recorded in `dirs`.
Result<UniqueFd> OpenDirs(int root_fd, const std::vector<std::string>& comps, size_t n,
                          std::string_view entry, std::vector<std::string>& dirs) {
  UniqueFd fd(::dup(root_fd));
  if (!fd) return ErrnoStatus("unzip: dup");
  for (size_t i = 0; i < n; ++i) {
    if (::mkdirat(fd.get(), comps[i].c_str(), 0700) == 0) {
      dirs.push_back(Join(comps, i + 1));
    } else if (errno != EEXIST) {
      return ErrnoStatus(fmt::format("unzip: mkdir {}", Join(comps, i + 1)));
    }
    UniqueFd next(
        ::openat(fd.get(), comps[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return Unsafe(entry, "has a path through a symlink or a file");
      }
      return ErrnoStatus(fmt::format("unzip: open {}", Join(comps, i + 1)));
    }
    fd = std::move(next);
  }
  return fd;
}

// Follows `target` from the directory `start` (components below root) the way
// the kernel would, reading symlinks from disk, and reports whether it stays
// inside root. A dangling remainder is resolved lexically.
bool ResolvesInside(const std::filesystem::path& root, std::vector<std::string> stack,
                    std::string_view target) {
  if (target.empty() || target.starts_with('/')) return false;
  std::vector<std::string> pending;  // components still to walk, in reverse order
  auto push_target = [&pending](std::string_view t) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= t.size()) {
      size_t end = t.find('/', start);
      if (end == std::string_view::npos) end = t.size();
      std::string_view c = t.substr(start, end - start);
      if (!c.empty() && c != ".") parts.emplace_back(c);
      start = end + 1;
    }
    pending.insert(pending.end(), parts.rbegin(), parts.rend());
  };
  push_target(target);
  int hops = 0;
  while (!pending.empty()) {
    std::string comp = std::move(pending.back());
    pending.pop_back();
    if (comp == "..") {
      if (stack.empty()) return false;
      stack.pop_back();
      continue;
    }
    stack.push_back(comp);
    std::filesystem::path p = root / Join(stack, stack.size());
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
    // Linux's MAXSYMLINKS is 40; a longer chain does not resolve at all.
    if (++hops > 40) return false;
    std::error_code ec;
    std::filesystem::path next = std::filesystem::read_symlink(p, ec);
    if (ec) return false;
    std::string next_s = next.string();
    if (next_s.empty() || next_s.starts_with('/')) return false;
    stack.pop_back();
    push_target(next_s);
  }
  return true;
}

struct Extraction {
  std::vector<std::string> dirs;  // every directory created, parents first
  std::vector<std::pair<std::string, mode_t>> explicit_dirs;
  std::vector<std::vector<std::string>> symlinks;
};

Status WriteEntryData(archive* a, int fd, uint64_t& total, const UnpackLimits& limits) {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  for (;;) {
    int rc = archive_read_data_block(a, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) return Status::Ok();
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return NotAZip();
    total += size;
    if (total > limits.max_unzipped_bytes) return TooLarge();
    // Sparse blocks come with an offset; pwrite honours it.
    const char* p = static_cast<const char*>(buf);
    size_t left = size;
    off_t at = static_cast<off_t>(offset);
    while (left > 0) {
      ssize_t n = ::pwrite(fd, p, left, at);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("unzip: write");
      }
      p += n;
      at += n;
      left -= static_cast<size_t>(n);
    }
  }
}

Status Extract(std::string_view zip, int root_fd, const std::filesystem::path& root,
               const UnpackLimits& limits, UnpackStats& stats) {
  ArchivePtr a(archive_read_new());
  if (!a) return Internal("unzip: archive_read_new failed");
  archive_read_support_format_zip(a.get());
  if (zip.empty() ||
      archive_read_open_memory(a.get(), zip.data(), zip.size()) != ARCHIVE_OK) {
    return NotAZip();
  }
  Extraction ex;
  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return NotAZip();
    if (++stats.entries > limits.max_entries) {
      return InvalidArgument(fmt::format(
          "Could not unzip uploaded file: more than {} entries", limits.max_entries));
    }
    const char* raw_path = archive_entry_pathname(entry);
    if (raw_path == nullptr) return NotAZip();
    std::string_view path(raw_path);
    std::vector<std::string> comps;
    if (!SplitSafe(path, comps)) return Unsafe(path, "escapes the package directory");
    if (archive_entry_hardlink(entry) != nullptr) return Unsafe(path, "is a hard link");
    mode_t type = archive_entry_filetype(entry);
    mode_t perm = archive_entry_perm(entry);
    if (comps.empty()) {
      if (type == AE_IFDIR) continue;  // "./"
      return Unsafe(path, "has no name");
    }
    if (type == AE_IFDIR) {
      NIMBUS_ASSIGN_OR_RETURN(UniqueFd dir,
                              OpenDirs(root_fd, comps, comps.size(), path, ex.dirs));
      ex.explicit_dirs.emplace_back(Join(comps, comps.size()), perm);
      continue;
    }
    NIMBUS_ASSIGN_OR_RETURN(UniqueFd parent,
                            OpenDirs(root_fd, comps, comps.size() - 1, path, ex.dirs));
    const std::string& name = comps.back();
    // A later entry with the same name replaces the earlier file, as unzip does.
    if (::unlinkat(parent.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      if (errno == EISDIR) return Unsafe(path, "replaces a directory");
      return ErrnoStatus(fmt::format("unzip: unlink {}", path));
    }
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      std::string_view t = target != nullptr ? target : "";
      stats.unzipped_bytes += t.size();
      if (stats.unzipped_bytes > limits.max_unzipped_bytes) return TooLarge();
      std::vector<std::string> parent_comps(comps.begin(), comps.end() - 1);
      if (!ResolvesInside(root, parent_comps, t)) {
        return Unsafe(path, "is a symlink that points outside the package");
      }
      if (::symlinkat(std::string(t).c_str(), parent.get(), name.c_str()) != 0) {
        return ErrnoStatus(fmt::format("unzip: symlink {}", path));
      }
      ex.symlinks.push_back(std::move(comps));
      continue;
    }
    if (type != AE_IFREG) return Unsafe(path, "is not a file, directory or symlink");
    UniqueFd out(::openat(parent.get(), name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return ErrnoStatus(fmt::format("unzip: create {}", path));
    NIMBUS_RETURN_IF_ERROR(WriteEntryData(a.get(), out.get(), stats.unzipped_bytes, limits));
    if (::fchmod(out.get(), FileMode(perm)) != 0) {
      return ErrnoStatus(fmt::format("unzip: chmod {}", path));
    }
  }
  // Symlinks are checked again now that the whole tree exists: a link that was
  // harmless when written may resolve through a later one to outside.
  for (const auto& comps : ex.symlinks) {
    std::filesystem::path p = root / Join(comps, comps.size());
    std::error_code ec;
    std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    // A later file of the same name replaced the link (and was checked itself).
    if (ec == std::errc::invalid_argument) continue;
    if (ec) return Internal(fmt::format("unzip: readlink {}: {}", p.string(), ec.message()));
    std::vector<std::string> parent_comps(comps.begin(), comps.end() - 1);
    if (!ResolvesInside(root, parent_comps, target.string())) {
      return Unsafe(Join(comps, comps.size()), "is a symlink that points outside the package");
    }
  }
  // Directories get their final modes last: they had to stay writable meanwhile.
  for (const std::string& d : ex.dirs) {
    if (::fchmodat(root_fd, d.c_str(), kDirMode, 0) != 0) {
      return ErrnoStatus(fmt::format("unzip: chmod {}", d));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<UnpackStats> UnpackZip(std::string_view zip, const std::filesystem::path& dest,
                              const UnpackLimits& limits) {
  std::filesystem::path parent = dest.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return Internal(fmt::format("unzip: create {}: {}", parent.string(), ec.message()));
  std::filesystem::path tmp = parent / (".tmp-" + RandomHex32());
  if (::mkdir(tmp.c_str(), 0700) != 0) return ErrnoStatus(fmt::format("unzip: mkdir {}", tmp.string()));
  auto cleanup = [&tmp] {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
  };
  UniqueFd root_fd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) {
    Status s = ErrnoStatus(fmt::format("unzip: open {}", tmp.string()));
    cleanup();
    return s;
  }
  UnpackStats stats;
  Status s = Extract(zip, root_fd.get(), tmp, limits, stats);
  if (s.ok() && ::fchmod(root_fd.get(), kDirMode) != 0) s = ErrnoStatus("unzip: chmod root");
  // Every file must be on disk before the rename publishes the tree: one syncfs
  // instead of an fsync per file.
  if (s.ok() && ::syncfs(root_fd.get()) != 0) s = ErrnoStatus("unzip: syncfs");
  root_fd.Reset();
  if (!s.ok()) {
    cleanup();
    return s;
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    cleanup();
    // Someone else published the same package first; theirs is as good.
    if ((err == ENOTEMPTY || err == EEXIST) && std::filesystem::is_directory(dest, ec)) {
      return stats;
    }
    return ErrnoStatus(fmt::format("unzip: rename to {}", dest.string()), err);
  }
  NIMBUS_RETURN_IF_ERROR(FsyncDir(parent));
  return stats;
}

}  // namespace nimbus::storage
