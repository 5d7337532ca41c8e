#include "invoke/local_invoker.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <future>
#include <regex>
#include <set>

#include "base/encoding.h"
#include "base/testing/reactor_testing.h"
#include "http/testing/raw_client.h"
#include "invoke/testing/fake_sandbox.h"

namespace nimbus::invoke {
namespace {

using namespace std::chrono_literals;

class MemoryLogSink final : public LogSink {
 public:
  void Append(const std::string& group, const std::string& stream, int64_t,
              std::string message) override {
    lines.push_back(group + "|" + stream + "|" + message);
  }
  std::vector<std::string> lines;  // confined to the reactor
};

// Plays a runtime against the fake sandbox's Runtime API socket.
class FakeRuntime {
 public:
  explicit FakeRuntime(uint16_t port) : client_(port) {}
  struct Event {
    std::string request_id, headers, body;
  };
  Event Next() {
    client_.Send("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: r\r\n\r\n");
    std::string r = client_.ReadResponse();
    Event e;
    size_t h = r.find("\r\n\r\n");
    e.headers = r.substr(0, h);
    e.body = h == std::string::npos ? "" : r.substr(h + 4);
    std::smatch m;
    if (std::regex_search(e.headers, m, std::regex("Lambda-Runtime-Aws-Request-Id: ([^\r]+)"))) {
      e.request_id = m[1];
    }
    return e;
  }
  std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
    client_.Send("POST /2018-06-01/runtime/" + path + " HTTP/1.1\r\nHost: r\r\n" + extra +
                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return client_.ReadResponse();
  }
  std::string Respond(const std::string& id, const std::string& body) {
    return Post("invocation/" + id + "/response", body);
  }
  // Takes the next event and answers it with `body`.
  Event AnswerNext(const std::string& body) {
    Event e = Next();
    Respond(e.request_id, body);
    return e;
  }

 private:
  http::RawClient client_;
};

class LocalInvokerTest : public ::testing::Test {
 protected:
  template <typename F>
  auto OnReactor(F f) {
    return RunOnReactor(reactor_, std::move(f), 10s);
  }

  void SetUp() override {
    reactor_.Start();
    Configure();
    InvokerOptions o;
    o.stem_cells_per_runtime = stem_cells_per_runtime_;
    o.keep_alive_policy = keep_alive_policy_;
    o.environment.runtime_dir = "/nonexistent/runtimes";
    o.environment.init_timeout = 10s;
    o.keep_alive = 60s;
    o.max_concurrency = 3;
    invoker_ = NewLocalInvoker({reactor_, blocking_, *clock_, sandboxes_, logs_}, o);
    function_ = MakeFunction("rev-1", 3);
  }

  void TearDown() override {
    std::promise<void> done;
    reactor_.Post([&] { invoker_->Shutdown(200ms, [&] { done.set_value(); }); });
    ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
    OnReactor([&] {
      invoker_.reset();
      return 0;
    });
    reactor_.Stop();
  }

  control::FunctionSnapshot MakeFunction(const std::string& revision, int timeout,
                                         const std::string& version = "$LATEST") {
    auto fv = std::make_shared<control::FunctionVersion>();
    fv->config.name = "fn";
    fv->config.runtime = "python3.11";
    fv->config.handler = "app.handler";
    fv->config.timeout_seconds = timeout;
    fv->config.memory_mb = 256;
    fv->config.revision_id = revision;
    fv->config.version = version;
    fv->config.environment = {{"GREETING", "hi"}};
    fv->arn = "arn:aws:lambda:us-east-1:000000000000:function:fn";
    fv->code_dir = "/nonexistent/code";
    return fv;
  }

  // Starts an invocation; the future resolves with its result.
  std::future<Result<InvokeOutcome>> Invoke(std::string payload, bool tail = false,
                                            control::FunctionSnapshot fn = nullptr) {
    auto p = std::make_shared<std::promise<Result<InvokeOutcome>>>();
    auto f = p->get_future();
    InvokeRequest r;
    r.function = fn ? fn : function_;
    r.request_id = NewUuid();
    r.invoked_function_arn = r.function->arn;
    r.payload = std::move(payload);
    r.tail_log = tail;
    reactor_.Post([this, r = std::move(r), p]() mutable {
      invoker_->Invoke(std::move(r), [p](Result<InvokeOutcome> o) { p->set_value(std::move(o)); });
    });
    return f;
  }

