// The Lambda control plane (api/lambda_api.h) on any request: functions
// (CreateFunction, Get, GetFunctionConfiguration, UpdateFunctionConfiguration,
// UpdateFunctionCode, Delete, ListFunctions with Marker, MaxItems and
// FunctionVersion), versions (PublishVersion, ListVersionsByFunction), aliases,
// resource-based policies (AddPermission's JSON, GetPolicy, RemovePermission),
// tags, layers (PublishLayerVersion, Get/List/Delete, find=LayerVersion),
// reserved and provisioned concurrency, account settings and the code package
// route, through LambdaApi::HandleBlocking (the blocking core HandleAsync runs
// on the BlockingPool) over a real control::Registry; the invoker updates each
// reply asks for are then applied, as HandleAsync does on the reactor. An Invoke
// (or the legacy InvokeAsync) goes through LambdaApi::PrepareInvoke instead:
// its validation (qualifier, X-Amz-Invocation-Type, X-Amz-Log-Type,
// X-Amz-Client-Context, payload size) and the function's resolution, in memory;
// nothing is invoked, since that needs sandboxes. A request LambdaApi::Matches
// refuses (the server would route it elsewhere) is skipped.
//
// Checked: the response every API owes (api_fuzz.h: a 200..599 status, a body
// on a 4xx, JSON that parses), an x-amzn-RequestId on every response, and on
// every error an x-amzn-ErrorType and a JSON object saying why ("message" or
// "Message"), which is what the SDKs read.
//
// Input: a request as text (fuzz::ParseRequest in api_fuzz.h): the line
// "<METHOD> <target>", header lines "<Name>: <value>", an empty line, the body.
// A request the server's HTTP parser would refuse is skipped. "@zip" anywhere is
// replaced by the base64 of a small valid zip (app.py), and "@revision" by the
// current RevisionId of "fn" at $LATEST: the fuzzer could build neither.
//
// State, under <scratch>/lambda: a registry holding function "fn" (tagged,
// with an environment, version 1, alias "live", a policy statement "s3" and
// reserved concurrency 5) and layer "lib" version 1. Inputs create functions,
// versions, aliases and layers (each function or layer version unpacks its zip
// to disk), so the registry is closed, emptied and seeded again every
// kResetEvery inputs and a body is cut to kMaxBody bytes, which bounds the
// store to what that many inputs can add (a few MB at the default -max_len)
// however long the run. A failure that needs state an earlier input left may
// not replay on its own: replay the grown corpus
// (build-fuzz/fuzz-work/lambda_api/corpus).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/encoding.h"
#include "base/reactor.h"
#include "base/testing/fake_clock.h"
#include "control/registry.h"
#include "fuzz_input.h"
#include "http/message.h"
#include "invoke/invoker.h"
#include "storage/testing/zip_builder.h"

namespace {

namespace api = nimbus::api;
namespace control = nimbus::control;
namespace fuzz = nimbus::fuzz;
namespace http = nimbus::http;
namespace invoke = nimbus::invoke;

constexpr int kResetEvery = 1000;
constexpr size_t kMaxBody = 64 * 1024;
constexpr char kRequestId[] = "fuzz-request";

// Takes the updates the control plane sends after a reply (retirements,
// concurrency); an Invoke is never made: any call is a bug in the target.
class UpdateOnlyInvoker final : public invoke::Invoker {
 public:
  void Invoke(invoke::InvokeRequest, invoke::InvokeCallback) override {
    NIMBUS_FUZZ_CHECK(false, "a control-plane request reached Invoker::Invoke");
    std::abort();
  }
  void RetireFunction(const std::string&, const std::string&) override {}
  void SetReservedConcurrency(const std::string&, std::optional<int>) override {}
  void SetProvisionedConcurrency(control::FunctionSnapshot version, const std::string&,
                                 int count) override {
    NIMBUS_FUZZ_CHECK(version != nullptr, "provisioned concurrency names a version");
    NIMBUS_FUZZ_CHECK(count >= 0, "provisioned concurrency is not negative");
  }
};

void CheckLambdaResponse(const http::Response& r) {
  fuzz::CheckResponse(r);
  NIMBUS_FUZZ_CHECK(
      r.headers.Get("x-amzn-RequestId") == std::optional<std::string_view>(kRequestId),
      "every response carries x-amzn-RequestId");
  if (r.status < 400) return;
  NIMBUS_FUZZ_CHECK(!r.headers.Get("x-amzn-ErrorType").value_or("").empty(),
                    "an error names its type in x-amzn-ErrorType");
  NIMBUS_FUZZ_CHECK(
      r.headers.Get("Content-Type") == std::optional<std::string_view>("application/json"),
      "an error is JSON");
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(r.body, ec);
  NIMBUS_FUZZ_CHECK(!ec && body.is_object(), "an error body is a JSON object");
  const boost::json::object& o = body.as_object();
  const boost::json::value* message = o.if_contains("message");
  if (message == nullptr) message = o.if_contains("Message");
  NIMBUS_FUZZ_CHECK(message != nullptr && message->is_string(), "an error body says why");
}

class Harness {
 public:
  Harness()
      : dir_(fuzz::ScratchDir("lambda_api") / "lambda"),
        zip_(nimbus::Base64Encode(nimbus::storage::testing::ZipBuilder()
                                      .File("app.py", "def handler(e, c):\n  return 1\n")
                                      .Build())) {
    Reset();
  }

