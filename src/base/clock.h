// Clock: the only way Nimbus code reads time. Injected by server::Server; tests
// use FakeClock (base/testing/fake_clock.h). Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace nimbus {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps that leave the process: LastModified, log
  // times, Lambda-Runtime-Deadline-Ms).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time (for durations and deadlines inside the process).
  virtual std::chrono::steady_clock::time_point MonotonicNow() const = 0;
};

// The system clocks.
std::unique_ptr<Clock> NewRealClock();

// Milliseconds since the Unix epoch.
inline int64_t ToUnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace nimbus
