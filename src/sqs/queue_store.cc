#include "sqs/queue_store.h"

#include <openssl/evp.h>

#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/encoding.h"

namespace nimbus::sqs {
namespace {

namespace json = boost::json;

// Persisted format: released migrations are never edited.
const std::vector<storage::Migration> kMigrations = {
    {1,
     "CREATE TABLE queues (name TEXT PRIMARY KEY, attributes TEXT NOT NULL,"
     " created_s INTEGER NOT NULL, modified_s INTEGER NOT NULL);"
     // visible_at_ms: when it may be received (send time + delay, or the end of
     // its visibility timeout); receive_count > 0 and visible_at_ms > now: in flight.
     "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
     " id TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT NOT NULL, md5_body TEXT NOT NULL,"
     " md5_attributes TEXT NOT NULL, sent_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,"
     " receive_count INTEGER NOT NULL DEFAULT 0, first_receive_ms INTEGER NOT NULL DEFAULT 0,"
     " receipt TEXT NOT NULL DEFAULT '', group_id TEXT NOT NULL DEFAULT '',"
     " dedup_id TEXT NOT NULL DEFAULT '', dead_letter_source TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX messages_by_queue ON messages (queue, seq);"
     // Queries by receipt say "receipt != ''" so that this partial index serves them,
     // and "+queue" so that SQLite does not scan the queue's index instead.
     "CREATE INDEX messages_by_receipt ON messages (receipt) WHERE receipt != '';"
     // FIFO deduplication: a deduplication id seen within 5 minutes.
     "CREATE TABLE dedup (queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,"
     " sequence_number TEXT NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (queue, dedup_id))"
     " WITHOUT ROWID;"},
    // Retention: the expired messages of a queue without scanning all of them.
    {2, "CREATE INDEX messages_by_age ON messages (queue, sent_ms);"},
    // The AWSTraceHeader system attribute.
    {3, "ALTER TABLE messages ADD COLUMN trace_header TEXT NOT NULL DEFAULT '';"},
};

constexpr int64_t kDedupWindowMs = 5 * 60 * 1000;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EncodeAttributes(const std::map<std::string, std::string>& a) {
  json::object o;
  for (const auto& [k, v] : a) o[k] = v;
  return json::serialize(o);
}

std::map<std::string, std::string> DecodeAttributes(const std::string& text) {
  std::map<std::string, std::string> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, x] : v.as_object()) {
    if (x.is_string()) out[std::string(k)] = std::string(x.as_string());
  }
  return out;
}

std::string EncodeMessageAttributes(const MessageAttributes& a) {
  json::object o;
  for (const auto& [k, v] : a) {
    json::object x{{"t", v.data_type}};
    if (!v.string_value.empty()) x["s"] = v.string_value;
    if (!v.binary_value.empty()) x["b"] = Base64Encode(v.binary_value);
    o[k] = std::move(x);
  }
  return json::serialize(o);
}

MessageAttributes DecodeMessageAttributes(const std::string& text) {
  MessageAttributes out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, x] : v.as_object()) {
    if (!x.is_object()) continue;
    const auto& o = x.as_object();
    MessageAttributeValue a;
    if (const auto* t = o.if_contains("t"); t && t->is_string()) a.data_type = t->as_string();
    if (const auto* s = o.if_contains("s"); s && s->is_string()) a.string_value = s->as_string();
    if (const auto* b = o.if_contains("b"); b && b->is_string()) {
      a.binary_value = Base64Decode(std::string(b->as_string())).value_or("");
    }
    out[std::string(k)] = std::move(a);
  }
  return out;
}

