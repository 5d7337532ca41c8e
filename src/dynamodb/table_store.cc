#include "dynamodb/table_store.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/thread_annotations.h"
#include "storage/store.h"

namespace nimbus::dynamodb {
namespace {

namespace json = boost::json;

// Persisted format: released migrations are never edited.
//   tables.def: TableDefToJson. items.item: ItemToJson. items.ttl: the item's TTL
//   attribute in epoch seconds when the table has TTL enabled. index_entries: one
//   row per item per secondary index whose key attributes the item has.
//   stream_records.record: see RecordToJson. counters.stream_seq: the last
//   sequence number given to a stream record (never reused).
const std::vector<storage::Migration> kMigrations = {
    {1,
     "CREATE TABLE tables (name TEXT PRIMARY KEY, def TEXT NOT NULL);"
     "CREATE TABLE items (tbl TEXT NOT NULL, pk BLOB NOT NULL, sk BLOB NOT NULL, item TEXT NOT NULL,"
     "  size INTEGER NOT NULL, ttl INTEGER, PRIMARY KEY (tbl, pk, sk)) WITHOUT ROWID;"
     "CREATE INDEX items_ttl ON items (ttl) WHERE ttl IS NOT NULL;"
     "CREATE TABLE index_entries (tbl TEXT NOT NULL, idx TEXT NOT NULL, ipk BLOB NOT NULL, isk BLOB NOT NULL,"
     "  pk BLOB NOT NULL, sk BLOB NOT NULL, PRIMARY KEY (tbl, idx, ipk, isk, pk, sk)) WITHOUT ROWID;"
     "CREATE TABLE stream_records (tbl TEXT NOT NULL, label TEXT NOT NULL, seq INTEGER NOT NULL,"
     "  created_ms INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (tbl, label, seq)) WITHOUT ROWID;"
     "CREATE INDEX stream_records_age ON stream_records (created_ms);"
     "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
     "INSERT INTO counters VALUES ('stream_seq', 0);"},
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Str(const json::object& o, const char* k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_string() ? std::string(x->as_string()) : std::string();
}
int64_t Int(const json::object& o, const char* k) {
  const json::value* x = o.if_contains(k);
  return x && x->is_int64() ? x->as_int64() : 0;
}

Type TypeFromName(std::string_view n) {
  return n == "N" ? Type::kN : n == "B" ? Type::kB : Type::kS;
}

json::object KeySchemaToJson(const KeySchema& k) {
  return {{"hash", k.hash}, {"range", k.range}, {"hash_type", TypeName(k.hash_type)}, {"range_type", TypeName(k.range_type)}};
}
KeySchema KeySchemaFromJson(const json::object& o) {
  return {Str(o, "hash"), Str(o, "range"), TypeFromName(Str(o, "hash_type")), TypeFromName(Str(o, "range_type"))};
}

Result<Item> ParseItem(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Internal("dynamodb: a stored item is not JSON");
  return ItemFromJson(v);
}

json::object RecordToJson(const StreamRecord& r) {
  json::object o{{"event", r.event_name}, {"keys", ItemToJson(r.keys)}, {"ttl", r.by_ttl},
                 {"size", static_cast<int64_t>(r.size_bytes)}};
  if (r.old_image) o["old"] = ItemToJson(*r.old_image);
  if (r.new_image) o["new"] = ItemToJson(*r.new_image);
  return o;
}

Result<StreamRecord> RecordFromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Internal("dynamodb: a stored stream record is not JSON");
  const auto& o = v.as_object();
  StreamRecord r;
  r.event_name = Str(o, "event");
  NIMBUS_ASSIGN_OR_RETURN(r.keys, ItemFromJson(o.at("keys")));
  if (const auto* x = o.if_contains("old")) {
    NIMBUS_ASSIGN_OR_RETURN(r.old_image, ItemFromJson(*x));
  }
  if (const auto* x = o.if_contains("new")) {
    NIMBUS_ASSIGN_OR_RETURN(r.new_image, ItemFromJson(*x));
  }
  if (const auto* x = o.if_contains("ttl"); x && x->is_bool()) r.by_ttl = x->as_bool();
  r.size_bytes = static_cast<size_t>(Int(o, "size"));
  return r;
}

std::string RangeBytes(const Item& item, const KeySchema& key) {
  if (key.range.empty()) return std::string();
  return KeyBytes(item.at(key.range));
}

// The item's TTL in epoch seconds, if the table has TTL on and the attribute is a number.
std::optional<int64_t> TtlOf(const TableDef& def, const Item& item) {
  if (!def.ttl_enabled || def.ttl_attribute.empty()) return std::nullopt;
  auto it = item.find(def.ttl_attribute);
  if (it == item.end() || it->second.type != Type::kN) return std::nullopt;
  const std::string& text = it->second.scalar;
  if (text.starts_with('-')) return std::nullopt;
  std::string whole = text.substr(0, text.find('.'));
  if (whole.size() > 15) return std::nullopt;  // beyond any plausible date
  return std::stoll(whole);
}

class SqliteTableStore final : public TableStore {
 public:
  explicit SqliteTableStore(std::unique_ptr<storage::Store> store) : store_(std::move(store)) {}

