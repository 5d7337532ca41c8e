// The whole platform in-process: a real Server on port 0 with a fake sandbox
// factory, driven over real HTTP. The test plays the function's runtime on the
// fake sandbox's Runtime API socket.
#include "server/server.h"

#include <gtest/gtest.h>

#include <future>
#include <regex>
#include <thread>

#include "base/encoding.h"
#include "http/testing/raw_client.h"
#include "invoke/testing/fake_sandbox.h"
#include "storage/testing/temp_dir.h"
#include "storage/testing/zip_builder.h"

namespace nimbus::server {
namespace {

using namespace std::chrono_literals;

std::string Header(const std::string& response, const std::string& name) {
  std::smatch m;
  if (std::regex_search(response, m, std::regex("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase))) {
    return m[1];
  }
  return "";
}

std::string Body(const std::string& response) {
  size_t h = response.find("\r\n\r\n");
  return h == std::string::npos ? "" : response.substr(h + 4);
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen_port = 0;
    o.data_dir = dir_.path() / "data";
    o.runtime_dir = dir_.path() / "runtimes";
    o.shutdown_grace = 2s;
    o.auth_mode = auth::Mode::kAnyCredentials;  // these tests send unsigned requests; auth_test.cc signs
    auto s = Server::Start(*clock_, sandboxes_, o);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    server_ = std::move(*s);
  }

  std::string Call(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& extra_headers = "") {
    http::RawClient c(server_->port());
    c.Send(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadResponse();
  }

  std::string CreateFunction(const std::string& name) {
    std::string zip = storage::testing::ZipBuilder()
                          .File("app.py", "def handler(event, context):\n    return event\n")
                          .Build();
    return Call("POST", "/2015-03-31/functions",
                R"({"FunctionName":")" + name +
                    R"(","Runtime":"python3.11","Handler":"app.handler","Role":"arn:aws:iam::123456789012:role/r","Code":{"ZipFile":")" +
                    Base64Encode(zip) + R"("}})",
                "Content-Type: application/json\r\n");
  }

