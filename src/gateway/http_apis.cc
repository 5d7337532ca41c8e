#include "gateway/http_apis.h"

#include <algorithm>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"
#include "base/time_format.h"
#include "control/policy.h"
#include "gateway/payload_v2.h"
#include "http/trace_header.h"

namespace nimbus::gateway {
namespace {

namespace json = boost::json;

constexpr std::string_view kApiPrefix = "/v2/apis";
constexpr std::string_view kHostSuffix = ".execute-api.localhost";
constexpr std::string_view kPathPrefix = "/execute-api/";

// Persisted format: released migrations are never edited. `config`: ToJson().
const std::vector<storage::Migration> kMigrations = {
    {1, "CREATE TABLE apis (id TEXT PRIMARY KEY, config TEXT NOT NULL);"},
};

// API Gateway's ids: 10 characters of lowercase letters and digits.
std::string NewId(size_t n = 10) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id;
  for (size_t i = 0; i < n; ++i) id += kAlphabet[rng() % 36];
  return id;
}

std::string Now() { return IsoUtcMillis(std::chrono::system_clock::now()); }

json::object ToJson(const HttpApi& a) {
  json::array integrations, routes, stages;
  for (const auto& i : a.integrations) {
    integrations.push_back(json::object{{"id", i.id}, {"function_arn", i.function_arn}, {"uri", i.uri}, {"payload", i.payload_version}});
  }
  for (const auto& r : a.routes) routes.push_back(json::object{{"id", r.id}, {"key", r.key}, {"target", r.target}});
  for (const auto& s : a.stages) {
    stages.push_back(json::object{{"name", s.name}, {"created", s.created}, {"auto_deploy", s.auto_deploy}});
  }
  return {{"id", a.id}, {"name", a.name}, {"created", a.created}, {"description", a.description},
          {"integrations", integrations}, {"routes", routes}, {"stages", stages}};
}

std::string Str(const json::object& o, const char* k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_string() ? std::string(x->as_string()) : std::string();
}

std::optional<HttpApi> FromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  HttpApi a;
  a.id = Str(o, "id");
  a.name = Str(o, "name");
  a.created = Str(o, "created");
  a.description = Str(o, "description");
  auto each = [&o](const char* k, auto fn) {
    if (const auto* x = o.if_contains(k); x && x->is_array()) {
      for (const auto& e : x->as_array()) {
        if (e.is_object()) fn(e.as_object());
      }
    }
  };
  each("integrations", [&](const json::object& e) {
    a.integrations.push_back({Str(e, "id"), Str(e, "function_arn"), Str(e, "uri"), Str(e, "payload")});
  });
  each("routes", [&](const json::object& e) { a.routes.push_back({Str(e, "id"), Str(e, "key"), Str(e, "target")}); });
  each("stages", [&](const json::object& e) {
    const json::value* ad = e.if_contains("auto_deploy");
    a.stages.push_back({Str(e, "name"), Str(e, "created"), ad && ad->is_bool() && ad->as_bool()});
  });
  return a;
}

http::Response Reply(int status, const json::value& body) {
  http::Response r = http::Response::Json(status, json::serialize(body));
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

// API Gateway's errors: {"message": ...} and the type in x-amzn-ErrorType. The
// message may echo the request's path, which may hold any bytes.
http::Response Error(int status, std::string_view type, std::string_view message) {
  http::Response r =
      http::Response::Json(status, json::serialize(json::object{{"message", ToValidUtf8(message)}}));
  r.headers.Set("x-amzn-ErrorType", std::string(type));
  r.headers.Set("x-amzn-RequestId", NewUuid());
  return r;
}

http::Response NotFound(std::string_view what) {
  return Error(404, "NotFoundException", fmt::format("Invalid {} identifier specified", what));
}

// The function ARN in an integration URI: a function ARN, or API Gateway's
// "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations".
std::string FunctionOfUri(std::string_view uri) {
  constexpr std::string_view kMarker = "/functions/";
  if (size_t at = uri.find(kMarker); uri.starts_with("arn:aws:apigateway:") && at != std::string_view::npos) {
    std::string_view rest = uri.substr(at + kMarker.size());
    return std::string(rest.substr(0, rest.find("/invocations")));
  }
  return uri.starts_with("arn:aws:lambda:") ? std::string(uri) : "";
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

}  // namespace

HttpApis::HttpApis(HttpApisDeps deps, std::unique_ptr<storage::Store> store) : deps_(deps), store_(std::move(store)) {}

Result<std::unique_ptr<HttpApis>> HttpApis::Open(const std::filesystem::path& db, HttpApisDeps deps) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  std::unique_ptr<HttpApis> h(new HttpApis(deps, std::move(store)));
  MutexLock sl(h->store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, h->store_->Prepare("SELECT config FROM apis"));
  MutexLock l(h->mu_);
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (auto a = FromJson(st.ColumnText(0))) h->apis_[a->id] = std::move(*a);
  }
  return h;
}

