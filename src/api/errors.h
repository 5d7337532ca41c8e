// The one mapping from Nimbus errors to the Lambda wire (STYLE §7): a Status
// code becomes an AWS error type and HTTP status here and nowhere else. A few
// errors exist only at the HTTP edge (a body that is not JSON, an unknown
// route); api/ builds those as ApiError directly.
//
// Value types, thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "base/check.h"
#include "base/status.h"
#include "http/message.h"

namespace nimbus::api {

// An error as a Lambda client sees it.
struct ApiError {
  int status = 500;
  std::string type;     // the x-amzn-ErrorType, e.g. "ResourceNotFoundException"
  std::string message;
  // TooManyRequestsException's Reason (from Status::detail()); empty otherwise.
  std::string reason = {};

  friend bool operator==(const ApiError&, const ApiError&) = default;
};

// Code -> (type, status):
//   kInvalidArgument    400 InvalidParameterValueException
//   kNotFound           404 ResourceNotFoundException
//   kConflict           409 ResourceConflictException
//   kFailedPrecondition 412 PreconditionFailedException
//   kTooLarge           413 RequestEntityTooLargeException (what Lambda sends; the
//                           model's name is RequestTooLargeException)
//   kThrottled          429 TooManyRequestsException
//   kResourceExhausted  400 CodeStorageExceededException with detail
//                       "CodeStorageExceeded" (the account's quota); else (a
//                       full disk) 500 ServiceException
//   kPermissionDenied   403 AccessDeniedException
//   everything else     500 ServiceException (the platform failed; SDKs retry)
// REQUIRES: !status.ok().
ApiError ToApiError(const Status& status);

// 400 InvalidRequestContentException "Could not parse request body into json: <detail>".
ApiError RequestNotJson(std::string_view detail);
// 400 InvalidRequestContentException with `message` verbatim.
ApiError InvalidRequestContent(std::string message);
// 404 UnknownOperationException for a route Lambda does not have.
ApiError UnknownOperation(std::string_view method, std::string_view path);

// The HTTP response for `error`: status, x-amzn-ErrorType, and the body
// {"Type":"User"|"Service","message"|"Message":...} with the member-name case
// the model gives that exception (LAMBDA_COMPAT §2.2). x-amzn-RequestId and
// Content-Type are added by the caller with every other response.
http::Response ErrorResponse(const ApiError& error);

// Either a T or an ApiError. Constructing from a Status applies ToApiError, so
// control's errors flow through the one mapping.
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}             // NOLINT: implicit like Result
  ApiResult(ApiError error) : v_(std::move(error)) {}      // NOLINT
  ApiResult(const Status& status) : v_(ToApiError(status)) {}  // NOLINT
  ApiResult(Result<T> result)                                // NOLINT
      : v_(result.has_value() ? std::variant<T, ApiError>(std::move(result).value())
                              : std::variant<T, ApiError>(ToApiError(result.error()))) {}

  bool ok() const { return v_.index() == 0; }
  T& value() {
    NIMBUS_CHECK(ok()) << "ApiResult::value() on an error";
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const ApiError& error() const {
    NIMBUS_CHECK(!ok()) << "ApiResult::error() on a value";
    return std::get<1>(v_);
  }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace nimbus::api