void AppendLengthPrefixed(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out += static_cast<char>((n >> 24) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out.append(s);
}

// RedrivePolicy's target queue name and maxReceiveCount, if it has both.
std::optional<std::pair<std::string, int>> Redrive(const QueueInfo& q, std::string_view arn_prefix) {
  auto it = q.attributes.find("RedrivePolicy");
  if (it == q.attributes.end() || it->second.empty()) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(it->second, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  const json::value* arn = o.if_contains("deadLetterTargetArn");
  const json::value* max = o.if_contains("maxReceiveCount");
  if (arn == nullptr || !arn->is_string() || max == nullptr) return std::nullopt;
  std::string target(arn->as_string());
  if (!target.starts_with(arn_prefix)) return std::nullopt;
  int count = 0;
  if (max->is_int64()) {
    count = static_cast<int>(max->as_int64());
  } else if (max->is_string()) {
    count = std::atoi(std::string(max->as_string()).c_str());
  }
  if (count <= 0) return std::nullopt;
  return std::make_pair(target.substr(arn_prefix.size()), count);
}

constexpr const char* kMessageColumns =
    "seq, id, body, attributes, md5_body, md5_attributes, sent_ms, visible_at_ms, receive_count, "
    "first_receive_ms, receipt, group_id, dedup_id, dead_letter_source, trace_header";

Message ReadMessage(const storage::Statement& st) {
  Message m;
  m.sequence_number = fmt::format("{:020}", st.ColumnInt64(0));
  m.id = st.ColumnText(1);
  m.body = st.ColumnText(2);
  m.attributes = DecodeMessageAttributes(st.ColumnText(3));
  m.md5_body = st.ColumnText(4);
  m.md5_attributes = st.ColumnText(5);
  m.sent_ms = st.ColumnInt64(6);
  m.receive_count = static_cast<int>(st.ColumnInt64(8));
  m.first_receive_ms = st.ColumnInt64(9);
  m.receipt = st.ColumnText(10);
  m.group_id = st.ColumnText(11);
  m.dedup_id = st.ColumnText(12);
  m.dead_letter_source = st.ColumnText(13);
  m.trace_header = st.ColumnText(14);
  return m;
}

}  // namespace

std::string Md5OfMessageAttributes(const MessageAttributes& attributes) {
  if (attributes.empty()) return "";
  std::string buf;
  for (const auto& [name, v] : attributes) {
    AppendLengthPrefixed(buf, name);
    AppendLengthPrefixed(buf, v.data_type);
    if (v.data_type.starts_with("Binary")) {
      buf += '\x02';
      AppendLengthPrefixed(buf, v.binary_value);
    } else {
      buf += '\x01';
      AppendLengthPrefixed(buf, v.string_value);
    }
  }
  return Md5Hex(buf);
}

bool QueueInfo::fifo() const {
  auto it = attributes.find("FifoQueue");
  return it != attributes.end() && it->second == "true";
}

int QueueInfo::IntAttribute(const std::string& name, int fallback) const {
  auto it = attributes.find(name);
  if (it == attributes.end()) return fallback;
  return std::atoi(it->second.c_str());
}

std::map<std::string, std::string> DefaultQueueAttributes(bool fifo) {
  std::map<std::string, std::string> a = {
      {"VisibilityTimeout", "30"},       {"MessageRetentionPeriod", "345600"},
      {"DelaySeconds", "0"},             {"ReceiveMessageWaitTimeSeconds", "0"},
      {"MaximumMessageSize", "1048576"}, {"SqsManagedSseEnabled", "true"},
  };
  if (fifo) {
    a["FifoQueue"] = "true";
    a["ContentBasedDeduplication"] = "false";
    a["DeduplicationScope"] = "queue";
    a["FifoThroughputLimit"] = "perQueue";
  }
  return a;
}

QueueStore::QueueStore(std::unique_ptr<storage::Store> store, std::string arn_prefix)
    : arn_prefix_(std::move(arn_prefix)), store_(std::move(store)) {}

Result<std::unique_ptr<QueueStore>> QueueStore::Open(const std::filesystem::path& db,
                                                     std::string arn_prefix) {
  NIMBUS_ASSIGN_OR_RETURN(auto store, storage::Store::Open(db, kMigrations));
  return std::unique_ptr<QueueStore>(new QueueStore(std::move(store), std::move(arn_prefix)));
}

Result<std::optional<QueueInfo>> QueueStore::LoadQueue(const std::string& name) {
  NIMBUS_ASSIGN_OR_RETURN(
      auto st, store_->Prepare("SELECT attributes, created_s, modified_s FROM queues WHERE name = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<QueueInfo>();
  QueueInfo q;
  q.name = name;
  q.attributes = DecodeAttributes(st.ColumnText(0));
  q.created_s = st.ColumnInt64(1);
  q.modified_s = st.ColumnInt64(2);
  return std::optional<QueueInfo>(std::move(q));
}

Result<QueueInfo> QueueStore::CreateQueue(const std::string& name,
                                          std::map<std::string, std::string> attributes) {
  MutexLock l(store_mu_);
  std::optional<QueueInfo> out;
  NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto existing, LoadQueue(name));
    if (existing) {
      std::vector<std::string> differing;
      for (const auto& [k, v] : attributes) {
        auto it = existing->attributes.find(k);
        if (it == existing->attributes.end() || it->second != v) differing.push_back(k);
      }
      if (!differing.empty()) {
        std::string names;
        for (const auto& d : differing) names += (names.empty() ? "" : ", ") + d;
        return Status(Code::kConflict, names);
      }
      out = std::move(*existing);
      return Status::Ok();
    }
    QueueInfo q;
    q.name = name;
    q.attributes = std::move(attributes);
    q.created_s = q.modified_s = NowSeconds();
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(
                                         "INSERT INTO queues (name, attributes, created_s, modified_s) "
                                         "VALUES (?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(st.BindText(2, EncodeAttributes(q.attributes)));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, q.created_s));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(4, q.modified_s));
    NIMBUS_RETURN_IF_ERROR(st.Run());
    out = std::move(q);
    return Status::Ok();
  }));
  return std::move(*out);
}

