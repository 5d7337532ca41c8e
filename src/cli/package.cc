#include "cli/package.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "cli/zip_builder.h"

namespace nimbus::cli {

namespace fs = std::filesystem;

Result<std::string> LoadPackage(const std::string& path, std::string_view label, Progress& progress,
                                uint64_t progress_threshold, bool content_only) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return ZipDirectory(
        path,
        [&](const ZipProgress& p) {
          if (p.total_bytes >= progress_threshold) {
            progress.Show(fmt::format("zipping {}: {}/{} files, {} of {}", label, p.files,
                                      p.total_files, Mb(p.bytes), Mb(p.total_bytes)));
          }
        },
        content_only);
  }
  if (fs::is_regular_file(path, ec) && fs::path(path).extension() == ".zip") {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream data;
    data << in.rdbuf();
    if (!in.good() && !in.eof()) return InvalidArgument(fmt::format("cannot read {}", path));
    return data.str();
  }
  return InvalidArgument(fmt::format("{}: not a directory or a .zip file", path));
}

std::string CodeSha256(std::string_view zip) { return Base64Encode(Sha256(zip)); }

}  // namespace nimbus::cli
