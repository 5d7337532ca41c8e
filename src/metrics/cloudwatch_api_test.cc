#include "metrics/cloudwatch_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/testing/fake_clock.h"
#include "metrics/cbor.h"
#include "storage/testing/temp_dir.h"

namespace nimbus::metrics {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

// FakeClock's now: 2024-05-01T12:00:00Z.
constexpr int64_t kNow = 1714564800;
constexpr int64_t kNowMinute = kNow / 60;
const std::string kStart = std::to_string(kNow - 300);  // 11:55:00
const std::string kEnd = std::to_string(kNow);          // 12:00:00

constexpr char kSignedForMonitoring[] =
    "AWS4-HMAC-SHA256 Credential=test/20240501/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=00";

class CloudWatchApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = MetricsStore::Open(dir_.path() / "metrics.db");
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    // Function f: 10 calls a minute from 11:55 to 11:59, lasting 1..5 ms by minute,
    // one failing at 11:59; 4 of each of the last two minutes' through alias "live".
    std::map<std::pair<SeriesKey, int64_t>, MinuteStats> minutes;
    for (int64_t i = 0; i < 5; ++i) {
      minutes[{SeriesKey{"f", ""}, kNowMinute - 5 + i}] = Calls(10, i == 4 ? 1 : 0, static_cast<double>(i + 1));
    }
    minutes[{SeriesKey{"f", "f:live"}, kNowMinute - 2}] = Calls(4, 0, 10);
    minutes[{SeriesKey{"f", "f:live"}, kNowMinute - 1}] = Calls(4, 0, 10);
    ASSERT_TRUE(store_->Write(minutes, 1).ok());
    api_ = std::make_unique<CloudWatchApi>(*store_, pool_, clock_);
  }

  static MinuteStats Calls(uint64_t n, uint64_t errors, double ms) {
    MinuteStats s;
    s.invocations = n;
    s.errors = errors;
    s.duration_sum_ms = ms * static_cast<double>(n);
    s.duration_min_ms = s.duration_max_ms = ms;
    for (uint64_t i = 0; i < n; ++i) s.durations.Observe(ms);
    s.max_concurrency = 1;
    return s;
  }

  http::Response Json(const std::string& op, const std::string& body) {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.body = body;
    r.headers.Set("Authorization", kSignedForMonitoring);
    r.headers.Set("Content-Type", "application/x-amz-json-1.0");
    r.headers.Set("X-Amz-Target", "GraniteServiceVersion20100801." + op);
    EXPECT_TRUE(CloudWatchApi::Matches(r));
    return api_->HandleSync(r);
  }
  http::Response Query(const std::string& form) {
    http::Request r;
    r.method = "POST";
    r.target = "/";
    r.body = form;
    r.headers.Set("Authorization", kSignedForMonitoring);
    r.headers.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    EXPECT_TRUE(CloudWatchApi::Matches(r));
    return api_->HandleSync(r);
  }
  // `input` as JSON; StartTime and EndTime (epoch seconds) are sent as tag-1 timestamps.
  http::Response Cbor(const std::string& op, const std::string& input) {
    http::Request r;
    r.method = "POST";
    r.target = "/service/GraniteServiceVersion20100801/operation/" + op;
    r.body = JsonToCbor(json::parse(input), {"StartTime", "EndTime"});
    r.headers.Set("Authorization", kSignedForMonitoring);
    r.headers.Set("smithy-protocol", "rpc-v2-cbor");
    r.headers.Set("Content-Type", "application/cbor");
    r.headers.Set("Accept", "application/cbor");
    EXPECT_TRUE(CloudWatchApi::Matches(r));
    return api_->HandleSync(r);
  }
  static json::value JsonBody(const http::Response& r) {
    EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/x-amz-json-1.0");
    return json::parse(r.body);
  }
  static json::value CborBody(const http::Response& r) {
    EXPECT_EQ(r.headers.Get("smithy-protocol").value_or(""), "rpc-v2-cbor");
    EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/cbor");
    auto v = CborToJson(r.body);
    EXPECT_TRUE(v.has_value()) << v.error().ToString();
    return v.has_value() ? *v : json::value();
  }

  static std::string Statistics(const std::string& metric, const std::string& dimensions, const std::string& period,
                                const std::string& stats) {
    return R"({"Namespace":"AWS/Lambda","MetricName":")" + metric + R"(","Dimensions":)" + dimensions +
           R"(,"StartTime":)" + kStart + R"(,"EndTime":)" + kEnd + R"(,"Period":)" + period + "," + stats + "}";
  }
  static constexpr char kF[] = R"([{"Name":"FunctionName","Value":"f"}])";

  storage::testing::TempDir dir_;
  BlockingPool pool_{"cwtest", 1};
  FakeClock clock_;
  std::unique_ptr<MetricsStore> store_;
  std::unique_ptr<CloudWatchApi> api_;
};

