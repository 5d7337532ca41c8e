// Event source mappings for DynamoDB streams: the lanes that read a stream and
// invoke the function in order (see event_source_mappings.h).
#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"
#include "base/time_format.h"
#include "dynamodb/dynamodb_api.h"
#include "esm/event_source_mappings.h"

namespace nimbus::esm {
namespace {

namespace json = boost::json;

// How often an idle lane reads its stream (a write to the table wakes it at once).
constexpr std::chrono::milliseconds kIdleRead{1000};
// How many records a lane reads at once to find its own (all lanes read the shard).
constexpr int kReadAhead = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The lane of a record: its keys' hash, so one key always goes to one lane.
int LaneOf(const dynamodb::StreamRecord& r, int lanes) {
  if (lanes <= 1) return 0;
  std::string key;
  for (const auto& [name, v] : r.keys) key += name + '\0' + dynamodb::KeyBytes(v);
  return static_cast<int>(StableHash64(key) % static_cast<uint64_t>(lanes));
}

std::string QueueName(std::string_view arn) { return std::string(arn.substr(arn.rfind(':') + 1)); }

}  // namespace

std::string DynamoDbEvent(const std::vector<dynamodb::StreamRecord>& batch, const dynamodb::TableDef& table,
                          const std::string& stream_arn, const std::string& region) {
  json::array records;
  for (const auto& r : batch) {
    json::object o = dynamodb::StreamRecordJson(r, table, region, /*lambda_event=*/true);
    o["eventSourceARN"] = stream_arn;
    records.push_back(std::move(o));
  }
  return json::serialize(json::object{{"Records", std::move(records)}});
}

// One lane of a stream mapping. Confined to the reactor.
struct EventSourceMappings::Lane {
  Mapping mapping;
  std::string table, label;
  int index = 0;
  int64_t checkpoint = 0;  // the last sequence handled
  bool busy = false;       // a read, invocation or checkpoint is running
  bool stopped = false;
  std::unique_ptr<Reactor::Timer> timer;
  int attempts = 0;                  // failed invocations of the batch at the checkpoint
  std::deque<size_t> bisected;       // sizes of the halves still to run
  int64_t window_start_ms = 0;       // a batching window being filled
};

Status EventSourceMappings::InitCheckpoints(const Mapping& m) {
  auto stream = dynamodb::ParseStreamArn(m.source_arn);
  if (!stream || deps_.tables == nullptr) return InvalidArgument(fmt::format("Stream not found: {}", m.source_arn));
  NIMBUS_ASSIGN_OR_RETURN(auto bounds, deps_.tables->StreamBounds(stream->first, stream->second));
  int64_t start = 0;
  if (m.starting_position == "LATEST") {
    start = bounds.second;
  } else if (m.starting_position == "AT_TIMESTAMP") {
    // The last record before the timestamp: reading starts at the first one at or after it.
    const auto at_ms = static_cast<int64_t>(m.starting_timestamp * 1000);
    int64_t after = 0;
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(auto records, deps_.tables->ReadStream(stream->first, stream->second, after, kReadAhead));
      if (records.empty()) break;
      bool found = false;
      for (const auto& r : records) {
        if (r.created_ms >= at_ms) {
          found = true;
          break;
        }
        start = r.sequence;
      }
      if (found) break;
      after = records.back().sequence;
    }
  }
  for (int lane = 0; lane < m.parallelization; ++lane) NIMBUS_RETURN_IF_ERROR(SaveCheckpoint(m.uuid, lane, start));
  return Status::Ok();
}

Result<int64_t> EventSourceMappings::LoadCheckpoint(const std::string& uuid, int lane) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT seq FROM checkpoints WHERE uuid = ? AND lane = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, uuid));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, lane));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) return st.ColumnInt64(0);
  // A lane added by a larger ParallelizationFactor starts where the slowest did.
  NIMBUS_ASSIGN_OR_RETURN(auto min, store_->Prepare("SELECT COALESCE(MIN(seq), 0) FROM checkpoints WHERE uuid = ?"));
  NIMBUS_RETURN_IF_ERROR(min.BindText(1, uuid));
  NIMBUS_ASSIGN_OR_RETURN(bool any, min.Step());
  return any ? min.ColumnInt64(0) : 0;
}

Status EventSourceMappings::SaveCheckpoint(const std::string& uuid, int lane, int64_t sequence) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("INSERT OR REPLACE INTO checkpoints (uuid, lane, seq) VALUES (?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, uuid));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, lane));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, sequence));
    return st.Run();
  });
}

