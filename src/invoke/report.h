// The platform's own log lines and error documents, formatted exactly as Lambda
// writes them (LAMBDA_COMPAT.md §3.1, §3.3). Pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace nimbus::invoke {

// "START RequestId: <id> Version: $LATEST"
std::string StartLine(const std::string& request_id, const std::string& version);
// "END RequestId: <id>"
std::string EndLine(const std::string& request_id);

struct ReportFields {
  std::string request_id;
  double duration_ms = 0;           // invoke phase
  std::optional<double> init_ms;    // set on cold starts
  int memory_size_mb = 128;
  uint64_t max_memory_used_mb = 0;
  std::string status;               // "" | "timeout" | "error"
  std::string error_type;           // with status "error"
};

// Billed Duration: invoke duration plus, on cold starts, init duration (billed
// since 2025-08-01), rounded up to the next whole millisecond.
uint64_t BilledMillis(const ReportFields& f);

// "REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t
//  Max Memory Used: 21 MB\t[Init Duration: 1.23 ms\t][Status: timeout|error[\tError Type: T]]"
std::string ReportLine(const ReportFields& f);

// "INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError"
std::string InitReportLine(double init_ms, const std::string& phase, const std::string& status,
                           const std::string& error_type);

// "2024-01-29T16:41:15.998Z <id> Task timed out after 3.00 seconds"
std::string TimeoutLogLine(std::chrono::system_clock::time_point now, const std::string& request_id,
                           double seconds);

// {"errorMessage":"...","errorType":"..."} with JSON string escaping.
std::string ErrorDocument(const std::string& error_type, const std::string& error_message);

// Escapes `s` for use inside a JSON string literal (no surrounding quotes).
std::string JsonEscape(const std::string& s);

// ISO 8601 UTC with milliseconds: "2024-01-29T16:41:15.998Z".
std::string IsoMillis(std::chrono::system_clock::time_point t);

// The platform lines in LoggingConfig.LogFormat JSON: one JSON record per line,
// {"time":"<iso>","type":"platform.<event>","record":{...}}, as Lambda writes them.
std::string JsonInitStart(std::chrono::system_clock::time_point now, const std::string& runtime,
                          const std::string& initialization_type);
std::string JsonStart(std::chrono::system_clock::time_point now, const std::string& request_id,
                      const std::string& version);
// Replaces END: the runtime finished ("success", "timeout" or "error").
std::string JsonRuntimeDone(std::chrono::system_clock::time_point now, const ReportFields& f);
std::string JsonReport(std::chrono::system_clock::time_point now, const ReportFields& f);
std::string JsonInitReport(std::chrono::system_clock::time_point now, double init_ms,
                           const std::string& phase, const std::string& status,
                           const std::string& error_type);

}  // namespace nimbus::invoke
