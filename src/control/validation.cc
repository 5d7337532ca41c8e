#include "control/validation.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace nimbus::control {
namespace {

// The Runtime enum of the botocore model (lambda 2015-03-31), in its order.
constexpr std::array<std::string_view, 46> kRuntimeEnum = {
    "nodejs",       "nodejs4.3",     "nodejs6.10",      "nodejs8.10",   "nodejs10.x",
    "nodejs12.x",   "nodejs14.x",    "nodejs16.x",      "java8",        "java8.al2",
    "java11",       "python2.7",     "python3.6",       "python3.7",    "python3.8",
    "python3.9",    "dotnetcore1.0", "dotnetcore2.0",   "dotnetcore2.1", "dotnetcore3.1",
    "dotnet6",      "dotnet8",       "nodejs4.3-edge",  "go1.x",        "ruby2.5",
    "ruby2.7",      "provided",      "provided.al2",    "nodejs18.x",   "python3.10",
    "java17",       "ruby3.2",       "ruby3.3",         "ruby3.4",      "python3.11",
    "nodejs20.x",   "provided.al2023", "python3.12",    "java21",       "python3.13",
    "nodejs22.x",   "nodejs24.x",    "python3.14",      "java25",       "dotnet10",
    "ruby4.0"};

// Runtimes of the enum that Lambda no longer accepts for creating or updating
// functions. Everything else in the enum is accepted.
constexpr std::array<std::string_view, 22> kDeprecatedRuntimes = {
    "nodejs",        "nodejs4.3",     "nodejs6.10",    "nodejs8.10", "nodejs10.x",
    "nodejs12.x",    "nodejs14.x",    "nodejs16.x",    "java8",      "python2.7",
    "python3.6",     "python3.7",     "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
    "dotnetcore3.1", "dotnet6",       "nodejs4.3-edge", "go1.x",     "ruby2.5",
    "ruby2.7",       "provided"};

// Keys Lambda sets itself (configuration-envvars.html, "Reserved environment
// variables"). TZ is deliberately absent: Lambda lets customers override it.
constexpr std::array<std::string_view, 18> kReservedKeys = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& a, std::string_view v) {
  return std::find(a.begin(), a.end(), v) != a.end();
}

std::string ValidationError(std::string_view value, std::string_view field,
                            std::string_view constraint) {
  return fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: {}", value,
      field, constraint);
}

std::string_view Successor(std::string_view runtime) {
  if (runtime.starts_with("nodejs")) return "nodejs22.x";
  if (runtime.starts_with("python")) return "python3.13";
  if (runtime.starts_with("java")) return "java21";
  if (runtime.starts_with("dotnet")) return "dotnet8";
  if (runtime.starts_with("ruby")) return "ruby3.3";
  return "provided.al2023";
}

}  // namespace

bool IsRuntimeEnumValue(std::string_view runtime) { return Contains(kRuntimeEnum, runtime); }

Status ValidateRuntime(std::string_view runtime) {
  if (!Contains(kRuntimeEnum, runtime)) {
    std::string set;
    for (std::string_view r : kRuntimeEnum) {
      if (!set.empty()) set += ", ";
      set += r;
    }
    return InvalidArgument(fmt::format(
        "Value {} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        "[{}]",
        runtime, set));
  }
  if (Contains(kDeprecatedRuntimes, runtime)) {
    return InvalidArgument(fmt::format(
        "The runtime parameter of {} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use the new runtime ({}) while creating or updating "
        "functions.",
        runtime, Successor(runtime)));
  }
  return Status::Ok();
}

