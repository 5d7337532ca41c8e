#include "obs/log_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "base/encoding.h"
#include "base/errno_status.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace nimbus::obs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kGroupHeader = "#nimbus-log-group v1";
constexpr std::string_view kStreamHeader = "#nimbus-log-stream v1";
constexpr std::string_view kGroupFile = "_group";
constexpr std::string_view kStreamSuffix = ".log";
// Encoded names longer than this are cut and suffixed with a hash, keeping file
// names well under NAME_MAX (255) including the ".log" suffix.
constexpr size_t kMaxEncodedName = 200;
constexpr size_t kEncodedPrefixWhenHashed = 120;
// Stream files the writer keeps open: more than the streams that are busy at
// once on a small host; beyond it the writer closes them all and starts over.
constexpr size_t kMaxOpenStreamFiles = 64;

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> SplitTabs(std::string_view line, size_t max_fields) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_fields) {
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) break;
    out.push_back(line.substr(0, tab));
    line.remove_prefix(tab + 1);
  }
  out.push_back(line);
  return out;
}

// "<ts>\t<ingestion>\t<esc(message)>", or nullopt for a line that is not an event.
std::optional<LogEvent> ParseEventLine(std::string_view line) {
  auto f = SplitTabs(line, 3);
  if (f.size() != 3) return std::nullopt;
  auto ts = ParseInt(f[0]);
  auto ingestion = ParseInt(f[1]);
  auto message = UnescapeLogLine(f[2]);
  if (!ts || !ingestion || !message) return std::nullopt;
  return LogEvent{*ts, std::move(*message), *ingestion};
}

// Header "<kind>\t<created ms>\t<esc(name)>".
std::optional<std::pair<int64_t, std::string>> ParseHeader(std::string_view line,
                                                           std::string_view kind) {
  auto f = SplitTabs(line, 3);
  if (f.size() != 3 || f[0] != kind) return std::nullopt;
  auto created = ParseInt(f[1]);
  auto name = UnescapeLogLine(f[2]);
  if (!created || !name) return std::nullopt;
  return std::make_pair(*created, std::move(*name));
}

std::string HeaderLine(std::string_view kind, int64_t created_ms, std::string_view name) {
  return fmt::format("{}\t{}\t{}\n", kind, created_ms, EscapeLogLine(name));
}

// The escape letter of each byte that esc() writes as two characters, or 0.
constexpr std::array<char, 256> kEscapes = [] {
  std::array<char, 256> t{};
  t['\\'] = '\\';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  return t;
}();

// Appends esc(text) (see log_store.h) to `out`: runs without special bytes are
// appended whole; the scan is a table lookup per byte (a switch per byte, or
// string_view::find_first_of's call per byte, cost several times more).
void AppendEscaped(std::string& out, std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  const char* run = p;
  for (; p != end; ++p) {
    char escaped = kEscapes[static_cast<unsigned char>(*p)];
    if (escaped == 0) continue;
    out.append(run, p);
    out += '\\';
    out += escaped;
    run = p + 1;
  }
  out.append(run, end);
}

// "<timestamp>\t<ingestion>\t<esc(message)>\n", in one allocation.
std::string EventLine(int64_t timestamp_ms, int64_t ingestion_time_ms, std::string_view message) {
  std::string line;
  // Two int64 and two tabs and a newline fit in 43 bytes; escapes rarely grow it.
  line.reserve(message.size() + 48);
  char digits[24];
  line.append(digits, std::to_chars(digits, digits + sizeof digits, timestamp_ms).ptr);
  line += '\t';
  line.append(digits, std::to_chars(digits, digits + sizeof digits, ingestion_time_ms).ptr);
  line += '\t';
  AppendEscaped(line, message);
  line += '\n';
  return line;
}

Result<std::string> ReadFile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + path.string());
  std::string data;
  char buf[64 << 10];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path.string());
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

