// dynamodb api: the DynamoDB front end (issue #6) on the Nimbus port, for requests
// signed for service "dynamodb" (AWS JSON 1.0; X-Amz-Target DynamoDB_20120810.<Action>
// and, for streams, DynamoDBStreams_20120810.<Action>), over a TableStore.
//
// Served: Create/Describe/List/Update/DeleteTable, Update/DescribeTimeToLive,
// Put/Get/Update/DeleteItem, Query, Scan, BatchGet/BatchWriteItem,
// TransactGet/TransactWriteItems; streams: ListStreams, DescribeStream,
// GetShardIterator, GetRecords. Other actions answer UnknownOperationException
// naming the action.
//
// Threads: Handle() on the reactor; the work on the BlockingPool. The TTL sweeper
// and stream trimming run from Sweep(), which the server calls periodically on
// the BlockingPool.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "base/blocking_pool.h"
#include "storage/disk_space.h"
#include "dynamodb/table_store.h"
#include "http/message.h"
#include "http/server.h"

namespace nimbus::dynamodb {

struct DynamoDbApiOptions {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // Called (on the BlockingPool) after a write added stream records to `table`'s
  // stream: stream event source mappings poll at once.
  std::function<void(const std::string& table)> on_stream_records;
  // Asked before the writes that add data (CreateTable, PutItem, UpdateItem,
  // BatchWriteItem, TransactWriteItems); none: no reserve is kept.
  const storage::DiskSpace* disk = nullptr;
};

// "arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>".
std::string StreamArn(const DynamoDbApiOptions& options, const std::string& table, const std::string& label);
// The (table, label) a stream ARN names, or nullopt.
std::optional<std::pair<std::string, std::string>> ParseStreamArn(std::string_view arn);
// A stream record as GetRecords (lambda_event false) and Lambda's DynamoDB events
// carry it (eventID, eventName, eventVersion, eventSource, awsRegion, dynamodb{...},
// userIdentity for a TTL deletion).
boost::json::object StreamRecordJson(const StreamRecord& record, const TableDef& table, const std::string& region,
                                     bool lambda_event);
// The sequence number text of a record: 21 digits, zero-padded.
std::string SequenceNumber(int64_t sequence);
// The id of a stream's one shard: "shardId-<the label's digits>-00000001".
std::string ShardId(const std::string& label);

class DynamoDbApi {
 public:
  DynamoDbApi(TableStore& store, BlockingPool& pool, DynamoDbApiOptions options);

  static bool Matches(const http::Request& request);
  // REQUIRES: on the reactor.
  void Handle(http::Request&& request, http::Responder responder);
  // The blocking core.
  http::Response HandleSync(const http::Request& request);

  // Deletes expired items (TTL; each with a service-deletion stream record) and
  // stream records older than 24 hours. Blocking; returns how many items expired.
  int Sweep(int64_t now_ms);

 private:
  TableStore& store_;
  BlockingPool& pool_;
  DynamoDbApiOptions options_;
};

}  // namespace nimbus::dynamodb
