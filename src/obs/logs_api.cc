#include "obs/logs_api.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <optional>

#include "base/encoding.h"

namespace nimbus::obs {
namespace {

namespace json = boost::json;

constexpr std::string_view kTargetPrefix = "Logs_20140328.";
constexpr std::string_view kContentType = "application/x-amz-json-1.1";

// An error as the JSON 1.1 protocol sends it.
struct WireError {
  int status;
  std::string type;
  std::string message;
};

http::Response MakeResponse(int status, std::string body, const std::string& request_id) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", std::string(kContentType));
  r.headers.Set("x-amzn-RequestId", request_id);
  r.body = std::move(body);
  return r;
}

http::Response ErrorResponse(const WireError& e, const std::string& request_id) {
  json::object body;
  body["__type"] = e.type;
  body["message"] = e.message;
  return MakeResponse(e.status, json::serialize(body), request_id);
}

// Reading request members without as_*() (which throw): a wrong type is a
// client error, an absent member is nullopt.
class Input {
 public:
  explicit Input(const json::object& o) : o_(o) {}

  Result<std::optional<std::string>> String(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::optional<std::string>();
    if (const json::string* s = v->if_string()) return std::optional<std::string>(std::string(*s));
    return TypeError(key, "a string");
  }
  Result<std::optional<int64_t>> Int(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::optional<int64_t>();
    if (const int64_t* i = v->if_int64()) return std::optional<int64_t>(*i);
    if (const uint64_t* u = v->if_uint64()) {
      if (*u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return std::optional<int64_t>(static_cast<int64_t>(*u));
      }
    }
    if (const double* d = v->if_double()) {
      // Only a whole number in [-2^63, 2^63) converts: casting anything else
      // (1e19, or the infinity 1e400 parses to) is undefined behaviour.
      if (*d >= -0x1p63 && *d < 0x1p63 && *d == std::trunc(*d)) {
        return std::optional<int64_t>(static_cast<int64_t>(*d));
      }
    }
    return TypeError(key, "an integer");
  }
  Result<std::optional<bool>> Bool(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::optional<bool>();
    if (const bool* b = v->if_bool()) return std::optional<bool>(*b);
    return TypeError(key, "a boolean");
  }
  Result<std::string> RequiredString(std::string_view key) const {
    NIMBUS_ASSIGN_OR_RETURN(auto s, String(key));
    if (!s || s->empty()) return InvalidArgument(fmt::format("{} is required", key));
    return *s;
  }
  Result<std::vector<std::string>> StringList(std::string_view key) const {
    std::vector<std::string> out;
    const json::value* v = o_.if_contains(key);
    if (!v || v->is_null()) return out;
    const json::array* a = v->if_array();
    if (!a) return TypeError(key, "a list of strings");
    for (const auto& item : *a) {
      const json::string* s = item.if_string();
      if (!s) return TypeError(key, "a list of strings");
      out.emplace_back(*s);
    }
    return out;
  }
  const json::value* Raw(std::string_view key) const { return o_.if_contains(key); }

 private:
  static Status TypeError(std::string_view key, std::string_view what) {
    return InvalidArgument(fmt::format("{} must be {}", key, what));
  }
  const json::object& o_;
};

Result<int> Limit(const Input& in, int default_limit) {
  NIMBUS_ASSIGN_OR_RETURN(auto limit, in.Int("limit"));
  if (!limit) return default_limit;
  if (*limit < std::numeric_limits<int>::min() || *limit > std::numeric_limits<int>::max()) {
    return InvalidArgument(fmt::format("limit {} is out of range", *limit));
  }
  return static_cast<int>(*limit);
}

// logGroupName, or logGroupIdentifier (a name or a log group ARN).
Result<std::string> GroupName(const Input& in) {
  NIMBUS_ASSIGN_OR_RETURN(auto name, in.String("logGroupName"));
  NIMBUS_ASSIGN_OR_RETURN(auto id, in.String("logGroupIdentifier"));
  if (name && id) {
    return InvalidArgument("logGroupName and logGroupIdentifier cannot both be given");
  }
  if (name && !name->empty()) return *name;
  if (id && !id->empty()) {
    std::string s = *id;
    size_t at = s.find(":log-group:");
    if (s.rfind("arn:", 0) == 0 && at != std::string::npos) {
      s = s.substr(at + std::string_view(":log-group:").size());
      if (s.size() >= 2 && s.compare(s.size() - 2, 2, ":*") == 0) s.resize(s.size() - 2);
    }
    return s;
  }
  return InvalidArgument("logGroupName is required");
}

void SetIfNotEmpty(json::object& o, std::string_view key, const std::string& value) {
  if (!value.empty()) o[key] = value;
}

void SetIfPresent(json::object& o, std::string_view key, const std::optional<int64_t>& value) {
  if (value) o[key] = *value;
}

}  // namespace

