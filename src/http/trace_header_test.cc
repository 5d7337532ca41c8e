#include "http/trace_header.h"

#include <gtest/gtest.h>

#include <regex>


namespace nimbus::http {
namespace {

TEST(TraceHeaderTest, AnXRayHeaderIsKeptAndATraceparentIsConverted) {
  Headers h;
  EXPECT_EQ(TraceHeaderOf(h), "");
  h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(TraceHeaderOf(h), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  h.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0");
  EXPECT_EQ(TraceHeaderOf(h), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0");
  h.Set("X-Amzn-Trace-Id", "Self=1-whatever");  // no Root: the traceparent wins
  EXPECT_EQ(TraceHeaderOf(h), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
}

TEST(TraceHeaderTest, AHeaderIsATraceHeaderWhenItNamesARootAndIsAtMost256Bytes) {
  EXPECT_TRUE(IsTraceHeader("Root=1-5759e988-bd862e3fe1be46a994272793"));
  EXPECT_TRUE(IsTraceHeader("Self=1-x;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"));
  EXPECT_FALSE(IsTraceHeader(""));
  EXPECT_FALSE(IsTraceHeader("Parent=53995c3f42cd8ad8;Sampled=1"));
  EXPECT_FALSE(IsTraceHeader("Root=1-5759e988-bd862e3fe1be46a994272793;Data=" + std::string(256, 'x')));
}

TEST(TraceHeaderTest, MalformedTraceparentsAreIgnored) {
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}) {
    EXPECT_EQ(TraceHeaderFromTraceparent(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(TraceHeaderFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0");
}

TEST(TraceHeaderTest, ANewTraceHasTheTimeARandomRootAndAnIndependentParent) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(0x5759e988));
  const std::string a = NewTraceHeader(now), b = NewTraceHeader(now);
  const std::regex form("Root=1-5759e988-([0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=0");
  std::smatch ma, mb;
  ASSERT_TRUE(std::regex_match(a, ma, form)) << a;
  ASSERT_TRUE(std::regex_match(b, mb, form)) << b;
  EXPECT_NE(ma[1], mb[1]);
  EXPECT_NE(ma[2], mb[2]);
  EXPECT_EQ(ma[1].str().find(ma[2].str()), std::string::npos) << "the parent is not cut from the root";
  EXPECT_TRUE(IsTraceHeader(a));
}

}  // namespace
}  // namespace nimbus::http
