#include "storage/blob_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/encoding.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::storage {
namespace {

using testing::TempDir;

size_t CountFiles(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(BlobStore, NamesABlobByTheHexSha256OfItsContent) {
  TempDir dir;
  auto blobs = BlobStore::Open(dir.path() / "blobs");
  ASSERT_TRUE(blobs.has_value());
  auto hex = (*blobs)->Put("abc");
  ASSERT_TRUE(hex.has_value()) << hex.error().ToString();
  EXPECT_EQ(*hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.path() / "blobs" / "sha256" / *hex));
  EXPECT_EQ((*blobs)->Get(*hex).value(), "abc");
}

TEST(BlobStore, StoresIdenticalContentOnce) {
  TempDir dir;
  auto blobs = BlobStore::Open(dir.path());
  ASSERT_TRUE(blobs.has_value());
  auto a = (*blobs)->Put("same bytes");
  auto b = (*blobs)->Put("same bytes");
  auto c = (*blobs)->Put("other bytes");
  ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(CountFiles(dir.path() / "sha256"), 2u);  // no temporary files left
}

TEST(BlobStore, ReadsBlobsWrittenBeforeAReopenAndRemovesCrashLeftovers) {
  TempDir dir;
  std::string hex;
  {
    auto blobs = BlobStore::Open(dir.path());
    ASSERT_TRUE(blobs.has_value());
    hex = (*blobs)->Put(std::string(100000, 'x')).value();
  }
  // A Put that crashed before its rename.
  { std::FILE* f = std::fopen((dir.path() / "sha256" / ".tmp-dead").c_str(), "w"); std::fclose(f); }
  auto blobs = BlobStore::Open(dir.path());
  ASSERT_TRUE(blobs.has_value());
  EXPECT_EQ((*blobs)->Get(hex).value(), std::string(100000, 'x'));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "sha256" / ".tmp-dead"));
}

TEST(BlobStore, ReportsMissingAndMalformedNames) {
  TempDir dir;
  auto blobs = BlobStore::Open(dir.path());
  ASSERT_TRUE(blobs.has_value());
  EXPECT_EQ((*blobs)->Get(std::string(64, 'a')).status().code(), Code::kNotFound);
  EXPECT_EQ((*blobs)->Get("../../etc/passwd").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE((*blobs)->Contains("ABC"));
}

TEST(BlobStore, ListsAndRemovesBlobsByName) {
  TempDir dir;
  auto blobs = BlobStore::Open(dir.path());
  ASSERT_TRUE(blobs.has_value());
  std::string a = (*blobs)->Put("a").value();
  std::string b = (*blobs)->Put("b").value();
  // A Put in progress: not a blob yet.
  { std::FILE* f = std::fopen((dir.path() / "sha256" / ".tmp-live").c_str(), "w"); std::fclose(f); }
  auto listed = (*blobs)->List();
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  std::sort(listed->begin(), listed->end());
  EXPECT_EQ(*listed, (std::vector<std::string>{std::min(a, b), std::max(a, b)}));
  EXPECT_TRUE((*blobs)->Remove(a).ok());
  EXPECT_FALSE((*blobs)->Contains(a));
  EXPECT_EQ((*blobs)->Get(b).value(), "b");
  EXPECT_TRUE((*blobs)->Remove(a).ok()) << "removing an absent blob is not an error";
  EXPECT_EQ((*blobs)->Remove("../x").code(), Code::kInvalidArgument);
  EXPECT_EQ((*blobs)->List().value(), std::vector<std::string>{b});
}

}  // namespace
}  // namespace nimbus::storage
