// Validation of function configuration values, with the error wording AWS uses
// (so scripts that match on Lambda's messages keep working). Every function
// returns OK or kInvalidArgument. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nimbus::control {

// Lambda quotas (LAMBDA_COMPAT §3.6).
inline constexpr int kMinMemoryMb = 128;
inline constexpr int kMaxMemoryMb = 10240;
inline constexpr int kMinTimeoutSeconds = 1;
inline constexpr int kMaxTimeoutSeconds = 900;
inline constexpr int kMinEphemeralStorageMb = 512;
inline constexpr int kMaxEphemeralStorageMb = 10240;
// Environment.Variables, measured as the JSON text of the map.
inline constexpr size_t kMaxEnvironmentBytes = 4096;
// Direct-upload zip limit (CodeSizeZipped), 50 MiB.
inline constexpr int64_t kMaxZippedCodeBytes = 52428800;
// Unzipped package limit (CodeSizeUnzipped), 250 MiB.
inline constexpr int64_t kMaxUnzippedCodeBytes = 262144000;
// Code storage per region (TotalCodeSize), 75 GiB.
inline constexpr int64_t kMaxTotalCodeBytes = 80530636800;

// Runtime must be a runtime Lambda currently accepts for new functions. Runtimes
// Nimbus cannot execute yet (java, ruby, dotnet) pass here; their invocations
// fail later. Deprecated runtimes get AWS's "no longer supported" message;
// anything else the enum message listing the model's value set.
Status ValidateRuntime(std::string_view runtime);
// True if `runtime` is in the model's Runtime enum (deprecated ones included):
// the values a layer's CompatibleRuntimes may hold.
bool IsRuntimeEnumValue(std::string_view runtime);
Status ValidateHandler(std::string_view handler);
Status ValidateRole(std::string_view role);
Status ValidateDescription(std::string_view description);
Status ValidateMemorySize(int64_t mb);
Status ValidateTimeout(int64_t seconds);
Status ValidateEphemeralStorage(int64_t mb);
// Key pattern, reserved keys and the 4 KB total.
Status ValidateEnvironment(const std::map<std::string, std::string>& variables);
Status ValidateArchitecture(std::string_view architecture);
Status ValidateTracingMode(std::string_view mode);
Status ValidateLogFormat(std::string_view format);
// LoggingConfig.LogGroup: [\.\-_/#A-Za-z0-9]+, 1..512.
Status ValidateLogGroup(std::string_view log_group);
// ApplicationLogLevel TRACE|DEBUG|INFO|WARN|ERROR|FATAL and SystemLogLevel
// DEBUG|INFO|WARN, each allowed only with LogFormat JSON.
Status ValidateLogLevels(std::string_view format, std::string_view application_level,
                         std::string_view system_level);
// With LogFormat JSON, unset levels take Lambda's default, INFO.
void DefaultLogLevels(std::string_view format, std::string& application_level,
                      std::string& system_level);
// DeadLetterConfig.TargetArn: an SQS queue or SNS topic ARN.
Status ValidateDeadLetterTarget(std::string_view arn);
// Tag keys 1..128 characters, not starting with "aws:"; values up to 256; at
// most 50 tags.
Status ValidateTags(const std::map<std::string, std::string>& tags);

// The environment map as JSON text, as AWS measures it: {"A":"1","B":"2"}.
std::string EnvironmentJson(const std::map<std::string, std::string>& variables);

}  // namespace nimbus::control
