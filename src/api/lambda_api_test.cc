#include "api/lambda_api.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>

#include "api/testing/fake_invoker.h"
#include "base/encoding.h"
#include "base/testing/fake_clock.h"
#include "base/testing/reactor_testing.h"
#include "storage/testing/temp_dir.h"
#include "storage/testing/zip_builder.h"
#include "storage/zip_unpacker.h"

namespace nimbus::api {
namespace {

using storage::testing::TempDir;
using storage::testing::ZipBuilder;
namespace json = boost::json;

constexpr char kRole[] = "arn:aws:iam::123456789012:role/lambda-role";
constexpr char kArn[] = "arn:aws:lambda:us-east-1:000000000000:function:";

std::string Zip(std::string_view body = "def handler(e, c):\n  return 1\n") {
  return ZipBuilder().File("app.py", body).Build();
}

std::string CreateBody(std::string_view name, std::string_view extra = "") {
  return fmt::format(
      R"({{"FunctionName":"{}","Runtime":"python3.12","Handler":"app.handler","Role":"{}",)"
      R"("Code":{{"ZipFile":"{}"}}{}}})",
      name, kRole, Base64Encode(Zip()), extra);
}

http::Request Req(std::string method, std::string target, std::string body = "",
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers.Set("Host", "127.0.0.1:9000");
  for (auto& [k, v] : headers) r.headers.Set(k, v);
  return r;
}

json::value Json(const std::string& body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  EXPECT_FALSE(ec) << body;
  return v;
}

class LambdaApiTest : public ::testing::Test {
 protected:
  LambdaApiTest() : reactor_("reactor-test"), pool_("blocking", 2) {}

  void SetUp() override {
    auto r = control::Registry::Open(control::RegistryOptions{dir_.path(), {}}, clock_);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    registry_ = std::move(r).value();
    api_ = std::make_unique<LambdaApi>(
        LambdaApi::Deps{*registry_, invoker_, pool_, reactor_, clock_, control::Region{}, nullptr, nullptr, nullptr});
    reactor_.Start();
  }
  void TearDown() override { reactor_.Stop(); }

  http::Response Blocking(const http::Request& r) {
    return api_->HandleBlocking(r, "req-1").response;
  }
  void MustCreate(std::string_view name) {
    http::Response r = Blocking(Req("POST", "/2015-03-31/functions", CreateBody(name)));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // Runs HandleAsync on the reactor and waits (bounded) for the response.
  http::Response Async(http::Request r) {
    auto promise = std::make_shared<std::promise<http::Response>>();
    auto future = promise->get_future();
    auto shared = std::make_shared<http::Request>(std::move(r));
    reactor_.Post([this, shared, promise] {
      api_->HandleAsync(std::move(*shared), [promise, this](http::Response resp) {
        EXPECT_TRUE(reactor_.InReactorThread());
        promise->set_value(std::move(resp));
      });
    });
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "no response within 20 s";
      return http::Response::Json(599, "");
    }
    return future.get();
  }

  // Records events; accepts them, or refuses with `refusal` when set.
  struct FakeAsync final : async::AsyncInvoker {
    void Enqueue(async::AsyncInvokeRequest r, std::function<void(Status)> accepted) override {
      events.push_back(std::move(r));
      accepted(refusal);
    }
    std::vector<async::AsyncInvokeRequest> events;
    Status refusal;
  };

  void UseAsync() {
    api_ = std::make_unique<LambdaApi>(LambdaApi::Deps{*registry_, invoker_, pool_, reactor_,
                                                       clock_, control::Region{}, &async_, nullptr, nullptr});
  }

