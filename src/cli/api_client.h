// ApiClient: how the `nimbus` client commands talk to a running `nimbus serve`.
// One port serves every API; this class speaks each of them the way the server
// routes it: the Lambda REST API (paths under /2015-03-31/ ...), the JSON
// protocols chosen by X-Amz-Target (Logs, SQS, DynamoDB, EventBridge), API
// Gateway v2's REST JSON (/v2/apis) and S3's REST XML (recognised by the SigV4
// credential scope of its Authorization header). Every request is signed with
// SigV4 for its service, as the AWS SDKs sign, with the credentials of the
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN environment
// variables, else the server's own admin key when this user can read its
// credentials.json, else "nimbus"/"nimbus", which only a server in dev mode
// accepts (cli/credentials.h). Non-2xx answers become Status errors carrying the
// AWS error type and message, and for an authentication error a hint saying
// where keys come from. Thread-compatible.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "http/client.h"
#include "http/sigv4.h"

namespace nimbus::cli {

// Nimbus does not check roles yet, but CreateFunction requires a well-formed one.
inline constexpr char kDefaultRole[] = "arn:aws:iam::000000000000:role/nimbus-function";

class ApiClient {
 public:
  // `auth_hint` (a line, or empty) is added to the description of errors that
  // say the server did not accept `credentials` (IsAuthenticationError).
  ApiClient(http::HttpClient client, http::AwsCredentials credentials, std::string region,
            std::string auth_hint = "")
      : client_(std::move(client)),
        credentials_(std::move(credentials)),
        region_(std::move(region)),
        auth_hint_(std::move(auth_hint)) {}

  // Any response; only transport failures are errors (a refused connection says
  // to start `nimbus serve`). Signed for the service the server routes it to
  // (ServiceOf).
  Result<http::Response> Raw(http::Request request, const http::SendOptions& options = {});

  // A JSON call. A non-2xx answer is an error "<AwsErrorType>: <message>" with the
  // code: 404 or an AWS "not found" type (ResourceNotFoundException,
  // QueueDoesNotExist, NotFoundException) → kNotFound, so callers can test for
  // absence; 409 → kConflict; 429 → kThrottled; 5xx → kUnavailable; else
  // kInvalidArgument. An empty 2xx body is an empty object.
  Result<boost::json::object> Call(std::string method, std::string target,
                                   const boost::json::object* body,
                                   const http::SendOptions& options = {});

  // An AWS JSON protocol call: POST / with X-Amz-Target `target` (e.g.
  // "AmazonSQS.CreateQueue") and Content-Type application/x-amz-json-<version>
  // ("1.0" for SQS and DynamoDB, "1.1" for Logs and EventBridge). Errors as Call().
  Result<boost::json::object> Rpc(std::string_view target, const boost::json::object& body,
                                  std::string_view json_version);
  Result<boost::json::object> Logs(std::string_view operation, const boost::json::object& body) {
    return Rpc(std::string("Logs_20140328.") + std::string(operation), body, "1.1");
  }

  // An S3 request (path style: "/bucket", "/bucket?notification") signed for
  // service s3 in `region`; returns the response body of a 2xx answer. Errors:
  // S3's XML <Error> as "<Code>: <Message>", 404 → kNotFound, 409 → kConflict.
  Result<std::string> S3(std::string method, std::string target, std::string body,
                         std::string_view region);

  // "<AwsErrorType>: <message>" of a Lambda-protocol error response
  // (DescribeAwsError), followed by "\n" and the hint for an authentication error.
  std::string DescribeError(const http::Response& response) const;

  const http::Endpoint& endpoint() const { return client_.endpoint(); }
  const http::AwsCredentials& credentials() const { return credentials_; }

 private:
  Result<http::Response> Send(http::Request request, std::string_view service, std::string_view region,
                              const http::SendOptions& options);
  Result<boost::json::object> Decode(const http::Response& res);

  http::HttpClient client_;
  http::AwsCredentials credentials_;
  std::string region_;
  std::string auth_hint_;
};

// The SigV4 signing name of the service the server routes `request` to: by its
// X-Amz-Target ("logs", "sqs", "dynamodb", "events", "monitoring"), "apigateway"
// for /v2/, else "lambda".
std::string_view ServiceOf(const http::Request& request);

// A client for `endpoint` ("http://host:port") with the credentials of
// FindClientCredentials() and the environment's region (AWS_REGION,
// AWS_DEFAULT_REGION, else us-east-1). Errors: kInvalidArgument for a bad URL.
Result<ApiClient> Connect(const std::string& endpoint);

// "/2015-03-31/functions/<name, percent-encoded>".
std::string FunctionPath(const std::string& name);

// Polls GetFunctionConfiguration until the function is neither Pending nor
// InProgress (at most 5 minutes). Errors: the function's state is Failed or its
// last update failed (kInternal, with the reason), kDeadlineExceeded, transport.
Status WaitUntilSettled(ApiClient& api, const std::string& name);

// A string or integer member of a JSON object; "" or 0 when absent or another type.
std::string JsonString(const boost::json::object& o, std::string_view key);
int64_t JsonInt(const boost::json::object& o, std::string_view key);

}  // namespace nimbus::cli