  std::shared_ptr<invoke::FakeSandboxControl> WaitForLaunch(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      auto l = sandboxes_.launched();
      if (l.size() >= n) {
        std::this_thread::sleep_for(5ms);  // let the reactor start serving the socket
        return l[n - 1];
      }
      std::this_thread::sleep_for(1ms);
    }
    ADD_FAILURE() << "no sandbox launch #" << n;
    return nullptr;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<Clock> clock_ = NewRealClock();
  invoke::FakeSandboxFactory sandboxes_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, CreatesAFunctionInvokesItAndServesItsLogs) {
  std::string created = CreateFunction("hello");
  ASSERT_NE(created.find("HTTP/1.1 201"), std::string::npos) << created;
  EXPECT_NE(Body(created).find(R"("FunctionName":"hello")"), std::string::npos);
  EXPECT_NE(Body(created).find(R"("State":"Active")"), std::string::npos);

  // The invoke is answered once the (fake) runtime responds.
  auto invoked = std::async(std::launch::async, [&] {
    return Call("POST", "/2015-03-31/functions/hello/invocations", R"({"k":"v"})",
                "X-Amz-Log-Type: Tail\r\n");
  });
  auto sb = WaitForLaunch(1);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->spec.argv,
            (std::vector<std::string>{"/usr/bin/python3", "-u", "/var/runtime/python/bootstrap.py"}));
  EXPECT_EQ(sb->spec.runtime_dir, dir_.path() / "runtimes");
  EXPECT_TRUE(std::filesystem::exists(sb->spec.code_dir / "app.py"));
  http::RawClient runtime(sb->port);
  runtime.Send("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: r\r\n\r\n");
  std::string next = runtime.ReadResponse();
  std::string id = Header(next, "Lambda-Runtime-Aws-Request-Id");
  ASSERT_FALSE(id.empty()) << next;
  EXPECT_EQ(Body(next), R"({"k":"v"})");
  sb->WriteOutput("handling\n");
  runtime.Send("POST /2018-06-01/runtime/invocation/" + id +
               "/response HTTP/1.1\r\nHost: r\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
  EXPECT_NE(runtime.ReadResponse().find("HTTP/1.1 202"), std::string::npos);

  ASSERT_EQ(invoked.wait_for(10s), std::future_status::ready);
  std::string response = invoked.get();
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  EXPECT_EQ(Body(response), R"({"ok":true})");
  EXPECT_EQ(Header(response, "X-Amz-Executed-Version"), "$LATEST");
  EXPECT_EQ(Header(response, "x-amzn-RequestId"), id);
  auto tail = Base64Decode(Header(response, "X-Amz-Log-Result"));
  ASSERT_TRUE(tail.has_value());
  EXPECT_NE(tail->find("START RequestId: " + id + " Version: $LATEST\nhandling\nEND RequestId: " + id +
                       "\nREPORT RequestId: " + id + "\tDuration: "),
            std::string::npos)
      << *tail;

  std::string logs = Call("POST", "/", R"({"logGroupName":"/aws/lambda/hello"})",
                          "X-Amz-Target: Logs_20140328.FilterLogEvents\r\n"
                          "Content-Type: application/x-amz-json-1.1\r\n");
  EXPECT_NE(logs.find("HTTP/1.1 200"), std::string::npos) << logs;
  EXPECT_NE(logs.find("handling"), std::string::npos) << logs;
  EXPECT_NE(logs.find("REPORT RequestId: " + id), std::string::npos) << logs;
}

TEST_F(ServerTest, ARequestSignedForAnotherServiceIsToldWhichServicesAreServed) {
  // Signed for s3: the object store answers (in S3's XML).
  std::string r = Call("PUT", "/bucket/key", "data",
                       "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/"
                       "aws4_request, SignedHeaders=host, Signature=abc\r\n");
  EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos) << r;
  EXPECT_NE(Body(r).find("<Code>NoSuchBucket</Code>"), std::string::npos) << r;
  // JSON protocols (Kinesis, ...) read x-amzn-ErrorType / __type.
  r = Call("POST", "/", "{}",
           "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/"
           "aws4_request, SignedHeaders=host, Signature=abc\r\n");
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "UnknownServiceException");
  EXPECT_NE(Body(r).find("does not serve the kinesis API"), std::string::npos) << r;
  // Signed for dynamodb: the table service answers.
  r = Call("POST", "/", "{}",
           "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/"
           "aws4_request, SignedHeaders=host, Signature=abc\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(Body(r).find("\"TableNames\":[]"), std::string::npos) << r;
  // Signed for lambda: served as before.
  r = Call("GET", "/2015-03-31/functions", "",
           "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/"
           "aws4_request, SignedHeaders=host, Signature=abc\r\n");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
}

TEST_F(ServerTest, UnknownRoutesAndFunctionsGetAwsShapedErrors) {
  std::string r = Call("GET", "/nope", "");
  EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "UnknownOperationException");
  r = Call("POST", "/2015-03-31/functions/ghost/invocations", "{}");
  EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos) << r;
  EXPECT_EQ(Header(r, "x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(Body(r),
            R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:ghost"})");
}

