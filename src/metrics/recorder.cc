#include "metrics/recorder.h"

#include <future>

#include <fmt/format.h>

#include "base/log.h"
#include "metrics/span_exporter.h"

namespace nimbus::metrics {
namespace {

int64_t MinuteOf(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::minutes>(t.time_since_epoch()).count();
}

}  // namespace

Recorder::Recorder(Reactor& reactor, BlockingPool& blocking, const Clock& clock, MetricsStore& store,
                   RecorderOptions options)
    : reactor_(reactor),
      blocking_(blocking),
      clock_(clock),
      store_(store),
      options_(options),
      token_(std::make_shared<Recorder*>(this)) {}

Recorder::~Recorder() = default;

void Recorder::Start() { ScheduleFlush(); }

void Recorder::Stop() {
  timer_.reset();
  Flush(/*wait=*/true);
}

void Recorder::ScheduleFlush() {
  std::weak_ptr<Recorder*> token = token_;
  timer_ = reactor_.RunAfter(options_.flush_every, [this, token] {
    if (!token.lock()) return;
    Flush(/*wait=*/false);
    ScheduleFlush();
  });
}

void Recorder::Roll(const std::string& name, Function& f, int64_t minute) {
  if (f.minute >= 0 && f.minute != minute) {
    if (!f.all.empty()) {
      finished_[{SeriesKey{name, ""}, f.minute}].Merge(f.all);
    }
    for (auto& [resource, s] : f.by_resource) finished_[{SeriesKey{name, resource}, f.minute}].Merge(s);
    f.all = MinuteStats();
    f.by_resource.clear();
  }
  f.minute = minute;
}

void Recorder::RollAccount(int64_t minute) {
  if (account_minute_ >= 0 && account_minute_ != minute) {
    finished_[{SeriesKey{"", ""}, account_minute_}].Merge(account_);
    account_ = MinuteStats();
  }
  account_minute_ = minute;
}

template <typename F>
void Recorder::Update(const std::string& function, const std::string& resource, F&& update) {
  const int64_t minute = MinuteOf(clock_.Now());
  auto it = functions_.find(function);
  if (it == functions_.end()) it = functions_.emplace(function, Function{}).first;
  Function& f = it->second;
  if (f.minute != minute) Roll(it->first, f, minute);
  if (account_minute_ != minute) RollAccount(minute);
  update(f.total);
  update(account_);
  update(f.all);
  if (!resource.empty()) {
    auto r = f.by_resource.find(resource);
    if (r == f.by_resource.end()) r = f.by_resource.emplace(resource, MinuteStats()).first;
    update(r->second);
  }
}

void Recorder::OnStart(const std::string& function, const std::string& resource, int in_flight,
                       int account_in_flight) {
  Update(function, resource, [in_flight](MinuteStats& s) { s.max_concurrency = std::max(s.max_concurrency, in_flight); });
  account_.max_concurrency = std::max(account_.max_concurrency, account_in_flight);
}

void Recorder::OnAsyncMetric(const std::string& function, std::string_view metric, double value) {
  Update(function, "", [&](MinuteStats& s) {
    if (metric == "AsyncEventsReceived") {
      ++s.async_received;
    } else if (metric == "AsyncEventsDropped") {
      ++s.async_dropped;
    } else if (metric == "DeadLetterErrors") {
      ++s.dead_letter_errors;
    } else if (metric == "DestinationDeliveryFailures") {
      ++s.destination_delivery_failures;
    } else if (metric == "AsyncEventAge") {
      s.async_age_min_ms = s.async_ages > 0 ? std::min(s.async_age_min_ms, value) : value;
      s.async_age_max_ms = s.async_ages > 0 ? std::max(s.async_age_max_ms, value) : value;
      ++s.async_ages;
      s.async_age_sum_ms += value;
    }
  });
}

void Recorder::OnThrottle(const std::string& function, const std::string& resource) {
  Update(function, resource, [](MinuteStats& s) { ++s.throttles; });
}

void Recorder::OnEnd(const std::string& function, const std::string& resource,
                     const Result<invoke::InvokeOutcome>& outcome) {
  const invoke::InvocationReport* report =
      outcome.has_value() && outcome->report ? &*outcome->report : nullptr;
  const bool error = !outcome.has_value() || outcome->function_error.has_value();
  const double duration = report ? report->duration_ms : 0;
  if (options_.spans && report && !report->trace_id.empty()) {
    Span span;
    span.trace_header = report->trace_id;
    span.function = function;
    span.version = outcome->executed_version;
    span.request_id = outcome->request_id;
    span.end_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Now().time_since_epoch()).count();
    span.start_unix_ns = span.end_unix_ns - static_cast<int64_t>((duration + report->init_ms.value_or(0)) * 1e6);
    span.cold_start = report->init_ms.has_value();
    if (error) span.error = report->status.empty() ? outcome->function_error.value_or("error") : report->status;
    options_.spans->Export(std::move(span));
  }
  const int duration_bucket = LogHistogram::Bucket(duration);
  const int init_bucket = report && report->init_ms ? LogHistogram::Bucket(*report->init_ms) : 0;
  Update(function, resource, [&](MinuteStats& s) {
    const bool first = s.invocations == 0;
    ++s.invocations;
    if (error) ++s.errors;
    const double ms = duration;
    s.duration_sum_ms += ms;
    s.duration_min_ms = first ? ms : std::min(s.duration_min_ms, ms);
    s.duration_max_ms = first ? ms : std::max(s.duration_max_ms, ms);
    s.durations.Add(duration_bucket);
    if (report == nullptr) return;
    if (report->init_ms) {
      ++s.cold_starts;
      ++s.inits;
      s.init_sum_ms += *report->init_ms;
      s.init_durations.Add(init_bucket);
    }
    s.billed_ms += report->billed_ms;
    s.gb_seconds += static_cast<double>(report->billed_ms) / 1000.0 * static_cast<double>(report->memory_mb) / 1024.0;
  });
}

