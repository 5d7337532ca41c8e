// LogStore: function log storage in the CloudWatch Logs model. The invoke path
// appends each line a function (or the platform, for START/END/REPORT) writes to
// a log stream; the Logs API (obs/logs_api.h) and `nimbus logs` read them back.
//
// Model: log groups ("/aws/lambda/NAME") hold log streams
// ("YYYY/MM/DD/[$LATEST]<32hex>", one per execution environment), which hold
// events {timestamp, message, ingestionTime} in the order they were appended.
// Each event has an index in its stream (0, 1, 2, ... in append order) that never
// changes, even when older events are reclaimed: GetLogEvents tokens and
// FilterLogEvents event ids are built from it.
//
// Retention. A group may have a retention in days (PutRetentionPolicy). Events
// whose timestamp is older than that are never returned (reads filter them), and
// a sweep reclaims their storage: a stream whose every event has expired is
// removed with its files; a longer-lived stream drops its oldest segment files
// (see below) once every event in them has expired. The sweep runs on the writer
// thread every retention_sweep_interval and at once for a group whose retention
// is set; it only decides under the lock and queues the file removals, which the
// writer performs in order with the appends.
//
// Memory. Each stream keeps its most recent events in memory (its tail) so that
// reads of the streams being written need no file I/O. Tails are bounded per
// stream and in total (LogStoreOptions), and a stream not appended to for
// memory_idle_timeout loses its tail; only events already in their files are
// ever dropped from memory, and reads then take them from the files, so what a
// read returns does not depend on what is in memory. A stream without a tail
// costs only its names, counters and segment list, ~600 bytes of heap
// (log_store_test.cc measures it), which is what memory grows by per stream.
//
// Threads and state. Thread-safe. One mutex guards the index of groups and
// streams, each stream's tail and the write queue. Append()
// formats the event's file line before taking that mutex and only queues under
// it; the "log-writer" thread takes the queue as a batch and appends it to one
// file per stream segment under `dir` (keeping recently written files open),
// outside the lock, then re-locks to record how much is on disk. Reads copy what
// they need under the lock and read older events from the files outside it, so an
// event is readable as soon as Append() returns. A read that finds a segment file
// gone (reclaimed meanwhile) skips it: everything in it had expired.
//
// On disk (frozen format; change it only with a migration test):
//   <dir>/<enc(group)>/_group                "#nimbus-log-group v1\t<created ms>\t<esc(group)>\n"
//   <dir>/<enc(group)>/_retention            "#nimbus-log-retention v1\t<days>\n" (only when set;
//                                            replaced atomically by rename)
//   <dir>/<enc(group)>/<enc(stream)>.log     the stream's first segment:
//                                            "#nimbus-log-stream v1\t<created ms>\t<esc(stream)>\n"
//                                            then one "<timestamp ms>\t<ingestion ms>\t<esc(msg)>\n"
//                                            per event.
//   <dir>/<enc(group)>/<enc(stream)>.<n>.log a later segment, in the same format, whose first
//                                            event has index n. A segment is closed when it
//                                            holds max_segment_bytes; the first may be gone
//                                            (reclaimed), and then indexes start at the oldest n.
// enc() keeps [A-Za-z0-9_-] and writes every other byte as %XX (so no name can be
// "." or ".." or contain "/" or "."); long names are cut and suffixed with a hash, which is
// why the real names live in the header lines. esc() writes '\\', '\n', '\r' and
// '\t' as two-character escapes so each event is exactly one line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "obs/filter_pattern.h"

