#include "async/timers.h"

namespace nimbus::async {
namespace {

class ReactorTimers final : public Timers {
 public:
  explicit ReactorTimers(Reactor& reactor) : reactor_(reactor) {}
  std::unique_ptr<Reactor::Timer> RunAfter(std::chrono::nanoseconds delay,
                                           std::function<void()> fn) override {
    return reactor_.RunAfter(delay, std::move(fn));
  }

 private:
  Reactor& reactor_;
};

}  // namespace

std::unique_ptr<Timers> NewReactorTimers(Reactor& reactor) {
  return std::make_unique<ReactorTimers>(reactor);
}

}  // namespace nimbus::async
