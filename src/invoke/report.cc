#include "invoke/report.h"

#include <fmt/format.h>

#include <cmath>

#include "base/time_format.h"

namespace nimbus::invoke {

std::string StartLine(const std::string& request_id, const std::string& version) {
  return fmt::format("START RequestId: {} Version: {}", request_id, version);
}

std::string EndLine(const std::string& request_id) {
  return fmt::format("END RequestId: {}", request_id);
}

uint64_t BilledMillis(const ReportFields& f) {
  double total = f.duration_ms + f.init_ms.value_or(0.0);
  return static_cast<uint64_t>(std::ceil(total));
}

std::string ReportLine(const ReportFields& f) {
  // Field order as AWS writes it: Duration, Billed Duration, Memory Size, Max
  // Memory Used, then Init Duration, Status, Error Type. Each of the first five
  // fields ends with a tab; Status/Error Type end the line.
  std::string line = fmt::format(
      "REPORT RequestId: {}\tDuration: {:.2f} ms\tBilled Duration: {} ms\tMemory Size: {} MB\t"
      "Max Memory Used: {} MB\t",
      f.request_id, f.duration_ms, BilledMillis(f), f.memory_size_mb, f.max_memory_used_mb);
  if (f.init_ms) line += fmt::format("Init Duration: {:.2f} ms\t", *f.init_ms);
  if (!f.status.empty()) {
    line += fmt::format("Status: {}", f.status);
    if (!f.error_type.empty()) line += fmt::format("\tError Type: {}", f.error_type);
  }
  return line;
}

std::string InitReportLine(double init_ms, const std::string& phase, const std::string& status,
                           const std::string& error_type) {
  std::string line =
      fmt::format("INIT_REPORT Init Duration: {:.2f} ms\tPhase: {}\tStatus: {}", init_ms, phase, status);
  if (!error_type.empty()) line += fmt::format("\tError Type: {}", error_type);
  return line;
}

std::string IsoMillis(std::chrono::system_clock::time_point t) { return IsoUtcMillis(t); }

std::string TimeoutLogLine(std::chrono::system_clock::time_point now, const std::string& request_id,
                           double seconds) {
  return fmt::format("{} {} Task timed out after {:.2f} seconds", IsoMillis(now), request_id,
                     seconds);
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

namespace {
// Lambda's status words: the REPORT line's Status is empty on success.
std::string StatusWord(const ReportFields& f) { return f.status.empty() ? "success" : f.status; }

std::string ErrorTypeField(const ReportFields& f) {
  return f.error_type.empty() ? "" : fmt::format(R"(,"errorType":"{}")", JsonEscape(f.error_type));
}
}  // namespace

std::string JsonInitStart(std::chrono::system_clock::time_point now, const std::string& runtime,
                          const std::string& initialization_type) {
  return fmt::format(
      R"({{"time":"{}","type":"platform.initStart","record":{{"initializationType":"{}","phase":"init","runtimeVersion":"nimbus:{}"}}}})",
      IsoMillis(now), JsonEscape(initialization_type), JsonEscape(runtime));
}

std::string JsonStart(std::chrono::system_clock::time_point now, const std::string& request_id,
                      const std::string& version) {
  return fmt::format(
      R"({{"time":"{}","type":"platform.start","record":{{"requestId":"{}","version":"{}"}}}})",
      IsoMillis(now), JsonEscape(request_id), JsonEscape(version));
}

std::string JsonRuntimeDone(std::chrono::system_clock::time_point now, const ReportFields& f) {
  return fmt::format(
      R"({{"time":"{}","type":"platform.runtimeDone","record":{{"requestId":"{}","status":"{}"{},"metrics":{{"durationMs":{:.3f}}}}}}})",
      IsoMillis(now), JsonEscape(f.request_id), StatusWord(f), ErrorTypeField(f), f.duration_ms);
}

std::string JsonReport(std::chrono::system_clock::time_point now, const ReportFields& f) {
  std::string init = f.init_ms ? fmt::format(R"(,"initDurationMs":{:.3f})", *f.init_ms) : "";
  return fmt::format(
      R"({{"time":"{}","type":"platform.report","record":{{"requestId":"{}","metrics":{{"durationMs":{:.3f},"billedDurationMs":{},"memorySizeMB":{},"maxMemoryUsedMB":{}{}}},"status":"{}"{}}}}})",
      IsoMillis(now), JsonEscape(f.request_id), f.duration_ms, BilledMillis(f), f.memory_size_mb,
      f.max_memory_used_mb, init, StatusWord(f), ErrorTypeField(f));
}

std::string JsonInitReport(std::chrono::system_clock::time_point now, double init_ms,
                           const std::string& phase, const std::string& status,
                           const std::string& error_type) {
  std::string err =
      error_type.empty() ? "" : fmt::format(R"(,"errorType":"{}")", JsonEscape(error_type));
  return fmt::format(
      R"({{"time":"{}","type":"platform.initReport","record":{{"initializationType":"on-demand","phase":"{}","status":"{}"{},"metrics":{{"durationMs":{:.3f}}}}}}})",
      IsoMillis(now), JsonEscape(phase), JsonEscape(status), err, init_ms);
}

std::string ErrorDocument(const std::string& error_type, const std::string& error_message) {
  return fmt::format(R"({{"errorMessage":"{}","errorType":"{}"}})", JsonEscape(error_message),
                     JsonEscape(error_type));
}

}  // namespace nimbus::invoke
