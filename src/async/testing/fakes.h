// Fakes for the async component's own tests: virtual-time timers, an in-memory
// journal whose commits the test releases, and an invoker whose invocations the
// test completes. Single-threaded (the test's thread plays the reactor).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "async/journal.h"
#include "async/timers.h"
#include "base/testing/fake_clock.h"
#include "invoke/invoker.h"

namespace nimbus::async::testing {

class FakeTimers final : public Timers {
 public:
  explicit FakeTimers(FakeClock& clock) : clock_(clock) {}

  std::unique_ptr<Reactor::Timer> RunAfter(std::chrono::nanoseconds delay,
                                           std::function<void()> fn) override {
    auto cancelled = std::make_shared<bool>(false);
    timers_.push_back({clock_.MonotonicNow() + delay, seq_++, std::move(fn), cancelled});
    return std::make_unique<Handle>(cancelled);
  }

  // Moves virtual time forward, firing due timers in order.
  void Advance(std::chrono::nanoseconds d) {
    auto end = clock_.MonotonicNow() + d;
    while (true) {
      auto next = Next(end);
      if (next == timers_.end()) break;
      auto due = next->due;
      if (due > clock_.MonotonicNow()) clock_.Advance(due - clock_.MonotonicNow());
      Entry e = std::move(*next);
      timers_.erase(next);
      if (!*e.cancelled) e.fn();
    }
    if (end > clock_.MonotonicNow()) clock_.Advance(end - clock_.MonotonicNow());
  }
  size_t pending() const {
    size_t n = 0;
    for (const auto& t : timers_) n += !*t.cancelled;
    return n;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point due;
    int64_t seq;
    std::function<void()> fn;
    std::shared_ptr<bool> cancelled;
  };
  class Handle final : public Reactor::Timer {
   public:
    explicit Handle(std::shared_ptr<bool> c) : c_(std::move(c)) {}
    ~Handle() override { *c_ = true; }
    void Cancel() override { *c_ = true; }

   private:
    std::shared_ptr<bool> c_;
  };
  std::vector<Entry>::iterator Next(std::chrono::steady_clock::time_point end) {
    auto best = timers_.end();
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (*it->cancelled || it->due > end) continue;
      if (best == timers_.end() || it->due < best->due ||
          (it->due == best->due && it->seq < best->seq)) {
        best = it;
      }
    }
    return best;
  }

  FakeClock& clock_;
  std::vector<Entry> timers_;
  int64_t seq_ = 0;
};

// Commits when the test says so (or at once with auto_commit), and remembers
// what is "on disk".
class FakeJournal final : public Journal {
 public:
  void Write(WriteBatch batch, std::function<void(Status)> done) override {
    queued_.push_back({std::move(batch), std::move(done)});
    if (auto_commit) CommitAll();
  }
  void CommitAll(Status status = Status::Ok()) {
    while (!queued_.empty()) {
      auto [batch, done] = std::move(queued_.front());
      queued_.pop_front();
      if (status.ok()) {
        for (auto& e : batch.inserts) on_disk[e.id] = e;
        for (auto& e : batch.updates) {
          on_disk[e.id].attempts = e.attempts;
          on_disk[e.id].not_before_ms = e.not_before_ms;
        }
        for (int64_t id : batch.deletes) on_disk.erase(id);
        ++commits;
      }
      done(status);
    }
  }
  size_t queued() const { return queued_.size(); }

  bool auto_commit = true;
  std::map<int64_t, Event> on_disk;
  int commits = 0;

 private:
  std::deque<std::pair<WriteBatch, std::function<void(Status)>>> queued_;
};

class FakeInvoker final : public invoke::Invoker {
 public:
  struct Call {
    invoke::InvokeRequest request;
    invoke::InvokeCallback done;
  };
  void Invoke(invoke::InvokeRequest request, invoke::InvokeCallback done) override {
    calls.push_back({std::move(request), std::move(done)});
  }
  void RetireFunction(const std::string&, const std::string&) override {}
  void SetReservedConcurrency(const std::string&, std::optional<int>) override {}
  void SetProvisionedConcurrency(control::FunctionSnapshot, const std::string&, int) override {}

  // Completes the oldest running call.
  void Succeed(std::string payload = R"({"ok":true})") {
    invoke::InvokeOutcome o;
    o.executed_version = "$LATEST";
    o.payload = std::move(payload);
    Complete(std::move(o));
  }
  void FailFunction(std::string payload = R"({"errorMessage":"boom","errorType":"Error"})") {
    invoke::InvokeOutcome o;
    o.executed_version = "$LATEST";
    o.payload = std::move(payload);
    o.function_error = "Unhandled";
    Complete(std::move(o));
  }
  void Refuse(Status s) {
    Call c = Pop();
    c.done(std::move(s));
  }
  size_t running() const { return calls.size(); }

  std::deque<Call> calls;

 private:
  Call Pop() {
    Call c = std::move(calls.front());
    calls.pop_front();
    return c;
  }
  void Complete(invoke::InvokeOutcome o) {
    Call c = Pop();
    o.request_id = c.request.request_id;
    c.done(std::move(o));
  }
};

}  // namespace nimbus::async::testing
