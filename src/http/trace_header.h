// The X-Ray trace header an invocation carries (X-Amzn-Trace-Id, given to the
// runtime as Lambda-Runtime-Trace-Id and to the function as _X_AMZN_TRACE_ID),
// taken from a request: its X-Amzn-Trace-Id when that names a Root, else its W3C
// `traceparent` converted (trace id → Root=1-<8 hex>-<24 hex>, parent id →
// Parent, the sampled flag → Sampled). Pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace nimbus::http {

// "" when the request carries neither (the invoker then starts a new trace).
std::string TraceHeaderOf(const Headers& headers);

// Whether `header` is an X-Ray trace header an invocation may carry: it names a
// Root and is at most 256 bytes (what TraceHeaderOf asks of X-Amzn-Trace-Id, and
// services of a header given in their own fields, as EventBridge's TraceHeader).
bool IsTraceHeader(std::string_view header);

// A new trace, as X-Ray starts one where a request carries none:
// "Root=1-<8 hex epoch seconds>-<24 random hex>;Parent=<16 random hex>;Sampled=0".
std::string NewTraceHeader(std::chrono::system_clock::time_point now);

// The X-Ray form of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), or
// nullopt when it is malformed (or an all-zero id, which W3C declares invalid).
std::optional<std::string> TraceHeaderFromTraceparent(std::string_view traceparent);

}  // namespace nimbus::http
