// Which program starts a function's runtime inside its sandbox, and the
// runtime-specific environment (AWS_EXECUTION_ENV, search paths). Pure; reads
// the code and layer directories only to look for a custom runtime's
// `bootstrap`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "control/function.h"

namespace nimbus::invoke {

struct RuntimeLaunch {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // runtime-specific variables
};

// The outcome of looking up a runtime: a launch, or a function-level error that
// Lambda reports as an invocation error (e.g. Runtime.InvalidEntrypoint when a
// custom runtime has no bootstrap), or a platform Status for runtimes this
// Nimbus cannot run.
struct RuntimeResolution {
  std::optional<RuntimeLaunch> launch;
  std::string error_type;     // set when launch is empty and this is a function error
  std::string error_message;  // without the "RequestId: <id> Error: " prefix
};

// The runtime of `function`. A custom runtime's `bootstrap` is looked up as
// Lambda does: /var/task/bootstrap (code_dir), else /opt/bootstrap, where /opt
// is the function's layers stacked in order (the last layer that has one wins).
Result<RuntimeResolution> ResolveRuntime(const control::FunctionVersion& function);

}  // namespace nimbus::invoke