Status QueueStore::DeleteQueue(const std::string& name) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto existing, LoadQueue(name));
    if (!existing) return NotFound(fmt::format("queue {}", name));
    for (const char* sql : {"DELETE FROM messages WHERE queue = ?", "DELETE FROM dedup WHERE queue = ?",
                            "DELETE FROM queues WHERE name = ?"}) {
      NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare(sql));
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(st.Run());
    }
    return Status::Ok();
  });
}

Result<QueueInfo> QueueStore::GetQueue(const std::string& name) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
  if (!q) return NotFound(fmt::format("queue {}", name));
  return std::move(*q);
}

Result<std::vector<std::string>> QueueStore::ListQueues(const std::string& prefix) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT name FROM queues WHERE name >= ? ORDER BY name"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, prefix));
  std::vector<std::string> out;
  while (true) {
    NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::string name = st.ColumnText(0);
    if (!name.starts_with(prefix)) break;
    out.push_back(std::move(name));
  }
  return out;
}

Status QueueStore::SetAttributes(const std::string& name,
                                 const std::map<std::string, std::string>& changes) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    for (const auto& [k, v] : changes) {
      if (v.empty() && (k == "RedrivePolicy" || k == "Policy" || k == "RedriveAllowPolicy")) {
        q->attributes.erase(k);
      } else {
        q->attributes[k] = v;
      }
    }
    NIMBUS_ASSIGN_OR_RETURN(auto st,
                            store_->Prepare("UPDATE queues SET attributes = ?, modified_s = ? WHERE name = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, EncodeAttributes(q->attributes)));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, NowSeconds()));
    NIMBUS_RETURN_IF_ERROR(st.BindText(3, name));
    return st.Run();
  });
}

