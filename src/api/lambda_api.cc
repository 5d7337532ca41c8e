#include "api/lambda_api.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <memory>
#include <vector>

#include "api/requests.h"
#include "api/responses.h"
#include "base/encoding.h"
#include "control/function_name.h"
#include "http/trace_header.h"

namespace nimbus::api {
namespace {

// Date prefixes of the Lambda REST API's operations (service-2.json requestUri).
constexpr std::array<std::string_view, 12> kApiPrefixes = {
    "/2014-11-13/", "/2015-03-31/", "/2016-08-19/", "/2017-03-31/",
    "/2017-10-31/", "/2018-10-31/", "/2019-09-25/", "/2019-09-30/",
    "/2020-04-22/", "/2020-06-30/", "/2021-10-31/", "/2021-11-15/"};

std::string_view PathOf(const http::Request& r) { return r.path(); }

// Decoded path segments without empty trailing ones ("/2016-08-19/account-settings/").
std::optional<std::vector<std::string>> Segments(const http::Request& r) {
  auto segs = http::DecodedPathSegments(PathOf(r));
  if (!segs) return std::nullopt;
  while (!segs->empty() && segs->back().empty()) segs->pop_back();
  return segs;
}

ApiError RequestTooLarge(size_t limit, std::string_view operation) {
  return ToApiError(Status(
      Code::kTooLarge,
      fmt::format("Request must be smaller than {} bytes for the {} operation", limit, operation)));
}

bool BodyTooLarge(const http::Request& r, std::string_view body, size_t limit) {
  return r.body_too_large || body.size() > limit;
}
bool BodyTooLarge(const http::Request& r, size_t limit) { return BodyTooLarge(r, r.body, limit); }

http::Response JsonOk(int status, std::string body) {
  return http::Response::Json(status, std::move(body));
}

ApiError EnumError(std::string_view value, std::string_view field, std::string_view set) {
  return ApiError{400, "ValidationException",
                  fmt::format("1 validation error detected: Value '{}' at '{}' failed to satisfy "
                              "constraint: Member must satisfy enum value set: [{}]",
                              value, field, set)};
}

}  // namespace

http::Response WithStandardHeaders(http::Response response, const std::string& request_id) {
  response.headers.Set("x-amzn-RequestId", request_id);
  if (!response.headers.Has("Content-Type")) {
    response.headers.Set("Content-Type", "application/json");
  }
  return response;
}

LambdaApi::LambdaApi(Deps deps) : deps_(std::move(deps)) {}

bool LambdaApi::Matches(const http::Request& request) {
  std::string_view path = PathOf(request);
  if (path.starts_with(kCodePathPrefix)) return true;
  if (path == "/2016-08-19/account-settings") return true;
  for (std::string_view p : kApiPrefixes) {
    if (path.starts_with(p)) return true;
  }
  return false;
}

namespace {
// POST /2014-11-13/functions/{name}/invoke-async/ (deprecated, still served by AWS).
bool IsLegacyInvokeAsync(const std::optional<std::vector<std::string>>& segs) {
  return segs && segs->size() == 4 && (*segs)[0] == "2014-11-13" && (*segs)[1] == "functions" &&
         (*segs)[3] == "invoke-async";
}
}  // namespace

bool LambdaApi::IsInvoke(const http::Request& request) {
  if (request.method != "POST") return false;
  return IsInvokeSegments(request, Segments(request));
}

bool LambdaApi::IsInvokeSegments(const http::Request& request,
                                 const std::optional<std::vector<std::string>>& segs) {
  if (request.method != "POST") return false;
  if (IsLegacyInvokeAsync(segs)) return true;
  return segs && segs->size() == 4 && (*segs)[0] == "2015-03-31" && (*segs)[1] == "functions" &&
         (*segs)[3] == "invocations";
}

std::string LambdaApi::CodeLocation(const http::Request& request,
                                    const control::FunctionVersion& f) const {
  return CodeUrl(request, f.code_hex);
}

std::string LambdaApi::CodeUrl(const http::Request& request, const std::string& hex) const {
  std::string_view host = request.headers.Get("Host").value_or("localhost");
  const std::string target = fmt::format("{}{}.zip", kCodePathPrefix, hex);
  if (deps_.presign) return deps_.presign(host, target);
  return fmt::format("http://{}{}", host, target);
}

ControlReply LambdaApi::HandleBlocking(const http::Request& request,
                                       const std::string& request_id) {
  ControlReply reply;
  ApiResult<http::Response> r = Route(request, reply.invoker_updates);
  reply.response = WithStandardHeaders(r.ok() ? std::move(*r) : ErrorResponse(r.error()),
                                       request_id);
  if (!r.ok()) reply.invoker_updates.clear();
  return reply;
}

namespace {

// Parses ?MaxItems= (default `fallback`).
ApiResult<int> MaxItems(const std::vector<std::pair<std::string, std::string>>& query,
                        int fallback) {
  auto mi = http::QueryParam(query, "MaxItems");
  if (!mi) return fallback;
  int v = 0;
  auto [ptr, ec] = std::from_chars(mi->data(), mi->data() + mi->size(), v);
  if (ec != std::errc() || ptr != mi->data() + mi->size()) {
    return ApiError{400, "ValidationException",
                    fmt::format("1 validation error detected: Value '{}' at 'maxItems' failed "
                                "to satisfy constraint: Member must be an integer",
                                *mi)};
  }
  return v;
}

InvokerUpdate Retire(std::string name, std::string version) {
  return [name = std::move(name), version = std::move(version)](invoke::Invoker& invoker) {
    invoker.RetireFunction(name, version);
  };
}

InvokerUpdate Provision(control::ProvisionedConcurrencySetting setting) {
  return [setting = std::move(setting)](invoke::Invoker& invoker) {
    invoker.SetProvisionedConcurrency(setting.version, setting.qualifier, setting.count);
  };
}

InvokerUpdate Reserve(std::string name, std::optional<int> reserved) {
  return [name = std::move(name), reserved](invoke::Invoker& invoker) {
    invoker.SetReservedConcurrency(name, reserved);
  };
}

}  // namespace

ApiResult<http::Response> LambdaApi::Route(const http::Request& request,
                                           std::vector<InvokerUpdate>& updates) {
  control::Registry& registry = deps_.registry;
  auto segs_or = Segments(request);
  if (!segs_or) return UnknownOperation(request.method, PathOf(request));
  const std::vector<std::string>& s = *segs_or;
  const std::string& m = request.method;
  auto query = http::ParseQuery(request.query());

  // GET /nimbus/code/<hex>.zip
  if (m == "GET" && s.size() == 3 && s[0] == "nimbus" && s[1] == "code" &&
      s[2].ends_with(".zip")) {
    std::string hex = s[2].substr(0, s[2].size() - 4);
    auto zip = registry.ReadCodePackage(hex);
    if (!zip.has_value()) return zip.error();
    http::Response r;
    r.status = 200;
    r.headers.Set("Content-Type", "application/zip");
    r.body = std::move(zip).value();
    return r;
  }
  if (m == "GET" && s.size() == 2 && s[0] == "2016-08-19" && s[1] == "account-settings") {
    return JsonOk(200, AccountSettingsJson(registry.GetAccountUsage(),
                                           registry.account_concurrency_limit(),
                                           registry.UnreservedConcurrency()));
  }
  if (s.size() == 4 && (s[0] == "2017-10-31" || s[0] == "2019-09-30") && s[1] == "functions") {
    return RouteConcurrency(request, s, updates);
  }
  if (s.size() == 3 && s[0] == "2017-03-31" && s[1] == "tags") return RouteTags(request, s);
  if (s.size() >= 2 && s[0] == "2018-10-31" && s[1] == "layers") return RouteLayers(request, s);
  if (s.size() < 2 || s[0] != "2015-03-31" || s[1] != "functions") {
    return UnknownOperation(m, PathOf(request));
  }
  if (s.size() == 2 && m == "POST") {
    if (BodyTooLarge(request, kMaxCodeRequestBytes)) {
      return RequestTooLarge(kMaxCodeRequestBytes, "CreateFunction");
    }
    auto cmd = ParseCreateFunction(request.body);
    if (!cmd.ok()) return cmd.error();
    auto f = registry.CreateFunction(std::move(*cmd));
    if (!f.has_value()) return f.error();
    return JsonOk(201, FunctionConfigurationJson(f->published ? *f->published : *f->latest));
  }
  if (s.size() == 2 && m == "GET") {
    std::string marker = http::QueryParam(query, "Marker").value_or("");
    ApiResult<int> max_items = MaxItems(query, 50);
    if (!max_items.ok()) return max_items.error();
    if (auto fv = http::QueryParam(query, "FunctionVersion"); fv && *fv != "ALL") {
      return EnumError(*fv, "functionVersion", "ALL");
    }
    // TODO(#3): FunctionVersion=ALL should list published versions as well.
    auto page = registry.ListFunctions(marker, *max_items);
    if (!page.has_value()) return page.error();
    return JsonOk(200, ListFunctionsJson(*page));
  }
  if (s.size() < 3) return UnknownOperation(m, PathOf(request));
  return RouteFunction(request, s, updates);
}

ApiResult<http::Response> LambdaApi::RouteFunction(const http::Request& request,
                                                   const std::vector<std::string>& s,
                                                   std::vector<InvokerUpdate>& updates) {
  control::Registry& registry = deps_.registry;
  const std::string& m = request.method;
  auto query = http::ParseQuery(request.query());
  std::string qualifier = http::QueryParam(query, "Qualifier").value_or("");
  const std::string& name = s[2];
  // The qualifier the caller named (in the path or the query), for qualified ARNs.
  auto named_qualifier = [&]() -> std::string {
    auto ref = control::ParseFunctionRef(name, qualifier);
    return ref.has_value() && ref->qualifier ? *ref->qualifier : "";
  };

  if (s.size() == 3 && m == "GET") {
    auto f = registry.Resolve(name, qualifier);
    if (!f.has_value()) return f.error();
    const std::string& fn = (*f)->config.name;
    auto tags = registry.ListTags(control::FunctionArn(deps_.region, fn));
    auto reserved = registry.GetFunctionConcurrency(fn);
    return JsonOk(200, GetFunctionJson(**f, CodeLocation(request, **f), named_qualifier(),
                                       tags.has_value() ? *tags : std::map<std::string, std::string>{},
                                       reserved.has_value() ? *reserved : std::nullopt));
  }
  if (s.size() == 3 && m == "DELETE") {
    auto deleted = registry.DeleteFunction(name, qualifier);
    if (!deleted.has_value()) return deleted.error();
    for (auto& setting : deleted->provisioning.settings) updates.push_back(Provision(setting));
    updates.push_back(Retire(deleted->name, deleted->version));
    if (deleted->had_reserved_concurrency) updates.push_back(Reserve(deleted->name, std::nullopt));
    return JsonOk(204, "");
  }
  if (s.size() == 4 && s[3] == "configuration" && m == "GET") {
    auto f = registry.Resolve(name, qualifier);
    if (!f.has_value()) return f.error();
    return JsonOk(200, FunctionConfigurationJson(**f, named_qualifier()));
  }
  if (s.size() == 4 && s[3] == "configuration" && m == "PUT") {
    if (BodyTooLarge(request, kMaxCodeRequestBytes)) {
      return RequestTooLarge(kMaxCodeRequestBytes, "UpdateFunctionConfiguration");
    }
    auto cmd = ParseUpdateFunctionConfiguration(name, request.body);
    if (!cmd.ok()) return cmd.error();
    auto f = registry.UpdateFunctionConfiguration(std::move(*cmd));
    if (!f.has_value()) return f.error();
    updates.push_back(Retire(f->latest->config.name, "$LATEST"));
    return JsonOk(200, FunctionConfigurationJson(f->published ? *f->published : *f->latest));
  }
  if (s.size() == 4 && s[3] == "code" && m == "PUT") {
    if (BodyTooLarge(request, kMaxCodeRequestBytes)) {
      return RequestTooLarge(kMaxCodeRequestBytes, "UpdateFunctionCode");
    }
    auto cmd = ParseUpdateFunctionCode(name, request.body);
    if (!cmd.ok()) return cmd.error();
    bool dry_run = cmd->dry_run;
    auto f = registry.UpdateFunctionCode(std::move(*cmd));
    if (!f.has_value()) return f.error();
    if (!dry_run) updates.push_back(Retire(f->latest->config.name, "$LATEST"));
    return JsonOk(200, FunctionConfigurationJson(f->published ? *f->published : *f->latest));
  }
  if (s.size() == 4 && s[3] == "versions" && m == "POST") {
    auto cmd = ParsePublishVersion(name, request.body);
    if (!cmd.ok()) return cmd.error();
    auto v = registry.PublishVersion(std::move(*cmd));
    if (!v.has_value()) return v.error();
    return JsonOk(201, FunctionConfigurationJson(**v));
  }
  if (s.size() == 4 && s[3] == "versions" && m == "GET") {
    ApiResult<int> max_items = MaxItems(query, 50);
    if (!max_items.ok()) return max_items.error();
    auto page = registry.ListVersionsByFunction(
        name, http::QueryParam(query, "Marker").value_or(""), *max_items);
    if (!page.has_value()) return page.error();
    return JsonOk(200, ListVersionsJson(*page));
  }
  if (s.size() == 4 && s[3] == "aliases" && m == "POST") {
    auto cmd = ParseCreateAlias(name, request.body);
    if (!cmd.ok()) return cmd.error();
    std::string fn = cmd->function_name;
    auto a = registry.CreateAlias(std::move(*cmd));
    if (!a.has_value()) return a.error();
    auto ref = control::ParseFunctionRef(fn);
    return JsonOk(201, AliasJson(deps_.region, ref->name, *a));
  }
  if (s.size() == 4 && s[3] == "aliases" && m == "GET") {
    ApiResult<int> max_items = MaxItems(query, 50);
    if (!max_items.ok()) return max_items.error();
    auto page = registry.ListAliases(name, http::QueryParam(query, "FunctionVersion").value_or(""),
                                     http::QueryParam(query, "Marker").value_or(""), *max_items);
    if (!page.has_value()) return page.error();
    return JsonOk(200, ListAliasesJson(deps_.region, control::ParseFunctionRef(name)->name, *page));
  }
  if (s.size() == 5 && s[3] == "aliases") {
    const std::string& alias = s[4];
    if (m == "GET") {
      auto a = registry.GetAlias(name, alias);
      if (!a.has_value()) return a.error();
      return JsonOk(200, AliasJson(deps_.region, control::ParseFunctionRef(name)->name, *a));
    }
    if (m == "PUT") {
      auto cmd = ParseUpdateAlias(name, alias, request.body);
      if (!cmd.ok()) return cmd.error();
      auto a = registry.UpdateAlias(std::move(*cmd));
      if (!a.has_value()) return a.error();
      for (auto& setting : a->provisioning.settings) updates.push_back(Provision(setting));
      return JsonOk(200, AliasJson(deps_.region, control::ParseFunctionRef(name)->name, a->alias));
    }
    if (m == "DELETE") {
      auto change = registry.DeleteAlias(name, alias);
      if (!change.has_value()) return change.error();
      for (auto& setting : change->settings) updates.push_back(Provision(setting));
      return JsonOk(204, "");
    }
  }
  if (s.size() == 4 && s[3] == "policy" && m == "POST") {
    auto cmd = ParseAddPermission(name, qualifier, request.body);
    if (!cmd.ok()) return cmd.error();
    auto statement = registry.AddPermission(std::move(*cmd));
    if (!statement.has_value()) return statement.error();
    return JsonOk(201, boost::json::serialize(boost::json::object{{"Statement", *statement}}));
  }
  if (s.size() == 4 && s[3] == "policy" && m == "GET") {
    auto policy = registry.GetPolicy(name, qualifier);
    if (!policy.has_value()) return policy.error();
    return JsonOk(200, boost::json::serialize(boost::json::object{
                           {"Policy", policy->document}, {"RevisionId", policy->revision_id}}));
  }
  if (s.size() == 5 && s[3] == "policy" && m == "DELETE") {
    NIMBUS_RETURN_IF_ERROR(registry.RemovePermission(name, qualifier, s[4],
                                                     http::QueryParam(query, "RevisionId")));
    return JsonOk(204, "");
  }
  return UnknownOperation(m, PathOf(request));
}

ApiResult<http::Response> LambdaApi::RouteConcurrency(const http::Request& request,
                                                      const std::vector<std::string>& s,
                                                      std::vector<InvokerUpdate>& updates) {
  control::Registry& registry = deps_.registry;
  const std::string& m = request.method;
  const std::string& name = s[2];
  auto query = http::ParseQuery(request.query());
  auto function_name = [&]() { return control::ParseFunctionRef(name)->name; };
  if (s[3] == "concurrency") {
    if (s[0] == "2017-10-31" && m == "PUT") {
      ApiResult<int> n = ParseIntMember(request.body, "ReservedConcurrentExecutions",
                                        "reservedConcurrentExecutions");
      if (!n.ok()) return n.error();
      NIMBUS_RETURN_IF_ERROR(registry.PutFunctionConcurrency(name, *n));
      updates.push_back(Reserve(function_name(), *n));
      return JsonOk(200, fmt::format(R"({{"ReservedConcurrentExecutions":{}}})", *n));
    }
    if (s[0] == "2017-10-31" && m == "DELETE") {
      NIMBUS_RETURN_IF_ERROR(registry.DeleteFunctionConcurrency(name));
      updates.push_back(Reserve(function_name(), std::nullopt));
      return JsonOk(204, "");
    }
    if (s[0] == "2019-09-30" && m == "GET") {
      auto reserved = registry.GetFunctionConcurrency(name);
      if (!reserved.has_value()) return reserved.error();
      if (!*reserved) return JsonOk(200, "{}");
      return JsonOk(200, fmt::format(R"({{"ReservedConcurrentExecutions":{}}})", **reserved));
    }
  }
  if (s[0] == "2019-09-30" && s[3] == "provisioned-concurrency") {
    std::string qualifier = http::QueryParam(query, "Qualifier").value_or("");
    ApiError not_found{404, "ProvisionedConcurrencyConfigNotFoundException",
                       "No Provisioned Concurrency Config found for this function"};
    if (m == "GET" && http::QueryParam(query, "List") == "ALL") {
      ApiResult<int> max_items = MaxItems(query, 50);
      if (!max_items.ok()) return max_items.error();
      auto page = registry.ListProvisionedConcurrency(
          name, http::QueryParam(query, "Marker").value_or(""), *max_items);
      if (!page.has_value()) return page.error();
      return JsonOk(200, ListProvisionedConcurrencyJson(deps_.region, function_name(), *page));
    }
    if (m == "GET") {
      auto config = registry.GetProvisionedConcurrency(name, qualifier);
      if (!config.has_value()) return config.error();
      if (!*config) return not_found;
      return JsonOk(200, ProvisionedConcurrencyJson(**config, /*in_progress=*/false));
    }
    if (m == "PUT") {
      ApiResult<int> n = ParseIntMember(request.body, "ProvisionedConcurrentExecutions",
                                        "provisionedConcurrentExecutions");
      if (!n.ok()) return n.error();
      auto setting = registry.PutProvisionedConcurrency(name, qualifier, *n);
      if (!setting.has_value()) return setting.error();
      updates.push_back(Provision(*setting));
      auto config = registry.GetProvisionedConcurrency(name, qualifier);
      if (!config.has_value()) return config.error();
      if (!*config) return not_found;
      return JsonOk(202, ProvisionedConcurrencyJson(**config, /*in_progress=*/true));
    }
    if (m == "DELETE") {
      auto setting = registry.DeleteProvisionedConcurrency(name, qualifier);
      if (!setting.has_value()) return setting.error();
      if (!*setting) return not_found;
      updates.push_back(Provision(**setting));
      return JsonOk(204, "");
    }
  }
  return UnknownOperation(m, PathOf(request));
}

ApiResult<http::Response> LambdaApi::RouteTags(const http::Request& request,
                                               const std::vector<std::string>& s) {
  control::Registry& registry = deps_.registry;
  const std::string& m = request.method;
  const std::string& arn = s[2];
  if (m == "GET") {
    auto tags = registry.ListTags(arn);
    if (!tags.has_value()) return tags.error();
    boost::json::object o;
    for (const auto& [k, v] : *tags) o[k] = v;
    return JsonOk(200, boost::json::serialize(boost::json::object{{"Tags", std::move(o)}}));
  }
  if (m == "POST") {
    auto tags = ParseTagResource(request.body);
    if (!tags.ok()) return tags.error();
    NIMBUS_RETURN_IF_ERROR(registry.TagResource(arn, *tags));
    return JsonOk(204, "");
  }
  if (m == "DELETE") {
    std::vector<std::string> keys;
    for (const auto& [k, v] : http::ParseQuery(request.query())) {
      if (k == "tagKeys") keys.push_back(v);
    }
    if (keys.empty()) {
      return ApiError{400, "ValidationException",
                      "1 validation error detected: Value null at 'tagKeys' failed to satisfy "
                      "constraint: Member must not be null"};
    }
    NIMBUS_RETURN_IF_ERROR(registry.UntagResource(arn, keys));
    return JsonOk(204, "");
  }
  return UnknownOperation(m, PathOf(request));
}

ApiResult<http::Response> LambdaApi::RouteLayers(const http::Request& request,
                                                 const std::vector<std::string>& s) {
  control::Registry& registry = deps_.registry;
  const std::string& m = request.method;
  auto query = http::ParseQuery(request.query());
  std::string marker = http::QueryParam(query, "Marker").value_or("");
  std::string runtime = http::QueryParam(query, "CompatibleRuntime").value_or("");
  std::string architecture = http::QueryParam(query, "CompatibleArchitecture").value_or("");
  if (s.size() == 2 && m == "GET") {
    // GetLayerVersionByArn: GET /2018-10-31/layers?find=LayerVersion&Arn=...
    if (auto find = http::QueryParam(query, "find")) {
      if (*find != "LayerVersion") return EnumError(*find, "find", "LayerVersion");
      auto arn = http::QueryParam(query, "Arn");
      if (!arn) {
        return ApiError{400, "ValidationException",
                        "1 validation error detected: Value null at 'arn' failed to satisfy "
                        "constraint: Member must not be null"};
      }
      auto v = registry.GetLayerVersionByArn(*arn);
      if (!v.has_value()) return v.error();
      return JsonOk(200, LayerVersionJson(deps_.region, *v, CodeUrl(request, v->code_hex)));
    }
    ApiResult<int> max_items = MaxItems(query, 50);
    if (!max_items.ok()) return max_items.error();
    auto page = registry.ListLayers(runtime, architecture, marker, *max_items);
    if (!page.has_value()) return page.error();
    return JsonOk(200, ListLayersJson(deps_.region, *page));
  }
  if (s.size() < 4 || s[3] != "versions") return UnknownOperation(m, PathOf(request));
  const std::string& layer = s[2];
  if (s.size() == 4 && m == "POST") {
    if (BodyTooLarge(request, kMaxCodeRequestBytes)) {
      return RequestTooLarge(kMaxCodeRequestBytes, "PublishLayerVersion");
    }
    auto cmd = ParsePublishLayerVersion(layer, request.body);
    if (!cmd.ok()) return cmd.error();
    auto v = registry.PublishLayerVersion(std::move(*cmd));
    if (!v.has_value()) return v.error();
    return JsonOk(201, LayerVersionJson(deps_.region, *v, CodeUrl(request, v->code_hex)));
  }
  if (s.size() == 4 && m == "GET") {
    ApiResult<int> max_items = MaxItems(query, 50);
    if (!max_items.ok()) return max_items.error();
    auto page = registry.ListLayerVersions(layer, runtime, architecture, marker, *max_items);
    if (!page.has_value()) return page.error();
    return JsonOk(200, ListLayerVersionsJson(deps_.region, *page));
  }
  if (s.size() == 5 && (m == "GET" || m == "DELETE")) {
    int64_t number = 0;
    const std::string& text = s[4];
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return ApiError{400, "ValidationException",
                      fmt::format("1 validation error detected: Value '{}' at 'versionNumber' "
                                  "failed to satisfy constraint: Member must be a number",
                                  text)};
    }
    if (m == "GET") {
      auto v = registry.GetLayerVersion(layer, number);
      if (!v.has_value()) return v.error();
      return JsonOk(200, LayerVersionJson(deps_.region, *v, CodeUrl(request, v->code_hex)));
    }
    NIMBUS_RETURN_IF_ERROR(registry.DeleteLayerVersion(layer, number));
    return JsonOk(204, "");
  }
  return UnknownOperation(m, PathOf(request));
}

