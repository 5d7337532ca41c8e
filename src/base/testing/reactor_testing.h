// RunOnReactor: runs a callable on a Reactor's thread and waits for what it returns, so a
// test thread can read or change state confined to that reactor. Test-only.
//
// Bounded: if the callable has not finished within `timeout` (a wedged reactor, a handler
// that blocks), the process stops with a message instead of the test hanging forever.
#pragma once

#include <chrono>
#include <future>
#include <type_traits>

#include "base/check.h"
#include "base/reactor.h"

namespace nimbus {

// Returns f()'s result (nothing when f returns void). REQUIRES: `reactor` is started and
// this is not its thread (the wait would deadlock); `f` may capture by reference because
// the call does not return before f has run.
template <typename F>
auto RunOnReactor(Reactor& reactor, F f,
                  std::chrono::nanoseconds timeout = std::chrono::seconds(10)) {
  using R = std::invoke_result_t<F&>;
  std::promise<R> p;
  reactor.Post([&] {
    if constexpr (std::is_void_v<R>) {
      f();
      p.set_value();
    } else {
      p.set_value(f());
    }
  });
  std::future<R> fut = p.get_future();
  NIMBUS_CHECK(fut.wait_for(timeout) == std::future_status::ready)
      << "RunOnReactor: the callable did not finish on the reactor in time";
  return fut.get();
}

}  // namespace nimbus