Status ValidateHandler(std::string_view handler) {
  if (handler.size() > 128) {
    return ValidationFailed(
        ValidationError(handler, "handler", "Member must have length less than or equal to 128"));
  }
  bool ok = !handler.empty() && std::none_of(handler.begin(), handler.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  });
  if (!ok) {
    return ValidationFailed(ValidationError(
        handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+"));
  }
  return Status::Ok();
}

Status ValidateRole(std::string_view role) {
  // arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+
  auto fail = [&] {
    return ValidationFailed(ValidationError(
        role, "role",
        "Member must satisfy regular expression pattern: "
        "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"));
  };
  std::string_view s = role;
  if (!s.starts_with("arn:")) return fail();
  s.remove_prefix(4);
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return fail();
  std::string_view partition = s.substr(0, colon);
  if (!partition.empty()) {
    if (!partition.starts_with("aws")) return fail();
    for (char c : partition.substr(3)) {
      if (!std::isalpha(static_cast<unsigned char>(c)) && c != '-') return fail();
    }
  }
  s.remove_prefix(colon + 1);
  if (!s.starts_with("iam::")) return fail();
  s.remove_prefix(5);
  if (s.size() < 12) return fail();
  for (char c : s.substr(0, 12)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return fail();
  }
  s.remove_prefix(12);
  if (!s.starts_with(":role")) return fail();
  s.remove_prefix(5);
  // "/?" is subsumed by the character class, which includes '/'.
  if (s.empty()) return fail();
  for (char c : s) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
              std::string_view("_+=,.@-/").find(c) != std::string_view::npos;
    if (!ok) return fail();
  }
  return Status::Ok();
}

Status ValidateDescription(std::string_view description) {
  if (description.size() > 256) {
    return ValidationFailed(ValidationError(description, "description",
                                           "Member must have length less than or equal to 256"));
  }
  return Status::Ok();
}

Status ValidateMemorySize(int64_t mb) {
  if (mb < kMinMemoryMb) {
    return ValidationFailed(ValidationError(
        std::to_string(mb), "memorySize", "Member must have value greater than or equal to 128"));
  }
  if (mb > kMaxMemoryMb) {
    return InvalidArgument(
        "'MemorySize' value failed to satisfy constraint: Member must have value less than or "
        "equal to 10240");
  }
  return Status::Ok();
}

Status ValidateTimeout(int64_t seconds) {
  if (seconds < kMinTimeoutSeconds) {
    return ValidationFailed(ValidationError(std::to_string(seconds), "timeout",
                                           "Member must have value greater than or equal to 1"));
  }
  if (seconds > kMaxTimeoutSeconds) {
    return InvalidArgument(ValidationError(std::to_string(seconds), "timeout",
                                           "Member must have value less than or equal to 900"));
  }
  return Status::Ok();
}

Status ValidateEphemeralStorage(int64_t mb) {
  if (mb < kMinEphemeralStorageMb) {
    return ValidationFailed(ValidationError(std::to_string(mb), "ephemeralStorage.size",
                                           "Member must have value greater than or equal to 512"));
  }
  if (mb > kMaxEphemeralStorageMb) {
    return ValidationFailed(ValidationError(std::to_string(mb), "ephemeralStorage.size",
                                           "Member must have value less than or equal to 10240"));
  }
  return Status::Ok();
}

std::string EnvironmentJson(const std::map<std::string, std::string>& variables) {
  boost::json::object o;
  for (const auto& [k, v] : variables) o[k] = v;
  return boost::json::serialize(o);
}

Status ValidateEnvironment(const std::map<std::string, std::string>& variables) {
  std::vector<std::string> reserved;
  for (const auto& [key, value] : variables) {
    if (Contains(kReservedKeys, key)) reserved.push_back(key);
  }
  if (!reserved.empty()) {
    std::string keys;
    for (const auto& k : reserved) {
      if (!keys.empty()) keys += ", ";
      keys += k;
    }
    return InvalidArgument(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided contains reserved keys that are currently not supported "
        "for modification. Reserved keys used in this request: " +
        keys);
  }
  for (const auto& [key, value] : variables) {
    // [a-zA-Z]([a-zA-Z0-9_])+
    bool ok = key.size() >= 2 && std::isalpha(static_cast<unsigned char>(key[0])) &&
              std::all_of(key.begin() + 1, key.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
              });
    if (!ok) {
      return ValidationFailed(
          "1 validation error detected: Value at 'environment.variables' failed to satisfy "
          "constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
          "pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
    }
  }
  std::string measured = EnvironmentJson(variables);
  if (measured.size() > kMaxEnvironmentBytes) {
    return InvalidArgument(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit. String measured: " +
        measured);
  }
  return Status::Ok();
}