namespace nimbus::obs {

struct LogStoreOptions {
  // Directory holding the files: <data>/logs. Created if missing.
  std::filesystem::path dir{};
  // Recent events kept in memory per stream for reads without file I/O. Events
  // not yet written are never evicted, whatever these say. 1000 events and
  // 256 KiB cover a typical execution environment's whole life; older events are
  // read from the file.
  size_t max_memory_events_per_stream = 1000;
  size_t max_memory_bytes_per_stream = 256 << 10;
  // All streams' tails together (memory_bytes()), counted as each event's
  // message bytes plus sizeof(LogEvent) and a small header per tail; the heap
  // they take is up to ~1.5 times that for short lines. Once a write is recorded
  // and the total is above this, the least recently appended streams lose their
  // tails. Events not yet written are never dropped, so the total can exceed this
  // by what is queued (at most max_pending_bytes of messages). 64 MiB holds 256
  // streams at their per-stream limit, or ~80,000 execution environments'
  // five-line streams (~840 bytes counted each).
  size_t max_memory_bytes_total = 64 << 20;
  // A stream not appended to for this long loses its tail at the writer's next
  // periodic pass (every retention_sweep_interval). Lambda writes a stream from
  // one execution environment only, so an idle stream is usually finished; live
  // readers (`nimbus logs --follow`) ask for the streams being written.
  std::chrono::milliseconds memory_idle_timeout{std::chrono::minutes(1)};
  // Events queued but not yet written, in message bytes, before Append() starts
  // dropping (counted in dropped_events()). 64 MiB is minutes of output from a
  // busy host; reaching it means the disk is failing or full.
  size_t max_pending_bytes = 64 << 20;
  // How long the writer waits after a failed write before retrying it.
  std::chrono::milliseconds retry_delay{1000};
  // A stream segment file is closed, and the next event starts a new one, once it
  // holds this many bytes. Retention reclaims whole segments, so this bounds how
  // much expired data a long-lived stream keeps on disk; Lambda's streams (one
  // per execution environment) rarely fill one.
  size_t max_segment_bytes = 8 << 20;
  // How often the writer looks for events past their group's retention (by the
  // injected clock's monotonic time, checked at least this often).
  std::chrono::milliseconds retention_sweep_interval{std::chrono::minutes(1)};
};

struct LogEvent {
  int64_t timestamp_ms = 0;
  std::string message{};
  int64_t ingestion_time_ms = 0;
  friend bool operator==(const LogEvent&, const LogEvent&) = default;
};

struct LogGroupInfo {
  std::string name{};
  int64_t creation_time_ms = 0;
  int64_t stored_bytes = 0;  // sum of message bytes
  std::optional<int> retention_in_days{};  // unset: events never expire
};

struct LogStreamInfo {
  std::string name{};
  int64_t creation_time_ms = 0;
  // Unset while the stream has no events.
  std::optional<int64_t> first_event_timestamp_ms{};
  std::optional<int64_t> last_event_timestamp_ms{};
  std::optional<int64_t> last_ingestion_time_ms{};
  int64_t stored_bytes = 0;
};

struct DescribeLogGroupsRequest {
  std::string prefix{};      // empty: all groups
  std::string pattern{};     // case-sensitive substring; not together with prefix
  int limit = 50;          // 1..50
  std::string next_token{};  // from a previous page; empty for the first
};
struct DescribeLogGroupsPage {
  std::vector<LogGroupInfo> groups{};  // by name
  std::string next_token{};            // empty on the last page
};

enum class LogStreamOrder { kLogStreamName, kLastEventTime };

struct DescribeLogStreamsRequest {
  std::string group{};
  std::string prefix{};  // only with kLogStreamName (as AWS)
  LogStreamOrder order_by = LogStreamOrder::kLogStreamName;
  bool descending = false;
  int limit = 50;  // 1..50
  std::string next_token{};
};
struct DescribeLogStreamsPage {
  std::vector<LogStreamInfo> streams{};
  std::string next_token{};  // empty on the last page
};

struct GetLogEventsRequest {
  std::string group{};
  std::string stream{};
  std::optional<int64_t> start_time_ms{};  // inclusive
  std::optional<int64_t> end_time_ms{};    // exclusive
  // Without a token: true reads from the oldest event, false returns the newest
  // page. A token decides the direction itself.
  bool start_from_head = false;
  int limit = 10000;  // 1..10000
  std::string next_token{};  // "f/<n>" or "b/<n>" from a previous response
};
// Events are in append order. As in AWS, reading forward past the end returns
// no events and the same forward token that was passed in.
struct GetLogEventsPage {
  std::vector<LogEvent> events{};
  std::string next_forward_token{};   // "f/<n>"
  std::string next_backward_token{};  // "b/<n>"
};

struct FilterLogEventsRequest {
  std::string group{};
  std::vector<std::string> stream_names{};  // empty: every stream (or the prefix)
  std::string stream_name_prefix{};         // not together with stream_names
  std::optional<int64_t> start_time_ms{};   // inclusive
  std::optional<int64_t> end_time_ms{};     // inclusive (FilterLogEvents differs from GetLogEvents)
  std::string filter_pattern{};             // see obs/filter_pattern.h
  int limit = 10000;                      // 1..10000
  std::string next_token{};
};
struct FilteredLogEvent {
  std::string stream{};
  std::string event_id{};  // stable and unique within the group
  LogEvent event{};
};
struct FilterLogEventsPage {
  std::vector<FilteredLogEvent> events{};  // by timestamp, then stream name, then order
  std::vector<std::string> searched_streams{};
  std::string next_token{};  // empty on the last page
};

// PutLogEvents: events the store refused, as AWS reports them (indexes into the
// request's events, which are in chronological order).
struct PutLogEventsResult {
  std::optional<int> too_new_start_index{};  // first event more than 2 hours ahead
  std::optional<int> too_old_end_index{};    // events before this are over 14 days old
  std::optional<int> expired_end_index{};    // events before this are past the retention
};

class LogStore {
 public:
  // Opens (creating if needed) options.dir and reads every stream back, then
  // starts the writer thread. `clock` supplies ingestion and creation times and
  // must outlive the store. Fails if the directory cannot be created or read.
  static Result<std::unique_ptr<LogStore>> Open(const Clock& clock, LogStoreOptions options);

