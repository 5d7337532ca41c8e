// Parsing of the FunctionName path label / request field, which AWS accepts as a
// name ("my-function"), a name with a qualifier ("my-function:live"), a partial
// ARN ("123456789012:function:my-function") or a full ARN, optionally qualified.
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nimbus::control {

// The model's FunctionName pattern, quoted verbatim in validation errors.
inline constexpr std::string_view kFunctionNamePattern =
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?"
    "(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";

struct FunctionRef {
  std::string name;                      // [a-zA-Z0-9-_]{1,64}
  std::optional<std::string> qualifier;  // from "name:qualifier", if present
};

// Parses `text` per kFunctionNamePattern. The region and account inside an ARN
// are accepted whatever they are (clients configured for another region still
// reach this Nimbus). Errors (kInvalidArgument, AWS's validation wording): the
// pattern does not match, the whole value exceeds 140 characters, or the name
// exceeds 64.
Result<FunctionRef> ParseFunctionRef(std::string_view text);

// Parses `text` and merges a `?Qualifier=` value: when both are present they must
// agree (kInvalidArgument otherwise). An empty `query_qualifier` means absent.
Result<FunctionRef> ParseFunctionRef(std::string_view text, std::string_view query_qualifier);

}  // namespace nimbus::control
