#include "esm/event_source_mappings.h"

#include <gtest/gtest.h>

namespace nimbus::esm {
namespace {

TEST(SqsEventTest, HasTheShapeLambdaGivesFunctions) {
  sqs::Message m;
  m.id = "059f36b4-87a3-44ab-83d2-661975830a7d";
  m.receipt = "r";
  m.body = "hello";
  m.md5_body = "5d41402abc4b2a76b9719d911017c592";
  m.sent_ms = 1714564800000;
  m.first_receive_ms = 1714564800001;
  m.receive_count = 1;
  m.attributes["Color"] = {"String", "red", ""};
  EXPECT_EQ(SqsEvent({m}, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1"),
            R"({"Records":[{"messageId":"059f36b4-87a3-44ab-83d2-661975830a7d","receiptHandle":"r","body":"hello",)"
            R"("attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1714564800000","SenderId":"AIDANIMBUS",)"
            R"("ApproximateFirstReceiveTimestamp":"1714564800001"},"messageAttributes":{"Color":{"stringListValues":[],)"
            R"("binaryListValues":[],"dataType":"String","stringValue":"red"}},"md5OfBody":"5d41402abc4b2a76b9719d911017c592",)"
            R"("eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:000000000000:q","awsRegion":"us-east-1"}]})");
}

}  // namespace
}  // namespace nimbus::esm
