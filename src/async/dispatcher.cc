#include "async/dispatcher.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/log.h"
#include "control/function_name.h"
#include "http/trace_header.h"

namespace nimbus::async {

EventTarget TargetOf(std::string_view function_ref, std::string_view qualifier) {
  auto ref = control::ParseFunctionRef(function_ref, qualifier);
  if (!ref.has_value()) return {std::string(function_ref), "$LATEST"};
  return {ref->name, ref->qualifier.value_or("$LATEST")};
}

std::optional<LambdaArn> ParseLambdaArn(std::string_view arn) {
  // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t colon = arn.find(':', start);
    parts.push_back(arn.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 7 || parts.size() > 8 || parts[0] != "arn" || parts[2] != "lambda" ||
      parts[5] != "function" || parts[6].empty()) {
    return std::nullopt;
  }
  return LambdaArn{std::string(parts[6]), parts.size() == 8 ? std::string(parts[7]) : ""};
}

Dispatcher::Dispatcher(DispatcherDeps deps, DispatcherOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

Dispatcher::~Dispatcher() = default;

int64_t Dispatcher::NowMs() const { return ToUnixMillis(deps_.clock.Now()); }

const EventInvokeConfig* Dispatcher::ConfigFor(const Event& e) const {
  return deps_.configs.Find(e.function, e.config_qualifier);
}

void Dispatcher::Enqueue(AsyncInvokeRequest request, std::function<void(Status)> accepted) {
  Event e;
  e.id = next_id_++;
  e.request_id = std::move(request.request_id);
  EventTarget target = TargetOf(request.function_name, request.qualifier);
  e.function = request.function ? request.function->config.name : target.function;
  e.function_ref = std::move(request.function_name);
  e.qualifier = std::move(request.qualifier);
  e.config_qualifier = std::move(target.config_qualifier);
  e.invoked_function_arn = std::move(request.invoked_function_arn);
  e.payload = std::move(request.payload);
  // An event's trace is fixed when it is accepted, so that every attempt
  // (retries, and after a restart) is in the same trace, as on AWS.
  e.trace_id = request.trace_id.empty() ? http::NewTraceHeader(deps_.clock.Now()) : std::move(request.trace_id);
  e.enqueued_ms = NowMs();
  WriteBatch batch;
  batch.inserts.push_back(e);
  std::weak_ptr<bool> alive = alive_;
  deps_.journal.Write(std::move(batch), [this, alive, e = std::move(e),
                                         accepted = std::move(accepted)](Status s) mutable {
    if (alive.expired()) return;
    if (!s.ok()) {
      accepted(Status(Code::kUnavailable, "async: event could not be stored: " + s.message()));
      return;
    }
    ++stats_.accepted;
    Metric(e.function, AsyncMetric::kEventsReceived);
    Admit(std::move(e));
    accepted(Status::Ok());
  });
}

void Dispatcher::Recover(std::vector<Event> events) {
  for (Event& e : events) {
    next_id_ = std::max(next_id_, e.id + 1);
    ++stats_.recovered;
    Admit(std::move(e));
  }
}

void Dispatcher::Stop() {
  stopped_ = true;
  waiting_.clear();
  for (auto& [name, q] : queues_) q.resume.reset();
}

void Dispatcher::Admit(Event event) {
  int64_t id = event.id;
  int64_t not_before = event.not_before_ms;
  events_.emplace(id, std::move(event));
  if (not_before > NowMs()) {
    Schedule(id, not_before);
  } else {
    MakeReady(id, /*front=*/false);
  }
}

void Dispatcher::Schedule(int64_t id, int64_t not_before_ms) {
  if (stopped_) return;
  auto delay = std::chrono::milliseconds(std::max<int64_t>(0, not_before_ms - NowMs()));
  std::weak_ptr<bool> alive = alive_;
  waiting_[id] = deps_.timers.RunAfter(delay, [this, alive, id] {
    if (alive.expired()) return;
    waiting_.erase(id);
    MakeReady(id, /*front=*/false);
  });
}

void Dispatcher::MakeReady(int64_t id, bool front) {
  auto it = events_.find(id);
  if (it == events_.end()) return;
  FunctionQueue& q = queues_[it->second.function];
  if (front) {
    q.ready.push_front(id);
  } else {
    q.ready.push_back(id);
  }
  MaybeRing(it->second.function);
  Pump();
}

void Dispatcher::MaybeRing(const std::string& function) {
  FunctionQueue& q = queues_[function];
  if (!q.in_ring && !q.paused && !q.ready.empty()) {
    q.in_ring = true;
    ring_.push_back(function);
  }
}

void Dispatcher::Pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    while (!stopped_ && in_flight_ < options_.max_in_flight && !ring_.empty()) {
      std::string function = std::move(ring_.front());
      ring_.pop_front();
      FunctionQueue& q = queues_[function];
      q.in_ring = false;
      if (q.paused || q.ready.empty()) continue;
      int64_t id = q.ready.front();
      q.ready.pop_front();
      MaybeRing(function);  // round robin: back of the ring if more are ready
      StartAttempt(id);
    }
  } while (pump_again_);
  pumping_ = false;
}