Result<QueueCounts> QueueStore::Counts(const std::string& name, int64_t now_ms) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
  if (!q) return NotFound(fmt::format("queue {}", name));
  NIMBUS_ASSIGN_OR_RETURN(
      auto st, store_->Prepare("SELECT "
                               "SUM(visible_at_ms <= ?), "
                               "SUM(visible_at_ms > ? AND receive_count > 0), "
                               "SUM(visible_at_ms > ? AND receive_count = 0) "
                               "FROM messages WHERE queue = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, now_ms));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, now_ms));
  NIMBUS_RETURN_IF_ERROR(st.BindInt64(3, now_ms));
  NIMBUS_RETURN_IF_ERROR(st.BindText(4, name));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  QueueCounts c;
  if (row) {
    c.visible = st.ColumnInt64(0);
    c.in_flight = st.ColumnInt64(1);
    c.delayed = st.ColumnInt64(2);
  }
  return c;
}

Result<SendResult> QueueStore::Send(const std::string& name, const SendRequest& request,
                                    int64_t now_ms) {
  MutexLock l(store_mu_);
  SendResult out;
  NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    out.md5_body = Md5Hex(request.body);
    out.md5_attributes = Md5OfMessageAttributes(request.attributes);
    if (q->fifo()) {
      // A deduplication id seen within the window: the same message, not stored again.
      NIMBUS_ASSIGN_OR_RETURN(auto seen, store_->Prepare(
                                             "SELECT message_id, sequence_number FROM dedup WHERE "
                                             "queue = ? AND dedup_id = ? AND expires_ms > ?"));
      NIMBUS_RETURN_IF_ERROR(seen.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(seen.BindText(2, request.dedup_id));
      NIMBUS_RETURN_IF_ERROR(seen.BindInt64(3, now_ms));
      NIMBUS_ASSIGN_OR_RETURN(bool dup, seen.Step());
      if (dup) {
        out.id = seen.ColumnText(0);
        out.sequence_number = seen.ColumnText(1);
        return Status::Ok();
      }
    }
    out.id = NewUuid();
    const int delay = request.delay_seconds.value_or(q->IntAttribute("DelaySeconds", 0));
    NIMBUS_ASSIGN_OR_RETURN(
        auto ins, store_->Prepare("INSERT INTO messages (queue, id, body, attributes, md5_body, "
                                  "md5_attributes, sent_ms, visible_at_ms, group_id, dedup_id, trace_header) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(2, out.id));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(3, request.body));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(4, EncodeMessageAttributes(request.attributes)));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(5, out.md5_body));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(6, out.md5_attributes));
    NIMBUS_RETURN_IF_ERROR(ins.BindInt64(7, now_ms));
    NIMBUS_RETURN_IF_ERROR(ins.BindInt64(8, now_ms + int64_t{delay} * 1000));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(9, request.group_id));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(10, request.dedup_id));
    NIMBUS_RETURN_IF_ERROR(ins.BindText(11, request.trace_header));
    NIMBUS_RETURN_IF_ERROR(ins.Run());
    if (q->fifo()) {
      out.sequence_number = fmt::format("{:020}", store_->LastInsertRowId());
      NIMBUS_ASSIGN_OR_RETURN(auto dedup, store_->Prepare(
                                              "INSERT OR REPLACE INTO dedup (queue, dedup_id, "
                                              "message_id, sequence_number, expires_ms) VALUES "
                                              "(?, ?, ?, ?, ?)"));
      NIMBUS_RETURN_IF_ERROR(dedup.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(dedup.BindText(2, request.dedup_id));
      NIMBUS_RETURN_IF_ERROR(dedup.BindText(3, out.id));
      NIMBUS_RETURN_IF_ERROR(dedup.BindText(4, out.sequence_number));
      NIMBUS_RETURN_IF_ERROR(dedup.BindInt64(5, now_ms + kDedupWindowMs));
      NIMBUS_RETURN_IF_ERROR(dedup.Run());
    }
    return Status::Ok();
  }));
  return out;
}

