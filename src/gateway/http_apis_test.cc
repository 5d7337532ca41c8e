#include "gateway/http_apis.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nimbus::gateway