  std::shared_ptr<FakeSandboxControl> WaitForLaunch(size_t n) {
    for (int i = 0; i < 2000; ++i) {
      auto l = sandboxes_.launched();
      if (l.size() >= n) {
        // Give the reactor a moment to start serving the listener.
        OnReactor([] { return 0; });
        return l[n - 1];
      }
      std::this_thread::sleep_for(1ms);
    }
    ADD_FAILURE() << "no sandbox launch #" << n;
    return nullptr;
  }

  std::vector<std::string> Logs() { return OnReactor([&] { return logs_.lines; }); }

  // Before the invoker is made.
  virtual void Configure() {}
  int stem_cells_per_runtime_ = 0;
  std::optional<KeepAliveOptions> keep_alive_policy_;

  Reactor reactor_{"reactor-test"};
  BlockingPool blocking_{"blocking", 2};
  std::unique_ptr<Clock> clock_ = NewRealClock();
  FakeSandboxFactory sandboxes_;
  MemoryLogSink logs_;
  std::unique_ptr<LocalInvoker> invoker_;
  control::FunctionSnapshot function_;
};

bool Contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

TEST_F(LocalInvokerTest, AColdStartDeliversTheEventAndReturnsTheRuntimesResponse) {
  auto result = Invoke(R"({"k":"v"})");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  EXPECT_EQ(e.body, R"({"k":"v"})");
  EXPECT_NE(e.headers.find("Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:fn"),
            std::string::npos);
  EXPECT_NE(e.headers.find("Lambda-Runtime-Trace-Id: Root=1-"), std::string::npos);
  sb->WriteOutput("hello from the handler\n");
  EXPECT_NE(rt.Respond(e.request_id, R"({"ok":1})").find("HTTP/1.1 202"), std::string::npos);
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->payload, R"({"ok":1})");
  EXPECT_EQ(r->executed_version, "$LATEST");
  EXPECT_EQ(r->request_id, e.request_id);
  EXPECT_FALSE(r->function_error.has_value());
  InvokerMetrics m = OnReactor([&] { return invoker_->stats().metrics; });
  EXPECT_EQ(m.cold_starts, 1u);
  EXPECT_EQ(m.cold_starts_from_stem_cells, 0u);
  EXPECT_EQ(m.cold_start_seconds.count(), 1u);
  EXPECT_EQ(m.init_seconds.count(), 1u);
  EXPECT_EQ(m.cold_start_seconds.bucket(DurationHistogram::kBounds.size() - 1), 1u);

