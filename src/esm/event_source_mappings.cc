#include "esm/event_source_mappings.h"

#include <algorithm>
#include <chrono>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/errors.h"
#include "base/encoding.h"
#include "base/log.h"
#include "control/function_name.h"
#include "dynamodb/dynamodb_api.h"

namespace nimbus::esm {
namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "/2015-03-31/event-source-mappings";

// Persisted format: released migrations are never edited. `config`: EncodeMapping().
const std::vector<storage::Migration> kMigrations = {
    {1, "CREATE TABLE mappings (uuid TEXT PRIMARY KEY, config TEXT NOT NULL);"},
    // A stream mapping's lanes: the last sequence number each has handled.
    {2, "CREATE TABLE checkpoints (uuid TEXT NOT NULL, lane INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "PRIMARY KEY (uuid, lane));"},
};

// How often an idle mapping polls its queue (a send to it wakes it at once).
constexpr std::chrono::milliseconds kIdlePoll{1000};

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json::object EncodeMapping(const Mapping& m) {
  json::object o{{"uuid", m.uuid},          {"function_arn", m.function_arn},
                 {"source_arn", m.source_arn}, {"batch_size", m.batch_size},
                 {"window_s", m.window_s},      {"enabled", m.enabled},
                 {"report_item_failures", m.report_item_failures},
                 {"last_modified", m.last_modified}};
  if (m.max_concurrency) o["max_concurrency"] = *m.max_concurrency;
  if (m.is_stream()) {
    o["starting_position"] = m.starting_position;
    o["starting_timestamp"] = m.starting_timestamp;
    o["max_retry_attempts"] = m.max_retry_attempts;
    o["max_record_age_s"] = m.max_record_age_s;
    o["bisect"] = m.bisect;
    o["parallelization"] = m.parallelization;
    o["on_failure"] = m.on_failure;
  }
  return o;
}

std::optional<Mapping> DecodeMapping(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto str = [&o](const char* k) {
    const json::value* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  auto num = [&o](const char* k, int64_t fallback) {
    const json::value* x = o.if_contains(k);
    return x && x->is_int64() ? x->as_int64() : fallback;
  };
  Mapping m;
  m.uuid = str("uuid");
  m.function_arn = str("function_arn");
  m.source_arn = str("source_arn");
  m.batch_size = static_cast<int>(num("batch_size", 10));
  m.window_s = static_cast<int>(num("window_s", 0));
  if (const auto* e = o.if_contains("enabled"); e && e->is_bool()) m.enabled = e->as_bool();
  if (const auto* r = o.if_contains("report_item_failures"); r && r->is_bool()) {
    m.report_item_failures = r->as_bool();
  }
  if (o.if_contains("max_concurrency")) m.max_concurrency = static_cast<int>(num("max_concurrency", 0));
  if (const auto* t = o.if_contains("last_modified"); t && t->is_double()) m.last_modified = t->as_double();
  m.starting_position = str("starting_position");
  if (const auto* t = o.if_contains("starting_timestamp"); t && t->is_number()) m.starting_timestamp = t->to_number<double>();
  m.max_retry_attempts = static_cast<int>(num("max_retry_attempts", -1));
  m.max_record_age_s = static_cast<int>(num("max_record_age_s", -1));
  if (const auto* b = o.if_contains("bisect"); b && b->is_bool()) m.bisect = b->as_bool();
  m.parallelization = static_cast<int>(num("parallelization", 1));
  m.on_failure = str("on_failure");
  if (m.uuid.empty()) return std::nullopt;
  return m;
}

// The API's EventSourceMappingConfiguration.
json::object ToApi(const Mapping& m, std::string_view state, const control::Region& region) {
  json::object o{
      {"UUID", m.uuid},
      {"BatchSize", m.batch_size},
      {"MaximumBatchingWindowInSeconds", m.window_s},
      {"EventSourceArn", m.source_arn},
      {"FunctionArn", m.function_arn},
      {"LastModified", m.last_modified},
      {"LastProcessingResult", m.last_result},
      {"State", std::string(state)},
      {"StateTransitionReason", "USER_INITIATED"},
      {"FunctionResponseTypes", m.report_item_failures ? json::array{"ReportBatchItemFailures"} : json::array{}},
      {"EventSourceMappingArn",
       fmt::format("arn:aws:lambda:{}:{}:event-source-mapping:{}", region.name, region.account_id, m.uuid)},
  };
  if (m.max_concurrency) o["ScalingConfig"] = json::object{{"MaximumConcurrency", *m.max_concurrency}};
  if (m.is_stream()) {
    o["StartingPosition"] = m.starting_position;
    if (m.starting_position == "AT_TIMESTAMP") o["StartingPositionTimestamp"] = m.starting_timestamp;
    o["MaximumRetryAttempts"] = m.max_retry_attempts;
    o["MaximumRecordAgeInSeconds"] = m.max_record_age_s;
    o["BisectBatchOnFunctionError"] = m.bisect;
    o["ParallelizationFactor"] = m.parallelization;
    o["DestinationConfig"] = json::object{
        {"OnFailure", m.on_failure.empty() ? json::object{} : json::object{{"Destination", m.on_failure}}}};
  }
  return o;
}

http::Response JsonReply(int status, const json::value& body) {
  http::Response r = http::Response::Json(status, json::serialize(body));
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

http::Response Error(const api::ApiError& e) {
  http::Response r = api::ErrorResponse(e);
  r.headers.Set("x-amzn-RequestId", NewUuid());
  r.headers.Set("Content-Type", "application/json");
  return r;
}

api::ApiError InvalidParameter(std::string message) {
  return api::ApiError{400, "InvalidParameterValueException", std::move(message)};
}

// The queue name of an SQS ARN in this region and account, or "".
std::string QueueOfArn(std::string_view arn, const control::Region& region) {
  std::string prefix = fmt::format("arn:aws:sqs:{}:{}:", region.name, region.account_id);
  if (!arn.starts_with(prefix)) return "";
  return std::string(arn.substr(prefix.size()));
}

}  // namespace

std::string SqsEvent(const std::vector<sqs::Message>& batch, const std::string& source_arn,
                     const std::string& region) {
  json::array records;
  for (const auto& m : batch) {
    json::object attributes{{"ApproximateReceiveCount", std::to_string(m.receive_count)},
                            {"SentTimestamp", std::to_string(m.sent_ms)},
                            {"SenderId", "AIDANIMBUS"},
                            {"ApproximateFirstReceiveTimestamp", std::to_string(m.first_receive_ms)}};
    if (!m.trace_header.empty()) attributes["AWSTraceHeader"] = m.trace_header;
    if (!m.group_id.empty()) {
      attributes["SequenceNumber"] = m.sequence_number;
      attributes["MessageGroupId"] = m.group_id;
      attributes["MessageDeduplicationId"] = m.dedup_id;
    }
    json::object message_attributes;
    for (const auto& [name, v] : m.attributes) {
      json::object a{{"stringListValues", json::array{}}, {"binaryListValues", json::array{}},
                     {"dataType", v.data_type}};
      if (v.data_type.starts_with("Binary")) {
        a["binaryValue"] = Base64Encode(v.binary_value);
      } else {
        a["stringValue"] = v.string_value;
      }
      message_attributes[name] = std::move(a);
    }
    records.push_back(json::object{{"messageId", m.id},
                                   {"receiptHandle", m.receipt},
                                   {"body", m.body},
                                   {"attributes", std::move(attributes)},
                                   {"messageAttributes", std::move(message_attributes)},
                                   {"md5OfBody", m.md5_body},
                                   {"eventSource", "aws:sqs"},
                                   {"eventSourceARN", source_arn},
                                   {"awsRegion", region}});
  }
  return json::serialize(json::object{{"Records", std::move(records)}});
}

// One mapping's polling state. Confined to the reactor.
struct EventSourceMappings::Poller {
  Mapping mapping;
  std::string queue;
  int in_flight = 0;     // receives and batches running
  int target = 1;        // batches wanted at once (scales with the backlog)
  bool stopped = false;
  std::unique_ptr<Reactor::Timer> timer;
  std::vector<sqs::Message> gathering;  // a batching window being filled
  std::chrono::steady_clock::time_point window_end;
  int max() const { return mapping.max_concurrency.value_or(kDefaultMaxConcurrency); }
};

EventSourceMappings::EventSourceMappings(EventSourceMappingsDeps deps, std::unique_ptr<storage::Store> store)
    : deps_(deps), store_(std::move(store)), token_(std::make_shared<EventSourceMappings*>(this)) {}

EventSourceMappings::~EventSourceMappings() = default;

Result<std::unique_ptr<EventSourceMappings>> EventSourceMappings::Open(const std::filesystem::path& db,
                                                                       EventSourceMappingsDeps deps) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  std::unique_ptr<EventSourceMappings> m(new EventSourceMappings(deps, std::move(store)));
  NIMBUS_ASSIGN_OR_RETURN(m->loaded_, m->LoadAll());
  return m;
}

Result<std::vector<Mapping>> EventSourceMappings::LoadAll() {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT config FROM mappings ORDER BY uuid"));
  std::vector<Mapping> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (auto m = DecodeMapping(st.ColumnText(0))) out.push_back(std::move(*m));
  }
  return out;
}

