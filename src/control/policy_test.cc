#include "control/policy.h"

#include <gtest/gtest.h>

namespace nimbus::control {
namespace {

TEST(PolicyAllowsTest, NeedsAnAllowForTheActionAndThePrincipal) {
  const char* s3 = R"({"Version":"2012-10-17","Statement":[{"Sid":"s3","Effect":"Allow",)"
                   R"("Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",)"
                   R"("Resource":"arn:aws:lambda:us-east-1:000000000000:function:f"}]})";
  EXPECT_TRUE(PolicyAllows(s3, "s3.amazonaws.com", "lambda:InvokeFunction"));
  EXPECT_FALSE(PolicyAllows(s3, "sqs.amazonaws.com", "lambda:InvokeFunction"));
  EXPECT_FALSE(PolicyAllows(s3, "*", "lambda:InvokeFunction")) << "a service is not anyone";
  EXPECT_FALSE(PolicyAllows(s3, "s3.amazonaws.com", "lambda:InvokeFunctionUrl"));
  const char* url = R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":["lambda:InvokeFunctionUrl"],)"
                    R"("Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}]})";
  EXPECT_TRUE(PolicyAllows(url, "*", "lambda:InvokeFunctionUrl"));
  EXPECT_TRUE(PolicyAllows(url, "s3.amazonaws.com", "lambda:InvokeFunctionUrl")) << "anyone covers services";
  const char* queue = R"({"Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"SQS:SendMessage"}]})";
  EXPECT_TRUE(PolicyAllows(queue, "s3.amazonaws.com", "sqs:SendMessage")) << "actions ignore case";
  EXPECT_TRUE(PolicyAllows(R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*"}]})", "s3.amazonaws.com",
                           "sqs:SendMessage"));
  const char* deny = R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]})";
  EXPECT_FALSE(PolicyAllows(deny, "*", "lambda:InvokeFunctionUrl"));
  EXPECT_FALSE(PolicyAllows("not json", "*", "lambda:InvokeFunctionUrl"));
  EXPECT_FALSE(PolicyAllows(R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"*"}]})",
                            "*", "lambda:InvokeFunctionUrl"));
}

}  // namespace
}  // namespace nimbus::control