void EventSourceMappings::StartLanes(const Mapping& m) {
  auto stream = dynamodb::ParseStreamArn(m.source_arn);
  if (!stream || deps_.tables == nullptr) return;
  std::weak_ptr<EventSourceMappings*> token = token_;
  for (int i = 0; i < m.parallelization; ++i) {
    auto l = std::make_shared<Lane>();
    l->mapping = m;
    l->table = stream->first;
    l->label = stream->second;
    l->index = i;
    l->busy = true;  // until its checkpoint is loaded
    lanes_.emplace(m.uuid, l);
    deps_.blocking.Submit([this, token, l] {
      auto checkpoint = LoadCheckpoint(l->mapping.uuid, l->index);
      deps_.reactor.Post([this, token, l, checkpoint = std::move(checkpoint)] {
        if (!token.lock() || l->stopped) return;
        l->busy = false;
        if (!checkpoint.has_value()) {
          log::Warn("event source mapping {}: checkpoint: {}", l->mapping.uuid, checkpoint.error().ToString());
          ScheduleRead(l, kIdleRead);
          return;
        }
        l->checkpoint = *checkpoint;
        ReadLane(l);
      });
    });
  }
}

void EventSourceMappings::StopLanes(const std::string& uuid) {
  auto [begin, end] = lanes_.equal_range(uuid);
  for (auto it = begin; it != end; ++it) {
    it->second->stopped = true;
    it->second->timer.reset();
  }
  lanes_.erase(begin, end);
}

void EventSourceMappings::OnStreamRecords(const std::string& table) {
  for (auto& [uuid, l] : lanes_) {
    if (l->table == table && !l->busy && l->window_start_ms == 0) {
      l->timer.reset();
      ReadLane(l);
    }
  }
}

void EventSourceMappings::ScheduleRead(const std::shared_ptr<Lane>& l, std::chrono::milliseconds delay) {
  if (l->stopped) return;
  std::weak_ptr<Lane> weak = l;
  l->timer = deps_.reactor.RunAfter(delay, [this, weak] {
    auto l = weak.lock();
    if (!l || l->stopped || l->busy) return;
    l->timer.reset();
    ReadLane(l);
  });
}

void EventSourceMappings::ReadLane(const std::shared_ptr<Lane>& l) {
  if (l->stopped || l->busy) return;
  l->busy = true;
  std::weak_ptr<EventSourceMappings*> token = token_;
  dynamodb::TableStore* tables = deps_.tables;
  const size_t want = l->bisected.empty() ? static_cast<size_t>(l->mapping.batch_size) : l->bisected.front();
  const int64_t after = l->checkpoint;
  const int lanes = l->mapping.parallelization, index = l->index;
  deps_.blocking.Submit([this, token, l, tables, want, after, lanes, index] {
    std::vector<dynamodb::StreamRecord> mine;
    int64_t cursor = after;
    Status error;
    while (mine.size() < want) {
      auto got = tables->ReadStream(l->table, l->label, cursor, kReadAhead);
      if (!got.has_value()) {
        error = got.error();
        break;
      }
      if (got->empty()) break;
      for (auto& r : *got) {
        if (LaneOf(r, lanes) == index && mine.size() < want) mine.push_back(std::move(r));
      }
      cursor = got->back().sequence;
      if (static_cast<int>(got->size()) < kReadAhead) break;
    }
    if (!error.ok()) log::Warn("event source mapping {}: read {}: {}", l->mapping.uuid, l->mapping.source_arn, error.ToString());
    auto records = std::make_shared<std::vector<dynamodb::StreamRecord>>(std::move(mine));
    deps_.reactor.Post([this, token, l, records] {
      if (!token.lock() || l->stopped) return;
      l->busy = false;
      OnLaneRecords(l, std::move(*records));
    });
  });
}