Status EventSourceMappings::Save(const Mapping& m) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("INSERT OR REPLACE INTO mappings (uuid, config) VALUES (?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, m.uuid));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, json::serialize(EncodeMapping(m))));
    return st.Run();
  });
}

bool EventSourceMappings::Matches(const http::Request& request) {
  std::string_view path = request.path();
  return path == kPrefix || path.starts_with(std::string(kPrefix) + "/");
}

void EventSourceMappings::Handle(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(responder));
  std::weak_ptr<EventSourceMappings*> token = token_;
  deps_.blocking.Submit([this, call, token] {
    auto changed = std::make_shared<std::optional<Mapping>>();
    auto deleted = std::make_shared<std::string>();
    http::Response r = HandleSync(call->first, changed.get(), deleted.get());
    deps_.reactor.Post([this, token, changed, deleted] {
      if (token.lock()) Apply(std::move(*changed), *deleted);
    });
    call->second.Respond(std::move(r));
  });
}

http::Response EventSourceMappings::HandleSync(const http::Request& request, std::optional<Mapping>* changed,
                                               std::string* deleted) {
  std::string_view rest = request.path().substr(kPrefix.size());
  if (rest.starts_with("/")) rest.remove_prefix(1);
  const std::string uuid = http::PercentDecode(rest).value_or("");
  const std::string& method = request.method;
  auto all = LoadAll();
  if (!all.has_value()) return Error(api::ToApiError(all.error()));
  auto find = [&](const std::string& id) -> Mapping* {
    for (auto& m : *all) {
      if (m.uuid == id) return &m;
    }
    return nullptr;
  };
  auto not_found = [] {
    return Error(api::ApiError{404, "ResourceNotFoundException", "The resource you requested does not exist."});
  };
  json::object body;
  if (method == "POST" || method == "PUT") {
    boost::system::error_code ec;
    json::value v = request.body.empty() ? json::value(json::object{}) : json::parse(request.body, ec);
    if (ec || !v.is_object()) return Error(api::RequestNotJson(ec ? ec.message() : "not an object"));
    body = std::move(v.as_object());
  }
  auto get_int = [&body](const char* k) -> std::optional<int64_t> {
    const json::value* x = body.if_contains(k);
    if (x == nullptr || !x->is_number()) return std::nullopt;
    return x->to_number<int64_t>();
  };
  auto get_str = [&body](const char* k) -> std::optional<std::string> {
    const json::value* x = body.if_contains(k);
    if (x == nullptr || !x->is_string()) return std::nullopt;
    return std::string(x->as_string());
  };
  // The settings Create and Update share; an error reply on a bad value.
  auto apply_settings = [&](Mapping& m) -> std::optional<http::Response> {
    if (auto b = get_int("BatchSize")) {
      if (*b < 1 || *b > 10000) {
        return Error(InvalidParameter(fmt::format("1 validation error detected: Value '{}' at 'batchSize' failed to "
                                                  "satisfy constraint: Member must have value less than or equal to "
                                                  "10000",
                                                  *b)));
      }
      m.batch_size = static_cast<int>(*b);
    }
    if (auto w = get_int("MaximumBatchingWindowInSeconds")) {
      if (*w < 0 || *w > 300) return Error(InvalidParameter("MaximumBatchingWindowInSeconds must be 0 to 300"));
      m.window_s = static_cast<int>(*w);
    }
    if (!m.is_stream() && m.batch_size > 10 && m.window_s == 0) {
      return Error(InvalidParameter("Maximum batch window in seconds must be greater than 0 if maximum batch "
                                    "size is greater than 10"));
    }
    if (const auto* e = body.if_contains("Enabled"); e && e->is_bool()) m.enabled = e->as_bool();
    if (m.is_stream()) {
      if (auto r = get_int("MaximumRetryAttempts")) {
        if (*r < -1 || *r > 10000) return Error(InvalidParameter("MaximumRetryAttempts must be -1 to 10000"));
        m.max_retry_attempts = static_cast<int>(*r);
      }
      if (auto a = get_int("MaximumRecordAgeInSeconds")) {
        if (*a != -1 && (*a < 60 || *a > 604800)) {
          return Error(InvalidParameter("MaximumRecordAgeInSeconds must be -1 or 60 to 604800"));
        }
        m.max_record_age_s = static_cast<int>(*a);
      }
      if (const auto* b = body.if_contains("BisectBatchOnFunctionError"); b && b->is_bool()) m.bisect = b->as_bool();
      if (auto f = get_int("ParallelizationFactor")) {
        if (*f < 1 || *f > 10) {
          return Error(InvalidParameter(fmt::format("1 validation error detected: Value '{}' at 'parallelizationFactor' "
                                                    "failed to satisfy constraint: Member must have value less than or "
                                                    "equal to 10", *f)));
        }
        m.parallelization = static_cast<int>(*f);
      }
      if (const auto* d = body.if_contains("DestinationConfig"); d && d->is_object()) {
        const json::value* f = d->as_object().if_contains("OnFailure");
        const json::value* dest = f && f->is_object() ? f->as_object().if_contains("Destination") : nullptr;
        if (dest && dest->is_string()) {
          std::string arn(dest->as_string());
          if (!arn.empty() && QueueOfArn(arn, deps_.region).empty()) {
            return Error(InvalidParameter("Nimbus sends a stream mapping's failures to SQS queues of this region and account"));
          }
          m.on_failure = arn;
        }
      }
    }
    if (const auto* t = body.if_contains("FunctionResponseTypes"); t && t->is_array()) {
      m.report_item_failures = false;
      for (const auto& x : t->as_array()) {
        if (!x.is_string() || x.as_string() != "ReportBatchItemFailures") {
          return Error(InvalidParameter("Invalid function response type. Valid values: ReportBatchItemFailures"));
        }
        m.report_item_failures = true;
      }
    }
    if (const auto* s = body.if_contains("ScalingConfig"); s && s->is_object()) {
      const json::value* mc = s->as_object().if_contains("MaximumConcurrency");
      if (mc != nullptr && mc->is_number()) {
        int64_t n = mc->to_number<int64_t>();
        if (n < 2 || n > 1000) return Error(InvalidParameter("MaximumConcurrency must be 2 to 1000"));
        m.max_concurrency = static_cast<int>(n);
      }
    }
    m.last_modified = static_cast<double>(NowMillis()) / 1000.0;
    return std::nullopt;
  };

  if (method == "POST" && uuid.empty()) {
    auto function = get_str("FunctionName");
    auto source = get_str("EventSourceArn");
    if (!function) return Error(InvalidParameter("FunctionName is required"));
    if (!source) return Error(InvalidParameter("Unrecognized event source, must be kafka or specify EventSourceArn"));
    auto f = deps_.registry.Resolve(*function);
    if (!f.has_value()) return Error(api::ToApiError(f.error()));
    auto ref = control::ParseFunctionRef(*function);
    std::string arn = control::FunctionArn(deps_.region, (*f)->config.name);
    if (source->starts_with("arn:aws:dynamodb:")) {
      auto stream = dynamodb::ParseStreamArn(*source);
      auto def = stream && deps_.tables ? deps_.tables->GetTable(stream->first) : Result<dynamodb::TableDef>(NotFound("table"));
      if (!stream || !def.has_value() || def->stream_label != stream->second || !def->stream_enabled) {
        return Error(InvalidParameter(fmt::format("Stream not found: {}", *source)));
      }
      auto position = get_str("StartingPosition");
      if (!position) return Error(InvalidParameter("StartingPosition is required for a DynamoDB stream event source"));
      if (*position != "TRIM_HORIZON" && *position != "LATEST" && *position != "AT_TIMESTAMP") {
        return Error(InvalidParameter(fmt::format("1 validation error detected: Value '{}' at 'startingPosition' failed "
                                                  "to satisfy constraint: Member must satisfy enum value set: "
                                                  "[LATEST, AT_TIMESTAMP, TRIM_HORIZON]", *position)));
      }
      for (const auto& m : *all) {
        if (m.source_arn == *source && m.function_arn == arn) {
          return Error(api::ApiError{409, "ResourceConflictException",
                                     fmt::format("The event source arn (\" {} \") and function (\" {} \") provided "
                                                 "mapping already exists. Please update or delete the existing mapping "
                                                 "with UUID {}", *source, (*f)->config.name, m.uuid)});
        }
      }
      Mapping m;
      m.uuid = NewUuid();
      m.function_arn = arn;
      m.source_arn = *source;
      m.batch_size = 100;
      m.starting_position = *position;
      if (const auto* t = body.if_contains("StartingPositionTimestamp"); t && t->is_number()) {
        m.starting_timestamp = t->to_number<double>();
      }
      if (auto error = apply_settings(m)) return std::move(*error);
      Status st = InitCheckpoints(m);
      if (st.ok()) st = Save(m);
      if (!st.ok()) return Error(api::ToApiError(st));
      *changed = m;
      return JsonReply(202, ToApi(m, "Creating", deps_.region));
    }
    const std::string queue = QueueOfArn(*source, deps_.region);
    if (queue.empty()) {
      return Error(InvalidParameter(fmt::format("Unrecognized event source {}: Nimbus maps SQS queues of this "
                                                "region and account",
                                                *source)));
    }
    if (!deps_.queues.GetQueue(queue).has_value()) {
      return Error(InvalidParameter(fmt::format("Error occurred while ReceiveMessage. SQS Error Code: "
                                                "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The "
                                                "specified queue does not exist ({})",
                                                *source)));
    }
    if (ref.has_value() && ref->qualifier && *ref->qualifier != "$LATEST") arn += ":" + *ref->qualifier;
    for (const auto& m : *all) {
      if (m.source_arn == *source && m.function_arn == arn) {
        return Error(api::ApiError{409, "ResourceConflictException",
                                   fmt::format("An event source mapping with SQS arn (\" {} \") and function "
                                               "(\" {} \") already exists. Please update or delete the existing "
                                               "mapping with UUID {}",
                                               *source, (*f)->config.name, m.uuid)});
      }
    }
    Mapping m;
    m.uuid = NewUuid();
    m.function_arn = arn;
    m.source_arn = *source;
    if (auto error = apply_settings(m)) return std::move(*error);
    Status st = Save(m);
    if (!st.ok()) return Error(api::ToApiError(st));
    *changed = m;
    return JsonReply(202, ToApi(m, "Creating", deps_.region));
  }
  if (method == "GET" && uuid.empty()) {
    auto query = http::ParseQuery(request.query());
    std::string source = http::QueryParam(query, "EventSourceArn").value_or("");
    std::string function = http::QueryParam(query, "FunctionName").value_or("");
    std::string function_arn;
    if (!function.empty()) {
      auto f = deps_.registry.Resolve(function);
      if (!f.has_value()) return Error(api::ToApiError(f.error()));
      function_arn = control::FunctionArn(deps_.region, (*f)->config.name);
    }
    json::array list;
    for (const auto& m : *all) {
      if (!source.empty() && m.source_arn != source) continue;
      // The function's mappings, on any of its qualifiers ("…:function:f" and
      // "…:function:f:live", never "…:function:f-other").
      if (!function_arn.empty() && m.function_arn != function_arn &&
          !m.function_arn.starts_with(function_arn + ":")) {
        continue;
      }
      list.push_back(ToApi(m, m.enabled ? "Enabled" : "Disabled", deps_.region));
    }
    return JsonReply(200, json::object{{"EventSourceMappings", std::move(list)}});
  }
  Mapping* m = find(uuid);
  if (m == nullptr) return not_found();
  if (method == "GET") return JsonReply(200, ToApi(*m, m->enabled ? "Enabled" : "Disabled", deps_.region));
  if (method == "PUT") {
    if (auto error = apply_settings(*m)) return std::move(*error);
    Status st = Save(*m);
    if (!st.ok()) return Error(api::ToApiError(st));
    *changed = *m;
    return JsonReply(202, ToApi(*m, m->enabled ? "Enabling" : "Disabling", deps_.region));
  }
  if (method == "DELETE") {
    {
      MutexLock l(store_mu_);
      Status st = storage::InTransaction(*store_, [&]() -> Status {
        for (const char* sql : {"DELETE FROM mappings WHERE uuid = ?", "DELETE FROM checkpoints WHERE uuid = ?"}) {
          NIMBUS_ASSIGN_OR_RETURN(auto del, store_->Prepare(sql));
          NIMBUS_RETURN_IF_ERROR(del.BindText(1, m->uuid));
          NIMBUS_RETURN_IF_ERROR(del.Run());
        }
        return Status::Ok();
      });
      if (!st.ok()) return Error(api::ToApiError(st));
    }
    *deleted = m->uuid;
    return JsonReply(202, ToApi(*m, "Deleting", deps_.region));
  }
  return Error(api::UnknownOperation(method, request.path()));
}

