// dynamodb table store: tables, items, secondary index entries and stream records
// of the DynamoDB-compatible service (issue #6), behind the TableStore interface;
// OpenSqliteTableStore() is the embedded implementation (<data>/dynamodb.db).
//
// Durability: every write is one SQLite transaction (WAL, synchronous=FULL) that
// holds the item, its index entries and its stream record together, so an
// acknowledged write and its stream record survive a crash, and neither exists
// without the other.
//
// Concurrency: thread-safe; one connection serialized by a mutex (the API runs on
// the BlockingPool). Callbacks run under it and must only compute. Concurrent
// Write()s are group-committed: one transaction (a savepoint per request) and one
// fsync for every request waiting when the previous commit ended.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "base/status.h"
#include "dynamodb/value.h"

namespace nimbus::dynamodb {

struct KeySchema {
  std::string hash, range;  // range empty: hash-only
  Type hash_type = Type::kS, range_type = Type::kS;
};

struct SecondaryIndex {
  std::string name;
  bool global = true;
  KeySchema key;
  std::string projection = "ALL";  // ALL, KEYS_ONLY, INCLUDE
  std::vector<std::string> non_key_attributes;
  int64_t read_capacity = 0, write_capacity = 0;
};

struct TableDef {
  std::string name;
  std::string id;  // TableId: a UUID
  KeySchema key;
  std::vector<std::pair<std::string, Type>> attributes;  // AttributeDefinitions
  std::vector<SecondaryIndex> indexes;
  std::string billing_mode = "PROVISIONED";
  int64_t read_capacity = 0, write_capacity = 0;
  int64_t created_ms = 0;
  // Streams: the current stream's label (an ISO timestamp) while enabled; streams
  // of earlier labels stay readable for 24 hours.
  bool stream_enabled = false;
  std::string stream_view_type;  // KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES
  std::string stream_label;
  // Time to live: items whose `ttl_attribute` (a number of epoch seconds) has
  // passed are deleted by the service.
  std::string ttl_attribute;
  bool ttl_enabled = false;

  const SecondaryIndex* Index(std::string_view name) const;
};

boost::json::object TableDefToJson(const TableDef& def);
Result<TableDef> TableDefFromJson(const boost::json::object& json);

// One stored change, as a stream record's body holds it.
struct StreamRecord {
  std::string stream_label;
  int64_t sequence = 0;  // increasing per table
  int64_t created_ms = 0;
  std::string event_name;  // INSERT, MODIFY, REMOVE
  Item keys;
  std::optional<Item> old_image, new_image;  // per the view type
  bool by_ttl = false;  // a TTL deletion (userIdentity dynamodb.amazonaws.com)
  size_t size_bytes = 0;
};

// A write to one item. `apply` gets the item as stored (nullopt when absent) and
// returns the new item (nullopt deletes it); an error fails the write. For a
// condition check only, return the old item unchanged with `check_only` set.
struct WriteOp {
  std::string table;
  Item key;
  std::function<Result<std::optional<Item>>(const std::optional<Item>& old)> apply;
  bool check_only = false;
  bool by_ttl = false;
};

struct WriteOutcome {
  std::optional<Item> old_item, new_item;
};

// Where a Query or Scan starts and how it walks.
struct ReadRange {
  std::string index;  // "" for the table
  // Query: the hash key value; unset for a Scan.
  std::optional<Value> hash;
  // Inclusive bounds on the range key's bytes (KeyBytes), when set.
  std::optional<std::string> low, high;
  bool low_exclusive = false, high_exclusive = false;
  bool forward = true;
  // Start after this item (its table key, and for an index its index key too).
  std::optional<Item> exclusive_start;
};

class TableStore {
 public:
  virtual ~TableStore() = default;

  // kConflict for a table of that name.
  virtual Status CreateTable(const TableDef& def) = 0;
  // Replaces the definition (indexes added are filled from the items; TTL and
  // stream settings take effect for later writes). kNotFound.
  virtual Status UpdateTable(const TableDef& def) = 0;
  // Removes the table and its items; its stream records stay for 24 hours.
  virtual Result<TableDef> DeleteTable(const std::string& name) = 0;
  virtual Result<TableDef> GetTable(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> ListTables() = 0;
  // Items in the table (exact; DynamoDB's is approximate) and their total size.
  virtual Result<std::pair<int64_t, int64_t>> TableCounts(const std::string& name) = 0;

  virtual Result<std::optional<Item>> Get(const std::string& table, const Item& key) = 0;
  // Runs every op in one transaction. If any op fails, nothing is written, the
  // result is kFailedPrecondition and `failures` (if given) holds each op's status.
  virtual Result<std::vector<WriteOutcome>> Write(std::vector<WriteOp> ops, std::vector<Status>* failures) = 0;
  // Visits items in key order (index order for an index) from `range`; the visitor
  // returns false to stop. Index items are the table's whole items.
  virtual Status Read(const std::string& table, const ReadRange& range,
                      const std::function<bool(const Item& item)>& visit) = 0;

  // Stream records of `table`'s stream `label` with sequence > `after`, at most `limit`.
  virtual Result<std::vector<StreamRecord>> ReadStream(const std::string& table, const std::string& label,
                                                       int64_t after, int limit) = 0;
  // The lowest and highest sequence of a stream (0, 0 when empty).
  virtual Result<std::pair<int64_t, int64_t>> StreamBounds(const std::string& table, const std::string& label) = 0;
  // Every stream (table, label) with records or enabled, for ListStreams.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListStreams() = 0;
  // Deletes stream records older than `before_ms`.
  virtual Status TrimStreams(int64_t before_ms) = 0;
  // Keys of up to `limit` items whose TTL attribute is at or before `now_s`.
  virtual Result<std::vector<std::pair<std::string, Item>>> ExpiredItems(int64_t now_s, int limit) = 0;
};

Result<std::unique_ptr<TableStore>> OpenSqliteTableStore(const std::filesystem::path& db);

// The key attributes of `item` for `key` (the table's or an index's schema), or
// nullopt when one is missing or of the wrong type.
std::optional<Item> KeyOf(const Item& item, const KeySchema& key);

}  // namespace nimbus::dynamodb