Status WriteAll(int fd, std::string_view data, std::string_view path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(fmt::format("write {}", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Creates `path` holding `content` unless it already exists.
Status CreateFileOnce(const fs::path& path, std::string_view content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) {
    if (errno == EEXIST) return Status::Ok();
    return ErrnoStatus("create " + path.string());
  }
  Status s = WriteAll(fd.get(), content, path.native());
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

uint64_t StreamHash(std::string_view name) {
  std::string digest = Sha256(name);
  uint64_t h = 0;
  std::memcpy(&h, digest.data(), sizeof h);
  return h;
}

// 56 digits like AWS's eventId: timestamp, stream hash, index.
std::string EventId(int64_t ts, uint64_t stream_hash, uint64_t index) {
  return fmt::format("{:020}{:020}{:016}", static_cast<uint64_t>(std::max<int64_t>(ts, 0)),
                     stream_hash, index % 10'000'000'000'000'000ull);
}

Status CheckLimit(int limit, int max) {
  if (limit < 1 || limit > max) {
    return InvalidArgument(fmt::format("limit {} is outside 1..{}", limit, max));
  }
  return Status::Ok();
}

Status NoGroup(const std::string& group) {
  return NotFound(fmt::format("log group {}: does not exist", group));
}


constexpr std::string_view kRetentionFile = "_retention";
constexpr std::string_view kRetentionHeader = "#nimbus-log-retention v1";
constexpr int64_t kDayMs = 86'400'000;
// PutLogEvents limits, as AWS's: events over 14 days old or over 2 hours ahead
// are refused, and one request may span at most 24 hours.
constexpr int64_t kMaxEventAgeMs = 14 * kDayMs;
constexpr int64_t kMaxEventAheadMs = 2 * 3'600'000;
constexpr int64_t kMaxBatchSpanMs = kDayMs;
// The retentions AWS accepts (PutRetentionPolicy's enum).
constexpr std::array<int, 22> kRetentionDays = {1,   3,   5,   7,    14,   30,   60,   90,
                                                120, 150, 180, 365,  400,  545,  731,  1096,
                                                1827, 2192, 2557, 2922, 3288, 3653};

// "<enc>.log" is segment 0 and "<enc>.<n>.log" the segment starting at index n;
// enc() never writes '.', so the split is unambiguous.
std::optional<uint64_t> SegmentFirstIndex(std::string_view file_name) {
  if (file_name.size() <= kStreamSuffix.size() ||
      file_name.substr(file_name.size() - kStreamSuffix.size()) != kStreamSuffix) {
    return std::nullopt;
  }
  file_name.remove_suffix(kStreamSuffix.size());
  size_t dot = file_name.find('.');
  if (dot == std::string_view::npos) return 0;
  auto n = ParseInt(file_name.substr(dot + 1));
  if (!n || *n <= 0) return std::nullopt;
  return static_cast<uint64_t>(*n);
}

std::string SegmentPath(const fs::path& group_dir, std::string_view stream, uint64_t first) {
  std::string name = first == 0
                         ? EncodeFileName(stream) + std::string(kStreamSuffix)
                         : fmt::format("{}.{}{}", EncodeFileName(stream), first, kStreamSuffix);
  return (group_dir / name).native();
}

// Writes `content` to `path` through a temporary file and a rename, so a crash
// leaves the old file or the new one.
Status ReplaceFile(const fs::path& path, std::string_view content) {
  fs::path tmp = path;
  tmp += ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd) return ErrnoStatus("create " + tmp.string());
  NIMBUS_RETURN_IF_ERROR(WriteAll(fd.get(), content, tmp.native()));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename " + tmp.string());
  return Status::Ok();
}

// What an event in memory counts against max_memory_bytes_total.
size_t MemoryCost(const LogEvent& event) { return sizeof(LogEvent) + event.message.size(); }

// A stream's in-memory events, oldest first: a vector consumed from the front
// (std::deque would allocate ~600 bytes for even one event).
class EventTail {
 public:
  bool empty() const { return head_ == events_.size(); }
  size_t size() const { return events_.size() - head_; }
  const LogEvent& front() const { return events_[head_]; }
  std::vector<LogEvent>::const_iterator begin() const {
    return events_.begin() + static_cast<std::ptrdiff_t>(head_);
  }
  std::vector<LogEvent>::const_iterator end() const { return events_.end(); }
  void push_back(LogEvent event) { events_.push_back(std::move(event)); }
  void pop_front() {
    events_[head_++] = LogEvent{};
    // Moving the rest down once half is consumed keeps pop_front O(1) amortized.
    if (head_ * 2 >= events_.size()) {
      events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<LogEvent> events_;
  size_t head_ = 0;  // events_[0, head_) are consumed
};
}  // namespace

std::string EncodeFileName(std::string_view name) {
  if (name.empty()) return "%";  // never produced by a non-empty name
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '_' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  if (out.size() <= kMaxEncodedName) return out;
  size_t cut = kEncodedPrefixWhenHashed;
  // Do not split a %XX escape.
  if (out[cut - 1] == '%') cut -= 1;
  else if (out[cut - 2] == '%') cut -= 2;
  return out.substr(0, cut) + "~" + HexEncode(Sha256(name)).substr(0, 32);
}

std::string EscapeLogLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendEscaped(out, text);
  return out;
}

std::optional<std::string> UnescapeLogLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' || c == '\t' || c == '\r') return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    switch (text[i]) {
      case '\\': out.push_back('\\'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      default: return std::nullopt;
    }
  }
  return out;
}


struct LogStore::Segment {
  // Its path, shared with the queued appends to it, which need no copy of the
  // name. A string: an fs::path also keeps its parsed components, ~500 bytes
  // more for every stream.
  std::shared_ptr<const std::string> file;
  uint64_t first = 0;      // index of its first event
  uint64_t count = 0;      // events assigned to it, written or still queued
  size_t file_bytes = 0;   // its size once everything queued is written
  int64_t stored_bytes = 0;  // message bytes
  std::optional<int64_t> first_ts, max_ts;
  uint64_t end() const { return first + count; }
};

struct LogStore::Stream {
  std::string name;
  int64_t creation_time_ms = 0;
  // Oldest first; never empty, and usually one. Appends go to the last;
  // retention drops the first.
  std::vector<Segment> segments;
  uint64_t persisted = 0;  // every event with a smaller index is in its file
  // Index of the first event in memory (count() when there is none);
  // segments.front().first <= mem_start <= persisted.
  uint64_t mem_start = 0;
  // Its tail, the events [mem_start, count()), allocated only while there are
  // any: most streams are idle, and then cost 8 bytes for it.
  struct Memory {
    EventTail events;  // never empty
    size_t bytes = 0;  // message bytes
    // Its place in LogStore's list of streams with a tail, and the monotonic
    // time of its last append, which orders that list.
    Stream* prev = nullptr;
    Stream* next = nullptr;
    std::chrono::steady_clock::time_point last_append{};
  };
  std::unique_ptr<Memory> memory;
  std::optional<int64_t> min_ts, max_ts, last_ingestion;
  int64_t stored_bytes = 0;
  // Set when its group is deleted or retention removes it; queued appends then
  // record nothing.
  bool removed = false;
  uint64_t count() const { return segments.back().end(); }
};

struct LogStore::Group {
  std::string name;
  int64_t creation_time_ms = 0;
  fs::path dir;
  int64_t stored_bytes = 0;
  std::optional<int> retention_days;
  // Shared with queued appends, which may outlive a deleted group. Keyed by a
  // view of the stream's own name, which lives as long as the entry.
  std::map<std::string_view, std::shared_ptr<Stream>, std::less<>> streams;
};

struct LogStore::Op {
  enum class Kind { kCreateGroup, kCreateFile, kAppend, kDeleteGroup, kRemoveFiles, kReplaceFile };
  Kind kind = Kind::kAppend;
  uint64_t seq = 0;
  fs::path path;  // group dir (create/delete group) or file (create, replace)
  std::shared_ptr<const std::string> file;  // kAppend: the segment file
  std::string content;  // header, event line, or the replacing content
  std::vector<fs::path> paths;  // kRemoveFiles
  // kAppend: the stream written to and the event's index, where the write is recorded.
  std::shared_ptr<Stream> target;
  uint64_t index = 0;
  size_t message_bytes = 0;
};

struct LogStore::StreamSnapshot {
  std::string name;
  int64_t creation_time_ms = 0;
  // Segment files and how many of their events to read: together the events
  // [first kept, mem_start).
  struct File {
    fs::path path;
    uint64_t first = 0;
    uint64_t count = 0;
  };
  std::vector<File> files;
  uint64_t mem_start = 0;
  uint64_t count = 0;
  std::vector<LogEvent> memory;  // events [mem_start, count)
  int64_t cutoff_ms = std::numeric_limits<int64_t>::min();
};

struct LogStore::IndexedEvent {
  uint64_t index = 0;
  LogEvent event;
};

LogStore::LogStore(const Clock& clock, LogStoreOptions options)
    : clock_(clock), options_(std::move(options)) {}

Result<std::unique_ptr<LogStore>> LogStore::Open(const Clock& clock, LogStoreOptions options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return Internal(fmt::format("log store: create {}: {}", options.dir.string(), ec.message()));
  }
  std::unique_ptr<LogStore> store(new LogStore(clock, std::move(options)));
  NIMBUS_RETURN_IF_ERROR(store->Load().WithContext("log store"));
  {
    MutexLock l(store->mu_);
    store->next_sweep_ = clock.MonotonicNow() + store->options_.retention_sweep_interval;
  }
  store->writer_ = std::thread([s = store.get()] {
    pthread_setname_np(pthread_self(), "log-writer");
    s->RunWriter();
  });
  return store;
}

