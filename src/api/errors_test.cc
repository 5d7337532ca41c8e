#include "api/errors.h"

#include <gtest/gtest.h>

namespace nimbus::api {
namespace {

TEST(ToApiError, MapsEveryCodeToItsLambdaTypeAndStatus) {
  struct Case {
    Code code;
    int status;
    const char* type;
  };
  for (const Case& c : {Case{Code::kInvalidArgument, 400, "InvalidParameterValueException"},
                        Case{Code::kNotFound, 404, "ResourceNotFoundException"},
                        Case{Code::kConflict, 409, "ResourceConflictException"},
                        Case{Code::kFailedPrecondition, 412, "PreconditionFailedException"},
                        Case{Code::kTooLarge, 413, "RequestEntityTooLargeException"},
                        Case{Code::kThrottled, 429, "TooManyRequestsException"},
                        Case{Code::kResourceExhausted, 500, "ServiceException"},  // a full disk
                        Case{Code::kPermissionDenied, 403, "AccessDeniedException"},
                        Case{Code::kUnavailable, 500, "ServiceException"},
                        Case{Code::kDeadlineExceeded, 500, "ServiceException"},
                        Case{Code::kInternal, 500, "ServiceException"}}) {
    ApiError e = ToApiError(Status(c.code, "m"));
    EXPECT_EQ(e.status, c.status) << c.type;
    EXPECT_EQ(e.type, c.type);
    EXPECT_EQ(e.message, "m");
  }
}

TEST(ToApiError, TheCodeStorageQuotaIsTheCallersProblemAFullDiskIsOurs) {
  ApiError quota = ToApiError(Status(Code::kResourceExhausted, "Code storage limit exceeded.").WithDetail("CodeStorageExceeded"));
  EXPECT_EQ(quota.status, 400);
  EXPECT_EQ(quota.type, "CodeStorageExceededException");
  ApiError disk = ToApiError(Status(Code::kResourceExhausted, "unzip: write: No space left on device"));
  EXPECT_EQ(disk.status, 500);
  EXPECT_EQ(disk.type, "ServiceException");
  EXPECT_EQ(disk.message, "unzip: write: No space left on device");
}

// Found by fuzz/apigateway_api: GET .../functions/nope/url?Qualifier=%24%AD%BE
// answered "Function not found: ...:$\xAD\xBE" as raw bytes, JSON no SDK parses.
TEST(ErrorResponse, ReplacesBytesThatAreNotUtf8InTheMessage) {
  http::Response r = ErrorResponse(ToApiError(NotFound("Function not found: f:$\xAD\xBE\xC3\xA9\xE2\x82")));
  EXPECT_EQ(r.body, "{\"Type\":\"User\",\"Message\":\"Function not found: f:$"
                    "\xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD\"}")
      << "each stray byte becomes U+FFFD; the valid \u00e9 stays";
}

TEST(ErrorResponse, UsesTheModelsMemberCaseAndTheUserOrServiceType) {
  http::Response nf = ErrorResponse(ToApiError(NotFound("Function not found: x")));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.headers.Get("x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(nf.body, R"({"Type":"User","Message":"Function not found: x"})");

  http::Response bad = ErrorResponse(ToApiError(InvalidArgument("no")));
  EXPECT_EQ(bad.body, R"({"Type":"User","message":"no"})");

  http::Response internal = ErrorResponse(ToApiError(Internal("disk")));
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.body, R"({"Type":"Service","Message":"disk"})");

  http::Response json = ErrorResponse(RequestNotJson("oops"));
  EXPECT_EQ(json.headers.Get("x-amzn-ErrorType"), "InvalidRequestContentException");
  EXPECT_EQ(json.body,
            R"({"Type":"User","message":"Could not parse request body into json: oops"})");
}

TEST(ErrorResponse, TellsThrottledClientsWhenToRetry) {
  http::Response r = ErrorResponse(ToApiError(Status(Code::kThrottled, "Rate exceeded")));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.Get("Retry-After"), "1");
  EXPECT_EQ(r.body,
            R"({"Type":"User","message":"Rate exceeded","Reason":"ConcurrentInvocationLimitExceeded"})");
}

TEST(ErrorResponse, CarriesTheThrottleReasonFromTheStatusDetail) {
  http::Response r = ErrorResponse(ToApiError(
      Status(Code::kThrottled, "Rate Exceeded.")
          .WithDetail("ReservedFunctionConcurrentInvocationLimitExceeded")));
  EXPECT_EQ(r.body,
            R"({"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"})");
}

}  // namespace
}  // namespace nimbus::api