void EventSourceMappings::Start() {
  for (auto& m : loaded_) Apply(std::move(m), "");
  loaded_.clear();
}

void EventSourceMappings::Stop() {
  stopped_ = true;
  for (auto& [uuid, p] : pollers_) {
    p->stopped = true;
    p->timer.reset();
  }
  pollers_.clear();
  while (!lanes_.empty()) StopLanes(lanes_.begin()->first);
}

void EventSourceMappings::Apply(std::optional<Mapping> changed, const std::string& deleted) {
  if (stopped_) return;
  auto stop = [this](const std::string& uuid) {
    auto it = pollers_.find(uuid);
    if (it == pollers_.end()) return;
    it->second->stopped = true;
    it->second->timer.reset();
    pollers_.erase(it);
  };
  if (!deleted.empty()) {
    stop(deleted);
    StopLanes(deleted);
  }
  if (!changed) return;
  stop(changed->uuid);
  StopLanes(changed->uuid);
  if (!changed->enabled) return;
  if (changed->is_stream()) {
    StartLanes(*changed);
    return;
  }
  auto p = std::make_shared<Poller>();
  p->queue = QueueOfArn(changed->source_arn, deps_.region);
  p->mapping = std::move(*changed);
  pollers_[p->mapping.uuid] = p;
  Poll(p);
}