TEST_F(CloudWatchApiTest, MatchesRequestsSignedForMonitoringOrCarryingItsTargetOrPath) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Authorization", kSignedForMonitoring);
  EXPECT_TRUE(CloudWatchApi::Matches(r));
  r.headers.Set("Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240501/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00");
  r.headers.Set("X-Amz-Target", "GraniteServiceVersion20100801.ListMetrics");
  EXPECT_FALSE(CloudWatchApi::Matches(r));  // the signature's service decides
  r.headers.Remove("Authorization");
  EXPECT_TRUE(CloudWatchApi::Matches(r));
  r.headers.Remove("X-Amz-Target");
  EXPECT_FALSE(CloudWatchApi::Matches(r));
  r.target = "/service/GraniteServiceVersion20100801/operation/ListMetrics";
  EXPECT_TRUE(CloudWatchApi::Matches(r));
}

TEST_F(CloudWatchApiTest, GetMetricStatisticsOverJsonSumsInvocationsErrorsAndDurations) {
  auto r = Json("GetMetricStatistics", Statistics("Invocations", kF, "300", R"("Statistics":["Sum","SampleCount"])"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonBody(r), json::parse(R"({"Label":"Invocations","Datapoints":[
      {"Timestamp":1714564500,"Sum":50.0,"SampleCount":50.0,"Unit":"Count"}]})"));

  r = Json("GetMetricStatistics", Statistics("Errors", kF, "60", R"("Statistics":["Sum"])"));
  json::value v = JsonBody(r);
  ASSERT_EQ(v.at("Datapoints").as_array().size(), 5u) << r.body;
  EXPECT_EQ(v.at("Datapoints").at(4).at("Timestamp"), kNow - 60);
  EXPECT_EQ(v.at("Datapoints").at(4).at("Sum").to_number<double>(), 1);
  EXPECT_EQ(v.at("Datapoints").at(0).at("Sum").to_number<double>(), 0);

  r = Json("GetMetricStatistics", Statistics("Duration", kF, "300", R"("ExtendedStatistics":["p50","p99"])"));
  v = JsonBody(r);
  ASSERT_EQ(v.at("Datapoints").as_array().size(), 1u) << r.body;
  const json::value& d = v.at("Datapoints").at(0);
  EXPECT_EQ(d.at("Unit"), "Milliseconds");
  EXPECT_NEAR(d.at("ExtendedStatistics").at("p50").to_number<double>(), 3, 0.1);
  EXPECT_NEAR(d.at("ExtendedStatistics").at("p99").to_number<double>(), 5, 0.1);
  EXPECT_FALSE(d.as_object().contains("Sum"));

  // Through the alias: the Resource dimension.
  r = Json("GetMetricStatistics",
           Statistics("Invocations", R"([{"Name":"FunctionName","Value":"f"},{"Name":"Resource","Value":"f:live"}])",
                      "300", R"("Statistics":["Sum"])"));
  EXPECT_EQ(JsonBody(r).at("Datapoints").at(0).at("Sum").to_number<double>(), 8) << r.body;
}