ApiResult<PreparedInvoke> LambdaApi::PrepareInvoke(const http::Request& request,
                                                   const std::string& request_id) const {
  return PrepareInvokeSegments(request, Segments(request), request.body, request_id);
}

ApiResult<PreparedInvoke> LambdaApi::PrepareInvokeSegments(
    const http::Request& request, const std::optional<std::vector<std::string>>& segs,
    std::string payload, const std::string& request_id) const {
  NIMBUS_CHECK(segs && segs->size() == 4) << "PrepareInvoke of a non-Invoke request";
  const bool legacy_async = IsLegacyInvokeAsync(segs);
  const std::string& name = (*segs)[2];
  auto query = http::ParseQuery(request.query());
  std::string qualifier = http::QueryParam(query, "Qualifier").value_or("");

  PreparedInvoke out;
  std::string_view type =
      legacy_async ? "Event"
                   : request.headers.Get("X-Amz-Invocation-Type").value_or("RequestResponse");
  if (type != "RequestResponse" && type != "Event" && type != "DryRun") {
    return EnumError(type, "invocationType", "Event, RequestResponse, DryRun");
  }
  if (type == "Event" && BodyTooLarge(request, payload, kMaxAsyncInvokePayloadBytes)) {
    return RequestTooLarge(kMaxAsyncInvokePayloadBytes,
                           legacy_async ? "InvokeAsync" : "InvokeFunction");
  }
  if (BodyTooLarge(request, payload, kMaxSyncInvokePayloadBytes)) {
    return RequestTooLarge(kMaxSyncInvokePayloadBytes, "InvokeFunction");
  }
  std::string_view log_type = request.headers.Get("X-Amz-Log-Type").value_or("None");
  if (log_type != "None" && log_type != "Tail") return EnumError(log_type, "logType", "None, Tail");

  // Weighted aliases pick their version here: the snapshot is the version that runs.
  auto f = deps_.registry.ResolveForInvoke(name, qualifier);
  if (!f.has_value()) return f.error();
  if (type == "DryRun") {
    out.type = PreparedInvoke::Type::kDryRun;
    out.request.function = *f;
    return out;
  }
  if (type == "Event") {
    if (deps_.async == nullptr) {
      return ApiError{400, "InvalidParameterValueException",
                      "InvocationType Event is not supported by this server"};
    }
    if (deps_.disk != nullptr) {
      if (Status room = deps_.disk->CheckRoomFor(payload.size()); !room.ok()) return ToApiError(room);
    }
    out.type = PreparedInvoke::Type::kEvent;
    out.function_name = name;
    out.qualifier = qualifier;
  }
  if (!payload.empty()) {
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(payload, ec);
    (void)v;
    if (ec) {
      return RequestNotJson(fmt::format("Could not parse payload into json: {}", ec.message()));
    }
  }
  invoke::InvokeRequest& r = out.request;
  if (auto cc = request.headers.Get("X-Amz-Client-Context"); cc && !cc->empty()) {
    if (cc->size() > kMaxClientContextBytes) {
      return ApiError{400, "InvalidParameterValueException",
                      fmt::format("Client context must be less than or equal to {} bytes",
                                  kMaxClientContextBytes)};
    }
    std::optional<std::string> decoded = Base64Decode(*cc);
    boost::json::error_code ec;
    if (decoded) {
      boost::json::value v = boost::json::parse(*decoded, ec);
      if (!ec && !v.is_object()) ec = boost::json::make_error_code(boost::json::error::not_object);
    }
    if (!decoded || ec) {
      return InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.");
    }
    r.client_context = std::move(*decoded);
  }
  const control::FunctionSnapshot& fn = *f;
  auto ref = control::ParseFunctionRef(name, qualifier);
  r.function = fn;
  r.request_id = request_id;
  r.invoked_function_arn = ref.has_value() && ref->qualifier
                               ? control::QualifiedFunctionArn(deps_.region, fn->config.name,
                                                               *ref->qualifier)
                               : fn->arn;
  r.payload = std::move(payload);
  r.trace_id = http::TraceHeaderOf(request.headers);
  r.tail_log = log_type == "Tail";
  return out;
}