  auto logs = Logs();
  ASSERT_GE(logs.size(), 5u);
  EXPECT_TRUE(Contains(logs, "INIT_START Runtime Version: nimbus:python3.11"));
  EXPECT_TRUE(Contains(logs, "START RequestId: " + e.request_id + " Version: $LATEST"));
  EXPECT_TRUE(Contains(logs, "hello from the handler"));
  EXPECT_TRUE(Contains(logs, "END RequestId: " + e.request_id));
  EXPECT_TRUE(std::regex_search(logs.back(), std::regex("REPORT RequestId: " + e.request_id +
                                                        "\tDuration: [0-9]+\\.[0-9]{2} ms\tBilled "
                                                        "Duration: [0-9]+ ms\tMemory Size: 256 MB\t"
                                                        "Max Memory Used: 21 MB\tInit Duration: ")))
      << logs.back();
  EXPECT_TRUE(std::regex_search(logs.back(), std::regex(R"(^/aws/lambda/fn\|\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}\|)")));
}

TEST_F(LocalInvokerTest, TheRuntimeGetsTheLambdaEnvironmentAndLimits) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  const auto& env = sb->spec.env;
  auto has = [&](const std::string& kv) { return std::find(env.begin(), env.end(), kv) != env.end(); };
  EXPECT_TRUE(has("AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"));
  EXPECT_TRUE(has("_HANDLER=app.handler"));
  EXPECT_TRUE(has("AWS_LAMBDA_FUNCTION_NAME=fn"));
  EXPECT_TRUE(has("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"));
  EXPECT_TRUE(has("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn"));
  EXPECT_TRUE(has("AWS_EXECUTION_ENV=AWS_Lambda_python3.11"));
  EXPECT_TRUE(has("TZ=:UTC"));
  EXPECT_TRUE(has("GREETING=hi"));
  EXPECT_EQ(sb->spec.argv, (std::vector<std::string>{"/usr/bin/python3", "-u", "/var/runtime/python/bootstrap.py"}));
  EXPECT_EQ(sb->spec.memory_mb, 256u);
  EXPECT_EQ(sb->spec.code_dir, "/nonexistent/code");
  EXPECT_TRUE(sb->spec.unthrottled_init);
  EXPECT_FALSE(sb->cpu_limited) << "init runs without the CPU quota";
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  for (int i = 0; i < 1000 && !sb->cpu_limited; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(sb->cpu_limited) << "the quota applies once init is done";
  rt.Respond(e.request_id, "null");
  EXPECT_EQ(result.wait_for(5s), std::future_status::ready);
}

TEST_F(LocalInvokerTest, ASecondInvokeReusesTheWarmEnvironmentWithoutInitDuration) {
  auto r1 = Invoke("1");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e1 = rt.AnswerNext("1");
  ASSERT_EQ(r1.wait_for(5s), std::future_status::ready);
  auto r2 = Invoke("2");
  auto e2 = rt.Next();
  EXPECT_EQ(e2.body, "2");
  rt.Respond(e2.request_id, "2");
  ASSERT_EQ(r2.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(r2.get()->payload, "2");
  EXPECT_EQ(sandboxes_.launched().size(), 1u);
  auto logs = Logs();
  EXPECT_EQ(logs.back().find("Init Duration"), std::string::npos) << logs.back();
}

TEST_F(LocalInvokerTest, ConcurrentInvokesGetSeparateEnvironments) {
  auto r1 = Invoke("1");
  auto r2 = Invoke("2");
  auto sb1 = WaitForLaunch(1);
  auto sb2 = WaitForLaunch(2);
  FakeRuntime a(sb1->port), b(sb2->port);
  auto ea = a.Next();
  auto eb = b.Next();
  EXPECT_NE(ea.request_id, eb.request_id);
  a.Respond(ea.request_id, ea.body);
  b.Respond(eb.request_id, eb.body);
  ASSERT_EQ(r1.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(r2.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(r1.get()->payload, "1");
  EXPECT_EQ(r2.get()->payload, "2");
}

TEST_F(LocalInvokerTest, BeyondTheConcurrencyLimitInvocationsAreThrottled) {
  auto r1 = Invoke("1"), r2 = Invoke("2"), r3 = Invoke("3"), r4 = Invoke("4");
  ASSERT_EQ(r4.wait_for(5s), std::future_status::ready);
  auto r = r4.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kThrottled);
  InvokerStats stats = OnReactor([&] { return invoker_->stats(); });
  EXPECT_EQ(stats.metrics.throttles_account, 1u);
  EXPECT_EQ(stats.metrics.throttles_reserved, 0u);
  EXPECT_EQ(stats.metrics.cold_starts, 3u);
  std::string text = RenderPrometheus(stats);
  EXPECT_NE(text.find("nimbus_throttles_total{limit=\"account\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("nimbus_cold_starts_total 3\n"), std::string::npos) << text;
}

TEST_F(LocalInvokerTest, AHandlerErrorIsAnUnhandledFunctionErrorWithThePostedDocument) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  std::string doc = R"({"errorMessage":"boom","errorType":"ValueError","stackTrace":[]})";
  EXPECT_NE(rt.Post("invocation/" + e.request_id + "/error", doc,
                    "Lambda-Runtime-Function-Error-Type: ValueError\r\n").find("HTTP/1.1 202"),
            std::string::npos);
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->function_error, "Unhandled");
  EXPECT_EQ(r->payload, doc);
}

TEST_F(LocalInvokerTest, ATimeoutKillsTheEnvironmentAndReportsSandboxTimedout) {
  auto fn = MakeFunction("rev-1", 1);
  auto result = Invoke("{}", /*tail=*/true, fn);
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->function_error, "Unhandled");
  EXPECT_EQ(r->payload, R"({"errorMessage":"RequestId: )" + e.request_id +
                            R"( Error: Task timed out after 1.00 seconds","errorType":"Sandbox.Timedout"})");
  EXPECT_TRUE(sb->killed);
  EXPECT_NE(r->log_tail.find("Task timed out after 1.00 seconds"), std::string::npos);
  EXPECT_NE(r->log_tail.find("Duration: 1000.00 ms\tBilled Duration: "), std::string::npos) << r->log_tail;
  EXPECT_NE(r->log_tail.find("Status: timeout"), std::string::npos);
  // The next invoke needs a fresh environment.
  auto r2 = Invoke("{}", false, fn);
  WaitForLaunch(2);
}

