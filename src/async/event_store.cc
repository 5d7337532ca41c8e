#include "async/event_store.h"

#include <iterator>

namespace nimbus::async {
namespace {

// Append-only (storage::Migration): never edit a released migration.
const std::vector<storage::Migration>& Migrations() {
  static const std::vector<storage::Migration> kMigrations = {
      {1, R"sql(
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  function TEXT NOT NULL,
  function_ref TEXT NOT NULL,
  qualifier TEXT NOT NULL,
  config_qualifier TEXT NOT NULL,
  invoked_function_arn TEXT NOT NULL,
  payload BLOB NOT NULL,
  trace_id TEXT NOT NULL,
  enqueued_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL
);
CREATE TABLE event_invoke_configs (
  function TEXT NOT NULL,
  qualifier TEXT NOT NULL,
  maximum_retry_attempts INTEGER,
  maximum_event_age_seconds INTEGER,
  on_success TEXT NOT NULL,
  on_failure TEXT NOT NULL,
  last_modified_ms INTEGER NOT NULL,
  PRIMARY KEY (function, qualifier)
);
)sql"},
  };
  return kMigrations;
}

template <typename T>
void MoveAppend(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty()) {
    to = std::move(from);
    return;
  }
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

void WriteBatch::Append(WriteBatch&& other) {
  MoveAppend(inserts, other.inserts);
  MoveAppend(updates, other.updates);
  MoveAppend(deletes, other.deletes);
  MoveAppend(config_puts, other.config_puts);
  MoveAppend(config_deletes, other.config_deletes);
}

Result<std::unique_ptr<EventStore>> EventStore::Open(const std::filesystem::path& path) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(path, Migrations()));
  std::unique_ptr<EventStore> s(new EventStore(std::move(store)));
  NIMBUS_RETURN_IF_ERROR(s->Prepare());
  return s;
}