TEST_F(CloudWatchApiTest, GetMetricStatisticsOverTheQueryProtocolAnswersCloudWatchXml) {
  auto r = Query(
      "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FLambda&MetricName=Duration"
      "&Dimensions.member.1.Name=FunctionName&Dimensions.member.1.Value=f"
      "&StartTime=2024-05-01T11%3A55%3A00Z&EndTime=2024-05-01T12%3A00%3A00.000000Z&Period=300"
      "&ExtendedStatistics.member.1=p99");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "text/xml");
  EXPECT_THAT(r.body, HasSubstr(R"(<GetMetricStatisticsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">)"
                                "<GetMetricStatisticsResult><Label>Duration</Label><Datapoints><member>"
                                "<Timestamp>2024-05-01T11:55:00Z</Timestamp><Unit>Milliseconds</Unit>"
                                "<ExtendedStatistics><entry><key>p99</key><value>"));
  EXPECT_THAT(r.body, HasSubstr("</Datapoints></GetMetricStatisticsResult><ResponseMetadata><RequestId>"));

  r = Query(
      "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FLambda&MetricName=Invocations"
      "&Dimensions.member.1.Name=FunctionName&Dimensions.member.1.Value=f"
      "&StartTime=2024-05-01T13%3A55%3A00%2B02%3A00&EndTime=2024-05-01T12%3A00%3A00Z&Period=300"
      "&Statistics.member.1=Sum&Statistics.member.2=Average");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<member><Timestamp>2024-05-01T11:55:00Z</Timestamp><Sum>50</Sum><Average>1</Average>"
                                "<Unit>Count</Unit></member>"));
}