void EventSourceMappings::OnMessageSent(const std::string& queue_name) {
  for (auto& [uuid, p] : pollers_) {
    if (p->queue == queue_name && p->in_flight < p->target) Poll(p);
  }
}

void EventSourceMappings::SchedulePoll(const std::shared_ptr<Poller>& p, std::chrono::milliseconds delay) {
  if (p->stopped || p->timer) return;
  std::weak_ptr<Poller> weak = p;
  p->timer = deps_.reactor.RunAfter(delay, [this, weak] {
    auto p = weak.lock();
    if (!p || p->stopped) return;
    p->timer.reset();
    Poll(p);
  });
}

void EventSourceMappings::Poll(const std::shared_ptr<Poller>& p) {
  if (p->stopped || p->in_flight >= p->target) return;
  ++p->in_flight;
  const int want = std::min(10, p->mapping.batch_size - static_cast<int>(p->gathering.size()));
  std::weak_ptr<EventSourceMappings*> token = token_;
  sqs::QueueStore& queues = deps_.queues;
  std::string queue = p->queue;
  deps_.blocking.Submit([this, token, p, want, queue, &queues] {
    auto got = queues.Receive(queue, std::max(1, want), std::nullopt, NowMillis());
    auto messages = std::make_shared<std::vector<sqs::Message>>();
    if (got.has_value()) {
      *messages = std::move(*got);
    } else {
      log::Warn("event source mapping {}: receive from {}: {}", p->mapping.uuid, queue, got.error().ToString());
    }
    const bool full = static_cast<int>(messages->size()) >= want;
    deps_.reactor.Post([this, token, p, messages, full] {
      if (!token.lock()) return;
      --p->in_flight;
      OnBatch(p, std::move(*messages), full);
    });
  });
}

