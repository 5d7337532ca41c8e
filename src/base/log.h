// Platform log: structured lines on stderr ("2024-05-01T12:00:00.000Z INFO sandbox: ...").
// Function output never goes here; it goes to per-function log streams (obs/).
// Thread-safe: each line is written with one write(2).
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace nimbus::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

void SetMinLevel(Level level);
bool Enabled(Level level);
void Write(Level level, std::string_view message);

template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace nimbus::log
