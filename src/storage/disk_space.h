// DiskSpace: keeps a reserve of free space in the data directory's filesystem
// for the writes that free space. SQLite (WAL) appends to its log even to
// delete, so on a disk filled to the last block a DeleteObject, DeleteItem or
// DeleteMessage would fail and nothing could be freed through the APIs. Every
// write that adds data (object bodies and parts, messages, items, code, async
// events) asks CheckRoomFor() first and is refused cleanly while fewer than
// `reserve` bytes would remain; deletes, reads and bookkeeping do not ask.
//
// Thread-safe (stateless apart from its options).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "base/status.h"

namespace nimbus::storage {

class DiskSpace {
 public:
  // 64 MiB: several WAL checkpoints' worth of deletes, and the metadata writes
  // that accompany them.
  static constexpr uint64_t kDefaultReserve = 64ull << 20;

  explicit DiskSpace(std::filesystem::path dir, uint64_t reserve = kDefaultReserve)
      : dir_(std::move(dir)), reserve_(reserve) {}

  // OK when `bytes` more can be written with the reserve left. Otherwise
  // kUnavailable (detail "InsufficientStorage"): "No space left on device: the
  // data directory has 12.0 MiB free and keeps 64.0 MiB free for deletes; delete
  // objects, items, messages or functions to make room". If the filesystem
  // cannot be asked (statvfs fails), the write is let through: it fails by
  // itself if the disk is full.
  Status CheckRoomFor(uint64_t bytes) const;

  // Free bytes for an unprivileged writer (statvfs f_bavail), or nullopt.
  std::optional<uint64_t> Free() const;

  uint64_t reserve() const { return reserve_; }

 private:
  std::filesystem::path dir_;
  uint64_t reserve_;
};

}  // namespace nimbus::storage
