#include "async/event_invoke_config_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "async/testing/fakes.h"

namespace nimbus::async {
namespace {

class EventInvokeConfigApiTest : public ::testing::Test {
 protected:
  EventInvokeConfigApiTest()
      : api_({journal_, configs_,
              [this](std::string_view name, std::string_view q) -> Result<control::FunctionSnapshot> {
                auto t = TargetOf(name, q);
                if (!functions_.contains(t.function) ||
                    (t.config_qualifier != "$LATEST" && t.config_qualifier != "live")) {
                  return NotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:" +
                                  t.function);
                }
                auto v = std::make_shared<control::FunctionVersion>();
                v->config.name = t.function;
                return control::FunctionSnapshot(v);
              },
              clock_, control::Region{}, [] { return std::string("rid"); }}) {}

  http::Response Call(const std::string& method, const std::string& target,
                      const std::string& body = "") {
    http::Request r;
    r.method = method;
    r.target = target;
    r.body = body;
    EXPECT_TRUE(EventInvokeConfigApi::Matches(r)) << target;
    std::optional<http::Response> out;
    api_.HandleAsync(r, [&](http::Response resp) { out = std::move(resp); });
    EXPECT_TRUE(out.has_value());
    return out.value_or(http::Response{});
  }
  static std::string Type(const http::Response& r) {
    return std::string(r.headers.Get("x-amzn-ErrorType").value_or(""));
  }
  static boost::json::object Json(const http::Response& r) {
    return boost::json::parse(r.body).as_object();
  }

  FakeClock clock_;
  testing::FakeJournal journal_;
  EventInvokeConfigs configs_;
  std::set<std::string> functions_{"f", "dest"};
  EventInvokeConfigApi api_;
};

constexpr char kPath[] = "/2019-09-25/functions/f/event-invoke-config";
constexpr char kDest[] = "arn:aws:lambda:us-east-1:000000000000:function:dest";

TEST(EventInvokeConfigApiMatches, TakesItsOwnPathsEvenPercentEncodedAndNothingElse) {
  auto matches = [](std::string target) {
    http::Request r;
    r.method = "GET";
    r.target = std::move(target);
    return EventInvokeConfigApi::Matches(r);
  };
  EXPECT_TRUE(matches("/2019-09-25/functions/f/event-invoke-config"));
  EXPECT_TRUE(matches("/2019-09-25/functions/f/event-invoke-config/list?MaxItems=1"));
  EXPECT_TRUE(matches("/%32019-09-25/functions/f/event-invoke-config"));
  EXPECT_TRUE(matches("/2019-09-25/functions/f/event%2Dinvoke-config"));
  EXPECT_FALSE(matches("/2015-03-31/functions/f/invocations"));
  EXPECT_FALSE(matches("/2019-09-25/functions/f/other"));
  EXPECT_FALSE(matches("/"));
  EXPECT_FALSE(matches(""));
}

TEST_F(EventInvokeConfigApiTest, PutReturnsTheConfigWithAQualifiedArnAndEpochSecondsAndGetReadsIt) {
  http::Response put = Call("PUT", kPath,
                            std::string(R"({"MaximumRetryAttempts":1,"DestinationConfig":{"OnFailure":{"Destination":")") +
                                kDest + R"("}}})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.headers.Get("x-amzn-RequestId"), "rid");
  EXPECT_TRUE(put.body.starts_with(R"({"LastModified":1714564800.000,)")) << put.body;
  boost::json::object o = Json(put);
  EXPECT_EQ(o["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST");
  EXPECT_EQ(o["MaximumRetryAttempts"], 1);
  EXPECT_FALSE(o.contains("MaximumEventAgeInSeconds"));
  EXPECT_EQ(o["DestinationConfig"], boost::json::parse(std::string(R"({"OnSuccess":{},"OnFailure":{"Destination":")") + kDest + R"("}})"));
  ASSERT_EQ(journal_.commits, 1);
  http::Response get = Call("GET", kPath);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, put.body);
}

TEST_F(EventInvokeConfigApiTest, PutReplacesButUpdateMerges) {
  ASSERT_EQ(Call("PUT", kPath, R"({"MaximumRetryAttempts":1,"MaximumEventAgeInSeconds":100})").status, 200);
  ASSERT_EQ(Call("POST", kPath, R"({"MaximumRetryAttempts":0})").status, 200);
  boost::json::object merged = Json(Call("GET", kPath));
  EXPECT_EQ(merged["MaximumRetryAttempts"], 0);
  EXPECT_EQ(merged["MaximumEventAgeInSeconds"], 100);
  ASSERT_EQ(Call("PUT", kPath, R"({"MaximumRetryAttempts":2})").status, 200);
  boost::json::object replaced = Json(Call("GET", kPath));
  EXPECT_FALSE(replaced.contains("MaximumEventAgeInSeconds"));
}

