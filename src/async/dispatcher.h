// Dispatcher: the AsyncInvoker. Keeps a queue per function, runs events through
// invoke::Invoker with Lambda's retry rules, and hands outcomes to destinations.
//
// Delivery is at-least-once: Enqueue() answers only after the event is in the
// Journal, and an event is deleted from it only in the same batch that records
// its final outcome (and inserts its destination record, if any). Events on
// disk at startup are handed to Recover() and run again.
//
// Scheduling: functions with ready events sit in a round-robin ring; at most
// `max_in_flight` attempts run at once across all functions. A throttled
// attempt puts its event back at the head of its queue and pauses the function
// for a backoff (1 s, 2 s, ... 5 min, scaled), or until one of its running
// attempts finishes; events wait there until MaximumEventAgeInSeconds, never
// dropped before. Platform errors retry the event with the same backoff;
// function errors retry after ~1 min and ~2 min up to MaximumRetryAttempts.
//
// Threads: confined to the reactor that owns the Invoker (Enqueue, Recover,
// timers, invoke callbacks, journal callbacks).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "async/async_invoker.h"
#include "async/event.h"
#include "async/event_invoke_config.h"
#include "async/invocation_record.h"
#include "async/journal.h"
#include "async/retry_policy.h"
#include "async/timers.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "control/function.h"
#include "invoke/invoker.h"

namespace nimbus::async {

// Counters for tests and, later, metrics. Monotonic.
struct AsyncStats {
  int64_t accepted = 0;              // events made durable by Enqueue()
  int64_t recovered = 0;             // events found on disk at startup
  int64_t attempts = 0;              // attempts that reached the function
  int64_t retries = 0;               // retries scheduled after a function error
  int64_t throttles = 0;             // attempts refused with kThrottled
  int64_t platform_errors = 0;       // attempts that failed with kUnavailable/kInternal
  int64_t succeeded = 0;             // events whose final outcome was a success
  int64_t failed = 0;                // events that exhausted retries or aged out
  int64_t expired = 0;               // of `failed`: EventAgeExceeded
  int64_t dropped = 0;               // events whose function no longer exists
  int64_t destination_deliveries = 0;   // records queued for a Lambda destination
  int64_t destination_failures = 0;     // records that could not be queued
  int64_t destination_unsupported = 0;  // records for SNS/EventBridge/S3 (not served)
  int64_t dead_letters = 0;              // failed events sent to their dead-letter queue
  int64_t dead_letter_errors = 0;        // ... that could not be sent (DeadLetterErrors)
  int64_t dead_letters_unsupported = 0;  // failed events whose DLQ (SNS) is not served
};

// Resolves a function as the caller named it (control::Registry::Resolve).
using Resolver = std::function<Result<control::FunctionSnapshot>(std::string_view name_or_arn,
                                                                 std::string_view qualifier)>;

struct DispatcherOptions {
  RetryPolicy retry;
  // Attempts running at once across every function. Each may hold an execution
  // environment; on a small host hundreds of cold starts at once help nobody.
  int max_in_flight = 32;
  control::Region region;
};

// Message attributes of a queue delivery: name -> (SQS data type, value).
using QueueAttributes = std::map<std::string, std::pair<std::string, std::string>>;
// Sends `body` (with message attributes) to the SQS queue `queue_arn`, durably,
// then calls `done` on the reactor. An async destination or a dead-letter queue
// that is a queue is delivered through it; null: queues are not served.
using QueueSender = std::function<void(const std::string& queue_arn, std::string body, QueueAttributes attributes,
                                       std::function<void(Status)> done)>;

// Lambda's asynchronous-invocation metrics, per function (CloudWatch names).
enum class AsyncMetric {
  kEventsReceived,              // AsyncEventsReceived: an event was accepted
  kEventAge,                    // AsyncEventAge: ms from acceptance to an attempt
  kEventsDropped,               // AsyncEventsDropped: an event ended without success
  kDeadLetterErrors,            // DeadLetterErrors: a dead letter could not be sent
  kDestinationDeliveryFailures, // DestinationDeliveryFailures: a record could not be delivered
};
// Told of each, on the reactor; may be null.
using AsyncMetricSink = std::function<void(const std::string& function, AsyncMetric metric, double value)>;

struct DispatcherDeps {
  const Clock& clock;
  Timers& timers;
  Journal& journal;
  invoke::Invoker& invoker;
  Resolver resolve;
  const EventInvokeConfigs& configs;
  // A new request id per destination record (NewUuid in production).
  std::function<std::string()> new_request_id;
  QueueSender send_to_queue;
  AsyncMetricSink metric;
};

class Dispatcher final : public AsyncInvoker {
 public:
  Dispatcher(DispatcherDeps deps, DispatcherOptions options);
  ~Dispatcher() override;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Enqueue(AsyncInvokeRequest request, std::function<void(Status)> accepted) override;

