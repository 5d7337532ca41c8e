#include "gateway/function_urls.h"

#include <algorithm>
#include <cctype>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/errors.h"
#include "base/encoding.h"
#include "base/log.h"
#include "base/time_format.h"
#include "control/function_name.h"
#include "control/policy.h"
#include "gateway/payload_v2.h"
#include "http/sigv4_scope.h"
#include "http/trace_header.h"

namespace nimbus::gateway {
namespace {

namespace json = boost::json;

constexpr std::string_view kApiPrefix = "/2021-10-31/functions/";
constexpr std::string_view kHostSuffix = ".lambda-url.localhost";
constexpr std::string_view kPathPrefix = "/lambda-url/";

// Persisted format: released migrations are never edited. `config`: ToJson().
const std::vector<storage::Migration> kMigrations = {
    {1, "CREATE TABLE urls (url_id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL,"
        " config TEXT NOT NULL, UNIQUE (function, qualifier));"},
};

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.push_back(json::string(s));
  return a;
}

std::vector<std::string> StringsOf(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (e.is_string()) out.emplace_back(e.as_string());
  }
  return out;
}

json::object CorsJson(const Cors& c) {
  return {{"AllowCredentials", c.allow_credentials}, {"AllowHeaders", Strings(c.allow_headers)},
          {"AllowMethods", Strings(c.allow_methods)}, {"AllowOrigins", Strings(c.allow_origins)},
          {"ExposeHeaders", Strings(c.expose_headers)}, {"MaxAge", c.max_age}};
}

Cors CorsOf(const json::object& o) {
  Cors c;
  c.set = true;
  if (const auto* x = o.if_contains("AllowCredentials"); x && x->is_bool()) c.allow_credentials = x->as_bool();
  c.allow_headers = StringsOf(o.if_contains("AllowHeaders"));
  c.allow_methods = StringsOf(o.if_contains("AllowMethods"));
  c.allow_origins = StringsOf(o.if_contains("AllowOrigins"));
  c.expose_headers = StringsOf(o.if_contains("ExposeHeaders"));
  if (const auto* x = o.if_contains("MaxAge"); x && x->is_number()) c.max_age = static_cast<int>(x->to_number<int64_t>());
  return c;
}

json::object ToJson(const UrlConfig& c) {
  json::object o{{"url_id", c.url_id},     {"function", c.function_name}, {"qualifier", c.qualifier},
                 {"auth_type", c.auth_type}, {"created", c.created},       {"modified", c.modified}};
  if (c.cors.set) o["cors"] = CorsJson(c.cors);
  return o;
}

std::optional<UrlConfig> FromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto str = [&o](const char* k) {
    const json::value* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  UrlConfig c;
  c.url_id = str("url_id");
  c.function_name = str("function");
  c.qualifier = str("qualifier");
  c.auth_type = str("auth_type");
  c.created = str("created");
  c.modified = str("modified");
  if (const auto* x = o.if_contains("cors"); x && x->is_object()) c.cors = CorsOf(x->as_object());
  return c;
}

// AWS's url ids: 32 characters of lowercase letters and digits.
std::string NewUrlId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id;
  for (int i = 0; i < 32; ++i) id += kAlphabet[rng() % 36];
  return id;
}

std::string Now() { return IsoUtcMillis(std::chrono::system_clock::now()); }

http::Response Error(const api::ApiError& e) {
  http::Response r = api::ErrorResponse(e);
  r.headers.Set("x-amzn-RequestId", NewUuid());
  r.headers.Set("Content-Type", "application/json");
  return r;
}

http::Response Message(int status, std::string_view message) {
  http::Response r = http::Response::Json(status, json::serialize(json::object{{"Message", message}}));
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

bool Allowed(const std::vector<std::string>& list, std::string_view value) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& x) {
    return x == "*" || (x.size() == value.size() &&
                        std::equal(x.begin(), x.end(), value.begin(), [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                        }));
  });
}

}  // namespace

FunctionUrls::FunctionUrls(FunctionUrlsDeps deps, std::unique_ptr<storage::Store> store)
    : deps_(deps), store_(std::move(store)) {}

