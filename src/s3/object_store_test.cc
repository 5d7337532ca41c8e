#include "s3/object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace nimbus::s3 {
namespace {

namespace fs = std::filesystem;

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nimbus-s3-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    root_ = dir;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void Reopen() {
    store_.reset();
    auto s = ObjectStore::Open(root_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
  }
  size_t ObjectFiles() const {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(root_ / "objects")) n += e.is_regular_file();
    return n;
  }

  fs::path root_;
  std::unique_ptr<ObjectStore> store_;
};

TEST(BucketNameTest, FollowsS3sNamingRules) {
  EXPECT_EQ(BucketNameProblem("my-bucket.1"), "");
  EXPECT_NE(BucketNameProblem("ab"), "");
  EXPECT_NE(BucketNameProblem(std::string(64, 'a')), "");
  EXPECT_NE(BucketNameProblem("Bad_Bucket"), "");
  EXPECT_NE(BucketNameProblem("-abc"), "");
  EXPECT_NE(BucketNameProblem("a..b"), "");
  EXPECT_NE(BucketNameProblem("192.168.1.1"), "");
  EXPECT_NE(BucketNameProblem("xn--abc"), "");
  EXPECT_NE(BucketNameProblem("abc-s3alias"), "");
}

TEST_F(ObjectStoreTest, BucketsAreCreatedListedAndDeletedOnlyWhenEmpty) {
  ASSERT_TRUE(store_->CreateBucket("b1").ok() == false);  // too short
  ASSERT_TRUE(store_->CreateBucket("bucket-one").ok());
  EXPECT_EQ(store_->CreateBucket("bucket-one").code(), Code::kConflict);
  ASSERT_TRUE(store_->Put("bucket-one", "k", "v", {}).has_value());
  EXPECT_EQ(store_->DeleteBucket("bucket-one").code(), Code::kConflict);
  ASSERT_TRUE(store_->Delete("bucket-one", "k").has_value());
  EXPECT_TRUE(store_->DeleteBucket("bucket-one").ok());
  EXPECT_EQ(store_->DeleteBucket("bucket-one").code(), Code::kNotFound);
  auto all = store_->ListBuckets();
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(all->empty());
}

TEST_F(ObjectStoreTest, PutGetOverwriteAndDeleteKeepOneFilePerObject) {
  ASSERT_TRUE(store_->CreateBucket("bucket").ok());
  PutOptions o;
  o.content_type = "text/plain";
  o.metadata = {{"color", "blue"}};
  auto put = store_->Put("bucket", "a/b c", "hello world", o);
  ASSERT_TRUE(put.has_value()) << put.error().ToString();
  EXPECT_EQ(put->etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
  auto got = store_->Get("bucket", "a/b c");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->second, "hello world");
  EXPECT_EQ(got->first.content_type, "text/plain");
  EXPECT_EQ(got->first.metadata, o.metadata);
  auto part = store_->Get("bucket", "a/b c", 6, 3);
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->second, "wor");
  ASSERT_TRUE(store_->Put("bucket", "a/b c", "second", {}).has_value());
  EXPECT_EQ(store_->Get("bucket", "a/b c")->second, "second");
  EXPECT_EQ(ObjectFiles(), 1u) << "the overwritten object's file is removed";
  auto removed = store_->Delete("bucket", "a/b c");
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(*removed);
  removed = store_->Delete("bucket", "a/b c");
  ASSERT_TRUE(removed.has_value()) << "a missing key deletes fine";
  EXPECT_FALSE(*removed);
  EXPECT_EQ(ObjectFiles(), 0u);
  auto missing = store_->Head("bucket", "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message(), "key nope");
  auto no_bucket = store_->Head("nobucket", "k");
  ASSERT_FALSE(no_bucket.has_value());
  EXPECT_EQ(no_bucket.error().message(), "bucket nobucket");
}

