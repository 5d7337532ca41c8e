#include "s3/s3_api.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/time_format.h"
#include "http/sigv4_scope.h"
#include "http/trace_header.h"
#include "s3/notifications.h"
#include "s3/payload.h"

#include <atomic>
#include <pugixml.hpp>

namespace nimbus::s3 {
namespace {

constexpr std::string_view kXmlHeader = R"(<?xml version="1.0" encoding="UTF-8"?>)";
constexpr std::string_view kXmlns = R"( xmlns="http://s3.amazonaws.com/doc/2006-03-01/")";
// Headers stored with an object and returned as they were given.
constexpr std::string_view kStoredHeaders[] = {"Cache-Control", "Content-Disposition",
                                               "Content-Language", "Expires"};

// encoding-type=url: everything but unreserved characters and '/' percent-encoded.
std::string UrlEncodeKey(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string HttpDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string RequestId() {
  std::string id = RandomHex32().substr(0, 16);
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return id;
}

// One request: where it is addressed and how to answer it.
struct Call {
  Call(const http::Request& r, const S3ApiOptions& o) : request(r), options(o) {}

  const http::Request& request;
  const S3ApiOptions& options;
  std::string bucket;
  std::string key;
  bool has_key = false;  // the path named an object ("/b/" names the bucket)
  std::vector<std::pair<std::string, std::string>> query;
  std::string request_id = RequestId();
  bool head = false;

  bool HasQuery(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return true;
    }
    return false;
  }
  std::optional<std::string> Query(std::string_view name) const { return http::QueryParam(query, name); }

  http::Response Xml(int status, std::string body) const {
    http::Response r;
    r.status = status;
    r.headers.Set("x-amz-request-id", request_id);
    r.headers.Set("x-amz-id-2", request_id);
    if (!body.empty()) {
      r.headers.Set("Content-Type", "application/xml");
      r.body = std::string(kXmlHeader) + "\n" + body;
    }
    return r;
  }
  http::Response Empty(int status) const { return Xml(status, ""); }

  // S3's error document; HEAD replies carry only the status.
  http::Response Error(int status, std::string_view code, std::string_view message,
                       std::string extra = "") const {
    if (head) return Empty(status);
    return Xml(status, fmt::format("<Error><Code>{}</Code><Message>{}</Message>{}<RequestId>{}</RequestId>"
                                   "<HostId>{}</HostId></Error>",
                                   code, XmlEscape(message), extra, request_id, request_id));
  }
  http::Response NoSuchBucket() const {
    return Error(404, "NoSuchBucket", "The specified bucket does not exist",
                 fmt::format("<BucketName>{}</BucketName>", XmlEscape(bucket)));
  }
  http::Response NoSuchKey() const {
    return Error(404, "NoSuchKey", "The specified key does not exist.",
                 fmt::format("<Key>{}</Key>", XmlEscape(key)));
  }
  http::Response NotImplemented(std::string_view what) const {
    return Error(501, "NotImplemented",
                 fmt::format("Nimbus does not implement {} yet", what));
  }
  // A store failure: missing bucket or key, or an internal error.
  http::Response FromStatus(const Status& st) const {
    if (st.code() == Code::kNotFound) {
      return st.message().starts_with("key ") ? NoSuchKey() : NoSuchBucket();
    }
    // The disk filled under the write (the message would name server paths).
    if (st.code() == Code::kResourceExhausted) {
      return Error(503, "ServiceUnavailable", "No space left on device in the data directory");
    }
    return Error(500, "InternalError", st.message());
  }
};

void AddObjectHeaders(http::Response& r, const ObjectInfo& o, bool checksum_mode) {
  r.headers.Set("ETag", "\"" + o.etag + "\"");
  r.headers.Set("Last-Modified", HttpDate(o.last_modified));
  r.headers.Set("Accept-Ranges", "bytes");
  r.headers.Set("Content-Type", o.content_type);
  for (const auto& [k, v] : o.headers) r.headers.Set(k, v);
  for (const auto& [k, v] : o.metadata) r.headers.Set("x-amz-meta-" + k, v);
  if (checksum_mode && !o.checksum_algorithm.empty()) {
    r.headers.Set("x-amz-checksum-" + AsciiLower(o.checksum_algorithm), o.checksum);
    r.headers.Set("x-amz-checksum-type", "FULL_OBJECT");
  }
}

// Metadata and stored headers of a PutObject (or a CopyObject that replaces them).
PutOptions OptionsFromHeaders(const http::Headers& headers) {
  PutOptions o;
  o.content_type = std::string(headers.Get("Content-Type").value_or("binary/octet-stream"));
  for (const auto& [k, v] : headers.entries()) {
    std::string name = AsciiLower(k);
    if (name.starts_with("x-amz-meta-")) o.metadata.emplace_back(name.substr(11), v);
  }
  for (std::string_view h : kStoredHeaders) {
    if (auto v = headers.Get(h)) o.headers.emplace_back(std::string(h), std::string(*v));
  }
  // Content-Encoding without the aws-chunked coding, which is the transfer's.
  if (auto enc = headers.Get("Content-Encoding")) {
    std::string kept;
    size_t start = 0;
    std::string_view all = *enc;
    while (start <= all.size()) {
      size_t comma = all.find(',', start);
      std::string_view part = all.substr(start, comma == std::string_view::npos ? all.npos : comma - start);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty() && AsciiLower(part) != "aws-chunked") {
        if (!kept.empty()) kept += ",";
        kept += part;
      }
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (!kept.empty()) o.headers.emplace_back("Content-Encoding", kept);
  }
  return o;
}

// Increases with every event, across restarts (it starts from the clock): a
// function can order the events of one key by it, as S3's sequencer allows.
std::string NextSequencer() {
  static std::atomic<uint64_t> next{static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count())};
  return fmt::format("{:016X}", next.fetch_add(1));
}

// Queues an invocation of every function (and a message to every queue) of the
// bucket's notification configuration that wants `event` ("ObjectCreated:Put")
// for `key`, each in the trace of the request that made the change.
void Notify(const Call& c, ObjectStore& store, std::string_view event, const std::string& key,
            const ObjectInfo* object) {
  if (c.options.targets == nullptr) return;
  auto text = store.GetNotification(c.bucket);
  if (!text.has_value() || text->empty()) return;
  NotificationConfig config = DecodeNotificationConfig(*text);
  const std::string full = "s3:" + std::string(event);
  const std::string trace = http::TraceHeaderOf(c.request.headers);
  for (const auto* list : {&config.functions, &config.queues}) {
  for (const auto& target : *list) {
    if (!Wants(target, full, key)) continue;
    ObjectEvent e;
    e.event_name = std::string(event);
    e.region = c.options.region;
    e.time = object != nullptr ? object->last_modified : std::chrono::system_clock::now();
    auto scope = http::ParseCredentialScope(c.request);
    e.principal = scope ? scope->access_key_id : "anonymous";
    e.source_ip = c.request.remote_address.empty() ? "127.0.0.1" : c.request.remote_address;
    e.request_id = c.request_id;
    e.configuration_id = target.id;
    e.bucket = c.bucket;
    e.key = key;
    if (object != nullptr) {
      e.size = object->size;
      e.etag = object->etag;
    }
    e.sequencer = NextSequencer();
    if (list == &config.queues) {
      c.options.targets->SendToQueue(target.arn, S3EventDocument(e), trace);
    } else {
      c.options.targets->InvokeAsync(target.arn, S3EventDocument(e), trace);
    }
  }
  }
}

http::Response ListBuckets(const Call& c, ObjectStore& store) {
  auto buckets = store.ListBuckets();
  if (!buckets.has_value()) return c.FromStatus(buckets.error());
  std::string xml = fmt::format("<ListAllMyBucketsResult{}><Owner><ID>nimbus</ID><DisplayName>nimbus"
                                "</DisplayName></Owner><Buckets>",
                                kXmlns);
  for (const auto& b : *buckets) {
    xml += fmt::format("<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                       XmlEscape(b.name), IsoUtcMillis(b.created));
  }
  xml += "</Buckets></ListAllMyBucketsResult>";
  return c.Xml(200, std::move(xml));
}

http::Response CreateBucket(const Call& c, ObjectStore& store) {
  Status st = store.CreateBucket(c.bucket);
  if (st.code() == Code::kInvalidArgument) {
    return c.Error(400, "InvalidBucketName", "The specified bucket is not valid.",
                   fmt::format("<BucketName>{}</BucketName>", XmlEscape(c.bucket)));
  }
  // S3 in us-east-1 answers a repeated CreateBucket of one's own bucket with 200
  // (its legacy behaviour); every other region with BucketAlreadyOwnedByYou.
  if (st.code() == Code::kConflict && c.options.region == "us-east-1") {
    http::Response r = c.Empty(200);
    r.headers.Set("Location", "/" + c.bucket);
    return r;
  }
  if (st.code() == Code::kConflict) {
    return c.Error(409, "BucketAlreadyOwnedByYou",
                   "Your previous request to create the named bucket succeeded and you already own it.",
                   fmt::format("<BucketName>{}</BucketName>", XmlEscape(c.bucket)));
  }
  if (!st.ok()) return c.FromStatus(st);
  http::Response r = c.Empty(200);
  r.headers.Set("Location", "/" + c.bucket);
  return r;
}

http::Response DeleteBucket(const Call& c, ObjectStore& store) {
  Status st = store.DeleteBucket(c.bucket);
  if (st.code() == Code::kConflict) {
    return c.Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty",
                   fmt::format("<BucketName>{}</BucketName>", XmlEscape(c.bucket)));
  }
  if (!st.ok()) return c.FromStatus(st);
  return c.Empty(204);
}

http::Response HeadBucket(const Call& c, ObjectStore& store) {
  auto b = store.GetBucket(c.bucket);
  if (!b.has_value()) return c.FromStatus(b.error());
  http::Response r = c.Empty(200);
  r.headers.Set("x-amz-bucket-region", "us-east-1");
  return r;
}

http::Response ListObjects(const Call& c, ObjectStore& store, bool v2) {
  ListOptions o;
  o.prefix = c.Query("prefix").value_or("");
  o.delimiter = c.Query("delimiter").value_or("");
  const bool url = c.Query("encoding-type").value_or("") == "url";
  if (auto enc = c.Query("encoding-type"); enc && *enc != "url") {
    return c.Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  if (auto mk = c.Query("max-keys")) {
    char* end = nullptr;
    long n = std::strtol(mk->c_str(), &end, 10);
    if (mk->empty() || *end != '\0' || n < 0) {
      return c.Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range");
    }
    o.max_keys = static_cast<int>(std::min<long>(n, 1000));
  }
  std::string token;
  if (v2) {
    if (auto t = c.Query("continuation-token")) {
      auto decoded = Base64Decode(*t);
      if (!decoded || decoded->empty() || (*decoded)[0] != 'n') {
        return c.Error(400, "InvalidArgument", "The continuation token provided is incorrect");
      }
      o.after = decoded->substr(1);
      token = *t;
    } else {
      o.after = c.Query("start-after").value_or("");
    }
  } else {
    o.after = c.Query("marker").value_or("");
  }
  auto result = store.List(c.bucket, o);
  if (!result.has_value()) return c.FromStatus(result.error());
  auto enc = [url](std::string_view s) { return XmlEscape(url ? UrlEncodeKey(s) : std::string(s)); };
  std::string xml = fmt::format("<ListBucketResult{}><Name>{}</Name><Prefix>{}</Prefix>", kXmlns,
                                XmlEscape(c.bucket), enc(o.prefix));
  if (v2) {
    if (auto sa = c.Query("start-after")) xml += fmt::format("<StartAfter>{}</StartAfter>", enc(*sa));
    if (!token.empty()) xml += fmt::format("<ContinuationToken>{}</ContinuationToken>", XmlEscape(token));
    if (result->truncated) {
      xml += fmt::format("<NextContinuationToken>{}</NextContinuationToken>",
                         XmlEscape(Base64Encode("n" + result->last)));
    }
    xml += fmt::format("<KeyCount>{}</KeyCount>",
                       result->contents.size() + result->common_prefixes.size());
  } else {
    xml += fmt::format("<Marker>{}</Marker>", enc(o.after));
    if (result->truncated && !o.delimiter.empty()) {
      xml += fmt::format("<NextMarker>{}</NextMarker>", enc(result->last));
    }
  }
  xml += fmt::format("<MaxKeys>{}</MaxKeys>", o.max_keys);
  if (!o.delimiter.empty()) xml += fmt::format("<Delimiter>{}</Delimiter>", enc(o.delimiter));
  if (url) xml += "<EncodingType>url</EncodingType>";
  xml += fmt::format("<IsTruncated>{}</IsTruncated>", result->truncated ? "true" : "false");
  for (const auto& obj : result->contents) {
    xml += fmt::format(
        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>"
        "<Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
        enc(obj.key), IsoUtcMillis(obj.last_modified), obj.etag, obj.size);
  }
  for (const auto& p : result->common_prefixes) {
    xml += fmt::format("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(p));
  }
  xml += "</ListBucketResult>";
  return c.Xml(200, std::move(xml));
}

// The body as stored: aws-chunked decoded. Checks Content-MD5 and the flexible
// checksums (header or trailer), which `options` then records.
std::optional<http::Response> ReadBody(const Call& c, std::string& body, PutOptions& options) {
  const http::Request& r = c.request;
  const std::string sha = std::string(r.headers.Get("x-amz-content-sha256").value_or(""));
  const bool chunked = AsciiLower(r.headers.Get("Content-Encoding").value_or("")).find("aws-chunked") !=
                           std::string::npos ||
                       sha.starts_with("STREAMING-");
  std::vector<std::pair<std::string, std::string>> checksum_fields;
  for (const auto& [k, v] : r.headers.entries()) {
    if (ChecksumAlgorithmOfHeader(k)) checksum_fields.emplace_back(AsciiLower(k), v);
  }
  if (chunked) {
    auto decoded = DecodeAwsChunked(r.body);
    if (!decoded.has_value()) {
      return c.Error(400, "InvalidRequest", decoded.error().message());
    }
    if (auto declared = r.headers.Get("x-amz-decoded-content-length")) {
      if (std::to_string(decoded->body.size()) != *declared) {
        return c.Error(400, "IncompleteBody",
                       "You did not provide the number of bytes specified by the "
                       "x-amz-decoded-content-length HTTP header");
      }
    }
    body = std::move(decoded->body);
    for (auto& t : decoded->trailers) {
      if (ChecksumAlgorithmOfHeader(t.first)) checksum_fields.push_back(std::move(t));
    }
  } else {
    body = r.body;
  }
  if (auto md5 = r.headers.Get("Content-MD5")) {
    auto want = Base64Decode(*md5);
    if (!want || want->size() != 16) {
      return c.Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.");
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(body.data(), body.size(), digest, &len, EVP_md5(), nullptr);
    if (std::string_view(reinterpret_cast<const char*>(digest), len) != *want) {
      return c.Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
    }
  }
  if (checksum_fields.size() > 1) {
    return c.Error(400, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple "
                                          "checksum Types are not allowed.");
  }
  if (checksum_fields.size() == 1) {
    const auto& [name, value] = checksum_fields[0];
    std::string algorithm = *ChecksumAlgorithmOfHeader(name);
    std::string actual = FlexibleChecksum(algorithm, body).value_or("");
    if (actual != value) {
      return c.Error(400, "BadDigest",
                     fmt::format("The {} you specified did not match the calculated checksum.",
                                 algorithm));
    }
    options.checksum_algorithm = algorithm;
    options.checksum = actual;
  }
  return std::nullopt;
}

// An ETag as a request header gives it: quotes (and a weak prefix) removed.
std::string BareEtag(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

// Whether `etag` is one of a comma-separated If-Match / If-None-Match list ("*": any).
bool EtagListed(std::string_view list, const std::string& etag) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string one = BareEtag(list.substr(start, comma == std::string_view::npos ? list.npos : comma - start));
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (one == "*" || one == etag) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

// An HTTP date (If-Modified-Since, If-Unmodified-Since); nullopt when malformed,
// and a malformed one is ignored, as S3 does. In seconds: system_clock's
// nanoseconds hold only the years 1678..2262, and a date outside them (year 5,
// year 9999) is still a date to compare with.
std::optional<std::chrono::sys_seconds> ParseHttpDate(std::string_view v) {
  std::tm tm = {};
  std::string s(v);
  if (strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  return std::chrono::sys_seconds(std::chrono::seconds(timegm(&tm)));
}

http::Response PreconditionFailed(const Call& c, std::string_view condition) {
  return c.Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                 fmt::format("<Condition>{}</Condition>", condition));
}

http::Response PutObject(const Call& c, ObjectStore& store) {
  if (c.request.body_too_large) {
    return c.Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
  }
  PutOptions options = OptionsFromHeaders(c.request.headers);
  if (auto inm = c.request.headers.Get("If-None-Match")) {
    if (BareEtag(*inm) != "*") {
      return c.Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented",
                     "<Header>If-None-Match</Header>");
    }
    options.if_none_match_any = true;
  }
  if (auto im = c.request.headers.Get("If-Match")) options.if_match = BareEtag(*im);
  std::string body;
  if (auto error = ReadBody(c, body, options)) return std::move(*error);
  auto o = store.Put(c.bucket, c.key, body, options);
  if (!o.has_value() && o.error().code() == Code::kFailedPrecondition) return PreconditionFailed(c, o.error().message());
  if (!o.has_value()) return c.FromStatus(o.error());
  Notify(c, store, "ObjectCreated:Put", c.key, &*o);
  http::Response r = c.Empty(200);
  r.headers.Set("ETag", "\"" + o->etag + "\"");
  if (!o->checksum_algorithm.empty()) {
    r.headers.Set("x-amz-checksum-" + AsciiLower(o->checksum_algorithm), o->checksum);
    r.headers.Set("x-amz-checksum-type", "FULL_OBJECT");
  }
  return r;
}

http::Response CopyObject(const Call& c, ObjectStore& store, std::string_view source) {
  std::string_view src = source;
  if (size_t q = src.find('?'); q != std::string_view::npos) src = src.substr(0, q);
  if (!src.empty() && src.front() == '/') src.remove_prefix(1);
  auto decoded = http::PercentDecode(src);
  size_t slash = decoded ? decoded->find('/') : std::string::npos;
  if (!decoded || slash == std::string::npos || slash == 0 || slash + 1 == decoded->size()) {
    return c.Error(400, "InvalidArgument", "Copy Source must mention the source bucket and key: "
                                           "sourcebucket/sourcekey");
  }
  Call source_call(c.request, c.options);
  source_call.bucket = decoded->substr(0, slash);
  source_call.key = decoded->substr(slash + 1);
  const bool replace = c.request.headers.Get("x-amz-metadata-directive").value_or("COPY") == "REPLACE";
  if (source_call.bucket == c.bucket && source_call.key == c.key && !replace) {
    return c.Error(400, "InvalidRequest",
                   "This copy request is illegal because it is trying to copy an object to itself "
                   "without changing the object's metadata, storage class, website redirect "
                   "location or encryption attributes.");
  }
  auto got = store.OpenObject(source_call.bucket, source_call.key);
  if (!got.has_value()) return source_call.FromStatus(got.error());
  const ObjectInfo& from = got->first;
  PutOptions options;
  if (replace) {
    options = OptionsFromHeaders(c.request.headers);
  } else {
    options.content_type = from.content_type;
    options.metadata = from.metadata;
    options.headers = from.headers;
  }
  options.checksum_algorithm = from.checksum_algorithm;
  options.checksum = from.checksum;
  auto o = store.Copy(c.bucket, c.key, from, got->second.get(), options);
  if (!o.has_value()) return c.FromStatus(o.error());
  Notify(c, store, "ObjectCreated:Copy", c.key, &*o);
  return c.Xml(200, fmt::format("<CopyObjectResult{}><LastModified>{}</LastModified>"
                                "<ETag>&quot;{}&quot;</ETag></CopyObjectResult>",
                                kXmlns, IsoUtcMillis(o->last_modified), o->etag));
}

// A single "bytes=first-last", "bytes=first-" or "bytes=-suffix" range; nullopt
// for a header S3 ignores (malformed or several ranges).
struct ByteRange {
  std::optional<uint64_t> first, last;  // both unset: suffix
  uint64_t suffix = 0;
};
std::optional<ByteRange> ParseRange(std::string_view h) {
  if (!h.starts_with("bytes=")) return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<uint64_t> {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char ch : s) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(ch - '0');
    }
    return v;
  };
  ByteRange r;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  if (a.empty()) {
    auto n = number(b);
    if (!n) return std::nullopt;
    r.suffix = *n;
    return r;
  }
  r.first = number(a);
  if (!r.first) return std::nullopt;
  if (!b.empty()) {
    r.last = number(b);
    if (!r.last || *r.last < *r.first) return std::nullopt;
  }
  return r;
}

// Bodies from this size up are sent from the object's file (sendfile); smaller
// ones are read and sent with the head in one write.
constexpr uint64_t kSendFileFrom = 64 * 1024;

http::Response GetObject(const Call& c, ObjectStore& store) {
  const bool checksum_mode =
      AsciiLower(c.request.headers.Get("x-amz-checksum-mode").value_or("")) == "enabled";
  auto head = store.Head(c.bucket, c.key);
  if (!head.has_value()) return c.FromStatus(head.error());
  // Conditional reads (RFC 7232, as S3 applies them): If-Match before
  // If-Unmodified-Since (412), If-None-Match before If-Modified-Since (304).
  const auto& h = c.request.headers;
  const auto modified = std::chrono::time_point_cast<std::chrono::seconds>(head->last_modified);
  if (auto im = h.Get("If-Match")) {
    if (!EtagListed(*im, head->etag)) return PreconditionFailed(c, "If-Match");
  } else if (auto ius = h.Get("If-Unmodified-Since")) {
    if (auto t = ParseHttpDate(*ius); t && modified > *t) return PreconditionFailed(c, "If-Unmodified-Since");
  }
  bool not_modified = false;
  if (auto inm = h.Get("If-None-Match")) {
    not_modified = EtagListed(*inm, head->etag);
  } else if (auto ims = h.Get("If-Modified-Since")) {
    if (auto t = ParseHttpDate(*ims); t && modified <= *t) not_modified = true;
  }
  if (not_modified) {
    http::Response r = c.Empty(304);
    r.headers.Set("ETag", "\"" + head->etag + "\"");
    r.headers.Set("Last-Modified", HttpDate(head->last_modified));
    return r;
  }
  const uint64_t size = head->size;
  std::optional<ByteRange> range;
  if (auto h = c.request.headers.Get("Range")) range = ParseRange(*h);
  uint64_t first = 0, count = size;
  if (range) {
    if (!range->first) {
      if (range->suffix == 0) {
        return c.Error(416, "InvalidRange", "The requested range is not satisfiable",
                       fmt::format("<RangeRequested>{}</RangeRequested><ActualObjectSize>{}"
                                   "</ActualObjectSize>",
                                   XmlEscape(*c.request.headers.Get("Range")), size));
      }
      count = std::min(range->suffix, size);
      first = size - count;
    } else {
      if (*range->first >= size) {
        return c.Error(416, "InvalidRange", "The requested range is not satisfiable",
                       fmt::format("<RangeRequested>{}</RangeRequested><ActualObjectSize>{}"
                                   "</ActualObjectSize>",
                                   XmlEscape(*c.request.headers.Get("Range")), size));
      }
      first = *range->first;
      uint64_t last = std::min(range->last.value_or(size - 1), size - 1);
      count = last - first + 1;
    }
  }
  http::Response r;
  ObjectInfo info = *head;
  if (!c.head) {
    auto opened = store.OpenObject(c.bucket, c.key);
    if (!opened.has_value()) return c.FromStatus(opened.error());
    info = std::move(opened->first);
    // The object may have been replaced since the Head: answer for what was read.
    if (info.size != size) return GetObject(c, store);
    UniqueFd fd = std::move(opened->second);
    if (count >= kSendFileFrom) {
      // Sent from the file by the HTTP server, never whole in memory; read ahead
      // here, on the blocking pool, so the reactor's sendfile finds it cached.
      ::posix_fadvise(fd.get(), static_cast<off_t>(first), static_cast<off_t>(count), POSIX_FADV_WILLNEED);
      r.file = std::make_shared<http::FileBody>(http::FileBody{std::move(fd), first, count});
    } else {
      r.body.resize(count);
      size_t got = 0;
      while (got < count) {
        ssize_t n = ::pread(fd.get(), r.body.data() + got, count - got, static_cast<off_t>(first + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return c.FromStatus(Internal(fmt::format("s3: reading {}/{} failed", c.bucket, c.key)));
        got += static_cast<size_t>(n);
      }
    }
  } else {
    r.head_content_length = count;
  }
  r.status = range ? 206 : 200;
  r.headers.Set("x-amz-request-id", c.request_id);
  r.headers.Set("x-amz-id-2", c.request_id);
  AddObjectHeaders(r, info, checksum_mode && !range);
  if (range) r.headers.Set("Content-Range", fmt::format("bytes {}-{}/{}", first, first + count - 1, size));
  return r;
}

http::Response DeleteObject(const Call& c, ObjectStore& store) {
  auto removed = store.Delete(c.bucket, c.key);
  if (!removed.has_value()) return c.FromStatus(removed.error());
  if (*removed) Notify(c, store, "ObjectRemoved:Delete", c.key, nullptr);
  return c.Empty(204);
}

constexpr std::string_view kMalformedXml =
    "The XML you provided was not well-formed or did not validate against our published schema";

// POST /bucket?delete: up to 1,000 keys; S3 requires an integrity header.
http::Response DeleteObjects(const Call& c, ObjectStore& store) {
  PutOptions integrity;
  std::string body;
  if (auto error = ReadBody(c, body, integrity)) return std::move(*error);
  if (!c.request.headers.Has("Content-MD5") && integrity.checksum_algorithm.empty()) {
    return c.Error(400, "InvalidRequest",
                   "Missing required header for this request: Content-MD5 OR x-amz-checksum-*");
  }
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8) ||
      std::string_view(doc.document_element().name()) != "Delete") {
    return c.Error(400, "MalformedXML", kMalformedXml);
  }
  pugi::xml_node root = doc.document_element();
  const bool quiet = std::string_view(root.child_value("Quiet")) == "true";
  std::vector<std::string> keys;
  for (pugi::xml_node o : root.children("Object")) {
    if (!o.child("Key")) return c.Error(400, "MalformedXML", kMalformedXml);
    keys.emplace_back(o.child_value("Key"));
  }
  if (keys.empty() || keys.size() > 1000) return c.Error(400, "MalformedXML", kMalformedXml);
  if (auto b = store.GetBucket(c.bucket); !b.has_value()) return c.FromStatus(b.error());
  std::string xml = fmt::format("<DeleteResult{}>", kXmlns);
  for (const auto& key : keys) {
    auto removed = store.Delete(c.bucket, key);
    if (!removed.has_value()) {
      xml += fmt::format("<Error><Key>{}</Key><Code>InternalError</Code><Message>{}</Message></Error>",
                         XmlEscape(key), XmlEscape(removed.error().message()));
      continue;
    }
    if (*removed) Notify(c, store, "ObjectRemoved:Delete", key, nullptr);
    if (!quiet) xml += fmt::format("<Deleted><Key>{}</Key></Deleted>", XmlEscape(key));
  }
  xml += "</DeleteResult>";
  return c.Xml(200, std::move(xml));
}

http::Response PutNotification(const Call& c, ObjectStore& store) {
  if (auto existing = store.GetNotification(c.bucket); !existing.has_value()) {
    return c.FromStatus(existing.error());
  }
  PutOptions unused;
  std::string body;
  if (auto error = ReadBody(c, body, unused)) return std::move(*error);
  NotificationError error;
  auto config = ParseNotificationXml(body, error);
  if (!config.has_value()) {
    std::string extra;
    if (!error.argument_name.empty()) {
      extra = fmt::format("<ArgumentName>{}</ArgumentName><ArgumentValue>{}</ArgumentValue>",
                          XmlEscape(error.argument_name), XmlEscape(error.argument_value));
    }
    return c.Error(400, error.code, error.message, std::move(extra));
  }
  if (!config->topics.empty() || config->eventbridge) {
    return c.NotImplemented("notifications to topics or EventBridge (functions and queues are served)");
  }
  // Every destination must exist and let S3 use it, as S3 checks.
  std::string extra;
  int failed = 0;
  for (const auto* list : {&config->functions, &config->queues}) {
    for (const auto& t : *list) {
      Status st = c.options.targets == nullptr ? Status(Code::kUnavailable, "this server delivers no notifications")
                  : list == &config->queues    ? c.options.targets->ValidateQueue(t.arn)
                                               : c.options.targets->ValidateFunction(t.arn);
      if (st.ok()) continue;
      ++failed;
      extra += fmt::format("<ArgumentName{0}>{1}</ArgumentName{0}><ArgumentValue{0}>{2}</ArgumentValue{0}>",
                           failed, XmlEscape(t.arn), XmlEscape(st.message()));
    }
  }
  if (failed > 0) {
    return c.Error(400, "InvalidArgument", "Unable to validate the following destination configurations",
                   std::move(extra));
  }
  Status st = store.SetNotification(c.bucket, EncodeNotificationConfig(*config));
  if (!st.ok()) return c.FromStatus(st);
  // S3 tells each queue it was configured with a test event.
  for (const auto& q : config->queues) {
    c.options.targets->SendToQueue(
        q.arn, fmt::format(R"({{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"{}","Bucket":"{}","RequestId":"{}","HostId":"{}"}})",
                           IsoUtcMillis(std::chrono::system_clock::now()), c.bucket, c.request_id, c.request_id),
        "");
  }
  return c.Empty(200);
}

http::Response GetNotification(const Call& c, ObjectStore& store) {
  auto text = store.GetNotification(c.bucket);
  if (!text.has_value()) return c.FromStatus(text.error());
  return c.Xml(200, NotificationXml(DecodeNotificationConfig(*text)));
}

// --- multipart uploads ---

http::Response NoSuchUpload(const Call& c) {
  return c.Error(404, "NoSuchUpload",
                 "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                 "aborted or completed.",
                 fmt::format("<UploadId>{}</UploadId>", XmlEscape(c.Query("uploadId").value_or(""))));
}

http::Response UploadError(const Call& c, const Status& st) {
  if (st.code() == Code::kNotFound && st.message().starts_with("upload ")) return NoSuchUpload(c);
  if (st.code() == Code::kInvalidArgument) {
    // "Code: message", as ObjectStore reports it.
    std::string m = st.message();
    size_t colon = m.find(": ");
    return c.Error(400, m.substr(0, colon), colon == std::string::npos ? m : m.substr(colon + 2));
  }
  return c.FromStatus(st);
}

http::Response CreateMultipartUpload(const Call& c, ObjectStore& store) {
  auto id = store.CreateUpload(c.bucket, c.key, OptionsFromHeaders(c.request.headers));
  if (!id.has_value()) return c.FromStatus(id.error());
  return c.Xml(200, fmt::format("<InitiateMultipartUploadResult{}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>"
                                "</InitiateMultipartUploadResult>",
                                kXmlns, XmlEscape(c.bucket), XmlEscape(c.key), *id));
}

http::Response UploadPart(const Call& c, ObjectStore& store) {
  auto number = c.Query("partNumber").value_or("");
  char* end = nullptr;
  long n = std::strtol(number.c_str(), &end, 10);
  if (number.empty() || *end != '\0' || n < 1 || n > 10000) {
    return c.Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
  }
  if (c.request.headers.Has("x-amz-copy-source")) return c.NotImplemented("UploadPartCopy");
  if (c.request.body_too_large) {
    return c.Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
  }
  PutOptions checks;
  std::string body;
  if (auto error = ReadBody(c, body, checks)) return std::move(*error);
  auto etag = store.PutPart(c.bucket, *c.Query("uploadId"), static_cast<int>(n), body);
  if (!etag.has_value()) return UploadError(c, etag.error());
  http::Response r = c.Empty(200);
  r.headers.Set("ETag", "\"" + *etag + "\"");
  if (!checks.checksum_algorithm.empty()) r.headers.Set("x-amz-checksum-" + AsciiLower(checks.checksum_algorithm), checks.checksum);
  return r;
}

http::Response CompleteMultipartUpload(const Call& c, ObjectStore& store) {
  pugi::xml_document doc;
  if (!doc.load_buffer(c.request.body.data(), c.request.body.size()) ||
      std::string_view(doc.document_element().name()) != "CompleteMultipartUpload") {
    return c.Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema");
  }
  std::vector<std::pair<int, std::string>> parts;
  for (pugi::xml_node p : doc.document_element().children("Part")) {
    std::string etag = p.child_value("ETag");
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    parts.emplace_back(std::atoi(p.child_value("PartNumber")), etag);
  }
  auto o = store.CompleteUpload(c.bucket, *c.Query("uploadId"), parts);
  if (!o.has_value()) return UploadError(c, o.error());
  Notify(c, store, "ObjectCreated:CompleteMultipartUpload", c.key, &*o);
  return c.Xml(200, fmt::format("<CompleteMultipartUploadResult{}><Location>http://{}/{}/{}</Location><Bucket>{}</Bucket>"
                                "<Key>{}</Key><ETag>&quot;{}&quot;</ETag></CompleteMultipartUploadResult>",
                                kXmlns, XmlEscape(std::string(c.request.headers.Get("Host").value_or("localhost"))),
                                XmlEscape(c.bucket), XmlEscape(c.key), XmlEscape(c.bucket), XmlEscape(c.key), o->etag));
}

http::Response AbortMultipartUpload(const Call& c, ObjectStore& store) {
  Status st = store.AbortUpload(c.bucket, *c.Query("uploadId"));
  if (!st.ok()) return UploadError(c, st);
  return c.Empty(204);
}

http::Response ListParts(const Call& c, ObjectStore& store) {
  auto parts = store.ListParts(c.bucket, *c.Query("uploadId"));
  if (!parts.has_value()) return UploadError(c, parts.error());
  std::string xml = fmt::format("<ListPartsResult{}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>"
                                "<StorageClass>STANDARD</StorageClass><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>",
                                kXmlns, XmlEscape(c.bucket), XmlEscape(c.key), XmlEscape(*c.Query("uploadId")));
  for (const auto& p : *parts) {
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>"
                       "<Size>{}</Size></Part>",
                       p.number, IsoUtcMillis(p.last_modified), p.etag, p.size);
  }
  xml += "</ListPartsResult>";
  return c.Xml(200, std::move(xml));
}

http::Response ListMultipartUploads(const Call& c, ObjectStore& store) {
  auto uploads = store.ListUploads(c.bucket);
  if (!uploads.has_value()) return c.FromStatus(uploads.error());
  std::string xml = fmt::format("<ListMultipartUploadsResult{}><Bucket>{}</Bucket><MaxUploads>1000</MaxUploads>"
                                "<IsTruncated>false</IsTruncated>",
                                kXmlns, XmlEscape(c.bucket));
  for (const auto& u : *uploads) {
    xml += fmt::format("<Upload><Key>{}</Key><UploadId>{}</UploadId><StorageClass>STANDARD</StorageClass>"
                       "<Initiated>{}</Initiated></Upload>",
                       XmlEscape(u.key), u.id, IsoUtcMillis(u.initiated));
  }
  xml += "</ListMultipartUploadsResult>";
  return c.Xml(200, std::move(xml));
}

// Sub-resources of buckets and objects that name an operation not served yet.
constexpr std::string_view kUnservedBucketQueries[] = {
    "acl", "policy", "cors", "lifecycle", "tagging", "versioning", "website",
    "logging", "encryption", "replication", "versions", "object-lock",
    "ownershipControls", "publicAccessBlock", "accelerate", "requestPayment", "analytics",
    "inventory", "metrics", "intelligent-tiering"};
constexpr std::string_view kUnservedObjectQueries[] = {
    "acl", "tagging", "retention", "legal-hold", "attributes", "torrent",
    "restore", "select"};

http::Response Dispatch(Call& c, ObjectStore& store) {
  const std::string& m = c.request.method;
  if (c.bucket.empty()) {
    if (m == "GET") return ListBuckets(c, store);
    return c.Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
  }
  if (!c.has_key) {
    if (c.HasQuery("notification")) {
      if (m == "PUT") return PutNotification(c, store);
      if (m == "GET") return GetNotification(c, store);
      return c.Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }
    if (c.HasQuery("uploads") && m == "GET") return ListMultipartUploads(c, store);
    if (c.HasQuery("delete")) {
      if (m == "POST") return DeleteObjects(c, store);
      return c.Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }
    for (std::string_view q : kUnservedBucketQueries) {
      if (c.HasQuery(q)) return c.NotImplemented(fmt::format("the bucket sub-resource ?{}", q));
    }
    if (m == "PUT") return CreateBucket(c, store);
    if (m == "HEAD") return HeadBucket(c, store);
    if (m == "DELETE") return DeleteBucket(c, store);
    if (m == "GET") {
      if (c.HasQuery("location")) {
        auto b = store.GetBucket(c.bucket);
        if (!b.has_value()) return c.FromStatus(b.error());
        return c.Xml(200, fmt::format("<LocationConstraint{}/>", kXmlns));
      }
      return ListObjects(c, store, c.Query("list-type").value_or("") == "2");
    }
    return c.Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
  }
  for (std::string_view q : kUnservedObjectQueries) {
    if (c.HasQuery(q)) return c.NotImplemented(fmt::format("the object sub-resource ?{}", q));
  }
  if (c.HasQuery("uploads") && m == "POST") return CreateMultipartUpload(c, store);
  if (c.HasQuery("uploadId")) {
    if (m == "PUT") return UploadPart(c, store);
    if (m == "POST") return CompleteMultipartUpload(c, store);
    if (m == "DELETE") return AbortMultipartUpload(c, store);
    if (m == "GET") return ListParts(c, store);
  }
  if (m == "PUT") {
    if (auto source = c.request.headers.Get("x-amz-copy-source")) {
      return CopyObject(c, store, *source);
    }
    return PutObject(c, store);
  }
  if (m == "GET" || m == "HEAD") return GetObject(c, store);
  if (m == "DELETE") return DeleteObject(c, store);
  return c.Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
}

}  // namespace

