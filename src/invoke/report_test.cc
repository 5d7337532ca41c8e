#include "invoke/report.h"

#include <gtest/gtest.h>

namespace nimbus::invoke {
namespace {

TEST(ReportLine, ColdStartListsInitDurationAfterMemoryAndBillsInit) {
  ReportFields f{.request_id = "r1", .duration_ms = 10.123, .init_ms = 423.98,
                 .memory_size_mb = 1024, .max_memory_used_mb = 95, .status = "", .error_type = ""};
  EXPECT_EQ(ReportLine(f),
            "REPORT RequestId: r1\tDuration: 10.12 ms\tBilled Duration: 435 ms\tMemory Size: 1024 "
            "MB\tMax Memory Used: 95 MB\tInit Duration: 423.98 ms\t");
}

TEST(ReportLine, WarmInvokeRoundsBilledDurationUpToTheMillisecond) {
  ReportFields f{.request_id = "r2", .duration_ms = 12.01, .init_ms = std::nullopt,
                 .memory_size_mb = 128, .max_memory_used_mb = 21, .status = "", .error_type = ""};
  EXPECT_EQ(ReportLine(f),
            "REPORT RequestId: r2\tDuration: 12.01 ms\tBilled Duration: 13 ms\tMemory Size: 128 "
            "MB\tMax Memory Used: 21 MB\t");
}

TEST(ReportLine, TimeoutsAndErrorsEndWithStatusAndErrorType) {
  ReportFields t{.request_id = "r3", .duration_ms = 3000, .init_ms = std::nullopt,
                 .memory_size_mb = 1024, .max_memory_used_mb = 64, .status = "timeout",
                 .error_type = ""};
  EXPECT_EQ(ReportLine(t),
            "REPORT RequestId: r3\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: "
            "1024 MB\tMax Memory Used: 64 MB\tStatus: timeout");
  ReportFields e = t;
  e.status = "error";
  e.error_type = "Runtime.OutOfMemory";
  EXPECT_TRUE(ReportLine(e).ends_with("\tStatus: error\tError Type: Runtime.OutOfMemory"));
}

TEST(InitReportLine, NamesPhaseStatusAndErrorType) {
  EXPECT_EQ(InitReportLine(154.03, "init", "error", "Runtime.ExitError"),
            "INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\tError Type: "
            "Runtime.ExitError");
}

TEST(TimeoutLogLine, UsesIsoMillisAndTwoDecimals) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1706546475998));
  EXPECT_EQ(TimeoutLogLine(t, "id-1", 45), "2024-01-29T16:41:15.998Z id-1 Task timed out after 45.00 seconds");
}

TEST(ErrorDocument, EscapesJson) {
  EXPECT_EQ(ErrorDocument("Runtime.ExitError", "a \"b\"\n"),
            R"({"errorMessage":"a \"b\"\n","errorType":"Runtime.ExitError"})");
}

TEST(JsonPlatformRecords, CarryTheReportMetricsAndStatus) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1706546475998));
  ReportFields f{.request_id = "r1", .duration_ms = 10.5, .init_ms = 100.25,
                 .memory_size_mb = 128, .max_memory_used_mb = 21, .status = "", .error_type = ""};
  EXPECT_EQ(JsonStart(t, "r1", "$LATEST"),
            R"({"time":"2024-01-29T16:41:15.998Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}})");
  EXPECT_EQ(JsonReport(t, f),
            R"({"time":"2024-01-29T16:41:15.998Z","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":10.500,"billedDurationMs":111,"memorySizeMB":128,"maxMemoryUsedMB":21,"initDurationMs":100.250},"status":"success"}})");
  f.status = "error";
  f.error_type = "Runtime.ExitError";
  f.init_ms.reset();
  EXPECT_EQ(JsonRuntimeDone(t, f),
            R"({"time":"2024-01-29T16:41:15.998Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":10.500}}})");
  EXPECT_EQ(JsonInitReport(t, 5, "init", "error", "Runtime.ImportModuleError"),
            R"({"time":"2024-01-29T16:41:15.998Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ImportModuleError","metrics":{"durationMs":5.000}}})");
}

}  // namespace
}  // namespace nimbus::invoke