TEST_F(ServerTest, ShutdownLetsAnInFlightInvokeFinishThenDestroysTheEnvironment) {
  ASSERT_NE(CreateFunction("slow").find("HTTP/1.1 201"), std::string::npos);
  auto invoked = std::async(std::launch::async, [&] {
    return Call("POST", "/2015-03-31/functions/slow/invocations", "{}");
  });
  auto sb = WaitForLaunch(1);
  ASSERT_TRUE(sb);
  http::RawClient runtime(sb->port);
  runtime.Send("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: r\r\n\r\n");
  std::string id = Header(runtime.ReadResponse(), "Lambda-Runtime-Aws-Request-Id");
  auto stopped = std::async(std::launch::async, [&] { server_->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(200ms), std::future_status::timeout) << "shutdown must wait";
  runtime.Send("POST /2018-06-01/runtime/invocation/" + id +
               "/response HTTP/1.1\r\nHost: r\r\nContent-Length: 4\r\n\r\ndone");
  ASSERT_EQ(invoked.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(Body(invoked.get()), "done");
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(sb->destroyed);
}

TEST_F(ServerTest, FunctionsSurviveARestart) {
  ASSERT_NE(CreateFunction("kept").find("HTTP/1.1 201"), std::string::npos);
  std::string before = Body(Call("GET", "/2015-03-31/functions/kept/configuration", ""));
  server_->Shutdown();
  server_.reset();
  SetUp();
  std::string after = Call("GET", "/2015-03-31/functions/kept/configuration", "");
  EXPECT_NE(after.find("HTTP/1.1 200"), std::string::npos) << after;
  EXPECT_EQ(Body(after), before);
}

// Plays the runtime for one invocation on `sb`: returns the event body after
// answering `response`.
std::string ServeOneInvocation(invoke::FakeSandboxControl& sb, const std::string& response) {
  http::RawClient runtime(sb.port);
  runtime.Send("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: r\r\n\r\n");
  std::string next = runtime.ReadResponse();
  std::string id = Header(next, "Lambda-Runtime-Aws-Request-Id");
  runtime.Send("POST /2018-06-01/runtime/invocation/" + id +
               "/response HTTP/1.1\r\nHost: r\r\nContent-Length: " +
               std::to_string(response.size()) + "\r\n\r\n" + response);
  runtime.ReadResponse();
  return Body(next);
}

TEST_F(ServerTest, AnEventInvokeIsAnswered202AndThenRunsThroughTheQueue) {
  ASSERT_NE(CreateFunction("ev").find("HTTP/1.1 201"), std::string::npos);
  std::string r = Call("POST", "/2015-03-31/functions/ev/invocations", R"({"n":1})",
                       "X-Amz-Invocation-Type: Event\r\n");
  ASSERT_NE(r.find("HTTP/1.1 202"), std::string::npos) << r;
  EXPECT_EQ(Body(r), "");
  EXPECT_EQ(server_->async_stats().accepted, 1);
  auto sb = WaitForLaunch(1);
  ASSERT_TRUE(sb);
  EXPECT_EQ(ServeOneInvocation(*sb, "null"), R"({"n":1})");
  for (int i = 0; i < 500 && server_->async_stats().succeeded == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->async_stats().succeeded, 1);
  EXPECT_EQ(server_->async_stats().attempts, 1);
}

TEST_F(ServerTest, AnEventQueuedAtShutdownRunsAfterTheRestart) {
  ASSERT_NE(CreateFunction("later").find("HTTP/1.1 201"), std::string::npos);
  std::string r = Call("POST", "/2014-11-13/functions/later/invoke-async/", R"({"n":2})");
  ASSERT_NE(r.find("HTTP/1.1 202"), std::string::npos) << r;
  EXPECT_EQ(Body(r), R"({"Status":202})");
  ASSERT_TRUE(WaitForLaunch(1));  // the runtime never asks for it: the attempt cannot finish
  server_->Shutdown();
  server_.reset();
  SetUp();
  EXPECT_EQ(server_->async_stats().recovered, 1);
  auto sb = WaitForLaunch(2);
  ASSERT_TRUE(sb);
  EXPECT_EQ(ServeOneInvocation(*sb, "null"), R"({"n":2})");
  for (int i = 0; i < 500 && server_->async_stats().succeeded == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->async_stats().succeeded, 1);
}

TEST_F(ServerTest, EventInvokeConfigPathsAreServedByTheAsyncComponent) {
  ASSERT_NE(CreateFunction("cfg").find("HTTP/1.1 201"), std::string::npos);
  std::string put = Call("PUT", "/2019-09-25/functions/cfg/event-invoke-config",
                         R"({"MaximumRetryAttempts":0})", "Content-Type: application/json\r\n");
  ASSERT_NE(put.find("HTTP/1.1 200"), std::string::npos) << put;
  EXPECT_NE(Body(put).find(R"("FunctionArn":"arn:aws:lambda:us-east-1:000000000000:function:cfg:$LATEST")"),
            std::string::npos);
  server_->Shutdown();
  server_.reset();
  SetUp();
  std::string list = Call("GET", "/2019-09-25/functions/cfg/event-invoke-config/list", "");
  ASSERT_NE(list.find("HTTP/1.1 200"), std::string::npos) << list;
  EXPECT_NE(Body(list).find(R"("MaximumRetryAttempts":0)"), std::string::npos) << "kept on disk";
}

}  // namespace
}  // namespace nimbus::server