void EventSourceMappings::OnBatch(const std::shared_ptr<Poller>& p, std::vector<sqs::Message> messages, bool full) {
  if (p->stopped) return;  // received messages come back after their visibility timeout
  if (messages.empty() && p->gathering.empty()) {
    p->target = std::max(1, p->target - 1);
    SchedulePoll(p, kIdlePoll);
    return;
  }
  // A batching window collects up to BatchSize messages for up to its length.
  if (p->mapping.window_s > 0) {
    if (p->gathering.empty()) {
      p->window_end = std::chrono::steady_clock::now() + std::chrono::seconds(p->mapping.window_s);
    }
    for (auto& m : messages) p->gathering.push_back(std::move(m));
    const bool batch_full = static_cast<int>(p->gathering.size()) >= p->mapping.batch_size;
    if (!batch_full && std::chrono::steady_clock::now() < p->window_end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p->window_end - std::chrono::steady_clock::now());
      SchedulePoll(p, std::min<std::chrono::milliseconds>(left, std::chrono::milliseconds(200)));
      return;
    }
    messages = std::move(p->gathering);
    p->gathering.clear();
    full = batch_full;
  }
  if (full) p->target = std::min(p->max(), p->target + 1);
  Invoke(p, std::move(messages));
  // More batches while the backlog lasts.
  Poll(p);
}