void EventSourceMappings::OnLaneRecords(const std::shared_ptr<Lane>& l, std::vector<dynamodb::StreamRecord> records) {
  if (records.empty()) {
    l->window_start_ms = 0;
    ScheduleRead(l, kIdleRead);
    return;
  }
  const size_t want = l->bisected.empty() ? static_cast<size_t>(l->mapping.batch_size) : l->bisected.front();
  // A batching window: wait for a full batch up to the window's length.
  if (l->mapping.window_s > 0 && records.size() < want && l->bisected.empty() && l->attempts == 0) {
    const int64_t now = NowMs();
    if (l->window_start_ms == 0) l->window_start_ms = now;
    const int64_t end = l->window_start_ms + int64_t{l->mapping.window_s} * 1000;
    if (now < end) {
      ScheduleRead(l, std::chrono::milliseconds(std::min<int64_t>(end - now, 200)));
      return;
    }
  }
  l->window_start_ms = 0;
  // Records older than MaximumRecordAgeInSeconds are not processed.
  if (l->mapping.max_record_age_s >= 0) {
    const int64_t oldest = NowMs() - int64_t{l->mapping.max_record_age_s} * 1000;
    std::vector<dynamodb::StreamRecord> expired;
    while (!records.empty() && records.front().created_ms < oldest) {
      expired.push_back(std::move(records.front()));
      records.erase(records.begin());
    }
    if (!expired.empty()) {
      l->busy = true;
      const int64_t last = expired.back().sequence;
      auto held = std::make_shared<std::vector<dynamodb::StreamRecord>>(std::move(expired));
      const int attempts = l->attempts;
      std::weak_ptr<EventSourceMappings*> token = token_;
      deps_.blocking.Submit([this, token, l, held, attempts, last] {
        SendToOnFailure(l, *held, "RecordAgeExceeded", attempts, std::nullopt);
        deps_.reactor.Post([this, token, l, last] {
          if (!token.lock() || l->stopped) return;
          l->busy = false;
          l->attempts = 0;
          l->bisected.clear();
          Advance(l, last, std::chrono::milliseconds(0));
        });
      });
      return;
    }
  }
  InvokeLane(l, std::move(records));
}

void EventSourceMappings::InvokeLane(const std::shared_ptr<Lane>& l, std::vector<dynamodb::StreamRecord> batch) {
  auto f = deps_.registry.ResolveForInvoke(l->mapping.function_arn);
  auto def = deps_.tables->GetTable(l->table);
  if (!f.has_value()) {
    l->mapping.last_result = "PROBLEM: Function not found";
    log::Warn("event source mapping {}: {}", l->mapping.uuid, f.error().ToString());
    ScheduleRead(l, kIdleRead);
    return;
  }
  dynamodb::TableDef shape = def.has_value() ? *def : dynamodb::TableDef{};
  l->busy = true;
  invoke::InvokeRequest request;
  request.function = *f;
  request.request_id = NewUuid();
  request.invoked_function_arn = l->mapping.function_arn;
  request.payload = DynamoDbEvent(batch, shape, l->mapping.source_arn, deps_.region.name);
  auto held = std::make_shared<std::vector<dynamodb::StreamRecord>>(std::move(batch));
  std::weak_ptr<EventSourceMappings*> token = token_;
  deps_.invoker.Invoke(std::move(request), [this, token, l, held](Result<invoke::InvokeOutcome> outcome) {
    if (!token.lock() || l->stopped) return;
    l->busy = false;
    const auto& batch = *held;
    // Success: everything handled, or (ReportBatchItemFailures) everything before
    // the lowest failed sequence number.
    std::optional<int64_t> first_failed;
    bool failed = !outcome.has_value() || outcome->function_error.has_value();
    if (!failed && l->mapping.report_item_failures && !outcome->payload.empty() && outcome->payload != "null") {
      boost::system::error_code ec;
      json::value v = json::parse(outcome->payload, ec);
      const json::value* items = !ec && v.is_object() ? v.as_object().if_contains("batchItemFailures") : nullptr;
      if (items != nullptr && items->is_array()) {
        for (const auto& i : items->as_array()) {
          const json::value* id = i.is_object() ? i.as_object().if_contains("itemIdentifier") : nullptr;
          auto it = id && id->is_string()
                        ? std::find_if(batch.begin(), batch.end(),
                                       [&](const auto& r) { return dynamodb::SequenceNumber(r.sequence) == id->as_string(); })
                        : batch.end();
          // An identifier that names no record of the batch fails the whole batch.
          int64_t seq = it == batch.end() ? batch.front().sequence : it->sequence;
          first_failed = first_failed ? std::min(*first_failed, seq) : seq;
        }
      } else if (items != nullptr && !items->is_null()) {
        first_failed = batch.front().sequence;
      }
    }
    if (!failed && !first_failed) {
      l->mapping.last_result = "OK";
      l->attempts = 0;
      if (!l->bisected.empty()) l->bisected.pop_front();
      Advance(l, batch.back().sequence, std::chrono::milliseconds(0));
      return;
    }
    l->mapping.last_result = failed ? (outcome.has_value() ? "PROBLEM: Function call failed" : "PROBLEM: " + outcome.error().message())
                                    : "PROBLEM: Some records failed";
    // Records before the first failed one are done.
    int64_t done = l->checkpoint;
    if (first_failed) {
      for (const auto& r : batch) {
        if (r.sequence < *first_failed) done = r.sequence;
      }
    }
    ++l->attempts;
    const bool platform = !outcome.has_value();
    if (!platform && l->mapping.max_retry_attempts >= 0 && l->attempts > l->mapping.max_retry_attempts) {
      // Retries exhausted: describe the batch to OnFailure and move past it.
      std::vector<dynamodb::StreamRecord> rest;
      for (const auto& r : batch) {
        if (r.sequence > done) rest.push_back(r);
      }
      auto sent = std::make_shared<std::vector<dynamodb::StreamRecord>>(std::move(rest));
      const int attempts = l->attempts;
      std::optional<std::string> function_error = outcome.has_value() ? outcome->function_error : std::nullopt;
      l->busy = true;
      deps_.blocking.Submit([this, token, l, sent, attempts, function_error, last = batch.back().sequence] {
        SendToOnFailure(l, *sent, "RetryAttemptsExhausted", attempts, function_error);
        deps_.reactor.Post([this, token, l, last] {
          if (!token.lock() || l->stopped) return;
          l->busy = false;
          l->attempts = 0;
          l->bisected.clear();
          Advance(l, last, std::chrono::milliseconds(0));
        });
      });
      return;
    }
    // Retry: halved first when bisecting a failed batch of several records.
    if (failed && l->mapping.bisect && batch.size() > 1) {
      const size_t first = batch.size() / 2;
      if (!l->bisected.empty()) l->bisected.pop_front();
      l->bisected.push_front(batch.size() - first);
      l->bisected.push_front(first);
    }
    const auto backoff = std::chrono::milliseconds(std::min(5000, 100 << std::min(l->attempts, 6)));
    if (done != l->checkpoint) {
      Advance(l, done, backoff);
    } else {
      ScheduleRead(l, backoff);
    }
  });
}

