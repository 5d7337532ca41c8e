#include "cli/api_client.h"

#include <fmt/format.h>

#include <chrono>
#include <pugixml.hpp>
#include <thread>

#include "cli/credentials.h"
#include "cli/format.h"

namespace nimbus::cli {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// Deploy waits this long for State/LastUpdateStatus to settle (AWS takes
// seconds; a function that is still Pending after five minutes has a problem).
constexpr std::chrono::minutes kSettleWait{5};
constexpr milliseconds kSettlePoll{200};

// AWS error types that mean "no such resource" although the status is 400.
bool IsNotFoundType(std::string_view description) {
  for (std::string_view type : {"ResourceNotFoundException", "QueueDoesNotExist",
                                "AWS.SimpleQueueService.NonExistentQueue", "NotFoundException"}) {
    if (description.starts_with(type) &&
        (description.size() == type.size() || description[type.size()] == ':')) {
      return true;
    }
  }
  return false;
}

Code CodeOfStatus(int status) {
  return status == 404   ? Code::kNotFound
         : status == 409 ? Code::kConflict
         : status == 429 ? Code::kThrottled
         : status >= 500 ? Code::kUnavailable
                         : Code::kInvalidArgument;
}

}  // namespace

std::string_view ServiceOf(const http::Request& request) {
  if (auto target = request.headers.Get("X-Amz-Target")) {
    constexpr std::pair<std::string_view, std::string_view> kByTarget[] = {
        {"Logs_", "logs"},         {"AmazonSQS.", "sqs"}, {"DynamoDB", "dynamodb"},
        {"AWSEvents.", "events"}, {"GraniteServiceVersion", "monitoring"}};
    for (const auto& [prefix, service] : kByTarget) {
      if (target->starts_with(prefix)) return service;
    }
  }
  if (request.path().starts_with("/v2/")) return "apigateway";
  return "lambda";
}

Result<http::Response> ApiClient::Raw(http::Request request, const http::SendOptions& options) {
  const std::string_view service = ServiceOf(request);
  return Send(std::move(request), service, region_, options);
}

Result<http::Response> ApiClient::Send(http::Request request, std::string_view service,
                                       std::string_view region, const http::SendOptions& options) {
  // Signed as sent: with the Host the client would add and the endpoint's base path.
  request.headers.Set("Host", http::HostHeader(client_.endpoint()));
  http::Request as_sent = request;
  as_sent.target = client_.endpoint().base_path + request.target;
  http::SigningParams params;
  params.credentials = credentials_;
  params.region = std::string(region);
  params.service = std::string(service);
  params.time = std::chrono::system_clock::now();
  NIMBUS_RETURN_IF_ERROR(http::SignRequest(as_sent, params));
  request.headers = std::move(as_sent.headers);
  auto r = client_.Send(request, options);
  if (!r.has_value() && r.error().code() == Code::kUnavailable &&
      r.error().message().rfind("cannot connect", 0) == 0) {
    return Status(Code::kUnavailable, r.error().message() + " (is `nimbus serve` running?)");
  }
  return r;
}

Result<json::object> ApiClient::Decode(const http::Response& res) {
  if (res.status < 200 || res.status >= 300) {
    std::string description = DescribeError(res);
    Code code = CodeOfStatus(res.status);
    if (IsNotFoundType(description)) code = Code::kNotFound;
    return Status(code, std::move(description));
  }
  if (res.body.empty()) return json::object();
  boost::system::error_code ec;
  json::value v = json::parse(res.body, ec);
  if (ec || !v.is_object()) {
    return Internal(fmt::format("unexpected response from the server (HTTP {}): {}", res.status,
                                res.body.substr(0, 200)));
  }
  return std::move(v.get_object());
}

std::string ApiClient::DescribeError(const http::Response& response) const {
  std::string description = DescribeAwsError(response);
  if (!auth_hint_.empty() && IsAuthenticationError(description.substr(0, description.find(':')))) {
    description += "\n" + auth_hint_;
  }
  return description;
}