  TempDir dir_;
  FakeClock clock_;
  FakeAsync async_;
  testing::FakeInvoker invoker_;
  // The pool is destroyed first: its last tasks may still Post to the reactor.
  Reactor reactor_;
  BlockingPool pool_;
  std::unique_ptr<control::Registry> registry_;
  std::unique_ptr<LambdaApi> api_;
};

TEST_F(LambdaApiTest, CreateFunctionAnswers201WithTheFullFunctionConfiguration) {
  http::Response r = Blocking(Req("POST", "/2015-03-31/functions",
                                  CreateBody("hello", R"(,"Environment":{"Variables":{"K1":"v"}},"MemorySize":256)")));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(r.headers.Get("x-amzn-RequestId"), "req-1");
  json::value got = Json(r.body);
  std::string zip = Zip();
  json::value want = {
      {"FunctionName", "hello"},
      {"FunctionArn", std::string(kArn) + "hello"},
      {"Runtime", "python3.12"},
      {"Role", kRole},
      {"Handler", "app.handler"},
      {"CodeSize", zip.size()},
      {"Description", ""},
      {"Timeout", 3},
      {"MemorySize", 256},
      {"LastModified", "2024-05-01T12:00:00.000+0000"},
      {"CodeSha256", Base64Encode(Sha256(zip))},
      {"Version", "$LATEST"},
      {"Environment", {{"Variables", {{"K1", "v"}}}}},
      {"TracingConfig", {{"Mode", "PassThrough"}}},
      {"RevisionId", got.at("RevisionId")},
      {"State", "Active"},
      {"LastUpdateStatus", "Successful"},
      {"PackageType", "Zip"},
      {"Architectures", json::array{"x86_64"}},
      {"EphemeralStorage", {{"Size", 512}}},
      {"SnapStart", {{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}}},
      {"LoggingConfig", {{"LogFormat", "Text"}, {"LogGroup", "/aws/lambda/hello"}}},
  };
  EXPECT_EQ(got, want) << r.body;
  EXPECT_EQ(got.at("RevisionId").as_string().size(), 36u);
}

TEST_F(LambdaApiTest, OmitsEnvironmentWhenItIsEmpty) {
  MustCreate("plain");
  http::Response r = Blocking(Req("GET", "/2015-03-31/functions/plain/configuration"));
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(Json(r.body).as_object().contains("Environment"));
}

struct ErrorCase {
  const char* name;
  http::Request request;
  int status;
  const char* type;
  std::string body;  // exact JSON body
};

TEST_F(LambdaApiTest, AnswersBadControlRequestsWithLambdasExactErrors) {
  MustCreate("hello");
  http::Request too_big = Req("POST", "/2015-03-31/functions");
  too_big.body_too_large = true;
  std::string pattern = R"((arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?)";
  std::vector<ErrorCase> cases = {
      {"unknown function", Req("GET", "/2015-03-31/functions/nope"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"})"},
      {"unpublished version", Req("GET", "/2015-03-31/functions/hello?Qualifier=7"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:hello:7"})"},
      {"conflicting qualifiers", Req("GET", "/2015-03-31/functions/hello%3Alive/configuration?Qualifier=7"),
       400, "InvalidParameterValueException",
       R"({"Type":"User","message":"The derived qualifier from the function name does not match the specified qualifier."})"},
      {"bad name", Req("GET", "/2015-03-31/functions/a%20b"), 400, "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value 'a b' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: )" + pattern + R"("})"},
      {"body not json", Req("POST", "/2015-03-31/functions", "{nope"), 400,
       "InvalidRequestContentException", ""},
      {"wrong member type", Req("POST", "/2015-03-31/functions", CreateBody("x", R"(,"MemorySize":"big")")),
       400, "InvalidRequestContentException",
       R"({"Type":"User","message":"Could not parse request body into json: member 'MemorySize' must be an integer"})"},
      {"duplicate", Req("POST", "/2015-03-31/functions", CreateBody("hello")), 409,
       "ResourceConflictException", R"({"Type":"User","message":"Function already exist: hello"})"},
      {"reserved env key", Req("POST", "/2015-03-31/functions", CreateBody("x", R"(,"Environment":{"Variables":{"AWS_REGION":"x"}})")),
       400, "InvalidParameterValueException",
       R"({"Type":"User","message":"Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION"})"},
      {"memory too small", Req("POST", "/2015-03-31/functions", CreateBody("x", R"(,"MemorySize":64)")),
       400, "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"})"},
      {"unknown layer", Req("POST", "/2015-03-31/functions", CreateBody("x", R"(,"Layers":["arn:aws:lambda:us-east-1:000000000000:layer:l:1"])")),
       400, "InvalidParameterValueException",
       R"({"Type":"User","message":"Layer version arn:aws:lambda:us-east-1:000000000000:layer:l:1 does not exist."})"},
      {"unknown layer version", Req("GET", "/2018-10-31/layers/l/versions/1"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"The resource you requested does not exist."})"},
      {"layer without content", Req("POST", "/2018-10-31/layers/l/versions", "{}"), 400,
       "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null"})"},
      {"no code", Req("POST", "/2015-03-31/functions", R"({"FunctionName":"x","Role":"r"})"), 400,
       "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null"})"},
      {"zip not base64", Req("POST", "/2015-03-31/functions", R"({"FunctionName":"x","Role":"r","Code":{"ZipFile":"%%%"}})"),
       400, "InvalidRequestContentException",
       R"({"Type":"User","message":"Could not parse request body into json: member 'Code.ZipFile' is not valid base64"})"},
      {"zip not a zip", Req("POST", "/2015-03-31/functions", fmt::format(R"({{"FunctionName":"x","Runtime":"python3.12","Handler":"a.b","Role":"{}","Code":{{"ZipFile":"{}"}}}})", kRole, Base64Encode("plain text"))),
       400, "InvalidParameterValueException",
       R"({"Type":"User","message":"Could not unzip uploaded file. Please check your file, then try to upload again."})"},
      {"request too large", too_big, 413, "RequestEntityTooLargeException",
       R"({"Type":"User","Message":"Request must be smaller than 69905067 bytes for the CreateFunction operation"})"},
      {"stale revision", Req("PUT", "/2015-03-31/functions/hello/configuration", R"({"RevisionId":"stale","Timeout":5})"),
       412, "PreconditionFailedException",
       R"({"Type":"User","message":"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"})"},
      {"delete latest", Req("DELETE", "/2015-03-31/functions/hello?Qualifier=%24LATEST"), 400,
       "InvalidParameterValueException",
       R"({"Type":"User","message":"$LATEST version cannot be deleted without deleting the function."})"},
      {"update code of a missing function", Req("PUT", "/2015-03-31/functions/ghost/code", fmt::format(R"({{"ZipFile":"{}"}})", Base64Encode(Zip()))),
       404, "ResourceNotFoundException",
       R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:ghost"})"},
      {"bad MaxItems", Req("GET", "/2015-03-31/functions?MaxItems=0"), 400,
       "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"})"},
      {"unknown operation", Req("GET", "/2015-03-31/frobnicate"), 404, "UnknownOperationException",
       R"({"Type":"User","Message":"Unknown operation: GET /2015-03-31/frobnicate"})"},
      {"wrong method", Req("PATCH", "/2015-03-31/functions/hello"), 404, "UnknownOperationException",
       R"({"Type":"User","Message":"Unknown operation: PATCH /2015-03-31/functions/hello"})"},
      {"unknown code package", Req("GET", "/nimbus/code/" + std::string(64, 'a') + ".zip"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"code package )" + std::string(64, 'a') + R"( not found"})"},
  };
  for (const ErrorCase& c : cases) {
    ControlReply reply = api_->HandleBlocking(c.request, "req-1");
    const http::Response& r = reply.response;
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), c.type) << c.name;
    EXPECT_EQ(r.headers.Get("x-amzn-RequestId"), "req-1") << c.name;
    EXPECT_EQ(r.headers.Get("Content-Type"), "application/json") << c.name;
    if (!c.body.empty()) {
      EXPECT_EQ(r.body, c.body) << c.name;
    }
    EXPECT_TRUE(reply.invoker_updates.empty()) << c.name;
  }
  // The body of the non-JSON case starts with Lambda's wording.
  http::Response r = Blocking(Req("POST", "/2015-03-31/functions", "{nope"));
  EXPECT_TRUE(Json(r.body).at("message").as_string().starts_with(
      "Could not parse request body into json: "))
      << r.body;
}