  Status LoadSequence() {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT value FROM counters WHERE name = 'stream_seq'"));
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Internal("dynamodb: the stream sequence counter is missing");
    sequence_ = st.ColumnInt64(0);
    return Status::Ok();
  }

  Status CreateTable(const TableDef& def) override {
    MutexLock l(mu_);
    return storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(auto existing, LoadTable(def.name));
      if (existing) return Status(Code::kConflict, fmt::format("table {}", def.name));
      return SaveTable(def);
    });
  }

  Status UpdateTable(const TableDef& def) override {
    MutexLock l(mu_);
    return storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(auto old, LoadTable(def.name));
      if (!old) return NotFound(fmt::format("table {}", def.name));
      NIMBUS_RETURN_IF_ERROR(SaveTable(def));
      std::vector<const SecondaryIndex*> added;
      for (const auto& idx : def.indexes) {
        if (old->Index(idx.name) == nullptr) added.push_back(&idx);
      }
      for (const auto& idx : old->indexes) {
        if (def.Index(idx.name) != nullptr) continue;
        NIMBUS_ASSIGN_OR_RETURN(auto del, store_->Prepare("DELETE FROM index_entries WHERE tbl = ? AND idx = ?"));
        NIMBUS_RETURN_IF_ERROR(del.BindText(1, def.name));
        NIMBUS_RETURN_IF_ERROR(del.BindText(2, idx.name));
        NIMBUS_RETURN_IF_ERROR(del.Run());
      }
      const bool ttl_changed = old->ttl_enabled != def.ttl_enabled || old->ttl_attribute != def.ttl_attribute;
      if (added.empty() && !ttl_changed) return Status::Ok();
      // Backfill new indexes and recompute TTLs over every item.
      NIMBUS_ASSIGN_OR_RETURN(auto sel, store_->Prepare("SELECT pk, sk, item FROM items WHERE tbl = ?"));
      NIMBUS_RETURN_IF_ERROR(sel.BindText(1, def.name));
      std::vector<std::tuple<std::string, std::string, Item>> items;
      while (true) {
        NIMBUS_ASSIGN_OR_RETURN(bool row, sel.Step());
        if (!row) break;
        NIMBUS_ASSIGN_OR_RETURN(Item item, ParseItem(sel.ColumnText(2)));
        items.emplace_back(sel.ColumnText(0), sel.ColumnText(1), std::move(item));
      }
      for (const auto& [pk, sk, item] : items) {
        for (const SecondaryIndex* idx : added) NIMBUS_RETURN_IF_ERROR(InsertIndexEntry(def.name, *idx, item, pk, sk));
        if (ttl_changed) {
          NIMBUS_ASSIGN_OR_RETURN(auto up, store_->Prepare("UPDATE items SET ttl = ? WHERE tbl = ? AND pk = ? AND sk = ?"));
          auto ttl = TtlOf(def, item);
          NIMBUS_RETURN_IF_ERROR(ttl ? up.BindInt64(1, *ttl) : up.BindNull(1));
          NIMBUS_RETURN_IF_ERROR(up.BindText(2, def.name));
          NIMBUS_RETURN_IF_ERROR(up.BindBlob(3, pk));
          NIMBUS_RETURN_IF_ERROR(up.BindBlob(4, sk));
          NIMBUS_RETURN_IF_ERROR(up.Run());
        }
      }
      return Status::Ok();
    });
  }

  Result<TableDef> DeleteTable(const std::string& name) override {
    MutexLock l(mu_);
    TableDef def;
    NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
      NIMBUS_ASSIGN_OR_RETURN(auto existing, LoadTable(name));
      if (!existing) return NotFound(fmt::format("table {}", name));
      def = *existing;
      tables_.erase(name);
      for (const char* sql : {"DELETE FROM tables WHERE name = ?", "DELETE FROM items WHERE tbl = ?",
                              "DELETE FROM index_entries WHERE tbl = ?"}) {
        NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(sql));
        NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
        NIMBUS_RETURN_IF_ERROR(st.Run());
      }
      return Status::Ok();
    }));
    return def;
  }

  Result<TableDef> GetTable(const std::string& name) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto def, LoadTable(name));
    if (!def) return NotFound(fmt::format("table {}", name));
    return *def;
  }

  Result<std::vector<std::string>> ListTables() override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT name FROM tables ORDER BY name"));
    std::vector<std::string> out;
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(st.ColumnText(0));
    }
    return out;
  }

  Result<std::pair<int64_t, int64_t>> TableCounts(const std::string& name) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM items WHERE tbl = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::make_pair(int64_t{0}, int64_t{0});
    return std::make_pair(st.ColumnInt64(0), st.ColumnInt64(1));
  }

  Result<std::optional<Item>> Get(const std::string& table, const Item& key) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto def, LoadTable(table));
    if (!def) return NotFound(fmt::format("table {}", table));
    return LoadItem(table, KeyBytes(key.at(def->key.hash)), RangeBytes(key, def->key));
  }

  // Group commit: writers queue their requests; one of them (the leader) runs
  // every queued request in one SQLite transaction, each inside its own savepoint
  // (a failed request is rolled back alone), and commits once: concurrent writers
  // share one fsync. Each answers only after that commit.
  Result<std::vector<WriteOutcome>> Write(std::vector<WriteOp> ops, std::vector<Status>* failures) override {
    PendingWrite me;
    me.ops = &ops;
    me.failures = failures;
    std::vector<PendingWrite*> batch;
    {
      std::unique_lock<std::mutex> q(queue_mu_.native());
      queue_.push_back(&me);
      queue_cv_.wait(q, [&] { return me.done || !leading_; });
      if (me.done) {
        if (!me.status.ok()) return me.status;
        return std::move(me.outcomes);
      }
      leading_ = true;
      batch.swap(queue_);
    }
    RunBatch(batch);
    {
      std::lock_guard<std::mutex> q(queue_mu_.native());
      leading_ = false;
      for (PendingWrite* p : batch) p->done = true;
    }
    queue_cv_.notify_all();
    if (!me.status.ok()) return me.status;
    return std::move(me.outcomes);
  }

  Status Read(const std::string& table, const ReadRange& range,
              const std::function<bool(const Item& item)>& visit) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto def, LoadTable(table));
    if (!def) return NotFound(fmt::format("table {}", table));
    const SecondaryIndex* idx = range.index.empty() ? nullptr : def->Index(range.index);
    if (!range.index.empty() && idx == nullptr) return NotFound(fmt::format("index {}", range.index));
    const KeySchema& key = idx ? idx->key : def->key;
    // Columns that order this walk: the key's, then (for an index) the table key.
    std::vector<std::string> order = idx ? std::vector<std::string>{"e.ipk", "e.isk", "e.pk", "e.sk"}
                                         : std::vector<std::string>{"i.pk", "i.sk"};
    std::string sql = idx ? "SELECT i.item FROM index_entries e JOIN items i ON i.tbl = e.tbl AND i.pk = e.pk AND "
                            "i.sk = e.sk WHERE e.tbl = ?1 AND e.idx = ?2"
                          : "SELECT i.item FROM items i WHERE i.tbl = ?1";
    const std::string hash_col = order[0], range_col = order[1];
    if (range.hash) sql += fmt::format(" AND {} = ?3", hash_col);
    if (range.low) sql += fmt::format(" AND {} {} ?4", range_col, range.low_exclusive ? ">" : ">=");
    if (range.high) sql += fmt::format(" AND {} {} ?5", range_col, range.high_exclusive ? "<" : "<=");
    std::vector<std::string> start;
    if (range.exclusive_start) {
      const Item& s = *range.exclusive_start;
      auto table_key = KeyOf(s, def->key);
      auto walk_key = KeyOf(s, key);
      if (!table_key || !walk_key) {
        return InvalidArgument("The provided starting key is invalid: The provided key element does not match the schema");
      }
      if (idx) {
        start = {KeyBytes(s.at(key.hash)), RangeBytes(s, key), KeyBytes(s.at(def->key.hash)), RangeBytes(s, def->key)};
      } else {
        start = {KeyBytes(s.at(key.hash)), RangeBytes(s, key)};
      }
      std::string cols, params;
      for (size_t i = 0; i < order.size(); ++i) {
        cols += (i ? ", " : "") + order[i];
        params += fmt::format("{}?{}", i ? ", " : "", 10 + i);
      }
      sql += fmt::format(" AND ({}) {} ({})", cols, range.forward ? ">" : "<", params);
    }
    sql += " ORDER BY ";
    for (size_t i = 0; i < order.size(); ++i) sql += fmt::format("{}{}{}", i ? ", " : "", order[i], range.forward ? "" : " DESC");
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(sql));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, table));
    if (idx) NIMBUS_RETURN_IF_ERROR(st.BindText(2, idx->name));
    if (range.hash) NIMBUS_RETURN_IF_ERROR(st.BindBlob(3, KeyBytes(*range.hash)));
    if (range.low) NIMBUS_RETURN_IF_ERROR(st.BindBlob(4, *range.low));
    if (range.high) NIMBUS_RETURN_IF_ERROR(st.BindBlob(5, *range.high));
    for (size_t i = 0; i < start.size(); ++i) NIMBUS_RETURN_IF_ERROR(st.BindBlob(static_cast<int>(10 + i), start[i]));
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      NIMBUS_ASSIGN_OR_RETURN(Item item, ParseItem(st.ColumnText(0)));
      if (!visit(item)) break;
    }
    return Status::Ok();
  }

  Result<std::vector<StreamRecord>> ReadStream(const std::string& table, const std::string& label, int64_t after,
                                               int limit) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT seq, created_ms, record FROM stream_records WHERE tbl = ? "
                                                     "AND label = ? AND seq > ? ORDER BY seq LIMIT ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, table));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, label));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, after));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(4, limit));
    std::vector<StreamRecord> out;
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      NIMBUS_ASSIGN_OR_RETURN(StreamRecord r, RecordFromJson(st.ColumnText(2)));
      r.stream_label = label;
      r.sequence = st.ColumnInt64(0);
      r.created_ms = st.ColumnInt64(1);
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<std::pair<int64_t, int64_t>> StreamBounds(const std::string& table, const std::string& label) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM "
                                                     "stream_records WHERE tbl = ? AND label = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, table));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, label));
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::make_pair(int64_t{0}, int64_t{0});
    return std::make_pair(st.ColumnInt64(0), st.ColumnInt64(1));
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListStreams() override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT DISTINCT tbl, label FROM stream_records ORDER BY tbl, label"));
    std::vector<std::pair<std::string, std::string>> out;
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.emplace_back(st.ColumnText(0), st.ColumnText(1));
    }
    return out;
  }

  Status TrimStreams(int64_t before_ms) override {
    MutexLock l(mu_);
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM stream_records WHERE created_ms < ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, before_ms));
    return st.Run();
  }

  Result<std::vector<std::pair<std::string, Item>>> ExpiredItems(int64_t now_s, int limit) override {
    MutexLock l(mu_);
    // Items expired more than five years ago are not deleted, as in DynamoDB.
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT tbl, item FROM items WHERE ttl IS NOT NULL AND ttl <= ? "
                                                     "AND ttl >= ? LIMIT ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, now_s));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, now_s - 5 * 365 * 24 * 3600));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, limit));
    std::vector<std::pair<std::string, Item>> out;
    std::map<std::string, std::optional<TableDef>> defs;
    while (true) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string table = st.ColumnText(0);
      if (!defs.contains(table)) {
        NIMBUS_ASSIGN_OR_RETURN(defs[table], LoadTable(table));
      }
      if (!defs[table]) continue;
      NIMBUS_ASSIGN_OR_RETURN(Item item, ParseItem(st.ColumnText(1)));
      if (auto key = KeyOf(item, defs[table]->key)) out.emplace_back(table, std::move(*key));
    }
    return out;
  }

 private:
  Result<std::optional<TableDef>> LoadTable(const std::string& name) NIMBUS_REQUIRES(mu_) {
    if (auto it = tables_.find(name); it != tables_.end()) return it->second;
    NIMBUS_ASSIGN_OR_RETURN(auto def, ReadTable(name));
    tables_[name] = def;
    return def;
  }

  Result<std::optional<TableDef>> ReadTable(const std::string& name) NIMBUS_REQUIRES(mu_) {
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT def FROM tables WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<TableDef>();
    boost::system::error_code ec;
    json::value v = json::parse(st.ColumnText(0), ec);
    if (ec || !v.is_object()) return Internal(fmt::format("dynamodb: the definition of table {} is not JSON", name));
    NIMBUS_ASSIGN_OR_RETURN(TableDef def, TableDefFromJson(v.as_object()));
    return std::optional<TableDef>(std::move(def));
  }

  Status SaveTable(const TableDef& def) NIMBUS_REQUIRES(mu_) {
    tables_.erase(def.name);  // read again after the transaction (it may roll back)
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("INSERT OR REPLACE INTO tables (name, def) VALUES (?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, def.name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, json::serialize(TableDefToJson(def))));
    return st.Run();
  }

  Result<std::optional<Item>> LoadItem(const std::string& table, const std::string& pk, const std::string& sk)
      NIMBUS_REQUIRES(mu_) {
    NIMBUS_ASSIGN_OR_RETURN(storage::Statement * st, Cached("SELECT item FROM items WHERE tbl = ? AND pk = ? AND sk = ?"));
    NIMBUS_RETURN_IF_ERROR(st->BindText(1, table));
    NIMBUS_RETURN_IF_ERROR(st->BindBlob(2, pk));
    NIMBUS_RETURN_IF_ERROR(st->BindBlob(3, sk));
    NIMBUS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) return std::optional<Item>();
    NIMBUS_ASSIGN_OR_RETURN(Item item, ParseItem(st->ColumnText(0)));
    st->Reset();
    return std::optional<Item>(std::move(item));
  }

  Status InsertIndexEntry(const std::string& table, const SecondaryIndex& idx, const Item& item, const std::string& pk,
                          const std::string& sk) NIMBUS_REQUIRES(mu_) {
    if (!KeyOf(item, idx.key)) return Status::Ok();  // sparse: the item is not in this index
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("INSERT OR REPLACE INTO index_entries (tbl, idx, ipk, isk, pk, sk) "
                                                     "VALUES (?, ?, ?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, table));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, idx.name));
    NIMBUS_RETURN_IF_ERROR(st.BindBlob(3, KeyBytes(item.at(idx.key.hash))));
    NIMBUS_RETURN_IF_ERROR(st.BindBlob(4, RangeBytes(item, idx.key)));
    NIMBUS_RETURN_IF_ERROR(st.BindBlob(5, pk));
    NIMBUS_RETURN_IF_ERROR(st.BindBlob(6, sk));
    return st.Run();
  }

  // The next stream sequence number, stored in the write's transaction (the
  // in-memory counter is put back if the transaction rolls back).
  Result<int64_t> NextSequence() NIMBUS_REQUIRES(mu_) {
    NIMBUS_ASSIGN_OR_RETURN(storage::Statement * st, Cached("UPDATE counters SET value = ? WHERE name = 'stream_seq'"));
    NIMBUS_RETURN_IF_ERROR(st->BindInt64(1, sequence_ + 1));
    NIMBUS_RETURN_IF_ERROR(st->Run());
    return ++sequence_;
  }

  Status WriteLocked(std::vector<WriteOp>& ops, std::vector<WriteOutcome>& outcomes, std::vector<Status>* failures)
      NIMBUS_REQUIRES(mu_) {
    std::map<std::string, TableDef> defs;
    std::vector<std::pair<std::string, std::string>> keys(ops.size());
    bool failed = false;
    if (failures) failures->assign(ops.size(), Status::Ok());
    for (size_t i = 0; i < ops.size(); ++i) {
      WriteOp& op = ops[i];
      if (!defs.contains(op.table)) {
        NIMBUS_ASSIGN_OR_RETURN(auto def, LoadTable(op.table));
        if (!def) return NotFound(fmt::format("table {}", op.table));
        defs.emplace(op.table, std::move(*def));
      }
      const TableDef& def = defs.at(op.table);
      keys[i] = {KeyBytes(op.key.at(def.key.hash)), RangeBytes(op.key, def.key)};
      NIMBUS_ASSIGN_OR_RETURN(outcomes[i].old_item, LoadItem(op.table, keys[i].first, keys[i].second));
      auto next = op.apply(outcomes[i].old_item);
      if (!next.has_value()) {
        if (ops.size() == 1 || failures == nullptr) return next.error();
        (*failures)[i] = next.error();
        failed = true;
        continue;
      }
      outcomes[i].new_item = std::move(*next);
    }
    if (failed) return Status(Code::kFailedPrecondition, "transaction cancelled");
    const int64_t now = NowMs();
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].check_only) continue;
      const TableDef& def = defs.at(ops[i].table);
      const auto& [pk, sk] = keys[i];
      const auto& old_item = outcomes[i].old_item;
      const auto& new_item = outcomes[i].new_item;
      if (!old_item && !new_item) continue;  // deleting nothing
      if (old_item && !def.indexes.empty()) {
        NIMBUS_ASSIGN_OR_RETURN(storage::Statement * del, Cached("DELETE FROM index_entries WHERE tbl = ? AND pk = ? AND sk = ?"));
        NIMBUS_RETURN_IF_ERROR(del->BindText(1, def.name));
        NIMBUS_RETURN_IF_ERROR(del->BindBlob(2, pk));
        NIMBUS_RETURN_IF_ERROR(del->BindBlob(3, sk));
        NIMBUS_RETURN_IF_ERROR(del->Run());
      }
      if (new_item) {
        NIMBUS_ASSIGN_OR_RETURN(storage::Statement * put, Cached("INSERT OR REPLACE INTO items (tbl, pk, sk, item, size, ttl) "
                                                                 "VALUES (?, ?, ?, ?, ?, ?)"));
        NIMBUS_RETURN_IF_ERROR(put->BindText(1, def.name));
        NIMBUS_RETURN_IF_ERROR(put->BindBlob(2, pk));
        NIMBUS_RETURN_IF_ERROR(put->BindBlob(3, sk));
        NIMBUS_RETURN_IF_ERROR(put->BindText(4, json::serialize(ItemToJson(*new_item))));
        NIMBUS_RETURN_IF_ERROR(put->BindInt64(5, static_cast<int64_t>(ItemSize(*new_item))));
        auto ttl = TtlOf(def, *new_item);
        NIMBUS_RETURN_IF_ERROR(ttl ? put->BindInt64(6, *ttl) : put->BindNull(6));
        NIMBUS_RETURN_IF_ERROR(put->Run());
        for (const auto& idx : def.indexes) NIMBUS_RETURN_IF_ERROR(InsertIndexEntry(def.name, idx, *new_item, pk, sk));
      } else {
        NIMBUS_ASSIGN_OR_RETURN(storage::Statement * del, Cached("DELETE FROM items WHERE tbl = ? AND pk = ? AND sk = ?"));
        NIMBUS_RETURN_IF_ERROR(del->BindText(1, def.name));
        NIMBUS_RETURN_IF_ERROR(del->BindBlob(2, pk));
        NIMBUS_RETURN_IF_ERROR(del->BindBlob(3, sk));
        NIMBUS_RETURN_IF_ERROR(del->Run());
      }
      if (!def.stream_enabled || (old_item && new_item && *old_item == *new_item)) continue;
      StreamRecord r;
      r.event_name = !old_item ? "INSERT" : !new_item ? "REMOVE" : "MODIFY";
      r.keys = *KeyOf(new_item ? *new_item : *old_item, def.key);
      const std::string& view = def.stream_view_type;
      if (old_item && (view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES")) r.old_image = old_item;
      if (new_item && (view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES")) r.new_image = new_item;
      r.by_ttl = ops[i].by_ttl;
      r.size_bytes = ItemSize(r.keys) + (r.old_image ? ItemSize(*r.old_image) : 0) +
                     (r.new_image ? ItemSize(*r.new_image) : 0);
      NIMBUS_ASSIGN_OR_RETURN(int64_t seq, NextSequence());
      NIMBUS_ASSIGN_OR_RETURN(storage::Statement * ins, Cached("INSERT INTO stream_records (tbl, label, seq, created_ms, record) "
                                                               "VALUES (?, ?, ?, ?, ?)"));
      NIMBUS_RETURN_IF_ERROR(ins->BindText(1, def.name));
      NIMBUS_RETURN_IF_ERROR(ins->BindText(2, def.stream_label));
      NIMBUS_RETURN_IF_ERROR(ins->BindInt64(3, seq));
      NIMBUS_RETURN_IF_ERROR(ins->BindInt64(4, now));
      NIMBUS_RETURN_IF_ERROR(ins->BindText(5, json::serialize(RecordToJson(r))));
      NIMBUS_RETURN_IF_ERROR(ins->Run());
    }
    return Status::Ok();
  }

  struct PendingWrite {
    std::vector<WriteOp>* ops = nullptr;
    std::vector<Status>* failures = nullptr;
    std::vector<WriteOutcome> outcomes;
    Status status;
    bool done = false;  // guarded by queue_mu_
  };

  void RunBatch(const std::vector<PendingWrite*>& batch) {
    MutexLock l(mu_);
    const int64_t first_sequence = sequence_;
    Status begun = store_->Begin();
    for (PendingWrite* p : batch) {
      if (!begun.ok()) {
        p->status = begun;
        continue;
      }
      p->outcomes.resize(p->ops->size());
      const int64_t sequence = sequence_;
      Status st = store_->Exec("SAVEPOINT request");
      if (st.ok()) st = WriteLocked(*p->ops, p->outcomes, p->failures);
      if (st.ok()) {
        st = store_->Exec("RELEASE request");
      } else {
        sequence_ = sequence;
        Status undone = store_->Exec("ROLLBACK TO request");
        if (undone.ok()) undone = store_->Exec("RELEASE request");
        if (!undone.ok()) begun = undone;  // the transaction is unusable: fail the rest
      }
      p->status = st;
    }
    if (!begun.ok()) {
      store_->Rollback();
      sequence_ = first_sequence;
      for (PendingWrite* p : batch) {
        if (p->status.ok()) p->status = begun;
      }
      return;
    }
    Status committed = store_->Commit();
    if (!committed.ok()) {
      store_->Rollback();
      sequence_ = first_sequence;
      for (PendingWrite* p : batch) {
        if (p->status.ok()) p->status = committed;
      }
    }
  }

  // A prepared statement of the hot paths, prepared once and reset for each use.
  Result<storage::Statement*> Cached(const char* sql) NIMBUS_REQUIRES(mu_) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(sql));
      it = statements_.emplace(sql, std::move(st)).first;
    }
    it->second.Reset();
    return &it->second;
  }

  Mutex mu_;
  std::unique_ptr<storage::Store> store_ NIMBUS_PT_GUARDED_BY(mu_);
  // Statements by their SQL text (string literals); destroyed before store_.
  std::map<std::string_view, storage::Statement> statements_ NIMBUS_GUARDED_BY(mu_);
  // Table definitions as stored, read through (nullopt: known absent).
  std::map<std::string, std::optional<TableDef>> tables_ NIMBUS_GUARDED_BY(mu_);
  int64_t sequence_ NIMBUS_GUARDED_BY(mu_) = 0;  // the last stream sequence given

  // Writers waiting for a group commit, and whether one of them is leading one.
  // Guarded by queue_mu_ (through its native mutex, for the condition variable;
  // hence not annotated).
  Mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingWrite*> queue_;
  bool leading_ = false;
};

}  // namespace