void EventSourceMappings::Invoke(const std::shared_ptr<Poller>& p, std::vector<sqs::Message> batch) {
  auto f = deps_.registry.ResolveForInvoke(p->mapping.function_arn);
  if (!f.has_value()) {
    p->mapping.last_result = "PROBLEM: Function not found";
    log::Warn("event source mapping {}: {}", p->mapping.uuid, f.error().ToString());
    SchedulePoll(p, kIdlePoll);
    return;
  }
  ++p->in_flight;
  invoke::InvokeRequest request;
  request.function = *f;
  request.request_id = NewUuid();
  request.invoked_function_arn = p->mapping.function_arn;
  request.payload = SqsEvent(batch, p->mapping.source_arn, deps_.region.name);
  // The batch continues the trace of its first traced message.
  for (const auto& m : batch) {
    if (!m.trace_header.empty()) {
      request.trace_id = m.trace_header;
      break;
    }
  }
  auto held = std::make_shared<std::vector<sqs::Message>>(std::move(batch));
  std::weak_ptr<EventSourceMappings*> token = token_;
  deps_.invoker.Invoke(std::move(request), [this, token, p, held](Result<invoke::InvokeOutcome> outcome) {
    if (!token.lock()) return;
    --p->in_flight;
    // Which messages are done: all on success; all but the reported ones with
    // ReportBatchItemFailures; none on a function or platform error.
    std::vector<std::string> done;
    if (outcome.has_value() && !outcome->function_error) {
      std::set<std::string> failed;
      bool whole_batch_failed = false;
      if (p->mapping.report_item_failures && !outcome->payload.empty() && outcome->payload != "null") {
        boost::system::error_code ec;
        json::value v = json::parse(outcome->payload, ec);
        const json::value* items = !ec && v.is_object() ? v.as_object().if_contains("batchItemFailures") : nullptr;
        if (items != nullptr && items->is_array()) {
          for (const auto& i : items->as_array()) {
            const json::value* id = i.is_object() ? i.as_object().if_contains("itemIdentifier") : nullptr;
            bool known = id != nullptr && id->is_string() &&
                         std::any_of(held->begin(), held->end(), [&](const sqs::Message& m) { return m.id == id->as_string(); });
            if (!known) whole_batch_failed = true;
            if (known) failed.insert(std::string(id->as_string()));
          }
        } else if (items != nullptr && !items->is_null()) {
          whole_batch_failed = true;
        }
      }
      if (!whole_batch_failed) {
        for (const auto& m : *held) {
          if (failed.count(m.id) == 0) done.push_back(m.receipt);
        }
      }
      p->mapping.last_result = "OK";
    } else {
      p->mapping.last_result = outcome.has_value() ? "PROBLEM: Function call failed" : "PROBLEM: " + outcome.error().message();
    }
    if (!done.empty()) {
      sqs::QueueStore& queues = deps_.queues;
      std::string queue = p->queue;
      deps_.blocking.Submit([done = std::move(done), queue, &queues] {
        auto r = queues.DeleteBatch(queue, done);
        if (!r.has_value()) log::Warn("event source mapping: delete from {}: {}", queue, r.error().ToString());
      });
    }
    Poll(p);
  });
}

}  // namespace nimbus::esm
