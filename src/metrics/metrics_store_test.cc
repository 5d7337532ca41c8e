#include "metrics/metrics_store.h"

#include <gtest/gtest.h>

#include <future>

#include "base/testing/fake_clock.h"
#include "metrics/recorder.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::metrics {
namespace {

TEST(LogHistogramTest, QuantilesAreWithinTwoPercent) {
  LogHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Observe(i);
  EXPECT_NEAR(h.Quantile(0.5), 500, 500 * 0.02);
  EXPECT_NEAR(h.Quantile(0.99), 990, 990 * 0.02);
  EXPECT_NEAR(h.Quantile(1), 1000, 1000 * 0.02);
  EXPECT_NEAR(h.Quantile(0), 1, 0.02);
  EXPECT_EQ(LogHistogram().Quantile(0.5), 0);
}

TEST(MinuteStatsTest, RoundTripsThroughJsonAndMerges) {
  MinuteStats a;
  a.invocations = 2;
  a.errors = 1;
  a.duration_sum_ms = 30;
  a.duration_min_ms = 10;
  a.duration_max_ms = 20;
  a.durations.Observe(10);
  a.durations.Observe(20);
  a.billed_ms = 31;
  a.gb_seconds = 0.5;
  a.max_concurrency = 2;
  auto b = MinuteStats::FromJson(a.ToJson());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->ToJson(), a.ToJson());
  MinuteStats c;
  c.invocations = 1;
  c.duration_sum_ms = c.duration_min_ms = c.duration_max_ms = 5;
  c.durations.Observe(5);
  c.max_concurrency = 5;
  b->Merge(c);
  EXPECT_EQ(b->invocations, 3u);
  EXPECT_EQ(b->duration_min_ms, 5);
  EXPECT_EQ(b->duration_max_ms, 20);
  EXPECT_EQ(b->durations.count(), 3u);
  EXPECT_EQ(b->max_concurrency, 5);
}

class MetricsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = MetricsStore::Open(dir_.path() / "metrics.db");
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
  }
  static MinuteStats Calls(uint64_t n, uint64_t errors, double ms) {
    MinuteStats s;
    s.invocations = n;
    s.errors = errors;
    s.duration_sum_ms = ms * static_cast<double>(n);
    s.duration_min_ms = s.duration_max_ms = ms;
    for (uint64_t i = 0; i < n; ++i) s.durations.Observe(ms);
    s.billed_ms = static_cast<uint64_t>(ms) * n;
    s.gb_seconds = static_cast<double>(s.billed_ms) / 1000 * 0.125;
    return s;
  }
  storage::testing::TempDir dir_;
  std::unique_ptr<MetricsStore> store_;
};

TEST_F(MetricsStoreTest, QueriesSumMinutesIntoPeriodsFromTheStart) {
  const SeriesKey f{"f", ""};
  // Minutes 1000..1004 (epoch minutes), 10 calls each, 1 error in the last.
  std::map<std::pair<SeriesKey, int64_t>, MinuteStats> minutes;
  for (int64_t m = 1000; m < 1005; ++m) minutes[{f, m}] = Calls(10, m == 1004 ? 1 : 0, static_cast<double>(m - 999));
  ASSERT_TRUE(store_->Write(minutes, 1).ok());
  MetricQuery q{"Invocations", f, 1000 * 60, 1005 * 60, 120, {}};
  auto points = store_->Query(q);
  ASSERT_TRUE(points.has_value()) << points.error().ToString();
  ASSERT_EQ(points->size(), 3u);
  EXPECT_EQ((*points)[0].timestamp_s, 1000 * 60);
  EXPECT_EQ((*points)[0].sum, 20);
  EXPECT_EQ((*points)[2].sum, 10);
  q.metric_name = "Errors";
  q.period_s = 300;
  points = store_->Query(q);
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ(points->front().sum, 1);
  q.metric_name = "Duration";
  q.percentiles = {"p50", "p99"};
  points = store_->Query(q);
  EXPECT_EQ(points->front().minimum, 1);
  EXPECT_EQ(points->front().maximum, 5);
  EXPECT_EQ(points->front().average, 3);
  EXPECT_NEAR(points->front().percentiles.at("p50"), 3, 0.1);
  EXPECT_NEAR(points->front().percentiles.at("p99"), 5, 0.1);
  q.period_s = 90;
  EXPECT_EQ(store_->Query(q).error().code(), Code::kInvalidArgument);
  q.metric_name = "Nope";
  q.period_s = 60;
  EXPECT_EQ(store_->Query(q).error().code(), Code::kInvalidArgument);
}