  // Writes everything queued (one attempt), then stops the writer.
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // The invoke hot path: creates the group and stream if needed and queues the
  // event; never does I/O and never waits for the writer. The event is readable
  // when this returns. If max_pending_bytes are already queued the event is
  // dropped and counted.
  void Append(const std::string& group, const std::string& stream, int64_t timestamp_ms,
              std::string message);

  // API operations. Errors: kInvalidArgument for a bad name, limit or token;
  // kNotFound for a missing group or stream; kConflict when creating an existing one.
  Status CreateLogGroup(const std::string& group);
  Status CreateLogStream(const std::string& group, const std::string& stream);
  // PutLogEvents: the group and stream must exist; events must be in
  // chronological order and span at most 24 hours. Events too far in the future,
  // over 14 days old or past the group's retention are not stored but reported.
  Result<PutLogEventsResult> PutLogEvents(const std::string& group, const std::string& stream,
                                          std::vector<LogEvent> events);
  // Sets the group's retention (one of AWS's values: 1, 3, 5, 7, 14, 30, ...,
  // 3653 days; others are kInvalidArgument), persists it, and reclaims what it
  // expires before returning. DeleteRetentionPolicy keeps events forever again.
  Status PutRetentionPolicy(const std::string& group, int retention_in_days);
  Status DeleteRetentionPolicy(const std::string& group);
  // Runs the retention sweep now and waits until the files it reclaims are gone
  // (the writer runs it on its own every retention_sweep_interval).
  Status EnforceRetention();
  // Removes the group, its streams and (asynchronously, in order with later
  // appends) their files.
  Status DeleteLogGroup(const std::string& group);
  bool LogGroupExists(const std::string& group) const;

  Result<DescribeLogGroupsPage> DescribeLogGroups(const DescribeLogGroupsRequest& request) const;
  Result<DescribeLogStreamsPage> DescribeLogStreams(const DescribeLogStreamsRequest& request) const;
  Result<GetLogEventsPage> GetLogEvents(const GetLogEventsRequest& request) const;
  Result<FilterLogEventsPage> FilterLogEvents(const FilterLogEventsRequest& request) const;

  // Waits until everything appended before the call is on disk. Returns the
  // writer's error if a write failed meanwhile (the writer keeps retrying).
  Status Flush();

  uint64_t dropped_events() const;
  // The tails' total size as counted against max_memory_bytes_total.
  size_t memory_bytes() const;

 private:
  struct Segment;
  struct Stream;
  struct Group;
  struct Op;
  struct StreamSnapshot;
  struct IndexedEvent;

