// The persisted form of a FunctionConfig: one JSON object per function, stored in
// the `functions` table. Persisted format: keys are never renamed or reused;
// a key missing from an older row takes the FunctionConfig default, so adding a
// field needs no migration. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "control/function.h"

namespace nimbus::control {

std::string EncodeFunctionConfig(const FunctionConfig& config);
// kInternal if `json` is not an object of the persisted form.
Result<FunctionConfig> DecodeFunctionConfig(std::string_view json);

// The persisted form of an Alias (table `aliases`), under the same rules.
std::string EncodeAlias(const Alias& alias);
Result<Alias> DecodeAlias(std::string_view json);

// The persisted form of a LayerVersion (table `layer_versions`), same rules.
std::string EncodeLayerVersion(const LayerVersion& layer);
Result<LayerVersion> DecodeLayerVersion(std::string_view json);

}  // namespace nimbus::control
