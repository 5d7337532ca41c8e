#include "cli/zip_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

struct ReadEntry {
  mode_t mode = 0;
  std::string symlink;
  std::string content;
};

// Reads a zip back with libarchive: name → entry.
std::map<std::string, ReadEntry> ReadZip(const std::string& zip) {
  std::map<std::string, ReadEntry> out;
  archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  EXPECT_EQ(archive_read_open_memory(a, zip.data(), zip.size()), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    ReadEntry r;
    r.mode = archive_entry_mode(e);
    if (const char* link = archive_entry_symlink(e)) r.symlink = link;
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) r.content.append(buf, static_cast<size_t>(n));
    out[archive_entry_pathname(e)] = r;
  }
  archive_read_free(a);
  return out;
}

class ZipDirectoryTest : public ::testing::Test {
 protected:
  ZipDirectoryTest() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "zip_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~ZipDirectoryTest() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& content, mode_t mode) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel, std::ios::binary) << content;
    ASSERT_EQ(::chmod((dir_ / rel).c_str(), mode), 0);
  }
  fs::path dir_;
};

TEST_F(ZipDirectoryTest, PreservesModesContentsAndSymlinks) {
  Write("bootstrap", "#!/bin/sh\necho hi\n", 0755);
  Write("lib/data.txt", std::string(100000, 'x'), 0640);
  fs::create_symlink("libfoo.so.1", dir_ / "lib" / "libfoo.so");
  fs::create_symlink("../bootstrap", dir_ / "lib" / "up");
  std::vector<ZipProgress> progress;
  auto zip = ZipDirectory(dir_, [&](const ZipProgress& p) { progress.push_back(p); });
  ASSERT_TRUE(zip.has_value()) << zip.status().ToString();
  auto entries = ReadZip(*zip);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries["bootstrap"].mode, S_IFREG | 0755);
  EXPECT_EQ(entries["bootstrap"].content, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(entries["lib/data.txt"].mode, S_IFREG | 0640);
  EXPECT_EQ(entries["lib/data.txt"].content, std::string(100000, 'x'));
  EXPECT_TRUE(S_ISDIR(entries["lib/"].mode));
  EXPECT_TRUE(S_ISLNK(entries["lib/libfoo.so"].mode));
  EXPECT_EQ(entries["lib/libfoo.so"].symlink, "libfoo.so.1");
  EXPECT_EQ(entries["lib/up"].symlink, "../bootstrap");
  ASSERT_EQ(progress.size(), 5u);
  EXPECT_EQ(progress.back().files, 5u);
  EXPECT_EQ(progress.back().bytes, progress.back().total_bytes);
  EXPECT_EQ(progress.back().total_bytes, 100000u + 18u);
}

TEST_F(ZipDirectoryTest, ProducesTheSameBytesForTheSameTree) {
  Write("b.py", "b", 0644);
  Write("a.py", "a", 0644);
  auto first = ZipDirectory(dir_);
  auto second = ZipDirectory(dir_);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(*first, *second);
}

TEST_F(ZipDirectoryTest, ContentOnlyZipsDoNotChangeWhenAFileIsTouched) {
  Write("a.py", "a", 0644);
  auto before = ZipDirectory(dir_, {}, /*content_only=*/true);
  fs::last_write_time(dir_ / "a.py", fs::file_time_type::clock::now() + std::chrono::hours(1));
  auto after = ZipDirectory(dir_, {}, /*content_only=*/true);
  auto with_mtimes = ZipDirectory(dir_);
  ASSERT_TRUE(before.has_value() && after.has_value() && with_mtimes.has_value());
  EXPECT_EQ(*before, *after);
  EXPECT_NE(*after, *with_mtimes);
}

TEST(ZipFiles, ZipsNamedContentsTheSameWayEveryTime) {
  auto zip = ZipFiles({{"index.py", "def handler(e, c):\n    return 1\n"}});
  ASSERT_TRUE(zip.has_value()) << zip.status().ToString();
  EXPECT_EQ(*zip, *ZipFiles({{"index.py", "def handler(e, c):\n    return 1\n"}}));
  auto entries = ReadZip(*zip);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries["index.py"].mode, S_IFREG | 0644);
  EXPECT_EQ(entries["index.py"].content, "def handler(e, c):\n    return 1\n");
}

TEST_F(ZipDirectoryTest, RejectsSpecialFilesAndMissingDirectories) {
  ASSERT_EQ(::mkfifo((dir_ / "pipe").c_str(), 0644), 0);
  auto zip = ZipDirectory(dir_);
  ASSERT_FALSE(zip.has_value());
  EXPECT_EQ(zip.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ZipDirectory(dir_ / "missing").error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace nimbus::cli