// Found by fuzz/cloudwatch_api: a top-level key "member.2" turned the whole input
// into a list, then reading it as a structure threw and the uncaught exception
// ended the daemon.
TEST_F(CloudWatchApiTest, AQueryKeyStartingWithMemberIsAnUnknownParameterNotACrash) {
  auto r = Query(
      "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FLambda&MetricName=Invocations"
      "&Dimensions.member.1.Name=FunctionName&Dimensions.member.1.Value=f"
      "&StartTime=2024-05-01T11%3A55%3A00Z&EndTime=2024-05-01T12%3A00%3A00Z&Period=300"
      "&Statistics.member.1=Sum&member.2=SampleCount");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<Sum>50</Sum>"));
  r = Query("member.1=x&Action=ListMetrics&Version=2010-08-01");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(CloudWatchApiTest, GetMetricStatisticsOverCborAnswersTaggedTimestamps) {
  auto r = Cbor("GetMetricStatistics", Statistics("Invocations", kF, "300", R"("Statistics":["Sum"])"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(CborBody(r), json::parse(R"({"Label":"Invocations","Datapoints":[
      {"Timestamp":1714564500.0,"Sum":50.0,"Unit":"Count"}]})"));
  // "Timestamp": 1(1714564500.0), a tag over a double.
  EXPECT_THAT(r.body, HasSubstr(std::string("Timestamp\xc1\xfb", 11)));
}

TEST_F(CloudWatchApiTest, MetricsThatDoNotExistHereAnswerNoDatapoints) {
  for (const std::string& body : std::vector<std::string>{
           // Another namespace.
           R"({"Namespace":"AWS/EC2","MetricName":"Invocations","Dimensions":[{"Name":"FunctionName","Value":"f"}],)"
           R"("StartTime":1714564500,"EndTime":1714564800,"Period":60,"Statistics":["Sum"]})",
           // A metric Nimbus does not keep.
           Statistics("CPUUtilization", kF, "60", R"("Statistics":["Sum"])"),
           // A dimension set Lambda does not publish.
           Statistics("Invocations", R"([{"Name":"FunctionName","Value":"f"},{"Name":"ExecutedVersion","Value":"1"}])",
                      "60", R"("Statistics":["Sum"])"),
           // Another function.
           Statistics("Invocations", R"([{"Name":"FunctionName","Value":"g"}])", "60", R"("Statistics":["Sum"])"),
           // Another unit.
           Statistics("Invocations", kF, "60", R"("Statistics":["Sum"],"Unit":"Seconds")"),
       }) {
    auto r = Json("GetMetricStatistics", body);
    ASSERT_EQ(r.status, 200) << body << "\n" << r.body;
    EXPECT_EQ(JsonBody(r).at("Datapoints"), json::array()) << body;
  }
}

TEST_F(CloudWatchApiTest, GetMetricStatisticsRefusesBadInputAsCloudWatchDoes) {
  struct Case {
    std::string body, code, message;
  };
  const Case cases[] = {
      {Statistics("Invocations", kF, "90", R"("Statistics":["Sum"])"), "InvalidParameterValue",
       "The parameter Period must be a multiple of 60"},
      {Statistics("Invocations", kF, "0", R"("Statistics":["Sum"])"), "InvalidParameterValue", "Period"},
      {R"({"MetricName":"Invocations","StartTime":1,"EndTime":2,"Period":60,"Statistics":["Sum"]})", "MissingParameter",
       "The parameter Namespace is required."},
      {Statistics("Invocations", kF, "60", R"("Statistics":["Sum"],"ExtendedStatistics":["p99"])"),
       "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both."},
      {Statistics("Invocations", kF, "60", R"("Statistics":[])"), "InvalidParameterCombination", "Must specify"},
      {Statistics("Invocations", kF, "60", R"("Statistics":["Median"])"), "InvalidParameterValue",
       "The value Median for parameter Statistics.member.1 is not valid"},
      {Statistics("Invocations", kF, "60", R"("ExtendedStatistics":["p101"])"), "InvalidParameterValue", "p101"},
      {Statistics("Invocations", kF, "60", R"("ExtendedStatistics":["tm99"])"), "InvalidParameterValue", "tm99"},
      {Statistics("Invocations", kF, "60", R"("Statistics":["Sum"],"Unit":"Parsecs")"), "InvalidParameterValue",
       "Parsecs"},
      {R"({"Namespace":"AWS/Lambda","MetricName":"Invocations","StartTime":1714564800,"EndTime":1714564800,)"
       R"("Period":60,"Statistics":["Sum"]})",
       "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."},
      {R"({"Namespace":"AWS/Lambda","MetricName":"Invocations","StartTime":1714478340,"EndTime":1714564800,)"
       R"("Period":60,"Statistics":["Sum"]})",
       "InvalidParameterCombination", "You have requested up to 1441 datapoints, which exceeds the limit of 1440."},
      {R"({"Namespace":"AWS/Lambda","MetricName":"Invocations","StartTime":"yesterday","EndTime":1714564800,)"
       R"("Period":60,"Statistics":["Sum"]})",
       "InvalidParameterValue", "StartTime"},
      {Statistics("Invocations", R"([{"Name":"FunctionName"}])", "60", R"("Statistics":["Sum"])"), "MissingParameter",
       "The parameter Dimensions.member.1.Value is required."},
  };
  for (const auto& c : cases) {
    auto r = Json("GetMetricStatistics", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.headers.Get("x-amzn-query-error").value_or(""), c.code + ";Sender") << c.body;
    json::value v = JsonBody(r);
    EXPECT_THAT(std::string(v.at("message").as_string()), HasSubstr(c.message)) << c.body;
  }
  // The modelled shape in JSON and CBOR; the query code and fault in XML.
  auto r = Json("GetMetricStatistics", cases[0].body);
  EXPECT_EQ(JsonBody(r).at("__type"), "com.amazonaws.cloudwatch#InvalidParameterValueException");
  r = Cbor("GetMetricStatistics", cases[0].body);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(CborBody(r).at("__type"), "com.amazonaws.cloudwatch#InvalidParameterValueException");
  EXPECT_EQ(r.headers.Get("x-amzn-query-error").value_or(""), "InvalidParameterValue;Sender");
  r = Query("Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FLambda&MetricName=Invocations"
            "&StartTime=2024-05-01T11%3A55%3A00Z&EndTime=2024-05-01T12%3A00%3A00Z&Period=90&Statistics.member.1=Sum");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr(R"(<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error>)"
                                "<Type>Sender</Type><Code>InvalidParameterValue</Code>"
                                "<Message>The parameter Period must be a multiple of 60"));
  r = Query("Action=GetMetricStatistics&Version=2010-08-01&MetricName=Invocations");
  EXPECT_THAT(r.body, HasSubstr("<Code>MissingParameter</Code><Message>The parameter Namespace is required.</Message>"));
}

std::string DataQuery(const std::string& id, const std::string& metric, const std::string& stat,
                      const std::string& extra = "") {
  return R"({"Id":")" + id + R"(","MetricStat":{"Metric":{"Namespace":"AWS/Lambda","MetricName":")" + metric +
         R"(","Dimensions":[{"Name":"FunctionName","Value":"f"}]},"Period":60,"Stat":")" + stat + R"("})" + extra + "}";
}
std::string MetricData(const std::string& queries, const std::string& extra = "") {
  return R"({"MetricDataQueries":[)" + queries + R"(],"StartTime":)" + kStart + R"(,"EndTime":)" + kEnd + extra + "}";
}