LogsApi::LogsApi(LogStore& store, BlockingPool& pool, LogsApiOptions options)
    : store_(store), pool_(pool), options_(std::move(options)) {}

bool LogsApi::Matches(const http::Request& request) {
  auto target = request.headers.Get("X-Amz-Target");
  return target && target->substr(0, kTargetPrefix.size()) == kTargetPrefix;
}

http::Response LogsApi::HandleSync(const http::Request& request) {
  const std::string request_id = NewUuid();
  auto fail = [&](int status, std::string type, std::string message) {
    return ErrorResponse(WireError{status, std::move(type), std::move(message)}, request_id);
  };
  if (request.method != "POST" || request.path() != "/") {
    return fail(400, "UnknownOperationException",
                fmt::format("{} {} is not a CloudWatch Logs operation", request.method,
                            request.path()));
  }
  std::string_view target = request.headers.Get("X-Amz-Target").value_or("");
  if (target.substr(0, kTargetPrefix.size()) != kTargetPrefix) {
    return fail(400, "UnknownOperationException", "missing or unknown X-Amz-Target");
  }
  const std::string op(target.substr(kTargetPrefix.size()));

  boost::system::error_code ec;
  json::value parsed = json::parse(request.body.empty() ? "{}" : request.body, ec);
  if (ec || !parsed.is_object()) {
    return fail(400, "SerializationException",
                ec ? fmt::format("could not parse request body: {}", ec.message())
                   : std::string("request body must be a JSON object"));
  }
  const Input in(parsed.get_object());

  // Errors from the store name the object in house style; the wire uses AWS's
  // fixed sentences, which clients and scripts match on.
  std::string group_for_errors;
  auto store_error = [&](const Status& s) {
    switch (s.code()) {
      case Code::kInvalidArgument:
        return fail(400, "InvalidParameterException", s.message());
      case Code::kNotFound:
        if (!group_for_errors.empty() && store_.LogGroupExists(group_for_errors)) {
          return fail(400, "ResourceNotFoundException", "The specified log stream does not exist.");
        }
        return fail(400, "ResourceNotFoundException", "The specified log group does not exist.");
      case Code::kConflict:
        return fail(400, "ResourceAlreadyExistsException",
                    op == "CreateLogStream" ? "The specified log stream already exists"
                                            : "The specified log group already exists");
      default:
        return fail(500, "ServiceUnavailableException", s.message());
    }
  };
  auto ok = [&](const json::object& body) {
    return MakeResponse(200, json::serialize(body), request_id);
  };
  auto group_arn = [&](const std::string& group) {
    return fmt::format("arn:aws:logs:{}:{}:log-group:{}", options_.region, options_.account_id,
                       group);
  };

  // Each operation: parse → store call → response. NIMBUS_LOGS_TRY is
  // NIMBUS_ASSIGN_OR_RETURN that returns the error response instead of a Status.
#define NIMBUS_LOGS_TRY(lhs, expr)                    \
  auto NIMBUS_CONCAT_(r_, __LINE__) = (expr);         \
  if (!NIMBUS_CONCAT_(r_, __LINE__).has_value())      \
    return store_error(NIMBUS_CONCAT_(r_, __LINE__).error()); \
  lhs = std::move(NIMBUS_CONCAT_(r_, __LINE__)).value()

  if (op == "CreateLogGroup" || op == "DeleteLogGroup") {
    NIMBUS_LOGS_TRY(std::string group, in.RequiredString("logGroupName"));
    Status s = op == "CreateLogGroup" ? store_.CreateLogGroup(group) : store_.DeleteLogGroup(group);
    if (!s.ok()) return store_error(s);
    return MakeResponse(200, "", request_id);
  }
  if (op == "CreateLogStream") {
    NIMBUS_LOGS_TRY(group_for_errors, in.RequiredString("logGroupName"));
    NIMBUS_LOGS_TRY(std::string stream, in.RequiredString("logStreamName"));
    Status s = store_.CreateLogStream(group_for_errors, stream);
    if (!s.ok()) return store_error(s);
    return MakeResponse(200, "", request_id);
  }
  if (op == "PutLogEvents") {
    NIMBUS_LOGS_TRY(group_for_errors, in.RequiredString("logGroupName"));
    NIMBUS_LOGS_TRY(std::string stream, in.RequiredString("logStreamName"));
    const json::value* raw = in.Raw("logEvents");
    const json::array* list = raw ? raw->if_array() : nullptr;
    if (!list) return fail(400, "InvalidParameterException", "logEvents must be a list");
    std::vector<LogEvent> events;
    for (const auto& item : *list) {
      const json::object* o = item.if_object();
      if (!o) return fail(400, "InvalidParameterException", "logEvents must hold objects");
      Input e(*o);
      NIMBUS_LOGS_TRY(auto ts, e.Int("timestamp"));
      NIMBUS_LOGS_TRY(auto message, e.String("message"));
      if (!ts || !message) {
        return fail(400, "InvalidParameterException",
                    "each log event needs a timestamp and a message");
      }
      events.push_back(LogEvent{*ts, std::move(*message), 0});
    }
    NIMBUS_LOGS_TRY(PutLogEventsResult put,
                    store_.PutLogEvents(group_for_errors, stream, std::move(events)));
    json::object body;
    json::object rejected;
    if (put.too_new_start_index) rejected["tooNewLogEventStartIndex"] = *put.too_new_start_index;
    if (put.too_old_end_index) rejected["tooOldLogEventEndIndex"] = *put.too_old_end_index;
    if (put.expired_end_index) rejected["expiredLogEventEndIndex"] = *put.expired_end_index;
    if (!rejected.empty()) body["rejectedLogEventsInfo"] = std::move(rejected);
    return ok(body);
  }
  if (op == "PutRetentionPolicy") {
    NIMBUS_LOGS_TRY(std::string group, in.RequiredString("logGroupName"));
    NIMBUS_LOGS_TRY(auto days, in.Int("retentionInDays"));
    if (!days) return fail(400, "InvalidParameterException", "retentionInDays is required");
    if (*days < std::numeric_limits<int>::min() || *days > std::numeric_limits<int>::max()) {
      days = 0;  // rejected below with the list of allowed values
    }
    Status s = store_.PutRetentionPolicy(group, static_cast<int>(*days));
    if (!s.ok()) return store_error(s);
    return MakeResponse(200, "", request_id);
  }
  if (op == "DeleteRetentionPolicy") {
    NIMBUS_LOGS_TRY(std::string group, in.RequiredString("logGroupName"));
    Status s = store_.DeleteRetentionPolicy(group);
    if (!s.ok()) return store_error(s);
    return MakeResponse(200, "", request_id);
  }
  if (op == "DescribeLogGroups") {
    DescribeLogGroupsRequest r;
    NIMBUS_LOGS_TRY(auto prefix, in.String("logGroupNamePrefix"));
    NIMBUS_LOGS_TRY(auto pattern, in.String("logGroupNamePattern"));
    NIMBUS_LOGS_TRY(auto token, in.String("nextToken"));
    NIMBUS_LOGS_TRY(r.limit, Limit(in, 50));
    r.prefix = prefix.value_or("");
    r.pattern = pattern.value_or("");
    r.next_token = token.value_or("");
    NIMBUS_LOGS_TRY(auto page, store_.DescribeLogGroups(r));
    json::array groups;
    for (const auto& g : page.groups) {
      json::object o;
      o["logGroupName"] = g.name;
      o["creationTime"] = g.creation_time_ms;
      // With logGroupNamePattern AWS returns only the name, creation time and arn.
      if (r.pattern.empty()) {
        if (g.retention_in_days) o["retentionInDays"] = *g.retention_in_days;
        o["metricFilterCount"] = 0;
      }
      o["arn"] = group_arn(g.name) + ":*";
      if (r.pattern.empty()) {
        o["storedBytes"] = g.stored_bytes;
        o["logGroupClass"] = "STANDARD";
        o["logGroupArn"] = group_arn(g.name);
      }
      groups.push_back(std::move(o));
    }
    json::object body;
    body["logGroups"] = std::move(groups);
    SetIfNotEmpty(body, "nextToken", page.next_token);
    return ok(body);
  }
  if (op == "DescribeLogStreams") {
    DescribeLogStreamsRequest r;
    NIMBUS_LOGS_TRY(group_for_errors, GroupName(in));
    r.group = group_for_errors;
    NIMBUS_LOGS_TRY(auto prefix, in.String("logStreamNamePrefix"));
    NIMBUS_LOGS_TRY(auto order, in.String("orderBy"));
    NIMBUS_LOGS_TRY(auto descending, in.Bool("descending"));
    NIMBUS_LOGS_TRY(auto token, in.String("nextToken"));
    NIMBUS_LOGS_TRY(r.limit, Limit(in, 50));
    if (order && *order != "LogStreamName" && *order != "LastEventTime") {
      return fail(400, "InvalidParameterException",
                  fmt::format("orderBy must be LogStreamName or LastEventTime, not {}", *order));
    }
    r.order_by = order == "LastEventTime" ? LogStreamOrder::kLastEventTime
                                          : LogStreamOrder::kLogStreamName;
    r.prefix = prefix.value_or("");
    r.descending = descending.value_or(false);
    r.next_token = token.value_or("");
    NIMBUS_LOGS_TRY(auto page, store_.DescribeLogStreams(r));
    json::array streams;
    for (const auto& s : page.streams) {
      json::object o;
      o["logStreamName"] = s.name;
      o["creationTime"] = s.creation_time_ms;
      SetIfPresent(o, "firstEventTimestamp", s.first_event_timestamp_ms);
      SetIfPresent(o, "lastEventTimestamp", s.last_event_timestamp_ms);
      SetIfPresent(o, "lastIngestionTime", s.last_ingestion_time_ms);
      o["arn"] = fmt::format("{}:log-stream:{}", group_arn(r.group), s.name);
      o["storedBytes"] = s.stored_bytes;
      streams.push_back(std::move(o));
    }
    json::object body;
    body["logStreams"] = std::move(streams);
    SetIfNotEmpty(body, "nextToken", page.next_token);
    return ok(body);
  }
  if (op == "GetLogEvents") {
    GetLogEventsRequest r;
    NIMBUS_LOGS_TRY(group_for_errors, GroupName(in));
    r.group = group_for_errors;
    NIMBUS_LOGS_TRY(r.stream, in.RequiredString("logStreamName"));
    NIMBUS_LOGS_TRY(r.start_time_ms, in.Int("startTime"));
    NIMBUS_LOGS_TRY(r.end_time_ms, in.Int("endTime"));
    NIMBUS_LOGS_TRY(auto from_head, in.Bool("startFromHead"));
    NIMBUS_LOGS_TRY(auto token, in.String("nextToken"));
    NIMBUS_LOGS_TRY(r.limit, Limit(in, 10000));
    r.start_from_head = from_head.value_or(false);
    r.next_token = token.value_or("");
    NIMBUS_LOGS_TRY(auto page, store_.GetLogEvents(r));
    json::array events;
    for (const auto& e : page.events) {
      json::object o;
      o["timestamp"] = e.timestamp_ms;
      o["message"] = e.message;
      o["ingestionTime"] = e.ingestion_time_ms;
      events.push_back(std::move(o));
    }
    json::object body;
    body["events"] = std::move(events);
    body["nextForwardToken"] = page.next_forward_token;
    body["nextBackwardToken"] = page.next_backward_token;
    return ok(body);
  }
  if (op == "FilterLogEvents") {
    FilterLogEventsRequest r;
    NIMBUS_LOGS_TRY(group_for_errors, GroupName(in));
    r.group = group_for_errors;
    NIMBUS_LOGS_TRY(r.stream_names, in.StringList("logStreamNames"));
    NIMBUS_LOGS_TRY(auto prefix, in.String("logStreamNamePrefix"));
    NIMBUS_LOGS_TRY(r.start_time_ms, in.Int("startTime"));
    NIMBUS_LOGS_TRY(r.end_time_ms, in.Int("endTime"));
    NIMBUS_LOGS_TRY(auto pattern, in.String("filterPattern"));
    NIMBUS_LOGS_TRY(auto token, in.String("nextToken"));
    NIMBUS_LOGS_TRY(r.limit, Limit(in, 10000));
    r.stream_name_prefix = prefix.value_or("");
    r.filter_pattern = pattern.value_or("");
    r.next_token = token.value_or("");
    // Missing streams named in logStreamNames are skipped, so a NotFound here is
    // always about the group.
    group_for_errors.clear();
    NIMBUS_LOGS_TRY(auto page, store_.FilterLogEvents(r));
    json::array events;
    for (const auto& e : page.events) {
      json::object o;
      o["logStreamName"] = e.stream;
      o["timestamp"] = e.event.timestamp_ms;
      o["message"] = e.event.message;
      o["ingestionTime"] = e.event.ingestion_time_ms;
      o["eventId"] = e.event_id;
      events.push_back(std::move(o));
    }
    json::array searched;
    for (const auto& name : page.searched_streams) {
      json::object o;
      o["logStreamName"] = name;
      o["searchedCompletely"] = true;
      searched.push_back(std::move(o));
    }
    json::object body;
    body["events"] = std::move(events);
    body["searchedLogStreams"] = std::move(searched);
    SetIfNotEmpty(body, "nextToken", page.next_token);
    return ok(body);
  }
#undef NIMBUS_LOGS_TRY
  return fail(400, "UnknownOperationException",
              fmt::format("operation {} is not supported", op));
}

}  // namespace nimbus::obs
