#include "cli/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <ctime>

#include "base/time_format.h"

namespace nimbus::cli {

Result<std::map<std::string, std::string>> ParseEnvAssignments(
    const std::vector<std::string>& assignments) {
  std::map<std::string, std::string> env;
  for (const auto& a : assignments) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(fmt::format("--env {}: expected KEY=VALUE", a));
    }
    std::string key = a.substr(0, eq);
    bool valid = !key.empty() && std::isalpha(static_cast<unsigned char>(key[0]));
    for (char c : key) valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!valid) {
      return InvalidArgument(
          fmt::format("--env {}: {:?} is not a valid variable name ([A-Za-z][A-Za-z0-9_]*)", a,
                      key));
    }
    if (!env.emplace(key, a.substr(eq + 1)).second) {
      return InvalidArgument(fmt::format("--env: {} is given more than once", key));
    }
  }
  return env;
}

Result<std::chrono::milliseconds> ParseSince(std::string_view text) {
  std::string_view digits = text;
  int64_t unit_seconds = 1;
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back()))) {
    switch (text.back()) {
      case 's': unit_seconds = 1; break;
      case 'm': unit_seconds = 60; break;
      case 'h': unit_seconds = 3600; break;
      case 'd': unit_seconds = 86400; break;
      case 'w': unit_seconds = 7 * 86400; break;
      default:
        return InvalidArgument(fmt::format("--since {}: unit must be s, m, h, d or w", text));
    }
    digits.remove_suffix(1);
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || n < 0 ||
      n > 100LL * 365 * 86400 / unit_seconds) {
    return InvalidArgument(fmt::format("--since {}: expected a duration like 90s, 10m, 2h, 1d", text));
  }
  return std::chrono::milliseconds(n * unit_seconds * 1000);
}

std::string FormatIsoMillis(int64_t unix_ms) {
  return IsoUtcMillis(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
}

std::string FormatLogLine(int64_t timestamp_ms, std::string_view stream,
                          std::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  return fmt::format("{} {} {}\n", FormatIsoMillis(timestamp_ms), stream, message);
}

std::string FormatFunctionTable(const std::vector<FunctionRow>& rows) {
  const std::string headers[] = {"NAME", "RUNTIME", "MEMORY", "LAST MODIFIED"};
  std::vector<std::array<std::string, 4>> cells;
  cells.push_back({headers[0], headers[1], headers[2], headers[3]});
  for (const auto& r : rows) {
    cells.push_back({r.name, r.runtime, fmt::format("{} MB", r.memory_mb), r.last_modified});
  }
  size_t width[4] = {0, 0, 0, 0};
  for (const auto& row : cells) {
    for (int i = 0; i < 4; ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : cells) {
    // MEMORY is right-aligned; the last column is not padded.
    out += fmt::format("{:<{}}  {:<{}}  {:>{}}  {}\n", row[0], width[0], row[1], width[1], row[2],
                       width[2], row[3]);
  }
  return out;
}

std::string DescribeAwsError(const http::Response& response) {
  std::string type(response.headers.Get("x-amzn-ErrorType").value_or(""));
  std::string message;
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto& o = body.get_object();
    auto str = [&](std::string_view key) -> std::string {
      const auto* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    if (type.empty()) type = str("__type");
    if (type.empty()) type = str("code");
    if (type.empty()) type = str("Code");
    message = str("message");
    if (message.empty()) message = str("Message");
    if (message.empty()) message = str("errorMessage");
  }
  // As botocore: drop ":http://internal..." suffixes and "namespace#" prefixes.
  type = type.substr(0, type.find(':'));
  if (size_t hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
  if (type.empty()) {
    std::string start = response.body.substr(0, 200);
    while (!start.empty() && std::isspace(static_cast<unsigned char>(start.back()))) start.pop_back();
    return start.empty() ? fmt::format("HTTP {}", response.status)
                         : fmt::format("HTTP {}: {}", response.status, start);
  }
  return message.empty() ? type : fmt::format("{}: {}", type, message);
}

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace nimbus::cli