Status ValidateArchitecture(std::string_view architecture) {
  if (architecture != "x86_64" && architecture != "arm64") {
    return ValidationFailed(
        fmt::format("1 validation error detected: Value '[{}]' at 'architectures' failed to "
                    "satisfy constraint: Member must satisfy constraint: [Member must satisfy "
                    "enum value set: [x86_64, arm64]]",
                    architecture));
  }
  return Status::Ok();
}

Status ValidateTracingMode(std::string_view mode) {
  if (mode != "Active" && mode != "PassThrough") {
    return ValidationFailed(ValidationError(
        mode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]"));
  }
  return Status::Ok();
}

Status ValidateLogFormat(std::string_view format) {
  if (format != "JSON" && format != "Text") {
    return ValidationFailed(ValidationError(format, "loggingConfig.logFormat",
                                           "Member must satisfy enum value set: [JSON, Text]"));
  }
  return Status::Ok();
}

Status ValidateLogGroup(std::string_view log_group) {
  bool ok = !log_group.empty() && log_group.size() <= 512 &&
            std::all_of(log_group.begin(), log_group.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) ||
                     std::string_view("._-/#").find(c) != std::string_view::npos;
            });
  if (!ok) {
    return ValidationFailed(ValidationError(
        log_group, "loggingConfig.logGroup",
        log_group.size() > 512 ? "Member must have length less than or equal to 512"
                               : "Member must satisfy regular expression pattern: "
                                 "[\\.\\-_/#A-Za-z0-9]+"));
  }
  return Status::Ok();
}

Status ValidateLogLevels(std::string_view format, std::string_view application_level,
                         std::string_view system_level) {
  constexpr std::array<std::string_view, 6> kApplication = {"TRACE", "DEBUG", "INFO",
                                                            "WARN",  "ERROR", "FATAL"};
  constexpr std::array<std::string_view, 3> kSystem = {"DEBUG", "INFO", "WARN"};
  if (!application_level.empty() && !Contains(kApplication, application_level)) {
    return ValidationFailed(ValidationError(
        application_level, "loggingConfig.applicationLogLevel",
        "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]"));
  }
  if (!system_level.empty() && !Contains(kSystem, system_level)) {
    return ValidationFailed(ValidationError(system_level, "loggingConfig.systemLogLevel",
                                            "Member must satisfy enum value set: [DEBUG, INFO, "
                                            "WARN]"));
  }
  if (format != "JSON" && (!application_level.empty() || !system_level.empty())) {
    return InvalidArgument(
        "Log level settings (ApplicationLogLevel, SystemLogLevel) are only supported when "
        "LogFormat is JSON.");
  }
  return Status::Ok();
}

void DefaultLogLevels(std::string_view format, std::string& application_level,
                      std::string& system_level) {
  if (format != "JSON") return;
  if (application_level.empty()) application_level = "INFO";
  if (system_level.empty()) system_level = "INFO";
}

Status ValidateDeadLetterTarget(std::string_view arn) {
  // arn:<partition>:sqs|sns:<region>:<account>:<name>
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = arn.find(':', start);
    parts.push_back(arn.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  bool ok = parts.size() == 6 && parts[0] == "arn" && parts[1].starts_with("aws") &&
            (parts[2] == "sqs" || parts[2] == "sns") && !parts[3].empty() &&
            parts[4].size() == 12 &&
            std::all_of(parts[4].begin(), parts[4].end(),
                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
            !parts[5].empty();
  if (!ok) {
    return InvalidArgument(fmt::format(
        "The target ARN {} of the DeadLetterConfig is not a valid Amazon SQS queue or Amazon SNS "
        "topic ARN.",
        arn));
  }
  return Status::Ok();
}

Status ValidateTags(const std::map<std::string, std::string>& tags) {
  if (tags.size() > 50) {
    return InvalidArgument("Number of tags exceeds resource tag limit.");
  }
  for (const auto& [key, value] : tags) {
    if (key.empty() || key.size() > 128) {
      return InvalidArgument(fmt::format("Tag key {} must be between 1 and 128 characters long.",
                                         key));
    }
    if (key.starts_with("aws:")) {
      return InvalidArgument("Tag keys prefixed with 'aws:' are reserved for AWS use.");
    }
    if (value.size() > 256) {
      return InvalidArgument(fmt::format(
          "Tag value for key {} must be no longer than 256 characters.", key));
    }
  }
  return Status::Ok();
}

}  // namespace nimbus::control