http::Response LambdaApi::InvokeResponse(invoke::InvokeOutcome outcome, bool tail_log,
                                         const std::string& request_id) {
  http::Response r;
  r.status = 200;
  r.headers.Set("Content-Type",
                outcome.content_type.empty() ? "application/json" : outcome.content_type);
  r.headers.Set("X-Amz-Executed-Version", outcome.executed_version);
  if (outcome.function_error) r.headers.Set("X-Amz-Function-Error", *outcome.function_error);
  if (tail_log) r.headers.Set("X-Amz-Log-Result", Base64Encode(outcome.log_tail));
  r.body = std::move(outcome.payload);
  return WithStandardHeaders(std::move(r),
                             outcome.request_id.empty() ? request_id : outcome.request_id);
}

void LambdaApi::HandleAsync(http::Request&& request,
                            std::function<void(http::Response)> respond) {
  std::string request_id = NewUuid();
  // Decoded once: the path is looked at by IsInvoke, PrepareInvoke and InvokeAsync.
  const auto segs = Segments(request);
  if (IsInvokeSegments(request, segs)) {
    std::string payload = std::move(request.body);
    ApiResult<PreparedInvoke> prepared =
        PrepareInvokeSegments(request, segs, std::move(payload), request_id);
    if (!prepared.ok()) {
      respond(WithStandardHeaders(ErrorResponse(prepared.error()), request_id));
      return;
    }
    if (prepared->type == PreparedInvoke::Type::kDryRun) {
      respond(WithStandardHeaders(http::Response::Json(204, ""), request_id));
      return;
    }
    if (prepared->type == PreparedInvoke::Type::kEvent) {
      invoke::InvokeRequest& r = prepared->request;
      async::AsyncInvokeRequest event{
          .function = std::move(r.function),
          .function_name = std::move(prepared->function_name),
          .qualifier = std::move(prepared->qualifier),
          .request_id = request_id,
          .invoked_function_arn = std::move(r.invoked_function_arn),
          .payload = std::move(r.payload),
          .trace_id = std::move(r.trace_id),
      };
      // The legacy InvokeAsync answers {"Status": 202}; Invoke answers an empty 202.
      bool legacy = IsLegacyInvokeAsync(segs);
      deps_.async->Enqueue(std::move(event), [respond = std::move(respond), request_id,
                                              legacy](Status accepted) {
        if (!accepted.ok()) {
          respond(WithStandardHeaders(ErrorResponse(ToApiError(accepted)), request_id));
          return;
        }
        respond(WithStandardHeaders(http::Response::Json(202, legacy ? R"({"Status":202})" : ""),
                                    request_id));
      });
      return;
    }
    bool tail = prepared->request.tail_log;
    deps_.invoker.Invoke(std::move(prepared->request),
                         [respond = std::move(respond), tail,
                          request_id](Result<invoke::InvokeOutcome> outcome) {
                           if (!outcome.has_value()) {
                             respond(WithStandardHeaders(
                                 ErrorResponse(ToApiError(outcome.error())), request_id));
                             return;
                           }
                           respond(InvokeResponse(std::move(outcome).value(), tail, request_id));
                         });
    return;
  }
  // Control-plane operations may block on SQLite, fsync and unzip.
  auto shared_request = std::make_shared<http::Request>(std::move(request));
  deps_.pool.Submit([this, shared_request, respond = std::move(respond), request_id]() mutable {
    auto reply = std::make_shared<ControlReply>(HandleBlocking(*shared_request, request_id));
    deps_.reactor.Post([this, reply, respond = std::move(respond)] {
      for (const InvokerUpdate& update : reply->invoker_updates) update(deps_.invoker);
      respond(std::move(reply->response));
    });
  });
}

}  // namespace nimbus::api
