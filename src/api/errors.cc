#include "api/errors.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "base/encoding.h"

namespace nimbus::api {
namespace {

// Exceptions whose model shape spells the member `message` (LAMBDA_COMPAT §2.2);
// every other shape uses `Message`.
constexpr std::array<std::string_view, 10> kLowercaseMessage = {
    "InvalidParameterValueException", "ResourceConflictException",
    "TooManyRequestsException",       "RequestTooLargeException",
    "PreconditionFailedException",    "CodeStorageExceededException",
    "PolicyLengthExceededException",  "UnsupportedMediaTypeException",
    "InvalidRequestContentException", "ResourceNotReadyException"};

}  // namespace

ApiError ToApiError(const Status& status) {
  NIMBUS_CHECK(!status.ok()) << "ToApiError of an ok Status";
  const std::string& m = status.message();
  switch (status.code()) {
    case Code::kInvalidArgument: return {400, "InvalidParameterValueException", m};
    // The AWS service framework's own check of the model's patterns and ranges.
    case Code::kValidationFailed: return {400, "ValidationException", m};
    case Code::kNotFound: return {404, "ResourceNotFoundException", m};
    case Code::kConflict: return {409, "ResourceConflictException", m};
    case Code::kFailedPrecondition: return {412, "PreconditionFailedException", m};
    case Code::kTooLarge: return {413, "RequestEntityTooLargeException", m};
    case Code::kThrottled:
      return {429, "TooManyRequestsException", m,
              status.detail().empty() ? "ConcurrentInvocationLimitExceeded" : status.detail()};
    case Code::kResourceExhausted:
      // The account's code storage quota; a full disk is the service's problem.
      if (status.detail() == "CodeStorageExceeded") return {400, "CodeStorageExceededException", m};
      return {500, "ServiceException", m};
    case Code::kPermissionDenied: return {403, "AccessDeniedException", m};
    case Code::kOk:
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kInternal: break;
  }
  return {500, "ServiceException", m};
}

ApiError RequestNotJson(std::string_view detail) {
  return InvalidRequestContent(fmt::format("Could not parse request body into json: {}", detail));
}

ApiError InvalidRequestContent(std::string message) {
  return {400, "InvalidRequestContentException", std::move(message)};
}

ApiError UnknownOperation(std::string_view method, std::string_view path) {
  return {404, "UnknownOperationException",
          fmt::format("Unknown operation: {} {}", method, path)};
}

http::Response ErrorResponse(const ApiError& error) {
  boost::json::object body;
  body["Type"] = error.status >= 500 ? "Service" : "User";
  bool lower = std::find(kLowercaseMessage.begin(), kLowercaseMessage.end(), error.type) !=
               kLowercaseMessage.end();
  // Messages echo what the caller sent, which may be any bytes once decoded.
  body[lower ? "message" : "Message"] = ToValidUtf8(error.message);
  if (error.type == "TooManyRequestsException") {
    body["Reason"] = error.reason.empty() ? "ConcurrentInvocationLimitExceeded" : error.reason;
  }
  http::Response r = http::Response::Json(error.status, boost::json::serialize(body));
  r.headers.Set("x-amzn-ErrorType", error.type);
  if (error.type == "TooManyRequestsException") r.headers.Set("Retry-After", "1");
  return r;
}

}  // namespace nimbus::api
