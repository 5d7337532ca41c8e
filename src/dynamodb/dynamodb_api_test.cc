#include "dynamodb/dynamodb_api.h"

#include <gtest/gtest.h>

#include <chrono>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "storage/testing/temp_dir.h"

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

class DynamoDbApiTest : public ::testing::Test {
 protected:
  DynamoDbApiTest() : pool_("blocking", 1) {}

  void SetUp() override {
    auto s = OpenSqliteTableStore(dir_.path() / "dynamodb.db");
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    DynamoDbApiOptions options;
    options.on_stream_records = [this](const std::string& table) { woken_.push_back(table); };
    api_ = std::make_unique<DynamoDbApi>(*store_, pool_, options);
  }

  // Calls `action` with `body` (JSON text); returns the status and parsed body.
  std::pair<int, json::object> Call(std::string_view action, std::string_view body, bool streams = false) {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.headers.Set("X-Amz-Target", fmt::format("{}.{}", streams ? "DynamoDBStreams_20120810" : "DynamoDB_20120810", action));
    r.body = std::string(body);
    http::Response response = api_->HandleSync(r);
    EXPECT_EQ(response.headers.Get("Content-Type").value_or(""), "application/x-amz-json-1.0");
    return {response.status, json::parse(response.body).as_object()};
  }
  json::object Ok(std::string_view action, std::string_view body, bool streams = false) {
    auto [status, o] = Call(action, body, streams);
    EXPECT_EQ(status, 200) << action << ": " << json::serialize(o);
    return o;
  }
  // The error type (without namespace) and message.
  std::pair<std::string, std::string> Err(std::string_view action, std::string_view body) {
    auto [status, o] = Call(action, body);
    EXPECT_EQ(status, 400) << json::serialize(o);
    std::string type(o["__type"].as_string());
    return {type.substr(type.find('#') + 1), std::string(o["message"].as_string())};
  }

  void CreateOrders() {
    Ok("CreateTable", R"({"TableName":"orders","BillingMode":"PAY_PER_REQUEST",
      "AttributeDefinitions":[{"AttributeName":"c","AttributeType":"S"},{"AttributeName":"n","AttributeType":"N"}],
      "KeySchema":[{"AttributeName":"c","KeyType":"HASH"},{"AttributeName":"n","KeyType":"RANGE"}],
      "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}})");
  }

  storage::testing::TempDir dir_;
  BlockingPool pool_;
  std::unique_ptr<TableStore> store_;
  std::unique_ptr<DynamoDbApi> api_;
  std::vector<std::string> woken_;
};