Status QueueStore::MoveToDeadLetterQueue(const std::string& from, int64_t seq,
                                         const std::string& dlq, int64_t now_ms) {
  // Same id, body and attributes; received afresh from the dead-letter queue.
  NIMBUS_ASSIGN_OR_RETURN(
      auto move, store_->Prepare("UPDATE messages SET queue = ?, visible_at_ms = ?, receive_count = 0, "
                                 "first_receive_ms = 0, receipt = '', dead_letter_source = ? "
                                 "WHERE seq = ?"));
  NIMBUS_RETURN_IF_ERROR(move.BindText(1, dlq));
  NIMBUS_RETURN_IF_ERROR(move.BindInt64(2, now_ms));
  NIMBUS_RETURN_IF_ERROR(move.BindText(3, arn_prefix_ + from));
  NIMBUS_RETURN_IF_ERROR(move.BindInt64(4, seq));
  return move.Run();
}

Result<std::vector<Message>> QueueStore::Receive(const std::string& name, int max,
                                                 std::optional<int> visibility_s, int64_t now_ms) {
  MutexLock l(store_mu_);
  std::vector<Message> out;
  NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
    out.clear();
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    const int64_t retention_ms = int64_t{q->IntAttribute("MessageRetentionPeriod", 345600)} * 1000;
    NIMBUS_ASSIGN_OR_RETURN(auto expire,
                            store_->Prepare("DELETE FROM messages WHERE queue = ? AND sent_ms < ?"));
    NIMBUS_RETURN_IF_ERROR(expire.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(expire.BindInt64(2, now_ms - retention_ms));
    NIMBUS_RETURN_IF_ERROR(expire.Run());
    const bool fifo = q->fifo();
    // FIFO: a group with a message not yet receivable (in flight or delayed) waits.
    std::set<std::string> blocked;
    if (fifo) {
      NIMBUS_ASSIGN_OR_RETURN(auto groups, store_->Prepare(
                                               "SELECT DISTINCT group_id FROM messages WHERE queue = ? "
                                               "AND visible_at_ms > ?"));
      NIMBUS_RETURN_IF_ERROR(groups.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(groups.BindInt64(2, now_ms));
      while (true) {
        NIMBUS_ASSIGN_OR_RETURN(bool row, groups.Step());
        if (!row) break;
        blocked.insert(groups.ColumnText(0));
      }
    }
    auto redrive = Redrive(*q, arn_prefix_);
    const int64_t visible_at =
        now_ms + int64_t{visibility_s.value_or(q->IntAttribute("VisibilityTimeout", 30))} * 1000;
    NIMBUS_ASSIGN_OR_RETURN(
        auto pick, store_->Prepare(fmt::format("SELECT {} FROM messages WHERE queue = ? AND "
                                               "visible_at_ms <= ? ORDER BY seq",
                                               kMessageColumns)));
    NIMBUS_RETURN_IF_ERROR(pick.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(pick.BindInt64(2, now_ms));
    std::vector<std::pair<int64_t, Message>> chosen;
    std::vector<int64_t> dead;
    while (static_cast<int>(chosen.size()) < max) {
      NIMBUS_ASSIGN_OR_RETURN(bool row, pick.Step());
      if (!row) break;
      if (fifo && blocked.count(pick.ColumnText(11)) != 0) continue;
      const int64_t seq = pick.ColumnInt64(0);
      Message m = ReadMessage(pick);
      if (redrive && m.receive_count >= redrive->second) {
        dead.push_back(seq);
        continue;
      }
      chosen.emplace_back(seq, std::move(m));
    }
    pick.Reset();
    for (int64_t seq : dead) {
      NIMBUS_ASSIGN_OR_RETURN(auto dlq, LoadQueue(redrive->first));
      if (dlq) NIMBUS_RETURN_IF_ERROR(MoveToDeadLetterQueue(name, seq, redrive->first, now_ms));
    }
    NIMBUS_ASSIGN_OR_RETURN(
        auto take, store_->Prepare("UPDATE messages SET visible_at_ms = ?, receive_count = ?, "
                                   "first_receive_ms = ?, receipt = ? WHERE seq = ?"));
    for (auto& [seq, m] : chosen) {
      m.receive_count += 1;
      if (m.first_receive_ms == 0) m.first_receive_ms = now_ms;
      m.receipt = RandomHex32() + RandomHex32();
      take.Reset();
      NIMBUS_RETURN_IF_ERROR(take.BindInt64(1, visible_at));
      NIMBUS_RETURN_IF_ERROR(take.BindInt64(2, m.receive_count));
      NIMBUS_RETURN_IF_ERROR(take.BindInt64(3, m.first_receive_ms));
      NIMBUS_RETURN_IF_ERROR(take.BindText(4, m.receipt));
      NIMBUS_RETURN_IF_ERROR(take.BindInt64(5, seq));
      NIMBUS_RETURN_IF_ERROR(take.Run());
      out.push_back(std::move(m));
    }
    return Status::Ok();
  }));
  return out;
}

