#include "events/event_bridge.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/log.h"
#include "control/policy.h"
#include "events/event_pattern.h"
#include "http/sigv4_scope.h"
#include "http/trace_header.h"

namespace nimbus::events {
namespace {

namespace json = boost::json;

constexpr std::string_view kTargetPrefix = "AWSEvents.";

// Persisted format: released migrations are never edited. `config`: ToJson().
const std::vector<storage::Migration> kMigrations = {
    {1, "CREATE TABLE rules (name TEXT PRIMARY KEY, config TEXT NOT NULL);"},
};

int64_t NowMinute() {
  return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Str(const json::object& o, const char* k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_string() ? std::string(x->as_string()) : std::string();
}

json::object ToJson(const Rule& r) {
  json::array targets;
  for (const auto& t : r.targets) {
    targets.push_back(json::object{{"id", t.id}, {"arn", t.arn}, {"input", t.input}, {"input_path", t.input_path}});
  }
  return {{"name", r.name},       {"description", r.description}, {"schedule", r.schedule},
          {"pattern", r.pattern}, {"enabled", r.enabled},         {"targets", targets},
          {"created_minute", r.created_minute}, {"last_tick", r.last_tick}};
}

std::optional<Rule> FromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  Rule r;
  r.name = Str(o, "name");
  r.description = Str(o, "description");
  r.schedule = Str(o, "schedule");
  r.pattern = Str(o, "pattern");
  if (const auto* e = o.if_contains("enabled"); e && e->is_bool()) r.enabled = e->as_bool();
  if (const auto* c = o.if_contains("created_minute"); c && c->is_int64()) r.created_minute = c->as_int64();
  if (const auto* l = o.if_contains("last_tick"); l && l->is_int64()) r.last_tick = l->as_int64();
  if (const auto* ts = o.if_contains("targets"); ts && ts->is_array()) {
    for (const auto& t : ts->as_array()) {
      if (!t.is_object()) continue;
      const auto& x = t.as_object();
      r.targets.push_back({Str(x, "id"), Str(x, "arn"), Str(x, "input"), Str(x, "input_path")});
    }
  }
  return r;
}

http::Response Reply(const json::object& body) {
  http::Response r;
  r.headers.Set("Content-Type", "application/x-amz-json-1.1");
  r.headers.Set("x-amzn-RequestId", NewUuid());
  r.body = json::serialize(body);
  return r;
}

http::Response Error(int status, std::string_view type, std::string_view message) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/x-amz-json-1.1");
  r.headers.Set("x-amzn-RequestId", NewUuid());
  r.body = json::serialize(json::object{{"__type", type}, {"message", message}});
  return r;
}

std::string IsoSeconds(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "$.detail.key" into `event`; null when the path is missing.
json::value AtPath(const json::value& event, std::string_view path) {
  if (!path.starts_with("$")) return nullptr;
  path.remove_prefix(1);
  const json::value* v = &event;
  while (!path.empty()) {
    if (path.front() != '.') return nullptr;
    path.remove_prefix(1);
    size_t next = path.find('.');
    std::string key(path.substr(0, next));
    if (!v->is_object() || !v->as_object().contains(key)) return nullptr;
    v = &v->as_object().at(key);
    path = next == std::string_view::npos ? std::string_view() : path.substr(next);
  }
  return *v;
}

}  // namespace

EventBridge::EventBridge(EventBridgeDeps deps, std::unique_ptr<storage::Store> store)
    : deps_(std::move(deps)), store_(std::move(store)), token_(std::make_shared<EventBridge*>(this)) {}

EventBridge::~EventBridge() = default;

Result<std::unique_ptr<EventBridge>> EventBridge::Open(const std::filesystem::path& db, EventBridgeDeps deps) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  return std::unique_ptr<EventBridge>(new EventBridge(std::move(deps), std::move(store)));
}

bool EventBridge::Matches(const http::Request& request) {
  if (auto scope = http::ParseCredentialScope(request)) return scope->service == "events";
  auto target = request.headers.Get("X-Amz-Target");
  return target && target->starts_with(kTargetPrefix);
}

std::string EventBridge::RuleArn(const std::string& name) const {
  return fmt::format("arn:aws:events:{}:{}:rule/{}", deps_.region.name, deps_.region.account_id, name);
}

Result<std::map<std::string, Rule>> EventBridge::Load() {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT config FROM rules"));
  std::map<std::string, Rule> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (auto r = FromJson(st.ColumnText(0))) out[r->name] = std::move(*r);
  }
  return out;
}

Status EventBridge::SaveRule(const Rule& rule, bool remove) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(remove ? "DELETE FROM rules WHERE name = ?"
                                                            : "INSERT OR REPLACE INTO rules (name, config) VALUES (?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, rule.name));
    if (!remove) NIMBUS_RETURN_IF_ERROR(st.BindText(2, json::serialize(ToJson(rule))));
    return st.Run();
  });
}

