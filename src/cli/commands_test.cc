#include "cli/commands.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "base/encoding.h"
#include "http/testing/fake_http_server.h"
#include "base/testing/scoped_env.h"

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

using ::nimbus::testing::ScopedEnv;

TEST(KeysCommands, ListPrintsATableOfKeysWithTheirPolicyAndCreationTime) {
  FakeHttpServer server({FakeHttpServer::Response(
      200, R"({"AccessKeys":[{"AccessKeyId":"AKIAADMINADMINADMIN1","Policy":"admin","Created":1714564800000},)"
           R"({"AccessKeyId":"AKIAINVOKEINVOKEINV1","Policy":"invoke","Created":1714564801500}]})")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ACCESS KEY ID         POLICY       CREATED\n"
            "AKIAADMINADMINADMIN1  admin        2024-05-01T12:00:00.000Z\n"
            "AKIAINVOKEINVOKEINV1  invoke-only  2024-05-01T12:00:01.500Z\n");
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.rfind("GET /nimbus/keys HTTP/1.1", 0), 0u) << req;
  EXPECT_NE(req.find("/lambda/aws4_request"), std::string::npos) << req;
}

TEST(KeysCommands, ListTakesTheEndpointAfterTheSubcommandAndPrintsJson) {
  const std::string body = R"({"AccessKeys":[{"AccessKeyId":"AKIA1","Policy":"admin","Created":1}]})";
  FakeHttpServer server({FakeHttpServer::Response(200, body)});
  CliRun r = RunCli({"keys", "list", "--json", "--endpoint", server.url()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, body + "\n");
}

TEST(KeysCommands, CreatePrintsTheSecretOnceWithAnExportLine) {
  FakeHttpServer server({FakeHttpServer::Response(
      201, R"({"AccessKeyId":"AKIANEWNEWNEWNEWNEW1","Policy":"invoke","Created":1,)"
           R"("SecretAccessKey":"abc/def+ghi0123456789012345678901234567"})")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "create", "--invoke-only"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "AccessKeyId:     AKIANEWNEWNEWNEWNEW1\n"
            "SecretAccessKey: abc/def+ghi0123456789012345678901234567\n"
            "Policy:          invoke-only\n"
            "\n"
            "export AWS_ACCESS_KEY_ID=AKIANEWNEWNEWNEWNEW1 "
            "AWS_SECRET_ACCESS_KEY=abc/def+ghi0123456789012345678901234567\n");
  EXPECT_EQ(r.err,
            "nimbus: created invoke-only access key AKIANEWNEWNEWNEWNEW1; its secret is shown only this once\n");
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.rfind("POST /nimbus/keys HTTP/1.1", 0), 0u) << req;
  EXPECT_EQ(req.substr(req.size() - 19), R"({"Policy":"invoke"})");
}

TEST(KeysCommands, CreateMakesAnAdminKeyByDefault) {
  FakeHttpServer server({FakeHttpServer::Response(
      201, R"({"AccessKeyId":"AKIA2","Policy":"admin","Created":1,"SecretAccessKey":"s"})")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "create"});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.substr(req.size() - 18), R"({"Policy":"admin"})");
}

TEST(KeysCommands, DeleteNamesTheKeyAndReportsTheServersRefusal) {
  FakeHttpServer server(
      {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
       FakeHttpServer::Response(
           409, R"({"Type":"User","message":"AKIAADMIN is the last admin key; create another before deleting it"})",
           "x-amzn-ErrorType: ResourceConflictException\r\n")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "delete", "AKIAINVOKE"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "nimbus: deleted access key AKIAINVOKE\n");
  EXPECT_EQ(server.requests().at(0).rfind("DELETE /nimbus/keys/AKIAINVOKE HTTP/1.1", 0), 0u);
  r = RunCli({"--endpoint", server.url(), "keys", "delete", "AKIAADMIN"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: ResourceConflictException: AKIAADMIN is the last admin key; create another before deleting "
            "it\n");
}

TEST(KeysCommands, KeysNeedsASubcommand) {
  CliRun r = RunCli({"--endpoint", "http://127.0.0.1:1", "keys"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("subcommand"), std::string::npos) << r.err;
}

TEST(ClientCredentials, WithoutAwsVariablesTheCliSignsWithTheAdminKeyOfTheDataDirectory) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("cli-fallback-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "credentials.json")
      << R"({"AccessKeys":[{"AccessKeyId":"AKIAINVOKEFIRST00001","SecretAccessKey":"i","Policy":"invoke"},)"
         R"({"AccessKeyId":"AKIAADMINSECOND00001","SecretAccessKey":"a","Policy":"admin"}]})";
  ScopedEnv data("NIMBUS_DATA_DIR", dir.string());
  ScopedEnv id("AWS_ACCESS_KEY_ID", std::nullopt);
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", std::nullopt);
  FakeHttpServer server({FakeHttpServer::Response(200, R"({"AccessKeys":[]})")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "list"});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(server.requests().at(0).find("Credential=AKIAADMINSECOND00001/"), std::string::npos)
      << server.requests().at(0);
}

TEST(ClientCredentials, AnAuthenticationErrorWithThePlaceholderSaysWhereKeysComeFrom) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("cli-no-keys-" + std::to_string(::getpid()));
  ScopedEnv data("NIMBUS_DATA_DIR", dir.string());
  ScopedEnv id("AWS_ACCESS_KEY_ID", std::nullopt);
  const std::string refusal = FakeHttpServer::Response(
      403, R"({"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."})",
      "x-amzn-ErrorType: UnrecognizedClientException\r\n");
  FakeHttpServer server({refusal, refusal});
  for (const char* command : {"list", "invoke"}) {
    std::vector<std::string> args{"--endpoint", server.url(), command};
    if (std::string(command) == "invoke") args.push_back("f");
    CliRun r = RunCli(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind("nimbus: UnrecognizedClientException: The security token included in the request is "
                          "invalid.\nhint: no credentials found (AWS_ACCESS_KEY_ID is not set and " +
                              (dir / "credentials.json").string() + " is not readable)",
                          0),
              0u)
        << r.err;
    EXPECT_NE(r.err.find("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, else the first "
                         "admin key of <data-dir>/credentials.json"),
              std::string::npos);
  }
}

TEST(ClientCredentials, AnAccessDeniedIsNotAnAuthenticationErrorAndGetsNoHint) {
  ScopedEnv id("AWS_ACCESS_KEY_ID", "AKIAINVOKE");
  FakeHttpServer server({FakeHttpServer::Response(
      403, R"({"Type":"User","message":"User: arn:aws:iam::000000000000:user/AKIAINVOKE is not authorized"})",
      "x-amzn-ErrorType: AccessDeniedException\r\n")});
  CliRun r = RunCli({"--endpoint", server.url(), "keys", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "nimbus: AccessDeniedException: User: arn:aws:iam::000000000000:user/AKIAINVOKE is not authorized\n");
}

}  // namespace
}  // namespace nimbus::cli
