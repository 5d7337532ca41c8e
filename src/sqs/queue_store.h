// sqs: the durable queues behind Nimbus' SQS-compatible API (issue #5, scope 3).
// Queues and their messages live in one SQLite database (<data>/sqs.db, WAL,
// synchronous=FULL): a message is on disk before SendMessage answers, and a
// receive, delete or visibility change is one transaction. Standard queues
// deliver in send order where they can; FIFO queues deliver each message group in
// order, one in-flight batch per group, and drop duplicates within 5 minutes.
// A message received more than its queue's RedrivePolicy allows moves to the
// dead-letter queue on its next receive; messages older than the retention
// period are dropped.
//
// Concurrency: thread-safe; store_mu_ serialises the SQLite connection. Every
// call blocks on disk: call from a BlockingPool thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "storage/store.h"

namespace nimbus::sqs {

struct MessageAttributeValue {
  std::string data_type;     // "String", "Number", "Binary" (with an optional ".custom" suffix)
  std::string string_value;  // String and Number
  std::string binary_value;  // Binary: the raw bytes
};
// By name, sorted.
using MessageAttributes = std::map<std::string, MessageAttributeValue>;

// SQS's MD5OfMessageAttributes: over each attribute in name order, the name, the
// data type, a transport byte (1 string, 2 binary) and the value, each string
// preceded by its 4-byte big-endian length. Hex; "" for no attributes.
std::string Md5OfMessageAttributes(const MessageAttributes& attributes);

struct QueueInfo {
  std::string name;
  // Settable attributes, every one present (defaults filled in): VisibilityTimeout,
  // MessageRetentionPeriod, DelaySeconds, ReceiveMessageWaitTimeSeconds,
  // MaximumMessageSize, SqsManagedSseEnabled, [RedrivePolicy], [Policy],
  // [RedriveAllowPolicy], FIFO ones for FIFO queues.
  std::map<std::string, std::string> attributes;
  int64_t created_s = 0;
  int64_t modified_s = 0;
  bool fifo() const;
  int IntAttribute(const std::string& name, int fallback) const;
};

// The default attributes of a new queue (`fifo`: a FIFO queue's).
std::map<std::string, std::string> DefaultQueueAttributes(bool fifo);

struct SendRequest {
  std::string body;
  MessageAttributes attributes;
  std::optional<int> delay_seconds;  // the queue's DelaySeconds when unset
  std::string group_id;              // FIFO
  std::string dedup_id;              // FIFO: explicit, or the body's SHA-256 (content-based)
  std::string trace_header;          // the AWSTraceHeader system attribute, or ""
};

struct SendResult {
  std::string id;
  std::string md5_body;
  std::string md5_attributes;
  std::string sequence_number;  // FIFO
};

struct Message {
  std::string id;
  std::string receipt;
  std::string body;
  std::string md5_body;
  std::string md5_attributes;
  MessageAttributes attributes;
  int64_t sent_ms = 0;
  int64_t first_receive_ms = 0;
  int receive_count = 0;
  std::string group_id;
  std::string dedup_id;
  std::string sequence_number;
  std::string dead_letter_source;  // the queue ARN it was moved from, if any
  std::string trace_header;        // AWSTraceHeader, or ""
};

struct QueueCounts {
  int64_t visible = 0;
  int64_t in_flight = 0;
  int64_t delayed = 0;
};

class QueueStore {
 public:
  // `arn_prefix` ("arn:aws:sqs:us-east-1:000000000000:") names queues in
  // RedrivePolicy and the DeadLetterQueueSourceArn of moved messages.
  static Result<std::unique_ptr<QueueStore>> Open(const std::filesystem::path& db,
                                                  std::string arn_prefix);

  // Creates the queue with `attributes` (validated by the caller, defaults added).
  // An existing queue with the same attributes is returned as is; with others,
  // kConflict naming them.
  Result<QueueInfo> CreateQueue(const std::string& name, std::map<std::string, std::string> attributes);
  // kNotFound for a missing queue (all queue calls).
  Status DeleteQueue(const std::string& name);
  Result<QueueInfo> GetQueue(const std::string& name);
  Result<std::vector<std::string>> ListQueues(const std::string& prefix);
  Status SetAttributes(const std::string& name, const std::map<std::string, std::string>& changes);
  Result<QueueCounts> Counts(const std::string& name, int64_t now_ms);

  Result<SendResult> Send(const std::string& name, const SendRequest& request, int64_t now_ms);
  // Up to `max` messages, each made invisible for `visibility_s` (the queue's
  // VisibilityTimeout when unset).
  Result<std::vector<Message>> Receive(const std::string& name, int max, std::optional<int> visibility_s,
                                       int64_t now_ms);
  // Deletes the message `receipt` names; true if it was there (a receipt of a
  // message already deleted is not an error, as in SQS).
  Result<bool> Delete(const std::string& name, const std::string& receipt);
  // Delete() of each receipt, in one transaction (one fsync for the batch).
  Result<std::vector<bool>> DeleteBatch(const std::string& name, const std::vector<std::string>& receipts);
  // kFailedPrecondition when the message is not in flight (MessageNotInflight),
  // kNotFound when no message has this receipt.
  Status ChangeVisibility(const std::string& name, const std::string& receipt, int timeout_s,
                          int64_t now_ms);
  Status Purge(const std::string& name);

  // The earliest time a message of `name` becomes visible, if any is invisible
  // (long polls wait until then at most).
  Result<std::optional<int64_t>> NextVisibleAt(const std::string& name);

 private:
  QueueStore(std::unique_ptr<storage::Store> store, std::string arn_prefix);
  Result<std::optional<QueueInfo>> LoadQueue(const std::string& name) NIMBUS_REQUIRES(store_mu_);
  Status MoveToDeadLetterQueue(const std::string& from, int64_t seq, const std::string& dlq,
                               int64_t now_ms) NIMBUS_REQUIRES(store_mu_);

  const std::string arn_prefix_;
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
};

}  // namespace nimbus::sqs
