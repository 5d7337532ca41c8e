// AsyncService: the async component assembled - the durable queue
// (<data>/async.db through a GroupCommitJournal), the event invoke
// configurations, the Dispatcher (the AsyncInvoker given to api::LambdaApi)
// and the EventInvokeConfigApi. server::Server owns one.
//
// Threads: Open() blocks on disk (call it before the reactor serves requests);
// everything else, including destruction, on the reactor thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "async/dispatcher.h"
#include "async/event_invoke_config.h"
#include "async/event_invoke_config_api.h"
#include "async/group_commit_journal.h"
#include "async/timers.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "invoke/invoker.h"

namespace nimbus::async {

struct AsyncServiceOptions {
  std::filesystem::path db_path;  // <data>/async.db
  // Multiplies every retry delay (1 min / 2 min after function errors, 1 s..5 min
  // backoff after throttles and platform errors). 1 in production.
  double retry_scale = 1.0;
  // Async attempts running at once, across functions (DispatcherOptions).
  int max_in_flight = 32;
  control::Region region;
};

struct AsyncServiceDeps {
  Reactor& reactor;  // owns `invoker`
  const Clock& clock;
  invoke::Invoker& invoker;
  Resolver resolve;
  QueueSender send_to_queue;  // destinations and dead-letter queues that are SQS queues
  AsyncMetricSink metric;     // Lambda's async metrics, per function
};

class AsyncService {
 public:
  // Opens (creating) the database and loads configurations and queued events.
  static Result<std::unique_ptr<AsyncService>> Open(AsyncServiceDeps deps,
                                                    AsyncServiceOptions options);
  ~AsyncService();
  AsyncService(const AsyncService&) = delete;
  AsyncService& operator=(const AsyncService&) = delete;

  // Starts delivering the events found on disk. REQUIRES: on the reactor.
  void Start();
  // Starts no more attempts; `done` runs once every outcome recorded so far is
  // durable. REQUIRES: on the reactor.
  void Stop(std::function<void()> done);

  AsyncInvoker& invoker() { return *dispatcher_; }
  EventInvokeConfigApi& config_api() { return *config_api_; }
  const AsyncStats& stats() const { return dispatcher_->stats(); }
  const JournalStats& journal_stats() const { return journal_->stats(); }
  size_t pending() const { return dispatcher_->pending(); }

 private:
  AsyncService() = default;

  EventInvokeConfigs configs_;
  std::vector<Event> recovered_;
  std::unique_ptr<Timers> timers_;
  std::unique_ptr<GroupCommitJournal> journal_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<EventInvokeConfigApi> config_api_;
};

}  // namespace nimbus::async
