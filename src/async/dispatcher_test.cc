#include "async/dispatcher.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "async/testing/fakes.h"

namespace nimbus::async {
namespace {

using namespace std::chrono_literals;
using testing::FakeInvoker;
using testing::FakeJournal;
using testing::FakeTimers;

control::FunctionSnapshot Fn(const std::string& name) {
  auto v = std::make_shared<control::FunctionVersion>();
  v->config.name = name;
  v->arn = "arn:aws:lambda:us-east-1:000000000000:function:" + name;
  return v;
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() { Make(); }

  void Make(int max_in_flight = 32) {
    dispatcher_.reset();
    DispatcherOptions o;
    o.max_in_flight = max_in_flight;
    dispatcher_ = std::make_unique<Dispatcher>(
        DispatcherDeps{clock_, timers_, journal_, invoker_,
                       [this](std::string_view name, std::string_view q)
                           -> Result<control::FunctionSnapshot> {
                         auto ref = TargetOf(name, q);
                         if (!functions_.contains(ref.function)) {
                           return NotFound("Function not found: " + ref.function);
                         }
                         auto v = std::make_shared<control::FunctionVersion>(*Fn(ref.function));
                         v->config.dead_letter_target_arn = dlq_[ref.function];
                         return control::FunctionSnapshot(v);
                       },
                       configs_, [this] { return "record-" + std::to_string(++records_); },
                       [this](const std::string& queue, std::string body, QueueAttributes attributes,
                              std::function<void(Status)> done) {
                         sent_.push_back({queue, std::move(body), std::move(attributes)});
                         done(send_status_);
                       },
                       [this](const std::string& function, AsyncMetric metric, double value) {
                         metrics_[{function, metric}] += value;
                       }},
        o);
  }

  static AsyncInvokeRequest Request(const std::string& function) {
    AsyncInvokeRequest r;
    r.function = Fn(function);
    r.function_name = function;
    r.request_id = "r";
    r.payload = "{}";
    return r;
  }

  Status Enqueue(const std::string& function, const std::string& payload,
                 const std::string& request_id = "req-1") {
    std::optional<Status> accepted;
    dispatcher_->Enqueue(
        AsyncInvokeRequest{.function = Fn(function),
                           .function_name = function,
                           .qualifier = "",
                           .request_id = request_id,
                           .invoked_function_arn = Fn(function)->arn,
                           .payload = payload,
                           .trace_id = ""},
        [&](Status s) { accepted = s; });
    return accepted.value_or(Status(Code::kInternal, "not answered"));
  }

  void Configure(const std::string& function, std::optional<int> retries,
                 const std::string& on_success, const std::string& on_failure,
                 std::optional<int64_t> max_age = std::nullopt) {
    EventInvokeConfig c;
    c.function = function;
    c.qualifier = "$LATEST";
    c.maximum_retry_attempts = retries;
    c.maximum_event_age_seconds = max_age;
    c.on_success = on_success;
    c.on_failure = on_failure;
    configs_.Put(c);
  }

  FakeClock clock_;
  FakeTimers timers_{clock_};
  FakeJournal journal_;
  FakeInvoker invoker_;
  EventInvokeConfigs configs_;
  std::set<std::string> functions_{"f", "dest"};
  std::map<std::string, std::string> dlq_;
  int records_ = 0;
  struct Sent {
    std::string queue, body;
    QueueAttributes attributes;
  };
  std::vector<Sent> sent_;     // what the dispatcher sent to queues
  std::map<std::pair<std::string, AsyncMetric>, double> metrics_;  // summed by function and metric
  Status send_status_;         // what sending answers
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, AnEventIsAcceptedOnlyAfterItIsOnDiskAndRunsOnlyThen) {
  journal_.auto_commit = false;
  std::optional<Status> accepted;
  dispatcher_->Enqueue(Request("f"), [&](Status s) { accepted = s; });
  EXPECT_FALSE(accepted.has_value());
  EXPECT_EQ(invoker_.running(), 0u);
  journal_.CommitAll();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_TRUE(accepted->ok());
  EXPECT_EQ(journal_.on_disk.size(), 1u);
  EXPECT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(dispatcher_->stats().accepted, 1);
}

TEST_F(DispatcherTest, AnEventThatCouldNotBeStoredIsRefusedAndNeverRuns) {
  journal_.auto_commit = false;
  std::optional<Status> accepted;
  dispatcher_->Enqueue(Request("f"), [&](Status s) { accepted = s; });
  journal_.CommitAll(Status(Code::kResourceExhausted, "disk full"));
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->code(), Code::kUnavailable);
  EXPECT_EQ(invoker_.running(), 0u);
}

TEST_F(DispatcherTest, ASuccessfulEventIsDeletedFromDiskOnlyAfterItsOutcome) {
  ASSERT_TRUE(Enqueue("f", R"({"n":1})").ok());
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.payload, R"({"n":1})");
  EXPECT_EQ(invoker_.calls[0].request.request_id, "req-1");
  EXPECT_EQ(journal_.on_disk.size(), 1u);
  invoker_.Succeed();
  EXPECT_TRUE(journal_.on_disk.empty());
  EXPECT_EQ(dispatcher_->stats().succeeded, 1);
  EXPECT_EQ(dispatcher_->pending(), 0u);
}

