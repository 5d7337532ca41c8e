#include "control/function_name.h"

#include <fmt/format.h>

#include <cctype>
#include <vector>

namespace nimbus::control {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}
bool IsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}
bool IsDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}
bool IsLower(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}
// aws[a-zA-Z-]* or empty.
bool IsPartition(std::string_view s) {
  if (s.empty()) return true;
  if (!s.starts_with("aws")) return false;
  for (char c : s.substr(3)) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}
// [a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}
bool IsRegion(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dash = s.find('-', start);
    parts.push_back(s.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (parts.size() != 3 && parts.size() != 4) return false;
  if (parts[0].size() != 2 || !IsLower(parts[0])) return false;
  if (!IsDigits(parts.back(), 1)) return false;
  if (parts.size() == 4) {
    std::string_view p = parts[1];
    bool ok = p == "gov" || p == "iso" || (p.size() == 4 && p.starts_with("iso") && IsLower(p.substr(3)));
    if (!ok) return false;
  }
  return IsLower(parts[parts.size() - 2]);
}

std::vector<std::string_view> SplitColons(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t c = s.find(':', start);
    if (c == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, c - start));
    start = c + 1;
  }
}

Status PatternError(std::string_view text) {
  return ValidationFailed(fmt::format(
      "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: "
      "Member must satisfy regular expression pattern: {}",
      text, kFunctionNamePattern));
}

}  // namespace

Result<FunctionRef> ParseFunctionRef(std::string_view text) {
  std::vector<std::string_view> t = SplitColons(text);
  size_t i = 0;
  // Each optional prefix is taken only if a name still follows it, as the
  // regular expression would backtrack.
  auto remaining = [&] { return t.size() - i; };
  if (remaining() >= 4 && t[0] == "arn") {
    if (!IsPartition(t[1]) || t[2] != "lambda") return PatternError(text);
    i = 3;
  }
  if (remaining() >= 2 && IsRegion(t[i])) ++i;
  if (remaining() >= 2 && IsDigits(t[i], 12)) ++i;
  if (remaining() >= 2 && t[i] == "function") ++i;
  if (remaining() < 1 || remaining() > 2 || !IsName(t[i])) return PatternError(text);
  FunctionRef ref;
  ref.name = std::string(t[i]);
  if (remaining() == 2) {
    std::string_view q = t[i + 1];
    if (q != "$LATEST" && !IsName(q)) return PatternError(text);
    ref.qualifier = std::string(q);
  }
  if (text.size() > 140) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 140",
        text));
  }
  if (ref.name.size() > 64) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
        ref.name));
  }
  return ref;
}

Result<FunctionRef> ParseFunctionRef(std::string_view text, std::string_view query_qualifier) {
  NIMBUS_ASSIGN_OR_RETURN(FunctionRef ref, ParseFunctionRef(text));
  if (query_qualifier.empty()) return ref;
  if (query_qualifier != "$LATEST" && !IsName(query_qualifier)) {
    return ValidationFailed(fmt::format(
        "1 validation error detected: Value '{}' at 'qualifier' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
        query_qualifier));
  }
  if (ref.qualifier.has_value() && *ref.qualifier != query_qualifier) {
    return InvalidArgument(
        "The derived qualifier from the function name does not match the specified qualifier.");
  }
  ref.qualifier = std::string(query_qualifier);
  return ref;
}

}  // namespace nimbus::control