TEST_F(MetricsStoreTest, AnEarlierGenerationDoesNotOverwriteALaterOne) {
  const SeriesKey f{"f", ""};
  ASSERT_TRUE(store_->Write({{{f, 1000}, Calls(5, 0, 1)}}, 2).ok());
  ASSERT_TRUE(store_->Write({{{f, 1000}, Calls(3, 0, 1)}}, 1).ok());
  auto points = store_->Query(MetricQuery{"Invocations", f, 1000 * 60, 1001 * 60, 60, {}});
  EXPECT_EQ(points->front().sum, 5);
}

TEST_F(MetricsStoreTest, UsageSumsRequestsBilledTimeAndGbSecondsPerFunction) {
  ASSERT_TRUE(store_->Write({{{SeriesKey{"a", ""}, 1000}, Calls(4, 0, 100)},
                             {{SeriesKey{"a", ""}, 1001}, Calls(6, 0, 100)},
                             {{SeriesKey{"a", "a:live"}, 1001}, Calls(6, 0, 100)},  // not counted twice
                             {{SeriesKey{"b", ""}, 1001}, Calls(1, 0, 1000)}},
                            1)
                  .ok());
  auto usage = store_->Usage(1000 * 60, 1002 * 60, "");
  ASSERT_TRUE(usage.has_value());
  ASSERT_EQ(usage->size(), 2u);
  EXPECT_EQ((*usage)[0].function, "a");
  EXPECT_EQ((*usage)[0].requests, 10u);
  EXPECT_EQ((*usage)[0].billed_ms, 1000u);
  EXPECT_DOUBLE_EQ((*usage)[0].gb_seconds, 0.125);
  EXPECT_EQ(store_->Usage(1000 * 60, 1002 * 60, "b")->size(), 1u);
  ASSERT_TRUE(store_->Trim(1001 * 60).ok());
  EXPECT_EQ(store_->Usage(0, 1002 * 60, "a")->front().requests, 6u);
}

TEST_F(MetricsStoreTest, TheRecorderCountsInvocationsErrorsThrottlesColdStartsAndBilledTime) {
  Reactor reactor("metrics-test");
  BlockingPool pool("blocking", 1);
  FakeClock clock;
  Recorder recorder(reactor, pool, clock, *store_);
  auto outcome = [](double ms, std::optional<double> init, bool error) {
    invoke::InvokeOutcome o;
    if (error) o.function_error = "Unhandled";
    o.report = invoke::InvocationReport{ms, static_cast<uint64_t>(ms + init.value_or(0)), 512, 30, init, error ? "error" : "", ""};
    return Result<invoke::InvokeOutcome>(std::move(o));
  };
  recorder.OnStart("f", "f:live", 1, 1);
  recorder.OnStart("f", "f:live", 2, 3);
  recorder.OnEnd("f", "f:live", outcome(10, 90, false));
  recorder.OnEnd("f", "f:live", outcome(20, std::nullopt, true));
  recorder.OnThrottle("f", "");
  recorder.OnEnd("f", "", Result<invoke::InvokeOutcome>(Status(Code::kInternal, "platform")));
  recorder.Flush(/*wait=*/true);
  const int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(clock.Now().time_since_epoch()).count();
  auto query = [&](const char* metric, const std::string& resource) {
    auto p = store_->Query(MetricQuery{metric, SeriesKey{"f", resource}, minute * 60, (minute + 1) * 60, 60, {}});
    EXPECT_TRUE(p.has_value());
    return p.has_value() && !p->empty() ? p->front().sum : -1.0;
  };
  EXPECT_EQ(query("Invocations", ""), 3);
  EXPECT_EQ(query("Invocations", "f:live"), 2);
  EXPECT_EQ(query("Errors", ""), 2);
  EXPECT_EQ(query("Throttles", ""), 1);
  EXPECT_EQ(query("ColdStarts", ""), 1);
  EXPECT_EQ(query("InitDuration", ""), 90);
  EXPECT_EQ(query("ConcurrentExecutions", "f:live"), 2);
  // The account's series (function ""): every function, and all in flight at once.
  auto account = store_->Query(MetricQuery{"ConcurrentExecutions", SeriesKey{"", ""}, minute * 60, (minute + 1) * 60, 60, {}});
  ASSERT_EQ(account->size(), 1u);
  EXPECT_EQ(account->front().maximum, 3);
  EXPECT_EQ(store_->Query(MetricQuery{"Invocations", SeriesKey{"", ""}, minute * 60, (minute + 1) * 60, 60, {}})->front().sum, 3);
  auto usage = store_->Usage(minute * 60, (minute + 1) * 60, "f");
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ(usage->front().billed_ms, 100u + 20u);
  EXPECT_DOUBLE_EQ(usage->front().gb_seconds, 0.12 * 0.5);
}

