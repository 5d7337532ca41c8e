// EventStore: the durable half of the async queue, <data>/async.db (SQLite via
// storage::Store: WAL, synchronous=FULL). One WriteBatch is one transaction, so
// a batch's inserts, updates and deletes become durable together - an event's
// deletion and the insertion of its destination record are atomic.
//
// Thread-compatible: one thread uses it at a time (the GroupCommitJournal's
// writer thread, or Open/Load before the reactor starts). Every call blocks on
// disk I/O.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "async/event.h"
#include "async/event_invoke_config.h"
#include "base/status.h"
#include "storage/store.h"

namespace nimbus::async {

struct WriteBatch {
  std::vector<Event> inserts;
  std::vector<Event> updates;  // rewrites attempts and not_before_ms of these ids
  std::vector<int64_t> deletes;
  std::vector<EventInvokeConfig> config_puts;
  std::vector<std::pair<std::string, std::string>> config_deletes;  // (function, qualifier)

  bool empty() const {
    return inserts.empty() && updates.empty() && deletes.empty() && config_puts.empty() &&
           config_deletes.empty();
  }
  // Appends `other`'s operations after this batch's.
  void Append(WriteBatch&& other);
};

class EventStore {
 public:
  static Result<std::unique_ptr<EventStore>> Open(const std::filesystem::path& path);

  // Applies the batch in one transaction; returns after the WAL is fsync'd.
  Status Apply(const WriteBatch& batch);
  // Every event on disk, in id order.
  Result<std::vector<Event>> LoadEvents();
  Result<std::vector<EventInvokeConfig>> LoadConfigs();

 private:
  explicit EventStore(std::unique_ptr<storage::Store> store) : store_(std::move(store)) {}
  Status Prepare();

  std::unique_ptr<storage::Store> store_;
  storage::Statement insert_;
  storage::Statement update_;
  storage::Statement delete_;
  storage::Statement put_config_;
  storage::Statement delete_config_;
};

}  // namespace nimbus::async