  void Substitute(std::string& s) const {
    fuzz::ReplaceAll(s, "@zip", zip_);
    if (s.find("@revision") == std::string::npos) return;
    auto fn = registry_->Resolve("fn");
    fuzz::ReplaceAll(s, "@revision", fn.has_value() ? (*fn)->config.revision_id : "");
  }

  // Serves `r` as the server does once it has routed it to the Lambda API.
  http::Response Handle(const http::Request& r) {
    if (api::LambdaApi::IsInvoke(r)) {
      api::ApiResult<api::PreparedInvoke> prepared = api_->PrepareInvoke(r, kRequestId);
      if (!prepared.ok()) {
        return api::WithStandardHeaders(api::ErrorResponse(prepared.error()), kRequestId);
      }
      NIMBUS_FUZZ_CHECK(prepared->request.function != nullptr, "an invoke resolves a function");
      return api::WithStandardHeaders(http::Response::Json(200, "{}"), kRequestId);
    }
    api::ControlReply reply = api_->HandleBlocking(r, kRequestId);
    for (const api::InvokerUpdate& update : reply.invoker_updates) update(invoker_);
    return std::move(reply.response);
  }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    api_.reset();
    registry_.reset();
    fuzz::EmptyDir(dir_);
    auto r = control::Registry::Open(control::RegistryOptions{dir_ / "registry", {}}, clock_);
    NIMBUS_FUZZ_CHECK(r.has_value(), "opening the registry");
    registry_ = std::move(r).value();
    api_ = std::make_unique<api::LambdaApi>(
        api::LambdaApi::Deps{*registry_, invoker_, pool_, reactor_, clock_, control::Region{},
                             nullptr, nullptr, nullptr});
    Seed("POST", "/2018-10-31/layers/lib/versions",
         R"({"Content":{"ZipFile":")" + zip_ + R"("},"CompatibleRuntimes":["python3.12"]})");
    Seed("POST", "/2015-03-31/functions",
         R"({"FunctionName":"fn","Runtime":"python3.12","Handler":"app.handler",)"
         R"("Role":"arn:aws:iam::123456789012:role/lambda-role","Code":{"ZipFile":")" +
             zip_ +
             R"("},"Tags":{"team":"a"},"Environment":{"Variables":{"KEY":"v"}},)"
             R"("Layers":["arn:aws:lambda:us-east-1:000000000000:layer:lib:1"]})");
    Seed("POST", "/2015-03-31/functions/fn/versions", "{}");
    Seed("POST", "/2015-03-31/functions/fn/aliases", R"({"Name":"live","FunctionVersion":"1"})");
    Seed("POST", "/2015-03-31/functions/fn/policy",
         R"({"StatementId":"s3","Action":"lambda:InvokeFunction","Principal":"s3.amazonaws.com"})");
    Seed("PUT", "/2017-10-31/functions/fn/concurrency", R"({"ReservedConcurrentExecutions":5})");
  }

  void Seed(std::string method, std::string target, std::string body) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.Set("Host", "127.0.0.1:9000");
    r.body = std::move(body);
    http::Response response = Handle(r);
    NIMBUS_FUZZ_CHECK(response.status == 200 || response.status == 201, response.body.c_str());
  }

  const std::filesystem::path dir_;
  const std::string zip_;  // base64
  nimbus::FakeClock clock_;
  // Unused by HandleBlocking and PrepareInvoke; LambdaApi's Deps take them.
  nimbus::Reactor reactor_{"lambda-fuzz-reactor"};
  nimbus::BlockingPool pool_{"lambda-fuzz", 1};
  UpdateOnlyInvoker invoker_;
  std::unique_ptr<control::Registry> registry_;
  std::unique_ptr<api::LambdaApi> api_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  std::string text(fuzz::AsText(data, size));
  harness.Substitute(text);
  std::optional<http::Request> request = fuzz::ParseRequest(text, "127.0.0.1:9000", kMaxBody);
  if (!request || !nimbus::api::LambdaApi::Matches(*request)) return 0;
  CheckLambdaResponse(harness.Handle(*request));
  harness.MaybeReset();
  return 0;
}
