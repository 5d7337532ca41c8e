#include "sqs/sqs_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace nimbus::sqs {
namespace {

class SqsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nimbus-sqsapi-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    auto s = QueueStore::Open(dir_ / "sqs.db", "arn:aws:sqs:us-east-1:000000000000:");
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
    api_ = std::make_unique<SqsApi>(*store_, pool_, reactor_, SqsApiOptions{});
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  http::Response Json(const std::string& action, const std::string& body, int* wait = nullptr,
                      const std::string& trace = "") {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.body = body;
    r.headers.Set("Host", "127.0.0.1:9000");
    r.headers.Set("X-Amz-Target", "AmazonSQS." + action);
    if (!trace.empty()) r.headers.Set("X-Amzn-Trace-Id", trace);
    return api_->HandleSync(r, wait);
  }
  http::Response Query(const std::string& body, const std::string& path = "/") {
    http::Request r;
    r.method = "POST";
    r.target = path;
    r.body = body;
    r.headers.Set("Host", "127.0.0.1:9000");
    r.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    return api_->HandleSync(r);
  }

  std::filesystem::path dir_;
  BlockingPool pool_{"sqstest", 1};
  Reactor reactor_{"sqstest-reactor"};
  std::unique_ptr<QueueStore> store_;
  std::unique_ptr<SqsApi> api_;
};

TEST_F(SqsApiTest, BothProtocolsReachTheSameQueues) {
  auto r = Json("CreateQueue", R"({"QueueName":"orders"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"QueueUrl":"http://127.0.0.1:9000/000000000000/orders"})");
  r = Query("Action=SendMessage&QueueUrl=http%3A%2F%2Fother%3A1%2F000000000000%2Forders&MessageBody=hello+world");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<SendMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
                        "<SendMessageResult><MessageId>"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("<MD5OfMessageBody>5eb63bbbe01eeed093cb22bb8f5acdc3</MD5OfMessageBody>"),
            std::string::npos)
      << r.body;
  r = Json("ReceiveMessage", R"({"QueueUrl":"http://x/000000000000/orders","AttributeNames":["All"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("Body":"hello world")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("ApproximateReceiveCount":"1")"), std::string::npos) << r.body;
}

TEST_F(SqsApiTest, ErrorsCarryBothProtocolsCodes) {
  auto r = Json("GetQueueUrl", R"({"QueueName":"nope"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."})");
  EXPECT_EQ(r.headers.Get("x-amzn-query-error").value_or(""), "AWS.SimpleQueueService.NonExistentQueue;Sender");
  r = Query("Action=GetQueueUrl&QueueName=nope");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
            std::string::npos)
      << r.body;
  ASSERT_EQ(Json("CreateQueue", R"({"QueueName":"q"})").status, 200);
  r = Json("SetQueueAttributes", R"({"QueueUrl":"/000000000000/q","Attributes":{"Colour":"red"}})");
  EXPECT_NE(r.body.find("InvalidAttributeName"), std::string::npos) << r.body;
  r = Json("SetQueueAttributes", R"({"QueueUrl":"/000000000000/q","Attributes":{"VisibilityTimeout":"99999"}})");
  EXPECT_NE(r.body.find("InvalidAttributeValue"), std::string::npos) << r.body;
  r = Json("DeleteMessage", R"({"QueueUrl":"/000000000000/q","ReceiptHandle":"made-up"})");
  EXPECT_NE(r.body.find("ReceiptHandleIsInvalid"), std::string::npos) << r.body;
  r = Json("SendMessageBatch", R"({"QueueUrl":"/000000000000/q","Entries":[{"Id":"a","MessageBody":"x"},{"Id":"a","MessageBody":"y"}]})");
  EXPECT_NE(r.body.find("BatchEntryIdsNotDistinct"), std::string::npos) << r.body;
  r = Json("SendMessage", "{\"QueueUrl\":\"/000000000000/q\",\"MessageBody\":\"bell \\u0007\"}");
  EXPECT_NE(r.body.find("InvalidMessageContents"), std::string::npos) << r.body;
  r = Json("SendMessage", "{\"QueueUrl\":\"/000000000000/q\",\"MessageBody\":\"caf\u00e9 \U0001F600\"}");
  EXPECT_EQ(r.status, 200) << "UTF-8 of allowed characters: " << r.body;
  r = Json("TagQueue", R"({"QueueUrl":"/000000000000/q"})");
  EXPECT_NE(r.body.find("TagQueue"), std::string::npos) << r.body;
}

TEST_F(SqsApiTest, AnEmptyReceiveSaysHowLongItMayWait) {
  ASSERT_EQ(Json("CreateQueue", R"({"QueueName":"q","Attributes":{"ReceiveMessageWaitTimeSeconds":"3"}})").status, 200);
  int wait = -1;
  auto r = Json("ReceiveMessage", R"({"QueueUrl":"/000000000000/q"})", &wait);
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(wait, 3) << "the queue's default";
  r = Json("ReceiveMessage", R"({"QueueUrl":"/000000000000/q","WaitTimeSeconds":7})", &wait);
  EXPECT_EQ(wait, 7);
  r = Json("ReceiveMessage", R"({"QueueUrl":"/000000000000/q","WaitTimeSeconds":21})", &wait);
  EXPECT_EQ(r.status, 400);
}

TEST_F(SqsApiTest, AwsTraceHeaderComesFromTheSystemAttributeOrTheSendersTrace) {
  ASSERT_EQ(Json("CreateQueue", R"({"QueueName":"traced"})").status, 200);
  const std::string url = "http://127.0.0.1:9000/000000000000/traced";
  auto r = Json("SendMessage", R"({"QueueUrl":")" + url + R"(","MessageBody":"a","MessageSystemAttributes":)"
                               R"({"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1-5759e988-bd862e3fe1be46a994272793"}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Json("SendMessage", R"({"QueueUrl":")" + url + R"(","MessageBody":"b"})", nullptr,
           "Root=1-00000001-000000000000000000000002;Parent=0000000000000003;Sampled=1");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Json("SendMessage", R"({"QueueUrl":")" + url + R"(","MessageBody":"c","MessageSystemAttributes":)"
                          R"({"Color":{"DataType":"String","StringValue":"red"}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Message system attribute name 'Color' is invalid."), std::string::npos) << r.body;
  r = Json("ReceiveMessage", R"({"QueueUrl":")" + url + R"(","MaxNumberOfMessages":10,"MessageSystemAttributeNames":["AWSTraceHeader"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("AWSTraceHeader":"Root=1-00000001-000000000000000000000002;Parent=0000000000000003;Sampled=1")"),
            std::string::npos) << r.body;
}

}  // namespace
}  // namespace nimbus::sqs
