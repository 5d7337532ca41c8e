#include "async/invocation_record.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "base/time_format.h"

namespace nimbus::async {
namespace {

// Parsed JSON, or the text as a JSON string when it is not JSON; null when empty.
boost::json::value Embed(std::string_view text) {
  if (text.empty()) return nullptr;
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return boost::json::string(text);
  return v;
}

}  // namespace

std::string_view ConditionName(Condition c) {
  switch (c) {
    case Condition::kSuccess: return "Success";
    case Condition::kRetriesExhausted: return "RetriesExhausted";
    case Condition::kEventAgeExceeded: return "EventAgeExceeded";
  }
  return "Success";
}

std::string IsoTimestampMillis(std::chrono::system_clock::time_point t) {
  return IsoUtcMillis(t);
}

std::string InvocationRecord(const InvocationRecordInput& in) {
  boost::json::object record;
  record["version"] = "1.0";
  record["timestamp"] = IsoTimestampMillis(in.timestamp);
  boost::json::object context;
  context["requestId"] = in.request_id;
  context["functionArn"] = in.function_arn;
  context["condition"] = ConditionName(in.condition);
  context["approximateInvokeCount"] = in.approximate_invoke_count;
  record["requestContext"] = std::move(context);
  record["requestPayload"] = Embed(in.request_payload);
  if (in.executed_version) {
    boost::json::object response;
    response["statusCode"] = 200;
    response["executedVersion"] = *in.executed_version;
    if (in.function_error) response["functionError"] = *in.function_error;
    record["responseContext"] = std::move(response);
    record["responsePayload"] = Embed(in.response_payload.value_or(""));
  }
  return boost::json::serialize(record);
}

}  // namespace nimbus::async
