// The DynamoDB API (dynamodb/dynamodb_api.h) on any JSON body: tables, items,
// queries and scans (with their expressions and DynamoDB JSON values), batches,
// transactions, TTL and streams, through DynamoDbApi::HandleSync over a real
// SQLite TableStore (api_fuzz.h says why not Handle()). Checked: the response
// every API owes (api_fuzz.h).
//
// Input: one byte choosing the action (a letter: A = 0; other bytes: their
// value), modulo 21, then the JSON body:
//   0 CreateTable  1 DescribeTable  2 ListTables  3 UpdateTable  4 DeleteTable
//   5 UpdateTimeToLive  6 DescribeTimeToLive  7 PutItem  8 GetItem
//   9 UpdateItem  10 DeleteItem  11 Query  12 Scan  13 BatchGetItem
//   14 BatchWriteItem  15 TransactGetItems  16 TransactWriteItems
//   streams (DynamoDBStreams_20120810): 17 ListStreams  18 DescribeStream
//   19 GetShardIterator  20 GetRecords
// "@stream" in the body is replaced by the stream ARN of table "orders",
// "@shard" by its shard's id and "@iterator" by a TRIM_HORIZON shard iterator.
//
// State: <scratch>/dynamodb/dynamodb.db, seeded with table "orders" (hash c: S,
// range n: N, a stream of new and old images, TTL on "ttl", a global secondary
// index "by_s" on s) holding three items, and table "kvs" (hash k: S). Inputs
// create tables and write items (each up to 400 KB), so the store is emptied
// and seeded again every kResetEvery inputs, which bounds it to what that many
// inputs can write (a few MB at the default -max_len) however long the run. A
// failure that needs state an earlier input left may not replay on its own:
// replay the grown corpus (build-fuzz/fuzz-work/dynamodb_api/corpus).
#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "dynamodb/dynamodb_api.h"
#include "dynamodb/table_store.h"
#include "fuzz_input.h"
#include "http/message.h"

namespace {

namespace ddb = nimbus::dynamodb;
namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;

constexpr int kResetEvery = 1000;
constexpr size_t kFirstStreamsAction = 17;
constexpr std::array<std::string_view, 21> kActions = {"CreateTable",
                                                       "DescribeTable",
                                                       "ListTables",
                                                       "UpdateTable",
                                                       "DeleteTable",
                                                       "UpdateTimeToLive",
                                                       "DescribeTimeToLive",
                                                       "PutItem",
                                                       "GetItem",
                                                       "UpdateItem",
                                                       "DeleteItem",
                                                       "Query",
                                                       "Scan",
                                                       "BatchGetItem",
                                                       "BatchWriteItem",
                                                       "TransactGetItems",
                                                       "TransactWriteItems",
                                                       "ListStreams",
                                                       "DescribeStream",
                                                       "GetShardIterator",
                                                       "GetRecords"};

http::Request Request(size_t action, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Content-Type", "application/x-amz-json-1.0");
  r.headers.Set("X-Amz-Target",
                std::string(action >= kFirstStreamsAction ? "DynamoDBStreams_20120810."
                                                          : "DynamoDB_20120810.") +
                    std::string(kActions[action]));
  r.body = std::move(body);
  return r;
}

size_t ActionIndex(std::string_view name) {
  for (size_t i = 0; i < kActions.size(); ++i) {
    if (kActions[i] == name) return i;
  }
  NIMBUS_FUZZ_CHECK(false, "a seeding action is in the list");
  return 0;
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("dynamodb_api") / "dynamodb") { Reset(); }

  http::Response Handle(const http::Request& r) { return api_->HandleSync(r); }
  const std::string& stream_arn() const { return stream_arn_; }
  const std::string& shard() const { return shard_; }
  const std::string& iterator() const { return iterator_; }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    api_.reset();
    store_.reset();
    fuzz::EmptyDir(dir_);
    auto s = ddb::OpenSqliteTableStore(dir_ / "dynamodb.db");
    NIMBUS_FUZZ_CHECK(s.has_value(), "opening the table store");
    store_ = std::move(*s);
    api_ = std::make_unique<ddb::DynamoDbApi>(*store_, pool_, ddb::DynamoDbApiOptions{});
    boost::json::value created = Seed("CreateTable", R"({"TableName":"orders",
      "AttributeDefinitions":[{"AttributeName":"c","AttributeType":"S"},
        {"AttributeName":"n","AttributeType":"N"},{"AttributeName":"s","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"c","KeyType":"HASH"},{"AttributeName":"n","KeyType":"RANGE"}],
      "GlobalSecondaryIndexes":[{"IndexName":"by_s","KeySchema":[{"AttributeName":"s","KeyType":"HASH"}],
        "Projection":{"ProjectionType":"ALL"}}],
      "BillingMode":"PAY_PER_REQUEST",
      "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}})");
    stream_arn_ = created.at("TableDescription").at("LatestStreamArn").as_string().c_str();
    Seed(
        "UpdateTimeToLive",
        R"({"TableName":"orders","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"ttl"}})");
    Seed("CreateTable", R"({"TableName":"kvs",
      "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],
      "KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"})");
    Seed("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"a"},"n":{"N":"1"},"s":{"S":"x"},
      "l":{"L":[{"N":"1"},{"S":"two"},{"M":{"k":{"BOOL":true}}}]},"ss":{"SS":["p","q"]},"ttl":{"N":"1"}}})");
    Seed("PutItem", R"({"TableName":"orders","Item":{"c":{"S":"a"},"n":{"N":"2.5"},"s":{"S":"y"},
      "b":{"B":"AAEC"},"ns":{"NS":["1","-2e3"]},"nul":{"NULL":true}}})");
    Seed("PutItem", R"({"TableName":"kvs","Item":{"k":{"S":"key"},"v":{"S":"value"}}})");
    boost::json::value d = Seed("DescribeStream", "{\"StreamArn\":\"" + stream_arn_ + "\"}");
    shard_ = d.at("StreamDescription").at("Shards").at(0).at("ShardId").as_string().c_str();
    boost::json::value it =
        Seed("GetShardIterator", "{\"StreamArn\":\"" + stream_arn_ + "\",\"ShardId\":\"" + shard_ +
                                     "\",\"ShardIteratorType\":\"TRIM_HORIZON\"}");
    iterator_ = it.at("ShardIterator").as_string().c_str();
  }

  boost::json::value Seed(std::string_view action, std::string body) {
    http::Response r = api_->HandleSync(Request(ActionIndex(action), std::move(body)));
    NIMBUS_FUZZ_CHECK(r.status == 200, r.body.c_str());
    return boost::json::parse(r.body);
  }

  const std::filesystem::path dir_;
  nimbus::BlockingPool pool_{"ddb-fuzz", 1};  // unused by HandleSync
  std::unique_ptr<ddb::TableStore> store_;
  std::unique_ptr<ddb::DynamoDbApi> api_;
  std::string stream_arn_;
  std::string shard_;
  std::string iterator_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  if (size == 0) return 0;
  const size_t action = fuzz::OperationOf(data[0], kActions.size());
  std::string body(fuzz::AsText(data + 1, size - 1));
  fuzz::ReplaceAll(body, "@stream", harness.stream_arn());
  fuzz::ReplaceAll(body, "@shard", harness.shard());
  fuzz::ReplaceAll(body, "@iterator", harness.iterator());
  fuzz::CheckResponse(harness.Handle(Request(action, std::move(body))));
  harness.MaybeReset();
  return 0;
}