bool HttpApis::MatchesApi(const http::Request& request) {
  std::string_view path = request.path();
  return path == kApiPrefix || path.starts_with(std::string(kApiPrefix) + "/");
}

std::string HttpApis::ApiIdOf(const http::Request& request) {
  return AddressOf(request, kHostSuffix, kPathPrefix).id;
}

std::string HttpApis::EndpointOf(const HttpApi& api) const {
  return fmt::format("http://{}{}:{}", api.id, kHostSuffix, port_.load());
}

Status HttpApis::Save(const HttpApi& api, bool remove) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(remove ? "DELETE FROM apis WHERE id = ?"
                                                            : "INSERT OR REPLACE INTO apis (id, config) VALUES (?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, api.id));
    if (!remove) NIMBUS_RETURN_IF_ERROR(st.BindText(2, json::serialize(ToJson(api))));
    return st.Run();
  });
}

void HttpApis::HandleApi(http::Request&& request, http::Responder responder) {
  auto call = std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(responder));
  deps_.blocking.Submit([this, call] { call->second.Respond(HandleApiSync(call->first)); });
}

http::Response HttpApis::HandleApiSync(const http::Request& request) {
  auto segs = Segments(request.path());  // "v2", "apis", [id, [kind, [child]]]
  const std::string& method = request.method;
  json::object body;
  if (method == "POST" || method == "PATCH") {
    boost::system::error_code ec;
    json::value v = request.body.empty() ? json::value(json::object{}) : json::parse(request.body, ec);
    if (ec || !v.is_object()) return Error(400, "BadRequestException", "Invalid request body");
    body = std::move(v.as_object());
  }
  auto api_json = [this](const HttpApi& a) {
    return json::object{{"apiId", a.id},
                        {"apiEndpoint", EndpointOf(a)},
                        {"name", a.name},
                        {"protocolType", "HTTP"},
                        {"routeSelectionExpression", "$request.method $request.path"},
                        {"apiKeySelectionExpression", "$request.header.x-api-key"},
                        {"createdDate", a.created},
                        {"description", a.description},
                        {"disableExecuteApiEndpoint", false}};
  };
  auto integration_json = [](const HttpApi::Integration& i) {
    return json::object{{"integrationId", i.id},       {"integrationType", "AWS_PROXY"},
                        {"integrationUri", i.uri},      {"payloadFormatVersion", i.payload_version},
                        {"connectionType", "INTERNET"}, {"timeoutInMillis", 30000}};
  };
  auto route_json = [](const HttpApi::Route& r) {
    json::object o{{"routeId", r.id}, {"routeKey", r.key}, {"authorizationType", "NONE"}, {"apiKeyRequired", false}};
    if (!r.target.empty()) o["target"] = r.target;
    return o;
  };
  auto stage_json = [](const HttpApi::Stage& s) {
    return json::object{{"stageName", s.name}, {"autoDeploy", s.auto_deploy}, {"createdDate", s.created},
                        {"lastUpdatedDate", s.created}, {"defaultRouteSettings", json::object{}},
                        {"routeSettings", json::object{}}, {"stageVariables", json::object{}}};
  };
  // Validates an integration's function: it must exist.
  auto add_integration = [this](HttpApi& a, const std::string& uri, std::string payload) -> std::optional<http::Response> {
    std::string fn = FunctionOfUri(uri);
    if (fn.empty() || !deps_.registry.Resolve(fn).has_value()) {
      return Error(400, "BadRequestException", fmt::format("Invalid integration URI specified: {}", uri));
    }
    if (payload != "1.0" && payload != "2.0") {
      return Error(400, "BadRequestException", "PayloadFormatVersion must be 1.0 or 2.0");
    }
    a.integrations.push_back({NewId(7), fn, uri, std::move(payload)});
    return std::nullopt;
  };

  if (segs.size() == 2) {
    if (method == "GET") {
      json::array items;
      MutexLock l(mu_);
      for (const auto& [id, a] : apis_) items.push_back(api_json(a));
      return Reply(200, json::object{{"items", std::move(items)}});
    }
    if (method != "POST") return Error(405, "BadRequestException", "Method not allowed");
    if (Str(body, "protocolType") != "HTTP") {
      return Error(400, "BadRequestException", "Nimbus serves HTTP APIs only (protocolType HTTP)");
    }
    HttpApi a;
    a.id = NewId();
    a.name = Str(body, "name");
    a.description = Str(body, "description");
    a.created = Now();
    if (a.name.empty()) return Error(400, "BadRequestException", "Name is required");
    // Quick create: an integration with `target`, a route (routeKey or $default) and the $default stage.
    if (std::string target = Str(body, "target"); !target.empty()) {
      if (auto e = add_integration(a, target, "2.0")) return std::move(*e);
      std::string key = Str(body, "routeKey");
      a.routes.push_back({NewId(7), key.empty() ? "$default" : key, "integrations/" + a.integrations.back().id});
      a.stages.push_back({"$default", a.created, true});
    }
    Status st = Save(a, false);
    if (!st.ok()) return Error(500, "InternalServerError", st.message());
    json::object out = api_json(a);
    MutexLock l(mu_);
    apis_[a.id] = std::move(a);
    return Reply(201, out);
  }
  std::string id(segs[2]);
  std::optional<HttpApi> found;
  {
    MutexLock l(mu_);
    if (auto it = apis_.find(id); it != apis_.end()) found = it->second;
  }
  if (!found) return NotFound("API");
  HttpApi& a = *found;
  auto commit = [&](int status, json::object out) {
    Status st = Save(a, false);
    if (!st.ok()) return Error(500, "InternalServerError", st.message());
    MutexLock l(mu_);
    apis_[a.id] = a;
    return Reply(status, out);
  };
  if (segs.size() == 3) {
    if (method == "GET") return Reply(200, api_json(a));
    if (method == "DELETE") {
      Status st = Save(a, true);
      if (!st.ok()) return Error(500, "InternalServerError", st.message());
      MutexLock l(mu_);
      apis_.erase(a.id);
      return Reply(204, json::object{});
    }
    return Error(405, "BadRequestException", "Method not allowed");
  }
  std::string_view kind = segs[3];
  std::string child = segs.size() > 4 ? std::string(segs[4]) : "";
  auto remove_by = [&](auto& list, auto key, std::string_view what) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& x) { return key(x) == child; });
    if (it == list.end()) return NotFound(what);
    list.erase(it);
    Status st = Save(a, false);
    if (!st.ok()) return Error(500, "InternalServerError", st.message());
    MutexLock l(mu_);
    apis_[a.id] = a;
    return Reply(204, json::object{});
  };
  if (kind == "integrations") {
    if (child.empty() && method == "GET") {
      json::array items;
      for (const auto& i : a.integrations) items.push_back(integration_json(i));
      return Reply(200, json::object{{"items", std::move(items)}});
    }
    if (child.empty() && method == "POST") {
      if (Str(body, "integrationType") != "AWS_PROXY") {
        return Error(400, "BadRequestException", "Nimbus serves AWS_PROXY integrations (Lambda functions) only");
      }
      std::string payload = Str(body, "payloadFormatVersion");
      if (auto e = add_integration(a, Str(body, "integrationUri"), payload.empty() ? "2.0" : payload)) return std::move(*e);
      return commit(201, integration_json(a.integrations.back()));
    }
    auto it = std::find_if(a.integrations.begin(), a.integrations.end(), [&](const auto& i) { return i.id == child; });
    if (method == "GET") return it == a.integrations.end() ? NotFound("Integration") : Reply(200, integration_json(*it));
    if (method == "DELETE") return remove_by(a.integrations, [](const auto& i) { return i.id; }, "Integration");
  }
  if (kind == "routes") {
    if (child.empty() && method == "GET") {
      json::array items;
      for (const auto& r : a.routes) items.push_back(route_json(r));
      return Reply(200, json::object{{"items", std::move(items)}});
    }
    if (child.empty() && method == "POST") {
      std::string key = Str(body, "routeKey");
      std::string target = Str(body, "target");
      bool valid = key == "$default" || (key.find(' ') != std::string::npos && key.find(" /") == key.find(' '));
      if (!valid) return Error(400, "BadRequestException", fmt::format("Invalid route key: {}", key));
      if (std::any_of(a.routes.begin(), a.routes.end(), [&](const auto& r) { return r.key == key; })) {
        return Error(409, "ConflictException", fmt::format("Route with key {} already exists for this API", key));
      }
      if (!target.empty()) {
        std::string iid = target.starts_with("integrations/") ? target.substr(13) : "";
        if (std::none_of(a.integrations.begin(), a.integrations.end(), [&](const auto& i) { return i.id == iid; })) {
          return Error(400, "BadRequestException", fmt::format("Invalid target: {}", target));
        }
      }
      a.routes.push_back({NewId(7), key, target});
      return commit(201, route_json(a.routes.back()));
    }
    auto it = std::find_if(a.routes.begin(), a.routes.end(), [&](const auto& r) { return r.id == child; });
    if (method == "GET") return it == a.routes.end() ? NotFound("Route") : Reply(200, route_json(*it));
    if (method == "DELETE") return remove_by(a.routes, [](const auto& r) { return r.id; }, "Route");
  }
  if (kind == "stages") {
    if (child.empty() && method == "GET") {
      json::array items;
      for (const auto& s : a.stages) items.push_back(stage_json(s));
      return Reply(200, json::object{{"items", std::move(items)}});
    }
    if (child.empty() && method == "POST") {
      std::string name = Str(body, "stageName");
      if (name.empty()) return Error(400, "BadRequestException", "StageName is required");
      if (std::any_of(a.stages.begin(), a.stages.end(), [&](const auto& s) { return s.name == name; })) {
        return Error(409, "ConflictException", fmt::format("Stage already exists: {}", name));
      }
      const json::value* ad = body.if_contains("autoDeploy");
      a.stages.push_back({name, Now(), ad && ad->is_bool() && ad->as_bool()});
      return commit(201, stage_json(a.stages.back()));
    }
    auto it = std::find_if(a.stages.begin(), a.stages.end(), [&](const auto& s) { return s.name == child; });
    if (method == "GET") return it == a.stages.end() ? NotFound("Stage") : Reply(200, stage_json(*it));
    if (method == "DELETE") return remove_by(a.stages, [](const auto& s) { return s.name; }, "Stage");
  }
  return Error(404, "NotFoundException", fmt::format("Nimbus does not serve {} {}", method, std::string(request.path())));
}

