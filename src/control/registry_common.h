// Helpers shared by the files that implement Registry (registry.cc and registry_settings.cc):
// the error every revision-checked update returns, the "function name, no qualifier" rule, and
// the version-number test. Private to control/. Stateless; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace nimbus::control {

// Largest page a List* operation returns, whatever MaxItems asks for.
inline constexpr int kMaxListPage = 50;

// kFailedPrecondition: a request's RevisionId is not the function's or alias's current one.
Status RevisionMismatch();

// The name of an unqualified reference for an operation on the function itself; errors
// are ParseFunctionRef's, or kValidationFailed when `text` carries a qualifier.
Result<std::string> UnqualifiedName(std::string_view text);

// "1", "42": a published version number (as opposed to $LATEST or an alias).
bool IsVersionNumber(std::string_view q);

// The model's MaxItems range, 1..10000, as the ValidationException AWS sends.
Status ValidateMaxItems(int max_items);

}  // namespace nimbus::control