void EventBridge::Handle(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(responder));
  deps_.blocking.Submit([this, call] { call->second.Respond(HandleSync(call->first)); });
}

void EventBridge::Deliver(const Rule& rule, const std::string& event, const std::string& trace_header) {
  boost::system::error_code ec;
  json::value parsed = json::parse(event, ec);
  for (const auto& t : rule.targets) {
    std::string payload = event;
    if (!t.input.empty()) {
      payload = t.input;
    } else if (!t.input_path.empty() && !ec) {
      payload = json::serialize(AtPath(parsed, t.input_path));
    }
    if (t.arn.starts_with("arn:aws:lambda:")) {
      auto policy = deps_.registry.GetPolicy(t.arn, "");
      if (!policy.has_value() || !control::PolicyAllows(policy->document, "events.amazonaws.com", "lambda:InvokeFunction")) {
        log::Warn("rule {}: target {}: the function's policy does not let events.amazonaws.com invoke it", rule.name, t.arn);
        continue;
      }
      deps_.invoke_async(t.arn, std::move(payload), trace_header);
    } else if (t.arn.starts_with("arn:aws:sqs:")) {
      sqs::SendRequest send;
      send.body = std::move(payload);
      send.trace_header = trace_header;
      std::string queue = t.arn.substr(t.arn.rfind(':') + 1);
      auto q = deps_.queues.GetQueue(queue);
      if (q.has_value() && q->fifo()) {
        send.group_id = rule.name;
        send.dedup_id = HexEncode(Sha256(send.body + NewUuid()));
      }
      auto r = deps_.queues.Send(queue, send,
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count());
      if (!r.has_value()) log::Warn("rule {}: target {}: {}", rule.name, t.arn, r.error().ToString());
    }
  }
}

