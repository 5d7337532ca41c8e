#include "base/reactor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <stdexcept>

#include "base/blocking_pool.h"

namespace nimbus {
namespace {

using namespace std::chrono_literals;

TEST(Reactor, RunsPostedCallbacksOnItsThreadInOrder) {
  Reactor r("reactor-test");
  r.Start();
  std::promise<std::vector<int>> done;
  auto order = std::make_shared<std::vector<int>>();
  for (int i = 0; i < 3; ++i) r.Post([&r, order, i] {
    EXPECT_TRUE(r.InReactorThread());
    order->push_back(i);
  });
  r.Post([&] { done.set_value(*order); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), (std::vector<int>{0, 1, 2}));
}

TEST(Reactor, ACancelledTimerNeverFires) {
  Reactor r("reactor-test");
  r.Start();
  std::promise<bool> fired_second;
  bool first_fired = false;
  std::unique_ptr<Reactor::Timer> t1, t2;
  r.Post([&] {
    t1 = r.RunAfter(1ms, [&] { first_fired = true; });
    t1->Cancel();
    t2 = r.RunAfter(20ms, [&] { fired_second.set_value(first_fired); });
  });
  auto f = fired_second.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(f.get());
  r.Post([&] { t1.reset(); t2.reset(); });
  r.Stop();
}

TEST(Reactor, WatchReportsReadableFds) {
  Reactor r("reactor-test");
  r.Start();
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::promise<std::string> got;
  std::unique_ptr<Reactor::Watch> w;
  r.Post([&] {
    w = r.WatchReadable(p[0], [&] {
      char buf[16];
      ssize_t n = read(p[0], buf, sizeof buf);
      got.set_value(std::string(buf, n > 0 ? n : 0));
      w.reset();
    });
  });
  ASSERT_EQ(write(p[1], "hi", 2), 2);
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), "hi");
  r.Stop();
  close(p[0]);
  close(p[1]);
}

TEST(BlockingPool, RunsEveryQueuedTaskBeforeDestruction) {
  std::atomic<int> n{0};
  {
    BlockingPool pool("blocking", 2);
    for (int i = 0; i < 100; ++i) pool.Submit([&] { ++n; });
  }
  EXPECT_EQ(n.load(), 100);
}

// A task that throws is a bug, but one hostile request must not end the daemon:
// the thread logs it and goes on with the next task.
TEST(BlockingPool, ATaskThatThrowsDoesNotStopTheOthers) {
  std::atomic<int> n{0};
  {
    BlockingPool pool("blocking", 1);
    pool.Submit([] { throw std::out_of_range("stoll"); });
    pool.Submit([] { throw 42; });
    for (int i = 0; i < 10; ++i) pool.Submit([&] { ++n; });
  }
  EXPECT_EQ(n.load(), 10);
}

TEST(Reactor, ACallbackThatThrowsDoesNotStopTheLoop) {
  Reactor r("test-reactor");
  r.Start();
  r.Post([] { throw std::runtime_error("a bug"); });
  std::promise<void> ran;
  r.Post([&] { ran.set_value(); });
  auto f = ran.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  r.Stop();
}

}  // namespace
}  // namespace nimbus