const SecondaryIndex* TableDef::Index(std::string_view index_name) const {
  for (const auto& i : indexes) {
    if (i.name == index_name) return &i;
  }
  return nullptr;
}

json::object TableDefToJson(const TableDef& d) {
  json::array attributes, indexes;
  for (const auto& [n, t] : d.attributes) attributes.push_back(json::object{{"name", n}, {"type", TypeName(t)}});
  for (const auto& i : d.indexes) {
    json::array nka;
    for (const auto& a : i.non_key_attributes) nka.push_back(json::string(a));
    indexes.push_back(json::object{{"name", i.name}, {"global", i.global}, {"key", KeySchemaToJson(i.key)},
                                   {"projection", i.projection}, {"non_key_attributes", std::move(nka)},
                                   {"rcu", i.read_capacity}, {"wcu", i.write_capacity}});
  }
  return {{"name", d.name},
          {"id", d.id},
          {"key", KeySchemaToJson(d.key)},
          {"attributes", std::move(attributes)},
          {"indexes", std::move(indexes)},
          {"billing_mode", d.billing_mode},
          {"rcu", d.read_capacity},
          {"wcu", d.write_capacity},
          {"created_ms", d.created_ms},
          {"stream_enabled", d.stream_enabled},
          {"stream_view_type", d.stream_view_type},
          {"stream_label", d.stream_label},
          {"ttl_attribute", d.ttl_attribute},
          {"ttl_enabled", d.ttl_enabled}};
}

