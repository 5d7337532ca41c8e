#include "base/reactor.h"

#include <pthread.h>

#include <optional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/check.h"
#include "base/log.h"
#include "base/reactor_asio.h"

namespace nimbus {

namespace asio = boost::asio;

struct Reactor::Impl {
  std::string name;
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  std::thread::id thread_id;
};

Reactor::Reactor(std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
}

Reactor::~Reactor() { Stop(); }

void Reactor::Start() {
  NIMBUS_CHECK(!impl_->thread.joinable()) << "reactor " << impl_->name << " already started";
  impl_->guard.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), impl_->name.substr(0, 15).c_str());
    // An exception escaping a handler is a bug, but it must not end the daemon:
    // it is logged and the loop goes on (io_context::run may be called again).
    for (;;) {
      try {
        impl_->io.run();
        break;
      } catch (const std::exception& e) {
        log::Error("bug: a task on reactor {} threw {}; its work is abandoned", impl_->name, e.what());
      } catch (...) {
        log::Error("bug: a task on reactor {} threw a non-standard exception; its work is abandoned", impl_->name);
      }
    }
  });
  impl_->thread_id = impl_->thread.get_id();
}

void Reactor::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->guard.reset();
  impl_->io.stop();
  impl_->thread.join();
}

void Reactor::Post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

bool Reactor::InReactorThread() const { return std::this_thread::get_id() == impl_->thread_id; }

namespace {

class AsioTimer final : public Reactor::Timer {
 public:
  AsioTimer(asio::io_context& io, std::chrono::nanoseconds delay, std::function<void()> fn)
      : timer_(io, delay), state_(std::make_shared<State>()) {
    state_->fn = std::move(fn);
    timer_.async_wait([state = state_](const boost::system::error_code& ec) {
      if (ec || state->cancelled) return;
      auto fn = std::move(state->fn);
      fn();
    });
  }
  ~AsioTimer() override { Cancel(); }
  void Cancel() override {
    state_->cancelled = true;
    timer_.cancel();
  }

 private:
  struct State {
    bool cancelled = false;
    std::function<void()> fn;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;  // co-owned by the pending wait handler
};

class AsioWatch final : public Reactor::Watch {
 public:
  AsioWatch(asio::io_context& io, int fd, std::function<void()> fn)
      : sd_(io, fd), state_(std::make_shared<State>()) {
    state_->fn = std::move(fn);
    Arm();
  }
  ~AsioWatch() override {
    state_->cancelled = true;
    boost::system::error_code ec;
    sd_.cancel(ec);
    sd_.release();  // the fd is borrowed, not ours to close
  }

 private:
  struct State {
    bool cancelled = false;
    std::function<void()> fn;
  };
  void Arm() {
    sd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [this, state = state_](const boost::system::error_code& ec) {
                     if (ec || state->cancelled) return;
                     state->fn();
                     // The callback may have destroyed this watch.
                     if (!state->cancelled) Arm();
                   });
  }
  asio::posix::stream_descriptor sd_;
  std::shared_ptr<State> state_;  // co-owned by the pending wait handler
};

}  // namespace

std::unique_ptr<Reactor::Timer> Reactor::RunAfter(std::chrono::nanoseconds delay,
                                                   std::function<void()> fn) {
  return std::make_unique<AsioTimer>(impl_->io, delay, std::move(fn));
}

std::unique_ptr<Reactor::Watch> Reactor::WatchReadable(int fd, std::function<void()> on_readable) {
  return std::make_unique<AsioWatch>(impl_->io, fd, std::move(on_readable));
}

boost::asio::io_context& AsioContext(Reactor& reactor) { return reactor.impl().io; }

}  // namespace nimbus
