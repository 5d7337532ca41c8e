#include "storage/disk_space.h"

#include <sys/statvfs.h>

#include <fmt/format.h>

namespace nimbus::storage {

std::optional<uint64_t> DiskSpace::Free() const {
  struct statvfs s {};
  if (::statvfs(dir_.c_str(), &s) != 0) return std::nullopt;
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

Status DiskSpace::CheckRoomFor(uint64_t bytes) const {
  const std::optional<uint64_t> free = Free();
  if (!free.has_value() || *free >= reserve_ + bytes) return Status::Ok();
  constexpr double kMiB = 1 << 20;
  return Status(Code::kUnavailable,
                fmt::format("No space left on device: the data directory has {:.1f} MiB free and keeps {:.1f} "
                            "MiB free for deletes; delete objects, items, messages or functions to make room",
                            static_cast<double>(*free) / kMiB, static_cast<double>(reserve_) / kMiB))
      .WithDetail("InsufficientStorage");
}

}  // namespace nimbus::storage
