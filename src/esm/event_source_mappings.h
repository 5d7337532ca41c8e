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
};

struct EventSourceMappingsDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  control::Registry& registry;
  invoke::Invoker& invoker;  // confined to `reactor`
  sqs::QueueStore& queues;
  control::Region region;
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

 private:
  struct Poller;
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

  EventSourceMappingsDeps deps_;
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
  // Confined to the reactor.
  std::map<std::string, std::shared_ptr<Poller>> pollers_;  // by mapping UUID
  std::vector<Mapping> loaded_;  // from Open() until Start()
  bool stopped_ = false;
  std::shared_ptr<EventSourceMappings*> token_;
};

// SQS's event for a batch (LAMBDA_COMPAT §4.3).
std::string SqsEvent(const std::vector<sqs::Message>& batch, const std::string& source_arn,
                     const std::string& region);

}  // namespace nimbus::esm
