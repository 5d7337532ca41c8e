// esm: event source mappings (issue #5, scope 4): the Lambda API's
// Create/Get/Update/Delete/ListEventSourceMappings, kept in <data>/esm.db, and
// the pollers that run them. A mapping from an SQS queue to a function receives
// batches from the queue (BatchSize, MaximumBatchingWindowInSeconds), invokes the
// function synchronously with SQS's event, and deletes the messages it handled:
// all of them on success, all but the reported ones with ReportBatchItemFailures,
// none on a function error (they come back after the queue's visibility timeout,
// and the queue's RedrivePolicy moves them to its dead-letter queue in the end).
// Each mapping runs as many batches at once as its backlog needs: one more while
// batches come back full, one fewer after an empty receive, up to
// ScalingConfig.MaximumConcurrency (default kDefaultMaxConcurrency).
//
//
// A mapping from a DynamoDB stream (issue #6, scope 4) reads the stream in order
// from its StartingPosition (TRIM_HORIZON, LATEST, AT_TIMESTAMP) in batches
// (BatchSize, MaximumBatchingWindowInSeconds) and invokes the function with
// DynamoDB's event. ParallelizationFactor N splits the shard into N lanes by the
// records' keys: each lane processes one batch at a time, in order, so records of
// one key are always in order. A batch is retried until it succeeds, until
// MaximumRetryAttempts or MaximumRecordAgeInSeconds is exceeded (then its
// description goes to the OnFailure destination, an SQS queue, and the lane moves
// past it), halved first with BisectBatchOnFunctionError, and with
// ReportBatchItemFailures resumed from the lowest failed sequence number. Each
// lane's checkpoint (the last sequence number handled) is on disk before the next
// batch is read, so a restart resumes where it stopped (records are delivered at
// least once).
//
// Threads: everything on the reactor that owns the invoker; SQLite and queue
// reads run on the BlockingPool.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "base/thread_annotations.h"
#include "control/registry.h"
#include "dynamodb/table_store.h"
#include "http/message.h"
#include "http/server.h"
#include "invoke/invoker.h"
#include "sqs/queue_store.h"
#include "storage/store.h"

namespace nimbus::esm {

inline constexpr int kDefaultMaxConcurrency = 5;

struct Mapping {
  std::string uuid;
  std::string function_arn;  // unqualified or qualified, as resolved at create
  std::string source_arn;    // arn:aws:sqs:REGION:ACCOUNT:NAME
  int batch_size = 10;
  int window_s = 0;          // MaximumBatchingWindowInSeconds
  bool enabled = true;
  bool report_item_failures = false;  // FunctionResponseTypes: ["ReportBatchItemFailures"]
  std::optional<int> max_concurrency;  // ScalingConfig.MaximumConcurrency
  double last_modified = 0;            // epoch seconds
  std::string last_result = "No records processed";
  // Streams only.
  std::string starting_position;       // TRIM_HORIZON, LATEST, AT_TIMESTAMP
  double starting_timestamp = 0;       // epoch seconds, for AT_TIMESTAMP
  int max_retry_attempts = -1;         // -1: until the records expire
  int max_record_age_s = -1;           // -1: never too old
  bool bisect = false;                 // BisectBatchOnFunctionError
  int parallelization = 1;             // ParallelizationFactor, 1-10
  std::string on_failure;              // DestinationConfig.OnFailure.Destination (an SQS ARN)

  bool is_stream() const { return source_arn.starts_with("arn:aws:dynamodb:"); }
};

struct EventSourceMappingsDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  control::Registry& registry;
  invoke::Invoker& invoker;  // confined to `reactor`
  sqs::QueueStore& queues;
  control::Region region;
  dynamodb::TableStore* tables = nullptr;  // thread-safe; null: no stream mappings
};

class EventSourceMappings {
 public:
  // Opens (creating) the store and loads the mappings. Blocking: call before the
  // reactor serves requests; Start() then starts the enabled ones' pollers.
  static Result<std::unique_ptr<EventSourceMappings>> Open(const std::filesystem::path& db,
                                                           EventSourceMappingsDeps deps);
  ~EventSourceMappings();

