#include "cli/commands.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "base/encoding.h"
#include "http/testing/fake_http_server.h"

namespace nimbus::cli {
namespace {

using http::testing::FakeHttpServer;

// Runs `nimbus <args>` in-process; returns the exit code and captured output.
struct CliRun {
  int code = 0;
  std::string out;
  std::string err;
};

CliRun RunCli(std::vector<std::string> args) {
  CLI::App app("nimbus");
  app.require_subcommand(1);
  RegisterClientCommands(app);
  std::vector<const char*> argv{"nimbus"};
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  CliRun r;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error& e) {
    r.code = app.exit(e, err, err);
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(ClientCommands, ExplainHowToFixAnUnreachableServer) {
  const std::string url = "http://127.0.0.1:" + std::to_string(http::testing::UnusedPort());
  CliRun r = RunCli({"--endpoint", url, "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "nimbus: cannot connect to " + url +
                       ": Connection refused (is `nimbus serve` running?)\n");
}

TEST(ClientCommands, PrintTheAwsErrorTypeAndMessageFromTheServer) {
  FakeHttpServer server({FakeHttpServer::Response(
      404, R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"})",
      "x-amzn-ErrorType: ResourceNotFoundException\r\n")});
  CliRun r = RunCli({"delete", "nope", "--endpoint", server.url()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: ResourceNotFoundException: Function not found: "
            "arn:aws:lambda:us-east-1:000000000000:function:nope\n");
  EXPECT_EQ(server.requests().at(0).rfind("DELETE /2015-03-31/functions/nope HTTP/1.1", 0), 0u);
}

TEST(ClientCommands, InvokePrintsThePayloadAndTheDecodedLogTail) {
  FakeHttpServer server({FakeHttpServer::Response(
      200, R"({"ok":1})",
      "X-Amz-Executed-Version: 1\r\nX-Amz-Log-Result: " + Base64Encode("START RequestId: r\n") +
          "\r\n")});
  CliRun r = RunCli({"--endpoint", server.url(), "invoke", "f", "--payload", R"({"a":1})",
                  "--log-tail", "--qualifier", "$LATEST"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ok\":1}\n");
  EXPECT_EQ(r.err, "START RequestId: r\n");
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.rfind("POST /2015-03-31/functions/f/invocations?Qualifier=%24LATEST HTTP/1.1", 0),
            0u);
  EXPECT_NE(req.find("X-Amz-Log-Type: Tail"), std::string::npos);
  EXPECT_EQ(req.substr(req.size() - 7), R"({"a":1})");
}

TEST(ClientCommands, InvokeExitsWithOneOnAFunctionError) {
  FakeHttpServer server({FakeHttpServer::Response(
      200, R"({"errorType":"ValueError","errorMessage":"boom"})",
      "X-Amz-Function-Error: Unhandled\r\n")});
  CliRun r = RunCli({"--endpoint", server.url(), "invoke", "f"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "{\"errorType\":\"ValueError\",\"errorMessage\":\"boom\"}\n");
  EXPECT_EQ(r.err, "nimbus: function error (Unhandled): ValueError: boom\n");
}

TEST(ClientCommands, ListFollowsNextMarkerAndPrintsATable) {
  FakeHttpServer server(
      {FakeHttpServer::Response(200, R"({"Functions":[{"FunctionName":"a","Runtime":"python3.12",)"
                                     R"("MemorySize":128,"LastModified":"t1"}],"NextMarker":"m 1"})"),
       FakeHttpServer::Response(200, R"({"Functions":[{"FunctionName":"b","Runtime":"nodejs20.x",)"
                                     R"("MemorySize":256,"LastModified":"t2"}]})")});
  CliRun r = RunCli({"--endpoint", server.url(), "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME  RUNTIME     MEMORY  LAST MODIFIED\n"
            "a     python3.12  128 MB  t1\n"
            "b     nodejs20.x  256 MB  t2\n");
  EXPECT_NE(server.requests().at(1).find("&Marker=m%201 "), std::string::npos);
}

TEST(ClientCommands, LogsPrintsFilteredEventsFromTheFunctionsLogGroup) {
  FakeHttpServer server({FakeHttpServer::Response(
      200, R"({"events":[{"logStreamName":"2024/05/01/[$LATEST]ab","timestamp":1714564800000,)"
           R"("message":"START RequestId: r\n","ingestionTime":1,"eventId":"1"}],"searchedLogStreams":[]})")});
  CliRun r = RunCli({"--endpoint", server.url(), "logs", "f", "--since", "1h"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2024-05-01T12:00:00.000Z 2024/05/01/[$LATEST]ab START RequestId: r\n");
  const std::string req = server.requests().at(0);
  EXPECT_NE(req.find("X-Amz-Target: Logs_20140328.FilterLogEvents"), std::string::npos);
  EXPECT_NE(req.find(R"("logGroupName":"/aws/lambda/f")"), std::string::npos);
}

TEST(ClientCommands, DeployRejectsABadEnvBeforeContactingTheServer) {
  CliRun r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "f", ".", "--runtime",
                  "python3.12", "--handler", "app.handler", "--env", "NOEQUALS"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "nimbus: --env NOEQUALS: expected KEY=VALUE\n");
}

TEST(ClientCommands, DeployOfOneFunctionNeedsAPathARuntimeAndAHandler) {
  CliRun r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "f"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "nimbus: deploy NAME PATH: PATH (a directory or .zip file) is missing\n");
  r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "f", "."});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "nimbus: deploy NAME PATH needs --runtime and --handler\n");
  r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "f", ".", "--runtime", "python3.12", "--handler",
              "a.b", "--stack-name", "s"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: deploy NAME PATH deploys one function; --template, --stack-name, --parameter-overrides and "
            "--watch are for template deploys (nimbus deploy without NAME PATH)\n");
}

TEST(ClientCommands, ATemplateDeployRefusesTheOptionsOfOneFunction) {
  CliRun r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "--template", "t.yaml", "--memory", "256"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: --runtime, --handler, --memory, --timeout, --env and --role are for deploy NAME PATH; a "
            "template sets them for each function\n");
  r = RunCli({"--endpoint", "http://127.0.0.1:1", "deploy", "--template", "/nonexistent/template.yaml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "nimbus: --template /nonexistent/template.yaml: no such file\n");
}

TEST(ClientCommands, TheEndpointDefaultsToTheEnvironmentVariable) {
  const std::string url = "http://127.0.0.1:" + std::to_string(http::testing::UnusedPort());
  ::setenv("NIMBUS_ENDPOINT", url.c_str(), 1);
  CliRun r = RunCli({"list"});
  ::unsetenv("NIMBUS_ENDPOINT");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot connect to " + url), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nimbus::cli