TEST_F(DynamoDbApiTest, ATableIsCreatedDescribedListedAndDeleted) {
  CreateOrders();
  auto d = Ok("DescribeTable", R"({"TableName":"orders"})")["Table"].as_object();
  EXPECT_EQ(d["TableStatus"].as_string(), "ACTIVE");
  EXPECT_EQ(d["TableArn"].as_string(), "arn:aws:dynamodb:us-east-1:000000000000:table/orders");
  EXPECT_EQ(d["KeySchema"].as_array().size(), 2u);
  EXPECT_EQ(d["BillingModeSummary"].as_object()["BillingMode"].as_string(), "PAY_PER_REQUEST");
  EXPECT_TRUE(d["LatestStreamArn"].as_string().starts_with("arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/"));
  EXPECT_EQ(Ok("ListTables", "{}")["TableNames"].as_array().size(), 1u);
  EXPECT_EQ(Err("CreateTable", R"({"TableName":"orders","BillingMode":"PAY_PER_REQUEST",
      "AttributeDefinitions":[{"AttributeName":"c","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"c","KeyType":"HASH"}]})").first, "ResourceInUseException");
  Ok("DeleteTable", R"({"TableName":"orders"})");
  auto [type, message] = Err("DescribeTable", R"({"TableName":"orders"})");
  EXPECT_EQ(type, "ResourceNotFoundException");
  EXPECT_EQ(message, "Requested resource not found: Table: orders not found");
}

TEST_F(DynamoDbApiTest, BadTableDefinitionsAreRefusedWithDynamoDbsMessages) {
  EXPECT_EQ(Err("CreateTable", R"({"TableName":"tab1","BillingMode":"PAY_PER_REQUEST",
      "AttributeDefinitions":[{"AttributeName":"a","AttributeType":"S"},{"AttributeName":"b","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"a","KeyType":"HASH"}]})").second,
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match "
            "number of attributes defined in AttributeDefinitions");
  EXPECT_EQ(Err("CreateTable", R"({"TableName":"tab1",
      "AttributeDefinitions":[{"AttributeName":"a","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"a","KeyType":"HASH"}]})").second,
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
            "specified when BillingMode is PROVISIONED");
  EXPECT_EQ(Err("CreateTable", R"({"TableName":"tab1","BillingMode":"PAY_PER_REQUEST",
      "AttributeDefinitions":[{"AttributeName":"a","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"x","KeyType":"HASH"}]})").second,
            "One or more parameter values were invalid: Some index key attributes are not defined in "
            "AttributeDefinitions. Keys: [x], AttributeDefinitions: [a]");
  EXPECT_EQ(Ok("ListTables", "{}")["TableNames"].as_array().size(), 0u);
}

TEST_F(DynamoDbApiTest, AConditionalPutThatFailsChangesNothingAndCanReturnTheItem) {
  CreateOrders();
  Ok("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"N":"1"},"v":{"S":"first"}}})");
  auto [status, body] = Call("PutItem", R"J({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"N":"1"},"v":{"S":"second"}},
      "ConditionExpression":"attribute_not_exists(c)","ReturnValuesOnConditionCheckFailure":"ALL_OLD"})J");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["__type"].as_string(), "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException");
  EXPECT_EQ(body["message"].as_string(), "The conditional request failed");
  EXPECT_EQ(json::serialize(body["Item"]), R"({"c":{"S":"ann"},"n":{"N":"1"},"v":{"S":"first"}})");
  auto got = Ok("GetItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}}})");
  EXPECT_EQ(got["Item"].as_object()["v"].as_object()["S"].as_string(), "first");
}

TEST_F(DynamoDbApiTest, KeysAreCheckedAgainstTheSchema) {
  CreateOrders();
  EXPECT_EQ(Err("GetItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"}}})").second,
            "The provided key element does not match the schema");
  EXPECT_EQ(Err("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"S":"1"}}})").second,
            "One or more parameter values were invalid: Type mismatch for key n expected: N actual: S");
  EXPECT_EQ(Err("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"}}})").second,
            "One or more parameter values were invalid: Missing the key n in the item");
  EXPECT_EQ(Err("GetItem", R"({"TableName":"nope","Key":{"c":{"S":"ann"}}})").first, "ResourceNotFoundException");
  const std::string big(400 * 1024, 'x');
  EXPECT_EQ(Err("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"a"},"n":{"N":"1"},"b":{"S":")" + big + R"("}}})").second,
            "Item size has exceeded the maximum allowed size");
}

TEST_F(DynamoDbApiTest, UpdateItemCreatesTheItemAndReturnsWhatItWasAskedFor) {
  CreateOrders();
  auto r = Ok("UpdateItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},
      "UpdateExpression":"SET #t = if_not_exists(#t, :zero) + :one","ExpressionAttributeNames":{"#t":"tally"},
      "ExpressionAttributeValues":{":zero":{"N":"0"},":one":{"N":"1"}},"ReturnValues":"ALL_NEW"})");
  EXPECT_EQ(json::serialize(r["Attributes"]), R"({"c":{"S":"ann"},"n":{"N":"1"},"tally":{"N":"1"}})");
  r = Ok("UpdateItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},
      "UpdateExpression":"SET tally = tally + :x","ExpressionAttributeValues":{":x":{"N":"0.5"}},"ReturnValues":"UPDATED_OLD"})");
  EXPECT_EQ(json::serialize(r["Attributes"]), R"({"tally":{"N":"1"}})");
  EXPECT_EQ(Err("UpdateItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},
      "UpdateExpression":"SET c = :x","ExpressionAttributeValues":{":x":{"S":"bob"}}})").second,
            "One or more parameter values were invalid: Cannot update attribute c. This attribute is part of the key");
  EXPECT_EQ(Err("UpdateItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},
      "UpdateExpression":"SET tally = :x","ExpressionAttributeValues":{":x":{"N":"1"},":unused":{"N":"2"}}})").second,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}");
}

