#include "cli/sam_deploy.h"

#include <gtest/gtest.h>

#include <regex>

#include "http/testing/fake_http_server.h"

namespace nimbus::cli {
namespace {

using http::testing::FakeHttpServer;

TEST(SamDeploy, TheRegionAndAccountComeFromTheServersFunctionArns) {
  FakeHttpServer server({FakeHttpServer::Response(
      404,
      R"({"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:nimbus-deploy-region-probe"})",
      "x-amzn-ErrorType: ResourceNotFoundException\r\n")});
  auto api = Connect(server.url());
  ASSERT_TRUE(api.has_value());
  auto region = DiscoverRegion(*api);
  ASSERT_TRUE(region.has_value()) << region.error().message();
  EXPECT_EQ(region->region, "eu-west-1");
  EXPECT_EQ(region->account_id, "123456789012");
}

TEST(SamDeploy, CreatesAMissingBucketThroughS3WithAnS3CredentialScope) {
  const std::string no_such_bucket =
      "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does "
      "not "
      "exist</Message></Error>";
  FakeHttpServer server({
      FakeHttpServer::Response(404, no_such_bucket),                  // GET ?location
      FakeHttpServer::Response(200, ""),                              // PUT bucket
      FakeHttpServer::Response(200, "<NotificationConfiguration/>"),  // GET ?notification
      FakeHttpServer::Response(200, R"({"items":[]})"),               // GET /v2/apis
      FakeHttpServer::Response(200, R"({"Rules":[]})"),               // ListRules
      FakeHttpServer::Response(200, R"({"Functions":[]})"),           // ListFunctions
  });
  auto api = Connect(server.url());
  ASSERT_TRUE(api.has_value());
  StackPlan plan;
  plan.stack_name = "shop";
  plan.buckets.push_back({"Uploads", "shop-uploads"});
  std::vector<ChangeLine> seen;
  StackDeployer deployer(
      *api, ServerRegion{}, [&](const ChangeLine& l) { seen.push_back(l); }, false);
  auto result = deployer.Deploy(plan);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(FormatChangeLine(seen[0]),
            "created    Uploads                  AWS::S3::Bucket                shop-uploads");
  EXPECT_EQ(FormatSummary("shop", *result), "stack shop: 1 created, 0 updated, 0 unchanged");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 6u);
  EXPECT_EQ(requests[0].rfind("GET /shop-uploads?location HTTP/1.1", 0), 0u);
  // Signed for S3 in the server's region (the key is the environment's, or "nimbus").
  EXPECT_TRUE(std::regex_search(requests[0], std::regex("Credential=[^/]+/[0-9]{8}/us-east-1/s3/aws4_request")))
      << requests[0];
  EXPECT_EQ(requests[1].rfind("PUT /shop-uploads HTTP/1.1", 0), 0u);
  EXPECT_NE(requests[4].find("X-Amz-Target: AWSEvents.ListRules"), std::string::npos);
  EXPECT_NE(requests[4].find(R"({"NamePrefix":"shop-"})"), std::string::npos);
}

TEST(SamDeploy, TheSummarySaysWhenNothingChangedAndCountsStaleResources) {
  DeployResult r;
  r.lines = {{Change::kUnchanged, "A", "k", "a", ""}, {Change::kUnchanged, "B", "k", "b", ""}};
  EXPECT_EQ(FormatSummary("s", r), "stack s: no changes (2 unchanged)");
  r.lines.push_back({Change::kDeleted, "C", "k", "c", ""});
  r.lines.push_back({Change::kStale, "D", "k", "d", "why"});
  EXPECT_EQ(FormatSummary("s", r),
            "stack s: 0 created, 0 updated, 2 unchanged, 1 deleted; 1 stale, left alone");
  EXPECT_EQ(FormatChangeLine(r.lines.back()),
            "stale      D                        k                              d (why)");
}

}  // namespace
}  // namespace nimbus::cli
