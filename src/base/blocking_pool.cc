#include "base/blocking_pool.h"

#include <pthread.h>

#include <mutex>

#include "base/log.h"

namespace nimbus {

BlockingPool::BlockingPool(std::string name_prefix, int threads) {
  for (int i = 0; i < threads; ++i) {
    std::string name = name_prefix + "-" + std::to_string(i);
    threads_.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      Run();
    });
  }
}

BlockingPool::~BlockingPool() {
  {
    MutexLock l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BlockingPool::Submit(std::function<void()> task) {
  {
    MutexLock l(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

namespace {

// An exception escaping a task is a bug (the code should have answered with a
// Status), but it must not end the daemon: one hostile request would then stop
// every function. It is logged, the task's captures are destroyed (a Responder
// never answered closes its connection) and the thread takes the next task.
void RunGuarded(const std::function<void()>& task) {
  try {
    task();
  } catch (const std::exception& e) {
    log::Error("bug: a blocking task threw {}; its work is abandoned", e.what());
  } catch (...) {
    log::Error("bug: a blocking task threw a non-standard exception; its work is abandoned");
  }
}

}  // namespace

void BlockingPool::Run() NIMBUS_NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock<std::mutex> lock(mu_.native());
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping and drained
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    RunGuarded(task);
    lock.lock();
  }
}

}  // namespace nimbus