void Dispatcher::StartAttempt(int64_t id) {
  auto it = events_.find(id);
  if (it == events_.end()) return;
  Event& e = it->second;
  const EventInvokeConfig* config = ConfigFor(e);
  int64_t max_age_ms =
      (config ? config->event_age_seconds() : kDefaultMaximumEventAgeSeconds) * 1000;
  if (NowMs() - e.enqueued_ms > max_age_ms) {
    Finish(id, Condition::kEventAgeExceeded, nullptr);
    return;
  }
  Result<control::FunctionSnapshot> f = deps_.resolve(e.function_ref, e.qualifier);
  if (!f.has_value()) {
    Drop(id, f.error());
    return;
  }
  invoke::InvokeRequest request;
  request.function = *f;
  request.request_id = e.request_id;
  request.invoked_function_arn = e.invoked_function_arn;
  request.payload = e.payload;
  request.trace_id = e.trace_id;
  ++in_flight_;
  ++queues_[e.function].in_flight;
  Metric(e.function, AsyncMetric::kEventAge, static_cast<double>(std::max<int64_t>(0, NowMs() - e.enqueued_ms)));
  std::weak_ptr<bool> alive = alive_;
  deps_.invoker.Invoke(std::move(request),
                       [this, alive, id](Result<invoke::InvokeOutcome> result) {
                         if (alive.expired()) return;
                         OnAttemptDone(id, std::move(result));
                       });
}

void Dispatcher::OnAttemptDone(int64_t id, Result<invoke::InvokeOutcome> result) {
  --in_flight_;
  auto it = events_.find(id);
  NIMBUS_CHECK(it != events_.end()) << "async: attempt finished for unknown event " << id;
  Event& e = it->second;
  const std::string function = e.function;
  FunctionQueue& q = queues_[function];
  --q.in_flight;

  if (!result.has_value()) {
    const Status& error = result.error();
    if (error.code() == Code::kThrottled) {
      // Capacity is taken: wait at the head of the queue for a backoff or until
      // one of this function's running attempts frees its slot.
      ++stats_.throttles;
      ++q.throttle_streak;
      q.ready.push_front(id);
      if (!q.paused && !stopped_) {
        q.paused = true;
        std::weak_ptr<bool> alive = alive_;
        q.resume = deps_.timers.RunAfter(options_.retry.BackoffDelay(q.throttle_streak),
                                         [this, alive, function] {
                                           if (alive.expired()) return;
                                           Resume(function);
                                         });
      }
      Pump();
      return;
    }
    ++stats_.platform_errors;
    int failures = ++platform_failures_[id];
    log::Warn("async: event {} of {} could not run (attempt to be retried): {}", e.request_id,
              function, error.ToString());
    Schedule(id, NowMs() + options_.retry.BackoffDelay(failures).count());
    if (q.paused) Resume(function);  // a slot of this function was freed
    Pump();
    return;
  }

  platform_failures_.erase(id);
  q.throttle_streak = 0;
  if (q.paused) Resume(function);
  invoke::InvokeOutcome& outcome = *result;
  ++e.attempts;
  ++stats_.attempts;
  if (!outcome.function_error) {
    ++stats_.succeeded;
    Finish(id, Condition::kSuccess, &outcome);
    Pump();
    return;
  }
  const EventInvokeConfig* config = ConfigFor(e);
  int max_retries = config ? config->retry_attempts() : kDefaultMaximumRetryAttempts;
  if (e.attempts > max_retries) {
    Finish(id, Condition::kRetriesExhausted, &outcome);
    Pump();
    return;
  }
  ++stats_.retries;
  e.not_before_ms = NowMs() + options_.retry.FunctionErrorDelay(e.attempts).count();
  // The attempt count survives a restart; losing this write only re-runs the attempt.
  WriteBatch batch;
  batch.updates.push_back(e);
  batch.updates.back().payload.clear();
  deps_.journal.Write(std::move(batch), [](Status) {});
  Schedule(id, e.not_before_ms);
  Pump();
}

