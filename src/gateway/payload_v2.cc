#include "gateway/payload_v2.h"

#include <cctype>
#include <ctime>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"

namespace nimbus::gateway {
namespace {

namespace json = boost::json;

// Text content types travel as they are; everything else base64.
bool IsText(std::string_view content_type) {
  std::string t = AsciiLower(content_type);
  return t.empty() || t.starts_with("text/") || t.find("json") != std::string::npos ||
         t.find("xml") != std::string::npos || t.find("javascript") != std::string::npos ||
         t.starts_with("application/x-www-form-urlencoded");
}

// "01/May/2024:12:00:00 +0000"
std::string ClfTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return buf;
}

}  // namespace

Addressed AddressOf(const http::Request& request, std::string_view host_suffix,
                    std::string_view path_prefix) {
  Addressed a;
  std::string_view host = request.headers.Get("Host").value_or("");
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  a.domain = std::string(host);
  std::string_view path = request.path();
  if (host.size() > host_suffix.size() && host.ends_with(host_suffix)) {
    a.id = std::string(host.substr(0, host.size() - host_suffix.size()));
  } else if (path.starts_with(path_prefix)) {
    std::string_view rest = path.substr(path_prefix.size());
    a.id = std::string(rest.substr(0, rest.find('/')));
    path = rest.substr(a.id.size());
  }
  a.path = path.empty() ? "/" : std::string(path);
  return a;
}

std::string EventV2(const http::Request& request, const EventV2Context& context) {
  json::object headers;
  json::array cookies;
  std::string user_agent;
  for (const auto& [k, v] : request.headers.entries()) {
    std::string name = AsciiLower(k);
    if (name == "cookie") {
      std::string_view rest = v;
      while (!rest.empty()) {
        size_t semi = rest.find(';');
        std::string_view one = rest.substr(0, semi);
        while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
        if (!one.empty()) cookies.push_back(json::string(one));
        if (semi == std::string_view::npos) break;
        rest.remove_prefix(semi + 1);
      }
      continue;
    }
    if (name == "user-agent") user_agent = v;
    if (json::value* existing = headers.if_contains(name)) {
      *existing = json::string(std::string(existing->as_string()) + "," + v);
    } else {
      headers[name] = v;
    }
  }
  headers["x-forwarded-proto"] = "http";
  if (!request.remote_address.empty()) headers["x-forwarded-for"] = request.remote_address;
  json::object query;
  for (const auto& [k, v] : http::ParseQuery(request.query())) {
    if (json::value* existing = query.if_contains(k)) {
      *existing = json::string(std::string(existing->as_string()) + "," + v);
    } else {
      query[k] = v;
    }
  }
  const int64_t epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(context.time.time_since_epoch()).count();
  json::object http{{"method", request.method},
                    {"path", http::PercentDecode(context.raw_path).value_or(context.raw_path)},
                    {"protocol", "HTTP/1.1"},
                    {"sourceIp", request.remote_address.empty() ? "127.0.0.1" : request.remote_address},
                    {"userAgent", user_agent}};
  std::string domain_prefix = context.domain_name.substr(0, context.domain_name.find('.'));
  json::object event{
      {"version", "2.0"},
      {"routeKey", context.route_key},
      {"rawPath", context.raw_path},
      {"rawQueryString", std::string(request.query())},
  };
  if (!cookies.empty()) event["cookies"] = std::move(cookies);
  event["headers"] = std::move(headers);
  if (!query.empty()) event["queryStringParameters"] = std::move(query);
  if (!context.path_parameters.empty()) {
    json::object params;
    for (const auto& [k, v] : context.path_parameters) params[k] = v;
    event["pathParameters"] = std::move(params);
  }
  event["requestContext"] = json::object{{"accountId", context.account_id},
                                         {"apiId", context.api_id},
                                         {"domainName", context.domain_name},
                                         {"domainPrefix", domain_prefix},
                                         {"http", std::move(http)},
                                         {"requestId", context.request_id},
                                         {"routeKey", context.route_key},
                                         {"stage", context.stage},
                                         {"time", ClfTime(context.time)},
                                         {"timeEpoch", epoch_ms}};
  if (!context.iam_access_key.empty()) {
    // What AWS shows for an IAM user's key: the key names the caller.
    const std::string user = "nimbus-" + context.iam_access_key;
    event["requestContext"].as_object()["authorizer"] = json::object{
        {"iam", json::object{{"accessKey", context.iam_access_key},
                             {"accountId", context.account_id},
                             {"callerId", context.iam_access_key},
                             {"cognitoIdentity", nullptr},
                             {"principalOrgId", nullptr},
                             {"userArn", fmt::format("arn:aws:iam::{}:user/{}", context.account_id, user)},
                             {"userId", context.iam_access_key}}}};
  }
  if (!request.body.empty()) {
    const bool text = IsText(request.headers.Get("Content-Type").value_or(""));
    event["body"] = text ? request.body : Base64Encode(request.body);
    event["isBase64Encoded"] = !text;
  } else {
    event["isBase64Encoded"] = false;
  }
  return json::serialize(event);
}