Result<TableDef> TableDefFromJson(const json::object& o) {
  TableDef d;
  d.name = Str(o, "name");
  d.id = Str(o, "id");
  if (const auto* k = o.if_contains("key"); k && k->is_object()) d.key = KeySchemaFromJson(k->as_object());
  if (const auto* a = o.if_contains("attributes"); a && a->is_array()) {
    for (const auto& x : a->as_array()) {
      if (x.is_object()) d.attributes.emplace_back(Str(x.as_object(), "name"), TypeFromName(Str(x.as_object(), "type")));
    }
  }
  if (const auto* a = o.if_contains("indexes"); a && a->is_array()) {
    for (const auto& x : a->as_array()) {
      if (!x.is_object()) continue;
      const auto& io = x.as_object();
      SecondaryIndex i;
      i.name = Str(io, "name");
      if (const auto* g = io.if_contains("global"); g && g->is_bool()) i.global = g->as_bool();
      if (const auto* k = io.if_contains("key"); k && k->is_object()) i.key = KeySchemaFromJson(k->as_object());
      i.projection = Str(io, "projection");
      if (const auto* n = io.if_contains("non_key_attributes"); n && n->is_array()) {
        for (const auto& s : n->as_array()) {
          if (s.is_string()) i.non_key_attributes.emplace_back(s.as_string());
        }
      }
      i.read_capacity = Int(io, "rcu");
      i.write_capacity = Int(io, "wcu");
      d.indexes.push_back(std::move(i));
    }
  }
  d.billing_mode = Str(o, "billing_mode");
  d.read_capacity = Int(o, "rcu");
  d.write_capacity = Int(o, "wcu");
  d.created_ms = Int(o, "created_ms");
  if (const auto* b = o.if_contains("stream_enabled"); b && b->is_bool()) d.stream_enabled = b->as_bool();
  d.stream_view_type = Str(o, "stream_view_type");
  d.stream_label = Str(o, "stream_label");
  d.ttl_attribute = Str(o, "ttl_attribute");
  if (const auto* b = o.if_contains("ttl_enabled"); b && b->is_bool()) d.ttl_enabled = b->as_bool();
  return d;
}

std::optional<Item> KeyOf(const Item& item, const KeySchema& key) {
  Item out;
  auto take = [&](const std::string& name, Type type) {
    auto it = item.find(name);
    if (it == item.end() || it->second.type != type) return false;
    out.emplace(name, it->second);
    return true;
  };
  if (!take(key.hash, key.hash_type)) return std::nullopt;
  if (!key.range.empty() && !take(key.range, key.range_type)) return std::nullopt;
  return out;
}

Result<std::unique_ptr<TableStore>> OpenSqliteTableStore(const std::filesystem::path& db) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  auto tables = std::make_unique<SqliteTableStore>(std::move(store));
  NIMBUS_RETURN_IF_ERROR(tables->LoadSequence());
  return std::unique_ptr<TableStore>(std::move(tables));
}

}  // namespace nimbus::dynamodb
