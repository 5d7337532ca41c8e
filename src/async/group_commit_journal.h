// GroupCommitJournal: a Journal over an EventStore with group commit. Writes
// that arrive while a commit is running are merged into the next one, so a
// burst of N concurrent enqueues costs one transaction and one fsync, not N.
// The EventStore is used only by the journal's own writer thread; acceptance
// latency is at most two commits.
//
// Threads: Write()/Flush() and every `done` on the reactor; commits on the
// "async-journal" thread. The journal must be destroyed on the reactor thread;
// its destructor waits for a running commit (whose `done` callbacks are then
// dropped, never run).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "async/event_store.h"
#include "async/journal.h"
#include "base/blocking_pool.h"
#include "base/reactor.h"

namespace nimbus::async {

struct JournalStats {
  int64_t commits = 0;        // transactions (fsyncs) run
  int64_t batches = 0;        // Write() calls committed
  int64_t failed_commits = 0;
};

class GroupCommitJournal final : public Journal {
 public:
  // `store` is moved to the writer thread's exclusive use.
  GroupCommitJournal(Reactor& reactor, std::unique_ptr<EventStore> store);
  ~GroupCommitJournal() override;
  GroupCommitJournal(const GroupCommitJournal&) = delete;
  GroupCommitJournal& operator=(const GroupCommitJournal&) = delete;

  void Write(WriteBatch batch, std::function<void(Status)> done) override;
  // `done` runs once everything written before this call is durable.
  void Flush(std::function<void()> done);
  bool idle() const { return !in_flight_ && pending_.empty(); }
  const JournalStats& stats() const { return stats_; }

 private:
  void StartCommit();
  void OnCommitted(Status status, std::vector<std::function<void(Status)>> callbacks);

  Reactor& reactor_;
  std::unique_ptr<EventStore> store_;  // used only on writer_'s thread
  // Reactor-confined.
  WriteBatch pending_;
  std::vector<std::function<void(Status)>> pending_callbacks_;
  bool in_flight_ = false;
  JournalStats stats_;
  // Dropped by the destructor (on the reactor), so commit completions posted
  // after it are ignored.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<BlockingPool> writer_;  // one thread; last member: joined first
};

}  // namespace nimbus::async
