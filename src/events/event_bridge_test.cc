#include "events/event_bridge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/testing/fake_clock.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::events {
namespace {

namespace json = boost::json;

constexpr char kQueueArn[] = "arn:aws:sqs:us-east-1:000000000000:ticks";

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
                                               [](const std::string&, std::string) {}});
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    bridge_ = std::move(b).value();
  }

  json::object Call(const std::string& action, const json::object& body) {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.headers.Set("X-Amz-Target", "AWSEvents." + action);
    r.body = json::serialize(body);
    http::Response response = bridge_->HandleSync(r);
    EXPECT_EQ(response.status, 200) << action << ": " << response.body;
    return json::parse(response.body).as_object();
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

}  // namespace
}  // namespace nimbus::events
