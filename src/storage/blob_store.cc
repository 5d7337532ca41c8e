#include "storage/blob_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "base/encoding.h"
#include "base/errno_status.h"
#include "base/unique_fd.h"

namespace nimbus::storage {

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status FsyncDir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(fmt::format("open {}", dir.string()));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(fmt::format("fsync {}", dir.string()));
  return Status::Ok();
}

namespace {

Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(fmt::format("write {}", path.string()));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const std::filesystem::path& root) {
  std::filesystem::path dir = root / "sha256";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal(fmt::format("blobs: create {}: {}", dir.string(), ec.message()));
  // Temporary files are named ".tmp-*"; any left over belong to a crashed Put.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(".tmp-")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return std::unique_ptr<BlobStore>(new BlobStore(dir));
}

std::filesystem::path BlobStore::PathOf(std::string_view hex) const {
  return dir_ / std::string(hex);
}

bool BlobStore::Contains(std::string_view hex) const {
  if (!IsSha256Hex(hex)) return false;
  struct stat st;
  return ::stat(PathOf(hex).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> BlobStore::Put(std::string_view data) const {
  std::string hex = HexEncode(Sha256(data));
  if (Contains(hex)) return hex;
  std::filesystem::path tmp = dir_ / (".tmp-" + RandomHex32());
  std::filesystem::path final_path = PathOf(hex);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus(fmt::format("blobs: create {}", tmp.string()));
  Status s = WriteAll(fd.get(), data, tmp);
  // The data must be on disk before the rename makes it visible under its name.
  if (s.ok() && ::fsync(fd.get()) != 0) s = ErrnoStatus(fmt::format("fsync {}", tmp.string()));
  fd.Reset();
  if (s.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    s = ErrnoStatus(fmt::format("rename {}", tmp.string()));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s.WithContext("blobs: put");
  }
  // The rename is durable only once the directory is.
  NIMBUS_RETURN_IF_ERROR(FsyncDir(dir_).WithContext("blobs: put"));
  return hex;
}

Result<std::vector<std::string>> BlobStore::List() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsSha256Hex(name)) out.push_back(std::move(name));
  }
  if (ec) return Internal(fmt::format("blobs: list {}: {}", dir_.string(), ec.message()));
  return out;
}

Status BlobStore::Remove(std::string_view hex) const {
  if (!IsSha256Hex(hex)) return InvalidArgument(fmt::format("blobs: bad blob name {}", hex));
  std::filesystem::path path = PathOf(hex);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(fmt::format("blobs: remove {}", path.string()));
  }
  return Status::Ok();
}

Result<std::string> BlobStore::Get(std::string_view hex) const {
  if (!IsSha256Hex(hex)) return InvalidArgument(fmt::format("blobs: bad blob name {}", hex));
  std::filesystem::path path = PathOf(hex);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(fmt::format("blobs: open {}", path.string()));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(fmt::format("blobs: stat {}", path.string()));
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + off, out.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(fmt::format("blobs: read {}", path.string()));
    }
    if (n == 0) break;
    off += static_cast<size_t>(n);
  }
  out.resize(off);
  return out;
}

}  // namespace nimbus::storage
