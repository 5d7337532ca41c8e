#include "async/invocation_record.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace nimbus::async {
namespace {

TEST(InvocationRecordTest, AFailureRecordHasLambdasShape) {
  InvocationRecordInput in;
  in.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1573755365568));
  in.request_id = "e4b46cbf-b738-4880-a18c-df61200e0000";
  in.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST";
  in.condition = Condition::kRetriesExhausted;
  in.approximate_invoke_count = 3;
  in.request_payload = R"({"ORDER_IDS":["9e07af03"]})";
  in.executed_version = "$LATEST";
  in.function_error = "Unhandled";
  in.response_payload = R"({"errorMessage":"Process exited before completing request"})";
  EXPECT_EQ(boost::json::parse(InvocationRecord(in)), boost::json::parse(R"({
    "version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",
    "requestContext":{"requestId":"e4b46cbf-b738-4880-a18c-df61200e0000",
      "functionArn":"arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
      "condition":"RetriesExhausted","approximateInvokeCount":3},
    "requestPayload":{"ORDER_IDS":["9e07af03"]},
    "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
    "responsePayload":{"errorMessage":"Process exited before completing request"}})"));
}

TEST(InvocationRecordTest, ASuccessRecordHasNoFunctionErrorAndKeepsANonJsonResultAsAString) {
  InvocationRecordInput in;
  in.condition = Condition::kSuccess;
  in.request_payload = "";
  in.executed_version = "1";
  in.response_payload = "plain text";
  boost::json::object r = boost::json::parse(InvocationRecord(in)).as_object();
  EXPECT_EQ(r["requestContext"].at("condition"), "Success");
  EXPECT_FALSE(r["responseContext"].as_object().contains("functionError"));
  EXPECT_EQ(r["responsePayload"], "plain text");
  EXPECT_TRUE(r["requestPayload"].is_null());
}

}  // namespace
}  // namespace nimbus::async
