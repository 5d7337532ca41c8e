// The whole platform in-process with request verification on (issue #8): a
// real Server on port 0 with a fake sandbox factory and a key file written by
// the test, driven over real HTTP with requests signed by http::SignRequest.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <thread>

#include "base/encoding.h"
#include "http/sigv4.h"
#include "http/testing/raw_client.h"
#include "invoke/testing/fake_sandbox.h"
#include "server/server.h"
#include "storage/testing/temp_dir.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::server {
namespace {

using namespace std::chrono_literals;

const http::AwsCredentials kAdmin{"AKIAAUTHTESTADMIN000",
                                  "admin/secret+0123456789abcdefghijklmnopq", ""};
const http::AwsCredentials kInvoker{"AKIAAUTHTESTINVOKE00",
                                    "invoke/secret+0123456789abcdefghijklmnop", ""};

std::string Header(const std::string& response, const std::string& name) {
  std::smatch m;
  if (std::regex_search(response, m,
                        std::regex("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase))) {
    return m[1];
  }
  return "";
}

std::string Body(const std::string& response) {
  size_t h = response.find("\r\n\r\n");
  return h == std::string::npos ? "" : response.substr(h + 4);
}

int Status(const std::string& response) {
  if (response.size() < 12 || !response.starts_with("HTTP/1.1 ")) return 0;
  return std::stoi(response.substr(9, 3));
}

void WriteKeys(const std::filesystem::path& data_dir) {
  std::filesystem::create_directories(data_dir);
  const auto file = data_dir / "credentials.json";
  std::ofstream(file) << fmt::format(
      R"({{"AccessKeys":[{{"AccessKeyId":"{}","SecretAccessKey":"{}","Policy":"admin","Created":1}},)"
      R"({{"AccessKeyId":"{}","SecretAccessKey":"{}","Policy":"invoke","Created":2}}]}})",
      kAdmin.access_key_id, kAdmin.secret_access_key, kInvoker.access_key_id,
      kInvoker.secret_access_key);
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

class ServerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteKeys(dir_.path() / "data");
    auto s = Server::Start(*clock_, sandboxes_, Options());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    server_ = std::move(*s);
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.listen_port = 0;
    o.data_dir = dir_.path() / "data";
    o.runtime_dir = dir_.path() / "runtimes";
    o.shutdown_grace = 2s;
    o.stem_cells_per_runtime = 0;
    o.auth_mode = auth::Mode::kVerify;
    return o;
  }

  static http::Request Make(std::string method, std::string target, std::string body = "",
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.Set("Host", "127.0.0.1");
    for (auto& [name, value] : headers) r.headers.Set(name, value);
    r.body = std::move(body);
    return r;
  }

  http::Request Signed(http::Request r, const http::AwsCredentials& creds, std::string service,
                       std::optional<std::string> payload_hash = std::nullopt) const {
    http::SigningParams p;
    p.credentials = creds;
    p.region = "us-east-1";
    p.service = std::move(service);
    p.time = clock_->Now();
    p.payload_hash = std::move(payload_hash);
    EXPECT_TRUE(http::SignRequest(r, p).ok());
    return r;
  }

  // Sends `r` as it is (plus Content-Length) and reads the response.
  std::string Send(const http::Request& r) {
    http::RawClient c(server_->port());
    std::string wire = r.method + " " + r.target + " HTTP/1.1\r\n";
    for (const auto& [name, value] : r.headers.entries()) wire += name + ": " + value + "\r\n";
    wire += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    c.Send(wire);
    return c.ReadResponse();
  }

  std::string SendSigned(http::Request r, const http::AwsCredentials& creds, std::string service) {
    return Send(Signed(std::move(r), creds, std::move(service)));
  }

  std::string CreateFunction(const std::string& name) {
    std::string zip = storage::testing::ZipBuilder()
                          .File("app.py", "def handler(event, context):\n    return event\n")
                          .Build();
    return SendSigned(
        Make(
            "POST", "/2015-03-31/functions",
            R"({"FunctionName":")" + name +
                R"(","Runtime":"python3.11","Handler":"app.handler","Role":"arn:aws:iam::123456789012:role/r","Code":{"ZipFile":")" +
                Base64Encode(zip) + R"("}})",
            {{"Content-Type", "application/json"}}),
        kAdmin, "lambda");
  }

  std::shared_ptr<invoke::FakeSandboxControl> WaitForLaunch(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      auto l = sandboxes_.launched();
      if (l.size() >= n) return l[n - 1];
      std::this_thread::sleep_for(1ms);
    }
    ADD_FAILURE() << "no sandbox launch #" << n;
    return nullptr;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<Clock> clock_ = NewRealClock();
  invoke::FakeSandboxFactory sandboxes_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerAuthTest, ASignedRequestIsServed) {
  std::string r = SendSigned(Make("GET", "/2015-03-31/functions/"), kAdmin, "lambda");
  EXPECT_EQ(Status(r), 200) << r;
  EXPECT_NE(Body(r).find(R"("Functions":[])"), std::string::npos) << r;
  r = SendSigned(Make("GET", "/"), kAdmin, "s3");
  EXPECT_EQ(Status(r), 200) << r;
  EXPECT_NE(Body(r).find("<ListAllMyBucketsResult"), std::string::npos) << r;
  r = SendSigned(Make("POST", "/", "{}",
                      {{"X-Amz-Target", "DynamoDB_20120810.ListTables"},
                       {"Content-Type", "application/x-amz-json-1.0"}}),
                 kAdmin, "dynamodb");
  EXPECT_EQ(Status(r), 200) << r;
}

