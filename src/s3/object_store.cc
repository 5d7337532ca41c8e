#include "s3/object_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/errno_status.h"
#include "storage/blob_store.h"

namespace nimbus::s3 {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Persisted format: released migrations are never edited.
const std::vector<storage::Migration> kMigrations = {
    {1,
     "CREATE TABLE buckets (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
     // key: BINARY collation, so ORDER BY key is UTF-8 byte order, as S3 lists.
     // metadata/headers: JSON arrays of [name, value].
     "CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,"
     " etag TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL,"
     " headers TEXT NOT NULL, checksum_algorithm TEXT NOT NULL, checksum TEXT NOT NULL,"
     " modified_ms INTEGER NOT NULL, file TEXT NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;"},
    // The bucket's notification configuration (notifications.h's JSON; "" = none).
    {2, "ALTER TABLE buckets ADD COLUMN notification TEXT NOT NULL DEFAULT '';"},
    // Multipart uploads in progress and their parts (each part's bytes in a file).
    {3, "CREATE TABLE uploads (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,"
        " options TEXT NOT NULL, created_ms INTEGER NOT NULL);"
        "CREATE TABLE parts (upload TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL,"
        " etag TEXT NOT NULL, file TEXT NOT NULL, modified_ms INTEGER NOT NULL,"
        " PRIMARY KEY (upload, number)) WITHOUT ROWID;"},
};

constexpr const char* kObjectColumns =
    "key, size, etag, content_type, metadata, headers, checksum_algorithm, checksum, modified_ms, "
    "file";

std::string EncodePairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json::array a;
  for (const auto& [k, v] : pairs) a.push_back(json::array{json::string(k), json::string(v)});
  return json::serialize(a);
}

std::vector<std::pair<std::string, std::string>> DecodePairs(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& e : v.as_array()) {
    if (!e.is_array() || e.as_array().size() != 2) continue;
    const auto& p = e.as_array();
    if (!p[0].is_string() || !p[1].is_string()) continue;
    out.emplace_back(std::string(p[0].as_string()), std::string(p[1].as_string()));
  }
  return out;
}

std::chrono::system_clock::time_point FromMillis(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ObjectInfo ReadObjectRow(const storage::Statement& st) {
  ObjectInfo o;
  o.key = st.ColumnText(0);
  o.size = static_cast<uint64_t>(st.ColumnInt64(1));
  o.etag = st.ColumnText(2);
  o.content_type = st.ColumnText(3);
  o.metadata = DecodePairs(st.ColumnText(4));
  o.headers = DecodePairs(st.ColumnText(5));
  o.checksum_algorithm = st.ColumnText(6);
  o.checksum = st.ColumnText(7);
  o.last_modified = FromMillis(st.ColumnInt64(8));
  o.file = st.ColumnText(9);
  return o;
}

bool IsIpv4(std::string_view s) {
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace

std::string BucketNameProblem(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return "must be between 3 and 63 characters long";
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '.' || c == '-')) {
      return "can consist only of lowercase letters, numbers, dots (.), and hyphens (-)";
    }
  }
  auto alnum = [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
  };
  if (!alnum(name.front()) || !alnum(name.back())) return "must begin and end with a letter or number";
  if (name.find("..") != std::string_view::npos) return "must not contain two adjacent periods";
  if (IsIpv4(name)) return "must not be formatted as an IP address";
  for (std::string_view p : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (name.starts_with(p)) return fmt::format("must not start with the prefix {}", p);
  }
  for (std::string_view s : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (name.ends_with(s)) return fmt::format("must not end with the suffix {}", s);
  }
  return "";
}

ObjectStore::ObjectStore(fs::path root, std::unique_ptr<storage::Store> store)
    : root_(std::move(root)), store_(std::move(store)) {}

