// ZipBuilder: builds zip archives in memory with libarchive, including entries a
// normal zip tool would refuse to make (".." paths, absolute paths, symlinks to
// anywhere). Test-only; link PkgConfig::LIBARCHIVE.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"

namespace nimbus::storage::testing {

class ZipBuilder {
 public:
  ZipBuilder& File(std::string_view path, std::string_view content, int mode = 0644) {
    return Add(path, AE_IFREG, mode, content, "");
  }
  ZipBuilder& Dir(std::string_view path, int mode = 0755) {
    return Add(path, AE_IFDIR, mode, "", "");
  }
  ZipBuilder& Symlink(std::string_view path, std::string_view target) {
    return Add(path, AE_IFLNK, 0777, "", target);
  }
  // A file of `size` zero bytes, streamed so the test never holds it in memory.
  ZipBuilder& ZeroFile(std::string_view path, size_t size) {
    Add(path, AE_IFREG, 0644, "", "");
    entries_.back().zero_size = size;
    return *this;
  }
  // Uncompressed ("stored") entries make size tests fast to build.
  ZipBuilder& Stored() {
    stored_ = true;
    return *this;
  }

  std::string Build() {
    archive* a = archive_write_new();
    archive_write_set_format_zip(a);
    if (stored_) archive_write_set_format_option(a, "zip", "compression", "store");
    std::string out;
    archive_write_open(a, &out, nullptr, &ZipBuilder::Write, nullptr);
    for (const Entry& e : entries_) {
      archive_entry* entry = archive_entry_new();
      archive_entry_set_pathname(entry, e.path.c_str());
      archive_entry_set_filetype(entry, e.type);
      archive_entry_set_perm(entry, e.mode);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.target.c_str());
      archive_entry_set_size(entry,
                             static_cast<la_int64_t>(e.content.size() + e.zero_size));
      NIMBUS_CHECK(archive_write_header(a, entry) == ARCHIVE_OK) << archive_error_string(a);
      if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
      std::string zeros(1 << 20, '\0');
      for (size_t left = e.zero_size; left > 0;) {
        size_t n = left < zeros.size() ? left : zeros.size();
        archive_write_data(a, zeros.data(), n);
        left -= n;
      }
      archive_entry_free(entry);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
  }

 private:
  struct Entry {
    std::string path;
    unsigned type;
    int mode;
    std::string content;
    std::string target;
    size_t zero_size = 0;
  };
  ZipBuilder& Add(std::string_view path, unsigned type, int mode, std::string_view content,
                  std::string_view target) {
    entries_.push_back(Entry{std::string(path), type, mode, std::string(content),
                             std::string(target)});
    return *this;
  }
  static la_ssize_t Write(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  std::vector<Entry> entries_;
  bool stored_ = false;
};

}  // namespace nimbus::storage::testing