TEST_F(LambdaApiTest, PublishesListsGetsAndDeletesLayerVersions) {
  std::string zip = Zip();
  http::Response pub = Blocking(Req(
      "POST", "/2018-10-31/layers/lib/versions",
      fmt::format(R"({{"Content":{{"ZipFile":"{}"}},"Description":"d",)"
                  R"("CompatibleRuntimes":["python3.12"],"LicenseInfo":"MIT"}})",
                  Base64Encode(zip))));
  ASSERT_EQ(pub.status, 201) << pub.body;
  json::value v = Json(pub.body);
  EXPECT_EQ(v.at("LayerArn"), json::value("arn:aws:lambda:us-east-1:000000000000:layer:lib"));
  EXPECT_EQ(v.at("LayerVersionArn"),
            json::value("arn:aws:lambda:us-east-1:000000000000:layer:lib:1"));
  EXPECT_EQ(v.at("Version"), json::value(1));
  EXPECT_EQ(v.at("Description"), json::value("d"));
  EXPECT_EQ(v.at("LicenseInfo"), json::value("MIT"));
  EXPECT_EQ(v.at("CompatibleRuntimes"), json::array{"python3.12"});
  EXPECT_EQ(v.at("CreatedDate"), json::value("2024-05-01T12:00:00.000+0000"));
  EXPECT_EQ(v.at("Content").at("CodeSha256"), json::value(Base64Encode(Sha256(zip))));
  EXPECT_EQ(v.at("Content").at("CodeSize"), json::value(static_cast<int64_t>(zip.size())));
  std::string location(v.at("Content").at("Location").as_string());
  size_t path = location.find("/nimbus/code/");
  ASSERT_NE(path, std::string::npos) << location;
  http::Response content = Blocking(Req("GET", location.substr(path)));
  EXPECT_EQ(content.status, 200);
  EXPECT_EQ(content.body, zip);

  http::Response got = Blocking(Req("GET", "/2018-10-31/layers/lib/versions/1"));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Json(got.body), v);
  http::Response by_arn = Blocking(Req(
      "GET",
      "/2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Alayer%3Alib%3A1"));
  ASSERT_EQ(by_arn.status, 200) << by_arn.body;
  EXPECT_EQ(Json(by_arn.body), v);

  http::Response versions = Blocking(Req("GET", "/2018-10-31/layers/lib/versions"));
  ASSERT_EQ(versions.status, 200);
  json::value lv = Json(versions.body);
  ASSERT_EQ(lv.at("LayerVersions").as_array().size(), 1u);
  EXPECT_EQ(lv.at("LayerVersions").at(0).at("LayerVersionArn"), v.at("LayerVersionArn"));
  EXPECT_FALSE(lv.at("LayerVersions").at(0).as_object().contains("Content"));
  http::Response layers = Blocking(Req("GET", "/2018-10-31/layers?CompatibleRuntime=python3.12"));
  ASSERT_EQ(layers.status, 200);
  json::value ll = Json(layers.body);
  ASSERT_EQ(ll.at("Layers").as_array().size(), 1u);
  EXPECT_EQ(ll.at("Layers").at(0).at("LayerName"), json::value("lib"));
  EXPECT_EQ(ll.at("Layers").at(0).at("LatestMatchingVersion").at("Version"), json::value(1));
  EXPECT_TRUE(Json(Blocking(Req("GET", "/2018-10-31/layers?CompatibleRuntime=nodejs20.x")).body)
                  .at("Layers")
                  .as_array()
                  .empty());

  // A function that uses it shows Layers [{Arn, CodeSize}].
  http::Response f = Blocking(Req(
      "POST", "/2015-03-31/functions",
      CreateBody("withlayer",
                 R"(,"Layers":["arn:aws:lambda:us-east-1:000000000000:layer:lib:1"])")));
  ASSERT_EQ(f.status, 201) << f.body;
  EXPECT_EQ(Json(f.body).at("Layers"),
            (json::array{json::object{{"Arn", "arn:aws:lambda:us-east-1:000000000000:layer:lib:1"},
                                      {"CodeSize", static_cast<int64_t>(zip.size())}}}));

  EXPECT_EQ(Blocking(Req("DELETE", "/2018-10-31/layers/lib/versions/1")).status, 204);
  EXPECT_EQ(Blocking(Req("GET", "/2018-10-31/layers/lib/versions/1")).status, 404);
  EXPECT_EQ(Blocking(Req("DELETE", "/2018-10-31/layers/lib/versions/1")).status, 204);
  EXPECT_EQ(Blocking(Req("GET", "/2018-10-31/layers/lib/versions/x")).status, 400);
  // The function still lists it.
  http::Response config = Blocking(Req("GET", "/2015-03-31/functions/withlayer/configuration"));
  EXPECT_EQ(Json(config.body).at("Layers").as_array().size(), 1u);
}

