// metrics: per-function invocation metrics and metering (issue #7, scopes 2 and 3).
// The invoker reports every invocation (invoke::InvocationObserver); the Recorder
// aggregates them per function, per resource (the qualifier the caller used) and
// per minute, and flushes the minutes to MetricsStore (<data>/metrics.db), which
// keeps 1-minute resolution for 15 days and answers CloudWatch-style queries
// (namespace AWS/Lambda) and usage reports.
//
// Value types and a thread-safe store (one SQLite connection behind a mutex; call
// it from the BlockingPool).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "storage/store.h"

namespace nimbus::metrics {

// Durations with ~2% relative error for percentiles: bucket i holds values in
// [kBase^i, kBase^(i+1)) milliseconds (values below 0.001 ms go to the lowest).
class LogHistogram {
 public:
  void Observe(double ms) { Add(Bucket(ms)); }
  // The bucket of a value, and counting one in a bucket: one log() for several
  // histograms observing the same value.
  static int Bucket(double ms);
  void Add(int bucket);
  void Merge(const LogHistogram& other);
  uint64_t count() const { return count_; }
  // The value at quantile q (0..1), the middle of its bucket; 0 when empty.
  double Quantile(double q) const;
  const std::map<int, uint64_t>& buckets() const { return buckets_; }
  void Set(std::map<int, uint64_t> buckets);

 private:
  std::map<int, uint64_t> buckets_;
  uint64_t count_ = 0;
};

// One function (and resource) in one minute.
struct MinuteStats {
  uint64_t invocations = 0;
  uint64_t errors = 0;     // function errors and timeouts
  uint64_t throttles = 0;
  uint64_t cold_starts = 0;
  double duration_sum_ms = 0, duration_min_ms = 0, duration_max_ms = 0;
  LogHistogram durations;
  double init_sum_ms = 0;
  uint64_t inits = 0;
  LogHistogram init_durations;
  int max_concurrency = 0;  // most invocations in flight at once
  // Metering.
  uint64_t billed_ms = 0;
  double gb_seconds = 0;    // Σ billed duration × memory
  // Asynchronous invocation.
  uint64_t async_received = 0, async_dropped = 0;
  uint64_t dead_letter_errors = 0, destination_delivery_failures = 0;
  uint64_t async_ages = 0;  // attempts whose event age was measured
  double async_age_sum_ms = 0, async_age_min_ms = 0, async_age_max_ms = 0;

  void Merge(const MinuteStats& other);
  // Nothing happened in it.
  bool empty() const {
    return invocations == 0 && throttles == 0 && max_concurrency == 0 && async_received == 0 && async_dropped == 0 &&
           dead_letter_errors == 0 && destination_delivery_failures == 0 && async_ages == 0;
  }
  std::string ToJson() const;
  static Result<MinuteStats> FromJson(const std::string& text);
};

// A series key: the function and resource ("" for all of the function's
// invocations; "name:qualifier" for those through a version or alias). Function
// "" is the account: every function's invocations (metrics without dimensions).
struct SeriesKey {
  std::string function;
  std::string resource;
  friend auto operator<=>(const SeriesKey&, const SeriesKey&) = default;
};

// One period's statistics of one metric.
struct Datapoint {
  int64_t timestamp_s = 0;  // the period's start
  double sample_count = 0, sum = 0, minimum = 0, maximum = 0, average = 0;
  std::map<std::string, double> percentiles;  // "p50" -> value (Duration, InitDuration)
  std::string unit;                           // "Count", "Milliseconds"
};

struct MetricQuery {
  std::string metric_name;  // Invocations, Errors, Throttles, Duration, ConcurrentExecutions,
                            // ColdStarts, InitDuration, AsyncEventsReceived, AsyncEventAge,
                            // AsyncEventsDropped, DeadLetterErrors, DestinationDeliveryFailures
  SeriesKey series;
  int64_t start_s = 0, end_s = 0;  // [start, end)
  int64_t period_s = 60;           // a multiple of 60
  std::vector<std::string> percentiles;  // "p50", "p99.9", ...
};

// The metric names Query() knows, and their unit.
std::optional<std::string> UnitOf(const std::string& metric_name);

struct UsageRow {
  std::string function;
  uint64_t requests = 0;
  uint64_t billed_ms = 0;
  double gb_seconds = 0;
};

class MetricsStore {
 public:
  static Result<std::unique_ptr<MetricsStore>> Open(const std::filesystem::path& db);

  // Replaces the stored minutes with these (the Recorder's running totals), except
  // those stored by a later generation: writes may land out of order.
  Status Write(const std::map<std::pair<SeriesKey, int64_t>, MinuteStats>& minutes, int64_t generation);
  // Datapoints of each period in [start, end) that has data, oldest first.
  // kInvalidArgument for an unknown metric or a period that is not a multiple of 60.
  Result<std::vector<Datapoint>> Query(const MetricQuery& query);
  // Every function's requests, billed milliseconds and GB-seconds in [start, end)
  // (minute resolution), by function name; `function` non-empty: that one only.
  Result<std::vector<UsageRow>> Usage(int64_t start_s, int64_t end_s, const std::string& function);
  // The series with data in [start, end) (ListMetrics).
  Result<std::vector<SeriesKey>> Series(int64_t start_s, int64_t end_s);
  // Deletes minutes before `before_s` (retention: 15 days).
  Status Trim(int64_t before_s);

 private:
  explicit MetricsStore(std::unique_ptr<storage::Store> store) : store_(std::move(store)) {}
  Result<std::vector<std::pair<int64_t, MinuteStats>>> Minutes(const SeriesKey& key, int64_t start_s, int64_t end_s);

  Mutex mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(mu_);
};

}  // namespace nimbus::metrics