TEST_F(CloudWatchApiTest, GetMetricDataAnswersEachQueryNewestFirstByDefault) {
  auto r = Json("GetMetricData", MetricData(DataQuery("inv", "Invocations", "Sum") + "," +
                                            DataQuery("err", "Errors", "Sum", R"(,"Label":"failures")") + "," +
                                            DataQuery("hidden", "Duration", "Average", R"(,"ReturnData":false)") + "," +
                                            DataQuery("p", "Duration", "p99")));
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = JsonBody(r);
  const json::array& results = v.at("MetricDataResults").as_array();
  ASSERT_EQ(results.size(), 3u) << r.body;
  EXPECT_EQ(results[0], json::parse(R"({"Id":"inv","Label":"Invocations",
      "Timestamps":[1714564740,1714564680,1714564620,1714564560,1714564500],
      "Values":[10.0,10.0,10.0,10.0,10.0],"StatusCode":"Complete"})"));
  EXPECT_EQ(results[1].at("Label"), "failures");
  EXPECT_EQ(results[1].at("Values"), json::parse("[1.0,0.0,0.0,0.0,0.0]"));
  EXPECT_EQ(results[2].at("Id"), "p");
  EXPECT_NEAR(results[2].at("Values").at(0).as_double(), 5, 0.1);
  EXPECT_FALSE(v.as_object().contains("NextToken"));

  r = Json("GetMetricData", MetricData(DataQuery("inv", "Invocations", "Sum"), R"(,"ScanBy":"TimestampAscending")"));
  EXPECT_EQ(JsonBody(r).at("MetricDataResults").at(0).at("Timestamps"),
            json::parse("[1714564500,1714564560,1714564620,1714564680,1714564740]"));
}

