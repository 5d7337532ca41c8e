// BlobStore: content-addressed files (code packages) under <root>/sha256/<hex>.
// A blob is written to a temporary file in the same directory, fsync'd, renamed
// into place and the directory fsync'd, so after Put() returns the blob survives
// a crash and a reader never sees a partial file. Identical content is stored
// once. Remove() deletes one (control/'s code collection decides which).
//
// Concurrency: thread-safe (it keeps no state; concurrent Puts of the same
// content both succeed and leave one file). Removing a blob while another
// thread Puts the same content is the caller's race to prevent.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nimbus::storage {

class BlobStore {
 public:
  // Creates <root>/sha256 if needed and removes temporary files left by a crash.
  static Result<std::unique_ptr<BlobStore>> Open(const std::filesystem::path& root);

  // Stores `data`; returns the lowercase hex SHA-256 that names it. If a blob with
  // that digest exists it is kept and nothing is written.
  Result<std::string> Put(std::string_view data) const;
  // The blob's bytes; kNotFound if absent, kInvalidArgument for a malformed name.
  Result<std::string> Get(std::string_view hex) const;
  bool Contains(std::string_view hex) const;
  // The hex names of every stored blob, in no particular order (temporary files
  // excluded). Blocking.
  Result<std::vector<std::string>> List() const;
  // Deletes the blob; removing an absent one is OK. kInvalidArgument for a
  // malformed name. Not fsync'd: after a crash the blob may be back, which only
  // delays its removal. Blocking.
  Status Remove(std::string_view hex) const;
  // Where the blob lives (whether or not it exists). REQUIRES: IsSha256Hex(hex).
  std::filesystem::path PathOf(std::string_view hex) const;

 private:
  explicit BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;  // <root>/sha256
};

// True for exactly 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);

// fsyncs the directory at `dir` (making a rename or create in it durable).
Status FsyncDir(const std::filesystem::path& dir);

}  // namespace nimbus::storage
