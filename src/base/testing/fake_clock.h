// FakeClock: virtual time for tests. Thread-safe; Advance() moves both clocks.
#pragma once

#include <atomic>

#include "base/clock.h"

namespace nimbus {

class FakeClock final : public Clock {
 public:
  // Starts at 2024-05-01T12:00:00Z.
  FakeClock() : wall_ms_(1714564800000), mono_ns_(1'000'000'000) {}

  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(wall_ms_.load()));
  }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(mono_ns_.load()));
  }
  void Advance(std::chrono::nanoseconds d) {
    wall_ms_ += std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    mono_ns_ += d.count();
  }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> mono_ns_;
};

}  // namespace nimbus