TEST_F(LambdaApiTest, GetFunctionPointsAtAUrlThatServesTheZip) {
  MustCreate("hello");
  http::Response r = Blocking(Req("GET", "/2015-03-31/functions/hello"));
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Json(r.body);
  EXPECT_EQ(v.at("Configuration").at("FunctionName"), json::value("hello"));
  EXPECT_EQ(v.at("Code").at("RepositoryType"), json::value("S3"));
  std::string hex = HexEncode(Sha256(Zip()));
  std::string location(v.at("Code").at("Location").as_string());
  EXPECT_EQ(location, "http://127.0.0.1:9000/nimbus/code/" + hex + ".zip");
  EXPECT_FALSE(v.as_object().contains("Tags"));
  http::Request get = Req("GET", "/nimbus/code/" + hex + ".zip");
  EXPECT_TRUE(LambdaApi::Matches(get));
  http::Response zip = Blocking(get);
  EXPECT_EQ(zip.status, 200);
  EXPECT_EQ(zip.headers.Get("Content-Type"), "application/zip");
  EXPECT_EQ(zip.body, Zip());
}

TEST_F(LambdaApiTest, GetFunctionIncludesTagsWhenThereAreAny) {
  ASSERT_EQ(Blocking(Req("POST", "/2015-03-31/functions", CreateBody("tagged", R"(,"Tags":{"team":"a"})"))).status, 201);
  http::Response r = Blocking(Req("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Atagged?Qualifier=%24LATEST"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r.body).at("Tags"), (json::value{{"team", "a"}}));
}

TEST_F(LambdaApiTest, ListFunctionsPagesWithNextMarkerUntilTheLastPage) {
  for (const char* n : {"c", "a", "b"}) MustCreate(n);
  http::Response first = Blocking(Req("GET", "/2015-03-31/functions?MaxItems=2"));
  ASSERT_EQ(first.status, 200);
  json::value v = Json(first.body);
  ASSERT_EQ(v.at("Functions").as_array().size(), 2u);
  EXPECT_EQ(v.at("Functions").at(0).at("FunctionName"), json::value("a"));
  EXPECT_EQ(v.at("NextMarker"), json::value("b"));
  http::Response last = Blocking(Req("GET", "/2015-03-31/functions?MaxItems=2&Marker=b"));
  json::value w = Json(last.body);
  ASSERT_EQ(w.at("Functions").as_array().size(), 1u);
  EXPECT_EQ(w.at("Functions").at(0).at("FunctionName"), json::value("c"));
  EXPECT_FALSE(w.as_object().contains("NextMarker"));
  http::Response all = Blocking(Req("GET", "/2015-03-31/functions/?FunctionVersion=ALL"));
  EXPECT_EQ(Json(all.body).at("Functions").as_array().size(), 3u);
}