TEST_F(ServerAuthTest, AnUnsignedLambdaRequestIsRefusedInLambdasJson) {
  std::string r = Send(Make("GET", "/2015-03-31/functions/"));
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "MissingAuthenticationToken");
  EXPECT_FALSE(Header(r, "x-amzn-RequestId").empty());
  EXPECT_EQ(Body(r),
            R"({"__type":"MissingAuthenticationToken","message":"Missing Authentication Token"})");
  // Nothing was created by an unsigned CreateFunction.
  http::Request create = Make("POST", "/2015-03-31/functions", R"({"FunctionName":"sneaky"})",
                              {{"Content-Type", "application/json"}});
  EXPECT_EQ(Status(Send(create)), 403);
  std::string get = SendSigned(Make("GET", "/2015-03-31/functions/sneaky"), kAdmin, "lambda");
  EXPECT_EQ(Status(get), 404) << get;
}

TEST_F(ServerAuthTest, AWronglySignedLambdaRequestIsRefusedWithWhatWasExpected) {
  http::AwsCredentials wrong = kAdmin;
  wrong.secret_access_key[0] = 'X';
  std::string r = SendSigned(Make("GET", "/2015-03-31/functions/"), wrong, "lambda");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "InvalidSignatureException");
  EXPECT_NE(Body(r).find("The Canonical String for this request should have been"),
            std::string::npos)
      << r;
  EXPECT_EQ(Body(r).find(kAdmin.secret_access_key), std::string::npos);

  http::AwsCredentials unknown{"AKIANOSUCHKEY0000000", kAdmin.secret_access_key, ""};
  r = SendSigned(Make("GET", "/2015-03-31/functions/"), unknown, "lambda");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "UnrecognizedClientException");
}

