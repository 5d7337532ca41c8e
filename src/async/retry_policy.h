// Lambda's retry schedule for asynchronous events (LAMBDA_COMPAT §3.5), with
// every delay multiplied by `scale` (ServerOptions::async_retry_scale; 1 in
// production, e.g. 0.01 in tests). Pure functions.
#pragma once

#include <chrono>

namespace nimbus::async {

struct RetryPolicy {
  double scale = 1.0;

  // After the function failed on attempt `attempts` (1-based): ~1 min before
  // the 2nd attempt, ~2 min before the 3rd.
  std::chrono::milliseconds FunctionErrorDelay(int attempts) const;
  // After the `failures`-th consecutive throttle or platform error (1-based):
  // 1 s, 2 s, 4 s, ... capped at 5 min.
  std::chrono::milliseconds BackoffDelay(int failures) const;
};

}  // namespace nimbus::async