TEST_F(LambdaApiTest, GetAccountSettingsReportsLimitsAndUsage) {
  MustCreate("a");
  http::Response r = Blocking(Req("GET", "/2016-08-19/account-settings/"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, fmt::format(R"({{"AccountLimit":{{"TotalCodeSize":80530636800,"CodeSizeUnzipped":262144000,"CodeSizeZipped":52428800,"ConcurrentExecutions":1000,"UnreservedConcurrentExecutions":1000}},"AccountUsage":{{"TotalCodeSize":{},"FunctionCount":1}}}})",
                                Zip().size()));
}

TEST_F(LambdaApiTest, UpdatesRetireTheFunctionsEnvironmentsAfterAnswering) {
  MustCreate("u");
  http::Response cfg = Async(Req("PUT", "/2015-03-31/functions/u/configuration",
                                 R"({"Environment":{"Variables":{"NEW1":"x"}},"Timeout":10})"));
  ASSERT_EQ(cfg.status, 200) << cfg.body;
  json::value v = Json(cfg.body);
  EXPECT_EQ(v.at("Environment"), (json::value{{"Variables", {{"NEW1", "x"}}}}));
  EXPECT_EQ(v.at("Timeout"), json::value(10));
  http::Response code = Async(Req("PUT", "/2015-03-31/functions/u/code",
                                  fmt::format(R"({{"ZipFile":"{}"}})", Base64Encode(Zip("# v2\n")))));
  ASSERT_EQ(code.status, 200) << code.body;
  EXPECT_EQ(Json(code.body).at("CodeSha256"), json::value(Base64Encode(Sha256(Zip("# v2\n")))));
  http::Response dry = Async(Req("PUT", "/2015-03-31/functions/u/code",
                                 fmt::format(R"({{"ZipFile":"{}","DryRun":true}})", Base64Encode(Zip("# v3\n")))));
  ASSERT_EQ(dry.status, 200) << dry.body;
  http::Response del = Async(Req("DELETE", "/2015-03-31/functions/u"));
  EXPECT_EQ(del.status, 204);
  EXPECT_EQ(del.body, "");
  EXPECT_TRUE(del.headers.Get("x-amzn-RequestId").has_value());
  // Reads are reactor-posted as well; only the three real changes retire.
  EXPECT_EQ(Async(Req("GET", "/2015-03-31/functions/u")).status, 404);
  std::promise<std::vector<std::string>> retired;
  reactor_.Post([&] { retired.set_value(invoker_.retired); });
  EXPECT_EQ(retired.get_future().get(), (std::vector<std::string>{"u:$LATEST", "u:$LATEST", "u"}));
}

invoke::InvokeOutcome Outcome(std::string payload) {
  invoke::InvokeOutcome o;
  o.request_id = "";  // filled below by tests when needed
  o.executed_version = "$LATEST";
  o.payload = std::move(payload);
  return o;
}

TEST_F(LambdaApiTest, InvokeReturnsTheFunctionsResponseWithLambdaHeaders) {
  MustCreate("fn");
  invoke::InvokeOutcome o = Outcome(R"({"ok":true})");
  o.request_id = "inv-1";
  o.log_tail = "START RequestId: inv-1\nEND\n";
  invoker_.results.push_back(o);
  std::string cc = Base64Encode(R"({"custom":{"k":"v"}})");
  http::Response r = Async(Req("POST",
                               "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/invocations?Qualifier=%24LATEST",
                               R"({"x":1})",
                               {{"X-Amz-Log-Type", "Tail"}, {"X-Amz-Client-Context", cc},
                                {"X-Amzn-Trace-Id", "Root=1-abc"}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_EQ(r.headers.Get("X-Amz-Executed-Version"), "$LATEST");
  EXPECT_EQ(r.headers.Get("x-amzn-RequestId"), "inv-1");
  EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(r.headers.Get("X-Amz-Log-Result"), Base64Encode("START RequestId: inv-1\nEND\n"));
  EXPECT_FALSE(r.headers.Has("X-Amz-Function-Error"));
  ASSERT_EQ(invoker_.requests.size(), 1u);
  const invoke::InvokeRequest& req = invoker_.requests[0];
  EXPECT_EQ(req.function->config.name, "fn");
  EXPECT_EQ(req.payload, R"({"x":1})");
  EXPECT_EQ(req.client_context, R"({"custom":{"k":"v"}})");
  EXPECT_EQ(req.invoked_function_arn, std::string(kArn) + "fn:$LATEST");
  EXPECT_EQ(req.trace_id, "Root=1-abc");
  EXPECT_TRUE(req.tail_log);
  EXPECT_EQ(req.request_id.size(), 36u);
}

TEST_F(LambdaApiTest, InvokeReportsAFunctionErrorAsA200WithTheHeader) {
  MustCreate("fn");
  invoke::InvokeOutcome o = Outcome(R"({"errorMessage":"boom","errorType":"Exception"})");
  o.function_error = "Unhandled";
  invoker_.results.push_back(o);
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", ""));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("X-Amz-Function-Error"), "Unhandled");
  EXPECT_FALSE(r.headers.Has("X-Amz-Log-Result"));
  EXPECT_EQ(r.body, R"({"errorMessage":"boom","errorType":"Exception"})");
  // Without a request id from the outcome, the invocation's own id is used.
  ASSERT_EQ(invoker_.requests.size(), 1u);
  EXPECT_EQ(r.headers.Get("x-amzn-RequestId"), invoker_.requests[0].request_id);
  EXPECT_EQ(invoker_.requests[0].invoked_function_arn, std::string(kArn) + "fn");
}

TEST_F(LambdaApiTest, InvokeMapsAPlatformFailureThroughTheErrorTable) {
  MustCreate("fn");
  invoker_.results.push_back(Status(Code::kThrottled, "Rate Exceeded."));
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", "{}"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), "TooManyRequestsException");
  EXPECT_EQ(r.headers.Get("Retry-After"), "1");
}

TEST_F(LambdaApiTest, DryRunInvokeAnswers204WithoutInvoking) {
  MustCreate("fn");
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", "{}",
                               {{"X-Amz-Invocation-Type", "DryRun"}}));
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(invoker_.requests.empty());
  http::Response missing = Async(Req("POST", "/2015-03-31/functions/nope/invocations", "{}",
                                     {{"X-Amz-Invocation-Type", "DryRun"}}));
  EXPECT_EQ(missing.status, 404);
}

TEST_F(LambdaApiTest, RejectsBadInvokeRequestsWithLambdasErrors) {
  MustCreate("fn");
  http::Request big = Req("POST", "/2015-03-31/functions/fn/invocations",
                          std::string(kMaxSyncInvokePayloadBytes + 1, ' '));
  http::Request unread = Req("POST", "/2015-03-31/functions/fn/invocations");
  unread.body_too_large = true;
  std::vector<ErrorCase> cases = {
      {"payload too large", big, 413, "RequestEntityTooLargeException",
       R"({"Type":"User","Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"})"},
      {"body not read", unread, 413, "RequestEntityTooLargeException",
       R"({"Type":"User","Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"})"},
      {"payload not json", Req("POST", "/2015-03-31/functions/fn/invocations", "{oops"), 400,
       "InvalidRequestContentException", ""},
      {"unknown function", Req("POST", "/2015-03-31/functions/nope/invocations", "{}"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"})"},
      {"unpublished alias", Req("POST", "/2015-03-31/functions/fn%3Alive/invocations", "{}"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn:live"})"},
      {"bad invocation type", Req("POST", "/2015-03-31/functions/fn/invocations", "{}", {{"X-Amz-Invocation-Type", "Later"}}),
       400, "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"})"},
      {"bad log type", Req("POST", "/2015-03-31/functions/fn/invocations", "{}", {{"X-Amz-Log-Type", "All"}}),
       400, "ValidationException",
       R"({"Type":"User","Message":"1 validation error detected: Value 'All' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"})"},
      {"client context not base64", Req("POST", "/2015-03-31/functions/fn/invocations", "{}", {{"X-Amz-Client-Context", "!!"}}),
       400, "InvalidRequestContentException",
       R"({"Type":"User","message":"Client context must be a valid Base64-encoded JSON object."})"},
      {"client context not json", Req("POST", "/2015-03-31/functions/fn/invocations", "{}", {{"X-Amz-Client-Context", Base64Encode("nope")}}),
       400, "InvalidRequestContentException",
       R"({"Type":"User","message":"Client context must be a valid Base64-encoded JSON object."})"},
      {"client context too large", Req("POST", "/2015-03-31/functions/fn/invocations", "{}", {{"X-Amz-Client-Context", std::string(3584, 'A')}}),
       400, "InvalidParameterValueException",
       R"({"Type":"User","message":"Client context must be less than or equal to 3583 bytes"})"},
  };
  for (const ErrorCase& c : cases) {
    http::Response r = Async(c.request);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    EXPECT_EQ(r.headers.Get("x-amzn-ErrorType"), c.type) << c.name;
    EXPECT_TRUE(r.headers.Has("x-amzn-RequestId")) << c.name;
    EXPECT_EQ(r.headers.Get("Content-Type"), "application/json") << c.name;
    if (!c.body.empty()) {
      EXPECT_EQ(r.body, c.body) << c.name;
    }
  }
  EXPECT_TRUE(invoker_.requests.empty());
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", "{oops"));
  EXPECT_TRUE(Json(r.body).at("message").as_string().starts_with(
      "Could not parse request body into json: Could not parse payload into json: "))
      << r.body;
}

TEST_F(LambdaApiTest, InvokeAcceptsAnEmptyBody) {
  MustCreate("fn");
  invoker_.results.push_back(Outcome("null"));
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", ""));
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(invoker_.requests.size(), 1u);
  EXPECT_EQ(invoker_.requests[0].payload, "");
}

TEST(LambdaApiMatches, ClaimsTheLambdaApiPathsOnly) {
  auto req = [](std::string target) {
    http::Request r;
    r.method = "GET";
    r.target = std::move(target);
    return r;
  };
  EXPECT_TRUE(LambdaApi::Matches(req("/2015-03-31/functions")));
  EXPECT_TRUE(LambdaApi::Matches(req("/2015-03-31/functions/f/invocations?Qualifier=1")));
  EXPECT_TRUE(LambdaApi::Matches(req("/2016-08-19/account-settings/")));
  EXPECT_TRUE(LambdaApi::Matches(req("/2014-11-13/functions/f/invoke-async/")));
  EXPECT_TRUE(LambdaApi::Matches(req("/nimbus/code/abc.zip")));
  EXPECT_FALSE(LambdaApi::Matches(req("/2018-06-01/runtime/invocation/next")));
  EXPECT_FALSE(LambdaApi::Matches(req("/healthz")));
}

}  // namespace
}  // namespace nimbus::api

namespace nimbus::api {
namespace {

TEST_F(LambdaApiTest, AnEventInvocationIsQueuedAndAnswered202) {
  UseAsync();
  MustCreate("fn");
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations?Qualifier=%24LATEST",
                               R"({"x":1})", {{"X-Amz-Invocation-Type", "Event"}}));
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.body, "");
  ASSERT_EQ(async_.events.size(), 1u);
  const async::AsyncInvokeRequest& e = async_.events[0];
  EXPECT_EQ(e.function->config.name, "fn");
  EXPECT_EQ(e.function_name, "fn");
  EXPECT_EQ(e.qualifier, "$LATEST");
  EXPECT_EQ(e.payload, R"({"x":1})");
  EXPECT_EQ(e.invoked_function_arn, std::string(kArn) + "fn:$LATEST");
  EXPECT_EQ(r.headers.Get("x-amzn-RequestId"), e.request_id);
  EXPECT_TRUE(invoker_.requests.empty());
}

TEST_F(LambdaApiTest, TheLegacyInvokeAsyncAnswersStatus202) {
  UseAsync();
  MustCreate("fn");
  http::Response r = Async(Req("POST", "/2014-11-13/functions/fn/invoke-async/", R"({"x":2})"));
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.body, R"({"Status":202})");
  ASSERT_EQ(async_.events.size(), 1u);
  EXPECT_EQ(async_.events[0].payload, R"({"x":2})");
}

