// storage: the embedded store of the control plane. Store is a small typed wrapper
// over one SQLite connection: prepared statements, transactions and versioned
// schema migrations, every failure returned as a Status.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// transaction whose Commit() returned OK survives a crash or power loss; the API
// answers only after that point.
//
// Concurrency: thread-compatible. A Store is one SQLite connection; the owner
// (control::Registry) serialises every use of it. Statements borrow the Store and
// must not outlive it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nimbus::storage {

// A prepared statement. Move-only; finalized on destruction.
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds the 1-based parameter `index`. Text and blobs are copied by SQLite.
  Status BindInt64(int index, int64_t value);
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::string_view value);
  Status BindNull(int index);

  // Runs the statement one step. Returns true when a row is available (read it
  // with Column*), false when the statement is done.
  Result<bool> Step();
  // Runs a statement that returns no rows (INSERT/UPDATE/DELETE) to completion.
  Status Run();
  // Resets the statement so it can run again; keeps the bindings.
  void Reset();

  // Columns of the current row, 0-based. REQUIRES: the last Step() returned true.
  int64_t ColumnInt64(int index) const;
  std::string ColumnText(int index) const;
  bool ColumnIsNull(int index) const;

 private:
  friend class Store;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Status Check(int rc, std::string_view what) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// One step of the schema: SQL that brings the database from version N-1 to N.
// Migrations are append-only: a released migration is never edited or removed,
// because databases in the field have already run it.
struct Migration {
  int version;      // 1, 2, 3, ... in order, no gaps
  std::string sql;  // may hold several statements
};

struct StoreOptions {
  // How long a statement waits on a lock held by another connection (another
  // process such as the sqlite3 shell) before failing with kUnavailable.
  int busy_timeout_ms = 5000;
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`, turns on WAL mode and
  // synchronous=FULL, then applies every migration whose version is above the
  // stored schema version, each in its own transaction. Fails with kInternal if
  // the database is newer than the newest migration (a downgrade), or with the
  // SQLite error of a failing migration (the database is left at the last good
  // version).
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& path,
                                             const std::vector<Migration>& migrations,
                                             StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that take no parameters.
  Status Exec(std::string_view sql);

  // Transactions. Begin() takes the write lock at once (BEGIN IMMEDIATE) so a
  // transaction never fails half-way on a lock upgrade. Commit() returns after the
  // WAL is fsync'd. Rollback() is safe to call after a failed statement.
  Status Begin();
  Status Commit();
  void Rollback();

  // The rowid of the last row inserted on this connection, and the number of
  // rows the last INSERT/UPDATE/DELETE changed.
  int64_t LastInsertRowId() const;
  int64_t Changes() const;

  // The schema version recorded in the schema_version table.
  Result<int> SchemaVersion();
  // PRAGMA journal_mode, e.g. "wal".
  Result<std::string> JournalMode();
  // PRAGMA synchronous: 2 = FULL.
  Result<int64_t> Synchronous();

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Migrate(const std::vector<Migration>& migrations);
  Result<int64_t> QueryInt(std::string_view sql);

  sqlite3* db_;
};

// Runs `body` inside a transaction: Begin, body, Commit, or Rollback if body or
// Commit fails. Returns body's error or the commit error.
template <typename F>
Status InTransaction(Store& store, F&& body) {
  NIMBUS_RETURN_IF_ERROR(store.Begin());
  Status s = body();
  if (s.ok()) s = store.Commit();
  if (!s.ok()) store.Rollback();
  return s;
}

}  // namespace nimbus::storage
