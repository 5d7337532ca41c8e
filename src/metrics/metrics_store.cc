#include "metrics/metrics_store.h"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

// Persisted format: released migrations are never edited. `stats`: MinuteStats::ToJson;
// `generation`: of the write that stored it (a later one replaces it, an earlier one not).
const std::vector<storage::Migration> kMigrations = {
    {1,
     "CREATE TABLE minutes (function TEXT NOT NULL, resource TEXT NOT NULL, minute INTEGER NOT NULL,"
     "  stats TEXT NOT NULL, generation INTEGER NOT NULL, PRIMARY KEY (function, resource, minute)) WITHOUT ROWID;"
     "CREATE INDEX minutes_by_time ON minutes (minute);"},
};

constexpr double kBase = 1.02;
const double kLogBase = std::log(kBase);
constexpr int kLowestBucket = -350;  // 1.02^-350 ≈ 0.001 ms


double Num(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : 0;
}

json::object HistogramJson(const LogHistogram& h) {
  json::object o;
  for (const auto& [b, n] : h.buckets()) o[std::to_string(b)] = n;
  return o;
}

void HistogramFromJson(const json::value* v, LogHistogram& h) {
  std::map<int, uint64_t> buckets;
  if (v && v->is_object()) {
    for (const auto& [k, n] : v->as_object()) {
      if (n.is_number()) buckets[std::stoi(std::string(k))] = n.to_number<uint64_t>();
    }
  }
  h.Set(std::move(buckets));
}

const std::map<std::string, std::string> kUnits = {
    {"Invocations", "Count"},      {"Errors", "Count"},          {"Throttles", "Count"},
    {"Duration", "Milliseconds"},  {"ConcurrentExecutions", "Count"},
    {"ColdStarts", "Count"},       {"InitDuration", "Milliseconds"},
    {"AsyncEventsReceived", "Count"}, {"AsyncEventAge", "Milliseconds"}, {"AsyncEventsDropped", "Count"},
    {"DeadLetterErrors", "Count"},    {"DestinationDeliveryFailures", "Count"},
};

}  // namespace

int LogHistogram::Bucket(double ms) {
  if (ms <= 0) return kLowestBucket;
  return std::max(kLowestBucket, static_cast<int>(std::floor(std::log(ms) / kLogBase)));
}

void LogHistogram::Add(int bucket) {
  ++buckets_[bucket];
  ++count_;
}

void LogHistogram::Merge(const LogHistogram& other) {
  for (const auto& [b, n] : other.buckets_) buckets_[b] += n;
  count_ += other.count_;
}

void LogHistogram::Set(std::map<int, uint64_t> buckets) {
  buckets_ = std::move(buckets);
  count_ = 0;
  for (const auto& [b, n] : buckets_) count_ += n;
}

double LogHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  // The rank of the quantile, 1-based: the smallest value with at least q of the
  // observations at or below it.
  const auto rank = static_cast<uint64_t>(std::max(1.0, std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (const auto& [b, n] : buckets_) {
    seen += n;
    if (seen >= rank) return std::pow(kBase, b + 0.5);
  }
  return std::pow(kBase, buckets_.rbegin()->first + 0.5);
}

void MinuteStats::Merge(const MinuteStats& o) {
  const bool had = invocations > 0;
  invocations += o.invocations;
  errors += o.errors;
  throttles += o.throttles;
  cold_starts += o.cold_starts;
  if (o.invocations > 0) {
    duration_min_ms = had ? std::min(duration_min_ms, o.duration_min_ms) : o.duration_min_ms;
    duration_max_ms = had ? std::max(duration_max_ms, o.duration_max_ms) : o.duration_max_ms;
  }
  duration_sum_ms += o.duration_sum_ms;
  durations.Merge(o.durations);
  init_sum_ms += o.init_sum_ms;
  inits += o.inits;
  init_durations.Merge(o.init_durations);
  max_concurrency = std::max(max_concurrency, o.max_concurrency);
  billed_ms += o.billed_ms;
  gb_seconds += o.gb_seconds;
  async_received += o.async_received;
  async_dropped += o.async_dropped;
  dead_letter_errors += o.dead_letter_errors;
  destination_delivery_failures += o.destination_delivery_failures;
  if (o.async_ages > 0) {
    async_age_min_ms = async_ages > 0 ? std::min(async_age_min_ms, o.async_age_min_ms) : o.async_age_min_ms;
    async_age_max_ms = async_ages > 0 ? std::max(async_age_max_ms, o.async_age_max_ms) : o.async_age_max_ms;
  }
  async_ages += o.async_ages;
  async_age_sum_ms += o.async_age_sum_ms;
}

std::string MinuteStats::ToJson() const {
  return json::serialize(json::object{{"invocations", invocations},
                                      {"errors", errors},
                                      {"throttles", throttles},
                                      {"cold_starts", cold_starts},
                                      {"duration_sum_ms", duration_sum_ms},
                                      {"duration_min_ms", duration_min_ms},
                                      {"duration_max_ms", duration_max_ms},
                                      {"durations", HistogramJson(durations)},
                                      {"init_sum_ms", init_sum_ms},
                                      {"inits", inits},
                                      {"init_durations", HistogramJson(init_durations)},
                                      {"max_concurrency", max_concurrency},
                                      {"billed_ms", billed_ms},
                                      {"gb_seconds", gb_seconds},
                                      {"async_received", async_received},
                                      {"async_dropped", async_dropped},
                                      {"dead_letter_errors", dead_letter_errors},
                                      {"destination_delivery_failures", destination_delivery_failures},
                                      {"async_ages", async_ages},
                                      {"async_age_sum_ms", async_age_sum_ms},
                                      {"async_age_min_ms", async_age_min_ms},
                                      {"async_age_max_ms", async_age_max_ms}});
}

Result<MinuteStats> MinuteStats::FromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Internal("metrics: a stored minute is not JSON");
  const auto& o = v.as_object();
  MinuteStats s;
  s.invocations = static_cast<uint64_t>(Num(o, "invocations"));
  s.errors = static_cast<uint64_t>(Num(o, "errors"));
  s.throttles = static_cast<uint64_t>(Num(o, "throttles"));
  s.cold_starts = static_cast<uint64_t>(Num(o, "cold_starts"));
  s.duration_sum_ms = Num(o, "duration_sum_ms");
  s.duration_min_ms = Num(o, "duration_min_ms");
  s.duration_max_ms = Num(o, "duration_max_ms");
  HistogramFromJson(o.if_contains("durations"), s.durations);
  s.init_sum_ms = Num(o, "init_sum_ms");
  s.inits = static_cast<uint64_t>(Num(o, "inits"));
  HistogramFromJson(o.if_contains("init_durations"), s.init_durations);
  s.max_concurrency = static_cast<int>(Num(o, "max_concurrency"));
  s.billed_ms = static_cast<uint64_t>(Num(o, "billed_ms"));
  s.gb_seconds = Num(o, "gb_seconds");
  s.async_received = static_cast<uint64_t>(Num(o, "async_received"));
  s.async_dropped = static_cast<uint64_t>(Num(o, "async_dropped"));
  s.dead_letter_errors = static_cast<uint64_t>(Num(o, "dead_letter_errors"));
  s.destination_delivery_failures = static_cast<uint64_t>(Num(o, "destination_delivery_failures"));
  s.async_ages = static_cast<uint64_t>(Num(o, "async_ages"));
  s.async_age_sum_ms = Num(o, "async_age_sum_ms");
  s.async_age_min_ms = Num(o, "async_age_min_ms");
  s.async_age_max_ms = Num(o, "async_age_max_ms");
  return s;
}

std::optional<std::string> UnitOf(const std::string& metric_name) {
  auto it = kUnits.find(metric_name);
  if (it == kUnits.end()) return std::nullopt;
  return it->second;
}