  LogStore(const Clock& clock, LogStoreOptions options);
  Status Load();
  void RunWriter();
  Status WriteBatch(const std::vector<Op>& ops);
  // Sets *group_out (if not null) to the stream's group.
  const std::shared_ptr<Stream>& GetOrCreateStream(const std::string& group,
                                                   const std::string& stream, Group** group_out)
      NIMBUS_REQUIRES(mu_);
  // Queues `event`, whose file line (EventLine) is `line`.
  void AppendLocked(Group& group, const std::shared_ptr<Stream>& stream, LogEvent event,
                    std::string line) NIMBUS_REQUIRES(mu_);
  void Enqueue(Op op) NIMBUS_REQUIRES(mu_);
  // The stream's tail: PushMemoryLocked appends and makes the stream the most
  // recently appended; DropMemoryLocked drops the tail's events below `index`
  // (freeing the tail once empty); ClearMemoryLocked drops all of it (for a
  // removed stream); UnlinkMemoryLocked takes a stream with a tail off the list.
  void PushMemoryLocked(Stream& stream, LogEvent event) NIMBUS_REQUIRES(mu_);
  void DropMemoryLocked(Stream& stream, uint64_t index) NIMBUS_REQUIRES(mu_);
  void ClearMemoryLocked(Stream& stream) NIMBUS_REQUIRES(mu_);
  void UnlinkMemoryLocked(Stream& stream) NIMBUS_REQUIRES(mu_);
  // Drops the oldest written events of a tail over the per-stream limits.
  void EvictLocked(Stream& stream) NIMBUS_REQUIRES(mu_);
  // Drops the written events of the least recently appended tails until the
  // total is within max_memory_bytes_total (or only unwritten events are left).
  void EnforceMemoryBudgetLocked() NIMBUS_REQUIRES(mu_);
  // Drops the written events of tails idle for memory_idle_timeout.
  void DropIdleMemoryLocked() NIMBUS_REQUIRES(mu_);
  // Removes expired streams and segments of every group with a retention (or of
  // `only`), queueing their files' removal.
  void SweepLocked(const Group* only) NIMBUS_REQUIRES(mu_);
  void SweepGroupLocked(Group& group, int64_t cutoff_ms) NIMBUS_REQUIRES(mu_);
  // Events with a timestamp below this are expired (INT64_MIN: none are).
  int64_t CutoffLocked(const Group& group) const NIMBUS_REQUIRES(mu_);
  // Copies what a reader needs from `stream` under the lock.
  StreamSnapshot SnapshotLocked(const Group& group, const Stream& stream) const
      NIMBUS_REQUIRES(mu_);
  // Every unexpired event of the snapshot: file lines (read outside the lock) + memory.
  static Result<std::vector<IndexedEvent>> ReadAll(const StreamSnapshot& snapshot);

  const Clock& clock_;
  const LogStoreOptions options_;

  mutable Mutex mu_;
  std::condition_variable writer_cv_{};  // queue non-empty, or stopping
  std::condition_variable flush_cv_{};   // written_seq_ or failures_ changed
  std::map<std::string, std::unique_ptr<Group>> groups_ NIMBUS_GUARDED_BY(mu_);
  std::vector<Op> queue_ NIMBUS_GUARDED_BY(mu_);
  size_t pending_bytes_ NIMBUS_GUARDED_BY(mu_) = 0;
  uint64_t enqueued_seq_ NIMBUS_GUARDED_BY(mu_) = 0;
  uint64_t written_seq_ NIMBUS_GUARDED_BY(mu_) = 0;
  uint64_t failures_ NIMBUS_GUARDED_BY(mu_) = 0;
  Status last_error_ NIMBUS_GUARDED_BY(mu_);
  uint64_t dropped_ NIMBUS_GUARDED_BY(mu_) = 0;
  bool stopping_ NIMBUS_GUARDED_BY(mu_) = false;
  // The streams with a tail, least recently appended first: a list through
  // Stream::Memory::prev/next, which a stream leaves when its tail empties or it
  // is removed. memory_total_ is their tails' size as counted against
  // max_memory_bytes_total.
  Stream* lru_head_ NIMBUS_GUARDED_BY(mu_) = nullptr;
  Stream* lru_tail_ NIMBUS_GUARDED_BY(mu_) = nullptr;
  size_t memory_total_ NIMBUS_GUARDED_BY(mu_) = 0;
  // Monotonic time of the next periodic retention sweep.
  std::chrono::steady_clock::time_point next_sweep_ NIMBUS_GUARDED_BY(mu_){};

  std::thread writer_;  // "log-writer"; started by Open(), joined by the destructor
};

// Exposed for tests: the file-name encoding and line escaping described above.
std::string EncodeFileName(std::string_view name);
std::string EscapeLogLine(std::string_view text);
std::optional<std::string> UnescapeLogLine(std::string_view text);

}  // namespace nimbus::obs