LogStore::~LogStore() {
  {
    MutexLock l(mu_);
    stopping_ = true;
  }
  writer_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

// Runs before the writer starts, so nothing else touches the state yet.
Status LogStore::Load() NIMBUS_NO_THREAD_SAFETY_ANALYSIS {
  std::error_code ec;
  for (fs::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory()) continue;
    const fs::path dir = it->path();
    auto group_text = ReadFile(dir / kGroupFile);
    if (!group_text) {
      log::Warn("log store: skipping {}: {}", dir.string(), group_text.error().message());
      continue;
    }
    auto header = ParseHeader(group_text->substr(0, group_text->find('\n')), kGroupHeader);
    if (!header) {
      log::Warn("log store: skipping {}: bad group header", dir.string());
      continue;
    }
    auto group = std::make_unique<Group>();
    group->name = header->second;
    group->creation_time_ms = header->first;
    group->dir = dir;
    if (auto retention = ReadFile(dir / kRetentionFile)) {
      std::string_view line(*retention);
      auto f = SplitTabs(line.substr(0, line.find('\n')), 2);
      auto days = f.size() == 2 && f[0] == kRetentionHeader ? ParseInt(f[1]) : std::nullopt;
      if (days && std::find(kRetentionDays.begin(), kRetentionDays.end(), *days) !=
                      kRetentionDays.end()) {
        group->retention_days = static_cast<int>(*days);
      } else {
        log::Warn("log store: {}: ignoring a bad retention file", dir.string());
      }
    }

    // Segments of each stream (by the name in their headers). Their events stay
    // in the files: memory is for the streams being written, and no stream is yet.
    struct Loaded {
      std::shared_ptr<Stream> stream;
      std::map<uint64_t, Segment> segments;  // by the first index in the file name
    };
    std::map<std::string, Loaded> loaded;
    std::error_code sec;
    for (fs::directory_iterator sit(dir, sec), send; !sec && sit != send; sit.increment(sec)) {
      const fs::path file = sit->path();
      auto first = SegmentFirstIndex(file.filename().string());
      if (!first) continue;
      NIMBUS_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
      // A crash can leave a partial last line; cut it so later appends start clean.
      size_t complete = text.rfind('\n');
      complete = complete == std::string::npos ? 0 : complete + 1;
      if (complete != text.size()) {
        if (::truncate(file.c_str(), static_cast<off_t>(complete)) != 0) {
          return ErrnoStatus("truncate " + file.string());
        }
        text.resize(complete);
      }
      size_t nl = text.find('\n');
      if (nl == std::string::npos) {
        log::Warn("log store: skipping {}: no header", file.string());
        continue;
      }
      auto sheader = ParseHeader(std::string_view(text).substr(0, nl), kStreamHeader);
      if (!sheader) {
        log::Warn("log store: skipping {}: bad stream header", file.string());
        continue;
      }
      Loaded& l = loaded[sheader->second];
      if (!l.stream) {
        l.stream = std::make_shared<Stream>();
        l.stream->name = sheader->second;
        l.stream->creation_time_ms = sheader->first;
      }
      Stream& stream = *l.stream;
      Segment seg;
      seg.file = std::make_shared<const std::string>(file.native());
      seg.first = *first;
      seg.file_bytes = text.size();
      std::string_view rest = std::string_view(text).substr(nl + 1);
      while (!rest.empty()) {
        size_t e = rest.find('\n');
        auto event = ParseEventLine(rest.substr(0, e));
        rest.remove_prefix(e + 1);
        if (!event) continue;  // skipped the same way by ReadAll
        seg.count++;
        seg.stored_bytes += static_cast<int64_t>(event->message.size());
        if (!seg.first_ts) seg.first_ts = event->timestamp_ms;
        seg.max_ts = std::max(seg.max_ts.value_or(event->timestamp_ms), event->timestamp_ms);
        stream.min_ts = std::min(stream.min_ts.value_or(event->timestamp_ms), event->timestamp_ms);
        stream.last_ingestion = std::max(
            stream.last_ingestion.value_or(event->ingestion_time_ms), event->ingestion_time_ms);
      }
      l.segments.emplace(*first, std::move(seg));
    }
    if (sec) return Internal(fmt::format("list {}: {}", dir.string(), sec.message()));

    for (auto& [name, l] : loaded) {
      Stream& stream = *l.stream;
      for (auto& [first, seg] : l.segments) {
        // Segments are contiguous; a file that says otherwise (a crash between
        // segments, or files moved by hand) is renumbered after its predecessor.
        if (!stream.segments.empty() && seg.first != stream.segments.back().end()) {
          log::Warn("log store: {}: expected its first event to be #{}", *seg.file,
                    stream.segments.back().end());
          seg.first = stream.segments.back().end();
        }
        stream.stored_bytes += seg.stored_bytes;
        if (seg.max_ts) stream.max_ts = std::max(stream.max_ts.value_or(*seg.max_ts), *seg.max_ts);
        stream.segments.push_back(std::move(seg));
      }
      stream.persisted = stream.count();
      stream.mem_start = stream.count();
      group->stored_bytes += stream.stored_bytes;
      group->streams.emplace(std::string_view(stream.name), std::move(l.stream));
    }
    std::string name = group->name;
    groups_[name] = std::move(group);
  }
  if (ec) return Internal(fmt::format("list {}: {}", options_.dir.string(), ec.message()));
  return Status::Ok();
}

void LogStore::Enqueue(Op op) {
  op.seq = ++enqueued_seq_;
  pending_bytes_ += op.message_bytes;
  queue_.push_back(std::move(op));
}