http::Response EventBridge::HandleSync(const http::Request& request) {
  std::string action(request.headers.Get("X-Amz-Target").value_or(""));
  if (!action.starts_with(kTargetPrefix)) return Error(400, "UnknownOperationException", "Missing X-Amz-Target");
  action = action.substr(kTargetPrefix.size());
  boost::system::error_code ec;
  json::value v = request.body.empty() ? json::value(json::object{}) : json::parse(request.body, ec);
  if (ec || !v.is_object()) return Error(400, "ValidationException", "The request body is not a JSON object");
  const json::object& in = v.as_object();
  auto rules = Load();
  if (!rules.has_value()) return Error(500, "InternalException", rules.error().message());
  std::string bus = Str(in, "EventBusName");
  if (!bus.empty() && bus != "default" && !bus.ends_with(":event-bus/default")) {
    return Error(400, "ResourceNotFoundException", fmt::format("Event bus {} does not exist.", bus));
  }
  auto rule_json = [this](const Rule& r) {
    json::object o{{"Name", r.name}, {"Arn", RuleArn(r.name)}, {"State", r.enabled ? "ENABLED" : "DISABLED"},
                   {"EventBusName", "default"}, {"CreatedBy", deps_.region.account_id}};
    if (!r.description.empty()) o["Description"] = r.description;
    if (!r.schedule.empty()) o["ScheduleExpression"] = r.schedule;
    if (!r.pattern.empty()) o["EventPattern"] = r.pattern;
    return o;
  };
  auto missing = [](const std::string& name) {
    return Error(400, "ResourceNotFoundException", fmt::format("Rule {} does not exist on EventBus default.", name));
  };
  const std::string name = Str(in, action == "PutTargets" || action == "RemoveTargets" || action == "ListTargetsByRule" ? "Rule" : "Name");
  auto found = rules->find(name);

  if (action == "PutRule") {
    if (name.empty() || name.size() > 64) return Error(400, "ValidationException", "Rule name must be 1 to 64 characters");
    Rule r = found != rules->end() ? found->second : Rule{};
    r.name = name;
    r.description = Str(in, "Description");
    r.schedule = Str(in, "ScheduleExpression");
    r.pattern = Str(in, "EventPattern");
    if (r.schedule.empty() && r.pattern.empty()) {
      return Error(400, "ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.");
    }
    if (!r.schedule.empty()) {
      auto s = ParseSchedule(r.schedule);
      if (!s.has_value()) return Error(400, "ValidationException", s.error().message());
    }
    if (!r.pattern.empty()) {
      Status st = ValidatePattern(r.pattern);
      if (!st.ok()) return Error(400, "InvalidEventPatternException", st.message());
    }
    std::string state = Str(in, "State");
    if (!state.empty() && state != "ENABLED" && state != "DISABLED") {
      return Error(400, "ValidationException", "State must be ENABLED or DISABLED");
    }
    r.enabled = state != "DISABLED";
    if (found == rules->end()) {
      r.created_minute = NowMinute();
      r.last_tick = r.created_minute;
    }
    Status st = SaveRule(r, false);
    if (!st.ok()) return Error(500, "InternalException", st.message());
    return Reply({{"RuleArn", RuleArn(name)}});
  }
  if (action == "ListRules") {
    std::string prefix = Str(in, "NamePrefix");
    json::array list;
    for (const auto& [n, r] : *rules) {
      if (n.starts_with(prefix)) list.push_back(rule_json(r));
    }
    return Reply({{"Rules", std::move(list)}});
  }
  if (action == "PutEvents") {
    const json::value* entries = in.if_contains("Entries");
    if (entries == nullptr || !entries->is_array() || entries->as_array().empty() || entries->as_array().size() > 10) {
      return Error(400, "ValidationException", "Entries must hold 1 to 10 events");
    }
    // An entry's TraceHeader is at most 500 characters (PutEventsRequestEntry);
    // like every model constraint, a violation fails the whole request.
    for (size_t i = 0; i < entries->as_array().size(); ++i) {
      const json::value& e = entries->as_array()[i];
      const json::value* th = e.is_object() ? e.as_object().if_contains("TraceHeader") : nullptr;
      if (th == nullptr) continue;
      if (!th->is_string() || th->as_string().empty() || th->as_string().size() > 500) {
        return Error(400, "ValidationException",
                     fmt::format("1 validation error detected: Value at 'entries.{}.member.traceHeader' failed to "
                                 "satisfy constraint: Member must have length between 1 and 500",
                                 i + 1));
      }
    }
    const std::string request_trace = http::TraceHeaderOf(request.headers);
    json::array results;
    int failed = 0;
    for (const auto& e : entries->as_array()) {
      const json::object empty;
      const json::object& x = e.is_object() ? e.as_object() : empty;
      std::string source = Str(x, "Source"), detail_type = Str(x, "DetailType"), detail = Str(x, "Detail");
      json::value detail_json = detail.empty() ? json::value() : json::parse(detail, ec);
      if (source.empty() || detail_type.empty() || detail.empty() || ec || !detail_json.is_object()) {
        ++failed;
        results.push_back(json::object{{"ErrorCode", "InvalidArgument"},
                                       {"ErrorMessage", "Parameters Source, DetailType and Detail (a JSON object) are required."}});
        continue;
      }
      std::string id = NewUuid();
      json::array resources;
      if (const auto* r = x.if_contains("Resources"); r && r->is_array()) resources = r->as_array();
      json::object event{{"version", "0"}, {"id", id}, {"detail-type", detail_type}, {"source", source},
                         {"account", deps_.region.account_id}, {"time", IsoSeconds(std::chrono::system_clock::now())},
                         {"region", deps_.region.name}, {"resources", std::move(resources)}, {"detail", std::move(detail_json)}};
      if (auto t = Str(x, "Time"); !t.empty()) event["time"] = t;
      json::value envelope = event;
      const std::string text = json::serialize(envelope);
      // The entry's own trace (ignored when it names no Root), else the request's.
      std::string trace = Str(x, "TraceHeader");
      if (!http::IsTraceHeader(trace)) trace = request_trace;
      for (const auto& [n, r] : *rules) {
        if (!r.enabled || r.pattern.empty()) continue;
        json::value pattern = json::parse(r.pattern, ec);
        if (!ec && events::Matches(pattern, envelope)) Deliver(r, text, trace);
      }
      results.push_back(json::object{{"EventId", id}});
    }
    return Reply({{"FailedEntryCount", failed}, {"Entries", std::move(results)}});
  }
  if (found == rules->end()) return missing(name);
  Rule& r = found->second;
  if (action == "DescribeRule") return Reply(rule_json(r));
  if (action == "EnableRule" || action == "DisableRule") {
    r.enabled = action == "EnableRule";
    Status st = SaveRule(r, false);
    if (!st.ok()) return Error(500, "InternalException", st.message());
    return Reply({});
  }
  if (action == "DeleteRule") {
    if (!r.targets.empty()) return Error(400, "ValidationException", "Rule can't be deleted since it has targets.");
    Status st = SaveRule(r, true);
    if (!st.ok()) return Error(500, "InternalException", st.message());
    return Reply({});
  }
  if (action == "ListTargetsByRule") {
    json::array list;
    for (const auto& t : r.targets) {
      json::object o{{"Id", t.id}, {"Arn", t.arn}};
      if (!t.input.empty()) o["Input"] = t.input;
      if (!t.input_path.empty()) o["InputPath"] = t.input_path;
      list.push_back(std::move(o));
    }
    return Reply({{"Targets", std::move(list)}});
  }
  if (action == "PutTargets") {
    const json::value* targets = in.if_contains("Targets");
    if (targets == nullptr || !targets->is_array() || targets->as_array().empty()) {
      return Error(400, "ValidationException", "Targets must not be empty");
    }
    json::array failed;
    for (const auto& t : targets->as_array()) {
      if (!t.is_object()) continue;
      const auto& x = t.as_object();
      Target target{Str(x, "Id"), Str(x, "Arn"), Str(x, "Input"), Str(x, "InputPath")};
      std::string problem;
      if (target.id.empty() || target.arn.empty()) problem = "Id and Arn are required.";
      if (x.contains("InputTransformer")) problem = "Nimbus does not support InputTransformer yet; use Input or InputPath.";
      if (!target.arn.starts_with("arn:aws:lambda:") && !target.arn.starts_with("arn:aws:sqs:")) {
        problem = "Nimbus delivers to Lambda functions and SQS queues.";
      }
      if (!problem.empty()) {
        failed.push_back(json::object{{"TargetId", target.id}, {"ErrorCode", "ValidationException"}, {"ErrorMessage", problem}});
        continue;
      }
      auto it = std::find_if(r.targets.begin(), r.targets.end(), [&](const Target& e) { return e.id == target.id; });
      if (it != r.targets.end()) {
        *it = std::move(target);
      } else {
        r.targets.push_back(std::move(target));
      }
    }
    Status st = SaveRule(r, false);
    if (!st.ok()) return Error(500, "InternalException", st.message());
    return Reply({{"FailedEntryCount", failed.size()}, {"FailedEntries", std::move(failed)}});
  }
  if (action == "RemoveTargets") {
    const json::value* ids = in.if_contains("Ids");
    if (ids != nullptr && ids->is_array()) {
      for (const auto& id : ids->as_array()) {
        if (!id.is_string()) continue;
        std::erase_if(r.targets, [&](const Target& t) { return t.id == id.as_string(); });
      }
    }
    Status st = SaveRule(r, false);
    if (!st.ok()) return Error(500, "InternalException", st.message());
    return Reply({{"FailedEntryCount", 0}, {"FailedEntries", json::array{}}});
  }
  return Error(400, "UnknownOperationException", fmt::format("Nimbus does not implement the EventBridge action {} yet", action));
}

