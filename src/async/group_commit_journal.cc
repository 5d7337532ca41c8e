#include "async/group_commit_journal.h"

#include "base/log.h"

namespace nimbus::async {

GroupCommitJournal::GroupCommitJournal(Reactor& reactor, std::unique_ptr<EventStore> store)
    : reactor_(reactor),
      store_(std::move(store)),
      writer_(std::make_unique<BlockingPool>("async-journal", 1)) {}

GroupCommitJournal::~GroupCommitJournal() {
  alive_.reset();
  writer_.reset();  // waits for a running commit
}

void GroupCommitJournal::Write(WriteBatch batch, std::function<void(Status)> done) {
  pending_.Append(std::move(batch));
  pending_callbacks_.push_back(std::move(done));
  if (!in_flight_) StartCommit();
}

void GroupCommitJournal::Flush(std::function<void()> done) {
  Write({}, [done = std::move(done)](Status) { done(); });
}

void GroupCommitJournal::StartCommit() {
  in_flight_ = true;
  auto batch = std::make_shared<WriteBatch>(std::move(pending_));
  pending_ = WriteBatch();
  auto callbacks = std::make_shared<std::vector<std::function<void(Status)>>>(
      std::move(pending_callbacks_));
  pending_callbacks_.clear();
  std::weak_ptr<bool> alive = alive_;
  writer_->Submit([this, batch, callbacks, alive]() mutable {
    Status s = store_->Apply(*batch);
    batch.reset();  // free payloads on the writer thread
    reactor_.Post([this, s, callbacks, alive] {
      if (alive.expired()) return;
      OnCommitted(s, std::move(*callbacks));
    });
  });
}

void GroupCommitJournal::OnCommitted(Status status,
                                     std::vector<std::function<void(Status)>> callbacks) {
  in_flight_ = false;
  ++stats_.commits;
  stats_.batches += static_cast<int64_t>(callbacks.size());
  if (!status.ok()) {
    ++stats_.failed_commits;
    log::Error("async: journal commit of {} writes failed: {}", callbacks.size(),
               status.ToString());
  }
  // Start the next group before running callbacks: they may write more.
  if (!pending_callbacks_.empty()) StartCommit();
  for (auto& cb : callbacks) cb(status);
}

}  // namespace nimbus::async