const std::shared_ptr<LogStore::Stream>& LogStore::GetOrCreateStream(
    const std::string& group_name, const std::string& stream_name, Group** group_out) {
  const int64_t now = ToUnixMillis(clock_.Now());
  auto git = groups_.find(group_name);
  if (git == groups_.end()) {
    auto group = std::make_unique<Group>();
    group->name = group_name;
    group->creation_time_ms = now;
    group->dir = options_.dir / EncodeFileName(group_name);
    Op op;
    op.kind = Op::Kind::kCreateGroup;
    op.path = group->dir;
    op.content = HeaderLine(kGroupHeader, now, group_name);
    Enqueue(std::move(op));
    git = groups_.emplace(group_name, std::move(group)).first;
  }
  Group& group = *git->second;
  if (group_out != nullptr) *group_out = &group;
  auto sit = group.streams.find(stream_name);
  if (sit == group.streams.end()) {
    auto stream = std::make_shared<Stream>();
    stream->name = stream_name;
    stream->creation_time_ms = now;
    Segment seg;
    seg.file = std::make_shared<const std::string>(SegmentPath(group.dir, stream_name, 0));
    Op op;
    op.kind = Op::Kind::kCreateFile;
    op.path = *seg.file;
    op.content = HeaderLine(kStreamHeader, now, stream_name);
    seg.file_bytes = op.content.size();
    Enqueue(std::move(op));
    stream->segments.push_back(std::move(seg));
    const std::string_view key = stream->name;
    sit = group.streams.emplace(key, std::move(stream)).first;
  }
  return sit->second;
}

void LogStore::AppendLocked(Group& group, const std::shared_ptr<Stream>& target, LogEvent event,
                            std::string line) {
  if (pending_bytes_ + event.message.size() > options_.max_pending_bytes) {
    ++dropped_;
    return;
  }
  Stream& stream = *target;
  Segment* seg = &stream.segments.back();
  if (seg->count > 0 && seg->file_bytes >= options_.max_segment_bytes) {
    Segment next;
    next.first = seg->end();
    next.file =
        std::make_shared<const std::string>(SegmentPath(group.dir, stream.name, next.first));
    Op op;
    op.kind = Op::Kind::kCreateFile;
    op.path = *next.file;
    op.content = HeaderLine(kStreamHeader, stream.creation_time_ms, stream.name);
    next.file_bytes = op.content.size();
    Enqueue(std::move(op));
    stream.segments.push_back(std::move(next));
    seg = &stream.segments.back();
  }
  const int64_t ts = event.timestamp_ms;
  const int64_t bytes = static_cast<int64_t>(event.message.size());
  Op op;
  op.kind = Op::Kind::kAppend;
  op.file = seg->file;
  op.index = seg->end();
  op.target = target;
  op.message_bytes = event.message.size();
  seg->file_bytes += line.size();
  op.content = std::move(line);
  Enqueue(std::move(op));

  seg->count++;
  seg->stored_bytes += bytes;
  if (!seg->first_ts) seg->first_ts = ts;
  seg->max_ts = std::max(seg->max_ts.value_or(ts), ts);
  stream.stored_bytes += bytes;
  group.stored_bytes += bytes;
  stream.min_ts = std::min(stream.min_ts.value_or(ts), ts);
  stream.max_ts = std::max(stream.max_ts.value_or(ts), ts);
  stream.last_ingestion = event.ingestion_time_ms;
  PushMemoryLocked(stream, std::move(event));
}

void LogStore::PushMemoryLocked(Stream& stream, LogEvent event) {
  if (stream.memory == nullptr) {
    stream.memory = std::make_unique<Stream::Memory>();
    memory_total_ += sizeof(Stream::Memory);
  } else {
    UnlinkMemoryLocked(stream);
  }
  // Now the most recently appended: onto the end of the list.
  Stream::Memory& m = *stream.memory;
  m.prev = lru_tail_;
  m.next = nullptr;
  (lru_tail_ != nullptr ? lru_tail_->memory->next : lru_head_) = &stream;
  lru_tail_ = &stream;
  m.last_append = clock_.MonotonicNow();
  memory_total_ += MemoryCost(event);
  m.bytes += event.message.size();
  m.events.push_back(std::move(event));
}

void LogStore::UnlinkMemoryLocked(Stream& stream) {
  Stream::Memory& m = *stream.memory;
  (m.prev != nullptr ? m.prev->memory->next : lru_head_) = m.next;
  (m.next != nullptr ? m.next->memory->prev : lru_tail_) = m.prev;
  m.prev = m.next = nullptr;
}

void LogStore::DropMemoryLocked(Stream& stream, uint64_t index) {
  if (stream.memory == nullptr) return;
  Stream::Memory& m = *stream.memory;
  while (!m.events.empty() && stream.mem_start < index) {
    memory_total_ -= MemoryCost(m.events.front());
    m.bytes -= m.events.front().message.size();
    m.events.pop_front();
    stream.mem_start++;
  }
  if (m.events.empty()) {
    UnlinkMemoryLocked(stream);
    memory_total_ -= sizeof(Stream::Memory);
    stream.memory.reset();
  }
}

void LogStore::ClearMemoryLocked(Stream& stream) { DropMemoryLocked(stream, stream.count()); }

void LogStore::EvictLocked(Stream& stream) {
  while (stream.memory != nullptr && stream.mem_start < stream.persisted &&
         (stream.memory->events.size() > options_.max_memory_events_per_stream ||
          stream.memory->bytes > options_.max_memory_bytes_per_stream)) {
    DropMemoryLocked(stream, stream.mem_start + 1);
  }
}

void LogStore::EnforceMemoryBudgetLocked() {
  // Streams further on were appended to later, so are more likely to be read.
  for (Stream* s = lru_head_; s != nullptr && memory_total_ > options_.max_memory_bytes_total;) {
    Stream* next = s->memory->next;  // DropMemoryLocked may unlink s, never another
    DropMemoryLocked(*s, s->persisted);
    s = next;
  }
}

void LogStore::DropIdleMemoryLocked() {
  const auto idle_since = clock_.MonotonicNow() - options_.memory_idle_timeout;
  while (lru_head_ != nullptr && lru_head_->memory->last_append <= idle_since) {
    Stream& s = *lru_head_;
    DropMemoryLocked(s, s.persisted);
    // Still holding unwritten events (the writer is failing): the next pass
    // retries; the streams after it were appended to later still.
    if (s.memory != nullptr) break;
  }
}

int64_t LogStore::CutoffLocked(const Group& group) const {
  if (!group.retention_days) return std::numeric_limits<int64_t>::min();
  return ToUnixMillis(clock_.Now()) - int64_t{*group.retention_days} * kDayMs;
}

void LogStore::SweepLocked(const Group* only) {
  for (auto& [name, group] : groups_) {
    if (only != nullptr && group.get() != only) continue;
    if (group->retention_days) SweepGroupLocked(*group, CutoffLocked(*group));
  }
}

