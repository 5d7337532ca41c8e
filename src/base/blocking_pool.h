// BlockingPool: a bounded set of named threads ("blocking-N") for work that may
// block: clone/exec, mounts, cgroup writes, fsync, unpacking code, SQLite.
// Submit() is thread-safe; tasks run in FIFO order across the threads.
// Completion is reported by the task itself, usually by Post()ing to a Reactor.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"

namespace nimbus {

class BlockingPool {
 public:
  BlockingPool(std::string name_prefix, int threads);
  // Finishes queued tasks, then joins.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Run();

  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_ NIMBUS_GUARDED_BY(mu_);
  bool stopping_ NIMBUS_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace nimbus