Result<json::object> ApiClient::Call(std::string method, std::string target,
                                     const json::object* body, const http::SendOptions& options) {
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  if (body) {
    req.body = json::serialize(*body);
    req.headers.Set("Content-Type", "application/json");
  }
  NIMBUS_ASSIGN_OR_RETURN(http::Response res, Raw(std::move(req), options));
  return Decode(res);
}

Result<json::object> ApiClient::Rpc(std::string_view target, const json::object& body,
                                    std::string_view json_version) {
  http::Request req;
  req.method = "POST";
  req.target = "/";
  req.body = json::serialize(body);
  req.headers.Set("X-Amz-Target", std::string(target));
  req.headers.Set("Content-Type", fmt::format("application/x-amz-json-{}", json_version));
  NIMBUS_ASSIGN_OR_RETURN(http::Response res, Raw(std::move(req)));
  return Decode(res);
}

Result<std::string> ApiClient::S3(std::string method, std::string target, std::string body,
                                  std::string_view region) {
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  if (!body.empty()) req.headers.Set("Content-Type", "application/xml");
  req.body = std::move(body);
  NIMBUS_ASSIGN_OR_RETURN(http::Response res, Send(std::move(req), "s3", region, {}));
  if (res.status >= 200 && res.status < 300) return std::move(res.body);
  pugi::xml_document doc;
  std::string description;
  if (doc.load_buffer(res.body.data(), res.body.size())) {
    pugi::xml_node error = doc.child("Error");
    description = error.child_value("Code");
    if (std::string message = error.child_value("Message"); !message.empty()) {
      description += (description.empty() ? "" : ": ") + message;
    }
  }
  if (description.empty())
    description = fmt::format("HTTP {}: {}", res.status, res.body.substr(0, 200));
  if (!auth_hint_.empty() && IsAuthenticationError(doc.child("Error").child_value("Code"))) {
    description += "\n" + auth_hint_;
  }
  return Status(CodeOfStatus(res.status), std::move(description));
}

Result<ApiClient> Connect(const std::string& endpoint) {
  NIMBUS_ASSIGN_OR_RETURN(http::Endpoint parsed, http::ParseEndpoint(endpoint));
  auto env = [](const char* name, const char* fallback) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : fallback;
  };
  ClientCredentials found = FindClientCredentials();
  std::string hint = CredentialsHint(found);
  std::string region = env("AWS_REGION", "");
  if (region.empty()) region = env("AWS_DEFAULT_REGION", "us-east-1");
  return ApiClient(http::HttpClient(std::move(parsed)), std::move(found.credentials), std::move(region),
                   std::move(hint));
}

std::string FunctionPath(const std::string& name) {
  return "/2015-03-31/functions/" + PercentEncode(name);
}

Status WaitUntilSettled(ApiClient& api, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + kSettleWait;
  for (;;) {
    NIMBUS_ASSIGN_OR_RETURN(json::object c,
                            api.Call("GET", FunctionPath(name) + "/configuration", nullptr));
    const std::string state = JsonString(c, "State");
    const std::string update = JsonString(c, "LastUpdateStatus");
    if (state == "Failed") {
      return Internal(
          fmt::format("function {}: state Failed: {}", name, JsonString(c, "StateReason")));
    }
    if (update == "Failed") {
      return Internal(fmt::format("function {}: update failed: {}", name,
                                  JsonString(c, "LastUpdateStatusReason")));
    }
    if (state != "Pending" && update != "InProgress") return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(Code::kDeadlineExceeded,
                    fmt::format("function {}: still {} / {} after {} minutes", name, state, update,
                                kSettleWait.count()));
    }
    std::this_thread::sleep_for(kSettlePoll);
  }
}

std::string JsonString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

int64_t JsonInt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return 0;
}

}  // namespace nimbus::cli
