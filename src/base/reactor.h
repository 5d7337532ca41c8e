// Reactor: one event-loop thread (epoll, via Boost.Asio) that owns network I/O,
// timers and fd watches. State confined to a reactor is touched only by callbacks
// running on it; other threads reach it with Post().
//
// Thread-safety: Post() is thread-safe. RunAfter(), Watch*() and the handles they
// return must be used on the reactor thread. Callbacks run on the reactor thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace nimbus {

class Reactor {
 public:
  // `name` names the thread (pthread_setname_np), e.g. "reactor-0".
  explicit Reactor(std::string name);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Starts the loop thread. REQUIRES: not started.
  void Start();
  // Stops the loop and joins the thread. Pending callbacks are dropped.
  void Stop();

  // Runs `fn` on the reactor thread, in FIFO order with other posts.
  void Post(std::function<void()> fn);
  bool InReactorThread() const;

  // A cancellable timer. Destroying or Cancel()ing it before it fires guarantees
  // the callback does not run. Confined to the reactor thread.
  class Timer {
   public:
    virtual ~Timer() = default;
    virtual void Cancel() = 0;
  };
  std::unique_ptr<Timer> RunAfter(std::chrono::nanoseconds delay, std::function<void()> fn);

  // Calls `on_readable` each time `fd` becomes readable (level-triggered: the
  // callback must read until EAGAIN or the watch fires again). The fd is borrowed
  // and must outlive the watch; destroying the watch stops the callbacks.
  class Watch {
   public:
    virtual ~Watch() = default;
  };
  std::unique_ptr<Watch> WatchReadable(int fd, std::function<void()> on_readable);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimbus
