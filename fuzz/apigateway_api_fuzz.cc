// The management APIs of gateway/ on any request: API Gateway v2 HTTP APIs
// (/v2/apis..., gateway/http_apis.h: APIs, quick create, integrations, routes,
// stages) and the Lambda API's function URL configs
// (/2021-10-31/functions/<name>/url[s], gateway/function_urls.h: CORS, auth
// type, qualifiers), through HandleApiSync, the core HandleApi() runs on the
// BlockingPool (api_fuzz.h says why), over real apis.db, urls.db and a
// control::Registry. A request goes where the server would send it: to HttpApis
// when HttpApis::MatchesApi, else to FunctionUrls when FunctionUrls::MatchesApi,
// else nowhere (the input is skipped). Checked: the response every API owes
// (api_fuzz.h). Invoking the APIs and URLs (HandleInvoke) is not covered: it
// needs the invoker and the reactor.
//
// Input: the request line "<METHOD> <target>", a newline, then the body. A
// line the server's HTTP parser would refuse (a method that is not a token, a
// target with spaces or control characters) is skipped.
// "@api", "@integration" and "@route" in the target or body are replaced by
// the ids of the seeded API, its integration and its route (ids are random, so
// the fuzzer could not name them otherwise).
//
// State, under <scratch>/apigateway: a registry holding function "fn" (version
// 1 and alias "live"), with a URL config on "fn" (AuthType NONE, CORS); and an
// HTTP API "seeded" quick-created on "fn" (an integration, route "GET
// /items/{id}", stage $default). Inputs create APIs, integrations, routes and
// URL configs, so everything is closed, emptied and seeded again every
// kResetEvery inputs, which bounds the databases and the in-memory indexes to
// what that many inputs can add however long the run. A failure that needs
// state an earlier input left may not replay on its own: replay the grown
// corpus (build-fuzz/fuzz-work/apigateway_api/corpus).
#include <boost/json.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "api_fuzz.h"
#include "base/blocking_pool.h"
#include "base/reactor.h"
#include "base/testing/fake_clock.h"
#include "control/registry.h"
#include "fuzz_input.h"
#include "gateway/function_urls.h"
#include "gateway/http_apis.h"
#include "http/message.h"
#include "invoke/invoker.h"
#include "storage/testing/zip_builder.h"

namespace {

namespace control = nimbus::control;
namespace fuzz = nimbus::fuzz;
namespace gateway = nimbus::gateway;
namespace http = nimbus::http;
namespace invoke = nimbus::invoke;

constexpr int kResetEvery = 1000;

// The management APIs never invoke: any call is a bug in the target's premise.
class NoInvoker final : public invoke::Invoker {
 public:
  void Invoke(invoke::InvokeRequest, invoke::InvokeCallback) override { Unexpected(); }
  void RetireFunction(const std::string&, const std::string&) override { Unexpected(); }
  void SetReservedConcurrency(const std::string&, std::optional<int>) override { Unexpected(); }
  void SetProvisionedConcurrency(control::FunctionSnapshot, const std::string&, int) override {
    Unexpected();
  }