TEST_F(LambdaApiTest, AnEventAboveOneMebibyteIsRefusedWith413) {
  UseAsync();
  MustCreate("fn");
  std::string big = "\"" + std::string(kMaxAsyncInvokePayloadBytes, 'a') + "\"";
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", big,
                               {{"X-Amz-Invocation-Type", "Event"}}));
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(async_.events.empty());
}

TEST_F(LambdaApiTest, AnEventThatCannotBeStoredIsAServiceError) {
  UseAsync();
  MustCreate("fn");
  async_.refusal = Status(Code::kResourceExhausted, "async queue: disk full");
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", "{}",
                               {{"X-Amz-Invocation-Type", "Event"}}));
  EXPECT_GE(r.status, 400);
  EXPECT_TRUE(r.headers.Has("x-amzn-ErrorType"));
}

TEST_F(LambdaApiTest, WithoutAnAsyncInvokerEventsAreRefusedClearly) {
  MustCreate("fn");
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn/invocations", "{}",
                               {{"X-Amz-Invocation-Type", "Event"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("InvocationType Event is not supported by this server"), std::string::npos);
}

}  // namespace
}  // namespace nimbus::api

namespace nimbus::api {
namespace {

class LambdaApiVersionsTest : public LambdaApiTest {
 protected:
  // The FakeInvoker's records, read on the reactor that owns it.
  template <typename F>
  auto OnReactor(F f) {
    return RunOnReactor(reactor_, std::move(f));
  }
};

TEST_F(LambdaApiVersionsTest, PublishesListsAndInvokesVersionsAndAliases) {
  MustCreate("fn");
  http::Response v1 = Blocking(Req("POST", "/2015-03-31/functions/fn/versions", "{}"));
  ASSERT_EQ(v1.status, 201) << v1.body;
  EXPECT_EQ(Json(v1.body).at("Version"), json::value("1"));
  EXPECT_EQ(Json(v1.body).at("FunctionArn"), json::value(std::string(kArn) + "fn:1"));
  http::Response list = Blocking(Req("GET", "/2015-03-31/functions/fn/versions"));
  ASSERT_EQ(list.status, 200) << list.body;
  json::value versions = Json(list.body).at("Versions");
  ASSERT_EQ(versions.as_array().size(), 2u);
  EXPECT_EQ(versions.at(0).at("FunctionArn"), json::value(std::string(kArn) + "fn:$LATEST"));
  http::Response alias = Blocking(Req("POST", "/2015-03-31/functions/fn/aliases",
                                      R"({"Name":"live","FunctionVersion":"1"})"));
  ASSERT_EQ(alias.status, 201) << alias.body;
  json::value a = Json(alias.body);
  EXPECT_EQ(a.at("AliasArn"), json::value(std::string(kArn) + "fn:live"));
  EXPECT_EQ(a.at("Description"), json::value(""));
  EXPECT_FALSE(a.as_object().contains("RoutingConfig"));

  invoke::InvokeOutcome o;
  o.executed_version = "1";
  o.payload = "{}";
  invoker_.results.push_back(o);
  http::Response r = Async(Req("POST", "/2015-03-31/functions/fn%3Alive/invocations", "{}"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto sent = OnReactor([&] { return invoker_.requests.back(); });
  EXPECT_EQ(sent.function->config.version, "1");
  EXPECT_EQ(sent.invoked_function_arn, std::string(kArn) + "fn:live");
  EXPECT_EQ(r.headers.Get("X-Amz-Executed-Version"), "1");

  http::Response conflict = Blocking(Req("DELETE", "/2015-03-31/functions/fn?Qualifier=1"));
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(conflict.headers.Get("x-amzn-ErrorType"), "ResourceConflictException");
  ASSERT_EQ(Async(Req("DELETE", "/2015-03-31/functions/fn/aliases/live")).status, 204);
  ASSERT_EQ(Async(Req("DELETE", "/2015-03-31/functions/fn?Qualifier=1")).status, 204);
  EXPECT_EQ(OnReactor([&] { return invoker_.retired; }), (std::vector<std::string>{"fn:1"}));
}

TEST_F(LambdaApiVersionsTest, ConcurrencyOperationsReachTheInvoker) {
  MustCreate("fn");
  http::Response put = Async(Req("PUT", "/2017-10-31/functions/fn/concurrency",
                                 R"({"ReservedConcurrentExecutions":7})"));
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body, R"({"ReservedConcurrentExecutions":7})");
  EXPECT_EQ(OnReactor([&] { return invoker_.reserved_concurrency.at("fn"); }), 7);
  http::Response get = Blocking(Req("GET", "/2019-09-30/functions/fn/concurrency"));
  EXPECT_EQ(get.body, R"({"ReservedConcurrentExecutions":7})");
  http::Response fn = Blocking(Req("GET", "/2015-03-31/functions/fn"));
  EXPECT_EQ(Json(fn.body).at("Concurrency"), (json::value{{"ReservedConcurrentExecutions", 7}}));
  http::Response settings = Blocking(Req("GET", "/2016-08-19/account-settings"));
  EXPECT_EQ(Json(settings.body).at("AccountLimit").at("UnreservedConcurrentExecutions"),
            json::value(993));
  http::Response too_much = Blocking(Req("PUT", "/2017-10-31/functions/fn/concurrency",
                                         R"({"ReservedConcurrentExecutions":901})"));
  EXPECT_EQ(too_much.status, 400);
  EXPECT_EQ(too_much.body,
            R"({"Type":"User","message":"Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."})");
  ASSERT_EQ(Async(Req("DELETE", "/2017-10-31/functions/fn/concurrency")).status, 204);
  EXPECT_EQ(OnReactor([&] { return invoker_.reserved_concurrency.at("fn"); }), std::nullopt);

  ASSERT_EQ(Blocking(Req("POST", "/2015-03-31/functions/fn/versions", "{}")).status, 201);
  http::Response missing =
      Blocking(Req("GET", "/2019-09-30/functions/fn/provisioned-concurrency?Qualifier=1"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers.Get("x-amzn-ErrorType"),
            "ProvisionedConcurrencyConfigNotFoundException");
  http::Response pc = Async(Req("PUT", "/2019-09-30/functions/fn/provisioned-concurrency?Qualifier=1",
                                R"({"ProvisionedConcurrentExecutions":2})"));
  ASSERT_EQ(pc.status, 202) << pc.body;
  EXPECT_EQ(Json(pc.body).at("Status"), json::value("IN_PROGRESS"));
  EXPECT_EQ(OnReactor([&] { return invoker_.provisioned.at("fn:1"); }), 2);
  http::Response listed =
      Blocking(Req("GET", "/2019-09-30/functions/fn/provisioned-concurrency?List=ALL"));
  EXPECT_EQ(Json(listed.body).at("ProvisionedConcurrencyConfigs").at(0).at("FunctionArn"),
            json::value(std::string(kArn) + "fn:1"));
  ASSERT_EQ(Async(Req("DELETE", "/2019-09-30/functions/fn/provisioned-concurrency?Qualifier=1")).status,
            204);
  EXPECT_EQ(OnReactor([&] { return invoker_.provisioned.at("fn:1"); }), 0);
}

TEST_F(LambdaApiVersionsTest, TagsAndPolicyRoundTrip) {
  MustCreate("fn");
  std::string arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn";
  EXPECT_EQ(Blocking(Req("POST", "/2017-03-31/tags/" + arn, R"({"Tags":{"a":"1","b":"2"}})")).status,
            204);
  EXPECT_EQ(Blocking(Req("DELETE", "/2017-03-31/tags/" + arn + "?tagKeys=a")).status, 204);
  EXPECT_EQ(Blocking(Req("GET", "/2017-03-31/tags/" + arn)).body, R"({"Tags":{"b":"2"}})");
  http::Response added = Blocking(
      Req("POST", "/2015-03-31/functions/fn/policy",
          R"({"StatementId":"any","Action":"lambda:InvokeFunction","Principal":"*"})"));
  ASSERT_EQ(added.status, 201) << added.body;
  std::string statement(Json(added.body).at("Statement").as_string());
  EXPECT_EQ(statement, std::string(R"({"Sid":"any","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":")") +
                           kArn + R"(fn"})");
  http::Response policy = Blocking(Req("GET", "/2015-03-31/functions/fn/policy"));
  ASSERT_EQ(policy.status, 200);
  EXPECT_EQ(Json(policy.body).at("Policy"),
            json::value(R"({"Version":"2012-10-17","Id":"default","Statement":[)" + statement +
                        "]}"));
  EXPECT_EQ(Blocking(Req("DELETE", "/2015-03-31/functions/fn/policy/any")).status, 204);
  EXPECT_EQ(Blocking(Req("GET", "/2015-03-31/functions/fn/policy")).status, 404);
}

}  // namespace
}  // namespace nimbus::api