ObjectStore::~ObjectStore() = default;

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root / "objects", ec);
  if (ec) return Internal(fmt::format("s3: create {}: {}", (root / "objects").string(), ec.message()));
  fs::create_directories(root / "tmp", ec);
  if (ec) return Internal(fmt::format("s3: create {}: {}", (root / "tmp").string(), ec.message()));
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(root / "s3.db", kMigrations));
  std::unique_ptr<ObjectStore> s(new ObjectStore(root, std::move(store)));
  NIMBUS_RETURN_IF_ERROR(s->SweepOrphans());
  return s;
}

Status ObjectStore::SweepOrphans() {
  std::set<std::string> referenced;
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT file FROM objects UNION ALL SELECT file FROM parts"));
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      referenced.insert(st.ColumnText(0));
    }
  }
  std::error_code ec;
  // Temporary files are always left from a crash: nothing is in flight at Open().
  for (const auto& e : fs::directory_iterator(root_ / "tmp", ec)) fs::remove(e.path(), ec);
  for (const auto& dir : fs::directory_iterator(root_ / "objects", ec)) {
    if (!dir.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(dir.path(), ec)) {
      std::string name = dir.path().filename().string() + "/" + f.path().filename().string();
      if (referenced.count(name) == 0) fs::remove(f.path(), ec);
    }
  }
  return Status::Ok();
}

fs::path ObjectStore::PathOf(const std::string& file) const { return root_ / "objects" / file; }

namespace {

Status WriteAll(int fd, std::string_view body, const fs::path& path) {
  while (!body.empty()) {
    ssize_t n = ::write(fd, body.data(), body.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(fmt::format("s3: write {}", path.string()));
    body.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Appends the whole file `from` to `fd` in the kernel (copy_file_range), so a
// multipart object is assembled without passing through memory.
Status AppendFile(int fd, const fs::path& from, const fs::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoStatus(fmt::format("s3: open {}", from.string()));
  Status st;
  while (true) {
    ssize_t n = ::copy_file_range(in, nullptr, fd, nullptr, 1 << 30, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      // A file system without copy_file_range: through a buffer instead.
      std::string buffer(1 << 20, '\0');
      n = ::read(in, buffer.data(), buffer.size());
      if (n > 0) {
        st = WriteAll(fd, std::string_view(buffer.data(), static_cast<size_t>(n)), to);
        if (!st.ok()) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
    }
    if (n < 0) {
      st = ErrnoStatus(fmt::format("s3: copy {} to {}", from.string(), to.string()));
      break;
    }
    if (n == 0) break;
  }
  ::close(in);
  return st;
}

}  // namespace

Result<std::string> ObjectStore::WriteFile(std::string_view body) const {
  return WriteFileWith([&](int fd, const fs::path& path) { return WriteAll(fd, body, path); });
}

Result<std::string> ObjectStore::WriteFileWith(const std::function<Status(int, const fs::path&)>& fill) const {
  const std::string id = RandomHex32();
  const std::string file = id.substr(0, 2) + "/" + id;
  const fs::path tmp = root_ / "tmp" / id;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(fmt::format("s3: create {}", tmp.string()));
  if (Status st = fill(fd, tmp); !st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fsync(fd) != 0) {
    Status st = ErrnoStatus(fmt::format("s3: fsync {}", tmp.string()));
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  ::close(fd);
  const fs::path dest = PathOf(file);
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    Status st = ErrnoStatus(fmt::format("s3: rename to {}", dest.string()));
    ::unlink(tmp.c_str());
    return st;
  }
  NIMBUS_RETURN_IF_ERROR(storage::FsyncDir(dest.parent_path()));
  return file;
}

void ObjectStore::RemoveFile(const std::string& file) const {
  std::error_code ec;
  fs::remove(PathOf(file), ec);  // a leftover is swept at the next Open()
}

Result<bool> ObjectStore::BucketExists(const std::string& name) {
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT 1 FROM buckets WHERE name = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
  return st.Step();
}

Result<std::optional<ObjectInfo>> ObjectStore::LoadObject(const std::string& bucket,
                                                         const std::string& key) {
  NIMBUS_ASSIGN_OR_RETURN(
      auto st, store_->Prepare(fmt::format("SELECT {} FROM objects WHERE bucket = ? AND key = ?",
                                           kObjectColumns)));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, bucket));
  NIMBUS_RETURN_IF_ERROR(st.BindText(2, key));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ObjectInfo>();
  return std::optional<ObjectInfo>(ReadObjectRow(st));
}

Status ObjectStore::CreateBucket(const std::string& name) {
  if (std::string why = BucketNameProblem(name); !why.empty()) {
    return InvalidArgument(fmt::format("bucket name {}: {}", name, why));
  }
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(name));
    if (exists) return Status(Code::kConflict, fmt::format("bucket {} exists", name));
    NIMBUS_ASSIGN_OR_RETURN(auto st,
                            store_->Prepare("INSERT INTO buckets (name, created_ms) VALUES (?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, NowMillis()));
    return st.Run();
  });
}

Status ObjectStore::DeleteBucket(const std::string& name) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(name));
    if (!exists) return NotFound(fmt::format("bucket {}", name));
    NIMBUS_ASSIGN_OR_RETURN(auto any, store_->Prepare("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1"));
    NIMBUS_RETURN_IF_ERROR(any.BindText(1, name));
    NIMBUS_ASSIGN_OR_RETURN(bool has_objects, any.Step());
    if (has_objects) {
      return Status(Code::kConflict, fmt::format("bucket {} is not empty", name));
    }
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM buckets WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    return st.Run();
  });
}