TEST_F(DynamoDbApiTest, QueryPagesThroughEveryItemOnceWithLimitAndFilters) {
  CreateOrders();
  for (int i = 1; i <= 7; ++i) {
    Ok("PutItem", fmt::format(R"({{"TableName":"orders","Item":{{"c":{{"S":"ann"}},"n":{{"N":"{}"}},"odd":{{"BOOL":{}}}}}}})", i,
                              i % 2 ? "true" : "false"));
  }
  std::vector<std::string> seen;
  std::string start;
  int pages = 0;
  while (true) {
    auto r = Ok("Query", R"({"TableName":"orders","KeyConditionExpression":"c = :c AND n >= :low","Limit":3,)"
                          R"("ExpressionAttributeValues":{":c":{"S":"ann"},":low":{"N":"2"}})" +
                              (start.empty() ? "" : ",\"ExclusiveStartKey\":" + start) + "}");
    ++pages;
    for (const auto& item : r["Items"].as_array()) seen.emplace_back(item.as_object().at("n").as_object().at("N").as_string());
    if (!r.contains("LastEvaluatedKey")) break;
    start = json::serialize(r["LastEvaluatedKey"]);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"2", "3", "4", "5", "6", "7"}));
  EXPECT_EQ(pages, 2 + 1);  // two full pages; the last one finds nothing more
  auto r = Ok("Query", R"({"TableName":"orders","KeyConditionExpression":"c = :c","FilterExpression":"odd = :t",)"
                        R"("ScanIndexForward":false,"ExpressionAttributeValues":{":c":{"S":"ann"},":t":{"BOOL":true}}})");
  EXPECT_EQ(r["Count"].as_int64(), 4);
  EXPECT_EQ(r["ScannedCount"].as_int64(), 7);
  EXPECT_EQ(r["Items"].as_array()[0].as_object().at("n").as_object().at("N").as_string(), "7");
}

TEST_F(DynamoDbApiTest, ATransactionWithAFailedConditionIsCancelledWholeWithReasons) {
  CreateOrders();
  Ok("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"N":"1"}}})");
  auto [status, body] = Call("TransactWriteItems", R"J({"TransactItems":[
      {"Put":{"TableName":"orders","Item":{"c":{"S":"bob"},"n":{"N":"1"}}}},
      {"ConditionCheck":{"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},"ConditionExpression":"attribute_not_exists(c)"}}]})J");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["__type"].as_string(), "com.amazonaws.dynamodb.v20120810#TransactionCanceledException");
  EXPECT_EQ(body["message"].as_string(),
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]");
  EXPECT_EQ(body["CancellationReasons"].as_array()[1].as_object().at("Code").as_string(), "ConditionalCheckFailed");
  EXPECT_FALSE(Ok("GetItem", R"({"TableName":"orders","Key":{"c":{"S":"bob"},"n":{"N":"1"}}})").contains("Item"));
}

TEST_F(DynamoDbApiTest, GetRecordsReadsTheStreamInOrderFromTheStartAndAfterASequenceNumber) {
  CreateOrders();
  woken_.clear();
  Ok("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"N":"1"},"v":{"N":"1"}}})");
  EXPECT_EQ(woken_, std::vector<std::string>{"orders"});
  Ok("UpdateItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}},"UpdateExpression":"SET v = :v",
      "ExpressionAttributeValues":{":v":{"N":"2"}}})");
  Ok("DeleteItem", R"({"TableName":"orders","Key":{"c":{"S":"ann"},"n":{"N":"1"}}})");
  std::string arn(Ok("DescribeTable", R"({"TableName":"orders"})")["Table"].as_object()["LatestStreamArn"].as_string());
  auto stream = Ok("DescribeStream", R"({"StreamArn":")" + arn + R"("})", true)["StreamDescription"].as_object();
  EXPECT_EQ(stream["StreamStatus"].as_string(), "ENABLED");
  std::string shard(stream["Shards"].as_array()[0].as_object()["ShardId"].as_string());
  std::string it(Ok("GetShardIterator", R"({"StreamArn":")" + arn + R"(","ShardId":")" + shard +
                                             R"(","ShardIteratorType":"TRIM_HORIZON"})", true)["ShardIterator"].as_string());
  auto records = Ok("GetRecords", R"({"ShardIterator":")" + it + R"("})", true);
  const auto& list = records["Records"].as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].as_object().at("eventName").as_string(), "INSERT");
  EXPECT_EQ(list[1].as_object().at("eventName").as_string(), "MODIFY");
  EXPECT_EQ(json::serialize(list[1].as_object().at("dynamodb").as_object().at("OldImage")),
            R"({"c":{"S":"ann"},"n":{"N":"1"},"v":{"N":"1"}})");
  EXPECT_EQ(list[2].as_object().at("eventName").as_string(), "REMOVE");
  EXPECT_EQ(list[0].as_object().at("eventSource").as_string(), "aws:dynamodb");
  std::string first(list[0].as_object().at("dynamodb").as_object().at("SequenceNumber").as_string());
  std::string after(Ok("GetShardIterator", R"({"StreamArn":")" + arn + R"(","ShardId":")" + shard +
                                               R"(","ShardIteratorType":"AFTER_SEQUENCE_NUMBER","SequenceNumber":")" +
                                               first + R"("})", true)["ShardIterator"].as_string());
  EXPECT_EQ(Ok("GetRecords", R"({"ShardIterator":")" + after + R"("})", true)["Records"].as_array().size(), 2u);
  // The next iterator waits for new records.
  std::string next(records["NextShardIterator"].as_string());
  EXPECT_EQ(Ok("GetRecords", R"({"ShardIterator":")" + next + R"("})", true)["Records"].as_array().size(), 0u);
}

