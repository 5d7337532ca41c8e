// events: the EventBridge subset of issue #5 (scope 6) on the Nimbus port
// (AWS JSON 1.1, X-Amz-Target: AWSEvents.<Action>; service "events"): PutRule
// with a schedule (rate(), cron()) or an event pattern, Describe/List/Delete/
// Enable/DisableRule, PutTargets/RemoveTargets/ListTargetsByRule, PutEvents. Rules
// and targets live in <data>/events.db. Targets are functions (invoked
// asynchronously, when their policy lets events.amazonaws.com invoke them) and SQS
// queues; a target's Input or InputPath replaces the event.
//
// Traces: an event put with an X-Ray trace (the entry's TraceHeader, else the
// PutEvents request's X-Amzn-Trace-Id or W3C traceparent) reaches its targets in
// that trace: a function's invocation continues it, a queue's message keeps it
// as its AWSTraceHeader. Scheduled events carry none, so each invocation they
// cause starts a new trace, as on AWS.
//
// Schedules tick once a minute on the reactor. Before a rule fires for a minute
// the minute is stored as the rule's last tick, so a restart never fires a tick
// twice (one that was being delivered during a crash is lost, not repeated); ticks
// missed while the daemon was down are not made up, as EventBridge does not.
//
// Threads: Handle() on the reactor; SQLite and deliveries on the BlockingPool
// (function invocations are queued through `invoke_async`, durably).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "base/thread_annotations.h"
#include "control/registry.h"
#include "http/message.h"
#include "http/server.h"
#include "sqs/queue_store.h"
#include "storage/store.h"

namespace nimbus::events {

struct Target {
  std::string id, arn, input, input_path;
};

struct Rule {
  std::string name, description, schedule, pattern;
  bool enabled = true;
  std::vector<Target> targets;
  int64_t created_minute = 0;  // rate() schedules count from here
  int64_t last_tick = 0;       // the last minute it fired for
};

struct EventBridgeDeps {
  Reactor& reactor;
  BlockingPool& blocking;
  control::Registry& registry;
  sqs::QueueStore& queues;
  control::Region region;
  // Durably queues an asynchronous invocation of a function, continuing the
  // X-Ray trace `trace_header` ("" starts a new one). Thread-safe.
  std::function<void(const std::string& function_arn, std::string event, std::string trace_header)> invoke_async;
};

class EventBridge {
 public:
  static Result<std::unique_ptr<EventBridge>> Open(const std::filesystem::path& db, EventBridgeDeps deps);
  ~EventBridge();

  static bool Matches(const http::Request& request);
  // REQUIRES: on the reactor.
  void Handle(http::Request&& request, http::Responder responder);
  // Starts / stops the minute ticks. REQUIRES: on the reactor.
  void Start();
  void Stop();

  // Delivers `event` (an envelope) to `rule`'s targets, in the X-Ray trace
  // `trace_header` ("" for none). Blocking.
  void Deliver(const Rule& rule, const std::string& event, const std::string& trace_header);
  http::Response HandleSync(const http::Request& request);
  // Fires every enabled schedule due at `minute` (minutes since the epoch) that has
  // not fired for it yet; returns how many fired. Blocking; the minute ticks run it
  // on the BlockingPool.
  int FireSchedules(int64_t minute);

 private:
  EventBridge(EventBridgeDeps deps, std::unique_ptr<storage::Store> store);
  Result<std::map<std::string, Rule>> Load();
  Status SaveRule(const Rule& rule, bool remove);
  void ScheduleTick();
  void Tick(int64_t minute);
  std::string RuleArn(const std::string& name) const;

  EventBridgeDeps deps_;
  Mutex store_mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(store_mu_);
  // Confined to the reactor.
  std::unique_ptr<Reactor::Timer> tick_;
  bool stopped_ = false;
  std::shared_ptr<EventBridge*> token_;
};

}  // namespace nimbus::events