Result<std::unique_ptr<FunctionUrls>> FunctionUrls::Open(const std::filesystem::path& db, FunctionUrlsDeps deps) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  std::unique_ptr<FunctionUrls> u(new FunctionUrls(deps, std::move(store)));
  MutexLock sl(u->store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, u->store_->Prepare("SELECT config FROM urls"));
  MutexLock l(u->mu_);
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (auto c = FromJson(st.ColumnText(0))) u->by_id_[c->url_id] = std::move(*c);
  }
  return u;
}

bool FunctionUrls::MatchesApi(const http::Request& request) {
  std::string_view path = request.path();
  return path.starts_with(kApiPrefix) && (path.ends_with("/url") || path.ends_with("/urls"));
}

std::string FunctionUrls::UrlIdOf(const http::Request& request) {
  return AddressOf(request, kHostSuffix, kPathPrefix).id;
}

std::string FunctionUrls::UrlOf(const UrlConfig& c) const {
  return fmt::format("http://{}{}:{}/", c.url_id, kHostSuffix, port_.load());
}

void FunctionUrls::HandleApi(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(responder));
  deps_.blocking.Submit([this, call] { call->second.Respond(HandleApiSync(call->first)); });
}

http::Response FunctionUrls::HandleApiSync(const http::Request& request) {
  std::string_view path = request.path().substr(kApiPrefix.size());
  const bool list = path.ends_with("/urls");
  std::string name = http::PercentDecode(path.substr(0, path.rfind('/'))).value_or("");
  auto query = http::ParseQuery(request.query());
  std::string qualifier = http::QueryParam(query, "Qualifier").value_or("");
  auto f = deps_.registry.Resolve(name, qualifier);
  if (!f.has_value()) return Error(api::ToApiError(f.error()));
  const std::string function = (*f)->config.name;
  const std::string function_arn = control::FunctionArn(deps_.region, function) + (qualifier.empty() ? "" : ":" + qualifier);
  auto reply = [this, &function_arn](int status, const UrlConfig& c, bool with_modified) {
    json::object o{{"FunctionUrl", UrlOf(c)}, {"FunctionArn", function_arn}, {"AuthType", c.auth_type},
                   {"CreationTime", c.created}, {"InvokeMode", "BUFFERED"}};
    if (c.cors.set) o["Cors"] = CorsJson(c.cors);
    if (with_modified) o["LastModifiedTime"] = c.modified;
    http::Response r = http::Response::Json(status, json::serialize(o));
    r.headers.Set("x-amzn-RequestId", NewUuid());
    return r;
  };
  auto find = [&]() -> std::optional<UrlConfig> {
    MutexLock l(mu_);
    for (const auto& [id, c] : by_id_) {
      if (c.function_name == function && c.qualifier == qualifier) return c;
    }
    return std::nullopt;
  };
  if (list) {
    json::array configs;
    {
      MutexLock l(mu_);
      for (const auto& [id, c] : by_id_) {
        if (c.function_name != function) continue;
        json::object o{{"FunctionUrl", UrlOf(c)},
                       {"FunctionArn", control::FunctionArn(deps_.region, function) + (c.qualifier.empty() ? "" : ":" + c.qualifier)},
                       {"AuthType", c.auth_type}, {"CreationTime", c.created}, {"LastModifiedTime", c.modified},
                       {"InvokeMode", "BUFFERED"}};
        if (c.cors.set) o["Cors"] = CorsJson(c.cors);
        configs.push_back(std::move(o));
      }
    }
    http::Response r = http::Response::Json(200, json::serialize(json::object{{"FunctionUrlConfigs", std::move(configs)}}));
    r.headers.Set("x-amzn-RequestId", NewUuid());
    return r;
  }
  const std::string& method = request.method;
  std::optional<UrlConfig> existing = find();
  auto not_found = [] {
    return Error(api::ApiError{404, "ResourceNotFoundException", "The resource you requested does not exist."});
  };
  if (method == "GET") return existing ? reply(200, *existing, true) : not_found();
  auto save = [&](const UrlConfig& c, bool remove) -> Status {
    MutexLock l(store_mu_);
    return storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(remove ? "DELETE FROM urls WHERE url_id = ?"
                                                              : "INSERT OR REPLACE INTO urls (url_id, function, "
                                                                "qualifier, config) VALUES (?, ?, ?, ?)"));
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, c.url_id));
      if (!remove) {
        NIMBUS_RETURN_IF_ERROR(st.BindText(2, c.function_name));
        NIMBUS_RETURN_IF_ERROR(st.BindText(3, c.qualifier));
        NIMBUS_RETURN_IF_ERROR(st.BindText(4, json::serialize(ToJson(c))));
      }
      return st.Run();
    });
  };
  if (method == "DELETE") {
    if (!existing) return not_found();
    Status st = save(*existing, true);
    if (!st.ok()) return Error(api::ToApiError(st));
    MutexLock l(mu_);
    by_id_.erase(existing->url_id);
    http::Response r;
    r.status = 204;
    r.headers.Set("x-amzn-RequestId", NewUuid());
    return r;
  }
  if (method != "POST" && method != "PUT") return Error(api::UnknownOperation(method, request.path()));
  boost::system::error_code ec;
  json::value v = request.body.empty() ? json::value(json::object{}) : json::parse(request.body, ec);
  if (ec || !v.is_object()) return Error(api::RequestNotJson(ec ? ec.message() : "not an object"));
  const json::object& body = v.as_object();
  UrlConfig c;
  if (method == "POST") {
    if (existing) {
      return Error(api::ApiError{409, "ResourceConflictException",
                                 fmt::format("Failed to create function url config for [functionArn = {}]. Error "
                                             "message:  FunctionUrlConfig exists for this Lambda function",
                                             function_arn)});
    }
    c.url_id = NewUrlId();
    c.function_name = function;
    c.qualifier = qualifier;
    c.created = Now();
  } else {
    if (!existing) return not_found();
    c = *existing;
  }
  if (const auto* a = body.if_contains("AuthType")) {
    std::string auth = a->is_string() ? std::string(a->as_string()) : "";
    if (auth != "NONE" && auth != "AWS_IAM") {
      return Error(api::ApiError{400, "ValidationException",
                                 fmt::format("1 validation error detected: Value '{}' at 'authType' failed to satisfy "
                                             "constraint: Member must satisfy enum value set: [NONE, AWS_IAM]",
                                             auth)});
    }
    c.auth_type = auth;
  } else if (method == "POST") {
    return Error(api::ApiError{400, "ValidationException",
                               "1 validation error detected: Value null at 'authType' failed to satisfy constraint: "
                               "Member must not be null"});
  }
  if (const auto* m = body.if_contains("InvokeMode"); m && m->is_string() && m->as_string() != "BUFFERED") {
    return Error(api::ApiError{400, "InvalidParameterValueException",
                               "InvokeMode RESPONSE_STREAM is not supported by Nimbus yet; use BUFFERED"});
  }
  if (const auto* cors = body.if_contains("Cors"); cors && cors->is_object()) c.cors = CorsOf(cors->as_object());
  c.modified = Now();
  Status st = save(c, false);
  if (!st.ok()) return Error(api::ToApiError(st));
  {
    MutexLock l(mu_);
    by_id_[c.url_id] = c;
  }
  return reply(method == "POST" ? 201 : 200, c, method == "PUT");
}