TEST_F(ObjectStoreTest, ObjectsSurviveReopeningAndOrphanFilesAreSwept) {
  ASSERT_TRUE(store_->CreateBucket("bucket").ok());
  ASSERT_TRUE(store_->Put("bucket", "k", "data", {}).has_value());
  // A crash after writing a body but before its commit leaves a file no row names.
  fs::create_directories(root_ / "objects" / "ff");
  { std::ofstream(root_ / "objects" / "ff" / "ffffffff") << "orphan"; }
  { std::ofstream(root_ / "tmp" / "partial") << "half"; }
  Reopen();
  EXPECT_EQ(store_->Get("bucket", "k")->second, "data");
  EXPECT_EQ(ObjectFiles(), 1u);
  EXPECT_TRUE(fs::is_empty(root_ / "tmp"));
}

TEST_F(ObjectStoreTest, ListingPagesByKeyOrderAndRollsUpCommonPrefixes) {
  ASSERT_TRUE(store_->CreateBucket("bucket").ok());
  for (const char* k : {"a/1", "a/2", "b", "c/x/1", "c/y", "d"}) {
    ASSERT_TRUE(store_->Put("bucket", k, k, {}).has_value());
  }
  ListOptions o;
  o.delimiter = "/";
  o.max_keys = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = store_->List("bucket", o);
    ASSERT_TRUE(r.has_value());
    for (const auto& p : r->common_prefixes) seen.push_back(p);
    for (const auto& c : r->contents) seen.push_back(c.key);
    if (!r->truncated) break;
    o.after = r->last;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a/", "b", "c/", "d"}));
  ListOptions prefixed;
  prefixed.prefix = "c/";
  prefixed.delimiter = "/";
  auto r = store_->List("bucket", prefixed);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->common_prefixes.size(), 1u);
  EXPECT_EQ(r->common_prefixes[0], "c/x/");
  ASSERT_EQ(r->contents.size(), 1u);
  EXPECT_EQ(r->contents[0].key, "c/y");
}

TEST_F(ObjectStoreTest, AMultipartUploadAssemblesItsPartsWithS3sEtag) {
  ASSERT_TRUE(store_->CreateBucket("bucket").ok());
  PutOptions o;
  o.content_type = "text/plain";
  auto id = store_->CreateUpload("bucket", "big", o);
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  const std::string first(kMinPartBytes, 'a');
  auto e1 = store_->PutPart("bucket", *id, 1, first);
  auto e2 = store_->PutPart("bucket", *id, 2, "tail");
  ASSERT_TRUE(e1.has_value() && e2.has_value());
  EXPECT_EQ(store_->ListParts("bucket", *id)->size(), 2u);
  auto bad = store_->CompleteUpload("bucket", *id, {{2, *e2}, {1, *e1}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().message().starts_with("InvalidPartOrder")) << bad.error().message();
  auto wrong = store_->CompleteUpload("bucket", *id, {{1, *e1}, {2, "0000"}});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(wrong.error().message().starts_with("InvalidPart:")) << wrong.error().message();
  auto done = store_->CompleteUpload("bucket", *id, {{1, *e1}, {2, *e2}});
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  EXPECT_TRUE(done->etag.ends_with("-2")) << done->etag;
  EXPECT_EQ(done->size, first.size() + 4);
  auto got = store_->Get("bucket", "big");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->second, first + "tail");
  EXPECT_EQ(got->first.content_type, "text/plain");
  EXPECT_EQ(got->first.etag, done->etag);
  EXPECT_EQ(ObjectFiles(), 1u) << "the parts' files are gone";
  EXPECT_EQ(store_->ListParts("bucket", *id).error().code(), Code::kNotFound);
  // Every part but the last must be 5 MiB or more.
  auto small = store_->CreateUpload("bucket", "small", {});
  auto s1 = store_->PutPart("bucket", *small, 1, "x");
  auto s2 = store_->PutPart("bucket", *small, 2, "y");
  auto too_small = store_->CompleteUpload("bucket", *small, {{1, *s1}, {2, *s2}});
  ASSERT_FALSE(too_small.has_value());
  EXPECT_TRUE(too_small.error().message().starts_with("EntityTooSmall")) << too_small.error().message();
  EXPECT_TRUE(store_->AbortUpload("bucket", *small).ok());
  EXPECT_EQ(ObjectFiles(), 1u);
}

}  // namespace
}  // namespace nimbus::s3