void Recorder::Flush(bool wait) {
  const int64_t now = MinuteOf(clock_.Now());
  // The ended minutes (complete: invocations count in the minute they end in) and
  // the running totals of the current one.
  for (auto& [name, f] : functions_) {
    if (f.minute != now) Roll(name, f, now);
  }
  if (account_minute_ != now) RollAccount(now);
  auto copy = std::make_shared<std::map<std::pair<SeriesKey, int64_t>, MinuteStats>>(std::move(finished_));
  finished_.clear();
  for (const auto& [name, f] : functions_) {
    if (!f.all.empty()) (*copy)[{SeriesKey{name, ""}, now}] = f.all;
    for (const auto& [resource, s] : f.by_resource) (*copy)[{SeriesKey{name, resource}, now}] = s;
  }
  if (!account_.empty()) {
    (*copy)[{SeriesKey{"", ""}, now}] = account_;
  }
  const bool trim = now - last_trim_minute_ >= 60;
  if (trim) last_trim_minute_ = now;
  const int64_t before_s = (now * 60) - std::chrono::duration_cast<std::chrono::seconds>(options_.retention).count();
  MetricsStore& store = store_;
  // Totals only grow: a later copy supersedes an earlier one, whichever lands first.
  const int64_t generation = std::max(last_generation_ + 1, std::chrono::duration_cast<std::chrono::microseconds>(
                                                                clock_.Now().time_since_epoch()).count());
  last_generation_ = generation;
  auto write = [copy, trim, before_s, generation, &store] {
    if (Status st = store.Write(*copy, generation); !st.ok()) log::Warn("metrics: write: {}", st.ToString());
    if (trim) {
      if (Status st = store.Trim(before_s); !st.ok()) log::Warn("metrics: trim: {}", st.ToString());
    }
  };
  if (wait) {
    write();
  } else if (!copy->empty() || trim) {
    blocking_.Submit(std::move(write));
  }
}

std::string Recorder::RenderPrometheus() const {
  std::string out;
  // Label values escape backslash, quote and newline (the text format's rules).
  auto label = [](const std::string& v) {
    std::string e;
    for (char c : v) {
      if (c == '\\' || c == '"') e.push_back('\\');
      if (c == '\n') {
        e += "\\n";
        continue;
      }
      e.push_back(c);
    }
    return e;
  };
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& [function, f] : functions_) {
      out += fmt::format("{}{{function=\"{}\"}} {}\n", name, label(function), value(f.total));
    }
  };
  family("nimbus_function_invocations_total", "counter", "Invocations that ran (success or function error).",
         [](const MinuteStats& s) { return s.invocations; });
  family("nimbus_function_errors_total", "counter", "Invocations that ended in a function error or timeout.",
         [](const MinuteStats& s) { return s.errors; });
  family("nimbus_function_throttles_total", "counter", "Invocations refused for concurrency.",
         [](const MinuteStats& s) { return s.throttles; });
  family("nimbus_function_cold_starts_total", "counter", "Invocations that ran the function's init.",
         [](const MinuteStats& s) { return s.cold_starts; });
  out += "# HELP nimbus_function_duration_milliseconds Invoke duration of each invocation.\n"
         "# TYPE nimbus_function_duration_milliseconds summary\n";
  for (const auto& [function, f] : functions_) {
    out += fmt::format("nimbus_function_duration_milliseconds_sum{{function=\"{0}\"}} {1}\n"
                       "nimbus_function_duration_milliseconds_count{{function=\"{0}\"}} {2}\n",
                       label(function), f.total.duration_sum_ms, f.total.invocations);
  }
  family("nimbus_function_billed_gb_seconds_total", "counter", "Billed duration times memory.",
         [](const MinuteStats& s) { return s.gb_seconds; });
  return out;
}

}  // namespace nimbus::metrics
