#include "gateway/payload_v2.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace nimbus::gateway {
namespace {

namespace json = boost::json;

TEST(EventV2Test, LowerCasesHeadersSeparatesCookiesAndJoinsRepeatedParameters) {
  http::Request r;
  r.method = "POST";
  r.target = "/items/42?a=1&a=2&b=x";
  r.body = "{\"k\":\"v\"}";
  r.remote_address = "127.0.0.1";
  r.headers.Add("Host", "abc.lambda-url.localhost:9000");
  r.headers.Add("Content-Type", "application/json");
  r.headers.Add("X-Multi", "one");
  r.headers.Add("x-multi", "two");
  r.headers.Add("Cookie", "c1=v1; c2=v2");
  EventV2Context c;
  c.api_id = "abc";
  c.domain_name = "abc.lambda-url.localhost";
  c.account_id = "anonymous";
  c.request_id = "req";
  c.raw_path = "/items/42";
  json::object e = json::parse(EventV2(r, c)).as_object();
  EXPECT_EQ(e["version"], "2.0");
  EXPECT_EQ(e["routeKey"], "$default");
  EXPECT_EQ(e["rawPath"], "/items/42");
  EXPECT_EQ(e["rawQueryString"], "a=1&a=2&b=x");
  EXPECT_EQ(e["cookies"], (json::array{"c1=v1", "c2=v2"}));
  EXPECT_EQ(e["headers"].as_object()["x-multi"], "one,two");
  EXPECT_FALSE(e["headers"].as_object().contains("cookie"));
  EXPECT_EQ(e["queryStringParameters"], (json::object{{"a", "1,2"}, {"b", "x"}}));
  EXPECT_EQ(e["body"], "{\"k\":\"v\"}");
  EXPECT_EQ(e["isBase64Encoded"], false);
  auto& rc = e["requestContext"].as_object();
  EXPECT_EQ(rc["apiId"], "abc");
  EXPECT_EQ(rc["domainPrefix"], "abc");
  EXPECT_EQ(rc["accountId"], "anonymous");
  EXPECT_EQ(rc["http"].as_object()["method"], "POST");
  // A binary body travels in base64.
  r.headers.Set("Content-Type", "application/octet-stream");
  r.body = std::string("\x00\xff", 2);
  json::object b = json::parse(EventV2(r, c)).as_object();
  EXPECT_EQ(b["body"], "AP8=");
  EXPECT_EQ(b["isBase64Encoded"], true);
}

TEST(ResponseFromV2Test, TakesAnHttpShapeAsItIsAndAnythingElseAsAJsonBody) {
  http::Response r = ResponseFromV2(
      R"({"statusCode":201,"headers":{"x-a":"1"},"cookies":["s=1; HttpOnly"],"body":"aGk=","isBase64Encoded":true})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(r.headers.Get("x-a").value_or(""), "1");
  EXPECT_EQ(r.headers.Get("Set-Cookie").value_or(""), "s=1; HttpOnly");
  r = ResponseFromV2(R"({"hello":"world"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"hello":"world"})");
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
  r = ResponseFromV2(R"("plain")");
  EXPECT_EQ(r.body, "plain");
}

TEST(AddressOfTest, TakesTheIdFromTheHostOrFromThePathFallback) {
  http::Request r;
  r.target = "/items/1?x=2";
  r.headers.Set("Host", "abc.lambda-url.localhost:9000");
  Addressed a = AddressOf(r, ".lambda-url.localhost", "/lambda-url/");
  EXPECT_EQ(a.id, "abc");
  EXPECT_EQ(a.path, "/items/1");
  EXPECT_EQ(a.domain, "abc.lambda-url.localhost");
  r.headers.Set("Host", "127.0.0.1:9000");
  r.target = "/lambda-url/xyz/items";
  a = AddressOf(r, ".lambda-url.localhost", "/lambda-url/");
  EXPECT_EQ(a.id, "xyz");
  EXPECT_EQ(a.path, "/items");
  r.target = "/lambda-url/xyz";
  EXPECT_EQ(AddressOf(r, ".lambda-url.localhost", "/lambda-url/").path, "/");
  r.target = "/2015-03-31/functions";
  EXPECT_EQ(AddressOf(r, ".lambda-url.localhost", "/lambda-url/").id, "");
}

}  // namespace
}  // namespace nimbus::gateway
