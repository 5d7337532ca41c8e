// s3: the object store behind Nimbus' S3-compatible API (issue #5). Buckets and
// object metadata live in SQLite (<root>/s3.db); each object's bytes in a file of
// its own (<root>/objects/<xx>/<id>), written to a temporary file, fsync'd and
// renamed into place before the metadata that points at it is committed. So an
// acknowledged PutObject survives a crash, a reader never sees a partial object,
// and an overwrite or delete removes the old file only after its commit. Files no
// row points at (a crash between the two steps) are removed by Open().
//
// Concurrency: thread-safe. Object files are written and read without any lock;
// store_mu_ serialises use of the one SQLite connection (its transactions).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "base/unique_fd.h"
#include "storage/store.h"

namespace nimbus::s3 {

// Bucket naming rules of general purpose buckets: 3-63 characters of lowercase
// letters, digits, '.' and '-', starting and ending with a letter or digit, no
// "..", not an IP address, none of the reserved prefixes and suffixes. Returns
// an empty string when `name` is valid, else why not.
std::string BucketNameProblem(std::string_view name);

struct BucketInfo {
  std::string name;
  std::chrono::system_clock::time_point created;
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // hex MD5 of the bytes, unquoted
  std::string content_type;
  // x-amz-meta-* (names lowercase, without the prefix), Cache-Control and such.
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Encoding, ...
  // A flexible checksum the writer sent ("CRC32", base64 value), if any.
  std::string checksum_algorithm;
  std::string checksum;
  std::chrono::system_clock::time_point last_modified;
  std::string file;  // the body's file name under objects/
};

struct PutOptions {
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string checksum_algorithm;
  std::string checksum;
  // Conditional writes, checked in the transaction that stores the object:
  // If-None-Match: * (only if there is no object of that key) and If-Match: <etag>
  // (only over that version). A failed one is kFailedPrecondition naming the
  // header; If-Match of a missing key is kNotFound ("key ...").
  bool if_none_match_any = false;
  std::string if_match;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;
  // Keys after this one (exclusive): StartAfter, or a decoded continuation token.
  std::string after;
  int max_keys = 1000;
};

struct ListResult {
  std::vector<ObjectInfo> contents;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  // When truncated: the last key or common prefix returned (the next page starts after it).
  std::string last;
};

struct UploadPart {
  int number = 0;
  uint64_t size = 0;
  std::string etag;  // hex MD5, unquoted
  std::chrono::system_clock::time_point last_modified;
  std::string file;
};

struct Upload {
  std::string id;
  std::string key;
  std::chrono::system_clock::time_point initiated;
};

// S3's minimum size of every part of a multipart upload but the last.
inline constexpr uint64_t kMinPartBytes = 5ull << 20;

class ObjectStore {
 public:
  // Opens (creating) the store under `root` and removes object files that no
  // object refers to.
  static Result<std::unique_ptr<ObjectStore>> Open(const std::filesystem::path& root);
  ~ObjectStore();

  // kConflict if it exists; kInvalidArgument for a bad name.
  Status CreateBucket(const std::string& name);
  // kNotFound; kConflict if it holds objects.
  Status DeleteBucket(const std::string& name);
  Result<BucketInfo> GetBucket(const std::string& name);
  Result<std::vector<BucketInfo>> ListBuckets();
  // The bucket's notification configuration, as notifications.h encodes it.
  Status SetNotification(const std::string& bucket, const std::string& config);
  Result<std::string> GetNotification(const std::string& bucket);

  // Stores `body` as `key` (replacing any object of that name). kNotFound for a
  // missing bucket.
  Result<ObjectInfo> Put(const std::string& bucket, const std::string& key, std::string_view body,
                         const PutOptions& options);
  // kNotFound for a missing bucket or key (the message says which).
  Result<ObjectInfo> Head(const std::string& bucket, const std::string& key);
  // The object and `length` bytes of it from `offset` (clamped to its end); all
  // of it when `length` is nullopt.
  Result<std::pair<ObjectInfo, std::string>> Get(const std::string& bucket, const std::string& key,
                                                 uint64_t offset = 0,
                                                 std::optional<uint64_t> length = std::nullopt);
  // The object and its file, open for reading: it stays readable if the object
  // is replaced or deleted meanwhile.
  Result<std::pair<ObjectInfo, UniqueFd>> OpenObject(const std::string& bucket, const std::string& key);
  // Stores a copy of `source` (open as `source_fd`, from OpenObject) as `key`,
  // with `options`' metadata; streamed, never whole in memory.
  Result<ObjectInfo> Copy(const std::string& bucket, const std::string& key, const ObjectInfo& source,
                          int source_fd, const PutOptions& options);
  // Deleting a missing key succeeds (as S3 does): true when an object was
  // removed. A missing bucket is kNotFound.
  Result<bool> Delete(const std::string& bucket, const std::string& key);
  // Keys in UTF-8 byte order.
  Result<ListResult> List(const std::string& bucket, const ListOptions& options);

  // Multipart uploads. kNotFound: "bucket ..." or "upload ..." (NoSuchUpload).
  Result<std::string> CreateUpload(const std::string& bucket, const std::string& key, const PutOptions& options);
  // Stores (or replaces) part `number` (1-10000); its ETag.
  Result<std::string> PutPart(const std::string& bucket, const std::string& upload_id, int number,
                              std::string_view body);
  Result<std::vector<UploadPart>> ListParts(const std::string& bucket, const std::string& upload_id);
  Result<std::vector<Upload>> ListUploads(const std::string& bucket);
  // Assembles the object from `parts` ((number, etag) in ascending order). Errors:
  // kInvalidArgument "InvalidPart"/"InvalidPartOrder"/"EntityTooSmall: ..." (the
  // S3 code first), kNotFound for a missing upload.
  Result<ObjectInfo> CompleteUpload(const std::string& bucket, const std::string& upload_id,
                                    const std::vector<std::pair<int, std::string>>& parts);
  Status AbortUpload(const std::string& bucket, const std::string& upload_id);

 private:
  ObjectStore(std::filesystem::path root, std::unique_ptr<storage::Store> store);

  Result<bool> BucketExists(const std::string& name) NIMBUS_REQUIRES(store_mu_);
  Result<std::optional<ObjectInfo>> LoadObject(const std::string& bucket, const std::string& key)
      NIMBUS_REQUIRES(store_mu_);
  // Writes a new object file durably (fsync'd, renamed into place) and returns
  // its name; `fill` writes the bytes to the open temporary file.
  Result<std::string> WriteFile(std::string_view body) const;
  Result<std::string> WriteFileWith(const std::function<Status(int fd, const std::filesystem::path&)>& fill) const;
  // Points `o.key` at `o.file` (written by WriteFile*), with `options`' metadata
  // and conditions; the file is removed if that fails.
  Result<ObjectInfo> Commit(const std::string& bucket, ObjectInfo o, const PutOptions& options);
  void RemoveFile(const std::string& file) const;
  std::filesystem::path PathOf(const std::string& file) const;
  Status SweepOrphans();

  const std::filesystem::path root_;
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
};

}  // namespace nimbus::s3