Result<BucketInfo> ObjectStore::GetBucket(const std::string& name) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT created_ms FROM buckets WHERE name = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound(fmt::format("bucket {}", name));
  return BucketInfo{name, FromMillis(st.ColumnInt64(0))};
}

Result<std::vector<BucketInfo>> ObjectStore::ListBuckets() {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT name, created_ms FROM buckets ORDER BY name"));
  std::vector<BucketInfo> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(BucketInfo{st.ColumnText(0), FromMillis(st.ColumnInt64(1))});
  }
  return out;
}

Result<ObjectInfo> ObjectStore::Put(const std::string& bucket, const std::string& key,
                                    std::string_view body, const PutOptions& options) {
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
    if (!exists) return NotFound(fmt::format("bucket {}", bucket));
  }
  ObjectInfo o;
  o.key = key;
  o.size = body.size();
  o.etag = Md5Hex(body);
  // The bytes are durable before any row points at them.
  NIMBUS_ASSIGN_OR_RETURN(o.file, WriteFile(body));
  return Commit(bucket, std::move(o), options);
}

Result<ObjectInfo> ObjectStore::Commit(const std::string& bucket, ObjectInfo o, const PutOptions& options) {
  const std::string& key = o.key;
  o.content_type = options.content_type;
  o.metadata = options.metadata;
  o.headers = options.headers;
  o.checksum_algorithm = options.checksum_algorithm;
  o.checksum = options.checksum;
  const int64_t now = NowMillis();
  o.last_modified = FromMillis(now);
  std::string replaced;
  Status st;
  {
    MutexLock l(store_mu_);
    st = storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
      if (!exists) return NotFound(fmt::format("bucket {}", bucket));
      NIMBUS_ASSIGN_OR_RETURN(auto old, LoadObject(bucket, key));
      if (old && options.if_none_match_any) return Status(Code::kFailedPrecondition, "If-None-Match");
      if (!options.if_match.empty()) {
        if (!old) return NotFound(fmt::format("key {}", key));
        if (options.if_match != "*" && options.if_match != old->etag) {
          return Status(Code::kFailedPrecondition, "If-Match");
        }
      }
      if (old) replaced = old->file;
      NIMBUS_ASSIGN_OR_RETURN(
          auto ins, store_->Prepare(fmt::format("INSERT OR REPLACE INTO objects (bucket, {}) VALUES "
                                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                kObjectColumns)));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(1, bucket));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(2, key));
      NIMBUS_RETURN_IF_ERROR(ins.BindInt64(3, static_cast<int64_t>(o.size)));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(4, o.etag));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(5, o.content_type));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(6, EncodePairs(o.metadata)));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(7, EncodePairs(o.headers)));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(8, o.checksum_algorithm));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(9, o.checksum));
      NIMBUS_RETURN_IF_ERROR(ins.BindInt64(10, now));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(11, o.file));
      return ins.Run();
    });
  }
  if (!st.ok()) {
    RemoveFile(o.file);
    return st;
  }
  if (!replaced.empty()) RemoveFile(replaced);
  return o;
}

