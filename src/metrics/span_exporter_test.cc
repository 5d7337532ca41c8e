#include "metrics/span_exporter.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/testing/fake_http_server.h"

namespace nimbus::metrics {
namespace {

namespace json = boost::json;

TEST(OtlpIdsTest, ComeFromTheXRayRootAndParent) {
  auto ids = OtlpIdsOf("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(ids->trace_id, "5759e988bd862e3fe1be46a994272793");
  EXPECT_EQ(ids->parent_span_id, "53995c3f42cd8ad8");
  EXPECT_EQ(OtlpIdsOf("Root=1-5759e988-bd862e3fe1be46a994272793")->parent_span_id, "");
  for (const char* bad : {"", "Parent=53995c3f42cd8ad8", "Root=2-5759e988-bd862e3fe1be46a994272793",
                          "Root=1-5759e988-bd862e3fe1be46a99427279", "Root=1-5759e98g-bd862e3fe1be46a994272793"}) {
    EXPECT_FALSE(OtlpIdsOf(bad).has_value()) << bad;
  }
}

TEST(OtlpJsonTest, HasTheExportTraceServiceRequestShape) {
  Span s;
  s.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  s.function = "f";
  s.version = "$LATEST";
  s.request_id = "r1";
  s.start_unix_ns = 1000;
  s.end_unix_ns = 2000;
  s.cold_start = true;
  s.error = "Unhandled";
  Span untraced = s;
  untraced.trace_header = "garbage";  // skipped
  json::value v = json::parse(OtlpJson({s, untraced}, "us-east-1", "000000000000", [](size_t) { return "00f067aa0ba902b7"; }));
  const auto& spans = v.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(spans.size(), 1u);
  const auto& span = spans[0].as_object();
  EXPECT_EQ(span.at("traceId"), "5759e988bd862e3fe1be46a994272793");
  EXPECT_EQ(span.at("parentSpanId"), "53995c3f42cd8ad8");
  EXPECT_EQ(span.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("name"), "f");
  EXPECT_EQ(span.at("startTimeUnixNano"), "1000");
  EXPECT_EQ(span.at("status").at("code"), 2);
  bool cold = false;
  for (const auto& a : span.at("attributes").as_array()) {
    if (a.at("key") == "faas.coldstart") cold = a.at("value").at("boolValue").as_bool();
  }
  EXPECT_TRUE(cold);
  EXPECT_EQ(v.at("resourceSpans").at(0).at("resource").at("attributes").at(0).at("value").at("stringValue"), "nimbus");
}

TEST(SpanExporterTest, SendsQueuedSpansToTheCollectorAndCountsWhatFailed) {
  http::testing::FakeHttpServer collector({http::testing::FakeHttpServer::Response(200, "{}")});
  auto endpoint = http::ParseEndpoint(collector.url());
  ASSERT_TRUE(endpoint.has_value());
  {
    SpanExporter exporter(*endpoint, SpanExporterOptions{.interval = std::chrono::milliseconds(50)});
    Span s;
    s.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
    s.function = "f";
    exporter.Export(s);
    for (int i = 0; i < 100 && exporter.exported() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(exporter.exported(), 1u);
  }
  ASSERT_EQ(collector.requests().size(), 1u);
  EXPECT_NE(collector.requests()[0].find("POST /v1/traces HTTP/1.1"), std::string::npos);
  EXPECT_NE(collector.requests()[0].find("5759e988bd862e3fe1be46a994272793"), std::string::npos);
  // Nobody listening: the span is dropped and counted, and the destructor returns.
  auto nowhere = http::ParseEndpoint("http://127.0.0.1:" + std::to_string(http::testing::UnusedPort()));
  SpanExporter lost(*nowhere, SpanExporterOptions{.interval = std::chrono::milliseconds(10)});
  Span s;
  s.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
  lost.Export(s);
  for (int i = 0; i < 200 && lost.dropped() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(lost.dropped(), 1u);
}

}  // namespace
}  // namespace nimbus::metrics