const HttpApi::Route* HttpApis::Match(const HttpApi& api, std::string_view method, std::string_view path,
                                      std::map<std::string, std::string>* parameters) {
  const auto want = Segments(path);
  const HttpApi::Route* best = nullptr;
  int best_score = -1;
  std::map<std::string, std::string> best_params;
  for (const auto& r : api.routes) {
    if (r.key == "$default") continue;
    size_t space = r.key.find(' ');
    std::string_view m = std::string_view(r.key).substr(0, space);
    if (m != method && m != "ANY") continue;
    auto have = Segments(std::string_view(r.key).substr(space + 1));
    std::map<std::string, std::string> params;
    int literal = 0;
    bool ok = true;
    size_t i = 0;
    for (; i < have.size() && ok; ++i) {
      std::string_view h = have[i];
      if (h.starts_with("{") && h.ends_with("+}")) {
        if (i + 1 != have.size() || i >= want.size()) {
          ok = false;
          break;
        }
        std::string rest;
        for (size_t j = i; j < want.size(); ++j) rest += (j > i ? "/" : "") + std::string(want[j]);
        params[std::string(h.substr(1, h.size() - 3))] = rest;
        i = want.size();
        break;
      }
      if (i >= want.size()) {
        ok = false;
      } else if (h.starts_with("{") && h.ends_with("}")) {
        params[std::string(h.substr(1, h.size() - 2))] = http::PercentDecode(want[i]).value_or(std::string(want[i]));
      } else if (h == want[i]) {
        ++literal;
      } else {
        ok = false;
      }
    }
    if (!ok || (i < want.size() && i == have.size())) continue;
    // Literal segments first, then the exact method, then fewer greedy ones.
    int score = literal * 1000 + (m == method ? 100 : 0) + (params.empty() ? 10 : 0) + static_cast<int>(have.size());
    if (score > best_score) {
      best = &r;
      best_score = score;
      best_params = std::move(params);
    }
  }
  if (best == nullptr) {
    for (const auto& r : api.routes) {
      if (r.key == "$default") best = &r;
    }
  }
  if (best != nullptr && parameters != nullptr) *parameters = std::move(best_params);
  return best;
}