void LogStore::SweepGroupLocked(Group& group, int64_t cutoff_ms) {
  for (auto it = group.streams.begin(); it != group.streams.end();) {
    Stream& s = *it->second;
    // Every event expired and written: the stream goes, with its files.
    if (s.max_ts && *s.max_ts < cutoff_ms && s.persisted == s.count()) {
      Op op;
      op.kind = Op::Kind::kRemoveFiles;
      for (const auto& seg : s.segments) op.paths.push_back(*seg.file);
      Enqueue(std::move(op));
      ClearMemoryLocked(s);
      s.removed = true;
      group.stored_bytes -= s.stored_bytes;
      it = group.streams.erase(it);
      continue;
    }
    // Otherwise whole segments (never the one appended to) whose events have
    // all expired and been written.
    while (s.segments.size() > 1) {
      const Segment& front = s.segments.front();
      if (!front.max_ts || *front.max_ts >= cutoff_ms || front.end() > s.persisted) break;
      Op op;
      op.kind = Op::Kind::kRemoveFiles;
      op.paths.push_back(*front.file);
      Enqueue(std::move(op));
      s.stored_bytes -= front.stored_bytes;
      group.stored_bytes -= front.stored_bytes;
      const uint64_t new_first = front.end();
      s.segments.erase(s.segments.begin());
      DropMemoryLocked(s, new_first);
      s.mem_start = std::max(s.mem_start, new_first);
    }
    ++it;
  }
}

void LogStore::Append(const std::string& group, const std::string& stream, int64_t timestamp_ms,
                      std::string message) {
  // The line is built before taking the lock, which the log writer and readers share.
  const int64_t ingestion_ms = ToUnixMillis(clock_.Now());
  std::string line = EventLine(timestamp_ms, ingestion_ms, message);
  bool wake;
  {
    MutexLock l(mu_);
    // The writer sleeps only on an empty queue: wake it for the first event
    // after a lull, not for every line (a futex wake and a context switch per
    // line were a large share of the invoke path). Events reach the disk as
    // soon as the writer runs, so a SIGKILL loses almost nothing.
    wake = queue_.empty();
    Group* g = nullptr;
    const std::shared_ptr<Stream>& s = GetOrCreateStream(group, stream, &g);
    AppendLocked(*g, s, LogEvent{timestamp_ms, std::move(message), ingestion_ms},
                 std::move(line));
  }
  if (wake) writer_cv_.notify_one();
}

Status LogStore::CreateLogGroup(const std::string& group) {
  {
    MutexLock l(mu_);
    if (groups_.count(group)) {
      return Conflict(fmt::format("log group {}: already exists", group));
    }
    auto g = std::make_unique<Group>();
    g->name = group;
    g->creation_time_ms = ToUnixMillis(clock_.Now());
    g->dir = options_.dir / EncodeFileName(group);
    Op op;
    op.kind = Op::Kind::kCreateGroup;
    op.path = g->dir;
    op.content = HeaderLine(kGroupHeader, g->creation_time_ms, group);
    Enqueue(std::move(op));
    groups_.emplace(group, std::move(g));
  }
  writer_cv_.notify_one();
  return Status::Ok();
}

Status LogStore::CreateLogStream(const std::string& group, const std::string& stream) {
  {
    MutexLock l(mu_);
    auto git = groups_.find(group);
    if (git == groups_.end()) return NoGroup(group);
    if (git->second->streams.count(stream)) {
      return Conflict(fmt::format("log stream {}: already exists", stream));
    }
    GetOrCreateStream(group, stream, nullptr);
  }
  writer_cv_.notify_one();
  return Status::Ok();
}

Result<PutLogEventsResult> LogStore::PutLogEvents(const std::string& group,
                                                  const std::string& stream,
                                                  std::vector<LogEvent> events) {
  for (size_t i = 1; i < events.size(); ++i) {
    if (events[i].timestamp_ms < events[i - 1].timestamp_ms) {
      return InvalidArgument("log events in a single PutLogEvents request must be in "
                             "chronological order");
    }
  }
  if (!events.empty() && events.back().timestamp_ms - events.front().timestamp_ms > kMaxBatchSpanMs) {
    return InvalidArgument("The batch of log events in a single PutLogEvents request cannot span "
                           "more than 24 hours.");
  }
  PutLogEventsResult result;
  {
    MutexLock l(mu_);
    auto git = groups_.find(group);
    if (git == groups_.end()) return NoGroup(group);
    auto sit = git->second->streams.find(stream);
    if (sit == git->second->streams.end()) {
      return NotFound(fmt::format("log stream {}: does not exist", stream));
    }
    const int64_t now = ToUnixMillis(clock_.Now());
    const int64_t cutoff = CutoffLocked(*git->second);
    // Events are in order, so the refused ones are a prefix (old) and a suffix (new).
    size_t too_old = 0, expired = 0, too_new = events.size();
    while (too_old < events.size() && events[too_old].timestamp_ms < now - kMaxEventAgeMs) ++too_old;
    while (expired < events.size() && events[expired].timestamp_ms < cutoff) ++expired;
    while (too_new > 0 && events[too_new - 1].timestamp_ms > now + kMaxEventAheadMs) --too_new;
    if (too_old > 0) result.too_old_end_index = static_cast<int>(too_old);
    if (expired > 0) result.expired_end_index = static_cast<int>(expired);
    if (too_new < events.size()) result.too_new_start_index = static_cast<int>(too_new);
    for (size_t i = std::max(too_old, expired); i < too_new; ++i) {
      LogEvent& e = events[i];
      e.ingestion_time_ms = now;
      std::string line = EventLine(e.timestamp_ms, now, e.message);
      AppendLocked(*git->second, sit->second, std::move(e), std::move(line));
    }
  }
  writer_cv_.notify_one();
  return result;
}

Status LogStore::PutRetentionPolicy(const std::string& group, int retention_in_days) {
  if (std::find(kRetentionDays.begin(), kRetentionDays.end(), retention_in_days) ==
      kRetentionDays.end()) {
    return InvalidArgument(fmt::format(
        "1 validation error detected: Value '{}' at 'retentionInDays' failed to satisfy "
        "constraint: Member must satisfy enum value set: [{}]",
        retention_in_days, fmt::join(kRetentionDays, ", ")));
  }
  {
    MutexLock l(mu_);
    auto git = groups_.find(group);
    if (git == groups_.end()) return NoGroup(group);
    Group& g = *git->second;
    g.retention_days = retention_in_days;
    Op op;
    op.kind = Op::Kind::kReplaceFile;
    op.path = g.dir / kRetentionFile;
    op.content = fmt::format("{}\t{}\n", kRetentionHeader, retention_in_days);
    Enqueue(std::move(op));
    SweepLocked(&g);
  }
  writer_cv_.notify_one();
  return Status::Ok();
}

