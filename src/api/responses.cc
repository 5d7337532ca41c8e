#include "api/responses.h"

#include <boost/json.hpp>

#include "control/validation.h"

namespace nimbus::api {
namespace {

namespace json = boost::json;

json::object ConfigurationObject(const control::FunctionVersion& f) {
  const control::FunctionConfig& c = f.config;
  json::object o;
  o["FunctionName"] = c.name;
  o["FunctionArn"] = f.arn;
  o["Runtime"] = c.runtime;
  o["Role"] = c.role;
  o["Handler"] = c.handler;
  o["CodeSize"] = c.code_size;
  o["Description"] = c.description;
  o["Timeout"] = c.timeout_seconds;
  o["MemorySize"] = c.memory_mb;
  o["LastModified"] = c.last_modified;
  o["CodeSha256"] = c.code_sha256;
  o["Version"] = c.version;
  if (!c.environment.empty()) {
    json::object vars;
    for (const auto& [k, v] : c.environment) vars[k] = v;
    o["Environment"] = json::object{{"Variables", std::move(vars)}};
  }
  o["TracingConfig"] = json::object{{"Mode", c.tracing_mode}};
  o["RevisionId"] = c.revision_id;
  o["State"] = c.state;
  if (!c.state_reason.empty()) o["StateReason"] = c.state_reason;
  if (!c.state_reason_code.empty()) o["StateReasonCode"] = c.state_reason_code;
  o["LastUpdateStatus"] = c.last_update_status;
  if (!c.last_update_status_reason.empty()) {
    o["LastUpdateStatusReason"] = c.last_update_status_reason;
  }
  if (!c.last_update_status_reason_code.empty()) {
    o["LastUpdateStatusReasonCode"] = c.last_update_status_reason_code;
  }
  o["PackageType"] = c.package_type;
  o["Architectures"] = json::array{json::value(c.architecture)};
  o["EphemeralStorage"] = json::object{{"Size", c.ephemeral_storage_mb}};
  o["SnapStart"] = json::object{{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}};
  json::object logging{{"LogFormat", c.log_format}, {"LogGroup", c.log_group}};
  if (!c.application_log_level.empty()) logging["ApplicationLogLevel"] = c.application_log_level;
  if (!c.system_log_level.empty()) logging["SystemLogLevel"] = c.system_log_level;
  o["LoggingConfig"] = std::move(logging);
  return o;
}

}  // namespace

std::string FunctionConfigurationJson(const control::FunctionVersion& function) {
  return json::serialize(ConfigurationObject(function));
}

std::string GetFunctionJson(const control::FunctionVersion& function,
                            const std::string& code_location) {
  json::object o;
  o["Configuration"] = ConfigurationObject(function);
  o["Code"] = json::object{{"RepositoryType", "S3"}, {"Location", code_location}};
  if (!function.config.tags.empty()) {
    json::object tags;
    for (const auto& [k, v] : function.config.tags) tags[k] = v;
    o["Tags"] = std::move(tags);
  }
  return json::serialize(o);
}

std::string ListFunctionsJson(const control::FunctionPage& page) {
  json::array functions;
  for (const auto& f : page.functions) functions.push_back(ConfigurationObject(*f));
  json::object o;
  o["Functions"] = std::move(functions);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

std::string AccountSettingsJson(const control::AccountUsage& usage) {
  // TODO(#concurrency): report the invoker's configured concurrency and what
  // reserved concurrency leaves unreserved; 1000 is Lambda's default quota.
  json::object limit{{"TotalCodeSize", control::kMaxTotalCodeBytes},
                     {"CodeSizeUnzipped", control::kMaxUnzippedCodeBytes},
                     {"CodeSizeZipped", control::kMaxZippedCodeBytes},
                     {"ConcurrentExecutions", 1000},
                     {"UnreservedConcurrentExecutions", 1000}};
  json::object used{{"TotalCodeSize", usage.total_code_size},
                    {"FunctionCount", usage.function_count}};
  return json::serialize(json::object{{"AccountLimit", std::move(limit)},
                                      {"AccountUsage", std::move(used)}});
}

}  // namespace nimbus::api
