// Rendering of control's values as Lambda JSON (FunctionConfiguration and the
// operation outputs that embed it), per the botocore model and LAMBDA_COMPAT §2.4.
// Pure functions, thread-safe.
#pragma once

#include <string>

#include "control/function.h"
#include "control/registry.h"

namespace nimbus::api {

// FunctionConfiguration as JSON text.
std::string FunctionConfigurationJson(const control::FunctionVersion& function);
// GetFunction's output: {Configuration, Code{RepositoryType, Location}, Tags?}.
// `code_location` is the URL that serves the zip.
std::string GetFunctionJson(const control::FunctionVersion& function,
                            const std::string& code_location);
// ListFunctions' output: {Functions:[...], NextMarker?}.
std::string ListFunctionsJson(const control::FunctionPage& page);
// GetAccountSettings' output.
std::string AccountSettingsJson(const control::AccountUsage& usage);

}  // namespace nimbus::api