Result<std::unique_ptr<MetricsStore>> MetricsStore::Open(const std::filesystem::path& db) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  return std::unique_ptr<MetricsStore>(new MetricsStore(std::move(store)));
}

Status MetricsStore::Write(const std::map<std::pair<SeriesKey, int64_t>, MinuteStats>& minutes, int64_t generation) {
  if (minutes.empty()) return Status::Ok();
  MutexLock l(mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(
                                         "INSERT INTO minutes (function, resource, minute, stats, generation) "
                                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (function, resource, minute) DO UPDATE "
                                         "SET stats = excluded.stats, generation = excluded.generation "
                                         "WHERE excluded.generation > minutes.generation"));
    for (const auto& [key, stats] : minutes) {
      st.Reset();
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, key.first.function));
      NIMBUS_RETURN_IF_ERROR(st.BindText(2, key.first.resource));
      NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, key.second));
      NIMBUS_RETURN_IF_ERROR(st.BindText(4, stats.ToJson()));
      NIMBUS_RETURN_IF_ERROR(st.BindInt64(5, generation));
      NIMBUS_RETURN_IF_ERROR(st.Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<std::pair<int64_t, MinuteStats>>> MetricsStore::Minutes(const SeriesKey& key, int64_t start_s,
                                                                         int64_t end_s) {
  MutexLock l(mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT minute, stats FROM minutes WHERE function = ? AND resource = ? "
                                                   "AND minute >= ? AND minute < ? ORDER BY minute"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, key.function));
  NIMBUS_RETURN_IF_ERROR(st.BindText(2, key.resource));
  // Minutes that begin in [start, end); a start inside a minute includes it.
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, start_s / 60));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(4, (end_s + 59) / 60));
  std::vector<std::pair<int64_t, MinuteStats>> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    NIMBUS_ASSIGN_OR_RETURN(MinuteStats s, MinuteStats::FromJson(st.ColumnText(1)));
    out.emplace_back(st.ColumnInt64(0), std::move(s));
  }
  return out;
}

