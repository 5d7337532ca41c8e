#include "cli/zip_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "base/errno_status.h"
#include "base/unique_fd.h"

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t AppendToString(archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

Status ArchiveError(archive* a, std::string_view what) {
  const char* msg = archive_error_string(a);
  return Internal(fmt::format("zip: {}: {}", what, msg ? msg : "unknown error"));
}

// A zip writer appending to `out`: deflate, no block padding.
Result<std::unique_ptr<archive, ArchiveDeleter>> OpenZip(std::string& out) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  if (!a) return Internal("zip: archive_write_new failed");
  if (archive_write_set_format_zip(a.get()) != ARCHIVE_OK ||
      archive_write_zip_set_compression_deflate(a.get()) != ARCHIVE_OK ||
      // No block padding: the zip is exactly what libarchive emits.
      archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "configure");
  }
  if (archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "open");
  }
  return a;
}

struct Item {
  fs::path path;
  std::string name;  // relative, '/'-separated
  struct stat st;
};

}  // namespace

Result<std::string> ZipDirectory(const fs::path& dir,
                                 const std::function<void(const ZipProgress&)>& on_progress,
                                 bool content_only) {
  struct stat root;
  if (::stat(dir.c_str(), &root) != 0) return ErrnoStatus("zip: " + dir.string());
  if (!S_ISDIR(root.st_mode)) return InvalidArgument(fmt::format("zip: {}: not a directory", dir.string()));

  std::vector<Item> items;
  ZipProgress progress;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    Item item;
    item.path = it->path();
    // lexically: fs::relative() would resolve a symlink to its target's name.
    item.name = item.path.lexically_relative(dir).generic_string();
    if (::lstat(item.path.c_str(), &item.st) != 0) return ErrnoStatus("zip: lstat " + item.path.string());
    if (S_ISDIR(item.st.st_mode)) {
      item.name += '/';
    } else if (S_ISREG(item.st.st_mode)) {
      progress.total_bytes += static_cast<uint64_t>(item.st.st_size);
    } else if (!S_ISLNK(item.st.st_mode)) {
      return InvalidArgument(
          fmt::format("zip: {}: not a regular file, directory or symlink", item.path.string()));
    }
    items.push_back(std::move(item));
  }
  if (ec) return Internal(fmt::format("zip: list {}: {}", dir.string(), ec.message()));
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.name < b.name; });
  progress.total_files = items.size();

  std::string out;
  NIMBUS_ASSIGN_OR_RETURN(auto a, OpenZip(out));

  std::vector<char> buf(256 << 10);
  for (const Item& item : items) {
    std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), item.name.c_str());
    archive_entry_set_mtime(entry.get(), content_only ? kZipEpoch : item.st.st_mtim.tv_sec, 0);
    archive_entry_set_perm(entry.get(), item.st.st_mode & 07777);
    std::string target;
    if (S_ISDIR(item.st.st_mode)) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
    } else if (S_ISLNK(item.st.st_mode)) {
      std::vector<char> link(static_cast<size_t>(std::max<off_t>(item.st.st_size, 255)) + 1);
      ssize_t n = ::readlink(item.path.c_str(), link.data(), link.size());
      if (n < 0) return ErrnoStatus("zip: readlink " + item.path.string());
      target.assign(link.data(), static_cast<size_t>(n));
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), target.c_str());
    } else {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_size(entry.get(), item.st.st_size);
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      return ArchiveError(a.get(), item.name);
    }
    if (S_ISREG(item.st.st_mode)) {
      UniqueFd fd(::open(item.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return ErrnoStatus("zip: open " + item.path.string());
      int64_t remaining = item.st.st_size;
      while (remaining > 0) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          return ErrnoStatus("zip: read " + item.path.string());
        }
        if (n == 0) {
          return Internal(fmt::format("zip: {}: file shrank while zipping", item.path.string()));
        }
        size_t take = static_cast<size_t>(std::min<int64_t>(n, remaining));
        if (archive_write_data(a.get(), buf.data(), take) < 0) {
          return ArchiveError(a.get(), item.name);
        }
        remaining -= static_cast<int64_t>(take);
        progress.bytes += take;
      }
    }
    progress.files++;
    if (on_progress) on_progress(progress);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "close");
  return out;
}

Result<std::string> ZipFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  NIMBUS_ASSIGN_OR_RETURN(auto a, OpenZip(out));
  for (const auto& [name, content] : files) {
    std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_mtime(entry.get(), kZipEpoch, 0);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(content.size()));
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) return ArchiveError(a.get(), name);
    if (!content.empty() && archive_write_data(a.get(), content.data(), content.size()) < 0) {
      return ArchiveError(a.get(), name);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "close");
  return out;
}

}  // namespace nimbus::cli
