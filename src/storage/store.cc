#include "storage/store.h"

#include <fmt/format.h>

#include <utility>

namespace nimbus::storage {
namespace {

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  Code code = Code::kInternal;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = Code::kUnavailable; break;
    case SQLITE_FULL: code = Code::kResourceExhausted; break;
    case SQLITE_CONSTRAINT: code = Code::kConflict; break;
    default: break;
  }
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Status(code, fmt::format("sqlite: {}: {}", what, detail));
}

}  // namespace

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), stmt_(std::exchange(o.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

Status Statement::Check(int rc, std::string_view what) const {
  if (rc == SQLITE_OK) return Status::Ok();
  return SqliteStatus(db_, rc, what);
}

Status Statement::BindInt64(int index, int64_t value) {
  return Check(sqlite3_bind_int64(stmt_, index, value), "bind");
}

Status Statement::BindText(int index, std::string_view value) {
  return Check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8),
               "bind");
}

Status Statement::BindBlob(int index, std::string_view value) {
  return Check(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT),
               "bind");
}

Status Statement::BindNull(int index) { return Check(sqlite3_bind_null(stmt_, index), "bind"); }

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(db_, rc, fmt::format("step \"{}\"", sqlite3_sql(stmt_)));
}

Status Statement::Run() {
  for (;;) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

void Statement::Reset() { sqlite3_reset(stmt_); }

int64_t Statement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::ColumnText(int index) const {
  const unsigned char* p = sqlite3_column_text(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  if (p == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                           const std::vector<Migration>& migrations,
                                           StoreOptions options) {
  sqlite3* db = nullptr;
  // FULLMUTEX is belt and braces: the owner serialises use anyway.
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(db, rc, fmt::format("open {}", path.string()));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  sqlite3_extended_result_codes(db, 1);
  // WAL: readers do not block the writer. synchronous=FULL: every commit fsyncs
  // the WAL, so an acknowledged write is durable (NORMAL would only guarantee
  // consistency, not durability, across power loss).
  NIMBUS_ASSIGN_OR_RETURN(std::string mode, store->JournalMode());
  if (mode != "wal") {
    NIMBUS_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
    NIMBUS_ASSIGN_OR_RETURN(mode, store->JournalMode());
    if (mode != "wal") {
      return Internal(fmt::format("sqlite: {}: cannot enable WAL mode (journal_mode={})",
                                  path.string(), mode));
    }
  }
  NIMBUS_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"));
  NIMBUS_RETURN_IF_ERROR(store->Migrate(migrations));
  return store;
}

Store::~Store() { sqlite3_close_v2(db_); }

Result<Statement> Store::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db_, rc, fmt::format("prepare \"{}\"", sql));
  return Statement(db_, stmt);
}

Status Store::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  Status s = SqliteStatus(nullptr, rc, "exec");
  s = Status(s.code(), fmt::format("sqlite: exec: {}", err != nullptr ? err : sqlite3_errstr(rc)));
  sqlite3_free(err);
  return s;
}

Status Store::Begin() { return Exec("BEGIN IMMEDIATE"); }
Status Store::Commit() { return Exec("COMMIT"); }
void Store::Rollback() {
  // Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL).
  if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
}

Result<int64_t> Store::QueryInt(std::string_view sql) {
  NIMBUS_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal(fmt::format("sqlite: \"{}\" returned no row", sql));
  return st.ColumnInt64(0);
}

Result<int> Store::SchemaVersion() {
  NIMBUS_ASSIGN_OR_RETURN(int64_t v, QueryInt("SELECT version FROM schema_version"));
  return static_cast<int>(v);
}

Result<std::string> Store::JournalMode() {
  NIMBUS_ASSIGN_OR_RETURN(Statement st, Prepare("PRAGMA journal_mode"));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal("sqlite: PRAGMA journal_mode returned no row");
  return st.ColumnText(0);
}

int64_t Store::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int64_t Store::Changes() const { return sqlite3_changes64(db_); }

Result<int64_t> Store::Synchronous() { return QueryInt("PRAGMA synchronous"); }

Status Store::Migrate(const std::vector<Migration>& migrations) {
  // Persisted format: schema_version holds exactly one row, the number of the last
  // migration applied. Never rename this table.
  NIMBUS_RETURN_IF_ERROR(InTransaction(*this, [&]() -> Status {
    NIMBUS_RETURN_IF_ERROR(
        Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    NIMBUS_ASSIGN_OR_RETURN(int64_t rows, QueryInt("SELECT count(*) FROM schema_version"));
    if (rows == 0) return Exec("INSERT INTO schema_version (version) VALUES (0)");
    return Status::Ok();
  }));
  NIMBUS_ASSIGN_OR_RETURN(int current, SchemaVersion());
  int newest = 0;
  for (size_t i = 0; i < migrations.size(); ++i) {
    NIMBUS_CHECK(migrations[i].version == static_cast<int>(i) + 1)
        << "migrations must be numbered 1, 2, 3, ... without gaps";
    newest = migrations[i].version;
  }
  if (current > newest) {
    return Internal(fmt::format(
        "sqlite: database schema version {} is newer than this binary understands ({})", current,
        newest));
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    Status s = InTransaction(*this, [&]() -> Status {
      NIMBUS_RETURN_IF_ERROR(Exec(m.sql));
      NIMBUS_ASSIGN_OR_RETURN(Statement st, Prepare("UPDATE schema_version SET version = ?"));
      NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, m.version));
      return st.Run();
    });
    if (!s.ok()) return s.WithContext(fmt::format("migration {}", m.version));
  }
  return Status::Ok();
}

}  // namespace nimbus::storage