TEST_F(CloudWatchApiTest, GetMetricDataPagesByMaxDatapoints) {
  const std::string body = MetricData(DataQuery("a", "Invocations", "Sum") + "," + DataQuery("b", "Errors", "Sum"),
                                      R"(,"MaxDatapoints":3)");
  std::map<std::string, size_t> seen;
  std::string token;
  int pages = 0;
  do {
    std::string request = body;
    if (!token.empty()) request.insert(request.size() - 1, R"(,"NextToken":")" + token + "\"");
    auto r = Json("GetMetricData", request);
    ASSERT_EQ(r.status, 200) << r.body;
    json::value v = JsonBody(r);
    for (const auto& result : v.at("MetricDataResults").as_array()) {
      const size_t n = result.at("Values").as_array().size();
      EXPECT_EQ(result.at("Timestamps").as_array().size(), n);
      seen[std::string(result.at("Id").as_string())] += n;
    }
    if (pages == 0) {
      EXPECT_EQ(v.at("MetricDataResults").at(1).at("StatusCode"), "PartialData");
    }
    token = v.as_object().contains("NextToken") ? std::string(v.at("NextToken").as_string()) : "";
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(seen["a"], 5u);
  EXPECT_EQ(seen["b"], 5u);

  auto r = Json("GetMetricData", MetricData(DataQuery("a", "Invocations", "Sum"), R"(,"NextToken":"garbage")"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonBody(r).at("__type"), "com.amazonaws.cloudwatch#InvalidNextToken");
}

TEST_F(CloudWatchApiTest, GetMetricDataRefusesExpressionsAndBadQueries) {
  struct Case {
    std::string body, message;
  };
  const Case cases[] = {
      {MetricData(R"({"Id":"rate","Expression":"errors/invocations"})"), "metric math"},
      {MetricData(DataQuery("Inv", "Invocations", "Sum")), "The value Inv for parameter MetricDataQueries.member.1.Id"},
      {MetricData(DataQuery("a", "Invocations", "Sum") + "," + DataQuery("a", "Errors", "Sum")),
       "MetricDataQueries.member.2.Id"},
      {MetricData(R"({"Id":"a"})"), "The parameter MetricDataQueries.member.1.MetricStat is required."},
      {MetricData(DataQuery("a", "Invocations", "tm99")), "tm99"},
      {MetricData(R"({"Id":"a","MetricStat":{"Metric":{"Namespace":"AWS/Lambda","MetricName":"Errors"},)"
                  R"("Period":30,"Stat":"Sum"}})"),
       "MetricDataQueries.member.1.MetricStat.Period"},
      {R"({"StartTime":1,"EndTime":2})", "The parameter MetricDataQueries is required."},
      {MetricData(DataQuery("a", "Invocations", "Sum"), R"(,"ScanBy":"Sideways")"), "Sideways"},
      {R"({"MetricDataQueries":[)" + DataQuery("a", "Invocations", "Sum") + R"(],"StartTime":5,"EndTime":5})",
       "The parameter StartTime must be less than the parameter EndTime."},
  };
  for (const auto& c : cases) {
    auto r = Json("GetMetricData", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.headers.Get("x-amzn-query-error").value_or(""), "ValidationError;Sender") << c.body;
    EXPECT_THAT(std::string(JsonBody(r).at("message").as_string()), HasSubstr(c.message)) << c.body;
  }
}

TEST_F(CloudWatchApiTest, GetMetricDataOverTheQueryProtocolAndCbor) {
  auto r = Query(
      "Action=GetMetricData&Version=2010-08-01&StartTime=2024-05-01T11%3A58%3A00Z&EndTime=2024-05-01T12%3A00%3A00Z"
      "&MetricDataQueries.member.1.Id=m1&MetricDataQueries.member.1.MetricStat.Metric.Namespace=AWS%2FLambda"
      "&MetricDataQueries.member.1.MetricStat.Metric.MetricName=Invocations"
      "&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=FunctionName"
      "&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=f"
      "&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.2.Name=Resource"
      "&MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.2.Value=f%3Alive"
      "&MetricDataQueries.member.1.MetricStat.Period=120&MetricDataQueries.member.1.MetricStat.Stat=Sum"
      "&MetricDataQueries.member.1.ReturnData=true&ScanBy=TimestampAscending");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"(<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">)"
                                "<GetMetricDataResult><MetricDataResults><member><Id>m1</Id><Label>Invocations</Label>"
                                "<Timestamps><member>2024-05-01T11:58:00Z</member></Timestamps>"
                                "<Values><member>8</member></Values><StatusCode>Complete</StatusCode></member>"
                                "</MetricDataResults><Messages></Messages></GetMetricDataResult>"));

  r = Cbor("GetMetricData", MetricData(DataQuery("inv", "Invocations", "Sum")));
  ASSERT_EQ(r.status, 200);
  json::value v = CborBody(r);
  EXPECT_EQ(v.at("MetricDataResults").at(0).at("Timestamps").at(0), 1714564740.0);
  EXPECT_EQ(v.at("MetricDataResults").at(0).at("Values").at(0), 10.0);
  EXPECT_THAT(r.body, HasSubstr(std::string("Timestamps\x85\xc1\xfb", 13)));

  r = Cbor("GetMetricData", MetricData(R"x({"Id":"x","Expression":"SUM(METRICS())"})x"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(CborBody(r).at("__type"), "com.amazonaws.cloudwatch#ValidationError");
}

TEST_F(CloudWatchApiTest, ListMetricsNamesEachFunctionsAndAliasesMetrics) {
  auto r = Json("ListMetrics", R"({"Namespace":"AWS/Lambda","MetricName":"Invocations"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonBody(r), json::parse(R"({"Metrics":[
      {"Namespace":"AWS/Lambda","MetricName":"Invocations","Dimensions":[{"Name":"FunctionName","Value":"f"}]},
      {"Namespace":"AWS/Lambda","MetricName":"Invocations","Dimensions":[{"Name":"FunctionName","Value":"f"},
                                                                        {"Name":"Resource","Value":"f:live"}]}]})"));

  r = Json("ListMetrics", R"({"Dimensions":[{"Name":"Resource"}]})");
  json::value v = JsonBody(r);
  ASSERT_FALSE(v.at("Metrics").as_array().empty());
  for (const auto& m : v.at("Metrics").as_array()) EXPECT_EQ(m.at("Dimensions").as_array().size(), 2u);
  std::vector<std::string> names;
  for (const auto& m : v.at("Metrics").as_array()) names.emplace_back(m.at("MetricName").as_string());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"Invocations", "Errors", "Throttles", "Duration"}));

  r = Json("ListMetrics", R"({"Dimensions":[{"Name":"FunctionName","Value":"g"}]})");
  EXPECT_EQ(JsonBody(r).at("Metrics"), json::array());
  r = Json("ListMetrics", R"({"Namespace":"AWS/SQS"})");
  EXPECT_EQ(JsonBody(r).at("Metrics"), json::array());
  r = Json("ListMetrics", R"({"MetricName":"Errors","IncludeLinkedAccounts":true})");
  EXPECT_EQ(JsonBody(r).at("OwningAccounts"), json::parse(R"(["000000000000","000000000000"])"));
  r = Json("ListMetrics", R"({"OwningAccount":"111111111111"})");
  EXPECT_EQ(JsonBody(r).at("Metrics"), json::array());

  r = Query("Action=ListMetrics&Version=2010-08-01&Namespace=AWS%2FLambda&MetricName=Errors"
            "&Dimensions.member.1.Name=Resource&Dimensions.member.1.Value=f%3Alive");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<ListMetricsResult><Metrics><member><Namespace>AWS/Lambda</Namespace>"
                                "<MetricName>Errors</MetricName><Dimensions><member><Name>FunctionName</Name>"
                                "<Value>f</Value></member><member><Name>Resource</Name><Value>f:live</Value></member>"
                                "</Dimensions></member></Metrics></ListMetricsResult>"));

  // Minutes beyond the retention are not listed.
  clock_.Advance(std::chrono::hours(15 * 24 + 1));
  r = Cbor("ListMetrics", "{}");
  EXPECT_EQ(CborBody(r).at("Metrics"), json::array());
}