TEST_F(DispatcherTest, AnEventWithoutATraceGetsOneWhenAcceptedAndKeepsItForEveryAttempt) {
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  const std::string trace = journal_.on_disk.at(1).trace_id;
  EXPECT_TRUE(trace.starts_with("Root=1-")) << trace;
  EXPECT_NE(trace.find(";Parent="), std::string::npos) << trace;
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.trace_id, trace);
  invoker_.FailFunction();
  timers_.Advance(60s);
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.trace_id, trace) << "a retry is in the same trace";

  // One given by the caller is kept as it is.
  AsyncInvokeRequest traced = Request("f");
  traced.trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  dispatcher_->Enqueue(traced, [](Status) {});
  EXPECT_EQ(invoker_.calls.back().request.trace_id, traced.trace_id);
}

TEST_F(DispatcherTest, AFunctionErrorIsRetriedAfterOneMinuteThenTwoThenGoesToOnFailure) {
  Configure("f", std::nullopt, "", "arn:aws:lambda:us-east-1:000000000000:function:dest");
  ASSERT_TRUE(Enqueue("f", R"({"order":7})").ok());
  invoker_.FailFunction();
  EXPECT_EQ(invoker_.running(), 0u);
  EXPECT_EQ(journal_.on_disk.at(1).attempts, 1);  // the count survives a restart
  timers_.Advance(59s);
  EXPECT_EQ(invoker_.running(), 0u) << "the 2nd attempt waits ~1 min";
  timers_.Advance(1s);
  ASSERT_EQ(invoker_.running(), 1u);
  invoker_.FailFunction();
  timers_.Advance(119s);
  EXPECT_EQ(invoker_.running(), 0u) << "the 3rd attempt waits ~2 min";
  timers_.Advance(1s);
  ASSERT_EQ(invoker_.running(), 1u);
  invoker_.FailFunction(R"({"errorMessage":"third"})");
  EXPECT_EQ(dispatcher_->stats().attempts, 3);
  EXPECT_EQ(dispatcher_->stats().retries, 2);
  EXPECT_EQ(dispatcher_->stats().failed, 1);
  EXPECT_EQ(dispatcher_->stats().destination_deliveries, 1);
  // The original is gone; the record is queued for the destination and runs.
  ASSERT_EQ(journal_.on_disk.size(), 1u);
  ASSERT_EQ(invoker_.running(), 1u);
  const invoke::InvokeRequest& r = invoker_.calls[0].request;
  EXPECT_EQ(r.function->config.name, "dest");
  EXPECT_EQ(r.request_id, "record-1");
  boost::json::object rec = boost::json::parse(r.payload).as_object();
  EXPECT_EQ(rec["version"], "1.0");
  EXPECT_EQ(rec["requestContext"].at("condition"), "RetriesExhausted");
  EXPECT_EQ(rec["requestContext"].at("approximateInvokeCount"), 3);
  EXPECT_EQ(rec["requestContext"].at("requestId"), "req-1");
  EXPECT_EQ(rec["requestContext"].at("functionArn"),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST");
  EXPECT_EQ(rec["requestPayload"], boost::json::parse(R"({"order":7})"));
  EXPECT_EQ(rec["responseContext"].at("functionError"), "Unhandled");
  EXPECT_EQ(rec["responseContext"].at("statusCode"), 200);
  EXPECT_EQ(rec["responsePayload"].at("errorMessage"), "third");
}

TEST_F(DispatcherTest, MaximumRetryAttemptsZeroMeansOneAttempt) {
  Configure("f", 0, "", "");
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.FailFunction();
  timers_.Advance(10min);
  EXPECT_EQ(invoker_.running(), 0u);
  EXPECT_EQ(dispatcher_->stats().attempts, 1);
  EXPECT_EQ(dispatcher_->stats().failed, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, ASuccessOnRetrySendsAnOnSuccessRecordWithTheResult) {
  Configure("f", std::nullopt, "arn:aws:lambda:us-east-1:000000000000:function:dest", "");
  ASSERT_TRUE(Enqueue("f", R"({"a":1})").ok());
  invoker_.FailFunction();
  timers_.Advance(60s);
  invoker_.Succeed(R"({"result":42})");
  ASSERT_EQ(invoker_.running(), 1u);
  boost::json::object rec = boost::json::parse(invoker_.calls[0].request.payload).as_object();
  EXPECT_EQ(rec["requestContext"].at("condition"), "Success");
  EXPECT_EQ(rec["requestContext"].at("approximateInvokeCount"), 2);
  EXPECT_FALSE(rec["responseContext"].as_object().contains("functionError"));
  EXPECT_EQ(rec["responsePayload"].at("result"), 42);
}

TEST_F(DispatcherTest, ThrottledEventsWaitAtTheHeadOfTheirQueueAndAreNeverDropped) {
  ASSERT_TRUE(Enqueue("f", R"({"n":1})", "a").ok());
  ASSERT_TRUE(Enqueue("f", R"({"n":2})", "b").ok());
  ASSERT_EQ(invoker_.running(), 2u);
  for (int i = 0; i < 12; ++i) {  // an hour of throttles
    while (invoker_.running() > 0) invoker_.Refuse(Status(Code::kThrottled, "limit"));
    timers_.Advance(5min);
  }
  EXPECT_EQ(dispatcher_->stats().dropped, 0);
  EXPECT_EQ(dispatcher_->stats().attempts, 0) << "throttles are not attempts";
  EXPECT_EQ(journal_.on_disk.size(), 2u);
  ASSERT_GE(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.request_id, "a") << "order kept";
  while (invoker_.running() > 0) invoker_.Succeed();
  timers_.Advance(5min);
  while (invoker_.running() > 0) invoker_.Succeed();
  EXPECT_EQ(dispatcher_->stats().succeeded, 2);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AThrottledFunctionResumesWhenOneOfItsAttemptsFinishes) {
  ASSERT_TRUE(Enqueue("f", "{}", "a").ok());
  ASSERT_TRUE(Enqueue("f", "{}", "b").ok());
  invoker_.calls.push_back(std::move(invoker_.calls.front()));  // complete "b" first
  invoker_.calls.pop_front();
  invoker_.Refuse(Status(Code::kThrottled, "limit"));  // b
  EXPECT_EQ(invoker_.running(), 1u);
  invoker_.Succeed();  // a frees a slot: b runs at once, no backoff wait
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.request_id, "b");
}

TEST_F(DispatcherTest, PlatformErrorsBackOffExponentiallyUntilTheEventSucceeds) {
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.Refuse(Status(Code::kUnavailable, "sandbox launch failed"));
  timers_.Advance(999ms);
  EXPECT_EQ(invoker_.running(), 0u);
  timers_.Advance(1ms);
  ASSERT_EQ(invoker_.running(), 1u);
  invoker_.Refuse(Status(Code::kInternal, "again"));
  timers_.Advance(1999ms);
  EXPECT_EQ(invoker_.running(), 0u);
  timers_.Advance(1ms);
  ASSERT_EQ(invoker_.running(), 1u);
  invoker_.Succeed();
  EXPECT_EQ(dispatcher_->stats().platform_errors, 2);
  EXPECT_EQ(dispatcher_->stats().attempts, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AnEventForADeletedFunctionIsDroppedAndCounted) {
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.FailFunction();
  functions_.erase("f");
  timers_.Advance(60s);
  EXPECT_EQ(invoker_.running(), 0u);
  EXPECT_EQ(dispatcher_->stats().dropped, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AnEventOlderThanItsMaximumAgeGoesToOnFailureAsEventAgeExceeded) {
  Configure("f", std::nullopt, "", "arn:aws:lambda:us-east-1:000000000000:function:dest", 60);
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.Refuse(Status(Code::kThrottled, "limit"));
  for (int i = 0; i < 10; ++i) {
    timers_.Advance(10s);
    while (invoker_.running() > 0 &&
           invoker_.calls.front().request.function->config.name == "f") {
      invoker_.Refuse(Status(Code::kThrottled, "limit"));
    }
  }
  EXPECT_EQ(dispatcher_->stats().expired, 1);
  ASSERT_EQ(invoker_.running(), 1u);
  boost::json::object rec = boost::json::parse(invoker_.calls[0].request.payload).as_object();
  EXPECT_EQ(rec["requestContext"].at("condition"), "EventAgeExceeded");
  EXPECT_EQ(rec["requestContext"].at("approximateInvokeCount"), 0);
  EXPECT_FALSE(rec.contains("responseContext"));
}

TEST_F(DispatcherTest, ARecordForAnSqsDestinationIsSentToTheQueueBeforeTheEventIsDeleted) {
  Configure("f", 0, "", "arn:aws:sqs:us-east-1:000000000000:failures");
  ASSERT_TRUE(Enqueue("f", R"({"k":1})").ok());
  invoker_.FailFunction();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].queue, "arn:aws:sqs:us-east-1:000000000000:failures");
  boost::json::object rec = boost::json::parse(sent_[0].body).as_object();
  EXPECT_EQ(rec["requestContext"].at("condition"), "RetriesExhausted");
  EXPECT_EQ(rec["requestPayload"].at("k"), 1);
  EXPECT_EQ(dispatcher_->stats().destination_deliveries, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AnSnsDestinationIsCountedAsUnsupportedAndTheEventStillFinishes) {
  Configure("f", 0, "", "arn:aws:sns:us-east-1:000000000000:topic");
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.FailFunction();
  EXPECT_EQ(dispatcher_->stats().destination_unsupported, 1);
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AFailedEventGoesToItsSqsDeadLetterQueueAsItWasWithLambdasAttributes) {
  dlq_["f"] = "arn:aws:sqs:us-east-1:000000000000:dlq";
  Configure("f", 0, "", "");
  ASSERT_TRUE(Enqueue("f", R"({"a":1})", "a").ok());
  invoker_.Succeed();
  EXPECT_TRUE(sent_.empty()) << "only failures go there";
  ASSERT_TRUE(Enqueue("f", R"({"b":2})", "b").ok());
  invoker_.FailFunction();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].queue, "arn:aws:sqs:us-east-1:000000000000:dlq");
  EXPECT_EQ(sent_[0].body, R"({"b":2})");
  EXPECT_EQ(sent_[0].attributes.at("RequestID"), std::make_pair(std::string("String"), std::string("b")));
  EXPECT_EQ(sent_[0].attributes.at("ErrorCode"), std::make_pair(std::string("Number"), std::string("200")));
  EXPECT_EQ(sent_[0].attributes.at("ErrorMessage"), std::make_pair(std::string("String"), std::string("boom")));
  EXPECT_EQ(dispatcher_->stats().dead_letters, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, AnEventWhoseDeadLetterCannotBeSentIsCountedAndStillFinishes) {
  dlq_["f"] = "arn:aws:sqs:us-east-1:000000000000:gone";
  send_status_ = NotFound("queue gone");
  Configure("f", 0, "", "");
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.FailFunction();
  EXPECT_EQ(dispatcher_->stats().dead_letter_errors, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
  EXPECT_EQ((metrics_[{"f", AsyncMetric::kDeadLetterErrors}]), 1);
  EXPECT_EQ((metrics_[{"f", AsyncMetric::kEventsReceived}]), 1);
  EXPECT_EQ((metrics_[{"f", AsyncMetric::kEventsDropped}]), 1);
}

TEST_F(DispatcherTest, AsyncMetricsCountReceivedEventsTheirAgeAndDrops) {
  Configure("f", 1, "", "");
  ASSERT_TRUE(Enqueue("f", "{}", "a").ok());
  invoker_.Succeed();
  ASSERT_TRUE(Enqueue("f", "{}", "b").ok());
  invoker_.FailFunction();
  timers_.Advance(std::chrono::minutes(2));
  ASSERT_EQ(invoker_.running(), 1u);
  invoker_.FailFunction();
  EXPECT_EQ((metrics_[{"f", AsyncMetric::kEventsReceived}]), 2);
  EXPECT_EQ((metrics_[{"f", AsyncMetric::kEventsDropped}]), 1) << "b, after its one retry";
  EXPECT_GE((metrics_[{"f", AsyncMetric::kEventAge}]), 60000) << "the retry's age adds at least the minute it waited";
}

TEST_F(DispatcherTest, ARecordForADeletedDestinationFunctionIsAFailedDelivery) {
  Configure("f", 0, "", "arn:aws:lambda:us-east-1:000000000000:function:gone");
  ASSERT_TRUE(Enqueue("f", "{}").ok());
  invoker_.FailFunction();
  EXPECT_EQ(dispatcher_->stats().destination_failures, 1);
  EXPECT_TRUE(journal_.on_disk.empty());
}

TEST_F(DispatcherTest, EventsOnDiskAtStartupRunAgainKeepingTheirAttemptCount) {
  Event e;
  e.id = 41;
  e.request_id = "old";
  e.function = "f";
  e.function_ref = "f";
  e.config_qualifier = "$LATEST";
  e.payload = "{}";
  e.enqueued_ms = ToUnixMillis(clock_.Now());
  e.attempts = 2;
  Event later = e;
  later.id = 42;
  later.request_id = "later";
  later.attempts = 1;
  later.not_before_ms = ToUnixMillis(clock_.Now()) + 30'000;
  journal_.on_disk[41] = e;
  journal_.on_disk[42] = later;
  dispatcher_->Recover({e, later});
  EXPECT_EQ(dispatcher_->stats().recovered, 2);
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.request_id, "old");
  invoker_.FailFunction();  // third attempt: retries exhausted
  EXPECT_EQ(dispatcher_->stats().failed, 1);
  timers_.Advance(30s);
  ASSERT_EQ(invoker_.running(), 1u);
  EXPECT_EQ(invoker_.calls[0].request.request_id, "later");
  ASSERT_TRUE(Enqueue("f", "{}", "new").ok());
  EXPECT_TRUE(journal_.on_disk.contains(43)) << "new ids continue after recovered ones";
}

TEST_F(DispatcherTest, AtMostMaxInFlightAttemptsRunAndFunctionsTakeTurns) {
  Make(/*max_in_flight=*/2);
  functions_.insert("g");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Enqueue("f", "{}", "f" + std::to_string(i)).ok());
  ASSERT_TRUE(Enqueue("g", "{}", "g0").ok());
  EXPECT_EQ(invoker_.running(), 2u);
  invoker_.Succeed();  // f0 done: f2 (f was in the ring before g)
  invoker_.Succeed();  // f1 done: g0, not f3 (f went to the back of the ring)
  ASSERT_EQ(invoker_.running(), 2u);
  EXPECT_EQ(invoker_.calls[0].request.request_id, "f2");
  EXPECT_EQ(invoker_.calls[1].request.request_id, "g0") << "g is not starved behind f";
}

TEST_F(DispatcherTest, StopStartsNoMoreAttemptsAndLeavesEventsOnDisk) {
  Make(1);
  ASSERT_TRUE(Enqueue("f", "{}", "a").ok());
  ASSERT_TRUE(Enqueue("f", "{}", "b").ok());
  dispatcher_->Stop();
  invoker_.Succeed();
  EXPECT_EQ(invoker_.running(), 0u);
  EXPECT_EQ(journal_.on_disk.size(), 1u);
}

}  // namespace
}  // namespace nimbus::async