TEST_F(ServerAuthTest, AnUnsignedS3RequestIsRefusedInS3sXml) {
  // Unsigned, a request is S3's only by its virtual host: <bucket>.s3.localhost.
  http::Request create = Make("PUT", "/");
  create.headers.Set("Host", "unsigned-bucket.s3.localhost");
  std::string r = Send(create);
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "Content-Type"), "application/xml");
  EXPECT_FALSE(Header(r, "x-amz-request-id").empty());
  EXPECT_TRUE(
      std::regex_search(Body(r), std::regex("^<\\?xml version=\"1.0\" encoding=\"UTF-8\"\\?>\n"
                                            "<Error><Code>AccessDenied</Code><Message>Access Denied"
                                            "</Message><RequestId>[^<]+</RequestId></Error>$")))
      << r;
  // No bucket came of it.
  std::string head = SendSigned(Make("HEAD", "/unsigned-bucket"), kAdmin, "s3");
  EXPECT_EQ(Status(head), 404) << head;

  http::AwsCredentials wrong = kAdmin;
  wrong.secret_access_key[0] = 'X';
  r = SendSigned(Make("GET", "/"), wrong, "s3");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_NE(Body(r).find("<Code>SignatureDoesNotMatch</Code>"), std::string::npos) << r;
  EXPECT_NE(Body(r).find("<StringToSign>AWS4-HMAC-SHA256\n"), std::string::npos) << r;
  EXPECT_NE(Body(r).find("<AWSAccessKeyId>" + kAdmin.access_key_id + "</AWSAccessKeyId>"),
            std::string::npos)
      << r;
  EXPECT_EQ(Body(r).find(kAdmin.secret_access_key), std::string::npos);
}

TEST_F(ServerAuthTest, AWronglySignedSqsRequestIsRefusedInTheProtocolItWasSentIn) {
  http::AwsCredentials wrong = kAdmin;
  wrong.secret_access_key[0] = 'X';
  // The query protocol: XML.
  std::string r = SendSigned(Make("POST", "/", "Action=CreateQueue&QueueName=q1&Version=2012-11-05",
                                  {{"Content-Type", "application/x-www-form-urlencoded"}}),
                             wrong, "sqs");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "Content-Type"), "text/xml");
  EXPECT_TRUE(std::regex_search(
      Body(r),
      std::regex("<ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error>"
                 "<Type>Sender</Type><Code>InvalidSignatureException</Code><Message>")))
      << r;
  // The JSON protocol: __type, x-amzn-ErrorType and the query-compatible code.
  r = SendSigned(Make("POST", "/", R"({"QueueName":"q2"})",
                      {{"X-Amz-Target", "AmazonSQS.CreateQueue"},
                       {"Content-Type", "application/x-amz-json-1.0"}}),
                 wrong, "sqs");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "InvalidSignatureException");
  EXPECT_EQ(Header(r, "x-amzn-query-error"), "InvalidSignatureException;Sender");
  EXPECT_EQ(Header(r, "Content-Type"), "application/x-amz-json-1.0");
  EXPECT_NE(Body(r).find(R"("__type":"InvalidSignatureException")"), std::string::npos) << r;
  // Unsigned JSON: the target names SQS.
  r = Send(Make("POST", "/", "{}", {{"X-Amz-Target", "AmazonSQS.ListQueues"}}));
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "MissingAuthenticationToken");
  // Neither queue exists.
  r = SendSigned(Make("POST", "/", "{}",
                      {{"X-Amz-Target", "AmazonSQS.ListQueues"},
                       {"Content-Type", "application/x-amz-json-1.0"}}),
                 kAdmin, "sqs");
  EXPECT_EQ(Status(r), 200) << r;
  EXPECT_EQ(Body(r).find("q1"), std::string::npos) << r;
  EXPECT_EQ(Body(r).find("q2"), std::string::npos) << r;
}