void EventSourceMappings::Advance(const std::shared_ptr<Lane>& l, int64_t sequence, std::chrono::milliseconds delay) {
  l->busy = true;
  std::weak_ptr<EventSourceMappings*> token = token_;
  const std::string uuid = l->mapping.uuid;
  const int index = l->index;
  deps_.blocking.Submit([this, token, l, uuid, index, sequence, delay] {
    Status st = SaveCheckpoint(uuid, index, sequence);
    deps_.reactor.Post([this, token, l, st, sequence, delay] {
      if (!token.lock() || l->stopped) return;
      l->busy = false;
      if (!st.ok()) {
        log::Warn("event source mapping {}: save checkpoint: {}", l->mapping.uuid, st.ToString());
        ScheduleRead(l, kIdleRead);
        return;
      }
      l->checkpoint = sequence;
      if (delay.count() > 0) {
        ScheduleRead(l, delay);
      } else {
        ReadLane(l);
      }
    });
  });
}

void EventSourceMappings::SendToOnFailure(const std::shared_ptr<Lane>& l, const std::vector<dynamodb::StreamRecord>& batch,
                                          const std::string& condition, int attempts,
                                          const std::optional<std::string>& function_error) {
  log::Warn("event source mapping {}: {} record(s) of {} dropped ({})", l->mapping.uuid, batch.size(),
            l->mapping.source_arn, condition);
  if (l->mapping.on_failure.empty() || batch.empty()) return;
  auto iso = [](int64_t ms) { return IsoUtcMillis(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))); };
  json::object response{{"statusCode", 200}, {"executedVersion", "$LATEST"}};
  if (function_error) response["functionError"] = *function_error;
  json::object record{
      {"requestContext", json::object{{"requestId", NewUuid()},
                                      {"functionArn", l->mapping.function_arn},
                                      {"condition", condition},
                                      {"approximateInvokeCount", attempts}}},
      {"responseContext", std::move(response)},
      {"version", "1.0"},
      {"timestamp", iso(NowMs())},
      {"DDBStreamBatchInfo", json::object{{"shardId", dynamodb::ShardId(l->label)},
                                          {"startSequenceNumber", dynamodb::SequenceNumber(batch.front().sequence)},
                                          {"endSequenceNumber", dynamodb::SequenceNumber(batch.back().sequence)},
                                          {"approximateArrivalOfFirstRecord", iso(batch.front().created_ms)},
                                          {"approximateArrivalOfLastRecord", iso(batch.back().created_ms)},
                                          {"batchSize", static_cast<int64_t>(batch.size())},
                                          {"streamArn", l->mapping.source_arn}}}};
  sqs::SendRequest send;
  send.body = json::serialize(record);
  auto r = deps_.queues.Send(QueueName(l->mapping.on_failure), send, NowMs());
  if (!r.has_value()) {
    log::Warn("event source mapping {}: OnFailure destination {}: {}", l->mapping.uuid, l->mapping.on_failure,
              r.error().ToString());
  }
}

}  // namespace nimbus::esm
