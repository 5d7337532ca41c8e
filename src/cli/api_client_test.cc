#include "cli/api_client.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "http/testing/fake_http_server.h"

namespace nimbus::cli {
namespace {

using http::testing::FakeHttpServer;
namespace json = boost::json;

// The request as the server received it ("GET /x HTTP/1.1\r\nA: b\r\n\r\nbody").
http::Request Parse(const std::string& raw) {
  http::Request r;
  const size_t head_end = raw.find("\r\n\r\n");
  std::string_view head(raw.data(), head_end);
  r.body = raw.substr(head_end + 4);
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  r.method = std::string(line.substr(0, line.find(' ')));
  r.target = std::string(line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1));
  while (line_end != std::string_view::npos) {
    size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    std::string_view h = head.substr(start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    size_t colon = h.find(':');
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.Add(std::string(h.substr(0, colon)), std::string(value));
  }
  return r;
}

class OneKey : public http::CredentialLookup {
 public:
  std::optional<http::AwsCredentials> Find(std::string_view id) const override {
    if (id != "AKIDCLI") return std::nullopt;
    return http::AwsCredentials{"AKIDCLI", "cli-secret", ""};
  }
};

class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("AWS_ACCESS_KEY_ID", "AKIDCLI", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "cli-secret", 1);
    ::unsetenv("AWS_SESSION_TOKEN");
    ::setenv("AWS_REGION", "eu-west-1", 1);
  }
  void TearDown() override {
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}) ::unsetenv(v);
  }

  // The one request `call` sent, verified as the server will verify it.
  http::VerifiedSignature Verified(const std::function<void(ApiClient&)>& call, std::string base = "") {
    FakeHttpServer server({FakeHttpServer::Response(200, "{}")});
    auto api = Connect(server.url() + base);
    EXPECT_TRUE(api.has_value());
    call(*api);
    EXPECT_EQ(server.requests().size(), 1u);
    http::Request received = Parse(server.requests().at(0));
    EXPECT_EQ(received.headers.Get("Host"), "127.0.0.1:" + std::to_string(server.port()));
    auto verified = http::VerifySignature(received, OneKey(), std::chrono::system_clock::now());
    EXPECT_TRUE(verified.has_value()) << (verified.has_value() ? "" : verified.error().message);
    return verified.has_value() ? *verified : http::VerifiedSignature{};
  }
};

TEST_F(ApiClientTest, SignsLambdaCallsForLambdaWithTheEnvironmentsKeyAndRegion) {
  auto v = Verified([](ApiClient& api) {
    json::object body{{"Timeout", 9}};
    (void)api.Call("PUT", FunctionPath("my:fn") + "/configuration", &body);
  });
  EXPECT_EQ(v.access_key_id, "AKIDCLI");
  EXPECT_EQ(v.scope.service, "lambda");
  EXPECT_EQ(v.scope.region, "eu-west-1");
}

TEST_F(ApiClientTest, SignsEachJsonProtocolForItsService) {
  for (auto [target, service] : {std::pair{"Logs_20140328.FilterLogEvents", "logs"},
                                 {"AmazonSQS.CreateQueue", "sqs"},
                                 {"DynamoDB_20120810.PutItem", "dynamodb"},
                                 {"AWSEvents.PutRule", "events"}}) {
    auto v = Verified([target = target](ApiClient& api) { (void)api.Rpc(target, json::object{{"a", 1}}, "1.1"); });
    EXPECT_EQ(v.scope.service, service) << target;
  }
  EXPECT_EQ(Verified([](ApiClient& api) { (void)api.Call("GET", "/v2/apis", nullptr); }).scope.service, "apigateway");
}

TEST_F(ApiClientTest, SignsS3ForS3InTheGivenRegionWithThePayloadHash) {
  auto v = Verified([](ApiClient& api) { (void)api.S3("PUT", "/bucket?notification", "<x/>", "ap-south-1"); });
  EXPECT_EQ(v.scope.service, "s3");
  EXPECT_EQ(v.scope.region, "ap-south-1");
  EXPECT_EQ(v.payload, http::PayloadKind::kSha256);
}

TEST_F(ApiClientTest, SignsThePathAsSentUnderABasePath) {
  auto v = Verified([](ApiClient& api) { (void)api.Call("GET", "/2015-03-31/functions/", nullptr); }, "/prefix");
  EXPECT_EQ(v.scope.service, "lambda");
}

}  // namespace
}  // namespace nimbus::cli
