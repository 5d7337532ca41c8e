// LogSink: where execution environments write function log events (one group per
// function, one stream per environment). Implemented over obs::LogStore by the
// server; tests use an in-memory sink. Append() is called on the reactor thread
// and must not block (no I/O).
#pragma once

#include <cstdint>
#include <string>

namespace nimbus::invoke {

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Append(const std::string& group, const std::string& stream, int64_t timestamp_ms,
                      std::string message) = 0;
};

}  // namespace nimbus::invoke
