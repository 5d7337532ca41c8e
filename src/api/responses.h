// Rendering of control's values as Lambda JSON (FunctionConfiguration and the
// operation outputs that embed it), per the botocore model and LAMBDA_COMPAT §2.4.
// Pure functions, thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "control/function.h"
#include "control/registry.h"

namespace nimbus::api {

// FunctionConfiguration as JSON text. FunctionArn is qualified with
// `qualifier` when given (the alias or version the caller named), else with
// the version for published versions, else unqualified ($LATEST).
std::string FunctionConfigurationJson(const control::FunctionVersion& function,
                                      const std::string& qualifier = "");
// GetFunction's output: {Configuration, Code{RepositoryType, Location}, Tags?,
// Concurrency?}. `code_location` is the URL that serves the zip.
std::string GetFunctionJson(const control::FunctionVersion& function,
                            const std::string& code_location, const std::string& qualifier,
                            const std::map<std::string, std::string>& tags,
                            std::optional<int> reserved_concurrency);
// ListFunctions' output: {Functions:[...], NextMarker?}.
std::string ListFunctionsJson(const control::FunctionPage& page);
// ListVersionsByFunction's output: {Versions:[...], NextMarker?}; every
// FunctionArn is qualified ($LATEST's with ":$LATEST").
std::string ListVersionsJson(const control::VersionPage& page);
// AliasConfiguration.
std::string AliasJson(const control::Region& region, const std::string& function,
                      const control::Alias& alias);
std::string ListAliasesJson(const control::Region& region, const std::string& function,
                            const control::AliasPage& page);
// GetProvisionedConcurrencyConfig's output (and Put's, with `in_progress`).
std::string ProvisionedConcurrencyJson(const control::ProvisionedConcurrencyConfig& config,
                                       bool in_progress);
std::string ListProvisionedConcurrencyJson(const control::Region& region,
                                           const std::string& function,
                                           const control::ProvisionedConcurrencyPage& page);
// PublishLayerVersion's and GetLayerVersion's output: {Content{Location,
// CodeSha256, CodeSize}, LayerArn, LayerVersionArn, Version, Description,
// CreatedDate, CompatibleRuntimes?, CompatibleArchitectures?, LicenseInfo?}.
std::string LayerVersionJson(const control::Region& region, const control::LayerVersion& version,
                             const std::string& code_location);
// ListLayerVersions' output: {LayerVersions:[...], NextMarker?}.
std::string ListLayerVersionsJson(const control::Region& region,
                                  const control::LayerVersionPage& page);
// ListLayers' output: {Layers:[{LayerName, LayerArn, LatestMatchingVersion}], NextMarker?}.
std::string ListLayersJson(const control::Region& region, const control::LayerPage& page);
// GetAccountSettings' output.
std::string AccountSettingsJson(const control::AccountUsage& usage, int concurrent_executions,
                                int unreserved_concurrent_executions);

}  // namespace nimbus::api