Result<ObjectInfo> ObjectStore::Head(const std::string& bucket, const std::string& key) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto o, LoadObject(bucket, key));
  if (o) return *o;
  NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
  if (!exists) return NotFound(fmt::format("bucket {}", bucket));
  return NotFound(fmt::format("key {}", key));
}

Result<std::pair<ObjectInfo, UniqueFd>> ObjectStore::OpenObject(const std::string& bucket,
                                                               const std::string& key) {
  // A concurrent overwrite or delete may remove the file between reading the
  // row and opening it: read the row again. An open file stays readable.
  for (int attempt = 0; attempt < 5; ++attempt) {
    NIMBUS_ASSIGN_OR_RETURN(ObjectInfo o, Head(bucket, key));
    const fs::path path = PathOf(o.file);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT) continue;
    if (!fd) return ErrnoStatus(fmt::format("s3: open {}", path.string()));
    return std::make_pair(std::move(o), std::move(fd));
  }
  return Status(Code::kUnavailable, fmt::format("s3: {} changed while being read", key));
}

Result<std::pair<ObjectInfo, std::string>> ObjectStore::Get(const std::string& bucket,
                                                            const std::string& key, uint64_t offset,
                                                            std::optional<uint64_t> length) {
  NIMBUS_ASSIGN_OR_RETURN(auto opened, OpenObject(bucket, key));
  auto& [o, fd] = opened;
  const uint64_t start = std::min(offset, o.size);
  const uint64_t n = std::min(length.value_or(o.size), o.size - start);
  std::string data(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd.get(), data.data() + got, n - got, static_cast<off_t>(start + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(fmt::format("s3: read {}", PathOf(o.file).string()));
    if (r == 0) return Internal(fmt::format("s3: {} is shorter than its {} bytes", PathOf(o.file).string(), o.size));
    got += static_cast<size_t>(r);
  }
  return std::make_pair(std::move(o), std::move(data));
}

Result<ObjectInfo> ObjectStore::Copy(const std::string& bucket, const std::string& key, const ObjectInfo& source,
                                     int source_fd, const PutOptions& options) {
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
    if (!exists) return NotFound(fmt::format("bucket {}", bucket));
  }
  // Through a buffer rather than copy_file_range: the copy's ETag is the MD5 of
  // its bytes (a copied multipart object gets a plain one, as in S3).
  Hasher md5(DigestAlgorithm::kMd5);
  ObjectInfo o;
  o.key = key;
  o.size = source.size;
  NIMBUS_ASSIGN_OR_RETURN(o.file, WriteFileWith([&](int fd, const fs::path& path) -> Status {
    std::string buffer(std::min<uint64_t>(source.size, 1 << 20), '\0');
    uint64_t done = 0;
    while (done < source.size) {
      ssize_t r = ::pread(source_fd, buffer.data(), std::min<uint64_t>(buffer.size(), source.size - done),
                          static_cast<off_t>(done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(fmt::format("s3: read {}", PathOf(source.file).string()));
      if (r == 0) return Internal(fmt::format("s3: {} is shorter than its {} bytes", PathOf(source.file).string(), source.size));
      std::string_view chunk(buffer.data(), static_cast<size_t>(r));
      md5.Update(chunk);
      NIMBUS_RETURN_IF_ERROR(WriteAll(fd, chunk, path));
      done += static_cast<uint64_t>(r);
    }
    return Status::Ok();
  }));
  o.etag = HexEncode(md5.Finish());
  return Commit(bucket, std::move(o), options);
}

Status ObjectStore::SetNotification(const std::string& bucket, const std::string& config) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
    if (!exists) return NotFound(fmt::format("bucket {}", bucket));
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("UPDATE buckets SET notification = ? WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, config));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, bucket));
    return st.Run();
  });
}

