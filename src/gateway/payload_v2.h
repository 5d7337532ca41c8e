// gateway: HTTP requests as Lambda events and function results as HTTP responses,
// in payload format 2.0 (API Gateway HTTP APIs and function URLs; LAMBDA_COMPAT
// §4.4-4.5). Pure functions of their inputs.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "http/message.h"

namespace nimbus::gateway {

struct EventV2Context {
  std::string route_key = "$default";
  std::string stage = "$default";
  std::string api_id;       // function URLs: the url id
  std::string domain_name;  // the Host without its port
  std::string account_id;   // "anonymous" for a public function URL
  std::string request_id;
  std::string raw_path;     // the path as the function sees it (percent-encoded)
  std::chrono::system_clock::time_point time;
  std::map<std::string, std::string> path_parameters;  // HTTP API routes' {name}s
  // Function URLs with AuthType AWS_IAM: the access key that signed the request
  // (requestContext.authorizer.iam); empty: no authorizer.
  std::string iam_access_key;
};

// A request to a gateway endpoint (a function URL, an HTTP API), addressed by
// Host "<id><host_suffix>[:port]" or by the path fallback "<path_prefix><id>/...".
struct Addressed {
  std::string id;      // "" when the request is addressed neither way
  std::string path;    // what the endpoint sees: the fallback's prefix removed ("/" at least)
  std::string domain;  // the Host without its port
};
Addressed AddressOf(const http::Request& request, std::string_view host_suffix,
                    std::string_view path_prefix);

// The event for `request` (headers lower-cased and comma-joined, cookies apart,
// query parameters joined, the body base64 unless it is text).
std::string EventV2(const http::Request& request, const EventV2Context& context);

// The same request in payload format 1.0 (the REST API shape: httpMethod, path,
// multiValueHeaders, multiValueQueryStringParameters, requestContext.identity).
std::string EventV1(const http::Request& request, const EventV2Context& context);

// The HTTP response for a function's result: an object with statusCode (and
// headers, multiValueHeaders, cookies, body, isBase64Encoded) is taken as is;
// any other JSON value is a 200 application/json body of that value.
http::Response ResponseFromV2(const std::string& payload);

}  // namespace nimbus::gateway