Status LogStore::DeleteRetentionPolicy(const std::string& group) {
  {
    MutexLock l(mu_);
    auto git = groups_.find(group);
    if (git == groups_.end()) return NoGroup(group);
    git->second->retention_days.reset();
    Op op;
    op.kind = Op::Kind::kRemoveFiles;
    op.paths.push_back(git->second->dir / kRetentionFile);
    Enqueue(std::move(op));
  }
  writer_cv_.notify_one();
  return Status::Ok();
}

Status LogStore::EnforceRetention() {
  {
    MutexLock l(mu_);
    SweepLocked(nullptr);
  }
  writer_cv_.notify_one();
  return Flush();
}

Status LogStore::DeleteLogGroup(const std::string& group) {
  {
    MutexLock l(mu_);
    auto git = groups_.find(group);
    if (git == groups_.end()) return NoGroup(group);
    Op op;
    op.kind = Op::Kind::kDeleteGroup;
    op.path = git->second->dir;
    Enqueue(std::move(op));
    for (auto& [name, stream] : git->second->streams) {
      ClearMemoryLocked(*stream);
      stream->removed = true;
    }
    groups_.erase(git);
  }
  writer_cv_.notify_one();
  return Status::Ok();
}

bool LogStore::LogGroupExists(const std::string& group) const {
  MutexLock l(mu_);
  return groups_.count(group) > 0;
}

uint64_t LogStore::dropped_events() const {
  MutexLock l(mu_);
  return dropped_;
}

size_t LogStore::memory_bytes() const {
  MutexLock l(mu_);
  return memory_total_;
}

Status LogStore::Flush() NIMBUS_NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock<std::mutex> lock(mu_.native());
  const uint64_t target = enqueued_seq_;
  const uint64_t failures = failures_;
  flush_cv_.wait(lock, [&] { return written_seq_ >= target || failures_ != failures; });
  if (written_seq_ >= target) return Status::Ok();
  return last_error_.WithContext("log store: flush");
}

void LogStore::RunWriter() NIMBUS_NO_THREAD_SAFETY_ANALYSIS {
  std::vector<Op> batch;  // ops taken from the queue, not yet committed
  // Segment files stay open across batches (an open, fstat and close per wake-up
  // were most of the writer's syscalls on the invoke path), with the size they
  // have so that a failed write can be undone. Ops apply in queue order; a group
  // delete closes them all first and a file removal closes that file.
  // Keyed by the segment's shared path, which the entry keeps alive.
  struct OpenFile {
    UniqueFd fd;
    off_t size = 0;
    std::shared_ptr<const std::string> path;
  };
  std::unordered_map<const std::string*, OpenFile> open_files;
  std::unique_lock<std::mutex> lock(mu_.native());
  for (;;) {
    if (batch.empty()) {
      // Sleeps until there is work, waking every sweep interval to enforce retention.
      writer_cv_.wait_for(lock, options_.retention_sweep_interval,
                          [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;  // stopping and drained
    } else {
      // A write failed: wait before retrying, unless shutting down.
      writer_cv_.wait_for(lock, options_.retry_delay, [&] { return stopping_; });
    }
    if (!stopping_ && clock_.MonotonicNow() >= next_sweep_) {
      SweepLocked(nullptr);
      DropIdleMemoryLocked();
      next_sweep_ = clock_.MonotonicNow() + options_.retention_sweep_interval;
    }
    if (batch.empty() && queue_.empty()) continue;
    for (auto& op : queue_) batch.push_back(std::move(op));
    queue_.clear();
    const bool last_attempt = stopping_;
    lock.unlock();

    size_t done = 0;
    Status status = Status::Ok();
    while (done < batch.size() && status.ok()) {
      const Op& op = batch[done];
      switch (op.kind) {
        case Op::Kind::kCreateGroup: {
          std::error_code ec;
          fs::create_directories(op.path, ec);
          if (ec) {
            status = Internal(fmt::format("create {}: {}", op.path.string(), ec.message()));
          } else {
            status = CreateFileOnce(op.path / kGroupFile, op.content);
          }
          break;
        }
        case Op::Kind::kCreateFile:
          status = CreateFileOnce(op.path, op.content);
          break;
        case Op::Kind::kReplaceFile:
          status = ReplaceFile(op.path, op.content);
          break;
        case Op::Kind::kRemoveFiles:
          for (const auto& path : op.paths) {
            std::erase_if(open_files, [&](const auto& kv) { return *kv.first == path.native(); });
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
              status = ErrnoStatus("remove " + path.string());
              break;
            }
          }
          break;
        case Op::Kind::kDeleteGroup: {
          open_files.clear();
          std::error_code ec;
          fs::remove_all(op.path, ec);
          if (ec) {
            status = Internal(fmt::format("remove {}: {}", op.path.string(), ec.message()));
          }
          break;
        }
        case Op::Kind::kAppend: {
          // Gather the run of appends to this file into one write.
          const std::string& path = *op.file;
          size_t end = done + 1;
          while (end < batch.size() && batch[end].kind == Op::Kind::kAppend &&
                 batch[end].file == op.file) {
            ++end;
          }
          std::string gathered;
          if (end - done > 1) {
            for (size_t i = done; i < end; ++i) gathered += batch[i].content;
          }
          std::string_view data = end - done > 1 ? std::string_view(gathered) : op.content;
          auto it = open_files.find(op.file.get());
          if (it == open_files.end()) {
            if (open_files.size() >= kMaxOpenStreamFiles) open_files.clear();
            UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
            struct stat st;
            if (!fd || ::fstat(fd.get(), &st) != 0) {
              status = ErrnoStatus((fd ? "stat " : "open ") + path);
              break;
            }
            it = open_files.emplace(op.file.get(), OpenFile{std::move(fd), st.st_size, op.file})
                     .first;
          }
          OpenFile& file = it->second;
          status = WriteAll(file.fd.get(), data, path);
          if (!status.ok()) {
            // Undo a partial write so the retry does not duplicate lines.
            if (::ftruncate(file.fd.get(), file.size) != 0) {
              log::Error("log store: truncate {}: {}", path, std::strerror(errno));
            }
            open_files.erase(it);
            break;
          }
          file.size += static_cast<off_t>(data.size());
          done = end;
          continue;
        }
      }
      if (status.ok()) ++done;
    }

    lock.lock();
    for (size_t i = 0; i < done; ++i) {
      const Op& op = batch[i];
      pending_bytes_ -= op.message_bytes;
      written_seq_ = op.seq;
      if (op.kind != Op::Kind::kAppend || op.target->removed) continue;
      op.target->persisted = op.index + 1;
      EvictLocked(*op.target);
    }
    EnforceMemoryBudgetLocked();
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(done));
    if (!status.ok()) {
      ++failures_;
      last_error_ = status;
      log::Error("log store: {} (will retry)", status.ToString());
      if (last_attempt) {
        log::Error("log store: shutting down with {} unwritten log operations", batch.size());
        flush_cv_.notify_all();
        return;
      }
    }
    flush_cv_.notify_all();
  }
}

