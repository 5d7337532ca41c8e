// The invocation record Lambda sends to a destination (LAMBDA_COMPAT §3.5):
// version 1.0, timestamp, requestContext{requestId, functionArn (qualified),
// condition, approximateInvokeCount}, requestPayload, responseContext,
// responsePayload. Payloads that are JSON are embedded parsed; others as strings.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace nimbus::async {

enum class Condition { kSuccess, kRetriesExhausted, kEventAgeExceeded };
std::string_view ConditionName(Condition c);

struct InvocationRecordInput {
  std::chrono::system_clock::time_point timestamp;
  std::string request_id;
  std::string function_arn;  // qualified: ...:function:f:$LATEST
  Condition condition = Condition::kSuccess;
  int approximate_invoke_count = 0;
  std::string request_payload;
  // The last attempt's outcome; absent when no attempt reached the function
  // (an event that aged out while throttled).
  std::optional<std::string> executed_version;
  std::optional<std::string> function_error;
  std::optional<std::string> response_payload;
};

// The record as JSON text.
std::string InvocationRecord(const InvocationRecordInput& in);

// "2019-11-14T18:16:05.568Z"
std::string IsoTimestampMillis(std::chrono::system_clock::time_point t);

}  // namespace nimbus::async
