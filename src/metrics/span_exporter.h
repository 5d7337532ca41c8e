// SpanExporter: one OpenTelemetry span per invocation (issue #7, scope 4), sent
// as OTLP/HTTP JSON (POST <collector>/v1/traces) to a configured collector. The
// span continues the invocation's X-Ray trace: its trace id is the Root's
// hex digits, its parent the Parent, so a caller's trace (X-Amzn-Trace-Id or W3C
// traceparent, see http/trace_header.h) links to the function's work.
//
// Thread-safe: Export() only queues; a thread of its own batches the spans (up to
// 512, or every second) and sends them. Spans that cannot be sent are dropped and
// counted, never retried forever: tracing must not hold up invocations.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "http/client.h"

namespace nimbus::metrics {

struct Span {
  std::string trace_header;  // the invocation's X-Ray header
  std::string function, version, request_id;
  int64_t start_unix_ns = 0, end_unix_ns = 0;
  bool cold_start = false;
  std::string error;  // "" on success; else the status ("error", "timeout", "Unhandled")
};

// The OTLP ids of an X-Ray header: "Root=1-5759e988-bd862e3fe1be46a994272793" →
// trace id "5759e988bd862e3fe1be46a994272793"; "Parent=53995c3f42cd8ad8" → the
// parent span id ("" when absent). nullopt without a well-formed Root.
struct OtlpIds {
  std::string trace_id, parent_span_id;
};
std::optional<OtlpIds> OtlpIdsOf(const std::string& trace_header);

// The OTLP/HTTP JSON body (ExportTraceServiceRequest) of `spans`; span ids from
// `span_id(i)` (random in production).
std::string OtlpJson(const std::vector<Span>& spans, const std::string& region, const std::string& account_id,
                     const std::function<std::string(size_t)>& span_id);

struct SpanExporterOptions {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  size_t max_batch = 512;
  size_t max_queued = 8192;  // beyond it new spans are dropped
  std::chrono::milliseconds interval{1000};
};

class SpanExporter {
 public:
  SpanExporter(http::Endpoint collector, SpanExporterOptions options);
  // Sends what is queued (bounded by the client's timeouts), then stops.
  ~SpanExporter();
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;

  void Export(Span span);
  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  void Run();
  void Send(std::vector<Span> batch);

  const http::HttpClient client_;
  const SpanExporterOptions options_;
  std::atomic<uint64_t> exported_{0}, dropped_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::thread thread_;      // last: starts after everything above exists
};

}  // namespace nimbus::metrics