Result<std::string> ObjectStore::GetNotification(const std::string& bucket) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT notification FROM buckets WHERE name = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, bucket));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound(fmt::format("bucket {}", bucket));
  return st.ColumnText(0);
}

Result<bool> ObjectStore::Delete(const std::string& bucket, const std::string& key) {
  std::string removed;
  {
    MutexLock l(store_mu_);
    NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
      if (!exists) return NotFound(fmt::format("bucket {}", bucket));
      NIMBUS_ASSIGN_OR_RETURN(auto old, LoadObject(bucket, key));
      if (!old) return Status::Ok();
      removed = old->file;
      NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM objects WHERE bucket = ? AND key = ?"));
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, bucket));
      NIMBUS_RETURN_IF_ERROR(st.BindText(2, key));
      return st.Run();
    }));
  }
  if (removed.empty()) return false;
  RemoveFile(removed);
  return true;
}

Result<ListResult> ObjectStore::List(const std::string& bucket, const ListOptions& options) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
  if (!exists) return NotFound(fmt::format("bucket {}", bucket));
  ListResult out;
  if (options.max_keys <= 0) return out;
  // Keys from max(prefix, after) on, in byte order; stops past the prefix.
  NIMBUS_ASSIGN_OR_RETURN(
      auto st, store_->Prepare(fmt::format("SELECT {} FROM objects WHERE bucket = ? AND key > ? "
                                           "AND key >= ? ORDER BY key",
                                           kObjectColumns)));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, bucket));
  NIMBUS_RETURN_IF_ERROR(st.BindText(2, options.after));
  NIMBUS_RETURN_IF_ERROR(st.BindText(3, options.prefix));
  int count = 0;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::string key = st.ColumnText(0);
    if (!key.starts_with(options.prefix)) break;
    std::string common;
    if (!options.delimiter.empty()) {
      size_t at = key.find(options.delimiter, options.prefix.size());
      if (at != std::string::npos) common = key.substr(0, at + options.delimiter.size());
    }
    // A page that ended on a common prefix resumes after all of its keys.
    if (!common.empty() && (common == options.after ||
                            (!out.common_prefixes.empty() && out.common_prefixes.back() == common))) {
      continue;
    }
    if (count == options.max_keys) {
      out.truncated = true;
      break;
    }
    ++count;
    if (!common.empty()) {
      out.common_prefixes.push_back(common);
      out.last = common;
    } else {
      out.contents.push_back(ReadObjectRow(st));
      out.last = key;
    }
  }
  return out;
}

namespace {

// The bytes of a lowercase hex string (a part's MD5).
std::string HexBytes(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  return out;
}

std::string EncodeOptions(const PutOptions& o) {
  json::object j{{"content_type", o.content_type}, {"metadata", EncodePairs(o.metadata)}, {"headers", EncodePairs(o.headers)}};
  return json::serialize(j);
}

PutOptions DecodeOptions(const std::string& text) {
  PutOptions o;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return o;
  const auto& j = v.as_object();
  auto str = [&j](const char* k) {
    const json::value* x = j.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  o.content_type = str("content_type");
  o.metadata = DecodePairs(str("metadata"));
  o.headers = DecodePairs(str("headers"));
  return o;
}

}  // namespace

Result<std::string> ObjectStore::CreateUpload(const std::string& bucket, const std::string& key,
                                              const PutOptions& options) {
  MutexLock l(store_mu_);
  const std::string id = RandomHex32() + RandomHex32();
  NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
    if (!exists) return NotFound(fmt::format("bucket {}", bucket));
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("INSERT INTO uploads (id, bucket, key, options, created_ms) VALUES (?, ?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, id));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, bucket));
    NIMBUS_RETURN_IF_ERROR(st.BindText(3, key));
    NIMBUS_RETURN_IF_ERROR(st.BindText(4, EncodeOptions(options)));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(5, NowMillis()));
    return st.Run();
  }));
  return id;
}