std::string VirtualHostBucket(std::string_view host) {
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == host.npos) {
    host = host.substr(0, colon);
  }
  std::string h = AsciiLower(host);
  constexpr std::string_view kSuffix = ".localhost";
  if (!h.ends_with(kSuffix)) return "";
  h.resize(h.size() - kSuffix.size());
  if (h.ends_with(".s3")) h.resize(h.size() - 3);
  if (h.empty() || h == "s3") return "";
  // Function URLs: <url-id>.lambda-url.localhost.
  if (h.ends_with(".lambda-url") || h == "lambda-url") return "";
  return h;
}

bool S3Api::Matches(const http::Request& request) {
  if (auto scope = http::ParseCredentialScope(request)) return scope->service == "s3";
  if (request.headers.Get("X-Nimbus-Service") == std::optional<std::string_view>("s3")) return true;
  return !VirtualHostBucket(request.headers.Get("Host").value_or("")).empty();
}

void S3Api::Handle(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request),
                                                                          std::move(responder));
  pool_.Submit([this, call] { call->second.Respond(HandleSync(call->first)); });
}

http::Response S3Api::HandleSync(const http::Request& request) {
  Call c(request, options_);
  // Set before anything can fail: HEAD errors carry only the status.
  c.head = request.method == "HEAD";
  c.query = http::ParseQuery(request.query());
  std::string_view path = request.path();
  std::string bucket = VirtualHostBucket(request.headers.Get("Host").value_or(""));
  if (path.empty() || path.front() != '/') {
    return c.Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  }
  path.remove_prefix(1);
  if (bucket.empty()) {
    size_t slash = path.find('/');
    auto name = http::PercentDecode(path.substr(0, slash));
    if (!name) return c.Error(400, "InvalidURI", "Couldn't parse the specified URI.");
    bucket = *name;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    c.has_key = slash != std::string_view::npos && !path.empty();
  } else {
    c.has_key = !path.empty();
  }
  auto key = http::PercentDecode(path);
  if (!key) return c.Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  c.bucket = std::move(bucket);
  c.key = std::move(*key);
  if (c.key.size() > 1024) {
    return c.Error(400, "KeyTooLongError", "Your key is too long");
  }
  // Writes that add data keep the disk's reserve for deletes (DeleteObjects is a POST).
  const bool adds_data = request.method == "PUT" || (request.method == "POST" && !c.HasQuery("delete"));
  if (options_.disk != nullptr && adds_data) {
    if (Status room = options_.disk->CheckRoomFor(request.body.size()); !room.ok()) {
      return c.Error(503, "ServiceUnavailable", room.message());
    }
  }
  return Dispatch(c, store_);
}

}  // namespace nimbus::s3
