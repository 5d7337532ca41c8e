#include "runtime_api/runtime_api.h"

#include <gtest/gtest.h>

#include <future>

#include "base/testing/reactor_testing.h"
#include "http/testing/raw_client.h"

namespace nimbus::runtime_api {
namespace {

using namespace std::chrono_literals;

// Records what the runtime did; parks /next until the test supplies an event.
class FakeEndpoint final : public RuntimeEndpoint {
 public:
  void OnNext(NextCallback deliver) override {
    parked = std::move(deliver);
    next_calls++;
  }
  Status OnResponse(const std::string& id, std::string body, std::string ct) override {
    if (id != current_id) return NotFound("unknown request " + id);
    responses.push_back(body + "|" + ct);
    return Status::Ok();
  }
  Status OnError(const std::string& id, std::string type, std::string body) override {
    if (id != current_id) return NotFound("unknown request " + id);
    errors.push_back(type + "|" + body);
    return Status::Ok();
  }
  Status OnInitError(std::string type, std::string body) override {
    if (initialized) return Conflict("init already done");
    errors.push_back("init:" + type + "|" + body);
    return Status::Ok();
  }
  void OnResponseTooLarge(const std::string& id, uint64_t size) override {
    too_large.push_back(id + ":" + std::to_string(size));
  }

  NextCallback parked;
  int next_calls = 0;
  std::string current_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
  bool initialized = false;
  std::vector<std::string> responses, errors, too_large;
};

class RuntimeApiTest : public ::testing::Test {
 protected:
  template <typename F>
  auto OnReactor(F f) {
    return RunOnReactor(reactor_, std::move(f), 5s);
  }

  void SetUp() override {
    reactor_.Start();
    port_ = OnReactor([&] {
      auto l = http::Listen(reactor_, "127.0.0.1", 0, MakeHandler(endpoint_),
                            {.max_body_bytes = kMaxResponseBytes, .server_name = ""});
      EXPECT_TRUE(l.has_value());
      listener_ = std::move(*l);
      return listener_->port();
    });
  }
  void TearDown() override {
    OnReactor([&] {
      listener_.reset();
      endpoint_.parked = nullptr;
      return 0;
    });
    reactor_.Stop();
  }
  Reactor reactor_{"reactor-test"};
  FakeEndpoint endpoint_;
  std::unique_ptr<http::Listener> listener_;
  uint16_t port_ = 0;
};

TEST_F(RuntimeApiTest, NextIsALongPollAnsweredWithTheEventAndAllHeaders) {
  http::RawClient c(port_);
  c.Send("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 500 && OnReactor([&] { return endpoint_.next_calls; }) == 0; ++i)
    std::this_thread::sleep_for(1ms);
  OnReactor([&] {
    NextEvent e;
    e.request_id = endpoint_.current_id;
    e.deadline_ms = 1714564803000;
    e.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
    e.trace_id = "Root=1-6630a6c0-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0";
    e.payload = R"({"k":"v"})";
    endpoint_.parked(std::move(e));
    return 0;
  });
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            std::string::npos);
  EXPECT_NE(r.find("Lambda-Runtime-Deadline-Ms: 1714564803000"), std::string::npos);
  EXPECT_NE(r.find("Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:f"),
            std::string::npos);
  EXPECT_NE(r.find("Lambda-Runtime-Trace-Id: Root=1-"), std::string::npos);
  EXPECT_EQ(r.find("Lambda-Runtime-Client-Context"), std::string::npos) << "empty headers are omitted";
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos);
  EXPECT_TRUE(r.ends_with(R"({"k":"v"})"));
}

TEST_F(RuntimeApiTest, ResponseIsAcceptedWithExactly202) {
  http::RawClient c(port_);
  std::string body = R"({"ok":true})";
  c.Send("POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response "
         "HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 202 Accepted"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with(R"({"status":"OK"})"));
  EXPECT_EQ(OnReactor([&] { return endpoint_.responses; }),
            std::vector<std::string>{R"({"ok":true}|application/json)"});
}

TEST_F(RuntimeApiTest, AnUnknownRequestIdIsRefusedWith400InvalidRequestID) {
  http::RawClient c(port_);
  c.Send("POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 2\r\n\r\n{}");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with(R"({"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"})"));
}

TEST_F(RuntimeApiTest, ErrorsCarryTheirTypeHeaderToTheEndpoint) {
  http::RawClient c(port_);
  std::string body = R"({"errorMessage":"boom","errorType":"ValueError"})";
  c.Send("POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/error "
         "HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: ValueError\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 202"), std::string::npos);
  c.Send("POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n"
         "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 202"), std::string::npos);
  auto errors = OnReactor([&] { return endpoint_.errors; });
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "ValueError|" + body);
  EXPECT_EQ(errors[1], "init:Runtime.ImportModuleError|{}");
}

TEST_F(RuntimeApiTest, InitErrorAfterInitIsAnInvalidStateTransition) {
  OnReactor([&] { return endpoint_.initialized = true; });
  http::RawClient c(port_);
  c.Send("POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 403"), std::string::npos) << r;
  EXPECT_NE(r.find(R"("errorType":"InvalidStateTransition")"), std::string::npos);
}

TEST_F(RuntimeApiTest, AnOversizedResponseGets413AndIsReportedWithItsSize) {
  http::RawClient c(port_);
  uint64_t size = kMaxResponseBytes + 1;
  c.Send("POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response "
         "HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_NE(r.find("Exceeded maximum allowed payload size (6291556 bytes)."), std::string::npos);
  EXPECT_EQ(OnReactor([&] { return endpoint_.too_large; }),
            std::vector<std::string>{"8476a536-e9f4-11e8-9739-2dfe598c3fcd:6291557"});
}

}  // namespace
}  // namespace nimbus::runtime_api
