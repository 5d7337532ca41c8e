#include "s3/s3_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace nimbus::s3 {
namespace {

TEST(VirtualHostBucketTest, TakesTheBucketFromALocalhostSubdomain) {
  EXPECT_EQ(VirtualHostBucket("photos.localhost:9000"), "photos");
  EXPECT_EQ(VirtualHostBucket("my.dotted.bucket.localhost"), "my.dotted.bucket");
  EXPECT_EQ(VirtualHostBucket("photos.s3.localhost:1"), "photos");
  EXPECT_EQ(VirtualHostBucket("localhost:9000"), "");
  EXPECT_EQ(VirtualHostBucket("127.0.0.1:9000"), "");
  EXPECT_EQ(VirtualHostBucket("abc.lambda-url.localhost:9000"), "");
}

// Records what the API would deliver; every destination is valid.
class RecordingTargets final : public EventTargets {
 public:
  struct Delivery {
    std::string arn, event, trace_header;
  };
  Status ValidateFunction(const std::string&) override { return Status::Ok(); }
  Status ValidateQueue(const std::string&) override { return Status::Ok(); }
  void InvokeAsync(const std::string& function_arn, std::string event, std::string trace_header) override {
    invoked.push_back({function_arn, std::move(event), std::move(trace_header)});
  }
  void SendToQueue(const std::string& queue_arn, std::string message, std::string trace_header) override {
    sent.push_back({queue_arn, std::move(message), std::move(trace_header)});
  }
  std::vector<Delivery> invoked, sent;
};

class S3ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nimbus-s3api-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    root_ = dir;
    auto s = ObjectStore::Open(root_);
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
    api_ = std::make_unique<S3Api>(*store_, pool_);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  http::Response Call(std::string method, std::string target, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.headers.Set("Host", "127.0.0.1:9000");
    for (auto& [k, v] : headers) r.headers.Set(k, v);
    return api_->HandleSync(r);
  }

  std::filesystem::path root_;
  BlockingPool pool_{"s3test", 1};
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<S3Api> api_;
};

TEST_F(S3ApiTest, ErrorsAreS3sXmlDocumentsWithItsCodes) {
  auto r = Call("GET", "/missing-bucket/key");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("<Code>NoSuchBucket</Code>"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("<BucketName>missing-bucket</BucketName>"), std::string::npos);
  EXPECT_EQ(Call("PUT", "/Bad_Name").status, 400);
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  r = Call("GET", "/bucket/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("<Code>NoSuchKey</Code>"), std::string::npos) << r.body;
  r = Call("HEAD", "/bucket/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.body.empty()) << "HEAD errors have no body";
  r = Call("GET", "/bucket?tagging");
  EXPECT_EQ(r.status, 501);
  EXPECT_NE(r.body.find("?tagging"), std::string::npos) << r.body;
}

TEST_F(S3ApiTest, AHeadRefusedBeforeItIsRoutedStillCarriesOnlyTheStatus) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  for (const std::string& target : std::vector<std::string>{
           "bucket/k", "/bucket%ZZ/k", "/bucket/k%G1", "/bucket/" + std::string(1025, 'k')}) {
    http::Response r = Call("HEAD", target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_TRUE(r.body.empty()) << target << ": " << r.body;
    EXPECT_NE(Call("GET", target).body.find("<Error><Code>"), std::string::npos) << target;
  }
}

TEST_F(S3ApiTest, RecreatingAnOwnedBucketIsOkInUsEast1AndAConflictElsewhere) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  EXPECT_EQ(Call("PUT", "/bucket").status, 200) << "us-east-1";
  S3Api eu(*store_, pool_, S3ApiOptions{"eu-west-1", nullptr});
  http::Request r;
  r.method = "PUT";
  r.target = "/bucket";
  r.headers.Set("Host", "127.0.0.1:9000");
  http::Response again = eu.HandleSync(r);
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("<Code>BucketAlreadyOwnedByYou</Code>"), std::string::npos) << again.body;
}