// The upload's key and options, if it belongs to `bucket`.
static Result<std::pair<std::string, std::string>> LoadUpload(storage::Store& store, const std::string& bucket,
                                                              const std::string& upload_id) {
  NIMBUS_ASSIGN_OR_RETURN(auto st, store.Prepare("SELECT key, options FROM uploads WHERE id = ? AND bucket = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, upload_id));
  NIMBUS_RETURN_IF_ERROR(st.BindText(2, bucket));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound(fmt::format("upload {}", upload_id));
  return std::make_pair(st.ColumnText(0), st.ColumnText(1));
}

Result<std::string> ObjectStore::PutPart(const std::string& bucket, const std::string& upload_id, int number,
                                         std::string_view body) {
  {
    MutexLock l(store_mu_);
    NIMBUS_RETURN_IF_ERROR(LoadUpload(*store_, bucket, upload_id).status());
  }
  const std::string etag = Md5Hex(body);
  NIMBUS_ASSIGN_OR_RETURN(std::string file, WriteFile(body));
  std::string replaced;
  Status st;
  {
    MutexLock l(store_mu_);
    st = storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_RETURN_IF_ERROR(LoadUpload(*store_, bucket, upload_id).status());
      NIMBUS_ASSIGN_OR_RETURN(auto old, store_->Prepare("SELECT file FROM parts WHERE upload = ? AND number = ?"));
      NIMBUS_RETURN_IF_ERROR(old.BindText(1, upload_id));
      NIMBUS_RETURN_IF_ERROR(old.BindInt64(2, number));
      NIMBUS_ASSIGN_OR_RETURN(bool had, old.Step());
      if (had) replaced = old.ColumnText(0);
      NIMBUS_ASSIGN_OR_RETURN(auto ins, store_->Prepare("INSERT OR REPLACE INTO parts (upload, number, size, etag, file, modified_ms) VALUES (?, ?, ?, ?, ?, ?)"));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(1, upload_id));
      NIMBUS_RETURN_IF_ERROR(ins.BindInt64(2, number));
      NIMBUS_RETURN_IF_ERROR(ins.BindInt64(3, static_cast<int64_t>(body.size())));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(4, etag));
      NIMBUS_RETURN_IF_ERROR(ins.BindText(5, file));
      NIMBUS_RETURN_IF_ERROR(ins.BindInt64(6, NowMillis()));
      return ins.Run();
    });
  }
  if (!st.ok()) {
    RemoveFile(file);
    return st;
  }
  if (!replaced.empty()) RemoveFile(replaced);
  return etag;
}

Result<std::vector<UploadPart>> ObjectStore::ListParts(const std::string& bucket, const std::string& upload_id) {
  MutexLock l(store_mu_);
  NIMBUS_RETURN_IF_ERROR(LoadUpload(*store_, bucket, upload_id).status());
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT number, size, etag, file, modified_ms FROM parts WHERE upload = ? ORDER BY number"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, upload_id));
  std::vector<UploadPart> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({static_cast<int>(st.ColumnInt64(0)), static_cast<uint64_t>(st.ColumnInt64(1)), st.ColumnText(2),
                   FromMillis(st.ColumnInt64(4)), st.ColumnText(3)});
  }
  return out;
}

Result<std::vector<Upload>> ObjectStore::ListUploads(const std::string& bucket) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
  if (!exists) return NotFound(fmt::format("bucket {}", bucket));
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT id, key, created_ms FROM uploads WHERE bucket = ? ORDER BY key, created_ms"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, bucket));
  std::vector<Upload> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), FromMillis(st.ColumnInt64(2))});
  }
  return out;
}