// Found by fuzz/dynamodb_api: 21 digits passed the format check, then std::stoll
// threw out_of_range past INT64_MAX, and the uncaught exception ended the daemon.
TEST_F(DynamoDbApiTest, ASequenceNumberBeyondInt64IsInvalidForTheShardNotACrash) {
  CreateOrders();
  Ok("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"ann"},"n":{"N":"1"}}})");
  std::string arn(Ok("DescribeTable", R"({"TableName":"orders"})")["Table"].as_object()["LatestStreamArn"].as_string());
  auto stream = Ok("DescribeStream", R"({"StreamArn":")" + arn + R"("})", true)["StreamDescription"].as_object();
  std::string shard(stream["Shards"].as_array()[0].as_object()["ShardId"].as_string());
  for (const char* seq : {"018446744073709551615", "999999999999999999999", "9223372036854775808"}) {
    auto [status, o] = Call("GetShardIterator",
                            R"({"StreamArn":")" + arn + R"(","ShardId":")" + shard +
                                R"(","ShardIteratorType":"AFTER_SEQUENCE_NUMBER","SequenceNumber":")" + seq + R"("})",
                            true);
    EXPECT_EQ(status, 400) << seq;
    EXPECT_EQ(std::string(o["message"].as_string()),
              fmt::format("Invalid SequenceNumber: {} for shard: {}", seq, shard));
  }
}

TEST_F(DynamoDbApiTest, TheSweepDeletesExpiredItemsAsTheServiceWithAStreamRecord) {
  CreateOrders();
  Ok("UpdateTimeToLive", R"({"TableName":"orders","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"exp"}})");
  EXPECT_EQ(Ok("DescribeTimeToLive", R"({"TableName":"orders"})")["TimeToLiveDescription"].as_object()["TimeToLiveStatus"].as_string(),
            "ENABLED");
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Ok("PutItem", fmt::format(R"({{"TableName":"orders","Item":{{"c":{{"S":"old"}},"n":{{"N":"1"}},"exp":{{"N":"{}"}}}}}})", now_s - 10));
  Ok("PutItem", fmt::format(R"({{"TableName":"orders","Item":{{"c":{{"S":"new"}},"n":{{"N":"1"}},"exp":{{"N":"{}"}}}}}})", now_s + 3600));
  EXPECT_EQ(api_->Sweep(now_s * 1000), 1);
  EXPECT_FALSE(Ok("GetItem", R"({"TableName":"orders","Key":{"c":{"S":"old"},"n":{"N":"1"}}})").contains("Item"));
  EXPECT_TRUE(Ok("GetItem", R"({"TableName":"orders","Key":{"c":{"S":"new"},"n":{"N":"1"}}})").contains("Item"));
  auto def = store_->GetTable("orders");
  auto records = store_->ReadStream("orders", def->stream_label, 0, 10);
  ASSERT_EQ(records->size(), 3u);
  EXPECT_TRUE(records->back().by_ttl);
  json::object o = StreamRecordJson(records->back(), *def, "us-east-1", /*lambda_event=*/true);
  EXPECT_EQ(json::serialize(o["userIdentity"]), R"({"type":"Service","principalId":"dynamodb.amazonaws.com"})");
}

}  // namespace
}  // namespace nimbus::dynamodb