TEST_F(S3ApiTest, PutVerifiesChecksumsAndDecodesAwsChunkedBodies) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  auto r = Call("PUT", "/bucket/k", "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
                {{"Content-Encoding", "aws-chunked"},
                 {"x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                 {"x-amz-decoded-content-length", "11"},
                 {"x-amz-trailer", "x-amz-checksum-crc32"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.Get("ETag").value_or(""), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
  EXPECT_EQ(r.headers.Get("x-amz-checksum-crc32").value_or(""), "DUoRhQ==");
  r = Call("GET", "/bucket/k");
  EXPECT_EQ(r.body, "hello world");
  EXPECT_FALSE(r.headers.Get("Content-Encoding").has_value()) << "aws-chunked is the transfer's";
  r = Call("PUT", "/bucket/k", "other", {{"x-amz-checksum-crc32", "DUoRhQ=="}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<Code>BadDigest</Code>"), std::string::npos) << r.body;
  EXPECT_EQ(Call("GET", "/bucket/k").body, "hello world") << "a rejected put changes nothing";
  r = Call("PUT", "/bucket/k", "other", {{"Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA=="}});
  EXPECT_NE(r.body.find("<Code>BadDigest</Code>"), std::string::npos) << r.body;
}

TEST_F(S3ApiTest, RangesAndHeadReportTheObjectsSize) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  ASSERT_EQ(Call("PUT", "/bucket/k", "0123456789").status, 200);
  auto r = Call("GET", "/bucket/k", "", {{"Range", "bytes=2-4"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_EQ(r.headers.Get("Content-Range").value_or(""), "bytes 2-4/10");
  r = Call("GET", "/bucket/k", "", {{"Range", "bytes=-3"}});
  EXPECT_EQ(r.body, "789");
  r = Call("GET", "/bucket/k", "", {{"Range", "bytes=10-"}});
  EXPECT_EQ(r.status, 416);
  r = Call("HEAD", "/bucket/k");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.head_content_length, 10u);
}

TEST_F(S3ApiTest, ConditionalWritesAndReadsFollowS3) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  EXPECT_EQ(Call("PUT", "/bucket/k", "one", {{"If-None-Match", "*"}}).status, 200);
  auto again = Call("PUT", "/bucket/k", "two", {{"If-None-Match", "*"}});
  EXPECT_EQ(again.status, 412);
  EXPECT_NE(again.body.find("<Condition>If-None-Match</Condition>"), std::string::npos) << again.body;
  EXPECT_EQ(Call("GET", "/bucket/k").body, "one") << "the refused write changed nothing";
  const std::string etag = "\"f97c5d29941bfb1b2fdab0874906ab82\"";  // MD5 of "one"
  EXPECT_EQ(Call("PUT", "/bucket/k", "two", {{"If-Match", "\"0000\""}}).status, 412);
  EXPECT_EQ(Call("PUT", "/bucket/k", "two", {{"If-Match", etag}}).status, 200);
  EXPECT_EQ(Call("PUT", "/bucket/nope", "x", {{"If-Match", etag}}).status, 404);
  const std::string etag2 = "\"b8a9f715dbb64fd5c56e7783c6820a61\"";  // MD5 of "two"
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-None-Match", etag2}}).status, 304);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-None-Match", etag}}).status, 200);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Match", etag}}).status, 412);
  EXPECT_EQ(Call("HEAD", "/bucket/k", "", {{"If-Match", etag2}}).status, 200);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}}).status, 304);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Unmodified-Since", "Thu, 01 Jan 2015 00:00:00 GMT"}}).status, 412);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Modified-Since", "not a date"}}).status, 200) << "ignored";
}

TEST_F(S3ApiTest, ConditionalDatesOutsideTheClocksNanosecondRangeStillCompare) {
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  ASSERT_EQ(Call("PUT", "/bucket/k", "one").status, 200);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Unmodified-Since", "Thu, 01 Jan 5 00:00:00 GMT"}}).status, 412);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"}}).status, 304);
  EXPECT_EQ(Call("GET", "/bucket/k", "", {{"If-Modified-Since", "Mon, 01 Jan 1600 00:00:00 GMT"}}).status, 200);
}