LogStore::StreamSnapshot LogStore::SnapshotLocked(const Group& group, const Stream& stream) const {
  StreamSnapshot snap;
  snap.name = stream.name;
  snap.creation_time_ms = stream.creation_time_ms;
  for (const auto& seg : stream.segments) {
    if (seg.first >= stream.mem_start) break;
    snap.files.push_back(
        {*seg.file, seg.first, std::min(seg.end(), stream.mem_start) - seg.first});
  }
  snap.mem_start = stream.mem_start;
  snap.count = stream.count();
  if (stream.memory != nullptr) {
    snap.memory.assign(stream.memory->events.begin(), stream.memory->events.end());
  }
  snap.cutoff_ms = CutoffLocked(group);
  return snap;
}

Result<std::vector<LogStore::IndexedEvent>> LogStore::ReadAll(const StreamSnapshot& snap) {
  std::vector<IndexedEvent> events;
  for (const auto& file : snap.files) {
    auto text = ReadFile(file.path);
    if (!text) {
      // Reclaimed since the snapshot: everything in it had expired.
      if (text.error().code() == Code::kNotFound) continue;
      return Unavailable(fmt::format("log stream {}: {}", snap.name, text.error().message()));
    }
    std::string_view rest(*text);
    size_t nl = rest.find('\n');
    auto header = ParseHeader(rest.substr(0, nl), kStreamHeader);
    // Reclaimed, and the name reused by a new stream: not the events wanted.
    if (!header || header->first != snap.creation_time_ms) continue;
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    uint64_t n = 0;
    while (n < file.count && !rest.empty()) {
      size_t e = rest.find('\n');
      if (e == std::string_view::npos) break;
      auto event = ParseEventLine(rest.substr(0, e));
      rest.remove_prefix(e + 1);
      if (!event) continue;
      if (event->timestamp_ms >= snap.cutoff_ms) {
        events.push_back(IndexedEvent{file.first + n, std::move(*event)});
      }
      ++n;
    }
    if (n < file.count) {
      return Unavailable(
          fmt::format("log stream {}: changed while reading (deleted?)", snap.name));
    }
  }
  for (size_t i = 0; i < snap.memory.size(); ++i) {
    if (snap.memory[i].timestamp_ms < snap.cutoff_ms) continue;
    events.push_back(IndexedEvent{snap.mem_start + i, snap.memory[i]});
  }
  return events;
}

Result<DescribeLogGroupsPage> LogStore::DescribeLogGroups(
    const DescribeLogGroupsRequest& request) const {
  NIMBUS_RETURN_IF_ERROR(CheckLimit(request.limit, 50));
  if (!request.prefix.empty() && !request.pattern.empty()) {
    return InvalidArgument("logGroupNamePrefix and logGroupNamePattern are mutually exclusive");
  }
  DescribeLogGroupsPage page;
  MutexLock l(mu_);
  auto it = request.next_token.empty() ? groups_.lower_bound(request.prefix)
                                       : groups_.upper_bound(request.next_token);
  for (; it != groups_.end(); ++it) {
    const Group& g = *it->second;
    if (g.name.compare(0, request.prefix.size(), request.prefix) != 0) break;
    if (g.name.find(request.pattern) == std::string::npos) continue;
    if (page.groups.size() == static_cast<size_t>(request.limit)) {
      page.next_token = page.groups.back().name;
      break;
    }
    page.groups.push_back(
        LogGroupInfo{g.name, g.creation_time_ms, g.stored_bytes, g.retention_days});
  }
  return page;
}

Result<DescribeLogStreamsPage> LogStore::DescribeLogStreams(
    const DescribeLogStreamsRequest& request) const {
  NIMBUS_RETURN_IF_ERROR(CheckLimit(request.limit, 50));
  const bool by_time = request.order_by == LogStreamOrder::kLastEventTime;
  if (by_time && !request.prefix.empty()) {
    return InvalidArgument("Cannot order by LastEventTime with a logStreamNamePrefix.");
  }
  // Sort key (last event time or 0, name); the token is the last key returned.
  using Key = std::pair<int64_t, std::string>;
  std::optional<Key> after;
  if (!request.next_token.empty()) {
    size_t slash = request.next_token.find('/');
    auto ts = slash == std::string::npos
                  ? std::nullopt
                  : ParseInt(std::string_view(request.next_token).substr(0, slash));
    if (!ts) return InvalidArgument("The specified nextToken is invalid.");
    after = Key{*ts, request.next_token.substr(slash + 1)};
  }
  std::vector<std::pair<Key, LogStreamInfo>> rows;
  {
    MutexLock l(mu_);
    auto git = groups_.find(request.group);
    if (git == groups_.end()) return NoGroup(request.group);
    for (auto sit = git->second->streams.lower_bound(request.prefix);
         sit != git->second->streams.end(); ++sit) {
      const auto& [name, s] = *sit;
      if (name.compare(0, request.prefix.size(), request.prefix) != 0) break;
      LogStreamInfo info{s->name,   s->creation_time_ms, s->segments.front().first_ts,
                         s->max_ts, s->last_ingestion,   s->stored_bytes};
      rows.emplace_back(Key{by_time ? s->max_ts.value_or(0) : 0, name}, std::move(info));
    }
  }
  auto less = [&](const Key& a, const Key& b) { return request.descending ? b < a : a < b; };
  std::sort(rows.begin(), rows.end(),
            [&](const auto& a, const auto& b) { return less(a.first, b.first); });
  DescribeLogStreamsPage page;
  Key last;
  for (auto& [key, info] : rows) {
    if (after && !less(*after, key)) continue;
    if (page.streams.size() == static_cast<size_t>(request.limit)) {
      page.next_token = fmt::format("{}/{}", last.first, last.second);
      break;
    }
    last = key;
    page.streams.push_back(std::move(info));
  }
  return page;
}