Result<ObjectInfo> ObjectStore::CompleteUpload(const std::string& bucket, const std::string& upload_id,
                                               const std::vector<std::pair<int, std::string>>& wanted) {
  NIMBUS_ASSIGN_OR_RETURN(std::vector<UploadPart> stored, ListParts(bucket, upload_id));
  std::pair<std::string, std::string> upload;
  {
    MutexLock l(store_mu_);
    NIMBUS_ASSIGN_OR_RETURN(upload, LoadUpload(*store_, bucket, upload_id));
  }
  if (wanted.empty()) return InvalidArgument("MalformedXML: You must specify at least one part");
  for (size_t i = 1; i < wanted.size(); ++i) {
    if (wanted[i].first <= wanted[i - 1].first) {
      return InvalidArgument("InvalidPartOrder: The list of parts was not in ascending order. Parts must be ordered by part number.");
    }
  }
  std::vector<const UploadPart*> chosen;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto& [number, etag] = wanted[i];
    // An init-capture: clang before 16 cannot capture a structured binding.
    auto it = std::find_if(stored.begin(), stored.end(), [&number = number](const UploadPart& p) { return p.number == number; });
    if (it == stored.end() || it->etag != etag) {
      return InvalidArgument("InvalidPart: One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.");
    }
    if (i + 1 < wanted.size() && it->size < kMinPartBytes) {
      return InvalidArgument("EntityTooSmall: Your proposed upload is smaller than the minimum allowed size");
    }
    chosen.push_back(&*it);
  }
  // The object: the parts' files copied in order into a new file, committed like
  // any object. S3's multipart ETag: the MD5 of the parts' MD5s, and the part count.
  std::string digests;
  ObjectInfo o;
  o.key = upload.first;
  for (const UploadPart* p : chosen) {
    digests += HexBytes(p->etag);
    o.size += p->size;
  }
  o.etag = fmt::format("{}-{}", Md5Hex(digests), chosen.size());
  NIMBUS_ASSIGN_OR_RETURN(o.file, WriteFileWith([&](int fd, const fs::path& path) -> Status {
    for (const UploadPart* p : chosen) {
      Status st = AppendFile(fd, PathOf(p->file), path);
      if (st.code() == Code::kNotFound) {
        return Internal(fmt::format("s3: part {} of upload {} is missing its file", p->number, upload_id));
      }
      NIMBUS_RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }));
  NIMBUS_ASSIGN_OR_RETURN(o, Commit(bucket, std::move(o), DecodeOptions(upload.second)));
  NIMBUS_RETURN_IF_ERROR(AbortUpload(bucket, upload_id));
  return o;
}

Status ObjectStore::AbortUpload(const std::string& bucket, const std::string& upload_id) {
  std::vector<std::string> files;
  {
    MutexLock l(store_mu_);
    NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_RETURN_IF_ERROR(LoadUpload(*store_, bucket, upload_id).status());
      NIMBUS_ASSIGN_OR_RETURN(auto sel, store_->Prepare("SELECT file FROM parts WHERE upload = ?"));
      NIMBUS_RETURN_IF_ERROR(sel.BindText(1, upload_id));
      while (true) {
        NIMBUS_ASSIGN_OR_RETURN(bool row, sel.Step());
        if (!row) break;
        files.push_back(sel.ColumnText(0));
      }
      for (const char* sql : {"DELETE FROM parts WHERE upload = ?", "DELETE FROM uploads WHERE id = ?"}) {
        NIMBUS_ASSIGN_OR_RETURN(auto del, store_->Prepare(sql));
        NIMBUS_RETURN_IF_ERROR(del.BindText(1, upload_id));
        NIMBUS_RETURN_IF_ERROR(del.Run());
      }
      return Status::Ok();
    }));
  }
  for (const auto& f : files) RemoveFile(f);
  return Status::Ok();
}

}  // namespace nimbus::s3
