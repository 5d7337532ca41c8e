#include "auth/keys_api.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>

#include "base/encoding.h"

namespace nimbus::auth {
namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "/nimbus/keys";

http::Response Reply(int status, std::string body) {
  http::Response r =
      body.empty() ? http::Response{} : http::Response::Json(status, std::move(body));
  r.status = status;
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

// Lambda's REST error shape (api::ErrorResponse); these are all client errors.
http::Response Error(int status, std::string_view type, std::string message) {
  http::Response r = Reply(
      status, json::serialize(json::object{{"Type", "User"}, {"message", std::move(message)}}));
  r.headers.Set("x-amzn-ErrorType", std::string(type));
  return r;
}

// The KeyStore's errors on the wire.
http::Response ErrorOf(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
      return Error(404, "ResourceNotFoundException", s.message());
    case Code::kFailedPrecondition:
    case Code::kConflict:
      return Error(409, "ResourceConflictException", s.message());
    default:
      break;
  }
  http::Response r =
      Reply(500, json::serialize(json::object{{"Type", "Service"}, {"message", s.message()}}));
  r.headers.Set("x-amzn-ErrorType", "ServiceException");
  return r;
}

// The body of POST /nimbus/keys: the policy of the new key.
Result<Policy> ParseCreate(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Policy::kAdmin;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    return InvalidArgument(fmt::format("the request body is not a JSON object: {}",
                                       body.substr(0, std::min<size_t>(body.size(), 200))));
  }
  const json::value* policy = v.as_object().if_contains("Policy");
  if (policy == nullptr || policy->is_null()) return Policy::kAdmin;
  if (policy->is_string()) {
    if (policy->as_string() == "admin") return Policy::kAdmin;
    if (policy->as_string() == "invoke") return Policy::kInvoke;
  }
  return InvalidArgument(fmt::format("Policy {} is not valid: expected \"admin\" or \"invoke\"",
                                     json::serialize(*policy)));
}

json::object Describe(const AccessKey& k) {
  return json::object{
      {"AccessKeyId", k.id}, {"Policy", PolicyName(k.policy)}, {"Created", k.created_ms}};
}

}  // namespace

bool KeysApi::Matches(const http::Request& request) {
  const std::string_view path = request.path();
  return path == kPrefix || (path.starts_with(kPrefix) && path[kPrefix.size()] == '/');
}

void KeysApi::Handle(http::Request&& request, http::Responder responder) {
  // BlockingPool takes a copyable std::function: the move-only Responder rides
  // in a shared_ptr owned by the one callback that completes it.
  auto held = std::make_shared<http::Responder>(std::move(responder));
  Handle(request, [held](http::Response r) { held->Respond(std::move(r)); });
}

void KeysApi::Handle(const http::Request& request, std::function<void(http::Response)> done) {
  auto segments = http::DecodedPathSegments(request.path());
  const bool collection = request.path() == kPrefix || request.path() == std::string(kPrefix) + "/";
  const bool one_key = !collection && segments && segments->size() == 3 && !(*segments)[2].empty();
  if (collection && request.method == "GET") {
    json::array list;
    for (const AccessKey& k : keys_.List()) list.push_back(Describe(k));
    done(Reply(200, json::serialize(json::object{{"AccessKeys", std::move(list)}})));
    return;
  }
  if (collection && request.method == "POST") {
    auto policy = ParseCreate(request.body);
    if (!policy.has_value()) {
      done(Error(400, "InvalidParameterValueException", policy.error().message()));
      return;
    }
    const int64_t now_ms = ToUnixMillis(clock_.Now());
    // Create writes and fsyncs the key file.
    blocking_.Submit([this, policy = *policy, now_ms, done = std::move(done)] {
      auto created = keys_.Create(policy, now_ms);
      if (!created.has_value()) {
        done(ErrorOf(created.error()));
        return;
      }
      json::object body = Describe(*created);
      body["SecretAccessKey"] = created->secret;
      done(Reply(201, json::serialize(body)));
    });
    return;
  }
  if (one_key && request.method == "DELETE") {
    blocking_.Submit([this, id = (*segments)[2], done = std::move(done)] {
      Status deleted = keys_.Delete(id);
      done(deleted.ok() ? Reply(204, "") : ErrorOf(deleted));
    });
    return;
  }
  http::Response r =
      Error(404, "UnknownOperationException",
            fmt::format("No API serves {} {}; the access key API is GET and POST {} and "
                        "DELETE {}/<AccessKeyId>",
                        request.method, std::string(request.path()), kPrefix, kPrefix));
  done(std::move(r));
}

}  // namespace nimbus::auth