TEST_F(MetricsStoreTest, TheRecorderKeepsEachMinuteApartAcrossFlushes) {
  Reactor reactor("metrics-test");
  BlockingPool pool("blocking", 1);
  FakeClock clock;
  Recorder recorder(reactor, pool, clock, *store_);
  auto ok = [] {
    invoke::InvokeOutcome o;
    o.report = invoke::InvocationReport{5, 5, 128, 20, std::nullopt, "", ""};
    return Result<invoke::InvokeOutcome>(std::move(o));
  };
  const int64_t first = std::chrono::duration_cast<std::chrono::minutes>(clock.Now().time_since_epoch()).count();
  recorder.OnEnd("f", "", ok());
  recorder.Flush(/*wait=*/true);  // the running total of the first minute
  recorder.OnEnd("f", "", ok());
  clock.Advance(std::chrono::minutes(1));
  recorder.OnEnd("f", "f:1", ok());
  recorder.Flush(/*wait=*/true);
  recorder.Flush(/*wait=*/true);  // nothing new: the same totals again
  auto points = store_->Query(MetricQuery{"Invocations", SeriesKey{"f", ""}, first * 60, (first + 2) * 60, 60, {}});
  ASSERT_TRUE(points.has_value());
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].sum, 2) << "the first minute's final total replaced its running total";
  EXPECT_EQ((*points)[1].sum, 1);
  auto account = store_->Query(MetricQuery{"Invocations", SeriesKey{"", ""}, first * 60, (first + 2) * 60, 60, {}});
  ASSERT_EQ(account->size(), 2u);
  EXPECT_EQ((*account)[0].sum + (*account)[1].sum, 3);
  EXPECT_NE(recorder.RenderPrometheus().find("nimbus_function_invocations_total{function=\"f\"} 3"), std::string::npos)
      << recorder.RenderPrometheus();
}

TEST_F(MetricsStoreTest, AsyncMetricsAreRecordedPerFunctionAndQueried) {
  Reactor reactor("metrics-test");
  BlockingPool pool("blocking", 1);
  FakeClock clock;
  Recorder recorder(reactor, pool, clock, *store_);
  recorder.OnAsyncMetric("f", "AsyncEventsReceived", 1);
  recorder.OnAsyncMetric("f", "AsyncEventsReceived", 1);
  recorder.OnAsyncMetric("f", "AsyncEventAge", 40);
  recorder.OnAsyncMetric("f", "AsyncEventAge", 60040);
  recorder.OnAsyncMetric("f", "AsyncEventsDropped", 1);
  recorder.OnAsyncMetric("f", "DeadLetterErrors", 1);
  recorder.Flush(/*wait=*/true);
  const int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(clock.Now().time_since_epoch()).count();
  auto one = [&](const char* metric) {
    auto p = store_->Query(MetricQuery{metric, SeriesKey{"f", ""}, minute * 60, (minute + 1) * 60, 60, {}});
    EXPECT_TRUE(p.has_value() && p->size() == 1) << metric;
    return p.has_value() && p->size() == 1 ? p->front() : Datapoint{};
  };
  EXPECT_EQ(one("AsyncEventsReceived").sum, 2);
  EXPECT_EQ(one("AsyncEventsDropped").sum, 1);
  EXPECT_EQ(one("DeadLetterErrors").sum, 1);
  EXPECT_EQ(one("AsyncEventAge").average, 30040);
  EXPECT_EQ(one("AsyncEventAge").maximum, 60040);
  EXPECT_EQ(one("AsyncEventAge").minimum, 40);
  EXPECT_TRUE(store_->Query(MetricQuery{"DestinationDeliveryFailures", SeriesKey{"f", ""}, minute * 60, (minute + 1) * 60, 60, {}})->empty());
}

}  // namespace
}  // namespace nimbus::metrics
