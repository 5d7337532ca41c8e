#include "events/event_bridge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/testing/fake_clock.h"
#include "storage/testing/temp_dir.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::events {
namespace {

namespace json = boost::json;

constexpr char kQueueArn[] = "arn:aws:sqs:us-east-1:000000000000:ticks";
constexpr char kFunctionArn[] = "arn:aws:lambda:us-east-1:000000000000:function:audit";

// An asynchronous invocation the bridge queued.
struct Invocation {
  std::string function_arn, event, trace_header;
};

class EventBridgeTest : public ::testing::Test {
 protected:
  EventBridgeTest() : reactor_("events-test"), pool_("blocking", 1) {}

  void SetUp() override {
    auto r = control::Registry::Open(control::RegistryOptions{dir_.path() / "registry", {}}, clock_);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    registry_ = std::move(r).value();
    auto q = sqs::QueueStore::Open(dir_.path() / "sqs.db", "arn:aws:sqs:us-east-1:000000000000:");
    ASSERT_TRUE(q.has_value()) << q.error().ToString();
    queues_ = std::move(q).value();
    ASSERT_TRUE(queues_->CreateQueue("ticks", {}).has_value());
    Reopen();
  }

  // Closes the EventBridge, if open, and opens it again over the same database: a restart.
  void Reopen() {
    bridge_.reset();
    auto b = EventBridge::Open(dir_.path() / "events.db",
                               EventBridgeDeps{reactor_, pool_, *registry_, *queues_, control::Region{},
                                               [this](const std::string& arn, std::string event, std::string trace) {
                                                 invoked_.push_back({arn, std::move(event), std::move(trace)});
                                               }});
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    bridge_ = std::move(b).value();
  }

  http::Response Send(const std::string& action, const json::object& body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.headers.Set("X-Amz-Target", "AWSEvents." + action);
    for (const auto& [k, v] : headers) r.headers.Set(k, v);
    r.body = json::serialize(body);
    return bridge_->HandleSync(r);
  }
  json::object Call(const std::string& action, const json::object& body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Response response = Send(action, body, std::move(headers));
    EXPECT_EQ(response.status, 200) << action << ": " << response.body;
    return json::parse(response.body).as_object();
  }

  // A function "audit" whose policy lets events.amazonaws.com invoke it.
  void CreateAuditFunction() {
    control::CreateFunctionRequest f;
    f.function_name = "audit";
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.role = "arn:aws:iam::123456789012:role/lambda-role";
    f.zip_file = storage::testing::ZipBuilder().File("app.py", "def handler(e, c):\n  return 1\n").Build();
    auto created = registry_->CreateFunction(std::move(f));
    ASSERT_TRUE(created.has_value()) << created.error().ToString();
    control::AddPermissionRequest p;
    p.function_name = "audit";
    p.statement_id = "events";
    p.action = "lambda:InvokeFunction";
    p.principal = "events.amazonaws.com";
    auto added = registry_->AddPermission(std::move(p));
    ASSERT_TRUE(added.has_value()) << added.error().ToString();
  }

  // Every message on the queue, received and deleted, with its AWSTraceHeader.
  std::vector<std::string> DrainTraces() {
    std::vector<std::string> out;
    while (true) {
      auto got = queues_->Receive("ticks", 10, 30, NowMs());
      EXPECT_TRUE(got.has_value());
      if (!got.has_value() || got->empty()) return out;
      for (const auto& m : *got) {
        out.push_back(m.trace_header);
        EXPECT_TRUE(queues_->Delete("ticks", m.receipt).has_value());
      }
    }
  }

  void PutScheduledRule(const std::string& name, const std::string& schedule) {
    Call("PutRule", {{"Name", name}, {"ScheduleExpression", schedule}});
    Call("PutTargets", {{"Rule", name}, {"Targets", json::array{json::object{{"Id", "q"}, {"Arn", kQueueArn}}}}});
  }