Result<GetLogEventsPage> LogStore::GetLogEvents(const GetLogEventsRequest& request) const {
  NIMBUS_RETURN_IF_ERROR(CheckLimit(request.limit, 10000));
  StreamSnapshot snap;
  {
    MutexLock l(mu_);
    auto git = groups_.find(request.group);
    if (git == groups_.end()) return NoGroup(request.group);
    auto sit = git->second->streams.find(request.stream);
    if (sit == git->second->streams.end()) {
      return NotFound(fmt::format("log stream {}: does not exist", request.stream));
    }
    snap = SnapshotLocked(*git->second, *sit->second);
  }
  const uint64_t count = snap.count;
  bool forward = request.start_from_head;
  uint64_t pos = forward ? 0 : count;
  if (!request.next_token.empty()) {
    const std::string& t = request.next_token;
    auto n = t.size() > 2 && t[1] == '/' ? ParseInt(std::string_view(t).substr(2)) : std::nullopt;
    if (!n || *n < 0 || static_cast<uint64_t>(*n) > count || (t[0] != 'f' && t[0] != 'b')) {
      return InvalidArgument("The specified nextToken is invalid.");
    }
    forward = t[0] == 'f';
    pos = static_cast<uint64_t>(*n);
  }
  NIMBUS_ASSIGN_OR_RETURN(std::vector<IndexedEvent> all, ReadAll(snap));
  auto in_range = [&](const LogEvent& e) {
    return (!request.start_time_ms || e.timestamp_ms >= *request.start_time_ms) &&
           (!request.end_time_ms || e.timestamp_ms < *request.end_time_ms);
  };
  // Events are by index; `at` is the first at or after `pos`.
  auto at = std::lower_bound(all.begin(), all.end(), pos,
                             [](const IndexedEvent& e, uint64_t i) { return e.index < i; });
  std::vector<size_t> picked;
  const size_t limit = static_cast<size_t>(request.limit);
  if (forward) {
    for (auto it = at; it != all.end() && picked.size() < limit; ++it) {
      if (in_range(it->event)) picked.push_back(static_cast<size_t>(it - all.begin()));
    }
  } else {
    for (auto it = at; it != all.begin() && picked.size() < limit;) {
      --it;
      if (in_range(it->event)) picked.push_back(static_cast<size_t>(it - all.begin()));
    }
    std::reverse(picked.begin(), picked.end());
  }
  GetLogEventsPage page;
  if (picked.empty()) {
    // As AWS: at either end the token passed in comes back, so pollers keep it.
    page.next_forward_token = fmt::format("f/{}", pos);
    page.next_backward_token = fmt::format("b/{}", pos);
    return page;
  }
  page.next_forward_token = fmt::format("f/{}", all[picked.back()].index + 1);
  page.next_backward_token = fmt::format("b/{}", all[picked.front()].index);
  for (size_t i : picked) page.events.push_back(std::move(all[i].event));
  return page;
}

Result<FilterLogEventsPage> LogStore::FilterLogEvents(const FilterLogEventsRequest& request) const {
  NIMBUS_RETURN_IF_ERROR(CheckLimit(request.limit, 10000));
  if (!request.stream_names.empty() && !request.stream_name_prefix.empty()) {
    return InvalidArgument("logStreamNames and logStreamNamePrefix cannot both be given");
  }
  NIMBUS_ASSIGN_OR_RETURN(FilterPattern pattern, FilterPattern::Parse(request.filter_pattern));
  // The token is the sort key of the last event returned: "<ts>/<index>/<stream>".
  using Key = std::tuple<int64_t, std::string, uint64_t>;
  std::optional<Key> after;
  if (!request.next_token.empty()) {
    std::string_view t = request.next_token;
    size_t a = t.find('/');
    size_t b = a == std::string_view::npos ? a : t.find('/', a + 1);
    auto ts = b == std::string_view::npos ? std::nullopt : ParseInt(t.substr(0, a));
    auto idx = ts ? ParseInt(t.substr(a + 1, b - a - 1)) : std::nullopt;
    if (!idx || *idx < 0) return InvalidArgument("The specified nextToken is invalid.");
    after = Key{*ts, std::string(t.substr(b + 1)), static_cast<uint64_t>(*idx)};
  }

  FilterLogEventsPage page;
  std::vector<StreamSnapshot> snaps;
  {
    MutexLock l(mu_);
    auto git = groups_.find(request.group);
    if (git == groups_.end()) return NoGroup(request.group);
    const Group& group = *git->second;
    const int64_t cutoff = CutoffLocked(group);
    std::vector<const Stream*> chosen;
    const auto& streams = group.streams;
    if (!request.stream_names.empty()) {
      for (const auto& name : std::set<std::string>(request.stream_names.begin(),
                                                    request.stream_names.end())) {
        auto sit = streams.find(name);
        if (sit != streams.end()) chosen.push_back(sit->second.get());
      }
    } else {
      for (auto sit = streams.lower_bound(request.stream_name_prefix); sit != streams.end();
           ++sit) {
        if (sit->first.compare(0, request.stream_name_prefix.size(),
                               request.stream_name_prefix) != 0) {
          break;
        }
        chosen.push_back(sit->second.get());
      }
    }
    for (const Stream* s : chosen) {
      page.searched_streams.push_back(s->name);
      // A stream whose time span cannot hold a wanted event is searched without
      // reading it.
      if (!s->max_ts || *s->max_ts < cutoff) continue;
      if (request.start_time_ms && *s->max_ts < *request.start_time_ms) continue;
      if (request.end_time_ms && s->min_ts && *s->min_ts > *request.end_time_ms) continue;
      if (after && *s->max_ts < std::get<0>(*after)) continue;
      snaps.push_back(SnapshotLocked(group, *s));
    }
  }

  struct Hit {
    Key key;
    LogEvent event;
  };
  std::vector<Hit> hits;
  for (const auto& snap : snaps) {
    NIMBUS_ASSIGN_OR_RETURN(std::vector<IndexedEvent> all, ReadAll(snap));
    for (auto& [index, e] : all) {
      if (request.start_time_ms && e.timestamp_ms < *request.start_time_ms) continue;
      if (request.end_time_ms && e.timestamp_ms > *request.end_time_ms) continue;
      Key key{e.timestamp_ms, snap.name, index};
      if (after && !(*after < key)) continue;
      if (!pattern.Matches(e.message)) continue;
      hits.push_back(Hit{std::move(key), std::move(e)});
    }
  }
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.key < b.key; });
  const size_t limit = static_cast<size_t>(request.limit);
  for (size_t i = 0; i < hits.size() && i < limit; ++i) {
    auto& [ts, stream, index] = hits[i].key;
    page.events.push_back(
        FilteredLogEvent{stream, EventId(ts, StreamHash(stream), index), std::move(hits[i].event)});
  }
  if (hits.size() > limit) {
    const auto& [ts, stream, index] = hits[limit - 1].key;
    page.next_token = fmt::format("{}/{}/{}", ts, index, stream);
  }
  return page;
}

}  // namespace nimbus::obs