std::string EventV1(const http::Request& request, const EventV2Context& context) {
  json::object headers, multi_headers, query, multi_query;
  std::string user_agent;
  for (const auto& [k, v] : request.headers.entries()) {
    headers[k] = v;  // the last value, as API Gateway's single-value map keeps it
    json::value& list = multi_headers[k];
    if (!list.is_array()) list = json::array{};
    list.as_array().push_back(json::string(v));
    if (AsciiLower(k) == "user-agent") user_agent = v;
  }
  for (const auto& [k, v] : http::ParseQuery(request.query())) {
    query[k] = v;
    json::value& list = multi_query[k];
    if (!list.is_array()) list = json::array{};
    list.as_array().push_back(json::string(v));
  }
  const int64_t epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(context.time.time_since_epoch()).count();
  const std::string path = http::PercentDecode(context.raw_path).value_or(context.raw_path);
  std::string resource = context.route_key.substr(context.route_key.find(' ') + 1);
  json::object event{
      {"version", "1.0"},
      {"resource", resource},
      {"path", path},
      {"httpMethod", request.method},
      {"headers", std::move(headers)},
      {"multiValueHeaders", std::move(multi_headers)},
      {"queryStringParameters", query.empty() ? json::value(nullptr) : json::value(std::move(query))},
      {"multiValueQueryStringParameters", multi_query.empty() ? json::value(nullptr) : json::value(std::move(multi_query))},
      {"requestContext",
       json::object{{"accountId", context.account_id},
                    {"apiId", context.api_id},
                    {"domainName", context.domain_name},
                    {"domainPrefix", context.domain_name.substr(0, context.domain_name.find('.'))},
                    {"extendedRequestId", context.request_id},
                    {"httpMethod", request.method},
                    {"identity", json::object{{"sourceIp", request.remote_address.empty() ? "127.0.0.1" : request.remote_address},
                                              {"userAgent", user_agent}}},
                    {"path", path},
                    {"protocol", "HTTP/1.1"},
                    {"requestId", context.request_id},
                    {"requestTime", ClfTime(context.time)},
                    {"requestTimeEpoch", epoch_ms},
                    {"resourceId", context.route_key},
                    {"resourcePath", resource},
                    {"stage", context.stage}}},
      {"stageVariables", nullptr},
  };
  if (context.path_parameters.empty()) {
    event["pathParameters"] = nullptr;
  } else {
    json::object params;
    for (const auto& [k, v] : context.path_parameters) params[k] = v;
    event["pathParameters"] = std::move(params);
  }
  const bool text = IsText(request.headers.Get("Content-Type").value_or(""));
  event["body"] = request.body.empty() ? json::value(nullptr) : json::value(text ? request.body : Base64Encode(request.body));
  event["isBase64Encoded"] = !request.body.empty() && !text;
  return json::serialize(event);
}

http::Response ResponseFromV2(const std::string& payload) {
  http::Response r;
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec) {
    // Not JSON at all: the bytes as the body (a function returning a bare string
    // through a runtime that does not quote it).
    r.status = 200;
    r.headers.Set("Content-Type", "application/json");
    r.body = payload;
    return r;
  }
  const json::object* o = v.is_object() ? &v.as_object() : nullptr;
  const json::value* status = o != nullptr ? o->if_contains("statusCode") : nullptr;
  if (status == nullptr) {
    r.status = 200;
    r.headers.Set("Content-Type", "application/json");
    r.body = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
    return r;
  }
  r.status = status->is_number() ? static_cast<int>(status->to_number<int64_t>()) : 200;
  if (const auto* h = o->if_contains("headers"); h && h->is_object()) {
    for (const auto& [k, x] : h->as_object()) {
      r.headers.Add(std::string(k), x.is_string() ? std::string(x.as_string()) : json::serialize(x));
    }
  }
  if (const auto* mh = o->if_contains("multiValueHeaders"); mh && mh->is_object()) {
    for (const auto& [k, x] : mh->as_object()) {
      if (!x.is_array()) continue;
      for (const auto& e : x.as_array()) r.headers.Add(std::string(k), e.is_string() ? std::string(e.as_string()) : json::serialize(e));
    }
  }
  if (const auto* c = o->if_contains("cookies"); c && c->is_array()) {
    for (const auto& e : c->as_array()) {
      if (e.is_string()) r.headers.Add("Set-Cookie", std::string(e.as_string()));
    }
  }
  if (const auto* b = o->if_contains("body"); b && !b->is_null()) {
    std::string body = b->is_string() ? std::string(b->as_string()) : json::serialize(*b);
    const json::value* b64 = o->if_contains("isBase64Encoded");
    if (b64 != nullptr && b64->is_bool() && b64->as_bool()) body = Base64Decode(body).value_or("");
    r.body = std::move(body);
  }
  if (!r.headers.Has("Content-Type") && !r.body.empty()) r.headers.Set("Content-Type", "application/json");
  return r;
}

}  // namespace nimbus::gateway