void EventBridge::Start() { ScheduleTick(); }

void EventBridge::Stop() {
  stopped_ = true;
  tick_.reset();
}

void EventBridge::ScheduleTick() {
  if (stopped_) return;
  // At the start of the next minute (and a little after, so the minute has begun).
  auto now = std::chrono::system_clock::now();
  auto next = std::chrono::time_point_cast<std::chrono::minutes>(now) + std::chrono::minutes(1);
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(next - now) + std::chrono::milliseconds(20);
  std::weak_ptr<EventBridge*> token = token_;
  int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(next.time_since_epoch()).count();
  tick_ = deps_.reactor.RunAfter(delay, [this, token, minute] {
    if (!token.lock()) return;
    tick_.reset();
    Tick(minute);
    ScheduleTick();
  });
}

void EventBridge::Tick(int64_t minute) {
  std::weak_ptr<EventBridge*> token = token_;
  deps_.blocking.Submit([this, token, minute] {
    if (token.lock()) FireSchedules(minute);
  });
}

int EventBridge::FireSchedules(int64_t minute) {
  auto rules = Load();
  if (!rules.has_value()) {
    log::Warn("events: load rules: {}", rules.error().ToString());
    return 0;
  }
  int fired = 0;
  for (auto& [name, r] : *rules) {
    if (!r.enabled || r.schedule.empty() || r.last_tick >= minute) continue;
    auto s = ParseSchedule(r.schedule);
    if (!s.has_value() || !FiresAt(*s, minute, r.created_minute)) continue;
    // The tick is recorded before it is delivered: never twice.
    r.last_tick = minute;
    Status st = SaveRule(r, false);
    if (!st.ok()) {
      log::Warn("events: rule {}: {}", name, st.ToString());
      continue;
    }
    json::object event{{"version", "0"}, {"id", NewUuid()}, {"detail-type", "Scheduled Event"},
                       {"source", "aws.events"}, {"account", deps_.region.account_id},
                       {"time", IsoSeconds(std::chrono::system_clock::time_point(std::chrono::minutes(minute)))},
                       {"region", deps_.region.name}, {"resources", json::array{json::string(RuleArn(name))}},
                       {"detail", json::object{}}};
    // A schedule's event is in no trace: each invocation it causes starts one.
    Deliver(r, json::serialize(event), "");
    ++fired;
  }
  return fired;
}

}  // namespace nimbus::events
