// storage::UnpackZip on well-formed archives built from a list of entries, so
// that the fuzzer spends its time on the path, symlink, mode and limit checks
// instead of on CRCs and deflate streams (zip_fuzz covers the raw bytes). The
// archive is written by libarchive, as storage/testing/zip_builder.h writes the
// unit tests' hostile zips. Checks as zip_fuzz (zip_check.h).
//
// Input: one entry per line, "<type> <path>[ -> <target or content>]":
//   F file (0644)   X executable (0755)   S set-uid file (04777)
//   D directory     L symlink to <target>  P fifo   H hard link to <target>
// A line that is not an entry is skipped.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "storage/zip_unpacker.h"
#include "zip_check.h"

namespace {

la_ssize_t Append(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// The zip the entries describe; entries libarchive refuses to write are left out.
std::string BuildZip(std::string_view spec) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_set_format_option(a, "zip", "compression", "store");
  archive_write_open(a, &out, nullptr, &Append, nullptr);
  int entries = 0;
  while (!spec.empty() && entries < 64) {
    size_t nl = spec.find('\n');
    std::string_view line = spec.substr(0, nl);
    spec = nl == std::string_view::npos ? std::string_view() : spec.substr(nl + 1);
    if (line.size() < 3 || line[1] != ' ') continue;
    std::string_view rest = line.substr(2), path = rest, arg;
    if (size_t arrow = rest.find(" -> "); arrow != std::string_view::npos) {
      path = rest.substr(0, arrow);
      arg = rest.substr(arrow + 4);
    }
    unsigned type = AE_IFREG;
    int mode = 0644;
    switch (line[0]) {
      case 'F':
        break;
      case 'X':
        mode = 0755;
        break;
      case 'S':
        mode = 04777;
        break;
      case 'D':
        type = AE_IFDIR;
        mode = 0755;
        break;
      case 'L':
        type = AE_IFLNK;
        mode = 0777;
        break;
      case 'P':
        type = AE_IFIFO;
        break;
      case 'H':
        break;
      default:
        continue;
    }
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, std::string(path).c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, static_cast<mode_t>(mode));
    std::string content;
    if (type == AE_IFLNK) {
      archive_entry_set_symlink(e, std::string(arg).c_str());
    } else if (line[0] == 'H') {
      archive_entry_set_hardlink(e, std::string(arg).c_str());
    } else if (type == AE_IFREG) {
      content = std::string(arg);
    }
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    if (archive_write_header(a, e) == ARCHIVE_OK && !content.empty()) {
      archive_write_data(a, content.data(), content.size());
    }
    archive_entry_free(e);
    ++entries;
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string zip = BuildZip(nimbus::fuzz::AsText(data, size));
  nimbus::fuzz::UnpackAndCheck(zip, nimbus::fuzz::Scratch(), nimbus::storage::UnpackLimits{});
  // Small limits too, so that the limit paths are reached.
  nimbus::storage::UnpackLimits small;
  small.max_unzipped_bytes = 64;
  small.max_entries = 4;
  nimbus::fuzz::UnpackAndCheck(zip, nimbus::fuzz::Scratch(), small);
  return 0;
}
