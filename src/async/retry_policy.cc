#include "async/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace nimbus::async {
namespace {

std::chrono::milliseconds Scaled(double ms, double scale) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms * scale)));
}

}  // namespace

std::chrono::milliseconds RetryPolicy::FunctionErrorDelay(int attempts) const {
  return Scaled(attempts <= 1 ? 60'000.0 : 120'000.0, scale);
}

std::chrono::milliseconds RetryPolicy::BackoffDelay(int failures) const {
  constexpr double kFirstMs = 1'000, kMaxMs = 300'000;
  int exponent = std::clamp(failures - 1, 0, 20);
  return Scaled(std::min(kMaxMs, kFirstMs * std::pow(2.0, exponent)), scale);
}

}  // namespace nimbus::async
