// Recorder: the invoker's InvocationObserver that turns invocations into per-minute
// MinuteStats (per function, and per function and qualifier), and writes the
// minutes it holds to the MetricsStore every few seconds, so queries see an
// invocation within one flush (and a crash loses at most that much). Minutes older
// than 15 days are trimmed.
//
// Threads: the observer calls and the flush timer on the reactor; the writes on the
// BlockingPool.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "base/blocking_pool.h"
#include "base/clock.h"
#include "base/reactor.h"
#include "invoke/invoker.h"
#include "metrics/metrics_store.h"

namespace nimbus::metrics {

class SpanExporter;

struct RecorderOptions {
  std::chrono::milliseconds flush_every{2000};
  std::chrono::hours retention{15 * 24};
  // Each invocation's span goes here when set (OTLP export); must outlive the recorder.
  SpanExporter* spans = nullptr;
};

class Recorder final : public invoke::InvocationObserver {
 public:
  // Memory sizes of functions are looked up through `memory_mb` (the report carries
  // it; this is for throttles, which have none).
  Recorder(Reactor& reactor, BlockingPool& blocking, const Clock& clock, MetricsStore& store, RecorderOptions options = {});
  ~Recorder() override;

  // Starts the flush timer. REQUIRES: on the reactor.
  void Start();
  // Stops the timer and writes what is held (blocking until written). REQUIRES: on the reactor.
  void Stop();

  void OnStart(const std::string& function, const std::string& resource, int in_flight,
               int account_in_flight) override;
  void OnThrottle(const std::string& function, const std::string& resource) override;
  void OnEnd(const std::string& function, const std::string& resource,
             const Result<invoke::InvokeOutcome>& outcome) override;

  // An asynchronous-invocation metric of `function` (CloudWatch's name:
  // AsyncEventsReceived, AsyncEventAge (ms), AsyncEventsDropped, DeadLetterErrors,
  // DestinationDeliveryFailures). On the reactor.
  void OnAsyncMetric(const std::string& function, std::string_view metric, double value);

  // Writes the minutes held now and drops those that are over. Blocking when
  // `wait`; otherwise on the BlockingPool. REQUIRES: on the reactor.
  void Flush(bool wait);

  // Per-function totals since the daemon started, as Prometheus text (counters
  // nimbus_function_invocations_total, _errors_total, _throttles_total,
  // _cold_starts_total, nimbus_function_duration_milliseconds_{sum,count},
  // nimbus_function_billed_gb_seconds_total; a "function" label). On the reactor.
  std::string RenderPrometheus() const;

 private:
  // One function's stats: since start, and in its current minute (all of its
  // invocations, and by resource).
  struct Function {
    MinuteStats total;
    int64_t minute = -1;
    MinuteStats all;
    std::map<std::string, MinuteStats, std::less<>> by_resource;
  };
  // Applies `update` to `function`'s total and current minute, its `resource`'s
  // (if set) and the account's (function "": metrics without dimensions), rolling
  // ended minutes into finished_ first.
  template <typename F>
  void Update(const std::string& function, const std::string& resource, F&& update);
  void Roll(const std::string& name, Function& f, int64_t minute);
  void RollAccount(int64_t minute);
  void ScheduleFlush();

  Reactor& reactor_;
  BlockingPool& blocking_;
  const Clock& clock_;
  MetricsStore& store_;
  RecorderOptions options_;
  // Confined to the reactor.
  std::map<std::string, Function, std::less<>> functions_;
  int64_t account_minute_ = -1;
  MinuteStats account_;  // the account's current minute
  std::map<std::pair<SeriesKey, int64_t>, MinuteStats> finished_;  // ended minutes not yet written
  std::unique_ptr<Reactor::Timer> timer_;
  int64_t last_trim_minute_ = 0;
  int64_t last_generation_ = 0;
  std::shared_ptr<Recorder*> token_;
};

}  // namespace nimbus::metrics