TEST_F(CloudWatchApiTest, UnknownActionsAndMalformedBodiesAreRefused) {
  auto r = Json("PutMetricData", R"({"Namespace":"Mine","MetricData":[]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.Get("x-amzn-query-error").value_or(""), "InvalidAction;Sender");
  EXPECT_THAT(std::string(JsonBody(r).at("message").as_string()), HasSubstr("PutMetricData"));
  r = Query("Action=DescribeAlarms&Version=2010-08-01");
  EXPECT_THAT(r.body, HasSubstr("<Code>InvalidAction</Code>"));
  r = Json("ListMetrics", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonBody(r).at("__type"), "com.amazonaws.cloudwatch#SerializationException");

  http::Request bad;
  bad.method = "POST";
  bad.target = "/service/GraniteServiceVersion20100801/operation/ListMetrics";
  bad.body = std::string("\xa1\x61", 2);
  r = api_->HandleSync(bad);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(CborBody(r).at("__type"), "com.amazonaws.cloudwatch#SerializationException");
  EXPECT_THAT(r.body, Not(HasSubstr("Datapoints")));

  r = Query("Action=ListMetrics&Dimensions.member.99999.Name=x");
  EXPECT_EQ(r.status, 400);
}

}  // namespace
}  // namespace nimbus::metrics