void Dispatcher::Resume(const std::string& function) {
  FunctionQueue& q = queues_[function];
  q.paused = false;
  q.resume.reset();
  MaybeRing(function);
  Pump();
}

void Dispatcher::Drop(int64_t id, const Status& why) {
  auto it = events_.find(id);
  if (it == events_.end()) return;
  ++stats_.dropped;
  Metric(it->second.function, AsyncMetric::kEventsDropped);
  log::Warn("async: dropping event {} for {}: {}", it->second.request_id, it->second.function_ref,
            why.ToString());
  WriteBatch batch;
  batch.deletes.push_back(id);
  platform_failures_.erase(id);
  events_.erase(it);
  deps_.journal.Write(std::move(batch), [](Status) {});
}

void Dispatcher::Finish(int64_t id, Condition condition, const invoke::InvokeOutcome* outcome) {
  auto it = events_.find(id);
  if (it == events_.end()) return;
  Event e = std::move(it->second);
  events_.erase(it);
  platform_failures_.erase(id);
  if (condition != Condition::kSuccess) {
    ++stats_.failed;
    Metric(e.function, AsyncMetric::kEventsDropped);
    if (condition == Condition::kEventAgeExceeded) ++stats_.expired;
    log::Info("async: event {} for {} failed: {} after {} attempts", e.request_id, e.function_ref,
              ConditionName(condition), e.attempts);
  }
  WriteBatch batch;
  batch.deletes.push_back(id);
  // Queue deliveries (a dead-letter queue, an SQS destination) are made before the
  // event is deleted: a crash in between delivers it again, never not at all.
  std::vector<QueueDelivery> deliveries;

  // The legacy dead-letter queue (DeadLetterConfig.TargetArn) gets the failed
  // event as it was, with Lambda's RequestID, ErrorCode and ErrorMessage attributes.
  if (condition != Condition::kSuccess) {
    if (auto f = deps_.resolve(e.function_ref, e.qualifier);
        f.has_value() && !(*f)->config.dead_letter_target_arn.empty()) {
      const std::string& dlq = (*f)->config.dead_letter_target_arn;
      if (dlq.starts_with("arn:aws:sqs:") && deps_.send_to_queue) {
        deliveries.push_back({dlq, e.payload,
                              {{"RequestID", {"String", e.request_id}},
                               {"ErrorCode", {"Number", "200"}},
                               {"ErrorMessage", {"String", ErrorMessageOf(outcome, condition)}}},
                              /*dead_letter=*/true});
      } else {
        ++stats_.dead_letters_unsupported;
        log::Warn("async: event {} for {} not sent to its dead-letter queue {}: SNS is not served by this Nimbus",
                  e.request_id, e.function_ref, dlq);
      }
    }
  }
  const EventInvokeConfig* config = ConfigFor(e);
  std::string destination;
  if (config) destination = condition == Condition::kSuccess ? config->on_success : config->on_failure;
  std::optional<Event> record_event;
  if (!destination.empty()) {
    InvocationRecordInput in;
    in.timestamp = deps_.clock.Now();
    in.request_id = e.request_id;
    in.function_arn = control::QualifiedFunctionArn(options_.region, e.function, e.config_qualifier);
    in.condition = condition;
    in.approximate_invoke_count = e.attempts;
    in.request_payload = e.payload;
    if (outcome) {
      in.executed_version = outcome->executed_version;
      in.function_error = outcome->function_error;
      in.response_payload = outcome->payload;
    }
    std::optional<LambdaArn> lambda = ParseLambdaArn(destination);
    if (!lambda && destination.starts_with("arn:aws:sqs:") && deps_.send_to_queue) {
      deliveries.push_back({destination, InvocationRecord(in), {}, /*dead_letter=*/false});
    } else if (!lambda) {
      ++stats_.destination_unsupported;
      log::Warn(
          "async: {} record of event {} for {} not delivered: destination {} is not served by "
          "this Nimbus (Lambda functions and SQS queues are; SNS, EventBridge and S3 are not)",
          ConditionName(condition), e.request_id, e.function_ref, destination);
    } else if (auto f = deps_.resolve(destination, ""); !f.has_value()) {
      ++stats_.destination_failures;
      Metric(e.function, AsyncMetric::kDestinationDeliveryFailures);
      log::Warn("async: {} record of event {} for {} not delivered to {}: {}",
                ConditionName(condition), e.request_id, e.function_ref, destination,
                f.error().ToString());
    } else {
      Event r;
      r.id = next_id_++;
      r.request_id = deps_.new_request_id();
      EventTarget target = TargetOf(destination, "");
      r.function = (*f)->config.name;
      r.function_ref = destination;
      r.config_qualifier = target.config_qualifier;
      r.invoked_function_arn = destination;
      r.payload = InvocationRecord(in);
      r.trace_id = e.trace_id;
      r.enqueued_ms = NowMs();
      batch.inserts.push_back(r);
      record_event = std::move(r);
    }
  }
  if (!deliveries.empty()) {
    // Each queue delivery, then the batch (the event's delete, any Lambda record).
    auto pending = std::make_shared<int>(static_cast<int>(deliveries.size()));
    auto rest = std::make_shared<std::pair<WriteBatch, std::optional<Event>>>(std::move(batch), std::move(record_event));
    std::weak_ptr<bool> alive = alive_;
    for (auto& d : deliveries) {
      const bool dead_letter = d.dead_letter;
      const std::string target = d.queue_arn;
      const std::string request_id = e.request_id;
      deps_.send_to_queue(d.queue_arn, std::move(d.body), std::move(d.attributes),
                          [this, alive, pending, rest, dead_letter, target, request_id, condition,
                           function = e.function](Status s) {
                            if (alive.expired()) return;
                            if (s.ok()) {
                              ++(dead_letter ? stats_.dead_letters : stats_.destination_deliveries);
                            } else {
                              ++(dead_letter ? stats_.dead_letter_errors : stats_.destination_failures);
                              Metric(function, dead_letter ? AsyncMetric::kDeadLetterErrors
                                                           : AsyncMetric::kDestinationDeliveryFailures);
                              log::Warn("async: {} of event {} not delivered to {}: {}",
                                        dead_letter ? "dead letter" : std::string(ConditionName(condition)) + " record",
                                        request_id, target, s.ToString());
                            }
                            if (--*pending > 0) return;
                            WriteFinished(std::move(rest->first), std::move(rest->second), condition);
                          });
    }
    return;
  }
  WriteFinished(std::move(batch), std::move(record_event), condition);
}

std::string Dispatcher::ErrorMessageOf(const invoke::InvokeOutcome* outcome, Condition condition) {
  if (outcome == nullptr || outcome->payload.empty()) return std::string(ConditionName(condition));
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(outcome->payload, ec);
  const boost::json::value* m = !ec && v.is_object() ? v.as_object().if_contains("errorMessage") : nullptr;
  std::string message = m && m->is_string() ? std::string(m->as_string()) : outcome->payload;
  if (message.size() > 1024) message.resize(1024);
  return message;
}

void Dispatcher::WriteFinished(WriteBatch batch, std::optional<Event> record_event, Condition condition) {
  std::weak_ptr<bool> alive = alive_;
  deps_.journal.Write(std::move(batch), [this, alive, record_event = std::move(record_event),
                                         condition](Status s) mutable {
    if (alive.expired()) return;
    if (!record_event) return;
    if (!s.ok()) {
      ++stats_.destination_failures;
      log::Error("async: {} record {} not stored: {}", ConditionName(condition),
                 record_event->request_id, s.ToString());
      return;
    }
    ++stats_.destination_deliveries;
    Admit(std::move(*record_event));
  });
}

}  // namespace nimbus::async
