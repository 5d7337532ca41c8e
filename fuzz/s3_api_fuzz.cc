// The S3 REST API (s3/s3_api.h) on any request: buckets (Create, Head, Delete,
// GetBucketLocation, ListObjects v1 and v2 with prefix, delimiter, max-keys,
// marker, start-after, continuation-token, encoding-type), objects (Put with
// aws-chunked bodies, Content-MD5 and flexible checksums, Get and Head with
// Range and conditional headers, Delete, DeleteObjects, CopyObject with
// x-amz-copy-source), multipart uploads (uploads, uploadId, partNumber, the
// CompleteMultipartUpload XML), notification configuration XML and what it
// delivers, path-style and virtual-host-style addressing, and the sub-resources
// answered NotImplemented (?tagging, ?acl...). Through S3Api::HandleSync over a
// real ObjectStore (api_fuzz.h says why not Handle()).
//
// Checked: a status in 200..599; every error but HEAD's (which carries only the
// status, as S3's) an XML document <Error> with a non-empty <Code>; every XML
// body well-formed once the control characters it echoes are masked (see
// CheckS3Response); every event document delivered to a function or a queue
// JSON that parses.
//
// Input: a request as text (fuzz::ParseRequest in api_fuzz.h): the line
// "<METHOD> <target>", header lines "<Name>: <value>", an empty line, the body.
// A request the server's HTTP parser would refuse is skipped. Host is
// "127.0.0.1:9000" (path-style) unless a header line gives another
// ("bkt.localhost:9000" addresses bucket bkt virtual-host style). "@upload"
// anywhere is replaced by the id of the seeded multipart upload (ids are
// random, so the fuzzer could not name it otherwise); in header values, "@md5"
// and "@crc32" by the body's Content-MD5 and x-amz-checksum-crc32, so that the
// integrity checks can pass and what follows them is reached.
//
// State: <scratch>/s3, an ObjectStore seeded with bucket "bkt" (objects "k",
// "dir/a", "dir/b", an upload of key "mp" with part 1, and a notification
// configuration sending each new object to function "fn" and each removal
// under dir/ to queue "q") and the empty bucket "empty". Inputs create
// buckets, objects and parts, so the store is removed and seeded again every
// kResetEvery inputs, and a body is cut to kMaxBody bytes: however long the
// run, the store holds what at most kResetEvery inputs wrote (a few MB at
// libFuzzer's default -max_len of 4 KB, 32 MB at worst), and every object stays
// below the 64 KiB from which GetObject hands the file to the server (r.file)
// instead of reading it (parts of a multipart upload but the last must be
// 5 MiB, so a completed upload is one part). A failure that needs state an
// earlier input left may not replay on its own: replay the grown corpus
// (build-fuzz/fuzz-work/s3_api/corpus).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/encoding.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "s3/object_store.h"
#include "s3/payload.h"
#include "s3/s3_api.h"

namespace {

namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace s3 = nimbus::s3;

constexpr int kResetEvery = 1000;
constexpr size_t kMaxBody = 32 * 1024;
constexpr std::string_view kFunction = "arn:aws:lambda:us-east-1:000000000000:function:fn";
constexpr std::string_view kQueue = "arn:aws:sqs:us-east-1:000000000000:q";

// Accepts function and queue ARNs (as the server's targets would when the
// function's or queue's policy allows S3) and checks each event S3 sends.
class CheckingTargets final : public s3::EventTargets {
 public:
  nimbus::Status ValidateFunction(const std::string& arn) override {
    if (arn.find(":function:") != std::string::npos) return nimbus::Status::Ok();
    return nimbus::Status(nimbus::Code::kNotFound, "no such function");
  }
  nimbus::Status ValidateQueue(const std::string& arn) override {
    if (arn.find(":sqs:") != std::string::npos) return nimbus::Status::Ok();
    return nimbus::Status(nimbus::Code::kNotFound, "no such queue");
  }
  void InvokeAsync(const std::string&, std::string event, std::string) override { Check(event); }
  void SendToQueue(const std::string&, std::string message, std::string) override {
    Check(message);
  }