void HttpApis::HandleInvoke(http::Request&& request, http::Responder responder) {
  const Addressed address = AddressOf(request, kHostSuffix, kPathPrefix);
  const std::string& id = address.id;
  std::optional<HttpApi> api;
  {
    MutexLock l(mu_);
    if (auto it = apis_.find(id); it != apis_.end()) api = it->second;
  }
  auto message = [](int status, std::string_view text) {
    http::Response r = http::Response::Json(status, json::serialize(json::object{{"message", text}}));
    r.headers.Set("apigw-requestid", NewId(16));
    return r;
  };
  if (!api) {
    responder.Respond(message(404, "Not Found"));
    return;
  }
  std::string_view path = address.path;
  // The stage: $default serves the whole path; else the first segment names it.
  std::string stage;
  if (std::any_of(api->stages.begin(), api->stages.end(), [](const auto& s) { return s.name == "$default"; })) {
    stage = "$default";
  } else {
    auto segs = Segments(path);
    if (!segs.empty() && std::any_of(api->stages.begin(), api->stages.end(), [&](const auto& s) { return s.name == segs[0]; })) {
      stage = std::string(segs[0]);
      path.remove_prefix(path.find(segs[0]) + segs[0].size());
      if (path.empty()) path = "/";
    }
  }
  if (stage.empty()) {
    responder.Respond(message(404, "Not Found"));
    return;
  }
  std::map<std::string, std::string> params;
  const HttpApi::Route* route = Match(*api, request.method, path, &params);
  const HttpApi::Integration* integration = nullptr;
  if (route != nullptr && route->target.starts_with("integrations/")) {
    std::string iid = route->target.substr(13);
    for (const auto& i : api->integrations) {
      if (i.id == iid) integration = &i;
    }
  }
  if (integration == nullptr) {
    responder.Respond(message(404, "Not Found"));
    return;
  }
  auto policy = deps_.registry.GetPolicy(integration->function_arn, "");
  auto f = deps_.registry.ResolveForInvoke(integration->function_arn);
  if (!f.has_value() || !policy.has_value() ||
      !control::PolicyAllows(policy->document, "apigateway.amazonaws.com", "lambda:InvokeFunction")) {
    // What API Gateway answers when it may not (or cannot) invoke the function.
    responder.Respond(message(500, "Internal Server Error"));
    return;
  }
  EventV2Context context;
  context.route_key = route->key;
  context.stage = stage;
  context.api_id = api->id;
  context.domain_name = address.domain;
  context.account_id = deps_.region.account_id;
  context.request_id = NewId(16);
  context.raw_path = std::string(path);
  context.time = std::chrono::system_clock::now();
  context.path_parameters = std::move(params);
  invoke::InvokeRequest invocation;
  invocation.function = *f;
  invocation.request_id = NewUuid();
  invocation.invoked_function_arn = integration->function_arn;
  const bool v1 = integration->payload_version == "1.0";
  invocation.payload = v1 ? EventV1(request, context) : EventV2(request, context);
  invocation.trace_id = http::TraceHeaderOf(request.headers);
  auto held = std::make_shared<http::Responder>(std::move(responder));
  deps_.invoker.Invoke(std::move(invocation), [held, v1, message, request_id = context.request_id](
                                                  Result<invoke::InvokeOutcome> outcome) {
    http::Response r;
    if (!outcome.has_value()) {
      r = outcome.error().code() == Code::kThrottled ? message(429, "Too Many Requests") : message(500, "Internal Server Error");
    } else if (outcome->function_error) {
      r = message(500, "Internal Server Error");
    } else {
      r = ResponseFromV2(outcome->payload);
      // Format 1.0 has no implicit mapping: a result without statusCode is an error.
      if (v1 && outcome->payload.find("\"statusCode\"") == std::string::npos) r = message(500, "Internal Server Error");
    }
    r.headers.Set("apigw-requestid", request_id);
    held->Respond(std::move(r));
  });
}

}  // namespace nimbus::gateway