  // /2015-03-31/event-source-mappings[/UUID]
  static bool Matches(const http::Request& request);
  // REQUIRES: on the reactor.
  void Handle(http::Request&& request, http::Responder responder);
  // REQUIRES: on the reactor.
  void Start();
  // Stops polling; batches in flight finish. REQUIRES: on the reactor.
  void Stop();
  // A message was sent to the queue `name`: its mappings poll now. On the reactor.
  void OnMessageSent(const std::string& queue_name);
  // Records were added to `table`'s stream: its mappings read now. On the reactor.
  void OnStreamRecords(const std::string& table);

 private:
  struct Poller;
  struct Lane;
  EventSourceMappings(EventSourceMappingsDeps deps, std::unique_ptr<storage::Store> store);

  // The blocking half of a control-plane request; `changed` gets the mapping to
  // (re)start or stop on the reactor.
  http::Response HandleSync(const http::Request& request, std::optional<Mapping>* changed,
                            std::string* deleted);
  Result<std::vector<Mapping>> LoadAll();
  Status Save(const Mapping& m);

  void Apply(std::optional<Mapping> changed, const std::string& deleted);
  void Poll(const std::shared_ptr<Poller>& p);
  void OnBatch(const std::shared_ptr<Poller>& p, std::vector<sqs::Message> messages, bool full);
  void Invoke(const std::shared_ptr<Poller>& p, std::vector<sqs::Message> batch);
  void SchedulePoll(const std::shared_ptr<Poller>& p, std::chrono::milliseconds delay);

  // Streams (stream_mappings.cc).
  // The lanes' starting checkpoints of a new stream mapping; blocking.
  Status InitCheckpoints(const Mapping& m);
  Result<int64_t> LoadCheckpoint(const std::string& uuid, int lane);
  Status SaveCheckpoint(const std::string& uuid, int lane, int64_t sequence);
  void StartLanes(const Mapping& m);
  void ReadLane(const std::shared_ptr<Lane>& l);
  void ScheduleRead(const std::shared_ptr<Lane>& l, std::chrono::milliseconds delay);
  void OnLaneRecords(const std::shared_ptr<Lane>& l, std::vector<dynamodb::StreamRecord> records);
  void InvokeLane(const std::shared_ptr<Lane>& l, std::vector<dynamodb::StreamRecord> batch);
  // The lane is done with records up to `sequence`: saves it, then reads on.
  void Advance(const std::shared_ptr<Lane>& l, int64_t sequence, std::chrono::milliseconds delay);
  // Sends the OnFailure record describing `batch` (condition: RetryAttemptsExhausted,
  // RecordAgeExceeded) to the mapping's destination, if any. Blocking-pool work.
  void SendToOnFailure(const std::shared_ptr<Lane>& l, const std::vector<dynamodb::StreamRecord>& batch,
                       const std::string& condition, int attempts, const std::optional<std::string>& function_error);
  void StopLanes(const std::string& uuid);

  EventSourceMappingsDeps deps_;
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
  // Confined to the reactor.
  std::map<std::string, std::shared_ptr<Poller>> pollers_;  // by mapping UUID
  std::multimap<std::string, std::shared_ptr<Lane>> lanes_;  // by mapping UUID
  std::vector<Mapping> loaded_;  // from Open() until Start()
  bool stopped_ = false;
  std::shared_ptr<EventSourceMappings*> token_;
};

// SQS's event for a batch (LAMBDA_COMPAT §4.3).
std::string SqsEvent(const std::vector<sqs::Message>& batch, const std::string& source_arn,
                     const std::string& region);
// DynamoDB's event for a batch of stream records (LAMBDA_COMPAT §4.2).
std::string DynamoDbEvent(const std::vector<dynamodb::StreamRecord>& batch, const dynamodb::TableDef& table,
                          const std::string& stream_arn, const std::string& region);

}  // namespace nimbus::esm