TEST_F(EventInvokeConfigApiTest, UpdateGetAndDeleteOfAMissingConfigAreNotFound) {
  http::Response r = Call("POST", kPath, R"({"MaximumRetryAttempts":0})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Type(r), "ResourceNotFoundException");
  EXPECT_EQ(Json(r)["Message"],
            "The function arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST doesn't have an "
            "EventInvokeConfig");
  EXPECT_EQ(Call("GET", kPath).status, 404);
  EXPECT_EQ(Call("DELETE", kPath).status, 404);
}

TEST_F(EventInvokeConfigApiTest, DeleteAnswers204AndTheConfigIsGone) {
  ASSERT_EQ(Call("PUT", kPath, R"({"MaximumRetryAttempts":0})").status, 200);
  EXPECT_EQ(Call("DELETE", kPath).status, 204);
  EXPECT_EQ(Call("GET", kPath).status, 404);
}

TEST_F(EventInvokeConfigApiTest, OutOfRangeValuesAreValidationExceptionsNamingEveryViolation) {
  http::Response r = Call("PUT", kPath, R"({"MaximumRetryAttempts":3,"MaximumEventAgeInSeconds":59})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Type(r), "ValidationException");
  EXPECT_EQ(Json(r)["Message"],
            "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
            "constraint: Member must have value less than or equal to 2; Value '59' at "
            "'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value "
            "greater than or equal to 60");
  EXPECT_EQ(Type(Call("PUT", kPath, R"({"MaximumEventAgeInSeconds":21601})")), "ValidationException");
  EXPECT_EQ(Type(Call("PUT", kPath, R"({"MaximumRetryAttempts":-1})")), "ValidationException");
  EXPECT_EQ(Call("PUT", kPath, R"({"MaximumEventAgeInSeconds":60})").status, 200);
  EXPECT_EQ(Call("PUT", kPath, R"({"MaximumEventAgeInSeconds":21600})").status, 200);
}

TEST_F(EventInvokeConfigApiTest, DestinationsAreCheckedAsLambdaDoes) {
  auto put = [&](const std::string& dest) {
    return Call("PUT", kPath, R"({"DestinationConfig":{"OnSuccess":{"Destination":")" + dest + R"("}}})");
  };
  http::Response self = put("arn:aws:lambda:us-east-1:000000000000:function:f");
  EXPECT_EQ(Type(self), "InvalidParameterValueException");
  EXPECT_EQ(Json(self)["message"], "You can't specify the function as a destination for itself.");
  EXPECT_EQ(Type(put("arn:aws:lambda:us-east-1:000000000000:function:nope")),
            "InvalidParameterValueException");
  EXPECT_EQ(Type(put("not-an-arn")), "ValidationException");
  http::Response s3 = put("arn:aws:s3:::bucket");
  EXPECT_EQ(Json(s3)["message"],
            "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
            "arn:aws:s3:::bucket), onFailure=null) is invalid.");
  EXPECT_EQ(put("arn:aws:sqs:us-east-1:000000000000:q").status, 200);
  EXPECT_EQ(Call("PUT", kPath, R"({"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:s3:::bucket"}}})").status, 200);
}

TEST_F(EventInvokeConfigApiTest, AnEmptyRequestAndAnUnknownFunctionAreRefused) {
  http::Response empty = Call("PUT", kPath, "{}");
  EXPECT_EQ(Type(empty), "InvalidParameterValueException");
  EXPECT_EQ(Json(empty)["message"],
            "You must specify at least one of error handling or destination setting.");
  http::Response unknown =
      Call("PUT", "/2019-09-25/functions/nope/event-invoke-config", R"({"MaximumRetryAttempts":0})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Type(Call("PUT", kPath, "{not json")), "InvalidRequestContentException");
}

TEST_F(EventInvokeConfigApiTest, QualifiersHaveTheirOwnConfigsAndListShowsThemAll) {
  ASSERT_EQ(Call("PUT", kPath, R"({"MaximumRetryAttempts":0})").status, 200);
  ASSERT_EQ(Call("PUT", std::string(kPath) + "?Qualifier=live", R"({"MaximumRetryAttempts":1})").status, 200);
  EXPECT_EQ(Json(Call("GET", "/2019-09-25/functions/f%3Alive/event-invoke-config"))["FunctionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f:live");
  boost::json::object list = Json(Call("GET", std::string(kPath) + "/list"));
  ASSERT_EQ(list["FunctionEventInvokeConfigs"].as_array().size(), 2u);
  EXPECT_FALSE(list.contains("NextMarker"));
  boost::json::object page = Json(Call("GET", std::string(kPath) + "/list?MaxItems=1"));
  ASSERT_EQ(page["FunctionEventInvokeConfigs"].as_array().size(), 1u);
  ASSERT_TRUE(page.contains("NextMarker"));
  boost::json::object rest = Json(Call(
      "GET", std::string(kPath) + "/list?MaxItems=1&Marker=" +
                 std::string(page["NextMarker"].as_string()).replace(0, 1, "%24")));
  ASSERT_EQ(rest["FunctionEventInvokeConfigs"].as_array().size(), 1u);
  EXPECT_EQ(rest["FunctionEventInvokeConfigs"].as_array()[0].at("FunctionArn"),
            "arn:aws:lambda:us-east-1:000000000000:function:f:live");
  EXPECT_EQ(Type(Call("GET", std::string(kPath) + "/list?MaxItems=51")), "ValidationException");
}

}  // namespace
}  // namespace nimbus::async