Status EventStore::Prepare() {
  NIMBUS_ASSIGN_OR_RETURN(insert_, store_->Prepare(
      "INSERT INTO events (id, request_id, function, function_ref, qualifier, config_qualifier, "
      "invoked_function_arn, payload, trace_id, enqueued_ms, attempts, not_before_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
  NIMBUS_ASSIGN_OR_RETURN(update_, store_->Prepare(
      "UPDATE events SET attempts = ?2, not_before_ms = ?3 WHERE id = ?1"));
  NIMBUS_ASSIGN_OR_RETURN(delete_, store_->Prepare("DELETE FROM events WHERE id = ?1"));
  NIMBUS_ASSIGN_OR_RETURN(put_config_, store_->Prepare(
      "INSERT OR REPLACE INTO event_invoke_configs (function, qualifier, maximum_retry_attempts, "
      "maximum_event_age_seconds, on_success, on_failure, last_modified_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  NIMBUS_ASSIGN_OR_RETURN(delete_config_, store_->Prepare(
      "DELETE FROM event_invoke_configs WHERE function = ?1 AND qualifier = ?2"));
  return Status::Ok();
}

Status EventStore::Apply(const WriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  return storage::InTransaction(*store_, [&]() -> Status {
    for (const Event& e : batch.inserts) {
      storage::Statement& s = insert_;
      s.Reset();
      NIMBUS_RETURN_IF_ERROR(s.BindInt64(1, e.id));
      NIMBUS_RETURN_IF_ERROR(s.BindText(2, e.request_id));
      NIMBUS_RETURN_IF_ERROR(s.BindText(3, e.function));
      NIMBUS_RETURN_IF_ERROR(s.BindText(4, e.function_ref));
      NIMBUS_RETURN_IF_ERROR(s.BindText(5, e.qualifier));
      NIMBUS_RETURN_IF_ERROR(s.BindText(6, e.config_qualifier));
      NIMBUS_RETURN_IF_ERROR(s.BindText(7, e.invoked_function_arn));
      NIMBUS_RETURN_IF_ERROR(s.BindBlob(8, e.payload));
      NIMBUS_RETURN_IF_ERROR(s.BindText(9, e.trace_id));
      NIMBUS_RETURN_IF_ERROR(s.BindInt64(10, e.enqueued_ms));
      NIMBUS_RETURN_IF_ERROR(s.BindInt64(11, e.attempts));
      NIMBUS_RETURN_IF_ERROR(s.BindInt64(12, e.not_before_ms));
      NIMBUS_RETURN_IF_ERROR(s.Run());
    }
    for (const Event& e : batch.updates) {
      update_.Reset();
      NIMBUS_RETURN_IF_ERROR(update_.BindInt64(1, e.id));
      NIMBUS_RETURN_IF_ERROR(update_.BindInt64(2, e.attempts));
      NIMBUS_RETURN_IF_ERROR(update_.BindInt64(3, e.not_before_ms));
      NIMBUS_RETURN_IF_ERROR(update_.Run());
    }
    for (int64_t id : batch.deletes) {
      delete_.Reset();
      NIMBUS_RETURN_IF_ERROR(delete_.BindInt64(1, id));
      NIMBUS_RETURN_IF_ERROR(delete_.Run());
    }
    for (const EventInvokeConfig& c : batch.config_puts) {
      storage::Statement& s = put_config_;
      s.Reset();
      NIMBUS_RETURN_IF_ERROR(s.BindText(1, c.function));
      NIMBUS_RETURN_IF_ERROR(s.BindText(2, c.qualifier));
      NIMBUS_RETURN_IF_ERROR(c.maximum_retry_attempts ? s.BindInt64(3, *c.maximum_retry_attempts)
                                                      : s.BindNull(3));
      NIMBUS_RETURN_IF_ERROR(c.maximum_event_age_seconds
                                 ? s.BindInt64(4, *c.maximum_event_age_seconds)
                                 : s.BindNull(4));
      NIMBUS_RETURN_IF_ERROR(s.BindText(5, c.on_success));
      NIMBUS_RETURN_IF_ERROR(s.BindText(6, c.on_failure));
      NIMBUS_RETURN_IF_ERROR(s.BindInt64(7, c.last_modified_ms));
      NIMBUS_RETURN_IF_ERROR(s.Run());
    }
    for (const auto& [function, qualifier] : batch.config_deletes) {
      delete_config_.Reset();
      NIMBUS_RETURN_IF_ERROR(delete_config_.BindText(1, function));
      NIMBUS_RETURN_IF_ERROR(delete_config_.BindText(2, qualifier));
      NIMBUS_RETURN_IF_ERROR(delete_config_.Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<Event>> EventStore::LoadEvents() {
  NIMBUS_ASSIGN_OR_RETURN(auto s, store_->Prepare(
      "SELECT id, request_id, function, function_ref, qualifier, config_qualifier, "
      "invoked_function_arn, payload, trace_id, enqueued_ms, attempts, not_before_ms "
      "FROM events ORDER BY id"));
  std::vector<Event> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    Event e;
    e.id = s.ColumnInt64(0);
    e.request_id = s.ColumnText(1);
    e.function = s.ColumnText(2);
    e.function_ref = s.ColumnText(3);
    e.qualifier = s.ColumnText(4);
    e.config_qualifier = s.ColumnText(5);
    e.invoked_function_arn = s.ColumnText(6);
    e.payload = s.ColumnText(7);
    e.trace_id = s.ColumnText(8);
    e.enqueued_ms = s.ColumnInt64(9);
    e.attempts = static_cast<int>(s.ColumnInt64(10));
    e.not_before_ms = s.ColumnInt64(11);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<EventInvokeConfig>> EventStore::LoadConfigs() {
  NIMBUS_ASSIGN_OR_RETURN(auto s, store_->Prepare(
      "SELECT function, qualifier, maximum_retry_attempts, maximum_event_age_seconds, "
      "on_success, on_failure, last_modified_ms FROM event_invoke_configs "
      "ORDER BY function, qualifier"));
  std::vector<EventInvokeConfig> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    EventInvokeConfig c;
    c.function = s.ColumnText(0);
    c.qualifier = s.ColumnText(1);
    if (!s.ColumnIsNull(2)) c.maximum_retry_attempts = static_cast<int>(s.ColumnInt64(2));
    if (!s.ColumnIsNull(3)) c.maximum_event_age_seconds = s.ColumnInt64(3);
    c.on_success = s.ColumnText(4);
    c.on_failure = s.ColumnText(5);
    c.last_modified_ms = s.ColumnInt64(6);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace nimbus::async
