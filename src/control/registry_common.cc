#include "control/registry_common.h"

#include <fmt/format.h>

#include <algorithm>

#include "control/function_name.h"

namespace nimbus::control {

Status RevisionMismatch() {
  return Status(Code::kFailedPrecondition,
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id");
}

Result<std::string> UnqualifiedName(std::string_view text) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(text));
  if (ref.qualifier.has_value()) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: "
        "Member must not include a qualifier",
        text));
  }
  return ref.name;
}

bool IsVersionNumber(std::string_view q) {
  return !q.empty() && q.size() <= 9 &&
         std::all_of(q.begin(), q.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status ValidateMaxItems(int max_items) {
  if (max_items < 1 || max_items > 10000) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'maxItems' failed to satisfy constraint: "
        "Member must have value {}",
        max_items, max_items < 1 ? "greater than or equal to 1" : "less than or equal to 10000"));
  }
  return Status::Ok();
}

}  // namespace nimbus::control