 private:
  [[noreturn]] static void Unexpected() {
    NIMBUS_FUZZ_CHECK(false, "a management request reached the invoker");
    std::abort();
  }
};

// What the server's parser passes on: a method of token characters and a
// target without spaces or control characters (RFC 9110 5.6.2, 9112 3.2).
bool IsRequestLine(std::string_view method, std::string_view target) {
  constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
  if (method.empty() || target.empty()) return false;
  for (unsigned char c : method) {
    if (!std::isalnum(c) &&
        kTokenPunctuation.find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

http::Request Request(std::string method, std::string target, std::string body) {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers.Set("Host", "127.0.0.1:9000");
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

class Harness {
 public:
  Harness() : dir_(fuzz::ScratchDir("apigateway_api") / "apigateway") { Reset(); }

  // The server's routing (server.cc): HTTP APIs first, then URL configs.
  // Returns false when neither API would be given the request.
  bool Handle(const http::Request& r, http::Response* response) {
    if (gateway::HttpApis::MatchesApi(r)) {
      *response = apis_->HandleApiSync(r);
    } else if (gateway::FunctionUrls::MatchesApi(r)) {
      *response = urls_->HandleApiSync(r);
    } else {
      return false;
    }
    return true;
  }

  void Substitute(std::string& s) const {
    fuzz::ReplaceAll(s, "@api", api_id_);
    fuzz::ReplaceAll(s, "@integration", integration_id_);
    fuzz::ReplaceAll(s, "@route", route_id_);
  }

  void MaybeReset() {
    if (++inputs_ % kResetEvery == 0) Reset();
  }

 private:
  void Reset() {
    urls_.reset();
    apis_.reset();
    registry_.reset();
    fuzz::EmptyDir(dir_);

    auto r = control::Registry::Open(control::RegistryOptions{dir_ / "registry", {}}, clock_);
    NIMBUS_FUZZ_CHECK(r.has_value(), "opening the registry");
    registry_ = std::move(r).value();
    control::CreateFunctionRequest f;
    f.function_name = "fn";
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.role = "arn:aws:iam::123456789012:role/lambda-role";
    f.zip_file = nimbus::storage::testing::ZipBuilder()
                     .File("app.py", "def handler(e, c):\n  return 1\n")
                     .Build();
    NIMBUS_FUZZ_CHECK(registry_->CreateFunction(std::move(f)).has_value(), "creating fn");
    NIMBUS_FUZZ_CHECK(registry_->PublishVersion({.function_name = "fn"}).has_value(),
                      "publishing fn");
    NIMBUS_FUZZ_CHECK(
        registry_->CreateAlias({.function_name = "fn", .name = "live", .function_version = "1"})
            .has_value(),
        "creating alias live");

    auto a = gateway::HttpApis::Open(
        dir_ / "apis.db",
        gateway::HttpApisDeps{reactor_, pool_, *registry_, invoker_, control::Region{}});
    NIMBUS_FUZZ_CHECK(a.has_value(), "opening apis.db");
    apis_ = std::move(a).value();
    auto u = gateway::FunctionUrls::Open(
        dir_ / "urls.db",
        gateway::FunctionUrlsDeps{reactor_, pool_, *registry_, invoker_, control::Region{}, {}});
    NIMBUS_FUZZ_CHECK(u.has_value(), "opening urls.db");
    urls_ = std::move(u).value();

    boost::json::value api =
        Seed("POST", "/v2/apis",
             R"({"name":"seeded","protocolType":"HTTP","routeKey":"GET /items/{id}",)"
             R"("target":"arn:aws:lambda:us-east-1:000000000000:function:fn"})");
    api_id_ = api.at("apiId").as_string().c_str();
    boost::json::value integrations = Seed("GET", "/v2/apis/" + api_id_ + "/integrations", "");
    integration_id_ = integrations.at("items").at(0).at("integrationId").as_string().c_str();
    boost::json::value routes = Seed("GET", "/v2/apis/" + api_id_ + "/routes", "");
    route_id_ = routes.at("items").at(0).at("routeId").as_string().c_str();
    Seed("POST", "/2021-10-31/functions/fn/url",
         R"({"AuthType":"NONE","Cors":{"AllowOrigins":["https://example.com"],)"
         R"("AllowMethods":["GET"],"MaxAge":60}})");
  }

  boost::json::value Seed(std::string method, std::string target, std::string body) {
    http::Response response;
    NIMBUS_FUZZ_CHECK(
        Handle(Request(std::move(method), std::move(target), std::move(body)), &response),
        "a seeding request is routed");
    NIMBUS_FUZZ_CHECK(response.status == 200 || response.status == 201, response.body.c_str());
    return boost::json::parse(response.body);
  }

  const std::filesystem::path dir_;
  nimbus::FakeClock clock_;
  // Unused by HandleApiSync; the deps take them.
  nimbus::Reactor reactor_{"gateway-fuzz-reactor"};
  nimbus::BlockingPool pool_{"gateway-fuzz", 1};
  NoInvoker invoker_;
  std::unique_ptr<control::Registry> registry_;
  std::unique_ptr<gateway::HttpApis> apis_;
  std::unique_ptr<gateway::FunctionUrls> urls_;
  std::string api_id_, integration_id_, route_id_;
  int inputs_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  std::string text(fuzz::AsText(data, size));
  harness.Substitute(text);
  const size_t eol = text.find('\n');
  const std::string line = text.substr(0, eol);
  const size_t space = line.find(' ');
  if (space == std::string::npos) return 0;
  if (!IsRequestLine(line.substr(0, space), line.substr(space + 1))) return 0;
  http::Request request = Request(line.substr(0, space), line.substr(space + 1),
                                  eol == std::string::npos ? std::string() : text.substr(eol + 1));
  http::Response response;
  if (!harness.Handle(request, &response)) return 0;
  fuzz::CheckResponse(response);
  harness.MaybeReset();
  return 0;
}
