#include "http/trace_header.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/encoding.h"

namespace nimbus::http {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

}  // namespace

std::optional<std::string> TraceHeaderFromTraceparent(std::string_view tp) {
  // version "-" trace-id "-" parent-id "-" flags; version ff is invalid.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  std::string_view version = tp.substr(0, 2), trace = tp.substr(3, 32), parent = tp.substr(36, 16),
                   flags = tp.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) {
    return std::nullopt;
  }
  if (version == "00" && tp.size() != 55) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  return "Root=1-" + std::string(trace.substr(0, 8)) + "-" + std::string(trace.substr(8)) + ";Parent=" +
         std::string(parent) + ";Sampled=" + ((flag_bits & 1) ? "1" : "0");
}

std::string NewTraceHeader(std::chrono::system_clock::time_point now) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string root = RandomHex32(), parent = RandomHex32();
  return fmt::format("Root=1-{:08x}-{};Parent={};Sampled=0", secs, root.substr(0, 24), parent.substr(0, 16));
}

bool IsTraceHeader(std::string_view header) {
  return header.find("Root=") != std::string_view::npos && header.size() <= 256;
}

std::string TraceHeaderOf(const Headers& headers) {
  if (auto x = headers.Get("X-Amzn-Trace-Id"); x && IsTraceHeader(*x)) return std::string(*x);
  if (auto tp = headers.Get("traceparent")) {
    if (auto converted = TraceHeaderFromTraceparent(*tp)) return *converted;
  }
  return "";
}

}  // namespace nimbus::http
