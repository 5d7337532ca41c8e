#include "api/responses.h"

#include <boost/json.hpp>

#include "control/validation.h"

namespace nimbus::api {
namespace {

namespace json = boost::json;

json::object ConfigurationObject(const control::FunctionVersion& f,
                                 const std::string& qualifier = "") {
  const control::FunctionConfig& c = f.config;
  json::object o;
  o["FunctionName"] = c.name;
  o["FunctionArn"] = !qualifier.empty()        ? f.arn + ":" + qualifier
                     : c.version != "$LATEST" ? f.arn + ":" + c.version
                                              : f.arn;
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
  if (!c.dead_letter_target_arn.empty()) {
    o["DeadLetterConfig"] = json::object{{"TargetArn", c.dead_letter_target_arn}};
  }
  o["TracingConfig"] = json::object{{"Mode", c.tracing_mode}};
  if (!c.layers.empty()) {
    json::array layers;
    for (const auto& l : c.layers) {
      layers.push_back(json::object{{"Arn", l.arn}, {"CodeSize", l.code_size}});
    }
    o["Layers"] = std::move(layers);
  }
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

json::object TagsObject(const std::map<std::string, std::string>& tags) {
  json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return o;
}

}  // namespace

std::string FunctionConfigurationJson(const control::FunctionVersion& function,
                                      const std::string& qualifier) {
  return json::serialize(ConfigurationObject(function, qualifier));
}

std::string GetFunctionJson(const control::FunctionVersion& function,
                            const std::string& code_location, const std::string& qualifier,
                            const std::map<std::string, std::string>& tags,
                            std::optional<int> reserved_concurrency) {
  json::object o;
  o["Configuration"] = ConfigurationObject(function, qualifier);
  o["Code"] = json::object{{"RepositoryType", "S3"}, {"Location", code_location}};
  if (!tags.empty()) o["Tags"] = TagsObject(tags);
  if (reserved_concurrency) {
    o["Concurrency"] = json::object{{"ReservedConcurrentExecutions", *reserved_concurrency}};
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

std::string ListVersionsJson(const control::VersionPage& page) {
  json::array versions;
  for (const auto& f : page.versions) {
    versions.push_back(ConfigurationObject(*f, f->config.version));
  }
  json::object o;
  o["Versions"] = std::move(versions);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

namespace {
json::object AliasObject(const control::Region& region, const std::string& function,
                         const control::Alias& a) {
  json::object o;
  o["AliasArn"] = control::QualifiedFunctionArn(region, function, a.name);
  o["Name"] = a.name;
  o["FunctionVersion"] = a.function_version;
  o["Description"] = a.description;
  if (!a.additional_version_weights.empty()) {
    json::object weights;
    for (const auto& [v, w] : a.additional_version_weights) weights[v] = w;
    o["RoutingConfig"] = json::object{{"AdditionalVersionWeights", std::move(weights)}};
  }
  o["RevisionId"] = a.revision_id;
  return o;
}

json::object ProvisionedObject(const control::ProvisionedConcurrencyConfig& c, bool in_progress) {
  // Allocation is reported as requested once the invoker has been told; the
  // Invoker interface does not expose how many environments are initialised.
  json::object o;
  o["RequestedProvisionedConcurrentExecutions"] = c.requested;
  o["AvailableProvisionedConcurrentExecutions"] = in_progress ? 0 : c.requested;
  o["AllocatedProvisionedConcurrentExecutions"] = in_progress ? 0 : c.requested;
  o["Status"] = in_progress ? "IN_PROGRESS" : "READY";
  o["LastModified"] = c.last_modified;
  return o;
}
}  // namespace

std::string AliasJson(const control::Region& region, const std::string& function,
                      const control::Alias& alias) {
  return json::serialize(AliasObject(region, function, alias));
}

std::string ListAliasesJson(const control::Region& region, const std::string& function,
                            const control::AliasPage& page) {
  json::array aliases;
  for (const auto& a : page.aliases) aliases.push_back(AliasObject(region, function, a));
  json::object o;
  o["Aliases"] = std::move(aliases);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

std::string ProvisionedConcurrencyJson(const control::ProvisionedConcurrencyConfig& config,
                                       bool in_progress) {
  return json::serialize(ProvisionedObject(config, in_progress));
}

std::string ListProvisionedConcurrencyJson(const control::Region& region,
                                           const std::string& function,
                                           const control::ProvisionedConcurrencyPage& page) {
  json::array configs;
  for (const auto& c : page.configs) {
    json::object o = ProvisionedObject(c, false);
    o["FunctionArn"] = control::QualifiedFunctionArn(region, function, c.qualifier);
    configs.push_back(std::move(o));
  }
  json::object o;
  o["ProvisionedConcurrencyConfigs"] = std::move(configs);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

std::string AccountSettingsJson(const control::AccountUsage& usage, int concurrent_executions,
                                int unreserved_concurrent_executions) {
  json::object limit{{"TotalCodeSize", control::kMaxTotalCodeBytes},
                     {"CodeSizeUnzipped", control::kMaxUnzippedCodeBytes},
                     {"CodeSizeZipped", control::kMaxZippedCodeBytes},
                     {"ConcurrentExecutions", concurrent_executions},
                     {"UnreservedConcurrentExecutions", unreserved_concurrent_executions}};
  json::object used{{"TotalCodeSize", usage.total_code_size},
                    {"FunctionCount", usage.function_count}};
  return json::serialize(json::object{{"AccountLimit", std::move(limit)},
                                      {"AccountUsage", std::move(used)}});
}

namespace {

json::array StringArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// LayerVersionsListItem: what every layer output shares.
json::object LayerVersionItem(const control::Region& region, const control::LayerVersion& v) {
  json::object o;
  o["LayerVersionArn"] = control::LayerVersionArn(region, v.name, v.version);
  o["Version"] = v.version;
  o["Description"] = v.description;
  o["CreatedDate"] = v.created_date;
  if (!v.compatible_runtimes.empty()) o["CompatibleRuntimes"] = StringArray(v.compatible_runtimes);
  if (!v.license_info.empty()) o["LicenseInfo"] = v.license_info;
  if (!v.compatible_architectures.empty()) {
    o["CompatibleArchitectures"] = StringArray(v.compatible_architectures);
  }
  return o;
}

}  // namespace

std::string LayerVersionJson(const control::Region& region, const control::LayerVersion& v,
                             const std::string& code_location) {
  json::object o = LayerVersionItem(region, v);
  o["Content"] = json::object{{"Location", code_location},
                              {"CodeSha256", v.code_sha256},
                              {"CodeSize", v.code_size}};
  o["LayerArn"] = control::LayerArn(region, v.name);
  return json::serialize(o);
}

std::string ListLayerVersionsJson(const control::Region& region,
                                  const control::LayerVersionPage& page) {
  json::array versions;
  for (const auto& v : page.versions) versions.push_back(LayerVersionItem(region, v));
  json::object o;
  o["LayerVersions"] = std::move(versions);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

std::string ListLayersJson(const control::Region& region, const control::LayerPage& page) {
  json::array layers;
  for (const auto& l : page.layers) {
    layers.push_back(json::object{{"LayerName", l.name},
                                  {"LayerArn", control::LayerArn(region, l.name)},
                                  {"LatestMatchingVersion",
                                   LayerVersionItem(region, l.latest_matching)}});
  }
  json::object o;
  o["Layers"] = std::move(layers);
  if (page.next_marker) o["NextMarker"] = *page.next_marker;
  return json::serialize(o);
}

}  // namespace nimbus::api
