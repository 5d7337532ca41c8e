// Pure helpers of the `nimbus` client commands: argument parsing and output
// formatting. Thread-safe (no state).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "http/message.h"

namespace nimbus::cli {

// Parses repeated `--env K=V` values into a map. The value may contain '=' and
// be empty; the key must be a valid variable name ([A-Za-z][A-Za-z0-9_]*, as
// Lambda requires). A repeated key is an error.
Result<std::map<std::string, std::string>> ParseEnvAssignments(
    const std::vector<std::string>& assignments);

// "90s", "10m", "2h", "1d", "1w" (or a bare number of seconds) → duration.
Result<std::chrono::milliseconds> ParseSince(std::string_view text);

// Epoch milliseconds → "2024-05-01T12:00:00.000Z".
std::string FormatIsoMillis(int64_t unix_ms);

// One `nimbus logs` line: "<ISO ts> <stream> <message>", without the message's
// trailing newline; always ends with '\n'.
std::string FormatLogLine(int64_t timestamp_ms, std::string_view stream,
                          std::string_view message);

struct FunctionRow {
  std::string name;
  std::string runtime;
  int memory_mb = 0;
  std::string last_modified;
};

// `nimbus list`: a header and one row per function, columns padded to fit.
std::string FormatFunctionTable(const std::vector<FunctionRow>& rows);

// "ResourceNotFoundException: Function not found: arn:..." from an AWS error
// response (Lambda REST: x-amzn-ErrorType + {"Message"|"message"}; JSON 1.1:
// {"__type","message"}), or "HTTP <status>: <body start>" when it has neither.
std::string DescribeAwsError(const http::Response& response);

// Percent-encodes everything but RFC 3986 unreserved characters, for one path
// segment or query value ("f:1" → "f%3A1", "$LATEST" → "%24LATEST").
std::string PercentEncode(std::string_view text);

}  // namespace nimbus::cli