TEST_F(LocalInvokerTest, ARuntimeExitDuringAnInvokeIsRuntimeExitError) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  sb->Exit(1 << 8);  // exit status 1
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->payload, R"({"errorMessage":"RequestId: )" + e.request_id +
                            R"( Error: Runtime exited with error: exit status 1","errorType":"Runtime.ExitError"})");
  auto logs = Logs();
  EXPECT_NE(logs.back().find("Status: error\tError Type: Runtime.ExitError"), std::string::npos);
}

TEST_F(LocalInvokerTest, AnOomKillIsRuntimeOutOfMemory) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  rt.Next();
  sb->oom = true;
  sb->Exit(SIGKILL);
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->payload.find(R"(Runtime exited with error: signal: killed","errorType":"Runtime.OutOfMemory")"),
            std::string::npos) << r->payload;
}

TEST_F(LocalInvokerTest, AnInitErrorFailsTheFirstInvocationWithThePostedError) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  std::string doc = R"({"errorMessage":"Unable to import module 'app': No module named 'app'","errorType":"Runtime.ImportModuleError","stackTrace":[]})";
  EXPECT_NE(rt.Post("init/error", doc, "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n")
                .find("HTTP/1.1 202"),
            std::string::npos);
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->function_error, "Unhandled");
  EXPECT_EQ(r->payload, doc);
  auto logs = Logs();
  EXPECT_TRUE(Contains(logs, "INIT_REPORT Init Duration: "));
  EXPECT_TRUE(Contains(logs, "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError"));
}

TEST_F(LocalInvokerTest, TheTailLogIsTheLastFourKilobytesOfTheInvocation) {
  auto result = Invoke("{}", /*tail=*/true);
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  for (int i = 0; i < 100; ++i) sb->WriteOutput("line " + std::to_string(i) + std::string(60, 'x') + "\n");
  rt.Respond(e.request_id, "{}");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->log_tail.size(), 4096u);
  EXPECT_NE(r->log_tail.find("line 99"), std::string::npos);
  EXPECT_EQ(r->log_tail.find("line 1x"), std::string::npos);
  EXPECT_NE(r->log_tail.find("REPORT RequestId: " + e.request_id), std::string::npos);
}

TEST_F(LocalInvokerTest, ALaunchFailureIsAPlatformError) {
  sandboxes_.fail_next_launch = true;
  auto result = Invoke("{}");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("injected failure"), std::string::npos);
}