TEST_F(ServerAuthTest, AnInvokeOnlyKeyMayInvokeButNothingElse) {
  ASSERT_EQ(Status(CreateFunction("target")), 201);
  std::string r = SendSigned(Make("GET", "/2015-03-31/functions/"), kInvoker, "lambda");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "AccessDeniedException");
  EXPECT_NE(Body(r).find("invoke-only"), std::string::npos) << r;
  r = SendSigned(Make("GET", "/2015-03-31/functions/target"), kInvoker, "lambda");
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "AccessDeniedException") << r;
  r = SendSigned(Make("DELETE", "/2015-03-31/functions/target"), kInvoker, "lambda");
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "AccessDeniedException") << r;
  r = SendSigned(Make("GET", "/"), kInvoker, "s3");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_NE(Body(r).find("<Code>AccessDenied</Code>"), std::string::npos) << r;
  r = SendSigned(Make("POST", "/", "Action=ListQueues&Version=2012-11-05",
                      {{"Content-Type", "application/x-www-form-urlencoded"}}),
                 kInvoker, "sqs");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_NE(Body(r).find("<Code>AccessDenied</Code>"), std::string::npos) << r;

  // Invoking is allowed: an unknown function is not found (not denied), and an
  // event invoke of a real one is accepted.
  r = SendSigned(Make("POST", "/2015-03-31/functions/ghost/invocations", "{}"), kInvoker, "lambda");
  EXPECT_EQ(Status(r), 404) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "ResourceNotFoundException");
  r = SendSigned(Make("POST", "/2015-03-31/functions/target/invocations", R"({"n":1})",
                      {{"X-Amz-Invocation-Type", "Event"}}),
                 kInvoker, "lambda");
  EXPECT_EQ(Status(r), 202) << r;
  r = SendSigned(Make("POST", "/2014-11-13/functions/target/invoke-async/", R"({"n":2})"), kInvoker,
                 "lambda");
  EXPECT_EQ(Status(r), 202) << r;
  // Still there: the invoke-only key deleted nothing.
  EXPECT_EQ(Status(SendSigned(Make("GET", "/2015-03-31/functions/target"), kAdmin, "lambda")), 200);
}

TEST_F(ServerAuthTest, FunctionsGetSessionCredentialsThatTheServerAccepts) {
  ASSERT_EQ(Status(CreateFunction("creds")), 201);
  std::string r = SendSigned(Make("POST", "/2015-03-31/functions/creds/invocations", "{}",
                                  {{"X-Amz-Invocation-Type", "Event"}}),
                             kAdmin, "lambda");
  ASSERT_EQ(Status(r), 202) << r;
  auto sb = WaitForLaunch(1);
  ASSERT_TRUE(sb);
  auto env = [&](std::string_view name) {
    for (const auto& e : sb->spec.env) {
      if (e.starts_with(std::string(name) + "=")) return e.substr(name.size() + 1);
    }
    return std::string();
  };
  const http::AwsCredentials fn{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
                                env("AWS_SESSION_TOKEN")};
  EXPECT_TRUE(std::regex_match(fn.access_key_id, std::regex("ASIA[A-Z2-7]{16}")))
      << fn.access_key_id;
  EXPECT_EQ(fn.secret_access_key.size(), 40u);
  EXPECT_FALSE(fn.session_token.empty());

  r = SendSigned(Make("GET", "/2015-03-31/functions/"), fn, "lambda");
  EXPECT_EQ(Status(r), 200) << r;
  EXPECT_NE(Body(r).find(R"("FunctionName":"creds")"), std::string::npos) << r;
  r = SendSigned(Make("PUT", "/from-a-function"), fn, "s3");
  EXPECT_EQ(Status(r), 200) << r;

  http::AwsCredentials no_token{fn.access_key_id, fn.secret_access_key, ""};
  r = SendSigned(Make("GET", "/2015-03-31/functions/"), no_token, "lambda");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "UnrecognizedClientException");
  http::AwsCredentials wrong_secret = fn;
  wrong_secret.secret_access_key[0] = wrong_secret.secret_access_key[0] == 'A' ? 'B' : 'A';
  r = SendSigned(Make("GET", "/2015-03-31/functions/"), wrong_secret, "lambda");
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "InvalidSignatureException");
}