Result<std::vector<Datapoint>> MetricsStore::Query(const MetricQuery& q) {
  auto unit = UnitOf(q.metric_name);
  if (!unit) return InvalidArgument(fmt::format("Unknown metric {} in namespace AWS/Lambda", q.metric_name));
  if (q.period_s < 60 || q.period_s % 60 != 0) {
    return InvalidArgument("The parameter Period must be a multiple of 60.");
  }
  NIMBUS_ASSIGN_OR_RETURN(auto minutes, Minutes(q.series, q.start_s, q.end_s));
  // Minutes into periods aligned to the query's start.
  std::map<int64_t, MinuteStats> periods;
  for (auto& [minute, stats] : minutes) {
    const int64_t t = minute * 60;
    const int64_t period = q.start_s + ((t - q.start_s) / q.period_s) * q.period_s;
    periods[t < q.start_s ? q.start_s : period].Merge(stats);
  }
  std::vector<Datapoint> out;
  for (const auto& [start, s] : periods) {
    Datapoint d;
    d.timestamp_s = start;
    d.unit = *unit;
    const std::string& m = q.metric_name;
    // Count metrics are per-invocation samples of 0 or 1, as Lambda publishes them:
    // `hits` ones among `samples`.
    auto share = [&d](uint64_t samples, uint64_t hits) {
      d.sample_count = static_cast<double>(samples);
      d.sum = static_cast<double>(hits);
      d.average = samples > 0 ? d.sum / d.sample_count : 0;
      d.minimum = hits == samples ? 1 : 0;
      d.maximum = hits > 0 ? 1 : 0;
    };
    if (m == "Invocations") {
      if (s.invocations == 0) continue;
      share(s.invocations, s.invocations);
    } else if (m == "Errors") {
      if (s.invocations == 0) continue;
      share(s.invocations, s.errors);
    } else if (m == "Throttles") {
      if (s.throttles == 0 && s.invocations == 0) continue;
      share(s.invocations + s.throttles, s.throttles);
    } else if (m == "ColdStarts") {
      if (s.invocations == 0) continue;
      share(s.invocations, s.cold_starts);
    } else if (m == "Duration") {
      if (s.invocations == 0) continue;
      d.sample_count = static_cast<double>(s.invocations);
      d.sum = s.duration_sum_ms;
      d.average = s.duration_sum_ms / d.sample_count;
      d.minimum = s.duration_min_ms;
      d.maximum = s.duration_max_ms;
      for (const auto& p : q.percentiles) d.percentiles[p] = s.durations.Quantile(std::stod(p.substr(1)) / 100);
    } else if (m == "InitDuration") {
      if (s.inits == 0) continue;
      d.sample_count = static_cast<double>(s.inits);
      d.sum = s.init_sum_ms;
      d.average = s.init_sum_ms / d.sample_count;
      d.minimum = s.init_durations.Quantile(0);
      d.maximum = s.init_durations.Quantile(1);
      for (const auto& p : q.percentiles) d.percentiles[p] = s.init_durations.Quantile(std::stod(p.substr(1)) / 100);
    } else if (m == "AsyncEventsReceived" || m == "AsyncEventsDropped" || m == "DeadLetterErrors" ||
               m == "DestinationDeliveryFailures") {
      const uint64_t n = m == "AsyncEventsReceived" ? s.async_received
                         : m == "AsyncEventsDropped" ? s.async_dropped
                         : m == "DeadLetterErrors"   ? s.dead_letter_errors
                                                     : s.destination_delivery_failures;
      if (n == 0) continue;
      share(n, n);
    } else if (m == "AsyncEventAge") {
      if (s.async_ages == 0) continue;
      d.sample_count = static_cast<double>(s.async_ages);
      d.sum = s.async_age_sum_ms;
      d.average = s.async_age_sum_ms / d.sample_count;
      d.minimum = s.async_age_min_ms;
      d.maximum = s.async_age_max_ms;
    } else if (m == "ConcurrentExecutions") {
      if (s.invocations == 0) continue;
      d.sample_count = 1;
      d.sum = d.average = d.minimum = d.maximum = s.max_concurrency;
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<UsageRow>> MetricsStore::Usage(int64_t start_s, int64_t end_s, const std::string& function) {
  MutexLock l(mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT function, stats FROM minutes WHERE resource = '' AND function != '' AND minute >= ? "
                                                   "AND minute < ? AND (? = '' OR function = ?) ORDER BY function"));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, start_s / 60));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, (end_s + 59) / 60));
  NIMBUS_RETURN_IF_ERROR(st.BindText(3, function));
  NIMBUS_RETURN_IF_ERROR(st.BindText(4, function));
  std::vector<UsageRow> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::string name = st.ColumnText(0);
    NIMBUS_ASSIGN_OR_RETURN(MinuteStats s, MinuteStats::FromJson(st.ColumnText(1)));
    if (out.empty() || out.back().function != name) out.push_back(UsageRow{name});
    out.back().requests += s.invocations;
    out.back().billed_ms += s.billed_ms;
    out.back().gb_seconds += s.gb_seconds;
  }
  return out;
}

Result<std::vector<SeriesKey>> MetricsStore::Series(int64_t start_s, int64_t end_s) {
  MutexLock l(mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT DISTINCT function, resource FROM minutes WHERE minute >= ? AND "
                                                   "minute < ? ORDER BY function, resource"));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, start_s / 60));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, (end_s + 59) / 60));
  std::vector<SeriesKey> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(SeriesKey{st.ColumnText(0), st.ColumnText(1)});
  }
  return out;
}

Status MetricsStore::Trim(int64_t before_s) {
  MutexLock l(mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM minutes WHERE minute < ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, before_s / 60));
  return st.Run();
}

}  // namespace nimbus::metrics
