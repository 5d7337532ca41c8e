// The X-Ray trace header of an invocation (http/trace_header.h): taken from
// X-Amzn-Trace-Id, or converted from a W3C traceparent.
//
// Input: "<X-Amzn-Trace-Id>\n%%\n<traceparent>"; an empty part is an absent header.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "http/message.h"
#include "http/trace_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = nimbus::fuzz::SplitParts(data, size, 2);
  nimbus::http::Headers headers;
  if (!parts[0].empty()) headers.Add("X-Amzn-Trace-Id", std::string(parts[0]));
  if (!parts[1].empty()) headers.Add("traceparent", std::string(parts[1]));

  std::string taken = nimbus::http::TraceHeaderOf(headers);
  NIMBUS_FUZZ_CHECK(taken.empty() || nimbus::http::IsTraceHeader(taken),
                    "a taken header is a trace header");

  if (auto converted = nimbus::http::TraceHeaderFromTraceparent(parts[1])) {
    // "Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>"
    NIMBUS_FUZZ_CHECK(converted->size() == 7 + 8 + 1 + 24 + 8 + 16 + 9 + 1,
                      "converted header length");
    NIMBUS_FUZZ_CHECK(nimbus::http::IsTraceHeader(*converted),
                      "converted header is a trace header");
  }
  (void)nimbus::http::IsTraceHeader(parts[0]);
  return 0;
}
