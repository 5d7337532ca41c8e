#include "http/sigv4_scope.h"

#include <gtest/gtest.h>

namespace nimbus::http {
namespace {

Request WithAuthorization(std::string value) {
  Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Add("Authorization", std::move(value));
  return r;
}

TEST(CredentialScope, ReadsTheAuthorizationHeaderOfSigV4) {
  auto scope = ParseCredentialScope(WithAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/lambda/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=abc"));
  ASSERT_TRUE(scope);
  EXPECT_EQ(scope->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(scope->date, "20240101");
  EXPECT_EQ(scope->region, "us-east-1");
  EXPECT_EQ(scope->service, "lambda");
}

TEST(CredentialScope, ReadsSigV4aWhoseScopeHasNoRegion) {
  auto scope = ParseCredentialScope(WithAuthorization(
      "AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/s3/aws4_request, SignedHeaders=host, "
      "Signature=abc"));
  ASSERT_TRUE(scope);
  EXPECT_EQ(scope->service, "s3");
  EXPECT_EQ(scope->region, "");
}

TEST(CredentialScope, ReadsAPresignedUrlsPercentEncodedCredential) {
  Request r;
  r.method = "GET";
  r.target =
      "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Feu-west-1%2Fs3%"
      "2Faws4_request&X-Amz-Signature=abc";
  auto scope = ParseCredentialScope(r);
  ASSERT_TRUE(scope);
  EXPECT_EQ(scope->access_key_id, "AKID");
  EXPECT_EQ(scope->region, "eu-west-1");
  EXPECT_EQ(scope->service, "s3");
}

TEST(CredentialScope, UnsignedOrMalformedRequestsHaveNone) {
  Request unsigned_request;
  unsigned_request.target = "/2015-03-31/functions";
  EXPECT_FALSE(ParseCredentialScope(unsigned_request));
  EXPECT_FALSE(ParseCredentialScope(WithAuthorization("Basic dXNlcjpwYXNz")));
  EXPECT_FALSE(ParseCredentialScope(WithAuthorization("AWS4-HMAC-SHA256 Signature=abc")));
  EXPECT_FALSE(ParseCredentialScope(
      WithAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/other, S=x")));
  EXPECT_FALSE(ParseCredentialScope(
      WithAuthorization("AWS4-HMAC-SHA256 Credential=AKID/lambda/aws4_request, S=x")));
  EXPECT_FALSE(ParseCredentialScope(
      WithAuthorization("AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/lambda/aws4_request")));
}

}  // namespace
}  // namespace nimbus::http