Result<bool> QueueStore::Delete(const std::string& name, const std::string& receipt) {
  NIMBUS_ASSIGN_OR_RETURN(std::vector<bool> removed, DeleteBatch(name, {receipt}));
  return static_cast<bool>(removed[0]);
}

Result<std::vector<bool>> QueueStore::DeleteBatch(const std::string& name,
                                                  const std::vector<std::string>& receipts) {
  MutexLock l(store_mu_);
  std::vector<bool> removed;
  NIMBUS_RETURN_IF_ERROR(storage::InTransaction(*store_, [&]() -> Status {
    removed.clear();
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM messages WHERE +queue = ? AND receipt = ? AND receipt != ''"));
    for (const auto& receipt : receipts) {
      st.Reset();
      NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
      NIMBUS_RETURN_IF_ERROR(st.BindText(2, receipt));
      NIMBUS_RETURN_IF_ERROR(st.Run());
      removed.push_back(store_->Changes() > 0);
    }
    return Status::Ok();
  }));
  return removed;
}

Status QueueStore::ChangeVisibility(const std::string& name, const std::string& receipt,
                                    int timeout_s, int64_t now_ms) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    NIMBUS_ASSIGN_OR_RETURN(
        auto find, store_->Prepare("SELECT seq, visible_at_ms FROM messages WHERE +queue = ? AND receipt = ? AND receipt != ''"));
    NIMBUS_RETURN_IF_ERROR(find.BindText(1, name));
    NIMBUS_RETURN_IF_ERROR(find.BindText(2, receipt));
    NIMBUS_ASSIGN_OR_RETURN(bool row, find.Step());
    if (!row) return NotFound("receipt");
    const int64_t seq = find.ColumnInt64(0);
    if (find.ColumnInt64(1) <= now_ms) return Status(Code::kFailedPrecondition, "not in flight");
    find.Reset();
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("UPDATE messages SET visible_at_ms = ? WHERE seq = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(1, now_ms + int64_t{timeout_s} * 1000));
    NIMBUS_RETURN_IF_ERROR(st.BindInt64(2, seq));
    return st.Run();
  });
}

Status QueueStore::Purge(const std::string& name) {
  MutexLock l(store_mu_);
  return storage::InTransaction(*store_, [&]() -> Status {
    NIMBUS_ASSIGN_OR_RETURN(auto q, LoadQueue(name));
    if (!q) return NotFound(fmt::format("queue {}", name));
    NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("DELETE FROM messages WHERE queue = ?"));
    NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
    return st.Run();
  });
}

Result<std::optional<int64_t>> QueueStore::NextVisibleAt(const std::string& name) {
  MutexLock l(store_mu_);
  NIMBUS_ASSIGN_OR_RETURN(auto st, store_->Prepare("SELECT MIN(visible_at_ms) FROM messages WHERE queue = ?"));
  NIMBUS_RETURN_IF_ERROR(st.BindText(1, name));
  NIMBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.ColumnIsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(st.ColumnInt64(0));
}

}  // namespace nimbus::sqs