  // Takes the events that were on disk at startup (ids must be unique and
  // below every id Enqueue will assign afterwards).
  void Recover(std::vector<Event> events);

  // Starts no more attempts (those running finish and are recorded); events
  // stay on disk for the next start.
  void Stop();

  const AsyncStats& stats() const { return stats_; }
  // Events accepted and not yet finished (queued, waiting or running).
  size_t pending() const { return events_.size(); }
  int in_flight() const { return in_flight_; }

 private:
  struct FunctionQueue {
    std::deque<int64_t> ready;  // event ids, oldest first
    int in_flight = 0;
    int throttle_streak = 0;
    bool paused = false;
    bool in_ring = false;
    std::unique_ptr<Reactor::Timer> resume;
  };

  void Admit(Event event);
  void MakeReady(int64_t id, bool front);
  void Schedule(int64_t id, int64_t not_before_ms);
  void MaybeRing(const std::string& function);
  void Pump();
  void StartAttempt(int64_t id);
  void OnAttemptDone(int64_t id, Result<invoke::InvokeOutcome> result);
  void Resume(const std::string& function);
  // The event's final outcome: delete it, and queue its destination record.
  void Finish(int64_t id, Condition condition, const invoke::InvokeOutcome* outcome);
  // Writes a finished event's batch (its delete, and the record for a Lambda
  // destination, admitted once durable).
  void WriteFinished(WriteBatch batch, std::optional<Event> record_event, Condition condition);
  void Metric(const std::string& function, AsyncMetric metric, double value = 1) {
    if (deps_.metric) deps_.metric(function, metric, value);
  }
  // The errorMessage of a failed outcome (≤ 1 KB), for a dead letter's ErrorMessage.
  static std::string ErrorMessageOf(const invoke::InvokeOutcome* outcome, Condition condition);

  struct QueueDelivery {
    std::string queue_arn;
    std::string body;
    QueueAttributes attributes;
    bool dead_letter = false;
  };
  void Drop(int64_t id, const Status& why);
  const EventInvokeConfig* ConfigFor(const Event& e) const;
  int64_t NowMs() const;

  DispatcherDeps deps_;
  const DispatcherOptions options_;

  std::map<int64_t, Event> events_;  // every unfinished event, by id
  std::map<std::string, FunctionQueue> queues_;
  std::deque<std::string> ring_;     // functions with ready events, not paused
  std::map<int64_t, std::unique_ptr<Reactor::Timer>> waiting_;  // delayed events
  std::map<int64_t, int> platform_failures_;  // consecutive, per event (not persisted)
  int64_t next_id_ = 1;
  int in_flight_ = 0;
  bool pumping_ = false;
  bool pump_again_ = false;
  bool stopped_ = false;
  AsyncStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The queue key and config qualifier for a function as the caller named it:
// ("f", "$LATEST") for "f", ("f", "prod") for "f:prod" or ("f", "prod").
struct EventTarget {
  std::string function;
  std::string config_qualifier;
};
EventTarget TargetOf(std::string_view function_ref, std::string_view qualifier);

// The function name of a Lambda function ARN ("arn:aws:lambda:R:A:function:NAME[:Q]"),
// or nullopt if `arn` is not one.
struct LambdaArn {
  std::string name;
  std::string qualifier;  // "" if unqualified
};
std::optional<LambdaArn> ParseLambdaArn(std::string_view arn);

}  // namespace nimbus::async