TEST_F(S3ApiTest, NotificationsContinueTheTraceOfTheRequestThatChangedTheObject) {
  RecordingTargets targets;
  api_ = std::make_unique<S3Api>(*store_, pool_, S3ApiOptions{"us-east-1", &targets});
  ASSERT_EQ(Call("PUT", "/bucket").status, 200);
  constexpr char kFunction[] = "arn:aws:lambda:us-east-1:000000000000:function:audit";
  constexpr char kQueue[] = "arn:aws:sqs:us-east-1:000000000000:audit";
  auto r = Call("PUT", "/bucket?notification",
                std::string("<NotificationConfiguration><CloudFunctionConfiguration><CloudFunction>") + kFunction +
                    "</CloudFunction><Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:*</Event>"
                    "<Filter><S3Key><FilterRule><Name>prefix</Name><Value>f/</Value></FilterRule></S3Key></Filter>"
                    "</CloudFunctionConfiguration><QueueConfiguration><Queue>" + kQueue +
                    "</Queue><Event>s3:ObjectCreated:Put</Event>"
                    "<Filter><S3Key><FilterRule><Name>prefix</Name><Value>q/</Value></FilterRule></S3Key></Filter>"
                    "</QueueConfiguration></NotificationConfiguration>");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(targets.sent.size(), 1u) << "the queue's test event";
  EXPECT_EQ(targets.sent[0].trace_header, "") << "a test event is in no trace";
  targets.sent.clear();

  const std::string xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  ASSERT_EQ(Call("PUT", "/bucket/f/a", "one", {{"X-Amzn-Trace-Id", xray}}).status, 200);
  ASSERT_EQ(targets.invoked.size(), 1u);
  EXPECT_EQ(targets.invoked[0].arn, kFunction);
  EXPECT_NE(targets.invoked[0].event.find(R"("eventName":"ObjectCreated:Put")"), std::string::npos);
  EXPECT_EQ(targets.invoked[0].trace_header, xray);
  ASSERT_EQ(Call("PUT", "/bucket/q/a", "one", {{"X-Amzn-Trace-Id", xray}}).status, 200);
  ASSERT_EQ(targets.sent.size(), 1u);
  EXPECT_EQ(targets.sent[0].arn, kQueue);
  EXPECT_EQ(targets.sent[0].trace_header, xray) << "a queue's message keeps it as its AWSTraceHeader";
  ASSERT_EQ(targets.invoked.size(), 1u);

  // A W3C traceparent, in X-Ray's form.
  ASSERT_EQ(Call("PUT", "/bucket/f/b", "", {{"x-amz-copy-source", "/bucket/f/a"},
                                          {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
                .status,
            200);
  ASSERT_EQ(targets.invoked.size(), 2u);
  EXPECT_NE(targets.invoked[1].event.find(R"("eventName":"ObjectCreated:Copy")"), std::string::npos);
  EXPECT_EQ(targets.invoked[1].trace_header,
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");

  // Multipart: the trace of the request that completes the upload.
  r = Call("POST", "/bucket/f/big?uploads");
  ASSERT_EQ(r.status, 200) << r.body;
  const size_t at = r.body.find("<UploadId>") + 10;
  const std::string upload = r.body.substr(at, r.body.find("</UploadId>") - at);
  r = Call("PUT", "/bucket/f/big?partNumber=1&uploadId=" + upload, "part", {{"X-Amzn-Trace-Id", "Root=1-00000001-000000000000000000000001"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string etag(r.headers.Get("ETag").value_or(""));
  const std::string completer = "Root=1-00000002-000000000000000000000002;Parent=0000000000000002;Sampled=0";
  r = Call("POST", "/bucket/f/big?uploadId=" + upload,
           "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etag + "</ETag></Part></CompleteMultipartUpload>",
           {{"X-Amzn-Trace-Id", completer}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(targets.invoked.size(), 3u);
  EXPECT_NE(targets.invoked[2].event.find("CompleteMultipartUpload"), std::string::npos);
  EXPECT_EQ(targets.invoked[2].trace_header, completer);

  // Without a trace header the invocation starts a new trace.
  ASSERT_EQ(Call("DELETE", "/bucket/f/a").status, 204);
  ASSERT_EQ(targets.invoked.size(), 4u);
  EXPECT_NE(targets.invoked[3].event.find(R"("eventName":"ObjectRemoved:Delete")"), std::string::npos);
  EXPECT_EQ(targets.invoked[3].trace_header, "");
  ASSERT_EQ(Call("DELETE", "/bucket/f/b", "", {{"X-Amzn-Trace-Id", xray}}).status, 204);
  ASSERT_EQ(targets.invoked.size(), 5u);
  EXPECT_EQ(targets.invoked[4].trace_header, xray);
  api_.reset();
}

}  // namespace
}  // namespace nimbus::s3