  // Every message on the queue, received and deleted.
  std::vector<json::object> Drain() {
    std::vector<json::object> out;
    while (true) {
      auto got = queues_->Receive("ticks", 10, 30, NowMs());
      EXPECT_TRUE(got.has_value());
      if (!got.has_value() || got->empty()) return out;
      for (const auto& m : *got) {
        out.push_back(json::parse(m.body).as_object());
        EXPECT_TRUE(queues_->Delete("ticks", m.receipt).has_value());
      }
    }
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  }
  static int64_t NowMinute() {
    return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  storage::testing::TempDir dir_;
  FakeClock clock_;
  Reactor reactor_;
  BlockingPool pool_;
  std::unique_ptr<control::Registry> registry_;
  std::unique_ptr<sqs::QueueStore> queues_;
  std::unique_ptr<EventBridge> bridge_;
  std::vector<Invocation> invoked_;
};

TEST_F(EventBridgeTest, AScheduleFiresOncePerTickEvenAcrossARestart) {
  PutScheduledRule("every-minute", "rate(1 minute)");
  const int64_t next = NowMinute() + 1;
  EXPECT_EQ(bridge_->FireSchedules(next), 1);
  EXPECT_EQ(bridge_->FireSchedules(next), 0) << "a second tick for the same minute fired";
  Reopen();
  EXPECT_EQ(bridge_->FireSchedules(next), 0) << "the restarted bridge fired a minute already fired";
  EXPECT_EQ(bridge_->FireSchedules(next + 1), 1);
  auto events = Drain();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("detail-type").as_string(), "Scheduled Event");
  EXPECT_EQ(events[0].at("source").as_string(), "aws.events");
  EXPECT_EQ(events[0].at("resources").as_array().at(0).as_string(),
            "arn:aws:events:us-east-1:000000000000:rule/every-minute");
  const std::string first_time(events[0].at("time").as_string());
  const std::string second_time(events[1].at("time").as_string());
  EXPECT_TRUE(first_time.ends_with(":00Z")) << first_time;
  EXPECT_LT(first_time, second_time);
}

TEST_F(EventBridgeTest, RateCountsFromTheRulesCreationAndSkipsMissedTicks) {
  PutScheduledRule("every-five", "rate(5 minutes)");
  const int64_t created = NowMinute();
  int fired = 0;
  for (int64_t m = created + 1; m <= created + 10; ++m) fired += bridge_->FireSchedules(m);
  EXPECT_EQ(fired, 2);
  // Minutes the daemon was down for are not made up: the five minutes an hour
  // later hold one tick, and it fires once.
  fired = 0;
  for (int64_t m = created + 60; m < created + 65; ++m) fired += bridge_->FireSchedules(m);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(Drain().size(), 3u);
}

TEST_F(EventBridgeTest, ADisabledRuleDoesNotFireAndAnEnabledOneResumes) {
  PutScheduledRule("paused", "rate(1 minute)");
  Call("DisableRule", {{"Name", "paused"}});
  const int64_t next = NowMinute() + 1;
  EXPECT_EQ(bridge_->FireSchedules(next), 0);
  Call("EnableRule", {{"Name", "paused"}});
  EXPECT_EQ(bridge_->FireSchedules(next + 1), 1);
  EXPECT_EQ(Drain().size(), 1u);
}

TEST_F(EventBridgeTest, ACronScheduleFiresOnlyAtItsMinutes) {
  PutScheduledRule("on-the-hour", "cron(0 * * * ? *)");
  const int64_t hour = (NowMinute() / 60 + 1) * 60;
  EXPECT_EQ(bridge_->FireSchedules(hour - 1), 0);
  EXPECT_EQ(bridge_->FireSchedules(hour), 1);
  Reopen();
  EXPECT_EQ(bridge_->FireSchedules(hour), 0);
  EXPECT_EQ(bridge_->FireSchedules(hour + 60), 1);
}

TEST_F(EventBridgeTest, PutEventsTargetsContinueTheEntrysTraceHeaderElseTheRequestsTrace) {
  CreateAuditFunction();
  Call("PutRule", {{"Name", "orders"}, {"EventPattern", R"({"source":["shop"]})"}});
  Call("PutTargets", {{"Rule", "orders"},
                      {"Targets", json::array{json::object{{"Id", "fn"}, {"Arn", kFunctionArn}},
                                              json::object{{"Id", "q"}, {"Arn", kQueueArn}}}}});
  const std::string entry_trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  const std::string request_trace = "Root=1-6659e988-cd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
  auto entry = [](const std::string& trace_header) {
    json::object e{{"Source", "shop"}, {"DetailType", "OrderPlaced"}, {"Detail", R"({"id":1})"}};
    if (!trace_header.empty()) e["TraceHeader"] = trace_header;
    return e;
  };
  auto r = Call("PutEvents", {{"Entries", json::array{entry(entry_trace), entry(""), entry("Sampled=1")}}},
                {{"X-Amzn-Trace-Id", request_trace}});
  EXPECT_EQ(r.at("FailedEntryCount").as_int64(), 0);
  ASSERT_EQ(invoked_.size(), 3u);
  EXPECT_EQ(invoked_[0].function_arn, kFunctionArn);
  EXPECT_NE(invoked_[0].event.find(R"("detail-type":"OrderPlaced")"), std::string::npos) << invoked_[0].event;
  EXPECT_EQ(invoked_[0].trace_header, entry_trace) << "the entry's own TraceHeader wins";
  EXPECT_EQ(invoked_[1].trace_header, request_trace) << "an entry without one is in the request's trace";
  EXPECT_EQ(invoked_[2].trace_header, request_trace) << "a TraceHeader that names no Root is ignored";
  EXPECT_EQ(DrainTraces(), (std::vector<std::string>{entry_trace, request_trace, request_trace}))
      << "a queue target's message keeps the trace as its AWSTraceHeader";

  // A W3C traceparent on the request, in X-Ray's form; without any, no trace.
  invoked_.clear();
  Call("PutEvents", {{"Entries", json::array{entry("")}}},
       {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  Call("PutEvents", {{"Entries", json::array{entry("")}}});
  ASSERT_EQ(invoked_.size(), 2u);
  EXPECT_EQ(invoked_[0].trace_header, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  EXPECT_EQ(invoked_[1].trace_header, "");
  EXPECT_EQ(DrainTraces().size(), 2u);
}

TEST_F(EventBridgeTest, ATraceHeaderLongerThan500CharactersFailsTheRequest) {
  auto r = Send("PutEvents",
                {{"Entries", json::array{json::object{{"Source", "shop"}, {"DetailType", "OrderPlaced"},
                                                      {"Detail", "{}"}},
                                         json::object{{"Source", "shop"}, {"DetailType", "OrderPlaced"},
                                                      {"Detail", "{}"},
                                                      {"TraceHeader", "Root=1-" + std::string(500, 'a')}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("ValidationException"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("'entries.2.member.traceHeader'"), std::string::npos) << r.body;
}

TEST_F(EventBridgeTest, AScheduledEventIsInNoTraceSoEachInvocationStartsANewOne) {
  CreateAuditFunction();
  Call("PutRule", {{"Name", "tick"}, {"ScheduleExpression", "rate(1 minute)"}});
  Call("PutTargets", {{"Rule", "tick"},
                      {"Targets", json::array{json::object{{"Id", "fn"}, {"Arn", kFunctionArn}},
                                              json::object{{"Id", "q"}, {"Arn", kQueueArn}}}}});
  EXPECT_EQ(bridge_->FireSchedules(NowMinute() + 1), 1);
  ASSERT_EQ(invoked_.size(), 1u);
  EXPECT_EQ(invoked_[0].trace_header, "");
  EXPECT_EQ(DrainTraces(), std::vector<std::string>{""});
}

}  // namespace
}  // namespace nimbus::events