 private:
  static void Check(const std::string& document) {
    boost::system::error_code ec;
    (void)boost::json::parse(document, ec);
    NIMBUS_FUZZ_CHECK(!ec, "an event S3 delivers is JSON that parses");
  }
};

// Replaces "@md5" and "@crc32" in header values with the body's digests.
void FillDigests(http::Request& r) {
  bool any = false;
  for (const auto& [name, value] : r.headers.entries()) any |= value.find('@') != std::string::npos;
  if (!any) return;
  nimbus::Hasher md5(nimbus::DigestAlgorithm::kMd5);
  md5.Update(r.body);
  const std::string content_md5 = nimbus::Base64Encode(md5.Finish());
  const std::string crc32 = s3::FlexibleChecksum("CRC32", r.body).value_or("");
  http::Headers filled;
  for (auto [name, value] : r.headers.entries()) {
    fuzz::ReplaceAll(value, "@md5", content_md5);
    fuzz::ReplaceAll(value, "@crc32", crc32);
    filled.Add(std::move(name), std::move(value));
  }
  r.headers = std::move(filled);
}

// An XML body parses; an error (but HEAD's, which has no body) is S3's
// <Error><Code>...</Code>...</Error>.
void CheckS3Response(const http::Request& request, const http::Response& r) {
#ifdef NIMBUS_FUZZ_DEBUG_PRINT
  std::fprintf(stderr, "RESPONSE %d %.300s\n", r.status, r.body.c_str());
#endif
  NIMBUS_FUZZ_CHECK(r.status >= 200 && r.status <= 599, "the status is 200..599");
  const bool error = r.status >= 400;
  if (request.method == "HEAD") {
    NIMBUS_FUZZ_CHECK(r.body.empty(), "a HEAD response has no body");
    return;
  }
  std::string_view type = r.headers.Get("Content-Type").value_or("");
  if (error) NIMBUS_FUZZ_CHECK(type == "application/xml", "an error is an XML document");
  // An object's bytes (GetObject: it has Accept-Ranges) are whatever was put,
  // under the Content-Type it was put with.
  if (type != "application/xml" || r.headers.Has("Accept-Ranges") || r.file) return;
  // S3 echoes keys, prefixes and markers as they were given, and XML 1.0 can
  // carry no C0 control character but tab, LF and CR, not even as a character
  // reference: a client that needs them asks for encoding-type=url, as on AWS.
  // They are masked here so that the check is of the escaping and structure.
  std::string body = r.body;
  for (char& c : body) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') c = '?';
  }
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size());
  NIMBUS_FUZZ_CHECK(parsed, "an XML body is well-formed");
  if (error) {
    NIMBUS_FUZZ_CHECK(std::string_view(doc.document_element().name()) == "Error",
                      "an error document's root is <Error>");
    NIMBUS_FUZZ_CHECK(*doc.document_element().child_value("Code") != '\0',
                      "an error document has a <Code>");
  }
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("s3_api") / "s3") { Reset(); }

  http::Response Handle(const http::Request& r) { return api_->HandleSync(r); }
  const std::string& upload() const { return upload_; }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    api_.reset();
    store_.reset();
    fuzz::EmptyDir(dir_);
    auto s = s3::ObjectStore::Open(dir_);
    NIMBUS_FUZZ_CHECK(s.has_value(), "opening the object store");
    store_ = std::move(*s);
    api_ = std::make_unique<s3::S3Api>(*store_, pool_,
                                       s3::S3ApiOptions{"us-east-1", &targets_, nullptr});
    Seed("PUT", "/bkt", "");
    Seed("PUT", "/empty", "");
    Seed("PUT", "/bkt?notification",
         "<NotificationConfiguration><CloudFunctionConfiguration><Id>f</Id><CloudFunction>" +
             std::string(kFunction) +
             "</CloudFunction><Event>s3:ObjectCreated:*</Event>"
             "</CloudFunctionConfiguration><QueueConfiguration><Id>q</Id><Queue>" +
             std::string(kQueue) +
             "</Queue><Event>s3:ObjectRemoved:*</Event><Filter><S3Key><FilterRule><Name>prefix"
             "</Name><Value>dir/</Value></FilterRule></S3Key></Filter></QueueConfiguration>"
             "</NotificationConfiguration>");
    Seed("PUT", "/bkt/k", "0123456789");
    Seed("PUT", "/bkt/dir/a", "a");
    Seed("PUT", "/bkt/dir/b", "b");
    http::Response created = Seed("POST", "/bkt/mp?uploads", "");
    const size_t at = created.body.find("<UploadId>") + 10;
    upload_ = created.body.substr(at, created.body.find("</UploadId>") - at);
    Seed("PUT", "/bkt/mp?partNumber=1&uploadId=" + upload_, "part one");
  }

  http::Response Seed(std::string method, std::string target, std::string body) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.Set("Host", "127.0.0.1:9000");
    r.body = std::move(body);
    http::Response response = api_->HandleSync(r);
    NIMBUS_FUZZ_CHECK(response.status == 200, response.body.c_str());
    return response;
  }

  const std::filesystem::path dir_;
  // Unused by HandleSync; S3Api's constructor takes it.
  nimbus::BlockingPool pool_{"s3-fuzz", 1};
  CheckingTargets targets_;
  std::unique_ptr<s3::ObjectStore> store_;
  std::unique_ptr<s3::S3Api> api_;
  std::string upload_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  std::string text(fuzz::AsText(data, size));
  fuzz::ReplaceAll(text, "@upload", harness.upload());
  std::optional<http::Request> request = fuzz::ParseRequest(text, "127.0.0.1:9000", kMaxBody);
  if (!request) return 0;
  FillDigests(*request);
  CheckS3Response(*request, harness.Handle(*request));
  harness.MaybeReset();
  return 0;
}