TEST_F(ServerAuthTest, CodeLocationIsAPresignedUrlThatRefusesTampering) {
  ASSERT_EQ(Status(CreateFunction("code")), 201);
  std::string r = SendSigned(Make("GET", "/2015-03-31/functions/code"), kAdmin, "lambda");
  ASSERT_EQ(Status(r), 200) << r;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r, m, std::regex(R"re("Location":"http://127\.0\.0\.1(/nimbus/code/[^"]+)")re")))
      << r;
  const std::string target = m[1];
  EXPECT_NE(target.find("X-Amz-Signature="), std::string::npos) << target;
  EXPECT_NE(target.find("X-Amz-Expires=600"), std::string::npos) << target;

  std::string got = Send(Make("GET", target));
  EXPECT_EQ(Status(got), 200) << got.substr(0, 500);
  EXPECT_EQ(Body(got).substr(0, 2), "PK");

  std::string tampered = target;
  const size_t sig = tampered.find("X-Amz-Signature=") + std::string("X-Amz-Signature=").size();
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  got = Send(Make("GET", tampered));
  EXPECT_EQ(Status(got), 403) << got;
  EXPECT_EQ(Header(got, "x-amzn-ErrorType"), "InvalidSignatureException");
  // Without its query, the code path is an API request like any other.
  got = Send(Make("GET", target.substr(0, target.find('?'))));
  EXPECT_EQ(Status(got), 403) << got;
}

TEST_F(ServerAuthTest, AnUploadWithSignedChunksIsStoredDecodedAndOneWithAWrongChunkIsRefused) {
  ASSERT_EQ(Status(SendSigned(Make("PUT", "/chunky"), kAdmin, "s3")), 200);
  const std::vector<std::string> chunks = {std::string(9000, 'x'), "and the rest"};
  auto upload = [&](const std::string& key, bool alter) {
    http::Request r = Make("PUT", "/chunky/" + key, "",
                           {{"Content-Encoding", "aws-chunked"},
                            {"x-amz-decoded-content-length", std::to_string(9000 + 12)}});
    r = Signed(std::move(r), kAdmin, "s3", std::string(http::kStreamingSignedPayload));
    const std::string auth(r.headers.Get("Authorization").value_or(""));
    std::string previous = auth.substr(auth.find("Signature=") + 10);
    const std::string amz_date(r.headers.Get("X-Amz-Date").value_or(""));
    const std::string date = amz_date.substr(0, 8);
    const std::string scope = date + "/us-east-1/s3/aws4_request";
    const std::string signing_key =
        http::SigV4SigningKey(kAdmin.secret_access_key, date, "us-east-1", "s3");
    for (size_t i = 0; i <= chunks.size(); ++i) {
      const std::string data = i < chunks.size() ? chunks[i] : "";
      previous = http::SigV4ChunkSignature(signing_key, amz_date, scope, previous, data);
      std::string signature = previous;
      if (alter && i == 1) signature[0] = signature[0] == 'a' ? 'b' : 'a';
      r.body += fmt::format("{:x};chunk-signature={}\r\n", data.size(), signature);
      if (!data.empty()) r.body += data + "\r\n";
    }
    r.body += "\r\n";
    return Send(r);
  };
  std::string r = upload("good", false);
  EXPECT_EQ(Status(r), 200) << r;
  r = SendSigned(Make("GET", "/chunky/good"), kAdmin, "s3");
  EXPECT_EQ(Status(r), 200) << r.substr(0, 500);
  EXPECT_EQ(Body(r), chunks[0] + chunks[1]);
  EXPECT_EQ(Header(r, "Content-Encoding"), "");

  r = upload("bad", true);
  EXPECT_EQ(Status(r), 403) << r;
  EXPECT_NE(Body(r).find("<Code>SignatureDoesNotMatch</Code>"), std::string::npos) << r;
  r = SendSigned(Make("GET", "/chunky/bad"), kAdmin, "s3");
  EXPECT_EQ(Status(r), 404) << r;
}

TEST_F(ServerAuthTest, MetricsNeedBasicAuthenticationWithAnAdminKey) {
  auto basic = [](const http::AwsCredentials& c) {
    return "Basic " + Base64Encode(c.access_key_id + ":" + c.secret_access_key);
  };
  std::string r = Send(Make("GET", "/metrics"));
  EXPECT_EQ(Status(r), 401) << r;
  EXPECT_EQ(Header(r, "WWW-Authenticate"), R"(Basic realm="nimbus", charset="UTF-8")");
  r = Send(Make("GET", "/metrics", "", {{"Authorization", basic(kAdmin)}}));
  EXPECT_EQ(Status(r), 200) << r.substr(0, 300);
  EXPECT_NE(Body(r).find("nimbus_async_events_pending"), std::string::npos);
  r = Send(Make("GET", "/metrics", "", {{"Authorization", basic(kInvoker)}}));
  EXPECT_EQ(Status(r), 401) << r;
  http::AwsCredentials wrong = kAdmin;
  wrong.secret_access_key[0] = 'X';
  r = Send(Make("GET", "/metrics", "", {{"Authorization", basic(wrong)}}));
  EXPECT_EQ(Status(r), 401) << r;
  // A SigV4 signature is not what /metrics takes.
  r = SendSigned(Make("GET", "/metrics"), kAdmin, "lambda");
  EXPECT_EQ(Status(r), 401) << r;
  // The health check is public.
  EXPECT_EQ(Status(Send(Make("GET", "/health"))), 200);
}

TEST_F(ServerAuthTest, TheKeyFileIsPrivate) {
  EXPECT_EQ(server_->credentials_file(), dir_.path() / "data" / "credentials.json");
  struct stat st {};
  ASSERT_EQ(::stat(server_->credentials_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ServerAuthStart, AFreshDataDirectoryGetsAPrivateKeyFileWithOneAdminKey) {
  storage::testing::TempDir dir;
  std::unique_ptr<Clock> clock = NewRealClock();
  invoke::FakeSandboxFactory sandboxes;
  ServerOptions o;
  o.listen_port = 0;
  o.data_dir = dir.path() / "data";
  o.runtime_dir = dir.path() / "runtimes";
  o.stem_cells_per_runtime = 0;
  auto s = Server::Start(*clock, sandboxes, o);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  const auto file = (*s)->credentials_file();
  EXPECT_EQ(file, dir.path() / "data" / "credentials.json");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch id, secret;
  ASSERT_TRUE(
      std::regex_search(text, id, std::regex(R"re("AccessKeyId"\s*:\s*"(AKIA[A-Z2-7]{16})")re")))
      << text;
  ASSERT_TRUE(
      std::regex_search(text, secret, std::regex(R"re("SecretAccessKey"\s*:\s*"([^"]{40})")re")))
      << text;
  EXPECT_NE(text.find("admin"), std::string::npos) << text;

  // The created key signs requests.
  http::Request r;
  r.method = "GET";
  r.target = "/2015-03-31/functions/";
  r.headers.Set("Host", "127.0.0.1");
  http::SigningParams p{{id[1], secret[1], ""}, "us-east-1", "lambda", clock->Now(), {}, {}};
  ASSERT_TRUE(http::SignRequest(r, p).ok());
  http::RawClient c((*s)->port());
  std::string wire = "GET /2015-03-31/functions/ HTTP/1.1\r\n";
  for (const auto& [name, value] : r.headers.entries()) wire += name + ": " + value + "\r\n";
  c.Send(wire + "\r\n");
  std::string response = c.ReadResponse();
  EXPECT_EQ(Status(response), 200) << response;
  (*s)->Shutdown();

  // A second start keeps it.
  auto again = Server::Start(*clock, sandboxes, o);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  std::ifstream in2(file);
  const std::string text2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text2, text);
}

TEST(ServerAuthStart, DevModeIsRefusedUnlessListeningOnLoopback) {
  storage::testing::TempDir dir;
  std::unique_ptr<Clock> clock = NewRealClock();
  invoke::FakeSandboxFactory sandboxes;
  ServerOptions o;
  o.listen_port = 0;
  o.data_dir = dir.path() / "data";
  o.runtime_dir = dir.path() / "runtimes";
  o.stem_cells_per_runtime = 0;
  o.auth_mode = auth::Mode::kAnyCredentials;
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1"}) {
    o.listen_host = host;
    auto s = Server::Start(*clock, sandboxes, o);
    ASSERT_FALSE(s.has_value()) << host;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument) << host;
    EXPECT_NE(s.error().message().find("loopback"), std::string::npos) << s.error().message();
    EXPECT_NE(s.error().message().find(host), std::string::npos) << s.error().message();
  }
  // On loopback it starts, and takes unsigned requests.
  o.listen_host = "127.0.0.1";
  auto s = Server::Start(*clock, sandboxes, o);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  http::RawClient c((*s)->port());
  c.Send("GET /2015-03-31/functions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_EQ(Status(r), 200) << r;
}

}  // namespace
}  // namespace nimbus::server
