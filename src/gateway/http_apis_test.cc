#include "gateway/http_apis.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/blocking_pool.h"
#include "base/encoding.h"
#include "base/reactor.h"
#include "base/testing/fake_clock.h"
#include "control/registry.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::gateway {
namespace {

TEST(HttpApiRoutesTest, LiteralsBeatParametersBeatGreedyAndDefaultCatchesTheRest) {
  HttpApi api;
  api.routes = {{"r1", "GET /items/{id}", ""},   {"r2", "GET /items/special", ""}, {"r3", "ANY /files/{proxy+}", ""},
                {"r4", "POST /items", ""},        {"r5", "$default", ""},           {"r6", "ANY /items/{id}", ""}};
  std::map<std::string, std::string> p;
  EXPECT_EQ(HttpApis::Match(api, "GET", "/items/42", &p)->id, "r1");
  EXPECT_EQ(p["id"], "42");
  EXPECT_EQ(HttpApis::Match(api, "GET", "/items/special", &p)->id, "r2");
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(HttpApis::Match(api, "DELETE", "/items/7", &p)->id, "r6") << "ANY when the method has no route";
  EXPECT_EQ(HttpApis::Match(api, "PUT", "/files/a/b/c.txt", &p)->id, "r3");
  EXPECT_EQ(p["proxy"], "a/b/c.txt");
  EXPECT_EQ(HttpApis::Match(api, "POST", "/items", &p)->id, "r4");
  EXPECT_EQ(HttpApis::Match(api, "GET", "/nothing/here", &p)->id, "r5");
  api.routes.pop_back();
  api.routes.erase(api.routes.begin() + 4);
  EXPECT_EQ(HttpApis::Match(api, "GET", "/nothing/here", &p), nullptr);
  EXPECT_EQ(HttpApis::Match(api, "GET", "/items/42/extra", &p), nullptr);
}

// The management API never invokes; any call fails the test.
class NoInvoker final : public invoke::Invoker {
 public:
  void Invoke(invoke::InvokeRequest, invoke::InvokeCallback) override { ADD_FAILURE(); }
  void RetireFunction(const std::string&, const std::string&) override { ADD_FAILURE(); }
  void SetReservedConcurrency(const std::string&, std::optional<int>) override { ADD_FAILURE(); }
  void SetProvisionedConcurrency(control::FunctionSnapshot, const std::string&, int) override {
    ADD_FAILURE();
  }
};

// Found by fuzz/apigateway_api: "Nimbus does not serve POST <path>" echoed the
// path's raw bytes into the JSON body, which no SDK parses when they are not UTF-8.
TEST(HttpApisTest, AnErrorEchoingAPathThatIsNotUtf8IsStillJson) {
  storage::testing::TempDir dir;
  FakeClock clock;
  auto registry = control::Registry::Open(control::RegistryOptions{dir.path() / "registry", {}}, clock);
  ASSERT_TRUE(registry.has_value()) << registry.error().ToString();
  Reactor reactor("http-apis-test");
  BlockingPool pool("http-apis-test", 1);
  NoInvoker invoker;
  auto apis = HttpApis::Open(dir.path() / "apis.db",
                             HttpApisDeps{reactor, pool, **registry, invoker, control::Region{}});
  ASSERT_TRUE(apis.has_value()) << apis.error().ToString();
  http::Request created;
  created.method = "POST";
  created.target = "/v2/apis";
  created.body = R"({"name":"a","protocolType":"HTTP"})";
  http::Response r = (*apis)->HandleApiSync(created);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(boost::json::parse(r.body).at("apiId").as_string());

  http::Request odd;
  odd.method = "POST";
  odd.target = "/v2/apis/" + id + "/integrati\x92\xdd";
  r = (*apis)->HandleApiSync(odd);
  EXPECT_EQ(r.status, 404);
  ASSERT_TRUE(IsValidUtf8(r.body)) << r.body;
  EXPECT_EQ(boost::json::parse(r.body).at("message").as_string(),
            "Nimbus does not serve POST /v2/apis/" + id + "/integrati\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace nimbus::gateway