TEST_F(LocalInvokerTest, ANewRevisionRetiresTheOldEnvironment) {
  auto r1 = Invoke("1");
  auto sb1 = WaitForLaunch(1);
  FakeRuntime rt(sb1->port);
  auto e = rt.AnswerNext("1");
  ASSERT_EQ(r1.wait_for(5s), std::future_status::ready);
  auto r2 = Invoke("2", false, MakeFunction("rev-2", 3));
  auto sb2 = WaitForLaunch(2);
  for (int i = 0; i < 1000 && !sb1->destroyed; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(sb1->destroyed);
  FakeRuntime rt2(sb2->port);
  auto e2 = rt2.AnswerNext("2");
  ASSERT_EQ(r2.wait_for(5s), std::future_status::ready);
}

TEST_F(LocalInvokerTest, EachVersionHasItsOwnWarmEnvironments) {
  auto v1 = MakeFunction("rev-v1", 3, "1");
  auto r1 = Invoke("latest");
  auto sb1 = WaitForLaunch(1);
  FakeRuntime latest(sb1->port);
  auto e1 = latest.AnswerNext("1");
  ASSERT_EQ(r1.wait_for(5s), std::future_status::ready);
  auto r2 = Invoke("v1", false, v1);
  auto sb2 = WaitForLaunch(2);
  FakeRuntime one(sb2->port);
  auto e2 = one.AnswerNext("2");
  ASSERT_EQ(r2.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(r2.get()->executed_version, "1");
  EXPECT_FALSE(sb1->destroyed) << "invoking version 1 must not retire $LATEST's environment";
  // Retiring $LATEST leaves version 1 warm.
  OnReactor([&] {
    invoker_->RetireFunction("fn", "$LATEST");
    return 0;
  });
  for (int i = 0; i < 1000 && !sb1->destroyed; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(sb1->destroyed);
  EXPECT_FALSE(sb2->destroyed);
}

TEST_F(LocalInvokerTest, ReservedConcurrencyCapsTheFunctionAndNamesTheReason) {
  OnReactor([&] {
    invoker_->SetReservedConcurrency("fn", 1);
    return 0;
  });
  auto r1 = Invoke("1");
  auto r2 = Invoke("2");
  ASSERT_EQ(r2.wait_for(5s), std::future_status::ready);
  auto second = r2.get();
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Code::kThrottled);
  EXPECT_EQ(second.error().detail(), "ReservedFunctionConcurrentInvocationLimitExceeded");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.AnswerNext("1");
  ASSERT_EQ(r1.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(r1.get().has_value());
  // Once the first is done, the slot is free again (warm environment).
  auto r3 = Invoke("3");
  auto e3 = rt.AnswerNext("3");
  ASSERT_EQ(r3.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(r3.get().has_value());
}

TEST_F(LocalInvokerTest, ReservedConcurrencyZeroThrottlesEverythingAndReservationsShrinkTheAccountPool) {
  OnReactor([&] {
    invoker_->SetReservedConcurrency("fn", 0);
    invoker_->SetReservedConcurrency("other", 2);  // account limit is 3 here: 1 left unreserved
    return 0;
  });
  auto r = Invoke("{}");
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(r.get().error().detail(), "ReservedFunctionConcurrentInvocationLimitExceeded");
  OnReactor([&] {
    invoker_->SetReservedConcurrency("fn", std::nullopt);
    return 0;
  });
  auto a = Invoke("a");
  auto b = Invoke("b");
  ASSERT_EQ(b.wait_for(5s), std::future_status::ready);
  auto rb = b.get();
  ASSERT_FALSE(rb.has_value());
  EXPECT_EQ(rb.error().detail(), "ConcurrentInvocationLimitExceeded");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.AnswerNext("a");
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
}

TEST_F(LocalInvokerTest, ProvisionedConcurrencyKeepsInitialisedEnvironmentsReady) {
  auto v1 = MakeFunction("rev-v1", 3, "1");
  OnReactor([&] {
    invoker_->SetProvisionedConcurrency(v1, "live", 2);
    return 0;
  });
  auto a = WaitForLaunch(1);
  auto b = WaitForLaunch(2);
  auto has = [](const FakeSandboxControl& c, const std::string& kv) {
    return std::find(c.spec.env.begin(), c.spec.env.end(), kv) != c.spec.env.end();
  };
  EXPECT_TRUE(has(*a, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"));
  EXPECT_TRUE(has(*b, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"));
  // Both initialise (their first /next) before any invocation arrives.
  FakeRuntime ra(a->port), rb(b->port);
  auto serve = [](FakeRuntime& rt, const char* answer) {
    auto e = rt.Next();
    if (!e.request_id.empty()) rt.Respond(e.request_id, answer);
  };
  std::thread ta([&] { serve(ra, "a"); });
  std::thread tb([&] { serve(rb, "b"); });
  for (int i = 0; i < 2000 && OnReactor([&] { return invoker_->stats().idle; }) < 2; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(OnReactor([&] { return invoker_->stats().idle; }), 2);
  auto result = Invoke("hello", false, v1);
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->executed_version, "1");
  EXPECT_EQ(sandboxes_.launched().size(), 2u);
  // The idle one keeps its parked /next until the provisioned environments go.
  OnReactor([&] {
    invoker_->SetProvisionedConcurrency(v1, "live", 0);
    return 0;
  });
  ta.join();
  tb.join();
  EXPECT_EQ(Logs().back().find("Init Duration"), std::string::npos)
      << "provisioned environments initialised ahead of the invocation";
}

TEST_F(LocalInvokerTest, TheJsonLogFormatWritesPlatformRecordsAndTellsTheRuntime) {
  auto fn = MakeFunction("rev-json", 3);
  std::const_pointer_cast<control::FunctionVersion>(fn)->config.log_format = "JSON";
  auto result = Invoke("{}", /*tail=*/true, fn);
  auto sb = WaitForLaunch(1);
  EXPECT_NE(std::find(sb->spec.env.begin(), sb->spec.env.end(), "AWS_LAMBDA_LOG_FORMAT=JSON"),
            sb->spec.env.end());
  FakeRuntime rt(sb->port);
  auto e = rt.AnswerNext("{}");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->log_tail.find(R"("type":"platform.start","record":{"requestId":")" + e.request_id),
            std::string::npos) << r->log_tail;
  EXPECT_NE(r->log_tail.find(R"("type":"platform.report")"), std::string::npos);
  EXPECT_EQ(r->log_tail.find("REPORT RequestId"), std::string::npos);
  EXPECT_TRUE(Contains(Logs(), R"("type":"platform.initStart")"));
}

TEST_F(LocalInvokerTest, ShutdownLetsInFlightInvocationsFinishThenDestroysEveryEnvironment) {
  auto result = Invoke("{}");
  auto sb = WaitForLaunch(1);
  FakeRuntime rt(sb->port);
  auto e = rt.Next();
  std::promise<void> done;
  reactor_.Post([&] { invoker_->Shutdown(5s, [&] { done.set_value(); }); });
  auto d = done.get_future();
  EXPECT_EQ(d.wait_for(100ms), std::future_status::timeout) << "must wait for the invocation";
  rt.Respond(e.request_id, "{}");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(result.get().has_value());
  ASSERT_EQ(d.wait_for(5s), std::future_status::ready);
  for (int i = 0; i < 1000 && !sb->destroyed; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(sb->destroyed);
  auto after = Invoke("{}");
  ASSERT_EQ(after.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(after.get().error().code(), Code::kUnavailable);
}

// Stem cells: one pre-started Python and one Node cell, specialized by cold starts.
class LocalInvokerStemCellTest : public LocalInvokerTest {
 protected:
  void Configure() override {
    sandboxes_.set_stem_cells(true);
    stem_cells_per_runtime_ = 1;
  }

  // Waits until the `n` cells have been launched and are ready.
  std::vector<std::shared_ptr<FakeSandboxControl>> WaitForCells(int n) {
    for (int i = 0; i < 2000; ++i) {
      auto stats = OnReactor([&] { return invoker_->stats().stem_cells; });
      if (stats.ready >= n) break;
      std::this_thread::sleep_for(1ms);
    }
    std::vector<std::shared_ptr<FakeSandboxControl>> cells;
    for (const auto& c : sandboxes_.launched()) {
      if (c->spec.stem_cell) cells.push_back(c);
    }
    return cells;
  }
};

TEST_F(LocalInvokerStemCellTest, CellsStartWithoutCodeOrTheFunctionsEnvironment) {
  auto cells = WaitForCells(2);
  ASSERT_EQ(cells.size(), 2u);
  for (const auto& c : cells) {
    EXPECT_TRUE(c->spec.code_dir.empty());
    EXPECT_TRUE(c->spec.layer_dirs.empty());
    const auto& env = c->spec.env;
    auto has = [&](const std::string& kv) { return std::find(env.begin(), env.end(), kv) != env.end(); };
    EXPECT_TRUE(has("_NIMBUS_SPECIALIZATION_FD=3"));
    EXPECT_TRUE(has("_NIMBUS_READY_FD=4"));
    EXPECT_TRUE(has("PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin"));
    for (const auto& kv : env) {
      EXPECT_FALSE(kv.starts_with("AWS_LAMBDA_FUNCTION_NAME=") || kv.starts_with("_HANDLER="))
          << "a cell must not be started with a function's identity: " << kv;
    }
  }
  // Launched concurrently: in either order.
  std::set<std::vector<std::string>> argvs = {cells[0]->spec.argv, cells[1]->spec.argv};
  EXPECT_EQ(argvs, (std::set<std::vector<std::string>>{
                       {"/usr/bin/python3", "-u", "/var/runtime/python/bootstrap.py"},
                       {"/usr/bin/node", "/var/runtime/nodejs/bootstrap.mjs"}}));
}

TEST_F(LocalInvokerStemCellTest, AColdStartSpecializesACellAndAReplacementIsStarted) {
  auto cells = WaitForCells(2);
  ASSERT_EQ(cells.size(), 2u);
  auto python = cells[0]->spec.argv[0] == "/usr/bin/python3" ? cells[0] : cells[1];
  auto result = Invoke(R"({"k":"v"})");
  for (int i = 0; i < 2000 && !python->specialized; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(python->specialized);
  const sandbox::Specialization& s = python->specialization;
  EXPECT_EQ(s.code_dir, "/nonexistent/code");
  EXPECT_EQ(s.memory_mb, 256u);
  EXPECT_EQ(s.ephemeral_storage_mb, 512u);
  EXPECT_NE(s.payload.find(R"("GREETING":"hi")"), std::string::npos) << s.payload;
  EXPECT_NE(s.payload.find(R"("_HANDLER":"app.handler")"), std::string::npos) << s.payload;
  EXPECT_NE(s.payload.find(R"("AWS_EXECUTION_ENV":"AWS_Lambda_python3.11")"), std::string::npos);
  EXPECT_EQ(s.payload.find("_NIMBUS_SPECIALIZATION_FD"), std::string::npos);
  FakeRuntime rt(python->port);
  auto e = rt.AnswerNext(R"({"ok":1})");
  EXPECT_EQ(e.body, R"({"k":"v"})");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  auto r = result.get();
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->payload, R"({"ok":1})");
  // The REPORT carries the Init Duration of the specialized cell.
  EXPECT_NE(Logs().back().find("Init Duration"), std::string::npos);
  // No sandbox was launched for the function itself; a new Python cell was.
  auto replacement = WaitForCells(2);
  EXPECT_EQ(replacement.size(), 3u);
  for (const auto& c : sandboxes_.launched()) EXPECT_TRUE(c->spec.stem_cell);
  auto stats = OnReactor([&] { return invoker_->stats(); });
  EXPECT_EQ(stats.stem_cells.taken, 1u);
  EXPECT_EQ(stats.metrics.cold_starts_from_stem_cells, 1u);
}

TEST_F(LocalInvokerStemCellTest, AFunctionThatChangesAStartUpVariableGetsItsOwnSandbox) {
  WaitForCells(2);
  auto fv = std::make_shared<control::FunctionVersion>(*function_);
  fv->config.environment["PYTHONWARNINGS"] = "error";
  auto result = Invoke("{}", false, fv);
  std::shared_ptr<FakeSandboxControl> own;
  for (int i = 0; i < 2000 && !own; ++i) {
    for (const auto& c : sandboxes_.launched()) {
      if (!c->spec.stem_cell) own = c;
    }
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(own) << "no sandbox launched for the function";
  EXPECT_EQ(own->spec.code_dir, "/nonexistent/code");
  OnReactor([] { return 0; });
  FakeRuntime rt(own->port);
  rt.AnswerNext("1");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  for (const auto& c : sandboxes_.launched()) {
    if (c->spec.stem_cell) {
      EXPECT_FALSE(c->specialized);
    }
  }
}

TEST_F(LocalInvokerStemCellTest, ACellWhoseRuntimeDiedIsReplacedAndNeverHandedOut) {
  auto cells = WaitForCells(2);
  ASSERT_EQ(cells.size(), 2u);
  if (cells[0]->spec.argv[0] != "/usr/bin/python3") std::swap(cells[0], cells[1]);
  cells[0]->Exit(W_EXITCODE(1, 0));
  // Replaced after the back-off (1 s).
  std::shared_ptr<FakeSandboxControl> replacement;
  for (int i = 0; i < 3000 && !replacement; ++i) {
    auto l = sandboxes_.launched();
    if (l.size() >= 3) replacement = l[2];
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(replacement);
  EXPECT_TRUE(cells[0]->destroyed);
  WaitForCells(2);
  auto result = Invoke("{}");
  for (int i = 0; i < 2000 && !replacement->specialized; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(replacement->specialized);
  EXPECT_FALSE(cells[0]->specialized);
  OnReactor([] { return 0; });
  FakeRuntime rt(replacement->port);
  rt.AnswerNext("1");
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
}

TEST_F(LocalInvokerStemCellTest, ABurstThatDrainsThePoolRaisesItsTarget) {
  WaitForCells(2);
  EXPECT_EQ(OnReactor([&] { return invoker_->stats().stem_cells.target; }), 2);
  // Three cold starts in one reactor turn: the one Python cell serves the first.
  std::vector<std::future<Result<InvokeOutcome>>> results;
  std::vector<std::shared_ptr<std::promise<Result<InvokeOutcome>>>> promises;
  for (int i = 0; i < 3; ++i) {
    promises.push_back(std::make_shared<std::promise<Result<InvokeOutcome>>>());
    results.push_back(promises.back()->get_future());
  }
  OnReactor([&] {
    for (int i = 0; i < 3; ++i) {
      auto fv = std::make_shared<control::FunctionVersion>(*function_);
      fv->config.name = "burst" + std::to_string(i);
      InvokeRequest r;
      r.function = fv;
      r.request_id = NewUuid();
      r.invoked_function_arn = fv->arn;
      r.payload = "{}";
      invoker_->Invoke(std::move(r), [p = promises[i]](Result<InvokeOutcome> o) { p->set_value(std::move(o)); });
    }
    return 0;
  });
  auto stats = OnReactor([&] { return invoker_->stats().stem_cells; });
  EXPECT_EQ(stats.taken, 1u);
  EXPECT_EQ(stats.missed, 2u);
  // One Python cell wanted normally, plus one per miss; Node's stays at one.
  EXPECT_EQ(stats.target, 4);
  for (int i = 0; i < 2000 && OnReactor([&] { return invoker_->stats().stem_cells.ready; }) < 4; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(OnReactor([&] { return invoker_->stats().stem_cells.ready; }), 4);
  // Let the three invocations finish: 2 cells + 3 refills + 2 sandboxes of their own.
  for (int i = 0; i < 2000 && sandboxes_.launched().size() < 7; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(sandboxes_.launched().size(), 7u);
  OnReactor([] { return 0; });
  for (const auto& c : sandboxes_.launched()) {
    if (c->spec.stem_cell && !c->specialized) continue;
    FakeRuntime rt(c->port);
    rt.AnswerNext("1");
  }
  for (auto& f : results) EXPECT_EQ(f.wait_for(5s), std::future_status::ready);
}

TEST_F(LocalInvokerStemCellTest, ShutdownDestroysEveryCell) {
  auto cells = WaitForCells(2);
  ASSERT_EQ(cells.size(), 2u);
  std::promise<void> done;
  reactor_.Post([&] { invoker_->Shutdown(200ms, [&] { done.set_value(); }); });
  ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
  for (const auto& c : sandboxes_.launched()) EXPECT_TRUE(c->destroyed);
  // TearDown's second Shutdown must also complete.
}

// KeepAlivePolicy drives the pools: a function invoked every ~600 ms is scaled
// to zero after each invocation once its pattern is known, and one environment
// is started again before the next invocation is due.
class LocalInvokerKeepAliveTest : public LocalInvokerTest {
 protected:
  void Configure() override {
    KeepAliveOptions o;
    o.default_keep_alive = 60s;
    o.min_keep_alive = 30ms;
    o.min_prewarm = 150ms;
    keep_alive_policy_ = o;
  }
};

TEST_F(LocalInvokerKeepAliveTest, PeriodicTrafficIsScaledToZeroAndPrewarmedBeforeTheNextInvocation) {
  // Ten idle periods teach the policy; until then the default keeps the one environment.
  auto sb = std::shared_ptr<FakeSandboxControl>();
  std::unique_ptr<FakeRuntime> rt;
  for (int i = 0; i < 11; ++i) {
    auto r = Invoke(std::to_string(i));
    if (i == 0) {
      sb = WaitForLaunch(1);
      rt = std::make_unique<FakeRuntime>(sb->port);
    }
    rt->AnswerNext("ok");
    ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
    if (i < 10) std::this_thread::sleep_for(600ms);
  }
  EXPECT_EQ(sandboxes_.launched().size(), 1u);
  // After the 11th invocation the pattern is known: the environment goes within
  // ~30 ms and a new one is started ~480 ms after the invocation ended.
  for (int i = 0; i < 1000 && !sb->destroyed; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(sb->destroyed) << "the idle environment was not reaped after the learnt keep-alive";
  std::this_thread::sleep_for(600ms);
  ASSERT_EQ(sandboxes_.launched().size(), 2u) << "no environment was pre-warmed";
  auto prewarmed = sandboxes_.launched()[1];
  // Its runtime initialises and waits for an event.
  OnReactor([] { return 0; });
  FakeRuntime rt2(prewarmed->port);
  auto next = std::async(std::launch::async, [&] { return rt2.Next(); });
  for (int i = 0; i < 2000 && OnReactor([&] { return invoker_->stats().idle; }) != 1; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  // The invocation due now takes the pre-warmed environment: no third launch.
  auto r = Invoke("due");
  auto e = next.get();
  EXPECT_EQ(e.body, "due");
  rt2.Respond(e.request_id, "warm");
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(r.get()->payload, "warm");
  EXPECT_EQ(sandboxes_.launched().size(), 2u);
  auto stats = OnReactor([&] { return invoker_->stats(); });
  EXPECT_EQ(stats.metrics.prewarms, 1u);
  // A pre-warmed environment reports no Init Duration (it was ready before).
  EXPECT_EQ(Logs().back().find("Init Duration"), std::string::npos) << Logs().back();
}

}  // namespace
}  // namespace nimbus::invoke
