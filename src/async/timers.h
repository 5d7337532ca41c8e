// Timers: the dispatcher's seam for delays, so tests run retries in virtual time.
// Confined to the reactor (or the test's thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "base/reactor.h"

namespace nimbus::async {

class Timers {
 public:
  virtual ~Timers() = default;
  // Runs `fn` after `delay` unless the returned handle is destroyed first.
  virtual std::unique_ptr<Reactor::Timer> RunAfter(std::chrono::nanoseconds delay,
                                                   std::function<void()> fn) = 0;
};

// Timers on a Reactor.
std::unique_ptr<Timers> NewReactorTimers(Reactor& reactor);

}  // namespace nimbus::async