void FunctionUrls::HandleInvoke(http::Request&& request, http::Responder responder) {
  const Addressed address = AddressOf(request, kHostSuffix, kPathPrefix);
  const std::string& id = address.id;
  std::optional<UrlConfig> config;
  {
    MutexLock l(mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) config = it->second;
  }
  if (!config) {
    responder.Respond(Message(404, "Not Found"));
    return;
  }
  const std::string origin(request.headers.Get("Origin").value_or(""));
  // CORS headers for an allowed origin.
  auto add_cors = [cfg = *config, origin](http::Response& r) {
    if (!cfg.cors.set || origin.empty() || !Allowed(cfg.cors.allow_origins, origin)) return;
    const bool any = std::find(cfg.cors.allow_origins.begin(), cfg.cors.allow_origins.end(), "*") !=
                     cfg.cors.allow_origins.end();
    r.headers.Set("Access-Control-Allow-Origin", any && !cfg.cors.allow_credentials ? "*" : origin);
    if (cfg.cors.allow_credentials) r.headers.Set("Access-Control-Allow-Credentials", "true");
    if (!cfg.cors.expose_headers.empty()) {
      std::string v;
      for (const auto& h : cfg.cors.expose_headers) v += (v.empty() ? "" : ",") + h;
      r.headers.Set("Access-Control-Expose-Headers", v);
    }
    r.headers.Set("Vary", "Origin");
  };
  // A preflight is answered here.
  if (request.method == "OPTIONS" && config->cors.set && request.headers.Has("Access-Control-Request-Method")) {
    http::Response r;
    r.status = 200;
    add_cors(r);
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
      return s;
    };
    if (r.headers.Has("Access-Control-Allow-Origin")) {
      if (!config->cors.allow_methods.empty()) r.headers.Set("Access-Control-Allow-Methods", join(config->cors.allow_methods));
      if (!config->cors.allow_headers.empty()) r.headers.Set("Access-Control-Allow-Headers", join(config->cors.allow_headers));
      if (config->cors.max_age > 0) r.headers.Set("Access-Control-Max-Age", std::to_string(config->cors.max_age));
    }
    responder.Respond(std::move(r));
    return;
  }
  std::string account = "anonymous";
  std::string iam_access_key;
  if (config->auth_type == "AWS_IAM") {
    if (deps_.verify_iam) {
      auto key = deps_.verify_iam(request);
      if (!key) {
        responder.Respond(Message(403, "Forbidden"));
        return;
      }
      iam_access_key = *key;
    } else if (auto scope = http::ParseCredentialScope(request); !scope || scope->service != "lambda") {
      responder.Respond(Message(403, "Forbidden"));
      return;
    }
    account = deps_.region.account_id;
  } else {
    auto policy = deps_.registry.GetPolicy(config->function_name, config->qualifier);
    if (!policy.has_value() || !control::PolicyAllows(policy->document, "*", "lambda:InvokeFunctionUrl")) {
      responder.Respond(Message(403, "Forbidden"));
      return;
    }
  }
  auto f = deps_.registry.ResolveForInvoke(config->function_name, config->qualifier);
  if (!f.has_value()) {
    responder.Respond(Message(404, "Not Found"));
    return;
  }
  EventV2Context context;
  context.api_id = config->url_id;
  context.domain_name = address.domain;
  context.account_id = account;
  context.request_id = NewUuid();
  context.time = std::chrono::system_clock::now();
  context.raw_path = address.path;
  context.iam_access_key = std::move(iam_access_key);
  invoke::InvokeRequest invocation;
  invocation.function = *f;
  invocation.request_id = context.request_id;
  invocation.invoked_function_arn =
      control::FunctionArn(deps_.region, config->function_name) + (config->qualifier.empty() ? "" : ":" + config->qualifier);
  invocation.payload = EventV2(request, context);
  invocation.trace_id = http::TraceHeaderOf(request.headers);
  auto held = std::make_shared<http::Responder>(std::move(responder));
  auto cors = std::make_shared<std::function<void(http::Response&)>>(add_cors);
  deps_.invoker.Invoke(std::move(invocation), [held, cors, request_id = context.request_id](Result<invoke::InvokeOutcome> outcome) {
    http::Response r;
    if (!outcome.has_value()) {
      r = outcome.error().code() == Code::kThrottled ? Message(429, "Rate Exceeded.") : Message(500, "Internal Server Error");
    } else if (outcome->function_error) {
      r = Message(502, "Internal Server Error");
    } else {
      r = ResponseFromV2(outcome->payload);
    }
    r.headers.Set("x-amzn-RequestId", request_id);
    (*cors)(r);
    held->Respond(std::move(r));
  });
}

}  // namespace nimbus::gateway
